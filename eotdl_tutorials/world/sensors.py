"""The sensors' band tables, kept here for code that imported them from the world: they live in
``eotdl_tutorials.facts.sensors``."""

from eotdl_tutorials.facts.sensors import (  # noqa: F401
    HR_BANDS,
    HR_SCALE,
    HR_TILE_PX,
    S1_ENL,
    S1_POLARIZATIONS,
    S2_BAND_BY_COMMON_NAME,
    S2_BAND_BY_NAME,
    S2_BANDS,
    S2_EARTH_SEARCH_TO_PC,
    S2_L2A_DN_OFFSET,
    S2_L2A_OFFSET,
    S2_L2A_SCALE,
    SCL_CLASSES,
    SCL_CLOUD,
    Band,
    scl_cloud_percent,
)
