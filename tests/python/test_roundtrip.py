"""Property tests: every dtype, level and shape round-trips bit-exact; error-bounded stays in bound."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import byte2bit
from byte2bit import decode_array, encode_array
from tamper import stream_layout

LEVELS = (0, 1, 2, 4)
NUMERIC = ["bool", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64",
           "float16", "float32", "float64", "complex64", "complex128"]
ALL_DTYPES = NUMERIC + ["S1", "S7", "V3"]


def bits_view(a: np.ndarray) -> np.ndarray:
    """Compare through unsigned integers so NaN payloads and -0.0 count."""
    a = np.ascontiguousarray(a)
    if a.dtype.kind in "SV" or a.dtype == np.bool_:
        return a.view(np.uint8)
    return a.view(f"u{a.dtype.itemsize // 2 if a.dtype.kind == 'c' else a.dtype.itemsize}")


def assert_bit_exact(a, b):
    assert a.shape == b.shape and a.dtype.newbyteorder("=") == b.dtype.newbyteorder("=")
    assert np.array_equal(bits_view(a.astype(a.dtype.newbyteorder("="))),
                          bits_view(b.astype(b.dtype.newbyteorder("="))))


def arrays_of(dtype):
    dt = np.dtype(dtype)
    shapes = hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=9)
    if dt.kind in "fc":
        # Raw bit patterns: NaN payloads, +-0.0, +-Inf, subnormals and extremes all appear.
        width = dt.itemsize // (2 if dt.kind == "c" else 1)
        udt = np.dtype(f"u{width}")
        return shapes.flatmap(lambda s: hnp.arrays(udt, s if dt.kind == "f" else s + (2,)).map(
            lambda u: np.ascontiguousarray(u).view(dt).reshape(s)))
    if dt.kind == "V":
        return shapes.flatmap(lambda s: hnp.arrays(np.uint8, s + (dt.itemsize,)).map(
            lambda u: np.ascontiguousarray(u).view(dt).reshape(s)))
    return hnp.arrays(dt, shapes)


@pytest.mark.parametrize("dtype", ALL_DTYPES)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), level=st.sampled_from(LEVELS))
def test_round_trip_every_dtype(dtype, data, level):
    a = data.draw(arrays_of(dtype))
    s = encode_array(a, level)
    assert_bit_exact(a, decode_array(s, out=np.empty_like(a)))
    if a.dtype.kind != "V":  # raw bytes decode as S<n> unless told otherwise
        assert_bit_exact(a, decode_array(s))


@pytest.mark.parametrize("level", LEVELS)
def test_smooth_image_compresses_and_round_trips(level):
    rng = np.random.default_rng(level)
    y, x = np.mgrid[0:300, 0:413]
    a = (1000 + 300 * np.sin(x / 40) * np.cos(y / 30) + rng.normal(0, 4, x.shape)).astype(np.uint16)
    s = encode_array(a, level)
    assert len(s) < a.nbytes / 1.5
    assert_bit_exact(a, decode_array(s))


@pytest.mark.parametrize("level", LEVELS)
def test_layouts_big_endian_fortran_noncontiguous(level):
    rng = np.random.default_rng(1)
    base = rng.integers(-5000, 5000, size=(37, 53)).astype(np.int32)
    for a in (base.astype(">i4"), np.asfortranarray(base), base[::2, ::3], base.T):
        out = decode_array(encode_array(a, level))
        assert out.dtype == np.int32 and np.array_equal(out, a)


def test_extremes_and_specials():
    for dt in ("float16", "float32", "float64"):
        f = np.finfo(dt)
        a = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, f.max, f.min, f.tiny, f.smallest_subnormal,
                      -f.smallest_subnormal], dtype=dt)
        nan_payload = a.copy()
        u = nan_payload.view(f"u{a.itemsize}")
        u[4] = u[4] | u.dtype.type(1)  # a NaN with a payload bit
        for v in (a, nan_payload):
            for level in LEVELS:
                assert_bit_exact(v, decode_array(encode_array(v, level)))
    for dt in ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"):
        i = np.iinfo(dt)
        a = np.array([i.min, i.max, 0, i.min, i.max, 1], dtype=dt)
        for level in LEVELS:
            assert_bit_exact(a, decode_array(encode_array(a, level)))


@settings(max_examples=60, deadline=None)
@given(a=hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=12),
                    elements=st.floats(allow_nan=True, allow_infinity=True, width=64)),
       scale=st.sampled_from([1e-6, 1e-3, 0.01, 0.5, 10.0, 1e6]),
       dtype=st.sampled_from(["float16", "float32", "float64", "complex64", "complex128"]))
def test_error_bounded(a, scale, dtype):
    with np.errstate(over="ignore", invalid="ignore"):
        a = a.astype(dtype) if dtype[0] == "f" else (a + 1j * a[::-1]).astype(dtype)
    b = decode_array(encode_array(a, 1, quantize_scale=scale))
    assert b.dtype == a.dtype and b.shape == a.shape
    parts = (lambda z: (z,)) if dtype[0] == "f" else (lambda z: (z.real, z.imag))
    for x, y in zip(parts(a), parts(b)):
        x64, y64 = x.astype(np.float64), y.astype(np.float64)
        finite = np.isfinite(x64)
        assert np.array_equal(np.isnan(x64), np.isnan(y64))
        assert np.array_equal(x64[np.isinf(x64)], y64[np.isinf(x64)])
        assert np.all(np.abs(x64[finite] - y64[finite]) <= scale / 2)


def test_error_bounded_is_smaller_than_lossless():
    rng = np.random.default_rng(0)
    a = np.cumsum(rng.normal(0, 1, 200_000)).astype(np.float32)
    lossy = encode_array(a, 1, quantize_scale=0.01)
    assert len(lossy) < len(encode_array(a, 4)) / 2


def test_decimals_bit_exact():
    a = np.round(np.random.default_rng(3).normal(20, 5, 5000), 2)
    a[7] = np.nan
    a[8] = -0.0
    a[9] = 1 / 3  # not a decimal: kept exactly as an exception
    s = encode_array(a, 4, decimal_digits=2)
    assert_bit_exact(a, decode_array(s))
    assert len(s) < len(encode_array(a, 4))
    f32 = a.astype(np.float32)
    assert_bit_exact(f32, decode_array(encode_array(f32, 4, decimal_digits=2)))


def test_inspect_stream_reports_facts():
    a = np.arange(600, dtype=np.uint16).reshape(20, 30)
    s = encode_array(a, 2)
    info = byte2bit.inspect_stream(s)
    assert info["dtype"] == "uint16" and info["shape"] == (20, 30) and info["level"] == 2
    assert info["raw_size"] == a.nbytes and info["stored_size"] == len(s)
    assert info["checksum_ok"] is True and byte2bit.FORMAT_VERSION == 9
    # a writer gives versions 7 and 8 only to streams with the linear predictor, 9 to method 7's
    assert info["format_version"] == 6


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "complex64"])
@pytest.mark.parametrize("level", [1, 2, 4])
def test_lattice_floats_bit_exact_and_smaller(dtype, level):
    """CF-packed fields unpacked to floats (offset + q * step) are stored as integers, exactly."""
    rng = np.random.default_rng(7)
    q = np.cumsum(rng.integers(-3, 4, (180, 200)), axis=1) * 5 + rng.integers(0, 2, (180, 200))
    step, offset = (0.0123, 7.5) if dtype != "float16" else (0.25, 3.0)
    real = (offset + q * step).astype(np.float32 if dtype == "complex64" else dtype)
    a = (real + 1j * real[::-1]).astype(dtype) if dtype == "complex64" else real
    a.reshape(-1)[[5, 999, 4000]] = np.nan  # masked points stay exactly as they are
    s = encode_array(a, level)
    assert_bit_exact(a, decode_array(s))
    assert stream_layout(s)["flags"] & 4, "lattice storage was not chosen"
    noisy = a + rng.normal(0, 1e-3, a.shape).astype(a.dtype)  # not on any lattice: still exact
    assert_bit_exact(noisy, decode_array(encode_array(noisy, level)))


@settings(max_examples=60, deadline=None)
@given(q=hnp.arrays(np.int32, hnp.array_shapes(min_dims=1, max_dims=2, min_side=4, max_side=40),
                    elements=st.integers(-2000, 2000)),
       step=st.floats(1e-6, 1e6), offset=st.floats(-1e6, 1e6), dtype=st.sampled_from(["float32", "float64"]))
def test_lattice_round_trip_property(q, step, offset, dtype):
    a = (offset + q.astype(np.float64) * step).astype(dtype)
    for level in (1, 4):
        assert_bit_exact(a, decode_array(encode_array(a, level)))
