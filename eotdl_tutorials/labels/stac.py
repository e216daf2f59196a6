"""A SCANEO export as a STAC catalog with the label extension, EOTDL-ready.

One label Item per labelled image: its footprint, ``label:type`` vector, the tasks present
(classification, segmentation), the class list and the count per class, the GeoJSON labels as
its ``labels`` asset, the image as its ``image`` asset and ``source`` link. The Items sit in
one Collection under the catalog (EOTDL ingests the Items of a catalog's Collections), and the
folder gets EOTDL's ``README.md``.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import pystac
import rasterio
import shapely
from pystac.extensions.label import LabelClasses, LabelCount, LabelExtension, LabelOverview
from rasterio.warp import transform_bounds

from eotdl_tutorials.files import atomic_path, write_json
from eotdl_tutorials.labels.scaneo import (
    LABELS_FILE,
    PALETTE,
    ScaneoExport,
    ScaneoFormatError,
    _check_features,
    _read_json,
)
from eotdl_tutorials.publish import eotdl_name, write_eotdl_readme


def _label_item(export: ScaneoExport, image: str, moment: dt.datetime) -> pystac.Item:
    with rasterio.open(export.image_path(image)) as src:
        west, south, east, north = transform_bounds(src.crs, "EPSG:4326", *src.bounds)
    stem = Path(image).with_suffix("").as_posix().replace("/", "-")
    features = export.annotations[image]["features"]
    tasks = sorted({f["properties"]["task"] for f in features})
    counts = {name: 0 for name in export.labels}
    for feature in features:
        counts[feature["properties"]["label"]] += 1
    item = pystac.Item(
        id=f"{stem}-labels",
        geometry=shapely.geometry.mapping(shapely.box(west, south, east, north)),
        bbox=[west, south, east, north],
        datetime=moment,
        properties={},
    )
    label = LabelExtension.ext(item, add_if_missing=True)
    label.apply(
        label_description=f"Land-cover labels of {image} exported from SCANEO",
        label_type="vector",
        label_properties=["label"],
        label_classes=[LabelClasses.create(classes=list(export.labels), name="label")],
        label_tasks=tasks,
        label_methods=["manual"],
        label_overviews=[
            LabelOverview.create(
                property_key="label",
                counts=[LabelCount.create(name, n) for name, n in counts.items() if n],
            )
        ],
    )
    return item


def _attach_files(item: pystac.Item, stem: str) -> None:
    """The labels and image assets and the source link, beside the Item (hrefs made relative
    on save)."""
    folder = Path(item.get_self_href()).parent
    item.add_asset(
        "labels",
        pystac.Asset(
            str(folder / f"{stem}.geojson"), media_type="application/geo+json", roles=["labels"]
        ),
    )
    image = str(folder / f"{stem}.tif")
    item.add_asset("image", pystac.Asset(image, media_type=pystac.MediaType.COG, roles=["data"]))
    item.add_link(pystac.Link("source", image, media_type=pystac.MediaType.COG))


def _copy_as_current_layout(export: ScaneoExport, image: str, path: Path) -> None:
    """The image's labels in SCANEO's current layout (``label``, ``task``): the file itself,
    or its features converted from the older layout."""
    if export.layout == LABELS_FILE:
        with atomic_path(path) as tmp:
            shutil.copyfile(export.label_path(image), tmp)
    else:
        write_json(path, export.annotations[image])


def write_label_catalog(
    export: ScaneoExport,
    out: str | os.PathLike[str],
    catalog_id: str = "scaneo-labels",
    moment: dt.datetime | None = None,
) -> pystac.Catalog:
    """Write ``export`` as a self-contained, EOTDL-ready STAC catalog in ``out`` (labels and
    images copied beside their Items, ``README.md`` whose EOTDL name is ``out``'s folder name)
    and return it. ``moment`` dates the Items (default: now)."""
    out = Path(out)
    moment = moment or dt.datetime.now(dt.UTC)
    description = f"Labels of {len(export.annotations)} images ({', '.join(export.labels)})"
    catalog = pystac.Catalog(id=catalog_id, description=description)
    stems = {
        image: Path(image).with_suffix("").as_posix().replace("/", "-")
        for image in sorted(export.annotations)
    }
    items = [_label_item(export, image, moment) for image in stems]
    if not items:
        raise ValueError(f"the SCANEO export in {export.root} labels no image: nothing to write")
    collection = pystac.Collection(
        id=f"{catalog_id}-items",
        description=f"{description}, one label Item per image (label extension)",
        extent=pystac.Extent.from_items(items),
        license="CC-BY-4.0",
    )
    collection.add_items(items)
    catalog.add_child(collection)
    catalog.normalize_hrefs(str(out))
    for stem in stems.values():
        _attach_files(collection.get_item(f"{stem}-labels"), stem)
    catalog.save(catalog_type=pystac.CatalogType.SELF_CONTAINED)
    for image, stem in stems.items():
        folder = Path(collection.get_item(f"{stem}-labels").get_self_href()).parent
        _copy_as_current_layout(export, image, folder / f"{stem}.geojson")
        shutil.copyfile(export.image_path(image), folder / f"{stem}.tif")
    name = eotdl_name(out.name)
    write_eotdl_readme(
        out,
        name=name,
        description=f"# {name}\n\n{description}, labelled in SCANEO (EOTDL's labelling tool) "
        "and exported by the eotdl-tutorials course (use case C): one STAC label Item per image "
        "with its GeoJSON labels (`label` and `task` properties) and the image beside it.",
    )
    return catalog


def read_label_catalog(catalog: str | os.PathLike[str]) -> ScaneoExport:
    """The labelled images of a STAC label catalog as :func:`write_label_catalog` writes it (a
    ``catalog.json`` or its folder): per label Item, the GeoJSON of its ``labels`` asset (SCANEO's
    ``label``/``task`` features) and its ``image`` asset (or ``source`` link); the classes are
    the Items' ``label:classes`` in order. Clear errors name the file."""
    path = Path(catalog)
    if path.is_dir():
        path = path / "catalog.json"
    if not path.is_file():
        raise ScaneoFormatError(
            f"{path} is missing: not a STAC label catalog (a catalog.json whose Items carry the "
            "label extension, a 'labels' GeoJSON asset and an 'image' asset)"
        )
    try:
        root = pystac.Catalog.from_file(str(path))
        items = list(root.get_items(recursive=True))
    except (pystac.STACError, KeyError, ValueError) as err:
        raise ScaneoFormatError(f"{path} is not a readable STAC catalog ({err})") from None
    labels: list[str] = []
    found = []
    for item in items:
        properties = item.properties
        for entry in properties.get("label:classes", []):
            labels += [name for name in entry.get("classes", []) if name not in labels]
        assets = item.get_assets()
        image = assets.get("image")
        image_href = image.get_absolute_href() if image else None
        if image_href is None:
            source = next(iter(item.get_links("source")), None)
            image_href = source.get_absolute_href() if source else None
        if "labels" not in assets or image_href is None:
            raise ScaneoFormatError(
                f"label Item {item.id} of {path} needs a 'labels' asset (GeoJSON) and an "
                "'image' asset or 'source' link"
            )
        found.append((Path(assets["labels"].get_absolute_href()), Path(image_href)))
    if not found:
        raise ScaneoFormatError(f"{path} holds no label Item: nothing to read")
    if not labels:
        raise ScaneoFormatError(f"the Items of {path} list no label:classes")
    folder = path.parent.resolve()
    annotations, label_files = {}, {}
    for labels_path, image_path in found:
        if not image_path.is_file():
            raise ScaneoFormatError(f"{labels_path}: its image {image_path} is missing")
        collection = _read_json(labels_path)
        _check_features(labels_path, collection, labels)
        key = os.path.relpath(image_path.resolve(), folder)
        annotations[Path(key).as_posix()] = collection
        label_files[Path(key).as_posix()] = os.path.relpath(labels_path.resolve(), folder)
    colors = tuple(PALETTE[i % len(PALETTE)] for i in range(len(labels)))
    images = tuple(sorted(annotations))
    return ScaneoExport(folder, tuple(labels), colors, annotations, images, label_files, "stac")
