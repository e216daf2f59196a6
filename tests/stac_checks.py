"""STAC checks of what the course writes and serves, offline: the test harness.

- JSON schemas: ``tests/json_schemas/`` holds unmodified copies of the published schemas of STAC,
  its extensions, GeoJSON and PROJJSON, laid out by URL path (``https://`` dropped: the schema of
  ``https://stac-extensions.github.io/mlm/v1.4.0/schema.json`` is
  ``json_schemas/stac-extensions.github.io/mlm/v1.4.0/schema.json``); its ``README.md`` lists
  each schema's source, release and licence. :func:`local_schema_map` and :func:`local_schema`
  answer the validators' look-ups from them, never from the network.
- :func:`validate_stac_tree`: every object of a catalog, collection or item file checked by
  ``stac-validator`` (core schema and each extension it declares).
- :func:`validate_stac_api`: a running STAC API checked by ``stac-api-validator``: landing page,
  conformance, collections, items and item search (GET and POST), and each extension the API
  declares.

Two of stac-api-validator's own faults (0.6.8) are worked around here, not in the servers: its
sort and query tests POST ``collections`` as a string where the specification wants an array
(stac-utils/stac-api-validator#656), so string ``collections`` in its POST bodies become arrays;
and its ``fields`` test takes a falsy value (a cloud cover of 0) for a missing one, so it is given
a text property (``platform``) to ask for. Both validators are ``dev`` dependencies.
"""

from __future__ import annotations

import contextlib
import json
import os
import traceback
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import requests

with warnings.catch_warnings():  # the 4.1 package name warns it moved to stac_valid
    warnings.simplefilter("ignore", DeprecationWarning)
    from stac_api_validator import validations
    from stac_validator import utilities
    from stac_validator.validate import StacValidate

#: The published schemas, one file per URL.
SCHEMA_DIR = Path(__file__).with_name("json_schemas")


def schema_path(url: str) -> Path:
    """The local copy of schema ``url`` (``http``/``https``, a trailing ``#`` ignored);
    FileNotFoundError naming the URL when there is none."""
    address = url.split("#", 1)[0]
    for scheme in ("https://", "http://"):
        if address.startswith(scheme):
            path = SCHEMA_DIR / address[len(scheme) :]
            if path.is_file():
                return path
            break
    raise FileNotFoundError(
        f"no local JSON schema for {url!r}: the tests hold those listed in "
        f"{SCHEMA_DIR / 'README.md'} (add the published file there, under its URL path)"
    )


@cache
def _schema_files() -> tuple[Path, ...]:
    return tuple(sorted(p for p in SCHEMA_DIR.rglob("*.json") if p.is_file()))


def local_schema_map(http_too: bool = True) -> dict[str, str]:
    """``{schema URL: local file path}`` for every schema in :data:`SCHEMA_DIR`, as
    ``stac-validator``'s ``StacValidate`` takes it (``schema_map``).

    Keys are the ``https://`` URLs, plus the ``http://`` spellings when ``http_too`` (some
    documents still reference those).
    """
    mapping: dict[str, str] = {}
    for path in _schema_files():
        url = "https://" + path.relative_to(SCHEMA_DIR).as_posix()
        mapping[url] = str(path)
        if http_too:
            mapping["http://" + url.removeprefix("https://")] = str(path)
    return mapping


#: The link relations followed from a catalog or collection to what it holds.
CHILD_RELS = ("child", "item")


@dataclass
class ValidationReport:
    """What :func:`validate_stac_tree` checked: ``checked`` objects (``"path#id"``) and the
    ``errors`` of the invalid ones (``{"path#id": message}``)."""

    checked: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        """True when at least one object was checked and none failed."""
        return bool(self.checked) and not self.errors

    def raise_for_errors(self) -> ValidationReport:
        """ValueError listing the invalid objects (the first ten), else ``self``."""
        if not self.checked:
            raise ValueError("no STAC objects found to validate")
        if self.errors:
            lines = [f"  {where}: {message}" for where, message in list(self.errors.items())[:10]]
            raise ValueError(
                f"{len(self.errors)} of {len(self.checked)} STAC objects are invalid:\n"
                + "\n".join(lines)
            )
        return self


