"""SCANEO's label export, both ways: ``spai.json`` plus one ``<image_stem>.geojson`` per image.

SCANEO (EOTDL's labelling tool) exports a campaign as a folder of GeoTIFF images, a
``spai.json`` with the label list (``{"labels": [{"name": ..., "color": ...}]}``) and, beside
each labelled image, a FeatureCollection in EPSG:4326 whose features carry
``properties.label`` and ``properties.task``:

- ``segmentation``: the label's (Multi)Polygon;
- ``classification``: an empty Polygon (the label applies to the whole image);
- ``detection``: a box Polygon and ``properties.bbox``:
  ``[[min_lat, min_lng], [max_lat, max_lng]]``.

Images without a ``.geojson`` are the campaign's unlabelled images (:attr:`ScaneoExport.images`
lists them all). Older SCANEO versions (before its campaigns, 2024) saved another layout, which
:func:`read_scaneo_export` reads too: ``labels.json`` (the same label list) and, beside each
labelled image, ``<image_stem>_labels.geojson`` whose features carry lists,
``properties.labels`` and ``properties.tasks`` (a classification feature is the image's box
with every label it has; ``prompts`` features are SAM's marker points, not labels, and are
skipped). They are read as the current layout: one feature per label and task.

:func:`rasterize_export` burns the segmentation features onto each image's own grid as EOTDL
does: 0 is background (no label) and label ``i`` of ``spai.json`` (0-based) is ``i + 1``.
:func:`write_scaneo_export` goes the other way, from class masks to an export.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import rasterio
import shapely
from pyproj import Transformer
from rasterio import features
from rasterio.warp import transform_bounds

from eotdl_tutorials.files import atomic_path, write_json

LABELS_FILE = "spai.json"
#: The older layout (SCANEO before its campaigns): its label list and its label files' suffix.
LEGACY_LABELS_FILE = "labels.json"
LEGACY_SUFFIX = "_labels.geojson"
#: What an export holds, in words (for error messages).
EXPORT_LAYOUT = (
    f"{LABELS_FILE} and one <image>.geojson per labelled <image>.tif (or SCANEO's older "
    f"{LEGACY_LABELS_FILE} and <image>{LEGACY_SUFFIX})"
)
TASKS = ("segmentation", "classification", "detection")
#: Features of the older layout that are not labels (SAM's marker prompts).
LEGACY_SKIPPED_TASKS = ("prompts",)
#: A geometry may stick out of its image by this many pixels (vertices on the outer edge).
EDGE_TOLERANCE_PX = 1.0
#: Colours given to labels without one (SCANEO stores a CSS hex colour per label).
PALETTE = (
    "#1f77b4",
    "#2ca02c",
    "#ffdd57",
    "#98df8a",
    "#d62728",
    "#c49c94",
    "#7f7f7f",
    "#9467bd",
    "#17becf",
    "#e377c2",
)


class ScaneoFormatError(ValueError):
    """A SCANEO export that cannot be read: the message names the file and what to fix."""


@dataclass(frozen=True)
class ScaneoExport:
    """A SCANEO export read from ``root``: labels in ``spai.json`` order and, per labelled image
    (path relative to ``root``), its FeatureCollection in the current layout (``label`` and
    ``task`` per feature, whichever layout the folder has). ``images``: every GeoTIFF of the
    folder, labelled or not; ``label_files``: the file each image's labels were read from
    (relative to ``root``); ``layout``: ``"spai.json"`` or ``"labels.json"`` (the older one)."""

    root: Path
    labels: tuple[str, ...]
    colors: tuple[str, ...]
    annotations: dict[str, dict]
    images: tuple[str, ...] = ()
    label_files: dict[str, str] = field(default_factory=dict)
    layout: str = LABELS_FILE

    def image_path(self, image: str) -> Path:
        return self.root / image

    def label_path(self, image: str) -> Path:
        """The file the labels of ``image`` were read from."""
        return self.root / self.label_files.get(image, Path(image).with_suffix(".geojson"))

    @property
    def unlabelled(self) -> tuple[str, ...]:
        """The images without labels (no label file beside them)."""
        return tuple(image for image in self.images if image not in self.annotations)

    def code_of(self, label: str) -> int:
        """The mask value of ``label``: its 0-based place in ``spai.json`` plus one."""
        return self.labels.index(label) + 1

    def classification(self, image: str) -> set[str]:
        """The labels of the image's classification features."""
        return {
            f["properties"]["label"]
            for f in self.annotations.get(image, {}).get("features", [])
            if f["properties"]["task"] == "classification"
        }


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ScaneoFormatError(
            f"{path} is not valid JSON ({err.msg}, line {err.lineno})"
        ) from None


