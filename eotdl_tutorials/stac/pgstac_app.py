"""The stac-fastapi-pgstac application behind ``LocalStacApi(..., backend="pgstac")``.

Run as ``python -m eotdl_tutorials.stac.pgstac_app SOCKET_DIR DATABASE PORT``: it serves the
pgstac database ``DATABASE`` of the private cluster listening on the Unix socket in
``SOCKET_DIR`` with uvicorn on ``127.0.0.1:PORT`` (read only: no transactions extension).

Three fixes to stac-fastapi-pgstac 7.2.0 (with stac-fastapi 7.0.0) where it departs from the STAC
API specification, found by ``stac-api-validator`` (``tests/stac_checks.py``). They override
``CoreCrudClient._search_base``, a private method of that version:

- its ``query`` extension takes only the comparison operators (its own TODO; the maintainers'
  answer in stac-utils/stac-fastapi#807: the pgstac backend does not implement the others): here
  a ``query`` is rewritten as the CQL2 ``filter`` it means (:func:`query_to_cql2`), so the whole
  extension works, ``startsWith``, ``endsWith``, ``contains`` and ``in`` included;
- ``fields``: an ``include`` dropped an item's ``type`` (a GeoJSON feature always has it: it is
  kept, with ``id`` and ``collection``, unless excluded: :data:`KEPT_FIELDS`); an ``exclude``
  with an explicitly empty ``include`` removed fields from the whole item instead of from the
  extension's default set (:data:`DEFAULT_FIELDS`); a POST ``"fields": null`` is refused (400);
- item collections filtered by ``fields`` were sent as ``application/json``: they are
  ``application/geo+json`` like the others.
"""

from __future__ import annotations

import argparse
import re
import urllib.parse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from enum import StrEnum
from typing import Any

from fastapi import FastAPI, Request
from pydantic import BaseModel
from stac_fastapi.extensions.query import QueryConformanceClasses
from stac_fastapi.pgstac.app import instantiate_api
from stac_fastapi.pgstac.config import PostgresSettings, Settings
from stac_fastapi.pgstac.core import CoreCrudClient
from stac_fastapi.pgstac.db import close_db_connection, connect_to_db
from stac_fastapi.pgstac.extensions import QueryExtension
from stac_fastapi.pgstac.models.extensions import Extensions
from stac_fastapi.types.errors import InvalidQueryParameter

from eotdl_tutorials.stac.pgstac import SOCKET_PORT

#: The server's declared extensions: item search with query, filter (CQL2), fields, sortby and
#: paging, and collection search.
EXTENSIONS = ("query", "filter", "fields", "sort", "pagination", "collection_search")
#: What an item keeps whatever ``include`` says (unless excluded): GeoJSON's ``type``, and the
#: ``id`` and ``collection`` that pgstac keeps when it filters the fields itself.
KEPT_FIELDS = frozenset({"type", "id", "collection"})
#: The fields extension's default set: what an explicitly empty ``include`` stands for.
DEFAULT_FIELDS = frozenset(
    {"type", "stac_version", "id", "geometry", "bbox", "links", "assets", "properties.datetime"}
)
#: Paths whose JSON answers are GeoJSON feature collections.
_ITEM_PATHS = re.compile(r"^/(search|collections/[^/]+/items)/?$")

#: The query extension's comparison operators as CQL2 operators.
_COMPARISONS = {"eq": "=", "ne": "<>", "neq": "<>", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}


class QueryOperator(StrEnum):
    """Every operator of the STAC API query extension."""

    eq = "eq"
    ne = "ne"
    neq = "neq"
    lt = "lt"
    lte = "lte"
    gt = "gt"
    gte = "gte"
    startsWith = "startsWith"  # noqa: N815  (the extension's spelling)
    endsWith = "endsWith"  # noqa: N815
    contains = "contains"
    in_ = "in"


