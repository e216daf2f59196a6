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

from eotdl_tutorials.models import CONFIG_NAME, ModelCard, z_score
from eotdl_tutorials.models.export import Builder, ExportedModel, export_model
from eotdl_tutorials.multitask.dataset import LandCoverSet, ensure_landcover_set, labelled_and_pool
from eotdl_tutorials.multitask.models import CLASSIFICATION, SEGMENTATION, LandCoverNet
from eotdl_tutorials.multitask.settings import MultitaskSettings, multitask_settings
from eotdl_tutorials.multitask.training import TrainedModel, train_model
from eotdl_tutorials.profiles import check_profile, data_dir

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


def model_card(
    model: LandCoverNet, name: str, classes: tuple[str, ...], input_size: int, preprocessing: str
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
        dn_scale=None if preprocessing != "none" else 1e-4,
        dn_offset=None if preprocessing != "none" else 0.0,
        description=f"land cover of the sample world's 1 m tiles ({', '.join(tasks)}), "
        f"{arch} encoder, use case C",
    )


def export_landcover_model(
    trained: TrainedModel,
    model_dir: str | os.PathLike[str],
    classes: tuple[str, ...],
    input_size: int,
    extra: dict | None = None,
    bbox: tuple[float, float, float, float] | None = None,
) -> ExportedModel:
    """Write ``trained`` as a model folder: the network takes normalised values (the card holds
    the normalisation) and returns its outputs in the folder's order. ``bbox``: WGS84 bounds of
    the training tiles (:meth:`LandCoverSet.bounds`), the extent of the model's STAC Item."""
    model = trained.model
    card = model_card(model, Path(model_dir).name, classes, input_size, trained.preprocessing)
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
) -> Path:
    """The folder holding the models ``names`` of :data:`EXPORTS` (None: all) for ``profile``
    (one sub-folder each, see :func:`eotdl_tutorials.models.export.load_model`). Models missing
    there are exported from ``trained`` (by export name, e.g. notebook C2's models) or else trained
    first (on the profile's land-cover set, random initial weights, the profile's settings)."""
    out = Path(out) if out is not None else exported_models_dir(profile)
    names = list(EXPORTS if names is None else names)
    unknown = sorted(set(names) - set(EXPORTS))
    if unknown:
        raise ValueError(f"unknown exported models {unknown}: choose among {sorted(EXPORTS)}")
    missing = [name for name in names if not (out / name / CONFIG_NAME).is_file()]
    if missing:
        dataset = ensure_landcover_set(profile, progress=progress)
        config = multitask_settings(profile)
        size = dataset.images.shape[-1]
        for name in tqdm(missing, desc="exported models", disable=not progress):
            model = (trained or {}).get(name) or _train_export(dataset, name, config, accelerator)
            export_landcover_model(model, out / name, dataset.classes, size, bbox=dataset.bounds())
    return out