def _check_labels(path: Path, spai: dict) -> tuple[tuple[str, ...], tuple[str, ...]]:
    entries = spai.get("labels") if isinstance(spai, dict) else None
    if not isinstance(entries, list) or not entries:
        raise ScaneoFormatError(
            f"{path} lists no labels: it needs {{'labels': [{{'name': ..., 'color': ...}}]}}"
        )
    if not all(isinstance(e, dict) and isinstance(e.get("name"), str) for e in entries):
        raise ScaneoFormatError(f"{path}: every label needs a 'name' (and a 'color')")
    names = tuple(e["name"] for e in entries)
    if len(set(names)) != len(names):
        raise ScaneoFormatError(f"{path} lists a label twice: {', '.join(names)}")
    colors = tuple(str(e.get("color", PALETTE[i % len(PALETTE)])) for i, e in enumerate(entries))
    return names, colors


def _check_features(path: Path, collection: dict, labels: Sequence[str]) -> None:
    if not isinstance(collection, dict) or collection.get("type") != "FeatureCollection":
        raise ScaneoFormatError(f"{path} is not a GeoJSON FeatureCollection")
    for n, feature in enumerate(collection.get("features", [])):
        props = feature.get("properties") or {}
        label, task = props.get("label"), props.get("task")
        if label not in labels:
            raise ScaneoFormatError(
                f"{path}: feature {n} has label {label!r}, which is not in {LABELS_FILE} "
                f"({', '.join(labels)}); add it there or fix the feature"
            )
        if task not in TASKS:
            raise ScaneoFormatError(
                f"{path}: feature {n} has task {task!r}; SCANEO's tasks are {', '.join(TASKS)}"
            )
        if task == "detection" and "bbox" not in props:
            raise ScaneoFormatError(f"{path}: detection feature {n} has no properties.bbox")


def _legacy_features(path: Path, collection: dict, labels: Sequence[str]) -> dict:
    """An older-layout FeatureCollection (``labels`` and ``tasks`` lists) in the current
    layout: one feature per label and task, SAM prompts left out."""
    if not isinstance(collection, dict) or collection.get("type") != "FeatureCollection":
        raise ScaneoFormatError(f"{path} is not a GeoJSON FeatureCollection")
    features = []
    for n, feature in enumerate(collection.get("features", [])):
        props = feature.get("properties") or {}
        names, tasks = props.get("labels"), props.get("tasks")
        if isinstance(names, str):
            names = [names]
        if isinstance(tasks, str):
            tasks = [tasks]
        if not isinstance(names, list) or not isinstance(tasks, list) or not tasks:
            raise ScaneoFormatError(
                f"{path}: feature {n} has no 'labels' and 'tasks' lists (SCANEO's older layout, "
                f"{LEGACY_LABELS_FILE} + <image>{LEGACY_SUFFIX}); is it an export of another tool?"
            )
        for task in tasks:
            if task in LEGACY_SKIPPED_TASKS:
                continue
            for name in names:
                properties = {"label": name, "task": task}
                if task == "detection" and "bbox" in props:
                    properties["bbox"] = props["bbox"]
                if task == "classification":  # the image's box: the label of the whole image
                    geometry = {"type": "Polygon", "coordinates": []}
                else:
                    geometry = feature.get("geometry")
                features.append({"type": "Feature", "geometry": geometry, "properties": properties})
    converted = {"type": "FeatureCollection", "features": features}
    _check_features(path, converted, labels)
    return converted


def _tif_of(label_file: Path, suffix: str) -> Path:
    return label_file.with_name(label_file.name[: -len(suffix)] + ".tif")