def _like_pattern(text: Any) -> str:
    return str(text).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def query_to_cql2(query: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The CQL2-JSON filter meaning the same as a query-extension ``query``."""
    conditions = []
    for name, operations in query.items():
        field = {"property": name}
        for operator, value in operations.items():
            operator = getattr(operator, "value", operator)
            if operator in _COMPARISONS:
                conditions.append({"op": _COMPARISONS[operator], "args": [field, value]})
            elif operator == "in":  # one of the values, or an array sharing one with them
                values = list(value) if isinstance(value, list | tuple) else [value]
                either = [{"op": "in", "args": [field, values]}]
                either.append({"op": "a_overlaps", "args": [field, values]})
                conditions.append({"op": "or", "args": either})
            else:
                pattern = {
                    "startsWith": f"{_like_pattern(value)}%",
                    "endsWith": f"%{_like_pattern(value)}",
                    "contains": f"%{_like_pattern(value)}%",
                }[operator]
                conditions.append({"op": "like", "args": [field, pattern]})
    if len(conditions) == 1:
        return conditions[0]
    return {"op": "and", "args": conditions}


class _QueryPostRequest(BaseModel):
    query: dict[str, dict[QueryOperator, Any]] | None = None


class _FullQueryExtension(QueryExtension):
    POST = _QueryPostRequest


class _Client(CoreCrudClient):
    """Searches with a ``query`` run as the equivalent CQL2 ``filter``; ``fields`` as the
    extension says (see the module docstring)."""

    async def _search_base(self, search_request: Any, request: Request) -> Any:
        query = getattr(search_request, "query", None)
        if query:
            search_request.query = None
            search_request.filter_expr = query_to_cql2(query)
            search_request.filter_lang = "cql2-json"
        fields = getattr(search_request, "fields", None)
        if fields is not None:
            exclude = set(fields.exclude or ())
            if fields.include:
                fields.include = set(fields.include) | (KEPT_FIELDS - exclude)
            elif exclude and "include" in fields.model_fields_set:
                fields.include = set(DEFAULT_FIELDS - exclude)
        return await super()._search_base(search_request, request)

    async def post_search(self, search_request: Any, request: Request, **kwargs: Any) -> Any:
        if "fields" in search_request.model_fields_set and search_request.fields is None:
            raise InvalidQueryParameter("fields must be an object with include and/or exclude")
        return await super().post_search(search_request, request, **kwargs)


class _GeoJsonItems:
    """ASGI middleware: item collections are ``application/geo+json`` (stac-fastapi sends
    ``application/json`` when the ``fields`` extension is used)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not _ITEM_PATHS.match(scope.get("path", "")):
            await self.app(scope, receive, send)
            return

        async def send_geojson(message: dict) -> None:
            if message["type"] == "http.response.start" and message.get("status") == 200:
                message["headers"] = [
                    (name, b"application/geo+json")
                    if name.lower() == b"content-type" and value.startswith(b"application/json")
                    else (name, value)
                    for name, value in message.get("headers", [])
                ]
            await send(message)

        await self.app(scope, receive, send_geojson)


class _SocketSettings(PostgresSettings):
    """Connection settings for a Unix-socket cluster (the stock DSN needs a TCP host)."""

    @property
    def connection_string(self) -> str:
        query = urllib.parse.urlencode({"host": self.pghost, "port": self.pgport})
        return f"postgresql://{self.pguser}@/{self.pgdatabase}?{query}"


def create_app(socket_dir: str, database: str) -> FastAPI:
    """The STAC API over ``database`` of the cluster whose socket is in ``socket_dir``."""
    postgres = _SocketSettings(
        pguser="postgres", pgpassword="", pghost=socket_dir, pgport=SOCKET_PORT, pgdatabase=database
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await connect_to_db(app, postgres_settings=postgres)
        yield
        await close_db_connection(app)

    settings = Settings(
        enabled_extensions=list(EXTENSIONS),
        use_api_hydrate=True,  # items merged with their collection's base here: faster
        stac_fastapi_title="eotdl-tutorials sample world (pgstac)",
        stac_fastapi_description="A sample world's STAC items in pgstac (stac-fastapi-pgstac)",
    )
    extensions = Extensions(
        search_map={"query": _FullQueryExtension()},
        item_collection_map={
            "query": _FullQueryExtension(conformance_classes=[QueryConformanceClasses.ITEMS])
        },
        settings=settings,
    )
    api = instantiate_api(
        client=_Client,
        extensions=extensions,
        settings=settings,
        lifespan=lifespan,
    )
    api.app.add_middleware(_GeoJsonItems)
    return api.app


def main() -> None:
    """Serve the API with uvicorn on 127.0.0.1."""
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("socket_dir")
    parser.add_argument("database")
    parser.add_argument("port", type=int)
    args = parser.parse_args()
    app = create_app(args.socket_dir, args.database)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
