"""A per-sensor image encoder: per-band z-score normalisation followed by a timm backbone.

The normalisation statistics are buffers of the module
(:class:`~eotdl_tutorials.models.normalise.BandNormalised`), so they travel with its state dict:
the encoder takes physical values (reflectance, dB) and returns one embedding per chip.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import timm
import torch
from torch import nn

from eotdl_tutorials.data import BandStats
from eotdl_tutorials.models.normalise import BandNormalised
from eotdl_tutorials.models.small_conv import speed_up_small_convolutions

SENSORS = ("hr", "s2", "s1")


def make_backbone(arch: str, in_chans: int, pretrained: bool = False) -> nn.Module:
    """A timm model without classifier (``num_classes=0``) taking ``in_chans`` bands.

    ``pretrained=True`` asks timm for ImageNet weights (downloaded from its hub; timm adapts the
    first convolution to ``in_chans``). The course never does this offline.
    """
    if in_chans < 1:
        raise ValueError(f"an encoder needs at least one band, got in_chans={in_chans}")
    try:
        return timm.create_model(arch, pretrained=pretrained, in_chans=in_chans, num_classes=0)
    except RuntimeError as err:
        if "Unknown model" in str(err):
            raise ValueError(f"unknown timm architecture {arch!r}") from None
        raise


class SensorEncoder(BandNormalised):
    """Normalise physical values band by band, then embed with a timm backbone.

    Args:
        sensor: "hr", "s2" or "s1".
        stats: the bands the encoder reads and their training-split mean and std.
        arch: timm architecture name (default ``resnet18``).
        input_size: the chip size the encoder was trained at (pixels, square).
        pretrained: start from timm's ImageNet weights (needs network access).
    """

    def __init__(
        self,
        sensor: str,
        stats: BandStats,
        arch: str = "resnet18",
        input_size: int = 32,
        pretrained: bool = False,
    ) -> None:
        if sensor not in SENSORS:
            raise ValueError(f"unknown sensor {sensor!r}: use one of {', '.join(SENSORS)}")
        super().__init__(stats.mean, stats.std)
        self.sensor = sensor
        self.bands: tuple[str, ...] = tuple(stats.bands)
        #: The normalisation statistics (the ``mean``/``std`` buffers hold them as float32).
        self.stats = stats
        self.arch = arch
        self.input_size = input_size
        # Channels-last weights and inputs: oneDNN's fastest convolutions on a CPU (ResNet-18's
        # training step at 24 px: 253.5 -> 217.5 ms on 2 cores, `eotdl-tutorials bench
        # encoder`), and CUDA's with bf16.
        self.backbone = speed_up_small_convolutions(
            make_backbone(arch, len(self.bands), pretrained)
        ).to(memory_format=torch.channels_last)
        self.embed_dim: int = int(self.backbone.num_features)

    def check_input(self, images: torch.Tensor) -> None:
        """Raise a clear ``ValueError`` unless ``images`` is (B, len(bands), H, W)."""
        if images.ndim != 4 or images.shape[1] != len(self.bands):
            raise ValueError(
                f"the {self.sensor} encoder expects (batch, {len(self.bands)}, height, width) "
                f"with bands {', '.join(self.bands)}; got shape {tuple(images.shape)}"
            )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        self.check_input(images)
        normalised = self.normalise(images)
        return self.backbone(normalised.contiguous(memory_format=torch.channels_last))

    def config(self) -> dict[str, Any]:
        """Everything needed to rebuild the module before loading its state dict."""
        return {
            "sensor": self.sensor,
            "arch": self.arch,
            "input_size": self.input_size,
            "embed_dim": self.embed_dim,
            "stats": self.stats.to_dict(),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> SensorEncoder:
        """Rebuild an (untrained) encoder from :meth:`config`."""
        return cls(
            config["sensor"],
            BandStats.from_dict(config["stats"]),
            arch=config["arch"],
            input_size=int(config["input_size"]),
        )


def check_bands(encoder: SensorEncoder, bands: Sequence[str]) -> None:
    """Raise a clear ``ValueError`` if data ``bands`` differ from the encoder's."""
    if tuple(bands) != encoder.bands:
        raise ValueError(
            f"the {encoder.sensor} encoder reads {len(encoder.bands)} bands "
            f"({', '.join(encoder.bands)}) but the data has {len(bands)} ({', '.join(bands)})"
        )
