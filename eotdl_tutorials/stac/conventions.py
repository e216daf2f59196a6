"""Read STAC items of Earth Search v1 and Planetary Computer through one normalised view.

The two catalogues serve the same Sentinel products under different conventions: Earth Search v1
names assets by band common name (``red``, ``nir08``, ``scl``), Planetary Computer by band name
(``B04``, ``B8A``, ``SCL``); Earth Search describes the L2A offset with ``raster:bands`` and
``earthsearch:boa_offset_applied``, Planetary Computer only with ``s2:processing_baseline``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pystac
import shapely
import shapely.geometry

from eotdl_tutorials.facts.sensors import (
    S1_POLARIZATIONS,
    S2_BAND_BY_NAME,
    S2_BANDS,
    S2_EARTH_SEARCH_TO_PC,
    S2_L2A_OFFSET,
    S2_L2A_SCALE,
)

ItemLike = pystac.Item | Mapping[str, Any]

#: Asset names that :func:`items_to_frame` looks up in every item (those found become columns
#: of the ``assets`` dict): the S2 bands by common name, SCL, the S1 polarisations, and the
#: multi-band ``visual`` (S2 true colour) and ``analytic`` (Satellogic) assets.
FRAME_ASSET_NAMES: tuple[str, ...] = (
    *(band.common_name for band in S2_BANDS),
    "scl",
    *S1_POLARIZATIONS,
    "visual",
    "analytic",
)

FRAME_COLUMNS = (
    "id",
    "collection",
    "datetime",
    "geometry",
    "epsg",
    "cloud_cover",
    "platform",
    "orbit_state",
    "assets",
)

#: The parts of an item that :func:`items_to_frame` and :func:`reflectance_scale_offset` read
#: (a search through an API with the ``fields`` extension asks for these only).
FRAME_FIELDS: tuple[str, ...] = (
    "type",
    "stac_version",
    "id",
    "collection",
    "bbox",
    "geometry",
    "assets",
    *(
        f"properties.{name}"
        for name in (
            "datetime",
            "start_datetime",
            "end_datetime",
            "eo:cloud_cover",
            "platform",
            "sat:orbit_state",
            "proj:epsg",
            "proj:code",
            "earthsearch:boa_offset_applied",
            "s2:processing_baseline",
        )
    ),
)


def item_dict(item: ItemLike) -> Mapping[str, Any]:
    """The item as a GeoJSON dict; ValueError if ``item`` is not a STAC item."""
    if isinstance(item, pystac.Item):
        return item.to_dict(include_self_link=False, transform_hrefs=False)
    if isinstance(item, dict | Mapping):
        kind = item.get("type")
        if (
            kind == "Feature"
            and "id" in item
            and isinstance(item.get("properties"), dict | Mapping)
        ):
            return item
        if kind == "FeatureCollection":
            raise ValueError(
                "got a FeatureCollection, not a STAC item: pass its 'features' one by one"
            )
        described = f"a dict with type {kind!r} and keys {sorted(item)[:8]}"
    else:
        described = f"a {type(item).__name__}"
    raise ValueError(
        f"not a STAC item: expected a pystac.Item or a GeoJSON Feature dict with 'id' and "
        f"'properties', got {described}"
    )


def _band_labels(asset: Mapping[str, Any]) -> set[str]:
    """Names and common names of a single-band asset (``eo:bands`` or STAC 1.1 ``bands``)."""
    bands = asset.get("eo:bands") or asset.get("bands") or []
    if len(bands) != 1:
        return set()
    return {
        bands[0][field] for field in ("common_name", "eo:common_name", "name") if field in bands[0]
    }


def _asset_keys(data: Mapping[str, Any], names: Iterable[str]) -> dict[str, str]:
    """Asset key of each band name found in an item dict (see :func:`find_asset_key`)."""
    assets: Mapping[str, Any] = data.get("assets") or {}
    found: dict[str, str] = {}
    missing: dict[str, set[str]] = {}
    for name in names:
        common_name = S2_BAND_BY_NAME[name].common_name if name in S2_BAND_BY_NAME else name.lower()
        pc_key = S2_EARTH_SEARCH_TO_PC.get(common_name)
        key = next((k for k in (common_name, pc_key, name) if k is not None and k in assets), None)
        if key is not None:
            found[name] = key
        else:
            missing[name] = {common_name, pc_key or common_name}
    if missing:  # look in the single-band assets not taken by a band found by its key
        taken = set(found.values())
        labelled = {key: _band_labels(asset) for key, asset in assets.items() if key not in taken}
        for name, labels in missing.items():
            matches = [key for key, asset_labels in labelled.items() if labels & asset_labels]
            if len(matches) == 1:
                found[name] = matches[0]
    return found


def find_asset_key(item: ItemLike, name: str) -> str | None:
    """The asset key holding band ``name`` (common name like ``red``, or ``B04``), or None.

    Tries the Earth Search key (the common name), the Planetary Computer key (``B04``), then the
    single-band assets whose ``eo:bands``/``bands`` declare that common name or band name.
    """
    return _asset_keys(item_dict(item), [name]).get(name)


def _require_asset_key(data: Mapping[str, Any], name: str) -> str:
    key = _asset_keys(data, [name]).get(name)
    if key is None:
        raise ValueError(
            f"item {data['id']!r} has no asset for band {name!r} "
            f"(its asset keys: {', '.join(sorted(data.get('assets') or {})) or 'none'})"
        )
    return key


def asset_href(item: ItemLike, common_name: str) -> str:
    """The href of the asset holding band ``common_name`` (as stored in the item).

    Works with Earth Search v1 keys (``red``, ``scl``, ``vv``) and Planetary Computer keys
    (``B04``, ``SCL``, ``vv``); ValueError naming the item's asset keys when no asset matches.
    """
    data = item_dict(item)
    return data["assets"][_require_asset_key(data, common_name)]["href"]


def _baseline(properties: Mapping[str, Any]) -> float | None:
    value = properties.get("s2:processing_baseline")
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"s2:processing_baseline {value!r} is not a number like '05.00'") from None


def reflectance_scale_offset(item: ItemLike, common_name: str) -> tuple[float, float]:
    """``(scale, offset)`` such that reflectance = DN * scale + offset for a Sentinel-2 band.

    Order of evidence:

    1. ``earthsearch:boa_offset_applied`` true: Earth Search removed the +1000 DN offset, so the
       offset is 0 (its ``raster:bands`` offset was at times left at -0.1 in error; the flag is
       the reference, see github.com/Element84/earth-search/issues/9);
    2. the asset's ``raster:bands`` ``scale``/``offset``;
    3. ``s2:processing_baseline`` (Planetary Computer): 1e-4 and -0.1 from baseline 04.00 on,
       1e-4 and 0 before.

    ValueError when the item carries none of these (e.g. a Sentinel-1 item).
    """
    data = item_dict(item)
    properties = data["properties"]
    asset = data["assets"][_require_asset_key(data, common_name)]
    band = (asset.get("raster:bands") or [{}])[0]
    has_raster_scale = "scale" in band or "offset" in band
    if properties.get("earthsearch:boa_offset_applied") is True:
        return float(band.get("scale", S2_L2A_SCALE)), 0.0
    if has_raster_scale:
        return float(band.get("scale", 1.0)), float(band.get("offset", 0.0))
    baseline = _baseline(properties)
    if baseline is not None:
        return S2_L2A_SCALE, (S2_L2A_OFFSET if baseline >= 4.0 else 0.0)
    raise ValueError(
        f"item {data['id']!r} says nothing about the scaling of band {common_name!r}: it has no "
        "raster:bands scale/offset and no s2:processing_baseline (is it a Sentinel-2 L2A item?)"
    )


def cloud_cover(item: ItemLike) -> float | None:
    """``eo:cloud_cover`` in percent, or None when the item has none."""
    value = item_dict(item)["properties"].get("eo:cloud_cover")
    return None if value is None else float(value)


def _epsg_of(fields: Mapping[str, Any]) -> int | None:
    if fields.get("proj:epsg") is not None:
        return int(fields["proj:epsg"])
    code = fields.get("proj:code")
    if isinstance(code, str) and code.upper().startswith("EPSG:"):
        return int(code.split(":", 1)[1])
    return None


def item_epsg(item: ItemLike) -> int | None:
    """The item's EPSG code from ``proj:epsg`` or ``proj:code`` (properties, then assets)."""
    data = item_dict(item)
    epsg = _epsg_of(data["properties"])
    if epsg is not None:
        return epsg
    for asset in (data.get("assets") or {}).values():
        epsg = _epsg_of(asset)
        if epsg is not None:
            return epsg
    return None


