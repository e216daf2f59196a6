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
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import requests
from affine import Affine
from rasterio.crs import CRS
from rasterio.windows import Window

from eotdl_tutorials.files import atomic_path
from eotdl_tutorials.labels import mask_features
from eotdl_tutorials.models import scaneo_rgb

if TYPE_CHECKING:  # the multitask stage imports PyTorch: not at run time in the server
    from eotdl_tutorials.multitask import LandCoverSet


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
        descriptions = dataset.descriptions
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
            if preprocessing == "none" and descriptions[band]:  # the file's bands, as they are
                dst.set_band_description(band + 1, descriptions[band])
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
    mask: np.ndarray, image: SentImage, labels: Sequence[str]
) -> gpd.GeoDataFrame:
    """SCANEO's segmentation proposals of a returned mask: one MultiPolygon per label present,
    vectorised with the transform of the image that was sent, in EPSG:4326 (``labels`` in label
    order: index 0 = no label is never a proposal, index ``i + 1`` is ``labels[i]``)."""
    if image.crs is None:
        raise ValueError("the sent image has no CRS: SCANEO cannot place its proposals")
    found = mask_features(mask, image.transform, image.crs, labels, classification=False)
    frame = gpd.GeoDataFrame.from_features(found, crs="EPSG:4326")
    return frame if len(frame) else gpd.GeoDataFrame(columns=["geometry", "label", "task"])


def write_campaign_images(
    dataset: LandCoverSet, rows: Sequence[int], folder: str | os.PathLike[str]
) -> dict[str, Path]:
    """Write tiles ``rows`` of the land-cover set as the GeoTIFFs a labeller opens in SCANEO: the
    digital numbers the models were trained on, on the tile's grid at the set's resolution (a
    tile cut from a larger image, ``window_*`` columns, on its window's grid), the bands named
    in their descriptions. Returns image name (the tile id) -> path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for row in rows:
        tile = dataset.index.iloc[int(row)]
        pixels = dataset.images[int(row)]
        with rasterio.open(tile["image"]) as source:
            crs, transform, width = source.crs, source.transform, source.width
            if "window_size" in tile and pd.notna(tile["window_size"]):
                width = int(tile["window_size"])
                window = Window(int(tile["window_col"]), int(tile["window_row"]), width, width)
                transform = source.window_transform(window)
        scale = width / pixels.shape[-1]
        profile = {
            "driver": "GTiff", "height": pixels.shape[1], "width": pixels.shape[2],
            "count": pixels.shape[0], "dtype": pixels.dtype, "crs": crs,
            "transform": transform * Affine.scale(scale),
        }  # fmt: skip
        path = folder / f"{tile['id']}.tif"
        with atomic_path(path) as tmp, rasterio.open(tmp, "w", **profile) as dst:
            dst.write(pixels)
            for band, name in enumerate(dataset.bands, start=1):
                dst.set_band_description(band, name)
        paths[str(tile["id"])] = path
    return paths
