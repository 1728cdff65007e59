"""The Convert, Verify and Inspect dialogs. Work runs in QgsTasks (QGIS's task manager shows
progress and cancels them); the dialogs only gather input and show results."""
from __future__ import annotations

import os

from qgis.core import Qgis, QgsApplication, QgsMapLayerType, QgsProject, QgsRasterLayer, QgsTask
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtGui import QImage, QPixmap
from qgis.PyQt.QtWidgets import (
    QApplication, QButtonGroup, QCheckBox, QComboBox, QDialog, QDialogButtonBox, QDoubleSpinBox, QFileDialog,
    QFormLayout, QHBoxLayout, QHeaderView, QLabel, QLineEdit, QPlainTextEdit, QPushButton, QRadioButton, QSpinBox,
    QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget,
)

from ..core import operations


def _path_row(field: QWidget, *buttons: QPushButton) -> QWidget:
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(field, 1)
    for b in buttons:
        layout.addWidget(b)
    return row


class _TaskDialog(QDialog):
    """A dialog that runs one QgsTask at a time and keeps its last result."""

    def __init__(self, title: str, parent=None):
        super().__init__(parent)
        self.setWindowTitle(title)
        self.task = None
        self.result = None
        self.error = None
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextSelectableByMouse)

    def _start(self, description: str, fn, on_done):
        self.result = self.error = None

        def work(task):
            return fn(progress=task.setProgress, is_cancelled=task.isCanceled)

        def finished(exception, value=None):
            self.task = None
            if exception is not None:
                self.error = str(exception)
                self.status.setText(f"<b>Failed:</b> {self.error}")
            else:
                self.result = value
                on_done(value)
        self.task = QgsTask.fromFunction(description, work, on_finished=finished)
        self.status.setText("Running in the background (see the task manager)...")
        QgsApplication.taskManager().addTask(self.task)


