"""Run profiles shared by every notebook, and where the course keeps its data.

Every notebook has a ``profile`` parameter with one of these names (papermill ``-p profile ...``):

- ``ci``: what the tests and CI run; each notebook under 90 s on 2 CPU cores.
- ``default``: what the book shows; meaningful results in at most 10 min per notebook on 2 cores.
- ``full``: a GPU and real data (Earth Search, Planetary Computer, the EarthView index);
  documented, not run here.
"""

from __future__ import annotations

import os
from pathlib import Path

PROFILES = ("ci", "default", "full")

#: The sample world each notebook profile reads (``full`` reads real catalogues instead).
WORLD_PROFILE = {"ci": "ci", "default": "default", "full": None}


def check_profile(profile: str) -> str:
    """Return ``profile`` if it is a known run profile, else raise a clear ``ValueError``."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}: use one of {', '.join(PROFILES)}")
    return profile


def data_dir() -> Path:
    """The folder that holds sample worlds and derived datasets.

    ``$EOTDL_TUTORIALS_DATA`` when set (the Makefile points it at ``data/`` in the project),
    else ``~/.cache/eotdl-tutorials``.
    """
    env = os.environ.get("EOTDL_TUTORIALS_DATA")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "eotdl-tutorials"


def progress_bars() -> bool:
    """Whether long steps show progress bars: yes in JupyterLab or a terminal, no in a batch run.

    A batch run (papermill in ``make course`` and the tests) sets ``EOTDL_TUTORIALS_BATCH=1``:
    its notebooks are read as a book, where a progress bar is a frozen, empty widget, so the
    notebooks print a one-line summary of the step instead.
    """
    return os.environ.get("EOTDL_TUTORIALS_BATCH", "") not in ("1", "true", "yes")
