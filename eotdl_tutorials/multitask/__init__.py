"""Use case C: land-cover classification, segmentation and multi-task models on the 1 m tiles,
their comparison, active learning with baal, and their export for the inference API.

Stages: :mod:`dataset` (the labelled set and the pool; :mod:`real` builds it from a SCANEO
export in the ``full`` profile) -> :mod:`inputs` -> :mod:`models` ->
:mod:`training` -> :mod:`evaluation` -> :mod:`compare`, :mod:`active` and :mod:`export`.
"""

from eotdl_tutorials.multitask.active import (
    STRATEGIES,
    ActiveLearningResult,
    acquire,
    floor_miou,
    label_savings,
    labels_to_reach,
    loop_test_rows,
    rank_unlabelled,
    run_active_learning,
    strategy_gaps,
)
from eotdl_tutorials.multitask.compare import (
    MODELS,
    RANDOM_WEIGHTS,
    Comparison,
    compare_models,
    exports_of,
    floor_gaps,
    landcover_encoder,
    model_gaps,
    results_rows,
)
from eotdl_tutorials.multitask.dataset import (
    LandCoverSet,
    Split,
    ensure_landcover_set,
    labelled_and_pool,
    landcover_set_dir,
    open_landcover_set,
    publish_landcover_set,
    save_landcover_set,
    tile_files,
    tile_mask,
)
from eotdl_tutorials.multitask.evaluation import dataset_iou, predict, score
from eotdl_tutorials.multitask.export import (
    EXPORTS,
    ensure_exported_models,
    export_landcover_model,
    exported_models_dir,
)
from eotdl_tutorials.multitask.inputs import input_bands, model_inputs
from eotdl_tutorials.multitask.models import LandCoverNet, init_from_encoder
from eotdl_tutorials.multitask.settings import MultitaskSettings, multitask_settings
from eotdl_tutorials.multitask.training import TrainedModel, train_model

__all__ = [
    "EXPORTS",
    "MODELS",
    "RANDOM_WEIGHTS",
    "STRATEGIES",
    "ActiveLearningResult",
    "Comparison",
    "LandCoverNet",
    "LandCoverSet",
    "MultitaskSettings",
    "Split",
    "TrainedModel",
    "acquire",
    "exports_of",
    "floor_miou",
    "compare_models",
    "dataset_iou",
    "ensure_exported_models",
    "ensure_landcover_set",
    "export_landcover_model",
    "exported_models_dir",
    "init_from_encoder",
    "input_bands",
    "label_savings",
    "labelled_and_pool",
    "labels_to_reach",
    "loop_test_rows",
    "landcover_encoder",
    "landcover_set_dir",
    "rank_unlabelled",
    "open_landcover_set",
    "publish_landcover_set",
    "save_landcover_set",
    "model_inputs",
    "model_gaps",
    "floor_gaps",
    "multitask_settings",
    "predict",
    "results_rows",
    "run_active_learning",
    "strategy_gaps",
    "score",
    "tile_files",
    "tile_mask",
    "train_model",
]
