"""The card of an exported model: what it does, what it reads and what its outputs mean.

A card is written as ``model.json`` in the model folder (with the facts to rebuild the network)
and says everything a server or a user needs to run the ONNX graph on a GeoTIFF:

- ``task``: ``classification`` (one score per class), ``segmentation`` (one class index per
  pixel), ``multitask`` (both), ``superres`` (an image ``scale_factor`` times larger) or
  ``embedding`` (an encoder);
- ``bands`` and how a GeoTIFF's bands map to them (:func:`~eotdl_tutorials.models.bands.
  band_mapping`), the ``units`` of the values the model takes and how integer digital numbers
  become them (``dn_scale``/``dn_offset``), or the SCANEO ``preprocessing`` the model expects;
- ``normalisation``: applied to those values before the ONNX graph (``z-score`` or ``none``);
- ``input_size`` (training chip size; classification input size) and ``multiple`` (a
  segmentation/super-resolution input's height and width must be multiples of it);
- ``classes`` in label order (part 1's ``spai.json`` order) and the output index convention:
  classification scores at indices 0..K-1; segmentation 0 = no label, class ``i`` at ``i + 1``;
  ``multilabel``: the classification scores are independent (sigmoid: which classes are
  present) rather than one distribution over the classes (softmax).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from eotdl_tutorials.facts.sensors import RGB
from eotdl_tutorials.models.bands import band_mapping, check_preprocessing

TASKS = ("classification", "segmentation", "multitask", "superres", "embedding")
#: The network's outputs (also the ONNX output names), in order, for each task.
TASK_OUTPUTS = {
    "classification": ("classification",),
    "segmentation": ("segmentation",),
    "multitask": ("segmentation", "classification"),  # as smp models with aux_params
    "superres": ("superres",),
    "embedding": ("embedding",),
}
#: What each output holds.
OUTPUT_MEANING = {
    "classification": "class logits (batch, K); softmax (sigmoid if multilabel) gives scores",
    "segmentation": "logits (batch, K + 1, height, width); argmax gives the class index map",
    "superres": "the image (batch, bands, scale * height, scale * width) in the input's units",
    "embedding": "one embedding (batch, D) per image",
}
NO_LABEL = "no label"
CLASSIFICATION_CONVENTION = "score i belongs to class i (classes in label order, from 0)"
SEGMENTATION_CONVENTION = "0 = no label; class i (label order, from 0) has index i + 1"
NORMALISATIONS = ("z-score", "none")


@dataclass(frozen=True)
class ModelCard:
    """What an exported model does and reads (see the module docstring)."""

    name: str
    task: str
    arch: str
    bands: tuple[str, ...]
    input_size: int
    units: str = "reflectance"
    normalisation: dict[str, Any] = field(default_factory=lambda: {"type": "none"})
    multiple: int = 1
    classes: tuple[str, ...] = ()
    preprocessing: str = "none"
    dn_scale: float | None = None
    dn_offset: float | None = None
    scale_factor: int | None = None
    multilabel: bool = False
    description: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "bands", tuple(self.bands))
        object.__setattr__(self, "classes", tuple(self.classes))
        if self.task not in TASKS:
            raise ValueError(f"unknown task {self.task!r}: use one of {', '.join(TASKS)}")
        check_preprocessing(self.preprocessing)
        if not self.bands:
            raise ValueError("a model card needs the bands the model reads")
        if self.preprocessing != "none" and self.bands != RGB:
            raise ValueError(
                f"a model expecting SCANEO's {self.preprocessing} reads red, green, blue; "
                f"the card says {', '.join(self.bands)}"
            )
        if self.task in ("classification", "segmentation", "multitask") and len(self.classes) < 2:
            raise ValueError(f"a {self.task} model needs at least 2 classes in label order")
        if len(set(self.classes)) != len(self.classes) or NO_LABEL in self.classes:
            raise ValueError(f"class names must be distinct and not {NO_LABEL!r}")
        if self.task == "superres" and not (self.scale_factor and self.scale_factor > 1):
            raise ValueError("a super-resolution model card needs scale_factor > 1")
        if self.input_size < 1 or self.multiple < 1:
            raise ValueError("input_size and multiple must be positive")
        kind = self.normalisation.get("type")
        if kind not in NORMALISATIONS:
            raise ValueError(f"normalisation type must be one of {', '.join(NORMALISATIONS)}")
        if kind == "z-score":
            mean, std = self.normalisation.get("mean", ()), self.normalisation.get("std", ())
            if not (len(mean) == len(std) == len(self.bands)) or min(std) <= 0:
                raise ValueError("z-score normalisation needs one mean and one std > 0 per band")

    @property
    def outputs(self) -> tuple[str, ...]:
        """The network's outputs in order (also their ONNX names)."""
        return TASK_OUTPUTS[self.task]

    @property
    def endpoints(self) -> tuple[str, ...]:
        """The inference kinds the model answers: classification and/or segmentation."""
        return tuple(out for out in self.outputs if out in ("classification", "segmentation"))

    def output_indices(self, output: str) -> dict[str, int]:
        """Class name -> index in ``output`` ("classification" or "segmentation")."""
        if output == "classification":
            return {name: i for i, name in enumerate(self.classes)}
        if output == "segmentation":
            return {NO_LABEL: 0} | {name: i + 1 for i, name in enumerate(self.classes)}
        raise ValueError(f"{self.name} has no class indices for output {output!r}")

    def scores(self, logits: np.ndarray) -> np.ndarray:
        """Classification scores of (..., K) logits: sigmoid if ``multilabel``, else softmax."""
        logits = logits.astype(np.float64)
        if self.multilabel:
            return 1 / (1 + np.exp(-logits))
        shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
        return shifted / shifted.sum(axis=-1, keepdims=True)

    def normalise(self, values: np.ndarray) -> np.ndarray:
        """Apply the card's normalisation to (..., bands, H, W) values, as float32."""
        values = values.astype(np.float32, copy=False)
        if self.normalisation["type"] == "none":
            return values
        mean = np.asarray(self.normalisation["mean"], np.float32).reshape(-1, 1, 1)
        std = np.asarray(self.normalisation["std"], np.float32).reshape(-1, 1, 1)
        return (values - mean) / std

    @property
    def fill_values(self) -> np.ndarray:
        """Per-band values for nodata pixels: the means (neutral after normalisation), else 0."""
        if self.normalisation["type"] == "z-score":
            return np.asarray(self.normalisation["mean"], np.float32)
        return np.zeros(len(self.bands), np.float32)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, with the derived facts (band mapping, outputs, index conventions)."""
        record = dataclasses.asdict(self)
        record["bands"], record["classes"] = list(self.bands), list(self.classes)
        record["band_mapping"] = band_mapping(self.preprocessing)
        record["outputs"] = {name: OUTPUT_MEANING[name] for name in self.outputs}
        record["output_indices"] = {out: self.output_indices(out) for out in self.endpoints}
        record["index_convention"] = {
            out: CLASSIFICATION_CONVENTION if out == "classification" else SEGMENTATION_CONVENTION
            for out in self.endpoints
        }
        return record

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> ModelCard:
        """The card in a ``model.json`` record (derived and extra keys are ignored)."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in record.items() if key in names})


def z_score(mean: Any, std: Any) -> dict[str, Any]:
    """A z-score normalisation record from per-band means and standard deviations."""
    return {"type": "z-score", "mean": [float(v) for v in mean], "std": [float(v) for v in std]}
