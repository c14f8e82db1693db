"""The benchmarks' working folder: the one given (``--workdir``, kept), or a new temporary folder
that is removed when the script ends, also after an error or Ctrl-C (``atexit``; a SIGKILL leaves
it in the temporary folder, named by its prefix)."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path


def scratch_folder(given: Path | None, prefix: str) -> Path:
    """``given`` when not None (the caller's, never removed), else a new folder
    ``$TMPDIR/<prefix>XXXX`` removed at exit."""
    if given is not None:
        return given
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder
