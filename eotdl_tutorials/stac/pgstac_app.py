"""The stac-fastapi-pgstac application of :class:`~eotdl_tutorials.stac.pgstac.PgstacApi`.

Run as ``python -m eotdl_tutorials.stac.pgstac_app SOCKET_DIR DATABASE PORT``: it serves the
pgstac database ``DATABASE`` of the private cluster listening on the Unix socket in
``SOCKET_DIR`` with uvicorn on ``127.0.0.1:PORT`` (read only: no transactions extension).
"""

from __future__ import annotations

import argparse
import urllib.parse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from stac_fastapi.pgstac.app import instantiate_api
from stac_fastapi.pgstac.config import PostgresSettings, Settings
from stac_fastapi.pgstac.db import close_db_connection, connect_to_db

#: The server's declared extensions: item search with query, filter (CQL2), fields, sortby and
#: paging, and collection search.
EXTENSIONS = ("query", "filter", "fields", "sort", "pagination", "collection_search")


class _SocketSettings(PostgresSettings):
    """Connection settings for a Unix-socket cluster (the stock DSN needs a TCP host)."""

    @property
    def connection_string(self) -> str:
        query = urllib.parse.urlencode({"host": self.pghost, "port": self.pgport})
        return f"postgresql://{self.pguser}@/{self.pgdatabase}?{query}"


def create_app(socket_dir: str, database: str) -> FastAPI:
    """The STAC API over ``database`` of the cluster whose socket is in ``socket_dir``."""
    postgres = _SocketSettings(
        pguser="postgres", pgpassword="", pghost=socket_dir, pgport=5432, pgdatabase=database
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await connect_to_db(app, postgres_settings=postgres)
        yield
        await close_db_connection(app)

    settings = Settings(
        enabled_extensions=list(EXTENSIONS),
        stac_fastapi_title="eotdl-tutorials sample world (pgstac)",
        stac_fastapi_description="A sample world's STAC items in pgstac (stac-fastapi-pgstac)",
    )
    return instantiate_api(settings=settings, lifespan=lifespan).app


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
