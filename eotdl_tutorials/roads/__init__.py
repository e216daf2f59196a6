"""Use case D: road extraction on Sentinel-2 from existing high-resolution road labels.

The stages: :mod:`.aerial` (the 1 m road dataset in the Massachusetts Roads layout),
:mod:`.dataset` (match, cut, transfer the labels with :mod:`.transfer`), :mod:`.model`
and :mod:`.train` (a U-Net, BCE + Dice), :mod:`.metrics` (pixel, relaxed and graph scores),
:mod:`.baseline` (a spectral index threshold), :mod:`.predict` (whole scenes) and :mod:`.export`.
"""

from eotdl_tutorials.roads.aerial import (
    SPLIT_FOLDERS,
    TEST_REGIONS,
    AerialRoads,
    AerialRoadsError,
    aerial_roads_dir,
    ensure_aerial_roads,
    place_splits,
    read_aerial_roads,
    road_mask,
    write_aerial_roads,
)
from eotdl_tutorials.roads.baseline import (
    INDICES,
    IndexThreshold,
    fit_index_threshold,
    spectral_index,
)
from eotdl_tutorials.roads.dataset import (
    BAND_SETS,
    RGB_BANDS,
    ROAD_DATE,
    ROAD_TIME_BUFFER_DAYS,
    S2_10_20M_BANDS,
    RoadDataset,
    build_road_dataset,
    read_road_dataset,
    road_footprints,
)
from eotdl_tutorials.roads.export import (
    ROAD_CLASSES,
    RoadClassLogits,
    export_road_model,
    load_road_model,
    road_model_files,
)
from eotdl_tutorials.roads.metrics import (
    Scores,
    connectivity,
    dataset_scores,
    per_image_iou,
    relaxed_f1,
    road_graph,
)
from eotdl_tutorials.roads.model import (
    RoadDataModule,
    RoadNet,
    RoadSegmentationTask,
    init_from_encoder,
    predict_probabilities,
)
from eotdl_tutorials.roads.predict import ScenePrediction, predict_scene, predict_tiled, road_lines
from eotdl_tutorials.roads.scene import stack_s2_scene
from eotdl_tutorials.roads.train import (
    ROAD_SETTINGS,
    RoadTrainingSettings,
    band_statistics,
    road_settings,
    score_row,
    train_road_model,
)
from eotdl_tutorials.roads.transfer import (
    DEFAULT_FRACTION_THRESHOLD,
    TRANSFERS,
    fraction_labels,
    nearest_labels,
    road_fraction,
    summarize_transfers,
    vector_labels,
)

__all__ = [
    "SPLIT_FOLDERS",
    "TEST_REGIONS",
    "AerialRoads",
    "AerialRoadsError",
    "aerial_roads_dir",
    "ensure_aerial_roads",
    "read_aerial_roads",
    "road_mask",
    "write_aerial_roads",
    "BAND_SETS",
    "DEFAULT_FRACTION_THRESHOLD",
    "INDICES",
    "RGB_BANDS",
    "ROAD_CLASSES",
    "ROAD_DATE",
    "ROAD_SETTINGS",
    "ROAD_TIME_BUFFER_DAYS",
    "S2_10_20M_BANDS",
    "TRANSFERS",
    "IndexThreshold",
    "RoadDataModule",
    "RoadClassLogits",
    "RoadDataset",
    "RoadNet",
    "RoadSegmentationTask",
    "RoadTrainingSettings",
    "ScenePrediction",
    "Scores",
    "band_statistics",
    "build_road_dataset",
    "connectivity",
    "dataset_scores",
    "export_road_model",
    "fit_index_threshold",
    "fraction_labels",
    "init_from_encoder",
    "load_road_model",
    "nearest_labels",
    "per_image_iou",
    "place_splits",
    "predict_probabilities",
    "predict_scene",
    "predict_tiled",
    "read_road_dataset",
    "relaxed_f1",
    "road_footprints",
    "road_fraction",
    "road_graph",
    "road_lines",
    "road_model_files",
    "road_settings",
    "score_row",
    "spectral_index",
    "stack_s2_scene",
    "summarize_transfers",
    "train_road_model",
    "vector_labels",
]
