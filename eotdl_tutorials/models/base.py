"""The base of the course's Lightning tasks: a per-sensor encoder, AdamW and a warm-up cosine.

Tasks follow torchgeo's trainer conventions (:class:`torchgeo.trainers.BaseTask`): the
constructor's arguments are saved as hyperparameters (so a checkpoint rebuilds its task), and
``configure_models`` / ``configure_losses`` build the parts.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch
from torchgeo.trainers import BaseTask

from eotdl_tutorials.data import BandStats
from eotdl_tutorials.models.encoder import SensorEncoder


def adamw(
    parameters: Iterable[torch.nn.Parameter], lr: float, weight_decay: float
) -> torch.optim.AdamW:
    """The course's AdamW: fused, one kernel over every parameter (CPU and CUDA; on a 2-core
    CPU, ResNet-18's update takes 11.5 ms instead of the default implementation's 50.7 ms)."""
    return torch.optim.AdamW(parameters, lr=lr, weight_decay=weight_decay, fused=True)


def warmup_cosine(step: int, total: int, warmup: int) -> float:
    """Learning-rate factor: linear warm-up over ``warmup`` steps, then cosine decay to 0."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


class WarmupCosineTask(BaseTask):
    """A task trained with AdamW and a warm-up cosine schedule stepped every batch (hparams
    ``lr``, ``weight_decay`` and ``warmup_fraction``)."""

    schedule_steps: int = 1

    def set_schedule_steps(self, total: int) -> None:
        """Fit the warm-up and the cosine into ``total`` steps (a time budget may shorten a run)."""
        self.schedule_steps = max(1, int(total))

    def configure_optimizers(self) -> dict[str, Any]:
        """AdamW with a linear warm-up then cosine decay, stepped every batch."""
        optimizer = adamw(self.parameters(), self.hparams["lr"], self.hparams["weight_decay"])
        self.set_schedule_steps(self.trainer.estimated_stepping_batches)
        fraction = self.hparams["warmup_fraction"]
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer,
            lambda step: warmup_cosine(
                step, self.schedule_steps, max(1, int(self.schedule_steps * fraction))
            ),
        )
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }


class EncoderTask(WarmupCosineTask):
    """A task that trains a :class:`SensorEncoder` (built from the ``sensor``/``stats`` hparams)."""

    ignore = None
    encoder: SensorEncoder

    def make_encoder(self) -> SensorEncoder:
        """The encoder described by the hyperparameters."""
        return SensorEncoder(
            self.hparams["sensor"],
            BandStats.from_dict(self.hparams["stats"]),
            arch=self.hparams["arch"],
            input_size=self.hparams["input_size"],
            pretrained=self.hparams["pretrained"],
        )
