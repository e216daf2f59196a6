"""Training helpers shared by the use cases (Lightning), pre-training, evaluation, benchmark."""

from eotdl_tutorials.training.evaluation import (
    FewLabelResult,
    embed,
    evaluate_label_ratios,
    knn_accuracy,
    label_subset,
    linear_probe_accuracy,
    random_encoder,
    summarize,
    supervised_accuracy,
)
from eotdl_tutorials.training.figures import (
    plot_accuracy_vs_ratio,
    plot_embeddings_2d,
    plot_metrics,
    plot_views,
    read_metrics,
)
from eotdl_tutorials.training.pretrain import (
    load_or_pretrain,
    model_dir_for,
    pretrain_encoder,
    publish_encoder,
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
    "SETTINGS",
    "ChannelsLast",
    "FewLabelResult",
    "LastCheckpoint",
    "TrainingSettings",
    "check_checkpoint",
    "default_precision",
    "embed",
    "evaluate_label_ratios",
    "fit",
    "knn_accuracy",
    "label_subset",
    "linear_probe_accuracy",
    "load_or_pretrain",
    "make_trainer",
    "model_dir_for",
    "plot_accuracy_vs_ratio",
    "plot_embeddings_2d",
    "plot_metrics",
    "plot_views",
    "pretrain_encoder",
    "publish_encoder",
    "random_encoder",
    "read_metrics",
    "resolve_accelerator",
    "resolve_checkpoint",
    "seed",
    "settings",
    "summarize",
    "supervised_accuracy",
]
