"""Every notebook in notebooks/ is stored without outputs and runs top to bottom.

Each runs in a fresh kernel of this interpreter (so it sees the installed network_opt), from the
notebooks folder, with a 5-minute limit per cell (a notebook must finish within 5 minutes on 2
cores; a stuck cell fails the test instead of hanging it).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
PATHS = sorted(NOTEBOOKS.glob("*.ipynb"))
CELL_TIMEOUT_S = 300
STARTUP_TIMEOUT_S = 120


def test_there_are_notebooks() -> None:
    assert any(p.name.startswith("01-quickstart") for p in PATHS), PATHS


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_notebook_is_stored_without_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    for n, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name}: cell {n} has stored outputs"
            assert cell.execution_count is None, f"{path.name}: cell {n} has an execution count"


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_notebook_runs(path: Path, tmp_path: Path) -> None:
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    # a kernel spec for this very interpreter, whatever "python" is on PATH
    spec = tmp_path / "kernels" / "network-opt-test"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "network_opt tests", "language": "python",
        "env": {"MPLBACKEND": "module://matplotlib_inline.backend_inline"}}), encoding="utf-8")
    km = KernelManager(kernel_name="network-opt-test",
                       kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(spec.parent)]))
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, km=km, timeout=CELL_TIMEOUT_S, startup_timeout=STARTUP_TIMEOUT_S,
                            allow_errors=False, resources={"metadata": {"path": str(NOTEBOOKS)}})
    client.execute()
    images = sum(1 for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
                 if "image/png" in o.get("data", {}))
    if path.name.startswith("01-quickstart"):
        assert images >= 5  # the map and four charts were displayed
