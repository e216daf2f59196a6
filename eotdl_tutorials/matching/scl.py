"""Cloud inside the window: the Sentinel-2 scene classification (SCL) read under each window.

``eo:cloud_cover`` describes a whole 110 km tile; a footprint may sit under a cloud on a mostly
clear day, or in the clear on a cloudy one. The SCL COG says which: classes 8, 9 and 10 (cloud
medium and high probability, thin cirrus) are counted among the valid (non-zero) pixels.
"""

from __future__ import annotations

import warnings

import geopandas as gpd
import numpy as np
import rasterio
from rasterio.errors import RasterioIOError

from eotdl_tutorials.facts.sensors import scl_cloud_percent
from eotdl_tutorials.matching.join import Candidates
from eotdl_tutorials.matching.rasters import read_chip, window_grid
from eotdl_tutorials.matching.windows import Windows


def window_cloud_percent(
    footprint: np.ndarray, scene: np.ndarray, windows: Windows, scenes: gpd.GeoDataFrame
) -> np.ndarray:
    """Percentage of cloud pixels in each (footprint window, scene) pair, from the scene's SCL.

    NaN when the scene has no readable SCL (a warning names it) or the window holds no valid
    pixel. Each SCL file is opened once for all its windows.
    """
    percent = np.full(len(footprint), np.nan)
    for s in np.unique(scene):
        rows = np.flatnonzero(scene == s)
        href = scenes["assets"].iloc[s].get("scl")
        try:
            if href is None:
                raise RasterioIOError("the item has no scl asset")
            with rasterio.open(href) as src:
                for row in rows:
                    scl = read_chip(src, window_grid(windows, int(footprint[row])), [1])[0]
                    percent[row] = scl_cloud_percent(scl)
        except RasterioIOError as err:
            warnings.warn(
                f"cannot read the SCL of scene {scenes['id'].iloc[s]} ({href}): {err}; "
                "its windows count as cloudy",
                stacklevel=2,
            )
    return percent


def drop_cloudy_windows(
    found: Candidates, windows: Windows, scenes: gpd.GeoDataFrame, max_percent: float
) -> Candidates:
    """Drop candidates whose window is more than ``max_percent`` cloudy, best first.

    Rank 0 of every footprint is read; where it is cloudy, rank 1 is read, and so on until each
    footprint has a clear best match or no candidate left. Candidates ranked after a clear one
    are not read (and kept). Ranks are renumbered.
    """
    if not 0 <= max_percent <= 100:
        raise ValueError(f"scl_max_cloud is a percentage (0 to 100), got {max_percent}")
    keep = np.ones(len(found), dtype=bool)
    pending = np.ones(int(found.footprint.max(initial=-1)) + 1, dtype=bool)
    rank = 0
    while True:
        rows = np.flatnonzero((found.rank == rank) & pending[found.footprint])
        if len(rows) == 0:
            break
        percent = window_cloud_percent(found.footprint[rows], found.scene[rows], windows, scenes)
        clear = percent <= max_percent  # NaN (unreadable, no valid pixel) is not clear
        keep[rows[~clear]] = False
        pending[found.footprint[rows[clear]]] = False
        rank += 1
    return found.subset(keep)
