"""Matching footprints with scenes: the vectorised join against a plain reference, its rules
(window, time buffer, cloud limit, ranking), inputs of every accepted shape, real Planetary
Computer items, the sample world through its local STAC API, a Dask cluster, and bad input."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Transformer

from eotdl_tutorials.matching import (
    compare_matches,
    footprint_windows,
    match,
    match_per_footprint,
    read_footprints,
    read_matches,
)
from eotdl_tutorials.stac import RetryPolicy, items_to_frame

S2, S1 = "sentinel-2-l2a", "sentinel-1-grd"
T0 = pd.Timestamp("2022-08-01T10:00:00Z")


def _to_wgs84(geoms: list, epsg: int) -> np.ndarray:
    t = Transformer.from_crs(epsg, 4326, always_xy=True)
    return np.array(
        [shapely.transform(g, lambda xy: np.column_stack(t.transform(*xy.T))) for g in geoms]
    )


def scene_frame(rows: list[dict]) -> gpd.GeoDataFrame:
    """Scenes as :func:`items_to_frame` gives them, from rows with UTM geometries."""
    frame = pd.DataFrame(rows)
    geoms = np.empty(len(frame), dtype=object)
    for epsg in frame["epsg"].unique():
        sel = (frame["epsg"] == epsg).to_numpy()
        geoms[sel] = _to_wgs84(list(frame.loc[sel, "utm"]), int(epsg))
    frame = frame.drop(columns="utm")
    frame["datetime"] = pd.to_datetime(frame["datetime"], utc=True)
    frame["assets"] = [{} for _ in range(len(frame))]
    return gpd.GeoDataFrame(frame, geometry=geoms, crs=4326)


def tile(x0: float, y0: float, size: float = 20_000) -> shapely.Polygon:
    return shapely.box(x0, y0, x0 + size, y0 + size)


def footprints_at(xy: list[tuple[float, float]], epsg: int, times: list, size=384.0):
    boxes = [shapely.box(x, y, x + size, y + size) for x, y in xy]
    return gpd.GeoDataFrame(
        {"id": [f"fp{i}" for i in range(len(xy))], "datetime": pd.to_datetime(times, utc=True)},
        geometry=boxes,
        crs=epsg,
    )


def _project(geom, src: int, dst: int, cache: dict):
    if (src, dst) not in cache:
        cache[src, dst] = Transformer.from_crs(src, dst, always_xy=True)
    tr = cache[src, dst]
    return shapely.transform(geom, lambda xy: np.column_stack(tr.transform(*xy.T)))


def reference_matches(footprints, scenes, collection, buffer_days, max_cloud):
    """Brute force with shapely, one (footprint, scene) pair at a time."""
    fps = read_footprints(footprints)
    windows = footprint_windows(fps)
    mine = scenes[scenes["collection"] == collection]
    cache: dict = {}
    polys = [
        _project(g, 4326, int(e), cache) for g, e in zip(mine.geometry, mine["epsg"], strict=True)
    ]
    out = []
    for i in range(len(fps)):
        box = windows.boxes(np.array([i]))[0]
        t = fps["datetime"].iloc[i]
        for k, (_, s) in enumerate(mine.iterrows()):
            quad = _project(box, int(windows.epsg[i]), int(s["epsg"]), cache)
            dt = s["datetime"] - t
            cloud_ok = max_cloud is None or s["cloud_cover"] <= max_cloud
            if abs(dt) <= pd.Timedelta(days=buffer_days / 2) and cloud_ok and quad.within(polys[k]):
                out.append((i, abs(dt), s["cloud_cover"], s["id"]))
    out.sort(key=lambda r: (r[0], r[1], np.nan_to_num(r[2], nan=np.inf), r[3]))
    return [(fps["id"].iloc[r[0]], r[3]) for r in out]


@pytest.fixture(scope="module")
def zone_edge_scenes() -> gpd.GeoDataFrame:
    """S2-like tiles on both sides of the 31N/32N boundary (6 deg E) and a non-convex S1 swath."""
    rows = []
    rng = np.random.default_rng(1)
    # 31N tiles reaching east past 6 E (x ~ 725 km at 47.8 N), 32N tiles reaching west of it
    tiles = {
        ("31TKA", 32631): tile(700_000, 5_290_000, 30_000),
        ("31TLA", 32631): tile(705_000, 5_280_000, 30_000),
        ("32TKT", 32632): tile(265_000, 5_290_000, 30_000),
    }
    for d in range(-20, 21, 5):
        for (code, epsg), geom in tiles.items():
            rows.append(
                {
                    "id": f"S2_{code}_{d:+03d}",
                    "collection": S2,
                    # the two 31N tiles share a datatake time: ties broken by cloud, then id
                    "datetime": T0 + pd.Timedelta(days=d, minutes=0 if epsg == 32631 else 3),
                    "utm": geom,
                    "epsg": epsg,
                    "cloud_cover": float(np.round(rng.uniform(0, 12), 1)),
                }
            )
    notch = shapely.Polygon(
        [
            (700_000, 5_280_000),
            (740_000, 5_280_000),
            (740_000, 5_330_000),
            (721_000, 5_330_000),
            (721_000, 5_299_000),
            (719_000, 5_299_000),
            (719_000, 5_330_000),
            (700_000, 5_330_000),
        ]
    )  # a slot 2 km wide cut into the top: windows over it must fail
    for d in (-4, -2, 1, 3, 5):
        rows.append(
            {
                "id": f"S1_{d:+03d}",
                "collection": S1,
                "datetime": T0 + pd.Timedelta(days=d),
                "utm": notch,
                "epsg": 32631,
                "cloud_cover": np.nan,
            }
        )
    return scene_frame(rows)


def random_footprints(n: int, seed: int) -> gpd.GeoDataFrame:
    """Footprints in 31N near 6 E, some over the notch, some outside every scene."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(698_000, 738_000, n)
    y = rng.uniform(5_278_000, 5_322_000, n)
    times = T0 + pd.to_timedelta(rng.uniform(-25, 25, n), unit="D")
    return footprints_at(list(zip(x, y, strict=True)), 32631, list(times))


