"""Notebook A1's STAC and band-mapping code on real Sentinel-2 L2A items (Planetary Computer), as
served, with ``proj:code`` instead of ``proj:epsg``, and rewritten in Earth Search v1's
conventions: what a reader gets by pointing A1's ``stac_url`` at a real catalogue.

The chain is A1's: search a STAC source with ``match``, then plan the chips with the tiler
(which band file goes where, the L2A DN shift, the SCL file)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from eotdl_tutorials.facts.sensors import S2_EARTH_SEARCH_TO_PC
from eotdl_tutorials.matching import match
from eotdl_tutorials.tiling.specs import SENSORS
from eotdl_tutorials.tiling.store import chip_shape, plan_jobs

S2 = "sentinel-2-l2a"


def _proj_code(item: dict) -> dict:
    """The item as projection v2 writes it: ``proj:code`` and no ``proj:epsg``."""
    item = copy.deepcopy(item)
    item["properties"]["proj:code"] = f"EPSG:{item['properties'].pop('proj:epsg')}"
    return item


def _earth_search(item: dict) -> dict:
    """The item as Earth Search v1 serves it: common-name keys, the offset removed (and the
    ``raster:bands`` offset left at -0.1, as Earth Search did in error)."""
    item = copy.deepcopy(item)
    by_pc_key = {pc: common for common, pc in S2_EARTH_SEARCH_TO_PC.items()} | {"SCL": "scl"}
    raster = [{"nodata": 0, "data_type": "uint16", "scale": 0.0001, "offset": -0.1}]
    item["assets"] = {
        by_pc_key.get(key, key): asset | ({"raster:bands": raster} if key != "SCL" else {})
        for key, asset in item["assets"].items()
    }
    item["properties"]["earthsearch:boa_offset_applied"] = True
    return item


#: variant -> (how the items are rewritten, the DN shift the tiler must apply)
VARIANTS = {
    "planetary-computer": (lambda item: item, 0),  # offset -0.1 kept, as the store encodes
    "proj-code": (_proj_code, 0),
    "earth-search": (_earth_search, 1000),  # offset removed: add the 1000 DN back
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_a1_stac_and_band_mapping_on_real_items(realdata_dir, tmp_path, variant):
    rewrite, dn_shift = VARIANTS[variant]
    real = json.loads(
        (realdata_dir / "stac" / "sentinel-2-l2a-planetary-computer.json").read_text()
    )
    items = [rewrite(item) for item in real]
    source = tmp_path / "items.json"
    source.write_text(json.dumps({"type": "FeatureCollection", "features": items}))
    squares = [  # a 200 m square at the centre of each scene, drawn in the scene's UTM zone
        gpd.GeoSeries([shapely.geometry.shape(item["geometry"]).centroid], crs=4326)
        .to_crs(real[k]["properties"]["proj:epsg"])
        .buffer(100, cap_style="square")
        .to_crs(4326)
        .iloc[0]
        for k, item in enumerate(items)
    ]
    footprints = gpd.GeoDataFrame(
        {
            "id": [f"fp{i}" for i in range(len(items))],
            "datetime": [pd.Timestamp(item["properties"]["datetime"]) for item in items],
        },
        geometry=squares,
        crs=4326,
    )
    result = match(footprints, str(source), [S2], max_cloud_cover=None)
    best = result.best
    assert best["s2_item"].notna().all()
    scenes = result.scenes.set_index("id")
    assert scenes.loc[best["s2_item"], "epsg"].tolist() == [
        int(str(i["properties"].get("proj:epsg") or i["properties"]["proj:code"][5:]))
        for i in (next(x for x in items if x["id"] == s) for s in best["s2_item"])
    ]
    by_id = {item["id"]: item for item in real}
    for i in range(len(best)):  # one footprint at a time: window sizes differ across zones
        one = best.iloc[[i]]
        jobs, skipped, planned = plan_jobs(
            one, result.scenes, ("s2",), {"s2": chip_shape(one, "s2")}, None
        )
        assert not skipped and len(planned) == 1
        [job] = jobs["s2"]
        original = by_id[job.item]["assets"]  # Planetary Computer keys: B04, B8A, SCL
        want = [original[S2_EARTH_SEARCH_TO_PC[band]]["href"] for band in SENSORS["s2"].bands]
        assert list(job.hrefs) == want
        assert job.dn_shift == dn_shift
        assert job.scl_href == original["SCL"]["href"]


def test_real_items_skip_clearly_without_shared_data(monkeypatch):
    """The fixture the tests above use skips, with the reason, where ../shared is absent."""
    import conftest

    monkeypatch.setattr(conftest, "REALDATA_DIR", Path("/nonexistent/realdata"))
    with pytest.raises(pytest.skip.Exception, match="no real reference data"):
        conftest.realdata_dir.__wrapped__()
