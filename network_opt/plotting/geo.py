"""Map frame: a projection suited to the region, the extent, and the boundaries used as basemap.

Boundaries are the Natural Earth files shipped in ``network_opt/data`` (China provinces, US
states, European countries), each used where it overlaps the sites; Natural Earth's low-resolution
countries (a fixture shipped with pyogrio) are drawn beneath as context when present. Nothing is
downloaded. Projection: Albers equal-area conic with standard parallels at 1/6 and 5/6 of the
sites' latitude span (mid latitudes), or Lambert azimuthal equal-area near the equator; both in
metres, centred on the sites.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS, Transformer

#: shipped boundary files (WGS84), see network_opt/data/SOURCES.md
BOUNDARY_FILES = ("ne_50m_china_provinces.geojson", "ne_50m_us_states.geojson", "ne_50m_europe_countries.geojson")
#: smallest extent drawn, degrees (a single site still gets a readable map)
MIN_SPAN_DEG = 1.0


def lowres_countries_path() -> Path | None:
    """Natural Earth low-resolution countries shipped as a pyogrio test fixture, if installed."""
    try:
        import pyogrio
    except ImportError:  # pragma: no cover - pyogrio comes with geopandas here
        return None
    path = Path(pyogrio.__file__).parent / "tests" / "fixtures" / "naturalearth_lowres" / "naturalearth_lowres.shp"
    return path if path.is_file() else None


@lru_cache(maxsize=8)
def _read(path: str) -> gpd.GeoDataFrame:
    frame = gpd.read_file(path)
    if frame.crs is None:
        frame = frame.set_crs("EPSG:4326")
    return frame.to_crs("EPSG:4326")[["geometry"]]


def boundaries(bbox: tuple[float, float, float, float]) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """(detail, context) boundary polygons within ``bbox`` (lon_min, lat_min, lon_max, lat_max),
    in WGS84. ``detail``: the shipped files that overlap; ``context``: low-resolution countries."""
    data = resources.files("network_opt") / "data"
    detail = []
    for name in BOUNDARY_FILES:
        with resources.as_file(data / name) as path:
            frame = _read(str(path))
        x0, y0, x1, y1 = frame.total_bounds
        if x0 <= bbox[2] and x1 >= bbox[0] and y0 <= bbox[3] and y1 >= bbox[1]:
            clipped = frame.clip_by_rect(*bbox)
            kept = clipped[~clipped.is_empty]
            if len(kept):
                detail.append(gpd.GeoDataFrame(geometry=kept, crs="EPSG:4326"))
    empty = gpd.GeoDataFrame(geometry=[], crs="EPSG:4326")
    det = gpd.GeoDataFrame(pd.concat(detail, ignore_index=True), crs="EPSG:4326") if detail else empty
    ctx = empty
    low = lowres_countries_path()
    if low is not None:
        clipped = _read(str(low)).clip_by_rect(*bbox)
        ctx = gpd.GeoDataFrame(geometry=clipped[~clipped.is_empty], crs="EPSG:4326")
    return det, ctx


def suited_crs(lon: np.ndarray, lat: np.ndarray) -> CRS:
    """An equal-area projection centred on the points (degrees): Albers conic at mid latitudes,
    Lambert azimuthal near the equator."""
    lat0, lat1 = float(np.min(lat)), float(np.max(lat))
    lon_c = float((np.min(lon) + np.max(lon)) / 2)
    lat_c = (lat0 + lat1) / 2
    if lat0 * lat1 > 0 and abs(lat_c) >= 15:
        span = max(lat1 - lat0, MIN_SPAN_DEG)
        p1, p2 = lat_c - span / 3, lat_c + span / 3
        return CRS.from_proj4(f"+proj=aea +lat_0={lat_c:.4f} +lon_0={lon_c:.4f} +lat_1={p1:.4f} +lat_2={p2:.4f} "
                              "+x_0=0 +y_0=0 +datum=WGS84 +units=m +no_defs")
    return CRS.from_proj4(f"+proj=laea +lat_0={lat_c:.4f} +lon_0={lon_c:.4f} +x_0=0 +y_0=0 +datum=WGS84 "
                          "+units=m +no_defs")


@dataclass
class MapFrame:
    """Projection, extent (projected metres) and basemap shared by the panels of a figure."""

    crs: CRS
    xlim: tuple[float, float]
    ylim: tuple[float, float]
    detail: gpd.GeoDataFrame  # projected
    context: gpd.GeoDataFrame  # projected

    def project(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """WGS84 degrees to projected metres."""
        t = Transformer.from_crs("EPSG:4326", self.crs, always_xy=True)
        x, y = t.transform(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
        return np.asarray(x), np.asarray(y)

    @property
    def width(self) -> float:
        return self.xlim[1] - self.xlim[0]

    @property
    def height(self) -> float:
        return self.ylim[1] - self.ylim[0]


def map_frame(lon: np.ndarray, lat: np.ndarray, pad: float = 0.08, basemap: bool = True,
              aspect: tuple[float, float] = (0.6, 1.4)) -> MapFrame:
    """A frame around points (degrees), padded by ``pad`` of the span on each side and widened
    (or heightened) to a height/width ratio within ``aspect``, so that panels stay readable."""
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    ok = np.isfinite(lon) & np.isfinite(lat)
    lon, lat = (lon[ok], lat[ok]) if ok.any() else (np.array([0.0]), np.array([0.0]))
    crs = suited_crs(lon, lat)
    frame = MapFrame(crs, (0.0, 1.0), (0.0, 1.0), gpd.GeoDataFrame(geometry=[], crs=crs),
                     gpd.GeoDataFrame(geometry=[], crs=crs))
    x, y = frame.project(lon, lat)
    min_span = MIN_SPAN_DEG * 111_000.0
    cx, cy = (x.min() + x.max()) / 2, (y.min() + y.max()) / 2
    w = max(x.max() - x.min(), min_span) * (1 + 2 * pad)
    h = max(y.max() - y.min(), min_span) * (1 + 2 * pad)
    h, w = max(h, aspect[0] * w), max(w, h / aspect[1])
    frame.xlim, frame.ylim = (cx - w / 2, cx + w / 2), (cy - h / 2, cy + h / 2)
    if basemap:
        # the lon/lat box covering the projected extent (with margin, as the projection curves)
        gx = np.linspace(*frame.xlim, 9)
        gy = np.linspace(*frame.ylim, 9)
        bx, by = np.meshgrid(gx, gy)
        inv = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
        glon, glat = inv.transform(bx.ravel(), by.ravel())
        mlon, mlat = (np.ptp(glon) * 0.15 + 1), (np.ptp(glat) * 0.15 + 1)
        bbox = (max(float(np.min(glon)) - mlon, -180.0), max(float(np.min(glat)) - mlat, -89.0),
                min(float(np.max(glon)) + mlon, 180.0), min(float(np.max(glat)) + mlat, 89.0))
        det, ctx = boundaries(bbox)
        frame.detail, frame.context = det.to_crs(crs), ctx.to_crs(crs)
    return frame
