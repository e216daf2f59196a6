"""STAC: read Earth Search v1 and Planetary Computer items alike, serve a world's items as a local
STAC API (``rustac serve``, or pgstac behind stac-fastapi-pgstac), and search APIs,
stac-geoparquet and JSON files with one call."""

from eotdl_tutorials.stac.conventions import (
    FRAME_FIELDS,
    asset_href,
    cloud_cover,
    find_asset_key,
    item_datetime,
    item_epsg,
    items_to_frame,
    reflectance_scale_offset,
)
from eotdl_tutorials.stac.search import (
    ItemSource,
    RequestCounter,
    RetryPolicy,
    href_signer,
    needs_signing,
    open_source,
    parse_datetime,
    search_item_dicts,
    search_items,
    search_parameters,
    search_scenes,
    split_search,
    split_windows,
)
from eotdl_tutorials.stac.server import BACKENDS, LocalStacApi, PortInUseError, serve_forever

__all__ = [
    "BACKENDS",
    "FRAME_FIELDS",
    "ItemSource",
    "LocalStacApi",
    "PortInUseError",
    "RequestCounter",
    "RetryPolicy",
    "asset_href",
    "cloud_cover",
    "find_asset_key",
    "item_datetime",
    "item_epsg",
    "href_signer",
    "items_to_frame",
    "needs_signing",
    "open_source",
    "parse_datetime",
    "reflectance_scale_offset",
    "search_item_dicts",
    "search_items",
    "search_parameters",
    "search_scenes",
    "serve_forever",
    "split_search",
    "split_windows",
]
