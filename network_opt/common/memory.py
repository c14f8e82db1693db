"""The resident memory of this process, read cheaply enough to poll while HiGHS runs."""

from __future__ import annotations

import os
import sys

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def resident_bytes() -> int:
    """Bytes of this process now resident in physical memory (``/proc/self/statm``'s second
    field x the page size: one small read). Where there is no ``/proc`` (macOS), the peak so far
    (``getrusage``), which only ever overstates it; 0 where neither exists (Windows: a memory
    guard then never fires)."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        pass
    try:
        import resource
    except ImportError:
        return 0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)  # bytes on macOS, KiB elsewhere


__all__ = ["resident_bytes"]
