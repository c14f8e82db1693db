"""The plan as a GeoPackage for QGIS/ArcGIS: layers ``sites``, ``facilities``, ``markets``, ``flows``.

Coordinates are WGS84 longitude/latitude (EPSG:4326). Layers:

- ``sites``: every site of the instance (id, name, kind, region, jurisdiction), points;
- ``facilities``: the ``facilities`` result table (one row per facility and period: open, level,
  capacity_t, throughput_t, utilisation, investment, ...) plus the site's jurisdiction, points;
- ``markets``: second-life markets (market, site, application, chemistries), points;
- ``flows``: the ``flows`` result table (origin, destination, commodity, chemistry, grade, period,
  tonnes per year, distance_km, cost, co2e_t) plus the sites at both ends, as straight
  LineStrings from origin to destination.

Flows name facilities and markets by their own ids; ``origin_site`` and ``destination_site`` give
the sites. The maps of :mod:`network_opt.plotting` read the node coordinates back from this file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from network_opt.common.files import atomic_write
from network_opt.results.read import nodes_from_instance

CRS = "EPSG:4326"


def _points(frame: pd.DataFrame, lon: np.ndarray, lat: np.ndarray) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(frame.reset_index(drop=True), geometry=shapely.points(lon, lat), crs=CRS)


def _text(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ";".join(map(str, value))
    return "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)


def geopackage_layers(sol: Any) -> dict[str, gpd.GeoDataFrame]:
    """The four layers of :func:`write_geopackage` as GeoDataFrames (EPSG:4326)."""
    inst = sol.instance
    sites = inst["sites"].drop(columns="_row", errors="ignore").reset_index(drop=True)
    at = sites.set_index("id")
    layers = {"sites": _points(sites.drop(columns=["latitude", "longitude"]), sites["longitude"].to_numpy(float),
                               sites["latitude"].to_numpy(float))}

    fac = sol.tables.get("facilities", pd.DataFrame(columns=["facility", "site", "kind", "technology", "status"]))
    fac = fac.copy()
    fac["jurisdiction"] = at["jurisdiction"].reindex(fac["site"]).fillna("").to_numpy()
    layers["facilities"] = _points(fac, at["longitude"].reindex(fac["site"]).to_numpy(float),
                                   at["latitude"].reindex(fac["site"]).to_numpy(float))

    mk = inst["markets"].drop(columns="_row", errors="ignore").rename(columns={"id": "market"})
    mk = mk.reindex(columns=["market", "site", "application", "chemistries", "grades"])
    for col in ("chemistries", "grades"):
        mk[col] = mk[col].map(_text)
    layers["markets"] = _points(mk, at["longitude"].reindex(mk["site"]).to_numpy(float),
                                at["latitude"].reindex(mk["site"]).to_numpy(float))

    nodes = nodes_from_instance(inst).set_index("node")
    flows = sol.tables.get("flows", pd.DataFrame(columns=["origin", "destination", "commodity", "tonnes"])).copy()
    o, d = nodes.reindex(flows["origin"]), nodes.reindex(flows["destination"])
    flows["origin_site"] = o["site"].to_numpy()
    flows["destination_site"] = d["site"].to_numpy()
    coords = np.stack([np.column_stack([o["longitude"], o["latitude"]]),
                       np.column_stack([d["longitude"], d["latitude"]])], axis=1).astype(float)
    lines = shapely.linestrings(coords) if len(flows) else np.array([], dtype=object)
    layers["flows"] = gpd.GeoDataFrame(flows.reset_index(drop=True), geometry=lines, crs=CRS)
    return layers


GEOMETRY_TYPES = {"sites": "Point", "facilities": "Point", "markets": "Point", "flows": "LineString"}


def write_geopackage(sol: Any, path: str | Path) -> Path:
    """Write the plan of ``sol`` (a :class:`~network_opt.results.tables.Solution` with a plan) as a
    GeoPackage at ``path`` (replaced if it exists; written beside it first, then moved)."""
    import pyogrio

    def write(tmp: Path) -> None:
        for name, layer in geopackage_layers(sol).items():
            pyogrio.write_dataframe(layer, tmp, layer=name, driver="GPKG", geometry_type=GEOMETRY_TYPES[name],
                                    promote_to_multi=False)

    # the file is complete only once moved into place, so SQLite need not sync every layer
    # (three times faster); the option is restored afterwards
    previous = pyogrio.get_gdal_config_option("OGR_SQLITE_SYNCHRONOUS")
    pyogrio.set_gdal_config_options({"OGR_SQLITE_SYNCHRONOUS": "OFF"})
    try:
        return atomic_write(path, write, suffix=".gpkg")
    finally:
        pyogrio.set_gdal_config_options({"OGR_SQLITE_SYNCHRONOUS": previous})
