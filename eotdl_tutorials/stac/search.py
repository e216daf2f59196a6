"""Search STAC items in a STAC API, a stac-geoparquet file or a JSON FeatureCollection.

One call, three kinds of source, the same answer:

- a STAC API URL: paged item search with pystac-client, every HTTP request counted, retried with
  exponential back-off, and a :class:`ConnectionError` naming the URL when the API stays
  unreachable;
- a stac-geoparquet file (``.parquet``): row groups pruned with pyarrow on the ``bbox``,
  ``datetime`` and ``collection`` columns, rows turned back into items with rustac;
- a JSON file holding a FeatureCollection, a list of items or one item.

Asset hrefs of the Planetary Computer point at private Azure Blob Storage: they are read with a
short-lived SAS token added to each href. :func:`open_source` signs every page of items with the
``planetary-computer`` package (``sign_inplace`` as pystac-client's ``modifier``) when the URL is
the Planetary Computer's (:func:`needs_signing`), or when asked (``sign=True``); Earth Search's
hrefs are public and are never signed.

An API is asked for what it declares it can do (its conformance classes): the cloud-cover limit
goes to the server as a CQL2 ``filter`` (or with the ``query`` extension), and only the item
fields the caller needs are sent (``fields`` extension), as pgstac and the Planetary Computer
do; else the filter runs here and items come whole (``rustac serve`` implements neither: it
answers no items at all to a ``query``). The answer is the same either way.
"""

from __future__ import annotations

import functools
import json
import math
import re
import time
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import geopandas as gpd
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pystac
import rustac
import shapely
import shapely.geometry
from tqdm.auto import tqdm

from eotdl_tutorials.stac.conventions import items_to_frame

if TYPE_CHECKING:
    from pystac_client import ItemSearch
    from pystac_client.stac_api_io import StacApiIO

BBox = tuple[float, float, float, float]
#: A closed time interval in UTC; None is an open end.
TimeInterval = tuple[pd.Timestamp | None, pd.Timestamp | None]
DatetimeLike = (
    str | date | datetime | pd.Timestamp | Sequence[str | date | datetime | pd.Timestamp | None]
)

#: Hosts whose item hrefs must be signed (Microsoft Planetary Computer's STAC API).
SIGNING_HOSTS = ("planetarycomputer.microsoft.com",)
#: Largest page size pystac-client accepts.
MAX_LIMIT = 10_000
DEFAULT_LIMIT = 100
#: HTTP statuses worth a retry: rate limiting and server-side failures.
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
#: Rows of a stac-geoparquet file turned into items at a time.
_PARQUET_BATCH = 10_000
_PARTIAL_DATE = re.compile(r"\d{4}(-\d{2}(-\d{2})?)?")
_ISO_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


@dataclass
class RequestCounter:
    """HTTP requests sent to STAC APIs (each retry counts as one more request)."""

    requests: int = 0
    retries: int = 0


@dataclass(frozen=True)
class RetryPolicy:
    """How long to insist on an unreachable or failing STAC API.

    ``tries`` attempts per request, waiting ``backoff_s`` then twice as long each time (at most
    ``max_backoff_s``), giving up earlier when ``total_s`` would be exceeded; each attempt may
    take ``timeout_s`` to connect and as long to read.
    """

    tries: int = 4
    backoff_s: float = 0.5
    max_backoff_s: float = 8.0
    timeout_s: float = 30.0
    total_s: float = 120.0

    def __post_init__(self) -> None:
        if self.tries < 1 or min(self.backoff_s, self.max_backoff_s) < 0:
            raise ValueError(f"RetryPolicy needs tries >= 1 and back-offs >= 0, got {self}")
        if min(self.timeout_s, self.total_s) <= 0:
            raise ValueError(f"RetryPolicy needs positive timeout_s and total_s, got {self}")


