"""The ground of the sample world as vectors: field parcels with a land cover, crops and phenology,
rivers, a connected road network of several widths, and buildings in built-up areas.

Everything is drawn from seeded hashes of map coordinates, so the vectors of any window are the
same whichever window they were generated for: a region is generated once for its extent, and the
``large`` profile generates only the windows it renders on demand.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

from eotdl_tutorials.facts.classes import (
    BARE_SOIL,
    BUILT_UP,
    CROPLAND,
    FOREST,
    GRASSLAND,
    HERBACEOUS,
    INDUSTRIAL,
    PERMANENT_CROP,
    WATER,
)
from eotdl_tutorials.facts.grids import latitude_band
from eotdl_tutorials.world.noise import _hash01, fractal_noise, value_noise
from eotdl_tutorials.world.spec import Region, TileGrid, WorldProfile

PARCEL_SPACING = 170.0
ROAD_CELL = 900.0
#: Quantiles of 3-octave fractal noise, to turn wanted area shares into thresholds.
_NOISE_Q = np.array([0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 1.0])
_NOISE_V = np.array([0.0, 0.27, 0.315, 0.374, 0.42, 0.5, 0.58, 0.626, 0.685, 0.73, 1.0])

#: Area shares per biome: water, built-up, then forest / cropland / grassland / bare of the rest.
BIOMES = {
    "temperate": {"water": 0.07, "built": 0.12, "veg": (0.32, 0.42, 0.2, 0.06)},
    "semiarid": {"water": 0.04, "built": 0.15, "veg": (0.08, 0.27, 0.35, 0.30)},
}
#: Crops: sowing, peak and harvest day of year (winter wheat is sown the autumn before).
CROPS = {
    "winter wheat": (-75, 135, 200),
    "maize": (115, 215, 285),
    "sunflower": (105, 195, 255),
    "alfalfa": (60, 180, 300),
}
#: Paved widths. The primary road is a motorway: a 4-lane cross-section RQ 31 is 31 m wide
#: (German RAA 2008); its corridor adds verges and embankments of about 10 m a side.
ROAD_WIDTHS = {"primary": 31.0, "secondary": 7.0, "residential": 5.0}
HIGHWAY_VERGE = 10.0
#: Shares of parcels that change use, with their sources (shares of the parent cover type):
#: permanent crops are 7 % of the EU's farmland (Eurostat, farm structure survey 2020), more in
#: wine and fruit country like the upper Rhine or irrigated California; natural grassland and
#: shrubland are about a third of CORINE's grassland-like classes (CLC 2018: 3.2 + 4.1 vs
#: pastures 10.6 % of EU area); industrial and commercial units are about a quarter of
#: artificial surfaces (CLC 2018: 1.6 vs urban fabric 4.3 % of EU area).
USE_SHARES = {
    "temperate": {"permanent crop": 0.12, "herbaceous": 0.35, "industrial": 0.27},
    "semiarid": {"permanent crop": 0.2, "herbaceous": 0.5, "industrial": 0.27},
}
#: Row spacing (m) of permanent crops: vineyards 1.8-3.0 m, orchards 3.5-6.5 m between rows
#: (planting systems of Alsace vineyards and of apple/citrus orchards; FAO Irrigation and
#: Drainage Paper 56 describes both); crowns fill 30-60 % of the ground.
ROW_SPACING = {"vineyard": (1.8, 3.0), "orchard": (3.5, 6.5)}


def _threshold(share: float) -> float:
    """Noise value below which a share ``share`` of the area lies."""
    return float(np.interp(share, _NOISE_Q, _NOISE_V))


def _seed(seed: int, *parts: str | int) -> int:
    """A stable sub-seed for one purpose (Python's ``hash`` is salted per process)."""
    text = ":".join(str(p) for p in (seed, *parts))
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=4).digest())


