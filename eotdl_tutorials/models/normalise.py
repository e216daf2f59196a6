"""The input normalisation every model applies first: per-band z-score by ``mean``/``std``
buffers, which travel with the state dict (under those names) and the ONNX graph."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class BandNormalised(nn.Module):
    """A module whose input is z-scored band by band: ``(images - mean) / std`` with ``mean``
    and ``std`` float32 buffers of shape (1, bands, 1, 1)."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def normalise(self, images: torch.Tensor) -> torch.Tensor:
        """``images`` (batch, bands, height, width) z-scored per band."""
        return (images - self.mean) / self.std