class ConvertDialog(_TaskDialog):
    def __init__(self, parent=None, iface=None):
        super().__init__("Byte2Bit: convert to .b2b", parent)
        self.iface = iface
        self.source = QComboBox()
        self.source.setEditable(True)
        for layer in QgsProject.instance().mapLayers().values():
            if layer.type() == QgsMapLayerType.RasterLayer and layer.providerType() == "gdal":
                self.source.addItem(layer.name(), layer.source())
        self.source.setCurrentIndex(-1)
        self.source.lineEdit().setPlaceholderText("a loaded layer, a raster file, a folder, or a .SAFE / .zip product")
        pick_file, pick_folder = QPushButton("File..."), QPushButton("Folder / .SAFE...")
        pick_file.clicked.connect(self._pick_file)
        pick_folder.clicked.connect(self._pick_folder)
        self.level = QComboBox()
        for text, value in (("4: smallest (default)", 4), ("2", 2), ("1: faster", 1), ("0: fastest to read", 0)):
            self.level.addItem(text, value)
        self.lossless, self.bounded = QRadioButton("Lossless"), QRadioButton("Error-bounded, quantize scale:")
        self.lossless.setChecked(True)
        group = QButtonGroup(self)
        group.addButton(self.lossless)
        group.addButton(self.bounded)
        self.scale = QDoubleSpinBox()
        self.scale.setDecimals(6)
        self.scale.setRange(0.0, 1e9)
        self.scale.setValue(0.01)
        self.scale.setEnabled(False)
        self.bounded.toggled.connect(self.scale.setEnabled)
        explain = QLabel("Every value of a floating-point band stays within scale / 2 of the original; "
                         "NaN and infinities are kept exactly. Integer bands are always lossless.")
        explain.setWordWrap(True)
        explain.setMinimumHeight(explain.fontMetrics().lineSpacing() * 3)
        self.cog = QCheckBox("Keep the source's (COG) block layout")
        self.cog.setChecked(True)
        self.block = QSpinBox()
        self.block.setRange(16, 8192)
        self.block.setValue(512)
        self.block.setEnabled(False)
        self.cog.toggled.connect(lambda on: self.block.setEnabled(not on))
        self.overviews = QCheckBox("Build overviews")
        self.overviews.setChecked(True)
        self.skip_missing = QCheckBox("Skip images missing from a Sentinel-2 product (the .b2b records them)")
        self.output = QLineEdit()
        self.output.setPlaceholderText("output .b2b (a folder when the input is a folder of rasters)")
        pick_out = QPushButton("...")
        pick_out.clicked.connect(self._pick_output)
        self.add_layers = QCheckBox("Add the results to the project")
        self.add_layers.setChecked(True)
        form = QFormLayout()
        form.addRow("Input", _path_row(self.source, pick_file, pick_folder))
        form.addRow("Level", self.level)
        bound_row = QWidget()
        bl = QHBoxLayout(bound_row)
        bl.setContentsMargins(0, 0, 0, 0)
        bl.addWidget(self.lossless)
        bl.addWidget(self.bounded)
        bl.addWidget(self.scale)
        form.addRow("Mode", bound_row)
        form.addRow("", explain)
        form.addRow("Layout", self.cog)
        form.addRow("Block size", self.block)
        form.addRow("", self.overviews)
        form.addRow("", self.skip_missing)
        form.addRow("Output", _path_row(self.output, pick_out))
        form.addRow("", self.add_layers)
        self.buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Close)
        self.buttons.button(QDialogButtonBox.Ok).setText("Convert")
        self.buttons.accepted.connect(self.run)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.status)
        layout.addWidget(self.buttons)

    def _pick_file(self):
        path, _ = QFileDialog.getOpenFileName(self, "Raster or product", "", "Rasters (*.tif *.tiff *.jp2 *.zip *.vrt);;All files (*)")
        if path:
            self.source.setEditText(path)

    def _pick_folder(self):
        path = QFileDialog.getExistingDirectory(self, "Folder of rasters, or a .SAFE product")
        if path:
            self.source.setEditText(path)

    def _pick_output(self):
        path, _ = QFileDialog.getSaveFileName(self, "Output", "", "Byte2Bit (*.b2b)")
        if path:
            self.output.setText(path)

    def source_path(self) -> str:
        i = self.source.currentIndex()
        if i >= 0 and self.source.currentText() == self.source.itemText(i):
            return self.source.itemData(i)
        return self.source.currentText().strip()

    def run(self):
        source, output = self.source_path(), self.output.text().strip()
        if not source or not output:
            self.status.setText("<b>Choose an input and an output.</b>")
            return
        sources = operations.sources_in(source)
        if not sources:
            self.status.setText(f"<b>No rasters found in {source}.</b>")
            return
        many = len(sources) > 1 or (os.path.isdir(source) and not source.upper().rstrip("/").endswith(".SAFE"))
        options = dict(level=self.level.currentData(),
                       quantize_scale=self.scale.value() if self.bounded.isChecked() else 0.0,
                       cog_layout=self.cog.isChecked(), block_size=None if self.cog.isChecked() else self.block.value(),
                       overviews=self.overviews.isChecked(), skip_missing=self.skip_missing.isChecked())

        def work(progress, is_cancelled):
            if many and not os.path.isdir(output):  # a folder output is created, in a folder that exists
                parent = os.path.dirname(os.path.abspath(output))
                if not os.path.isdir(parent):
                    raise ValueError(f"folder {parent} does not exist")
                os.mkdir(output)
            results = []
            for i, s in enumerate(sources):
                target = os.path.join(output, os.path.basename(s.rstrip("/"))) if many else output
                results.append(operations.convert(
                    s, target, progress=lambda p, i=i: progress((i + p / 100) * 100 / len(sources)),
                    is_cancelled=is_cancelled, **options))
            return results
        self._start(f"Byte2Bit: convert {os.path.basename(source.rstrip('/'))}", work, self._done)

    def _done(self, results):
        total_in = sum(r.input_bytes for r in results)
        total_out = sum(r.output_bytes for r in results)
        lines = [r.summary() for r in results]
        if len(results) > 1:
            lines.append(f"Total: {total_in / 1e6:.2f} MB -> {total_out / 1e6:.2f} MB "
                         f"(ratio {total_in / max(total_out, 1):.2f}) in {sum(r.seconds for r in results):.1f} s")
        headline = lines[-1]
        lines += [f"{os.path.basename(r.output)} holds {len(r.rasters)} rasters: "
                  + ", ".join(name.split(":")[0] for name in r.rasters) for r in results if r.rasters]
        self.summary = "\n".join(lines)
        self.status.setText(self.summary.replace("\n", "<br>"))
        if self.add_layers.isChecked():
            for r in results:
                layer = QgsRasterLayer(r.output, os.path.splitext(os.path.basename(r.output))[0])
                if layer.isValid():
                    QgsProject.instance().addMapLayer(layer)
                elif layer.dataProvider() is not None and layer.dataProvider().subLayers():
                    for sub in layer.dataProvider().subLayers():
                        name = sub.split("!!::!!")[0]
                        sublayer = QgsRasterLayer(name, f"{os.path.basename(r.output)} {name.rsplit(':', 1)[-1]}")
                        if sublayer.isValid():
                            QgsProject.instance().addMapLayer(sublayer)
        if self.iface is not None:
            self.iface.messageBar().pushMessage("Byte2Bit", headline, Qgis.Success, 10)


