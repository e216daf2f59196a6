"""Figures of the inference API's answers: the proposals on a map over the image."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import geopandas as gpd

from eotdl_tutorials.display import true_colour_overlay
from eotdl_tutorials.facts.sensors import HR_BAND_NAMES


def proposals_map(  # noqa: ANN201 - a leafmap.Map, imported lazily
    image: str | os.PathLike[str],
    proposals: gpd.GeoDataFrame,
    colors: Mapping[str, str],
    bands: Sequence[str] = HR_BAND_NAMES,
):
    """A leafmap map of the image (its true colour, warped to Web Mercator; ``bands``: the
    image's bands, the 1 m tiles' by default) and the proposals, one layer per label in its
    colour."""
    import leafmap

    overlay = true_colour_overlay(image, bands, "image")
    (south, west), (north, east) = overlay.bounds
    m = leafmap.Map(center=((south + north) / 2, (west + east) / 2), zoom=15)
    m.add_layer(overlay)
    for label, rows in proposals.groupby("label"):
        color = colors.get(str(label), "#ffffff")
        style = {"color": color, "fillColor": color, "fillOpacity": 0.4, "weight": 1}
        m.add_gdf(rows[["label", "geometry"]], layer_name=str(label), style=style)
    return m
