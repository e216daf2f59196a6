"""What each sensor's chip holds: bands, data type, pixel size and how to read its values.

These are the ``sensors`` entries of the chip store's ``meta.json`` (see the team's chip-store
contract): physical value = DN * scale + offset.
"""

from __future__ import annotations

from dataclasses import dataclass

from eotdl_tutorials.facts.sensors import (
    HR_BAND_NAMES,
    HR_SCALE,
    S1_POLARIZATIONS,
    S2_BANDS,
    S2_L2A_OFFSET,
    S2_L2A_SCALE,
)


@dataclass(frozen=True)
class SensorSpec:
    """One sensor of the chip store."""

    name: str
    bands: tuple[str, ...]
    dtype: str
    gsd: float
    scale: float
    offset: float
    nodata: float | None
    units: str

    def meta(self, height: int, width: int) -> dict:
        """The ``meta.json`` entry of this sensor for chips of ``height`` x ``width`` pixels."""
        return {
            "bands": list(self.bands),
            "dtype": self.dtype,
            "shape": [len(self.bands), height, width],
            "gsd": self.gsd,
            "scale": self.scale,
            "offset": self.offset,
            "nodata": self.nodata,
            "units": self.units,
        }


SENSORS: dict[str, SensorSpec] = {
    "hr": SensorSpec("hr", HR_BAND_NAMES, "uint16", 1.0, HR_SCALE, 0.0, 0, "reflectance"),
    "s2": SensorSpec(
        "s2",
        tuple(b.common_name for b in S2_BANDS),
        "uint16",
        10.0,
        S2_L2A_SCALE,
        S2_L2A_OFFSET,
        0,
        "reflectance",
    ),
    # sigma0 in dB; chips with no-data pixels are skipped, so no no-data value is needed
    "s1": SensorSpec("s1", S1_POLARIZATIONS, "float32", 10.0, 1.0, 0.0, None, "sigma0_db"),
}
