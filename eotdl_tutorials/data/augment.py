"""Batch augmentations as torch ops, applied on the device after the batch is transferred.

Every sensor gets random resized crops, flips and 90-degree rotations (one ``grid_sample`` per
batch, a different affine map per chip). Optical sensors ("hr", "s2") also get brightness and
contrast jitter that keeps each chip's spectral shape; SAR ("s1", values in dB) gets extra
multiplicative speckle instead (additive in dB), never colour jitter.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

SAR_SENSORS = ("s1",)


def resize_to(images: torch.Tensor, size: int) -> torch.Tensor:
    """Bilinear, antialiased resize of a (B, C, H, W) batch to ``size`` px (no-op if equal)."""
    if images.shape[-2:] == (size, size):
        return images
    return F.interpolate(images, size=(size, size), mode="bilinear", antialias=True)


class ChipAugment(nn.Module):
    """Random views of a batch of chips (physical values in, physical values out).

    Args:
        sensor: "hr", "s2" or "s1" (decides optical jitter vs SAR speckle).
        size: output height and width in pixels.
        crop_scale: range of the crop's area as a fraction of the chip.
        crop_ratio: range of the crop's aspect ratio (width / height).
        jitter: probability of brightness/contrast jitter (optical) or speckle (SAR).
        brightness: optical gain range is ``1 +- brightness``.
        contrast: optical contrast range is ``1 +- contrast`` around each band's chip mean.
        looks: equivalent number of looks of the added SAR speckle (gamma shape).
    """

    def __init__(
        self,
        sensor: str,
        size: int,
        crop_scale: tuple[float, float] = (0.35, 1.0),
        crop_ratio: tuple[float, float] = (3 / 4, 4 / 3),
        jitter: float = 0.8,
        brightness: float = 0.2,
        contrast: float = 0.2,
        looks: float = 8.0,
    ) -> None:
        super().__init__()
        if not 0 < crop_scale[0] <= crop_scale[1] <= 1:
            raise ValueError(f"crop_scale must satisfy 0 < min <= max <= 1, got {crop_scale}")
        self.sar = sensor in SAR_SENSORS
        self.size = size
        self.crop_scale = crop_scale
        self.crop_ratio = crop_ratio
        self.jitter = jitter
        self.brightness = brightness
        self.contrast = contrast
        self.looks = looks

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        views = self.crop_flip_rotate(images)
        if self.jitter > 0:
            views = self.speckle(views) if self.sar else self.brightness_contrast(views)
        return views

    def _uniform(self, n: int, low: float, high: float, device: torch.device) -> torch.Tensor:
        return torch.empty(n, device=device).uniform_(low, high)

    def crop_flip_rotate(self, images: torch.Tensor) -> torch.Tensor:
        """One random crop (area and aspect ratio), flip and rot90 per chip, resized to ``size``."""
        n, device = images.shape[0], images.device
        area = self._uniform(n, *self.crop_scale, device)
        log_ratio = self._uniform(n, *map(math.log, self.crop_ratio), device)
        width = torch.sqrt(area * torch.exp(log_ratio)).clamp(max=1.0)
        height = torch.sqrt(area / torch.exp(log_ratio)).clamp(max=1.0)
        centre_x = (torch.rand(n, device=device) * 2 - 1) * (1 - width)
        centre_y = (torch.rand(n, device=device) * 2 - 1) * (1 - height)
        angle = torch.randint(0, 4, (n,), device=device).float() * (math.pi / 2)
        flip = torch.where(torch.rand(n, device=device) < 0.5, -1.0, 1.0)
        cos, sin = torch.cos(angle).round(), torch.sin(angle).round()
        theta = torch.zeros(n, 2, 3, device=device)
        theta[:, 0, 0] = width * cos * flip
        theta[:, 0, 1] = -width * sin
        theta[:, 1, 0] = height * sin * flip
        theta[:, 1, 1] = height * cos
        theta[:, 0, 2] = centre_x
        theta[:, 1, 2] = centre_y
        grid = F.affine_grid(theta, [n, images.shape[1], self.size, self.size], align_corners=False)
        return F.grid_sample(
            images.float(), grid, mode="bilinear", padding_mode="reflection", align_corners=False
        )

    def brightness_contrast(self, images: torch.Tensor) -> torch.Tensor:
        """Optical: scale each chip's contrast around its band means, then its brightness."""
        n, device = images.shape[0], images.device
        apply = (torch.rand(n, 1, 1, 1, device=device) < self.jitter).float()
        gain = 1 + apply * self._uniform(n, -self.brightness, self.brightness, device).view(
            -1, 1, 1, 1
        )
        contrast = 1 + apply * self._uniform(n, -self.contrast, self.contrast, device).view(
            -1, 1, 1, 1
        )
        band_mean = images.mean(dim=(2, 3), keepdim=True)
        return gain * (band_mean + contrast * (images - band_mean))

    def speckle(self, images: torch.Tensor) -> torch.Tensor:
        """SAR in dB: add ``10 log10(G)``, G ~ Gamma(looks, 1/looks) (unit-mean speckle)."""
        n, device = images.shape[0], images.device
        apply = (torch.rand(n, 1, 1, 1, device=device) < self.jitter).float()
        shape = torch.full_like(images, self.looks)
        gamma = torch.distributions.Gamma(shape, shape).sample()
        return images + apply * 10 * torch.log10(gamma.clamp_min(1e-6))
