"""The class spectra and backscatter, kept here for code that imported them from the world: they
live in ``eotdl_tutorials.facts.spectra``."""

from eotdl_tutorials.facts.spectra import (  # noqa: F401
    BACKSCATTER_DB,
    HR_FROM_S2,
    SPECTRA,
    crop_greenness,
    deciduous_leaf,
    grass_greenness,
)
