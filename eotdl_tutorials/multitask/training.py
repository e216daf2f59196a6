"""Training the land-cover models with the course's Lightning helpers.

:class:`LandCoverTask` adds the losses of the heads a :class:`LandCoverNet` has (weights as
parameters): cross-entropy per pixel that ignores "no label" (0) and binary cross-entropy per
class. :func:`train_model` trains one on rows of a :class:`LandCoverSet` and times it.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from eotdl_tutorials.models.base import adamw
from eotdl_tutorials.models.encoder import SensorEncoder
from eotdl_tutorials.multitask.dataset import LandCoverSet
from eotdl_tutorials.multitask.inputs import input_bands, model_inputs
from eotdl_tutorials.multitask.models import (
    CLASSIFICATION,
    SEGMENTATION,
    LandCoverNet,
    init_from_encoder,
)
from eotdl_tutorials.training import fit, seed


def augment(images: torch.Tensor, masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The same random flip and quarter turn for a batch of images and their masks."""
    turns = int(torch.randint(0, 4, ()).item())
    if turns:
        images, masks = images.rot90(turns, (-2, -1)), masks.rot90(turns, (-2, -1))
    if torch.rand(()) < 0.5:
        images, masks = images.flip(-1), masks.flip(-1)
    return images.contiguous(), masks.contiguous()


def task_loss(
    outputs: dict[str, torch.Tensor],
    masks: torch.Tensor,
    presence: torch.Tensor,
    seg_weight: float = 1.0,
    cls_weight: float = 1.0,
) -> torch.Tensor:
    """``seg_weight`` x pixel cross-entropy (0 = no label, ignored) + ``cls_weight`` x
    multi-label binary cross-entropy, over the heads present in ``outputs``."""
    loss = torch.zeros((), device=masks.device)
    if SEGMENTATION in outputs:
        loss = loss + seg_weight * F.cross_entropy(
            outputs[SEGMENTATION].float(), masks, ignore_index=0
        )
    if CLASSIFICATION in outputs:
        loss = loss + cls_weight * F.binary_cross_entropy_with_logits(
            outputs[CLASSIFICATION].float(), presence
        )
    return loss


class LandCoverTask(L.LightningModule):
    """A :class:`LandCoverNet` trained with AdamW on the sum of its heads' weighted losses."""

    def __init__(
        self,
        model_settings: dict[str, Any],
        lr: float = 1e-3,
        weight_decay: float = 1e-4,
        seg_weight: float = 1.0,
        cls_weight: float = 1.0,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.model = LandCoverNet.from_settings(model_settings)

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.model(images)

    def _loss(self, batch: Sequence[torch.Tensor]) -> torch.Tensor:
        images, masks, presence = batch
        hp = self.hparams
        return task_loss(self(images), masks, presence, hp["seg_weight"], hp["cls_weight"])

    def training_step(self, batch: Sequence[torch.Tensor], batch_idx: int) -> torch.Tensor:
        images, masks = augment(batch[0], batch[1])
        loss = self._loss((images, masks, batch[2]))
        self.log("train_loss", loss, on_step=True, on_epoch=True, batch_size=len(images))
        return loss

    def validation_step(self, batch: Sequence[torch.Tensor], batch_idx: int) -> None:
        self.log("val_loss", self._loss(batch), prog_bar=True, batch_size=len(batch[0]))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return adamw(self.parameters(), self.hparams["lr"], self.hparams["weight_decay"])


class TileData(L.LightningDataModule):
    """Training and validation tiles held in memory (model inputs, masks, presence)."""

    def __init__(
        self,
        train: tuple[np.ndarray, np.ndarray, np.ndarray],
        val: tuple[np.ndarray, np.ndarray, np.ndarray] | None,
        batch_size: int,
    ) -> None:
        super().__init__()
        self.train_set = self._tensors(*train)
        self.val_set = self._tensors(*val) if val is not None and len(val[0]) else None
        self.batch_size = batch_size

    @staticmethod
    def _tensors(images: np.ndarray, masks: np.ndarray, presence: np.ndarray) -> TensorDataset:
        return TensorDataset(
            torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32)),
            torch.from_numpy(masks.astype(np.int64)),
            torch.from_numpy(presence.astype(np.float32)),
        )

    def _loader(self, data: TensorDataset, shuffle: bool) -> DataLoader:
        size = min(self.batch_size, len(data))
        pin = torch.cuda.is_available()
        return DataLoader(data, batch_size=size, shuffle=shuffle, drop_last=shuffle, pin_memory=pin)

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, shuffle=True)

    def val_dataloader(self) -> DataLoader | list:
        return self._loader(self.val_set, shuffle=False) if self.val_set is not None else []


