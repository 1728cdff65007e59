"""The plugin: a Raster > Byte2Bit menu and a toolbar with three dialogs, and the Processing provider.
initGui/initProcessing and unload mirror each other: what one adds, the other removes."""
import os

from qgis.core import Qgis, QgsApplication, QgsMessageLog
from qgis.PyQt.QtGui import QIcon
from qgis.PyQt.QtWidgets import QAction

from .core.environment import driver_problem

MENU = "&Byte2Bit"
ICON = os.path.join(os.path.dirname(__file__), "icons", "byte2bit.svg")


class Byte2BitPlugin:
    def __init__(self, iface):
        self.iface = iface
        self.provider = None
        self.actions = []
        self.toolbar = None
        self.dialogs = {}

    def initProcessing(self):  # noqa: N802  (QGIS's names)
        from .processing.provider import Byte2BitProvider
        self.provider = Byte2BitProvider()
        QgsApplication.processingRegistry().addProvider(self.provider)

    def initGui(self):  # noqa: N802
        self.initProcessing()
        self.toolbar = self.iface.addToolBar("Byte2Bit")
        self.toolbar.setObjectName("Byte2BitToolbar")
        for text, key in (("Convert to .b2b...", "convert"), ("Verify a .b2b...", "verify"),
                          ("Inspect a .b2b...", "inspect")):
            action = QAction(QIcon(ICON), text, self.iface.mainWindow())
            action.setObjectName(f"byte2bit_{key}")
            action.triggered.connect(lambda _=False, key=key: self.show(key))
            self.iface.addPluginToRasterMenu(MENU, action)
            self.toolbar.addAction(action)
            self.actions.append(action)
        problem = driver_problem()
        if problem:
            QgsMessageLog.logMessage(problem, "Byte2Bit", Qgis.Critical)
            self.iface.messageBar().pushMessage("Byte2Bit", problem.split("\n")[0] + " See the log for the fix.",
                                                Qgis.Critical, 0)

    def unload(self):
        for action in self.actions:
            self.iface.removePluginRasterMenu(MENU, action)
            self.iface.removeToolBarIcon(action)
        self.actions = []
        for dialog in self.dialogs.values():
            dialog.close()
            dialog.deleteLater()
        self.dialogs = {}
        if self.toolbar is not None:
            self.toolbar.deleteLater()
            self.toolbar = None
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None

    def show(self, key: str):
        from .gui.dialogs import ConvertDialog, InspectDialog, VerifyDialog
        if key not in self.dialogs:
            cls = {"convert": ConvertDialog, "verify": VerifyDialog, "inspect": InspectDialog}[key]
            self.dialogs[key] = cls(self.iface.mainWindow(), iface=self.iface)
        self.dialogs[key].show()
        self.dialogs[key].raise_()
        return self.dialogs[key]
