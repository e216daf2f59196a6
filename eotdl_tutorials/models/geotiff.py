"""Read a GeoTIFF as the input of an exported model (the values its card says it takes).

The file's bands are mapped to the model's (:func:`~eotdl_tutorials.models.bands.match_bands`),
or, for a model expecting SCANEO's RGB preprocessing, read as SCANEO sends them
(:func:`~eotdl_tutorials.models.bands.rgb_values`).

Digital numbers become the model's units with the file's own scale/offset tags when it has them,
else: float files are taken as physical values, 13-band L1C as ``DN / 10000`` (EuroSAT predates
the +1000 offset), other integer files as the model's training data (the card's
``dn_scale``/``dn_offset``, e.g. L2A since processing baseline 04.00: ``DN / 10000 - 0.1``);
a ``scale`` or ``offset`` argument replaces its part of that (``offset=0`` for an L2A export
without the +1000 offset, as Earth Search's COGs and most downloads are).

Where the file cannot tell whether its digital numbers carry the card's offset (integers, no
scale/offset tags, no ``offset`` given), the data decide (:func:`carries_offset`): with the L2A
+1000 offset, the darkest band's 1st percentile of valid pixels sits near 1000 or above (dark
water, with noise, dips a little below: its reflectance is about 0); without it, that percentile
is a dark surface's reflectance times 10,000, a few hundred at most for any scene with water or
vegetation. The line is drawn at half the offset (500 DN: a reflectance of -0.05 with the
offset, 0.05 without): below it the file is taken to carry no offset, read with offset 0, and a
warning says so. A scene with no dark surface at all (a desert) stays ambiguous: pass ``offset=``.
"""

from __future__ import annotations

import warnings

import numpy as np
import rasterio

from eotdl_tutorials.models.bands import LAYOUTS_BY_COUNT, match_bands, rgb_values
from eotdl_tutorials.models.card import ModelCard

#: The percentile of a band's valid pixels that :func:`carries_offset` compares with the offset.
DARK_PERCENTILE = 1.0


class OffsetAssumed(UserWarning):
    """The file's digital numbers were read without the model's offset (see the module)."""


def carries_offset(
    raw: np.ndarray, dn_offset: float, dn_scale: float, nodata: float | None
) -> bool:
    """Whether integer digital numbers ``raw`` (bands, height, width) carry an offset of
    ``-dn_offset / dn_scale`` (1000 for L2A): the darkest band's :data:`DARK_PERCENTILE`
    percentile of valid pixels (not 0, not ``nodata``) is at least half of it (see the module)."""
    shift = -dn_offset / dn_scale / 2
    sample = raw[:, ::4, ::4].reshape(len(raw), -1)
    lows = []
    for band in sample:
        valid = band[(band != 0) & (band != (0 if nodata is None else nodata))]
        if valid.size:
            lows.append(np.percentile(valid, DARK_PERCENTILE))
    return not lows or min(lows) >= shift


def _gain_and_shift(
    dataset: rasterio.DatasetReader,
    dtype: np.dtype,
    positions: list[int],
    how: str,
    card: ModelCard,
    scale: float | None,
    offset: float | None,
    raw: np.ndarray,
    source: str,
) -> tuple[np.ndarray | np.float32, np.ndarray | np.float32]:
    tag_scales = np.array([dataset.scales[i] for i in positions], np.float32)
    tag_offsets = np.array([dataset.offsets[i] for i in positions], np.float32)
    if np.any(tag_scales != 1) or np.any(tag_offsets != 0):
        return tag_scales, tag_offsets
    if np.issubdtype(dtype, np.floating):
        default = (1.0, 0.0)
    elif how == LAYOUTS_BY_COUNT[13][0]:
        default = (1e-4, 0.0)
    elif card.dn_scale is not None:
        default = (card.dn_scale, card.dn_offset or 0.0)
        if (
            offset is None
            and card.dn_offset
            and not carries_offset(raw, card.dn_offset, card.dn_scale, dataset.nodata)
        ):
            default = (card.dn_scale, 0.0)
            warnings.warn(
                OffsetAssumed(
                    f"{source}: its darkest band is below {-card.dn_offset / card.dn_scale / 2:g} "
                    f"in more than {DARK_PERCENTILE:g} % of its pixels, so its digital numbers "
                    "carry no offset (an L2A export without the +1000 offset): read as "
                    f"DN * {card.dn_scale:g}; pass offset= (roads predict --offset) to say "
                    "otherwise"
                ),
                stacklevel=4,
            )
    elif scale is None or offset is None:
        raise ValueError(
            "the file holds integer digital numbers without scale/offset tags: pass scale= and "
            "offset= (physical value = DN * scale + offset)"
        )
    else:
        default = (scale, offset)
    return (  # a scale or offset given alone keeps the other's default
        np.float32(default[0] if scale is None else scale),
        np.float32(default[1] if offset is None else offset),
    )


def read_model_input(
    dataset: rasterio.DatasetReader,
    card: ModelCard,
    scale: float | None = None,
    offset: float | None = None,
    source: str = "the file",
) -> np.ndarray:
    """The (bands, height, width) float32 values the model of ``card`` takes, from an open
    GeoTIFF (before normalisation). Nodata pixels get the card's fill values."""
    if card.preprocessing != "none":
        return rgb_values(dataset.read(), source)
    positions, how = match_bands(dataset.descriptions, card.bands, source)
    raw = dataset.read([i + 1 for i in positions])
    gain, shift = _gain_and_shift(
        dataset, raw.dtype, positions, how, card, scale, offset, raw, source
    )
    values = raw.astype(np.float32) * np.reshape(gain, (-1, 1, 1)) + np.reshape(shift, (-1, 1, 1))
    if dataset.nodata is not None:
        values = np.where(raw == dataset.nodata, card.fill_values.reshape(-1, 1, 1), values)
    return values
