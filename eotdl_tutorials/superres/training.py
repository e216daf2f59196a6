"""Train a super-resolution network on pairs with the course's Lightning helpers.

L1 loss on reflectance / 0.4 (as ESRT and EDSR train), Adam with a cosine decay, random crops of
``patch`` input pixels with flips and 90-degree turns; validation on the ``val`` places.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from eotdl_tutorials.profiles import check_profile
from eotdl_tutorials.superres.metrics import psnr
from eotdl_tutorials.superres.models import SuperResolver
from eotdl_tutorials.superres.pairs import PairSet
from eotdl_tutorials.training import fit, resolve_accelerator, seed


@dataclass(frozen=True)
class SuperResSettings:
    """Training budget of one profile: optimizer steps, batch, input patch size, learning rate."""

    steps: int
    batch_size: int
    patch: int
    lr: float
    num_workers: int = 0


SR_SETTINGS = {
    # 15 steps from the bicubic start: at 1e-3 Adam's first steps overshoot and the models end
    # below bicubic (measured on the textured world: -0.08 to -0.2 dB over seeds 0-1; at 3e-4
    # +0.10 to +0.14 dB over seeds 0-4)
    "ci": SuperResSettings(steps=15, batch_size=8, patch=16, lr=3e-4),
    "default": SuperResSettings(steps=300, batch_size=16, patch=24, lr=1e-3),
    # full: patches of 32 px, the pairs' whole input (EarthView's 384 m tiles give 38 px S2 chips)
    "full": SuperResSettings(steps=30_000, batch_size=32, patch=32, lr=5e-4, num_workers=8),
}


def sr_settings(profile: str, **overrides: object) -> SuperResSettings:
    """The settings of ``profile`` with any non-None ``overrides``."""
    base = SR_SETTINGS[check_profile(profile)]
    return replace(base, **{k: v for k, v in overrides.items() if v is not None})


class PairPatches(Dataset):
    """Random ``patch``-pixel crops (with flips and turns) of the pairs ``rows``, or whole pairs."""

    def __init__(self, pairs: PairSet, rows: np.ndarray, patch: int | None, length: int) -> None:
        self.lr, self.hr, self.factor = pairs.lr, pairs.hr, pairs.factor
        self.rows, self.patch, self.length = rows, patch, length
        self.rng = np.random.default_rng(0)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self.patch is None:
            row = self.rows[i]
            return torch.from_numpy(self.lr[row]), torch.from_numpy(self.hr[row])
        row = self.rows[self.rng.integers(len(self.rows))]
        size = self.lr.shape[-1]
        y, x = self.rng.integers(0, size - self.patch + 1, 2)
        f, p = self.factor, self.patch
        lr = self.lr[row, :, y : y + p, x : x + p]
        hr = self.hr[row, :, y * f : (y + p) * f, x * f : (x + p) * f]
        turns, flip = int(self.rng.integers(4)), bool(self.rng.integers(2))
        lr, hr = (np.rot90(a, turns, axes=(1, 2)) for a in (lr, hr))
        if flip:
            lr, hr = lr[:, :, ::-1], hr[:, :, ::-1]
        return torch.from_numpy(lr.copy()), torch.from_numpy(hr.copy())


class PairDataModule(L.LightningDataModule):
    """Training crops from the ``train`` places, whole ``val`` pairs for validation."""

    def __init__(
        self, pairs: PairSet, settings: SuperResSettings, val_limit: int | None = None
    ) -> None:
        super().__init__()
        self.pairs, self.settings, self.val_limit = pairs, settings, val_limit
        if len(pairs.split("train")) == 0:
            raise ValueError("the pairs have no training split: build more pairs")
        if settings.patch > pairs.lr.shape[-1]:
            raise ValueError(
                f"patch {settings.patch} is larger than the pairs' {pairs.lr.shape[-1]} px"
            )

    def _loader(self, dataset: Dataset, batch_size: int) -> DataLoader:
        return DataLoader(
            dataset, batch_size=batch_size, num_workers=self.settings.num_workers,
            pin_memory=torch.cuda.is_available(), persistent_workers=self.settings.num_workers > 0,
        )  # fmt: skip

    def train_dataloader(self) -> DataLoader:
        s = self.settings
        rows = self.pairs.split("train")
        return self._loader(
            PairPatches(self.pairs, rows, s.patch, s.steps * s.batch_size), s.batch_size
        )

    def val_dataloader(self) -> DataLoader:
        rows = self.pairs.split("val")
        rows = rows if len(rows) else self.pairs.split("train")[:8]
        rows = rows[: self.val_limit]
        return self._loader(PairPatches(self.pairs, rows, None, len(rows)), 32)


class SuperResTask(L.LightningModule):
    """L1 training of a :class:`SuperResolver`; logs ``train_loss``, ``val_loss``, ``val_psnr``."""

    def __init__(self, config: dict[str, Any], lr: float, steps: int) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.model = SuperResolver.from_config(config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def _loss(self, batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        lr, hr = batch
        if self.device.type == "cuda":
            lr = lr.contiguous(memory_format=torch.channels_last)
        sr = self(lr).float()
        divisor = self.model.divisor
        return F.l1_loss(sr / divisor, hr / divisor), sr

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], _: int) -> torch.Tensor:
        loss, _ = self._loss(batch)
        self.log("train_loss", loss, prog_bar=True)
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], _: int) -> None:
        loss, sr = self._loss(batch)
        self.log("val_loss", loss, prog_bar=True)
        self.log("val_psnr", psnr(sr, batch[1]).mean())

    def configure_optimizers(self) -> dict[str, Any]:
        optimizer = torch.optim.Adam(self.parameters(), lr=self.hparams["lr"])
        total = max(1, self.hparams["steps"])
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: 0.5 * (1 + math.cos(math.pi * min(1.0, step / total)))
        )
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }


def train_superres(
    pairs: PairSet,
    arch: str,
    out_dir: str | os.PathLike[str],
    settings: SuperResSettings,
    accelerator: str = "auto",
    random_seed: int = 0,
    progress: bool = True,
    residual: bool = True,
    val_limit: int | None = None,
) -> SuperResolver:
    """Train ``arch`` ("cnn" or "esrt") on ``pairs`` into ``out_dir`` (metrics.csv, checkpoint);
    returns the trained model in eval mode on the CPU. ``val_limit``: validate on the first
    ``val_limit`` validation pairs only (None: all)."""
    seed(random_seed)
    model = SuperResolver(arch, pairs.bands, pairs.factor, residual=residual)
    task = SuperResTask(model.config(), settings.lr, settings.steps)
    val_every = max(1, settings.steps // 5)
    fit(
        task, PairDataModule(pairs, settings, val_limit), Path(out_dir), max_epochs=1,
        accelerator=resolve_accelerator(accelerator), progress=progress,
        val_check_interval=val_every, num_sanity_val_steps=0,
        log_every_n_steps=max(1, val_every // 4),
    )  # fmt: skip
    return task.model.cpu().eval()
