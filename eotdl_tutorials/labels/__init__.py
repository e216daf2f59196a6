"""Labels in SCANEO's export format (both ways) and as a STAC label catalog."""

from eotdl_tutorials.labels.scaneo import (
    LABELS_FILE,
    ScaneoExport,
    ScaneoFormatError,
    mask_features,
    rasterize_export,
    rasterize_image,
    read_scaneo_export,
    write_scaneo_export,
)
from eotdl_tutorials.labels.stac import write_label_catalog

__all__ = [
    "LABELS_FILE",
    "ScaneoExport",
    "ScaneoFormatError",
    "mask_features",
    "rasterize_export",
    "rasterize_image",
    "read_scaneo_export",
    "write_label_catalog",
    "write_scaneo_export",
]
