"""EOTDL's checks of a course output folder, offline, with its own client: the test harness.

:func:`read_eotdl_metadata` reads a folder's ``README.md`` front matter through EOTDL's model;
:func:`check_eotdl_ready` checks a whole folder as EOTDL would before an upload (nothing is
uploaded). ``eotdl`` is a ``dev`` dependency.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import frontmatter
import pyarrow.parquet as pq
import pystac
from eotdl.files.ingest import prep_ingest_stac
from eotdl.files.metadata import Metadata
from stac_checks import validate_stac_tree
from stac_geoparquet.arrow import stac_table_to_items

from eotdl_tutorials.publish import CATALOG_NAME, README_NAME, check_name


def read_eotdl_metadata(folder: str | os.PathLike[str]) -> Any:
    """The folder's README front matter parsed by EOTDL's own model
    (``eotdl.files.metadata.Metadata``), with the name rule EOTDL's CLI states checked too."""
    path = Path(folder) / README_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{folder} is not EOTDL-ready: it has no {README_NAME}")
    readme = frontmatter.load(str(path))
    metadata = Metadata(**(readme.metadata | {"description": readme.content}))
    check_name(metadata.name)
    return metadata


def check_eotdl_ready(folder: str | os.PathLike[str]) -> Path:
    """Check ``folder`` as EOTDL would before an upload, offline; return its ``catalog.parquet``.

    1. ``README.md``'s front matter through EOTDL's ``Metadata`` model;
    2. every STAC object of ``catalog.json`` with ``stac-validator`` (local schemas);
    3. EOTDL's ``prep_ingest_stac``, which reads the catalog with pystac, adds each local
       asset's size and checksum and writes ``catalog.parquet`` (nothing is uploaded); that
       file is read back with stac-geoparquet and must hold every Item.

    Raises ValueError/FileNotFoundError saying what is wrong.
    """
    folder = Path(folder)
    read_eotdl_metadata(folder)
    catalog = folder / CATALOG_NAME
    if not catalog.is_file():
        raise FileNotFoundError(f"{folder} is not EOTDL-ready: it has no {CATALOG_NAME}")
    validate_stac_tree(catalog).raise_for_errors()
    parquet = Path(prep_ingest_stac(folder))
    items = list(stac_table_to_items(pq.read_table(parquet)))
    found = {item["id"] for item in items}
    expected = {item.id for item in pystac.Catalog.from_file(catalog).get_items(recursive=True)}
    if found != expected or not found:
        raise ValueError(
            f"EOTDL's {parquet} holds {len(found)} items, the catalog {len(expected)} (EOTDL "
            "ingests the Items of the catalog's Collections only): missing "
            f"{sorted(expected - found)[:5]}, extra {sorted(found - expected)[:5]}"
        )
    unsized = [i["id"] for i in items for a in i["assets"].values() if "size" not in a]
    if unsized:
        raise ValueError(f"EOTDL did not find the asset files of items {unsized[:5]}")
    return parquet
