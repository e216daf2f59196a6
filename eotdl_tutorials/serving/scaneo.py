"""Call the inference API exactly as SCANEO's backend does, and turn its answers into label
proposals as SCANEO does.

SCANEO reads the image being labelled, applies the model's preprocessing step (``S2RGB``,
``SATRGB`` or none), writes an in-memory GeoTIFF with the image's CRS and transform and sends
``requests.post(url, files={"image": buffer})``. A classification answer is a list of scores
(SCANEO takes the argmax as the output index); a segmentation answer is a one-band raster of
class indices, vectorised with the transform of the image that was sent and reprojected to
EPSG:4326, one MultiPolygon per class index.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import rasterio
import requests
from affine import Affine
from rasterio import features
from rasterio.crs import CRS
from shapely.geometry import MultiPolygon, shape

from eotdl_tutorials.models import NO_LABEL, scaneo_rgb


@dataclass(frozen=True)
class SentImage:
    """What SCANEO sends: the GeoTIFF bytes and the grid they carry."""

    data: bytes
    crs: CRS | None
    transform: Affine
    width: int
    height: int


def scaneo_payload(path: str | os.PathLike[str], preprocessing: str = "none") -> SentImage:
    """The GeoTIFF SCANEO would send for the image at ``path`` with ``preprocessing``."""
    with rasterio.open(path) as dataset:
        pixels, crs, transform = dataset.read(), dataset.crs, dataset.transform
    if preprocessing != "none":
        pixels = scaneo_rgb(pixels, preprocessing)
    buffer = io.BytesIO()
    profile = {
        "driver": "GTiff", "height": pixels.shape[1], "width": pixels.shape[2],
        "count": pixels.shape[0], "dtype": pixels.dtype, "crs": crs, "transform": transform,
    }  # fmt: skip
    with rasterio.open(buffer, "w", **profile) as dst:
        for band in range(pixels.shape[0]):
            dst.write(pixels[band], band + 1)
    return SentImage(buffer.getvalue(), crs, transform, pixels.shape[2], pixels.shape[1])


def post_image(url: str, image: SentImage | bytes, timeout_s: float = 300.0) -> requests.Response:
    """POST the image as SCANEO does (multipart field ``image``, no content type); a non-200
    answer raises ``RuntimeError`` with the server's message."""
    data = image.data if isinstance(image, SentImage) else image
    response = requests.post(url, files={"image": io.BytesIO(data)}, timeout=timeout_s)
    if response.status_code != 200:
        raise RuntimeError(f"{url} answered {response.status_code}: {response.text}")
    return response


def classify_as_scaneo(url: str, image: SentImage) -> tuple[list[float], int]:
    """The scores the API returns and the output index SCANEO picks (the argmax)."""
    scores = post_image(url, image).json()
    return scores, int(np.argmax(scores))


def segment_as_scaneo(url: str, image: SentImage) -> np.ndarray:
    """The class-index mask the API returns (SCANEO insists on exactly one band)."""
    with rasterio.open(io.BytesIO(post_image(url, image).content)) as dataset:
        if dataset.count != 1:
            raise ValueError(f"{url} returned {dataset.count} bands; SCANEO expects one")
        return dataset.read(1)


def vectorise_as_scaneo(
    mask: np.ndarray, image: SentImage, labels: Mapping[int, str]
) -> gpd.GeoDataFrame:
    """One MultiPolygon per mapped output index present in ``mask``, in EPSG:4326, as SCANEO
    builds its segmentation proposals (``labels``: output index -> label name; index 0 = no
    label is never a proposal)."""
    rows = []
    for index, label in labels.items():
        if index == 0 or label == NO_LABEL or not np.any(mask == index):
            continue
        polygons = [
            shape(geometry)
            for geometry, value in features.shapes(
                (mask == index).astype(np.uint8), transform=image.transform
            )
            if value == 1
        ]
        rows.append({"label": label, "output_index": index, "geometry": MultiPolygon(polygons)})
    frame = gpd.GeoDataFrame(
        rows, columns=["label", "output_index", "geometry"], geometry="geometry", crs=image.crs
    )
    return frame.to_crs("EPSG:4326") if image.crs is not None else frame
