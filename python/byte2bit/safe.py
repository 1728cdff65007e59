"""Sentinel-2 SAFE products (.SAFE folder or zipped): every raster image the product ships, and
its metadata XML, become one .b2b with a raster per image.

GDAL's SENTINEL2 driver is not used for the pixels: it composes fixed resolution groups and fills
images that are missing from the product with zeros, with only a warning. Here each image file
is copied as it is (JP2 at every resolution: bands, TCI, SCL, AOT, WVP, the QI_DATA masks and the
preview), images the product metadata lists but that are absent are reported, and the XML
documents are kept as ``xml:<path>`` metadata domains of the .b2b.
"""
from __future__ import annotations

import contextlib
import os
import re
import uuid
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass, field

from .errors import Byte2BitError

RASTER_SUFFIXES = (".jp2", ".tif", ".tiff")
XML_SUFFIXES = (".xml", ".safe", ".gml")
MISSING_KEY = "SAFE_MISSING_IMAGES"  # images the metadata lists, absent and skipped on request


class MissingImagesError(Byte2BitError):
    """The product's metadata lists images that are not in the product."""

    def __init__(self, product: str, missing: list[str]):
        shown = "\n  ".join(missing[:20]) + (f"\n  ... and {len(missing) - 20} more" if len(missing) > 20 else "")
        super().__init__(f"{product}: {len(missing)} images listed in its metadata are missing from the product:\n"
                         f"  {shown}\nConvert what is there with skip_missing=True (b2b transform --skip-missing); "
                         "the .b2b then records which images were skipped.")
        self.missing = missing


def product_root(path: str) -> str | None:
    """The GDAL path of the product folder (``X.SAFE`` or ``/vsizip/X.zip/X.SAFE``), or None."""
    path = path.rstrip("/")
    if os.path.isdir(path):
        return path if any(re.match(r"MTD_MSIL\w+\.xml$", n) for n in os.listdir(path)) else None
    if path.lower().endswith(".zip") and zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            tops = {n.split("/")[0] for n in z.namelist()
                    if n.count("/") == 1 and re.match(r"MTD_MSIL\w+\.xml$", n.split("/")[1])}
        return f"/vsizip/{path}/{sorted(tops)[0]}" if tops else None
    return None


def _local(el) -> str:
    return el.tag.rsplit("}", 1)[-1]


def _band_token(physical_band: str) -> str:
    """"B1" (the metadata's name) -> "B01" (the file name's)."""
    m = re.fullmatch(r"B(\d)", physical_band)
    return f"B0{m.group(1)}" if m else physical_band


@dataclass
class Product:
    """What a SAFE product holds, relative to its folder, and what its metadata says it should."""

    root: str  # GDAL path of the product folder
    metadata_file: str  # "MTD_MSIL2A.xml"
    images: list[str] = field(default_factory=list)  # raster images present
    xml_files: list[str] = field(default_factory=list)  # metadata documents present
    missing: list[str] = field(default_factory=list)  # listed in the metadata, absent
    band_metadata: dict[str, dict[str, str]] = field(default_factory=dict)  # "B02" -> items
    product_items: dict[str, str] = field(default_factory=dict)  # quantification values, ...

    def path(self, relative: str) -> str:
        return f"{self.root}/{relative}"


def _read(g, path: str) -> bytes:
    f = g.VSIFOpenL(path, "rb")
    if f is None:
        raise Byte2BitError(f"cannot read {path}")
    try:
        g.VSIFSeekL(f, 0, 2)
        size = g.VSIFTellL(f)
        g.VSIFSeekL(f, 0, 0)
        return bytes(g.VSIFReadL(1, size, f))
    finally:
        g.VSIFCloseL(f)


def _xml(g, path: str):
    try:
        return ET.fromstring(_read(g, path))
    except ET.ParseError as e:
        raise Byte2BitError(f"{path} is not valid XML ({e})") from None