@functools.cache
def counting_stac_api_io() -> type[StacApiIO]:
    """pystac-client's HTTP layer, counting requests and retrying with exponential back-off.

    Built on first use: importing pystac-client takes seconds (jsonschema's IRI checker compiles a
    grammar at import, python-jsonschema/jsonschema#1428), a cost only API searches should pay.
    """
    from pystac_client.exceptions import APIError
    from pystac_client.stac_api_io import StacApiIO

    class CountingStacApiIO(StacApiIO):
        def __init__(self, counter: RequestCounter, retry: RetryPolicy) -> None:
            super().__init__(max_retries=None, timeout=retry.timeout_s)
            self.counter = counter
            self.retry = retry

        def request(
            self,
            href: str,
            method: str | None = None,
            headers: dict[str, str] | None = None,
            parameters: dict[str, Any] | None = None,
        ) -> str:
            started = time.monotonic()
            for attempt in range(1, self.retry.tries + 1):
                self.counter.requests += 1
                try:
                    return super().request(href, method, headers, parameters)
                except APIError as err:
                    status = getattr(err, "status_code", None)
                    if status is not None and status not in RETRY_STATUSES:
                        raise ValueError(
                            f"the STAC API rejected {method or 'GET'} {href} (HTTP {status}): "
                            f"{str(err)[:300]}"
                        ) from None
                    reason = f"HTTP {status}: {str(err)[:300]}" if status else str(err)[:300]
                wait = min(self.retry.backoff_s * 2 ** (attempt - 1), self.retry.max_backoff_s)
                elapsed = time.monotonic() - started
                if attempt == self.retry.tries or elapsed + wait > self.retry.total_s:
                    break
                self.counter.retries += 1
                time.sleep(wait)
            raise ConnectionError(
                f"cannot get {href} from the STAC API after {attempt} tries in "
                f"{time.monotonic() - started:.1f} s ({reason}): check the URL, that the server "
                "runs, and the network"
            )

    return CountingStacApiIO


def parse_datetime(value: DatetimeLike | None) -> TimeInterval:
    """A closed UTC interval from a STAC datetime string or Python dates.

    Accepts ``"2022-07-01/2022-07-31"`` (partial dates cover their whole year, month or day;
    ``..`` or an empty side is open), one date or datetime, or a ``(start, end)`` pair.
    """
    if value is None:
        return None, None
    if isinstance(value, str) and "/" in value:
        parts = value.split("/")
        if len(parts) != 2:
            raise ValueError(f"datetime {value!r} must be 'start/end' with one '/'")
        value = tuple(None if part.strip() in ("", "..") else part.strip() for part in parts)
    if isinstance(value, str | date | datetime | pd.Timestamp):
        return _instant_or_period(value)
    if isinstance(value, Sequence) and len(value) == 2:
        start = _instant_or_period(value[0])[0] if value[0] is not None else None
        end = _instant_or_period(value[1])[1] if value[1] is not None else None
        if start is not None and end is not None and start > end:
            raise ValueError(f"datetime interval starts after it ends: {start} > {end}")
        return start, end
    raise ValueError(
        f"datetime must be 'start/end', a date, a datetime or a (start, end) pair, got {value!r}"
    )


def _instant_or_period(value: str | date | datetime | pd.Timestamp) -> TimeInterval:
    try:
        if isinstance(value, str) and _PARTIAL_DATE.fullmatch(value):
            period = pd.Period(value)
            return _utc(period.start_time), _utc(period.end_time)
        if isinstance(value, str) and not _ISO_DATETIME.match(value):
            raise ValueError("not ISO 8601 (e.g. 2022-07-01 or 2022-07-01T10:30:00Z)")
        if isinstance(value, date) and not isinstance(value, datetime):
            period = pd.Period(value, freq="D")
            return _utc(period.start_time), _utc(period.end_time)
        instant = _utc(pd.Timestamp(value))
    except (ValueError, TypeError) as err:
        raise ValueError(f"cannot read {value!r} as a date or datetime: {err}") from None
    return instant, instant


def _utc(stamp: pd.Timestamp) -> pd.Timestamp:
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def format_interval(interval: TimeInterval) -> str | None:
    """The interval as an RFC 3339 STAC API ``datetime`` (``..`` for an open end)."""
    if interval == (None, None):
        return None
    return "/".join(
        ".." if end is None else end.strftime("%Y-%m-%dT%H:%M:%S.%fZ") for end in interval
    )


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


def _item_interval(properties: dict[str, Any]) -> TimeInterval:
    if properties.get("datetime"):
        instant = _utc(pd.Timestamp(properties["datetime"]))
        return instant, instant
    start, end = properties.get("start_datetime"), properties.get("end_datetime")
    return (
        _utc(pd.Timestamp(start)) if start else None,
        _utc(pd.Timestamp(end)) if end else None,
    )


@dataclass(frozen=True)
class _Query:
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
        item_start, item_end = _item_interval(properties)
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


class ItemSource(Protocol):
    """A source opened once by :func:`open_source`: an API keeps its client and connection."""

    def iter_items(self, query: _Query, limit: int) -> Iterator[dict[str, Any]]: ...


