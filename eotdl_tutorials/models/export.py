"""Save any trained network as a model folder (weights, ONNX graph, card, STAC Item) and load it
back: :func:`export_model`, :func:`load_network`, :func:`load_model`.

The folder's layout is :mod:`eotdl_tutorials.models.folder`; the network takes normalised
values (:class:`Normalised` puts the card's normalisation in front of it).

Example (a U-Net on Sentinel-2 RGB in SCANEO's S2RGB preprocessing, 3 classes in label order)::

    builder = Builder("segmentation_models_pytorch:Unet", {"encoder_name": "resnet18",
        "encoder_weights": None, "in_channels": 3, "classes": 4})  # 3 classes + "no label"
    card = ModelCard("c2-seg-rgb", "segmentation", "unet-resnet18", ("red", "green", "blue"),
        input_size=64, multiple=32, classes=("water", "forest", "urban"), units="scaneo-rgb",
        preprocessing="S2RGB", normalisation=z_score(mean, std))
    exported = export_model(network, models_dir / card.name, card, builder)
    exported.onnx_max_abs_diff  # within ONNX_TOLERANCE, else export_model raised
"""

from __future__ import annotations

import datetime as dt
import importlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from eotdl_tutorials.files import atomic_path, write_json
from eotdl_tutorials.models.card import ModelCard
from eotdl_tutorials.models.folder import (
    CONFIG_NAME,
    MODEL_FORMAT,
    MODEL_FORMAT_VERSION,
    ONNX_NAME,
    WEIGHTS_NAME,
    read_card,
    read_model_record,
)
from eotdl_tutorials.models.mlm import mlm_item, write_item
from eotdl_tutorials.models.normalise import BandNormalised
from eotdl_tutorials.models.onnx_export import check_onnx, example_sizes, export_onnx
from eotdl_tutorials.models.publishing import publish_model_folder

#: Modules (and their sub-modules) whose callables a model folder may name as its factory.
TRUSTED_FACTORIES = (
    "eotdl_tutorials", "segmentation_models_pytorch", "timm", "torchvision.models", "torch.nn"
)  # fmt: skip


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


class Normalised(BandNormalised):
    """The card's normalisation followed by the network: takes values in the card's units."""

    def __init__(self, network: nn.Module, card: ModelCard) -> None:
        bands = len(card.bands)
        if card.normalisation["type"] == "z-score":
            mean, std = card.normalisation["mean"], card.normalisation["std"]
        else:
            mean, std = [0.0] * bands, [1.0] * bands
        super().__init__(mean, std)
        self.network = network
        self.card = card

    def forward(self, values: torch.Tensor) -> Any:
        return self.network(self.normalise(values))


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
    input on which ONNX Runtime must match PyTorch within
    :data:`~eotdl_tutorials.models.onnx_export.ONNX_TOLERANCE` (default: random values of the
    card's size); ``extra`` JSON facts go into ``model.json``; ``bbox``/``start``/
    ``end`` describe the training data in the STAC Item.
    """
    model_dir = Path(model_dir)
    network = network.eval().cpu()
    _check_outputs(network, card)
    rebuilt = builder.build()
    load_weights(rebuilt, network.state_dict(), card, "the network")  # the builder must fit
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


def load_network(model_dir: str | os.PathLike[str]) -> nn.Module:
    """The network saved in ``model_dir`` (takes normalised values; eval mode, on the CPU)."""
    record = read_model_record(model_dir)
    card = read_card(model_dir)
    network = Builder.from_dict(record["builder"]).build()
    load_weights(network, read_weights(model_dir), card, str(Path(model_dir) / WEIGHTS_NAME))
    return network.eval()


def load_model(model_dir: str | os.PathLike[str]) -> Normalised:
    """The model saved in ``model_dir``, taking values in its card's units (eval, CPU)."""
    return Normalised(load_network(model_dir), read_card(model_dir)).eval()


def read_weights(model_dir: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """The state dict in the folder's ``model.pt`` (clear errors for a missing or damaged file)."""
    path = Path(model_dir) / WEIGHTS_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: the model folder is incomplete")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for a damaged file
        raise ValueError(f"{path} cannot be read as a state dict ({err})") from None


def load_weights(
    network: nn.Module, state: dict[str, torch.Tensor], card: ModelCard, source: str
) -> None:
    """Load ``state`` into ``network``; a clear error naming ``source`` when they do not fit."""
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


def _check_outputs(network: nn.Module, card: ModelCard) -> None:
    size = example_sizes(card)[0]
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
