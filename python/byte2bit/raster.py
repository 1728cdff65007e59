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
from dataclasses import dataclass, field

import numpy as np

from . import safe
from .errors import Byte2BitError, InvalidArgumentError
from .progress import gdal_callback, ticker

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


def register_gdal_driver() -> bool:
    """Register the B2B driver in this process's GDAL (osgeo and rasterio share it) when GDAL did
    not find it itself: setup installs it into GDAL's plugin folder, and this covers an
    environment that only has it in its own lib/gdalplugins. Returns whether B2B is available."""
    try:
        from osgeo import gdal as _gdal
    except ImportError:
        return False
    if _gdal.GetDriverByName(DRIVER) is None:
        dirs = [d for d in plugin_dirs() if os.path.exists(os.path.join(d, "gdal_B2B.so"))]
        if dirs:
            # the environment too, so that rasterio's own registration and child processes see it
            os.environ["GDAL_DRIVER_PATH"] = os.pathsep.join(dirs)
            _gdal.SetConfigOption("GDAL_DRIVER_PATH", os.pathsep.join(dirs))
            _gdal.AllRegister()
    return _gdal.GetDriverByName(DRIVER) is not None


def gdal():
    """osgeo.gdal with exceptions on and the B2B driver registered, or a clear error saying how."""
    from osgeo import gdal as _gdal

    _gdal.UseExceptions()
    if not register_gdal_driver():
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


@contextlib.contextmanager
def _open_source(g, path, skip_missing: bool):
    """The GDAL dataset to copy: the raster; for a Sentinel-2 product the list of its images; for
    several rasters (a list of paths) the list of them."""
    if isinstance(path, list):
        with _raster_list(g, path) as ds:
            yield ds
    elif safe.product_root(path):
        with safe.open_product(g, path, skip_missing) as ds:
            yield ds
    else:
        yield g.Open(path)


@contextlib.contextmanager
def _raster_list(g, paths: list[str]):
    """A dataset listing rasters as subdatasets (VRTs in /vsimem/ named as their .b2b groups, after
    their files), described by their file names, which is how verify pairs them again."""
    from .sources import group_names
    tmp = f"/vsimem/b2b_list_{uuid.uuid4().hex}"
    try:
        top = g.GetDriverByName("MEM").Create("", 1, 1, 0)
        entries = {}
        for i, (path, name) in enumerate(zip(paths, group_names(paths)), start=1):
            try:
                g.Translate(f"{tmp}/{name}", path, format="VRT")
            except RuntimeError as e:
                raise Byte2BitError(f"cannot read {path}: {e}") from None
            entries[f"SUBDATASET_{i}_NAME"] = f"{tmp}/{name}"
            entries[f"SUBDATASET_{i}_DESC"] = os.path.basename(path)
        top.SetMetadata(entries, "SUBDATASETS")
        yield top
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


def _require_folder(path: str) -> None:
    if not os.path.isdir(path):
        raise InvalidArgumentError(f"folder {path} does not exist")


def transform(src, dst, cogLayout: bool = True, compression_level: int = 4, quantize_scale: float = 0,
              *, cog_layout: bool | None = None, block_size: int | None = None, overviews: bool = True,
              form: str = "zip", num_threads: int | str | None = None, progress=None,
              skip_missing: bool = False):
    """Convert GDAL rasters into .b2b files, through the B2B driver (as ``gdal_translate -of B2B``).

    ``src`` is a raster (GeoTIFF, COG, JP2, ...), a Sentinel-2 SAFE product (``.SAFE`` folder or
    ``.zip``: one .b2b with a raster per image file and its metadata XML), a glob pattern, or a
    list of those. Images a product's metadata lists but that are absent are an error naming
    them, unless ``skip_missing`` is True (the .b2b then records them as skipped).
    ``dst`` is the output file (its suffix becomes ``.b2b``); its path is returned. Several inputs
    go into that one file, a raster group per input (GDAL lists them as subdatasets). ``progress``
    is True for a progress bar or a callable taking the fraction done (return False to cancel).
    ``cog_layout`` is the snake_case spelling of ``cogLayout``: keep a tiled GeoTIFF/COG source's
    blocks when they are square and 256 or more (the driver's COG_LAYOUT).
    """
    if cog_layout is not None:
        cogLayout = cog_layout
    g = gdal()
    sources = [os.fspath(s) for s in src] if isinstance(src, (list, tuple)) else None
    if sources is None:
        src = os.fspath(src)
        sources = sorted(glob.glob(src)) if glob.has_magic(src) else [src]
        if not sources:
            raise InvalidArgumentError(f"no file matches {src!r}")
    many = isinstance(src, (list, tuple)) or len(sources) > 1 or glob.has_magic(os.fspath(src))
    opts = _creation_options(compression_level, quantize_scale, cogLayout, block_size, overviews, form,
                             num_threads)
    dst = os.fspath(dst)
    target = _b2b_name(dst)
    # As GDAL does, a missing folder is an error (a mistyped path is not created silently).
    if not dst.startswith("/vsi"):
        _require_folder(os.path.dirname(os.path.abspath(target)))
    for s in sources:
        # GDAL names that are no file path (SENTINEL2_L2A:...:60m:..., /vsi...) are identified by GDAL
        if not os.path.exists(s) and not s.startswith("/vsi") and g.IdentifyDriverEx(s, g.OF_RASTER) is None:
            raise FileNotFoundError(f"no such raster: {s}")
    name = f"{len(sources)} rasters" if many else os.path.basename(sources[0].rstrip("/"))
    callback, done = gdal_callback(progress, name)
    try:
        with _open_source(g, sources if many else sources[0], skip_missing) as ds:
            out = g.GetDriverByName(DRIVER).CreateCopy(target, ds, strict=0, options=opts, callback=callback)
            out = None  # noqa: F841  (closes the new file)
    except RuntimeError as e:
        raise Byte2BitError(f"{name} -> {target}: {e}") from None
    finally:
        done()
    return target


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
    notes: list[str] = field(default_factory=list)  # what the user asked to leave out, for example

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
        lines += [f"  note: {n}" for n in self.notes]
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
    prefix = f"{dds.GetDescription().rsplit(':', 1)[-1]} " if dds.GetDescription().startswith("B2B:") else ""
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


