"""Search a local STAC API, a stac-geoparquet file and a FeatureCollection: same answers."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import math
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import rustac

from eotdl_tutorials.stac import (
    LocalStacApi,
    RequestCounter,
    RetryPolicy,
    open_source,
    parse_datetime,
    search_item_dicts,
    search_items,
)
from eotdl_tutorials.stac.api_io import counting_stac_api_io
from eotdl_tutorials.stac.server import free_port

S2 = "sentinel-2-l2a"
S1 = "sentinel-1-grd"
#: Footprints (west, south, east, north) and UTM EPSG of the fake tiles; the query box takes
#: tile B (31N, across its west edge) and tile C (32N, inside), not A nor D.
TILES = {
    "A": ((4.6, 51.0, 4.9, 51.3), 32631),
    "B": ((5.4, 51.0, 5.7, 51.3), 32631),
    "C": ((6.1, 51.0, 6.4, 51.3), 32632),
    "D": ((7.0, 51.0, 7.3, 51.3), 32632),
}
QUERY_BBOX = (5.5, 50.9, 6.5, 51.5)
QUERY_TILES = {"B", "C"}
QUERY_DATETIME = "2022-03-01/2022-08-31"
QUERY_START, QUERY_END = pd.Timestamp("2022-03-01", tz="UTC"), pd.Timestamp("2022-09-01", tz="UTC")


@dataclass(frozen=True)
class FakeScene:
    id: str
    collection: str
    tile: str
    when: pd.Timestamp
    cloud_cover: float | None


def fake_scenes(seed: int = 7) -> list[FakeScene]:
    """Ten S2 scenes per tile through 2022 with random cloud cover, and S1 scenes alike."""
    rng = np.random.default_rng(seed)
    scenes = []
    for offset, tile in enumerate(TILES):
        for k in range(10):
            when = pd.Timestamp("2022-01-05T10:30:00Z") + pd.Timedelta(days=36 * k + offset)
            sid = f"S2A_{tile}_{when:%Y%m%d}_0_L2A"
            scenes.append(FakeScene(sid, S2, tile, when, round(float(rng.uniform(0, 100)), 2)))
        for k in range(3):
            when = pd.Timestamp("2022-04-02T05:50:00Z") + pd.Timedelta(days=12 * k)
            scenes.append(
                FakeScene(f"S1A_IW_GRDH_{tile}_{when:%Y%m%dT%H%M%S}", S1, tile, when, None)
            )
    return scenes


def scene_item(scene: FakeScene) -> dict[str, Any]:
    (west, south, east, north), epsg = TILES[scene.tile]
    properties: dict[str, Any] = {
        "datetime": scene.when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "platform": "sentinel-2a" if scene.collection == S2 else "sentinel-1a",
        "proj:epsg": epsg,
    }
    if scene.cloud_cover is not None:
        properties["eo:cloud_cover"] = scene.cloud_cover
    keys = ("red", "nir", "scl") if scene.collection == S2 else ("vv", "vh")
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "id": scene.id,
        "collection": scene.collection,
        "geometry": {
            "type": "Polygon",
            "coordinates": [
                [[west, south], [east, south], [east, north], [west, north], [west, south]]
            ],
        },
        "bbox": [west, south, east, north],
        "properties": properties,
        "links": [],
        "assets": {key: {"href": f"/world/{scene.id}/{key}.tif"} for key in keys},
    }


def expected_ids(max_cloud_cover: float | None = None) -> set[str]:
    return {
        s.id
        for s in fake_scenes()
        if s.collection == S2
        and s.tile in QUERY_TILES
        and QUERY_START <= s.when < QUERY_END
        and (max_cloud_cover is None or s.cloud_cover <= max_cloud_cover)
    }


@pytest.fixture(scope="module")
def stac_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("stac")
    collection = {"type": "FeatureCollection", "features": [scene_item(s) for s in fake_scenes()]}
    json_path = folder / "items.json"
    json_path.write_text(json.dumps(collection))
    parquet_path = folder / "items.parquet"
    rustac.write_sync(str(parquet_path), collection)
    return {"json": json_path, "parquet": parquet_path}


@pytest.fixture(scope="module")
def api(stac_files: dict[str, Path]) -> Iterator[LocalStacApi]:
    with LocalStacApi([stac_files["json"]]) as server:
        yield server


@pytest.fixture(params=["api", "json", "parquet"])
def source(request: pytest.FixtureRequest, stac_files: dict[str, Path]) -> str:
    if request.param == "api":
        return request.getfixturevalue("api").url
    return str(stac_files[request.param])


def test_fake_scenes_make_a_meaningful_query() -> None:
    assert len(fake_scenes()) >= 30
    assert 8 <= len(expected_ids()) < 20
    assert 0 < len(expected_ids(max_cloud_cover=30)) < len(expected_ids())


def test_bbox_datetime_collection(source: str) -> None:
    items = search_items(source, S2, QUERY_BBOX, QUERY_DATETIME)
    ids = [item.id for item in items]
    assert len(ids) == len(set(ids))
    assert set(ids) == expected_ids()
    assert {item.collection_id for item in items} == {S2}


def test_cloud_filter(source: str) -> None:
    items = search_items(source, [S2], QUERY_BBOX, QUERY_DATETIME, max_cloud_cover=30)
    assert {item.id for item in items} == expected_ids(max_cloud_cover=30)


def test_cloud_filter_drops_items_without_cloud_cover(source: str) -> None:
    assert search_items(source, S1, QUERY_BBOX, QUERY_DATETIME, max_cloud_cover=100) == []
    assert len(search_items(source, S1, QUERY_BBOX, QUERY_DATETIME)) == 2 * 3


def test_max_items(source: str) -> None:
    items = search_items(source, S2, QUERY_BBOX, QUERY_DATETIME, limit=2, max_items=3)
    assert len(items) == 3 and {item.id for item in items} <= expected_ids()


def test_paging_and_request_count(api: LocalStacApi) -> None:
    expected = expected_ids()
    counter = RequestCounter()
    items = search_items(api.url, S2, QUERY_BBOX, QUERY_DATETIME, limit=3, counter=counter)
    assert {item.id for item in items} == expected
    # The root page, then pages of 3 (rustac serve links no next page after the last one).
    assert counter.requests == 1 + math.ceil(len(expected) / 3)
    assert counter.retries == 0

    counter = RequestCounter()
    search_items(api.url, S2, QUERY_BBOX, QUERY_DATETIME, limit=1, max_items=2, counter=counter)
    assert counter.requests == 1 + 2  # stops fetching once max_items are in


def test_an_opened_source_serves_many_searches_through_one_client(api: LocalStacApi) -> None:
    counter = RequestCounter()
    opened = open_source(api.url, counter)
    first = search_item_dicts(opened, S2, QUERY_BBOX, QUERY_DATETIME, limit=100)
    again = search_item_dicts(opened, S2, QUERY_BBOX, QUERY_DATETIME, limit=100)
    assert {i["id"] for i in first} == {i["id"] for i in again} == expected_ids()
    assert counter.requests == 1 + 2  # the root page once, then one page per search


def test_parse_datetime() -> None:
    july = (pd.Timestamp("2022-07-01", tz="UTC"), pd.Timestamp("2022-08-01", tz="UTC"))
    start, end = parse_datetime("2022-07")
    assert start == july[0] and july[1] - pd.Timedelta(microseconds=1) <= end < july[1]
    assert parse_datetime((dt.date(2022, 7, 1), None)) == (july[0], None)
    assert parse_datetime("../2022-07-01T12:00:00+02:00") == (
        None,
        pd.Timestamp("2022-07-01T10:00:00Z"),
    )
    with pytest.raises(ValueError, match="starts after it ends"):
        parse_datetime("2022-08-01/2022-07-01")
    with pytest.raises(ValueError, match="one '/'"):
        parse_datetime("2022/2023/2024")
    with pytest.raises(ValueError, match="cannot read 'July'"):
        parse_datetime("July")


def test_unreachable_api_fails_fast_with_the_url() -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    counter = RequestCounter()
    retry = RetryPolicy(tries=3, backoff_s=0.01, timeout_s=1.0)
    started = time.monotonic()
    with pytest.raises(
        ConnectionError, match=f"cannot get {url}/? from the STAC API after 3 tries"
    ):
        search_items(url, S2, QUERY_BBOX, QUERY_DATETIME, counter=counter, retry=retry)
    assert time.monotonic() - started < 5
    assert (counter.requests, counter.retries) == (3, 2)


def test_silent_api_gives_up_within_total_time() -> None:
    with socket.socket() as silent:  # accepts connections (backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        counter = RequestCounter()
        retry = RetryPolicy(tries=10, backoff_s=0.01, timeout_s=0.3, total_s=0.5)
        started = time.monotonic()
        with pytest.raises(ConnectionError, match="timed out"):
            search_items(url, S2, QUERY_BBOX, counter=counter, retry=retry)
        assert time.monotonic() - started < 3
        assert counter.requests == 2


@pytest.fixture
def flaky_api() -> Iterator[tuple[str, list[int], list[int]]]:
    """An HTTP server answering each request with the next status of its plan (once the plan is
    used up, 200 and ``{}``): its URL, the plan and the statuses it sent."""
    plan: list[int] = []
    sent: list[int] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def answer(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status = plan.pop(0) if plan else 200
            sent.append(status)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        do_GET = do_POST = answer

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/search", plan, sent
    finally:
        server.shutdown()
        server.server_close()


def test_failing_answers_are_retried_with_back_off_and_counted(flaky_api) -> None:
    url, plan, sent = flaky_api
    counter = RequestCounter()
    io = counting_stac_api_io()(counter, RetryPolicy(tries=3, backoff_s=0.05, timeout_s=2))
    plan += [503, 502]
    started = time.monotonic()
    assert io.request(url, method="POST", parameters={"limit": 1}) == "{}"
    assert time.monotonic() - started >= 0.05 + 0.1  # backoff_s, then twice as long
    assert sent == [503, 502, 200]
    assert (counter.requests, counter.retries) == (3, 2)

    plan += [503] * 5
    with pytest.raises(ConnectionError, match=r"after 3 tries .*\(HTTP 503"):
        io.request(url)
    assert (counter.requests, counter.retries) == (6, 4)

    plan[:] = [404]  # not worth a retry
    with pytest.raises(ValueError, match="rejected GET .*HTTP 404"):
        io.request(url)
    assert (counter.requests, counter.retries) == (7, 4)


def test_bad_input_is_named(stac_files: dict[str, Path], tmp_path: Path) -> None:
    source = str(stac_files["json"])
    with pytest.raises(ValueError, match="bbox"):
        search_items(source, S2, (10, 0, 5, 1))
    with pytest.raises(ValueError, match="limit"):
        search_items(source, S2, QUERY_BBOX, limit=0)
    with pytest.raises(ValueError, match="max_cloud_cover"):
        search_items(source, S2, QUERY_BBOX, max_cloud_cover=150)
    with pytest.raises(ValueError, match="collections"):
        search_items(source, [], QUERY_BBOX)
    with pytest.raises(FileNotFoundError, match="nowhere.parquet"):
        search_items(tmp_path / "nowhere.parquet", S2, QUERY_BBOX)
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    with pytest.raises(ValueError, match="notes.txt"):
        search_items(notes, S2, QUERY_BBOX)