def needs_signing(url: str | Path, sign: bool | None = None) -> bool:
    """Whether the item hrefs of the STAC API at ``url`` get signed: ``sign`` when it is given,
    else whether the API is the Planetary Computer's (:data:`SIGNING_HOSTS`)."""
    if sign is not None:
        return bool(sign)
    host = urllib.parse.urlsplit(str(url)).hostname or ""
    return any(host == h or host.endswith(f".{h}") for h in SIGNING_HOSTS)


def href_signer() -> Callable[[Any], Any]:
    """The Planetary Computer's in-place signer (``planetary_computer.sign_inplace``): adds a
    SAS token (fetched once per storage container, cached until it nearly expires) to every
    asset href of an item, a page of items or a collection."""
    try:
        import planetary_computer
    except ImportError:
        raise ImportError(
            "signing Planetary Computer hrefs needs the planetary-computer package: "
            "pip install planetary-computer"
        ) from None
    return planetary_computer.sign_inplace


class _ApiSource:
    """A STAC API opened once with pystac-client (its item hrefs signed when ``sign``)."""

    def __init__(
        self, url: str, counter: RequestCounter, retry: RetryPolicy, sign: bool = False
    ) -> None:
        from pystac_client import Client, ConformanceClasses

        # "http://host:port" would be read twice: once as given, once as its self link "/".
        self.url = url + "/" if urllib.parse.urlsplit(url).path == "" else url
        self.signed = sign
        # Client.open sets the timeout of its stac_io: give it ours, or it waits forever.
        self.client = Client.open(
            self.url,
            stac_io=counting_stac_api_io()(counter, retry),
            timeout=retry.timeout_s,
            modifier=href_signer() if sign else None,
        )
        if not self.client.conforms_to(ConformanceClasses.ITEM_SEARCH):
            raise ValueError(f"the STAC API at {url} does not implement item search")
        self.server_filter = self.client.conforms_to(ConformanceClasses.FILTER)
        self.server_query = self.client.conforms_to(ConformanceClasses.QUERY)
        self.server_fields = self.client.conforms_to(ConformanceClasses.FIELDS)

    def item_search(self, query: _Query, limit: int) -> ItemSearch:
        """The paged search for ``query``, with the filters and fields the API can take."""
        server: dict[str, Any] = {}
        if query.max_cloud_cover is not None and self.server_filter:
            limit_cql2 = {
                "op": "<=",
                "args": [{"property": "eo:cloud_cover"}, query.max_cloud_cover],
            }
            server |= {"filter": limit_cql2, "filter_lang": "cql2-json"}
        elif query.max_cloud_cover is not None and self.server_query:
            server["query"] = {"eo:cloud_cover": {"lte": query.max_cloud_cover}}
        if query.fields is not None and self.server_fields:
            unwanted = [] if "links" in query.fields else ["links"]  # else the API adds them
            server["fields"] = {"include": list(query.fields), "exclude": unwanted}
        return self.client.search(
            collections=query.collections,
            bbox=list(query.bbox),
            datetime=format_interval(query.interval),
            limit=limit,
            **server,
        )

    def iter_items(self, query: _Query, limit: int) -> Iterator[dict[str, Any]]:
        for item in self.item_search(query, limit).items_as_dicts():
            if query.cloud_ok(item):
                yield item


class _JsonSource:
    """Items of a JSON file (FeatureCollection, list of items or one item), read once."""

    def __init__(self, path: Path) -> None:
        try:
            value = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise ValueError(f"{path} is not valid JSON: {err}") from None
        if isinstance(value, dict) and value.get("type") == "FeatureCollection":
            value = value.get("features", [])
        elif isinstance(value, dict):
            value = [value]
        if not isinstance(value, list) or not all(
            isinstance(item, dict) and item.get("type") == "Feature" for item in value
        ):
            raise ValueError(f"{path} holds no STAC items (expected a FeatureCollection)")
        self.items: list[dict[str, Any]] = value

    def iter_items(self, query: _Query, limit: int) -> Iterator[dict[str, Any]]:
        return (item for item in self.items if query.matches(item))


