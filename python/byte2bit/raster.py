"""Rasters: ``transform`` any GDAL raster into a .b2b and ``verify`` it, through the B2B GDAL driver.

Writing goes through the driver's CreateCopy (the same C++ code as ``gdal_translate -of B2B``), so
there is one implementation of the raster layout. The driver is the plugin ``gdal_B2B.so``; it is
found on ``GDAL_DRIVER_PATH`` or in this environment's ``lib/gdalplugins`` (where setup puts it).
"""
from __future__ import annotations

import contextlib
import glob
import math
import os
import sys
import uuid
import zipfile
from dataclasses import dataclass, field

import numpy as np

from .errors import Byte2BitError, InvalidArgumentError

DRIVER = "B2B"


class VerificationError(Byte2BitError):
    """A .b2b differs from its source beyond what its settings allow; ``.report`` has the details."""

    def __init__(self, report: "VerifyReport"):
        super().__init__(str(report))
        self.report = report


def plugin_dirs() -> list[str]:
    """Folders searched for gdal_B2B.so: GDAL_DRIVER_PATH, then this environment's lib/gdalplugins."""
    dirs = [d for d in os.environ.get("GDAL_DRIVER_PATH", "").split(os.pathsep) if d]
    dirs.append(os.path.join(sys.prefix, "lib", "gdalplugins"))
    return dirs


def gdal():
    """osgeo.gdal with exceptions on and the B2B driver registered, or a clear error saying how."""
    from osgeo import gdal as _gdal

    _gdal.UseExceptions()
    if _gdal.GetDriverByName(DRIVER) is None:
        dirs = [d for d in plugin_dirs() if os.path.exists(os.path.join(d, "gdal_B2B.so"))]
        if dirs:
            os.environ["GDAL_DRIVER_PATH"] = os.pathsep.join(dirs)
            _gdal.SetConfigOption("GDAL_DRIVER_PATH", os.pathsep.join(dirs))
            _gdal.AllRegister()
        if _gdal.GetDriverByName(DRIVER) is None:
            raise Byte2BitError(
                "the B2B GDAL driver is not loaded: put the folder holding gdal_B2B.so on GDAL_DRIVER_PATH "
                f"(searched: {', '.join(plugin_dirs())}); ./scripts/setup.sh builds it")
    return _gdal


# ---------------------------------------------------------------------------------------------
# transform


def _b2b_name(path: str) -> str:
    root, ext = os.path.splitext(path.rstrip("/"))
    return (root if ext.lower() in (".tif", ".tiff", ".jp2", ".safe", ".zip", ".vrt", ".img") else path.rstrip("/")) \
        + ("" if path.lower().rstrip("/").endswith(".b2b") else ".b2b")


def _safe_product(path: str) -> str | None:
    """The GDAL name of a Sentinel-2 SAFE product (.SAFE folder or .zip), or None."""
    if os.path.isdir(path):
        found = glob.glob(os.path.join(path, "MTD_MSIL*.xml"))
        return found[0] if found else None
    if path.lower().endswith(".zip") and zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            names = [n for n in z.namelist() if n.count("/") == 1 and os.path.basename(n).startswith("MTD_MSIL")]
        return f"/vsizip/{path}/{names[0]}" if names else None
    return None


def _source_name(path: str) -> str:
    return _safe_product(path) or path


def _sentinel2_offsets(g, mtd_name: str) -> dict[str, str]:
    """Per-band BOA_ADD_OFFSET / RADIO_ADD_OFFSET (processing baseline 04.00 on) from a product's
    MTD XML, keyed like "BOA_ADD_OFFSET_B2": GDAL 3.6's SENTINEL2 driver does not report them."""
    import xml.etree.ElementTree as ET
    f = g.VSIFOpenL(mtd_name, "rb")
    if f is None:
        return {}
    try:
        g.VSIFSeekL(f, 0, 2)
        size = g.VSIFTellL(f)
        g.VSIFSeekL(f, 0, 0)
        root = ET.fromstring(g.VSIFReadL(1, size, f))
    except ET.ParseError:
        return {}
    finally:
        g.VSIFCloseL(f)
    local = lambda el: el.tag.rsplit("}", 1)[-1]  # noqa: E731
    bands = {el.get("bandId"): el.get("physicalBand") for el in root.iter() if local(el) == "Spectral_Information"}
    return {f"{local(el)}_{bands[el.get('band_id')]}": el.text.strip() for el in root.iter()
            if local(el) in ("BOA_ADD_OFFSET", "RADIO_ADD_OFFSET") and el.get("band_id") in bands and el.text}


