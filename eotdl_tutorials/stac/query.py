"""The criteria of one item search (collections, bbox, time interval, cloud limit, fields):
checked, and matched against item dicts where a source cannot filter."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import shapely
import shapely.geometry

from eotdl_tutorials.stac.dates import TimeInterval, item_interval

BBox = tuple[float, float, float, float]
#: Largest page size pystac-client accepts.
MAX_LIMIT = 10_000
DEFAULT_LIMIT = 100


def check_bbox(bbox: Sequence[float]) -> BBox:
    """``bbox`` as (west, south, east, north) in degrees; ValueError if it is not one."""
    try:
        west, south, east, north = (float(v) for v in bbox)
    except (TypeError, ValueError):
        raise ValueError(
            f"bbox must be 4 numbers (west, south, east, north) in degrees, got {bbox!r}"
        ) from None
    if not (-180 <= west <= east <= 180 and -90 <= south <= north <= 90):
        raise ValueError(
            f"bbox {bbox!r} is not (west, south, east, north) in degrees with west <= east and "
            "south <= north (bboxes across the antimeridian are not supported: split them)"
        )
    return west, south, east, north


def _check_collections(collections: str | Sequence[str]) -> list[str]:
    names = [collections] if isinstance(collections, str) else list(collections)
    if not names or not all(isinstance(name, str) and name for name in names):
        raise ValueError(f"collections must be a collection id or a list of them, got {names!r}")
    return names


@dataclass(frozen=True)
class Query:
    """One search's checked criteria (made by :func:`make_query`)."""

    collections: list[str]
    bbox: BBox
    interval: TimeInterval
    max_cloud_cover: float | None
    #: The item fields wanted (dotted paths such as ``properties.datetime``); None: all.
    fields: tuple[str, ...] | None = None

    def matches(self, item: dict[str, Any], check_footprint: bool = True) -> bool:
        """Whether an item dict meets every criterion (used for file sources)."""
        if item.get("collection") not in self.collections:
            return False
        properties = item.get("properties") or {}
        if not self.cloud_ok(item):
            return False
        item_start, item_end = item_interval(properties)
        query_start, query_end = self.interval
        if query_end is not None and item_start is not None and item_start > query_end:
            return False
        if query_start is not None and item_end is not None and item_end < query_start:
            return False
        if not check_footprint:
            return True
        if item.get("geometry"):
            footprint = shapely.geometry.shape(item["geometry"])
        elif item.get("bbox"):
            footprint = shapely.box(*item["bbox"][:2], *item["bbox"][-2:])
        else:
            return False
        return bool(footprint.intersects(self.box))

    @functools.cached_property
    def box(self) -> shapely.Polygon:
        """The query's bbox as a polygon."""
        return shapely.box(*self.bbox)

    def cloud_ok(self, item: dict[str, Any]) -> bool:
        """The client-side cloud filter: items without ``eo:cloud_cover`` fail it."""
        if self.max_cloud_cover is None:
            return True
        cover = (item.get("properties") or {}).get("eo:cloud_cover")
        return cover is not None and float(cover) <= self.max_cloud_cover


def make_query(
    collections: str | Sequence[str],
    bbox: Sequence[float],
    interval: TimeInterval,
    max_cloud_cover: float | None,
    fields: Sequence[str] | None = None,
) -> Query:
    if max_cloud_cover is not None and not 0 <= max_cloud_cover <= 100:
        raise ValueError(f"max_cloud_cover is a percentage (0 to 100), got {max_cloud_cover}")
    if fields is not None:
        fields = tuple(fields)
        if max_cloud_cover is not None and "properties.eo:cloud_cover" not in fields:
            fields += ("properties.eo:cloud_cover",)  # the client-side check reads it
    return Query(
        _check_collections(collections), check_bbox(bbox), interval, max_cloud_cover, fields
    )


def check_limits(limit: int, max_items: int | None) -> None:
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit (items per page) must be between 1 and {MAX_LIMIT}, got {limit}")
    if max_items is not None and max_items < 1:
        raise ValueError(f"max_items must be at least 1 (or None for all), got {max_items}")
