"""Search STAC items in a STAC API, a stac-geoparquet file or a JSON FeatureCollection.

One call, three kinds of source (:mod:`~eotdl_tutorials.stac.sources`), the same answer:

- a STAC API URL: paged item search with pystac-client, every HTTP request counted, retried with
  exponential back-off (:mod:`~eotdl_tutorials.stac.api_io`), and a :class:`ConnectionError`
  naming the URL when the API stays unreachable;
- a stac-geoparquet file (``.parquet``): row groups pruned with pyarrow on the ``bbox``,
  ``datetime`` and ``collection`` columns, rows turned back into items with rustac;
- a JSON file holding a FeatureCollection, a list of items or one item.

The Planetary Computer's item hrefs are signed (:mod:`~eotdl_tutorials.stac.signing`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pystac

from eotdl_tutorials.stac.api_io import RequestCounter, RetryPolicy
from eotdl_tutorials.stac.dates import DatetimeLike, parse_datetime
from eotdl_tutorials.stac.query import DEFAULT_LIMIT, Query, check_limits, make_query
from eotdl_tutorials.stac.sources import ApiSource, ItemSource, open_source


def _opened(
    source: str | Path | ItemSource, counter: RequestCounter | None, retry: RetryPolicy | None
) -> ItemSource:
    return source if hasattr(source, "iter_items") else open_source(source, counter, retry)


def _collect(
    source: ItemSource, query: Query, limit: int, max_items: int | None
) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for item in source.iter_items(query, limit):
        found.append(item)
        if max_items is not None and len(found) >= max_items:
            break
    return found


def search_item_dicts(
    source: str | Path | ItemSource,
    collections: str | Sequence[str],
    bbox: Sequence[float],
    datetime: DatetimeLike | None = None,
    max_cloud_cover: float | None = None,
    limit: int = DEFAULT_LIMIT,
    max_items: int | None = None,
    counter: RequestCounter | None = None,
    retry: RetryPolicy | None = None,
    fields: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """Like :func:`search_items`, returning the items as GeoJSON dicts (faster for many).

    ``fields`` (dotted paths, e.g. ``properties.datetime``) are the parts of each item the
    caller reads: an API with the fields extension sends only those, other sources whole items.
    """
    check_limits(limit, max_items)
    query = make_query(collections, bbox, parse_datetime(datetime), max_cloud_cover, fields)
    return _collect(_opened(source, counter, retry), query, limit, max_items)


def search_parameters(
    source: ItemSource,
    collections: str | Sequence[str],
    bbox: Sequence[float],
    datetime: DatetimeLike | None = None,
    max_cloud_cover: float | None = None,
    limit: int = DEFAULT_LIMIT,
    fields: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The JSON body of the first ``POST /search`` that :func:`search_item_dicts` sends for
    these arguments to the API ``source`` (opened by :func:`open_source`)."""
    if not isinstance(source, ApiSource):
        raise ValueError("search_parameters needs a STAC API opened with open_source(URL)")
    check_limits(limit, None)
    query = make_query(collections, bbox, parse_datetime(datetime), max_cloud_cover, fields)
    return source.item_search(query, limit).get_parameters()


def search_items(
    source: str | Path | ItemSource,
    collections: str | Sequence[str],
    bbox: Sequence[float],
    datetime: DatetimeLike | None = None,
    max_cloud_cover: float | None = None,
    limit: int = DEFAULT_LIMIT,
    max_items: int | None = None,
    counter: RequestCounter | None = None,
    retry: RetryPolicy | None = None,
) -> list[pystac.Item]:
    """Items of ``collections`` intersecting ``bbox`` (WGS84) within ``datetime``.

    ``source`` is a STAC API URL, a stac-geoparquet file or a JSON FeatureCollection, or one of
    them opened by :func:`open_source` (``counter`` and ``retry`` then are those it was given).
    ``max_cloud_cover`` (percent) keeps items whose ``eo:cloud_cover`` is at most that (items
    without one are dropped). ``limit`` is the page size asked of an API, ``max_items`` caps the
    result. ``counter`` accumulates the HTTP requests sent; ``retry`` sets the back-off.
    """
    found = search_item_dicts(
        source, collections, bbox, datetime, max_cloud_cover, limit, max_items, counter, retry
    )
    return [pystac.Item.from_dict(item, preserve_dict=False) for item in found]