class _ParquetSource:
    """A stac-geoparquet file: pyarrow prunes by columns, rustac rebuilds the items."""

    def __init__(self, path: Path) -> None:
        try:
            self.dataset = ds.dataset(path, format="parquet")
        except (pa.ArrowInvalid, OSError) as err:
            raise ValueError(f"{path} is not a readable parquet file: {err}") from None
        self.path = path

    def _time(self, name: str, stamp: pd.Timestamp) -> pa.Scalar:
        unit = self.dataset.schema.field(name).type
        return pa.scalar(stamp.floor("us").to_pydatetime(), type=pa.timestamp("us", "UTC")).cast(
            unit, safe=False
        )

    def _prefilter(self, query: _Query) -> pc.Expression | None:
        """A coarse filter that keeps every matching row (the exact test comes after)."""
        names = set(self.dataset.schema.names)
        conditions = []
        if "collection" in names:
            conditions.append(pc.field("collection").cast(pa.string()).isin(query.collections))
        if "bbox" in names:
            west, south, east, north = query.bbox
            conditions += [
                pc.field("bbox", "xmin") <= east,
                pc.field("bbox", "xmax") >= west,
                pc.field("bbox", "ymin") <= north,
                pc.field("bbox", "ymax") >= south,
            ]
        start, end = query.interval
        if "datetime" in names and {"start_datetime", "end_datetime"} - names:
            if start is not None:
                conditions.append(pc.field("datetime") >= self._time("datetime", start))
            if end is not None:
                conditions.append(pc.field("datetime") <= self._time("datetime", end))
        if query.max_cloud_cover is not None and "eo:cloud_cover" in names:
            conditions.append(pc.field("eo:cloud_cover") <= query.max_cloud_cover)
        if not conditions:
            return None
        combined = conditions[0]
        for condition in conditions[1:]:
            combined = combined & condition
        return combined

    def iter_items(self, query: _Query, limit: int) -> Iterator[dict[str, Any]]:
        has_wkb = "geometry" in self.dataset.schema.names
        batches = self.dataset.to_batches(filter=self._prefilter(query), batch_size=_PARQUET_BATCH)
        for batch in batches:
            table = pa.Table.from_batches([batch])
            if has_wkb:  # exact footprint test, vectorised, before building item dicts
                footprints = shapely.from_wkb(table["geometry"].to_numpy(zero_copy_only=False))
                table = table.filter(pa.array(shapely.intersects(footprints, query.box)))
            if table.num_rows == 0:
                continue
            for item in rustac.from_arrow(table)["features"]:
                if query.matches(item, check_footprint=not has_wkb):
                    yield item


class _SignedSource:
    """Items of a file source with their hrefs signed (Planetary Computer items saved to a
    file still point at private storage)."""

    def __init__(self, source: ItemSource) -> None:
        self.source = source
        self.sign = href_signer()

    def iter_items(self, query: _Query, limit: int) -> Iterator[dict[str, Any]]:
        return (self.sign(item) for item in self.source.iter_items(query, limit))


def open_source(
    source: str | Path,
    counter: RequestCounter | None = None,
    retry: RetryPolicy | None = None,
    sign: bool | None = None,
) -> ItemSource:
    """Open a STAC API URL, a stac-geoparquet file or a JSON FeatureCollection for searching
    (pass the result to the search functions to send many searches through one client).

    ``sign``: sign the asset hrefs of the items with a Planetary Computer SAS token (None: when
    the source is the Planetary Computer's API, see :func:`needs_signing`; True also signs the
    items of a file)."""
    text = str(source)
    if text.startswith(("http://", "https://")):
        return _ApiSource(
            text, counter or RequestCounter(), retry or RetryPolicy(), needs_signing(text, sign)
        )
    path = Path(source)
    if not path.is_file():
        raise FileNotFoundError(
            f"STAC source {path} not found: pass a STAC API URL (http://...), a stac-geoparquet "
            "file (.parquet) or a JSON FeatureCollection (.json)"
        )
    opened: ItemSource
    if path.suffix.lower() in (".parquet", ".geoparquet"):
        opened = _ParquetSource(path)
    elif path.suffix.lower() in (".json", ".geojson"):
        opened = _JsonSource(path)
    else:
        raise ValueError(
            f"cannot search {path}: expected a .parquet (stac-geoparquet) or .json "
            "(FeatureCollection)"
        )
    return _SignedSource(opened) if sign else opened


def _make_query(
    collections: str | Sequence[str],
    bbox: Sequence[float],
    interval: TimeInterval,
    max_cloud_cover: float | None,
    fields: Sequence[str] | None = None,
) -> _Query:
    if max_cloud_cover is not None and not 0 <= max_cloud_cover <= 100:
        raise ValueError(f"max_cloud_cover is a percentage (0 to 100), got {max_cloud_cover}")
    if fields is not None:
        fields = tuple(fields)
        if max_cloud_cover is not None and "properties.eo:cloud_cover" not in fields:
            fields += ("properties.eo:cloud_cover",)  # the client-side check reads it
    return _Query(
        _check_collections(collections), check_bbox(bbox), interval, max_cloud_cover, fields
    )