class VerifyDialog(_TaskDialog):
    def __init__(self, parent=None, iface=None):
        super().__init__("Byte2Bit: verify a .b2b", parent)
        self.original, self.b2b = QLineEdit(), QLineEdit()
        po, pb = QPushButton("..."), QPushButton("...")
        po.clicked.connect(lambda: self._pick(self.original, "Original raster (*.tif *.tiff *.jp2 *.zip);;All files (*)"))
        pb.clicked.connect(lambda: self._pick(self.b2b, "Byte2Bit (*.b2b)"))
        self.verdict = QLabel("")
        self.report = QPlainTextEdit()
        self.report.setReadOnly(True)
        self.report.setMinimumSize(560, 220)
        copy, save = QPushButton("Copy report"), QPushButton("Save report...")
        copy.clicked.connect(lambda: QApplication.clipboard().setText(self.report.toPlainText()))
        save.clicked.connect(self._save)
        form = QFormLayout()
        form.addRow("Original", _path_row(self.original, po))
        form.addRow(".b2b", _path_row(self.b2b, pb))
        self.buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Close)
        self.buttons.button(QDialogButtonBox.Ok).setText("Verify")
        self.buttons.accepted.connect(self.run)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.verdict)
        layout.addWidget(self.report)
        layout.addWidget(_buttons_row(copy, save))
        layout.addWidget(self.status)
        layout.addWidget(self.buttons)

    def _pick(self, edit, filters):
        path, _ = QFileDialog.getOpenFileName(self, "Choose", "", filters)
        if path:
            edit.setText(path)

    def _save(self):
        path, _ = QFileDialog.getSaveFileName(self, "Save report", "verify.txt", "Text (*.txt)")
        if path:
            with open(path, "w", encoding="utf-8") as f:
                f.write(self.report.toPlainText() + "\n")

    def run(self):
        original, b2b = self.original.text().strip(), self.b2b.text().strip()
        for what, p in (("original", original), (".b2b", b2b)):
            if not p or not os.path.exists(p):
                self.status.setText(f"<b>The {what} does not exist: {p}</b>")
                return
        self._start(f"Byte2Bit: verify {os.path.basename(b2b)}",
                    lambda progress, is_cancelled: operations.verify(original, b2b, progress, is_cancelled), self._done)

    def _done(self, report):
        lines = [f"{'PASS' if report.ok else 'FAIL'}: {report.source} vs {report.b2b}"]
        lines += [f"! {p}" for p in report.problems]
        for b in report.bands:
            if b.equal:
                lines.append(f"{b.name}: equal")
            else:
                bound = "" if b.bound is None else (
                    f", {'within' if b.within_bound else 'OUTSIDE'} the stored bound {b.bound:g}")
                lines.append(f"{b.name}: max absolute error {b.max_abs_error:g}{bound}")
        self.report.setPlainText("\n".join(lines))
        colour = "#1a7f37" if report.ok else "#c62828"
        self.verdict.setText(f"<span style='font-size:16pt; color:{colour}'><b>{'PASS' if report.ok else 'FAIL'}</b></span>"
                             + (" (identical)" if report.equal else ""))
        self.status.setText("")


def _buttons_row(*buttons):
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addStretch(1)
    for b in buttons:
        layout.addWidget(b)
    return row