@dataclass
class TrainedModel:
    """A trained model, how long training took and the preprocessing its inputs need."""

    model: LandCoverNet
    seconds: float
    preprocessing: str
    init: str


def new_model(
    dataset: LandCoverSet,
    rows: np.ndarray,
    tasks: Sequence[str],
    preprocessing: str = "none",
    encoder: SensorEncoder | None = None,
    **model_kwargs: Any,
) -> LandCoverNet:
    """An untrained model for ``dataset`` (normalised with the statistics of ``rows``), its
    encoder copied from ``encoder`` when given (then normalised with the encoder's)."""
    images = model_inputs(dataset, rows, preprocessing)
    bands = input_bands(dataset, preprocessing)
    mean = images.mean(axis=(0, 2, 3)).tolist()
    std = (images.std(axis=(0, 2, 3)) + 1e-6).tolist()
    model = LandCoverNet(tasks, bands, len(dataset.classes), mean, std, **model_kwargs)
    if encoder is not None:
        init_from_encoder(model, encoder)
    return model


def train_model(
    dataset: LandCoverSet,
    train_rows: np.ndarray,
    val_rows: np.ndarray | None,
    tasks: Sequence[str],
    steps: int,
    batch_size: int = 16,
    lr: float = 1e-3,
    seg_weight: float = 1.0,
    cls_weight: float = 1.0,
    preprocessing: str = "none",
    encoder: SensorEncoder | None = None,
    start: LandCoverNet | None = None,
    random_seed: int = 0,
    run_dir: str | os.PathLike[str] | None = None,
    accelerator: str = "auto",
    progress: bool = False,
    **model_kwargs: Any,
) -> TrainedModel:
    """Train a model with ``tasks`` on ``train_rows`` for ``steps`` optimiser steps.

    ``encoder``: start from this pre-trained encoder (else random weights); ``start``: go on
    training a copy of this model instead (its settings win over ``tasks``, ``encoder`` and
    ``model_kwargs``). ``run_dir``: where Lightning writes ``metrics.csv`` (default: a temporary
    folder).
    """
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    seed(random_seed)
    if start is not None:
        model = start
    else:
        model = new_model(dataset, train_rows, tasks, preprocessing, encoder, **model_kwargs)
    task = LandCoverTask(model.settings, lr, seg_weight=seg_weight, cls_weight=cls_weight)
    task.model.load_state_dict(model.state_dict())

    def arrays(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return (
            model_inputs(dataset, rows, preprocessing),
            dataset.masks[rows],
            dataset.presence[rows],
        )

    val = arrays(val_rows) if val_rows is not None and len(val_rows) else None
    data = TileData(arrays(train_rows), val, batch_size)
    batches = max(1, len(train_rows) // min(batch_size, len(train_rows)))
    epochs = max(1, -(-steps // batches))
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        fit(
            task,
            data,
            Path(run_dir or tmp),
            max_epochs=epochs,
            max_steps=steps,
            check_val_every_n_epoch=max(1, epochs // 4),
            num_sanity_val_steps=0,
            limit_val_batches=1.0 if val is not None else 0,
            accelerator=accelerator,
            progress=progress,
            checkpoint=False,
        )
        seconds = time.perf_counter() - started
    trained = task.model.cpu().eval()
    return TrainedModel(trained, seconds, preprocessing, "barlow-twins" if encoder else "random")
