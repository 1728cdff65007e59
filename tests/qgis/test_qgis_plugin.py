"""The QGIS plugin in the real QGIS 3.22, headless: loading and unloading, the Processing algorithms
(processing.run and qgis_process), the three dialogs driven as a user would, and .b2b layers."""
import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from sample_data import s2_band, small_safe_copy  # noqa: E402

from qgis_harness import PLUGIN_ROOT, screenshot, wait_for  # noqa: E402


def gdal_level(path):
    from osgeo import gdal
    return gdal.Open(str(path)).GetMetadataItem("B2B_LEVEL", "IMAGE_STRUCTURE")


def pixels(path, band=1):
    from osgeo import gdal
    ds = gdal.Open(str(path))
    return ds.GetRasterBand(band).ReadAsArray()


def test_driver_in_qgis_gdal(qgis_app):
    from qgis.core import QgsProviderRegistry
    from osgeo import gdal
    assert gdal.GetDriverByName("B2B") is not None
    assert "Byte2Bit compressed raster (*.b2b *.B2B)" in QgsProviderRegistry.instance().fileRasterFilters()


def test_plugin_loads_and_unloads_cleanly(qgis_app, iface):
    from qgis.core import QgsApplication
    import byte2bit_qgis
    plugin = byte2bit_qgis.classFactory(iface)
    plugin.initGui()
    registry = QgsApplication.processingRegistry()
    assert registry.providerById("byte2bit") is not None
    assert {a.id() for a in registry.providerById("byte2bit").algorithms()} == {
        "byte2bit:convert", "byte2bit:verify", "byte2bit:inspect"}
    submenu = [a for a in iface.raster_menu.actions() if a.text() == "&Byte2Bit"]
    assert len(submenu) == 1 and len(submenu[0].menu().actions()) == 3
    assert len(iface.toolbars[0].actions()) == 3
    assert not iface.bar.items(), "no warning: the driver and byte2bit are found"
    plugin.unload()
    qgis_app.processEvents()
    from qgis.PyQt.QtCore import QCoreApplication, QEvent
    QCoreApplication.sendPostedEvents(None, QEvent.DeferredDelete)
    from qgis.PyQt.QtWidgets import QToolBar
    assert registry.providerById("byte2bit") is None
    assert not [a for a in iface.raster_menu.actions() if a.text() == "&Byte2Bit"]
    assert iface.window.findChildren(QToolBar, "Byte2BitToolbar") == []


def test_processing_convert_verify_inspect(qgis_app, tmp_path, shared_data):
    import processing
    from qgis.core import QgsApplication
    from byte2bit_qgis.processing.provider import Byte2BitProvider
    provider = Byte2BitProvider()
    QgsApplication.processingRegistry().addProvider(provider)
    try:
        src = s2_band("B05")
        out = processing.run("byte2bit:convert", {"INPUT": str(src), "LEVEL": 0, "OUTPUT": str(tmp_path / "b05.b2b")})
        assert gdal_level(out["OUTPUT"]) == "0"
        assert out["OUTPUT"] == str(tmp_path / "b05.b2b") and out["RATIO"] > 1
        np.testing.assert_array_equal(pixels(out["OUTPUT"]), pixels(src))
        v = processing.run("byte2bit:verify", {"ORIGINAL": str(src), "B2B": out["OUTPUT"],
                                               "REPORT": str(tmp_path / "v.txt")})
        assert v["PASS"] and v["EQUAL"] and "EQUAL" in (tmp_path / "v.txt").read_text()
        i = processing.run("byte2bit:inspect", {"INPUT": out["OUTPUT"]})
        assert i["CHECKSUMS_OK"] and i["FILE_BYTES"] == os.path.getsize(out["OUTPUT"])
        assert "967x973, 1 band(s) UInt16" in i["TEXT"]
        from qgis.core import QgsProcessingException
        with pytest.raises(QgsProcessingException, match="does not exist"):
            processing.run("byte2bit:convert", {"INPUT": str(tmp_path / "missing.tif"),
                                                "OUTPUT": str(tmp_path / "x.b2b")})
        product = small_safe_copy(tmp_path / "in")
        with pytest.raises(QgsProcessingException, match="B02_10m.jp2"):
            processing.run("byte2bit:convert", {"INPUT": str(product), "OUTPUT": str(tmp_path / "p.b2b")})
        p = processing.run("byte2bit:convert", {"INPUT": str(product), "LEVEL": 0, "OVERVIEWS": False,
                                                "SKIP_MISSING": True, "OUTPUT": str(tmp_path / "p.b2b")})
        stored = p["STORED"].splitlines()
        assert len(stored) == len(list(product.rglob("*.jp2")))
        assert any(line.startswith("B8A_60m: GRANULE/") and line.endswith("_B8A_60m.jp2") for line in stored)
        v = processing.run("byte2bit:verify", {"ORIGINAL": str(product), "B2B": p["OUTPUT"]})
        assert v["PASS"] and "skipped at transform" in v["TEXT"]
        (tmp_path / "junk.b2b").write_bytes(b"junk")
        with pytest.raises(QgsProcessingException, match="not a .b2b"):
            processing.run("byte2bit:inspect", {"INPUT": str(tmp_path / "junk.b2b")})
    finally:
        QgsApplication.processingRegistry().removeProvider(provider)


