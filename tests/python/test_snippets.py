"""The snippets of the core issue, run unchanged in a fresh interpreter."""
import subprocess
import sys
import textwrap

SNIPPETS = [
    """
    import numpy as np
    import byte2bitZarr as b2b
    x = (np.random.default_rng(0).standard_normal(100000).astype(np.float32) * 5.0)
    codec = b2b.Byte2Bit(dtype=np.float32) # defaults: level 4, lossless
    encoded = codec.encode(x)
    out = np.empty_like(x)
    codec.decode(encoded, out=out)
    print('encoded bytes:', len(encoded))
    print('equal:', np.array_equal(x, out))
    """,
    """
    import numpy as np
    import byte2bitZarr as b2b
    x = np.random.default_rng(0).standard_normal(100000).astype(np.float32)
    b2b.save_byte2bit("Data/numpy/example_array.b2b", x, compression_level=4, quantize_scale=0)
    out = np.empty_like(x)
    b2b.load_byte2bit_into("Data/numpy/example_array.b2b", out)
    print("equal:", np.array_equal(x, out))
    info = b2b.inspect_byte2bit("Data/numpy/example_array.b2b")
    print(info)
    """,
    """
    import numpy as np
    import zarr
    import byte2bitZarr as b2b
    x = np.random.default_rng(0).standard_normal(100000).astype(np.float32)
    store = zarr.storage.LocalStore("example.byte2bit.b2b")
    root = zarr.group(store=store, overwrite=True, zarr_format=3)
    arr = root.create_array(
        "x", shape=x.shape, chunks=(10000,), dtype=x.dtype,
        serializer=b2b.Byte2BitZarrV3Codec(compression_level=4, quantize_scale=0),
        compressors=[],
    )
    arr[:] = x
    print("written")
    """,
]


def run(code, cwd):
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_codec_snippet(tmp_path):
    out = run(SNIPPETS[0], tmp_path)
    assert "equal: True" in out
    encoded = int(out.split("encoded bytes:")[1].split()[0])
    assert encoded < 400_000


def test_file_snippet(tmp_path):
    out = run(SNIPPETS[1], tmp_path)
    assert "equal: True" in out and "integrity OK" in out and "1/1 chunks OK" in out
    assert (tmp_path / "Data" / "numpy" / "example_array.b2b").is_file()


def test_zarr_snippet(tmp_path):
    assert run(SNIPPETS[2], tmp_path).strip() == "written"
    check = ("import zarr, numpy as np; "
             "x = np.random.default_rng(0).standard_normal(100000).astype(np.float32); "
             "a = zarr.open_group('example.byte2bit.b2b', mode='r')['x']; "
             "assert np.array_equal(a[:], x) and a.chunks == (10000,); print('ok')")
    assert run(check, tmp_path).strip() == "ok"
