"""Read a window of an open raster onto a chip grid, by nearest neighbour.

The chip grid is north-up in the footprint's grid CRS. When the raster is in the same CRS this is
one windowed read plus an index (a 20 m band lands on a 10 m grid by repeating pixels); in another
CRS the chip's pixel centres are transformed into the raster's CRS first (a reprojection).
Pixels of the grid that fall outside the raster get ``fill``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import rasterio
from rasterio.windows import Window

from eotdl_tutorials.matching.windows import Windows, transform_points


@dataclass(frozen=True)
class ChipGrid:
    """A north-up grid: ``width`` x ``height`` pixels over ``bounds`` in CRS ``epsg``."""

    epsg: int
    bounds: tuple[float, float, float, float]
    width: int
    height: int

    @property
    def transform(self) -> rasterio.Affine:
        minx, miny, maxx, maxy = self.bounds
        return rasterio.transform.from_bounds(minx, miny, maxx, maxy, self.width, self.height)

    def centres(self) -> tuple[np.ndarray, np.ndarray]:
        """x of the column centres, y of the row centres."""
        minx, miny, maxx, maxy = self.bounds
        xs = minx + (np.arange(self.width) + 0.5) * (maxx - minx) / self.width
        ys = maxy - (np.arange(self.height) + 0.5) * (maxy - miny) / self.height
        return xs, ys


def source_pixels(src: rasterio.DatasetReader, grid: ChipGrid) -> tuple[np.ndarray, np.ndarray]:
    """Row and column in ``src`` of the grid's pixel centres.

    Same CRS and a north-up raster: separable, ``(height,)`` rows and ``(width,)`` columns;
    otherwise ``(height, width)`` arrays of both.
    """
    xs, ys = grid.centres()
    epsg = src.crs.to_epsg() if src.crs else None
    if epsg is None:
        raise ValueError(f"{src.name} has no EPSG CRS: cannot place a chip on it")
    inverse = ~src.transform
    if epsg == grid.epsg and src.transform.b == 0 and src.transform.d == 0:
        cols = np.floor(inverse.a * xs + inverse.c).astype("int64")
        rows = np.floor(inverse.e * ys + inverse.f).astype("int64")
        return rows, cols
    gx, gy = np.meshgrid(xs, ys)
    x, y = transform_points(gx.ravel(), gy.ravel(), grid.epsg, epsg)
    cols = np.floor(inverse.a * x + inverse.b * y + inverse.c).astype("int64")
    rows = np.floor(inverse.d * x + inverse.e * y + inverse.f).astype("int64")
    return rows.reshape(gx.shape), cols.reshape(gx.shape)


def covering_window(
    src: rasterio.DatasetReader, rows: np.ndarray, cols: np.ndarray
) -> Window | None:
    """The smallest raster window holding every in-raster pixel of ``rows``/``cols`` (or None)."""
    r0, r1 = max(int(rows.min()), 0), min(int(rows.max()) + 1, src.height)
    c0, c1 = max(int(cols.min()), 0), min(int(cols.max()) + 1, src.width)
    if r0 >= r1 or c0 >= c1:
        return None
    return Window(c0, r0, c1 - c0, r1 - r0)


def read_chip(
    src: rasterio.DatasetReader,
    grid: ChipGrid,
    indexes: list[int] | None = None,
    fill: float = 0,
    out_dtype: str | None = None,
    pixels: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Bands ``indexes`` (1-based, default all) of ``src`` on ``grid``: ``(bands, h, w)``.

    ``pixels``: :func:`source_pixels` of ``src`` and ``grid`` when already known."""
    indexes = indexes or list(range(1, src.count + 1))
    dtype = out_dtype or src.dtypes[0]
    rows, cols = pixels if pixels is not None else source_pixels(src, grid)
    window = covering_window(src, rows, cols)
    if window is None:
        return np.full((len(indexes), grid.height, grid.width), fill, dtype=dtype)
    data = src.read(indexes, window=window)
    r = rows - window.row_off
    c = cols - window.col_off
    if rows.ndim == 1:  # same CRS: rows and columns apart
        if (
            data.shape[1:] == (grid.height, grid.width)
            and (np.diff(r) == 1).all()
            and (np.diff(c) == 1).all()
        ):
            return data.astype(dtype, copy=False)  # the window is the chip: nothing to resample
        r_in = (r >= 0) & (r < window.height)
        c_in = (c >= 0) & (c < window.width)
        if r_in.all() and c_in.all():
            return data[:, r][:, :, c].astype(dtype, copy=False)
        out = np.full((len(indexes), grid.height, grid.width), fill, dtype=dtype)
        inside = r_in[:, None] & c_in[None, :]
        out[:, inside] = data[:, r[r_in]][:, :, c[c_in]].reshape(len(indexes), -1)
        return out
    out = np.full((len(indexes), grid.height, grid.width), fill, dtype=dtype)
    inside = (r >= 0) & (r < window.height) & (c >= 0) & (c < window.width)
    out[:, inside] = data[:, r[inside], c[inside]]
    return out


def window_grid(windows: Windows, i: int, gsd: float | None = None) -> ChipGrid:
    """The chip grid of footprint ``i``'s window, at ``gsd`` metres (default: the window's)."""
    minx, miny, maxx, maxy = (float(v) for v in windows.bounds(np.array([i]))[0])
    gsd = gsd or windows.gsd
    return ChipGrid(
        int(windows.epsg[i]),
        (minx, miny, maxx, maxy),
        round((maxx - minx) / gsd),
        round((maxy - miny) / gsd),
    )