def read_scaneo_export(root: str | os.PathLike[str]) -> ScaneoExport:
    """Read and check the SCANEO export in ``root``, in the current layout (``spai.json``,
    ``<image>.geojson``) or the older one (``labels.json``, ``<image>_labels.geojson``), with
    clear errors naming the faulty file."""
    root = Path(root)
    if not root.is_dir():
        raise ScaneoFormatError(
            f"{root} is not a folder: a SCANEO export is a folder of {EXPORT_LAYOUT}"
        )
    legacy = not (root / LABELS_FILE).is_file() and (root / LEGACY_LABELS_FILE).is_file()
    spai_path = root / (LEGACY_LABELS_FILE if legacy else LABELS_FILE)
    if not spai_path.is_file():
        raise ScaneoFormatError(
            f"{root / LABELS_FILE} is missing: {root} is not a SCANEO export (empty or not "
            f"exported yet); an export holds {EXPORT_LAYOUT}"
        )
    labels, colors = _check_labels(spai_path, _read_json(spai_path))
    suffix = LEGACY_SUFFIX if legacy else ".geojson"
    files = sorted(root.rglob(f"*{suffix}"))
    if not files:
        raise ScaneoFormatError(
            f"{root} is an empty export: {spai_path.name} but no {suffix} labels"
        )
    annotations, label_files = {}, {}
    for path in files:
        image = _tif_of(path, suffix)
        if not image.is_file():
            raise ScaneoFormatError(
                f"{path} has no image: {image.name} is missing beside it (SCANEO pairs "
                f"<stem>{suffix} with <stem>.tif)"
            )
        collection = _read_json(path)
        if legacy:
            collection = _legacy_features(path, collection, labels)
        else:
            _check_features(path, collection, labels)
        key = image.relative_to(root).as_posix()
        annotations[key] = collection
        label_files[key] = path.relative_to(root).as_posix()
    images = tuple(sorted(p.relative_to(root).as_posix() for p in root.rglob("*.tif")))
    layout = LEGACY_LABELS_FILE if legacy else LABELS_FILE
    return ScaneoExport(root, labels, colors, annotations, images, label_files, layout)


def _to_image_crs(geometry: shapely.Geometry, crs: rasterio.crs.CRS) -> shapely.Geometry:
    transformer = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    return shapely.transform(geometry, lambda xy: np.column_stack(transformer.transform(*xy.T)))


def rasterize_image(export: ScaneoExport, image: str) -> np.ndarray:
    """The class mask of one image of ``export`` on the image's grid (uint8; 0 = no label).

    Features are burnt in file order (a later one overwrites an earlier one where they overlap).
    """
    path = export.label_path(image)
    with rasterio.open(export.image_path(image)) as src:
        shape, transform, crs = (src.height, src.width), src.transform, src.crs
        left, bottom, right, top = src.bounds
        tolerance = EDGE_TOLERANCE_PX * abs(transform.a)
    shapes = []
    for n, feature in enumerate(export.annotations.get(image, {}).get("features", [])):
        if feature["properties"]["task"] != "segmentation":
            continue
        geometry = _to_image_crs(shapely.geometry.shape(feature["geometry"]), crs)
        if geometry.is_empty:
            continue
        x0, y0, x1, y1 = geometry.bounds
        if (
            x0 < left - tolerance
            or x1 > right + tolerance
            or y0 < bottom - tolerance
            or y1 > top + tolerance
        ):
            raise ScaneoFormatError(
                f"{path}: feature {n} ({feature['properties']['label']}) lies outside its image "
                f"{image} (bounds {x0:.1f}, {y0:.1f}, {x1:.1f}, {y1:.1f} vs the image's "
                f"{left:.1f}, {bottom:.1f}, {right:.1f}, {top:.1f} in {crs})"
            )
        shapes.append((geometry, export.code_of(feature["properties"]["label"])))
    if not shapes:
        return np.zeros(shape, dtype=np.uint8)
    return features.rasterize(shapes, out_shape=shape, transform=transform, fill=0, dtype="uint8")


def rasterize_export(export: ScaneoExport) -> dict[str, np.ndarray]:
    """The class mask of every labelled image of ``export`` (see :func:`rasterize_image`)."""
    return {image: rasterize_image(export, image) for image in export.annotations}


