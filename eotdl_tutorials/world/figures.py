"""Figures of the sample world: maps of its regions, one place seen by three sensors, class spectra
and cloud masks."""

from __future__ import annotations

from datetime import date

import geopandas as gpd
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import rasterio
import shapely
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from rasterio.windows import from_bounds

from eotdl_tutorials.display import S1_COMPOSITE_DB, stretch, true_colour
from eotdl_tutorials.facts.classes import (
    BARE_SOIL,
    BUILT_UP,
    CLASSES,
    CROPLAND,
    FOREST,
    GRASSLAND,
    PARCEL_CLASSES,
    RIVER,
    WATER,
)
from eotdl_tutorials.facts.sensors import HR_BAND_NAMES, RGB, S2_BANDS, SCL_CLASSES
from eotdl_tutorials.facts.spectra import SPECTRA
from eotdl_tutorials.world import World

#: One colour per land-cover class, in class-code order.
CLASS_COLOURS = ListedColormap(
    [
        "#3a7bd5",  # water
        "#1b5e20",  # forest
        "#e6c229",  # cropland
        "#8bc34a",  # grassland
        "#b0413e",  # built-up
        "#c8a67a",  # bare soil
        "#333333",  # road
        "#d86c4a",  # building
        "#1e88e5",  # river
        "#7b1fa2",  # permanent crop
        "#9e9d24",  # herbaceous vegetation
        "#78909c",  # industrial
        "#000000",  # highway
    ]  # fmt: skip
)
SCL_COLOURS = ListedColormap(
    [
        "#000000",
        "#ff0000",
        "#404040",
        "#6b4a2b",
        "#2e9d35",
        "#ffe65a",
        "#0000ff",
        "#808080",
        "#c0c0c0",
        "#ffffff",
        "#64c8ff",
        "#ff96ff",
    ]  # fmt: skip
)


def items_frame(world: World, collection: str) -> gpd.GeoDataFrame:
    """A collection's items as a WGS84 GeoDataFrame (id, datetime, cloud cover, EPSG)."""
    items = world.items(collection)
    return gpd.GeoDataFrame(
        {
            "id": [i["id"] for i in items],
            "datetime": pd.to_datetime([i["properties"]["datetime"] for i in items]),
            "cloud_cover": [i["properties"].get("eo:cloud_cover", np.nan) for i in items],
            "epsg": [i["properties"]["proj:epsg"] for i in items],
        },
        geometry=[shapely.geometry.shape(i["geometry"]) for i in items],
        crs=4326,
    )