def validate_stac_object(stac: Mapping[str, Any]) -> str | None:
    """Validate one STAC Item, Collection or Catalog dict; None when valid, else the message."""
    validator = StacValidate(schema_map=local_schema_map())
    document = json.loads(json.dumps(stac))  # the validator may edit what it is given
    if validator.validate_dict(document):
        return None
    message = validator.message[-1] if validator.message else {}
    return str(message.get("error_message") or message or "invalid")


def _documents(path: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    """Each STAC object under ``path``: a JSON file (an object or a FeatureCollection of items),
    a catalog/collection with the children and items its links name, or a folder of those."""
    if path.is_dir():
        roots = [path / n for n in ("catalog.json", "collection.json") if (path / n).is_file()]
        files = roots or sorted(p for p in path.rglob("*.json") if not p.name.startswith("."))
        seen: set[Path] = set()
        for file in files:
            yield from _walk(file, seen)
        return
    yield from _walk(path, set())


def _walk(path: Path, seen: set[Path]) -> Iterator[tuple[Path, dict[str, Any]]]:
    path = path.resolve()
    if path in seen:
        return
    seen.add(path)
    try:
        document = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"{path} is not readable JSON: {err}") from None
    if document.get("type") == "FeatureCollection":
        for feature in document.get("features", []):
            yield path, feature
        return
    if "stac_version" not in document:
        return  # not STAC (a model's config, a chip store's meta.json)
    yield path, document
    for link in document.get("links", []):
        href = link.get("href", "")
        if link.get("rel") in CHILD_RELS and "://" not in href:
            yield from _walk(path.parent / href, seen)


def validate_stac_tree(path: str | os.PathLike[str]) -> ValidationReport:
    """Validate every STAC object at ``path`` with ``stac-validator``, offline.

    ``path``: a ``catalog.json``/``collection.json`` (followed through its child and item links),
    a JSON file of one object or a FeatureCollection of items, or a folder (its catalog.json or
    collection.json, else every JSON file in it). Call ``.raise_for_errors()`` on the report to
    stop on the first invalid tree.
    """
    root = Path(path)
    if not root.exists():
        raise FileNotFoundError(f"{root} does not exist: pass a STAC catalog, file or folder")
    report = ValidationReport()
    for file, document in _documents(root):
        where = f"{file}#{document.get('id', '?')}"
        report.checked.append(where)
        error = validate_stac_object(document)
        if error is not None:
            report.errors[where] = error
    return report


#: Conformance classes checked on every API, and the extensions checked where declared
#: (the validator's name -> the conformance URI's ending that declares it).
BASE_CLASSES = ("core", "collections", "features", "item-search")
EXTENSION_CLASSES = {
    "item-search#fields": "/item-search#fields",
    "item-search#sort": "/item-search#sort",
    "item-search#query": "/item-search#query",
    "filter": "/item-search#filter",
}


@dataclass
class ApiValidation:
    """What ``stac-api-validator`` found: the classes checked, its ``errors`` and ``warnings``."""

    url: str
    classes: list[str]
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        """True when the validator reported no error."""
        return not self.errors


def local_schema(url: str) -> dict[str, Any]:
    """The JSON schema at ``url``, read from its copy in :data:`SCHEMA_DIR` (never the network);
    a file path is read as it is."""
    if url.startswith(("http://", "https://")):
        return json.loads(schema_path(url).read_text())
    with open(url) as file:
        return json.load(file)


@contextlib.contextmanager
def offline_schemas() -> Iterator[None]:
    """While inside, stac-validator reads its schemas with :func:`local_schema`."""
    saved_cache, saved_map = utilities._schema_cache, utilities._map_extension_url_to_local
    utilities._schema_cache = local_schema
    utilities._map_extension_url_to_local = lambda url: url  # our copies, not its own
    try:
        yield
    finally:
        utilities._schema_cache, utilities._map_extension_url_to_local = saved_cache, saved_map


