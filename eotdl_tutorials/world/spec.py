"""What a sample world contains: regions, grids and dates of each profile (the class legend is
``eotdl_tutorials.facts.classes``)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np

from eotdl_tutorials.facts.grids import utm_epsg, zone_name

#: Bumped whenever the rendered bytes or the layout of a world change.
FORMAT_VERSION = 3
WORLD_PROFILES = ("ci", "default", "large")


@dataclass(frozen=True)
class Region:
    """A square area of the world, rendered in the UTM zone of its centre.

    ``biome`` sets the land-cover mix and phenology: ``temperate`` (central Europe) or
    ``semiarid`` (southern California).
    """

    name: str
    lon: float
    lat: float
    biome: str

    @property
    def epsg(self) -> int:
        return utm_epsg(self.lon, self.lat)

    @property
    def zone(self) -> str:
        """UTM zone as EarthView writes it, e.g. ``31N``."""
        return zone_name(self.epsg)


#: A pair straddling the 31N/32N boundary at 6 deg E (upper Rhine), and one in zone 11N.
REGIONS: tuple[Region, ...] = (
    Region("rhine-west", 5.955, 47.80, "temperate"),
    Region("rhine-east", 6.045, 47.80, "temperate"),
    Region("mojave-edge", -117.90, 34.05, "semiarid"),
)
#: The places use case D holds out for testing unless told otherwise (whole regions).
ROAD_TEST_REGIONS = ("rhine-east",)


def _every(start: date, end: date, days: int) -> tuple[date, ...]:
    count = (end - start).days // days + 1
    return tuple(start + timedelta(days=days * i) for i in range(count))


@dataclass(frozen=True)
class WorldProfile:
    """Sizes of one world profile. Distances in metres, grids in pixels."""

    name: str
    region_size: int
    s2_tile_px: int
    s2_overlap_px: int
    s2_dates: tuple[date, ...]
    s1_dates: tuple[date, ...]
    hr_tiles_per_region: int
    hr_dates_per_tile: int
    road_images: int
    fine_gsd: float = 5.0
    regions: tuple[Region, ...] = REGIONS
    #: High-resolution footprints described in geoparquet only (imagery rendered on demand).
    described_footprints: int = 0
    #: Write imagery (COGs) for the scenes; the ``large`` profile writes catalogues only.
    write_imagery: bool = True
    hr_date_range: tuple[date, date] = (date(2022, 7, 1), date(2022, 12, 20))
    notes: str = field(default="", compare=False)

    def s2_tile_size(self) -> int:
        return self.s2_tile_px * 10


PROFILE_SPECS: dict[str, WorldProfile] = {
    "ci": WorldProfile(
        name="ci",
        region_size=2000,
        s2_tile_px=288,
        s2_overlap_px=0,
        s2_dates=_every(date(2022, 6, 20), date(2022, 12, 20), 12),
        s1_dates=_every(date(2022, 6, 16), date(2022, 12, 20), 12),
        hr_tiles_per_region=25,
        hr_dates_per_tile=2,
        road_images=6,
    ),
    "default": WorldProfile(
        name="default",
        region_size=6000,
        s2_tile_px=360,
        s2_overlap_px=40,
        s2_dates=_every(date(2022, 5, 2), date(2022, 12, 28), 10),
        s1_dates=_every(date(2022, 5, 4), date(2022, 12, 28), 6),
        hr_tiles_per_region=180,
        hr_dates_per_tile=2,
        road_images=39,
    ),
    "large": WorldProfile(
        name="large",
        region_size=60000,
        s2_tile_px=2040,
        s2_overlap_px=100,
        s2_dates=_every(date(2022, 5, 1), date(2022, 12, 31), 5),
        s1_dates=_every(date(2022, 5, 1), date(2022, 12, 31), 6),
        hr_tiles_per_region=0,
        hr_dates_per_tile=1,
        road_images=0,
        described_footprints=1_000_000,
        write_imagery=False,
    ),
}


def world_profile(name: str) -> WorldProfile:
    """The sizes of the world profile ``name``, with a clear error for an unknown one."""
    try:
        return PROFILE_SPECS[name]
    except KeyError:
        raise ValueError(
            f"unknown world profile {name!r}: use one of {', '.join(WORLD_PROFILES)}"
        ) from None


@dataclass(frozen=True)
class TileGrid:
    """A north-up pixel grid in a UTM CRS: origin at the top-left corner."""

    epsg: int
    x0: float
    y0: float
    gsd: float
    width: int
    height: int

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        return (self.x0, self.y0 - self.height * self.gsd, self.x0 + self.width * self.gsd, self.y0)

    @property
    def transform(self) -> tuple[float, float, float, float, float, float]:
        """GDAL/affine coefficients (a, b, c, d, e, f)."""
        return (self.gsd, 0.0, self.x0, 0.0, -self.gsd, self.y0)

    def xs(self) -> np.ndarray:
        """Easting of each pixel centre."""
        return self.x0 + (np.arange(self.width) + 0.5) * self.gsd

    def ys(self) -> np.ndarray:
        """Northing of each pixel centre."""
        return self.y0 - (np.arange(self.height) + 0.5) * self.gsd

    def with_gsd(self, gsd: float) -> TileGrid:
        """The same footprint at another pixel size (which must divide it)."""
        width, height = self.width * self.gsd / gsd, self.height * self.gsd / gsd
        if not (math.isclose(width, round(width)) and math.isclose(height, round(height))):
            raise ValueError(f"GSD {gsd} does not divide a {self.width * self.gsd} m grid")
        return TileGrid(self.epsg, self.x0, self.y0, gsd, round(width), round(height))