@contextlib.contextmanager
def _open_source(g, path: str):
    """The GDAL dataset to copy. A Sentinel-2 product becomes a list of its resolution groups whose
    bands carry their add-offset and quantification value as metadata (in /vsimem/, removed after)."""
    mtd = _safe_product(path)
    top = g.Open(mtd or path)
    offsets = _sentinel2_offsets(g, mtd) if mtd else {}
    if not offsets:
        yield top
        return
    tmp = f"/vsimem/b2b_safe_{uuid.uuid4().hex}"
    try:
        product = g.GetDriverByName("MEM").Create("", 1, 1, 0)
        product.SetMetadata({**top.GetMetadata(), **offsets})
        entries = {}
        for i, name in enumerate(_subdatasets(top), start=1):
            fields = [f for f in name.split(":") if not f.startswith("EPSG_")]
            vrt_name = f"{tmp}/{fields[-1]}"
            vrt = g.Translate(vrt_name, g.Open(name), format="VRT")
            for b in range(1, vrt.RasterCount + 1):
                band = vrt.GetRasterBand(b)
                for kind in ("BOA", "RADIO"):
                    value = offsets.get(f"{kind}_ADD_OFFSET_{band.GetMetadataItem('BANDNAME')}")
                    if value is not None:
                        band.SetMetadataItem(f"{kind}_ADD_OFFSET", value)
                        q = top.GetMetadataItem("BOA_QUANTIFICATION_VALUE" if kind == "BOA" else "QUANTIFICATION_VALUE")
                        if q:
                            band.SetMetadataItem(f"{kind}_QUANTIFICATION_VALUE", q)
            vrt = None  # noqa: F841  (writes the VRT)
            entries[f"SUBDATASET_{i}_NAME"] = vrt_name
            entries[f"SUBDATASET_{i}_DESC"] = top.GetMetadata("SUBDATASETS")[f"SUBDATASET_{i}_DESC"]
        product.SetMetadata(entries, "SUBDATASETS")
        yield product
    finally:
        for name in g.ReadDir(tmp) or []:
            g.Unlink(f"{tmp}/{name}")


def _creation_options(compression_level, quantize_scale, cogLayout, block_size, overviews, form, num_threads):
    if compression_level not in (0, 1, 2, 4):
        raise InvalidArgumentError(f"compression_level must be 0, 1, 2 or 4, got {compression_level!r}")
    if not (isinstance(quantize_scale, (int, float)) and math.isfinite(quantize_scale) and quantize_scale >= 0):
        raise InvalidArgumentError(f"quantize_scale must be 0 or a positive number, got {quantize_scale!r}")
    if form not in ("zip", "directory"):
        raise InvalidArgumentError(f"form must be 'zip' or 'directory', got {form!r}")
    opts = [f"LEVEL={compression_level}", f"QUANTIZE_SCALE={quantize_scale!r}",
            f"COG_LAYOUT={'YES' if cogLayout else 'NO'}", f"OVERVIEWS={'AUTO' if overviews else 'NONE'}",
            f"FORMAT={'ZIP' if form == 'zip' else 'DIRECTORY'}"]
    if block_size is not None:
        opts.append(f"BLOCKSIZE={int(block_size)}")
    if num_threads is not None:
        opts.append(f"NUM_THREADS={num_threads}")
    return opts


