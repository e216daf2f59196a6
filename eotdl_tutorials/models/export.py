"""Save, load and publish any trained model as one folder: weights, ONNX graph, card, STAC Item.

A model folder holds:

- ``model.json``: the :class:`~eotdl_tutorials.models.card.ModelCard` (task, bands and how a
  GeoTIFF's bands map to them, normalisation, input size, classes and output indices, SCANEO
  preprocessing, scale factor), how to rebuild the network (:class:`Builder`), and the largest
  difference between ONNX Runtime and PyTorch measured at export. Written last: its presence
  marks a complete folder;
- ``model.pt``: the network's state dict;
- ``model.onnx``: the network as ONNX (input = normalised values, any batch/height/width that
  the card allows; outputs named after the card's outputs);
- ``item.json``: a STAC Item with the Machine Learning Model extension (MLM 1.4).

The network takes *normalised* values: the card's ``normalisation`` is applied before it
(:class:`Normalised` does it in PyTorch, :meth:`ModelCard.normalise` in NumPy). An encoder
(:class:`SensorEncoder`) is saved the same way: its backbone is the network.

Example (a U-Net on Sentinel-2 RGB in SCANEO's S2RGB preprocessing, 3 classes in label order)::

    builder = Builder("segmentation_models_pytorch:Unet", {"encoder_name": "resnet18",
        "encoder_weights": None, "in_channels": 3, "classes": 4})  # 3 classes + "no label"
    card = ModelCard("c2-seg-rgb", "segmentation", "unet-resnet18", ("red", "green", "blue"),
        input_size=64, multiple=32, classes=("water", "forest", "urban"), units="scaneo-rgb",
        preprocessing="S2RGB", normalisation=z_score(mean, std))
    exported = export_model(network, models_dir / card.name, card, builder)
    exported.onnx_max_abs_diff  # <= 1e-4, else export_model raised
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pystac
import torch
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
from torch import nn

from eotdl_tutorials.data import BandStats
from eotdl_tutorials.files import atomic_path, write_json
from eotdl_tutorials.models.card import ModelCard, z_score
from eotdl_tutorials.models.encoder import SensorEncoder
from eotdl_tutorials.publish import (
    CollectionSpec,
    collection_dict,
    eotdl_name,
    write_eotdl_readme,
    write_stac_catalog,
)

MODEL_FORMAT = "eotdl-tutorials-model"
MODEL_FORMAT_VERSION = 1
CONFIG_NAME = "model.json"
WEIGHTS_NAME = "model.pt"
ONNX_NAME = "model.onnx"
ITEM_NAME = "item.json"
#: The extent of a model Item whose training area is not given (west, south, east, north).
WHOLE_GLOBE = (-180.0, -90.0, 180.0, 90.0)
#: ONNX Runtime must reproduce PyTorch's outputs within this (absolute) at export.
ONNX_TOLERANCE = 1e-4
#: Modules (and their sub-modules) whose callables a model folder may name as its factory.
TRUSTED_FACTORIES = (
    "eotdl_tutorials", "segmentation_models_pytorch", "timm", "torchvision.models", "torch.nn"
)  # fmt: skip
_MLM_TASKS = {
    "classification": [TaskType.CLASSIFICATION, TaskType.SCENE_CLASSIFICATION],
    "segmentation": [TaskType.SEGMENTATION, TaskType.SEMANTIC_SEGMENTATION],
    "superres": [TaskType.SUPER_RESOLUTION],
    "embedding": [TaskType.SIMILARITY_SEARCH],
}


@dataclass(frozen=True)
class Builder:
    """How to rebuild an (untrained) network: ``factory`` (``"package.module:name"``, may be
    ``Class.from_config``) called with ``kwargs``; a kwarg that is itself a builder record
    (a dict with ``factory``) is built first."""

    factory: str
    kwargs: dict[str, Any] = field(default_factory=dict)

    def build(self) -> nn.Module:
        module_name, _, attribute = self.factory.partition(":")
        trusted = any(f"{module_name}.".startswith(f"{m}.") for m in TRUSTED_FACTORIES)
        if not attribute or not trusted:
            raise ValueError(
                f"factory {self.factory!r} is not 'package.module:name' in one of "
                f"{', '.join(TRUSTED_FACTORIES)}"
            )
        target: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            target = getattr(target, part)
        kwargs = {
            key: Builder.from_dict(value).build()
            if isinstance(value, dict) and "factory" in value
            else value
            for key, value in self.kwargs.items()
        }
        return target(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        kwargs = {k: v.to_dict() if isinstance(v, Builder) else v for k, v in self.kwargs.items()}
        return {"factory": self.factory, "kwargs": kwargs}

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> Builder:
        return cls(record["factory"], dict(record.get("kwargs", {})))


@dataclass(frozen=True)
class ExportedModel:
    """A written model folder, its card and the ONNX check (None when no ONNX was written)."""

    model_dir: Path
    card: ModelCard
    onnx_max_abs_diff: float | None


class Normalised(nn.Module):
    """The card's normalisation followed by the network: takes values in the card's units."""

    def __init__(self, network: nn.Module, card: ModelCard) -> None:
        super().__init__()
        self.network = network
        self.card = card
        bands = len(card.bands)
        if card.normalisation["type"] == "z-score":
            mean, std = card.normalisation["mean"], card.normalisation["std"]
        else:
            mean, std = [0.0] * bands, [1.0] * bands
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, values: torch.Tensor) -> Any:
        return self.network((values - self.mean) / self.std)


def export_model(
    network: nn.Module,
    model_dir: str | os.PathLike[str],
    card: ModelCard,
    builder: Builder,
    *,
    onnx: bool = True,
    sample: torch.Tensor | None = None,
    extra: dict[str, Any] | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    pretrained_source: str | None = None,
) -> ExportedModel:
    """Write ``network`` (taking normalised values) as a model folder (see the module docstring).

    ``builder`` rebuilds the network for :func:`load_network`; ``sample`` is the (normalised)
    input on which ONNX Runtime must match PyTorch within :data:`ONNX_TOLERANCE` (default: random
    values of the card's size); ``extra`` JSON facts go into ``model.json``; ``bbox``/``start``/
    ``end`` describe the training data in the STAC Item.
    """
    model_dir = Path(model_dir)
    network = network.eval().cpu()
    _check_outputs(network, card)
    rebuilt = builder.build()
    _load_state(rebuilt, network.state_dict(), card, "the network")  # the builder must fit
    with atomic_path(model_dir / WEIGHTS_NAME) as tmp:
        torch.save({k: v.detach().cpu() for k, v in network.state_dict().items()}, tmp)
    difference = None
    if onnx:
        export_onnx(network, model_dir / ONNX_NAME, card)
        difference = check_onnx(network, model_dir / ONNX_NAME, card, sample)
    parameters = sum(p.numel() for p in network.parameters())
    item = mlm_item(card, parameters, bbox, start, end, pretrained_source)
    if not onnx:
        item.assets.pop("onnx")
    write_item(item, model_dir)
    publish_model_folder(
        item,
        model_dir,
        f"# {model_dir.name}\n\n{card.description or f'A {card.task} model ({card.arch})'}: the "
        f"state dict (`{WEIGHTS_NAME}`), its ONNX graph (`{ONNX_NAME}`, when exported), how to "
        f"rebuild it (`{CONFIG_NAME}`) and a STAC Item with the Machine Learning Model extension, "
        "from the eotdl-tutorials course.",
    )
    record = {"format": MODEL_FORMAT, "format_version": MODEL_FORMAT_VERSION}
    record |= card.to_dict() | {"builder": builder.to_dict(), "onnx_max_abs_diff": difference}
    write_json(model_dir / CONFIG_NAME, record | (extra or {}))
    return ExportedModel(model_dir, card, difference)


def read_model_record(model_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``model.json`` record of a model folder, checked (clear errors otherwise)."""
    path = Path(model_dir) / CONFIG_NAME
    if not Path(model_dir).is_dir():
        raise FileNotFoundError(f"model folder {model_dir} does not exist")
    if not path.is_file():
        raise FileNotFoundError(
            f"{model_dir} holds no exported model ({CONFIG_NAME} is missing): export one with "
            "eotdl_tutorials.models.export_model"
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


def load_network(model_dir: str | os.PathLike[str]) -> nn.Module:
    """The network saved in ``model_dir`` (takes normalised values; eval mode, on the CPU)."""
    record = read_model_record(model_dir)
    card = read_card(model_dir)
    network = Builder.from_dict(record["builder"]).build()
    _load_state(network, _read_weights(model_dir), card, str(Path(model_dir) / WEIGHTS_NAME))
    return network.eval()


def load_model(model_dir: str | os.PathLike[str]) -> Normalised:
    """The model saved in ``model_dir``, taking values in its card's units (eval, CPU)."""
    return Normalised(load_network(model_dir), read_card(model_dir)).eval()


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


def export_onnx(network: nn.Module, path: str | os.PathLike[str], card: ModelCard) -> Path:
    """Export the network (normalised input, dynamic batch/height/width) to ONNX and check it.

    Height and width are free (8..8192 px) or, when ``card.multiple > 1``, multiples of it.
    """
    size = _sizes(card)[0]
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
    ``ValueError`` above :data:`ONNX_TOLERANCE`."""
    if sample is None:
        size = _sizes(card)[1]
        generator = torch.Generator().manual_seed(0)
        sample = torch.randn(1, len(card.bands), size, size, generator=generator)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    results = session.run(None, {"input": sample.numpy().astype(np.float32)})
    with torch.no_grad():
        expected = network.eval()(sample)
    expected = expected if isinstance(expected, tuple | list) else (expected,)
    difference = max(
        float(np.max(np.abs(result - reference.numpy()), initial=0.0))
        for result, reference in zip(results, expected, strict=True)
    )
    if not difference <= ONNX_TOLERANCE:
        raise ValueError(
            f"ONNX Runtime differs from PyTorch by {difference:.3g} (> {ONNX_TOLERANCE}) on "
            f"{path}: the export is not faithful"
        )
    return difference


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
        framework_version=torch.__version__.split("+")[0],
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


# --- Encoders ------------------------------------------------------------------------------------


def encoder_card(
    encoder: SensorEncoder,
    dn_scale: float | None = None,
    dn_offset: float | None = None,
    units: str = "reflectance",
    name: str | None = None,
    description: str = "",
) -> ModelCard:
    """The card of a :class:`SensorEncoder` (task ``embedding``, its bands and statistics)."""
    return ModelCard(
        name=name or f"encoder-{encoder.sensor}-{encoder.arch}",
        task="embedding",
        arch=encoder.arch,
        bands=encoder.bands,
        input_size=encoder.input_size,
        units=units,
        normalisation=z_score(encoder.stats.mean, encoder.stats.std),
        dn_scale=dn_scale,
        dn_offset=dn_offset,
        description=description,
    )


def save_encoder(
    encoder: SensorEncoder,
    model_dir: str | os.PathLike[str],
    card: ModelCard | None = None,
    **export_kwargs: Any,
) -> ExportedModel:
    """Export an encoder (its backbone as the network) with :func:`export_model`; the record
    also keeps ``sensor``, ``embed_dim`` and ``stats``. ONNX only with ``onnx=True``."""
    card = card or encoder_card(encoder)
    builder = Builder(
        "eotdl_tutorials.models.encoder:make_backbone",
        {"arch": encoder.arch, "in_chans": len(encoder.bands)},
    )
    config = encoder.config()
    facts = {key: config[key] for key in ("sensor", "embed_dim", "stats")}
    export_kwargs = {"onnx": False} | export_kwargs
    export_kwargs["extra"] = facts | (export_kwargs.get("extra") or {})
    return export_model(encoder.backbone, model_dir, card, builder, **export_kwargs)


def read_encoder_config(model_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``model.json`` record of an encoder folder, checked."""
    record = read_model_record(model_dir)
    if record.get("task") != "embedding" or "sensor" not in record:
        raise ValueError(f"{model_dir} holds a {record.get('task')} model, not an encoder")
    return record


def load_encoder(model_dir: str | os.PathLike[str]) -> SensorEncoder:
    """Rebuild the encoder saved in ``model_dir`` (eval mode, on the CPU)."""
    record = read_encoder_config(model_dir)
    card = ModelCard.from_dict(record)
    encoder = SensorEncoder(
        record["sensor"], BandStats.from_dict(record["stats"]), card.arch, card.input_size
    )
    weights = _read_weights(model_dir)
    _load_state(encoder.backbone, weights, card, str(Path(model_dir) / WEIGHTS_NAME))
    return encoder.eval()


# --- Helpers -------------------------------------------------------------------------------------


def _sizes(card: ModelCard) -> tuple[int, int]:
    """The export example's size and the (different) ONNX check size."""
    step = card.multiple
    size = -(-max(card.input_size, 8) // step) * step
    return size, size + (8 if step == 1 else step)


def _check_outputs(network: nn.Module, card: ModelCard) -> None:
    size = _sizes(card)[0]
    with torch.no_grad():
        result = network(torch.zeros(1, len(card.bands), size, size))
    results = result if isinstance(result, tuple | list) else (result,)
    if len(results) != len(card.outputs):
        raise ValueError(
            f"a {card.task} network must return {len(card.outputs)} output(s) "
            f"({', '.join(card.outputs)}); this one returns {len(results)}"
        )
    large = size * (card.scale_factor or 1)
    expected = {
        "classification": (1, len(card.classes)),
        "segmentation": (1, len(card.classes) + 1, size, size),
        "superres": (1, len(card.bands), large, large),
    }
    for name, tensor in zip(card.outputs, results, strict=True):
        if name in expected and tuple(tensor.shape) != expected[name]:
            raise ValueError(
                f"the {name} output of {card.name} has shape {tuple(tensor.shape)} for a "
                f"{size} px input; expected {expected[name]} ({len(card.classes)} classes"
                + (" + no label" if name == "segmentation" else "")
                + ")"
            )


def _read_weights(model_dir: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    path = Path(model_dir) / WEIGHTS_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: the model folder is incomplete")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for a damaged file
        raise ValueError(f"{path} cannot be read as a state dict ({err})") from None


def _load_state(
    network: nn.Module, state: dict[str, torch.Tensor], card: ModelCard, source: str
) -> None:
    wanted = {key: value.shape for key, value in network.state_dict().items()}
    saved = {key: value.shape for key, value in state.items()}
    if saved != wanted:
        differing = sorted(k for k in wanted.keys() | saved.keys() if wanted.get(k) != saved.get(k))
        raise ValueError(
            f"{source} does not hold the weights of {card.name} ({card.arch}, "
            f"{len(card.bands)} bands): differs in {', '.join(differing[:3])}"
            f"{' ...' if len(differing) > 3 else ''}"
        )
    network.load_state_dict(state)


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
