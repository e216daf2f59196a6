"""A network as ONNX: exported with free batch, height and width, checked against PyTorch."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import nn

from eotdl_tutorials.files import atomic_path
from eotdl_tutorials.models.card import ModelCard

#: ONNX Runtime must reproduce PyTorch's outputs within this, relative to their magnitude (>= 1).
ONNX_TOLERANCE = 1e-4


def example_sizes(card: ModelCard) -> tuple[int, int]:
    """The export example's size and the (different) ONNX check size."""
    step = card.multiple
    size = -(-max(card.input_size, 8) // step) * step
    return size, size + (8 if step == 1 else step)


def export_onnx(network: nn.Module, path: str | os.PathLike[str], card: ModelCard) -> Path:
    """Export the network (normalised input, dynamic batch/height/width) to ONNX and check it.

    Height and width are free (8..8192 px) or, when ``card.multiple > 1``, multiples of it.
    """
    size = example_sizes(card)[0]
    example = torch.zeros(2, len(card.bands), size, size)
    batch = torch.export.Dim("batch", min=1)
    if card.multiple > 1:
        blocks = 8192 // card.multiple
        height = card.multiple * torch.export.Dim("height_blocks", min=1, max=blocks)
        width = card.multiple * torch.export.Dim("width_blocks", min=1, max=blocks)
    else:
        height = torch.export.Dim("height", min=8, max=8192)
        width = torch.export.Dim("width", min=8, max=8192)
    with atomic_path(path) as tmp, torch.no_grad():
        torch.onnx.export(
            network.eval(),
            (example,),
            str(tmp),
            input_names=["input"],
            output_names=list(card.outputs),
            dynamic_shapes=({0: batch, 2: height, 3: width},),
            dynamo=True,
            external_data=False,
            verbose=False,
        )
        onnx.checker.check_model(onnx.load(str(tmp)), full_check=True)
    return Path(path)


def check_onnx(
    network: nn.Module,
    path: str | os.PathLike[str],
    card: ModelCard,
    sample: torch.Tensor | None = None,
) -> float:
    """Largest absolute difference between ONNX Runtime and PyTorch outputs on ``sample``
    (default: seeded random normalised values, another size than the export example); raises
    ``ValueError`` above :data:`ONNX_TOLERANCE` times the outputs' largest magnitude (at least 1:
    float32 rounding grows with the values, and a barely trained network can output thousands)."""
    if sample is None:
        size = example_sizes(card)[1]
        generator = torch.Generator().manual_seed(0)
        sample = torch.randn(1, len(card.bands), size, size, generator=generator)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    results = session.run(None, {"input": sample.numpy().astype(np.float32)})
    with torch.no_grad():
        expected = network.eval()(sample)
    expected = expected if isinstance(expected, tuple | list) else (expected,)
    pairs = list(zip(results, expected, strict=True))
    difference = max(float(np.max(np.abs(r - e.numpy()), initial=0.0)) for r, e in pairs)
    scale = max([1.0] + [float(e.abs().max()) for _, e in pairs if e.numel()])
    if not difference <= ONNX_TOLERANCE * scale:
        raise ValueError(
            f"ONNX Runtime differs from PyTorch by {difference:.3g} (> {ONNX_TOLERANCE} x "
            f"{scale:.3g}, the outputs' largest magnitude) on {path}: the export is not faithful"
        )
    return difference