def _progress_callback(progress, desc: str):
    """A GDAL progress callback for progress=True (a tqdm bar), a callable(fraction), or None."""
    if progress is True:
        from tqdm import tqdm
        bar = tqdm(total=100, desc=desc, unit="%", disable=None, file=sys.stderr,
                   bar_format="{l_bar}{bar}| {elapsed}<{remaining}")

        def cb(fraction, _msg, _data):
            bar.n = round(fraction * 100, 1)
            bar.refresh()
            return 1
        return cb, bar.close
    if callable(progress):
        return (lambda fraction, _msg, _data: 0 if progress(fraction) is False else 1), (lambda: None)
    return None, (lambda: None)


def _require_folder(path: str) -> None:
    if not os.path.isdir(path):
        raise InvalidArgumentError(f"folder {path} does not exist")


def transform(src, dst, cogLayout: bool = True, compression_level: int = 4, quantize_scale: float = 0,
              *, cog_layout: bool | None = None, block_size: int | None = None, overviews: bool = True,
              form: str = "zip", num_threads: int | str | None = None, progress=None):
    """Convert GDAL rasters into .b2b files, through the B2B driver (as ``gdal_translate -of B2B``).

    ``src`` is a raster (GeoTIFF, COG, JP2, ...), a Sentinel-2 SAFE product (``.SAFE`` folder or
    ``.zip``: one .b2b with a raster per resolution group), a glob pattern, or a list of those.
    With one input, ``dst`` is the output file (its suffix becomes ``.b2b``) and the output path is
    returned; with several, ``dst`` is a folder and the list of outputs is returned. ``progress``
    is True for a progress bar or a callable taking the fraction done (return False to cancel).
    ``cog_layout`` is the snake_case spelling of ``cogLayout``: keep a tiled GeoTIFF/COG source's
    blocks when they are square and 256 or more (the driver's COG_LAYOUT).
    """
    if cog_layout is not None:
        cogLayout = cog_layout
    g = gdal()
    sources = src if isinstance(src, (list, tuple)) else None
    if sources is None:
        src = os.fspath(src)
        sources = sorted(glob.glob(src)) if glob.has_magic(src) else [src]
        if not sources:
            raise InvalidArgumentError(f"no file matches {src!r}")
    many = isinstance(src, (list, tuple)) or len(sources) > 1 or glob.has_magic(os.fspath(src))
    opts = _creation_options(compression_level, quantize_scale, cogLayout, block_size, overviews, form,
                             num_threads)
    dst = os.fspath(dst)
    # As GDAL does, a missing folder is an error (a mistyped path is not created silently); only
    # the output folder of several inputs is created, inside a folder that exists.
    if many:
        if not os.path.isdir(dst):
            _require_folder(os.path.dirname(os.path.abspath(dst)))
            os.mkdir(dst)
        targets = [os.path.join(dst, os.path.basename(_b2b_name(os.fspath(s)))) for s in sources]
    else:
        targets = [_b2b_name(dst)]
        if not dst.startswith("/vsi"):
            _require_folder(os.path.dirname(os.path.abspath(targets[0])))
    driver = g.GetDriverByName(DRIVER)
    for s, target in zip(sources, targets):
        s = os.fspath(s)
        if not os.path.exists(s) and not s.startswith("/vsi"):
            raise FileNotFoundError(f"no such raster: {s}")
        callback, done = _progress_callback(progress, os.path.basename(s.rstrip("/")))
        try:
            with _open_source(g, s) as ds:
                out = driver.CreateCopy(target, ds, strict=0, options=opts, callback=callback)
                out = None  # noqa: F841  (closes the new file)
        except RuntimeError as e:
            raise Byte2BitError(f"{s} -> {target}: {e}") from None
        finally:
            done()
    return targets if many else targets[0]


# ---------------------------------------------------------------------------------------------
# verify


@dataclass
class BandReport:
    name: str
    equal: bool
    max_abs_error: float
    bound: float | None  # quantize_scale / 2 of an error-bounded file; None when lossless
    nodata_mismatches: int = 0  # pixels that are nodata in one and not the other: never allowed

    @property
    def within_bound(self) -> bool:
        return self.equal or (self.bound is not None and self.max_abs_error <= self.bound
                              and not self.nodata_mismatches)


