"""Models: what an exported model folder says and how a GeoTIFF becomes its input, without
PyTorch (re-exported here: what the inference server reads); the networks, their training and
export are PyTorch modules imported from their own files.

- here: :mod:`~eotdl_tutorials.models.card` (the model card), :mod:`~eotdl_tutorials.models.bands`
  (band matching, SCANEO's RGB preprocessing), :mod:`~eotdl_tutorials.models.folder` (the folder
  format, its ONNX Runtime session), :mod:`~eotdl_tutorials.models.geotiff` (a GeoTIFF as input);
- PyTorch: :mod:`~eotdl_tutorials.models.normalise` (the input normalisation layer),
  :mod:`~eotdl_tutorials.models.encoder`, :mod:`~eotdl_tutorials.models.small_conv`,
  :mod:`~eotdl_tutorials.models.base`, :mod:`~eotdl_tutorials.models.barlow_twins`,
  :mod:`~eotdl_tutorials.models.classifier`; :mod:`~eotdl_tutorials.models.export` (a network
  as a folder and back), :mod:`~eotdl_tutorials.models.onnx_export`,
  :mod:`~eotdl_tutorials.models.encoder_io` (encoders as folders, embedding a GeoTIFF);
- the folder's STAC Item (:mod:`~eotdl_tutorials.models.mlm`) and its EOTDL README and catalog
  (:mod:`~eotdl_tutorials.models.publishing`).
"""

from eotdl_tutorials.models.bands import (
    PREPROCESSING,
    band_mapping,
    band_name,
    match_bands,
    rgb_values,
    scaneo_rgb,
)
from eotdl_tutorials.models.card import NO_LABEL, TASKS, ModelCard, z_score
from eotdl_tutorials.models.folder import CONFIG_NAME, onnx_session, read_card, read_model_record
from eotdl_tutorials.models.geotiff import OffsetAssumed, carries_offset, read_model_input

__all__ = [
    "CONFIG_NAME",
    "NO_LABEL",
    "PREPROCESSING",
    "TASKS",
    "ModelCard",
    "OffsetAssumed",
    "band_mapping",
    "band_name",
    "match_bands",
    "onnx_session",
    "read_card",
    "carries_offset",
    "read_model_input",
    "read_model_record",
    "rgb_values",
    "scaneo_rgb",
    "z_score",
]
