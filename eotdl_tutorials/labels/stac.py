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

from eotdl_tutorials.labels.scaneo import ScaneoExport
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
        shutil.copyfile(
            export.root / Path(image).with_suffix(".geojson"), folder / f"{stem}.geojson"
        )
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
