"""The published JSON schemas of STAC, its extensions, GeoJSON and PROJJSON, packaged for offline
validation.

``json_schemas/`` holds unmodified copies laid out by URL path (``https://`` dropped): the schema
of ``https://stac-extensions.github.io/mlm/v1.4.0/schema.json`` is
``json_schemas/stac-extensions.github.io/mlm/v1.4.0/schema.json``. Its ``README.md`` lists each
schema's source, release and licence. :func:`local_schema_map` is what validators take
(``stac-validator``'s ``schema_map``/``--schema-config``, ``stac-api-validator``'s look-ups).
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

from eotdl_tutorials.files import write_json

#: The packaged schemas, one file per published URL.
SCHEMA_DIR = Path(__file__).with_name("json_schemas")


def schema_url(path: str | os.PathLike[str]) -> str:
    """The published URL of a packaged schema file (inverse of :func:`schema_path`)."""
    relative = Path(path).resolve().relative_to(SCHEMA_DIR.resolve())
    return "https://" + relative.as_posix()


def schema_path(url: str) -> Path:
    """The packaged file of schema ``url`` (``http``/``https``, a trailing ``#`` ignored);
    FileNotFoundError naming the URL when the course does not ship it."""
    address = url.split("#", 1)[0]
    for scheme in ("https://", "http://"):
        if address.startswith(scheme):
            path = SCHEMA_DIR / address[len(scheme) :]
            if path.is_file():
                return path
            break
    raise FileNotFoundError(
        f"no packaged JSON schema for {url!r}: the course ships those listed in "
        f"{SCHEMA_DIR / 'README.md'} (add the published file there, under its URL path)"
    )


@cache
def _schema_files() -> tuple[Path, ...]:
    return tuple(sorted(p for p in SCHEMA_DIR.rglob("*.json") if p.is_file()))


def local_schema_map(http_too: bool = True) -> dict[str, str]:
    """``{schema URL: local file path}`` for every packaged schema.

    Keys are the ``https://`` URLs, plus the ``http://`` spellings when ``http_too`` (some
    documents still reference those). Pass it as ``schema_map`` to ``stac_validator``'s
    ``StacValidate``, or write it with :func:`write_schema_config` for ``--schema-config``.
    """
    mapping: dict[str, str] = {}
    for path in _schema_files():
        url = schema_url(path)
        mapping[url] = str(path)
        if http_too:
            mapping["http://" + url.removeprefix("https://")] = str(path)
    return mapping


def write_schema_config(path: str | os.PathLike[str]) -> Path:
    """Write :func:`local_schema_map` as a JSON ``--schema-config`` file for ``stac-validator``."""
    return write_json(path, {"schemas": local_schema_map()})
