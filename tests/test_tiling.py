"""Tiling: the chip store contract on the ci world, co-registration, labels, resuming, faults."""

from __future__ import annotations

import errno
import json
import os
import shutil
from collections import Counter
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
from pyproj import Transformer
from rasterio.transform import from_origin
from rasterio.warp import Resampling, reproject

from eotdl_tutorials.facts.classes import (
    BUILDING,
    BUILT_UP,
    CLASSES,
    CROPLAND,
    FOREST,
    HIGHWAY,
    INDUSTRIAL,
    RIVER,
    ROAD,
    SCENE_CLASSES,
    WATER,
    scene_label,
)
from eotdl_tutorials.matching import MatchResult, match
from eotdl_tutorials.matching.rasters import ChipGrid, read_chip
from eotdl_tutorials.tiling import (
    SENSORS,
    assign_splits,
    chip_path,
    label_of,
    place_keys,
    presence_column,
    tile,
)
from eotdl_tutorials.tiling.bench import cut_store, raw_tasks, timed_reads
from eotdl_tutorials.tiling.store import _pack

#: Sentinel-1 of the ci world passes every 24 days: a wider window gives most footprints one.
S1_BUFFER = {"sentinel-2-l2a": 30, "sentinel-1-grd": 24}


@pytest.fixture(scope="module")
def world(ci_world):
    from eotdl_tutorials.world import open_world

    return open_world(ci_world)


@pytest.fixture(scope="module")
def matches(world) -> MatchResult:
    return match(world.earthview_index, world.items_parquet, time_buffer_days=S1_BUFFER)


@pytest.fixture(scope="module")
def store(world, matches, tmp_path_factory):
    out = tmp_path_factory.mktemp("store")
    report = tile(matches, out, labels_dir=world.root / "labels", workers=2, progress=False)
    return out, report


def test_store_follows_the_contract(store, matches):
    out, report = store
    meta = json.loads((out / "meta.json").read_text())
    assert meta["format"] == "eotdl-tutorials-chips" and meta["format_version"] == 2
    assert meta["classes"] == list(SCENE_CLASSES) and meta["pixel_classes"] == list(CLASSES)
    n = meta["count"]
    assert n == report.summary["packed"] >= 10
    for sensor, spec in meta["sensors"].items():
        array = np.load(out / f"{sensor}.npy", mmap_mode="r")
        assert array.shape == (n, *spec["shape"]) and array.dtype == spec["dtype"]
        assert spec["bands"] == list(SENSORS[sensor].bands)
    assert meta["sensors"]["s2"]["shape"] == [12, 39, 39]
    assert meta["sensors"]["hr"]["shape"] == [4, 384, 384]
    index = gpd.read_parquet(out / "index.parquet")
    assert len(index) == n and index.crs.to_epsg() == 4326
    for column in (
        "id",
        "datetime",
        "zone",
        "region",
        "s2_item",
        "s2_datetime",
        "s1_item",
        "s1_datetime",
        "label",
        "split",
        *map(presence_column, CLASSES),
    ):
        assert column in index
    assert set(index["split"]) <= {"train", "val", "test"}
    assert index["split"].tolist() == assign_splits(place_keys(index))
    assert set(index["split"]) == {"train", "val", "test"}
    # the dates of one place share a split: no place is both trained on and tested on
    assert (index.groupby(place_keys(index))["split"].nunique() == 1).all()
    # row i of the arrays is footprint i of the index: the GeoTIFF chips say so
    s2 = np.load(out / "s2.npy", mmap_mode="r")
    for i in (0, n - 1):
        with rasterio.open(chip_path(out, "s2", index["id"].iloc[i])) as src:
            assert src.tags()["footprint"] == index["id"].iloc[i]
            assert src.tags()["item"] == index["s2_item"].iloc[i]
            np.testing.assert_array_equal(src.read(), s2[i])
    # the best matches are the chips' items
    best = matches.best.set_index("id").loc[index["id"]]
    assert (best["s2_item"].to_numpy() == index["s2_item"].to_numpy()).all()


