"""The models a server offers: every exported model folder in one directory, loaded at start.

Model names are the folders' names (checked against :data:`NAME_PATTERN`); a request's model
name is only ever looked up among them, never joined into a path. A folder that fails to load
stops the start with a message naming it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import onnxruntime as ort

from eotdl_tutorials.models import CONFIG_NAME, ModelCard, onnx_session, read_card
from eotdl_tutorials.serving.predict import expected_input

#: What a served model's name may look like (its folder's name).
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


class ModelLoadError(RuntimeError):
    """One or more model folders cannot be served; the message lists them and why."""


@dataclass(frozen=True)
class ServedModel:
    """A loaded model: its name, card and ONNX Runtime session."""

    name: str
    card: ModelCard
    session: ort.InferenceSession

    def describe(self) -> dict[str, Any]:
        """What ``GET /models`` says about the model."""
        record = self.card.to_dict()
        return {
            "name": self.name,
            "task": self.card.task,
            "urls": {kind: f"/models/{self.name}/{kind}" for kind in self.card.endpoints},
            "bands": record["bands"],
            "inputs": expected_input(self.card),
            "band_mapping": record["band_mapping"],
            "scaneo_preprocessing": self.card.preprocessing,
            "units": self.card.units,
            "normalisation": self.card.normalisation,
            "input_size": self.card.input_size,
            "multiple": self.card.multiple,
            "classes": record["classes"],
            "output_indices": record["output_indices"],
            "index_convention": record["index_convention"],
        }


def load_models(models_dir: str | os.PathLike[str], threads: int = 0) -> dict[str, ServedModel]:
    """Every servable model under ``models_dir`` (name -> model), or :class:`ModelLoadError`.

    Folders with a ``model.json`` are models; those without a classification or segmentation
    output (encoders, super-resolution) are left out. ``threads`` sets ONNX Runtime's intra-op
    threads per model (0: its default).
    """
    root = Path(models_dir)
    if not root.is_dir():
        raise ModelLoadError(f"models folder {root} does not exist: export models into it first")
    models: dict[str, ServedModel] = {}
    failures: list[str] = []
    for folder in sorted(path for path in root.iterdir() if (path / CONFIG_NAME).is_file()):
        if not NAME_PATTERN.fullmatch(folder.name):
            failures.append(f"{folder.name!r}: rename it to letters, digits, '.', '_' or '-'")
            continue
        try:
            card = read_card(folder)
            if not card.endpoints:
                continue
            session = onnx_session(folder, threads)
            outputs = {output.name for output in session.get_outputs()}
            if set(card.endpoints) - outputs or [i.name for i in session.get_inputs()] != ["input"]:
                raise ValueError(
                    f"model.onnx has inputs {[i.name for i in session.get_inputs()]} and outputs "
                    f"{sorted(outputs)}, not 'input' and {', '.join(card.endpoints)}: export again"
                )
        except (OSError, ValueError) as err:
            failures.append(f"{folder.name}: {err}")
            continue
        models[folder.name] = ServedModel(folder.name, card, session)
    if failures:
        raise ModelLoadError(
            f"cannot serve {len(failures)} model folder(s) in {root} (fix or move them):\n  "
            + "\n  ".join(failures)
        )
    if not models:
        raise ModelLoadError(
            f"{root} holds no classification, segmentation or multitask model (sub-folders with "
            f"a {CONFIG_NAME}): export one with eotdl_tutorials.models.export.export_model"
        )
    return models