class InspectDialog(QDialog):
    """A summary (file, rasters, checksums) beside the thumbnail, and the arrays as a sortable table,
    as QGIS's own layer properties show such lists."""
    COLUMNS = ("Array", "Data type", "Shape", "Chunks", "Level", "Mode", "Raw bytes", "Stored bytes", "Ratio",
               "Problems")

    def __init__(self, parent=None, iface=None, path: str = ""):
        super().__init__(parent)
        self.setWindowTitle("Byte2Bit: inspect a .b2b")
        self.path = QLineEdit(path)
        pick, show = QPushButton("..."), QPushButton("Inspect")
        pick.clicked.connect(self._pick)
        show.clicked.connect(self.run)
        self.thumb = QLabel()
        self.thumb.setFixedSize(256, 256)
        self.thumb.setAlignment(Qt.AlignCenter)
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.text.setMinimumSize(560, 160)
        self.table = QTableWidget(0, len(self.COLUMNS))
        self.table.setHorizontalHeaderLabels(self.COLUMNS)
        self.table.setEditTriggers(QTableWidget.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectRows)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setMinimumSize(820, 260)
        self.inspection = None
        top = QHBoxLayout()
        top.addWidget(self.thumb)
        top.addWidget(self.text, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(_path_row(self.path, pick, show))
        layout.addLayout(top)
        layout.addWidget(self.table, 1)
        close = QDialogButtonBox(QDialogButtonBox.Close)
        close.rejected.connect(self.reject)
        layout.addWidget(close)
        if path:
            self.run()

    def _pick(self):
        path, _ = QFileDialog.getOpenFileName(self, "A .b2b", "", "Byte2Bit (*.b2b)")
        if path:
            self.path.setText(path)
            self.run()

    def run(self):
        path = self.path.text().strip()
        self.table.setSortingEnabled(False)  # filled in order, then sortable by any column
        self.table.setRowCount(0)
        try:
            self.inspection = operations.inspect(path)
        except (ValueError, OSError) as e:
            self.inspection = None
            self.text.setPlainText(f"Cannot inspect {path}: {e}")
            return
        self.text.setPlainText(summary(self.inspection))
        for a in self.inspection.arrays:
            row = self.table.rowCount()
            self.table.insertRow(row)
            mode = "lossless" if not a.quantize_scale else f"error <= {float(a.quantize_scale) / 2:g}"
            values = (a.name, str(a.dtype), "x".join(map(str, a.shape)), "x".join(map(str, a.chunks)),
                      a.compression_level, mode, a.raw_bytes, a.stored_bytes, round(a.ratio, 3),
                      "; ".join(a.problems[:5]))
            for column, value in enumerate(values):
                item = QTableWidgetItem()
                item.setData(Qt.DisplayRole, value)  # numbers sort as numbers
                if isinstance(value, (int, float)):
                    item.setTextAlignment(int(Qt.AlignRight | Qt.AlignVCenter))
                self.table.setItem(row, column, item)
        self.table.setSortingEnabled(True)
        pixels = operations.thumbnail(path)
        if pixels is not None:
            h, w, _ = pixels.shape
            image = QImage(pixels.tobytes(), w, h, 3 * w, QImage.Format_RGB888).copy()
            self.thumb.setPixmap(QPixmap.fromImage(image))


def summary(inspection) -> str:
    """What the dialog shows above its table: the file, sizes, checksums and its rasters."""
    raw = sum(a.raw_bytes for a in inspection.arrays)
    lines = [f"{inspection.path}", f"Byte2Bit {inspection.layout} ({inspection.form}); stored {inspection.file_bytes:,} "
             f"bytes, raw {raw:,} bytes, ratio {raw / max(inspection.file_bytes, 1):.3f}",
             f"Checksums: {'all OK' if inspection.checksums_ok else 'FAILED'} "
             f"({sum(a.chunks_ok for a in inspection.arrays)} of {sum(a.chunk_count for a in inspection.arrays)} chunks)", ""]
    from byte2bit.inspection import raster_summary
    for name, r in inspection.rasters.items():
        lines.append(f"Raster{' ' + name if name else ''}: {raster_summary(r)}")
    return "\n".join(lines)