def test_chips_are_the_windows_of_the_sources(store, matches, world):
    out, _ = store
    index = gpd.read_parquet(out / "index.parquet")
    hr = np.load(out / "hr.npy", mmap_mode="r")
    s2 = np.load(out / "s2.npy", mmap_mode="r")
    s1 = np.load(out / "s1.npy", mmap_mode="r")
    scenes = matches.scenes.set_index("id")
    best = matches.best.set_index("id")
    i = 0
    footprint = index["id"].iloc[i]
    tile_path = next((world.root / "earthview").rglob(f"{footprint}_TOA.tif"))
    with rasterio.open(tile_path) as src:
        np.testing.assert_array_equal(hr[i], src.read())  # the 1 m tile, unchanged
        tile_bounds = src.bounds
    row = best.loc[footprint]
    with rasterio.open(scenes.loc[row["s2_item"], "assets"]["red"]) as src:
        # the window centred on the tile, 39 x 39 px of 10 m: the nearest scene pixels
        cx = (tile_bounds.left + tile_bounds.right) / 2
        cy = (tile_bounds.bottom + tile_bounds.top) / 2
        col0, row0 = ~src.transform * (cx - 195 + 5, cy + 195 - 5)
        window = rasterio.windows.Window(int(np.floor(col0)), int(np.floor(row0)), 39, 39)
        np.testing.assert_array_equal(
            s2[i, SENSORS["s2"].bands.index("red")], src.read(1, window=window)
        )
    with rasterio.open(scenes.loc[row["s1_item"], "assets"]["vv"]) as src:
        linear = src.read(1, window=window)
    np.testing.assert_allclose(s1[i, 0], 10 * np.log10(linear), rtol=1e-5)


def test_a_1m_chip_that_is_its_tile_is_a_link_or_else_a_copy(
    store, world, matches, tmp_path, monkeypatch
):
    out, _ = store
    footprint = gpd.read_parquet(out / "index.parquet")["id"].iloc[0]
    tile_path = next((world.root / "earthview").rglob(f"{footprint}_TOA.tif"))
    assert chip_path(out, "hr", footprint).samefile(tile_path)  # no second copy on disk
    one = matches.best[matches.best["id"] == footprint]
    single = MatchResult(one, matches.candidates, matches.scenes, matches.summary)

    def no_links(source, target):
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr("os.link", no_links)
    tile(single, tmp_path, sensors=["hr"], progress=False)
    copied = chip_path(tmp_path, "hr", footprint)
    assert not copied.samefile(tile_path)
    assert copied.read_bytes() == tile_path.read_bytes()


def test_labels_come_from_the_masks(store, world):
    out, _ = store
    index = gpd.read_parquet(out / "index.parquet")
    presence = pd.read_parquet(world.root / "labels" / "landcover-presence.parquet").set_index("id")
    for name in CLASSES:
        want = presence.loc[index["id"], name].to_numpy()
        assert (index[presence_column(name)].to_numpy(dtype=bool) == want).all()
    with rasterio.open(world.root / "labels" / "landcover" / f"{index['id'].iloc[0]}.tif") as src:
        mask = src.read(1)
    counts = np.bincount(mask.ravel(), minlength=len(CLASSES))
    assert index["label"].iloc[0] == scene_label(counts)
    assert index["label"].between(0, len(SCENE_CLASSES) - 1).all()


def test_scene_labels_follow_the_layout():
    """Streets and buildings count towards the ground they stand on; ribbons name a chip."""
    mask = np.full((100, 100), CROPLAND, dtype=np.uint8)  # annual crop 55 %
    mask[:45] = ROAD  # streets 45 % -> the built-up ground around them
    mask[:5] = INDUSTRIAL
    label, present = label_of(mask)
    assert SCENE_CLASSES[label] == "AnnualCrop"
    mask[:60] = BUILDING
    mask[:5] = INDUSTRIAL
    assert SCENE_CLASSES[label_of(mask)[0]] == "Industrial"
    mask[:5] = BUILT_UP
    assert SCENE_CLASSES[label_of(mask)[0]] == "Residential"
    assert present == [CLASSES[c] in ("cropland", "road", "industrial") for c in range(13)]
    crossing = np.full((100, 100), FOREST, dtype=np.uint8)
    crossing[:, 40:50] = RIVER  # a ribbon across 10 %
    assert SCENE_CLASSES[label_of(crossing)[0]] == "River"
    crossing[:, 40:50] = HIGHWAY
    assert SCENE_CLASSES[label_of(crossing)[0]] == "Highway"
    crossing[:, 40:45] = FOREST  # a corridor's edge only
    assert SCENE_CLASSES[label_of(crossing)[0]] == "Forest"
    crossing[:60] = WATER
    assert SCENE_CLASSES[label_of(crossing)[0]] == "SeaLake"


