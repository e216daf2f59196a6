"""Figures of the inference API's answers: the proposals on a map over the image."""

from __future__ import annotations

import base64
import io
import os
from collections.abc import Mapping

import geopandas as gpd
import matplotlib.pyplot as plt
import rasterio
from rasterio.warp import transform_bounds

from eotdl_tutorials.multitask.figures import rgb_of


def proposals_map(  # noqa: ANN201 - a leafmap.Map, imported lazily
    image: str | os.PathLike[str], proposals: gpd.GeoDataFrame, colors: Mapping[str, str]
):
    """A leafmap map of the image (an overlay of its RGB) and the proposals, one layer per
    label in its colour."""
    import ipyleaflet
    import leafmap

    with rasterio.open(image) as source:
        rgb = rgb_of(source.read())
        west, south, east, north = transform_bounds(source.crs, "EPSG:4326", *source.bounds)
    buffer = io.BytesIO()
    plt.imsave(buffer, rgb, format="png")
    url = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    m = leafmap.Map(center=((south + north) / 2, (west + east) / 2), zoom=15)
    overlay = ipyleaflet.ImageOverlay(url=url, bounds=((south, west), (north, east)), name="image")
    m.add_layer(overlay)
    for label, rows in proposals.groupby("label"):
        color = colors.get(str(label), "#ffffff")
        style = {"color": color, "fillColor": color, "fillOpacity": 0.4, "weight": 1}
        m.add_gdf(rows[["label", "geometry"]], layer_name=str(label), style=style)
    return m
