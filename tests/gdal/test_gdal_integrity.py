"""Issue 8 through GDAL: what used to crash, lose data or read wrong data without an error."""
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import zipfile

import numpy as np
import pytest

from tamper import entries, flip_stored_bit, rezip, root_json, with_root
from test_gdal_driver import copy, mem_dataset
from test_gdal_hostile import open_and_read


@pytest.fixture
def raster(gdal, tmp_path):
    """A 1100 x 700 UInt16 raster in 512 blocks, as a zip .b2b, and its pixels."""
    src = mem_dataset(gdal, 1100, 700, bands=1)
    copy(gdal, src, tmp_path / "r.b2b", ["OVERVIEWS=NONE"])
    return tmp_path / "r.b2b", src.GetRasterBand(1).ReadAsArray()


def test_metadata_bit_flip_is_caught_by_the_zip_crc(gdal, raster):
    path, _ = raster
    data = path.read_bytes()
    text = entries(data)["zarr.json"]
    at = text.index(b'"width":1100') + len(b'"width":110')
    # '0' -> '1': the raster would be 1101 wide and show the padding column as pixels
    with pytest.raises(RuntimeError, match="zarr.json fails its CRC-32 check"):
        open_and_read(gdal, flip_stored_bit(data, "zarr.json", at, 0))


def test_description_is_cross_checked_against_the_band_arrays(gdal, raster):
    path, _ = raster
    data = path.read_bytes()
    root = root_json(data)
    root["attributes"]["raster"]["width"] = 1101  # a consistent manifest: only the cross-check is left
    with pytest.raises(RuntimeError, match="band_1/zarr.json does not match the raster description"):
        open_and_read(gdal, with_root(data, root))


def test_directory_metadata_is_checked_against_the_manifest(gdal, raster, tmp_path):
    path, _ = raster
    d = tmp_path / "d.b2b"
    copy(gdal, gdal.Open(str(path)), d, ["FORMAT=DIRECTORY", "OVERVIEWS=NONE"])
    doc = (d / "zarr.json").read_bytes()
    (d / "zarr.json").write_bytes(doc.replace(b'"width":1100', b'"width":1101'))
    with pytest.raises(RuntimeError, match="does not match its size and CRC-32 in the manifest"):
        gdal.Open(str(d))
    (d / "zarr.json").write_bytes(doc)
    os.unlink(d / "__manifest__" / "zarr.json")
    with pytest.raises(RuntimeError, match="__manifest__/zarr.json is missing"):
        gdal.Open(str(d))


def test_swapped_directory_chunks_are_caught(gdal, raster, tmp_path):
    path, _ = raster
    d = tmp_path / "d.b2b"
    copy(gdal, gdal.Open(str(path)), d, ["FORMAT=DIRECTORY", "OVERVIEWS=NONE"])
    a, b = d / "band_1" / "c" / "0" / "0", d / "band_1" / "c" / "0" / "1"
    a_bytes, b_bytes = a.read_bytes(), b.read_bytes()
    a.write_bytes(b_bytes)
    b.write_bytes(a_bytes)
    # Both are wrong; blocks are read on several threads, so either may be named first.
    with pytest.raises(RuntimeError, match="band_1/c/0/[01] does not match"):
        gdal.Open(str(d)).ReadAsArray()


def test_duplicate_entries_are_refused(gdal, raster):
    path, _ = raster
    data = path.read_bytes()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for key, value in entries(data).items():
            z.writestr(key, value)
        z.writestr("band_1/c/0/0", entries(data)["band_1/c/0/1"])
    with pytest.raises(RuntimeError, match="holds band_1/c/0/0 twice"):
        open_and_read(gdal, out.getvalue())


def test_deflated_entries_are_refused(gdal, raster):
    data = raster[0].read_bytes()
    with pytest.raises(RuntimeError, match="is compressed"):
        open_and_read(gdal, rezip(data, {}, method=zipfile.ZIP_DEFLATED))


def test_json_bomb_is_refused_before_parsing(gdal, raster):
    data = raster[0].read_bytes()
    root = root_json(data)
    bomb = json.dumps(root).encode()[:-1] + b', "x": [' + b"{}," * 2_000_000 + b"{}]}"
    start = time.perf_counter()
    with pytest.raises(RuntimeError, match="holds more values"):
        open_and_read(gdal, rezip(data, {"zarr.json": bomb}))
    assert time.perf_counter() - start < 20


def test_fifo_in_place_of_a_chunk_does_not_hang(gdal, raster, tmp_path):
    d = tmp_path / "d.b2b"
    copy(gdal, gdal.Open(str(raster[0])), d, ["FORMAT=DIRECTORY", "OVERVIEWS=NONE"])
    os.unlink(d / "band_1" / "c" / "0" / "0")
    os.mkfifo(d / "band_1" / "c" / "0" / "0")
    with pytest.raises(RuntimeError, match="not a regular file"):
        gdal.Open(str(d)).ReadAsArray()


