"""Planetary Computer signing, offline: real Planetary Computer items (``../shared/realdata``)
get a SAS token on every asset href, from a JSON file and through a STAC API (pystac-client's
``modifier``), with the token service replaced by a fake one (no network)."""

from __future__ import annotations

import datetime as dt
import json
import socket
from pathlib import Path

import pytest

from eotdl_tutorials.stac import LocalStacApi, needs_signing, open_source, search_item_dicts

PC_STAC = "https://planetarycomputer.microsoft.com/api/stac/v1"
FAKE_TOKEN = "st=2026-12-01T00%3A00%3A00Z&se=2026-12-02T00%3A00%3A00Z&sp=rl&sig=fake"
S2 = "sentinel-2-l2a"


@pytest.fixture
def fake_tokens(monkeypatch) -> list[tuple[str, str]]:
    """The Planetary Computer's token service replaced: records (account, container) asked
    for and answers :data:`FAKE_TOKEN`; any connection off this machine fails the test."""
    from planetary_computer import sas

    asked: list[tuple[str, str]] = []

    def get_token(account: str, container: str, **_: object) -> sas.SASToken:
        asked.append((account, container))
        expiry = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
        return sas.SASToken(token=FAKE_TOKEN, expiry=expiry)

    monkeypatch.setattr(sas, "get_token", get_token)
    connect = socket.socket.connect

    def local_only(self, address):
        if not (isinstance(address, tuple) and address[0] in ("127.0.0.1", "localhost")):
            raise AssertionError(f"network access to {address} during an offline test")
        return connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", local_only)
    return asked


@pytest.fixture
def pc_items(realdata_dir: Path) -> list[dict]:
    return json.loads((realdata_dir / "stac" / f"{S2}-planetary-computer.json").read_text())


def _bbox(items: list[dict]) -> list[float]:
    boxes = [item["bbox"] for item in items]
    return [min(b[0] for b in boxes), min(b[1] for b in boxes)] + [
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    ]


def _assert_signed(items: list[dict], originals: list[dict]) -> None:
    by_id = {item["id"]: item for item in originals}
    assert items and {item["id"] for item in items} == set(by_id)
    for item in items:
        for key, asset in item["assets"].items():
            href = by_id[item["id"]]["assets"][key]["href"]
            if ".blob.core.windows.net" in href and "ai4edatasetspublicassets" not in href:
                assert asset["href"] == f"{href}?{FAKE_TOKEN}", key
            else:  # public thumbnails and API links stay as they are
                assert asset["href"] == href, key


def test_planetary_computer_urls_are_signed_and_others_not():
    assert needs_signing(PC_STAC)
    assert not needs_signing("https://earth-search.aws.element84.com/v1")
    assert not needs_signing("http://127.0.0.1:7822")
    assert needs_signing("http://127.0.0.1:7822", sign=True)
    assert not needs_signing(PC_STAC, sign=False)


def test_real_items_from_a_file_get_the_sas_token(fake_tokens, pc_items, realdata_dir):
    source = realdata_dir / "stac" / f"{S2}-planetary-computer.json"
    unsigned = search_item_dicts(open_source(source), S2, _bbox(pc_items))
    assert not fake_tokens and all("sig=" not in a["href"] for a in unsigned[0]["assets"].values())
    signed = search_item_dicts(open_source(source, sign=True), S2, _bbox(pc_items))
    _assert_signed(signed, pc_items)
    assert ("sentinel2l2a01", "sentinel2-l2") in fake_tokens


def test_real_items_from_a_stac_api_are_signed_by_the_client(fake_tokens, pc_items, tmp_path):
    collection = {
        "type": "Collection",
        "stac_version": "1.0.0",
        "id": S2,
        "description": "Sentinel-2 L2A (four real Planetary Computer items)",
        "license": "proprietary",
        "extent": {
            "spatial": {"bbox": [_bbox(pc_items)]},
            "temporal": {"interval": [[None, None]]},
        },
        "links": [],
    }
    (tmp_path / "collection.json").write_text(json.dumps(collection))
    (tmp_path / "items.json").write_text(
        json.dumps({"type": "FeatureCollection", "features": pc_items})
    )
    with LocalStacApi([tmp_path / "collection.json", tmp_path / "items.json"]) as api:
        plain = search_item_dicts(api.url, S2, _bbox(pc_items))
        signed = search_item_dicts(open_source(api.url, sign=True), S2, _bbox(pc_items))
    assert {item["id"] for item in plain} == {item["id"] for item in pc_items}
    assert not any("sig=" in a["href"] for item in plain for a in item["assets"].values())
    _assert_signed(signed, pc_items)


def test_match_signs_the_scene_hrefs_the_tiler_reads(fake_tokens, pc_items, realdata_dir):
    import geopandas as gpd
    import pandas as pd
    import shapely

    from eotdl_tutorials.matching import match

    item = pc_items[0]
    centre = gpd.GeoSeries([shapely.geometry.shape(item["geometry"]).centroid], crs=4326)
    utm = item["properties"]["proj:epsg"]
    square = centre.to_crs(utm).buffer(100, cap_style="square").to_crs(4326)
    footprints = gpd.GeoDataFrame(
        {"id": ["fp0"], "datetime": [pd.Timestamp(item["properties"]["datetime"])]},
        geometry=list(square),
        crs=4326,
    )
    source = str(realdata_dir / "stac" / f"{S2}-planetary-computer.json")
    result = match(footprints, source, [S2], max_cloud_cover=None, sign=True)
    [chosen] = result.best["s2_item"].tolist()
    scene = result.scenes.set_index("id").loc[chosen]
    red = next(i for i in pc_items if i["id"] == chosen)["assets"]["B04"]["href"]
    assert red + f"?{FAKE_TOKEN}" in {str(href) for href in scene["assets"].values()}
