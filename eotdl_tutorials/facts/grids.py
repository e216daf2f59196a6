"""UTM grid names: EPSG codes of WGS84 UTM zones and the zone labels EarthView writes (``31N``).

Each function takes one value or an array of them.
"""

from __future__ import annotations

import re
from typing import overload

import numpy as np
import pandas as pd

_ZONE = re.compile(r"^(\d{1,2})([NS])$")


@overload
def utm_epsg(lon: float, lat: float) -> int: ...
@overload
def utm_epsg(lon: np.ndarray, lat: np.ndarray) -> np.ndarray: ...
def utm_epsg(lon, lat):
    """EPSG code of the WGS84 UTM zone of each (lon, lat) point (326xx north, 327xx south).

    The plain 6-degree zones, those of the EPSG areas of use that pyproj's
    ``query_utm_crs_info`` searches: neither knows MGRS's Norway and Svalbard exceptions.
    """
    lon_a, lat_a = np.asarray(lon, dtype="float64"), np.asarray(lat, dtype="float64")
    zone = np.clip(np.floor((lon_a + 180.0) / 6.0).astype("int64") + 1, 1, 60)
    codes = np.where(lat_a >= 0, 32600, 32700) + zone
    return int(codes) if codes.ndim == 0 else codes


@overload
def zone_name(epsg: int) -> str: ...
@overload
def zone_name(epsg: np.ndarray | pd.Series) -> np.ndarray: ...
def zone_name(epsg):
    """The UTM zone label of WGS84 UTM EPSG codes, as EarthView writes it: 32631 -> ``31N``."""
    codes = np.asarray(epsg, dtype="int64")
    utm = ((codes >= 32601) & (codes <= 32660)) | ((codes >= 32701) & (codes <= 32760))
    if not utm.all():
        bad = codes[~utm] if codes.ndim else codes
        raise ValueError(f"EPSG:{int(np.ravel(bad)[0])} is not a WGS84 UTM zone")
    names = np.char.add((codes % 100).astype(str), np.where(codes < 32700, "N", "S"))
    return str(names) if names.ndim == 0 else names.astype(object)


def zone_epsg(zones: pd.Series) -> np.ndarray:
    """EPSG codes of zone labels such as ``31N`` (north) or ``23S`` (south)."""
    codes, labels = pd.factorize(pd.Series(zones).astype(str))  # few distinct: parse those only
    parts = pd.Series(labels).str.strip().str.upper().str.extract(_ZONE)
    bad = parts[0].isna()
    if bad.any():
        raise ValueError(f"zone {labels[bad.to_numpy()][0]!r} is not a UTM zone label like '31N'")
    number = parts[0].astype("int64").to_numpy()
    if ((number < 1) | (number > 60)).any():
        raise ValueError("UTM zone numbers are 1..60")
    return (np.where(parts[1].to_numpy() == "N", 32600, 32700) + number)[codes]


def latitude_band(lat: float) -> str:
    """MGRS latitude band letter of ``lat``."""
    return "CDEFGHJKLMNPQRSTUVWX"[min(int((lat + 80) // 8), 19)]
