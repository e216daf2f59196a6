"""Export the land-cover models as model folders for the inference API (use case C, part 2).

Each model goes through :func:`eotdl_tutorials.models.export.export_model`: state dict, ONNX checked
against PyTorch with ONNX Runtime, a model card (task, bands, normalisation, input size and
multiple, classes in legend order with 0 = "no label" for segmentation, SCANEO preprocessing)
and a STAC MLM Item. :func:`ensure_exported_models` gives the folder of a profile's models,
training the missing ones: the three land-cover models on reflectance and, for SCANEO, a
classifier and a U-Net on what its ``SATRGB`` preprocessing sends.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import torch
from tqdm.auto import tqdm

from eotdl_tutorials.facts.sensors import HR_SCALE
from eotdl_tutorials.models import CONFIG_NAME, ModelCard, z_score
from eotdl_tutorials.models.export import Builder, ExportedModel, export_model
from eotdl_tutorials.multitask.dataset import LandCoverSet, ensure_landcover_set, labelled_and_pool
from eotdl_tutorials.multitask.models import CLASSIFICATION, SEGMENTATION, LandCoverNet
from eotdl_tutorials.multitask.settings import MultitaskSettings, multitask_settings
from eotdl_tutorials.multitask.training import TrainedModel, train_model
from eotdl_tutorials.profiles import WORLD_PROFILE, check_profile, data_dir

#: The exported models: folder name -> (heads, SCANEO preprocessing).
EXPORTS = {
    "landcover-classifier": ((CLASSIFICATION,), "none"),
    "landcover-unet": ((SEGMENTATION,), "none"),
    "landcover-multitask": ((CLASSIFICATION, SEGMENTATION), "none"),
    "scaneo-satrgb-classifier": ((CLASSIFICATION,), "SATRGB"),
    "scaneo-satrgb-unet": ((SEGMENTATION,), "SATRGB"),
}


def exported_models_dir(profile: str) -> Path:
    """``data_dir()/models/landcover-{profile}``: where the profile's exported models live."""
    return data_dir() / "models" / f"landcover-{check_profile(profile)}"


def export_name(tasks: tuple[str, ...], preprocessing: str) -> str:
    """The folder name :data:`EXPORTS` gives a model with ``tasks`` and ``preprocessing``."""
    for name, spec in EXPORTS.items():
        if spec == (tuple(tasks), preprocessing):
            return name
    raise ValueError(f"no export is planned for tasks {tasks} with preprocessing {preprocessing}")


#: What the sample world's models learnt from (a real set's cards name the SCANEO export).
SAMPLE_WORLD_TILES = "the sample world's 1 m tiles"


def fits(name: str, bands: tuple[str, ...]) -> bool:
    """Whether a set with ``bands`` can train export ``name``: SCANEO's SATRGB step takes the
    2nd to 4th bands of a file, so an RGB set (3 bands) has no SATRGB models."""
    return EXPORTS[name][1] != "SATRGB" or len(bands) >= 4


def model_card(
    model: LandCoverNet,
    name: str,
    classes: tuple[str, ...],
    input_size: int,
    preprocessing: str,
    dn_scale: float = HR_SCALE,
    tiles: str = SAMPLE_WORLD_TILES,
) -> ModelCard:
    """The card of a trained :class:`LandCoverNet` (its normalisation moves onto the card)."""
    tasks = model.tasks
    task = "multitask" if len(tasks) == 2 else tasks[0]
    arch = model.settings["arch"]
    return ModelCard(
        name=name,
        task=task,
        arch=f"unet-{arch}" if SEGMENTATION in tasks else arch,
        bands=tuple(model.settings["bands"]),
        input_size=input_size,
        units="scaneo-rgb" if preprocessing != "none" else "reflectance",
        normalisation=z_score(model.settings["mean"], model.settings["std"]),
        multiple=model.stride,
        classes=classes,
        preprocessing=preprocessing,
        dn_scale=None if preprocessing != "none" else dn_scale,
        dn_offset=None if preprocessing != "none" else 0.0,
        description=f"land cover of {tiles} ({', '.join(tasks)}), {arch} encoder, use case C",
    )


