"""Byte2Bit inside the tools people use: numcodecs registry, Zarr v3 (with sharding), xarray."""
import subprocess
import sys

import numcodecs
import numpy as np
import pytest
import xarray as xr
import zarr

import byte2bit
from byte2bit import Byte2Bit, Byte2BitZarrV3Codec


def field(shape=(300, 400), seed=0):
    rng = np.random.default_rng(seed)
    return np.cumsum(rng.normal(size=shape), axis=-1).astype(np.float32)


def test_numcodecs_registry_and_config():
    codec = numcodecs.get_codec({"id": "byte2bit", "dtype": "<f4", "compression_level": 2})
    assert isinstance(codec, Byte2Bit) and codec.compression_level == 2
    assert numcodecs.get_codec(codec.get_config()) == codec
    x = field()
    out = np.empty_like(x)
    codec.decode(codec.encode(x), out=out)
    assert np.array_equal(out, x)
    raw = codec.encode(x.tobytes())  # bytes read as the configured dtype
    assert np.array_equal(codec.decode(raw), x.ravel())
    with pytest.raises(byte2bit.BufferMismatchError):
        codec.decode(codec.encode(x), out=np.empty(x.shape, np.float64))


def test_zarr_v2_with_numcodecs_compressor(tmp_path):
    x = field()
    arr = zarr.create_array(str(tmp_path / "v2.zarr"), shape=x.shape, chunks=(100, 100), dtype=x.dtype,
                            zarr_format=2, compressors=Byte2Bit(dtype=np.float32), filters=None)
    arr[:] = x
    assert np.array_equal(zarr.open_array(str(tmp_path / "v2.zarr"), mode="r")[:], x)


@pytest.mark.parametrize("sharded", [False, True])
def test_zarr_v3_reopens_in_fresh_process(tmp_path, sharded):
    x = field((257, 301))
    path = tmp_path / "v3.b2b"
    root = zarr.group(store=zarr.storage.LocalStore(str(path)), overwrite=True, zarr_format=3)
    arr = root.create_array(
        "x", shape=x.shape, dtype=x.dtype, chunks=(64, 64), shards=(128, 128) if sharded else None,
        serializer=Byte2BitZarrV3Codec(compression_level=4), compressors=[])
    arr[:] = x
    np.save(tmp_path / "x.npy", x)
    code = ("import numpy as np, zarr; a = zarr.open_group(%r, mode='r')['x'][:]; "
            "assert np.array_equal(a, np.load(%r)); print('ok')" % (str(path), str(tmp_path / "x.npy")))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip() == "ok", done.stderr
    meta = (path / "x" / "zarr.json").read_text()
    assert '"byte2bit"' in meta


def test_zarr_v3_codec_validation_messages():
    with pytest.raises(byte2bit.InvalidArgumentError, match="got 3"):
        Byte2BitZarrV3Codec(compression_level=3)
    with pytest.raises(byte2bit.InvalidArgumentError, match="compression_level=1"):
        Byte2BitZarrV3Codec(compression_level=4, quantize_scale=0.1)
    with pytest.raises(byte2bit.InvalidArgumentError, match="float or complex"):
        zarr.create_array(zarr.storage.MemoryStore(), shape=(4,), dtype="i4",
                          serializer=Byte2BitZarrV3Codec(compression_level=1, quantize_scale=0.5),
                          compressors=None)


def test_zarr_v3_error_bounded():
    x = field()
    arr = zarr.create_array(zarr.storage.MemoryStore(), shape=x.shape, dtype=x.dtype, chunks=(128, 128),
                            serializer=Byte2BitZarrV3Codec(compression_level=1, quantize_scale=0.001),
                            compressors=None)
    arr[:] = x
    assert np.max(np.abs(arr[:].astype(np.float64) - x)) <= 0.0005


def test_xarray_to_zarr_open_zarr(tmp_path):
    ds = xr.Dataset(
        {"t2m": (("time", "y", "x"), field((3, 90, 120)) + 270.0),
         "mask": (("y", "x"), np.random.default_rng(1).integers(0, 2, (90, 120)).astype(np.uint8))},
        coords={"time": np.arange(3), "y": np.linspace(50, 40, 90), "x": np.linspace(0, 10, 120)})
    enc = {v: {"serializer": Byte2BitZarrV3Codec(), "compressors": None} for v in ds.data_vars}
    ds.to_zarr(tmp_path / "ds.b2b", zarr_format=3, encoding=enc, consolidated=False)
    back = xr.open_zarr(tmp_path / "ds.b2b", consolidated=False)
    xr.testing.assert_identical(back.load(), ds)
    assert isinstance(back["t2m"].encoding["serializer"], Byte2BitZarrV3Codec)


def test_b2b_single_array_opens_in_xarray(tmp_path):
    x = field((50, 60))
    byte2bit.save_byte2bit(tmp_path / "x.b2b", x, form="directory")
    ds = xr.open_zarr(tmp_path / "x.b2b", consolidated=False)
    assert np.array_equal(ds["data"].values, x)
