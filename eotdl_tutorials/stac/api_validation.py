"""Check a STAC API with the community ``stac-api-validator``, offline.

The validator checks the landing page, conformance, collections, items and item search of a
running API (GET and POST), and each extension the API declares. It validates every document it
sees with stac-validator, whose JSON-schema look-ups are answered here by the packaged schemas
(:func:`~eotdl_tutorials.stac.schemas.schema_path`) instead of the network: one function,
:func:`local_schema`, decides where a schema comes from. ``stac-api-validator`` is a ``dev``
dependency (``pip install 'eotdl-tutorials[dev]'``).

Two of the validator's own faults (0.6.8) are worked around here, not in the servers: its sort
and query tests POST ``collections`` as a string where the specification wants an array
(stac-utils/stac-api-validator#656), so string ``collections`` in its POST bodies become
arrays; and its ``fields`` test takes a falsy value (a cloud cover of 0) for a missing one, so
it is given a text property (``platform``) to ask for.
"""

from __future__ import annotations

import contextlib
import json
import traceback
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import requests

from eotdl_tutorials.stac.schemas import schema_path

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
    """The JSON schema at ``url``, read from the packaged copy (never the network); a file
    path is read as it is."""
    if url.startswith(("http://", "https://")):
        return json.loads(schema_path(url).read_text())
    with open(url) as file:
        return json.load(file)


@contextlib.contextmanager
def offline_schemas() -> Iterator[None]:
    """While inside, stac-validator reads its schemas with :func:`local_schema`."""
    with warnings.catch_warnings():  # the 4.1 package name warns it moved to stac_valid
        warnings.simplefilter("ignore", DeprecationWarning)
        import stac_validator.utilities as utilities

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
    from stac_api_validator import validations

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
    try:
        from stac_api_validator.validations import QueryConfig, validate_api
    except ImportError:
        raise ImportError(
            "checking a STAC API needs stac-api-validator: pip install 'eotdl-tutorials[dev]'"
        ) from None
    chosen = list(classes) if classes is not None else declared_classes(url)
    query = QueryConfig(*query_test_values(url, collection, number_field, text_field, array_field))
    with offline_schemas(), _collections_as_arrays():
        try:
            found_warnings, found_errors = validate_api(
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
