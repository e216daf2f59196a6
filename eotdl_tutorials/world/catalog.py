"""STAC items and collections of the sample world, in Earth Search v1 conventions."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import shapely
from pyproj import Transformer

from eotdl_tutorials.facts.sensors import (
    HR_BANDS,
    HR_SCALE,
    S2_BANDS,
    S2_L2A_OFFSET,
    S2_L2A_SCALE,
)
from eotdl_tutorials.world.spec import TileGrid

STAC_VERSION = "1.0.0"
COG = "image/tiff; application=geotiff; profile=cloud-optimized"
EXTENSIONS = {
    "eo": "https://stac-extensions.github.io/eo/v1.1.0/schema.json",
    "proj": "https://stac-extensions.github.io/projection/v1.1.0/schema.json",
    "raster": "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
    "mgrs": "https://stac-extensions.github.io/mgrs/v1.0.0/schema.json",
    "grid": "https://stac-extensions.github.io/grid/v1.1.0/schema.json",
    "sar": "https://stac-extensions.github.io/sar/v1.0.0/schema.json",
    "sat": "https://stac-extensions.github.io/sat/v1.0.0/schema.json",
}
S2_COLLECTION, S1_COLLECTION, HR_COLLECTION = (
    "sentinel-2-l2a",
    "sentinel-1-grd",
    "satellogic-earthview",
)


def eo_common_name(name: str) -> str:
    """The eo extension's common name of a band: Earth Search's asset keys ``rededge1..3``
    are all ``rededge`` there."""
    return "rededge" if name.startswith("rededge") else name


def collection_link(collection_id: str) -> dict:
    """The link STAC 1.0 requires of an item with a ``collection`` field (relative to the
    world's ``stac/items/`` files)."""
    return {
        "rel": "collection",
        "href": f"../collections/{collection_id}.json",
        "type": "application/json",
    }


def footprint_wgs84(epsg: int, bounds: tuple[float, float, float, float]) -> shapely.Polygon:
    """The WGS84 polygon of UTM ``bounds`` (edges densified, so it stays exact enough)."""
    box = shapely.segmentize(shapely.box(*bounds), (bounds[2] - bounds[0]) / 8)
    to_wgs84 = Transformer.from_crs(epsg, 4326, always_xy=True)
    return shapely.transform(box, lambda xy: np.column_stack(to_wgs84.transform(*xy.T)))


def _geo(epsg: int, grid: TileGrid) -> dict:
    polygon = shapely.set_precision(footprint_wgs84(epsg, grid.bounds), 1e-7)
    return {"geometry": shapely.geometry.mapping(polygon), "bbox": list(polygon.bounds)}


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def s2_item(
    item_id: str,
    tile_code: str,
    grid: TileGrid,
    moment: datetime,
    cloud_cover: float,
    platform: str,
    hrefs: dict[str, str],
) -> dict:
    """A Sentinel-2 L2A item like Earth Search v1's (one COG per band, offset not applied)."""
    assets = {}
    for band in S2_BANDS:
        band_grid = grid.with_gsd(band.gsd)
        assets[band.common_name] = {
            "href": hrefs[band.common_name],
            "type": COG,
            "title": f"{band.common_name} ({band.name}) - {band.gsd}m",
            "eo:bands": [
                {
                    "name": band.common_name,
                    "common_name": eo_common_name(band.common_name),
                    "description": band.name,
                    "center_wavelength": band.center_nm / 1000,
                    "full_width_half_max": band.fwhm_nm / 1000,
                }
            ],
            "gsd": band.gsd,
            "proj:shape": [band_grid.height, band_grid.width],
            "proj:transform": list(band_grid.transform),
            "raster:bands": [
                {
                    "nodata": 0,
                    "data_type": "uint16",
                    "bits_per_sample": 15,
                    "spatial_resolution": band.gsd,
                    "scale": S2_L2A_SCALE,
                    "offset": S2_L2A_OFFSET,
                }
            ],
            "roles": ["data", "reflectance"],
        }
    scl_grid = grid.with_gsd(20)
    assets["scl"] = {
        "href": hrefs["scl"],
        "type": COG,
        "title": "Scene classification map (SCL)",
        "proj:shape": [scl_grid.height, scl_grid.width],
        "proj:transform": list(scl_grid.transform),
        "raster:bands": [{"nodata": 0, "data_type": "uint8", "spatial_resolution": 20}],
        "roles": ["data"],
    }
    zone = int(tile_code[:2])
    return {
        "type": "Feature",
        "stac_version": STAC_VERSION,
        "stac_extensions": [EXTENSIONS[k] for k in ("eo", "proj", "raster", "mgrs", "grid")],
        "id": item_id,
        **_geo(grid.epsg, grid),
        "properties": {
            "datetime": _stamp(moment),
            "created": _stamp(moment),
            "platform": platform,
            "constellation": "sentinel-2",
            "instruments": ["msi"],
            "eo:cloud_cover": cloud_cover,
            "proj:epsg": grid.epsg,
            "mgrs:utm_zone": zone,
            "mgrs:latitude_band": tile_code[2],
            "mgrs:grid_square": tile_code[3:],
            "grid:code": f"MGRS-{tile_code}",
            "s2:processing_baseline": "05.00",
            "earthsearch:boa_offset_applied": False,
            "processing:software": {"eotdl-tutorials-sample-world": "1"},
        },
        "links": [collection_link(S2_COLLECTION)],
        "assets": assets,
        "collection": S2_COLLECTION,
    }


def s1_item(
    item_id: str, grid: TileGrid, moment: datetime, platform: str, orbit_state: str, hrefs: dict
) -> dict:
    """A Sentinel-1 GRD item (IW, dual VV+VH) with geocoded sigma0 COGs."""
    assets = {
        pol: {
            "href": hrefs[pol],
            "type": COG,
            "title": f"{pol.upper()} sigma0 (linear)",
            "proj:shape": [grid.height, grid.width],
            "proj:transform": list(grid.transform),
            "raster:bands": [
                {"nodata": 0, "data_type": "float32", "spatial_resolution": 10, "unit": "linear"}
            ],
            "sar:polarizations": [pol.upper()],
            "roles": ["data", "backscatter"],
        }
        for pol in ("vv", "vh")
    }
    return {
        "type": "Feature",
        "stac_version": STAC_VERSION,
        "stac_extensions": [EXTENSIONS[k] for k in ("sar", "sat", "proj", "raster")],
        "id": item_id,
        **_geo(grid.epsg, grid),
        "properties": {
            "datetime": _stamp(moment),
            "platform": platform,
            "constellation": "sentinel-1",
            "instruments": ["c-sar"],
            "sar:instrument_mode": "IW",
            "sar:frequency_band": "C",
            "sar:center_frequency": 5.405,
            "sar:polarizations": ["VV", "VH"],
            "sar:product_type": "GRD",
            "sar:looks_equivalent_number": 4.4,
            "sat:orbit_state": orbit_state,
            "proj:epsg": grid.epsg,
        },
        "links": [collection_link(S1_COLLECTION)],
        "assets": assets,
        "collection": S1_COLLECTION,
    }


def hr_item(item_id: str, grid: TileGrid, moment: datetime, zone: str, href: str) -> dict:
    """A Satellogic EarthView-like item: one 4-band analytic COG at 1 m."""
    return {
        "type": "Feature",
        "stac_version": STAC_VERSION,
        "stac_extensions": [EXTENSIONS[k] for k in ("eo", "proj", "raster")],
        "id": item_id,
        **_geo(grid.epsg, grid),
        "properties": {
            "datetime": _stamp(moment),
            "platform": "newsat",
            "constellation": "satellogic",
            "gsd": 1.0,
            "proj:epsg": grid.epsg,
            "satellogic:zone": zone,
            "satellogic:region": f"{round(grid.x0)}_{round(grid.y0 - grid.height)}",
        },
        "links": [collection_link(HR_COLLECTION)],
        "assets": {
            "analytic": {
                "href": href,
                "type": COG,
                "title": "Analytic (red, green, blue, nir), 1 m",
                "eo:bands": [
                    {
                        "name": b.name,
                        "common_name": b.common_name,
                        "center_wavelength": b.center_nm / 1000,
                    }
                    for b in HR_BANDS
                ],
                "proj:shape": [grid.height, grid.width],
                "proj:transform": list(grid.transform),
                "raster:bands": [
                    {"nodata": 0, "data_type": "uint16", "scale": HR_SCALE, "offset": 0.0}
                ]
                * len(HR_BANDS),
                "roles": ["data", "reflectance"],
            }
        },
        "collection": HR_COLLECTION,
    }


COLLECTION_TEXT = {
    S2_COLLECTION: "Sentinel-2 L2A of the sample world (Earth Search v1 conventions).",
    S1_COLLECTION: "Sentinel-1 IW GRD of the sample world: sigma0 VV/VH, geocoded to UTM.",
    HR_COLLECTION: "Satellogic EarthView-like 1 m tiles (red, green, blue, nir).",
}


def collection(collection_id: str, items: list[dict], description: str | None = None) -> dict:
    """A STAC Collection whose extent covers ``items`` (described as the world's, unless
    ``description`` is given)."""
    bboxes = np.array([item["bbox"] for item in items]) if items else np.zeros((1, 4))
    times = sorted(item["properties"]["datetime"] for item in items) or [None]
    return {
        "type": "Collection",
        "stac_version": STAC_VERSION,
        "id": collection_id,
        "description": description or COLLECTION_TEXT[collection_id],
        "license": "CC-BY-4.0",
        "extent": {
            "spatial": {
                "bbox": [
                    [
                        float(bboxes[:, 0].min()),
                        float(bboxes[:, 1].min()),
                        float(bboxes[:, 2].max()),
                        float(bboxes[:, 3].max()),
                    ]
                ]
            },
            "temporal": {"interval": [[times[0], times[-1]]]},
        },
        "links": [],
    }
