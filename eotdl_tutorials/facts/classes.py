"""The land-cover legend: the pixel values of every label raster (1 m masks, chip labels)."""

from __future__ import annotations

#: Land-cover classes of the sample world, by code (the labels' pixel values).
CLASSES: tuple[str, ...] = (
    "water",
    "forest",
    "cropland",
    "grassland",
    "built-up",
    "bare soil",
    "road",
    "building",
)
#: The land-cover classes of a whole parcel (roads and buildings are overlays).
PARCEL_CLASSES = CLASSES[:6]
WATER, FOREST, CROPLAND, GRASSLAND, BUILT_UP, BARE_SOIL, ROAD, BUILDING = range(8)
