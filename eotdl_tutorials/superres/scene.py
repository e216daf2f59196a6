"""Super-resolve a whole Sentinel-2 GeoTIFF of any size by overlapping tiles, without seams.

The scene is cut into ``tile`` x ``tile`` input tiles overlapping by ``overlap`` pixels (the last
tile of a row or column is shortened to end at the scene's edge; a scene smaller than one tile is
one smaller tile). Each tile's output is weighted by a
window that is 0 in the outer quarter of every overlap shared with a neighbour, rises linearly
across the middle half and is 1 elsewhere; the weighted outputs are summed and divided by the summed
weights. Weights of two neighbours add up to 1 across their overlap, so the blend is smooth, and a
network that sees no further than ``overlap / 4`` input pixels gives exactly its one-pass result.
Rows of tiles are read, run and written one at a time, so memory does not grow with the scene.

Bands are found as :func:`eotdl_tutorials.models.match_bands` finds them (band descriptions, else
the band count: 12-band L2A, 13-band L1C as in EuroSAT, 4-band EarthView order); digital numbers
become reflectance as ``embed_geotiff`` converts them. Nodata pixels (the file's nodata value in
any band) are filled with the band means for the network and written as nodata (NaN) again.
The output is float32 reflectance with the pixel size divided by the factor, the same CRS and the
same extent, written under a temporary name and renamed when complete.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import rasterio
import torch
import xarray as xr
from rasterio.transform import Affine
from rasterio.windows import Window
from tqdm.auto import tqdm

from eotdl_tutorials.facts.sensors import S2_L2A_OFFSET, S2_L2A_SCALE
from eotdl_tutorials.files import atomic_path
from eotdl_tutorials.models import match_bands, read_card, read_model_input
from eotdl_tutorials.superres.export import load_superres, superres_card
from eotdl_tutorials.superres.models import SuperResolver

#: The smallest scene side accepted (smaller scenes are padded up to one tile).
MIN_SIDE = 8


@dataclass(frozen=True)
class SceneBands:
    """The files of one Sentinel-2 scene: ``hrefs`` (band common name -> COG) and the offset of
    its digital numbers (reflectance = DN x 1e-4 + ``reflectance_offset``)."""

    hrefs: dict[str, str]
    reflectance_offset: float


def check_factor(model: SuperResolver, factor: int | None) -> int:
    """``factor`` if the model super-resolves by it (None: the model's own), else a clear error."""
    if factor is not None and int(factor) != model.factor:
        raise ValueError(
            f"the model super-resolves by {model.factor}x, not {factor}x: pass --factor "
            f"{model.factor} or use a model trained for {factor}x"
        )
    return model.factor


def tile_spans(size: int, tile: int, overlap: int) -> list[tuple[int, int]]:
    """(start, length) of every tile along an axis of ``size`` pixels: full tiles every
    ``tile - overlap`` pixels, the last one shortened to end at the edge (at least
    ``max(MIN_SIDE, overlap + 1)`` pixels long, so it may overlap its neighbour more)."""
    if not 0 <= overlap < tile:
        raise ValueError(
            f"overlap must be at least 0 and below the tile size {tile}, got {overlap}"
        )
    if size <= tile:
        return [(0, size)]
    stride, spans = tile - overlap, [(0, tile)]
    while spans[-1][0] + tile < size:
        start = spans[-1][0] + stride
        if start + tile >= size:
            start = min(start, size - max(MIN_SIDE, overlap + 1))
            spans.append((start, size - start))
        else:
            spans.append((start, tile))
    return spans


def axis_weights(start: int, length: int, size: int, overlap: int, factor: int) -> np.ndarray:
    """The blending weights of a tile along one axis, in output pixels (see the module doc)."""
    margin = overlap // 4
    ramp = overlap - 2 * margin
    rise = np.concatenate([np.zeros(margin), (np.arange(ramp) + 1) / (ramp + 1)])
    weights = np.ones(length)
    if start > 0:
        weights[: len(rise)] = np.minimum(weights[: len(rise)], rise[:length])
    if start + length < size:
        weights[length - len(rise) :] = np.minimum(weights[length - len(rise) :], rise[::-1])
    return np.repeat(weights, factor).astype(np.float32)


def run_tiles(
    model: SuperResolver, tiles: list[np.ndarray], batch: int, device: torch.device
) -> list[np.ndarray]:
    """``model`` on input tiles (C, h, w), batched by shape (bf16 autocast on CUDA)."""
    outputs: list[np.ndarray | None] = [None] * len(tiles)
    by_shape: dict[tuple[int, ...], list[int]] = {}
    for i, t in enumerate(tiles):
        by_shape.setdefault(t.shape, []).append(i)
    cuda = device.type == "cuda"
    with torch.no_grad(), torch.autocast(device.type, torch.bfloat16, enabled=cuda):
        for members in by_shape.values():
            for i in range(0, len(members), batch):
                chunk = members[i : i + batch]
                x = torch.from_numpy(np.stack([tiles[j] for j in chunk]))
                x = x.pin_memory().to(device, non_blocking=True) if cuda else x
                y = model(x).float().cpu().numpy()
                for j, out in zip(chunk, y, strict=True):
                    outputs[j] = out
    return outputs  # type: ignore[return-value]


def superres_array(
    model: SuperResolver,
    image: np.ndarray,
    tile: int = 128,
    overlap: int = 16,
    batch: int = 8,
    device: str | torch.device = "cpu",
) -> np.ndarray:
    """Super-resolve a reflectance array (C, H, W) by blended tiles (in memory)."""

    def read_rows(r0: int, r1: int) -> np.ndarray:
        return np.asarray(image[:, r0:r1], dtype=np.float32)

    strips = _tile_rows(
        model, read_rows, image.shape[1:], tile, overlap, batch, torch.device(device)
    )
    return np.concatenate([strip for _, strip in strips], axis=1)


def _tile_rows(
    model: SuperResolver,
    read_rows: Callable[[int, int], np.ndarray],
    shape: tuple[int, int],
    tile: int,
    overlap: int,
    batch: int,
    device: torch.device,
) -> Iterator[tuple[int, np.ndarray]]:
    """Finished output strips (first output row, (C, rows, W*f)), top to bottom.

    A scene side smaller than ``tile`` is covered by one tile of that side's size."""
    height, width = shape
    f, bands = model.factor, len(model.bands)
    row_spans, col_spans = tile_spans(height, tile, overlap), tile_spans(width, tile, overlap)
    col_weights = [axis_weights(c, n, width, overlap, f) for c, n in col_spans]
    top = 0  # first output row held in the buffers
    acc = np.zeros((bands, 0, width * f), np.float32)
    wsum = np.zeros((0, width * f), np.float32)
    for k, (r0, rows) in enumerate(row_spans):
        block = read_rows(r0, r0 + rows)
        out = run_tiles(model, [block[:, :, c : c + n] for c, n in col_spans], batch, device)
        first, last = r0 * f - top, (r0 + rows) * f - top
        if last > wsum.shape[0]:
            grow = last - wsum.shape[0]
            acc = np.concatenate([acc, np.zeros((bands, grow, width * f), np.float32)], 1)
            wsum = np.concatenate([wsum, np.zeros((grow, width * f), np.float32)], 0)
        row_w = axis_weights(r0, rows, height, overlap, f)
        for (c, n), weights_c, result in zip(col_spans, col_weights, out, strict=True):
            w = row_w[:, None] * weights_c[None, :]
            acc[:, first:last, c * f : (c + n) * f] += result * w
            wsum[first:last, c * f : (c + n) * f] += w
        end = row_spans[k + 1][0] * f if k + 1 < len(row_spans) else height * f
        done = end - top
        yield top, acc[:, :done] / wsum[:done]
        acc, wsum, top = acc[:, done:], wsum[done:], end


def superres_scene(
    scene: str | os.PathLike[str],
    model: SuperResolver | str | os.PathLike[str],
    out: str | os.PathLike[str],
    factor: int | None = None,
    tile: int = 128,
    overlap: int = 16,
    batch: int = 8,
    device: str = "auto",
    scale: float | None = None,
    offset: float | None = None,
    progress: bool = True,
) -> Path:
    """Super-resolve the GeoTIFF ``scene`` with ``model`` (or a model folder) into ``out``.

    See the module docstring. ``scale``/``offset`` convert digital numbers when the file has no
    tags and is not in the training data's convention (L2A since baseline 04.00). Returns ``out``.
    """
    if isinstance(model, SuperResolver):
        sr_model, card = model, superres_card(model, "in-memory", tile)
    else:
        sr_model, card = load_superres(model), read_card(model)
    f = check_factor(sr_model, factor)
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    torch_device = torch.device(device)
    sr_model = sr_model.to(torch_device).eval()
    if not os.path.isfile(scene):
        raise FileNotFoundError(f"scene {scene} does not exist")
    with rasterio.open(scene) as dataset:
        height, width, nodata = dataset.height, dataset.width, dataset.nodata
        if min(height, width) < MIN_SIDE:
            raise ValueError(
                f"scene {scene} is {height} x {width} px: super-resolution needs at least "
                f"{MIN_SIDE} px on each side"
            )
        values = read_model_input(dataset, card, scale, offset, str(scene))
        invalid = None
        if nodata is not None:
            positions, _ = match_bands(dataset.descriptions, card.bands, str(scene))
            invalid = (dataset.read([i + 1 for i in positions]) == nodata).any(0)
            if invalid.all():
                raise ValueError(f"{scene} holds only nodata pixels: nothing to super-resolve")
            values[:, invalid] = values[:, ~invalid].mean(1)[:, None]
        profile = {
            "driver": "GTiff", "dtype": "float32", "count": len(sr_model.bands),
            "height": height * f, "width": width * f, "crs": dataset.crs,
            "transform": dataset.transform * Affine.scale(1 / f, 1 / f),
            "nodata": float("nan"), "tiled": True, "blockxsize": 256, "blockysize": 256,
            "compress": "deflate",
        }  # fmt: skip

    def read_rows(r0: int, r1: int) -> np.ndarray:
        return values[:, r0:r1]

    rows = len(tile_spans(height, tile, overlap))
    strips = _tile_rows(sr_model, read_rows, (height, width), tile, overlap, batch, torch_device)
    with atomic_path(out) as tmp, rasterio.open(tmp, "w", **profile) as dst:
        dst.descriptions = tuple(sr_model.bands)
        for top, strip in tqdm(strips, total=rows, desc="super-resolving", unit="tile row",
                               disable=not progress):  # fmt: skip
            if invalid is not None:
                r0, r1 = top // f, -(-(top + strip.shape[1]) // f)
                mask = np.repeat(np.repeat(invalid[r0:r1], f, 0), f, 1)
                strip = np.where(mask[top - r0 * f : top - r0 * f + strip.shape[1]], np.nan, strip)
            dst.write(strip.astype(np.float32), window=Window(0, top, width * f, strip.shape[1]))
    return Path(out)


def stack_scene(
    item_json: str | os.PathLike[str],
    out: str | os.PathLike[str],
    bands: tuple[str, ...] = ("red", "green", "blue", "nir"),
    size: int | None = None,
) -> Path:
    """A GeoTIFF of a Sentinel-2 STAC item's ``bands`` (asset keys; described by name), the
    centred ``size`` x ``size`` window or the whole scene, digital numbers as stored."""
    item = json.loads(Path(item_json).read_text())
    root = Path(item_json).parent
    hrefs = []
    for band in bands:
        if band not in item["assets"]:
            raise ValueError(f"{item_json} has no {band!r} asset")
        href = item["assets"][band]["href"]
        hrefs.append(href if os.path.isabs(href) else str(root / href))
    return _stack([(href, 1) for href in hrefs], out, bands, size)


def _stack(
    sources: list[tuple[str, int]],
    out: str | os.PathLike[str],
    bands: tuple[str, ...],
    size: int | None,
    reflectance_offset: float | None = None,
) -> Path:
    """Band ``bidx`` of each ``(href, bidx)`` of ``sources`` (one per band, on one grid) as one
    GeoTIFF described by ``bands``: the centred ``size`` window or all of it; with
    ``reflectance_offset``, scale/offset tags (reflectance = DN x 1e-4 + offset)."""
    with rasterio.open(sources[0][0]) as first:
        height, width = first.height, first.width
        side_h, side_w = min(size or height, height), min(size or width, width)
        window = Window((width - side_w) // 2, (height - side_h) // 2, side_w, side_h)
        profile = first.profile | {
            "count": len(bands), "height": side_h, "width": side_w, "driver": "GTiff",
            "transform": first.window_transform(window), "tiled": False,
        }  # fmt: skip
        profile.pop("blockxsize", None), profile.pop("blockysize", None)
    with atomic_path(out) as tmp, rasterio.open(tmp, "w", **profile) as dst:
        for i, (href, bidx) in enumerate(sources, start=1):
            with rasterio.open(href) as src:
                dst.write(src.read(bidx, window=window), i)
        dst.descriptions = tuple(bands)
        if reflectance_offset is not None:
            dst.scales = [S2_L2A_SCALE] * len(bands)
            dst.offsets = [reflectance_offset] * len(bands)
    return Path(out)


def matched_scene_files(matches_dir: str | os.PathLike[str], item: str) -> SceneBands:
    """The band files of Sentinel-2 scene ``item`` as the matcher recorded them (its
    ``scenes.parquet``: hrefs by band common name, whatever the catalogue's asset keys, and the
    item's own L2A offset), signed again for the Planetary Computer where they were signed."""
    from eotdl_tutorials.matching import read_matches
    from eotdl_tutorials.stac import href_signer, needs_signing

    matches = read_matches(matches_dir)
    scenes = matches.scenes[matches.scenes["id"].astype(str) == str(item)]
    if scenes.empty:
        raise ValueError(f"scene {item} is not among the matched scenes in {matches_dir}")
    scene = scenes.iloc[0]
    hrefs = {str(k): str(v) for k, v in dict(scene["assets"]).items() if v is not None}
    if needs_signing(matches.summary.get("source", "")):
        sign = href_signer()
        hrefs = {band: sign(href.split("?", 1)[0]) for band, href in hrefs.items()}
    offset = scene.get("reflectance_offset", 0.0)
    return SceneBands(hrefs, 0.0 if pd.isna(offset) else float(offset))


def pair_scene(
    store: str | os.PathLike[str],
    chip_id: str,
    out: str | os.PathLike[str],
    profile: str,
    bands: tuple[str, ...] = ("red", "green", "blue", "nir"),
    size: int | None = None,
    seed: int = 0,
) -> tuple[Path, str]:
    """A GeoTIFF of ``bands`` of the Sentinel-2 scene of chip ``chip_id`` of pair store
    ``store`` (the centred ``size`` window, or all of it), and where it was read from.

    ``ci`` and ``default``: the sample world's item (digital numbers with the L2A +1000 offset,
    as stored). ``full`` never opens a sample world: the band files the matcher recorded for that
    scene (``matches-full`` beside the store, as notebook A1 writes it), with the item's own
    offset as scale/offset tags (Earth Search's COGs have it removed, the Planetary Computer's
    keep it); without those matches, the pair's Sentinel-2 chip from the store (its GeoTIFF, in
    the store's encoding)."""
    from eotdl_tutorials.data import open_chip_store
    from eotdl_tutorials.profiles import WORLD_PROFILE, check_profile
    from eotdl_tutorials.tiling import chip_path

    chips = open_chip_store(store)
    rows = chips.index[chips.index["id"].astype(str) == str(chip_id)]
    if rows.empty:
        raise ValueError(f"chip {chip_id} is not in chip store {chips.root}")
    item = str(rows["s2_item"].iloc[0])
    if WORLD_PROFILE[check_profile(profile)] is not None:
        from eotdl_tutorials.world import ensure_world

        world = ensure_world(WORLD_PROFILE[profile], seed=seed, progress=False)
        item_json = world.root / "sentinel-2-l2a" / item / "item.json"
        return stack_scene(item_json, out, bands, size), f"sample-world item {item}"
    matches_dir = chips.root.parent / f"matches-{profile}"
    if (matches_dir / "match.json").is_file():
        files = matched_scene_files(matches_dir, item)
        missing = [b for b in bands if b not in files.hrefs]
        if missing:
            raise ValueError(f"scene {item} has no {', '.join(missing)} band files")
        sources = [(files.hrefs[b], 1) for b in bands]
        path = _stack(sources, out, bands, size, files.reflectance_offset)
        return path, f"scene {item} (band files from {matches_dir})"
    chip = chip_path(chips.root, "s2", str(chip_id))
    with rasterio.open(chip) as src:
        positions, _ = match_bands(src.descriptions, bands, str(chip))
    sources = [(str(chip), i + 1) for i in positions]
    return _stack(
        sources, out, bands, size
    ), f"the S2 chip of {chip_id} (no matches in {matches_dir})"


def scene_reflectance(path: str | os.PathLike[str]) -> xr.DataArray:
    """A stacked scene as reflectance (labelled, CRS-aware; nodata as NaN): with its own
    scale/offset tags, else the L2A convention since baseline 04.00 (DN x 1e-4 - 0.1)."""
    import rioxarray

    with rasterio.open(path) as src:
        tagged = any(s != 1 for s in src.scales) or any(o != 0 for o in src.offsets)
    array = rioxarray.open_rasterio(path, mask_and_scale=True)
    return array if tagged else array * S2_L2A_SCALE + S2_L2A_OFFSET
