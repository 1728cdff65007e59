"""GDAL driver tests, in the style of GDAL's autotest: real GDAL, real files, exact comparisons."""
import pytest


@pytest.fixture(scope="session")
def gdal():
    from byte2bit.raster import gdal as load
    return load()
