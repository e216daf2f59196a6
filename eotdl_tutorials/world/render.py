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

import numpy as np
from rasterio.features import rasterize
from rasterio.transform import Affine
from scipy.ndimage import gaussian_filter

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
    crop_greenness,
    deciduous_leaf,
    grass_greenness,
)
from eotdl_tutorials.world.landscape import CROPS, Landscape, _seed, _threshold
from eotdl_tutorials.world.noise import grid_noise
from eotdl_tutorials.world.spec import (
    BARE_SOIL,
    BUILDING,
    BUILT_UP,
    CROPLAND,
    FOREST,
    GRASSLAND,
    ROAD,
    WATER,
    TileGrid,
)

#: Sentinel-2 MSI point spread function: Gaussian sigma in metres (MTF about 0.25 at Nyquist).
S2_PSF_SIGMA_M = 5.0
S2_NOISE = 0.002


@dataclass
class Surface:
    """Reflectance (12 S2 bands, float32) and classes of one grid, plus what radar needs."""

    reflectance: np.ndarray
    classes: np.ndarray
    greenness: np.ndarray
    moisture: np.ndarray


def _parcel_state(landscape: Landscape, day: date, semiarid: bool) -> tuple[np.ndarray, ...]:
    """Per parcel: 12-band reflectance on ``day``, greenness and soil moisture."""
    parcels = landscape.parcels
    doy = day.timetuple().tm_yday
    klass = parcels["klass"].to_numpy()
    spectra = np.zeros((len(parcels) + 1, len(S2_BANDS)), dtype=np.float32)
    greenness = np.zeros(len(parcels) + 1, dtype=np.float32)
    moisture = np.zeros(len(parcels) + 1, dtype=np.float32)
    grass_g = grass_greenness(doy, semiarid)
    leaf = deciduous_leaf(doy)
    soil, green, dry = SPECTRA["bare soil"], SPECTRA["green crop"], SPECTRA["dry vegetation"]
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
        wet_soil = soil * (1 - 0.3 * wet)
        if code == WATER:
            s, g = SPECTRA["water"], 0.0
        elif code == FOREST:
            s = SPECTRA["forest"].copy()
            if decid:
                s[4:10] = s[4:10] * leaf  # red-edge and NIR drop in winter
            g = leaf if decid else 1.0
        elif code == CROPLAND:
            g, senescing = crop_greenness(doy, *CROPS[crop])
            s = (1 - g) * (dry if senescing else wet_soil) + g * green
        elif code == GRASSLAND:
            g = grass_g
            s = (1 - g) * dry + g * SPECTRA["grassland"]
        elif code == BUILT_UP:
            s, g = SPECTRA["built-up"], 0.2
        else:
            s, g = wet_soil, 0.0
        spectra[i] = s * bright
        greenness[i], moisture[i] = g, wet
    return spectra, greenness, moisture


def _burn(shapes: list, grid: TileGrid, dtype: str = "int32") -> np.ndarray:
    """Rasterize ``(geometry, value)`` pairs onto ``grid`` (later shapes win); 0 elsewhere."""
    out = np.zeros((grid.height, grid.width), dtype=dtype)
    if shapes:
        rasterize(shapes, out=out, transform=Affine(*grid.transform))
    return out


def render_surface(
    landscape: Landscape, grid: TileGrid, day: date, seed: int, semiarid: bool, detail: bool
) -> Surface:
    """Surface reflectance and classes of ``landscape`` on ``grid`` on ``day``.

    ``detail`` adds metre-scale texture (rows, canopy, roofs) that only a 1 m sensor resolves.
    """
    local = landscape.clip(grid.bounds)
    spectra, greenness, moisture = _parcel_state(local, day, semiarid)
    ids = range(1, len(local.parcels) + 1)
    parcel = _burn(list(zip(local.parcels.geometry, ids, strict=True)), grid)
    klass = np.concatenate([[BARE_SOIL], local.parcels["klass"].to_numpy()]).astype(np.uint8)
    classes = klass[parcel]
    refl = np.moveaxis(spectra[parcel], -1, 0)
    green = greenness[parcel]
    wet = moisture[parcel]

    xs, ys = grid.xs(), grid.ys()
    garden = grid_noise(xs, ys, 35.0, seed + 1, octaves=2)
    built = classes == BUILT_UP
    mix = np.clip((garden - 0.35) * 1.2, 0, 0.6)[built]
    refl[:, built] = refl[:, built] * (1 - mix) + SPECTRA["grassland"][:, None] * mix

    roofs = local.buildings["roof"].to_numpy()
    overlays = [(g, 1) for g in local.water.geometry]
    overlays += [(g, 2) for g in local.road_polygons]
    overlays += [
        (g, 3 if r == "tiles" else 4) for g, r in zip(local.buildings.geometry, roofs, strict=True)
    ]
    over = _burn(overlays, grid, "uint8")
    for code, klass_code, spectrum in (
        (1, WATER, SPECTRA["water"]),
        (2, ROAD, SPECTRA["asphalt"]),
        (3, BUILDING, SPECTRA["red tiles"]),
        (4, BUILDING, SPECTRA["built-up"] * 1.15),
    ):
        hit = over == code
        refl[:, hit] = spectrum[:, None]
        classes[hit] = klass_code
        green[hit] = 0.0

    texture = 1 + 0.16 * (grid_noise(xs, ys, 80.0, seed + 2, octaves=3) - 0.5)
    if detail:
        texture *= 1 + 0.12 * (grid_noise(xs, ys, 4.0, seed + 3, octaves=2) - 0.5)
    texture = np.where(classes == WATER, 1 + (texture - 1) * 0.3, texture)
    refl *= texture[None].astype(np.float32)
    return Surface(refl.astype(np.float32), classes, green.astype(np.float32), wet)


def render_hr_tile(
    landscape: Landscape, grid: TileGrid, day: date, seed: int, semiarid: bool
) -> tuple[np.ndarray, np.ndarray]:
    """A Satellogic-like tile: uint16 DN = reflectance x 1e4 of R, G, B, NIR) and classes."""
    surface = render_surface(landscape, grid, day, seed, semiarid, detail=True)
    rng = np.random.default_rng(_seed(seed, "hr", grid.x0, grid.y0, day.isoformat()))
    refl = surface.reflectance[HR_FROM_S2]
    refl = refl + rng.normal(0, 0.003, refl.shape).astype(np.float32)
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
    toa = surface.reflectance * (1 - 0.7 * shadow)[None]
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
    scl[classes == WATER] = 6
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
        out[classes == WATER] = table["water"]
        out[classes == FOREST] = table["forest"]
        crop = classes == CROPLAND
        out[crop] = table["crop bare"] + green[crop] * (table["crop peak"] - table["crop bare"])
        out[classes == GRASSLAND] = table["grassland"]
        town = (classes == BUILT_UP) | (classes == BUILDING)
        out[town] = table["built-up"] + (1.5 if ascending else 0.0)
        out[classes == ROAD] = table["road"]
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
