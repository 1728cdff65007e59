"""Every raster band and array of the shared sample data round-trips bit-exact at every level."""
import itertools
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from byte2bit import decode_array, encode_array
from byte2bit.container import default_chunks

from sample_data import data_dir

LEVELS = (0, 1, 2, 4)
ROOT = data_dir()


def files(*patterns):
    if not ROOT.is_dir():
        return []
    return sorted({p for pat in patterns for p in ROOT.rglob(pat) if p.is_file()})


def ids(p):
    return str(p.relative_to(ROOT))


def chunk_views(a):
    """The chunks the container would cut the array into."""
    if a.ndim == 0:
        yield a
        return
    chunks = default_chunks(a.shape, a.dtype.itemsize)
    for start in itertools.product(*(range(0, s, c) for s, c in zip(a.shape, chunks))):
        yield a[tuple(slice(o, o + c) for o, c in zip(start, chunks))]


def assert_round_trips(a, what):
    a = np.asarray(a)
    views = list(chunk_views(a))
    with ThreadPoolExecutor(os.cpu_count()) as pool:
        for level in LEVELS:
            def check(v):
                back = decode_array(encode_array(v, level))
                return back.shape == v.shape and back.tobytes() == np.ascontiguousarray(v).tobytes()
            assert all(pool.map(check, views)), f"{what} differs after level {level}"


@pytest.mark.parametrize("path", files("*.tif", "*.TIF", "*.tiff", "*.jp2", "*.grib", "*.grib2"), ids=ids)
def test_gdal_rasters(path):
    gdal = pytest.importorskip("osgeo.gdal")
    gdal.UseExceptions()
    try:
        ds = gdal.Open(str(path))
    except RuntimeError as e:
        pytest.skip(f"GDAL cannot read this sample ({e}); it is not a raster we can test")
    for b in range(1, ds.RasterCount + 1):
        try:
            band = ds.GetRasterBand(b).ReadAsArray()
        except RuntimeError as e:
            pytest.skip(f"GDAL cannot read band {b} of this sample ({e})")
        assert_round_trips(band, f"{ids(path)} band {b}")


@pytest.mark.parametrize("path", files("*.nc"), ids=ids)
def test_netcdf_variables(path):
    netCDF4 = pytest.importorskip("netCDF4")
    with netCDF4.Dataset(path) as nc:
        nc.set_auto_maskandscale(False)
        for name, var in nc.variables.items():
            assert_round_trips(var[...], f"{ids(path)}:{name}")


@pytest.mark.parametrize("path", files("*.h5", "*.HDF5", "*.hdf5", "*.he5"), ids=ids)
def test_hdf5_datasets(path):
    h5py = pytest.importorskip("h5py")
    found = []
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: found.append(name) if isinstance(obj, h5py.Dataset) else None)
        for name in found:
            ds = f[name]
            if ds.dtype.kind not in "biufcSV" or ds.dtype.fields is not None:
                continue  # compound and variable-length data are not arrays of one type
            assert_round_trips(ds[()], f"{ids(path)}:{name}")
    assert found


@pytest.mark.parametrize("path", [p for p in sorted(ROOT.rglob("*.zarr")) if p.is_dir()] if ROOT.is_dir() else [],
                         ids=ids)
def test_zarr_arrays(path):
    import zarr
    group = zarr.open_group(str(path), mode="r")
    names = [name for name, _ in group.arrays()]
    assert names
    for name in names:
        assert_round_trips(group[name][...], f"{ids(path)}:{name}")
