"""Labels in SCANEO's export format (both ways, both of its layouts) and as a STAC label
catalog (both ways)."""

from eotdl_tutorials.labels.scaneo import (
    LABELS_FILE,
    LEGACY_LABELS_FILE,
    ScaneoExport,
    ScaneoFormatError,
    mask_features,
    rasterize_export,
    rasterize_image,
    read_scaneo_export,
    write_scaneo_export,
)
from eotdl_tutorials.labels.stac import read_label_catalog, write_label_catalog

__all__ = [
    "LABELS_FILE",
    "LEGACY_LABELS_FILE",
    "ScaneoExport",
    "ScaneoFormatError",
    "mask_features",
    "rasterize_export",
    "rasterize_image",
    "read_label_catalog",
    "read_scaneo_export",
    "write_label_catalog",
    "write_scaneo_export",
]