READER = textwrap.dedent("""
    import sys, numpy as np
    from osgeo import gdal
    gdal.UseExceptions()
    ds = gdal.OpenEx(sys.argv[1], allowed_drivers=["B2B"], open_options=["NUM_THREADS=2"])
    band = ds.GetRasterBand(1)
    first = band.ReadAsArray()
    print("open", flush=True)
    sys.stdin.readline()          # the file is replaced now
    for _ in range(20):
        gdal.SetCacheMax(0)         # nothing from the block cache: every read decodes again
        again = band.ReadAsArray()
        assert np.array_equal(again, first), "torn read: blocks of two files in one dataset"
    print("same", flush=True)
""")


def test_replacing_a_file_while_it_is_read(gdal, raster, tmp_path):
    """A dataset sees one file for its whole life, even when the path is replaced (temp + mv)."""
    path, pixels = raster
    other = tmp_path / "other.b2b"
    src = mem_dataset(gdal, 1100, 700, bands=1, seed=7)
    copy(gdal, src, other, ["OVERVIEWS=NONE", "BLOCKSIZE=256"])
    reader = subprocess.Popen([sys.executable, "-c", READER, str(path)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=dict(os.environ, GDAL_NUM_THREADS="2"))
    assert reader.stdout.readline().strip() == "open"
    shutil.copy(other, tmp_path / ".r.b2b.tmp")
    os.replace(tmp_path / ".r.b2b.tmp", path)
    reader.stdin.write("go\n")
    reader.stdin.flush()
    out, err = reader.communicate(timeout=120)
    assert reader.returncode == 0 and out.strip() == "same", err


def test_overwrite_that_fails_keeps_the_previous_file(gdal, raster, tmp_path):
    path, pixels = raster
    before = path.read_bytes()
    src = mem_dataset(gdal, 1100, 700, bands=1, seed=3)
    # cancelled half-way: GDAL's QuietDelete ran before CreateCopy, and the old file must survive
    with pytest.raises(RuntimeError, match="cancelled"):
        gdal.GetDriverByName("B2B").CreateCopy(str(path), src, callback=lambda f, *a: f < 0.5)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".r.b2b")] == []
    # a successful overwrite replaces it and leaves nothing beside it
    copy(gdal, src, path, ["OVERVIEWS=NONE"])
    assert np.array_equal(gdal.Open(str(path)).ReadAsArray(), src.GetRasterBand(1).ReadAsArray())
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".r.b2b")] == []
    # a real delete still deletes
    assert gdal.GetDriverByName("B2B").Delete(str(path)) == 0 and not path.exists()


@pytest.mark.parametrize("form", ["ZIP", "DIRECTORY"])
@pytest.mark.parametrize("after", [0.3, 1.0, 2.0])
def test_killed_writer_keeps_the_previous_file(gdal, tmp_path, form, after):
    """gdal_translate killed (SIGKILL) at several points: the previous file survives, and the next
    write to the same target removes what the killed one left."""
    src = tmp_path / "src.tif"
    ds = mem_dataset(gdal, 3000, 3000, bands=3)
    gdal.GetDriverByName("GTiff").CreateCopy(str(src), ds)
    target = tmp_path / "t.b2b"
    small = mem_dataset(gdal, 300, 200, bands=1)
    copy(gdal, small, target, [f"FORMAT={form}"])
    expected = gdal.Open(str(target)).ReadAsArray()
    writer = subprocess.Popen(["gdal_translate", "-q", "-of", "B2B", "-co", f"FORMAT={form}", "-co", "NUM_THREADS=1",
                               str(src), str(target)])
    time.sleep(after)
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    # killed after the old file was moved aside: the next write puts it back
    assert target.exists() or any(p.name.endswith(".old") for p in tmp_path.iterdir())
    # the next write of another target does not touch it; the next write of this one cleans up
    copy(gdal, small, tmp_path / "other.b2b")
    again = mem_dataset(gdal, 300, 200, bands=1, seed=9)
    drv = gdal.GetDriverByName("B2B")
    with pytest.raises(RuntimeError, match="cancelled"):  # a cancelled write
        drv.CreateCopy(str(target), again, callback=lambda f, *a: f < 0.5)
    got = gdal.Open(str(target))
    assert got is not None, "the previous file was lost"
    data = got.ReadAsArray()
    got = None
    # either the old small raster, or (when the kill came after the rename) the complete new one
    assert np.array_equal(data, expected) or data.shape == (3, 3000, 3000)
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".t.b2b")]
    assert leftovers == [], leftovers