@pytest.mark.parametrize(("collection", "buffer", "cloud"), [(S2, 30, 5.0), (S1, 6, None)])
def test_join_equals_brute_force(zone_edge_scenes, collection, buffer, cloud):
    fps = random_footprints(250, seed=3)
    result = match(fps, zone_edge_scenes, [collection], max_cloud_cover=cloud)
    got = result.candidates[["id", "item"]].astype(str).itertuples(index=False, name=None)
    want = reference_matches(fps, zone_edge_scenes, collection, buffer, cloud)
    assert len(want) > 50
    assert list(got) == want
    # every footprint with a candidate has its rank-0 candidate as best match
    sensor = "s2" if collection == S2 else "s1"
    first = result.candidates[result.candidates["rank"] == 0].set_index("id")["item"].astype(str)
    best = result.best.set_index("id")[f"{sensor}_item"].dropna()
    assert best.sort_index().to_dict() == first.sort_index().to_dict()


def test_window_rounds_up_to_whole_pixels_centred():
    fps = read_footprints(
        footprints_at([(720_003.0, 5_300_007.0), (0.0, 0.0)], 32631, [T0, T0], size=384.0)
    )
    fps.loc[1, "geometry"] = shapely.box(720_000.0, 5_300_000.0, 720_380.0, 5_300_380.0)
    w = footprint_windows(fps)
    assert w.width_px.tolist() == [39, 38] and w.height_px.tolist() == [39, 38]
    np.testing.assert_allclose(w.bounds()[0], [720_000.0, 5_300_004.0, 720_390.0, 5_300_394.0])


def test_wgs84_and_projected_footprints_give_the_same_matches(zone_edge_scenes):
    fps = random_footprints(120, seed=5)
    projected = match(fps, zone_edge_scenes, [S2, S1])
    wgs84 = fps.to_crs(4326)
    wgs84["zone"] = "31N"  # EarthView says the zone; without it the centroid's zone is used
    geographic = match(wgs84, zone_edge_scenes, [S2, S1])
    assert compare_matches(projected, geographic).empty
    np.testing.assert_allclose(projected.best["window_cx"], geographic.best["window_cx"], atol=1e-6)


def test_footprints_in_the_next_zone_match_scenes_across_the_edge(zone_edge_scenes):
    # a footprint east of 6 E in its own zone 32N; 31N tiles reach over the edge and hold it
    lon, lat = 6.01, 47.85
    x, y = Transformer.from_crs(4326, 32632, always_xy=True).transform(lon, lat)
    fps = footprints_at([(x, y)], 32632, [T0])
    result = match(fps, zone_edge_scenes, [S2], max_cloud_cover=None)
    epsg = result.scenes.set_index("id").loc[result.candidates["item"].astype(str), "epsg"]
    assert result.best["grid_epsg"].iloc[0] == 32632
    assert {32631, 32632} <= set(epsg.astype(int))
    assert result.candidates.equals(
        match(fps.to_crs(4326), zone_edge_scenes, [S2], max_cloud_cover=None).candidates
    )


