"""The top stage: the inference API that SCANEO calls for assisted labelling, its client and
its benchmark.

Every exported model folder (:func:`eotdl_tutorials.models.export.export_model`) in a directory
is served with ONNX Runtime behind FastAPI on 127.0.0.1 (:func:`serve`, :class:`InferenceServer`);
:mod:`~eotdl_tutorials.serving.scaneo` calls it exactly as SCANEO does. Importing this package,
and running the server, needs no PyTorch (FastAPI, uvicorn, ONNX Runtime, rasterio, NumPy): its
figures are in :mod:`eotdl_tutorials.serving.figures`, its benchmark in
:mod:`eotdl_tutorials.serving.bench`.
"""

from eotdl_tutorials.serving.app import DEFAULT_MAX_PIXELS, DEFAULT_MAX_UPLOAD_MB, create_app
from eotdl_tutorials.serving.predict import BadUpload, classify, mask_geotiff, read_upload, segment
from eotdl_tutorials.serving.registry import ModelLoadError, ServedModel, load_models
from eotdl_tutorials.serving.scaneo import (
    SentImage,
    classify_as_scaneo,
    post_image,
    scaneo_payload,
    segment_as_scaneo,
    vectorise_as_scaneo,
    write_campaign_images,
)
from eotdl_tutorials.serving.server import DEFAULT_PORT, InferenceServer, serve

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_MAX_UPLOAD_MB",
    "DEFAULT_PORT",
    "BadUpload",
    "InferenceServer",
    "ModelLoadError",
    "SentImage",
    "ServedModel",
    "classify",
    "classify_as_scaneo",
    "create_app",
    "load_models",
    "mask_geotiff",
    "post_image",
    "read_upload",
    "scaneo_payload",
    "segment",
    "segment_as_scaneo",
    "serve",
    "vectorise_as_scaneo",
    "write_campaign_images",
]
