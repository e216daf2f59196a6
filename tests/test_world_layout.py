"""Realism of the world's layouts and of its 1 m texture, each against a published figure.

- forest crowns: the range of the 1 m NIR semivariogram of a closed canopy is 3 to 10 m
  (Woodcock, Strahler & Jupp 1988, RSE 25:323; Song & Woodcock 2002, IEEE TGRS 40:1263);
- orchard and vineyard rows: the autocorrelation of the 1 m NIR across a parcel peaks at its row
  spacing, 2 to 7 m;
- buildings: residential footprints of 50 to 300 m2 about 15 to 40 m apart, industrial halls of
  600 to 3,600 m2 (EUBUCCO, Milojevic-Dupont et al. 2023, Sci. Data 10:147);
- rivers are long ribbons, lakes compact bodies; a motorway corridor is 40 to 60 m wide.
"""

from __future__ import annotations

from datetime import date
from functools import cache

import numpy as np
import pytest
import shapely

from eotdl_tutorials.facts.classes import (
    CLASSES,
    FOREST,
    HIGHWAY,
    PERMANENT_CROP,
    SCENE_CLASSES,
    WATER,
    scene_label,
)
from eotdl_tutorials.world.landscape import ROW_SPACING, generate_landscape, region_layout
from eotdl_tutorials.world.render import render_hr_tile, render_surface
from eotdl_tutorials.world.spec import REGIONS, TileGrid, world_profile

SUMMER = date(2022, 8, 1)


@cache
def _land(region_index: int):
    region = REGIONS[region_index]
    layout = region_layout(region, world_profile("default"))
    return region, layout, generate_landscape(region, layout.extent, 0)


def _window_inside(land, klass: int, size: float, min_area: float) -> TileGrid:
    """A 1 m grid of ``size`` m inside one parcel of ``klass`` (its largest inner square)."""
    parcels = land.parcels[land.parcels["klass"] == klass]
    parcels = parcels[parcels.area > min_area]
    assert len(parcels), f"no {CLASSES[klass]} parcel of {min_area} m2"
    best = parcels.geometry.buffer(-size / 2 - 2).area.idxmax()
    centre = parcels.geometry.loc[best].buffer(-size / 2 - 2).representative_point()
    x0, y0 = round(centre.x - size / 2), round(centre.y + size / 2)
    return TileGrid(land.epsg, x0, y0, 1.0, int(size), int(size))


def _semivariogram(image: np.ndarray, lags: range) -> np.ndarray:
    return np.array(
        [
            0.5
            * np.mean(
                np.concatenate(
                    [
                        ((image[:, h:] - image[:, :-h]) ** 2).ravel(),
                        ((image[h:] - image[:-h]) ** 2).ravel(),
                    ]
                )
            )
            for h in lags
        ]
    )


def test_forest_crowns_set_a_semivariogram_range_of_3_to_10_m():
    region, _, land = _land(0)
    grid = _window_inside(land, FOREST, 96, 20000)
    dn, classes = render_hr_tile(land, grid, SUMMER, 0, False)
    assert (classes == FOREST).mean() > 0.95
    nir = dn[3].astype(np.float64)
    lags = range(1, 31)
    gamma = _semivariogram(nir, lags)
    sill = gamma[-10:].mean()
    reach = int(np.argmax(gamma >= 0.95 * sill)) + 1  # practical range: 95 % of the sill
    assert 3 <= reach <= 10, (reach, gamma.round(0))
    # the crowns are the texture: without them (a 5 m grid) the canopy is nearly flat
    flat = render_surface(land, grid.with_gsd(4.0), SUMMER, 0, False, detail=False)
    assert flat.reflectance[7].std() < 0.5 * (nir * 1e-4).std()


