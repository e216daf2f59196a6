"""The local STAC API (rustac serve on 127.0.0.1): start, answer, stop, and clear errors."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from eotdl_tutorials.stac import LocalStacApi, PortInUseError
from eotdl_tutorials.stac.server import free_port, rustac_executable


def _item(index: int, collection: str) -> dict[str, Any]:
    west = 5.0 + 0.1 * index
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "id": f"{collection}-{index}",
        "collection": collection,
        "geometry": {
            "type": "Polygon",
            "coordinates": [
                [[west, 51.0], [west + 0.1, 51.0], [west + 0.1, 51.1], [west, 51.1], [west, 51.0]]
            ],
        },
        "bbox": [west, 51.0, west + 0.1, 51.1],
        "properties": {"datetime": f"2022-07-{index + 1:02d}T10:00:00Z", "proj:epsg": 32631},
        "links": [],
        "assets": {"red": {"href": f"/data/{collection}/{index}/B04.tif"}},
    }


def _collection(collection: str) -> dict[str, Any]:
    return {
        "type": "Collection",
        "stac_version": "1.0.0",
        "id": collection,
        "description": f"the test's {collection}",
        "license": "proprietary",
        "extent": {
            "spatial": {"bbox": [[-180, -90, 180, 90]]},
            "temporal": {"interval": [["2022-01-01T00:00:00Z", None]]},
        },
        "links": [],
    }


@pytest.fixture
def world(tmp_path: Path) -> Path:
    """A folder laid out like a sample world's STAC part (two collections)."""
    for collection, count in (("sentinel-2-l2a", 4), ("sentinel-1-grd", 2)):
        path = tmp_path / "stac" / "collections" / f"{collection}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(_collection(collection)))
        items = {
            "type": "FeatureCollection",
            "features": [_item(i, collection) for i in range(count)],
        }
        path = tmp_path / "stac" / "items" / f"{collection}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(items))
    return tmp_path


def _get(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def _port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def test_serves_a_world_and_stops(world: Path) -> None:
    with LocalStacApi(world) as api:
        assert api.url.startswith("http://127.0.0.1:")
        process = api._process
        collections = _get(f"{api.url}/collections")["collections"]
        assert {c["id"]: c["description"] for c in collections} == {
            "sentinel-1-grd": "the test's sentinel-1-grd",
            "sentinel-2-l2a": "the test's sentinel-2-l2a",
        }
        items = _get(f"{api.url}/collections/sentinel-2-l2a/items?limit=10")["features"]
        assert sorted(item["id"] for item in items) == [f"sentinel-2-l2a-{i}" for i in range(4)]
        assert items[0]["assets"]["red"]["href"].startswith("/data/sentinel-2-l2a/")
        port = api.port
    assert process is not None and process.returncode is not None  # reaped: no zombie
    assert not api.running
    assert _port_is_free(port)


def test_serves_explicit_files_on_a_chosen_port(world: Path) -> None:
    port = free_port()
    items_file = world / "stac" / "items" / "sentinel-1-grd.json"
    with LocalStacApi([items_file], port=port) as api:
        assert api.url == f"http://127.0.0.1:{port}"
        root = _get(api.url + "/")
        assert "https://api.stacspec.org/v1.0.0/item-search" in root["conformsTo"]
        # Without a collection file rustac serve makes up the collection from the items.
        assert [c["id"] for c in _get(f"{api.url}/collections")["collections"]] == [
            "sentinel-1-grd"
        ]


def test_busy_port_is_a_clear_error(world: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(PortInUseError, match=f"port {port} on 127.0.0.1 is in use"):
            LocalStacApi(world, port=port).start()


def test_not_a_world(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not a sample world.*world build"):
        LocalStacApi(tmp_path)
    with pytest.raises(FileNotFoundError, match="missing.json"):
        LocalStacApi([tmp_path / "missing.json"])


def test_rustac_failure_shows_its_output(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"a": 1}')
    with pytest.raises(
        RuntimeError, match="rustac serve stopped at start.*item without a collection"
    ):
        LocalStacApi([broken]).start()


def test_missing_rustac(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="`rustac` command is missing"):
        rustac_executable()


def test_cli_serves_until_interrupted(world: Path) -> None:
    port = free_port()
    command = [sys.executable, "-m", "eotdl_tutorials.cli", "stac", "serve", str(world)]
    process = subprocess.Popen(
        [*command, "--port", str(port)],
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
        assert f"http://127.0.0.1:{port}" in line, process.stderr.read() if process.stderr else ""
        assert _get(f"http://127.0.0.1:{port}/")["type"] == "Catalog"
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=20) == 130
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    deadline = time.monotonic() + 5
    while not _port_is_free(port) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _port_is_free(port), "rustac serve outlived the command"
