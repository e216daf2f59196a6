"""Run an exported model on an uploaded GeoTIFF: decode and check the upload, classify or
segment any image size (pad to the model's multiple, or tile and stitch), encode the mask.

Every problem with an upload raises :class:`BadUpload` with the HTTP status it deserves and a
message that says what was expected.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import onnxruntime as ort
from affine import Affine
from rasterio.crs import CRS
from rasterio.errors import RasterioError
from rasterio.io import MemoryFile

from eotdl_tutorials.models import ModelCard, read_model_input

#: The first bytes of a TIFF (classic and BigTIFF, both byte orders).
TIFF_SIGNATURES = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
#: Formats people send by mistake, by their first bytes.
OTHER_FORMATS = {
    b"\x89PNG\r\n\x1a\n": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"%PDF": "a PDF document",
    b"PK\x03\x04": "a ZIP archive",
}
#: Segmentation tiles: size (px) and the margin dropped at each tile's inner edges.
TILE_SIZE = 512
TILE_MARGIN = 32
#: Tiles per ONNX Runtime call.
TILE_BATCH = 4


class BadUpload(ValueError):
    """An upload the model cannot take; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Upload:
    """A decoded upload: the model's input values (bands, H, W) and the image's grid."""

    values: np.ndarray
    crs: CRS | None
    transform: Affine

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.values.shape[1]), int(self.values.shape[2])


def expected_input(card: ModelCard) -> str:
    """What a model wants to receive, in words."""
    if card.preprocessing != "none":
        return (
            f"a 3-band red, green, blue GeoTIFF as SCANEO's {card.preprocessing} preprocessing "
            "sends it (uint8, or float 0..1)"
        )
    return (
        f"a GeoTIFF with bands {', '.join(card.bands)} (matched {card.to_dict()['band_mapping']})"
    )


def read_upload(data: bytes, card: ModelCard, max_pixels: int) -> Upload:
    """Decode an uploaded GeoTIFF into the values ``card``'s model takes."""
    if not data:
        raise BadUpload(400, f"the upload is empty: send {expected_input(card)} in field 'image'")
    if not data.startswith(TIFF_SIGNATURES):
        what = next((name for sig, name in OTHER_FORMATS.items() if data.startswith(sig)), None)
        raise BadUpload(
            415,
            f"the upload is {what or 'not a TIFF file'}; the API expects {expected_input(card)}",
        )
    try:
        with MemoryFile(data) as memory, memory.open() as dataset:
            if dataset.width * dataset.height > max_pixels:
                raise BadUpload(
                    413,
                    f"the image has {dataset.width} x {dataset.height} px, more than the "
                    f"server's limit of {max_pixels} px: send a smaller window",
                )
            values = read_model_input(dataset, card, source="the upload")
            crs, transform = dataset.crs, dataset.transform
    except BadUpload:
        raise
    except RasterioError as err:
        raise BadUpload(
            400,
            f"the upload is a damaged or unreadable GeoTIFF ({err}); send {expected_input(card)}",
        ) from None
    except ValueError as err:  # bands that do not map, digital numbers without a scale
        raise BadUpload(422, f"{err}; the model expects {expected_input(card)}") from None
    fill = card.fill_values.reshape(-1, 1, 1)
    values = np.where(np.isfinite(values), values, fill).astype(np.float32)
    return Upload(values, crs, transform)


def _smallest_input(card: ModelCard) -> int:
    """The smallest height/width the ONNX graph takes (see ``export_onnx``)."""
    return card.multiple if card.multiple > 1 else 8


def _padded(size: int, card: ModelCard) -> int:
    return max(_smallest_input(card), math.ceil(size / card.multiple) * card.multiple)