def _listed_images(root_el, granule_docs) -> list[str]:
    """Raster images the product and granule metadata name, relative to the product folder."""
    listed = []
    for el in root_el.iter():
        if _local(el) == "IMAGE_FILE" and el.text:  # "GRANULE/.../IMG_DATA/R10m/T.._B02_10m", no suffix
            listed.append(el.text.strip() + ".jp2")
        elif _local(el) == "Granule" and el.get("granuleIdentifier"):  # the pre-2016 layout names IDs
            for image in el:
                if _local(image) == "IMAGE_ID" and image.text:
                    listed.append(f"GRANULE/{el.get('granuleIdentifier')}/IMG_DATA/{image.text.strip()}.jp2")
    for doc in granule_docs:
        for el in doc.iter():
            if _local(el) in ("MASK_FILENAME", "PVI_FILENAME") and el.text and \
                    el.text.strip().lower().endswith(RASTER_SUFFIXES):
                listed.append(el.text.strip())
    return listed


def _band_metadata(root_el) -> tuple[dict[str, dict[str, str]], dict[str, str]]:
    """Per-band items as GDAL's SENTINEL2 driver names them (BANDNAME, WAVELENGTH, ...) plus the
    add-offsets of processing baseline 04.00 on, which GDAL 3.6 does not report; and the
    product-wide quantification values."""
    by_id, bands = {}, {}
    for el in root_el.iter():
        if _local(el) == "Spectral_Information" and el.get("physicalBand"):
            name = el.get("physicalBand")
            items = {"BANDNAME": name}
            for sub in el.iter():
                tag = _local(sub)
                if tag in ("CENTRAL", "MIN", "MAX") and sub.text:
                    items[{"CENTRAL": "WAVELENGTH", "MIN": "WAVELENGTH_MIN", "MAX": "WAVELENGTH_MAX"}[tag]] = \
                        sub.text.strip()
                    items["WAVELENGTH_UNIT"] = sub.get("unit", "nm")
            by_id[el.get("bandId")] = name
            bands[_band_token(name)] = items
    product = {}
    for el in root_el.iter():
        tag, band = _local(el), by_id.get(el.get("bandId", el.get("band_id")))
        text = (el.text or "").strip()
        if not text:
            continue
        if tag in ("BOA_ADD_OFFSET", "RADIO_ADD_OFFSET") and band:
            bands[_band_token(band)][tag] = text
        elif tag == "SOLAR_IRRADIANCE" and band:
            bands[_band_token(band)].update(SOLAR_IRRADIANCE=text, SOLAR_IRRADIANCE_UNIT=el.get("unit", "W/m2/um"))
        elif tag.endswith("QUANTIFICATION_VALUE"):
            product[tag] = text
    return bands, product


def scan(g, path: str) -> Product:
    """Everything the product at ``path`` holds and lists; raises when it is not a SAFE product."""
    root = product_root(path)
    if root is None:
        raise Byte2BitError(f"{path} is not a Sentinel-2 SAFE product (no MTD_MSIL*.xml at its top)")
    files = sorted(f for f in (g.ReadDirRecursive(root) or []) if not f.endswith("/"))
    mtd = next(f for f in files if re.match(r"MTD_MSIL\w+\.xml$", f))
    product = Product(root=root, metadata_file=mtd)
    product.images = [f for f in files if f.lower().endswith(RASTER_SUFFIXES)]
    product.xml_files = [f for f in files if f.lower().endswith(XML_SUFFIXES)]
    top = _xml(g, product.path(mtd))
    granule_docs = [_xml(g, product.path(f)) for f in files if re.match(r"GRANULE/[^/]+/MTD_\w+\.xml$", f)]
    present = set(product.images)
    product.missing = sorted({f for f in _listed_images(top, granule_docs) if f not in present})
    product.band_metadata, product.product_items = _band_metadata(top)
    return product


def xml_text(g, product: Product, relative: str) -> str:
    try:
        return _read(g, product.path(relative)).decode("utf-8")
    except UnicodeDecodeError:
        raise Byte2BitError(f"{product.root}: {relative} is not UTF-8 text, so it cannot be kept as metadata") from None


