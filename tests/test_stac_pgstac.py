"""The pgstac backend: a private PostgreSQL cluster, loaded once per world, served by
stac-fastapi-pgstac; stac-api-validator against both backends; the matcher's server-side
filtering. The ci world is loaded once per session (``pgstac_api`` in conftest.py)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from stac_checks import BASE_CLASSES, validate_stac_api

from eotdl_tutorials.cli import main
from eotdl_tutorials.matching import match
from eotdl_tutorials.matching.baseline import compare_matches
from eotdl_tutorials.stac import (
    FRAME_FIELDS,
    LocalStacApi,
    PortInUseError,
    open_source,
    search_item_dicts,
    search_parameters,
)
from eotdl_tutorials.stac.pgstac import (
    ClusterLockError,
    PgCluster,
    check_postgis,
    load_world,
)
from eotdl_tutorials.stac.pgstac_app import query_to_cql2
from eotdl_tutorials.stac.server import free_port
from eotdl_tutorials.world import open_world

S2 = "sentinel-2-l2a"
#: A polygon around every item of the ci world (the validator's intersects searches).
EVERYWHERE = {
    "type": "Polygon",
    "coordinates": [[[-180, -85], [180, -85], [180, 85], [-180, 85], [-180, -85]]],
}


@pytest.fixture(scope="module")
def rustac_api(ci_world: Path) -> Any:
    with LocalStacApi(ci_world) as api:
        yield api


def _world_bbox(ci_world: Path) -> list[float]:
    collection = json.loads((ci_world / "stac" / "collections" / f"{S2}.json").read_text())
    return collection["extent"]["spatial"]["bbox"][0]


def test_get_and_post_search_give_the_same_items(pgstac_api: LocalStacApi, ci_world: Path) -> None:
    bbox = _world_bbox(ci_world)
    url = f"{pgstac_api.url}/search"
    by_get = requests.get(
        url, params={"collections": S2, "bbox": ",".join(map(str, bbox)), "limit": 500}
    )
    by_post = requests.post(url, json={"collections": [S2], "bbox": bbox, "limit": 500})
    assert by_get.status_code == by_post.status_code == 200
    ids = {item["id"] for item in by_post.json()["features"]}
    assert ids and ids == {item["id"] for item in by_get.json()["features"]}
    expected = json.loads((ci_world / "stac" / "items" / f"{S2}.json").read_text())["features"]
    assert ids == {item["id"] for item in expected}


def test_the_api_declares_filter_query_fields_and_sort(pgstac_api: LocalStacApi) -> None:
    source = open_source(pgstac_api.url)
    assert source.server_filter and source.server_query and source.server_fields
    uris = requests.get(f"{pgstac_api.url}/conformance").json()["conformsTo"]
    assert any(uri.endswith("/item-search#sort") for uri in uris)


def test_stac_api_validator_passes_against_pgstac(pgstac_api: LocalStacApi) -> None:
    report = validate_stac_api(pgstac_api.url, S2, EVERYWHERE)
    assert set(report.classes) == {
        *BASE_CLASSES,
        "item-search#fields",
        "item-search#sort",
        "item-search#query",
        "filter",
    }
    assert report.valid, "\n".join(report.errors)


def test_stac_api_validator_against_rustac_finds_only_its_known_limits(rustac_api) -> None:
    """The README lists these: ``rustac serve`` answers GET /search with collections (or
    intersects) by HTTP 500; it declares no query, filter, fields nor sort."""
    report = validate_stac_api(rustac_api.url, S2, EVERYWHERE)
    assert report.classes == list(BASE_CLASSES)
    assert report.errors
    unexpected = [
        e for e in report.errors if not ("GET" in e and "/search" in e and "status code 500" in e)
    ]
    assert not unexpected, "\n".join(unexpected)


def test_query_means_the_same_as_its_cql2_filter(pgstac_api: LocalStacApi) -> None:
    assert query_to_cql2({"eo:cloud_cover": {"lte": 5}}) == {
        "op": "<=",
        "args": [{"property": "eo:cloud_cover"}, 5],
    }
    assert query_to_cql2({"platform": {"startsWith": "a_%"}})["args"][1] == "a\\_\\%%"
    url = f"{pgstac_api.url}/search"
    for query, keep in [
        ({"platform": {"endsWith": "2b"}}, lambda p: p["platform"].endswith("2b")),
        ({"instruments": {"in": ["msi"]}}, lambda p: "msi" in p["instruments"]),
        ({"eo:cloud_cover": {"gt": 20, "lte": 60}}, lambda p: 20 < p["eo:cloud_cover"] <= 60),
    ]:
        found = requests.post(url, json={"collections": [S2], "query": query, "limit": 500})
        items = found.json()["features"]
        assert items and all(keep(item["properties"]) for item in items), query


def test_server_applies_the_cloud_limit_and_sends_only_the_fields_asked(
    pgstac_api: LocalStacApi, rustac_api, ci_world: Path
) -> None:
    bbox = _world_bbox(ci_world)
    body = search_parameters(
        open_source(pgstac_api.url), S2, bbox, max_cloud_cover=5, fields=FRAME_FIELDS
    )
    assert body["filter"]["op"] == "<=" and body["fields"]["exclude"] == ["links"]
    plain = search_parameters(
        open_source(rustac_api.url), S2, bbox, max_cloud_cover=5, fields=FRAME_FIELDS
    )
    assert "filter" not in plain and "query" not in plain and "fields" not in plain
    slim = search_item_dicts(pgstac_api.url, S2, bbox, max_cloud_cover=5, fields=FRAME_FIELDS)
    whole = search_item_dicts(rustac_api.url, S2, bbox, max_cloud_cover=5, fields=FRAME_FIELDS)
    assert {i["id"] for i in slim} == {i["id"] for i in whole} and slim
    assert all(item["properties"]["eo:cloud_cover"] <= 5 for item in slim)
    assert all("links" not in item and "created" not in item["properties"] for item in slim)
    assert all("created" in item["properties"] for item in whole)


def test_matches_are_the_same_on_both_backends(pgstac_api: LocalStacApi, rustac_api, ci_world):
    index = open_world(ci_world).earthview_index
    on_pgstac = match(index, pgstac_api.url)
    on_rustac = match(index, rustac_api.url)
    assert on_pgstac.best["s2_item"].notna().any() and on_pgstac.best["s1_item"].notna().any()
    assert compare_matches(on_pgstac, on_rustac).empty


def _small_world(ci_world: Path, folder: Path) -> list[Path]:
    """Three collections and a few S1 items, as a world's STAC files."""
    (folder / "collections").mkdir(parents=True)
    (folder / "items").mkdir()
    for path in (ci_world / "stac" / "collections").glob("*.json"):
        shutil.copy(path, folder / "collections" / path.name)
    items = json.loads((ci_world / "stac" / "items" / "sentinel-1-grd.json").read_text())
    items["features"] = items["features"][:3]
    (folder / "items" / "sentinel-1-grd.json").write_text(json.dumps(items))
    return [
        *sorted((folder / "collections").glob("*.json")),
        folder / "items" / "sentinel-1-grd.json",
    ]