def test_the_bench_reads_the_files_the_tiler_reads(world, matches, tmp_path, monkeypatch):
    """Raw reads, the bench's baseline, open every file the bench's tiler reads, SCL included
    (the tiler cuts with the course's cloud check), and no other, as often: once per task for a
    scene's files (the tiler keeps its SCL file open with its bands), once for a 1 m tile or a
    label mask."""
    opened: Counter[str] = Counter()
    real_open = rasterio.open

    def recording_open(path, *args, **kwargs):
        opened[str(path)] += 1
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(rasterio, "open", recording_open)
    labels = world.root / "labels"
    cut_store(matches, str(tmp_path / "store"), labels, workers=1, progress=False)
    by_tiler, opened = opened, Counter()
    tasks, _ = raw_tasks(matches, labels)
    timed_reads(tasks, workers=1, naive=False)
    assert any(path.endswith("SCL.tif") for path in by_tiler)
    assert opened == by_tiler


@pytest.mark.parametrize("in_kernel", [True, False])
def test_packing_keeps_the_staging_rows_of_the_packed_footprints(tmp_path, monkeypatch, in_kernel):
    """The packed array is the staging rows of the footprints whose chips all succeeded, in
    order, copied in the kernel or, where the file system cannot, read and written."""
    staging = tmp_path / "staging.npy"
    chips = np.random.default_rng(0).integers(0, 65535, size=(9, 2, 3, 5), dtype=np.uint16)
    np.save(staging, chips)
    if not in_kernel:

        def no_kernel_copy(*args):
            raise OSError(errno.EXDEV, "Invalid cross-device link")

        monkeypatch.setattr(os, "copy_file_range", no_kernel_copy)
    rows = np.array([0, 1, 3, 4, 5, 8])
    _pack(str(staging), tmp_path / "packed.npy", rows)
    packed = np.load(tmp_path / "packed.npy")
    assert packed.dtype == chips.dtype
    np.testing.assert_array_equal(packed, chips[rows])
    _pack(str(staging), tmp_path / "all.npy", np.arange(9))  # every row: the file itself
    assert not staging.exists()
    np.testing.assert_array_equal(np.load(tmp_path / "all.npy"), chips)


def test_report_says_why_chips_are_missing(store, matches):
    out, report = store
    chips = report.chips
    no_s1 = matches.best["s1_item"].isna().sum()
    assert (
        chips[(chips["sensor"] == "s1") & chips["reason"].str.startswith("no match")].shape[0]
        == no_s1
    )
    assert set(report.reasons().index) <= {"no match", "nodata", "cloudy"}
    assert pd.read_parquet(out / "report.parquet").shape == chips.shape


def _published_geos(out: Path) -> dict[tuple[str, str], list]:
    """(footprint, sensor) -> the EPSG code, shape and transform the store's catalog gives."""
    geos = {}
    for path in (out / "stac").glob("*-chips/items/*.json"):
        item = json.loads(path.read_text())
        for sensor, asset in item["assets"].items():
            geos[item["id"], sensor] = [
                asset["proj:epsg"],
                asset["proj:shape"],
                asset["proj:transform"],
            ]
    return geos


def _file_geos(out: Path) -> dict[tuple[str, str], list]:
    """The same read from the chip files."""
    geos = {}
    for footprint in gpd.read_parquet(out / "index.parquet")["id"]:
        for sensor in SENSORS:
            with rasterio.open(chip_path(out, sensor, footprint)) as src:
                geos[footprint, sensor] = [
                    src.crs.to_epsg(),
                    [src.height, src.width],
                    list(src.transform)[:6],
                ]
    return geos


def test_the_catalog_says_where_each_chip_file_lies(store):
    """The tiler publishes the CRS, shape and transform of each chip it wrote or linked without
    opening the chips again: what it publishes is what the files say."""
    out, _ = store
    published = _published_geos(out)
    assert len(published) == 3 * json.loads((out / "meta.json").read_text())["count"]
    assert published == _file_geos(out)


