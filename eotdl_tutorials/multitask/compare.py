"""Single-task against multi-task: the three models, two initialisations, one table.

:func:`compare_models` trains the classifier, the U-Net and the multi-task model on the same
labelled tiles, from random weights and (when given) from use case A's Barlow Twins encoder of
the 1 m sensor, and scores them on the test split next to the floors: the majority class and
each model with random weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from eotdl_tutorials.models.encoder import SensorEncoder
from eotdl_tutorials.multitask.dataset import LandCoverSet, Split
from eotdl_tutorials.multitask.evaluation import majority_row, predict, score, table
from eotdl_tutorials.multitask.export import export_name
from eotdl_tutorials.multitask.inputs import model_inputs
from eotdl_tutorials.multitask.models import CLASSIFICATION, SEGMENTATION
from eotdl_tutorials.multitask.settings import MultitaskSettings
from eotdl_tutorials.multitask.training import TrainedModel, new_model, train_model
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
    """The table (one row per model and initialisation) and the trained models by
    ``(model, init)``."""

    table: pd.DataFrame
    models: dict[tuple[str, str], TrainedModel]

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
    rows = [
        {"model": "majority class", "init": "none", "params": 0}
        | majority_row(
            dataset.masks[train], dataset.presence[train], masks, presence, dataset.classes
        )
    ]
    for name, tasks in MODELS.items():
        seed(random_seed)
        untrained = new_model(dataset, train, tasks, **config.model_kwargs())
        scores = score(predict(untrained, test_x), masks, presence, dataset.classes)
        rows.append(
            {"model": name, "init": RANDOM_WEIGHTS, "params": untrained.parameter_count()} | scores
        )
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
            {
                "model": name,
                "init": trained.init,
                "params": trained.model.parameter_count(),
                "train_s": round(trained.seconds, 1),
                "infer_ms_per_tile": round(1000 * predictions.seconds_per_tile, 2),
            }
            | score(predictions, masks, presence, dataset.classes)
        )
    return Comparison(table(rows), models)


def exports_of(comparison: Comparison) -> dict[str, TrainedModel]:
    """The comparison's randomly initialised models by export name (for
    :func:`~eotdl_tutorials.multitask.export.ensure_exported_models`)."""
    return {
        export_name(MODELS[name], trained.preprocessing): trained
        for (name, init), trained in comparison.models.items()
        if init == "random"
    }


def multitask_gap(comparison: Comparison, init: str = "random") -> dict[str, float]:
    """Points (x100) by which the multi-task model trails the best single-task model of the
    same initialisation on each task (negative: the multi-task model is ahead)."""
    best_f1 = comparison.row("classifier", init)["f1"]
    best_miou = comparison.row("u-net", init)["miou"]
    multi = comparison.row("multi-task", init)
    return {
        "f1": float(100 * (best_f1 - multi["f1"])),
        "miou": float(100 * (best_miou - multi["miou"])),
    }


def results_rows(comparison: Comparison) -> list[dict]:
    """The table as the results file's ``rows`` (model, init, f1, miou, params, ...), with
    NaN (no mask) written as None."""
    frame = comparison.table.astype(object).where(comparison.table.notna(), None)
    return [
        {k: (float(v) if isinstance(v, np.floating) else v) for k, v in row.items()}
        for row in frame.to_dict("records")
    ]
