"""eotdl-tutorials: the helper package of the EOTDL deep-learning course.

The package reads like the pipeline: ``world`` (the offline sample Earth) -> ``stac`` (items,
search, a local API) -> ``matching`` -> ``tiling`` -> ``data`` -> ``models``/``training`` ->
``serving``, with the ``cli`` on top. Each stage draws its figures in its own ``figures`` module
over the stage-free ``display`` helpers; no stage's ``__init__`` imports them.
"""

from eotdl_tutorials.profiles import PROFILES, data_dir

__version__ = "0.1.0"

__all__ = ["PROFILES", "__version__", "data_dir"]