def test_time_buffer_is_the_total_window_both_ends_included():
    scenes = scene_frame(
        [
            {
                "id": name,
                "collection": S1,
                "datetime": T0 + delta,
                "utm": tile(700_000, 5_290_000),
                "epsg": 32631,
                "cloud_cover": np.nan,
            }
            for name, delta in [
                ("at+3d", pd.Timedelta(days=3)),
                ("at-3d", -pd.Timedelta(days=3)),
                ("past+3d", pd.Timedelta(days=3, seconds=1)),
            ]
        ]
    )
    fps = footprints_at([(705_000, 5_295_000)], 32631, [T0])
    result = match(fps, scenes, [S1], time_buffer_days=6)
    assert sorted(result.candidates["item"].astype(str)) == ["at+3d", "at-3d"]
    assert result.best["s1_item"].iloc[0] == "at+3d"  # same |dt|: ties go by cloud, then id
    wider = match(fps, scenes, [S1], time_buffer_days=6.01)
    assert len(wider.candidates) == 3


def test_search_plan_cuts_few_areas_into_time_pieces_that_cover_the_whole_range():
    from eotdl_tutorials.matching.join import times_ns
    from eotdl_tutorials.matching.match import collection_rules
    from eotdl_tutorials.matching.scenes import plan_searches

    rules = collection_rules([S2, S1])

    def plan_for(footprints: gpd.GeoDataFrame, pieces: int) -> list:
        fps = read_footprints(footprints)
        return plan_searches(footprint_windows(fps), times_ns(fps["datetime"]), rules, 1.0, pieces)

    times = [T0, T0 + pd.Timedelta(days=40), T0 + pd.Timedelta(days=90)]
    near = footprints_at(
        [(705_000, 5_295_000), (706_000, 5_296_000), (707_000, 5_297_000)], 32631, times
    )
    for pieces in (1, 8):
        for rule, areas in plan_for(near, pieces):
            assert len(areas) == pieces and len({a.bbox for a in areas}) == 1
            half = pd.Timedelta(rule.half_window_ns, "ns")
            assert areas[0].start < times[0] - half and areas[-1].end > times[-1] + half
            assert all(a.end == b.start for a, b in zip(areas[:-1], areas[1:], strict=True))
    # footprints a world apart are two areas; with as many areas as pieces, none is cut
    far = footprints_at([(500_000, 0)], 32633, [T0]).to_crs(4326)
    both = pd.concat([near.to_crs(4326), far.assign(id="far")], ignore_index=True)
    assert [len(areas) for _, areas in plan_for(both, 2)] == [2, 2]


def test_cloud_limit_and_ranking(zone_edge_scenes):
    fps = footprints_at([(712_000, 5_300_000)], 32631, [T0 + pd.Timedelta(hours=1)])
    strict = match(fps, zone_edge_scenes, [S2], max_cloud_cover=3.0)
    assert (strict.candidates["cloud_cover"] <= 3.0).all()
    loose = match(fps, zone_edge_scenes, [S2], max_cloud_cover=None)
    ranked = loose.candidates
    assert ranked["rank"].tolist() == list(range(len(ranked)))
    key = list(zip(ranked["dt_days"].abs(), ranked["cloud_cover"], strict=True))
    assert key == sorted(key)
    assert len(strict.candidates) < len(ranked)


def test_a_footprint_without_match_gets_nulls_not_an_error(zone_edge_scenes):
    fps = footprints_at([(712_000, 5_300_000), (100_000, 100_000)], 32631, [T0, T0])
    result = match(fps, zone_edge_scenes, [S2, S1], max_cloud_cover=None)
    lonely = result.best.set_index("id").loc["fp1"]
    assert pd.isna(lonely["s2_item"]) and pd.isna(lonely["s1_item"])
    assert lonely["s2_candidates"] == 0
    assert result.summary["collections"][S2]["matched_footprints"] == 1


def test_no_scene_anywhere_near_gives_empty_matches(realdata_dir):
    fps = footprints_at([(500_000, 100_000)], 32631, [T0])  # the Gulf of Guinea
    source = realdata_dir / "stac" / "sentinel-2-l2a-planetary-computer.json"
    result = match(fps, source, [S2])
    assert len(result.candidates) == 0 and result.best["s2_item"].isna().all()
    assert result.summary["collections"][S2]["scenes"] == 0


def test_a_silent_api_times_out_with_the_url(zone_edge_scenes):
    with socket.socket() as server:  # accepts connections, never answers
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        url = f"http://127.0.0.1:{server.getsockname()[1]}"
        fps = footprints_at([(712_000, 5_300_000)], 32631, [T0])
        quick = RetryPolicy(tries=2, backoff_s=0.01, timeout_s=0.5, total_s=3)
        with pytest.raises(ConnectionError, match=url):
            match(fps, url, [S2], retry=quick)


