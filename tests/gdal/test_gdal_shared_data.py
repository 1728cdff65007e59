"""Every raster of the shared sample data, bit-exact through gdal_translate and through transform(),
a resolution group of the Sentinel-2 product through GDAL, and rasterio reading the results."""
import subprocess

import numpy as np
import pytest

import byte2bit
from sample_data import every_raster, rel, s2_band, safe_product


def band_checksums(gdal, path):
    ds = gdal.Open(str(path))
    return [ds.GetRasterBand(i).Checksum() for i in range(1, ds.RasterCount + 1)]


def gdalinfo_checksums(path) -> list[str]:
    out = subprocess.run(["gdalinfo", "-checksum", str(path)], capture_output=True, text=True, check=True).stdout
    return [line.strip() for line in out.splitlines() if line.strip().startswith("Checksum=")]


@pytest.mark.parametrize("path", every_raster(), ids=rel)
def test_gdal_translate_bit_exact(gdal, tmp_path, shared_data, path):
    out = tmp_path / "out.b2b"
    # the command line, as a user runs it; level 0 here, level 4 through transform() below
    subprocess.run(["gdal_translate", "-q", "-of", "B2B", "-co", "LEVEL=0", str(path), str(out)], check=True)
    assert gdalinfo_checksums(out) == gdalinfo_checksums(path)
    report = byte2bit.verify(path, out)
    assert report.equal, str(report)
    src, dst = gdal.Open(str(path)), gdal.Open(str(out))
    assert dst.GetMetadata() == src.GetMetadata()
    assert dst.GetGCPCount() == src.GetGCPCount()


@pytest.mark.parametrize("path", every_raster(), ids=rel)
def test_transform_bit_exact(gdal, tmp_path, shared_data, path):
    out = byte2bit.transform(path, tmp_path / "out.tif")
    assert out == str(tmp_path / "out.b2b")  # the suffix is normalised
    report = byte2bit.verify(path, out)
    assert report.equal and all(b.max_abs_error == 0 for b in report.bands), str(report)
    assert band_checksums(gdal, out) == band_checksums(gdal, path)


def test_sentinel1_gcps(gdal, tmp_path, shared_data):
    src_path = next((shared_data / "sentinel1").glob("*/iw-vv.tiff"))
    out = byte2bit.transform(src_path, tmp_path / "vv.b2b")
    src, dst = gdal.Open(str(src_path)), gdal.Open(out)
    assert src.GetGCPCount() > 0 and dst.GetGCPCount() == src.GetGCPCount()
    assert dst.GetGCPSpatialRef().IsSame(src.GetGCPSpatialRef())


def test_error_bounded_transform(gdal, tmp_path, shared_data):
    dem = shared_data / "raster" / "copdem" / "Copernicus_DSM_COG_10_N00_00_E006_00_DEM.tif"
    out = byte2bit.transform(dem, tmp_path / "dem.b2b", quantize_scale=0.05)
    report = byte2bit.verify(dem, out)
    assert not report.equal and report.ok
    assert report.bands[0].bound == 0.025 and 0 < report.bands[0].max_abs_error <= 0.025


def test_glob_of_inputs_into_one_b2b(gdal, tmp_path, shared_data):
    pattern = str(shared_data / "raster" / "landsat8" / "*_B[23].TIF")
    out = byte2bit.transform(pattern, tmp_path / "out", compression_level=1)
    assert out == str(tmp_path / "out.b2b")
    ds = gdal.Open(out)
    names = [v for k, v in sorted(ds.GetMetadata("SUBDATASETS").items()) if k.endswith("_NAME")]
    assert [n.rsplit(":", 1)[1] for n in names] == [
        "LC08_L1TP_224078_20200518_20200518_01_RT_B2", "LC08_L1TP_224078_20200518_20200518_01_RT_B3"]
    assert byte2bit.verify(pattern, out).equal
    # a source missing at verify is a problem, never a pass
    only_b2 = str(shared_data / "raster" / "landsat8" / "*_B2.TIF")
    report = byte2bit.verify(only_b2, out, raise_on_mismatch=False)
    assert not report.ok and any("B3.TIF: in the .b2b, not among the sources" in p for p in report.problems)


def test_safe_60m_through_gdal_translate(gdal, tmp_path, shared_data):
    product = gdal.Open(str(safe_product() / "MTD_MSIL2A.xml"))
    r60 = [v for k, v in product.GetMetadata("SUBDATASETS").items() if k.endswith("_NAME") and ":60m:" in v][0]
    out = tmp_path / "r60.b2b"
    subprocess.run(["gdal_translate", "-q", "-of", "B2B", r60, str(out)], check=True)
    assert gdalinfo_checksums(out) == gdalinfo_checksums(r60)
    assert byte2bit.verify(r60, out).equal
    # the Python API takes the same subdataset name
    again = byte2bit.transform(r60, tmp_path / "r60_py.b2b", progress=False)
    assert byte2bit.verify(r60, again).equal


def test_rasterio_reads_like_the_source(tmp_path, shared_data):
    import rasterio
    src_path = shared_data / "raster" / "rasterio" / "RGB.byte.tif"
    out = byte2bit.transform(src_path, tmp_path / "rgb.b2b", block_size=256)
    with rasterio.open(src_path) as s, rasterio.open(out) as d:
        assert d.driver == "B2B"
        assert (d.count, d.width, d.height, d.dtypes) == (s.count, s.width, s.height, s.dtypes)
        assert d.crs == s.crs and d.transform == s.transform and d.nodatavals == s.nodatavals
        assert d.tags() == s.tags() and d.block_shapes == [(256, 256)] * 3
        np.testing.assert_array_equal(d.read(), s.read())
        window = rasterio.windows.Window(100, 200, 300, 250)
        np.testing.assert_array_equal(d.read(2, window=window), s.read(2, window=window))
        assert d.overviews(1) == [2, 4]
        # a decimated read is served from the stored overview
        small = d.read(1, out_shape=(d.height // 4 + 1, d.width // 4 + 1))
        assert small.shape == (180, 198)
        from osgeo import gdal
        ds = gdal.Open(out)
        ov = ds.GetRasterBand(1).GetOverview(1).ReadAsArray()
        np.testing.assert_array_equal(small, ov)


def test_rasterio_s2_band(tmp_path, shared_data):
    import rasterio
    out = byte2bit.transform(s2_band("B8A"), tmp_path / "b8a.b2b")
    with rasterio.open(s2_band("B8A")) as s, rasterio.open(out) as d:
        assert d.crs == s.crs and d.transform == s.transform and d.res == (20.0, 20.0)
        np.testing.assert_array_equal(d.read(1), s.read(1))
