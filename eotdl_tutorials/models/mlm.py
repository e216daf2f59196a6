"""The STAC Item of a model folder: the Machine Learning Model extension (MLM 1.4) describing its
bands, input size, normalisation and outputs, with the folder's files as assets."""

from __future__ import annotations

import datetime as dt
import os
from importlib.metadata import version
from pathlib import Path

import pystac
from pystac.extensions.classification import Classification
from pystac.extensions.eo import EOExtension
from pystac.extensions.mlm import (
    InputStructure,
    MLMExtension,
    ModelInput,
    ModelOutput,
    ResultStructure,
    TaskType,
)

from eotdl_tutorials.files import write_json
from eotdl_tutorials.models.card import ModelCard
from eotdl_tutorials.models.folder import CONFIG_NAME, ITEM_NAME, ONNX_NAME, WEIGHTS_NAME

#: The extent of a model Item whose training area is not given (west, south, east, north).
WHOLE_GLOBE = (-180.0, -90.0, 180.0, 90.0)
_MLM_TASKS = {
    "classification": [TaskType.CLASSIFICATION, TaskType.SCENE_CLASSIFICATION],
    "segmentation": [TaskType.SEGMENTATION, TaskType.SEMANTIC_SEGMENTATION],
    "superres": [TaskType.SUPER_RESOLUTION],
    "embedding": [TaskType.SIMILARITY_SEARCH],
}


def mlm_item(
    card: ModelCard,
    total_parameters: int,
    bbox: tuple[float, float, float, float] | None = None,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    pretrained_source: str | None = None,
) -> pystac.Item:
    """A STAC Item (MLM extension) of the card: bands, input size, normalisation, outputs.

    ``bbox`` (WGS84) and ``start``/``end`` describe the training data; without them the Item
    covers the whole globe (EOTDL ingests Items with a geometry only) and is dated now. Assets
    point at the files of a model folder.
    """
    west, south, east, north = bbox if bbox is not None else WHOLE_GLOBE
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    item = pystac.Item(
        id=card.name,
        geometry={"type": "Polygon", "coordinates": [ring]},
        bbox=[west, south, east, north],
        datetime=None if start and end else dt.datetime.now(dt.UTC),
        start_datetime=start if start and end else None,
        end_datetime=end if start and end else None,
        properties={"description": card.description} if card.description else {},
    )
    size, bands = card.input_size, len(card.bands)
    normalised = card.normalisation["type"] == "z-score"
    model_input = ModelInput.create(
        name="image",
        bands=list(card.bands),
        input=InputStructure.create(
            shape=[-1, bands, size, size],
            dim_order=["batch", "bands", "height", "width"],
            data_type="float32",
        ),
        description=f"{card.units} values"
        + (", z-scored per band" if normalised else "")
        + (f" (SCANEO {card.preprocessing} preprocessing)" if card.preprocessing != "none" else "")
        + (f"; height and width multiples of {card.multiple}" if card.multiple > 1 else ""),
    )
    outputs = [_mlm_output(card, name) for name in card.outputs]
    MLMExtension.ext(item, add_if_missing=True).apply(
        name=card.name,
        architecture=card.arch,
        tasks=[task for out in outputs for task in out.tasks],
        input=[model_input],
        output=outputs,
        framework="pytorch",
        framework_version=version("torch").split("+")[0],
        total_parameters=total_parameters,
        pretrained=pretrained_source is not None,
        pretrained_source=pretrained_source,
    )
    # MLM 1.4 describes value scaling as one object per band (pystac writes a single object).
    item.properties["mlm:input"][0]["value_scaling"] = (
        [
            {"type": "z-score", "mean": mean, "stddev": std}
            for mean, std in zip(card.normalisation["mean"], card.normalisation["std"], strict=True)
        ]
        if normalised
        else None
    )
    assets = {
        "weights": (WEIGHTS_NAME, "application/octet-stream; application=pytorch", "torch.save"),
        "onnx": (ONNX_NAME, "application/octet-stream; framework=onnx; profile=onnx", "onnx"),
    }
    # MLM requires named input bands to be described by a band extension: the eo:bands of
    # every model asset.
    item.stac_extensions.append(EOExtension.get_schema_uri())
    described = [{"name": band} for band in card.bands]
    for key, (href, media_type, artifact) in assets.items():
        roles = ["mlm:model", "mlm:weights"] if key == "weights" else ["mlm:model"]
        item.add_asset(
            key,
            pystac.Asset(
                href, media_type=media_type, roles=roles,
                extra_fields={"mlm:artifact_type": artifact, "eo:bands": described},
            ),
        )  # fmt: skip
    item.add_asset(
        "config", pystac.Asset(CONFIG_NAME, media_type="application/json", roles=["metadata"])
    )
    return item


def write_item(item: pystac.Item, model_dir: str | os.PathLike[str]) -> Path:
    """Write ``item.json`` into ``model_dir`` (asset hrefs stay relative)."""
    return write_json(Path(model_dir) / ITEM_NAME, item.to_dict(include_self_link=False))


def _mlm_output(card: ModelCard, name: str) -> ModelOutput:
    size, scale = card.input_size, card.scale_factor or 1
    image = ["batch", "bands", "height", "width"]
    shapes = {
        "classification": ([-1, len(card.classes)], ["batch", "class"]),
        "segmentation": ([-1, len(card.classes) + 1, size, size], ["batch", "class", *image[2:]]),
        "superres": ([-1, len(card.bands), size * scale, size * scale], image),
        "embedding": ([-1, -1], ["batch", "embedding"]),
    }
    shape, dims = shapes[name]
    classes = None
    if name in card.endpoints:
        classes = [
            # MLM 1.4 takes classification 1.1's class object, where description is required
            Classification.create(value=index, name=label, description=label)
            for label, index in card.output_indices(name).items()
        ]
    return ModelOutput.create(
        name=name,
        tasks=_MLM_TASKS[name],
        result=ResultStructure.create(shape=shape, dim_order=dims, data_type="float32"),
        classes=classes,
    )
