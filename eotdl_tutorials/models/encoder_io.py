"""A :class:`~eotdl_tutorials.models.encoder.SensorEncoder` as a model folder (its backbone is
the network, its band statistics the card's normalisation), loaded back, and used to embed a
GeoTIFF."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import torch

from eotdl_tutorials.data import BandStats
from eotdl_tutorials.models.card import ModelCard, z_score
from eotdl_tutorials.models.encoder import SensorEncoder
from eotdl_tutorials.models.export import (
    Builder,
    ExportedModel,
    export_model,
    load_weights,
    read_weights,
)
from eotdl_tutorials.models.folder import WEIGHTS_NAME, read_card, read_model_record
from eotdl_tutorials.models.geotiff import read_model_input


def encoder_card(
    encoder: SensorEncoder,
    dn_scale: float | None = None,
    dn_offset: float | None = None,
    units: str = "reflectance",
    name: str | None = None,
    description: str = "",
) -> ModelCard:
    """The card of a :class:`SensorEncoder` (task ``embedding``, its bands and statistics)."""
    return ModelCard(
        name=name or f"encoder-{encoder.sensor}-{encoder.arch}",
        task="embedding",
        arch=encoder.arch,
        bands=encoder.bands,
        input_size=encoder.input_size,
        units=units,
        normalisation=z_score(encoder.stats.mean, encoder.stats.std),
        dn_scale=dn_scale,
        dn_offset=dn_offset,
        description=description,
    )


def save_encoder(
    encoder: SensorEncoder,
    model_dir: str | os.PathLike[str],
    card: ModelCard | None = None,
    **export_kwargs: Any,
) -> ExportedModel:
    """Export an encoder (its backbone as the network) with :func:`export_model`; the record
    also keeps ``sensor``, ``embed_dim`` and ``stats``. ONNX only with ``onnx=True``."""
    card = card or encoder_card(encoder)
    builder = Builder(
        "eotdl_tutorials.models.encoder:make_backbone",
        {"arch": encoder.arch, "in_chans": len(encoder.bands)},
    )
    config = encoder.config()
    facts = {key: config[key] for key in ("sensor", "embed_dim", "stats")}
    export_kwargs = {"onnx": False} | export_kwargs
    export_kwargs["extra"] = facts | (export_kwargs.get("extra") or {})
    return export_model(encoder.backbone, model_dir, card, builder, **export_kwargs)


def read_encoder_config(model_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``model.json`` record of an encoder folder, checked."""
    record = read_model_record(model_dir)
    if record.get("task") != "embedding" or "sensor" not in record:
        raise ValueError(f"{model_dir} holds a {record.get('task')} model, not an encoder")
    return record


def load_encoder(model_dir: str | os.PathLike[str]) -> SensorEncoder:
    """Rebuild the encoder saved in ``model_dir`` (eval mode, on the CPU)."""
    record = read_encoder_config(model_dir)
    card = ModelCard.from_dict(record)
    encoder = SensorEncoder(
        record["sensor"], BandStats.from_dict(record["stats"]), card.arch, card.input_size
    )
    weights = read_weights(model_dir)
    load_weights(encoder.backbone, weights, card, str(Path(model_dir) / WEIGHTS_NAME))
    return encoder.eval()


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
    card = read_card(model_dir)
    encoder = load_encoder(model_dir)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"GeoTIFF {path} does not exist")
    with rasterio.open(path) as dataset:
        values = read_model_input(dataset, card, scale, offset, str(path))
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
