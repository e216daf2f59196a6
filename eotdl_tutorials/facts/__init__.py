"""Facts every stage reads: the class legends, the surface spectra and backscatter with their
published ranges, the sensors' band tables and the UTM grid names.

They sit below the world (``world`` renders with them; tiling, data, models and figures label and
read with them), so no later stage has to import the world to know what a band or class is.
"""

from eotdl_tutorials.facts.classes import CLASSES, PARCEL_CLASSES
from eotdl_tutorials.facts.grids import latitude_band, utm_epsg, zone_epsg, zone_name
from eotdl_tutorials.facts.sensors import scl_cloud_percent

__all__ = [
    "CLASSES",
    "PARCEL_CLASSES",
    "latitude_band",
    "scl_cloud_percent",
    "utm_epsg",
    "zone_epsg",
    "zone_name",
]