def nodata_raster(gdal, path, nodata=-9999.0):
    """A Float32 GeoTIFF with a nodata area, and values within the error bound of nodata that are not it."""
    rng = np.random.default_rng(7)
    a = rng.normal(300, 40, (700, 600)).astype(np.float32)
    a[100:400, 50:300] = nodata
    a[0, :5] = [-9999.2, -9998.8, -9999.3, -9998.7, -9999.1]
    ds = gdal.GetDriverByName("GTiff").Create(str(path), 600, 700, 1, gdal.GDT_Float32, ["TILED=YES"])
    ds.SetGeoTransform([500000, 10, 0, 4200000, 0, -10])
    if nodata is not None:
        ds.GetRasterBand(1).SetNoDataValue(nodata)
    ds.GetRasterBand(1).WriteArray(a)
    ds = None
    return a


def test_error_bounded_mode_keeps_nodata_exact(gdal, tmp_path):
    """Case 7: QUANTIZE_SCALE=0.7 used to turn every nodata pixel (-9999) into -9998.8."""
    import byte2bit
    src = tmp_path / "src.tif"
    a = nodata_raster(gdal, src)
    out, lossless = tmp_path / "q.b2b", tmp_path / "l.b2b"
    gdal.Translate(str(out), str(src), format="B2B", creationOptions=["QUANTIZE_SCALE=0.7"])
    gdal.Translate(str(lossless), str(src), format="B2B")
    ds, src_ds, exact_ds = gdal.Open(str(out)), gdal.Open(str(src)), gdal.Open(str(lossless))
    band = ds.GetRasterBand(1)
    got = band.ReadAsArray()
    assert np.array_equal(got == -9999, a == -9999)
    assert np.abs(got - a)[a != -9999].max() <= 0.35
    assert np.array_equal(band.GetMaskBand().ReadAsArray(), src_ds.GetRasterBand(1).GetMaskBand().ReadAsArray())
    exact = exact_ds.GetRasterBand(1)
    for k in range(exact.GetOverviewCount()):
        assert np.array_equal(band.GetOverview(k).ReadAsArray() == -9999, exact.GetOverview(k).ReadAsArray() == -9999)
    report = byte2bit.verify(src, out)
    assert report.ok and not report.equal and report.bands[0].nodata_mismatches == 0


def test_verify_catches_moved_nodata(gdal, tmp_path):
    """A file whose nodata pixels moved within the error bound is not WITHIN BOUND: nodata is exact or wrong."""
    import byte2bit
    src, plain = tmp_path / "src.tif", tmp_path / "plain.tif"
    nodata_raster(gdal, src)
    nodata_raster(gdal, plain, nodata=None)  # quantized without knowing the nodata: it moves
    moved = tmp_path / "moved.b2b"
    gdal.Translate(str(moved), str(plain), format="B2B", creationOptions=["QUANTIZE_SCALE=0.7", "OVERVIEWS=NONE"])
    data = moved.read_bytes()
    root = root_json(data)
    root["attributes"]["raster"]["bands"][0]["nodata"] = "-9999"
    moved.write_bytes(with_root(data, root))
    report = byte2bit.verify(src, moved, raise_on_mismatch=False)
    assert not report.ok and report.bands[0].nodata_mismatches >= 250 * 300
    assert "gained or lost nodata" in str(report)
    with pytest.raises(byte2bit.VerificationError):
        byte2bit.verify(src, moved)


def test_large_blocks_decode_on_fewer_threads_when_memory_is_short(gdal, tmp_path):
    """Case 11: 4096 x 4096 CFloat64 blocks are 256 MiB each. Under a 2 GiB address-space limit
    (what GDAL counts as usable RAM), NUM_THREADS=8 must not decode several at once: one thread."""
    path = tmp_path / "big.b2b"
    src = gdal.GetDriverByName("MEM").Create("", 8192, 4096, 1, gdal.GDT_CFloat64)
    src.GetRasterBand(1).Fill(1.5, -2.0)
    copy(gdal, src, path, ["BLOCKSIZE=4096", "OVERVIEWS=NONE"])
    src = None
    script = textwrap.dedent(f"""
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
        import numpy as np
        from osgeo import gdal
        gdal.UseExceptions()
        ds = gdal.OpenEx({str(path)!r}, open_options=["NUM_THREADS=8"])
        a = ds.GetRasterBand(1).ReadAsArray()
        print(a.shape, bool((a == 1.5 - 2j).all()))
    """)
    env = dict(os.environ, CPL_DEBUG="B2B")
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == "(4096, 8192) True"
    assert "2 blocks on 1 threads" in run.stderr, run.stderr[-2000:]
