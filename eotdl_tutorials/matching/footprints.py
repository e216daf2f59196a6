"""High-resolution footprints: read them from any accepted table and give them one shape.

Accepted inputs (a GeoDataFrame or a (geo)parquet path):

- a plain table with ``id``, ``geometry`` and ``datetime`` (any CRS with a known EPSG code);
- the EarthView index (``json_path``, ``zone``, ``region``, ``date``, ``geometry`` in EPSG:4326),
  with or without ``id``/``datetime``;
- a frame of STAC items (``eotdl_tutorials.stac.conventions.items_to_frame``), e.g. the
  ``satellogic-earthview`` items of a sample world (``epsg`` and ``assets`` columns).

Every footprint gets a *grid CRS*: the UTM zone its chips are cut in. It is the footprint's own
projected CRS when it has one (a projected GeoDataFrame, a ``zone`` like ``31N``, an ``epsg``
column), else the UTM zone of its centroid.
"""

from __future__ import annotations

import os
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from eotdl_tutorials.facts.grids import utm_epsg, zone_epsg

_STAMP = r"(\d{8}_\d{6})"


def _datetimes(frame: pd.DataFrame) -> pd.Series:
    """Footprint acquisition times (UTC) from ``datetime``, a ``json_path`` stamp or ``date``."""
    if "datetime" in frame:
        values = frame["datetime"]
    elif (
        "json_path" in frame
        and (stamp := frame["json_path"].astype(str).str.extract(_STAMP)[0]).notna().all()
    ):
        values = pd.to_datetime(stamp, format="%Y%m%d_%H%M%S", utc=True)
    elif "date" in frame:
        values = frame["date"]  # a day only: taken as 00:00 UTC
    else:
        raise ValueError(
            "footprints need a 'datetime' column (or the EarthView 'date'/'json_path' columns)"
        )
    text = pd.api.types.is_string_dtype(values) or values.dtype == object
    try:
        parsed = pd.to_datetime(values, utc=True, format="ISO8601" if text else None)
    except (ValueError, TypeError) as err:
        raise ValueError(f"footprint datetimes cannot be parsed: {err}") from None
    if parsed.isna().any():
        raise ValueError(f"{int(parsed.isna().sum())} footprints have no datetime")
    return parsed.astype("datetime64[ns, UTC]")


def _ids(frame: pd.DataFrame) -> pd.Series:
    if "id" in frame:
        ids = frame["id"].astype(str)
    elif "json_path" in frame:
        ids = frame["json_path"].astype(str).map(lambda p: Path(p).stem.removesuffix("_metadata"))
    else:
        raise ValueError("footprints need an 'id' column (or the EarthView 'json_path' column)")
    duplicated = ids.duplicated()
    if duplicated.any():
        raise ValueError(f"footprint ids must be unique; {ids[duplicated].iloc[0]!r} repeats")
    return ids


def _grid_epsg(frame: gpd.GeoDataFrame) -> np.ndarray:
    crs = frame.crs
    if not crs.is_geographic:
        epsg = crs.to_epsg()
        if epsg is None or not crs.is_projected:
            raise ValueError(f"footprint CRS {crs.name!r} has no EPSG code: reproject to UTM")
        return np.full(len(frame), epsg, dtype="int64")
    if "zone" in frame:
        return zone_epsg(frame["zone"])
    for column in ("epsg", "proj:epsg"):
        if column in frame and frame[column].notna().all():
            return frame[column].astype("int64").to_numpy()
    centre = shapely.centroid(frame.geometry.to_crs(4326).values)
    return utm_epsg(shapely.get_x(centre), shapely.get_y(centre))


def _hr_hrefs(frame: pd.DataFrame) -> pd.Series | None:
    if "hr_href" in frame:
        return frame["hr_href"].astype("string")
    if "assets" in frame:
        return frame["assets"].map(lambda a: a.get("analytic") if isinstance(a, dict) else None)
    return None


def read_footprints(source: gpd.GeoDataFrame | str | os.PathLike[str]) -> gpd.GeoDataFrame:
    """Normalise footprints to ``id``, ``datetime`` (UTC), ``grid_epsg``, ``geometry``.

    The geometry keeps its CRS. ``hr_href`` (the 1 m image), ``json_path``, ``zone`` and
    ``region`` are kept when the input has them; read from an EarthView index file,
    ``hr_metadata`` is the full path of each tile's metadata JSON. Raises
    ``ValueError``/``FileNotFoundError`` naming what to fix.
    """
    index_dir = None
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        if not path.exists():
            raise FileNotFoundError(f"footprint file {path} does not exist")
        try:
            frame = gpd.read_parquet(path)
        except (ValueError, OSError) as err:
            raise ValueError(f"{path} is not a geoparquet file of footprints: {err}") from None
        index_dir = str(path.resolve().parent)
    elif isinstance(source, gpd.GeoDataFrame):
        frame = source
    else:
        raise ValueError(f"footprints must be a GeoDataFrame or a geoparquet path, not {source!r}")
    if len(frame) == 0:
        raise ValueError("no footprints: the footprint table is empty")
    if frame.crs is None:
        raise ValueError("footprints have no CRS: set one (e.g. frame.set_crs(4326))")
    geometry = frame.geometry
    if geometry.isna().any() or geometry.is_empty.any():
        raise ValueError(
            f"{int((geometry.isna() | geometry.is_empty).sum())} footprints lack a geometry"
        )
    out = gpd.GeoDataFrame(
        {
            "id": _ids(frame).reset_index(drop=True),
            "datetime": _datetimes(frame).reset_index(drop=True),
            "grid_epsg": _grid_epsg(frame),
        },
        geometry=geometry.to_numpy(),
        crs=frame.crs,
    )
    hrefs = _hr_hrefs(frame)
    if hrefs is not None:
        out["hr_href"] = hrefs.to_numpy()
    for column in ("json_path", "zone", "region"):
        if column in frame:
            out[column] = frame[column].astype(str).to_numpy()
    if index_dir is not None and "json_path" in out:
        out["hr_metadata"] = index_dir + os.sep + out["json_path"]
    return out
