"""Make an output folder EOTDL-ready: a ``README.md`` with EOTDL's front matter and a STAC catalog.

EOTDL ingests a folder that holds

- ``README.md``: YAML front matter with ``name`` (3 to 45 letters, digits and dashes),
  ``authors`` (a list), ``license``, ``source`` (a URL) and an optional ``thumbnail`` (a URL),
  then the description as Markdown;
- ``catalog.json``: a STAC Catalog whose child Collections hold the Items; every local asset
  of every Item is a file EOTDL uploads.

:func:`write_eotdl_readme` and :func:`write_stac_catalog` write both (atomically); every
dataset and model folder the course writes goes through them. The tests check each such folder
with EOTDL's own client and ``stac-validator`` (``tests/eotdl_checks.py``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import shapely
import yaml

from eotdl_tutorials.files import atomic_path, write_json

#: EOTDL's rule for dataset and model names.
NAME_PATTERN = re.compile(r"[A-Za-z0-9-]{3,45}")
#: Where the course's outputs come from (EOTDL's ``source`` must be a URL).
COURSE_SOURCE = "https://www.eotdl.com"
COURSE_AUTHORS = ("eotdl-tutorials",)
STAC_VERSION = "1.0.0"
CATALOG_NAME = "catalog.json"
README_NAME = "README.md"
#: Media types of the course's packed files.
NPY = "application/x-npy"
NPZ = "application/x-npz"
PARQUET = "application/vnd.apache.parquet"
JSON = "application/json"


def check_name(name: str) -> str:
    """``name`` if EOTDL accepts it, else ValueError saying the rule."""
    if not NAME_PATTERN.fullmatch(name):
        raise ValueError(
            f"EOTDL name {name!r} is not valid: use 3 to 45 letters, digits and dashes "
            "(e.g. 'multisensor-ci')"
        )
    return name


def eotdl_name(text: str) -> str:
    """An EOTDL name made from ``text`` (e.g. a folder's name): runs of other characters become
    one dash, cut to 45 characters; ``dataset-`` in front of a name shorter than 3."""
    name = re.sub(r"[^A-Za-z0-9-]+", "-", text).strip("-")
    if len(name) < 3:
        name = f"dataset-{name}".rstrip("-")
    return check_name(name[:45].rstrip("-"))


def _url(value: str, what: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ValueError(f"EOTDL {what} must be a URL (http:// or https://), got {value!r}")
    return value


def write_eotdl_readme(
    folder: str | os.PathLike[str],
    name: str,
    description: str,
    authors: Sequence[str] = COURSE_AUTHORS,
    license: str = "CC-BY-4.0",
    source: str = COURSE_SOURCE,
    thumbnail: str | None = None,
) -> Path:
    """Write ``folder/README.md``: EOTDL's front matter, then ``description`` (Markdown)."""
    if isinstance(authors, str) or not authors:
        raise ValueError(f"authors must be a non-empty list of names, got {authors!r}")
    front = {
        "name": check_name(name),
        "authors": [str(a) for a in authors],
        "license": license,
        "source": _url(source, "source"),
    }
    if thumbnail:
        front["thumbnail"] = _url(thumbnail, "thumbnail")
    text = "---\n" + yaml.safe_dump(front, sort_keys=False) + "---\n\n" + description.strip() + "\n"
    path = Path(folder) / README_NAME
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return path


LABEL_EXTENSION = "https://stac-extensions.github.io/label/v1.0.1/schema.json"


def label_properties(
    classes: Sequence[str],
    description: str,
    label_type: str = "raster",
    tasks: Sequence[str] = ("segmentation",),
    label_property: str | None = None,
) -> dict[str, Any]:
    """The label extension's Item properties for a label set of ``classes`` (add
    :data:`LABEL_EXTENSION` to the Item's ``stac_extensions``). ``label_property``: the vector
    attribute holding the class (None for rasters, whose pixel values are the classes)."""
    if label_type not in ("raster", "vector"):
        raise ValueError(f"label_type must be 'raster' or 'vector', got {label_type!r}")
    return {
        "label:properties": [label_property] if label_property else None,
        "label:classes": [{"name": label_property, "classes": list(classes)}],
        "label:description": description,
        "label:type": label_type,
        "label:tasks": list(tasks),
    }


@dataclass
class CollectionSpec:
    """One Collection of a catalog: its ``collection`` dict (STAC Collection without links)
    and its ``items`` (Item dicts whose asset hrefs are relative to the catalog's folder)."""

    collection: dict[str, Any]
    items: list[dict[str, Any]] = field(default_factory=list)


def _relative(href: str, start: Path, folder: Path) -> str:
    """``href`` (relative to ``folder``) as seen from ``start`` (a folder under ``folder``)."""
    if "://" in href or os.path.isabs(href):
        return href
    return os.path.relpath(os.path.join(folder, href), start).replace(os.sep, "/")


def _collection_extent(items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    boxes = [item["bbox"] for item in items if item.get("bbox")]
    bbox = (
        [min(b[0] for b in boxes), min(b[1] for b in boxes)]
        + [max(b[2] for b in boxes), max(b[3] for b in boxes)]
        if boxes
        else [-180.0, -90.0, 180.0, 90.0]
    )
    times = sorted(
        str(t)
        for item in items
        for key in ("datetime", "start_datetime", "end_datetime")
        if (t := item["properties"].get(key))
    )
    return {
        "spatial": {"bbox": [bbox]},
        "temporal": {"interval": [[times[0], times[-1]] if times else [None, None]]},
    }


def collection_dict(
    collection_id: str,
    description: str,
    items: Sequence[Mapping[str, Any]],
    license: str = "CC-BY-4.0",
    extensions: Sequence[str] = (),
    **fields: Any,
) -> dict[str, Any]:
    """A STAC Collection whose extent covers ``items`` (``fields``: more top-level fields)."""
    return {
        "type": "Collection",
        "stac_version": STAC_VERSION,
        "stac_extensions": list(extensions),
        "id": collection_id,
        "description": description,
        "license": license,
        "extent": _collection_extent(items),
        "links": [],
        **fields,
    }


def utc_stamp(value: Any) -> str:
    """``value`` (a date, a datetime, a string or a Timestamp) as a STAC datetime in UTC."""
    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp.strftime("%Y-%m-%dT%H:%M:%SZ")


def footprint_item(
    item_id: str,
    footprint: shapely.Geometry,
    datetime: Any,
    properties: Mapping[str, Any] | None = None,
    assets: Mapping[str, Mapping[str, Any]] | None = None,
    extensions: Sequence[str] = (),
) -> dict[str, Any]:
    """A STAC Item dict of one sample: its ``footprint`` (EPSG:4326), ``datetime``, more
    ``properties`` and ``assets`` (hrefs relative to the dataset's folder)."""
    return {
        "type": "Feature",
        "stac_version": STAC_VERSION,
        "stac_extensions": list(extensions),
        "id": str(item_id),
        "geometry": shapely.geometry.mapping(footprint),
        "bbox": list(footprint.bounds),
        "properties": {"datetime": utc_stamp(datetime), **(properties or {})},
        "links": [],
        "assets": {key: dict(asset) for key, asset in (assets or {}).items()},
    }


def arrays_item(
    item_id: str, items: Sequence[Mapping[str, Any]], assets: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    """The Item of a dataset's packed files (``assets``): the envelope of ``items`` and the
    period of their datetimes."""
    if not items:
        raise ValueError(f"{item_id}: no items, nothing to publish")
    boxes = np.array(  # the envelope of the items' envelopes
        [i.get("bbox") or shapely.geometry.shape(i["geometry"]).bounds for i in items]
    )
    hull = shapely.MultiPoint([boxes[:, :2].min(0), boxes[:, 2:].max(0)]).envelope
    times = sorted(i["properties"]["datetime"] for i in items)
    return {
        "type": "Feature",
        "stac_version": STAC_VERSION,
        "stac_extensions": [],
        "id": item_id,
        "geometry": shapely.geometry.mapping(hull),
        "bbox": list(hull.bounds),
        "properties": {"datetime": None, "start_datetime": times[0], "end_datetime": times[-1]},
        "links": [],
        "assets": {key: dict(asset) for key, asset in assets.items()},
    }


def file_asset(href: str, media_type: str, title: str, role: str = "data") -> dict[str, Any]:
    """An asset of one of the dataset's files (``href`` relative to its folder)."""
    return {"href": href, "type": media_type, "title": title, "roles": [role]}


def publish_dataset(
    folder: str | os.PathLike[str],
    description: str,
    items: Sequence[dict[str, Any]],
    kind: str,
    arrays_assets: Mapping[str, Mapping[str, Any]],
    **collection_fields: Any,
) -> Path:
    """Make a dataset folder EOTDL-ready: ``README.md`` (the folder's name is the EOTDL name,
    ``description`` the text under a title) and a catalog of two Collections,
    ``{name}-{kind}`` holding ``items`` (one per sample) and ``{name}-arrays`` holding one Item
    whose assets are the packed files (``arrays_assets``) the course's readers use.
    ``collection_fields``: more fields of the items' Collection (e.g. ``summaries``).
    Returns the catalog's path."""
    folder = Path(folder)
    if not items:
        raise ValueError(f"{folder} holds no samples: nothing to publish")
    name = eotdl_name(folder.name)
    write_eotdl_readme(folder, name=name, description=f"# {name}\n\n{description.strip()}")
    samples = collection_dict(
        f"{name}-{kind}",
        f"The {kind} of {name}, one Item each.",
        items,
        **collection_fields,
    )
    arrays = arrays_item(f"{name}-arrays", items, arrays_assets)
    packed = collection_dict(
        f"{name}-arrays", f"The packed arrays, index and metadata of {name}.", [arrays]
    )
    return write_stac_catalog(
        folder,
        name,
        f"The {name} dataset of eotdl-tutorials.",
        [CollectionSpec(samples, list(items)), CollectionSpec(packed, [arrays])],
    )


def is_published(folder: str | os.PathLike[str]) -> bool:
    """Whether ``folder`` holds the ``README.md`` and ``catalog.json`` of an EOTDL dataset."""
    folder = Path(folder)
    return (folder / README_NAME).is_file() and (folder / CATALOG_NAME).is_file()


def write_stac_catalog(
    folder: str | os.PathLike[str],
    catalog_id: str,
    description: str,
    collections: Sequence[CollectionSpec],
) -> Path:
    """Write ``folder/catalog.json``, ``folder/stac/{collection}/collection.json`` and one
    ``folder/stac/{collection}/items/{item}.json`` per Item, linked (root, parent, child,
    item, collection) with relative hrefs; asset hrefs are rewritten from the folder to each
    Item's file. Returns the catalog's path."""
    folder = Path(folder)
    catalog_path = folder / CATALOG_NAME
    (folder / "catalog.parquet").unlink(missing_ok=True)  # EOTDL's, of an earlier catalog
    links = [{"rel": "root", "href": f"./{CATALOG_NAME}", "type": "application/json"}]
    for spec in collections:
        collection = dict(spec.collection)
        collection_dir = folder / "stac" / collection["id"]
        to_root = _relative(CATALOG_NAME, collection_dir, folder)
        item_links = []
        item_dir = collection_dir / "items"
        root_href = _relative(CATALOG_NAME, item_dir, folder)
        parent = _relative(f"stac/{collection['id']}/collection.json", item_dir, folder)
        for item in spec.items:
            written = dict(item) | {
                "collection": collection["id"],
                "links": [
                    {"rel": "root", "href": root_href, "type": "application/json"},
                    {"rel": "parent", "href": parent, "type": "application/json"},
                    {"rel": "collection", "href": parent, "type": "application/json"},
                ],
                "assets": {
                    key: dict(asset) | {"href": _relative(asset["href"], item_dir, folder)}
                    for key, asset in item["assets"].items()
                },
            }
            write_json(item_dir / f"{item['id']}.json", written, indent=None)
            item_links.append(
                {"rel": "item", "href": f"./items/{item['id']}.json", "type": "application/json"}
            )
        collection["links"] = [
            {"rel": "root", "href": to_root, "type": "application/json"},
            {"rel": "parent", "href": to_root, "type": "application/json"},
            *item_links,
        ]
        write_json(collection_dir / "collection.json", collection)
        links.append(
            {
                "rel": "child",
                "href": f"./stac/{collection['id']}/collection.json",
                "type": "application/json",
            }
        )
    catalog = {
        "type": "Catalog",
        "stac_version": STAC_VERSION,
        "id": catalog_id,
        "description": description,
        "links": links,
    }
    return write_json(catalog_path, catalog)
