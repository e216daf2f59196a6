"""Renderers: the same vector ground seen by each sensor on a given day.

- ``render_surface``: surface reflectance (12 Sentinel-2 bands) and land-cover classes on any grid.
- ``render_hr_tile``: a Satellogic-like 1 m tile (red, green, blue, nir) and its class mask.
- ``render_s2_scene``: Sentinel-2 L2A bands at 10/20/60 m seen through the MSI point spread function
  (a Gaussian of sigma 5 m), with clouds and cloud shadows, and the SCL band.
- ``render_s1_scene``: Sentinel-1 VV/VH sigma0 with gamma-distributed speckle (ENL 4.4).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import lru_cache

import numpy as np
import shapely
import shapely.affinity
from pyproj import Transformer
from rasterio.features import rasterize
from rasterio.transform import Affine
from scipy.ndimage import gaussian_filter

from eotdl_tutorials.facts.classes import (
    BARE_SOIL,
    BUILDING,
    BUILT_UP,
    CROPLAND,
    FOREST,
    GRASSLAND,
    HERBACEOUS,
    HIGHWAY,
    INDUSTRIAL,
    PERMANENT_CROP,
    RIVER,
    ROAD,
    WATER,
)
from eotdl_tutorials.facts.sensors import (
    S1_ENL,
    S2_BANDS,
    S2_L2A_DN_OFFSET,
    scl_cloud_percent,
)
from eotdl_tutorials.facts.spectra import (
    BACKSCATTER_DB,
    HR_FROM_S2,
    SPECTRA,
    VARIABILITY,
    acquisition_atmosphere,
    crop_greenness,
    deciduous_leaf,
    grass_greenness,
)
from eotdl_tutorials.world.landscape import CROPS, HIGHWAY_VERGE, Landscape, _seed, _threshold
from eotdl_tutorials.world.noise import _hash01, grid_noise
from eotdl_tutorials.world.spec import TileGrid
from eotdl_tutorials.world.texture import (
    TRACK_GAUGE,
    TRACK_WIDTH,
    TRAMLINE_PERIOD,
    across,
    building_heights,
    crown_field,
    shadow_offset,
    stripe_cover,
    sun_position,
)

#: Sentinel-2 MSI point spread function: Gaussian sigma in metres (MTF about 0.25 at Nyquist).
S2_PSF_SIGMA_M = 5.0
S2_NOISE = VARIABILITY["s2 noise"][0]


@dataclass
class Surface:
    """Reflectance (12 S2 bands, float32) and classes of one grid, plus what radar needs."""

    reflectance: np.ndarray
    classes: np.ndarray
    greenness: np.ndarray
    moisture: np.ndarray


@dataclass
class _ParcelState:
    """Per parcel (row 0: outside every parcel) on one day: mean spectrum, greenness, moisture,
    and for permanent crops the canopy and inter-row spectra that the rows alternate."""

    spectra: np.ndarray
    greenness: np.ndarray
    moisture: np.ndarray
    canopy: np.ndarray
    ground: np.ndarray
    canopy_cover: np.ndarray


def _parcel_state(landscape: Landscape, day: date, semiarid: bool) -> _ParcelState:
    """Per parcel: 12-band reflectance on ``day``, greenness and soil moisture."""
    parcels = landscape.parcels
    doy = day.timetuple().tm_yday
    klass = parcels["klass"].to_numpy()
    n, bands = len(parcels) + 1, len(S2_BANDS)
    spectra = np.zeros((n, bands), dtype=np.float32)
    canopy = np.zeros((n, bands), dtype=np.float32)
    ground = np.zeros((n, bands), dtype=np.float32)
    cover = np.zeros(n, dtype=np.float32)
    greenness = np.zeros(n, dtype=np.float32)
    moisture = np.zeros(n, dtype=np.float32)
    grass_g = grass_greenness(doy, semiarid)
    leaf = deciduous_leaf(doy)
    soil, green, dry = SPECTRA["bare soil"], SPECTRA["green crop"], SPECTRA["dry vegetation"]
    grass = (1 - grass_g) * dry + grass_g * SPECTRA["grassland"]
    low, high, _ = VARIABILITY["soil moisture darkening"]
    c_low, c_high, _ = VARIABILITY["permanent crop canopy"]
    for i, (code, crop, bright, decid, wet) in enumerate(
        zip(
            klass,
            parcels["crop"],
            parcels["brightness"],
            parcels["deciduous"],
            parcels["moisture"],
            strict=True,
        ),
        start=1,
    ):
        wet_soil = soil * (1 - low - (high - low) * wet)
        if code == WATER:
            s, g = SPECTRA["water"], 0.0
        elif code == FOREST:
            s = (SPECTRA["forest"] if decid else SPECTRA["conifer forest"]).copy()
            if decid:
                s[4:10] = s[4:10] * leaf  # red-edge and NIR drop in winter
            g = leaf if decid else 1.0
        elif code == CROPLAND:
            g, senescing = crop_greenness(doy, *CROPS[crop])
            s = (1 - g) * (dry if senescing else wet_soil) + g * green
        elif code == GRASSLAND:
            s, g = grass, grass_g
        elif code == HERBACEOUS:  # patches of shrubs and dry grass are drawn in render_surface
            s, g = 0.85 * grass + 0.15 * dry, grass_g * 0.85
        elif code == PERMANENT_CROP:
            crown = SPECTRA["forest"].copy()
            crown[4:10] = crown[4:10] * leaf
            inter_row = grass if not semiarid else 0.5 * grass + 0.5 * wet_soil
            c = c_low + (c_high - c_low) * float(wet)  # a parcel's own cover (any fixed hash)
            canopy[i], ground[i], cover[i] = crown * bright, inter_row * bright, c
            s, g = c * crown + (1 - c) * inter_row, c * leaf + (1 - c) * grass_g
        elif code == BUILT_UP:
            s, g = SPECTRA["built-up"], 0.2
        elif code == INDUSTRIAL:
            s, g = 0.5 * SPECTRA["concrete"] + 0.5 * SPECTRA["asphalt"], 0.05
        else:
            s, g = wet_soil, 0.0
        spectra[i] = s * bright
        greenness[i], moisture[i] = g, wet
    return _ParcelState(spectra, greenness, moisture, canopy, ground, cover)


def _burn(shapes: list, grid: TileGrid, dtype: str = "int32") -> np.ndarray:
    """Rasterize ``(geometry, value)`` pairs onto ``grid`` (later shapes win); 0 elsewhere."""
    out = np.zeros((grid.height, grid.width), dtype=dtype)
    if shapes:
        rasterize(shapes, out=out, transform=Affine(*grid.transform))
    return out


@lru_cache(maxsize=8)
def _to_wgs84(epsg: int) -> Transformer:
    return Transformer.from_crs(epsg, 4326, always_xy=True)


def _latitude(grid: TileGrid) -> float:
    """Latitude of the grid's centre."""
    x0, y0, x1, y1 = grid.bounds
    return float(_to_wgs84(grid.epsg).transform((x0 + x1) / 2, (y0 + y1) / 2)[1])


