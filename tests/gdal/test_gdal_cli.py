"""b2b transform / verify / inspect on rasters, as a user runs them."""
import subprocess
import sys

import numpy as np
import pytest

import byte2bit
from sample_data import s2_band


def b2b(*args):
    return subprocess.run([sys.executable, "-m", "byte2bit.cli", *map(str, args)], capture_output=True, text=True)


def test_transform_verify_inspect(tmp_path, shared_data):
    r = b2b("transform", s2_band("B03"), tmp_path / "b03.jp2", "--level", "1")
    assert r.returncode == 0, r.stderr
    out = tmp_path / "b03.b2b"
    assert out.is_file() and "b03.b2b" in r.stdout
    r = b2b("verify", s2_band("B03"), out)
    assert r.returncode == 0 and "EQUAL" in r.stdout and "band 1: equal" in r.stdout
    r = b2b("inspect", out)
    assert r.returncode == 0
    assert "raster (root): 1933x1947, 1 band(s) UInt16, blocks 512x512, level 1, lossless" in r.stdout
    assert "overviews 967x974, 484x487" in r.stdout and "EPSG:32618" in r.stdout
    assert "overview_2/band_1: uint16 (487, 484)" in r.stdout


def test_verify_fails_on_a_tampered_file(gdal, tmp_path, shared_data):
    src = gdal.Translate(str(tmp_path / "src.tif"), str(s2_band("B05")))
    tampered = gdal.Translate(str(tmp_path / "tampered.tif"), src)
    band = tampered.GetRasterBand(1)
    a = band.ReadAsArray(100, 100, 3, 3)
    band.WriteArray(a + 7, 100, 100)
    tampered = None
    byte2bit.transform(tmp_path / "tampered.tif", tmp_path / "t.b2b")
    r = b2b("verify", tmp_path / "src.tif", tmp_path / "t.b2b")
    assert r.returncode == 1
    assert "DIFFERENT" in r.stdout and "max abs error 7" in r.stdout
    with pytest.raises(byte2bit.VerificationError) as e:
        byte2bit.verify(tmp_path / "src.tif", tmp_path / "t.b2b")
    assert e.value.report.bands[0].max_abs_error == 7 and not e.value.report.ok


def test_transform_errors(tmp_path):
    r = b2b("transform", tmp_path / "missing.tif", tmp_path / "x.b2b")
    assert r.returncode == 2 and "no such file" in r.stderr
    (tmp_path / "junk.tif").write_bytes(b"not a raster")
    r = b2b("transform", tmp_path / "junk.tif", tmp_path / "x.b2b")
    assert r.returncode == 2 and "junk.tif" in r.stderr
    assert not (tmp_path / "x.b2b").exists()
    with pytest.raises(byte2bit.InvalidArgumentError, match="compression_level"):
        byte2bit.transform(tmp_path / "junk.tif", tmp_path / "x.b2b", compression_level=3)


def test_directory_form_and_numpy_equality(gdal, tmp_path, shared_data):
    out = byte2bit.transform(s2_band("B11"), tmp_path / "b11", form="directory", block_size=256)
    assert (tmp_path / "b11.b2b" / "band_1" / "c" / "0" / "0").is_file()
    ds = gdal.Open(out)
    src = gdal.Open(str(s2_band("B11")))
    np.testing.assert_array_equal(ds.ReadAsArray(), src.ReadAsArray())
    assert byte2bit.verify(s2_band("B11"), out).equal


def test_transform_takes_both_spellings_of_cog_layout(gdal, tmp_path):
    src = tmp_path / "t256.tif"
    from test_gdal_driver import mem_dataset
    gdal.Translate(str(src), mem_dataset(gdal, 700, 600), creationOptions=["TILED=YES", "BLOCKXSIZE=256",
                                                                          "BLOCKYSIZE=256"])
    for kwargs, block in [({}, 256), ({"cog_layout": False}, 512), ({"cogLayout": False}, 512),
                          ({"cog_layout": True}, 256)]:
        ds = gdal.Open(byte2bit.transform(src, tmp_path / "o.b2b", **kwargs))
        assert ds.GetRasterBand(1).GetBlockSize() == [block, block], kwargs


@pytest.mark.parametrize("crs", ["EPSG:32618", "+proj=sinu +lon_0=0 +x_0=0 +y_0=0 +R=6371007.181 +units=m +no_defs"])
def test_output_is_byte_reproducible(gdal, tmp_path, crs):
    """The same input and options give the same bytes, and rewriting a .b2b gives that file again."""
    from test_gdal_driver import mem_dataset
    src = mem_dataset(gdal, 600, 500, bands=2)
    src.SetProjection(_wkt(gdal, crs))
    tif = tmp_path / "src.tif"
    gdal.Translate(str(tif), src)
    first = byte2bit.transform(tif, tmp_path / "a.b2b")
    again = byte2bit.transform(tif, tmp_path / "b.b2b")
    rewritten = byte2bit.transform(first, tmp_path / "c.b2b")
    data = open(first, "rb").read()
    assert open(again, "rb").read() == data
    assert open(rewritten, "rb").read() == data


def _wkt(gdal, definition):
    from osgeo import osr
    srs = osr.SpatialReference()
    srs.SetFromUserInput(definition)
    return srs.ExportToWkt()


def test_mistyped_output_folder_is_an_error(gdal, tmp_path):
    from test_gdal_driver import mem_dataset
    tif = tmp_path / "src.tif"
    gdal.Translate(str(tif), mem_dataset(gdal, 100, 80))
    with pytest.raises(byte2bit.InvalidArgumentError, match="does not exist"):
        byte2bit.transform(tif, tmp_path / "nonexistent" / "dir" / "out.b2b")
    r = b2b("transform", tif, tmp_path / "nonexistent" / "out.b2b")
    assert r.returncode == 2 and "does not exist" in r.stderr
    with pytest.raises(byte2bit.InvalidArgumentError, match="does not exist"):
        byte2bit.transform([tif, tif], tmp_path / "missing" / "outputs")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src.tif"]
