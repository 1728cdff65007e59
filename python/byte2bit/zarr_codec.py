"""Byte2Bit as a Zarr v3 array-to-bytes codec (name "byte2bit"), usable inside sharding."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from zarr.abc.codec import ArrayBytesCodec
from zarr.core.buffer import Buffer, NDBuffer
from zarr.core.common import parse_named_configuration

from . import planes
from .core import _check_options, codec_dtype, decode_array, encode_array
from .errors import InvalidArgumentError

if TYPE_CHECKING:
    from typing import Self

    from zarr.core.array_spec import ArraySpec

CODEC_NAME = "byte2bit"


@dataclass(frozen=True)
class Byte2BitZarrV3Codec(ArrayBytesCodec):
    """Serializer for Zarr v3 arrays: each chunk becomes one self-checking Byte2Bit stream."""

    is_fixed_size = False

    compression_level: int = 4
    quantize_scale: float = 0.0

    def __init__(self, *, compression_level: int = 4, quantize_scale: float = 0.0) -> None:
        _check_options(compression_level, quantize_scale, None)
        object.__setattr__(self, "compression_level", int(compression_level))
        object.__setattr__(self, "quantize_scale", float(quantize_scale))

    @classmethod
    def from_dict(cls, data) -> Self:
        _, configuration = parse_named_configuration(data, CODEC_NAME, require_configuration=False)
        return cls(**(configuration or {}))

    def to_dict(self):
        return {"name": CODEC_NAME, "configuration": {
            "compression_level": self.compression_level, "quantize_scale": self.quantize_scale}}

    def evolve_from_array_spec(self, array_spec: ArraySpec) -> Self:
        return self

    def validate(self, *, shape, dtype, chunk_grid) -> None:
        native = dtype.to_native_dtype()
        codec_dtype(native)  # raises for unsupported types
        if self.quantize_scale and native.kind not in "fc":
            raise InvalidArgumentError(
                f"quantize_scale > 0 needs float or complex data, the array is {native}")

    async def _decode_single(self, chunk_bytes: Buffer, chunk_spec: ArraySpec) -> NDBuffer:
        native = chunk_spec.dtype.to_native_dtype()

        def work():
            out = np.empty(chunk_spec.shape, dtype=native)
            return decode_array(chunk_bytes.as_numpy_array(), out=out)

        return chunk_spec.prototype.nd_buffer.from_numpy_array(await asyncio.to_thread(work))

    async def _encode_single(self, chunk_array: NDBuffer, chunk_spec: ArraySpec) -> Buffer | None:
        a = chunk_array.as_numpy_array()
        data = await asyncio.to_thread(encode_array, a, self.compression_level, self.quantize_scale)
        return chunk_spec.prototype.buffer.from_bytes(data)

    def compute_encoded_size(self, input_byte_length: int, _chunk_spec: ArraySpec) -> int:
        raise NotImplementedError("Byte2Bit streams are variable-size")


PLANES_NAME = "byte2bit_planes"


@dataclass(frozen=True)
class Byte2BitPlanesCodec(ArrayBytesCodec):
    """Serializer for floating-point weights (and bfloat16 kept as uint16): each chunk becomes one
    byte-plane stream (``byte2bit.planes``); checkpoints use it."""

    is_fixed_size = False

    compression_level: int = 4

    def __init__(self, *, compression_level: int = 4) -> None:
        _check_options(compression_level, 0.0, None)
        object.__setattr__(self, "compression_level", int(compression_level))

    @classmethod
    def from_dict(cls, data) -> Self:
        _, configuration = parse_named_configuration(data, PLANES_NAME, require_configuration=False)
        return cls(**(configuration or {}))

    def to_dict(self):
        return {"name": PLANES_NAME, "configuration": {"compression_level": self.compression_level}}

    def evolve_from_array_spec(self, array_spec: ArraySpec) -> Self:
        return self

    def validate(self, *, shape, dtype, chunk_grid) -> None:
        native = dtype.to_native_dtype()
        if native.itemsize not in (2, 4, 8) or native.kind not in "fu":
            raise InvalidArgumentError(f"byte planes take float16/32/64 (or bfloat16 as uint16), not {native}")

    async def _decode_single(self, chunk_bytes: Buffer, chunk_spec: ArraySpec) -> NDBuffer:
        native = chunk_spec.dtype.to_native_dtype()

        def work():
            return planes.decode(chunk_bytes.as_numpy_array(), np.empty(chunk_spec.shape, dtype=native))

        return chunk_spec.prototype.nd_buffer.from_numpy_array(await asyncio.to_thread(work))

    async def _encode_single(self, chunk_array: NDBuffer, chunk_spec: ArraySpec) -> Buffer | None:
        data = await asyncio.to_thread(planes.encode, chunk_array.as_numpy_array(), self.compression_level)
        return chunk_spec.prototype.buffer.from_bytes(data)

    def compute_encoded_size(self, input_byte_length: int, _chunk_spec: ArraySpec) -> int:
        raise NotImplementedError("byte-plane streams are variable-size")
