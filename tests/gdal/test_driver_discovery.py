"""The B2B driver is found with nothing exported: by GDAL's tools and rasterio through GDAL's own
plugin folder (setup installs it there), and through `import byte2bit` where only this
environment's lib/gdalplugins holds it."""
import os
import subprocess
import sys

import pytest

import byte2bit
from sample_data import s2_band


@pytest.fixture
def b2b_file(tmp_path, shared_data):
    return byte2bit.transform(s2_band("B09"), tmp_path / "b09.b2b", compression_level=0)


def bare_env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in ("GDAL_DRIVER_PATH", "VIRTUAL_ENV")}
    env["PATH"] = "/usr/bin:/bin"  # not the venv's bin
    return dict(env, **extra)


def test_gdal_tools_without_gdal_driver_path(b2b_file):
    r = subprocess.run(["gdalinfo", "--format", "B2B"], capture_output=True, text=True, env=bare_env())
    assert r.returncode == 0 and "Byte2Bit" in r.stdout, r.stderr
    r = subprocess.run(["gdalinfo", "-checksum", b2b_file], capture_output=True, text=True, env=bare_env())
    assert r.returncode == 0 and "Driver: B2B" in r.stdout, r.stderr


def test_rasterio_without_gdal_driver_path(b2b_file):
    """The venv's python, not activated, rasterio alone (no byte2bit import)."""
    code = f"import rasterio; d = rasterio.open({b2b_file!r}); print(d.driver, d.read(1).sum())"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=bare_env())
    assert r.returncode == 0 and r.stdout.startswith("B2B "), r.stderr


def test_import_byte2bit_registers_the_venv_copy(b2b_file, tmp_path):
    """With GDAL's plugin folder hidden (GDAL_DRIVER_PATH replaces it), rasterio fails until byte2bit
    is imported, which registers the environment's lib/gdalplugins copy."""
    empty = tmp_path / "no-plugins"
    empty.mkdir()
    env = bare_env(GDAL_DRIVER_PATH=str(empty))
    code = f"import rasterio; rasterio.open({b2b_file!r})"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert r.returncode != 0 and "not recognized as a supported file format" in r.stderr
    if not os.path.exists(os.path.join(sys.prefix, "lib", "gdalplugins", "gdal_B2B.so")):
        pytest.skip("this environment has no lib/gdalplugins copy of the driver")
    code = f"import rasterio, byte2bit; d = rasterio.open({b2b_file!r}); print(d.driver)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert r.returncode == 0 and r.stdout.strip() == "B2B", r.stderr
