"""Match high-resolution footprints with Sentinel-2 and Sentinel-1 scenes.

:func:`match` fetches each collection's scenes once for the whole area and period and joins them
with every footprint in one vectorised operation (optionally on a Dask cluster);
:func:`match_per_footprint` is the EOTDL way (one API search per footprint), kept as a reference.
"""

from eotdl_tutorials.matching.baseline import compare_matches, match_per_footprint
from eotdl_tutorials.matching.footprints import read_footprints
from eotdl_tutorials.matching.join import (
    DEFAULT_MAX_CLOUD_COVER,
    DEFAULT_TIME_BUFFER_DAYS,
    SENSOR_OF_COLLECTION,
    MatchRules,
)
from eotdl_tutorials.matching.match import (
    DEFAULT_COLLECTIONS,
    MatchResult,
    match,
    read_matches,
)
from eotdl_tutorials.matching.windows import SENTINEL_GSD, Windows, footprint_windows

__all__ = [
    "DEFAULT_COLLECTIONS",
    "DEFAULT_MAX_CLOUD_COVER",
    "DEFAULT_TIME_BUFFER_DAYS",
    "SENSOR_OF_COLLECTION",
    "SENTINEL_GSD",
    "MatchResult",
    "MatchRules",
    "Windows",
    "compare_matches",
    "footprint_windows",
    "match",
    "match_per_footprint",
    "read_footprints",
    "read_matches",
]
