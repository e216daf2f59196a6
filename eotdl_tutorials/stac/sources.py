"""The three item sources a search reads: a STAC API (pystac-client), a stac-geoparquet file
(pyarrow prunes, rustac rebuilds the items) and a JSON file; :func:`open_source` opens any.

An API is asked for what it declares it can do (its conformance classes): the cloud-cover limit
goes to the server as a CQL2 ``filter`` (or with the ``query`` extension), and only the item
fields the caller needs are sent (``fields`` extension), as pgstac and the Planetary Computer
do; else the filter runs here and items come whole (``rustac serve`` implements neither: it
answers no items at all to a ``query``). The answer is the same either way.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import rustac
import shapely

from eotdl_tutorials.stac.api_io import RequestCounter, RetryPolicy, counting_stac_api_io
from eotdl_tutorials.stac.dates import format_interval
from eotdl_tutorials.stac.query import Query
from eotdl_tutorials.stac.signing import href_signer, needs_signing

if TYPE_CHECKING:
    from pystac_client import ItemSearch

#: Rows of a stac-geoparquet file turned into items at a time.
_PARQUET_BATCH = 10_000


class ItemSource(Protocol):
    """A source opened once by :func:`open_source`: an API keeps its client and connection."""

    def iter_items(self, query: Query, limit: int) -> Iterator[dict[str, Any]]: ...


class ApiSource:
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

    def item_search(self, query: Query, limit: int) -> ItemSearch:
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

    def iter_items(self, query: Query, limit: int) -> Iterator[dict[str, Any]]:
        for item in self.item_search(query, limit).items_as_dicts():
            if query.cloud_ok(item):
                yield item


class JsonSource:
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

    def iter_items(self, query: Query, limit: int) -> Iterator[dict[str, Any]]:
        return (item for item in self.items if query.matches(item))


class ParquetSource:
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

    def _prefilter(self, query: Query) -> pc.Expression | None:
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

    def iter_items(self, query: Query, limit: int) -> Iterator[dict[str, Any]]:
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


class SignedSource:
    """Items of a file source with their hrefs signed (Planetary Computer items saved to a
    file still point at private storage)."""

    def __init__(self, source: ItemSource) -> None:
        self.source = source
        self.sign = href_signer()

    def iter_items(self, query: Query, limit: int) -> Iterator[dict[str, Any]]:
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
        return ApiSource(
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
        opened = ParquetSource(path)
    elif path.suffix.lower() in (".json", ".geojson"):
        opened = JsonSource(path)
    else:
        raise ValueError(
            f"cannot search {path}: expected a .parquet (stac-geoparquet) or .json "
            "(FeatureCollection)"
        )
    return SignedSource(opened) if sign else opened
