"""Earth Search v1 and Planetary Computer items read through one view (real PC items included)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pystac
import pytest

from eotdl_tutorials.facts.sensors import S2_BANDS, S2_EARTH_SEARCH_TO_PC
from eotdl_tutorials.stac import (
    asset_href,
    cloud_cover,
    find_asset_key,
    item_datetime,
    item_epsg,
    items_to_frame,
    reflectance_scale_offset,
)

REAL_STAC = Path(__file__).parents[1].parent / "shared" / "realdata" / "stac"


def _real(name: str) -> Any:
    path = REAL_STAC / name
    if not path.is_file():
        pytest.skip(
            f"real STAC items not available ({path} is absent: only the course's CI has it)"
        )
    return json.loads(path.read_text())


@pytest.fixture
def pc_s2_items() -> list[dict[str, Any]]:
    return _real("sentinel-2-l2a-planetary-computer.json")


@pytest.fixture
def pc_s1_items() -> list[dict[str, Any]]:
    return _real("sentinel-1-rtc-planetary-computer.json")


def earth_search_item(
    boa_offset_applied: bool = False, baseline: str = "05.00", use_proj_code: bool = True
) -> dict[str, Any]:
    """An Earth Search v1 style Sentinel-2 L2A item (asset keys are common names)."""
    raster = [{"nodata": 0, "data_type": "uint16", "scale": 0.0001, "offset": -0.1}]
    assets = {
        band.common_name: {
            "href": f"s3://sentinel-cogs/31/U/FU/2022/7/S2A_31UFU_20220715_0_L2A/{band.name}.tif",
            "eo:bands": [{"name": band.name, "common_name": band.common_name}],
            "raster:bands": raster,
            "gsd": band.gsd,
        }
        for band in S2_BANDS
    }
    assets["scl"] = {"href": "s3://sentinel-cogs/.../SCL.tif", "raster:bands": [{"nodata": 0}]}
    assets["visual"] = {
        "href": "s3://sentinel-cogs/.../TCI.tif",
        "eo:bands": [{"common_name": c} for c in ("red", "green", "blue")],
    }
    projection = {"proj:code": "EPSG:32631"} if use_proj_code else {"proj:epsg": 32631}
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "id": "S2A_31UFU_20220715_0_L2A",
        "collection": "sentinel-2-l2a",
        "geometry": {
            "type": "Polygon",
            "coordinates": [[[5.0, 51.3], [6.5, 51.3], [6.5, 52.3], [5.0, 52.3], [5.0, 51.3]]],
        },
        "bbox": [5.0, 51.3, 6.5, 52.3],
        "properties": {
            "datetime": "2022-07-15T10:46:31.024000Z",
            "platform": "sentinel-2a",
            "constellation": "sentinel-2",
            "eo:cloud_cover": 12.5,
            "s2:processing_baseline": baseline,
            "earthsearch:boa_offset_applied": boa_offset_applied,
            **projection,
        },
        "links": [],
        "assets": assets,
    }


def test_planetary_computer_s2_items(pc_s2_items: list[dict[str, Any]]) -> None:
    for item in pc_s2_items:
        properties = item["properties"]
        for common_name, pc_key in S2_EARTH_SEARCH_TO_PC.items():
            assert asset_href(item, common_name) == item["assets"][pc_key]["href"]
        assert find_asset_key(item, "nir08") == "B8A"
        assert find_asset_key(item, "B04") == "B04"
        assert item_epsg(item) == properties["proj:epsg"]
        assert cloud_cover(item) == pytest.approx(properties["eo:cloud_cover"])
        # PC keeps the +1000 DN of baseline >= 04.00 and says so only by the baseline number.
        assert float(properties["s2:processing_baseline"]) >= 4.0
        assert reflectance_scale_offset(item, "red") == (1e-4, -0.1)


def test_planetary_computer_single_item_as_pystac() -> None:
    data = _real("sentinel-2-l2a-item-planetary-computer.json")
    item = pystac.Item.from_dict(data)
    assert asset_href(item, "swir16") == data["assets"]["B11"]["href"]
    assert asset_href(item, "scl") == data["assets"]["SCL"]["href"]
    assert item_epsg(item) == 32624
    assert cloud_cover(item) == pytest.approx(30.529344)
    assert data["properties"]["s2:processing_baseline"] == "04.00"
    assert reflectance_scale_offset(item, "nir") == (1e-4, -0.1)


def test_planetary_computer_s1_rtc_items(pc_s1_items: list[dict[str, Any]]) -> None:
    frame = items_to_frame(pc_s1_items)
    assert list(frame["id"]) == [item["id"] for item in pc_s1_items]
    assert frame["orbit_state"].tolist() == ["descending"] * 4
    assert frame["cloud_cover"].isna().all()
    assert frame["epsg"].tolist() == [32633] * 4
    for row, item in zip(frame.itertuples(), pc_s1_items, strict=True):
        assert row.assets == {
            "vv": item["assets"]["vv"]["href"],
            "vh": item["assets"]["vh"]["href"],
        }
        assert row.datetime == pd.Timestamp(item["properties"]["datetime"])
    assert cloud_cover(pc_s1_items[0]) is None
    with pytest.raises(ValueError, match="raster:bands scale/offset and no s2:processing_baseline"):
        reflectance_scale_offset(pc_s1_items[0], "vv")


def test_frame_of_planetary_computer_s2(pc_s2_items: list[dict[str, Any]]) -> None:
    frame = items_to_frame(pc_s2_items)
    assert frame.crs.to_epsg() == 4326
    assert list(frame.columns) == [
        "id",
        "collection",
        "datetime",
        "geometry",
        "epsg",
        "cloud_cover",
        "platform",
        "orbit_state",
        "assets",
    ]
    assert str(frame["datetime"].dt.tz) == "UTC"
    assert frame["cloud_cover"].tolist() == pytest.approx(
        [item["properties"]["eo:cloud_cover"] for item in pc_s2_items]
    )
    assert frame["epsg"].tolist() == [32647, 32647, 32646, 32646]
    assert set(frame["platform"]) == {"Sentinel-2B"}
    first = frame.iloc[0]
    assert set(first["assets"]) == {b.common_name for b in S2_BANDS} | {"scl", "visual"}
    assert first["assets"]["nir08"] == pc_s2_items[0]["assets"]["B8A"]["href"]
    assert first["geometry"].bounds == pytest.approx(tuple(pc_s2_items[0]["bbox"]), abs=1e-6)


def test_earth_search_item() -> None:
    item = earth_search_item()
    assert asset_href(item, "red").endswith("/B04.tif")
    assert asset_href(item, "B8A").endswith("/B8A.tif")
    assert asset_href(item, "scl").endswith("/SCL.tif")
    assert item_epsg(item) == 32631
    assert item_epsg(earth_search_item(use_proj_code=False)) == 32631
    assert cloud_cover(item) == 12.5
    assert reflectance_scale_offset(item, "red") == (1e-4, -0.1)
    row = items_to_frame([pystac.Item.from_dict(item)]).iloc[0]
    assert row["epsg"] == 32631 and row["orbit_state"] is None
    assert row["datetime"] == pd.Timestamp("2022-07-15T10:46:31.024Z")
    assert row["assets"]["rededge2"].endswith("/B06.tif")


def test_offset_follows_boa_offset_applied_over_raster_bands() -> None:
    # Earth Search left raster:bands offset -0.1 on items whose offset it had removed.
    applied = earth_search_item(boa_offset_applied=True)
    assert reflectance_scale_offset(applied, "red") == (1e-4, 0.0)


def test_offset_from_baseline_without_raster_bands() -> None:
    for baseline, offset in (("03.01", 0.0), ("04.00", -0.1), ("05.10", -0.1)):
        item = earth_search_item(baseline=baseline)
        del item["properties"]["earthsearch:boa_offset_applied"]
        for asset in item["assets"].values():
            asset.pop("raster:bands", None)
        assert reflectance_scale_offset(item, "green") == (1e-4, offset)


def test_band_found_through_eo_bands() -> None:
    item = earth_search_item()
    item["assets"] = {
        "band_4": {"href": "b4.tif", "eo:bands": [{"name": "B04", "common_name": "red"}]},
        "band_8": {"href": "b8.tif", "bands": [{"name": "B08", "eo:common_name": "nir"}]},
        "rgb": {"href": "rgb.tif", "eo:bands": [{"common_name": "red"}, {"common_name": "green"}]},
    }
    assert asset_href(item, "red") == "b4.tif"
    assert asset_href(item, "nir") == "b8.tif"  # STAC 1.1 'bands' with 'eo:common_name'
    assert asset_href(item, "B08") == "b8.tif"
    assert find_asset_key(item, "green") is None  # only in a 3-band asset: not a band asset


def test_start_end_datetime() -> None:
    item = earth_search_item()
    item["properties"].update(
        datetime=None,
        start_datetime="2022-07-15T10:00:00Z",
        end_datetime="2022-07-15 10:00:20+00:00",
    )
    assert item_datetime(item) == pd.Timestamp("2022-07-15T10:00:10Z")
    assert items_to_frame([item])["datetime"].iloc[0] == pd.Timestamp("2022-07-15T10:00:10Z")


def test_errors_name_the_problem() -> None:
    item = earth_search_item()
    with pytest.raises(ValueError, match="no asset for band 'rededge9'.*coastal"):
        asset_href(item, "rededge9")
    with pytest.raises(ValueError, match="FeatureCollection"):
        items_to_frame([{"type": "FeatureCollection", "features": [item]}])
    with pytest.raises(ValueError, match="not a STAC item"):
        cloud_cover({"id": "x", "assets": {}})
    with pytest.raises(ValueError, match="not a STAC item.*str"):
        item_epsg("S2A_31UFU_20220715_0_L2A")  # type: ignore[arg-type]


def test_empty_frame_has_the_columns() -> None:
    frame = items_to_frame([])
    assert len(frame) == 0 and "assets" in frame.columns and frame.crs.to_epsg() == 4326


def test_item_dicts_are_not_modified() -> None:
    item = earth_search_item()
    before = copy.deepcopy(item)
    items_to_frame([item])
    reflectance_scale_offset(item, "red")
    assert item == before
