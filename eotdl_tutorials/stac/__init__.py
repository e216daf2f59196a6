"""STAC: read Earth Search v1 and Planetary Computer items alike, serve a world's items as a local
STAC API (``rustac serve``, or pgstac behind stac-fastapi-pgstac), and search APIs,
stac-geoparquet and JSON files with one call."""

from eotdl_tutorials.stac.api_io import RequestCounter, RetryPolicy
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
from eotdl_tutorials.stac.dates import parse_datetime
from eotdl_tutorials.stac.search import search_item_dicts, search_items, search_parameters
from eotdl_tutorials.stac.server import (
    BACKENDS,
    LocalStacApi,
    PortInUseError,
    serve_forever,
)
from eotdl_tutorials.stac.signing import href_signer, needs_signing
from eotdl_tutorials.stac.sources import ItemSource, open_source

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
    "serve_forever",
]
