"""Use case B: super-resolution of Sentinel-2 from 10 m to 5 m (pairs, models, metrics, whole
scenes, export).

Stages: :mod:`.pairs` (S2 chip + 1 m tile pairs with their time gap, calibration and geolocation
offset), :mod:`.models` (bicubic, small CNN, ESRT), :mod:`.training`, :mod:`.metrics`,
:mod:`.scene` (tiled whole-scene inference), :mod:`.export`, :mod:`.bench`.
"""

from eotdl_tutorials.superres.export import export_superres, load_superres, superres_card
from eotdl_tutorials.superres.metrics import error_budget, evaluate, gains_over, predict
from eotdl_tutorials.superres.models import (
    ARCHS,
    ESRT,
    ESRT_PAPER_PARAMS_4X,
    SmallCNN,
    SuperResolver,
    count_parameters,
    make_network,
    upsample_bicubic,
)
from eotdl_tutorials.superres.pairs import (
    PAIR_BANDS,
    PAIR_MAX_CLOUD_PERCENT,
    PairSet,
    area_resize,
    build_pairs,
    cloud_free_rows,
    ensure_pair_store,
    histogram_match,
    measured_offsets,
    pair_store_dir,
    time_gaps,
)
from eotdl_tutorials.superres.scene import (
    SceneBands,
    matched_scene_files,
    pair_scene,
    scene_reflectance,
    stack_scene,
    superres_array,
    superres_scene,
    tile_spans,
)
from eotdl_tutorials.superres.training import SuperResSettings, sr_settings, train_superres

__all__ = [
    "ARCHS",
    "ESRT",
    "ESRT_PAPER_PARAMS_4X",
    "PAIR_BANDS",
    "PAIR_MAX_CLOUD_PERCENT",
    "PairSet",
    "SceneBands",
    "SmallCNN",
    "SuperResSettings",
    "SuperResolver",
    "area_resize",
    "build_pairs",
    "cloud_free_rows",
    "count_parameters",
    "ensure_pair_store",
    "error_budget",
    "evaluate",
    "export_superres",
    "gains_over",
    "histogram_match",
    "load_superres",
    "make_network",
    "matched_scene_files",
    "measured_offsets",
    "pair_scene",
    "pair_store_dir",
    "predict",
    "scene_reflectance",
    "sr_settings",
    "stack_scene",
    "superres_array",
    "superres_card",
    "superres_scene",
    "tile_spans",
    "time_gaps",
    "train_superres",
    "upsample_bicubic",
]
