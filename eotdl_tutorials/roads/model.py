"""The road model: a U-Net (segmentation-models-pytorch) on Sentinel-2 reflectance, its Lightning
task (BCE + Dice, a loss for thin structures) and the crops it trains on."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import lightning as L
import numpy as np
import segmentation_models_pytorch as smp
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from eotdl_tutorials.models.base import WarmupCosineTask
from eotdl_tutorials.models.normalise import BandNormalised


class RoadNet(BandNormalised):
    """Reflectance in, road logits out: no-data (NaN) filled with the band means, per-band
    z-score, a U-Net; any input size (padded to the U-Net's multiple, cropped back).

    Args:
        bands: common names of the bands read, in order.
        mean, std: per-band statistics of the training split (reflectance).
        encoder: smp encoder name (``resnet18``, ``resnet34``, ``tu-...``).
        depth: encoder depth (stages); the input is padded to a multiple of ``2**depth``.
        decoder_channels: channels of the decoder stages (one per stage).
    """

    def __init__(
        self,
        bands: Sequence[str],
        mean: Sequence[float],
        std: Sequence[float],
        encoder: str = "resnet18",
        depth: int = 4,
        decoder_channels: Sequence[int] = (128, 64, 32, 16),
    ) -> None:
        if not (len(bands) == len(mean) == len(std)) or not bands:
            raise ValueError("bands, mean and std must be non-empty and of the same length")
        if len(decoder_channels) != depth:
            raise ValueError(f"decoder_channels needs {depth} values (one per stage)")
        super().__init__(mean, std)
        self.bands = tuple(bands)
        self.encoder_name, self.depth = encoder, depth
        self.decoder_channels = tuple(decoder_channels)
        self.unet = smp.Unet(
            encoder_name=encoder,
            encoder_weights=None,
            encoder_depth=depth,
            decoder_channels=self.decoder_channels,
            in_channels=len(self.bands),
            classes=1,
        )

    @property
    def multiple(self) -> int:
        """Input sizes are padded to a multiple of this."""
        return 2**self.depth

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.ndim != 4 or images.shape[1] != len(self.bands):
            raise ValueError(
                f"the road model expects (batch, {len(self.bands)}, height, width) with bands "
                f"{', '.join(self.bands)}; got shape {tuple(images.shape)}"
            )
        x = self.normalise(torch.where(torch.isnan(images), self.mean.expand_as(images), images))
        height, width = x.shape[-2:]
        pad_h, pad_w = (-height) % self.multiple, (-width) % self.multiple
        if pad_h or pad_w:
            x = F.pad(
                x, (0, pad_w, 0, pad_h), mode="reflect" if min(height, width) > 1 else "constant"
            )
        return self.unet(x)[..., :height, :width]

    def config(self) -> dict[str, Any]:
        """Everything needed to rebuild the module before loading its state dict."""
        return {
            "bands": list(self.bands),
            "mean": self.mean.flatten().tolist(),
            "std": self.std.flatten().tolist(),
            "encoder": self.encoder_name,
            "depth": self.depth,
            "decoder_channels": list(self.decoder_channels),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> RoadNet:
        """Rebuild an (untrained) model from :meth:`config`."""
        return cls(
            config["bands"],
            config["mean"],
            config["std"],
            config["encoder"],
            int(config["depth"]),
            config["decoder_channels"],
        )


class RoadSegmentationTask(WarmupCosineTask):
    """Train a :class:`RoadNet` with BCE + Dice on road masks.

    Args:
        bands, mean, std, encoder, depth, decoder_channels: the :class:`RoadNet`.
        lr, weight_decay, warmup_fraction: AdamW and its warm-up cosine schedule.
        dice_weight: weight of the Dice term beside BCE (Dice counts every road pixel of the
            batch together, so thin, rare roads are not drowned by the background).
        pos_weight: BCE weight of road pixels.
    """

    ignore = None

    def __init__(
        self,
        bands: Sequence[str],
        mean: Sequence[float],
        std: Sequence[float],
        encoder: str = "resnet18",
        depth: int = 4,
        decoder_channels: Sequence[int] = (128, 64, 32, 16),
        lr: float = 1e-3,
        weight_decay: float = 1e-4,
        warmup_fraction: float = 0.05,
        dice_weight: float = 1.0,
        pos_weight: float = 3.0,
    ) -> None:
        super().__init__()

    def configure_models(self) -> None:
        h = self.hparams
        self.model = RoadNet(
            h["bands"], h["mean"], h["std"], h["encoder"], h["depth"], h["decoder_channels"]
        )

    def configure_losses(self) -> None:
        self.register_buffer("pos_weight", torch.tensor([float(self.hparams["pos_weight"])]))
        self.dice = smp.losses.DiceLoss("binary", from_logits=True)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(images)

    def loss(self, logits: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        """BCE + ``dice_weight`` x Dice."""
        bce = F.binary_cross_entropy_with_logits(logits, masks, pos_weight=self.pos_weight)
        return bce + self.hparams["dice_weight"] * self.dice(logits, masks)

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        loss = self.loss(self(batch["image"]), batch["mask"])
        size = batch["image"].shape[0]
        self.log("train_loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=size)
        return loss

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        logits = self(batch["image"])
        pred, truth = logits > 0, batch["mask"] > 0.5
        inter, union = (pred & truth).sum(), (pred | truth).sum()
        size = batch["image"].shape[0]
        self.log("val_loss", self.loss(logits, batch["mask"]), batch_size=size)
        self.log("val_iou", inter / union.clamp(min=1), prog_bar=True, batch_size=size)


class RoadCrops(Dataset):
    """Random square crops of chips and their masks, flipped and rotated (``length`` per epoch;
    torch's global generator draws them, so :func:`~eotdl_tutorials.training.seed` repeats them)."""

    def __init__(self, images: np.ndarray, masks: np.ndarray, crop: int, length: int) -> None:
        if images.shape[0] != masks.shape[0] or images.shape[-2:] != masks.shape[-2:]:
            raise ValueError(f"images {images.shape} and masks {masks.shape} do not match")
        if crop > min(images.shape[-2:]):
            raise ValueError(f"crop {crop} px is larger than the chips {images.shape[-2:]}")
        self.images = torch.from_numpy(np.ascontiguousarray(images, np.float32))
        self.masks = torch.from_numpy(np.ascontiguousarray(masks, np.float32))[:, None]
        self.crop, self.length = crop, length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        n = int(torch.randint(len(self.images), ()))
        height, width = self.images.shape[-2:]
        top = int(torch.randint(height - self.crop + 1, ()))
        left = int(torch.randint(width - self.crop + 1, ()))
        window = (slice(top, top + self.crop), slice(left, left + self.crop))
        image, mask = (
            self.images[n][:, window[0], window[1]],
            self.masks[n][:, window[0], window[1]],
        )
        turns, flip = int(torch.randint(4, ())), bool(torch.randint(2, ()))
        image, mask = image.rot90(turns, (1, 2)), mask.rot90(turns, (1, 2))
        if flip:
            image, mask = image.flip(2), mask.flip(2)
        return {"image": image.contiguous(), "mask": mask.contiguous()}


class _WholeChips(Dataset):
    def __init__(self, images: np.ndarray, masks: np.ndarray) -> None:
        self.images = torch.from_numpy(np.ascontiguousarray(images, np.float32))
        self.masks = torch.from_numpy(np.ascontiguousarray(masks, np.float32))[:, None]

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"image": self.images[index], "mask": self.masks[index]}


class RoadDataModule(L.LightningDataModule):
    """Training crops (``batches_per_epoch`` batches an epoch) and whole validation chips."""

    def __init__(
        self,
        train: tuple[np.ndarray, np.ndarray],
        val: tuple[np.ndarray, np.ndarray] | None = None,
        crop: int = 64,
        batch_size: int = 16,
        batches_per_epoch: int = 10,
        num_workers: int = 0,
    ) -> None:
        super().__init__()
        self.train_set = RoadCrops(*train, crop, batch_size * batches_per_epoch)
        self.val_set = _WholeChips(*val) if val is not None else None
        self.batch_size, self.num_workers = batch_size, num_workers

    def _pin(self) -> bool:
        trainer = self.trainer
        return trainer is not None and trainer.strategy.root_device.type == "cuda"

    def train_dataloader(self) -> DataLoader:
        return DataLoader(
            self.train_set,
            batch_size=self.batch_size,
            num_workers=self.num_workers,
            pin_memory=self._pin(),
            persistent_workers=self.num_workers > 0,
        )

    def val_dataloader(self) -> DataLoader:
        if self.val_set is None:
            return []
        return DataLoader(self.val_set, batch_size=4, pin_memory=self._pin())

    def on_after_batch_transfer(self, batch: dict, dataloader_idx: int) -> dict:
        """On CUDA, hand the model channels-last images (faster convolutions)."""
        if batch["image"].is_cuda:
            batch["image"] = batch["image"].contiguous(memory_format=torch.channels_last)
        return batch


@torch.no_grad()
def predict_probabilities(
    model: nn.Module, images: np.ndarray, batch_size: int = 8, device: str | None = None
) -> np.ndarray:
    """Road probabilities (N, H, W) of whole chips (N, bands, H, W), on ``device`` (default: the
    model's), bf16 autocast on CUDA."""
    model.eval()
    device = device or next(model.parameters()).device.type
    model.to(device)
    out = []
    for start in range(0, len(images), batch_size):
        batch = torch.from_numpy(np.ascontiguousarray(images[start : start + batch_size]))
        batch = batch.to(device, dtype=torch.float32)
        with torch.autocast(device, dtype=torch.bfloat16, enabled=device == "cuda"):
            logits = model(batch)
        out.append(torch.sigmoid(logits.float())[:, 0].cpu().numpy())
    return np.concatenate(out)


def init_from_encoder(model: RoadNet, encoder_dir: str | os.PathLike[str]) -> list[str]:
    """Start the U-Net's encoder from a use case A encoder (e.g. the Sentinel-2 Barlow Twins one):
    same ResNet architecture, first-convolution channels picked by band name. Returns the road
    model's bands the encoder did not read (their channels start at zero)."""
    from eotdl_tutorials.models.encoder_io import load_encoder

    encoder = load_encoder(encoder_dir)
    if encoder.arch != model.encoder_name:
        raise ValueError(
            f"the encoder in {encoder_dir} is a {encoder.arch}; the U-Net's is a "
            f"{model.encoder_name}: train the road model with encoder={encoder.arch!r}"
        )
    source = encoder.backbone.state_dict()
    target = model.unet.encoder.state_dict()
    first = torch.zeros_like(target["conv1.weight"])
    missing = []
    for i, band in enumerate(model.bands):
        if band in encoder.bands:
            first[:, i] = source["conv1.weight"][:, encoder.bands.index(band)]
        else:
            missing.append(band)
    weights = {k: v for k, v in source.items() if k in target and target[k].shape == v.shape}
    model.unet.encoder.load_state_dict(weights | {"conv1.weight": first}, strict=False)
    return missing
