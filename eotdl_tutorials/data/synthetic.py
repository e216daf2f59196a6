"""A small synthetic chip store in the exact store format, for tests and benchmarks.

It is not the sample world: it skips rendering, matching and tiling and draws chips directly.
Each chip has a dominant land-cover class with patches of other classes, per-class spectra and
backscatter from the facts tables (``eotdl_tutorials.facts.spectra``, the world's own), within-class texture, per-chip
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
from eotdl_tutorials.facts.classes import CLASSES, SCENE_CLASSES, scene_label
from eotdl_tutorials.facts.sensors import HR_BANDS as HR_BAND_TABLE
from eotdl_tutorials.facts.sensors import S1_ENL, S1_POLARIZATIONS
from eotdl_tutorials.facts.sensors import S2_BANDS as S2_BAND_TABLE
from eotdl_tutorials.facts.spectra import BACKSCATTER_DB, SPECTRA

S2_BANDS = tuple(band.common_name for band in S2_BAND_TABLE)
HR_BANDS = tuple(band.common_name for band in HR_BAND_TABLE)
S1_BANDS = tuple(S1_POLARIZATIONS)

#: The spectrum and backscatter (facts tables) of classes 0..5 (crops at mid-season).
_CLASS_SPECTRA = ("water", "forest", "green crop", "grassland", "built-up", "bare soil")
_CLASS_BACKSCATTER = ("water", "forest", "crop mid", "grassland", "built-up", "bare soil")
_CLASS_WEIGHTS = np.array([0.12, 0.2, 0.22, 0.2, 0.11, 0.15])
_VEGETATION = (1, 2, 3)


def _backscatter_db() -> np.ndarray:
    """sigma0 (dB) of classes 0..5, VV and VH (a crop halfway between bare and peak)."""
    table = dict(BACKSCATTER_DB)
    table["crop mid"] = tuple(
        (a + b) / 2 for a, b in zip(table["crop bare"], table["crop peak"], strict=True)
    )
    return np.array([table[name] for name in _CLASS_BACKSCATTER])


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
    table = np.stack([SPECTRA[name] for name in _CLASS_SPECTRA]).astype(np.float32)
    spectra = np.repeat(table[None], n, axis=0)
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
    asphalt = SPECTRA["asphalt"].astype(np.float32)
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
    db = np.moveaxis(_backscatter_db()[maps.astype(np.int64)], -1, 1)
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
    full = np.zeros((count, len(CLASSES)), dtype=np.int64)
    full[:, :6] = counts
    index["label"] = [scene_label(c) for c in full]
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
            "classes": list(SCENE_CLASSES),
            "pixel_classes": list(CLASSES),
            "source": {"generator": "eotdl_tutorials.data.synthetic", "seed": seed},
        },
    )
    return root
