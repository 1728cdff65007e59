"""The Processing provider "Byte2Bit" (id byte2bit)."""
import os

from qgis.core import QgsProcessingProvider
from qgis.PyQt.QtGui import QIcon

from .algorithms import ConvertAlgorithm, InspectAlgorithm, VerifyAlgorithm

ICON = os.path.join(os.path.dirname(os.path.dirname(__file__)), "icons", "byte2bit.svg")


class Byte2BitProvider(QgsProcessingProvider):
    def id(self):
        return "byte2bit"

    def name(self):
        return "Byte2Bit"

    def longName(self):
        return "Byte2Bit: lossless raster compression (.b2b)"

    def icon(self):
        return QIcon(ICON)

    def loadAlgorithms(self):
        for alg in (ConvertAlgorithm(), VerifyAlgorithm(), InspectAlgorithm()):
            self.addAlgorithm(alg)

    def supportedOutputRasterLayerExtensions(self):
        return ["b2b"]

    def defaultRasterFileExtension(self):
        return "b2b"
