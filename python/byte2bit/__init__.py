"""Byte2Bit: lossless (and error-bounded) compression for scientific and satellite arrays.

The codec is C++ (``byte2bit._core``); this package adds numpy, numcodecs and Zarr v3 codecs and
the ``.b2b`` container (a Zarr v3 hierarchy as one zip file or a directory).
"""
from .container import (
    Archive,
    Inspection,
    inspect_byte2bit,
    list_archive,
    load_archive,
    load_byte2bit,
    load_byte2bit_into,
    open_archive,
    save_archive,
    save_byte2bit,
)
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
from .numcodecs_codec import Byte2Bit
from .raster import BandReport, VerificationError, VerifyReport, transform, verify
from .zarr_codec import Byte2BitZarrV3Codec

__version__ = LIBRARY_VERSION
__all__ = [name for name in dir() if not name.startswith("_")]
