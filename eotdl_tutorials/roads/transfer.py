"""Label transfers: a 1 m road mask or road centre lines with widths onto a 10 m grid.

Roads are 5 to 20 m wide, so at 10 m they are one or two pixels, and how a 1 m label becomes a
10 m label decides what a model can learn:

- ``nearest``: EOTDL resizes the 1 m mask to the 10 m grid, i.e. keeps the 1 m pixel under each
  10 m pixel centre; a 5 m road between two centres vanishes, roads break into dashes;
- ``area_fraction``: the fraction of each 10 m pixel covered by road (average of the 1 m mask),
  thresholded; thin roads survive where they cover enough of a pixel;
- ``vector_width``: the road centre lines buffered to half their width and rasterised with
  ``all_touched``: every pixel the road surface touches is road (continuous, a little wide).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import shapely
from rasterio.enums import Resampling
from rasterio.features import rasterize
from rasterio.warp import reproject
from scipy import ndimage
from skimage.morphology import skeletonize

from eotdl_tutorials.matching.rasters import ChipGrid
from eotdl_tutorials.roads.aerial import is_road

#: The label transfers this module implements; the first two are trained on in use case D.
TRANSFERS = ("area_fraction", "vector_width", "nearest")
#: Default share of a 10 m pixel that must be road for ``area_fraction`` to call it road.
DEFAULT_FRACTION_THRESHOLD = 0.25


def check_transfers(names: Sequence[str]) -> None:
    """Raise a ``ValueError`` naming the choices when a name in ``names`` is not a transfer."""
    unknown = [name for name in names if name not in TRANSFERS]
    if unknown or not names:
        raise ValueError(
            f"label transfers {list(names)}: choose one or more of {', '.join(TRANSFERS)}"
        )


def road_fraction(mask_path: str, grid: ChipGrid) -> np.ndarray:
    """The share (0..1) of each pixel of ``grid`` covered by road in the 1 m mask file."""
    return _resample(mask_path, grid, Resampling.average)


def nearest_labels(mask_path: str, grid: ChipGrid) -> np.ndarray:
    """EOTDL's transfer: the 1 m mask resized to ``grid`` by nearest neighbour (uint8 0/1)."""
    return (_resample(mask_path, grid, Resampling.nearest) >= 0.5).astype(np.uint8)


def _resample(mask_path: str, grid: ChipGrid, method: Resampling) -> np.ndarray:
    out = np.zeros((grid.height, grid.width), np.float32)
    with rasterio.open(mask_path) as src:
        mask = is_road(src.read(1)).astype(np.float32)
        reproject(
            mask,
            out,
            src_transform=src.transform,
            src_crs=src.crs,
            dst_transform=grid.transform,
            dst_crs=f"EPSG:{grid.epsg}",
            resampling=method,
        )
    return out


def fraction_labels(
    fraction: np.ndarray, threshold: float = DEFAULT_FRACTION_THRESHOLD
) -> np.ndarray:
    """Road where at least ``threshold`` of the pixel is road (uint8 0/1)."""
    if not 0 < threshold <= 1:
        raise ValueError(f"the area-fraction threshold must be in (0, 1], got {threshold}")
    return (fraction >= threshold).astype(np.uint8)


def vector_labels(
    roads: gpd.GeoDataFrame, grid: ChipGrid, all_touched: bool = True, width_scale: float = 1.0
) -> np.ndarray:
    """Road centre lines (with a ``width`` column in metres) buffered to half their width and
    rasterised onto ``grid`` (uint8 0/1); ``all_touched`` marks every pixel the surface touches."""
    if "width" not in roads:
        raise ValueError("the road vectors need a 'width' column (metres) to be rasterised")
    if roads.crs is None:
        raise ValueError("the road vectors have no CRS")
    box = shapely.box(*grid.bounds)
    local = roads.to_crs(grid.epsg)
    local = local[local.intersects(box.buffer(local["width"].max() if len(local) else 0))]
    shape = (grid.height, grid.width)
    if local.empty:
        return np.zeros(shape, np.uint8)
    surfaces = shapely.buffer(local.geometry.values, local["width"].to_numpy() * width_scale / 2)
    return rasterize(
        ((g, 1) for g in surfaces if not g.is_empty),
        out_shape=shape,
        transform=grid.transform,
        all_touched=all_touched,
        dtype="uint8",
    )


def summarize_transfers(labels: dict[str, np.ndarray], fraction: np.ndarray) -> pd.DataFrame:
    """Per transfer, over (N, H, W) chips: road share (%), 8-connected road pieces per chip,
    skeleton length per chip (px) and the share of its road pixels where the 1 m mask has no
    road at all (``fraction`` 0)."""
    eight = np.ones((3, 3), bool)
    rows = {}
    for name, masks in labels.items():
        road = masks.astype(bool)
        pieces = [ndimage.label(m, structure=eight)[1] for m in road]
        skeleton = [skeletonize(m).sum() for m in road]
        rows[name] = {
            "road_share_percent": 100 * float(road.mean()),
            "pieces_per_chip": float(np.mean(pieces)),
            "skeleton_px_per_chip": float(np.mean(skeleton)),
            "off_road_percent": 100 * float((road & (fraction == 0)).sum() / max(road.sum(), 1)),
        }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("transfer")


#: How the summary sentences name each transfer: short, and after a number of road pieces.
_SUMMARY_NAMES = {
    "nearest": ("nearest", "with nearest resizing"),
    "area_fraction": ("area fraction", "with the area fraction"),
    "vector_width": ("vectors", "with the vectors"),
}


def describe_transfers(summary: pd.DataFrame, missing: Mapping[str, str] | None = None) -> str:
    """The road share and the road pieces per chip of each transfer in ``summary``
    (:func:`summarize_transfers`), in sentences; a line for each ``missing`` transfer and why."""
    names = [t for t in _SUMMARY_NAMES if t in summary.index]
    shares = ", ".join(
        f"{_SUMMARY_NAMES[t][0]} {summary.loc[t, 'road_share_percent']:.2f} %" for t in names
    )
    pieces = [
        f"{summary.loc[t, 'pieces_per_chip']:.1f}{' pieces per chip' if k == 0 else ''} "
        f"{_SUMMARY_NAMES[t][1]}"
        for k, t in enumerate(names)
    ]
    listed = pieces[0] if len(pieces) == 1 else ", ".join(pieces[:-1]) + " and " + pieces[-1]
    lines = [
        f"Road share: {shares}.",
        f"Roads fall into {listed}: the fewer, the more connected the label.",
    ]
    lines += [f"The {t} transfer is unavailable: {why}." for t, why in (missing or {}).items()]
    return "\n".join(lines)