def segment(
    session: ort.InferenceSession,
    card: ModelCard,
    values: np.ndarray,
    tile_size: int = TILE_SIZE,
    margin: int = TILE_MARGIN,
) -> np.ndarray:
    """The (H, W) uint8 class-index map of ``values`` (bands, H, W) on exactly the same grid.

    An image up to ``tile_size`` is padded (mirrored) to the model's multiple and cropped back;
    a larger one is cut into ``tile_size`` tiles that overlap by ``2 * margin`` px, and each tile
    keeps its centre.
    """
    height, width = values.shape[1:]
    step = card.multiple
    tile = max(_padded(tile_size, card), step)
    margin = math.ceil(margin / step) * step if tile > 4 * margin else 0
    normalised = card.normalise(values)
    if height <= tile and width <= tile:
        padded = _pad(normalised, _padded(height, card), _padded(width, card), 0)
        return _argmax(session, padded[None])[0, :height, :width]
    core = tile - 2 * margin
    rows, cols = math.ceil(height / core), math.ceil(width / core)
    padded = _pad(normalised, rows * core + 2 * margin, cols * core + 2 * margin, margin)
    mask = np.zeros((rows * core, cols * core), np.uint8)
    origins = [(r * core, c * core) for r in range(rows) for c in range(cols)]
    for start in range(0, len(origins), TILE_BATCH):
        batch = origins[start : start + TILE_BATCH]
        tiles = np.stack([padded[:, y : y + tile, x : x + tile] for y, x in batch])
        for (y, x), labels in zip(batch, _argmax(session, tiles), strict=True):
            mask[y : y + core, x : x + core] = labels[
                margin : margin + core, margin : margin + core
            ]
    return mask[:height, :width]


def classify(session: ort.InferenceSession, card: ModelCard, values: np.ndarray) -> list[float]:
    """Per-class scores (in output-index order) of the whole image, resized to the model's
    input size as in training evaluation; softmax, or sigmoid for a multi-label model."""
    image = resize_image(values, card.input_size)[None]
    (logits,) = session.run(["classification"], {"input": card.normalise(image)})
    return [float(v) for v in card.scores(logits[0])]


def resize_image(values: np.ndarray, size: int) -> np.ndarray:
    """(bands, H, W) values resized to ``size`` px as training evaluation resizes a batch
    (:func:`eotdl_tutorials.data.resize_to`: bilinear, antialiased, width then height) within
    float32 rounding, in NumPy; unchanged if already that size."""
    if values.shape[-2:] == (size, size):
        return values
    wide = np.einsum("chw,vw->chv", values, _antialiased_weights(values.shape[2], size))
    resized = np.einsum("chv,uh->cuv", wide, _antialiased_weights(values.shape[1], size))
    return resized.astype(np.float32)


def _antialiased_weights(source: int, size: int) -> np.ndarray:
    """(size, source) weights of PyTorch's antialiased bilinear resampling along one axis: a
    triangle filter widened by the scale when shrinking, normalised over the taps it covers."""
    scale = source / size
    support, stretch = (scale, 1 / scale) if scale >= 1 else (1.0, 1.0)
    weights = np.zeros((size, source))
    for i in range(size):
        centre = scale * (i + 0.5)
        first, end = max(int(centre - support + 0.5), 0), min(int(centre + support + 0.5), source)
        taps = np.arange(first, end)
        row = np.clip(1 - np.abs((taps - centre + 0.5) * stretch), 0, None)
        weights[i, first:end] = row / row.sum() if row.sum() else row
    return weights


def mask_geotiff(mask: np.ndarray, crs: CRS | None, transform: Affine) -> bytes:
    """A single-band uint8 GeoTIFF of ``mask`` with the given grid."""
    profile = {
        "driver": "GTiff", "height": mask.shape[0], "width": mask.shape[1], "count": 1,
        "dtype": "uint8", "crs": crs, "transform": transform, "compress": "deflate",
    }  # fmt: skip
    with MemoryFile() as memory:
        with memory.open(**profile) as dataset:
            dataset.write(mask, 1)
        return bytes(memory.read())


def _pad(values: np.ndarray, height: int, width: int, before: int) -> np.ndarray:
    after = (height - before - values.shape[1], width - before - values.shape[2])
    widths = ((0, 0), (before, after[0]), (before, after[1]))
    return np.pad(values, widths, mode="symmetric")


def _argmax(session: ort.InferenceSession, batch: np.ndarray) -> np.ndarray:
    (logits,) = session.run(["segmentation"], {"input": np.ascontiguousarray(batch)})
    return logits.argmax(axis=1).astype(np.uint8)