def test_earthview_index_columns_are_accepted():
    fps = footprints_at([(720_000, 5_300_000)], 32631, [T0]).to_crs(4326)
    index = gpd.GeoDataFrame(
        {
            "json_path": [
                "zone=31N/region=720000_5300000/date=2022-08-01/"
                "20220801_093015_SN20_31N_720000_5300000_metadata.json"
            ],
            "zone": ["31N"],
            "region": ["720000_5300000"],
            "date": ["2022-08-01"],
        },
        geometry=fps.geometry.to_numpy(),
        crs=4326,
    )
    fp = read_footprints(index)
    assert fp["id"].iloc[0] == "20220801_093015_SN20_31N_720000_5300000"
    assert fp["datetime"].iloc[0] == pd.Timestamp("2022-08-01T09:30:15Z")
    assert fp["grid_epsg"].iloc[0] == 32631


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.iloc[:0], "empty"),
        (lambda f: f.set_crs(None, allow_override=True), "no CRS"),
        (lambda f: f.assign(id="same"), "unique"),
        (lambda f: f.drop(columns="datetime"), "datetime"),
        (lambda f: f.to_crs(4326).assign(zone="61X"), "zone"),
        (lambda f: f.assign(datetime="not a date"), "cannot be parsed"),
    ],
)
def test_bad_footprints_get_a_clear_message(zone_edge_scenes, change, message):
    fps = change(footprints_at([(712_000, 5_300_000), (713_000, 5_300_000)], 32631, [T0, T0]))
    with pytest.raises(ValueError, match=message):
        match(fps, zone_edge_scenes, [S2])


def test_bad_arguments_get_a_clear_message(zone_edge_scenes, tmp_path):
    fps = footprints_at([(712_000, 5_300_000)], 32631, [T0])
    with pytest.raises(ValueError, match="unknown collection"):
        match(fps, zone_edge_scenes, ["landsat-c2-l2"])
    with pytest.raises(ValueError, match="same sensor"):
        match(fps, zone_edge_scenes, [S1, "sentinel-1-rtc"])
    with pytest.raises(FileNotFoundError, match="footprint file"):
        match(tmp_path / "none.parquet", zone_edge_scenes)
    with pytest.raises(FileNotFoundError, match="STAC source"):
        match(fps, tmp_path / "none.parquet")
    with pytest.raises(FileNotFoundError, match="no complete matching result"):
        read_matches(tmp_path)


def test_unreachable_api_names_the_url(zone_edge_scenes):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    fps = footprints_at([(712_000, 5_300_000)], 32631, [T0])
    quick = RetryPolicy(tries=2, backoff_s=0.01, timeout_s=2, total_s=5)
    with pytest.raises(ConnectionError, match=f"127.0.0.1:{port}"):
        match(fps, url, [S2], retry=quick)


def test_write_and_read_back(zone_edge_scenes, tmp_path):
    fps = random_footprints(40, seed=9)
    result = match(fps, zone_edge_scenes, [S2, S1])
    back = read_matches(result.write(tmp_path / "m"))
    assert compare_matches(result, back).empty
    assert back.best.crs.to_epsg() == 4326
    assert back.scenes["assets"].map(type).eq(dict).all()
    assert json.loads((tmp_path / "m" / "match.json").read_text())["footprints"] == 40
    (tmp_path / "m" / "match.json").unlink()  # as after a write interrupted half-way
    with pytest.raises(FileNotFoundError, match="match.json"):
        read_matches(tmp_path / "m")


def _pc_items(realdata_dir: Path, name: str) -> list[dict]:
    return json.loads((realdata_dir / "stac" / name).read_text())


