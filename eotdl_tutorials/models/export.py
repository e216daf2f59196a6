"""Save, load and publish a trained encoder: state dict, ONNX graph and a STAC MLM Item.

A model folder holds:

- ``encoder.json``: how to rebuild the encoder (sensor, bands, architecture, input size, band
  statistics) and the digital-number convention of its training data;
- ``encoder.pt``: the encoder's state dict (normalisation buffers + backbone weights);
- ``encoder.onnx``: the backbone as ONNX, input = z-scored bands (see the Item's value scaling);
- ``item.json``: a STAC Item with the Machine Learning Model extension (MLM 1.4) describing bands,
  input size, normalisation and output.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

import onnx
import pystac
import torch
from pystac.extensions.eo import EOExtension
from pystac.extensions.mlm import (
    InputStructure,
    MLMExtension,
    ModelInput,
    ModelOutput,
    ResultStructure,
    TaskType,
)

from eotdl_tutorials.files import atomic_path, write_json
from eotdl_tutorials.models.encoder import SensorEncoder
from eotdl_tutorials.publish import (
    CollectionSpec,
    collection_dict,
    eotdl_name,
    write_eotdl_readme,
    write_stac_catalog,
)

ENCODER_FORMAT = "eotdl-tutorials-encoder"
ENCODER_FORMAT_VERSION = 1
CONFIG_NAME = "encoder.json"
WEIGHTS_NAME = "encoder.pt"
ONNX_NAME = "encoder.onnx"
ITEM_NAME = "item.json"


def save_encoder(
    encoder: SensorEncoder, model_dir: str | os.PathLike[str], extra: dict[str, Any] | None = None
) -> Path:
    """Write ``encoder.pt`` and ``encoder.json`` (plus ``extra`` facts) into ``model_dir``."""
    model_dir = Path(model_dir)
    with atomic_path(model_dir / WEIGHTS_NAME) as tmp:
        torch.save({k: v.detach().cpu() for k, v in encoder.state_dict().items()}, tmp)
    record = {"format": ENCODER_FORMAT, "format_version": ENCODER_FORMAT_VERSION}
    write_json(model_dir / CONFIG_NAME, record | encoder.config() | (extra or {}))
    return model_dir


def read_encoder_config(model_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``encoder.json`` record of a model folder, checked."""
    path = Path(model_dir) / CONFIG_NAME
    if not path.is_file():
        raise FileNotFoundError(
            f"{model_dir} holds no trained encoder ({CONFIG_NAME} is missing): pre-train one "
            "with eotdl_tutorials.training.pretrain_encoder"
        )
    config = json.loads(path.read_text())
    if config.get("format") != ENCODER_FORMAT:
        raise ValueError(f"{path} is not an encoder record (format is not {ENCODER_FORMAT!r})")
    return config


def load_encoder(model_dir: str | os.PathLike[str]) -> SensorEncoder:
    """Rebuild the encoder saved in ``model_dir`` (eval mode, on the CPU)."""
    config = read_encoder_config(model_dir)
    encoder = SensorEncoder.from_config(config)
    path = Path(model_dir) / WEIGHTS_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: the model folder is incomplete")
    state = torch.load(path, map_location="cpu", weights_only=True)
    wanted = {key: value.shape for key, value in encoder.state_dict().items()}
    saved = {key: value.shape for key, value in state.items()}
    if saved != wanted:
        differing = sorted(k for k in wanted.keys() | saved.keys() if wanted.get(k) != saved.get(k))
        raise ValueError(
            f"{path} does not hold the weights of a {config['arch']} {config['sensor']} encoder "
            f"with {len(encoder.bands)} bands (differs in {', '.join(differing[:3])}"
            f"{' ...' if len(differing) > 3 else ''})"
        )
    encoder.load_state_dict(state)
    return encoder.eval()


def export_onnx(encoder: SensorEncoder, path: str | os.PathLike[str]) -> Path:
    """Export the backbone (z-scored input, any batch/height/width) to ONNX and check it."""
    size = encoder.input_size
    example = torch.zeros(2, len(encoder.bands), size, size)
    batch = torch.export.Dim("batch", min=1)
    height = torch.export.Dim("height", min=8, max=8192)
    width = torch.export.Dim("width", min=8, max=8192)
    backbone = encoder.backbone.eval()
    with atomic_path(path) as tmp, torch.no_grad():
        torch.onnx.export(
            backbone,
            (example,),
            str(tmp),
            input_names=["input"],
            output_names=["embedding"],
            dynamic_shapes=({0: batch, 2: height, 3: width},),
            dynamo=True,
            external_data=False,
            verbose=False,
        )
        onnx.checker.check_model(onnx.load(str(tmp)), full_check=True)
    return Path(path)


