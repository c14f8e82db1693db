"""What a results folder records about how it was made: versions, command line, options, the
instance's path and a SHA-256 of every input file (``summary.json``)."""

from __future__ import annotations

import dataclasses
import hashlib
import sys
from pathlib import Path
from typing import Any

from network_opt.common.version import versions

_HASHES: dict[tuple[str, int, int], str] = {}  # (real path, size, mtime_ns) -> sha256: compare/sweep hash once


def sha256_file(path: Path) -> str:
    """SHA-256 (hex) of a file's bytes, read in 1 MiB blocks; cached by path, size and mtime."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _HASHES:
        h = hashlib.sha256()
        with path.open("rb") as f:
            while block := f.read(1 << 20):
                h.update(block)
        _HASHES[key] = h.hexdigest()
    return _HASHES[key]


def instance_location(manifest_path: Path) -> Path:
    """The instance as a user names it, absolute: its folder (for ``instance.yaml``) or the workbook."""
    path = Path(manifest_path).absolute()
    return path if path.suffix.lower() in (".xlsx", ".xlsm") else path.parent


def input_files(manifest_path: Path, tables: dict[str, Path]) -> dict[str, dict[str, Any]]:
    """Every input file (instance.yaml or the workbook, and each table file it names) by its path
    relative to the instance folder: ``{"sha256": hex, "bytes": size}``."""
    location = instance_location(manifest_path)
    root = location.parent if location.is_file() else location
    out: dict[str, dict[str, Any]] = {}
    for f in dict.fromkeys(Path(p).absolute() for p in [manifest_path, *(tables[k] for k in sorted(tables))]):
        if not f.is_file():
            continue
        try:
            name = f.relative_to(root).as_posix()
        except ValueError:
            name = str(f)
        out[name] = {"sha256": sha256_file(f), "bytes": f.stat().st_size}
    return out


def _plain(value: object) -> object:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def audit_record(inst: Any, options: Any, **more: object) -> dict[str, Any]:
    """Keys for ``summary.json``: ``tool`` (:func:`versions`), ``command`` (``sys.argv``),
    ``options`` (the :class:`~network_opt.solver.options.SolveOptions` fields and ``more``, e.g.
    soft_targets, aggregate), ``instance_path`` (absolute) and ``input_files`` (see
    :func:`input_files`) of a loaded :class:`~network_opt.inputs.instance.Instance`."""
    opts = dataclasses.asdict(options) if dataclasses.is_dataclass(options) and not isinstance(options, type) else {}
    manifest = inst.manifest
    return {
        "tool": versions(),
        "command": list(sys.argv),
        "options": _plain({**opts, **more}),
        "instance_path": str(instance_location(manifest.path)),
        "input_files": input_files(manifest.path, dict(manifest.tables)),
    }
