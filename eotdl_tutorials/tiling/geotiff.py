"""A small, fast GeoTIFF writer for chips: uncompressed, one strip per band, EPSG CRS.

Creating a GeoTIFF through GDAL costs milliseconds, more than reading a chip's window from an
open COG, so the tiler writes its chips directly: a little-endian baseline TIFF with planar
bands, the GeoTIFF tags (pixel scale, tie point, an EPSG projected CRS) and GDAL's own tags for
no-data, metadata items and band descriptions. GDAL/rasterio read it like any GeoTIFF (the tests
check CRS, transform, no-data, tags, descriptions and pixels).
"""

from __future__ import annotations

import struct
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np
from affine import Affine

_SHORT, _LONG, _DOUBLE, _ASCII = 3, 4, 12, 2
_TYPE_CODE = {_SHORT: "H", _LONG: "I", _DOUBLE: "d"}
#: TIFF SampleFormat: 1 unsigned integer, 2 signed integer, 3 floating point.
_SAMPLE_FORMAT = {"u": 1, "i": 2, "f": 3}


def _gdal_metadata(tags: dict[str, str], descriptions: list[str]) -> str:
    """GDAL's metadata XML; GDAL escapes values twice (its own escaping, then the XML's)."""
    items = [f'<Item name="{escape(k)}">{escape(escape(v))}</Item>' for k, v in tags.items()]
    items += [
        f'<Item name="DESCRIPTION" sample="{i}" role="description">{escape(escape(d))}</Item>'
        for i, d in enumerate(descriptions)
    ]
    return "<GDALMetadata>" + "".join(items) + "</GDALMetadata>"


def write_geotiff(
    path: str | Path,
    data: np.ndarray,
    transform: Affine,
    epsg: int,
    nodata: float | None = None,
    tags: dict[str, str] | None = None,
    descriptions: list[str] | None = None,
) -> None:
    """Write ``data`` (bands, height, width) as a north-up GeoTIFF in projected CRS ``epsg``."""
    bands, height, width = data.shape
    if transform.b != 0 or transform.d != 0 or transform.e >= 0:
        raise ValueError("write_geotiff writes north-up grids only")
    data = np.ascontiguousarray(data, dtype=data.dtype.newbyteorder("<"))
    band_bytes = height * width * data.dtype.itemsize
    entries: list[tuple[int, int, list | str]] = [
        (256, _LONG, [width]),
        (257, _LONG, [height]),
        (258, _SHORT, [data.dtype.itemsize * 8] * bands),
        (259, _SHORT, [1]),  # no compression
        (262, _SHORT, [1]),  # min-is-black
        (273, _LONG, [0] * bands),  # strip offsets, filled in below
        (277, _SHORT, [bands]),
        (278, _LONG, [height]),  # one strip per band
        (279, _LONG, [band_bytes] * bands),
        (284, _SHORT, [2]),  # planar: band after band
        (339, _SHORT, [_SAMPLE_FORMAT[data.dtype.kind]] * bands),
        (33550, _DOUBLE, [transform.a, -transform.e, 0.0]),
        (33922, _DOUBLE, [0.0, 0.0, 0.0, transform.c, transform.f, 0.0]),
        # GeoKeys: version 1.1.0, 3 keys: projected model, pixel-is-area, EPSG code
        (34735, _SHORT, [1, 1, 0, 3, 1024, 0, 1, 1, 1025, 0, 1, 1, 3072, 0, 1, int(epsg)]),
        (42112, _ASCII, _gdal_metadata(tags or {}, descriptions or [])),
    ]
    if nodata is not None:
        entries.append(
            (42113, _ASCII, repr(float(nodata)) if data.dtype.kind == "f" else str(int(nodata)))
        )
    entries.sort(key=lambda entry: entry[0])
    ifd_offset = 8
    ifd_size = 2 + 12 * len(entries) + 4
    extra = bytearray()  # values that do not fit in 4 bytes, after the IFD
    raw_entries = []
    for tag, kind, values in entries:
        if kind == _ASCII:
            payload = values.encode() + b"\0"
            count = len(payload)
        else:
            payload = struct.pack(f"<{len(values)}{_TYPE_CODE[kind]}", *values)
            count = len(values)
        raw_entries.append((tag, kind, count, payload))
    data_start = (
        ifd_offset + ifd_size + sum(len(p) + len(p) % 2 for _, _, _, p in raw_entries if len(p) > 4)
    )
    offsets = [data_start + b * band_bytes for b in range(bands)]
    ifd = bytearray(struct.pack("<H", len(raw_entries)))
    for tag, kind, count, payload in raw_entries:
        if tag == 273:
            payload = struct.pack(f"<{bands}I", *offsets)
        if len(payload) <= 4:
            ifd += struct.pack("<HHI", tag, kind, count) + payload.ljust(4, b"\0")
        else:
            ifd += struct.pack("<HHII", tag, kind, count, ifd_offset + ifd_size + len(extra))
            extra += payload + (b"\0" if len(payload) % 2 else b"")
    ifd += struct.pack("<I", 0)  # no next IFD
    with open(path, "wb") as out:
        out.write(b"II*\0" + struct.pack("<I", ifd_offset))
        out.write(ifd)
        out.write(extra)
        out.write(data.tobytes())