@dataclass
class VerifyReport:
    source: str
    b2b: str
    bands: list[BandReport] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # structure, georeferencing, nodata

    @property
    def equal(self) -> bool:
        return not self.problems and all(b.equal for b in self.bands)

    @property
    def ok(self) -> bool:
        """Equal, or every band within the error bound the file was written with."""
        return not self.problems and all(b.within_bound for b in self.bands)

    def __str__(self) -> str:
        verdict = "EQUAL" if self.equal else ("WITHIN BOUND" if self.ok else "DIFFERENT")
        lines = [f"{self.source} vs {self.b2b}: {verdict}"]
        lines += [f"  ! {p}" for p in self.problems]
        for b in self.bands:
            state = "equal" if b.equal else f"max abs error {b.max_abs_error:g}" + (
                f" (bound {b.bound:g}: {'within' if b.within_bound else 'EXCEEDED'})" if b.bound is not None else "")
            if b.nodata_mismatches:
                state += f", {b.nodata_mismatches} pixels gained or lost nodata"
            lines.append(f"  {b.name}: {state}")
        return "\n".join(lines)


def _same_nodata(a, b) -> bool:
    return a == b or (a is not None and b is not None and math.isnan(a) and math.isnan(b))


def _compare_band(sb, db, name: str, bound, tick, nodata=None) -> BandReport:
    equal, max_err, nodata_mismatches = True, 0.0, 0
    _, block_h = db.GetBlockSize()
    rows = max(1, min(db.YSize, (64 << 20) // max(1, db.XSize * 16)))
    rows = max(block_h, rows - rows % block_h)
    for y in range(0, db.YSize, rows):
        h = min(rows, db.YSize - y)
        a = sb.ReadAsArray(0, y, sb.XSize, h)
        b = db.ReadAsArray(0, y, db.XSize, h)
        if a.dtype.kind in "fc":
            same = (a.view(np.uint8).reshape(a.shape + (-1,)) == b.view(np.uint8).reshape(b.shape + (-1,))).all(-1)
            if not same.all():
                equal = False
                both_nan = np.isnan(a) & np.isnan(b)
                diff = np.abs(a.astype(np.complex128 if a.dtype.kind == "c" else np.float64) - b)
                diff[both_nan] = 0
                diff[~same & ~both_nan & ~np.isfinite(diff)] = np.inf
                max_err = max(max_err, float(np.nanmax(diff)))
                if nodata is not None:  # the error bound never covers nodata: it is exact or wrong
                    is_nd = np.isnan if math.isnan(nodata) else (lambda x: x == nodata)
                    nodata_mismatches += int(np.count_nonzero(is_nd(a) != is_nd(b)))
        elif not np.array_equal(a, b):
            equal = False
            max_err = max(max_err, float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)))))
        tick(h)
    return BandReport(name=name, equal=equal, max_abs_error=max_err, bound=bound,
                      nodata_mismatches=nodata_mismatches)


