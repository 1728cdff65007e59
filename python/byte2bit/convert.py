"""``transform`` and ``verify`` for every input: the format is recognised by content (magic bytes),
then rasters go through the B2B GDAL driver (``raster.py``) and NetCDF, HDF5 and Zarr through
``datasets.py``. A glob or a list becomes one .b2b with a group per input file."""
from __future__ import annotations

import glob
import os
import zipfile

from . import raster, safe
from .core import LEVELS
from .errors import Byte2BitError, InvalidArgumentError

ACCEPTED = ("GeoTIFF/COG, JPEG 2000, a Sentinel-2 SAFE product (folder or .zip), NetCDF (classic, 64-bit "
            "offset, NetCDF-4), HDF5, Zarr v2/v3 (directory or .zip), GRIB 1/2, and other rasters GDAL reads")
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


class UnknownFormatError(InvalidArgumentError):
    """The input is none of the formats transform accepts."""


def detect(path: str) -> str:
    """What a file or folder holds: "raster", "safe", "netcdf3", "netcdf4", "hdf5", "zarr" or "grib"."""
    path = os.fspath(path)
    if not os.path.exists(path):
        if _gdal_raster(path):  # a GDAL subdataset name (SENTINEL2_L2A:...:60m:...) or a /vsi path
            return "raster"
        raise FileNotFoundError(f"no such file or folder: {path}")
    if os.path.isdir(path):
        if safe.product_root(path):
            return "safe"
        if os.path.exists(os.path.join(path, "zarr.json")):
            with open(os.path.join(path, "zarr.json"), "rb") as f:
                return _zarr_or_raster(f.read(1 << 24))
        if any(os.path.exists(os.path.join(path, n)) for n in (".zgroup", ".zarray")):
            return "zarr"
        raise UnknownFormatError(f"{path} is a folder that is neither a Zarr store nor a Sentinel-2 SAFE product; "
                                 f"transform accepts {ACCEPTED}")
    with open(path, "rb") as f:
        head = f.read(4096)
    if head[:4] == b"CDF\x01" or head[:4] == b"CDF\x02" or head[:4] == b"CDF\x05":
        return "netcdf3"
    # HDF5's signature sits at 0, 512, 1024, 2048, ... (after a user block)
    if any(_at(path, offset, len(HDF5_MAGIC)) == HDF5_MAGIC for offset in (0, 512, 1024, 2048, 4096, 8192)):
        from .sources.netcdf_hdf5 import is_netcdf4
        try:
            return "netcdf4" if is_netcdf4(path) else "hdf5"
        except OSError as e:
            raise Byte2BitError(f"{path}: an HDF5 file that HDF5 cannot open ({e}); is it truncated?") from None
    start = head.find(b"GRIB")  # after a WMO bulletin header, if any, as ecCodes reads it
    if 0 <= start <= len(head) - 8 and head[start + 7] in (1, 2):
        return "grib"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+") or head[:12] == b"\x00\x00\x00\x0cjP  \r\n\x87\n" \
            or head[:4] == b"\xff\x4f\xff\x51":
        return "raster"
    if head[:4] == b"PK\x03\x04" and zipfile.is_zipfile(path):
        if safe.product_root(path):
            return "safe"
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
            if "zarr.json" in names and z.getinfo("zarr.json").file_size < 1 << 24:
                return _zarr_or_raster(z.read("zarr.json"))
        if names & {".zgroup", ".zarray"}:
            return "zarr"
    if _gdal_raster(path):  # any other raster GDAL reads (VRT, PNG, HDF4, ...) keeps today's raster path
        return "raster"
    raise UnknownFormatError(f"{path}: unknown format (starts with {head[:8]!r}); transform accepts {ACCEPTED}")


def _gdal_raster(path: str) -> bool:
    try:
        g = raster.gdal()
    except Byte2BitError:
        return False
    driver = g.IdentifyDriverEx(path, g.OF_RASTER)
    # GDAL's GRIB driver claims any *.grib by its name; real GRIB was recognised above, through ecCodes
    return driver is not None and driver.ShortName != "GRIB"


def _zarr_or_raster(root_doc: bytes) -> str:
    """A Zarr v3 store is a Zarr source, unless it is a .b2b raster (which GDAL reads as a raster)."""
    import json
    try:
        tag = json.loads(root_doc).get("attributes", {}).get("byte2bit", {})
    except (ValueError, AttributeError):
        return "zarr"
    return "raster" if isinstance(tag, dict) and tag.get("layout") in ("raster", "rasters") else "zarr"


def _at(path: str, offset: int, size: int) -> bytes:
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read(size)


def expand(src) -> tuple[list[str], bool]:
    """(input paths, whether they are several): a path, a glob pattern, or a list of those."""
    items = [os.fspath(s) for s in src] if isinstance(src, (list, tuple)) else [os.fspath(src)]
    paths = []
    for item in items:
        if glob.has_magic(item):
            matches = sorted(glob.glob(item))
            if not matches:
                raise InvalidArgumentError(f"no file matches {item!r}")
            paths += matches
        else:
            paths.append(item)
    if not paths:
        raise InvalidArgumentError("no input given")
    return paths, isinstance(src, (list, tuple)) or len(paths) > 1 or glob.has_magic(items[0])


