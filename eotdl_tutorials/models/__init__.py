"""Encoders, Barlow Twins, a supervised classifier and model export (weights, ONNX, STAC MLM)."""

from eotdl_tutorials.models.barlow_twins import (
    PAPER_LAMBDA,
    PAPER_PROJECTOR,
    BarlowTwinsTask,
    Projector,
    barlow_twins_loss,
    cross_correlation,
)
from eotdl_tutorials.models.classifier import ClassifierTask
from eotdl_tutorials.models.encoder import SENSORS, SensorEncoder, check_bands, make_backbone
from eotdl_tutorials.models.export import (
    export_onnx,
    load_encoder,
    mlm_item,
    publish_model_folder,
    read_encoder_config,
    save_encoder,
    write_item,
)
from eotdl_tutorials.models.geotiff import band_name, embed_geotiff, match_bands

__all__ = [
    "PAPER_LAMBDA",
    "PAPER_PROJECTOR",
    "SENSORS",
    "BarlowTwinsTask",
    "ClassifierTask",
    "Projector",
    "SensorEncoder",
    "band_name",
    "barlow_twins_loss",
    "check_bands",
    "cross_correlation",
    "embed_geotiff",
    "export_onnx",
    "load_encoder",
    "make_backbone",
    "match_bands",
    "mlm_item",
    "read_encoder_config",
    "save_encoder",
    "publish_model_folder",
    "write_item",
]