def _utc(value: Any) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def item_datetime(item: ItemLike) -> pd.Timestamp:
    """The item's UTC time: ``datetime``, else the middle of start_datetime and end_datetime."""
    data = item_dict(item)
    properties = data["properties"]
    if properties.get("datetime"):
        return _utc(properties["datetime"])
    start, end = properties.get("start_datetime"), properties.get("end_datetime")
    if start and end:
        start_utc = _utc(start)
        return start_utc + (_utc(end) - start_utc) / 2
    if start or end:
        return _utc(start or end)
    raise ValueError(f"item {data['id']!r} has no datetime nor start_datetime/end_datetime")


def _frame_row(data: Mapping[str, Any]) -> dict[str, Any]:
    properties = data["properties"]
    keys = _asset_keys(data, FRAME_ASSET_NAMES)
    cover = cloud_cover(data)
    return {
        "id": data["id"],
        "collection": data.get("collection"),
        "datetime": properties.get("datetime"),
        "geometry": data.get("geometry"),
        "epsg": item_epsg(data),
        "cloud_cover": float("nan") if cover is None else cover,
        "platform": properties.get("platform"),
        "orbit_state": properties.get("sat:orbit_state"),
        "assets": {name: data["assets"][key]["href"] for name, key in keys.items()},
    }