def _check_limits(limit: int, max_items: int | None) -> None:
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit (items per page) must be between 1 and {MAX_LIMIT}, got {limit}")
    if max_items is not None and max_items < 1:
        raise ValueError(f"max_items must be at least 1 (or None for all), got {max_items}")


def _opened(
    source: str | Path | ItemSource, counter: RequestCounter | None, retry: RetryPolicy | None
) -> ItemSource:
    return source if hasattr(source, "iter_items") else open_source(source, counter, retry)


def _collect(
    source: ItemSource, query: _Query, limit: int, max_items: int | None
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
    _check_limits(limit, max_items)
    query = _make_query(collections, bbox, parse_datetime(datetime), max_cloud_cover, fields)
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
    if not isinstance(source, _ApiSource):
        raise ValueError("search_parameters needs a STAC API opened with open_source(URL)")
    _check_limits(limit, None)
    query = _make_query(collections, bbox, parse_datetime(datetime), max_cloud_cover, fields)
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


def search_scenes(
    source: str | Path,
    collections: str | Sequence[str],
    bbox: Sequence[float],
    datetime: DatetimeLike | None = None,
    max_cloud_cover: float | None = None,
    limit: int = DEFAULT_LIMIT,
    max_items: int | None = None,
    counter: RequestCounter | None = None,
    retry: RetryPolicy | None = None,
) -> gpd.GeoDataFrame:
    """:func:`search_items` as a frame (see :func:`~eotdl_tutorials.stac.items_to_frame`)."""
    return items_to_frame(
        search_item_dicts(
            source, collections, bbox, datetime, max_cloud_cover, limit, max_items, counter, retry
        )
    )


def split_windows(
    bbox: Sequence[float],
    datetime: DatetimeLike | None,
    days: float | None = None,
    tile_deg: float | None = None,
) -> list[tuple[BBox, TimeInterval]]:
    """Cut a search into (bbox tile, time window) pairs: windows of ``days`` days (the interval
    must then be bounded) and square tiles of ``tile_deg`` degrees; None keeps that axis whole."""
    west, south, east, north = check_bbox(bbox)
    start, end = parse_datetime(datetime)
    windows: list[TimeInterval] = [(start, end)]
    if days is not None:
        if days <= 0:
            raise ValueError(f"days must be positive, got {days}")
        if start is None or end is None:
            raise ValueError("splitting by days needs a bounded datetime interval 'start/end'")
        step = pd.Timedelta(days=days)
        count = max(1, math.ceil((end - start) / step))
        windows = [
            (start + k * step, min(end, start + (k + 1) * step - pd.Timedelta(microseconds=1)))
            for k in range(count)
        ]
    tiles: list[BBox] = [(west, south, east, north)]
    if tile_deg is not None:
        if tile_deg <= 0:
            raise ValueError(f"tile_deg must be positive, got {tile_deg}")
        columns = max(1, math.ceil((east - west) / tile_deg))
        rows = max(1, math.ceil((north - south) / tile_deg))
        tiles = [
            (
                west + i * tile_deg,
                south + j * tile_deg,
                min(east, west + (i + 1) * tile_deg),
                min(north, south + (j + 1) * tile_deg),
            )
            for j in range(rows)
            for i in range(columns)
        ]
    return [(tile, window) for tile in tiles for window in windows]


def split_search(
    source: str | Path,
    collections: str | Sequence[str],
    bbox: Sequence[float],
    datetime: DatetimeLike | None = None,
    days: float | None = None,
    tile_deg: float | None = None,
    max_cloud_cover: float | None = None,
    limit: int = DEFAULT_LIMIT,
    counter: RequestCounter | None = None,
    retry: RetryPolicy | None = None,
    progress: bool = False,
) -> list[pystac.Item]:
    """All items of a large area and period, fetched as a few bounded searches.

    The area is cut into ``tile_deg`` tiles and the period into ``days`` windows
    (:func:`split_windows`); the source is opened once and the items are deduplicated by id
    (a scene overlapping two tiles or two windows comes back once), in the order first seen.
    """
    _check_limits(limit, None)
    windows = split_windows(bbox, datetime, days, tile_deg)
    opened = open_source(source, counter, retry)
    seen: dict[str, dict[str, Any]] = {}
    for tile, window in tqdm(windows, desc="STAC searches", disable=not progress):
        query = _make_query(collections, tile, window, max_cloud_cover)
        for item in opened.iter_items(query, limit):
            seen.setdefault(item["id"], item)
    return [pystac.Item.from_dict(item, preserve_dict=False) for item in seen.values()]
