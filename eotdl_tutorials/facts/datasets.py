"""Facts of the public datasets the course reads in the ``full`` profile: how each is laid out.

- **Massachusetts Roads** (Mnih 2013; the release Kaggle and EOTDL distribute): ``tiff/train``,
  ``tiff/val``, ``tiff/test`` hold the 1 m RGB images (``<id>.tiff``), ``tiff/<split>_labels``
  their road masks (``<id>.tif``, 0 background, 255 road), beside ``metadata.csv`` and
  ``label_class_dict.csv``; no road vectors.
- **ESA WorldCover** 10 m (v200, 2021): uint8 COG tiles of 3 x 3 degrees in EPSG:4326, pixels of
  1/12000 degree, named by their south-west corner
  (``ESA_WorldCover_10m_2021_v200_N45E003_Map.tif``), class codes :data:`WORLDCOVER_CODES`.
- **Satellogic EarthView**: the index's columns :data:`EARTHVIEW_INDEX_COLUMNS`, a metadata JSON
  per tile at ``json_path`` (relative to the index) with the ``analytic`` 1 m asset.
"""

from __future__ import annotations

import math

#: The course's split names and the Massachusetts Roads release's folder names for them.
ROADS_SPLIT_FOLDERS = {"train": "train", "valid": "val", "test": "test"}
ROADS_IMAGE_SUFFIX, ROADS_LABEL_SUFFIX = ".tiff", ".tif"
#: The road value of a Massachusetts Roads mask (background is 0).
ROADS_VALUE = 255
ROADS_METADATA_NAME, ROADS_CLASSES_NAME = "metadata.csv", "label_class_dict.csv"

#: ESA WorldCover's class codes and names (WorldCover 2021 v200 product user manual).
WORLDCOVER_CODES = {
    10: "tree cover",
    20: "shrubland",
    30: "grassland",
    40: "cropland",
    50: "built-up",
    60: "bare / sparse vegetation",
    70: "snow and ice",
    80: "permanent water bodies",
    90: "herbaceous wetland",
    95: "mangroves",
    100: "moss and lichen",
}
WORLDCOVER_PIXEL_DEG = 1 / 12000
WORLDCOVER_TILE_DEG = 3

#: The columns of the EarthView index EOTDL reads (``satellogic-earthview-items.parquet``).
EARTHVIEW_INDEX_COLUMNS = ("json_path", "zone", "region", "date", "geometry")


def worldcover_tile_name(lon: float, lat: float) -> str:
    """The file name of the WorldCover tile holding ``(lon, lat)``."""
    south = math.floor(lat / WORLDCOVER_TILE_DEG) * WORLDCOVER_TILE_DEG
    west = math.floor(lon / WORLDCOVER_TILE_DEG) * WORLDCOVER_TILE_DEG
    north_south = f"{'N' if south >= 0 else 'S'}{abs(south):02d}"
    east_west = f"{'E' if west >= 0 else 'W'}{abs(west):03d}"
    return f"ESA_WorldCover_10m_2021_v200_{north_south}{east_west}_Map.tif"
