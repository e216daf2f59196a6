"""Save and load a road model folder: ``road.pt`` (state dict) and ``road.json`` (how to rebuild
it, the bands and the digital-number convention of its training data)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from eotdl_tutorials.files import atomic_path, write_json
from eotdl_tutorials.roads.model import RoadNet

ROAD_MODEL_FORMAT = "eotdl-tutorials-road-model"
CONFIG_NAME, WEIGHTS_NAME = "road.json", "road.pt"


def save_road_model(
    model: RoadNet, model_dir: str | os.PathLike[str], extra: dict[str, Any] | None = None
) -> Path:
    """Write the weights, then the JSON record (last: it marks the folder complete)."""
    model_dir = Path(model_dir)
    with atomic_path(model_dir / WEIGHTS_NAME) as tmp:
        torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, tmp)
    write_json(
        model_dir / CONFIG_NAME, {"format": ROAD_MODEL_FORMAT} | model.config() | (extra or {})
    )
    return model_dir


def load_road_model(model_dir: str | os.PathLike[str]) -> tuple[RoadNet, dict[str, Any]]:
    """The trained model of a folder and its JSON record, with clear errors."""
    path = Path(model_dir) / CONFIG_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{model_dir} holds no road model ({CONFIG_NAME} missing)")
    config = json.loads(path.read_text())
    if config.get("format") != ROAD_MODEL_FORMAT:
        raise ValueError(f"{path} does not describe a road model")
    model = RoadNet.from_config(config)
    model.load_state_dict(torch.load(Path(model_dir) / WEIGHTS_NAME, map_location="cpu"))
    return model.eval(), config
