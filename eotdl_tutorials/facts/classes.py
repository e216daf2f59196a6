"""The class legends: land cover per pixel (the label rasters) and EuroSAT's scene classes per chip.

``CLASSES`` is the one pixel legend: the values of every 1 m land-cover mask and the ``presence_*``
columns of a chip store. Codes 0 to 7 kept their meaning when codes 8 to 12 were added (a river is
no longer "water", a motorway corridor no longer a "road", and so on), so code that reads
``CLASSES`` by name or ``len(CLASSES)`` keeps working.

``SCENE_CLASSES`` are the ten classes of EuroSAT (Helber et al. 2019, IEEE JSTARS 12(7):2217-2226),
in the alphabetical order of its folders (torchgeo's ``EuroSAT`` order). A chip's scene class is
computed from the pixel classes under it by :func:`scene_label`, never drawn at random.
"""

from __future__ import annotations

import numpy as np

#: Land-cover classes of the sample world, by code (the labels' pixel values).
CLASSES: tuple[str, ...] = (
    "water",  # lakes and reservoirs: compact water bodies
    "forest",
    "cropland",  # annual crops, with their phenology
    "grassland",  # pasture and meadows: grazed or mown, even
    "built-up",  # residential ground between buildings: gardens, yards, driveways
    "bare soil",
    "road",  # streets and secondary roads
    "building",
    "river",  # rivers: long ribbons
    "permanent crop",  # orchards and vineyards, planted in rows
    "herbaceous vegetation",  # natural, patchy, with shrubs
    "industrial",  # industrial and commercial ground: yards, car parks, few trees
    "highway",  # motorway corridors: carriageways and their verges
)
(
    WATER,
    FOREST,
    CROPLAND,
    GRASSLAND,
    BUILT_UP,
    BARE_SOIL,
    ROAD,
    BUILDING,
    RIVER,
    PERMANENT_CROP,
    HERBACEOUS,
    INDUSTRIAL,
    HIGHWAY,
) = range(13)
#: The land-cover classes a whole parcel can have (the others are drawn over parcels).
PARCEL_CLASSES = tuple(
    CLASSES[c]
    for c in (WATER, FOREST, CROPLAND, GRASSLAND, BUILT_UP, BARE_SOIL)
    + (PERMANENT_CROP, HERBACEOUS, INDUSTRIAL)
)

#: EuroSAT's ten scene classes, in its (alphabetical) label order.
SCENE_CLASSES: tuple[str, ...] = (
    "AnnualCrop",
    "Forest",
    "HerbaceousVegetation",
    "Highway",
    "Industrial",
    "Pasture",
    "PermanentCrop",
    "Residential",
    "River",
    "SeaLake",
)
(
    ANNUAL_CROP,
    SCENE_FOREST,
    SCENE_HERBACEOUS,
    SCENE_HIGHWAY,
    SCENE_INDUSTRIAL,
    PASTURE,
    SCENE_PERMANENT_CROP,
    RESIDENTIAL,
    SCENE_RIVER,
    SEA_LAKE,
) = range(10)

#: The scene class each pixel class counts towards when no ribbon (river, motorway) decides.
#: Bare soil has no EuroSAT class: in the world it is fallow or open semi-natural land, which
#: EuroSAT files under HerbaceousVegetation. Buildings and streets count towards the built-up
#: ground they stand on (see ``scene_label``).
PIXEL_TO_SCENE: dict[int, int] = {
    WATER: SEA_LAKE,
    FOREST: SCENE_FOREST,
    CROPLAND: ANNUAL_CROP,
    GRASSLAND: PASTURE,
    BUILT_UP: RESIDENTIAL,
    BARE_SOIL: SCENE_HERBACEOUS,
    RIVER: SCENE_RIVER,
    PERMANENT_CROP: SCENE_PERMANENT_CROP,
    HERBACEOUS: SCENE_HERBACEOUS,
    INDUSTRIAL: SCENE_INDUSTRIAL,
    HIGHWAY: SCENE_HIGHWAY,
}
#: Share of a chip a ribbon must cover to name it: a 44 m river or a 51 m motorway corridor
#: crossing a 384 m chip covers 11 to 13 %, so 8 % asks that most of one crossing lies inside.
RIBBON_SHARE = 0.08


def scene_label(counts: np.ndarray) -> int:
    """The EuroSAT scene class of a chip from its pixel-class counts (``len(CLASSES)`` values).

    1. Mostly water (river and lake together at least half): SeaLake or River, whichever is more.
    2. A river crossing (at least ``RIBBON_SHARE``): River; else a motorway crossing: Highway.
    3. Otherwise the scene class with the most area. Buildings and streets count towards the
       built-up ground around them: Industrial where industrial ground outweighs residential,
       else Residential.
    """
    counts = np.asarray(counts, dtype=np.float64)
    if counts.shape != (len(CLASSES),):
        raise ValueError(f"need {len(CLASSES)} class counts, got shape {counts.shape}")
    total = counts.sum()
    if total <= 0:
        raise ValueError("a chip without labelled pixels has no scene class")
    share = counts / total
    if share[WATER] + share[RIVER] >= 0.5:
        return SEA_LAKE if counts[WATER] >= counts[RIVER] else SCENE_RIVER
    if share[RIVER] >= RIBBON_SHARE:
        return SCENE_RIVER
    if share[HIGHWAY] >= RIBBON_SHARE:
        return SCENE_HIGHWAY
    scenes = np.zeros(len(SCENE_CLASSES))
    for pixel, scene in PIXEL_TO_SCENE.items():
        scenes[scene] += counts[pixel]
    town = SCENE_INDUSTRIAL if counts[INDUSTRIAL] > counts[BUILT_UP] else RESIDENTIAL
    scenes[town] += counts[BUILDING] + counts[ROAD]
    return int(np.argmax(scenes))
