"""Headless QGIS for the plugin tests: one real QgsApplication with Processing, and the plugin's
GUI hosted in a real QMainWindow through a small QgisInterface (qgis_harness.py) that implements the
calls the plugin makes, as pytest-qgis does."""
import os
import sys

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
from qgis_harness import PLUGIN_ROOT, HeadlessInterface  # noqa: E402


@pytest.fixture(scope="session")
def qgis_app():
    from qgis.core import QgsApplication
    app = QgsApplication([], True)
    app.initQgis()
    sys.path.append("/usr/share/qgis/python/plugins")  # QGIS's own processing package
    from processing.core.Processing import Processing
    Processing.initialize()
    sys.path.insert(0, str(PLUGIN_ROOT))
    yield app
    Processing.deinitialize()


@pytest.fixture
def iface(qgis_app):
    return HeadlessInterface()
