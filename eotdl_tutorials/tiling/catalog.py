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

from eotdl_tutorials.publish import (
    JSON,
    NPY,
    PARQUET,
    file_asset,
    footprint_item,
    is_published,
    publish_dataset,
)
from eotdl_tutorials.tiling.chips import ChipGeo, chip_path, geo_of
from eotdl_tutorials.world.catalog import EXTENSIONS

GEOTIFF = "image/tiff; application=geotiff"
ITEM_EXTENSIONS = [EXTENSIONS[k] for k in ("eo", "proj", "raster")]
#: Field prefix of the course's own Item properties (split, class label).
PREFIX = "eotdl_tutorials"


#: Each chip's :class:`~eotdl_tutorials.tiling.chips.ChipGeo` by (sensor, footprint id).
Geos = dict[tuple[str, str], ChipGeo]


def _chip_geo(path: Path) -> ChipGeo:
    with rasterio.open(path) as src:
        return geo_of(src)


def _chip_asset(
    path: Path, root: Path, sensor: str, info: dict[str, Any], geo: ChipGeo
) -> dict[str, Any]:
    band = {"data_type": info["dtype"], "scale": info["scale"], "offset": info["offset"]}
    if info.get("nodata") is not None:
        band["nodata"] = info["nodata"]
    asset = {
        "href": path.relative_to(root).as_posix(),
        "type": GEOTIFF,
        "title": f"{sensor} chip ({', '.join(info['bands'])})",
        "gsd": info["gsd"],
        "proj:epsg": geo.epsg,
        "proj:shape": list(geo.shape),
        "proj:transform": list(geo.transform),
        "raster:bands": [band | {"unit": info["units"]}] * len(info["bands"]),
        "roles": ["data"],
    }
    if info["units"] == "reflectance":
        asset["eo:bands"] = [{"name": name} for name in info["bands"]]
    return asset


def chip_items(
    root: str | os.PathLike[str],
    meta: dict[str, Any],
    geos: Geos | None = None,
    index: gpd.GeoDataFrame | None = None,
) -> list[dict[str, Any]]:
    """One STAC Item per footprint of the chip store ``root`` with ``meta.json`` record ``meta``
    (asset hrefs relative to ``root``). ``geos``: the chips' geos as the tiler knows them;
    without them (or for a chip they lack) each chip file is opened to read its own.
    ``index``: the store's index when the tiler has it (else read from ``index.parquet``)."""
    geos = geos or {}
    root = Path(root)
    index = gpd.read_parquet(root / "index.parquet") if index is None else index
    index = index.to_crs(4326)
    classes = meta.get("classes", [])
    items = []
    for row in index.itertuples(index=False):
        label = int(row.label) if pd.notna(row.label) else -1
        properties = {
            f"{PREFIX}:split": row.split,
            f"{PREFIX}:label": classes[label] if 0 <= label < len(classes) else None,
        }
        assets = {}
        for sensor, info in meta["sensors"].items():
            path = chip_path(root, sensor, str(row.id))
            geo = geos.get((sensor, str(row.id))) or _chip_geo(path)
            assets[sensor] = _chip_asset(path, root, sensor, info, geo)
        items.append(
            footprint_item(row.id, row.geometry, row.datetime, properties, assets, ITEM_EXTENSIONS)
        )
    return items


def publish_chip_store(
    root: str | os.PathLike[str],
    meta: dict[str, Any] | None = None,
    geos: Geos | None = None,
    index: gpd.GeoDataFrame | None = None,
) -> Path:
    """Write the chip store's ``README.md`` and STAC catalog (see the module); returns the
    catalog's path. The store's folder name is its EOTDL name (e.g. ``multisensor-ci``;
    see :func:`~eotdl_tutorials.publish.eotdl_name`).
    ``meta``: the store's ``meta.json`` record when it is not written yet; ``geos`` and
    ``index``: the chips' geos and the index when the tiler has them (see :func:`chip_items`)."""
    root = Path(root)
    meta = meta if meta is not None else json.loads((root / "meta.json").read_text())
    chips = chip_items(root, meta, geos, index)
    if not chips:
        raise ValueError(f"chip store {root} holds no chips: nothing to publish")
    sensors = ", ".join(meta["sensors"])
    arrays = {
        sensor: file_asset(
            f"{sensor}.npy", NPY, f"{sensor} chips, shape (N, {', '.join(map(str, info['shape']))})"
        )
        for sensor, info in meta["sensors"].items()
    }
    arrays["index"] = file_asset("index.parquet", PARQUET, "one row per footprint", "metadata")
    arrays["meta"] = file_asset("meta.json", JSON, "bands, scales and offsets", "metadata")
    return publish_dataset(
        root,
        f"Co-registered multi-sensor chips ({sensors}) of {meta['count']} footprints, cut by "
        "the eotdl-tutorials course (use case A): a 1 m tile with the window of its "
        "best-matching Sentinel-2 and Sentinel-1 scenes. `{sensor}.npy` hold the packed chips "
        "(N, C, H, W), `index.parquet` one row per footprint (label, split), `meta.json` bands, "
        "scales and offsets; `chips/` the same chips as GeoTIFFs.",
        chips,
        "chips",
        arrays,
        summaries={f"{PREFIX}:label": meta.get("classes", [])},
    )


def ensure_published(root: str | os.PathLike[str]) -> Path:
    """``root``, a complete chip store, with its ``README.md`` and catalog written if an older
    version of the course left them out (an empty store, or one packed without its GeoTIFF
    chips, has nothing to publish)."""
    root = Path(root)
    if not is_published(root) and (root / "chips").is_dir():
        meta = json.loads((root / "meta.json").read_text())
        if meta["count"]:
            publish_chip_store(root, meta)
    return root
