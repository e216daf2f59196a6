"""The world's rendering tasks: which scenes, 1 m tiles and road images, where and when.

Each task is a dict of plain values (it crosses to worker processes); the order is stable, so the
same profile and seed plan the same tasks.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np

from eotdl_tutorials.facts.sensors import HR_TILE_PX
from eotdl_tutorials.world.landscape import RegionLayout, _seed
from eotdl_tutorials.world.noise import _hash01
from eotdl_tutorials.world.spec import TileGrid, WorldProfile

ROAD_IMAGE_PX = 1500
#: How far inside one Sentinel-2 tile a road image lies: the 10 m window the matcher cuts around
#: it may reach a pixel beyond the image on each side.
ROAD_TILE_MARGIN_M = 20.0
#: Draws of a road image's place before the plan gives up (a tile too small ever to hold one).
MAX_ROAD_DRAWS = 1000


def _day_moment(day: date, seed: int, *key: str | int) -> datetime:
    """Acquisition time on ``day``: Sentinel-2 passes about 10:30 local solar time."""
    minutes = int(_hash01(np.array(day.toordinal()), np.array(len(key)), _seed(seed, *key)) * 20)
    return datetime(day.year, day.month, day.day, 10, 20 + minutes, 0)


def _coverage(day: date, seed: int, region: str) -> float:
    """Cloud coverage wanted on ``day``: clear on about 40% of days, else 3% to 75%."""
    u = _hash01(np.array(day.toordinal()), np.array(7), _seed(seed, "clouds", region))
    return 0.0 if u < 0.4 else float(0.03 + (u - 0.4) / 0.6 * 0.72)


def _grid_dict(grid: TileGrid) -> dict:
    return {
        "epsg": grid.epsg,
        "x0": grid.x0,
        "y0": grid.y0,
        "gsd": grid.gsd,
        "width": grid.width,
        "height": grid.height,
    }


def plan_tasks(
    root: Path, profile: WorldProfile, seed: int, layouts: list[RegionLayout]
) -> Iterator:
    """Every rendering task of the world, in a stable order."""
    for layout in layouts:
        region = layout.region
        semiarid = region.biome == "semiarid"
        base = {
            "region": region.name,
            "seed": _seed(seed, region.name),
            "semiarid": semiarid,
            "fine_gsd": profile.fine_gsd,
        }
        for d, day in enumerate(profile.s2_dates):
            platform = "sentinel-2a" if d % 2 == 0 else "sentinel-2b"
            moment = _day_moment(day, seed, region.name, "s2")
            cloud_seed = _seed(seed, region.name, "cloud", day.isoformat())
            for code, grid in layout.s2_tiles:
                item_id = f"S2{platform[-1].upper()}_{code}_{day:%Y%m%d}_0_L2A"
                yield (
                    "s2",
                    {
                        **base,
                        "id": item_id,
                        "tile": code,
                        "grid": _grid_dict(grid),
                        "date": day.isoformat(),
                        "moment": moment.isoformat(),
                        "platform": platform,
                        "cloud_seed": cloud_seed,
                        "coverage": _coverage(day, seed, region.name),
                        "root": str(root),
                    },
                )
        x0, ymin, x1, y1 = layout.extent
        s1_grid = TileGrid(
            region.epsg, x0, y1, 10.0, round((x1 - x0) / 10), round((y1 - ymin) / 10)
        )
        for d, day in enumerate(profile.s1_dates):
            orbit = "ascending" if d % 2 == 0 else "descending"
            moment = _day_moment(day, seed, region.name, "s1")
            moment = moment.replace(hour=17 if orbit == "ascending" else 5)
            stop = moment + timedelta(seconds=25)
            absolute_orbit = 40000 + (day - date(2022, 1, 1)).days * 15 + d
            item_id = (
                f"S1A_IW_GRDH_1SDV_{moment:%Y%m%dT%H%M%S}_{stop:%Y%m%dT%H%M%S}_"
                f"{absolute_orbit:06d}_{_seed(seed, region.name, d) % 0xFFFFFF:06X}"
            )
            yield (
                "s1",
                {
                    **base,
                    "id": item_id,
                    "grid": _grid_dict(s1_grid),
                    "date": day.isoformat(),
                    "moment": moment.isoformat(),
                    "platform": "sentinel-1a",
                    "orbit_state": orbit,
                    "write": profile.write_imagery,
                },
            )
        yield from _plan_hr(profile, seed, layout, base)
        yield from _plan_roads(profile, seed, layout, base)


def _hr_positions(layout: RegionLayout, count: int, seed: int) -> np.ndarray:
    """Top-left corners (x0, y0) of ``count`` distinct 384 m cells inside the region."""
    xmin, ymin, xmax, ymax = layout.bounds
    per_row = int((xmax - xmin) // HR_TILE_PX)
    cells = per_row * per_row
    rng = np.random.default_rng(_seed(seed, layout.region.name, "hr"))
    chosen = rng.choice(cells, size=min(count, cells), replace=False)
    x0 = xmin + (chosen % per_row) * HR_TILE_PX
    y0 = ymax - (chosen // per_row) * HR_TILE_PX
    return np.column_stack([x0, y0])


def _plan_hr(profile: WorldProfile, seed: int, layout: RegionLayout, base: dict) -> Iterator:
    region = layout.region
    rng = np.random.default_rng(_seed(seed, region.name, "hr-dates"))
    first, last = profile.hr_date_range
    span = (last - first).days
    for x0, y0 in _hr_positions(layout, profile.hr_tiles_per_region, seed):
        grid = TileGrid(region.epsg, float(x0), float(y0), 1.0, HR_TILE_PX, HR_TILE_PX)
        days = sorted(
            {
                first + timedelta(days=int(d))
                for d in rng.choice(span, size=profile.hr_dates_per_tile, replace=False)
            }
        )
        for day in days:
            moment = datetime(
                day.year,
                day.month,
                day.day,
                9 + int(rng.integers(0, 5)),
                int(rng.integers(0, 60)),
                int(rng.integers(0, 60)),
            )
            satellite = 20 + int(rng.integers(0, 20))
            easting_northing = f"{round(x0)}_{round(y0 - HR_TILE_PX)}"
            item_id = f"{moment:%Y%m%d_%H%M%S}_SN{satellite}_{region.zone}_{easting_northing}"
            json_dir = f"zone={region.zone}/region={easting_northing}/date={day.isoformat()}"
            yield (
                "hr",
                {
                    **base,
                    "id": item_id,
                    "grid": _grid_dict(grid),
                    "date": day.isoformat(),
                    "moment": moment.isoformat(),
                    "zone": region.zone,
                    "json_dir": json_dir,
                    "easting_northing": easting_northing,
                },
            )


def _inside_one_tile(bounds: tuple[float, float, float, float], layout: RegionLayout) -> bool:
    """Whether ``bounds`` lie inside one of the region's Sentinel-2 tiles (with the margin).

    A Massachusetts Roads image (1.5 km) lies inside one real Sentinel-2 tile almost always:
    the tiles are 109.8 km wide on a 100 km grid, so neighbours overlap by 9.8 km. The world's
    tiles are a few kilometres wide, so a road image is drawn again until one tile holds it, as
    the real ones are held.
    """
    left, bottom, right, top = bounds
    m = ROAD_TILE_MARGIN_M
    for _, tile in layout.s2_tiles:
        t_left, t_bottom, t_right, t_top = tile.bounds
        if (
            t_left + m <= left
            and t_bottom + m <= bottom
            and right <= t_right - m
            and top <= t_top - m
        ):
            return True
    return False


def _plan_roads(profile: WorldProfile, seed: int, layout: RegionLayout, base: dict) -> Iterator:
    region = layout.region
    count = profile.road_images // len(profile.regions) + (
        1 if profile.regions.index(region) < profile.road_images % len(profile.regions) else 0
    )
    xmin, ymin, xmax, ymax = layout.bounds
    rng = np.random.default_rng(_seed(seed, region.name, "roads"))
    side = ROAD_IMAGE_PX
    for i in range(count):
        for _ in range(MAX_ROAD_DRAWS):
            x0 = float(np.floor(rng.uniform(xmin, max(xmin, xmax - side))))
            y0 = float(np.floor(rng.uniform(min(ymax, ymin + side), ymax)))
            grid = TileGrid(region.epsg, x0, y0, 1.0, side, side)
            if _inside_one_tile(grid.bounds, layout):
                break
        else:
            raise ValueError(
                f"profile {profile.name}: no Sentinel-2 tile of {region.name} holds a "
                f"{side} m road image; make its tiles larger (s2_tile_px)"
            )
        yield (
            "road",
            {
                **base,
                "id": f"{region.name}-roads-{i:03d}",
                "grid": _grid_dict(grid),
                "date": "2022-08-15",
            },
        )