def test_rerun_reuses_chips_and_recuts_damaged_ones(store, matches, world, tmp_path):
    out, first = store
    copy = tmp_path / "store"
    shutil.copytree(out, copy)
    index = gpd.read_parquet(copy / "index.parquet")
    damaged = chip_path(copy, "s2", index["id"].iloc[1])
    damaged.write_bytes(damaged.read_bytes()[:200])  # an interrupted or broken chip
    chip_path(copy, "s1", index["id"].iloc[2]).unlink()
    report = tile(matches, copy, labels_dir=world.root / "labels", progress=False)
    status = report.chips.set_index(["id", "sensor"])["status"]
    assert status[(index["id"].iloc[1], "s2")] == "written"
    assert status[(index["id"].iloc[2], "s1")] == "written"
    assert (status == "reused").sum() == (status != "skipped").sum() - 2
    for sensor in SENSORS:
        np.testing.assert_array_equal(
            np.load(copy / f"{sensor}.npy"), np.load(out / f"{sensor}.npy")
        )
    assert _published_geos(copy) == _published_geos(out)  # reused chips: their own geo


def _with_asset(matches: MatchResult, item: str, band: str, href: str) -> MatchResult:
    scenes = matches.scenes.copy()
    k = int(np.flatnonzero(scenes["id"] == item)[0])
    assets = dict(scenes["assets"].iloc[k])
    assets[band] = href
    scenes["assets"] = [assets if j == k else a for j, a in enumerate(scenes["assets"])]
    return MatchResult(matches.best, matches.candidates, scenes, matches.summary)


def test_missing_truncated_and_empty_sources_are_reported(store, matches, world, tmp_path):
    out, _ = store
    index = gpd.read_parquet(out / "index.parquet")
    by_item = index.groupby("s2_item")["id"].apply(list)
    items = list(by_item.index[:3])
    assert len(items) == 3
    red = matches.scenes.set_index("id").loc[items[1], "assets"]["red"]
    truncated = tmp_path / "truncated.tif"
    truncated.write_bytes(Path(red).read_bytes()[:2000])
    empty = tmp_path / "empty.tif"
    with rasterio.open(red) as src:
        profile = src.profile | {"driver": "GTiff"}
    with rasterio.open(empty, "w", **profile) as dst:
        dst.write(np.zeros((1, profile["height"], profile["width"]), dtype=profile["dtype"]))
    broken = _with_asset(matches, items[0], "nir", str(tmp_path / "gone.tif"))
    broken = _with_asset(broken, items[1], "red", str(truncated))
    broken = _with_asset(broken, items[2], "swir16", str(empty))
    copy = tmp_path / "store"
    shutil.copytree(out, copy)
    shutil.rmtree(copy / "chips" / "s2")
    report = tile(broken, copy, labels_dir=world.root / "labels", progress=False)
    chips = report.chips.set_index(["id", "sensor"])
    for item, reason in zip(
        items, ("missing asset file", "unreadable asset file", "nodata"), strict=True
    ):
        for footprint in by_item[item]:
            assert chips.loc[(footprint, "s2"), "reason"].startswith(reason)
    assert report.summary["packed"] == len(index) - sum(len(by_item[i]) for i in items)
    assert {"missing asset file", "unreadable asset file", "nodata"} <= set(report.reasons().index)
    # nothing written before is lost: the other sensors' chips are still there
    assert all(chip_path(copy, "hr", i).exists() for i in index["id"])


def test_reading_across_crs_is_a_nearest_reprojection(tmp_path):
    path = tmp_path / "z31.tif"
    rng = np.random.default_rng(0)
    data = rng.integers(1, 60000, (1, 400, 400), dtype=np.uint16)
    transform = from_origin(723_000, 5_300_000, 10, 10)  # 31N, reaching past 6 E
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=400,
        height=400,
        count=1,
        dtype="uint16",
        crs="EPSG:32631",
        transform=transform,
    ) as dst:
        dst.write(data)
    # a window of 39 x 39 px in zone 32N around the raster's centre
    x, y = Transformer.from_crs(32631, 32632, always_xy=True).transform(725_000, 5_298_000)
    x, y = round(x), round(y)
    grid = ChipGrid(32632, (x - 195.0, y - 195.0, x + 195.0, y + 195.0), 39, 39)
    with rasterio.open(path) as src:
        chip = read_chip(src, grid, [1])[0]
    want = np.zeros((39, 39), dtype=np.uint16)
    reproject(
        data[0],
        want,
        src_transform=transform,
        src_crs="EPSG:32631",
        dst_transform=grid.transform,
        dst_crs="EPSG:32632",
        resampling=Resampling.nearest,
    )
    assert (chip == want).mean() > 0.99 and (chip > 0).all()


