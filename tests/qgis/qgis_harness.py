"""Helpers for the QGIS tests: a QgisInterface on real Qt widgets, waiting for tasks, screenshots."""
import os
import pathlib

PLUGIN_ROOT = pathlib.Path(__file__).resolve().parents[2] / "qgis_plugin"
SCREENSHOTS = pathlib.Path(os.environ.get(
    "B2B_SCREENSHOTS", pathlib.Path(__file__).resolve().parents[2] / "build" / "screenshots"))


class HeadlessInterface:
    """The part of QgisInterface the plugin uses, on real Qt widgets."""

    def __init__(self):
        from qgis.gui import QgsMapCanvas, QgsMessageBar
        from qgis.PyQt.QtWidgets import QMainWindow
        self.window = QMainWindow()
        self.raster_menu = self.window.menuBar().addMenu("&Raster")
        self.bar = QgsMessageBar(self.window)
        self.canvas = QgsMapCanvas(self.window)
        self.toolbars = []

    def mainWindow(self):  # noqa: N802
        return self.window

    def messageBar(self):  # noqa: N802
        return self.bar

    def mapCanvas(self):  # noqa: N802
        return self.canvas

    def addToolBar(self, name):  # noqa: N802
        toolbar = self.window.addToolBar(name)
        self.toolbars.append(toolbar)
        return toolbar

    def removeToolBarIcon(self, action):  # noqa: N802
        for toolbar in self.toolbars:
            toolbar.removeAction(action)

    def _submenu(self, name, create):
        for action in self.raster_menu.actions():
            if action.menu() is not None and action.text() == name:
                return action.menu()
        return self.raster_menu.addMenu(name) if create else None

    def addPluginToRasterMenu(self, name, action):  # noqa: N802
        self._submenu(name, True).addAction(action)

    def removePluginRasterMenu(self, name, action):  # noqa: N802
        menu = self._submenu(name, False)
        if menu is not None:
            menu.removeAction(action)
            if not menu.actions():
                self.raster_menu.removeAction(menu.menuAction())



def wait_for(task_owner, attribute="task", timeout=600):
    """Processes Qt events until the dialog's QgsTask is done."""
    import time
    from qgis.core import QgsApplication
    deadline = time.time() + timeout
    while getattr(task_owner, attribute) is not None and time.time() < deadline:
        QgsApplication.processEvents()
        time.sleep(0.02)
    QgsApplication.processEvents()
    assert getattr(task_owner, attribute) is None, "the task did not finish"


def screenshot(widget, name: str) -> pathlib.Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    widget.grab().save(str(path))
    print(f"screenshot: {path}")
    return path