def _atmosphere(seed: int, *key: str | int | float) -> tuple[float, np.ndarray]:
    """Gain and per-band haze of one acquisition (``VARIABILITY``), fixed by ``key``."""
    rng = np.random.default_rng(_seed(seed, "atmosphere", *key))
    u_gain, u_haze = rng.random(2)
    return acquisition_atmosphere(u_gain, u_haze, np.array([b.center_nm for b in S2_BANDS]))


def _rows(
    parcel: np.ndarray, state: _ParcelState, local: Landscape, grid: TileGrid
) -> tuple[np.ndarray, np.ndarray]:
    """Pixels of permanent crops and their canopy cover: rows integrated over each pixel."""
    spacing = np.concatenate([[0.0], local.parcels["row_spacing"].to_numpy()])[parcel]
    rows = spacing > 0
    if not rows.any():
        return rows, np.zeros(0, dtype=np.float32)
    azimuth = np.concatenate([[0.0], local.parcels["row_azimuth"].to_numpy()])[parcel][rows]
    yy, xx = np.nonzero(rows)
    u = across(grid.xs()[xx], grid.ys()[yy], azimuth)
    width = spacing[rows] * state.canopy_cover[parcel][rows]
    return rows, stripe_cover(u, spacing[rows], width, grid.gsd).astype(np.float32)