@contextlib.contextmanager
def _collections_as_arrays() -> Iterator[None]:
    """While inside, the validator's POST bodies carry ``collections`` as an array (#656)."""
    original = validations.retrieve

    def retrieve(*args: Any, **kwargs: Any) -> Any:
        body = kwargs.get("body")
        if isinstance(body, dict) and isinstance(body.get("collections"), str):
            kwargs["body"] = {**body, "collections": body["collections"].split(",")}
        return original(*args, **kwargs)

    validations.retrieve = retrieve
    try:
        yield
    finally:
        validations.retrieve = original


def declared_classes(url: str) -> list[str]:
    """The validator's class names to check on the API at ``url``: the base classes, and the
    extensions its ``/conformance`` (or landing page) declares."""
    root = url.rstrip("/") + "/"
    try:
        landing = requests.get(root, timeout=30).json()
    except (requests.RequestException, ValueError) as err:
        raise ConnectionError(
            f"cannot read the landing page of the STAC API at {root}: {err}"
        ) from None
    uris = landing.get("conformsTo") or []
    return [*BASE_CLASSES] + [
        name for name, ending in EXTENSION_CLASSES.items() if any(u.endswith(ending) for u in uris)
    ]


def query_test_values(
    url: str, collection: str, number_field: str, text_field: str, array_field: str
) -> tuple[str | float, ...]:
    """Values for the ``query`` extension's tests, taken from the collection's first 100 items
    (each test must find items): ``number_field`` equal to its most common value and compared
    with its median; ``text_field`` by prefix, suffix and substring; ``array_field`` (the
    validator's ``in`` test wants an array property) with the set of its values."""
    answer = requests.get(
        f"{url.rstrip('/')}/collections/{collection}/items", params={"limit": 100}, timeout=60
    )
    answer.raise_for_status()
    properties = [f["properties"] for f in answer.json()["features"]]
    numbers = sorted(float(p[number_field]) for p in properties if p.get(number_field) is not None)
    texts = sorted({str(p[text_field]) for p in properties if p.get(text_field)})
    members = sorted({str(v) for p in properties for v in p.get(array_field) or ()})
    if not numbers or not texts or not members:
        raise ValueError(
            f"the first items of {collection} at {url} lack {number_field}, {text_field} or "
            f"{array_field} to test the query extension with"
        )
    common = max(set(numbers), key=numbers.count)
    middle = numbers[len(numbers) // 2]
    word = texts[0]
    return (  # numbers as numbers: the validator sends them as given
        *(number_field, common, common),
        *(middle,) * 4,
        *(text_field, word[:3], word[-2:], word[1:-1]),
        *(array_field, ",".join(members)),
    )


def validate_stac_api(
    url: str,
    collection: str,
    geometry: dict[str, Any],
    classes: Sequence[str] | None = None,
    number_field: str = "eo:cloud_cover",
    text_field: str = "platform",
    array_field: str = "instruments",
) -> ApiValidation:
    """Run ``stac-api-validator`` against the STAC API at ``url`` (offline).

    ``collection`` and ``geometry`` (GeoJSON, intersecting some of its items) drive the item
    searches; ``classes`` defaults to :func:`declared_classes`. The ``query`` tests use
    :func:`query_test_values` of ``number_field``, ``text_field`` and ``array_field``; the
    ``fields`` tests ask for ``text_field`` as a nested field.
    """
    chosen = list(classes) if classes is not None else declared_classes(url)
    query = validations.QueryConfig(
        *query_test_values(url, collection, number_field, text_field, array_field)
    )
    with offline_schemas(), _collections_as_arrays():
        try:
            found_warnings, found_errors = validations.validate_api(
                root_url=url.rstrip("/") + "/",
                ccs_to_validate=chosen,
                collection=collection,
                geometry=json.dumps(geometry),
                auth_bearer_token=None,
                auth_query_parameter=None,
                fields_nested_property=f"properties.{text_field}",
                validate_pagination=False,
                query_config=query,
                transaction_collection=None,
                headers=None,
                open_assets_urls=False,
            )
        except Exception as err:  # the validator stops on a request that failed
            where = traceback.extract_tb(err.__traceback__)[-1]
            message = f"stac-api-validator stopped in {where.name} ({type(err).__name__}: {err})"
            return ApiValidation(url, chosen, [message])
    return ApiValidation(
        url, chosen, [str(e) for e in found_errors], [str(w) for w in found_warnings]
    )