def plot_world_map(world: World) -> Figure:
    """Per region: land cover, the Sentinel-2 tiles, and the 1 m tile footprints, in UTM."""
    regions = world.regions
    fig, axes = plt.subplots(1, len(regions), figsize=(5 * len(regions), 5), squeeze=False)
    s2 = items_frame(world, "sentinel-2-l2a").drop_duplicates("geometry")
    hr = items_frame(world, "satellogic-earthview")
    for ax, region in zip(axes[0], regions, strict=True):
        land = world.landscape(region["name"])
        land.parcels.plot(
            ax=ax, column="klass", cmap=CLASS_COLOURS, vmin=0, vmax=len(CLASSES) - 1, linewidth=0
        )
        if not land.water.empty:
            land.water.plot(ax=ax, color=CLASS_COLOURS(RIVER), linewidth=0)
        land.roads.plot(ax=ax, color="#333333", linewidth=land.roads["width"] / 8)
        s2[s2["epsg"] == region["epsg"]].to_crs(region["epsg"]).boundary.plot(
            ax=ax, color="white", linewidth=2, linestyle="--"
        )
        hr[hr["epsg"] == region["epsg"]].to_crs(region["epsg"]).boundary.plot(
            ax=ax, color="magenta", linewidth=1.2
        )
        xmin, ymin, xmax, ymax = region["extent"]
        ax.set_xlim(xmin, xmax)
        ax.set_ylim(ymin, ymax)
        ax.set_title(f"{region['name']} (UTM {region['zone']}, EPSG:{region['epsg']})")
        ax.set_xlabel("easting (m)")
        ax.set_ylabel("northing (m)")
    handles = [
        Patch(color=CLASS_COLOURS(CLASSES.index(name)), label=name) for name in PARCEL_CLASSES
    ]
    handles += [
        Patch(edgecolor="white", facecolor="none", linestyle="--", label="Sentinel-2 tile"),
        Patch(edgecolor="magenta", facecolor="none", label="1 m tile footprint"),
    ]
    fig.legend(handles=handles, loc="lower center", ncol=(len(handles) + 1) // 2, frameon=False)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


def leaflet_map(world: World):  # noqa: ANN201 - a leafmap.Map, imported lazily
    """An interactive map (leafmap) of the Sentinel-2 tiles and the 1 m tile footprints."""
    import leafmap

    s2 = items_frame(world, "sentinel-2-l2a").drop_duplicates("geometry")
    hr = items_frame(world, "satellogic-earthview")
    m = leafmap.Map(center=(47.8, 6.0), zoom=11)
    m.add_gdf(s2[["id", "geometry"]], layer_name="Sentinel-2 tiles")
    m.add_gdf(hr[["id", "geometry"]], layer_name="1 m tiles")
    return m


def _closest(items: list[dict], epsg: int, box: shapely.Polygon, day: date, clear: bool) -> dict:
    """The item of ``epsg`` covering ``box`` closest in time to ``day``."""
    best, best_gap = None, None
    for item in items:
        props = item["properties"]
        if props["proj:epsg"] != epsg or (clear and props.get("eo:cloud_cover", 0) > 5):
            continue
        asset = next(a for a in item["assets"].values() if "proj:transform" in a)
        t, (h, w) = asset["proj:transform"], asset["proj:shape"]
        if not shapely.box(t[2], t[5] + h * t[4], t[2] + w * t[0], t[5]).contains(box):
            continue
        gap = abs((date.fromisoformat(props["datetime"][:10]) - day).days)
        if best_gap is None or gap < best_gap:
            best, best_gap = item, gap
    if best is None:
        raise ValueError("no scene covers that tile: pick another tile")
    return best


def _window(href: str, bounds: tuple[float, ...], bands: list[int] | None = None) -> np.ndarray:
    with rasterio.open(href) as src:
        return src.read(bands, window=from_bounds(*bounds, transform=src.transform))


def plot_three_sensors(world: World, tile_id: str) -> Figure:
    """The same place seen at 1 m, by Sentinel-2 (clear, closest date) and by Sentinel-1 VV/VH."""
    tile = next(i for i in world.items("satellogic-earthview") if i["id"] == tile_id)
    epsg = tile["properties"]["proj:epsg"]
    day = date.fromisoformat(tile["properties"]["datetime"][:10])
    with rasterio.open(tile["assets"]["analytic"]["href"]) as src:
        hr, bounds = src.read(), tuple(src.bounds)
    box = shapely.box(*bounds)
    s2 = _closest(world.items("sentinel-2-l2a"), epsg, box, day, clear=True)
    s1 = _closest(world.items("sentinel-1-grd"), epsg, box, day, clear=False)
    s2_rgb = np.stack([_window(s2["assets"][b]["href"], bounds)[0] for b in RGB])
    vv = 10 * np.log10(np.maximum(_window(s1["assets"]["vv"]["href"], bounds)[0], 1e-6))
    vh = 10 * np.log10(np.maximum(_window(s1["assets"]["vh"]["href"], bounds)[0], 1e-6))
    with rasterio.open(tile["assets"]["landcover"]["href"]) as src:
        classes = src.read(1)
    fig, axes = plt.subplots(1, 5, figsize=(20, 4.4))
    axes[0].imshow(true_colour(hr, HR_BAND_NAMES))
    axes[0].set_title(f"1 m tile, {day}")
    axes[1].imshow(classes, cmap=CLASS_COLOURS, vmin=0, vmax=len(CLASSES) - 1, interpolation="none")
    axes[1].set_title("land-cover label (1 m)")
    axes[2].imshow(stretch(s2_rgb), interpolation="none")
    axes[2].set_title(f"Sentinel-2 10 m, {s2['properties']['datetime'][:10]}")
    axes[3].imshow(vv, cmap="gray", vmin=-25, vmax=5, interpolation="none")
    axes[3].set_title(f"Sentinel-1 VV (dB), {s1['properties']['datetime'][:10]}")
    vh_low, vh_high = S1_COMPOSITE_DB["vh"]
    axes[4].imshow(vh, cmap="gray", vmin=vh_low, vmax=vh_high, interpolation="none")
    axes[4].set_title(f"Sentinel-1 VH (dB), {s1['properties']['sat:orbit_state']}")
    for ax in axes:
        ax.set_axis_off()
    fig.tight_layout()
    return fig


def plot_class_spectra(world: World, item_id: str | None = None) -> Figure:
    """Reference spectra of each class, and the medians measured in a clear Sentinel-2 scene."""
    from eotdl_tutorials.world import TileGrid, render_surface

    wavelengths = [b.center_nm for b in S2_BANDS]
    fig, ax = plt.subplots(figsize=(9, 5))
    names = {
        "water": WATER,
        "forest": FOREST,
        "green crop": CROPLAND,
        "grassland": GRASSLAND,
        "built-up": BUILT_UP,
        "bare soil": BARE_SOIL,
    }
    for name, code in names.items():
        ax.plot(wavelengths, SPECTRA[name], "-", color=CLASS_COLOURS(code), label=f"{name} (table)")
    items = [i for i in world.items("sentinel-2-l2a") if i["properties"]["eo:cloud_cover"] == 0]
    item = next((i for i in items if i["id"] == item_id), items[0] if items else None)
    if item is not None:
        region = next(r for r in world.regions if r["epsg"] == item["properties"]["proj:epsg"])
        red = item["assets"]["red"]
        t, (h, w) = red["proj:transform"], red["proj:shape"]
        day = date.fromisoformat(item["properties"]["datetime"][:10])
        grid = TileGrid(region["epsg"], t[2], t[5], 20.0, w // 2, h // 2)
        semiarid = region["biome"] == "semiarid"
        land = world.landscape(region["name"])
        classes = render_surface(land, grid, day, 0, semiarid, False).classes
        for code in names.values():
            mask = classes == code
            if mask.sum() < 20:
                continue
            medians = []
            for band in S2_BANDS:
                asset = item["assets"][band.common_name]
                raster = asset["raster:bands"][0]
                with rasterio.open(asset["href"]) as src:
                    values = src.read(1, out_shape=(h // 2, w // 2))
                medians.append(np.median(values[mask]) * raster["scale"] + raster["offset"])
            ax.plot(wavelengths, medians, "o", color=CLASS_COLOURS(code), markersize=5)
        ax.set_title(
            f"Class spectra: lines from the reference table, dots measured in {item['id']}"
        )
    ax.set_xlabel("wavelength (nm)")
    ax.set_ylabel("surface reflectance")
    ax.legend(fontsize=8, ncol=2)
    return fig


def plot_cloud_mask(item: dict) -> Figure:
    """A Sentinel-2 scene in true colour beside its scene classification (SCL) band."""
    rgb = []
    for band in RGB:
        with rasterio.open(item["assets"][band]["href"]) as src:
            rgb.append(src.read(1))
    with rasterio.open(item["assets"]["scl"]["href"]) as src:
        scl = src.read(1)
    fig, axes = plt.subplots(1, 2, figsize=(12, 5.5))
    axes[0].imshow(stretch(np.stack(rgb)))
    axes[0].set_title(f"{item['id']}: eo:cloud_cover = {item['properties']['eo:cloud_cover']:.1f}%")
    axes[1].imshow(scl, cmap=SCL_COLOURS, vmin=0, vmax=11, interpolation="none")
    axes[1].set_title("SCL: scene classification")
    present = sorted(set(np.unique(scl).tolist()))
    handles = [Patch(color=SCL_COLOURS(c), label=f"{c} {SCL_CLASSES[c]}") for c in present]
    axes[1].legend(handles=handles, loc="center left", bbox_to_anchor=(1, 0.5), fontsize=8)
    for ax in axes:
        ax.set_axis_off()
    fig.tight_layout()
    return fig
