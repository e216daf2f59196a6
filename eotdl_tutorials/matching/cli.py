"""What the ``match`` command needs besides :func:`~eotdl_tutorials.matching.match`."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


@contextlib.contextmanager
def open_match_source(source: str | None, world: str | None) -> Iterator[tuple[str | None, str]]:
    """``(default footprints, STAC source)``: ``source`` as given, or a local STAC API started
    over ``world`` (stopped on exit); the world's EarthView index is the default footprints."""
    if source is None and world is None:
        raise ValueError("say where the scenes are: --source URL_OR_FILE, or --world FOLDER")
    footprints = None
    if world is not None:
        from eotdl_tutorials.world import open_world

        footprints = str(open_world(world).earthview_index)
    if source is not None:
        yield footprints, source
        return
    from eotdl_tutorials.stac import LocalStacApi

    with LocalStacApi(world) as api:
        yield footprints, api.url
