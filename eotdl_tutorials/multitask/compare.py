"""Single-task against multi-task: the three models, two initialisations, one table.

:func:`compare_models` trains the classifier, the U-Net and the multi-task model on the same
labelled tiles, from random weights and (when given) from use case A's Barlow Twins encoder of
the 1 m sensor, and scores them on the test split next to the floors: the majority class and
each model with random weights. :meth:`Comparison.gap` gives any two rows' difference on one
score, A minus B in points, with its 95 % interval over the test tiles (whole places drawn).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from eotdl_tutorials.intervals import Interval, bootstrap
from eotdl_tutorials.models.encoder import SensorEncoder
from eotdl_tutorials.multitask.dataset import LandCoverSet, Split
from eotdl_tutorials.multitask.evaluation import (
    Predictions,
    TileCounts,
    majority_guess,
    predict,
    score,
    table,
    tile_counts,
)
from eotdl_tutorials.multitask.export import export_name
from eotdl_tutorials.multitask.inputs import model_inputs
from eotdl_tutorials.multitask.models import CLASSIFICATION, SEGMENTATION
from eotdl_tutorials.multitask.settings import MultitaskSettings
from eotdl_tutorials.multitask.training import TrainedModel, new_model, train_model
from eotdl_tutorials.tiling import place_keys
from eotdl_tutorials.training import seed

#: The three models of the comparison and their heads.
MODELS = {
    "classifier": (CLASSIFICATION,),
    "u-net": (SEGMENTATION,),
    "multi-task": (CLASSIFICATION, SEGMENTATION),
}
RANDOM_WEIGHTS = "random weights (untrained)"


@dataclass
class Comparison:
    """The table (one row per model and initialisation), the trained models by
    ``(model, init)``, each scored row's :class:`TileCounts` on the test tiles by ``(model,
    init)`` and the test tiles' places (what a bootstrap draws whole)."""

    table: pd.DataFrame
    models: dict[tuple[str, str], TrainedModel]
    counts: dict[tuple[str, str], TileCounts]
    places: np.ndarray

    def gap(self, a: tuple[str, str], b: tuple[str, str], key: str) -> Interval:
        """Score ``key`` (``f1``, ``accuracy`` or ``miou``) of row ``a`` minus that of row ``b``
        (each ``(model, init)``), in points (x100; positive: ``a`` is better), with its 95 %
        interval: the dataset-level scores recomputed on each draw of test tiles, whole places
        drawn together."""
        first, second = self.counts[a], self.counts[b]
        return bootstrap(
            lambda rows: 100 * (first.score(rows, key) - second.score(rows, key)),
            len(self.places),
            self.places,
        )

    def row(self, model: str, init: str) -> pd.Series:
        rows = self.table[(self.table["model"] == model) & (self.table["init"] == init)]
        if rows.empty:
            raise KeyError(f"no row for model {model!r} with init {init!r}")
        return rows.iloc[0]


def compare_models(
    dataset: LandCoverSet,
    split: Split,
    config: MultitaskSettings,
    encoder: SensorEncoder | None = None,
    random_seed: int = 0,
    accelerator: str = "auto",
    progress: bool = True,
) -> Comparison:
    """Train and score every model of :data:`MODELS` (random init, and Barlow Twins init when
    ``encoder`` is given) on ``split``; the floors come first in the table."""
    test_x = model_inputs(dataset, split.test)
    masks, presence = dataset.masks[split.test], dataset.presence[split.test]
    train = split.labelled
    counts = {}

    def scored(name: str, init: str, predictions: Predictions) -> dict[str, float]:
        counts[(name, init)] = tile_counts(predictions, masks, presence)
        return {"model": name, "init": init} | score(predictions, masks, presence, dataset.classes)

    guess = majority_guess(dataset.masks[train], dataset.presence[train], masks, presence)
    rows = [scored("majority class", "none", guess) | {"params": 0}]
    for name, tasks in MODELS.items():
        seed(random_seed)
        untrained = new_model(dataset, train, tasks, **config.model_kwargs())
        scores = scored(name, RANDOM_WEIGHTS, predict(untrained, test_x))
        rows.append(scores | {"params": untrained.parameter_count()})
    inits = [None] + ([encoder] if encoder is not None else [])
    runs = [(name, tasks, init) for name, tasks in MODELS.items() for init in inits]
    models = {}
    for name, tasks, init in tqdm(runs, desc="models", disable=not progress):
        trained = train_model(
            dataset,
            train,
            split.val,
            tasks,
            steps=config.steps,
            batch_size=config.batch_size,
            lr=config.lr,
            seg_weight=config.seg_weight,
            cls_weight=config.cls_weight,
            encoder=init,
            random_seed=random_seed,
            accelerator=accelerator,
            **config.model_kwargs(),
        )
        predictions = predict(trained.model, test_x)
        models[(name, trained.init)] = trained
        rows.append(
            scored(name, trained.init, predictions)
            | {
                "params": trained.model.parameter_count(),
                "train_s": round(trained.seconds, 1),
                "infer_ms_per_tile": round(1000 * predictions.seconds_per_tile, 2),
            }
        )
    places = place_keys(dataset.index.iloc[split.test]).to_numpy()
    return Comparison(table(rows), models, counts, places)