def mlm_item(
    encoder: SensorEncoder,
    item_id: str,
    bbox: tuple[float, float, float, float] | None = None,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    description: str = "",
) -> pystac.Item:
    """A STAC Item (MLM extension) for the encoder: bands, input size, normalisation, output.

    ``bbox`` (WGS84) and ``start``/``end`` describe the training data; without them the Item has
    no geometry and is dated now. Assets point at the files of a model folder.
    """
    geometry = None
    if bbox is not None:
        west, south, east, north = bbox
        ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
        geometry = {"type": "Polygon", "coordinates": [ring]}
    now = dt.datetime.now(dt.UTC)
    item = pystac.Item(
        id=item_id,
        geometry=geometry,
        bbox=list(bbox) if bbox is not None else None,
        datetime=None if start and end else now,
        start_datetime=start if start and end else None,
        end_datetime=end if start and end else None,
        properties={"description": description} if description else {},
    )
    size = encoder.input_size
    model_input = ModelInput.create(
        name=f"{encoder.sensor} chips",
        bands=list(encoder.bands),
        input=InputStructure.create(
            shape=[-1, len(encoder.bands), size, size],
            dim_order=["batch", "bands", "height", "width"],
            data_type="float32",
        ),
        description="physical values (reflectance or sigma0 dB), z-scored per band",
    )
    model_output = ModelOutput.create(
        name="embedding",
        tasks=[TaskType.SIMILARITY_SEARCH],
        result=ResultStructure.create(
            shape=[-1, encoder.embed_dim], dim_order=["batch", "embedding"], data_type="float32"
        ),
    )
    MLMExtension.ext(item, add_if_missing=True).apply(
        name=item_id,
        architecture=encoder.arch,
        tasks=[TaskType.SIMILARITY_SEARCH, TaskType.SCENE_CLASSIFICATION],
        input=[model_input],
        output=[model_output],
        framework="pytorch",
        framework_version=torch.__version__.split("+")[0],
        total_parameters=sum(p.numel() for p in encoder.parameters()),
        pretrained=True,
        pretrained_source="Barlow Twins self-supervised pre-training",
    )
    # MLM requires named input bands to be described by a band extension: the eo:bands of
    # every model asset.
    item.stac_extensions.append(EOExtension.get_schema_uri())
    bands = [{"name": band} for band in encoder.bands]
    # MLM 1.4 describes value scaling as one object per band (pystac writes a single object).
    item.properties["mlm:input"][0]["value_scaling"] = [
        {"type": "z-score", "mean": mean, "stddev": std}
        for mean, std in zip(encoder.stats.mean, encoder.stats.std, strict=True)
    ]
    item.add_asset(
        "weights",
        pystac.Asset(
            WEIGHTS_NAME,
            media_type="application/octet-stream; application=pytorch",
            roles=["mlm:model", "mlm:weights"],
            extra_fields={"mlm:artifact_type": "torch.save", "eo:bands": bands},
        ),
    )
    item.add_asset(
        "onnx",
        pystac.Asset(
            ONNX_NAME,
            media_type="application/octet-stream; framework=onnx; profile=onnx",
            roles=["mlm:model"],
            extra_fields={"mlm:artifact_type": "onnx", "eo:bands": bands},
        ),
    )
    item.add_asset(
        "config", pystac.Asset(CONFIG_NAME, media_type="application/json", roles=["metadata"])
    )
    return item


def write_item(item: pystac.Item, model_dir: str | os.PathLike[str]) -> Path:
    """Write ``item.json`` into ``model_dir`` (asset hrefs stay relative)."""
    return write_json(Path(model_dir) / ITEM_NAME, item.to_dict(include_self_link=False))


def publish_model_folder(
    item: pystac.Item, model_dir: str | os.PathLike[str], description: str
) -> Path:
    """Make ``model_dir`` EOTDL-ready: ``README.md`` (its folder name is the EOTDL name,
    ``description`` the text) and ``catalog.json`` with one Collection holding the MLM Item
    (asset hrefs relative to ``model_dir``). Returns the catalog's path."""
    model_dir = Path(model_dir)
    name = eotdl_name(model_dir.name)
    write_eotdl_readme(model_dir, name=name, description=description)
    record = item.to_dict(include_self_link=False, transform_hrefs=False)
    collection = collection_dict(
        name,
        f"The {item.id} model (Machine Learning Model extension).",
        [record],
        extensions=[MLMExtension.get_schema_uri()],
    )
    return write_stac_catalog(model_dir, name, description, [CollectionSpec(collection, [record])])
