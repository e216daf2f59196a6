"""Predict roads over a whole Sentinel-2 GeoTIFF: overlapping tiles, a probability GeoTIFF on the
scene's grid and the road centre lines as GeoJSON (EPSG:4326).

Bands are mapped to the model's as :func:`eotdl_tutorials.models.read_model_input` maps them (band
descriptions, else a known band count such as a 12-band L2A file). The model was trained on 10 m
pixels in a metric (UTM) CRS; a scene in another CRS or at another pixel size is warped to the
UTM zone of its centre at 10 m, predicted there, and the probabilities warped back onto its grid.
No-data pixels stay no-data. Both outputs are written under temporary names and renamed only when
everything succeeded: a failed run leaves nothing behind.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
import shapely
import torch
from rasterio.enums import Resampling
from rasterio.warp import calculate_default_transform, reproject
from tqdm.auto import tqdm

from eotdl_tutorials.files import atomic_path
from eotdl_tutorials.matching.footprints import utm_epsg
from eotdl_tutorials.models.bands import match_bands
from eotdl_tutorials.models.geotiff import read_model_input
from eotdl_tutorials.roads.export import load_road_model
from eotdl_tutorials.roads.metrics import road_graph
from eotdl_tutorials.roads.model import RoadNet

#: Pixel size (m) the road models are trained at, and the tolerance on a scene's pixel size.
MODEL_GSD = 10.0
GSD_TOLERANCE = 0.01
PROBABILITY_NODATA = -1.0


@dataclass(frozen=True)
class ScenePrediction:
    """What :func:`predict_scene` wrote and how."""

    probability: Path
    roads: Path
    road_lines: int
    road_km: float
    warped: bool
    band_mapping: str


def _tile_starts(size: int, tile: int, stride: int) -> list[int]:
    if size <= tile:
        return [0]
    starts = list(range(0, size - tile, stride))
    return [*starts, size - tile]


def _blend_window(tile: int) -> np.ndarray:
    """Tile weights that fall towards the edges, where a U-Net sees less context."""
    ramp = np.minimum(np.arange(tile) + 1, np.arange(tile)[::-1] + 1) / (tile / 2)
    ramp = np.clip(ramp, 0.05, 1.0)
    return np.outer(ramp, ramp).astype(np.float32)


@torch.no_grad()
def predict_tiled(
    model: RoadNet,
    values: np.ndarray,
    tile: int = 128,
    overlap: int = 32,
    batch_size: int = 8,
    device: str = "cpu",
    progress: bool = True,
) -> np.ndarray:
    """Road probabilities (H, W) of a (bands, H, W) reflectance array (NaN = no data), predicted
    in overlapping ``tile`` px tiles blended with edge-down weights; a smaller array is one
    tile."""
    if not 0 <= overlap < tile:
        raise ValueError(f"overlap must be in [0, tile), got overlap={overlap}, tile={tile}")
    height, width = values.shape[-2:]
    size_h, size_w = min(tile, height), min(tile, width)
    stride = tile - overlap
    corners = [
        (r, c)
        for r in _tile_starts(height, tile, stride)
        for c in _tile_starts(width, tile, stride)
    ]
    weights = _blend_window(tile)[:size_h, :size_w]
    total = np.zeros((height, width), np.float32)
    norm = np.zeros((height, width), np.float32)
    model.eval().to(device)
    bar = tqdm(total=len(corners), desc="tiles", unit="tile", disable=not progress)
    for start in range(0, len(corners), batch_size):
        batch = corners[start : start + batch_size]
        chips = np.stack([values[:, r : r + size_h, c : c + size_w] for r, c in batch])
        x = torch.from_numpy(chips).to(device)
        with torch.autocast(device, dtype=torch.bfloat16, enabled=device == "cuda"):
            probs = torch.sigmoid(model(x).float())[:, 0].cpu().numpy()
        for (r, c), p in zip(batch, probs, strict=True):
            total[r : r + size_h, c : c + size_w] += p * weights
            norm[r : r + size_h, c : c + size_w] += weights
        bar.update(len(batch))
    bar.close()
    return total / np.maximum(norm, 1e-6)


def _needs_warp(src: rasterio.DatasetReader) -> bool:
    crs = src.crs
    if not crs.is_projected or crs.linear_units.lower() not in ("metre", "meter", "m"):
        return True
    xres, yres = src.res
    rotated = src.transform.b != 0 or src.transform.d != 0
    off = max(abs(xres - MODEL_GSD), abs(yres - MODEL_GSD)) > GSD_TOLERANCE * MODEL_GSD
    return rotated or off


def _utm_of(src: rasterio.DatasetReader) -> str:
    left, bottom, right, top = rasterio.warp.transform_bounds(src.crs, "EPSG:4326", *src.bounds)
    return (
        f"EPSG:{int(utm_epsg(np.array([(left + right) / 2]), np.array([(bottom + top) / 2]))[0])}"
    )


def road_lines(
    mask: np.ndarray, transform: rasterio.Affine, crs: object, min_length_px: float = 3.0
) -> gpd.GeoDataFrame:
    """Centre lines of a road mask: skeleton branches as lines (map coordinates of ``transform``
    and ``crs``), simplified to one pixel, shorter than ``min_length_px`` dropped; EPSG:4326 with
    ``length_m`` measured in ``crs``."""
    graph = road_graph(mask)
    pixel = math.hypot(transform.a, transform.b)
    lines, lengths = [], []
    for _, _, data in graph.edges(data=True):
        if data["length"] < min_length_px:
            continue
        rows, cols = np.asarray(data["path"], float).T
        xs, ys = transform * (cols + 0.5, rows + 0.5)
        line = shapely.LineString(np.column_stack([xs, ys])).simplify(pixel)
        lines.append(line)
        lengths.append(round(float(line.length), 1))
    frame = gpd.GeoDataFrame({"length_m": lengths}, geometry=lines, crs=crs)
    return frame.to_crs(4326)


def _warp_to_utm(
    values: np.ndarray, src: rasterio.DatasetReader
) -> tuple[np.ndarray, rasterio.Affine, object]:
    """``values`` (NaN = no data) of ``src``'s grid on a 10 m grid in the UTM zone of its centre."""
    crs = _utm_of(src)
    transform, width, height = calculate_default_transform(
        src.crs, crs, src.width, src.height, *src.bounds, resolution=MODEL_GSD
    )
    out = np.full((len(values), height, width), np.nan, np.float32)
    for band, target in zip(values, out, strict=True):
        reproject(
            band, target, src_transform=src.transform, src_crs=src.crs, dst_transform=transform,
            dst_crs=crs, resampling=Resampling.bilinear, src_nodata=np.nan, dst_nodata=np.nan,
        )  # fmt: skip
    return out, transform, rasterio.crs.CRS.from_string(crs)


