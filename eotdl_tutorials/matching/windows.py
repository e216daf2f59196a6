"""Sentinel windows around footprints, and vectorised CRS transforms of geometries.

The window of a footprint is the box, in the footprint's grid CRS (its UTM zone), centred on the
footprint's bounding box, whose sides are the footprint's sides rounded up to whole pixels of
``gsd`` metres: a 384 m EarthView tile gets a 390 m (39 x 39 px) Sentinel-2 window. The same
window, in the same CRS, is what the tiler cuts from every sensor, so the chips are co-registered.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pyproj
import shapely

#: Pixel size of the Sentinel-2 10 m bands and of Sentinel-1 GRD, in metres.
SENTINEL_GSD = 10.0
#: Slack (in pixels) when rounding a footprint size up to whole pixels: 384.0000001 m is 39 px,
#: 380.0000001 m (a reprojection round trip of 380 m) is 38 px, not 39.
_ROUNDING_SLACK_PX = 1e-3


@functools.lru_cache(maxsize=256)
def transformer(src_epsg: int, dst_epsg: int) -> pyproj.Transformer:
    """A cached, always-xy transformer between two EPSG codes."""
    return pyproj.Transformer.from_crs(int(src_epsg), int(dst_epsg), always_xy=True)


def transform_geometries(geoms: np.ndarray, src_epsg: int, dst_epsg: int) -> np.ndarray:
    """Transform an array of shapely geometries between EPSG codes, all points at once."""
    if int(src_epsg) == int(dst_epsg):
        return geoms
    tr = transformer(src_epsg, dst_epsg)

    def _apply(xy: np.ndarray) -> np.ndarray:
        x, y = tr.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(geoms, _apply)


def transform_points(
    x: np.ndarray, y: np.ndarray, src_epsg: int, dst_epsg: int
) -> tuple[np.ndarray, np.ndarray]:
    """Transform coordinate arrays between EPSG codes."""
    if int(src_epsg) == int(dst_epsg):
        return np.asarray(x, dtype="float64"), np.asarray(y, dtype="float64")
    return transformer(src_epsg, dst_epsg).transform(x, y)


@dataclass(frozen=True)
class Windows:
    """One window per footprint, in the footprint's grid CRS: centre, size in pixels, pixel size."""

    epsg: np.ndarray
    cx: np.ndarray
    cy: np.ndarray
    width_px: np.ndarray
    height_px: np.ndarray
    gsd: float
    width_m: np.ndarray  # the footprint's own size in its grid CRS
    height_m: np.ndarray

    def __len__(self) -> int:
        return len(self.cx)

    def bounds(self, index: np.ndarray | slice = slice(None)) -> np.ndarray:
        """``(n, 4)`` array of minx, miny, maxx, maxy in the grid CRS."""
        half_w = self.width_px[index] * self.gsd / 2.0
        half_h = self.height_px[index] * self.gsd / 2.0
        cx, cy = self.cx[index], self.cy[index]
        return np.column_stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h])

    def boxes(self, index: np.ndarray | slice = slice(None)) -> np.ndarray:
        """The windows as shapely polygons in the grid CRS."""
        return shapely.box(*self.bounds(index).T)

    def corners_in(self, index: np.ndarray, epsg: int) -> tuple[np.ndarray, np.ndarray]:
        """``(n, 4)`` x and y of the corners (counter-clockwise from lower left) of the windows
        ``index`` in the CRS ``epsg``; the window there is the quadrilateral of these corners."""
        index = np.asarray(index)
        b = self.bounds(index)
        xs = np.column_stack([b[:, 0], b[:, 2], b[:, 2], b[:, 0]])
        ys = np.column_stack([b[:, 1], b[:, 1], b[:, 3], b[:, 3]])
        for grid in np.unique(self.epsg[index]):
            sel = self.epsg[index] == grid
            x, y = transform_points(xs[sel].ravel(), ys[sel].ravel(), int(grid), epsg)
            xs[sel], ys[sel] = x.reshape(-1, 4), y.reshape(-1, 4)
        return xs, ys

    def lonlat_bounds(self, index: np.ndarray | slice = slice(None)) -> np.ndarray:
        """``(n, 4)`` WGS84 bounds of the windows (of their four corners)."""
        lon, lat = self.corners_in(np.arange(len(self))[index], 4326)
        return np.column_stack([lon.min(1), lat.min(1), lon.max(1), lat.max(1)])


def footprint_windows(footprints: gpd.GeoDataFrame, gsd: float = SENTINEL_GSD) -> Windows:
    """The ``gsd``-pixel window of each footprint (see the module docstring)."""
    n = len(footprints)
    epsg = footprints["grid_epsg"].to_numpy().astype("int64")
    bounds = np.empty((n, 4))
    src = footprints.crs.to_epsg()
    if src is None:
        raise ValueError(f"footprint CRS {footprints.crs.name!r} has no EPSG code")
    geoms = footprints.geometry.to_numpy()
    for code in np.unique(epsg):
        sel = epsg == code
        bounds[sel] = shapely.bounds(transform_geometries(geoms[sel], src, int(code)))
    width_m = bounds[:, 2] - bounds[:, 0]
    height_m = bounds[:, 3] - bounds[:, 1]
    return Windows(
        epsg=epsg,
        cx=(bounds[:, 0] + bounds[:, 2]) / 2.0,
        cy=(bounds[:, 1] + bounds[:, 3]) / 2.0,
        width_px=np.maximum(np.ceil(width_m / gsd - _ROUNDING_SLACK_PX), 1).astype("int64"),
        height_px=np.maximum(np.ceil(height_m / gsd - _ROUNDING_SLACK_PX), 1).astype("int64"),
        gsd=float(gsd),
        width_m=width_m,
        height_m=height_m,
    )
