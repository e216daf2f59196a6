"""Super-resolution downstream, on roads: a road model trained on high-resolution images, fed
super-resolved Sentinel-2.

EOTDL's case for super-resolution is that a model trained where labels are easy (aerial images)
could run on Sentinel-2 once it is brought to the aerial model's resolution. On the road chips of
use case D (:class:`~eotdl_tutorials.roads.RoadDataset`: Sentinel-2 at 10 m, the aerial image and
road mask each chip was cut from), :func:`fine_road_chips` puts every input on the same grid, the
chip's grid ``factor`` times finer (5 m for 2x):

- ``aerial``: the 1 m aerial image averaged to it (what a high-resolution model sees);
- ``esrt`` (or any :class:`~eotdl_tutorials.superres.models.SuperResolver`): Sentinel-2 10 m
  super-resolved;
- ``bicubic``: Sentinel-2 10 m interpolated;

with one set of labels, the 1 m mask's road share of each fine pixel above the threshold D uses
(``area_fraction``). A road U-Net is trained on the aerial images (:func:`as_road_dataset` then
:func:`~eotdl_tutorials.roads.train_road_model`) and run on each input. The aerial images and
Sentinel-2 have different radiometry (another camera, digital numbers): :func:`restandardised`
gives the model each input's own band statistics (from the training places), the usual first
step when a model moves to another sensor.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import pandas as pd
import rasterio
import torch
from rasterio.warp import Resampling, reproject
from tqdm.auto import tqdm

from eotdl_tutorials.matching.rasters import ChipGrid
from eotdl_tutorials.roads.dataset import RGB_BANDS, RoadDataset
from eotdl_tutorials.roads.model import RoadNet
from eotdl_tutorials.roads.train import band_statistics
from eotdl_tutorials.roads.transfer import (
    DEFAULT_FRACTION_THRESHOLD,
    fraction_labels,
    road_fraction,
)
from eotdl_tutorials.superres.models import SuperResolver
from eotdl_tutorials.superres.scene import superres_array

#: Input tiles of the super-resolution (px): about the pairs' size the models are scored on
#: (EarthView's 384 m tiles: 38 px of Sentinel-2); ESRT's attention spans a whole tile.
DOWNSTREAM_TILE = 48
#: The road labels of every input: D's main transfer, at the fine grid.
DOWNSTREAM_TRANSFER = "area_fraction"


@dataclass
class FineRoads:
    """Road chips at the super-resolved grid: ``images`` (input name -> (N, 3, H, W) RGB, each
    in its own units), ``fraction`` and ``labels`` ((N, H, W): road share, 0/1 road), ``index``
    (D's chip index), ``factor`` (fine pixels per 10 m pixel, each way)."""

    images: dict[str, np.ndarray]
    fraction: np.ndarray
    labels: np.ndarray
    index: pd.DataFrame
    factor: int


def fine_grid(dataset: RoadDataset, row: int, factor: int) -> ChipGrid:
    """The grid of chip ``row`` of ``dataset`` with pixels ``factor`` times smaller."""
    grid = dataset.grid(row)
    return ChipGrid(grid.epsg, grid.bounds, grid.width * factor, grid.height * factor)


def read_aerial(path: str, grid: ChipGrid, bands: int = 3) -> np.ndarray:
    """The first ``bands`` bands of the aerial image at ``path`` averaged onto ``grid``
    ((bands, H, W) float32, the file's own units)."""
    out = np.zeros((bands, grid.height, grid.width), np.float32)
    with rasterio.open(path) as src:
        if src.count < bands:
            raise ValueError(f"{path} has {src.count} bands: the road model reads {bands} (RGB)")
        reproject(
            src.read(list(range(1, bands + 1))).astype(np.float32),
            out,
            src_transform=src.transform,
            src_crs=src.crs,
            dst_transform=grid.transform,
            dst_crs=f"EPSG:{grid.epsg}",
            resampling=Resampling.average,
        )
    return out


def _filled(images: np.ndarray) -> np.ndarray:
    """``images`` (N, C, H, W) with no-data (NaN) set to each chip's band mean (the networks
    take no NaN)."""
    means = np.nan_to_num(np.nanmean(images, axis=(2, 3), keepdims=True))
    return np.where(np.isnan(images), means, images).astype(np.float32)


def fine_road_chips(
    dataset: RoadDataset,
    model: SuperResolver,
    threshold: float = DEFAULT_FRACTION_THRESHOLD,
    tile: int = DOWNSTREAM_TILE,
    progress: bool = True,
) -> FineRoads:
    """Every chip of ``dataset`` at ``model``'s factor: the aerial image, ``model``'s and
    bicubic's super-resolution of Sentinel-2 (the red, green and blue of the model's bands; by
    overlapping ``tile``-pixel tiles, as ``eotdl-tutorials superres`` runs a scene), the labels
    (module docstring)."""
    missing = [band for band in RGB_BANDS if band not in model.bands]
    if missing:
        raise ValueError(
            f"the super-resolution model reads {', '.join(model.bands)}: the road check needs "
            f"{', '.join(missing)} too"
        )
    factor = model.factor
    lr = _filled(dataset.images[:, dataset.band_positions(model.bands)])
    rgb = [model.bands.index(band) for band in RGB_BANDS]
    bicubic = SuperResolver("bicubic", model.bands, factor)
    images: dict[str, list[np.ndarray]] = {"aerial": [], model.arch: [], "bicubic": []}
    fraction = []
    networks = ((model.arch, model.eval()), ("bicubic", bicubic))
    rows = tqdm(range(len(dataset.index)), desc="road chips", disable=not progress)
    for row in rows:
        for name, network in networks:
            images[name].append(superres_array(network, lr[row], tile=tile)[rgb])
        grid = fine_grid(dataset, row, factor)
        images["aerial"].append(read_aerial(dataset.index["image"].iloc[row], grid))
        fraction.append(road_fraction(dataset.index["mask"].iloc[row], grid))
    fraction_array = np.stack(fraction)
    return FineRoads(
        {name: np.stack(chips) for name, chips in images.items()},
        fraction_array,
        fraction_labels(fraction_array, threshold),
        dataset.index,
        factor,
    )


def as_road_dataset(fine: FineRoads, source: str) -> RoadDataset:
    """Input ``source`` of ``fine`` as a road dataset (RGB, the ``area_fraction`` labels), to
    train a road model on with :func:`~eotdl_tutorials.roads.train_road_model`."""
    return RoadDataset(
        fine.images[source],
        fine.fraction,
        {DOWNSTREAM_TRANSFER: fine.labels},
        fine.index,
        RGB_BANDS,
        {},
    )


def restandardised(model: RoadNet, images: np.ndarray) -> RoadNet:
    """A copy of ``model`` that z-scores its input with the band statistics of ``images``
    (N, bands, H, W; the input's training places) instead of its own training images'."""
    mean, std = band_statistics(images)
    moved = copy.deepcopy(model)
    with torch.no_grad():
        moved.mean.copy_(torch.tensor(mean).view_as(moved.mean))
        moved.std.copy_(torch.tensor(std).view_as(moved.std))
    return moved.eval()
