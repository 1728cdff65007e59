"""Byte2Bit QGIS plugin: convert, verify and inspect .b2b rasters (dialogs and Processing)."""


def classFactory(iface):  # noqa: N802  (QGIS's name)
    # Imported here, not at module level, so QGIS lists the plugin without loading its code.
    from .plugin import Byte2BitPlugin
    return Byte2BitPlugin(iface)