def mask_features(
    mask: np.ndarray,
    transform: rasterio.Affine,
    crs: rasterio.crs.CRS,
    labels: Sequence[str],
    classification: bool = True,
) -> list[dict]:
    """SCANEO features of a class mask (0 = no label, ``i + 1`` = ``labels[i]``): one
    segmentation MultiPolygon per label present (EPSG:4326), and with ``classification`` one
    classification feature per label present."""
    if mask.max(initial=0) > len(labels):
        raise ValueError(f"the mask holds value {int(mask.max())} but only {len(labels)} labels")
    transformer = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    polygons: dict[int, list] = {}
    values = mask.astype(np.uint8)
    for geometry, value in features.shapes(values, mask=values > 0, transform=transform):
        polygons.setdefault(int(value), []).append(shapely.geometry.shape(geometry))
    out = []
    for code in sorted(polygons):
        merged = shapely.MultiPolygon(polygons[code])
        wgs84 = shapely.transform(merged, lambda xy: np.column_stack(transformer.transform(*xy.T)))
        out.append(
            {
                "type": "Feature",
                "geometry": shapely.geometry.mapping(wgs84),
                "properties": {"label": labels[code - 1], "task": "segmentation"},
            }
        )
    if classification:
        out += [
            {
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": []},
                "properties": {"label": labels[code - 1], "task": "classification"},
            }
            for code in sorted(polygons)
        ]
    return out


def _legacy_collection(features_: list[dict], bounds_4326: tuple[float, ...]) -> dict:
    """Current-layout features as SCANEO's older layout wrote them: ``labels`` and ``tasks``
    lists, one classification feature (the image's box) with every label of the image."""
    west, south, east, north = bounds_4326
    box = shapely.geometry.mapping(shapely.box(west, south, east, north))
    out, classes = [], []
    for feature in features_:
        props = feature["properties"]
        if props["task"] == "classification":
            classes.append(props["label"])
            continue
        properties = {"labels": [props["label"]], "tasks": [props["task"]]}
        if props["task"] == "segmentation":
            properties["multipolygon"] = True
        out.append({"type": "Feature", "geometry": feature["geometry"], "properties": properties})
    if classes:
        out.append(
            {
                "type": "Feature",
                "geometry": box,
                "properties": {"labels": classes, "tasks": ["classification"]},
            }
        )
    return {"type": "FeatureCollection", "features": out}


def write_scaneo_export(
    out: str | os.PathLike[str],
    images: Mapping[str, str | os.PathLike[str]],
    masks: Mapping[str, np.ndarray],
    labels: Sequence[str],
    colors: Sequence[str] | None = None,
    classification: bool = True,
    layout: str = LABELS_FILE,
) -> ScaneoExport:
    """Write a SCANEO export into ``out``: each image copied as ``<name>.tif``, its mask (on the
    image's grid, 0 = no label, ``i + 1`` = ``labels[i]``) as ``<name>.geojson``, and
    ``spai.json``. ``images`` and ``masks`` are keyed by the image's name (stem); an image
    without a mask is copied unlabelled. ``layout="labels.json"`` writes SCANEO's older layout
    (``labels.json``, ``<name>_labels.geojson``). Every file is written under a temporary name
    and renamed."""
    if layout not in (LABELS_FILE, LEGACY_LABELS_FILE):
        raise ValueError(f"unknown layout {layout!r}: {LABELS_FILE} or {LEGACY_LABELS_FILE}")
    if not masks:
        raise ValueError("no masks given: an export needs at least one labelled image")
    missing = sorted(set(masks) - set(images))
    if missing:
        raise ValueError(f"no image for masks {', '.join(missing[:3])}")
    colors = list(colors or [PALETTE[i % len(PALETTE)] for i in range(len(labels))])
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for name, source in images.items():
        with rasterio.open(source) as src:
            transform, crs, shape = src.transform, src.crs, (src.height, src.width)
            bounds = transform_bounds(src.crs, "EPSG:4326", *src.bounds)
        if name in masks and masks[name].shape != shape:
            raise ValueError(
                f"the mask of {name} is {masks[name].shape[0]}x{masks[name].shape[1]} px but its "
                f"image {source} is {shape[0]}x{shape[1]}: masks go on the image's own grid"
            )
        with atomic_path(out / f"{name}.tif") as tmp:
            shutil.copyfile(source, tmp)
        if name not in masks:
            continue
        found = mask_features(masks[name], transform, crs, labels, classification)
        if layout == LEGACY_LABELS_FILE:
            write_json(out / f"{name}{LEGACY_SUFFIX}", _legacy_collection(found, bounds))
        else:
            write_json(out / f"{name}.geojson", {"type": "FeatureCollection", "features": found})
    spai = {"labels": [{"name": n, "color": c} for n, c in zip(labels, colors, strict=True)]}
    write_json(out / layout, spai)
    return read_scaneo_export(out)
