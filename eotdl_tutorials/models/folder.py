"""The model folder format: its file names, its ``model.json`` record and card read back with
clear errors, and an ONNX Runtime session of its graph (no PyTorch needed).

A model folder holds:

- ``model.json``: the :class:`~eotdl_tutorials.models.card.ModelCard` (task, bands and how a
  GeoTIFF's bands map to them, normalisation, input size, classes and output indices, SCANEO
  preprocessing, scale factor), how to rebuild the network
  (:class:`~eotdl_tutorials.models.export.Builder`), and the largest difference between ONNX
  Runtime and PyTorch measured at export. Written last: its presence marks a complete folder;
- ``model.pt``: the network's state dict;
- ``model.onnx``: the network as ONNX (input = normalised values, any batch/height/width that
  the card allows; outputs named after the card's outputs);
- ``item.json``: a STAC Item with the Machine Learning Model extension (MLM 1.4).

The network takes *normalised* values: the card's ``normalisation`` is applied before it
(:meth:`ModelCard.normalise` in NumPy, :class:`~eotdl_tutorials.models.export.Normalised` in
PyTorch). :func:`eotdl_tutorials.models.export.export_model` writes a folder.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import onnxruntime as ort

from eotdl_tutorials.models.card import ModelCard

MODEL_FORMAT = "eotdl-tutorials-model"
MODEL_FORMAT_VERSION = 1
CONFIG_NAME = "model.json"
WEIGHTS_NAME = "model.pt"
ONNX_NAME = "model.onnx"
ITEM_NAME = "item.json"


def read_model_record(model_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``model.json`` record of a model folder, checked (clear errors otherwise)."""
    path = Path(model_dir) / CONFIG_NAME
    if not Path(model_dir).is_dir():
        raise FileNotFoundError(f"model folder {model_dir} does not exist")
    if not path.is_file():
        raise FileNotFoundError(
            f"{model_dir} holds no exported model ({CONFIG_NAME} is missing): export one with "
            "eotdl_tutorials.models.export.export_model"
        )
    try:
        record = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path} is not valid JSON ({err}): export the model again") from None
    if not isinstance(record, dict) or record.get("format") != MODEL_FORMAT:
        raise ValueError(f"{path} is not a model card (format is not {MODEL_FORMAT!r})")
    if record.get("format_version") != MODEL_FORMAT_VERSION:
        raise ValueError(
            f"{path} has format version {record.get('format_version')}; this package reads "
            f"version {MODEL_FORMAT_VERSION}: export the model again"
        )
    return record


def read_card(model_dir: str | os.PathLike[str]) -> ModelCard:
    """The :class:`ModelCard` of a model folder."""
    record = read_model_record(model_dir)
    try:
        return ModelCard.from_dict(record)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{Path(model_dir) / CONFIG_NAME} holds an invalid card: {err}") from None


def onnx_session(model_dir: str | os.PathLike[str], threads: int = 0) -> ort.InferenceSession:
    """An ONNX Runtime session (CPU) of the folder's ``model.onnx`` (``threads=0``: ORT picks)."""
    path = Path(model_dir) / ONNX_NAME
    read_card(model_dir)
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: export the model with onnx=True")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as err:  # ORT raises its own exception types for a corrupt graph
        raise ValueError(f"{path} cannot be loaded by ONNX Runtime: {err}") from None