def _subdatasets(ds, suffix: str = "_NAME") -> list[str]:
    md = ds.GetMetadata("SUBDATASETS") or {}
    return [md[k] for k in sorted((k for k in md if k.endswith(suffix)), key=lambda k: int(k.split("_")[1]))]


def _product_pairs(g, src: str, dds, report: "VerifyReport") -> list:
    """(source image, stored raster) pairs of a Sentinel-2 product, matched by the image's path in
    the product (each stored raster's description); images or XML documents present on one side
    only are problems, images skipped at transform (absent from the product) are noted."""
    product = safe.scan(g, src)
    stored = dict(zip(_subdatasets(dds, "_DESC"), _subdatasets(dds)))
    skipped = [f for f in (dds.GetMetadataItem(safe.MISSING_KEY) or "").split(",") if f]
    report.problems += [f"{f}: in the product, not in the .b2b" for f in product.images if f not in stored]
    report.problems += [f"{f}: in the .b2b, missing from the product" for f in stored if f not in product.images]
    report.problems += [f"{f}: listed in the product metadata, missing from both, not recorded as skipped"
                        for f in product.missing if f not in stored and f not in skipped]
    if skipped:
        report.notes.append(f"{len(skipped)} images listed in the product metadata were missing from it and "
                            f"skipped at transform: {', '.join(os.path.basename(f) for f in skipped)}")
    kept = {d[4:] for d in dds.GetMetadataDomainList() or [] if d.startswith("xml:")}
    report.problems += [f"{f}: in the product, not in the .b2b" for f in product.xml_files if f not in kept]
    report.problems += [f"{f}: in the .b2b, missing from the product" for f in sorted(kept - set(product.xml_files))]
    report.problems += [f"{f}: differs from the copy in the .b2b" for f in product.xml_files
                        if f in kept and dds.GetMetadata(f"xml:{f}")[0] != safe.xml_text(g, product, f)]
    return [(g.Open(product.path(f)), g.Open(stored[f])) for f in product.images if f in stored]


def verify(src, dst, *, progress=None, raise_on_mismatch: bool = True) -> VerifyReport:
    """Compare every pixel of every band of ``dst`` (.b2b) with ``src``, plus georeferencing and nodata.

    Returns a report (equal or not, max abs error per band). A difference beyond what the file's
    error bound allows raises VerificationError, unless ``raise_on_mismatch`` is False.
    """
    g = gdal()
    many = isinstance(src, (list, tuple))
    src = [os.fspath(s) for s in src] if many else os.fspath(src)
    dst = os.fspath(dst)
    report = VerifyReport(source=", ".join(src) if many else src, b2b=dst)
    try:
        dds = g.OpenEx(dst, g.OF_RASTER, allowed_drivers=[DRIVER])
        sds = None if many or safe.product_root(src) else g.Open(src)
    except RuntimeError as e:
        raise InvalidArgumentError(str(e)) from None
    if many:
        stored = dict(zip(_subdatasets(dds, "_DESC"), _subdatasets(dds)))
        files = {os.path.basename(s): s for s in src}
        report.problems += [f"{f}: in the sources, not in the .b2b" for f in sorted(set(files) - set(stored))]
        report.problems += [f"{f}: in the .b2b, not among the sources" for f in sorted(set(stored) - set(files))]
        pairs = [(g.Open(files[f]), g.Open(stored[f])) for f in sorted(set(files) & set(stored))]
    elif sds is None:
        pairs = _product_pairs(g, src, dds, report)
    elif sds.RasterCount == 0:
        s_names, d_names = _subdatasets(sds), _subdatasets(dds)
        if len(s_names) != len(d_names):
            report.problems.append(f"{len(s_names)} rasters in the source, {len(d_names)} in the .b2b")
            s_names = d_names = []
        pairs = [(g.Open(a), g.Open(b)) for a, b in zip(s_names, d_names)]
    else:
        pairs = [(sds, dds)]
    total = sum(d.RasterYSize * (d.RasterCount + 1) for _, d in pairs)
    tick, close = ticker(progress, total, "verify", "row")
    try:
        for s, d in pairs:
            _verify_raster(g, s, d, report, tick)
    finally:
        close()
    if raise_on_mismatch and not report.ok:
        raise VerificationError(report)
    return report
