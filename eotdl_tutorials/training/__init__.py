"""Training helpers shared by the use cases (Lightning), pre-training, time budgets, evaluation.

Figures of training runs and of the evaluation are in :mod:`eotdl_tutorials.training.figures`.
"""

from eotdl_tutorials.training.budget import TimeBudget, TrainedBudget, fit_trained_budget
from eotdl_tutorials.training.eurosat import EOTDL_EUROSAT, EOTDL_EUROSAT_SOURCE
from eotdl_tutorials.training.evaluation import (
    METHOD_TITLES,
    METHODS,
    FewLabelResult,
    evaluate_label_ratios,
    label_subset,
)
from eotdl_tutorials.training.finetune import trained_correct, training_steps
from eotdl_tutorials.training.pretrain import (
    load_or_pretrain,
    model_dir_for,
    pretrain_encoder,
    publish_encoder,
)
from eotdl_tutorials.training.probes import (
    band_statistics,
    embed,
    knn_correct,
    linear_probe_correct,
    random_encoder,
)
from eotdl_tutorials.training.report import (
    GAPS,
    LESSON_GOALS,
    directions,
    gaps,
    lesson_report,
    summarize,
)
from eotdl_tutorials.training.settings import SETTINGS, TrainingSettings, settings
from eotdl_tutorials.training.trainer import (
    ChannelsLast,
    LastCheckpoint,
    check_checkpoint,
    default_precision,
    fit,
    make_trainer,
    resolve_accelerator,
    resolve_checkpoint,
    seed,
)

__all__ = [
    "EOTDL_EUROSAT",
    "EOTDL_EUROSAT_SOURCE",
    "GAPS",
    "LESSON_GOALS",
    "METHODS",
    "METHOD_TITLES",
    "SETTINGS",
    "ChannelsLast",
    "FewLabelResult",
    "LastCheckpoint",
    "TimeBudget",
    "TrainedBudget",
    "TrainingSettings",
    "band_statistics",
    "check_checkpoint",
    "default_precision",
    "directions",
    "embed",
    "evaluate_label_ratios",
    "fit",
    "fit_trained_budget",
    "gaps",
    "knn_correct",
    "label_subset",
    "lesson_report",
    "linear_probe_correct",
    "load_or_pretrain",
    "make_trainer",
    "model_dir_for",
    "pretrain_encoder",
    "publish_encoder",
    "random_encoder",
    "resolve_accelerator",
    "resolve_checkpoint",
    "seed",
    "settings",
    "summarize",
    "trained_correct",
    "training_steps",
]
