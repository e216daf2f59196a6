"""The world's catalogue and indexes: STAC collections and items (JSON and stac-geoparquet), the
EarthView index, the land-cover presence table, the road vectors and image/mask pairs."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from eotdl_tutorials.facts.classes import CLASSES
from eotdl_tutorials.facts.sensors import HR_TILE_PX
from eotdl_tutorials.files import atomic_path, write_json
from eotdl_tutorials.world import catalog
from eotdl_tutorials.world.folder import EARTHVIEW_INDEX
from eotdl_tutorials.world.landscape import RegionLayout, _seed
from eotdl_tutorials.world.spec import WorldProfile


def write_catalogue(root: Path, results: dict[str, list[dict]]) -> None:
    import rustac

    stac = root / "stac"
    everything = []
    for collection_id, items in (
        (catalog.S2_COLLECTION, results["s2"]),
        (catalog.S1_COLLECTION, results["s1"]),
        (catalog.HR_COLLECTION, results["hr"]),
    ):
        items = sorted(items, key=lambda item: item["id"])
        write_json(
            stac / "collections" / f"{collection_id}.json", catalog.collection(collection_id, items)
        )
        write_json(
            stac / "items" / f"{collection_id}.json",
            {"type": "FeatureCollection", "features": items},
        )
        everything += items
    with atomic_path(stac / "items.parquet") as tmp:
        rustac.write_sync(str(tmp), everything, format="geoparquet")


def write_earthview_index(
    root: Path, items: list[dict], spec: WorldProfile, seed: int, layouts: list[RegionLayout]
) -> None:
    """The EarthView-like index: json_path, zone, region, date, geometry (+ id, datetime)."""
    rows = []
    for item in sorted(items, key=lambda i: i["id"]):
        props = item["properties"]
        day = props["datetime"][:10]
        json_path = (
            f"zone={props['satellogic:zone']}/region={props['satellogic:region']}/"
            f"date={day}/{item['id']}_metadata.json"
        )
        rows.append(
            {
                "id": item["id"],
                "json_path": json_path,
                "zone": props["satellogic:zone"],
                "region": props["satellogic:region"],
                "date": day,
                "datetime": pd.Timestamp(props["datetime"]),
                "geometry": shapely.geometry.shape(item["geometry"]),
            }
        )
    frame = gpd.GeoDataFrame(rows, geometry="geometry", crs=4326) if rows else None
    if spec.described_footprints:
        frame = described_footprints(spec, seed, layouts)
    with atomic_path(root / "earthview" / EARTHVIEW_INDEX) as tmp:
        frame.to_parquet(tmp)


def described_footprints(
    spec: WorldProfile, seed: int, layouts: list[RegionLayout]
) -> gpd.GeoDataFrame:
    """``spec.described_footprints`` EarthView-like footprints, spread over the regions."""
    frames = []
    per_region = np.array_split(np.arange(spec.described_footprints), len(layouts))
    first, last = spec.hr_date_range
    for layout, ids in zip(layouts, per_region, strict=True):
        rng = np.random.default_rng(_seed(seed, layout.region.name, "footprints"))
        xmin, ymin, xmax, ymax = layout.bounds
        x0 = np.floor(rng.uniform(xmin, xmax - HR_TILE_PX, len(ids)))
        y0 = np.floor(rng.uniform(ymin, ymax - HR_TILE_PX, len(ids)))
        boxes = shapely.box(x0, y0, x0 + HR_TILE_PX, y0 + HR_TILE_PX)
        seconds = rng.integers(0, (last - first).days * 86400, len(ids))
        times = pd.Timestamp(first, tz="UTC") + pd.to_timedelta(seconds, unit="s")
        zone = layout.region.zone
        region_col = np.char.add(
            np.char.add(x0.astype(int).astype(str), "_"), y0.astype(int).astype(str)
        )
        frame = gpd.GeoDataFrame(
            {
                "id": [f"{zone}-{i:07d}" for i in ids],
                "zone": zone,
                "region": region_col,
                "date": times.strftime("%Y-%m-%d"),
                "datetime": times,
            },
            geometry=boxes,
            crs=layout.region.epsg,
        ).to_crs(4326)
        frame.insert(1, "json_path", [f"zone={zone}/region={r}/described.json" for r in region_col])
        frames.append(frame)
    return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=4326)


def write_labels_index(root: Path, items: list[dict]) -> None:
    """Multi-label class presence of every high-resolution tile."""
    rows = []
    for item in sorted(items, key=lambda i: i["id"]):
        present = set(item["properties"]["landcover:presence"])
        rows.append({"id": item["id"], **{name: name in present for name in CLASSES}})
    frame = pd.DataFrame(rows, columns=["id", *CLASSES])
    with atomic_path(root / "labels" / "landcover-presence.parquet") as tmp:
        frame.to_parquet(tmp, index=False)


def write_roads_index(root: Path, roads: list[dict], layouts: list[RegionLayout]) -> None:
    """Road vectors of every region (WGS84, with kind and width) and the image/mask pairs."""
    frames = []
    for layout in layouts:
        folder = root / "vectors" / layout.region.name
        if (folder / "roads.parquet").exists():
            frame = gpd.read_parquet(folder / "roads.parquet").to_crs(4326)
            frame.insert(0, "region", layout.region.name)
            frames.append(frame)
    if frames:
        with atomic_path(root / "roads" / "roads.parquet") as tmp:
            gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=4326).to_parquet(tmp)
    pairs = pd.DataFrame(sorted(roads, key=lambda r: r["id"]))
    with atomic_path(root / "roads" / "images.parquet") as tmp:
        pairs.to_parquet(tmp, index=False)
