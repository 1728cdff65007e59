"""Byte2Bit: lossless (and error-bounded) compression for scientific and satellite arrays.

The codec is C++ (``byte2bit._core``); this package adds numpy, numcodecs and Zarr v3 codecs, the
``.b2b`` container (a Zarr v3 hierarchy as one zip file or a directory), and ``transform`` /
``verify`` for rasters (through the B2B GDAL driver), NetCDF, HDF5 and Zarr.

The parts that need zarr-python or numcodecs are imported on first use, so the codec, rasters and
inspection also work where those are absent or too new for the numpy at hand (inside QGIS).
"""
from importlib import import_module

from .core import FORMAT_VERSION, LIBRARY_VERSION, decode_array, encode_array, inspect_stream
from .errors import (
    BufferMismatchError,
    Byte2BitError,
    ChecksumError,
    CorruptDataError,
    InvalidArgumentError,
    LimitExceededError,
    NotByte2BitError,
    TruncatedError,
    UnsupportedDtypeError,
    UnsupportedVersionError,
)
from .inspection import Inspection, inspect_byte2bit
from .convert import UnknownFormatError, detect, transform, verify, verify_equal
from .raster import BandReport, VerificationError, VerifyReport, register_gdal_driver

register_gdal_driver()  # so that rasterio and osgeo open .b2b files with nothing exported

_LAZY = {
    "Archive": "container", "list_archive": "container", "load_archive": "container",
    "load_byte2bit": "container", "load_byte2bit_into": "container", "open_archive": "container",
    "open_store": "container",
    "save_archive": "container", "save_byte2bit": "container",
    "Byte2Bit": "numcodecs_codec", "Byte2BitZarrV3Codec": "zarr_codec",
    "GribStore": "grib", "decompress_gridsimple_message": "grib",
    "save_ml_checkpoint": "checkpoint", "load_ml_checkpoint": "checkpoint", "open_ml_checkpoint": "checkpoint",
}


def __getattr__(name):
    if name in _LAZY:
        value = getattr(import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'byte2bit' has no attribute {name!r}")


__version__ = LIBRARY_VERSION
__all__ = sorted([name for name in dir() if not name.startswith("_") and name != "import_module"] + list(_LAZY))
