"""Export a super-resolution model through the course's model folder (state dict, ONNX, card,
STAC MLM Item: :func:`eotdl_tutorials.models.export.export_model`) and load it back."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from eotdl_tutorials.models.card import ModelCard
from eotdl_tutorials.models.export import Builder, ExportedModel, export_model, load_network
from eotdl_tutorials.profiles import check_profile, data_dir
from eotdl_tutorials.superres.models import SuperResolver

#: Digital numbers of the training data: Sentinel-2 L2A since baseline 04.00 (DN / 1e4 - 0.1).
L2A_DN_SCALE, L2A_DN_OFFSET = 1e-4, -0.1


def best_superres_dir(profile: str, factor: int = 2) -> Path:
    """``data_dir()/models/superres-best-x<factor>-<profile>``: where notebook B3 exports the
    model of the regime that does best on real pairs."""
    return data_dir() / "models" / f"superres-best-x{factor}-{check_profile(profile)}"


def superres_card(
    model: SuperResolver, name: str, input_size: int, regime: str | None = None
) -> ModelCard:
    """The card of ``model``: reflectance in and out, no normalisation outside the network (it
    divides by 0.4 itself), ``scale_factor`` = the model's factor; ``regime``: the training
    regime of its pairs (:data:`~eotdl_tutorials.superres.regimes.REGIMES`), said in its
    description."""
    trained = f"; trained on {regime.replace('_', '-')} pairs" if regime else ""
    return ModelCard(
        name=name,
        task="superres",
        arch=model.arch,
        bands=model.bands,
        input_size=input_size,
        units="reflectance",
        multiple=2 if model.arch == "esrt" else 1,  # ESRT's attention splits the pixels in 4
        dn_scale=L2A_DN_SCALE,
        dn_offset=L2A_DN_OFFSET,
        scale_factor=model.factor,
        description=f"{model.arch} super-resolution of Sentinel-2 {', '.join(model.bands)} by "
        f"{model.factor}x (10 m to {10 / model.factor:g} m), reflectance in and out{trained}",
    )


def export_superres(
    model: SuperResolver,
    model_dir: str | os.PathLike[str],
    input_size: int,
    name: str | None = None,
    sample: torch.Tensor | None = None,
    onnx: bool = True,
    bbox: tuple[float, float, float, float] | None = None,
    regime: str | None = None,
) -> ExportedModel:
    """Write ``model`` as a model folder; ``sample`` (reflectance) is where ONNX Runtime must
    match PyTorch within 1e-4 (``onnx_max_abs_diff`` of the result); ``bbox``: WGS84 bounds of
    the training pairs (e.g. ``ChipStore.bounds()`` of the pair store), the extent of its STAC
    Item; ``regime``: the training regime its card names."""
    name = name or f"superres-{model.arch}-x{model.factor}"
    card = superres_card(model, name, input_size, regime)
    builder = Builder("eotdl_tutorials.superres.models:SuperResolver", model.config())
    return export_model(model, model_dir, card, builder, onnx=onnx, sample=sample, bbox=bbox)


def load_superres(model_dir: str | os.PathLike[str]) -> SuperResolver:
    """The super-resolution model saved in ``model_dir`` (eval mode, CPU)."""
    if not Path(model_dir).is_dir():
        raise FileNotFoundError(
            f"no super-resolution model in {model_dir}: run notebook B3 (it exports one there) "
            "or pass the folder of one"
        )
    network = load_network(model_dir)
    if not isinstance(network, SuperResolver):
        raise ValueError(
            f"{model_dir} holds a {type(network).__name__}, not a super-resolution model: "
            "export one with eotdl_tutorials.superres.export_superres"
        )
    return network
