"""The stand-in for the real services (``eotdl-tutorials world stand-in``): what it writes is what
the real sources give, in their conventions, and the package reads it as it reads them."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pystac_client
import pytest
import rasterio
from stac_checks import validate_stac_tree

from eotdl_tutorials.facts.datasets import (
    EARTHVIEW_INDEX_COLUMNS,
    WORLDCOVER_CODES,
    WORLDCOVER_PIXEL_DEG,
    worldcover_tile_name,
)
from eotdl_tutorials.facts.sensors import S2_BANDS
from eotdl_tutorials.matching import read_footprints
from eotdl_tutorials.roads import (
    build_road_dataset,
    describe_transfers,
    read_aerial_roads,
    road_inputs,
    summarize_transfers,
)
from eotdl_tutorials.stac import find_asset_key, reflectance_scale_offset
from eotdl_tutorials.stand_in import PARTS, open_stand_in
from eotdl_tutorials.world import open_world


def _items(stand_in, collection: str) -> list[dict]:
    path = stand_in.root / "stac" / "items" / f"{collection}.json"
    return json.loads(path.read_text())["features"]


def test_it_holds_the_real_sources_and_nothing_of_the_world(stand_in):
    assert sorted(p.name for p in stand_in.root.iterdir()) == sorted(PARTS)
    assert not list(stand_in.root.rglob("world.json"))  # no sample world inside


def test_its_stac_items_are_valid(stand_in):
    report = validate_stac_tree(stand_in.root / "stac").raise_for_errors()
    assert len(report.checked) > 4


def test_sentinel_2_as_earth_search_serves_it(stand_in, ci_world):
    items = _items(stand_in, "sentinel-2-l2a")
    item = items[0]
    assert {b.common_name for b in S2_BANDS} | {"scl"} <= set(item["assets"])
    assert item["properties"]["earthsearch:boa_offset_applied"] is True
    assert item["properties"]["s2:processing_baseline"] == "05.00"
    band = item["assets"]["red"]["raster:bands"][0]
    assert (band["scale"], band["offset"]) == (0.0001, -0.1)  # left at -0.1, as Earth Search
    assert find_asset_key(item, "B04") == "red"
    assert reflectance_scale_offset(item, "red") == (0.0001, 0.0)
    world_item = next(
        i for i in open_world(ci_world).items("sentinel-2-l2a") if i["id"] == item["id"]
    )
    with rasterio.open(item["assets"]["red"]["href"]) as src:
        removed = src.read(1).astype(int)
    with rasterio.open(world_item["assets"]["red"]["href"]) as src:
        kept = src.read(1).astype(int)
    bright = kept > 1001
    assert bright.any() and (kept[bright] - removed[bright] == 1000).all()
    assert ((kept == 0) == (removed == 0)).all()  # no-data stays no-data


def test_sentinel_1_as_the_planetary_computer_serves_it(stand_in):
    item = _items(stand_in, "sentinel-1-rtc")[0]
    assert item["id"].endswith("_rtc") and item["collection"] == "sentinel-1-rtc"
    assert set(item["assets"]) == {"vv", "vh"}
    assert item["properties"]["platform"].startswith("SENTINEL-1")


def test_its_stac_api_answers_searches(stand_in, stand_in_api):
    client = pystac_client.Client.open(stand_in_api)
    found = client.search(
        collections=["sentinel-2-l2a"], method="POST", limit=100
    ).item_collection()
    assert len(found) == len(_items(stand_in, "sentinel-2-l2a"))


def test_earthview_index_has_the_public_columns_only(stand_in):
    index = gpd.read_parquet(stand_in.earthview_index)
    assert list(index.columns) == list(EARTHVIEW_INDEX_COLUMNS)
    for path in read_footprints(stand_in.earthview_index)["hr_metadata"]:
        item = json.loads(Path(path).read_text())
        assert set(item["assets"]) == {"analytic"}  # no land-cover labels
        assert not any(key.startswith("landcover:") for key in item["properties"])


def test_worldcover_tiles(stand_in, ci_world):
    regions = open_world(ci_world).regions
    names = {worldcover_tile_name(r["lon"], r["lat"]) for r in regions}
    assert {p.name for p in stand_in.worldcover} == names  # the tiles of the regions
    for path in stand_in.worldcover:
        with rasterio.open(path) as src:
            assert src.crs.to_epsg() == 4326 and src.dtypes[0] == "uint8"
            assert src.res[0] == pytest.approx(WORLDCOVER_PIXEL_DEG)
            codes = set(np.unique(src.read(1)).tolist()) - {0}
        assert codes and codes <= set(WORLDCOVER_CODES)


def test_massachusetts_roads_without_vectors(stand_in):
    root = stand_in.roads_dir
    assert not (root / "roads.gpkg").exists() and not (root / "dataset.json").exists()
    metadata = pd.read_csv(root / "metadata.csv")
    assert list(metadata.columns) == ["image_id", "split", "tiff_image_path", "tif_label_path"]
    aerial = read_aerial_roads(root)
    assert aerial.roads is None and set(aerial.index["split"]) == {"train", "test"}


def test_full_road_inputs_need_both_parameters(stand_in, tmp_path, monkeypatch):
    monkeypatch.setenv("EOTDL_TUTORIALS_DATA", str(tmp_path))
    with pytest.raises(ValueError, match="set aerial_dir and stac_url.*real-data.md"):
        road_inputs("full")
    with pytest.raises(ValueError, match="set stac_url"):
        road_inputs("full", aerial_dir=stand_in.roads_dir)
    aerial, source = road_inputs("full", stand_in.roads_dir, "http://127.0.0.1:9/v1")
    assert aerial.root == stand_in.roads_dir and source == "http://127.0.0.1:9/v1"
    assert list(tmp_path.iterdir()) == []  # no sample world opened nor built


def test_a_stand_in_that_is_not_complete_says_how_to_write_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="eotdl-tutorials world stand-in --out"):
        open_stand_in(tmp_path)


def test_road_chips_read_from_earth_search_items_are_the_worlds(
    stand_in, stand_in_api, ci_world, tmp_path
):
    """The same road folder matched through the stand-in's API (Earth Search's COGs, the +1000
    offset removed) and through the world's catalogue (offset kept): the same reflectance; no
    road vectors, so no vector_width labels, and D2 is told so."""
    aerial = read_aerial_roads(stand_in.roads_dir)
    real = build_road_dataset(aerial, stand_in_api, tmp_path / "real", progress=False)
    world = build_road_dataset(aerial, open_world(ci_world), tmp_path / "world", progress=False)
    assert real.index["item"].tolist() == world.index["item"].tolist()
    valid = np.isfinite(world.images) & (world.images > 0.0001)  # above the clamped dark pixels
    assert valid.mean() > 0.9
    assert np.allclose(real.images[valid], world.images[valid], atol=1e-6)
    assert set(real.labels) == {"area_fraction", "nearest"}
    transfers, note = real.usable_transfers(["area_fraction", "vector_width"])
    assert transfers == ["area_fraction"] and "vector_width left out" in note
    assert "unavailable" in describe_transfers(
        summarize_transfers(real.labels, real.fraction), real.meta["missing_transfers"]
    )
    item = real.index["item"].iloc[0]
    assert real.scene(item).reflectance_offset == 0.0
    assert world.scene(item).reflectance_offset == pytest.approx(-0.1)
    assert real.scene(item).hrefs["red"].startswith(str(stand_in.root))


def test_scaneo_campaigns_in_both_layouts_and_band_counts(stand_in):
    """SCANEO's current layout over 4-band uint16 images and its older one over 3-band 8-bit
    RGB, each with unlabelled images; labels are the classes present, in the legend's order."""
    from eotdl_tutorials.facts.classes import CLASSES
    from eotdl_tutorials.labels import rasterize_export, read_scaneo_export

    for campaign, layout, bands, dtype in (
        ("rgbn", "spai.json", 4, "uint16"),
        ("rgb", "labels.json", 3, "uint8"),
    ):
        export = read_scaneo_export(stand_in.scaneo_dir(campaign))
        assert export.layout == layout
        assert export.unlabelled and export.annotations
        assert list(export.labels) == [c for c in CLASSES if c in export.labels]
        image = next(iter(export.annotations))
        with rasterio.open(export.image_path(image)) as src:
            assert (src.count, src.dtypes[0]) == (bands, dtype)
        assert rasterize_export(export)[image].any()
    assert not list(stand_in.root.joinpath("scaneo").rglob(".*"))  # no temporary file left
