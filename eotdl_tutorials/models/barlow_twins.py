"""Barlow Twins self-supervised pre-training (Zbontar et al. 2021, arXiv:2103.03230).

Two augmented views of each chip go through the encoder and a projector; the loss pushes the
cross-correlation matrix of the two batch-normalised embeddings towards the identity:
``sum_i (1 - c_ii)^2 + lambda * sum_{i != j} c_ij^2`` with lambda = 5e-3 as in the paper.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from eotdl_tutorials.data import ChipAugment
from eotdl_tutorials.models.base import EncoderTask

#: The paper's projector: three linear layers of 8192 units.
PAPER_PROJECTOR = (8192, 8192, 8192)
PAPER_LAMBDA = 5e-3
#: Validation batches smaller than this are skipped.
MIN_VALIDATION_BATCH = 16


def standardize(z: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Batch normalisation without affine parameters: zero mean, unit variance per column."""
    mean = z.mean(dim=0, keepdim=True)
    var = z.var(dim=0, unbiased=False, keepdim=True)
    return (z - mean) / torch.sqrt(var + eps)


def cross_correlation(z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
    """The (D, D) cross-correlation of two (N, D) embedding batches, computed in float32."""
    if z1.shape != z2.shape or z1.ndim != 2:
        raise ValueError(f"need two (N, D) batches of the same shape, got {z1.shape}, {z2.shape}")
    if z1.shape[0] < 2:
        raise ValueError("Barlow Twins needs at least 2 chips per batch to normalise embeddings")
    with torch.autocast(z1.device.type, enabled=False):
        z1, z2 = standardize(z1.float()), standardize(z2.float())
        return z1.T @ z2 / z1.shape[0]


def barlow_twins_loss(
    z1: torch.Tensor, z2: torch.Tensor, lambd: float = PAPER_LAMBDA
) -> torch.Tensor:
    """On-diagonal ``(1 - c_ii)^2`` plus ``lambd`` times off-diagonal ``c_ij^2`` (summed)."""
    c = cross_correlation(z1, z2)
    on_diag = (torch.diagonal(c) - 1).pow(2).sum()
    off_diag = c.pow(2).sum() - torch.diagonal(c).pow(2).sum()
    return on_diag + lambd * off_diag


class Projector(nn.Sequential):
    """Linear-BN-ReLU blocks, then a last linear layer (the paper's 3-layer projector)."""

    def __init__(self, in_dim: int, dims: Sequence[int] = PAPER_PROJECTOR) -> None:
        if len(dims) < 1:
            raise ValueError("the projector needs at least one layer")
        layers: list[nn.Module] = []
        for size in dims[:-1]:
            layers += [nn.Linear(in_dim, size, bias=False), nn.BatchNorm1d(size), nn.ReLU(True)]
            in_dim = size
        layers.append(nn.Linear(in_dim, dims[-1], bias=False))
        super().__init__(*layers)


class BarlowTwinsTask(EncoderTask):
    """Pre-train a per-sensor encoder with Barlow Twins.

    Args:
        sensor: "hr", "s2" or "s1".
        stats: band statistics of the training split (``BandStats.to_dict()``).
        arch: timm backbone name.
        input_size: size of the augmented views (pixels).
        projector_dims: output sizes of the projector's layers (paper: 8192, 8192, 8192).
        lambd: weight of the off-diagonal term (paper: 5e-3).
        lr: peak AdamW learning rate.
        weight_decay: AdamW weight decay.
        warmup_fraction: share of the steps spent warming the learning rate up.
        crop_scale: area range of the random resized crops.
        pretrained: start the backbone from timm's ImageNet weights (needs network access).
    """

    def __init__(
        self,
        sensor: str,
        stats: dict[str, list],
        arch: str = "resnet18",
        input_size: int = 32,
        projector_dims: Sequence[int] = PAPER_PROJECTOR,
        lambd: float = PAPER_LAMBDA,
        lr: float = 1e-3,
        weight_decay: float = 1e-4,
        warmup_fraction: float = 0.1,
        crop_scale: tuple[float, float] = (0.35, 1.0),
        pretrained: bool = False,
    ) -> None:
        super().__init__()

    def configure_models(self) -> None:
        self.encoder = self.make_encoder()
        self.projector = Projector(self.encoder.embed_dim, self.hparams["projector_dims"])
        self.augment = ChipAugment(
            self.hparams["sensor"], self.hparams["input_size"], tuple(self.hparams["crop_scale"])
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """The encoder's embeddings (the projector is only used by the loss)."""
        return self.encoder(images)

    def _gather(self, z: torch.Tensor) -> torch.Tensor:
        """Under DDP, the embeddings of every process (the loss sees the global batch)."""
        if self.trainer.world_size > 1:
            return self.all_gather(z, sync_grads=True).flatten(0, 1)
        return z

    def shared_step(self, images: torch.Tensor) -> torch.Tensor:
        z1 = self.projector(self.encoder(self.augment(images)))
        z2 = self.projector(self.encoder(self.augment(images)))
        return barlow_twins_loss(self._gather(z1), self._gather(z2), self.hparams["lambd"])

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        loss = self.shared_step(batch["image"])
        self.log(
            "train_loss",
            loss,
            on_step=True,
            on_epoch=True,
            prog_bar=True,
            batch_size=batch["image"].shape[0],
        )
        return loss

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        # The loss of a handful of chips is dominated by sampling noise of the correlations.
        if batch["image"].shape[0] < MIN_VALIDATION_BATCH:
            return
        loss = self.shared_step(batch["image"])
        self.log(
            "val_loss", loss, prog_bar=True, batch_size=batch["image"].shape[0], sync_dist=True
        )