def test_row_spacing_of_permanent_crops_by_autocorrelation():
    checked = 0
    for index in range(len(REGIONS)):
        _, _, land = _land(index)
        crops = land.parcels[
            (land.parcels["klass"] == PERMANENT_CROP) & (land.parcels["row_spacing"] >= 2.5)
        ]
        for _, parcel in crops.sort_values("row_spacing").iloc[[0, -1]].iterrows():
            inner = parcel.geometry.buffer(-34)
            if inner.is_empty:
                continue
            centre = inner.representative_point()
            grid = TileGrid(land.epsg, round(centre.x) - 32, round(centre.y) + 32, 1.0, 64, 64)
            dn, classes = render_hr_tile(land, grid, SUMMER, 0, REGIONS[index].biome == "semiarid")
            assert (classes == PERMANENT_CROP).all()
            nir = dn[3].astype(np.float64)
            nir -= nir.mean()
            power = np.abs(np.fft.fft2(nir)) ** 2
            power[0, 0] = 0
            fy, fx = np.unravel_index(np.argmax(power), power.shape)
            freq = np.hypot(np.fft.fftfreq(64)[fy], np.fft.fftfreq(64)[fx])  # cycles per metre
            spacing = 1 / freq
            assert 2 <= spacing <= 7
            assert spacing == pytest.approx(parcel["row_spacing"], rel=0.12)
            checked += 1
    assert checked >= 2
    assert ROW_SPACING["vineyard"][0] >= 1.5 and ROW_SPACING["orchard"][1] <= 7


def test_buildings_have_published_sizes_and_spacing():
    _, _, land = _land(0)
    buildings = land.buildings
    homes = buildings[buildings["use"] == "residential"]
    halls = buildings[buildings["use"] == "industrial"]
    assert len(homes) > 200 and len(halls) > 5
    assert 50 <= homes.area.median() <= 300
    assert 600 <= halls.area.median() <= 3600
    centres = shapely.points(
        np.column_stack([homes.geometry.centroid.x, homes.geometry.centroid.y])
    )
    tree = shapely.STRtree(centres)
    _, gaps = tree.query_nearest(centres, exclusive=True, return_distance=True)
    assert 15 <= np.median(gaps) <= 40


def test_rivers_are_ribbons_lakes_compact_motorways_wide_corridors():
    _, layout, land = _land(0)
    river = shapely.union_all(land.water.geometry.values)
    width = 2 * river.area / river.length
    assert river.length / width > 20  # a ribbon
    _, _, semiarid = _land(2)
    lakes = shapely.union_all(
        semiarid.parcels.geometry.values[semiarid.parcels["klass"].to_numpy() == WATER]
    )
    for lake in shapely.get_parts(lakes):
        assert 4 * np.pi * lake.area / lake.length**2 > 0.3  # compact (a disc is 1)
    grid = TileGrid(land.epsg, *_crossing(land), 1.0, 1, 200)
    classes = render_surface(land, grid, SUMMER, 0, False, detail=True).classes[:, 0]
    assert 40 <= (classes == HIGHWAY).sum() <= 70


def _crossing(land) -> tuple[float, float]:
    """The top of a 200 m north-south line centred on the (west-east) motorway."""
    motorway = land.roads[land.roads["kind"] == "primary"].geometry.iloc[0]
    point = motorway.interpolate(0.5, normalized=True)
    return round(point.x), round(point.y) + 100


def test_every_eurosat_class_is_in_the_default_world():
    """Scene classes of 1 m tiles laid on a 800 m lattice over each default region."""
    seen = set()
    for index in range(len(REGIONS)):
        region, layout, land = _land(index)
        x0, y0, x1, y1 = layout.bounds
        for x in np.arange(x0, x1 - 384, 800):
            for y in np.arange(y0 + 384, y1, 800):
                grid = TileGrid(land.epsg, x, y, 4.0, 96, 96)
                classes = render_surface(land, grid, SUMMER, 0, False, detail=False).classes
                seen.add(SCENE_CLASSES[scene_label(np.bincount(classes.ravel(), minlength=13))])
    assert seen == set(SCENE_CLASSES), set(SCENE_CLASSES) - seen
