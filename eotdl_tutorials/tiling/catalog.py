"""The chip store as an EOTDL-ready dataset: ``README.md`` and a STAC catalog of its chips.

Two Collections: ``{name}-chips``, one Item per packed footprint whose assets are its GeoTIFF
chips (projection and raster fields, eo bands for optical sensors), and ``{name}-arrays``, one
Item whose assets are the packed arrays, the index and ``meta.json`` the course's readers use.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import rasterio
import shapely

from eotdl_tutorials.publish import (
    CollectionSpec,
    collection_dict,
    eotdl_name,
    write_eotdl_readme,
    write_stac_catalog,
)
from eotdl_tutorials.tiling.chips import chip_path
from eotdl_tutorials.world.catalog import EXTENSIONS

GEOTIFF = "image/tiff; application=geotiff"
NPY = "application/x-npy"
PARQUET = "application/vnd.apache.parquet"
ITEM_EXTENSIONS = [EXTENSIONS[k] for k in ("eo", "proj", "raster")]
#: Field prefix of the course's own Item properties (split, class label).
PREFIX = "eotdl_tutorials"


def _stamp(value: Any) -> str:
    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp.strftime("%Y-%m-%dT%H:%M:%SZ")


def _chip_asset(path: Path, root: Path, sensor: str, info: dict[str, Any]) -> dict[str, Any]:
    with rasterio.open(path) as src:
        epsg, shape, transform = src.crs.to_epsg(), [src.height, src.width], list(src.transform)
    band = {"data_type": info["dtype"], "scale": info["scale"], "offset": info["offset"]}
    if info.get("nodata") is not None:
        band["nodata"] = info["nodata"]
    asset = {
        "href": path.relative_to(root).as_posix(),
        "type": GEOTIFF,
        "title": f"{sensor} chip ({', '.join(info['bands'])})",
        "gsd": info["gsd"],
        "proj:epsg": epsg,
        "proj:shape": shape,
        "proj:transform": transform[:6],
        "raster:bands": [band | {"unit": info["units"]}] * len(info["bands"]),
        "roles": ["data"],
    }
    if info["units"] == "reflectance":
        asset["eo:bands"] = [{"name": name} for name in info["bands"]]
    return asset


def chip_items(root: str | os.PathLike[str], meta: dict[str, Any]) -> list[dict[str, Any]]:
    """One STAC Item per footprint of the chip store ``root`` with ``meta.json`` record ``meta``
    (asset hrefs relative to ``root``)."""
    root = Path(root)
    index = gpd.read_parquet(root / "index.parquet").to_crs(4326)
    classes = meta.get("classes", [])
    items = []
    for row in index.itertuples(index=False):
        geometry = row.geometry
        label = int(row.label) if pd.notna(row.label) else -1
        items.append(
            {
                "type": "Feature",
                "stac_version": "1.0.0",
                "stac_extensions": ITEM_EXTENSIONS,
                "id": str(row.id),
                "geometry": shapely.geometry.mapping(geometry),
                "bbox": list(geometry.bounds),
                "properties": {
                    "datetime": _stamp(row.datetime),
                    f"{PREFIX}:split": row.split,
                    f"{PREFIX}:label": classes[label] if 0 <= label < len(classes) else None,
                },
                "links": [],
                "assets": {
                    sensor: _chip_asset(chip_path(root, sensor, str(row.id)), root, sensor, info)
                    for sensor, info in meta["sensors"].items()
                },
            }
        )
    return items


def _arrays_item(root: Path, chips: list[dict[str, Any]], meta: dict[str, Any]) -> dict[str, Any]:
    hull = shapely.union_all([shapely.geometry.shape(i["geometry"]) for i in chips]).envelope
    times = sorted(i["properties"]["datetime"] for i in chips)
    assets = {
        sensor: {
            "href": f"{sensor}.npy",
            "type": NPY,
            "title": f"{sensor} chips, shape (N, {', '.join(map(str, info['shape']))})",
            "roles": ["data"],
        }
        for sensor, info in meta["sensors"].items()
    }
    assets["index"] = {"href": "index.parquet", "type": PARQUET, "roles": ["metadata"]}
    assets["meta"] = {"href": "meta.json", "type": "application/json", "roles": ["metadata"]}
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "stac_extensions": [],
        "id": f"{root.name}-arrays",
        "geometry": shapely.geometry.mapping(hull),
        "bbox": list(hull.bounds),
        "properties": {"datetime": None, "start_datetime": times[0], "end_datetime": times[-1]},
        "links": [],
        "assets": assets,
    }


def publish_chip_store(root: str | os.PathLike[str], meta: dict[str, Any] | None = None) -> Path:
    """Write the chip store's ``README.md`` and STAC catalog (see the module); returns the
    catalog's path. The store's folder name is its EOTDL name (e.g. ``multisensor-ci``;
    see :func:`~eotdl_tutorials.publish.eotdl_name`).
    ``meta``: the store's ``meta.json`` record when it is not written yet."""
    root = Path(root)
    meta = meta if meta is not None else json.loads((root / "meta.json").read_text())
    chips = chip_items(root, meta)
    if not chips:
        raise ValueError(f"chip store {root} holds no chips: nothing to publish")
    name = eotdl_name(root.name)
    sensors = ", ".join(meta["sensors"])
    write_eotdl_readme(
        root,
        name=name,
        description=(
            f"# {name}\n\nCo-registered multi-sensor chips ({sensors}) of {meta['count']} "
            "footprints, cut by the eotdl-tutorials course (use case A): a 1 m tile with the "
            "window of its best-matching Sentinel-2 and Sentinel-1 scenes. `{sensor}.npy` hold "
            "the packed chips (N, C, H, W), `index.parquet` one row per footprint (label, "
            "split), `meta.json` bands, scales and offsets; `chips/` the same chips as GeoTIFFs."
        ),
    )
    chips_collection = collection_dict(
        f"{name}-chips",
        f"GeoTIFF chips of {name}, one Item per footprint ({sensors}).",
        chips,
        summaries={f"{PREFIX}:label": meta.get("classes", [])},
    )
    arrays = _arrays_item(root, chips, meta)
    arrays_collection = collection_dict(
        f"{name}-arrays", f"The packed arrays, index and metadata of {name}.", [arrays]
    )
    return write_stac_catalog(
        root,
        name,
        f"The {name} chip store of eotdl-tutorials.",
        [CollectionSpec(chips_collection, chips), CollectionSpec(arrays_collection, [arrays])],
    )