def _is_simple_polygon(geometry: Any) -> bool:
    return (
        isinstance(geometry, Mapping)
        and geometry.get("type") == "Polygon"
        and len(geometry.get("coordinates") or ()) == 1
    )


def _geojson_geometries(geometries: Sequence[Mapping[str, Any] | None]) -> np.ndarray:
    """Shapely geometries of GeoJSON dicts (None stays None), built in one call for the common
    case of polygons without holes (scene footprints), one by one for anything else."""
    out = np.full(len(geometries), None, dtype=object)
    simple = [i for i, g in enumerate(geometries) if _is_simple_polygon(g)]
    if simple:
        rings = [np.asarray(geometries[i]["coordinates"][0], dtype=float)[:, :2] for i in simple]
        ring_offsets = np.concatenate([[0], np.cumsum([len(r) for r in rings])])
        out[simple] = shapely.from_ragged_array(
            shapely.GeometryType.POLYGON,
            np.concatenate(rings),
            (ring_offsets, np.arange(len(rings) + 1)),
        )
    for i, geometry in enumerate(geometries):
        if geometry and out[i] is None:
            out[i] = shapely.geometry.shape(geometry)
    return out


def items_to_frame(items: Iterable[ItemLike]) -> gpd.GeoDataFrame:
    """One row per item (EPSG:4326): id, collection, datetime (UTC), geometry, epsg,
    cloud_cover (NaN when absent), platform, orbit_state (``sat:orbit_state`` or None) and
    assets (band common name -> href, for the bands of :data:`FRAME_ASSET_NAMES` found)."""
    data = [item_dict(item) for item in items]
    frame = pd.DataFrame([_frame_row(d) for d in data], columns=list(FRAME_COLUMNS))
    frame["geometry"] = _geojson_geometries(frame["geometry"].tolist())
    stamps = pd.to_datetime(frame["datetime"], utc=True, format="ISO8601")
    for i in np.flatnonzero(stamps.isna().to_numpy()):  # start_datetime/end_datetime items
        stamps.iloc[i] = item_datetime(data[i])
    frame["datetime"] = stamps
    frame["epsg"] = frame["epsg"].astype("Int64")
    frame["cloud_cover"] = frame["cloud_cover"].astype(float)
    return gpd.GeoDataFrame(frame, geometry="geometry", crs="EPSG:4326")
