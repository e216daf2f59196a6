"""A small synthetic chip store in the exact store format, for tests and benchmarks.

It is not the sample world: it skips rendering, matching and tiling and draws chips directly.
Each chip has a dominant land-cover class with patches of other classes, per-class spectra from
the course's sensor facts (USGS/ECOSTRESS-like round figures), within-class texture, per-chip
illumination and season, a Gaussian PSF, sensor noise, and gamma speckle (4.4 looks) for SAR.
Classification from these chips is learnable but not trivial.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import torch
from numpy.lib.format import open_memmap
from scipy import ndimage
from shapely.geometry import box
from torch.nn import functional as F

from eotdl_tutorials.data.store import STORE_FORMAT, STORE_FORMAT_VERSION
from eotdl_tutorials.files import atomic_path, write_json
from eotdl_tutorials.world import CLASSES
from eotdl_tutorials.world.sensors import HR_BANDS as HR_BAND_TABLE
from eotdl_tutorials.world.sensors import S1_ENL, S1_POLARIZATIONS
from eotdl_tutorials.world.sensors import S2_BANDS as S2_BAND_TABLE

S2_BANDS = tuple(band.common_name for band in S2_BAND_TABLE)
HR_BANDS = tuple(band.common_name for band in HR_BAND_TABLE)
S1_BANDS = tuple(S1_POLARIZATIONS)

#: Surface reflectance of classes 0..5 in B02..B12 without B09 (sensor facts table).
_REFLECTANCE_B02_B12 = np.array(
    [
        [0.05, 0.04, 0.03, 0.02, 0.015, 0.012, 0.01, 0.008, 0.005, 0.003],
        [0.03, 0.06, 0.03, 0.09, 0.25, 0.32, 0.35, 0.36, 0.17, 0.08],
        [0.04, 0.08, 0.05, 0.12, 0.30, 0.38, 0.42, 0.43, 0.22, 0.12],
        [0.05, 0.08, 0.07, 0.12, 0.22, 0.27, 0.30, 0.31, 0.25, 0.15],
        [0.10, 0.11, 0.12, 0.13, 0.14, 0.15, 0.16, 0.16, 0.20, 0.18],
        [0.10, 0.13, 0.17, 0.20, 0.22, 0.24, 0.25, 0.26, 0.33, 0.28],
    ]
)
#: Asphalt, mixed into built-up chips at pixel scale (streets between roofs).
_ASPHALT_B02_B12 = np.array([0.07, 0.08, 0.09, 0.10, 0.10, 0.11, 0.11, 0.11, 0.13, 0.12])
#: Typical sigma0 (dB) of classes 0..5 in VV and VH (sensor facts).
_SIGMA0_DB = np.array(
    [[-22.5, -27.5], [-7.5, -13.0], [-10.5, -16.5], [-12.0, -19.0], [0.0, -10.0], [-12.5, -20.0]]
)
_CLASS_WEIGHTS = np.array([0.12, 0.2, 0.22, 0.2, 0.11, 0.15])
_VEGETATION = (1, 2, 3)


def _s2_spectra(table: np.ndarray) -> np.ndarray:
    """Add coastal (about blue) and nir09 (about B8A) to a B02..B12 table -> the 12 S2 bands."""
    coastal = table[..., :1] * 0.95
    nir09 = table[..., 7:8] * 0.9
    return np.concatenate([coastal, table[..., :8], nir09, table[..., 8:]], axis=-1)


def _smooth_fields(rng: np.random.Generator, n: int, size: int, cells: int) -> np.ndarray:
    """n smooth random fields of ``size`` x ``size`` px with about ``cells`` features per side."""
    coarse = torch.from_numpy(rng.standard_normal((n, 1, cells + 1, cells + 1), np.float32))
    fine = F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=True)
    return fine[:, 0].numpy()


def _label_maps(rng: np.random.Generator, dominant: np.ndarray, size: int) -> np.ndarray:
    """Class maps: the dominant class with 0-2 patches of other classes covering up to 45 %."""
    n = dominant.size
    maps = np.repeat(dominant[:, None, None], size, 1).repeat(size, 2).astype(np.uint8)
    for _ in range(2):
        other = (dominant + rng.integers(1, 6, n)) % 6
        cover = rng.uniform(0.0, 0.45, n) * (rng.random(n) < 0.7)
        field = _smooth_fields(rng, n, size, 3)
        ranked = np.sort(field.reshape(n, -1), axis=1)
        position = np.round((1 - cover) * (ranked.shape[1] - 1)).astype(np.int64)
        threshold = ranked[np.arange(n), position]
        patch = field > threshold[:, None, None]
        maps = np.where(patch, other[:, None, None].astype(np.uint8), maps)
    return maps


def _s2_chips(rng: np.random.Generator, maps: np.ndarray) -> np.ndarray:
    """Reflectance (N, 12, H, W) of the class maps, with season, light, texture, PSF and noise."""
    n, size = maps.shape[0], maps.shape[1]
    spectra = np.repeat(_s2_spectra(_REFLECTANCE_B02_B12).astype(np.float32)[None], n, axis=0)
    season = rng.uniform(0.65, 1.1, n)
    red_edge_up = slice(5, 10)
    for code in _VEGETATION:
        spectra[:, code, red_edge_up] *= season[:, None]
    sowing = rng.random(n) < 0.3
    spectra[sowing, 2] = 0.5 * spectra[sowing, 2] + 0.5 * spectra[sowing, 5]
    image = np.zeros((n, 12, size, size), np.float32)
    for code in range(6):
        image += (maps == code)[:, None] * spectra[:, code, :, None, None]
    streets = (_smooth_fields(rng, n, size, size // 3) > 0.6)[:, None] & (maps[:, None] == 4)
    asphalt = _s2_spectra(_ASPHALT_B02_B12).astype(np.float32)
    image = np.where(streets, asphalt[None, :, None, None], image)
    texture = 1 + 0.08 * _smooth_fields(rng, n, size, max(2, size // 6))[:, None]
    light = rng.uniform(0.85, 1.15, (n, 1, 1, 1)).astype(np.float32)
    haze = np.zeros((n, 12, 1, 1), np.float32)
    haze[:, :3, 0, 0] = rng.uniform(0.0, 0.02, (n, 1))
    image = image * texture * light + haze
    image = ndimage.gaussian_filter(image, sigma=(0, 0, 0.5, 0.5))
    return image + 0.004 * rng.standard_normal(image.shape, np.float32)


def _s1_chips(rng: np.random.Generator, maps: np.ndarray) -> np.ndarray:
    """sigma0 in dB (N, 2, H, W): class backscatter, moisture shift and 4.4-look speckle."""
    n = maps.shape[0]
    db = np.moveaxis(_SIGMA0_DB[maps.astype(np.int64)], -1, 1)
    db += rng.normal(0, 1.0, (n, 1, 1, 1))
    speckle = rng.gamma(S1_ENL, 1 / S1_ENL, db.shape)
    return 10 * np.log10(10 ** (db / 10) * speckle)


def _write_array(path: Path, values: np.ndarray, dtype: str) -> None:
    with atomic_path(path) as tmp:
        out = open_memmap(tmp, mode="w+", dtype=dtype, shape=values.shape)
        out[:] = values
        out.flush()
        del out


def _split(chip_id: str) -> str:
    bucket = int(hashlib.sha1(chip_id.encode()).hexdigest()[:8], 16) % 100
    return "train" if bucket < 70 else "val" if bucket < 85 else "test"


def write_synthetic_store(
    root: str | os.PathLike[str],
    count: int = 600,
    seed: int = 0,
    s2_size: int = 32,
    hr_size: int = 64,
    sensors: tuple[str, ...] = ("hr", "s2", "s1"),
) -> Path:
    """Write a synthetic chip store of ``count`` footprints to ``root`` and return its path.

    Footprints are ``s2_size`` x 10 m; "hr" covers the same footprint with ``hr_size`` px.
    """
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    root = Path(root)
    rng = np.random.default_rng(seed)
    dominant = rng.choice(6, size=count, p=_CLASS_WEIGHTS / _CLASS_WEIGHTS.sum())
    maps = _label_maps(rng, dominant, s2_size)
    footprint_m = s2_size * 10.0
    meta_sensors: dict[str, dict] = {}
    if "s2" in sensors:
        dn = np.clip(np.round((_s2_chips(rng, maps) + 0.1) * 1e4), 1, 65535)
        _write_array(root / "s2.npy", dn, "uint16")
        meta_sensors["s2"] = {
            "bands": list(S2_BANDS),
            "dtype": "uint16",
            "shape": [12, s2_size, s2_size],
            "gsd": 10.0,
            "scale": 1e-4,
            "offset": -0.1,
            "nodata": 0,
            "units": "reflectance",
        }
    if "hr" in sensors:
        zoom = hr_size / s2_size
        hr_maps = ndimage.zoom(maps, (1, zoom, zoom), order=0)
        s2 = _s2_chips(rng, hr_maps)
        hr = s2[:, [3, 2, 1, 7]]
        _write_array(root / "hr.npy", np.clip(np.round(hr * 1e4), 1, 65535), "uint16")
        meta_sensors["hr"] = {
            "bands": list(HR_BANDS),
            "dtype": "uint16",
            "shape": [4, hr_size, hr_size],
            "gsd": footprint_m / hr_size,
            "scale": 1e-4,
            "offset": 0.0,
            "nodata": 0,
            "units": "reflectance",
        }
    if "s1" in sensors:
        _write_array(root / "s1.npy", _s1_chips(rng, maps), "float32")
        meta_sensors["s1"] = {
            "bands": list(S1_BANDS),
            "dtype": "float32",
            "shape": [2, s2_size, s2_size],
            "gsd": 10.0,
            "scale": 1.0,
            "offset": 0.0,
            "nodata": None,
            "units": "sigma0_db",
        }
    ids = [f"synthetic-{seed}-{i:06d}" for i in range(count)]
    side = footprint_m / 111_000
    cols = int(np.ceil(np.sqrt(count)))
    geometry = [
        box(
            5.5 + (i % cols) * side,
            45 + (i // cols) * side,
            5.5 + (i % cols + 1) * side,
            45 + (i // cols + 1) * side,
        )
        for i in range(count)
    ]
    dates = pd.Timestamp("2022-07-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 180, count), "D")
    counts = np.stack([(maps == c).sum(axis=(1, 2)) for c in range(6)], axis=1)
    index = pd.DataFrame({"id": ids, "datetime": dates, "zone": "31N", "region": "synthetic"})
    for sensor in meta_sensors:
        index[f"{sensor}_item"] = [f"{sensor}-item-{i}" for i in range(count)]
        index[f"{sensor}_datetime"] = dates
    index["label"] = counts.argmax(axis=1)
    for code, name in enumerate(CLASSES):
        index[f"presence_{name}"] = counts[:, code] > 0 if code < 6 else False
    index["split"] = [_split(chip_id) for chip_id in ids]
    with atomic_path(root / "index.parquet") as tmp:
        gpd.GeoDataFrame(index, geometry=geometry, crs="EPSG:4326").to_parquet(tmp)
    write_json(
        root / "meta.json",
        {
            "format": STORE_FORMAT,
            "format_version": STORE_FORMAT_VERSION,
            "count": count,
            "sensors": meta_sensors,
            "classes": list(CLASSES),
            "source": {"generator": "eotdl_tutorials.data.synthetic", "seed": seed},
        },
    )
    return root
