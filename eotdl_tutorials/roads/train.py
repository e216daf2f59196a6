"""Train and evaluate road models: per-profile settings, one training run, the metrics table."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from eotdl_tutorials.profiles import check_profile
from eotdl_tutorials.roads.dataset import RoadDataset
from eotdl_tutorials.roads.metrics import connectivity, dataset_scores, per_image_iou, relaxed_f1
from eotdl_tutorials.roads.model import RoadDataModule, RoadSegmentationTask, init_from_encoder
from eotdl_tutorials.training import fit, seed


@dataclass(frozen=True)
class RoadTrainingSettings:
    """Training knobs of one profile (override with :func:`dataclasses.replace`)."""

    encoder: str
    depth: int
    decoder_channels: tuple[int, ...]
    crop: int
    batch_size: int
    steps: int
    batches_per_epoch: int
    lr: float
    num_workers: int


ROAD_SETTINGS = {
    "ci": RoadTrainingSettings("resnet18", 3, (64, 32, 16), 48, 8, 150, 10, 5e-3, 0),
    "default": RoadTrainingSettings("resnet18", 3, (64, 32, 16), 48, 16, 300, 20, 5e-3, 0),
    "full": RoadTrainingSettings(
        "resnet34", 5, (256, 128, 64, 32, 16), 128, 32, 20000, 500, 1e-3, 8
    ),
}


def road_settings(profile: str, **overrides: object) -> RoadTrainingSettings:
    """The settings of ``profile``, with fields replaced by ``overrides`` that are not None."""
    base = ROAD_SETTINGS[check_profile(profile)]
    return dataclasses.replace(base, **{k: v for k, v in overrides.items() if v is not None})


def band_statistics(images: np.ndarray) -> tuple[list[float], list[float]]:
    """Per-band mean and std of (N, bands, H, W) reflectance, no-data (NaN) left out."""
    per_band = np.moveaxis(images, 1, 0).reshape(images.shape[1], -1)
    mean, std = np.nanmean(per_band, axis=1), np.nanstd(per_band, axis=1)
    if not np.all(np.isfinite(mean)):
        raise ValueError("some band has no valid pixel in the training chips")
    return mean.tolist(), np.where(std > 0, std, 1.0).tolist()


def train_road_model(
    dataset: RoadDataset,
    bands: Sequence[str],
    transfer: str,
    out_dir: str | os.PathLike[str],
    settings: RoadTrainingSettings,
    seed_value: int = 0,
    accelerator: str = "auto",
    progress: bool = True,
    encoder_init: str | os.PathLike[str] | None = None,
) -> RoadSegmentationTask:
    """Train a U-Net on the ``train`` split with the labels of ``transfer`` (validation: the
    ``valid`` split when there is one); ``encoder_init``: a use case A encoder folder to start
    the U-Net's encoder from (see :func:`~eotdl_tutorials.roads.model.init_from_encoder`)."""
    if transfer not in dataset.labels:
        raise ValueError(f"unknown label transfer {transfer!r}: use one of {list(dataset.labels)}")
    positions = dataset.band_positions(bands)
    train = dataset.split("train")
    images = dataset.images[train][:, positions]
    mean, std = band_statistics(images)
    val = None
    if (dataset.index["split"] == "valid").any():
        rows = dataset.split("valid")
        val = (dataset.images[rows][:, positions], dataset.labels[transfer][rows])
    seed(seed_value)
    task = RoadSegmentationTask(
        list(bands),
        mean,
        std,
        encoder=settings.encoder,
        depth=settings.depth,
        decoder_channels=settings.decoder_channels,
        lr=settings.lr,
    )
    if encoder_init is not None:
        init_from_encoder(task.model, encoder_init)
    datamodule = RoadDataModule(
        (images, dataset.labels[transfer][train]),
        val,
        crop=settings.crop,
        batch_size=settings.batch_size,
        batches_per_epoch=settings.batches_per_epoch,
        num_workers=settings.num_workers,
    )
    epochs = max(1, settings.steps // settings.batches_per_epoch)
    fit(
        task,
        datamodule,
        out_dir,
        max_epochs=epochs,
        max_steps=settings.steps,  # fewer steps than an epoch's batches stop within it
        accelerator=accelerator,
        progress=progress,
        checkpoint=False,
        num_sanity_val_steps=0,
        limit_val_batches=1.0 if val is not None else 0,
    )
    return task


def score_row(
    method: str, transfer: str, pred: np.ndarray, reference: np.ndarray, **extra: object
) -> dict:
    """One row of the metrics table (the keys use case D's results file names): ``pred``
    scored against the ``reference`` masks; ``extra`` keys are added to the row."""
    scores = dataset_scores(pred, reference)
    return {
        "method": method,
        "label_transfer": transfer,
        "iou": round(scores.iou, 4),
        "f1": round(scores.f1, 4),
        "relaxed_f1": round(relaxed_f1(pred, reference), 4),
        "per_image_iou": round(per_image_iou(pred, reference), 4),
        "connectivity": round(connectivity(pred, reference), 4),
        **extra,
    }
