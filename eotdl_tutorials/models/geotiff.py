"""Embed a real GeoTIFF with a saved encoder, mapping the file's bands to the encoder's.

Bands are matched by the file's band descriptions when every band has one (Sentinel-2 names such
as ``B04``/``B4``/``B8A`` or common names such as ``red``, ``nir08``, ``vv``), else by band count:

- 12 bands: Sentinel-2 L2A in B01..B08, B8A, B09, B11, B12 order (Planetary Computer, the store);
- 13 bands: Sentinel-2 L1C as in EuroSAT (B01..B12 with B10, then B8A); B10 (cirrus) is dropped;
- 4 bands: Satellogic EarthView (red, green, blue, nir); 2 bands: Sentinel-1 (vv, vh).

Digital numbers become physical values with the file's own scale/offset tags when it has them,
else ``scale``/``offset`` arguments, else: float files are taken as physical values, 13-band L1C
as ``DN / 10000`` (EuroSAT predates the +1000 offset), other integer files as the encoder's
training data (e.g. L2A since processing baseline 04.00: ``DN / 10000 - 0.1``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

import numpy as np
import rasterio
import torch

from eotdl_tutorials.facts.sensors import HR_BANDS, S1_POLARIZATIONS, S2_BANDS
from eotdl_tutorials.models.export import load_encoder, read_encoder_config

_S2_NAME_TO_COMMON = {band.name: band.common_name for band in S2_BANDS} | {"B10": "cirrus"}
_COMMON_NAMES = (
    {band.common_name for band in S2_BANDS} | {"cirrus"} | {band.common_name for band in HR_BANDS}
)
_COMMON_NAMES |= set(S1_POLARIZATIONS)

L2A_12 = tuple(band.common_name for band in S2_BANDS)
EUROSAT_13 = tuple(
    _S2_NAME_TO_COMMON[name]
    for name in ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B09", "B10", "B11")
    + ("B12", "B8A")
)
#: Band layouts recognised by band count: count -> (what the file is taken to be, common names).
LAYOUTS_BY_COUNT = {
    12: ("Sentinel-2 L2A (B01..B08, B8A, B09, B11, B12)", L2A_12),
    13: ("Sentinel-2 L1C as in EuroSAT (B01..B12, B8A)", EUROSAT_13),
    4: ("Satellogic EarthView (red, green, blue, nir)", tuple(b.common_name for b in HR_BANDS)),
    2: ("Sentinel-1 (vv, vh)", tuple(S1_POLARIZATIONS)),
}


def band_name(description: str | None) -> str | None:
    """The common name a band description stands for (``"B4"`` -> ``"red"``), or None."""
    if not description:
        return None
    text = description.strip()
    match = re.fullmatch(r"[Bb]0?(\d{1,2})([Aa]?)", text)
    if match:
        number = int(match.group(1))
        return _S2_NAME_TO_COMMON.get(f"B{number}A" if match.group(2) else f"B{number:02d}")
    return text.lower() if text.lower() in _COMMON_NAMES else None


def match_bands(
    descriptions: Sequence[str | None], wanted: Sequence[str], source: str = "the file"
) -> tuple[list[int], str]:
    """0-based positions in the file of each ``wanted`` band, and how they were matched."""
    names = [band_name(text) for text in descriptions]
    if all(names):
        how = "band descriptions"
    elif len(descriptions) in LAYOUTS_BY_COUNT:
        how, names = LAYOUTS_BY_COUNT[len(descriptions)]
    else:
        raise ValueError(
            f"cannot tell which bands {source} holds: it has {len(descriptions)} bands without "
            f"usable descriptions ({', '.join(repr(d) for d in descriptions)}). The encoder reads "
            f"{', '.join(wanted)}: describe the bands (B01..B12, B8A or common names) or write "
            "a 12-band L2A or 13-band EuroSAT-order file"
        )
    missing = [band for band in wanted if band not in names]
    if missing:
        raise ValueError(
            f"{source} lacks bands {', '.join(missing)} that the encoder reads (matched by {how}; "
            f"the file has {', '.join(str(n) for n in names)})"
        )
    return [list(names).index(band) for band in wanted], how


def _physical(
    raw: np.ndarray,
    dataset: rasterio.DatasetReader,
    positions: list[int],
    how: str,
    config: dict,
    scale: float | None,
    offset: float | None,
) -> np.ndarray:
    tag_scales = np.array([dataset.scales[i] for i in positions], np.float32)
    tag_offsets = np.array([dataset.offsets[i] for i in positions], np.float32)
    if np.any(tag_scales != 1) or np.any(tag_offsets != 0):
        gain, shift = tag_scales, tag_offsets
    elif scale is not None or offset is not None:
        gain, shift = np.float32(scale or 1.0), np.float32(offset or 0.0)
    elif np.issubdtype(raw.dtype, np.floating):
        gain, shift = np.float32(1.0), np.float32(0.0)
    elif how == LAYOUTS_BY_COUNT[13][0]:
        gain, shift = np.float32(1e-4), np.float32(0.0)
    elif "dn_scale" in config:
        gain, shift = np.float32(config["dn_scale"]), np.float32(config["dn_offset"])
    else:
        raise ValueError(
            "the file holds integer digital numbers without scale/offset tags: pass scale= and "
            "offset= (physical value = DN * scale + offset)"
        )
    values = raw.astype(np.float32)
    return values * np.reshape(gain, (-1, 1, 1)) + np.reshape(shift, (-1, 1, 1))


def embed_geotiff(
    path: str | os.PathLike[str],
    model_dir: str | os.PathLike[str],
    scale: float | None = None,
    offset: float | None = None,
    tile_size: int | None = None,
) -> np.ndarray:
    """Embed the GeoTIFF at ``path`` with the encoder saved in ``model_dir``.

    Returns one embedding (D,) for the whole image, or with ``tile_size`` a grid
    (rows, cols, D) of embeddings of non-overlapping ``tile_size`` px tiles (edges dropped).
    Nodata pixels are set to the band means (neutral after normalisation).
    """
    config = read_encoder_config(model_dir)
    encoder = load_encoder(model_dir)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"GeoTIFF {path} does not exist")
    with rasterio.open(path) as dataset:
        positions, how = match_bands(dataset.descriptions, encoder.bands, str(path))
        raw = dataset.read([i + 1 for i in positions])
        values = _physical(raw, dataset, positions, how, config, scale, offset)
        if dataset.nodata is not None:
            fill = encoder.mean.numpy().reshape(-1, 1, 1)
            values = np.where(raw == dataset.nodata, fill, values)
    images = torch.from_numpy(values)[None]
    if tile_size is not None:
        if min(images.shape[-2:]) < tile_size:
            raise ValueError(f"{path} is smaller than one {tile_size} px tile")
        tiles = images.unfold(2, tile_size, tile_size).unfold(3, tile_size, tile_size)
        rows, cols = tiles.shape[2], tiles.shape[3]
        images = tiles.permute(0, 2, 3, 1, 4, 5).reshape(rows * cols, -1, tile_size, tile_size)
    with torch.no_grad():
        embeddings = torch.cat([encoder(chunk) for chunk in images.split(64)]).numpy()
    return embeddings.reshape(rows, cols, -1) if tile_size is not None else embeddings[0]