def test_real_planetary_computer_items(realdata_dir):
    """PC conventions (B04.., SCL; sentinel-1-rtc), zones 46/47 at 81 N and 33 N."""
    s2 = _pc_items(realdata_dir, "sentinel-2-l2a-planetary-computer.json")
    s1 = _pc_items(realdata_dir, "sentinel-1-rtc-planetary-computer.json")
    scenes = items_to_frame(s2 + s1)
    assert scenes.loc[scenes["collection"] == S2, "assets"].map(lambda a: "scl" in a).all()
    # footprints at the centroid of each scene (in its zone) and on the 46/47 overlap
    centres = shapely.centroid(scenes.geometry.to_numpy())
    overlap = shapely.intersection(scenes.geometry.iloc[0], scenes.geometry.iloc[3])
    points = [*centres, shapely.centroid(overlap)]
    t = [pd.Timestamp("2024-04-20T00:00:00Z")] * len(points)
    boxes = [shapely.buffer(p, 0.001, cap_style="square") for p in points]
    fps = gpd.GeoDataFrame(
        {"id": [f"p{i}" for i in range(len(points))], "datetime": t}, geometry=boxes, crs=4326
    )
    result = match(fps, scenes, [S2, "sentinel-1-rtc"], max_cloud_cover=None)
    cands = result.candidates
    on_overlap = cands[cands["id"] == f"p{len(points) - 1}"]
    assert {
        "S2B_MSIL2A_20240419T095549_R122_T47XML_20240419T123458",
        "S2B_MSIL2A_20240419T095549_R122_T46XER_20240419T124342",
    } <= set(on_overlap["item"].astype(str))
    assert result.best["s1_item"].notna().sum() >= 4
    assert result.best["s2_item"].notna().sum() >= 4
    want = reference_matches(fps, scenes, S2, 30, None)
    got = cands[cands["collection"] == S2][["id", "item"]].astype(str)
    assert sorted(map(tuple, got.to_numpy())) == sorted(want)


def test_ci_world_fast_equals_per_footprint_baseline(ci_world, tmp_path):
    from eotdl_tutorials.stac import LocalStacApi
    from eotdl_tutorials.world import open_world

    world = open_world(ci_world)
    with LocalStacApi(world.root) as api:
        fast = match(world.earthview_index, api.url)
        slow = match_per_footprint(world.earthview_index, api.url)
    n = len(fast.best)
    assert fast.best["s2_item"].notna().sum() > n / 2 and fast.best["s1_item"].notna().any()
    assert compare_matches(fast, slow).empty
    from eotdl_tutorials.matching.scenes import SEARCH_THREADS

    # one request per search (each fits in a page here) plus a landing page per search thread
    searches = sum(c["searches"] for c in fast.summary["collections"].values())
    assert fast.summary["requests"] <= searches + SEARCH_THREADS
    assert 10 * fast.summary["requests"] < slow.summary["requests"]
    from_file = match(world.earthview_index, world.items_parquet)
    assert compare_matches(fast, from_file).empty
    assert from_file.summary["requests"] == 0
    # EarthView: the 1 m image is found through the metadata JSON later; ids come from the index
    assert set(fast.best["id"]) == set(gpd.read_parquet(world.earthview_index)["id"])


def test_dask_cluster_gives_identical_candidates(zone_edge_scenes):
    from distributed import Client, LocalCluster

    fps = random_footprints(300, seed=11)
    local = match(fps, zone_edge_scenes, [S2, S1])
    with (
        LocalCluster(
            n_workers=2,
            processes=True,
            threads_per_worker=1,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
    ):
        spread = match(fps, zone_edge_scenes, [S2, S1], client=client, partitions=5)
    assert len(local.candidates) > 100
    pd.testing.assert_frame_equal(local.candidates, spread.candidates)
    pd.testing.assert_frame_equal(
        local.best.drop(columns="geometry"), spread.best.drop(columns="geometry")
    )


def test_scl_filter_keeps_clear_windows_only(ci_world):
    from eotdl_tutorials.matching.rasters import read_chip, window_grid
    from eotdl_tutorials.matching.windows import footprint_windows
    from eotdl_tutorials.world import open_world

    world = open_world(ci_world)
    loose = match(world.earthview_index, world.items_parquet, [S2], max_cloud_cover=None)
    clear = match(
        world.earthview_index, world.items_parquet, [S2], max_cloud_cover=None, scl_max_cloud=0.0
    )
    fps = read_footprints(world.earthview_index)
    windows = footprint_windows(fps)
    scenes = clear.scenes.set_index("id")

    def cloud_pixels(i: int, item: str) -> int:
        import rasterio

        with rasterio.open(scenes.loc[item, "assets"]["scl"]) as src:
            scl = read_chip(src, window_grid(windows, i), [1])[0]
        return int(np.isin(scl, [8, 9, 10]).sum() + (scl == 0).sum())

    changed = 0
    for i, (a, b) in enumerate(zip(loose.best["s2_item"], clear.best["s2_item"], strict=True)):
        if pd.notna(b):
            assert cloud_pixels(i, b) == 0
        if pd.notna(a) and a != b:
            changed += 1
            assert cloud_pixels(i, a) > 0  # the closer scene was cloudy over the window
    assert changed > 0
    assert clear.best["s2_item"].notna().sum() > 0