def test_a_world_is_loaded_once_and_again_when_it_changes(
    pgstac_api: LocalStacApi, ci_world: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import psycopg
    from pypgstac.load import Loader

    cluster = PgCluster(pgstac_api.cluster_dir)  # the session's running cluster
    hrefs = _small_world(ci_world, tmp_path / "stac")
    loads: list[int] = []
    original = Loader.load_items
    monkeypatch.setattr(
        Loader, "load_items", lambda self, *a, **k: loads.append(1) or original(self, *a, **k)
    )
    name = load_world(cluster, hrefs)
    assert load_world(cluster, hrefs) == name and len(loads) == 1
    changed = json.loads(hrefs[-1].read_text())
    changed["features"] = changed["features"][:2]
    hrefs[-1].write_text(json.dumps(changed))
    assert load_world(cluster, hrefs) == name and len(loads) == 2
    with psycopg.connect(cluster.dsn(name)) as conn:
        assert conn.execute("SELECT count(*) FROM pgstac.items").fetchone() == (2,)
    with psycopg.connect(cluster.dsn(), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def test_a_second_api_shares_the_running_cluster(pgstac_api: LocalStacApi, ci_world) -> None:
    with LocalStacApi(ci_world, backend="pgstac") as second:
        assert requests.get(f"{second.url}/collections/{S2}").status_code == 200
    # the second API stopped; the cluster it shared still serves the first
    assert requests.get(f"{pgstac_api.url}/collections/{S2}").status_code == 200


def test_busy_port_is_refused_before_the_database_starts(pgstac_api, ci_world, tmp_path) -> None:
    api = LocalStacApi(
        ci_world, port=pgstac_api.port, backend="pgstac", cluster_dir=tmp_path / "unused"
    )
    with pytest.raises(PortInUseError, match=f"port {pgstac_api.port}"):
        api.start()
    assert not (tmp_path / "unused").exists()


def test_a_stale_lock_is_named(tmp_path: Path) -> None:
    cluster = PgCluster(tmp_path / "pg")
    cluster.data.mkdir(parents=True)
    (cluster.data / "postmaster.pid").write_text(f"{os.getpid()}\n")  # alive, not PostgreSQL
    with pytest.raises(ClusterLockError, match="stale lock.*delete that file"):
        cluster.check_lock()


def test_missing_postgis_says_what_to_install(tmp_path: Path) -> None:
    bindir = tmp_path / "15" / "bin"
    bindir.mkdir(parents=True)
    (bindir / "pg_config").write_text(f"#!/bin/sh\necho {tmp_path / 'share'}\n")
    (bindir / "pg_config").chmod(0o755)
    with pytest.raises(FileNotFoundError, match="apt-get install postgresql-15-postgis-3"):
        check_postgis(bindir)


def test_cli_serves_pgstac_until_interrupted(pgstac_api: LocalStacApi, ci_world: Path) -> None:
    port = free_port()
    command = [sys.executable, "-m", "eotdl_tutorials.cli", "stac", "serve", str(ci_world)]
    process = subprocess.Popen(
        [*command, "--port", str(port), "--backend", "pgstac"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # Ctrl-C as in a terminal: a test run started as a background job ignores SIGINT, and
        # the command would inherit that
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert f"(pgstac) of {ci_world} at http://127.0.0.1:{port}" in line, (
            process.stderr.read() if process.stderr else ""
        )
        found = requests.get(f"http://127.0.0.1:{port}/search", params={"collections": S2})
        assert found.status_code == 200 and found.json()["features"]
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 130
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    time.sleep(0.2)
    assert requests.get(f"{pgstac_api.url}/").status_code == 200  # the shared cluster runs on


def test_bench_matching_on_pgstac(pgstac_api: LocalStacApi, ci_world: Path, tmp_path, capsys):
    out = tmp_path / "matching.json"
    argv = ["bench", "matching", "--world", str(ci_world), "--backend", "pgstac"]
    assert main([*argv, "--baseline-footprints", "10", "--json", str(out), "--quiet"]) == 0
    assert "STAC API backend" in capsys.readouterr().out
    figures = json.loads(out.read_text())
    assert figures["backend"] == "pgstac"
    assert figures["identical"] is True and figures["identical_full"] is True
