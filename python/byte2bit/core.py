"""numpy arrays <-> Byte2Bit streams, on top of the C++ codec."""
from __future__ import annotations

import numpy as np

from . import _core
from .errors import (BufferMismatchError, ChecksumError, InvalidArgumentError, LimitExceededError,
                     UnsupportedDtypeError)

FORMAT_VERSION = _core.format_version
LIBRARY_VERSION = _core.library_version
LEVELS = (0, 1, 2, 4)
# decode_array() without ``out`` allocates what the stream declares; past this it refuses, so a
# hostile stream cannot make it allocate without bound. Pass max_bytes to go higher.
DEFAULT_MAX_DECODE_BYTES = 1 << 31


def codec_dtype(dtype) -> tuple[str, int]:
    """The codec's name and item size for a numpy dtype; raises for types it cannot store."""
    dt = np.dtype(dtype)
    kind, size = dt.kind, dt.itemsize
    if kind == "b":
        return "bool", 1
    if kind in "iu" and size in (1, 2, 4, 8):
        return ("int" if kind == "i" else "uint") + str(8 * size), size
    if kind == "f" and size in (2, 4, 8):
        return "float" + str(8 * size), size
    if kind == "c" and size in (8, 16):
        return "complex" + str(8 * size), size
    if kind in "SV" and dt.fields is None and size > 0:
        return "bytes", size
    raise UnsupportedDtypeError(f"unsupported dtype {dt} (byte2bit stores bool, integers, floats, "
                                "complex and fixed-size bytes)")


def numpy_dtype(name: str, item_size: int) -> np.dtype:
    """The native numpy dtype a stream decodes to."""
    return np.dtype(f"S{item_size}") if name == "bytes" else np.dtype(name)


def _check_options(level, quantize_scale, decimal_digits):
    if level not in LEVELS:
        raise InvalidArgumentError(f"compression_level must be one of 0, 1, 2, 4, got {level!r}")
    if not (quantize_scale == 0 or quantize_scale > 0):
        raise InvalidArgumentError(f"quantize_scale must be 0 (lossless) or > 0, got {quantize_scale!r}")
    if quantize_scale and level != 1:
        raise InvalidArgumentError("quantize_scale > 0 (the error-bounded mode) needs compression_level=1, "
                                   f"got compression_level={level}")
    if decimal_digits is not None and not (0 <= int(decimal_digits) <= 18):
        raise InvalidArgumentError(f"decimal_digits must be 0 to 18, got {decimal_digits!r}")


def encode_array(array, compression_level: int = 4, quantize_scale: float = 0.0,
                 decimal_digits: int | None = None, exact_values=()) -> bytes:
    """Encode any array-like (any memory order, any byte order) into one stream.

    exact_values: with quantize_scale > 0, values (a nodata or fill value, at most 16) kept bit-exact,
    and that no other value is allowed to decode to.
    """
    _check_options(compression_level, quantize_scale, decimal_digits)
    a = np.asarray(array)
    name, size = codec_dtype(a.dtype)
    if a.dtype.byteorder == ">":
        a = a.astype(a.dtype.newbyteorder("="))
    a = a if a.flags.c_contiguous else a.copy(order="C")  # ascontiguousarray would make 0-d 1-d
    return _core.encode(a.reshape(-1).view(np.uint8), name, size if name == "bytes" else 0,
                        list(a.shape), int(compression_level), float(quantize_scale),
                        -1 if decimal_digits is None else int(decimal_digits),
                        [float(v) for v in exact_values])


def inspect_stream(stream, verify_checksum: bool = True) -> dict:
    """The facts a stream's header states, plus whether its checksum holds."""
    return _core.inspect(_as_bytes_view(stream), verify_checksum)


def decode_array(stream, out: np.ndarray | None = None, max_bytes: int = DEFAULT_MAX_DECODE_BYTES) -> np.ndarray:
    """Decode a stream into a new array (at most ``max_bytes``), or into ``out`` (same dtype and
    shape, or same number of elements for a contiguous ``out``). Returns the decoded array."""
    view = _as_bytes_view(stream)
    # Before allocating for the caller, make sure the header is genuine; decoding into a given
    # ``out`` verifies the checksum in C++ anyway.
    info = _core.inspect(view, out is None)
    if out is None and not info["checksum_ok"]:
        raise ChecksumError("checksum mismatch: the stream is corrupt")
    dt = numpy_dtype(info["dtype"], info["item_size"])
    shape = tuple(info["shape"])
    if out is None:
        if info["raw_size"] > max_bytes:
            raise LimitExceededError(f"stream declares {info['raw_size']:,} bytes, more than max_bytes="
                                     f"{max_bytes:,}; pass a larger max_bytes or an out array")
        result = np.empty(shape, dtype=dt)
        _core.decode(view, result.reshape(-1).view(np.uint8), info["dtype"], fresh=True)
        return result
    if not isinstance(out, np.ndarray):
        raise BufferMismatchError(f"out must be a numpy array, got {type(out).__name__}")
    same_bytes = dt.kind == "S" and out.dtype.kind in "SV" and out.dtype.itemsize == dt.itemsize
    if out.dtype.newbyteorder("=") != dt and not same_bytes:
        raise BufferMismatchError(f"out has dtype {out.dtype}, the stored array is {dt}")
    count = int(np.prod(shape, dtype=np.uint64))
    if out.shape != shape and not (out.size == count and out.flags.c_contiguous):
        raise BufferMismatchError(f"out has shape {out.shape}, the stored array has shape {shape}")
    if out.flags.c_contiguous and out.flags.writeable and out.dtype.isnative:
        _core.decode(view, out.reshape(-1).view(np.uint8), info["dtype"])
    else:
        out[...] = decode_array(view, max_bytes=out.nbytes).reshape(out.shape)
    return out


def _as_bytes_view(stream):
    if isinstance(stream, (bytes, bytearray, memoryview)):
        return stream
    a = np.asarray(stream)
    return np.ascontiguousarray(a).reshape(-1).view(np.uint8)
