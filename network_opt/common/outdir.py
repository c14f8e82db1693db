"""Where results may be written, and how: nothing a user has is ever replaced by accident.

- Every folder of results the tool writes holds a marker file, :data:`MARKER` (JSON: tool,
  version, kind of folder, creation time).
- :func:`check_output_dir` refuses an ``--out`` that is an existing file, the instance (or a
  folder containing it), the current working directory (or a folder containing it), and a
  non-empty folder unless ``overwrite`` is given. ``overwrite`` replaces only a folder the tool
  wrote (with the marker, or a results folder of an older version: ``summary.json`` and nothing
  but result files) that holds nothing else.
- :func:`output_lock` holds an exclusive lock (``fcntl.flock`` on ``.NAME.lock`` beside the
  target) from the checks until the write is complete, so that two runs into one folder cannot
  both succeed: the second is refused.
- :func:`preflight` checks, before any long work, that the folder can be created there and that
  the file system has room for the results (:func:`estimate_result_bytes`).
- :func:`make_private_dir` creates the temporary folder a result is written into with the
  permissions of the user's umask (not ``tempfile.mkdtemp``'s 0700).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from network_opt.common.errors import OutputExistsError, OutputRefused

#: Name of the marker file in every results folder the tool writes.
MARKER = ".network-opt-results"
#: The tables of a plan (:func:`network_opt.results.tables.extract`, in this order; also the tables
#: read back from a results folder, :mod:`network_opt.results.read`).
PLAN_TABLES = ("facilities", "flows", "collection", "costs", "targets", "materials", "cascade", "emissions",
               "stock")
#: Tables a solve writes as ``NAME.csv`` (the order of results.xlsx's sheets): the plan's, then those
#: computed after the solve. The one list of result tables; every writer and reader takes it from here.
RESULT_TABLES = (*PLAN_TABLES, "compliance", "diagnosis", "aggregation", "stochastic", "regret", "robustness")
#: Every file a solve may write into its folder.
RESULT_FILES = frozenset({MARKER, "summary.json", "results.xlsx", "network.gpkg",
                          *(f"{name}.csv" for name in RESULT_TABLES)})
#: Smallest free space (bytes) :func:`preflight` asks for, whatever the instance's size.
MIN_FREE_BYTES = 8 * 1024 * 1024


# ---------------------------------------------------------------- the marker


def current_umask() -> int:
    """The process's umask (read from /proc where possible: setting it to read it is not thread-safe)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def make_private_dir(parent: Path, prefix: str) -> Path:
    """A new folder in ``parent`` (``tempfile.mkdtemp``) with mode ``0o777 & ~umask``, so that a
    results folder moved into place is shared as the user's other folders are."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    os.chmod(path, 0o777 & ~current_umask())
    return path


def write_marker(folder: Path, kind: str = "solve") -> Path:
    """Write :data:`MARKER` into ``folder``: the tool, its version, ``kind`` (``solve`` for one
    plan's folder, ``runs`` for a folder of compare or sweep runs) and the creation time (UTC)."""
    from network_opt.common.version import __version__

    path = folder / MARKER
    body = {"tool": "network-opt", "version": __version__, "kind": kind,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    path.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
    return path


def read_marker(folder: Path) -> dict[str, object] | None:
    """The marker of ``folder`` (None if it has none or it is unreadable)."""
    try:
        data = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("tool") == "network-opt" else None


def _is_old_results(folder: Path) -> bool:
    """A results folder of a version before the marker: a readable ``summary.json`` and nothing
    but files a solve writes."""
    try:
        names = {p.name for p in folder.iterdir()}
        summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(summary, dict) and "status" in summary and names <= RESULT_FILES


def is_results_folder(folder: Path) -> bool:
    """Whether ``folder`` holds one plan's results written by the tool (marker or older layout)."""
    marker = read_marker(folder)
    return (marker is not None and marker.get("kind") == "solve") or (marker is None and _is_old_results(folder))


def replace_refusal(folder: Path) -> str | None:
    """Why ``--overwrite`` may not replace the existing folder ``folder`` (None: it may).

    It may when it is a results folder of one plan written by the tool and holds nothing else.
    """
    if folder.is_symlink():
        return "is a symbolic link; name the folder itself"
    if not folder.is_dir():
        return "is a file, not a results folder"
    names = sorted(p.name for p in folder.iterdir())
    if not names:
        return None
    marker = read_marker(folder)
    if marker is None and not _is_old_results(folder):
        return (f"holds files network-opt did not write ({_listing(names)}; no {MARKER} marker); --overwrite "
                "replaces only a results folder written by network-opt")
    if marker is not None and marker.get("kind") != "solve":
        return ("holds the runs of a network-opt compare or sweep (it is not one plan's results folder); "
                "choose another --out or delete it yourself")
    foreign = [n for n in names if n not in RESULT_FILES]
    if foreign:
        return (f"also holds files network-opt did not write ({_listing(foreign)}); move them away first or "
                "choose another --out")
    return None


def _listing(names: list[str], most: int = 5) -> str:
    shown = ", ".join(names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


# ---------------------------------------------------------------- where --out may point


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def check_target(out: Path, protected: Iterable[str | Path] = ()) -> None:
    """Refuse an output path that is, or contains, the current working directory or one of the
    ``protected`` paths (the instance folder, workbook or input files); refuse a symbolic link."""
    out = Path(out)
    if out.is_symlink():
        raise OutputRefused(f"{out} is a symbolic link; name the folder or file itself")
    real = out.resolve()
    cwd = Path.cwd().resolve()
    if _inside(cwd, real):
        what = "is the current working directory" if real == cwd else "contains the current working directory"
        raise OutputRefused(f"{out} {what}; choose a new folder for the results")
    for item in protected:
        p = Path(item).resolve()
        if real == p:
            raise OutputRefused(f"{out} is the instance's own {'folder' if p.is_dir() else 'file'} {item}; "
                                "choose a new folder for the results")
        if real in p.parents:
            raise OutputRefused(f"{out} contains the instance ({item}); choose a new folder for the results")


def check_output_dir(out: str | Path, overwrite: bool, *, protected: Iterable[str | Path] = (),
                     reuse: bool = False) -> None:
    """Refuse to write results into ``out`` where that could lose anything (see the module doc).

    Raises :class:`~network_opt.common.errors.OutputExistsError` for a non-empty folder without
    ``overwrite`` and :class:`~network_opt.common.errors.OutputRefused` (a subclass) for what may never be
    written or replaced. ``protected``: the instance (folder or workbook) and its files.
    ``reuse`` (compare and sweep, which add to a folder instead of replacing it): an existing
    folder is accepted when it is new, empty, or a folder of runs the tool wrote.
    """
    out = Path(out)
    check_target(out, protected)
    if not out.exists():
        return
    if not out.is_dir():
        raise OutputRefused(f"{out} is an existing file; --out names a folder of results, and a file is never "
                            "replaced: choose a new folder")
    names = sorted(p.name for p in out.iterdir())
    if not names:
        return
    if reuse:
        if not is_runs_folder(out):
            marker = read_marker(out)
            if marker is not None and marker.get("kind") == "solve":
                raise OutputRefused(f"{out} holds the results of one solve (network-opt solve), not a folder of "
                                    "compare or sweep runs; choose another --out")
            raise OutputRefused(f"{out} exists and does not hold network_opt results ({_listing(names)}); move it "
                                "away or choose another --out")
        return
    if not overwrite:
        raise OutputExistsError(f"{out} exists and is not empty; pass --overwrite (in Python overwrite=True) to "
                                "replace it (a non-empty --out is never touched without --overwrite, and only a "
                                "results folder written by network-opt is ever replaced)")
    reason = replace_refusal(out)
    if reason is not None:
        raise OutputRefused(f"--overwrite refused: {out} {reason}")


#: Files compare and sweep write at the top of their folder (besides the run folders).
RUNS_FOLDER_FILES = frozenset({MARKER, "comparison.csv", "facility_diff.csv", "objective.png", "costs.png",
                               "capacity.png", "sweep.csv", "sweep.png"})


def is_runs_folder(folder: Path) -> bool:
    """Whether ``folder`` is a compare/sweep folder the tool wrote: with the marker, or (older
    versions) nothing but run folders of results and the files compare and sweep write."""
    marker = read_marker(folder)
    if marker is not None:
        return marker.get("kind") in ("compare", "sweep", "runs")
    try:
        entries = list(folder.iterdir())
    except OSError:
        return False
    return all((e.is_dir() and is_results_folder(e)) or (e.is_file() and e.name in RUNS_FOLDER_FILES)
               for e in entries)


# ---------------------------------------------------------------- preflight


def _existing_ancestor(path: Path) -> Path:
    p = Path(os.path.abspath(path))
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def check_writable(path: Path, what: str = "--out") -> Path:
    """Raise :class:`OutputRefused` unless a file can be created where ``path`` would go (tried:
    a temporary file is created and removed in its nearest existing folder); return that folder."""
    folder = _existing_ancestor(Path(path).parent)
    if not folder.is_dir():
        raise OutputRefused(f"cannot write {what} {path}: {folder} is a file, not a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=".network-opt-probe-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        reason = "read-only file system" if exc.errno == errno.EROFS else (exc.strerror or str(exc))
        raise OutputRefused(f"cannot write {what} {path}: {folder} is not writable ({reason})") from None
    return folder


def preflight(out: Path, needed_bytes: int, what: str = "--out") -> None:
    """Before any long work: ``out`` can be created (a file is created and removed in its nearest
    existing folder) and the file system has ``needed_bytes`` free; raise
    :class:`OutputRefused` naming the path and the reason otherwise."""
    folder = check_writable(out / "summary.json", what)
    free = shutil.disk_usage(folder).free
    if free < needed_bytes:
        raise OutputRefused(f"not enough free space for {what} {out}: {free / 1e6:,.1f} MB free in {folder}, "
                            f"the results need about {needed_bytes / 1e6:,.1f} MB")


def check_file_target(path: Path, overwrite: bool, what: str, protected: Iterable[str | Path] = (),
                      inside: Iterable[Path] = ()) -> None:
    """Refuse an output FILE (``--write-model``, ``--log``) that is a folder, one of the
    ``protected`` paths or inside one of them, inside a folder of ``inside`` (which the results
    replace), or an existing file without ``overwrite``; and check its folder is writable."""
    real = Path(path).resolve()
    for item in protected:
        p = Path(item).resolve()
        if real == p or (real.exists() and _inside(real, p)):
            raise OutputRefused(f"{what} {path} is a file of the instance; choose a path outside it")
    for folder in inside:
        if _inside(real, Path(folder).resolve()):
            raise OutputRefused(f"{what} {path} is inside --out {folder}, which the results replace; put it beside "
                                "that folder")
    if real.is_dir():
        raise OutputRefused(f"{what} {path} is a folder; name a file")
    if real.exists() and not overwrite:
        raise OutputExistsError(f"{what} {path} exists; pass --overwrite (in Python overwrite=True) to replace it")
    check_writable(real, what)


# ---------------------------------------------------------------- the lock

_HELD: dict[Path, tuple[int, int, int]] = {}  # lock file -> (descriptor, thread id, depth)
_HELD_GUARD = threading.Lock()


def lock_path(out: Path) -> Path:
    """``.NAME.lock`` beside ``out`` (its real path: every spelling of a folder gets one lock)."""
    real = Path(out).resolve()
    return real.parent / f".{real.name}.lock"


@contextlib.contextmanager
def output_lock(out: str | Path) -> Iterator[None]:
    """Hold an exclusive lock on writing ``out`` (re-entrant within a thread); raise
    :class:`OutputRefused` at once when another run (process or thread) holds it.

    Missing parent folders are created, and removed again on leaving when still empty. The lock
    file is removed when released (its inode is checked after locking, so a run that opened
    a file another run was removing tries again)."""
    out = Path(out)
    path = lock_path(out)
    me = threading.get_ident()
    with _HELD_GUARD:
        held = _HELD.get(path)
        if held is not None:
            if held[1] != me:
                raise OutputRefused(f"another network-opt run is writing {out}; wait for it or choose another --out")
            _HELD[path] = (held[0], me, held[2] + 1)
    if held is not None:
        try:
            yield
        finally:
            with _HELD_GUARD:
                fd, owner, depth = _HELD[path]
                _HELD[path] = (fd, owner, depth - 1)
        return
    created = _make_parents(path.parent)
    fd = _acquire(path, out)
    with _HELD_GUARD:
        _HELD[path] = (fd, me, 1)
    try:
        yield
    finally:
        with _HELD_GUARD:
            del _HELD[path]
        with contextlib.suppress(OSError):
            path.unlink()
        os.close(fd)  # closing releases the flock
        for folder in reversed(created):
            with contextlib.suppress(OSError):
                folder.rmdir()  # only if still empty


def _make_parents(folder: Path) -> list[Path]:
    missing = []
    p = folder
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputRefused(f"cannot create {folder}: {exc.strerror or exc}") from None
    return list(reversed(missing))


def _acquire(path: Path, out: Path) -> int:
    import fcntl

    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            raise OutputRefused(f"cannot write beside {out}: {exc.strerror or exc} ({path})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise OutputRefused(f"another network-opt run is writing {out} (lock {path} is held); wait for it "
                                    "or choose another --out") from None
            raise OutputRefused(f"cannot lock {path}: {exc.strerror or exc}") from None
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)  # the previous holder removed the file between our open and lock: try again
