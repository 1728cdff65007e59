"""xarray's engine="byte2bit": georeferenced rasters (x/y, spatial_ref, grid_mapping, _FillValue),
overviews, products as data trees, arrays and archives, zip and directory, lazily in Dask."""
import numpy as np
import pytest
import rasterio
import xarray as xr

import byte2bit
from sample_data import small_safe_copy


@pytest.fixture(scope="module")
def rgb(tmp_path_factory, shared_data):
    src = shared_data / "raster" / "rasterio" / "RGB.byte.tif"  # nodata 0, EPSG:32618
    out = tmp_path_factory.mktemp("x") / "rgb.b2b"
    return src, byte2bit.transform(src, out, block_size=256)


def test_engine_is_registered():
    assert "byte2bit" in xr.backends.list_engines()


def test_raster_georeferenced_lazy(rgb):
    import rioxarray  # noqa: F401  (the .rio accessor)
    src, path = rgb
    ds = xr.open_dataset(path, engine="byte2bit", chunks={})
    assert ds.band_1.chunks == ((256, 256, 206), (256, 256, 256, 23))  # Dask chunks are the blocks
    with rasterio.open(src) as r:
        assert ds.rio.crs == r.crs and ds.rio.bounds() == pytest.approx(tuple(r.bounds))
        assert ds.rio.transform() == r.transform
        xs, _ = rasterio.transform.xy(r.transform, [0] * r.width, list(range(r.width)))
        np.testing.assert_allclose(ds.x.values, xs)
        raw = r.read()
    assert ds.band_2.attrs["grid_mapping"] == "spatial_ref" and "crs_wkt" in ds.spatial_ref.attrs
    assert ds.band_2.encoding["_FillValue"] == 0
    expected = np.where(raw[1] == 0, np.nan, raw[1])  # nodata decoded as NaN, as xarray does
    np.testing.assert_array_equal(ds.band_2.values, expected)
    plain = xr.open_dataset(path, engine="byte2bit", mask_and_scale=False)
    assert plain.band_3.dtype == np.uint8 and plain.band_3.attrs["_FillValue"] == 0
    np.testing.assert_array_equal(plain.band_3.values, raw[2])
    np.testing.assert_array_equal(plain.band_1[100:300:3, 7].values, raw[0][100:300:3, 7])
    assert xr.open_dataset(path).band_1.shape == (718, 791)  # the engine is guessed from .b2b


def test_overview_level(rgb):
    _, path = rgb
    from osgeo import gdal
    ds = gdal.Open(path)
    ov = ds.GetRasterBand(1).GetOverview(0)
    x = xr.open_dataset(path, engine="byte2bit", overview_level=1, mask_and_scale=False)
    assert x.sizes == {"y": ov.YSize, "x": ov.XSize} and x.attrs["overview_level"] == 1
    np.testing.assert_array_equal(x.band_1.values, ov.ReadAsArray())
    full = xr.open_dataset(path, engine="byte2bit")
    assert x.rio.bounds() == pytest.approx(full.rio.bounds())
    with pytest.raises(byte2bit.InvalidArgumentError, match="overview levels 1 to 2"):
        xr.open_dataset(path, engine="byte2bit", overview_level=3)


def test_product_as_datatree_and_groups(tmp_path, shared_data):
    product = small_safe_copy(tmp_path / "in")
    path = byte2bit.transform(product, tmp_path / "p.b2b", skip_missing=True, compression_level=0,
                              overviews=False, form="directory")
    tree = xr.open_datatree(path, engine="byte2bit")
    assert len(tree.children) == len(list(product.rglob("*.jp2"))) and "TCI_60m" in tree.children
    assert tree.attrs["CLOUD_COVERAGE_ASSESSMENT"] == "59.769726"
    b02 = tree["B02_60m"].dataset
    assert b02.band_1.attrs["BANDNAME"] == "B2" and b02.rio.crs.to_epsg() == 32629
    tci = xr.open_dataset(path, engine="byte2bit", group="TCI_60m")
    with rasterio.open(next(product.rglob("*_TCI_60m.jp2"))) as r:
        np.testing.assert_array_equal(tci.band_3.values, r.read(3))
    with pytest.raises(byte2bit.InvalidArgumentError, match="group= .*TCI_60m"):
        xr.open_dataset(path, engine="byte2bit")


def test_arrays_and_archives(tmp_path):
    import zarr
    a, b = np.arange(10, dtype=np.int32), np.linspace(0, 1, 12).reshape(3, 4)
    byte2bit.save_archive(tmp_path / "a.b2b", {"a": a, "g/b": b, "c": np.ones((5, 2), np.uint16)})
    ds = xr.open_dataset(tmp_path / "a.b2b", engine="byte2bit")
    assert ds.a.dims == ("a_dim_0",) and ds.c.dims == ("c_dim_0", "c_dim_1")  # different shapes side by side
    np.testing.assert_array_equal(ds.a.values, a)
    np.testing.assert_array_equal(xr.open_dataset(tmp_path / "a.b2b", engine="byte2bit", group="g").b.values, b)
    with pytest.raises(byte2bit.Byte2BitError, match="open_archive"):
        xr.open_datatree(tmp_path / "a.b2b", engine="byte2bit")
    byte2bit.save_byte2bit(tmp_path / "one.b2b", b)
    tree = xr.open_datatree(tmp_path / "one.b2b", engine="byte2bit")
    np.testing.assert_array_equal(next(iter(tree.dataset.data_vars.values())).values, b)
    # plain zarr-python still reads the same file, through the checked store
    group = zarr.open_group(byte2bit.open_store(tmp_path / "a.b2b"), mode="r")
    np.testing.assert_array_equal(group["g/b"][...], b)
