"""Byte planes: lossless compression of floating-point weights by their sign/exponent/mantissa
structure (the idea ZipNN describes), with the codec's entropy coder.

Each value is rotated left by one bit, so that the sign moves to the lowest bit and the exponent
fills the highest byte (bfloat16 and float32 exactly; float16 and float64 mostly). The values are
then split into byte planes. A plane that compresses (the exponent plane, about 3x on real
weights) is rank-mapped, its most frequent byte becoming 0, the next 1, ..., so that the codec's
small-value tokens fit it, and coded by the codec with its own checksum. A plane that does not
(the mantissa's low bytes) is kept as it is, which also makes it free to decode. A 2-D predictor
does not help on weight matrices, so none is asked for.

Stream (little-endian): ``b"B2BP"``, u8 version (1), u8 item size (2, 4 or 8), u16 reserved (0),
u64 count of values, u32 CRC-32 of everything after this field, then for each plane from the
lowest byte up: u8 mode (0 stored, 1 ranked and coded), [256-byte rank table, mode 1], u64 length,
the bytes (mode 0: count bytes; mode 1: a codec stream of count uint8 values).
"""
from __future__ import annotations

import struct
import zlib

import numpy as np

from . import _core
from .core import decode_array, encode_array, inspect_stream
from .errors import Byte2BitError, CorruptDataError

MAGIC = b"B2BP"
VERSION = 1
HEADER = struct.Struct("<4sBBHQI")
WORDS = {2: np.uint16, 4: np.uint32, 8: np.uint64}
MIN_SAVING = 0.02  # a plane is coded only when that saves at least 2% of it


def _rotate_left(words: np.ndarray, bits: int) -> np.ndarray:
    t = words.dtype.type
    return (words << t(1)) | (words >> t(bits - 1))


def encode(values: np.ndarray, level: int = 4) -> bytes:
    """Byte-plane stream of a float16/bfloat16 (as uint16), float32 or float64 array."""
    a = np.ascontiguousarray(values).reshape(-1)
    size = a.dtype.itemsize
    if size not in WORDS:
        raise Byte2BitError(f"byte planes take 2-, 4- or 8-byte values, not {a.dtype}")
    words = _rotate_left(a.view(WORDS[size]), size * 8)
    planes = words.view(np.uint8).reshape(-1, size)  # little-endian: column k is byte k
    body = []
    for k in range(size):
        plane = np.ascontiguousarray(planes[:, k])
        counts = np.bincount(plane, minlength=256)
        order = np.argsort(-counts, kind="stable").astype(np.uint8)
        rank = np.empty(256, np.uint8)
        rank[order] = np.arange(256, dtype=np.uint8)
        # the order-0 entropy says whether coding can pay (the codec comes within ~1% of it), so
        # planes of near-random mantissa bytes are not coded just to be thrown away
        p = counts[counts > 0] / max(1, plane.size)
        promising = a.size and -(p * np.log2(p)).sum() / 8 < 1 - MIN_SAVING
        coded = encode_array(rank[plane], level) if promising else b""
        if promising and len(coded) + 256 < plane.size * (1 - MIN_SAVING):
            body += [b"\x01", order.tobytes(), struct.pack("<Q", len(coded)), coded]
        else:
            body += [b"\x00", struct.pack("<Q", plane.size), plane.tobytes()]
    payload = b"".join(body)
    return HEADER.pack(MAGIC, VERSION, size, 0, a.size, zlib.crc32(payload)) + payload


def _parse(stream, verify: bool = True) -> tuple[int, int, list[tuple[int, np.ndarray | None, memoryview]]]:
    """(item size, count, [(mode, rank order, body)] per plane), the structure (and CRC) checked."""
    data = memoryview(stream).cast("B")
    if len(data) < HEADER.size:
        raise CorruptDataError("byte-plane stream: truncated header")
    magic, version, size, reserved, count, crc = HEADER.unpack_from(data)
    if magic != MAGIC or version != VERSION or size not in WORDS or reserved:
        raise CorruptDataError("not a byte-plane stream of a version this reader knows")
    payload = data[HEADER.size:]
    if verify and zlib.crc32(payload) != crc:
        raise CorruptDataError("byte-plane stream: checksum mismatch, the data is corrupt")
    planes, pos = [], 0
    try:
        for _ in range(size):
            mode, order = payload[pos], None
            pos += 1
            if mode == 1:
                order = np.frombuffer(payload[pos:pos + 256], np.uint8)
                pos += 256
            elif mode != 0:
                raise CorruptDataError(f"byte-plane stream: unknown plane mode {mode}")
            (length,) = struct.unpack_from("<Q", payload, pos)
            pos += 8
            if length > len(payload) - pos:
                raise CorruptDataError("byte-plane stream: a plane runs past the end")
            body = payload[pos:pos + length]
            pos += length
            if mode == 0 and length != count:
                raise CorruptDataError("byte-plane stream: a stored plane has the wrong length")
            if mode == 1:
                info = inspect_stream(body, verify_checksum=False)
                if tuple(info["shape"]) != (count,) or info["dtype"] != "uint8":
                    raise CorruptDataError("byte-plane stream: a coded plane has the wrong size")
            planes.append((mode, order, body))
    except (IndexError, struct.error):
        raise CorruptDataError("byte-plane stream: truncated") from None
    if pos != len(payload):
        raise CorruptDataError("byte-plane stream: bytes after the last plane")
    return size, count, planes


def check(stream) -> tuple[int, int]:
    """(item size, count) of a stream whose structure and every checksum hold; raises otherwise."""
    size, count, planes = _parse(stream)
    for mode, _, body in planes:
        if mode == 1 and not inspect_stream(body, verify_checksum=True)["checksum_ok"]:
            raise CorruptDataError("byte-plane stream: a coded plane's checksum does not match")
    return size, count


def decode(stream, out: np.ndarray, verify: bool = True) -> np.ndarray:
    """Decode into ``out`` (contiguous, of the stream's item size and count); returns ``out``.
    ``verify=False`` skips the stream's CRC, for bytes a container's manifest has just checked
    (coded planes still check their own)."""
    size, count, parsed = _parse(stream, verify)
    if out.dtype.itemsize != size or out.size != count or not out.flags.c_contiguous:
        raise CorruptDataError(f"byte-plane stream holds {count:,} values of {size} bytes; the array "
                               f"expects {out.size:,} of {out.dtype.itemsize}")
    planes, orders = [], []
    for mode, order, body in parsed:
        planes.append(body if mode == 0 else decode_array(body, out=np.empty(count, np.uint8)))
        orders.append(order)
    _core.join_byte_planes(planes, orders, out.reshape(-1).view(np.uint8))  # un-rank, interleave, rotate
    return out
