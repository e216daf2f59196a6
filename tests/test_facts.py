"""The facts every stage reads: UTM names, the SCL cloud fraction, band positions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from eotdl_tutorials.facts.grids import utm_epsg, zone_epsg, zone_name
from eotdl_tutorials.facts.sensors import HR_BANDS, S2_BANDS, scl_cloud_percent
from eotdl_tutorials.facts.spectra import HR_FROM_S2


def test_zone_names_and_codes_round_trip():
    assert utm_epsg(5.955, 47.8) == 32631 and utm_epsg(6.045, 47.8) == 32632
    assert utm_epsg(-117.9, -34.0) == 32711
    assert zone_name(32631) == "31N" and zone_name(32711) == "11S"
    assert list(zone_name(np.array([32631, 32723]))) == ["31N", "23S"]
    assert list(zone_epsg(pd.Series(["31N", "23s", "31N"]))) == [32631, 32723, 32631]
    with pytest.raises(ValueError, match="not a WGS84 UTM zone"):
        zone_name(4326)
    with pytest.raises(ValueError, match="zone"):
        zone_epsg(pd.Series(["61X"]))


def test_utm_zones_are_those_pyproj_knows():
    from pyproj.aoi import AreaOfInterest
    from pyproj.database import query_utm_crs_info

    lon = np.array([5.0, 10.0, 3.5, 20.0, -117.9, 151.2, -0.5, 179.5])
    lat = np.array([60.0, 78.0, 60.0, 78.0, -34.0, -33.9, 51.5, 10.0])
    known = [
        int(query_utm_crs_info("WGS 84", AreaOfInterest(x, y, x, y))[0].code)
        for x, y in zip(lon, lat, strict=True)
    ]
    # 5E 60N and 10E 78N are in 31N and 32N for both, not MGRS's 32V and 33X exceptions
    assert list(utm_epsg(lon, lat)) == known
    assert known[:2] == [32631, 32632]


def test_scl_cloud_percent_counts_cloud_among_valid_pixels():
    scl = np.array([[0, 0, 4, 8], [9, 10, 3, 6]], dtype=np.uint8)
    assert scl_cloud_percent(scl) == pytest.approx(50.0)  # 3 of 6 valid pixels
    assert scl_cloud_percent(scl, codes=(3,)) == pytest.approx(100 / 6)
    assert np.isnan(scl_cloud_percent(np.zeros((2, 2), np.uint8)))
    assert scl_cloud_percent(np.zeros((2, 2), np.uint8), empty=100.0) == 100.0


def test_hr_bands_are_found_in_the_s2_band_table():
    assert HR_FROM_S2 == [3, 2, 1, 7]  # B04, B03, B02, B08
    assert [S2_BANDS[i].common_name for i in HR_FROM_S2] == [b.common_name for b in HR_BANDS]