def _verify_raster(g, sds, dds, report: VerifyReport, tick) -> None:
    if (sds.RasterXSize, sds.RasterYSize, sds.RasterCount) != (dds.RasterXSize, dds.RasterYSize, dds.RasterCount):
        report.problems.append(f"size differs: {sds.RasterXSize}x{sds.RasterYSize}x{sds.RasterCount} vs "
                               f"{dds.RasterXSize}x{dds.RasterYSize}x{dds.RasterCount}")
        return
    if sds.GetGeoTransform(can_return_null=True) != dds.GetGeoTransform(can_return_null=True):
        report.problems.append("geotransform differs")
    s_srs, d_srs = sds.GetSpatialRef(), dds.GetSpatialRef()
    if (s_srs is None) != (d_srs is None) or (s_srs is not None and not s_srs.IsSame(d_srs)):
        report.problems.append("CRS differs")
    if sds.GetGCPCount() != dds.GetGCPCount() or any(
            (a.GCPPixel, a.GCPLine, a.GCPX, a.GCPY, a.GCPZ) != (b.GCPPixel, b.GCPLine, b.GCPX, b.GCPY, b.GCPZ)
            for a, b in zip(sds.GetGCPs(), dds.GetGCPs())):
        report.problems.append("GCPs differ")
    q = float(dds.GetMetadataItem("B2B_QUANTIZE_SCALE", "IMAGE_STRUCTURE") or 0)
    prefix = f"{os.path.basename(dds.GetDescription())} " if dds.GetDescription().startswith("B2B:") else ""
    for i in range(1, sds.RasterCount + 1):
        sb, db = sds.GetRasterBand(i), dds.GetRasterBand(i)
        name = f"{prefix}band {i}" + (f" ({sb.GetDescription()})" if sb.GetDescription() else "")
        if sb.DataType != db.DataType:
            report.problems.append(f"{name}: data type {g.GetDataTypeName(sb.DataType)} vs "
                                   f"{g.GetDataTypeName(db.DataType)}")
            continue
        if not _same_nodata(sb.GetNoDataValue(), db.GetNoDataValue()):
            report.problems.append(f"{name}: nodata {sb.GetNoDataValue()} vs {db.GetNoDataValue()}")
        floating = g.GetDataTypeName(sb.DataType) in ("Float32", "Float64", "CFloat32", "CFloat64")
        bound = q / 2 if q and floating else None
        report.bands.append(_compare_band(sb, db, name, bound, tick, sb.GetNoDataValue()))
    if sds.GetRasterBand(1).GetMaskFlags() == g.GMF_PER_DATASET:
        report.bands.append(_compare_band(sds.GetRasterBand(1).GetMaskBand(), dds.GetRasterBand(1).GetMaskBand(),
                                          f"{prefix}mask", None, tick))


def _subdatasets(ds) -> list[str]:
    md = ds.GetMetadata("SUBDATASETS") or {}
    return [md[k] for k in sorted((k for k in md if k.endswith("_NAME")), key=lambda k: int(k.split("_")[1]))]


def verify(src, dst, *, progress=None, raise_on_mismatch: bool = True) -> VerifyReport:
    """Compare every pixel of every band of ``dst`` (.b2b) with ``src``, plus georeferencing and nodata.

    Returns a report (equal or not, max abs error per band). A difference beyond what the file's
    error bound allows raises VerificationError, unless ``raise_on_mismatch`` is False.
    """
    g = gdal()
    src, dst = os.fspath(src), os.fspath(dst)
    report = VerifyReport(source=src, b2b=dst)
    try:
        sds = g.Open(_source_name(src))
        dds = g.OpenEx(dst, g.OF_RASTER, allowed_drivers=[DRIVER])
    except RuntimeError as e:
        raise InvalidArgumentError(str(e)) from None
    pairs = [(sds, dds)]
    if sds.RasterCount == 0:
        s_names, d_names = _subdatasets(sds), _subdatasets(dds)
        if len(s_names) != len(d_names):
            report.problems.append(f"{len(s_names)} rasters in the source, {len(d_names)} in the .b2b")
            s_names = d_names = []
        pairs = [(g.Open(a), g.Open(b)) for a, b in zip(s_names, d_names)]
    total = sum(d.RasterYSize * (d.RasterCount + 1) for _, d in pairs)
    bar = None
    if progress is True:
        from tqdm import tqdm
        bar = tqdm(total=total, desc="verify", unit="row", disable=None, file=sys.stderr)
    done = [0]

    def tick(rows):
        done[0] += rows
        if bar is not None:
            bar.update(rows)
        elif callable(progress) and progress(done[0] / max(total, 1)) is False:
            raise Byte2BitError("verify cancelled")
    try:
        for s, d in pairs:
            _verify_raster(g, s, d, report, tick)
    finally:
        if bar is not None:
            bar.close()
    if raise_on_mismatch and not report.ok:
        raise VerificationError(report)
    return report
