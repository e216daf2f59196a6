"""``bench superres``: whole-scene tiled super-resolution against the bare model on the same pixels.

The tiled run is everything :func:`~eotdl_tutorials.superres.superres_scene` does (read and map the
bands, overlapping tiles, the model, blending, writing the GeoTIFF); the bare run is the model alone
on the same scene's pixels cut into non-overlapping tiles already in memory (what tiling without
blending would cost, seams included). ``overhead`` = bare throughput / tiled throughput - 1.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import torch
from rasterio.transform import from_origin

from eotdl_tutorials.superres.export import load_superres
from eotdl_tutorials.superres.models import SuperResolver
from eotdl_tutorials.superres.pairs import PAIR_BANDS
from eotdl_tutorials.superres.scene import run_tiles, superres_scene, tile_spans


def write_test_scene(path: Path, size: int, seed: int = 0) -> Path:
    """A ``size`` x ``size`` 12-band Sentinel-2 L2A-like uint16 GeoTIFF (UTM 32N, 10 m)."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0.02, 0.4, (12, size // 16 + 2, size // 16 + 2)).astype(np.float32)
    grown = torch.nn.functional.interpolate(
        torch.from_numpy(coarse)[None], scale_factor=16, mode="bilinear"
    )
    smooth = grown[0, :, :size, :size].numpy()
    dn = np.round((smooth + rng.normal(0, 0.005, smooth.shape)) * 1e4 + 1000).astype(np.uint16)
    profile = {
        "driver": "GTiff", "width": size, "height": size, "count": 12, "dtype": "uint16",
        "crs": "EPSG:32632", "transform": from_origin(500_000, 5_000_000, 10, 10), "nodata": 0,
    }  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(dn)
    return path


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def bench_superres(
    model_dir: str | None = None,
    size: int = 720,
    tile: int = 128,
    overlap: int = 8,
    batch: int = 8,
    device: str = "auto",
    repeats: int = 2,
) -> dict[str, Any]:
    """Time the tiled pipeline and the bare model on one synthetic scene (best of ``repeats``,
    alternating). Returns ``megapixels``, ``tiled_mpx_per_s``, ``bare_mpx_per_s``, ``overhead``,
    ``device`` and the settings."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    torch_device = torch.device(device)
    model = load_superres(model_dir) if model_dir else SuperResolver("esrt", PAIR_BANDS, 2)
    model = model.to(torch_device).eval()
    megapixels = size * size / 1e6
    tiled, bare = [], []
    with tempfile.TemporaryDirectory() as tmp:
        scene = write_test_scene(Path(tmp) / "scene.tif", size)
        with rasterio.open(scene) as src:
            values = src.read([4, 3, 2, 8]).astype(np.float32) * 1e-4 - 0.1
        spans = tile_spans(size, tile, 0)
        tiles = [values[:, r : r + h, c : c + w] for r, h in spans for c, w in spans]
        run_tiles(model, tiles[:1], batch, torch_device)  # warm-up
        for _ in range(repeats):
            start = time.perf_counter()
            superres_scene(scene, model, Path(tmp) / "out.tif", tile=tile, overlap=overlap,
                           batch=batch, device=device, progress=False)  # fmt: skip
            tiled.append(time.perf_counter() - start)
            _sync(torch_device)
            start = time.perf_counter()
            run_tiles(model, tiles, batch, torch_device)
            _sync(torch_device)
            bare.append(time.perf_counter() - start)
    tiled_rate, bare_rate = megapixels / min(tiled), megapixels / min(bare)
    return {
        "megapixels": megapixels,
        "tiled_mpx_per_s": tiled_rate,
        "bare_mpx_per_s": bare_rate,
        "overhead": bare_rate / tiled_rate - 1,
        "device": torch.cuda.get_device_name(torch_device) if device == "cuda" else "cpu",
        "model": model.arch,
        "factor": model.factor,
        "tile": tile,
        "overlap": overlap,
        "repeats": repeats,
    }


def format_report(result: dict[str, Any]) -> str:
    """The benchmark's figures as a few lines of text."""
    return "\n".join(
        [
            f"super-resolution {result['model']} x{result['factor']} on {result['device']}, "
            f"{result['megapixels']:.3f} input megapixels, tile {result['tile']}, overlap "
            f"{result['overlap']}",
            f"tiled (read, tiles, blend, write): {result['tiled_mpx_per_s']:.4f} Mpx/s",
            f"bare model on the same pixels:     {result['bare_mpx_per_s']:.4f} Mpx/s",
            f"tiling overhead: {100 * result['overhead']:.1f} %",
        ]
    )