def test_bad_arguments(matches, tmp_path):
    with pytest.raises(ValueError, match="unknown sensors"):
        tile(matches, tmp_path, sensors=["landsat"], progress=False)
    empty = MatchResult(matches.best.iloc[:0], matches.candidates.iloc[:0], matches.scenes)
    with pytest.raises(ValueError, match="no footprints"):
        tile(empty, tmp_path, progress=False)
    with pytest.raises(FileNotFoundError, match="no complete matching result"):
        tile(tmp_path / "nothing", tmp_path / "out", progress=False)


@pytest.mark.parametrize(
    ("dtype", "shape", "nodata"),
    [("uint16", (12, 39, 39), 0), ("float32", (2, 39, 39), None), ("uint8", (1, 5, 7), 255)],
)
def test_chip_geotiffs_read_back_exactly(tmp_path, dtype, shape, nodata):
    from eotdl_tutorials.tiling.geotiff import write_geotiff

    data = (np.random.default_rng(0).random(shape) * 1000).astype(dtype)
    transform = from_origin(720_000.5, 5_300_390.0, 10, 10)
    path = tmp_path / "chip.tif"
    names = [f"band {i} & <more>" for i in range(shape[0])]
    write_geotiff(path, data, transform, 32632, nodata, {"item": "S2A_<x>&y"}, names)
    with rasterio.open(path) as src:
        assert src.crs.to_epsg() == 32632 and src.transform == transform
        assert src.nodata == nodata and src.dtypes[0] == dtype
        assert src.tags()["item"] == "S2A_<x>&y" and list(src.descriptions) == names
        np.testing.assert_array_equal(src.read(), data)


def test_stac_items_as_footprints_give_the_same_chips(store, world, tmp_path):
    from eotdl_tutorials.matching import compare_matches
    from eotdl_tutorials.stac import items_to_frame

    out, _ = store
    tiles = items_to_frame(world.items("satellogic-earthview"))  # 1 m image: assets["analytic"]
    matches = match(tiles, world.items_parquet, time_buffer_days=S1_BUFFER)
    by_index = match(world.earthview_index, world.items_parquet, time_buffer_days=S1_BUFFER)
    assert compare_matches(matches, by_index).empty
    tile(matches, tmp_path, labels_dir=world.root / "labels", progress=False)
    ours = gpd.read_parquet(tmp_path / "index.parquet").set_index("id")
    theirs = gpd.read_parquet(out / "index.parquet").set_index("id")
    order = ours.index.get_indexer(theirs.index)
    for sensor in SENSORS:
        np.testing.assert_array_equal(
            np.load(tmp_path / f"{sensor}.npy")[order], np.load(out / f"{sensor}.npy")
        )


def test_s2_chips_carry_their_scl_cloud_figure(matches, tmp_path):
    """The cloud check's figure goes into the index (``s2_cloud_percent``) and into the chip's
    tags, so a chip that a rerun reuses keeps it; a chip cut without a cloud check has none."""
    few = MatchResult(
        matches.best.iloc[:12].reset_index(drop=True),
        matches.candidates,
        matches.scenes,
        matches.summary,
    )
    out = tmp_path / "checked"
    tile(few, out, sensors=("s2",), max_cloud_percent=100.0, progress=False)
    first = gpd.read_parquet(out / "index.parquet")
    assert len(first) and first["s2_cloud_percent"].between(0, 100).all()
    again = tile(few, out, sensors=("s2",), max_cloud_percent=100.0, progress=False)
    assert set(again.chips.loc[again.chips["status"] != "skipped", "status"]) == {"reused"}
    reread = gpd.read_parquet(out / "index.parquet")
    pd.testing.assert_series_equal(reread["s2_cloud_percent"], first["s2_cloud_percent"])
    clear = tile(few, tmp_path / "clear", sensors=("s2",), max_cloud_percent=0.0, progress=False)
    kept = gpd.read_parquet(tmp_path / "clear" / "index.parquet")["id"].tolist()
    assert kept == first.loc[first["s2_cloud_percent"] == 0, "id"].tolist(), clear.summary
    unchecked = tile(few, tmp_path / "unchecked", sensors=("s2",), progress=False)
    index = gpd.read_parquet(tmp_path / "unchecked" / "index.parquet")
    assert index["s2_cloud_percent"].isna().all(), unchecked.summary
