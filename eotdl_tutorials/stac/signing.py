"""Planetary Computer signing: which sources' asset hrefs get a SAS token, and the signer.

Asset hrefs of the Planetary Computer point at private Azure Blob Storage: they are read with a
short-lived SAS token added to each href. Earth Search's hrefs are public and never signed.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: Hosts whose item hrefs must be signed (Microsoft Planetary Computer's STAC API).
SIGNING_HOSTS = ("planetarycomputer.microsoft.com",)


def needs_signing(url: str | Path, sign: bool | None = None) -> bool:
    """Whether the item hrefs of the STAC API at ``url`` get signed: ``sign`` when it is given,
    else whether the API is the Planetary Computer's (:data:`SIGNING_HOSTS`)."""
    if sign is not None:
        return bool(sign)
    host = urllib.parse.urlsplit(str(url)).hostname or ""
    return any(host == h or host.endswith(f".{h}") for h in SIGNING_HOSTS)


def href_signer() -> Callable[[Any], Any]:
    """The Planetary Computer's in-place signer (``planetary_computer.sign_inplace``): adds a
    SAS token (fetched once per storage container, cached until it nearly expires) to every
    asset href of an item, a page of items or a collection."""
    try:
        import planetary_computer
    except ImportError:
        raise ImportError(
            "signing Planetary Computer hrefs needs the planetary-computer package: "
            "pip install planetary-computer"
        ) from None
    return planetary_computer.sign_inplace
