"""Downstream checks: what a model of one use case does with another's output (use case B's
super-resolution fed to a road model of use case D: :mod:`.roads`), after both stages."""

from eotdl_tutorials.downstream.roads import (
    DOWNSTREAM_TILE,
    DOWNSTREAM_TRANSFER,
    FineRoads,
    as_road_dataset,
    fine_grid,
    fine_road_chips,
    read_aerial,
    restandardised,
)

__all__ = [
    "DOWNSTREAM_TILE",
    "DOWNSTREAM_TRANSFER",
    "FineRoads",
    "as_road_dataset",
    "fine_grid",
    "fine_road_chips",
    "read_aerial",
    "restandardised",
]