@dataclass(frozen=True)
class RegionLayout:
    """Where a region lies in its UTM zone and the Sentinel-2 tiles (MGRS-like) that cover it."""

    region: Region
    cx: float
    cy: float
    size: float
    s2_tiles: tuple[tuple[str, TileGrid], ...]

    @property
    def epsg(self) -> int:
        return self.region.epsg

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """The square inside which high-resolution tiles are placed."""
        h = self.size / 2
        return (self.cx - h, self.cy - h, self.cx + h, self.cy + h)

    @property
    def extent(self) -> tuple[float, float, float, float]:
        """Bounds of everything rendered for the region (the union of its S2 tiles)."""
        b = np.array([grid.bounds for _, grid in self.s2_tiles])
        return (b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max())


def region_layout(region: Region, profile: WorldProfile) -> RegionLayout:
    """Place ``region`` in its UTM zone and cover it with overlapping S2 tiles.

    Tiles overlap by ``s2_overlap_px`` like MGRS tiles do, and reach 400 m beyond the region so
    that the 10 m window around any footprint inside it lies inside at least one tile.
    """
    to_utm = Transformer.from_crs(4326, region.epsg, always_xy=True)
    cx, cy = to_utm.transform(region.lon, region.lat)
    cx, cy = round(cx / 10) * 10, round(cy / 10) * 10
    tile = profile.s2_tile_size()
    step = tile - profile.s2_overlap_px * 10
    span = profile.region_size + 800
    count = max(1, math.ceil((span - tile) / step) + 1)
    x_start = cx - (tile + (count - 1) * step) / 2
    y_top = cy + (tile + (count - 1) * step) / 2
    band = latitude_band(region.lat)
    letters_col, letters_row = "ABCDEFGHJKLMNPQRSTUVWXYZ", "ABCDEFGHJKLMNPQRSTUV"
    tiles = []
    for row in range(count):
        for col in range(count):
            x0, y0 = x_start + col * step, y_top - row * step
            square = letters_col[int(x0 // step) % 24] + letters_row[int(y0 // step) % 20]
            code = f"{region.epsg % 100}{band}{square}"
            tiles.append((code, TileGrid(region.epsg, x0, y0, 10.0, tile // 10, tile // 10)))
    return RegionLayout(region, cx, cy, profile.region_size, tuple(tiles))


def _lattice_points(bounds: tuple[float, ...], spacing: float, seed: int) -> np.ndarray:
    """Jittered lattice points (one per cell) over ``bounds``; the same points for any window."""
    xmin, ymin, xmax, ymax = bounds
    ix = np.arange(math.floor(xmin / spacing), math.ceil(xmax / spacing) + 1)
    iy = np.arange(math.floor(ymin / spacing), math.ceil(ymax / spacing) + 1)
    gx, gy = np.meshgrid(ix, iy)
    jx = _hash01(gx, gy, seed) * 0.8 + 0.1
    jy = _hash01(gx, gy, seed + 1) * 0.8 + 0.1
    return np.column_stack([(gx + jx).ravel() * spacing, (gy + jy).ravel() * spacing])


def _voronoi_cells(
    bounds: tuple[float, ...], spacing: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Voronoi cells of the lattice points around ``bounds`` (with a margin so cells are exact)."""
    margin = 3 * spacing
    xmin, ymin, xmax, ymax = bounds
    grown = (xmin - margin, ymin - margin, xmax + margin, ymax + margin)
    points = _lattice_points(grown, spacing, seed)
    cells = shapely.get_parts(
        shapely.voronoi_polygons(shapely.multipoints(points), extend_to=shapely.box(*grown))
    )
    # voronoi_polygons does not keep input order: find each cell's generating point.
    tree = shapely.STRtree(cells)
    point_geoms = shapely.points(points)
    idx_point, idx_cell = tree.query(point_geoms, predicate="within")
    order = np.full(len(points), -1)
    order[idx_point] = idx_cell
    keep = order >= 0
    cells, points = cells[order[keep]], points[keep]
    inside = shapely.intersects(cells, shapely.box(*bounds))
    return cells[inside], points[inside]


def _meander(
    start: np.ndarray, end: np.ndarray, seed: int, amplitude: float, count: int = 40
) -> shapely.LineString:
    """A gently meandering line from ``start`` to ``end`` (rivers and highways)."""
    t = np.linspace(0, 1, count)
    direction = end - start
    normal = np.array([-direction[1], direction[0]]) / np.linalg.norm(direction)
    offset = (value_noise(t * 8, np.zeros_like(t), 1.0, seed) - 0.5) * 2 * amplitude
    offset *= np.sin(np.pi * t) ** 0.3
    xy = start + t[:, None] * direction + offset[:, None] * normal
    return shapely.LineString(xy)


@dataclass
class Landscape:
    """The vector ground of one window of a region, in the region's UTM CRS."""

    epsg: int
    parcels: gpd.GeoDataFrame
    water: gpd.GeoDataFrame
    roads: gpd.GeoDataFrame
    buildings: gpd.GeoDataFrame

    @cached_property
    def road_polygons(self) -> np.ndarray:
        """Roads buffered to their width."""
        return shapely.buffer(self.roads.geometry.values, self.roads["width"].to_numpy() / 2)

    def clip(self, bounds: tuple[float, float, float, float]) -> Landscape:
        """The features that touch ``bounds``."""
        box = shapely.box(*bounds)

        def sub(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
            return frame[frame.intersects(box)]

        clipped = Landscape(
            self.epsg, sub(self.parcels), sub(self.water), sub(self.roads), sub(self.buildings)
        )
        return clipped


def generate_landscape(region: Region, bounds: tuple[float, ...], seed: int) -> Landscape:
    """Generate the vectors of ``region`` that touch ``bounds`` (UTM metres)."""
    rs = _seed(seed, region.name)
    biome = BIOMES[region.biome]
    cells, centres = _voronoi_cells(bounds, PARCEL_SPACING, rs)
    cx, cy = centres[:, 0], centres[:, 1]
    wet = fractal_noise(cx, cy, 1600, rs + 11, octaves=3)
    urban = fractal_noise(cx, cy, 1300, rs + 12, octaves=3)
    veg = fractal_noise(cx, cy, 900, rs + 13, octaves=3)
    klass = np.full(len(cells), BARE_SOIL, dtype=np.uint8)
    cuts = np.cumsum(biome["veg"])
    veg_share = 1 - np.interp(veg, _NOISE_V, _NOISE_Q)  # 0 for the greenest parcels
    for code, upper in zip((FOREST, CROPLAND, GRASSLAND), cuts[:3], strict=True):
        lower_done = klass != BARE_SOIL
        klass[(veg_share < upper) & ~lower_done] = code
    klass[urban > _threshold(1 - biome["built"])] = BUILT_UP
    klass[wet < _threshold(biome["water"])] = WATER

    ix, iy = np.round(cx).astype(np.int64), np.round(cy).astype(np.int64)
    shares = USE_SHARES[region.biome]
    use = _hash01(ix, iy, rs + 17)
    estates = fractal_noise(cx, cy, 500, rs + 18, octaves=2)  # estates cluster in towns
    klass[(klass == CROPLAND) & (use < shares["permanent crop"])] = PERMANENT_CROP
    klass[(klass == GRASSLAND) & (use > 1 - shares["herbaceous"])] = HERBACEOUS
    klass[(klass == BUILT_UP) & (estates > _threshold(1 - shares["industrial"]))] = INDUSTRIAL

    ids = np.arange(len(cells))
    pick = _hash01(ix, iy, rs + 14)
    crop_names = np.array(list(CROPS))
    crop = np.where(klass == CROPLAND, crop_names[(pick * len(CROPS)).astype(int)], "")
    vineyard = pick < (0.6 if region.biome == "temperate" else 0.2)
    crop = np.where(klass == PERMANENT_CROP, np.where(vineyard, "vineyard", "orchard"), crop)
    u_row = _hash01(ix, iy, rs + 19)
    low, high = np.where(vineyard, 1.8, 3.5), np.where(vineyard, 3.0, 6.5)
    row_spacing = np.where(klass == PERMANENT_CROP, low + (high - low) * u_row, 0.0)
    row_azimuth = np.pi * _hash01(ix, iy, rs + 20)
    brightness = 0.9 + 0.2 * _hash01(ix, ids * 0, rs + 15)
    evergreen = region.biome == "semiarid"
    deciduous = (klass == FOREST) & (pick < (0.15 if evergreen else 0.7))
    parcels = gpd.GeoDataFrame(
        {
            "klass": klass,
            "crop": crop,
            "brightness": brightness.astype(np.float32),
            "deciduous": deciduous,
            "moisture": _hash01(iy, ids * 0, rs + 16).astype(np.float32),
            "row_spacing": row_spacing.astype(np.float32),
            "row_azimuth": row_azimuth.astype(np.float32),
        },
        geometry=cells,
        crs=region.epsg,
    )
    water = _rivers(region, bounds, rs)
    roads = _roads(region, bounds, rs, parcels)
    town = parcels["klass"].isin([BUILT_UP, INDUSTRIAL])
    buildings = _buildings(parcels[town], roads, rs)
    return Landscape(region.epsg, parcels, water, roads, buildings)


def _region_anchor(region: Region) -> np.ndarray:
    to_utm = Transformer.from_crs(4326, region.epsg, always_xy=True)
    return np.array(to_utm.transform(region.lon, region.lat))


def _rivers(region: Region, bounds: tuple[float, ...], rs: int) -> gpd.GeoDataFrame:
    """One river per temperate region, crossing it from north-west to south-east."""
    lines, widths = [], []
    if region.biome == "temperate":
        anchor = _region_anchor(region)
        start, end = anchor + [-40000, 25000], anchor + [40000, -30000]
        river = _meander(start, end, rs + 21, amplitude=2500, count=400)
        lines.append(river.buffer(22, quad_segs=4))
        widths.append(44.0)
    frame = gpd.GeoDataFrame({"width": widths}, geometry=lines, crs=region.epsg)
    return frame.clip(shapely.box(*bounds)).reset_index(drop=True)


def _roads(
    region: Region, bounds: tuple[float, ...], rs: int, parcels: gpd.GeoDataFrame
) -> gpd.GeoDataFrame:
    """A connected network: a highway, the edges of a coarse Voronoi web, streets in towns."""
    anchor = _region_anchor(region)
    highway = _meander(anchor + [-45000, -8000], anchor + [45000, 9000], rs + 31, 1500, 300)
    coarse, _ = _voronoi_cells(bounds, ROAD_CELL, rs + 32)
    secondary = shapely.get_parts(shapely.line_merge(shapely.union_all(shapely.boundary(coarse))))
    town = parcels.geometry.values[np.isin(parcels["klass"].to_numpy(), (BUILT_UP, INDUSTRIAL))]
    residential = (
        shapely.get_parts(shapely.line_merge(shapely.union_all(shapely.boundary(town))))
        if len(town)
        else np.array([], dtype=object)
    )
    geoms = [highway, *secondary, *residential]
    kinds = ["primary"] + ["secondary"] * len(secondary) + ["residential"] * len(residential)
    frame = gpd.GeoDataFrame(
        {"kind": kinds, "width": [ROAD_WIDTHS[k] for k in kinds]}, geometry=geoms, crs=region.epsg
    )
    frame = frame.clip(shapely.box(*bounds)).explode(ignore_index=True)
    return frame[frame.geom_type == "LineString"].reset_index(drop=True)


#: Building layouts: lattice spacing, side ranges (m), share of lots built and setback from the
#: parcel edge. Residential: detached and terraced houses of 7-16 m by 7-18 m on lots about 24 m
#: apart (50-250 m2 footprints: EUBUCCO, Milojevic-Dupont et al. 2023, Sci. Data 10:147, median
#: residential footprint about 100-150 m2). Industrial: halls of 25-65 m by 20-55 m
#: (600-3,500 m2) on 80 m lots with yards between them.
BUILDING_LAYOUTS = {
    "residential": {"spacing": 24.0, "w": (7, 16), "h": (7, 18), "built": 0.8, "setback": 6},
    "industrial": {"spacing": 80.0, "w": (25, 65), "h": (20, 55), "built": 0.75, "setback": 8},
}
#: Roof materials of each layout and their shares (the rest is the last).
ROOFS = {
    "residential": (("tiles", 0.45), ("concrete", 1.0)),
    "industrial": (("metal", 0.6), ("concrete", 1.0)),
}


def _buildings(town: gpd.GeoDataFrame, roads: gpd.GeoDataFrame, rs: int) -> gpd.GeoDataFrame:
    """Rectangular buildings on jittered lattices inside built-up parcels, off the streets:
    small houses in residential quarters, large halls in industrial estates."""
    frames = []
    for n, (use, klass) in enumerate((("residential", BUILT_UP), ("industrial", INDUSTRIAL))):
        parcels = town[town["klass"] == klass]
        if parcels.empty:
            continue
        layout, k = BUILDING_LAYOUTS[use], rs + 100 * n
        pts = _lattice_points(tuple(parcels.total_bounds), layout["spacing"], k + 41)
        ix, iy = np.round(pts[:, 0]).astype(np.int64), np.round(pts[:, 1]).astype(np.int64)
        w = layout["w"][0] + (layout["w"][1] - layout["w"][0]) * _hash01(ix, iy, k + 42)
        h = layout["h"][0] + (layout["h"][1] - layout["h"][0]) * _hash01(ix, iy, k + 43)
        angle = (_hash01(ix // 170, iy // 170, rs + 44) - 0.5) * 0.6
        corners = np.array([[-0.5, -0.5], [0.5, -0.5], [0.5, 0.5], [-0.5, 0.5], [-0.5, -0.5]])
        local = corners[None] * np.stack([w, h], axis=1)[:, None, :]
        cos, sin = np.cos(angle)[:, None], np.sin(angle)[:, None]
        rotated = np.stack(
            [local[..., 0] * cos - local[..., 1] * sin, local[..., 0] * sin + local[..., 1] * cos],
            -1,
        )
        polygons = shapely.polygons(rotated + pts[:, None, :])
        inner = shapely.buffer(parcels.geometry.values, -layout["setback"])
        in_building, _ = shapely.STRtree(inner).query(polygons, predicate="within")
        keep = np.zeros(len(polygons), dtype=bool)
        keep[in_building] = True
        streets = shapely.buffer(roads.geometry.values, roads["width"].to_numpy() / 2 + 3)
        on_street, _ = shapely.STRtree(streets).query(polygons, predicate="intersects")
        keep[on_street] = False
        keep &= _hash01(ix, iy, k + 45) < layout["built"]
        u_roof = _hash01(ix, iy, k + 46)
        roof = np.full(len(polygons), ROOFS[use][-1][0], dtype=object)
        for name, upper in reversed(ROOFS[use][:-1]):
            roof[u_roof < upper] = name
        frames.append(
            gpd.GeoDataFrame(
                {"roof": roof[keep].astype(str), "use": use}, geometry=polygons[keep], crs=town.crs
            )
        )
    if not frames:
        return gpd.GeoDataFrame({"roof": [], "use": []}, geometry=[], crs=town.crs)
    return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=town.crs)


def landscape_frames(landscape: Landscape) -> dict[str, gpd.GeoDataFrame]:
    """The landscape's layers by name, for writing and plotting."""
    return {
        "parcels": landscape.parcels,
        "water": landscape.water,
        "roads": landscape.roads,
        "buildings": landscape.buildings,
    }


def read_landscape(folder: Path, epsg: int) -> Landscape:
    """Read a landscape written as ``folder/{layer}.parquet`` (see ``landscape_frames``)."""
    layers = ("parcels", "water", "roads", "buildings")
    return Landscape(epsg, *(gpd.read_parquet(folder / f"{name}.parquet") for name in layers))
