"""Damaged, hostile and wrong input: always a Byte2BitError (a ValueError) that names the problem."""
import numpy as np
import pytest

import byte2bit
from byte2bit import decode_array, encode_array

LEVELS = (0, 1, 2, 4)


def sample(level):
    y, x = np.mgrid[0:64, 0:80]
    return encode_array(((x * 7 + y * 13) % 1000).astype(np.uint16), level)


@pytest.mark.parametrize("level", LEVELS)
def test_every_truncation_is_refused(level):
    s = sample(level)
    for cut in range(len(s)):
        with pytest.raises(byte2bit.CorruptDataError):
            decode_array(s[:cut])


@pytest.mark.parametrize("level", LEVELS)
def test_every_bit_flip_is_refused(level):
    s = bytearray(sample(level))
    rng = np.random.default_rng(level)
    for at in rng.choice(len(s), size=min(len(s), 400), replace=False):
        bad = bytearray(s)
        bad[at] ^= 1 << int(rng.integers(8))
        with pytest.raises(byte2bit.Byte2BitError):
            decode_array(bytes(bad))


def test_random_bytes_and_garbage_after_magic():
    rng = np.random.default_rng(5)
    for n in (0, 1, 3, 40, 100, 5000):
        with pytest.raises(byte2bit.Byte2BitError):
            decode_array(rng.integers(0, 256, n, dtype=np.uint8).tobytes())
        with pytest.raises(byte2bit.Byte2BitError):
            decode_array(b"B2B\x1a" + rng.integers(0, 256, n, dtype=np.uint8).tobytes())


def test_huge_declared_shape_is_refused_before_allocating():
    s = encode_array(np.zeros((4, 4), np.uint16), 4)
    # The compact header (FORMAT.md 1.2): the payload size at byte 17, then the shape, one varint
    # byte per dimension here. The first dimension becomes 2^40 rows.
    assert s[4] == 6 and s[16] == 2 and s[18] == 4
    rows = bytes([0x80, 0x80, 0x80, 0x80, 0x80, 0x20])  # 2^40 as a varint
    with pytest.raises(byte2bit.Byte2BitError, match="1 TiB|checksum"):
        decode_array(s[:18] + rows + s[19:])


def test_valid_stream_declaring_huge_output_needs_consent():
    s = encode_array(np.zeros((8, 1 << 20), np.uint16), 4)  # 16 MiB of zeros in a few bytes
    assert len(s) < 1000
    with pytest.raises(byte2bit.LimitExceededError, match="max_bytes"):
        decode_array(s, max_bytes=1 << 20)
    assert not decode_array(s).any()


def test_newer_format_version_named():
    s = bytearray(sample(4))
    s[4] = byte2bit.FORMAT_VERSION + 1
    with pytest.raises(byte2bit.UnsupportedVersionError, match=f"format version {byte2bit.FORMAT_VERSION + 1}"):
        decode_array(bytes(s))


def test_checksum_names_itself():
    s = bytearray(sample(1))
    s[-1] ^= 0xFF
    with pytest.raises(byte2bit.ChecksumError, match="checksum"):
        decode_array(bytes(s))
    assert byte2bit.inspect_stream(bytes(s))["checksum_ok"] is False


def test_wrong_out_dtype_and_shape():
    s = sample(2)
    with pytest.raises(byte2bit.BufferMismatchError, match="dtype"):
        decode_array(s, out=np.empty((64, 80), np.int16))
    with pytest.raises(byte2bit.BufferMismatchError, match="shape"):
        decode_array(s, out=np.empty((64, 81), np.uint16))
    assert isinstance(byte2bit.BufferMismatchError("x"), ValueError)


def test_bad_arguments():
    with pytest.raises(byte2bit.UnsupportedDtypeError):
        encode_array(np.array(["a"], dtype=object))
    with pytest.raises(byte2bit.UnsupportedDtypeError):
        encode_array(np.array([1], dtype="datetime64[s]"))
    with pytest.raises(byte2bit.InvalidArgumentError, match="0, 1, 2, 4"):
        encode_array(np.zeros(3), 3)
    with pytest.raises(byte2bit.InvalidArgumentError, match="compression_level=1"):
        encode_array(np.zeros(3), 4, quantize_scale=0.1)
    with pytest.raises(byte2bit.InvalidArgumentError, match="float or complex"):
        encode_array(np.zeros(3, np.int32), 1, quantize_scale=0.1)
    with pytest.raises(byte2bit.InvalidArgumentError):
        encode_array(np.zeros(3), 1, quantize_scale=float("nan"))