def exports_of(comparison: Comparison) -> dict[str, TrainedModel]:
    """The comparison's randomly initialised models by export name (for
    :func:`~eotdl_tutorials.multitask.export.ensure_exported_models`)."""
    return {
        export_name(MODELS[name], trained.preprocessing): trained
        for (name, init), trained in comparison.models.items()
        if init == "random"
    }


#: The scores each model is judged on (a classifier has no mask, a U-Net's F1 is read off it).
SCORED = {"classifier": ("f1",), "u-net": ("miou",), "multi-task": ("f1", "miou")}


def model_gaps(comparison: Comparison) -> dict[str, Interval]:
    """The comparison's headline gaps, each named ``<A>_minus_<B>_<score>`` (points, A minus
    B): the multi-task model against the single-task model of the same initialisation on that
    model's task, and, when trained, the Barlow Twins encoder against random initial weights."""
    inits = [init for init in ("random", "barlow-twins") if ("u-net", init) in comparison.counts]
    gaps = {}
    for init in inits:
        for single, key in (("classifier", "f1"), ("u-net", "miou")):
            gaps[f"multi-task_minus_{single}_{key}_{init}"] = comparison.gap(
                ("multi-task", init), (single, init), key
            )
    if "barlow-twins" in inits:
        for model, keys in SCORED.items():
            for key in keys:
                gaps[f"{model}_barlow-twins_minus_random_{key}"] = comparison.gap(
                    (model, "barlow-twins"), (model, "random"), key
                )
    return gaps


def floor_gaps(comparison: Comparison) -> dict[str, Interval]:
    """Each trained model minus the same model with random weights (untrained) on its scores,
    named ``<model>_<init>_minus_untrained_<score>`` (points)."""
    return {
        f"{model}_{init}_minus_untrained_{key}": comparison.gap(
            (model, init), (model, RANDOM_WEIGHTS), key
        )
        for model, init in comparison.models
        for key in SCORED[model]
    }


def results_rows(comparison: Comparison) -> list[dict]:
    """The table as the results file's ``rows`` (model, init, f1, miou, params, ...), with
    NaN (no mask) written as None."""
    frame = comparison.table.astype(object).where(comparison.table.notna(), None)
    return [
        {k: (float(v) if isinstance(v, np.floating) else v) for k, v in row.items()}
        for row in frame.to_dict("records")
    ]


def landcover_encoder(
    dataset: LandCoverSet,
    profile: str,
    encoder_dir: str | os.PathLike[str] | None = None,
    **pretrain_kwargs: object,
) -> tuple[SensorEncoder | None, str]:
    """Use case A's Barlow Twins encoder of the 1 m sensor for the models of ``dataset``: the
    one saved in ``encoder_dir`` (default: where A2 saves it), else pre-trained on the profile's
    chip store (:func:`~eotdl_tutorials.training.load_or_pretrain`). ``(None, why)`` when there
    is none to use: in ``full`` with neither an encoder nor A1's store, or when the encoder
    reads other bands than the set's images (an RGB export)."""
    from eotdl_tutorials.data import chip_store_dir, ensure_chip_store
    from eotdl_tutorials.models import CONFIG_NAME
    from eotdl_tutorials.profiles import WORLD_PROFILE
    from eotdl_tutorials.training import load_or_pretrain, model_dir_for

    model_dir = Path(encoder_dir or model_dir_for("hr", profile))
    has_encoder = (model_dir / CONFIG_NAME).is_file()
    if WORLD_PROFILE[profile] is None and not has_encoder:
        if not (chip_store_dir(profile) / "meta.json").is_file():
            return None, (
                f"no 1 m encoder in {model_dir} and no chip store to pre-train one: run A1, then "
                f"A2 with -p profile {profile} -p sensor hr, or set -p encoder_dir FOLDER; the "
                "models start from random weights only"
            )
    store = ensure_chip_store(profile) if not has_encoder else chip_store_dir(profile)
    encoder = load_or_pretrain(store, "hr", profile, model_dir, **pretrain_kwargs)
    if tuple(encoder.bands) != tuple(dataset.bands):
        return None, (
            f"the encoder in {model_dir} reads {', '.join(encoder.bands)} but the set's images "
            f"have {', '.join(dataset.bands)}; the models start from random weights only"
        )
    return encoder, ""
