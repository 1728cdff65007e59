"""Finding the byte2bit Python package and the B2B GDAL driver from inside QGIS."""
from __future__ import annotations

import os
import sys

PLUGIN_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Written by the project's setup: the site-packages folder of the environment holding byte2bit.
PYTHON_PATH_FILE = os.path.join(PLUGIN_DIR, "python_path.txt")


def import_byte2bit():
    """The byte2bit package, from QGIS's Python or from the environment setup recorded."""
    try:
        import byte2bit
        return byte2bit
    except ImportError:
        pass
    if os.path.isfile(PYTHON_PATH_FILE):
        with open(PYTHON_PATH_FILE, encoding="utf-8") as f:
            for line in f.read().splitlines():
                if line and line not in sys.path:
                    sys.path.append(line)  # appended: QGIS's own numpy and GDAL bindings stay first
    import byte2bit
    return byte2bit


def driver_problem() -> str | None:
    """None when GDAL has the B2B driver and byte2bit imports; otherwise what is wrong and the fix."""
    from osgeo import gdal
    problems = []
    if gdal.GetDriverByName("B2B") is None:
        path = os.environ.get("GDAL_DRIVER_PATH", "")
        problems.append(
            "The B2B GDAL driver is not loaded in QGIS's GDAL, so .b2b files cannot be opened or written.\n"
            "Fix: run byte2bit's ./scripts/setup.sh, which installs gdal_B2B.so into GDAL's plugin folder "
            "(/usr/lib/x86_64-linux-gnu/gdalplugins), then restart QGIS. A GDAL_DRIVER_PATH set in "
            "Settings > Options > System > Environment replaces that folder: it must include it, or the "
            "folder holding gdal_B2B.so."
            + (f"\nGDAL_DRIVER_PATH is now: {path}" if path else "\nGDAL_DRIVER_PATH is not set."))
    try:
        import_byte2bit()
    except ImportError as e:
        problems.append(f"The byte2bit Python package cannot be imported ({e}). Fix: run ./scripts/setup.sh, "
                        f"which records its environment in {PYTHON_PATH_FILE}.")
    return "\n\n".join(problems) or None
