"""Convert, verify and inspect, as plain functions with progress and cancel, shared by the dialogs
(run in a QgsTask) and the Processing algorithms."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass

from .environment import import_byte2bit


class Cancelled(Exception):
    pass


def path_size(path: str) -> int:
    """Bytes of a file, or of every file below a folder (a .SAFE product, a directory .b2b)."""
    if os.path.isdir(path):
        return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)
    return os.path.getsize(path) if os.path.exists(path) else 0


def _reporter(progress, is_cancelled):
    """A byte2bit progress callable (fraction done -> False to cancel) from a percent sink and a
    cancel check, the shape QgsTask and QgsProcessingFeedback offer."""
    def report(fraction):
        if is_cancelled and is_cancelled():
            return False
        if progress:
            progress(100.0 * fraction)
        return True
    return report


@dataclass
class ConvertResult:
    source: str
    output: str
    input_bytes: int
    output_bytes: int
    seconds: float
    rasters: list[str]  # what the .b2b holds: "name: where it came from" per raster of a product


    @property
    def ratio(self) -> float:
        return self.input_bytes / self.output_bytes if self.output_bytes else float("nan")

    def summary(self) -> str:
        return (f"{os.path.basename(self.source.rstrip('/'))} -> {os.path.basename(self.output)}: "
                f"{self.input_bytes / 1e6:.2f} MB -> {self.output_bytes / 1e6:.2f} MB "
                f"(ratio {self.ratio:.2f}) in {self.seconds:.1f} s")

    def stored(self) -> str:
        """The rasters of a multi-raster .b2b, one per line ("" for a single raster)."""
        return "\n".join(self.rasters)


def stored_rasters(path: str) -> list[str]:
    """"name: description" of each raster a multi-raster .b2b (a product) holds, read back from it."""
    from osgeo import gdal
    ds = gdal.OpenEx(path, gdal.OF_RASTER, allowed_drivers=["B2B"])
    md = (ds.GetMetadata("SUBDATASETS") or {}) if ds is not None else {}
    return [f"{md[f'SUBDATASET_{i}_NAME'].rsplit(':', 1)[-1]}: {md.get(f'SUBDATASET_{i}_DESC', '')}"
            for i in range(1, len(md) // 2 + 1) if f"SUBDATASET_{i}_NAME" in md]


def convert(source: str, output: str, level: int = 4, quantize_scale: float = 0.0, cog_layout: bool = True,
            block_size: int | None = None, overviews: bool = True, skip_missing: bool = False, progress=None,
            is_cancelled=None) -> ConvertResult:
    """One raster, SAFE product (.SAFE folder or .zip) or GDAL dataset name into one .b2b.
    ``skip_missing``: convert a product whose metadata lists images it does not hold."""
    b2b = import_byte2bit()
    start = time.perf_counter()
    try:
        out = b2b.transform(source, output, cogLayout=cog_layout, compression_level=level,
                            quantize_scale=quantize_scale, block_size=block_size, overviews=overviews,
                            skip_missing=skip_missing, progress=_reporter(progress, is_cancelled))
    except b2b.Byte2BitError as e:
        if is_cancelled and is_cancelled():
            raise Cancelled("cancelled: no output was written") from None
        if getattr(e, "missing", None):  # a product lacking images its metadata lists
            raise ValueError(f"{e}\nIn QGIS: tick 'Skip images missing from a Sentinel-2 product' "
                             "(SKIP_MISSING=true in Processing).") from None
        raise
    return ConvertResult(source, out, path_size(source), path_size(out), time.perf_counter() - start,
                         stored_rasters(out))


def verify(original: str, b2b_path: str, progress=None, is_cancelled=None):
    """The byte2bit VerifyReport (never raises on a mismatch: the report says pass or fail)."""
    b2b = import_byte2bit()
    try:
        return b2b.verify(original, b2b_path, progress=_reporter(progress, is_cancelled), raise_on_mismatch=False)
    except b2b.Byte2BitError as e:
        if "cancelled" in str(e):
            raise Cancelled("verification cancelled") from None
        raise


def inspect(path: str):
    """The byte2bit Inspection of a .b2b: arrays, levels, sizes, rasters, checksums."""
    return import_byte2bit().inspect_byte2bit(path)


RASTER_SUFFIXES = (".tif", ".tiff", ".jp2", ".img", ".vrt")


def sources_in(path: str) -> list[str]:
    """What converting `path` means: a SAFE product or a file is one source; another folder is
    every raster file directly in it."""
    if os.path.isfile(path) or path.upper().rstrip("/").endswith(".SAFE"):
        return [path]
    if os.path.isdir(path):
        return sorted(os.path.join(path, f) for f in os.listdir(path) if f.lower().endswith(RASTER_SUFFIXES))
    return [path]  # a GDAL dataset name (e.g. a layer's subdataset)


def thumbnail(path: str, size: int = 256):
    """RGB (or grey) uint8 pixels of the smallest overview of a .b2b, stretched 2-98%, as a numpy
    array (rows, cols, 3); None when GDAL cannot read it."""
    import numpy as np
    from osgeo import gdal
    ds = gdal.Open(path)
    if ds is None:
        return None
    if ds.RasterCount == 0:  # several rasters: the first one
        sub = (ds.GetMetadata("SUBDATASETS") or {}).get("SUBDATASET_1_NAME")
        ds = gdal.Open(sub) if sub else None
        if ds is None:
            return None
    bands = [ds.GetRasterBand(i) for i in ((1, 2, 3) if ds.RasterCount >= 3 else (1, 1, 1))]
    planes = []
    for band in bands:
        source = band.GetOverview(band.GetOverviewCount() - 1) if band.GetOverviewCount() else band
        scale = max(source.XSize, source.YSize) / size
        w, h = max(1, int(source.XSize / max(scale, 1))), max(1, int(source.YSize / max(scale, 1)))
        a = source.ReadAsArray(buf_xsize=w, buf_ysize=h).astype(np.float64)
        lo, hi = np.percentile(a, (2, 98))
        planes.append(np.clip((a - lo) / (hi - lo if hi > lo else 1) * 255, 0, 255).astype(np.uint8))
    return np.dstack(planes)