def test_qgis_process_runs_convert(tmp_path, shared_data):
    """qgis_process with the plugin installed and enabled in a fresh profile, and nothing exported:
    it finds the B2B driver in GDAL's own plugin folder, where setup installs it."""
    qgis_process = shutil.which("qgis_process.bin") or "/usr/bin/qgis_process.bin"
    home = tmp_path / "home"
    profile = home / ".local" / "share" / "QGIS" / "QGIS3" / "profiles" / "default"
    import sysconfig
    sys.path.insert(0, str(PLUGIN_ROOT))
    import install
    install.install(sysconfig.get_paths()["purelib"], profile)
    env = dict(os.environ, HOME=str(home), QT_QPA_PLATFORM="offscreen")
    env.pop("GDAL_DRIVER_PATH", None)
    from osgeo import gdal
    # LEVEL takes the level itself (it was an enum index: LEVEL=0 wrote level 4, LEVEL=4 was refused)
    for level in (0, 1, 2, 4):
        out = tmp_path / f"b11_{level}.b2b"
        r = subprocess.run([qgis_process, "run", "byte2bit:convert", "--", f"INPUT={s2_band('B11')}",
                            f"LEVEL={level}", f"OUTPUT={out}"], capture_output=True, text=True, env=env, timeout=600)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "RATIO" in r.stdout
        assert gdal.Open(str(out)).GetMetadataItem("B2B_LEVEL", "IMAGE_STRUCTURE") == str(level)
        np.testing.assert_array_equal(pixels(out), pixels(s2_band("B11")))
    # inspect and verify in QGIS's own Python, where Debian's older numpy is loaded before zarr
    r = subprocess.run([qgis_process, "run", "byte2bit:inspect", "--", f"INPUT={tmp_path / 'b11_4.b2b'}"],
                       capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0 and "integrity OK" in r.stdout, r.stdout + r.stderr
    r = subprocess.run([qgis_process, "run", "byte2bit:verify", "--", f"ORIGINAL={s2_band('B11')}",
                        f"B2B={tmp_path / 'b11_4.b2b'}"], capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0 and "PASS:\ttrue" in r.stdout, r.stdout + r.stderr
    r = subprocess.run([qgis_process, "run", "byte2bit:convert", "--", f"INPUT={s2_band('B11')}", "LEVEL=3",
                        f"OUTPUT={tmp_path / 'x.b2b'}"], capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode != 0 and "0, 1, 2 or 4" in r.stdout + r.stderr


@pytest.fixture
def project(qgis_app):
    from qgis.core import QgsProject
    yield QgsProject.instance()
    QgsProject.instance().removeAllMapLayers()


def ok_button(dialog):
    from qgis.PyQt.QtWidgets import QDialogButtonBox
    return dialog.buttons.button(QDialogButtonBox.Ok)


def test_convert_dialog_layer(qgis_app, iface, project, tmp_path, shared_data):
    from qgis.core import QgsRasterLayer
    from byte2bit_qgis.gui.dialogs import ConvertDialog
    src = s2_band("B04")
    project.addMapLayer(QgsRasterLayer(str(src), "B04 source"))
    dialog = ConvertDialog(iface.mainWindow(), iface=iface)
    dialog.source.setCurrentIndex(dialog.source.findText("B04 source"))
    dialog.level.setCurrentIndex(dialog.level.findData(1))
    dialog.output.setText(str(tmp_path / "b04.b2b"))
    dialog.show()
    screenshot(dialog, "convert_dialog")
    ok_button(dialog).click()
    wait_for(dialog)
    screenshot(dialog, "convert_dialog_done")
    assert dialog.error is None, dialog.error
    assert "s2_B04.jp2 -> b04.b2b" in dialog.summary and "ratio" in dialog.summary
    added = [layer for layer in project.mapLayers().values() if layer.source() == str(tmp_path / "b04.b2b")]
    assert len(added) == 1 and added[0].isValid() and added[0].providerType() == "gdal"
    np.testing.assert_array_equal(pixels(tmp_path / "b04.b2b"), pixels(src))


def test_convert_dialog_folder(qgis_app, iface, project, tmp_path, shared_data):
    from byte2bit_qgis.gui.dialogs import ConvertDialog
    folder = shared_data / "raster" / "landsat8"
    dialog = ConvertDialog(iface.mainWindow(), iface=iface)
    dialog.source.setEditText(str(folder))
    dialog.output.setText(str(tmp_path / "out"))
    ok_button(dialog).click()
    wait_for(dialog)
    assert dialog.error is None, dialog.error
    outputs = sorted((tmp_path / "out").glob("*.b2b"))
    assert len(outputs) == 3 and "Total:" in dialog.summary
    for out, src in zip(outputs, sorted(folder.glob("*.TIF"))):
        np.testing.assert_array_equal(pixels(out), pixels(src))
    assert len([layer for layer in project.mapLayers().values() if str(tmp_path) in layer.source()]) == 3


def test_convert_dialog_safe_and_cancel(qgis_app, iface, project, tmp_path, shared_data):
    from byte2bit_qgis.gui.dialogs import ConvertDialog
    product = small_safe_copy(tmp_path / "in")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    dialog = ConvertDialog(iface.mainWindow(), iface=iface)
    dialog.source.setEditText(str(product))
    dialog.level.setCurrentIndex(dialog.level.findData(0))
    dialog.overviews.setChecked(False)
    dialog.output.setText(str(out_dir / "product.b2b"))
    ok_button(dialog).click()  # the product's metadata lists images it does not hold
    wait_for(dialog)
    assert "B02_10m.jp2" in str(dialog.error) and "tick 'Skip images missing" in str(dialog.error)
    assert not list(out_dir.iterdir())
    dialog.skip_missing.setChecked(True)
    ok_button(dialog).click()
    dialog.task.cancel()
    wait_for(dialog)
    assert dialog.error is not None and not list(out_dir.iterdir())
    ok_button(dialog).click()
    wait_for(dialog)
    assert dialog.error is None, dialog.error
    images = sorted(product.rglob("*.jp2"))
    assert f"product.b2b holds {len(images)} rasters: " in dialog.summary and "TCI_60m" in dialog.summary
    layers = [layer for layer in project.mapLayers().values() if str(out_dir) in layer.source()]
    assert len(layers) == len(images) and all(layer.isValid() for layer in layers)
    tci = next(layer for layer in layers if layer.source().endswith(":TCI_60m"))
    assert (tci.width(), tci.height(), tci.bandCount()) == (1830, 1830, 3)


def test_verify_dialog_pass_and_fail(qgis_app, iface, tmp_path, shared_data):
    from osgeo import gdal
    import byte2bit
    from byte2bit_qgis.gui.dialogs import VerifyDialog
    src = s2_band("B8A")
    good = byte2bit.transform(src, tmp_path / "good.b2b")
    tampered_src = tmp_path / "tampered.tif"
    ds = gdal.Translate(str(tampered_src), str(src))
    ds.GetRasterBand(1).WriteArray(ds.GetRasterBand(1).ReadAsArray(0, 0, 4, 4) + 3, 0, 0)
    ds = None
    bad = byte2bit.transform(tampered_src, tmp_path / "bad.b2b")
    dialog = VerifyDialog(iface.mainWindow(), iface=iface)
    dialog.original.setText(str(src))
    dialog.b2b.setText(good)
    dialog.show()
    ok_button(dialog).click()
    wait_for(dialog)
    assert dialog.result.ok and dialog.report.toPlainText().startswith("PASS")
    assert "band 1" in dialog.report.toPlainText() and "equal" in dialog.report.toPlainText()
    screenshot(dialog, "verify_dialog_pass")
    dialog.b2b.setText(bad)
    ok_button(dialog).click()
    wait_for(dialog)
    assert not dialog.result.ok and dialog.report.toPlainText().startswith("FAIL")
    assert "max absolute error 3" in dialog.report.toPlainText()
    screenshot(dialog, "verify_dialog_fail")


def test_inspect_dialog(qgis_app, iface, tmp_path, shared_data):
    import byte2bit
    from qgis.PyQt.QtCore import Qt
    from byte2bit_qgis.gui.dialogs import InspectDialog
    path = byte2bit.transform(shared_data / "raster" / "rasterio" / "RGB.byte.tif", tmp_path / "rgb.b2b")
    dialog = InspectDialog(iface.mainWindow(), iface=iface, path=path)
    dialog.show()
    text = dialog.text.toPlainText()
    inspection = byte2bit.inspect_byte2bit(path)
    raw = sum(a.raw_bytes for a in inspection.arrays)
    assert f"stored {os.path.getsize(path):,} bytes, raw {raw:,} bytes" in text
    assert "Checksums: all OK" in text
    assert "791x718, 3 band(s) Byte, blocks 512x512, level 4, lossless" in text and "EPSG:32618" in text
    table = dialog.table
    rows = [[table.item(r, c).text() for c in range(table.columnCount())] for r in range(table.rowCount())]
    assert len(rows) == len(inspection.arrays)
    assert ["overview_1/band_2", "uint8", "359x396", "512x512", "4", "lossless"] in [r[:6] for r in rows]
    # sortable, numerically: by stored bytes, largest first
    table.sortItems(7, Qt.DescendingOrder)
    stored = [int(table.item(r, 7).text()) for r in range(table.rowCount())]
    assert stored == sorted((a.stored_bytes for a in inspection.arrays), reverse=True)
    assert table.item(0, 0).text().startswith("band_")
    assert not dialog.thumb.pixmap().isNull() and dialog.thumb.pixmap().width() <= 256
    screenshot(dialog, "inspect_dialog")


def test_b2b_layer_renders_like_its_source(qgis_app, tmp_path, shared_data):
    """Full-resolution rendering of a .b2b equals its source's; the image is kept as a screenshot."""
    from qgis.core import (QgsContrastEnhancement, QgsMapRendererParallelJob, QgsMapSettings, QgsMultiBandColorRenderer,
                           QgsRasterLayer, QgsRectangle)
    from qgis.PyQt.QtCore import QSize
    import byte2bit
    from osgeo import gdal
    bands = [s2_band(b) for b in ("B04", "B03", "B02")]
    vrt = str(tmp_path / "rgb.vrt")
    gdal.BuildVRT(vrt, [str(b) for b in bands], separate=True)
    b2b = byte2bit.transform(vrt, tmp_path / "rgb.b2b")

    def render(path):
        layer = QgsRasterLayer(path, "rgb")
        assert layer.isValid()
        renderer = QgsMultiBandColorRenderer(layer.dataProvider(), 1, 2, 3)
        for i, setter in ((1, renderer.setRedContrastEnhancement), (2, renderer.setGreenContrastEnhancement),
                          (3, renderer.setBlueContrastEnhancement)):
            ce = QgsContrastEnhancement(layer.dataProvider().dataType(i))
            ce.setMinimumValue(500)
            ce.setMaximumValue(2500)
            ce.setContrastEnhancementAlgorithm(QgsContrastEnhancement.StretchToMinimumMaximum)
            setter(ce)
        layer.setRenderer(renderer)
        settings = QgsMapSettings()
        settings.setLayers([layer])
        settings.setDestinationCrs(layer.crs())
        e = layer.extent()
        settings.setExtent(QgsRectangle(e.xMinimum(), e.yMaximum() - 6000, e.xMinimum() + 6000, e.yMaximum()))
        settings.setOutputSize(QSize(600, 600))  # one screen pixel per 10 m pixel: full resolution
        job = QgsMapRendererParallelJob(settings)
        job.start()
        job.waitForFinished()
        return job.renderedImage()
    a, b = render(vrt), render(b2b)
    from qgis_harness import SCREENSHOTS
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    b.save(str(SCREENSHOTS / "rendered_s2_b2b.png"))
    print(f"screenshot: {SCREENSHOTS / 'rendered_s2_b2b.png'}")
    assert a == b


def test_zoomed_out_rendering_reads_overviews_only(qgis_app, tmp_path, shared_data):
    """A zoomed-out view of a .b2b directory renders the same with its full-resolution chunks deleted."""
    from qgis.core import QgsMapRendererParallelJob, QgsMapSettings, QgsRasterLayer
    from qgis.PyQt.QtCore import QSize
    import byte2bit

    def render(path):
        layer = QgsRasterLayer(path, "b")
        assert layer.isValid()
        settings = QgsMapSettings()
        settings.setLayers([layer])
        settings.setDestinationCrs(layer.crs())
        settings.setExtent(layer.extent())
        settings.setOutputSize(QSize(240, 240))  # about 1/8 of full resolution
        job = QgsMapRendererParallelJob(settings)
        job.start()
        job.waitForFinished()
        assert not job.errors()
        return job.renderedImage()
    whole = byte2bit.transform(s2_band("B04"), tmp_path / "whole", form="directory")
    expected = render(whole)
    stripped = tmp_path / "stripped.b2b"
    shutil.copytree(whole, stripped)
    shutil.rmtree(stripped / "band_1" / "c")
    assert render(str(stripped)) == expected


def test_startup_warning_without_driver(tmp_path):
    """With the driver absent from QGIS's GDAL, the plugin says so at start-up, with the fix."""
    code = f"""
import sys
sys.path.insert(0, {str(PLUGIN_ROOT)!r}); sys.path.insert(0, {str(pathlib.Path(__file__).parent)!r})
from qgis.core import QgsApplication
app = QgsApplication([], True); app.initQgis()
from qgis_harness import HeadlessInterface
import byte2bit_qgis
iface = HeadlessInterface()
plugin = byte2bit_qgis.classFactory(iface); plugin.initGui()
print("MESSAGES:", " | ".join(item.text() for item in iface.bar.items()))
plugin.unload()
"""
    env = dict(os.environ, GDAL_DRIVER_PATH=str(tmp_path), QT_QPA_PLATFORM="offscreen")  # no plugin there
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300,
                       cwd=tmp_path)  # a folder that exists: an earlier test may have left a removed cwd
    assert r.returncode == 0, r.stderr
    assert "MESSAGES: The B2B GDAL driver is not loaded in QGIS's GDAL" in r.stdout


def test_processing_cancel_and_model(qgis_app, tmp_path, shared_data):
    """Cancel through the feedback object, and convert + verify chained in a Processing model."""
    import processing
    from qgis.core import (QgsApplication, QgsProcessingContext, QgsProcessingException, QgsProcessingFeedback,
                           QgsProcessingModelAlgorithm, QgsProcessingModelChildAlgorithm,
                           QgsProcessingModelChildParameterSource, QgsProcessingModelParameter,
                           QgsProcessingParameterFile)
    from byte2bit_qgis.processing.provider import Byte2BitProvider
    provider = Byte2BitProvider()
    QgsApplication.processingRegistry().addProvider(provider)
    try:
        feedback = QgsProcessingFeedback()
        feedback.progressChanged.connect(lambda p: feedback.cancel() if p > 0 else None)
        with pytest.raises(QgsProcessingException, match="cancelled"):
            processing.run("byte2bit:convert", {"INPUT": str(s2_band("B02")), "OUTPUT": str(tmp_path / "c.b2b")},
                           feedback=feedback)
        assert not (tmp_path / "c.b2b").exists()

        model = QgsProcessingModelAlgorithm("convert and verify", "byte2bit tests")
        model.addModelParameter(QgsProcessingParameterFile("SOURCE", "Source"), QgsProcessingModelParameter("SOURCE"))
        convert = QgsProcessingModelChildAlgorithm("byte2bit:convert")
        convert.setChildId("convert")
        convert.addParameterSources("INPUT", [QgsProcessingModelChildParameterSource.fromModelParameter("SOURCE")])
        convert.addParameterSources("OUTPUT", [QgsProcessingModelChildParameterSource.fromStaticValue(
            str(tmp_path / "model.b2b"))])
        model.addChildAlgorithm(convert)
        verify = QgsProcessingModelChildAlgorithm("byte2bit:verify")
        verify.setChildId("verify")
        verify.addParameterSources("ORIGINAL", [QgsProcessingModelChildParameterSource.fromModelParameter("SOURCE")])
        verify.addParameterSources("B2B", [QgsProcessingModelChildParameterSource.fromChildOutput("convert", "OUTPUT")])
        model.addChildAlgorithm(verify)
        context = QgsProcessingContext()
        results, ok = model.run({"SOURCE": str(s2_band("B09"))}, context, QgsProcessingFeedback())
        assert ok and (tmp_path / "model.b2b").exists()
        assert results["CHILD_RESULTS"]["verify"]["PASS"] is True
    finally:
        QgsApplication.processingRegistry().removeProvider(provider)
