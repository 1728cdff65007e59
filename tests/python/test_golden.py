"""Golden streams of every published format version decode forever, to the very same bits."""
import pathlib

import numpy as np
import pytest

import byte2bit

GOLDEN = pathlib.Path(__file__).resolve().parents[1] / "golden"
STREAMS = sorted(GOLDEN.glob("v*/*.b2bs"))


def test_golden_set_present():
    assert len(STREAMS) >= 12
    # every published format version has its own streams
    assert {p.parent.name for p in STREAMS} == {f"v{v}" for v in range(1, byte2bit.FORMAT_VERSION + 1)}


@pytest.mark.parametrize("stream", STREAMS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_golden_decodes(stream):
    expected = np.load(stream.with_suffix(".npy"))
    data = stream.read_bytes()
    info = byte2bit.inspect_stream(data)
    assert info["checksum_ok"] and info["format_version"] == int(stream.parent.name[1:])
    got = byte2bit.decode_array(data)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    assert got.tobytes() == expected.tobytes()
    # The current encoder still round-trips the same values.
    options = {"compression_level": info["level"], "quantize_scale": info["quantize_scale"],
               "decimal_digits": info["decimal_digits"]}
    again = byte2bit.decode_array(byte2bit.encode_array(expected, **options))
    if not info["quantize_scale"]:
        assert again.tobytes() == expected.tobytes()
