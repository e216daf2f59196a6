"""Export a road model in the course's shared model-folder format, and load it back.

The folder (:func:`eotdl_tutorials.models.export.export_model`) holds the network taking z-scored
reflectance, its ONNX graph, a card and a STAC MLM Item. A road model is a ``segmentation``
model with classes ``background`` and ``road``: its output follows the shared convention
(index 0 = no label, 1 = background, 2 = road), so use case C's inference API serves it like
any other segmentation model. The U-Net itself has one road logit; :class:`RoadClassLogits`
turns it into those three channels (softmax over them gives the road probability, sigmoid of
the logit).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from eotdl_tutorials.facts.sensors import S2_L2A_OFFSET, S2_L2A_SCALE
from eotdl_tutorials.models.card import ModelCard, z_score
from eotdl_tutorials.models.export import Builder, ExportedModel, export_model, load_network
from eotdl_tutorials.models.folder import read_card, read_model_record
from eotdl_tutorials.profiles import check_profile, data_dir
from eotdl_tutorials.roads.dataset import ROAD_CLASSES
from eotdl_tutorials.roads.model import RoadNet

#: The "no label" logit: far below any real one, so it is never the argmax.
NO_LABEL_LOGIT = -1e4


class RoadClassLogits(nn.Module):
    """(B, 3, H, W) logits (no label, background, road) from a network with one road logit."""

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network

    def forward(self, values: torch.Tensor) -> torch.Tensor:
        road = self.network(values)
        background = road * 0
        return torch.cat([background + NO_LABEL_LOGIT, background, road], dim=1)


def _builder(model: RoadNet) -> Builder:
    unet = Builder(
        "segmentation_models_pytorch:Unet",
        {
            "encoder_name": model.encoder_name,
            "encoder_weights": None,
            "encoder_depth": model.depth,
            "decoder_channels": list(model.decoder_channels),
            "in_channels": len(model.bands),
            "classes": 1,
        },
    )
    return Builder("eotdl_tutorials.roads.export:RoadClassLogits", {"network": unet.to_dict()})


def export_road_model(
    model: RoadNet,
    model_dir: str | os.PathLike[str],
    name: str,
    input_size: int,
    extra: dict[str, Any] | None = None,
    onnx: bool = True,
    bbox: tuple[float, float, float, float] | None = None,
) -> ExportedModel:
    """Write ``model`` as a shared model folder (card, weights, ONNX checked, STAC MLM Item)."""
    card = ModelCard(
        name,
        "segmentation",
        f"unet-{model.encoder_name}",
        model.bands,
        input_size=input_size,
        units="reflectance",
        normalisation=z_score(model.mean.flatten().tolist(), model.std.flatten().tolist()),
        multiple=model.multiple,
        classes=ROAD_CLASSES,
        dn_scale=S2_L2A_SCALE,
        dn_offset=S2_L2A_OFFSET,
        description="Road extraction on Sentinel-2 L2A reflectance at 10 m (use case D)",
    )
    network = RoadClassLogits(model.unet)
    return export_model(
        network, model_dir, card, _builder(model), onnx=onnx, extra=extra, bbox=bbox
    )


def road_model_dir(profile: str) -> Path:
    """``data_dir()/models/roads-<profile>``: where notebook D2 exports its main road model."""
    return data_dir() / "models" / f"roads-{check_profile(profile)}"


def load_road_model(model_dir: str | os.PathLike[str]) -> tuple[RoadNet, ModelCard]:
    """The road model of a folder (no-data filling, normalisation and padding included) and its
    card; a clear error for a missing folder or one that holds another kind of model."""
    if not Path(model_dir).is_dir():
        raise FileNotFoundError(
            f"no road model in {model_dir}: run notebook D2 (it exports one there) or pass the "
            "folder of one"
        )
    card = read_card(model_dir)
    if card.task != "segmentation" or card.classes != ROAD_CLASSES:
        raise ValueError(
            f"{model_dir} holds a {card.task} model with classes {list(card.classes)}, not a "
            f"road model (segmentation, classes {list(ROAD_CLASSES)})"
        )
    kwargs = read_model_record(model_dir)["builder"]["kwargs"]["network"]["kwargs"]
    network = load_network(model_dir)
    model = RoadNet(
        card.bands,
        card.normalisation["mean"],
        card.normalisation["std"],
        kwargs["encoder_name"],
        int(kwargs["encoder_depth"]),
        kwargs["decoder_channels"],
    )
    model.unet.load_state_dict(network.network.state_dict())
    return model.eval(), card


def road_model_files(model_dir: str | os.PathLike[str]) -> list[str]:
    """The files of a model folder (for a listing)."""
    return sorted(p.name for p in Path(model_dir).iterdir())