def export_landcover_model(
    trained: TrainedModel,
    model_dir: str | os.PathLike[str],
    classes: tuple[str, ...],
    input_size: int,
    extra: dict | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    dn_scale: float = HR_SCALE,
    tiles: str = SAMPLE_WORLD_TILES,
) -> ExportedModel:
    """Write ``trained`` as a model folder: the network takes normalised values (the card holds
    the normalisation) and returns its outputs in the folder's order. ``bbox``: WGS84 bounds of
    the training tiles (:meth:`LandCoverSet.bounds`), the extent of the model's STAC Item;
    ``dn_scale``: reflectance per digital number of the set's images; ``tiles``: what the
    model learnt from (its card's description)."""
    model = trained.model
    card = model_card(
        model, Path(model_dir).name, classes, input_size, trained.preprocessing, dn_scale, tiles
    )
    bands = len(model.settings["bands"])
    settings = model.settings | {"mean": [0.0] * bands, "std": [1.0] * bands, "tuple_output": True}
    network = LandCoverNet.from_settings(settings)
    state = {k: v for k, v in model.state_dict().items() if k not in ("mean", "std")}
    network.load_state_dict(state, strict=False)
    builder = Builder("eotdl_tutorials.multitask.models:LandCoverNet", settings)
    facts = {"init": trained.init, "train_seconds": round(trained.seconds, 1)} | (extra or {})
    return export_model(
        network.eval(),
        model_dir,
        card,
        builder,
        sample=torch.randn(
            1, bands, input_size, input_size, generator=torch.Generator().manual_seed(0)
        ),
        extra={"training": facts},
        bbox=bbox,
        pretrained_source="Barlow Twins (use case A)" if trained.init == "barlow-twins" else None,
    )


def _train_export(
    dataset: LandCoverSet, name: str, config: MultitaskSettings, accelerator: str
) -> TrainedModel:
    tasks, preprocessing = EXPORTS[name]
    split = labelled_and_pool(dataset, config.labelled)
    return train_model(
        dataset,
        split.labelled,
        split.val,
        tasks,
        steps=config.steps,
        batch_size=config.batch_size,
        lr=config.lr,
        preprocessing=preprocessing,
        accelerator=accelerator,
        **config.model_kwargs(),
    )


def ensure_exported_models(
    profile: str = "ci",
    out: str | os.PathLike[str] | None = None,
    trained: Mapping[str, TrainedModel] | None = None,
    accelerator: str = "auto",
    progress: bool = True,
    names: Iterable[str] | None = None,
    steps: int | None = None,
) -> Path:
    """The folder holding the models ``names`` of :data:`EXPORTS` (None: all that the set's
    bands allow, :func:`fits`) for ``profile``
    (one sub-folder each, see :func:`eotdl_tutorials.models.export.load_model`). Models missing
    there are exported from ``trained`` (by export name, e.g. notebook C2's models) or else trained
    first (on the profile's land-cover set, random initial weights, the profile's settings;
    ``steps`` overrides its optimiser steps)."""
    out = Path(out) if out is not None else exported_models_dir(profile)
    chosen = names is not None
    names = list(EXPORTS if names is None else names)
    unknown = sorted(set(names) - set(EXPORTS))
    if unknown:
        raise ValueError(f"unknown exported models {unknown}: choose among {sorted(EXPORTS)}")
    missing = [name for name in names if not (out / name / CONFIG_NAME).is_file()]
    if missing:
        dataset = ensure_landcover_set(profile, progress=progress)
        unfit = [name for name in missing if not fits(name, dataset.bands)]
        if unfit and chosen:
            raise ValueError(
                f"the land-cover set has {len(dataset.bands)} bands ({', '.join(dataset.bands)}): "
                f"SCANEO's SATRGB step needs 4, so {', '.join(unfit)} cannot be trained"
            )
        missing = [name for name in missing if name not in unfit]
        config = multitask_settings(profile, steps=steps)
        size = dataset.images.shape[-1]
        tiles = SAMPLE_WORLD_TILES if WORLD_PROFILE[profile] else "the SCANEO export's tiles"
        for name in tqdm(missing, desc="exported models", disable=not progress):
            model = (trained or {}).get(name) or _train_export(dataset, name, config, accelerator)
            export_landcover_model(
                model, out / name, dataset.classes, size, bbox=dataset.bounds(),
                dn_scale=dataset.dn_scale, tiles=tiles,
            )  # fmt: skip
    return out