def _classify(paths: list[str], on_error: str) -> tuple[list[str], list[str], list[dict]]:
    kept, formats, bad = [], [], []
    for p in paths:
        try:
            formats.append(detect(p))
            kept.append(p)
        except (Byte2BitError, OSError) as e:
            if on_error != "skip":
                raise
            bad.append({"file": os.path.basename(p.rstrip("/")), "error": str(e)})
    kinds = {"raster" if f in ("raster", "safe") else "grib" if f == "grib" else "datasets" for f in formats}
    if len(kinds) > 1:
        raise InvalidArgumentError("rasters, GRIB files and NetCDF/HDF5/Zarr files cannot go into one .b2b: "
                                   "convert them separately")
    return kept, formats, bad


def transform(src, dst, cogLayout: bool = True, compression_level: int = 4, quantize_scale: float = 0, *,
              form: str = "zip", progress=None, on_error: str = "raise", chunks: dict | None = None,
              encoding: dict | None = None, **raster_options):
    """Convert ``src`` into a .b2b at ``dst`` and return its path.

    ``src`` is a file or folder, a glob pattern or a list; the format is recognised by content:
    GeoTIFF/COG/JPEG 2000 and Sentinel-2 SAFE products (through the B2B GDAL driver; see
    ``raster.transform`` for ``cogLayout``, ``block_size``, ``overviews``, ``num_threads`` and
    ``skip_missing``), NetCDF, HDF5 and Zarr (one group per input file, CF encodings kept;
    ``chunks={dim: size}`` and ``encoding={variable: {"compression_level", "quantize_scale",
    "chunks"}}`` override the defaults). Several inputs go into one .b2b. With
    ``on_error="skip"``, inputs that cannot be read are left out and listed in the .b2b (and in
    ``verify``'s report). ``quantize_scale > 0`` is error-bounded (floating-point data, never
    coordinates). ``progress``: True for a bar (the default for NetCDF/HDF5/Zarr), False, or a
    callable taking the fraction done.
    """
    if compression_level not in LEVELS:
        raise InvalidArgumentError(f"compression_level must be 0, 1, 2 or 4, got {compression_level!r}")
    paths, many = expand(src)
    kept, formats, bad = _classify(paths, on_error)
    if not kept:
        raise Byte2BitError("no input could be converted:\n  " + "\n  ".join(f"{b['file']}: {b['error']}" for b in bad))
    if formats[0] in ("raster", "safe"):
        if bad:
            raise Byte2BitError("cannot convert: " + "; ".join(f"{b['file']}: {b['error']}" for b in bad))
        if chunks or encoding:
            raise InvalidArgumentError("chunks= and encoding= apply to NetCDF, HDF5 and Zarr inputs; rasters take "
                                       "block_size=")
        return raster.transform(kept if many else kept[0], dst, cogLayout, compression_level, quantize_scale,
                                form=form, progress=progress, **raster_options)
    if raster_options:
        raise InvalidArgumentError(f"{', '.join(sorted(raster_options))}: raster options, not for NetCDF, HDF5, Zarr "
                                   "or GRIB")
    if formats[0] == "grib":
        if quantize_scale or chunks or encoding:
            raise InvalidArgumentError("GRIB messages are stored exactly as packed: quantize_scale, chunks and "
                                       "encoding do not apply")
        from . import grib
        return grib.transform(kept, dst, compression_level=compression_level, form=form,
                              progress=True if progress is None else progress, on_error=on_error, skipped=bad)
    from . import datasets  # zarr-python: imported only here, so rasters convert where it cannot load (QGIS)
    out = datasets.transform(kept, formats, dst, compression_level=compression_level, quantize_scale=quantize_scale,
                             chunks=chunks, encoding=encoding, form=form,
                             progress=True if progress is None else progress, on_error=on_error,
                             skipped=bad)
    return out


def verify(src, dst, *, progress=None, raise_on_mismatch: bool = True):
    """Compare ``dst`` (.b2b) with its source(s): structure, metadata and every value, bit-exact
    (NaN equal to NaN) or within the error bound the file was written with. Returns a report;
    raises VerificationError on any difference unless ``raise_on_mismatch`` is False."""
    paths, many = expand(src)
    kept, formats, bad = _classify(paths, "skip")
    if formats and formats[0] in ("raster", "safe") and not bad:
        return raster.verify(paths if many else paths[0], dst, progress=progress, raise_on_mismatch=raise_on_mismatch)
    if not kept:
        raise Byte2BitError("; ".join(f"{b['file']}: {b['error']}" for b in bad))
    if formats[0] == "grib":
        from . import grib
        return grib.verify(kept, dst, progress=True if progress is None else progress,
                           raise_on_mismatch=raise_on_mismatch, unreadable=bad)
    from . import datasets
    return datasets.verify(kept, formats, dst, progress=True if progress is None else progress,
                           raise_on_mismatch=raise_on_mismatch, unreadable=bad)


def verify_equal(src, dst, arrays, progress_every: int = 0, *, raise_on_mismatch: bool = True):
    """Compare only the named arrays of ``dst`` with the source, value by value. Names are variable
    paths ("air_temperature", "NS/SLV/zFactorCorrected"), or "<file group>/<path>" to pick one
    file of several. Prints progress every ``progress_every`` chunks (0: silent)."""
    if isinstance(arrays, str) or not arrays:
        raise InvalidArgumentError("arrays must be a non-empty list of array names")
    paths, _ = expand(src)
    formats = [detect(p) for p in paths]
    if formats[0] in ("raster", "safe", "grib"):
        raise InvalidArgumentError("verify_equal compares NetCDF, HDF5 and Zarr arrays; use verify for rasters and GRIB")
    _classify(paths, "raise")
    from . import datasets
    return datasets.verify(paths, formats, dst, arrays=list(arrays), progress=False,
                           progress_every=int(progress_every), raise_on_mismatch=raise_on_mismatch)