def _tramlines(
    classes: np.ndarray, parcel: np.ndarray, local: Landscape, grid: TileGrid, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Pixels of annual crops and the share of each covered by wheel tracks (bare soil)."""
    crop = classes == CROPLAND
    if not crop.any():
        return crop, np.zeros(0, dtype=np.float32)
    ids = np.concatenate([[0], np.arange(1, len(local.parcels) + 1)])[parcel][crop]
    centre = local.parcels.geometry.centroid
    cx = np.concatenate([[0], np.round(centre.x.to_numpy()).astype(np.int64)])[ids]
    cy = np.concatenate([[0], np.round(centre.y.to_numpy()).astype(np.int64)])[ids]
    low, high = TRAMLINE_PERIOD
    period = low + (high - low) * _hash01(cx, cy, seed + 71)
    azimuth = np.pi * _hash01(cx, cy, seed + 72)
    yy, xx = np.nonzero(crop)
    u = across(grid.xs()[xx], grid.ys()[yy], azimuth)
    track = stripe_cover(u, period, np.full_like(period, TRACK_WIDTH), grid.gsd)
    track += stripe_cover(u - TRACK_GAUGE, period, np.full_like(period, TRACK_WIDTH), grid.gsd)
    return crop, track.astype(np.float32)


def render_surface(
    landscape: Landscape, grid: TileGrid, day: date, seed: int, semiarid: bool, detail: bool
) -> Surface:
    """Surface reflectance and classes of ``landscape`` on ``grid`` on ``day``.

    Rows of orchards and vineyards, tramlines and the shadows of buildings are drawn on every
    grid (integrated over its pixels); ``detail`` adds what only a metre-scale sensor resolves
    and averages out at 5 m: tree crowns with their shadows and fine noise.
    """
    local = landscape.clip(grid.bounds)
    state = _parcel_state(local, day, semiarid)
    ids = range(1, len(local.parcels) + 1)
    parcel = _burn(list(zip(local.parcels.geometry, ids, strict=True)), grid)
    klass = np.concatenate([[BARE_SOIL], local.parcels["klass"].to_numpy()]).astype(np.uint8)
    classes = klass[parcel]
    refl = np.moveaxis(state.spectra[parcel], -1, 0)
    green = state.greenness[parcel]
    wet = state.moisture[parcel]
    xs, ys = grid.xs(), grid.ys()

    rows, cover = _rows(parcel, state, local, grid)
    if rows.any():
        crown, inter = state.canopy[parcel][rows].T, state.ground[parcel][rows].T
        refl[:, rows] = inter + (crown - inter) * cover[None]
    crop, track = _tramlines(classes, parcel, local, grid, seed)
    if crop.any():
        soil = SPECTRA["bare soil"][:, None]
        refl[:, crop] = refl[:, crop] * (1 - track)[None] + soil * track[None]

    garden = grid_noise(xs, ys, 35.0, seed + 1, octaves=2)
    built = classes == BUILT_UP
    mix = np.clip((garden - 0.35) * 1.2, 0, 0.6)[built]
    refl[:, built] = refl[:, built] * (1 - mix) + SPECTRA["grassland"][:, None] * mix
    wild = classes == HERBACEOUS
    if wild.any():  # shrubs on about a fifth, dry grass on about a quarter, in 10-40 m patches
        patches = grid_noise(xs, ys, 40.0, seed + 6, octaves=3)[wild]
        shrub = np.clip((patches - 0.58) / 0.06, 0, 1)
        bare = np.clip((0.42 - patches) / 0.06, 0, 1)
        dry = SPECTRA["dry vegetation"][:, None]
        refl[:, wild] = (
            refl[:, wild] * (1 - shrub - bare)
            + 0.8 * SPECTRA["forest"][:, None] * (shrub)
            + dry * bare
        )

    elevation, azimuth = sun_position(day, _latitude(grid))
    buildings = local.buildings
    roofs = buildings["roof"].to_numpy()
    use = (
        buildings["use"].to_numpy()
        if "use" in buildings
        else np.full(len(buildings), "residential", dtype=object)
    )
    centre = buildings.geometry.centroid
    heights = building_heights(
        use,
        np.round(centre.x.to_numpy()).astype(np.int64),
        np.round(centre.y.to_numpy()).astype(np.int64),
        seed + 7,
    )
    offsets = shadow_offset(heights, elevation, azimuth)
    shadows = [
        (shapely.affinity.translate(g, *off), 1)
        for g, off in zip(buildings.geometry, offsets, strict=True)
    ]
    corridors = local.roads["kind"].to_numpy() == "primary"
    overlays = [(g, 1) for g in local.water.geometry]
    overlays += [
        (g.buffer(HIGHWAY_VERGE), 2)
        for g, c in zip(local.road_polygons, corridors, strict=True)
        if c
    ]
    overlays += [(g, 3) for g, c in zip(local.road_polygons, corridors, strict=True) if not c]
    overlays += [(g, 4) for g, c in zip(local.road_polygons, corridors, strict=True) if c]
    roof_codes = {"tiles": 5, "concrete": 6, "metal": 7}
    overlays += [(g, roof_codes[r]) for g, r in zip(buildings.geometry, roofs, strict=True)]
    over = _burn(overlays, grid, "uint8")
    shade = _burn(shadows, grid, "uint8").astype(bool) & (over < 5)
    for code, klass_code, spectrum in (
        (1, RIVER, SPECTRA["water"]),
        (2, HIGHWAY, SPECTRA["grassland"]),
        (3, ROAD, SPECTRA["asphalt"]),
        (4, HIGHWAY, SPECTRA["asphalt"]),
        (5, BUILDING, SPECTRA["red tiles"]),
        (6, BUILDING, SPECTRA["built-up"] * 1.15),
        (7, BUILDING, SPECTRA["metal roof"]),
    ):
        hit = over == code
        refl[:, hit] = spectrum[:, None]
        classes[hit] = klass_code
        green[hit] = 0.0 if code != 2 else 0.7
    refl[:, shade] *= 0.35  # diffuse skylight only: about a third of the direct-lit reflectance

    texture = 1 + 0.16 * (grid_noise(xs, ys, 80.0, seed + 2, octaves=3) - 0.5)
    if detail:
        texture *= 1 + 0.12 * (grid_noise(xs, ys, 4.0, seed + 3, octaves=2) - 0.5)
        trees = classes == FOREST
        if trees.any():
            gx, gy = np.meshgrid(xs, ys)
            field = crown_field(gx[trees], gy[trees], seed + 8, elevation, azimuth)
            texture[trees] *= field
    water = (classes == WATER) | (classes == RIVER)
    texture = np.where(water, 1 + (texture - 1) * 0.3, texture)
    refl *= texture[None].astype(np.float32)
    return Surface(refl.astype(np.float32), classes, green.astype(np.float32), wet)


def road_mask(landscape: Landscape, grid: TileGrid) -> np.ndarray:
    """Where ``grid`` sees paved road (streets, roads and motorway carriageways, no verges)."""
    local = landscape.clip(grid.bounds)
    return _burn([(g, 1) for g in local.road_polygons], grid, "uint8").astype(bool)


def render_hr_tile(
    landscape: Landscape, grid: TileGrid, day: date, seed: int, semiarid: bool
) -> tuple[np.ndarray, np.ndarray]:
    """A Satellogic-like tile: uint16 DN = reflectance x 1e4 of R, G, B, NIR) and classes."""
    surface = render_surface(landscape, grid, day, seed, semiarid, detail=True)
    rng = np.random.default_rng(_seed(seed, "hr", grid.x0, grid.y0, day.isoformat()))
    gain, haze = _atmosphere(seed, "hr", grid.x0, grid.y0, day.isoformat())
    refl = surface.reflectance[HR_FROM_S2] * gain + haze[HR_FROM_S2, None, None]
    noise = VARIABILITY["hr noise"][0]
    refl = refl + rng.normal(0, noise, refl.shape).astype(np.float32)
    dn = np.clip(np.round(refl * 10000), 1, 65535).astype(np.uint16)
    return dn, surface.classes


def cloud_fields(grid: TileGrid, cloud_seed: int, coverage: float) -> tuple[np.ndarray, np.ndarray]:
    """Cloud opacity and cloud-shadow strength in [0, 1] on ``grid``.

    Clouds are a fractal field in map coordinates, so overlapping scenes of one date agree;
    shadows are the clouds displaced 350 m to the north-west (sun in the south-east).
    """
    if coverage <= 0:
        zero = np.zeros((grid.height, grid.width), dtype=np.float32)
        return zero, zero
    threshold = _threshold(1 - coverage)
    xs, ys = grid.xs(), grid.ys()

    def opacity(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        field = grid_noise(x, y, 1400.0, cloud_seed, octaves=4)
        return np.clip((field - threshold) / 0.05, 0, 1).astype(np.float32)

    cloud = opacity(xs, ys)
    shadow = opacity(xs + 250, ys - 250)
    return cloud, shadow * (1 - cloud)


def _block_mean(a: np.ndarray, k: int) -> np.ndarray:
    """Mean over non-overlapping ``k`` x ``k`` blocks of the last two axes."""
    *lead, h, w = a.shape
    return a.reshape(*lead, h // k, k, w // k, k).mean(axis=(-3, -1))


@dataclass
class S2Scene:
    """Rendered Sentinel-2 L2A bands (uint16 DN by common name, each at its GSD) and SCL."""

    bands: dict[str, np.ndarray]
    scl: np.ndarray
    cloud_cover: float


def render_s2_scene(
    landscape: Landscape,
    grid: TileGrid,
    day: date,
    seed: int,
    semiarid: bool,
    cloud_seed: int,
    coverage: float,
    fine_gsd: float = 5.0,
) -> S2Scene:
    """Render a Sentinel-2 L2A scene on the 10 m ``grid``.

    The ground is rendered at ``fine_gsd``, clouds and shadows are applied, the result is blurred
    by the MSI PSF and integrated over each band's pixels (10, 20 or 60 m).
    """
    k10 = round(10 / fine_gsd)
    halo = 60  # metres: a multiple of 60 m so every band's pixels stay aligned
    fine = TileGrid(
        grid.epsg,
        grid.x0 - halo,
        grid.y0 + halo,
        fine_gsd,
        (grid.width * 10 + 2 * halo) // round(fine_gsd),
        (grid.height * 10 + 2 * halo) // round(fine_gsd),
    )
    surface = render_surface(landscape, fine, day, seed, semiarid, detail=False)
    cloud, shadow = cloud_fields(fine, cloud_seed, coverage)
    gain, haze = _atmosphere(seed, "s2", landscape.epsg, day.isoformat())  # one pass, one sky
    toa = (surface.reflectance * gain + haze[:, None, None]) * (1 - 0.7 * shadow)[None]
    toa = toa * (1 - cloud)[None] + SPECTRA["cloud"][:, None, None] * cloud[None]
    sigma = S2_PSF_SIGMA_M / fine_gsd
    blurred = np.stack([gaussian_filter(b, sigma, mode="nearest") for b in toa])
    rng = np.random.default_rng(_seed(seed, "s2", grid.x0, grid.y0, day.isoformat()))
    cut = halo // round(fine_gsd)
    bands = {}
    for i, band in enumerate(S2_BANDS):
        k = k10 * band.gsd // 10
        inner = blurred[i, cut:-cut, cut:-cut]
        refl = _block_mean(inner, k)
        refl = refl + rng.normal(0, S2_NOISE, refl.shape)
        bands[band.common_name] = np.clip(
            np.round(refl * 10000 + S2_L2A_DN_OFFSET), 1, 65535
        ).astype(np.uint16)

    k20 = 2 * k10
    classes = surface.classes[cut:-cut, cut:-cut][k20 // 2 :: k20, k20 // 2 :: k20]
    clear = surface.reflectance[:, cut:-cut, cut:-cut]
    red, nir = _block_mean(clear[3], k20), _block_mean(clear[8], k20)
    ndvi = (nir - red) / np.maximum(nir + red, 1e-6)
    cloud20 = _block_mean(cloud[cut:-cut, cut:-cut], k20)
    shadow20 = _block_mean(shadow[cut:-cut, cut:-cut], k20)
    scl = np.where(ndvi > 0.4, 4, 5).astype(np.uint8)
    scl[(classes == WATER) | (classes == RIVER)] = 6
    scl[shadow20 > 0.4] = 3
    scl[(cloud20 > 0.05) & (cloud20 <= 0.3)] = 10
    scl[(cloud20 > 0.3) & (cloud20 <= 0.6)] = 8
    scl[cloud20 > 0.6] = 9
    cloud_cover = scl_cloud_percent(scl, empty=0.0)
    return S2Scene(bands, scl, round(cloud_cover, 4))


def render_s1_scene(
    landscape: Landscape,
    grid: TileGrid,
    day: date,
    seed: int,
    semiarid: bool,
    ascending: bool,
    fine_gsd: float = 5.0,
) -> dict[str, np.ndarray]:
    """Sentinel-1 IW sigma0 (linear power, float32) of VV and VH on the 10 m ``grid``."""
    k = round(10 / fine_gsd)
    fine = grid.with_gsd(fine_gsd)
    surface = render_surface(landscape, fine, day, seed, semiarid, detail=False)
    classes, green, wet = surface.classes, surface.greenness, surface.moisture
    db = {}
    for p, pol in enumerate(("vv", "vh")):
        table = {name: values[p] for name, values in BACKSCATTER_DB.items()}
        out = np.full(classes.shape, table["bare soil"], dtype=np.float32)
        out[(classes == WATER) | (classes == RIVER)] = table["water"]
        out[classes == FOREST] = table["forest"]
        out[classes == PERMANENT_CROP] = table["permanent crop"]
        out[classes == HERBACEOUS] = table["herbaceous"]
        crop = classes == CROPLAND
        out[crop] = table["crop bare"] + green[crop] * (table["crop peak"] - table["crop bare"])
        out[classes == GRASSLAND] = table["grassland"]
        town = np.isin(classes, (BUILT_UP, BUILDING, INDUSTRIAL))
        out[town] = table["built-up"] + (1.5 if ascending else 0.0)
        out[(classes == ROAD) | (classes == HIGHWAY)] = table["road"]
        soil = (classes == BARE_SOIL) | crop
        out[soil] += 3.0 * wet[soil] * (1 - green[soil])
        db[pol] = out
    texture = 1.5 * (grid_noise(fine.xs(), fine.ys(), 60.0, seed + 5, octaves=3) - 0.5)
    rng = np.random.default_rng(_seed(seed, "s1", grid.x0, grid.y0, day.isoformat(), ascending))
    result = {}
    for pol, values in db.items():
        linear = _block_mean(10 ** ((values + texture) / 10), k)
        speckle = rng.gamma(S1_ENL, 1 / S1_ENL, linear.shape)
        result[pol] = (linear * speckle).astype(np.float32)
    return result
