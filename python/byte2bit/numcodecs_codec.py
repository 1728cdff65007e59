"""Byte2Bit as a numcodecs codec (codec id "byte2bit"), for Zarr v2 and anything numcodecs."""
from __future__ import annotations

import numpy as np
from numcodecs.abc import Codec

from .core import _check_options, decode_array, encode_array
from .errors import BufferMismatchError


class Byte2Bit(Codec):
    """Lossless (default) or error-bounded compression of numeric arrays.

    dtype: how to read a raw byte buffer given to ``encode``; arrays of that dtype keep their shape,
    so 2-D chunks get 2-D prediction. None uses the dtype of the array given.
    compression_level: 0, 1, 2 or 4 (default, smallest). quantize_scale > 0 (with level 1) keeps every
    value within quantize_scale / 2.
    """

    codec_id = "byte2bit"

    def __init__(self, dtype=None, compression_level: int = 4, quantize_scale: float = 0.0):
        _check_options(compression_level, quantize_scale, None)
        self.dtype = None if dtype is None else np.dtype(dtype)
        self.compression_level = int(compression_level)
        self.quantize_scale = float(quantize_scale)

    def encode(self, buf):
        a = np.asarray(buf) if isinstance(buf, np.ndarray) else np.frombuffer(memoryview(buf), np.uint8)
        if self.dtype is not None and a.dtype != self.dtype:
            a = np.ascontiguousarray(a).reshape(-1).view(np.uint8)
            if a.size % self.dtype.itemsize:
                raise BufferMismatchError(
                    f"buffer of {a.size} bytes is not a whole number of {self.dtype} items")
            a = a.view(self.dtype)
        return encode_array(a, self.compression_level, self.quantize_scale)

    def decode(self, buf, out=None):
        if out is not None and not isinstance(out, np.ndarray):
            out = np.frombuffer(out, np.uint8) if isinstance(out, bytes) else np.asarray(out)
        return decode_array(buf, out=out)

    def get_config(self):
        return {
            "id": self.codec_id,
            "dtype": None if self.dtype is None else self.dtype.str,
            "compression_level": self.compression_level,
            "quantize_scale": self.quantize_scale,
        }

    def __repr__(self):
        return (f"Byte2Bit(dtype={None if self.dtype is None else str(self.dtype)!r}, "
                f"compression_level={self.compression_level}, quantize_scale={self.quantize_scale})")
