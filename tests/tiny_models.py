"""Tiny exported models with random weights, for the export and serving tests.

Any task model goes through the same export; the server must not care which use case trained
them: an RGB segmentation and classification model in SCANEO's S2RGB preprocessing, a 12-band
raw segmentation model, and a multi-task model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from eotdl_tutorials.facts.sensors import RGB
from eotdl_tutorials.models import ModelCard, z_score
from eotdl_tutorials.models.bands import L2A_12
from eotdl_tutorials.models.export import Builder, ExportedModel, export_model

#: Class names in label order (as part 1's spai.json lists them).
CLASSES = ("water", "forest", "urban")
L2A_STATS = z_score(np.linspace(0.05, 0.3, 12), np.linspace(0.02, 0.1, 12))


def unet_builder(bands: int, classes: int, aux: bool = False) -> Builder:
    """A tiny smp U-Net (timm ``test_resnet`` encoder, depth 3: inputs multiples of 8)."""
    kwargs = {
        "encoder_name": "tu-test_resnet",
        "encoder_weights": None,
        "encoder_depth": 3,
        "decoder_channels": [16, 8, 8],
        "in_channels": bands,
        "classes": classes + 1,
    }
    if aux:
        kwargs["aux_params"] = {"classes": classes}
    return Builder("segmentation_models_pytorch:Unet", kwargs)


def classifier_builder(bands: int, classes: int) -> Builder:
    """A tiny timm classifier."""
    return Builder(
        "timm:create_model",
        {"model_name": "test_resnet", "num_classes": classes, "in_chans": bands},
    )


def pixel_builder(bands: int, classes: int) -> Builder:
    """A per-pixel linear model (1x1 convolution): its class map can be checked pixel by pixel,
    so any shift or seam of the server's tiling shows."""
    return Builder(
        "torch.nn:Conv2d", {"in_channels": bands, "out_channels": classes + 1, "kernel_size": 1}
    )


def export_tiny(folder: Path, card: ModelCard, builder: Builder, seed: int = 0) -> ExportedModel:
    """Build ``builder``'s network with seeded random weights and export it with ``card``."""
    torch.manual_seed(seed)
    return export_model(builder.build(), folder / card.name, card, builder)


def rgb_segmentation_card(name: str = "rgb-seg") -> ModelCard:
    return ModelCard(
        name, "segmentation", "unet-test_resnet", RGB, input_size=64, units="scaneo-rgb",
        multiple=8, classes=CLASSES, preprocessing="S2RGB",
    )  # fmt: skip


def rgb_classification_card(name: str = "rgb-cls") -> ModelCard:
    return ModelCard(
        name, "classification", "test_resnet", RGB, input_size=32, units="scaneo-rgb",
        classes=CLASSES, preprocessing="S2RGB",
    )  # fmt: skip


def l2a_multitask_card(name: str = "l2a-multi") -> ModelCard:
    return ModelCard(
        name, "multitask", "unet-test_resnet", L2A_12, input_size=64, multiple=8,
        normalisation=L2A_STATS, classes=CLASSES, dn_scale=1e-4, dn_offset=-0.1,
    )  # fmt: skip


def pixel_rgb_card(name: str = "pixel-rgb") -> ModelCard:
    return ModelCard(
        name, "segmentation", "conv1x1", RGB, input_size=64, units="scaneo-rgb", multiple=8,
        normalisation=z_score([0.4] * 3, [0.25] * 3), classes=CLASSES, preprocessing="S2RGB",
    )  # fmt: skip


def pixel_l2a_card(name: str = "pixel-l2a") -> ModelCard:
    return ModelCard(
        name, "segmentation", "conv1x1", L2A_12, input_size=64, multiple=8,
        normalisation=L2A_STATS, classes=CLASSES, dn_scale=1e-4, dn_offset=-0.1,
    )  # fmt: skip


def export_all(folder: Path) -> dict[str, ExportedModel]:
    """The tiny models of the serving tests exported into ``folder`` (name -> export)."""
    specs = [
        (rgb_segmentation_card(), unet_builder(3, len(CLASSES))),
        (rgb_classification_card(), classifier_builder(3, len(CLASSES))),
        (l2a_multitask_card(), unet_builder(12, len(CLASSES), aux=True)),
        (pixel_rgb_card(), pixel_builder(3, len(CLASSES))),
        (pixel_l2a_card(), pixel_builder(12, len(CLASSES))),
    ]
    return {card.name: export_tiny(folder, card, builder) for card, builder in specs}
