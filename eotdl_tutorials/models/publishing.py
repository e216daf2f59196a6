"""Make a model folder EOTDL-ready: its README with EOTDL's front matter and a STAC catalog
holding its MLM Item."""

from __future__ import annotations

import os
from pathlib import Path

import pystac
from pystac.extensions.mlm import MLMExtension

from eotdl_tutorials.publish import (
    CollectionSpec,
    collection_dict,
    eotdl_name,
    write_eotdl_readme,
    write_stac_catalog,
)


def publish_model_folder(
    item: pystac.Item, model_dir: str | os.PathLike[str], description: str
) -> Path:
    """Make ``model_dir`` EOTDL-ready: ``README.md`` (its folder name is the EOTDL name,
    ``description`` the text) and ``catalog.json`` with one Collection holding the MLM Item
    (asset hrefs relative to ``model_dir``). Returns the catalog's path."""
    model_dir = Path(model_dir)
    name = eotdl_name(model_dir.name)
    write_eotdl_readme(model_dir, name=name, description=description)
    record = item.to_dict(include_self_link=False, transform_hrefs=False)
    collection = collection_dict(
        name,
        f"The {item.id} model (Machine Learning Model extension).",
        [record],
        extensions=[MLMExtension.get_schema_uri()],
    )
    return write_stac_catalog(model_dir, name, description, [CollectionSpec(collection, [record])])
