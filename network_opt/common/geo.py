"""Great-circle distances (vectorised) and road-distance estimates."""

from __future__ import annotations

from typing import overload

import numpy as np

EARTH_RADIUS_KM = 6371.0088  # IUGG mean Earth radius


# four floats give numpy's float64 (a float), an array among them an array; mypy flags the two
# signatures as overlapping (four floats fit both), but the first, listed first, is the one taken
@overload
def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float: ...  # type: ignore[overload-overlap]
@overload
def haversine_km(lat1: np.ndarray | float, lon1: np.ndarray | float, lat2: np.ndarray | float,
                 lon2: np.ndarray | float) -> np.ndarray: ...
def haversine_km(lat1: np.ndarray | float, lon1: np.ndarray | float, lat2: np.ndarray | float,
                 lon2: np.ndarray | float) -> np.ndarray | float:
    """Great-circle distance in km between points given in degrees (arrays broadcast; four floats
    give a float)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dphi = p2 - p1
    dlmb = np.radians(lon2) - np.radians(lon1)
    a = np.sin(dphi / 2.0) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlmb / 2.0) ** 2
    return 2.0 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))
