"""Land-cover models from segmentation-models-pytorch parts around a timm encoder.

One :class:`LandCoverNet` covers the three models of use case C by its ``tasks``:

- ``("classification",)``: encoder + pooled head, one logit per class (multi-label);
- ``("segmentation",)``: a U-Net (encoder + decoder + head), ``classes + 1`` logits per pixel,
  index 0 = "no label" (never a target), class ``i`` -> ``i + 1`` (SCANEO's convention);
- ``("classification", "segmentation")``: the multi-task model, one shared encoder, both heads.

The input normalisation (per-band mean and std of the input units) is a buffer of the model
(:class:`~eotdl_tutorials.models.normalise.BandNormalised`), so the state dict and ONNX graph
take the values the model card names. Dropout before each head makes MC dropout (BALD)
possible.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from segmentation_models_pytorch.base import ClassificationHead, SegmentationHead
from segmentation_models_pytorch.decoders.unet.decoder import UnetDecoder
from segmentation_models_pytorch.encoders import get_encoder
from torch import nn

from eotdl_tutorials.models.encoder import SensorEncoder
from eotdl_tutorials.models.normalise import BandNormalised

TASKS = ("classification", "segmentation")
CLASSIFICATION, SEGMENTATION = TASKS


def check_tasks(tasks: Sequence[str]) -> tuple[str, ...]:
    """``tasks`` in canonical order, with a clear error for unknown or missing ones."""
    unknown = [t for t in tasks if t not in TASKS]
    if unknown or not tasks:
        raise ValueError(f"unknown tasks {unknown or list(tasks)}: use some of {', '.join(TASKS)}")
    return tuple(t for t in TASKS if t in tasks)


class LandCoverNet(BandNormalised):
    """A timm encoder (via smp) with a classification head, a U-Net head, or both.

    Args:
        tasks: which heads (see the module docstring).
        bands: the input bands, in order.
        num_classes: land-cover classes (without "no label").
        mean, std: per-band normalisation of the input values.
        arch: timm encoder name (smp's ``tu-`` encoders).
        depth: encoder stages (fewer: a smaller, faster U-Net).
        decoder_channels: U-Net decoder widths, one per stage.
        dropout: dropout before the heads (also what MC dropout samples).
        tuple_output: return the outputs as the exported model folder orders them
            (segmentation, then classification; a single tensor for one task) instead of a dict.
    """

    def __init__(
        self,
        tasks: Sequence[str],
        bands: Sequence[str],
        num_classes: int,
        mean: Sequence[float],
        std: Sequence[float],
        arch: str = "resnet18",
        depth: int = 4,
        decoder_channels: Sequence[int] = (128, 64, 32, 16),
        dropout: float = 0.2,
        tuple_output: bool = False,
    ) -> None:
        tasks = check_tasks(tasks)
        if num_classes < 2:
            raise ValueError(f"num_classes must be at least 2, got {num_classes}")
        if not len(bands) == len(mean) == len(std):
            raise ValueError(f"{len(bands)} bands but {len(mean)} means and {len(std)} stds")
        super().__init__(mean, std)
        self.tasks = tasks
        self.settings: dict[str, Any] = {
            "tasks": list(self.tasks),
            "bands": list(bands),
            "num_classes": num_classes,
            "mean": [float(m) for m in mean],
            "std": [float(s) for s in std],
            "arch": arch,
            "depth": depth,
            "decoder_channels": list(decoder_channels)[:depth],
            "dropout": dropout,
            "tuple_output": tuple_output,
        }
        self.encoder = get_encoder(f"tu-{arch}", in_channels=len(bands), depth=depth, weights=None)
        channels = self.encoder.out_channels
        if CLASSIFICATION in self.tasks:
            self.classifier = ClassificationHead(channels[-1], num_classes, dropout=dropout)
        if SEGMENTATION in self.tasks:
            widths = list(decoder_channels)[:depth]
            self.decoder = UnetDecoder(channels, widths, n_blocks=depth)
            self.seg_dropout = nn.Dropout2d(dropout)
            self.segmenter = SegmentationHead(widths[-1], num_classes + 1, kernel_size=3)

    @property
    def stride(self) -> int:
        """Input height and width must be multiples of this."""
        return 2 ** self.settings["depth"]

    def forward(self, images: torch.Tensor) -> Any:
        """``{"classification": (B, classes), "segmentation": (B, classes + 1, H, W)}``
        (the heads the model has), logits; see ``tuple_output``."""
        if images.ndim != 4 or images.shape[1] != len(self.settings["bands"]):
            raise ValueError(
                f"the model expects (batch, {len(self.settings['bands'])}, height, width) with "
                f"bands {', '.join(self.settings['bands'])}; got {tuple(images.shape)}"
            )
        features = self.encoder(self.normalise(images))
        out = {}
        if CLASSIFICATION in self.tasks:
            out[CLASSIFICATION] = self.classifier(features[-1])
        if SEGMENTATION in self.tasks:
            out[SEGMENTATION] = self.segmenter(self.seg_dropout(self.decoder(features)))
        if self.settings["tuple_output"]:
            ordered = tuple(out[name] for name in (SEGMENTATION, CLASSIFICATION) if name in out)
            return ordered if len(ordered) > 1 else ordered[0]
        return out

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.parameters())

    @classmethod
    def from_settings(cls, settings: dict[str, Any]) -> LandCoverNet:
        """Rebuild an untrained model from :attr:`settings`."""
        return cls(**settings)


def init_from_encoder(model: LandCoverNet, encoder: SensorEncoder) -> int:
    """Copy a pre-trained :class:`~eotdl_tutorials.models.encoder.SensorEncoder` (e.g. use case A's
    Barlow Twins encoder of the 1 m sensor) into ``model``: its backbone weights into the
    encoder and its band statistics into the normalisation. Returns the tensors copied.

    The bands must match; the model's inputs must then be in the encoder's units.
    """
    if tuple(encoder.bands) != tuple(model.settings["bands"]):
        raise ValueError(
            f"the encoder reads {', '.join(encoder.bands)} but the model reads "
            f"{', '.join(model.settings['bands'])}"
        )
    if encoder.arch != model.settings["arch"]:
        raise ValueError(f"the encoder is a {encoder.arch}, the model a {model.settings['arch']}")
    target = model.encoder.model.state_dict()
    source = encoder.backbone.state_dict()
    shared = {k: v for k, v in source.items() if k in target and v.shape == target[k].shape}
    if not shared:
        raise ValueError(f"no weights of the {encoder.arch} encoder fit the model's encoder")
    model.encoder.model.load_state_dict(shared, strict=False)
    model.mean.copy_(encoder.mean)
    model.std.copy_(encoder.std)
    model.settings["mean"] = encoder.mean.flatten().tolist()
    model.settings["std"] = encoder.std.flatten().tolist()
    return len(shared)