def predict_scene(
    scene: str | os.PathLike[str],
    model_dir: str | os.PathLike[str],
    out_prefix: str | os.PathLike[str],
    threshold: float = 0.5,
    tile: int = 128,
    overlap: int = 32,
    batch_size: int = 8,
    scale: float | None = None,
    offset: float | None = None,
    device: str | None = None,
    progress: bool = True,
) -> ScenePrediction:
    """Predict ``scene`` with the road model in ``model_dir`` (see the module docstring): writes
    ``{out_prefix}_probability.tif`` and ``{out_prefix}_roads.geojson``. ``scale``/``offset``:
    reflectance = DN x scale + offset for an integer file without scale tags (default: the
    model's training convention)."""
    scene = Path(scene)
    if not scene.is_file():
        raise FileNotFoundError(f"scene {scene} does not exist")
    model, card = load_road_model(model_dir)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    with rasterio.open(scene) as src:
        if src.crs is None:
            raise ValueError(f"{scene} has no CRS: georeference it before predicting roads")
        positions, how = match_bands(src.descriptions, card.bands, str(scene))
        raw = src.read([i + 1 for i in positions])
        nodata = src.nodata
        invalid = np.zeros(raw.shape[1:], bool) if nodata is None else (raw == nodata).any(0)
        values = read_model_input(src, card, scale, offset, str(scene))
        invalid |= ~np.isfinite(values).all(0)
        if invalid.all():
            raise ValueError(f"{scene} holds no valid pixel (all no-data)")
        values[:, invalid] = np.nan
        warped = _needs_warp(src)
        if warped:
            values, grid_transform, grid_crs = _warp_to_utm(values, src)
        else:
            grid_transform, grid_crs = src.transform, src.crs
        probability = predict_tiled(model, values, tile, overlap, batch_size, device, progress)
        probability[np.isnan(values).all(0)] = np.nan
        lines = road_lines(np.nan_to_num(probability) >= threshold, grid_transform, grid_crs)
        if warped:
            on_scene = np.full((src.height, src.width), np.nan, np.float32)
            reproject(
                probability, on_scene, src_transform=grid_transform, src_crs=grid_crs,
                dst_transform=src.transform, dst_crs=src.crs, resampling=Resampling.bilinear,
                src_nodata=np.nan, dst_nodata=np.nan,
            )  # fmt: skip
            probability = on_scene
        probability[invalid] = np.nan
        profile = {
            "driver": "GTiff", "width": src.width, "height": src.height, "count": 1,
            "dtype": "float32", "crs": src.crs, "transform": src.transform,
            "nodata": PROBABILITY_NODATA, "compress": "deflate", "tiled": True,
        }  # fmt: skip
    probability = np.where(np.isnan(probability), PROBABILITY_NODATA, probability)
    out_prefix = Path(out_prefix)
    prob_path = out_prefix.with_name(f"{out_prefix.name}_probability.tif")
    roads_path = out_prefix.with_name(f"{out_prefix.name}_roads.geojson")
    with atomic_path(prob_path) as prob_tmp, atomic_path(roads_path) as roads_tmp:
        with rasterio.open(prob_tmp, "w", **profile) as dst:
            dst.write(probability.astype(np.float32), 1)
            dst.set_band_description(1, "road probability")
        lines.to_file(roads_tmp, driver="GeoJSON")
    return ScenePrediction(
        prob_path,
        roads_path,
        len(lines),
        round(float(lines["length_m"].sum()) / 1000, 3) if len(lines) else 0.0,
        warped,
        how,
    )