def group_name(relative: str, tiles: int) -> str:
    """The .b2b raster name of an image: its file name without the tile/date prefix and suffix
    ("T29UNU_20221005T115411_B02_60m.jp2" -> "B02_60m"; "MSK_CLDPRB_20m", "PVI"), prefixed with the
    tile when a product holds several granules."""
    stem = os.path.splitext(relative.rsplit("/", 1)[-1])[0]
    tile = re.match(r"(T\d\d[A-Z]{3})_\d{8}T\d{6}_", stem)
    short = stem[tile.end():] if tile else re.sub(r"^S2\w+?_(B\w\w)$", r"\1", stem)
    if tiles > 1 and "/" in relative:
        short = f"{relative.split('/')[1]}_{short}"
    return short


def image_items(product: Product, relative: str) -> tuple[dict[str, str], str | None]:
    """The band metadata items and the band description of one image."""
    short = group_name(relative, 1)
    band = re.match(r"(B\d[\dA])(?:_\d+m)?$", short)
    items: dict[str, str] = {}
    if band and band.group(1) in product.band_metadata:
        items = dict(product.band_metadata[band.group(1)])
        for kind, quantification in (("BOA", "BOA_QUANTIFICATION_VALUE"), ("RADIO", "QUANTIFICATION_VALUE")):
            if f"{kind}_ADD_OFFSET" in items and quantification in product.product_items:
                items[f"{kind}_QUANTIFICATION_VALUE"] = product.product_items[quantification]
        description = f"{items['BANDNAME']}, central wavelength {items.get('WAVELENGTH', '?')} nm"
        return items, description
    for kind in ("AOT", "WVP"):
        if short.startswith(kind + "_") and f"{kind}_QUANTIFICATION_VALUE" in product.product_items:
            items[f"{kind}_QUANTIFICATION_VALUE"] = product.product_items[f"{kind}_QUANTIFICATION_VALUE"]
    return items, None


@contextlib.contextmanager
def open_product(g, path: str, skip_missing: bool = False):
    """A GDAL dataset listing every image of the product as a subdataset (a VRT in /vsimem/ named
    as its .b2b raster, with band metadata), whose metadata holds the product's GDAL SENTINEL2
    metadata, the XML documents as ``xml:<path>`` domains and the images skipped on request."""
    product = scan(g, path)
    if product.missing and not skip_missing:
        raise MissingImagesError(path, product.missing)
    if not product.images:
        raise Byte2BitError(f"{path}: the product holds no raster image")
    tiles = len({f.split("/")[1] for f in product.images if f.startswith("GRANULE/")})
    tmp = f"/vsimem/b2b_safe_{uuid.uuid4().hex}"
    try:
        top = g.GetDriverByName("MEM").Create("", 1, 1, 0)
        g.PushErrorHandler("CPLQuietErrorHandler")  # its "Tile ... not found" is reported above
        try:  # GDAL's product-level items; the pixels come from the files themselves
            top.SetMetadata(g.Open(product.path(product.metadata_file)).GetMetadata())
        except RuntimeError:
            pass
        finally:
            g.PopErrorHandler()
        if product.missing:
            top.SetMetadataItem(MISSING_KEY, ",".join(product.missing))
        for doc in product.xml_files:
            top.SetMetadata([xml_text(g, product, doc)], f"xml:{doc}")
        entries = {}
        for i, relative in enumerate(product.images, start=1):
            items, band_description = image_items(product, relative)
            vrt_name = f"{tmp}/{group_name(relative, tiles)}"
            try:
                vrt = g.Translate(vrt_name, product.path(relative), format="VRT")
            except RuntimeError as e:
                raise Byte2BitError(f"{path}: cannot read {relative}: {e}") from None
            for b in range(1, vrt.RasterCount + 1):
                band = vrt.GetRasterBand(b)
                if items:
                    band.SetMetadata(items)
                if band_description:
                    band.SetDescription(band_description)
            vrt = None  # noqa: F841  (writes the VRT)
            entries[f"SUBDATASET_{i}_NAME"] = vrt_name
            entries[f"SUBDATASET_{i}_DESC"] = relative  # how verify pairs it with its source
        top.SetMetadata(entries, "SUBDATASETS")
        yield top
    finally:
        for name in g.ReadDir(tmp) or []:
            g.Unlink(f"{tmp}/{name}")
