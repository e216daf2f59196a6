"""Supervised land-cover classification of chips: a per-sensor encoder and a linear head.

Used as the "trained from scratch on the same labels" baseline of the few-label evaluation and as
the model of the training benchmark.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from eotdl_tutorials.data import ChipAugment, resize_to
from eotdl_tutorials.models.base import EncoderTask


class ClassifierTask(EncoderTask):
    """Encoder + linear head trained with cross-entropy on chip labels.

    Args:
        sensor: "hr", "s2" or "s1".
        stats: band statistics of the training split (``BandStats.to_dict()``).
        num_classes: number of class codes (labels are 0..num_classes-1).
        arch: timm backbone name.
        input_size: training size of the chips (random crops) and evaluation size (resize).
        lr, weight_decay, warmup_fraction: AdamW and its warm-up cosine schedule.
        crop_scale: area range of the training crops (flips and rot90 always apply).
        pretrained: start the backbone from timm's ImageNet weights (needs network access).
    """

    def __init__(
        self,
        sensor: str,
        stats: dict[str, list],
        num_classes: int,
        arch: str = "resnet18",
        input_size: int = 32,
        lr: float = 1e-3,
        weight_decay: float = 1e-4,
        warmup_fraction: float = 0.1,
        crop_scale: tuple[float, float] = (0.6, 1.0),
        pretrained: bool = False,
    ) -> None:
        super().__init__()

    def configure_models(self) -> None:
        if self.hparams["num_classes"] < 2:
            raise ValueError(f"num_classes must be at least 2, got {self.hparams['num_classes']}")
        self.encoder = self.make_encoder()
        self.head = nn.Linear(self.encoder.embed_dim, self.hparams["num_classes"])
        self.augment = ChipAugment(
            self.hparams["sensor"],
            self.hparams["input_size"],
            tuple(self.hparams["crop_scale"]),
            jitter=0.5,
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Class logits of (already sized) chips."""
        return self.head(self.encoder(images))

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        logits = self(self.augment(batch["image"]))
        loss = F.cross_entropy(logits, batch["label"])
        accuracy = (logits.argmax(1) == batch["label"]).float().mean()
        size = batch["image"].shape[0]
        self.log("train_loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=size)
        self.log("train_acc", accuracy, on_epoch=True, on_step=False, batch_size=size)
        return loss

    def _evaluate(self, batch: dict, stage: str) -> None:
        logits = self(resize_to(batch["image"], self.hparams["input_size"]))
        size = batch["image"].shape[0]
        self.log(f"{stage}_loss", F.cross_entropy(logits, batch["label"]), batch_size=size)
        accuracy = (logits.argmax(1) == batch["label"]).float().mean()
        self.log(f"{stage}_acc", accuracy, prog_bar=True, batch_size=size)

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        self._evaluate(batch, "val")

    def test_step(self, batch: dict, batch_idx: int) -> None:
        self._evaluate(batch, "test")
