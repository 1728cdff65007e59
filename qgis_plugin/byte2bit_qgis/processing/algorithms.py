"""byte2bit:convert, byte2bit:verify and byte2bit:inspect."""
import os

from qgis.core import (
    QgsProcessingAlgorithm,
    QgsProcessingException,
    QgsProcessingOutputBoolean,
    QgsProcessingOutputNumber,
    QgsProcessingOutputString,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterFile,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
)

from ..core import operations

LEVELS = (0, 1, 2, 4)


def _existing(path: str, what: str) -> str:
    if not path or not os.path.exists(path):
        raise QgsProcessingException(f"{what} does not exist: {path!r}")
    return path


class _Base(QgsProcessingAlgorithm):
    def group(self):
        return ""

    def groupId(self):
        return ""

    def createInstance(self):
        return type(self)()

    def _run(self, fn, feedback, *args, **kwargs):
        try:
            return fn(*args, progress=feedback.setProgress, is_cancelled=feedback.isCanceled, **kwargs)
        except operations.Cancelled as e:
            raise QgsProcessingException(str(e)) from None
        except (ValueError, OSError) as e:  # Byte2BitError is a ValueError
            raise QgsProcessingException(str(e)) from None


class ConvertAlgorithm(_Base):
    INPUT, OUTPUT, LEVEL, QUANTIZE_SCALE = "INPUT", "OUTPUT", "LEVEL", "QUANTIZE_SCALE"
    COG_LAYOUT, BLOCK_SIZE, OVERVIEWS = "COG_LAYOUT", "BLOCK_SIZE", "OVERVIEWS"
    SKIP_MISSING = "SKIP_MISSING"

    def name(self):
        return "convert"

    def displayName(self):
        return "Convert to .b2b"

    def shortHelpString(self):
        return ("Converts a raster (GeoTIFF, COG, JP2, ...) or a Sentinel-2 product (.SAFE folder or .zip) "
                "into a Byte2Bit .b2b file through the B2B GDAL driver. Lossless by default; a quantize "
                "scale > 0 keeps every value of floating-point bands within scale/2 of the original. A product "
                "becomes one .b2b holding every image it ships (bands at each resolution, TCI, SCL, AOT, WVP, "
                "masks, preview) and its metadata XML; images its metadata lists but that are missing are an "
                "error, unless 'Skip missing images' is set. The log lists every raster stored.")

    def initAlgorithm(self, config=None):
        self.addParameter(QgsProcessingParameterFile(
            self.INPUT, "Input raster, or Sentinel-2 .SAFE folder or .zip", QgsProcessingParameterFile.File))
        # The level itself, not an index into a list: LEVEL=0 in qgis_process means level 0.
        self.addParameter(QgsProcessingParameterNumber(
            self.LEVEL, "Compression level, all lossless: 0 fastest to read, 1, 2, 4 smallest (default)",
            QgsProcessingParameterNumber.Integer, defaultValue=4, minValue=0, maxValue=4))
        self.addParameter(QgsProcessingParameterNumber(
            self.QUANTIZE_SCALE, "Error bound: quantize scale (0 = lossless; values stay within scale/2)",
            QgsProcessingParameterNumber.Double, defaultValue=0.0, minValue=0.0))
        self.addParameter(QgsProcessingParameterBoolean(self.COG_LAYOUT, "Keep the source's (COG) block layout",
                                                        defaultValue=True))
        self.addParameter(QgsProcessingParameterNumber(
            self.BLOCK_SIZE, "Block size in pixels (0 = the source's, else 512)", QgsProcessingParameterNumber.Integer,
            defaultValue=0, minValue=0, maxValue=8192))
        self.addParameter(QgsProcessingParameterBoolean(self.OVERVIEWS, "Build overviews", defaultValue=True))
        self.addParameter(QgsProcessingParameterBoolean(
            self.SKIP_MISSING, "Skip images missing from a Sentinel-2 product (the .b2b records them)",
            defaultValue=False))
        self.addParameter(QgsProcessingParameterRasterDestination(self.OUTPUT, "Output .b2b"))
        self.addOutput(QgsProcessingOutputNumber("INPUT_BYTES", "Input size (bytes)"))
        self.addOutput(QgsProcessingOutputNumber("OUTPUT_BYTES", "Output size (bytes)"))
        self.addOutput(QgsProcessingOutputNumber("RATIO", "Compression ratio"))
        self.addOutput(QgsProcessingOutputNumber("SECONDS", "Time taken (s)"))
        self.addOutput(QgsProcessingOutputString("STORED", "Rasters stored (one per line, for a product)"))

    def checkParameterValues(self, parameters, context):
        level = self.parameterAsInt(parameters, self.LEVEL, context)
        if level not in LEVELS:
            return False, f"Compression level must be 0, 1, 2 or 4, got {level}"
        return super().checkParameterValues(parameters, context)

    def processAlgorithm(self, parameters, context, feedback):
        source = _existing(self.parameterAsFile(parameters, self.INPUT, context), "Input")
        output = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        block = self.parameterAsInt(parameters, self.BLOCK_SIZE, context)
        if block and not 16 <= block <= 8192:
            raise QgsProcessingException(f"Block size must be 0 or 16 to 8192, got {block}")
        result = self._run(
            operations.convert, feedback, source, output,
            level=self.parameterAsInt(parameters, self.LEVEL, context),
            quantize_scale=self.parameterAsDouble(parameters, self.QUANTIZE_SCALE, context),
            cog_layout=self.parameterAsBool(parameters, self.COG_LAYOUT, context),
            block_size=block or None, overviews=self.parameterAsBool(parameters, self.OVERVIEWS, context),
            skip_missing=self.parameterAsBool(parameters, self.SKIP_MISSING, context))
        feedback.pushInfo(result.summary())
        if result.rasters:
            feedback.pushInfo(f"Stored {len(result.rasters)} rasters:\n" + result.stored())
        return {self.OUTPUT: result.output, "INPUT_BYTES": result.input_bytes, "OUTPUT_BYTES": result.output_bytes,
                "RATIO": result.ratio, "SECONDS": result.seconds, "STORED": result.stored()}


class VerifyAlgorithm(_Base):
    ORIGINAL, B2B, REPORT = "ORIGINAL", "B2B", "REPORT"

    def name(self):
        return "verify"

    def displayName(self):
        return "Verify a .b2b against its original"

    def shortHelpString(self):
        return ("Compares every pixel of every band of a .b2b with the original, plus georeferencing and "
                "nodata. PASS when equal, or within the error bound the file was written with.")

    def initAlgorithm(self, config=None):
        self.addParameter(QgsProcessingParameterFile(self.ORIGINAL, "Original raster or Sentinel-2 product"))
        self.addParameter(QgsProcessingParameterFile(self.B2B, "The .b2b", extension="b2b"))
        self.addParameter(QgsProcessingParameterFileDestination(
            self.REPORT, "Report", "Text files (*.txt)", optional=True, createByDefault=False))
        self.addOutput(QgsProcessingOutputBoolean("PASS", "Pass"))
        self.addOutput(QgsProcessingOutputBoolean("EQUAL", "Equal"))
        self.addOutput(QgsProcessingOutputString("TEXT", "Report text"))

    def processAlgorithm(self, parameters, context, feedback):
        original = _existing(self.parameterAsFile(parameters, self.ORIGINAL, context), "Original")
        b2b = _existing(self.parameterAsFile(parameters, self.B2B, context), "The .b2b")
        report = self._run(operations.verify, feedback, original, b2b)
        text = str(report)
        (feedback.pushInfo if report.ok else feedback.reportError)(text)
        out = self.parameterAsFileOutput(parameters, self.REPORT, context)
        if out:
            with open(out, "w", encoding="utf-8") as f:
                f.write(text + "\n")
        return {"PASS": report.ok, "EQUAL": report.equal, "TEXT": text, self.REPORT: out or None}


class InspectAlgorithm(_Base):
    INPUT, REPORT = "INPUT", "REPORT"

    def name(self):
        return "inspect"

    def displayName(self):
        return "Inspect a .b2b"

    def shortHelpString(self):
        return ("Shows what is inside a .b2b: rasters, bands and overviews with dtype, shape and chunking, "
                "level and error bound, stored and raw sizes and ratio, georeferencing, and the checksum "
                "status of every chunk.")

    def initAlgorithm(self, config=None):
        self.addParameter(QgsProcessingParameterFile(self.INPUT, "The .b2b", extension="b2b"))
        self.addParameter(QgsProcessingParameterFileDestination(
            self.REPORT, "Report", "Text files (*.txt)", optional=True, createByDefault=False))
        self.addOutput(QgsProcessingOutputString("TEXT", "Report text"))
        self.addOutput(QgsProcessingOutputBoolean("CHECKSUMS_OK", "Every checksum OK"))
        self.addOutput(QgsProcessingOutputNumber("FILE_BYTES", "Stored size (bytes)"))
        self.addOutput(QgsProcessingOutputNumber("RATIO", "Raw / stored"))

    def processAlgorithm(self, parameters, context, feedback):
        path = _existing(self.parameterAsFile(parameters, self.INPUT, context), "Input")
        try:
            result = operations.inspect(path)
        except (ValueError, OSError) as e:
            raise QgsProcessingException(f"{path}: {e}") from None
        text = str(result)
        feedback.pushInfo(text)
        out = self.parameterAsFileOutput(parameters, self.REPORT, context)
        if out:
            with open(out, "w", encoding="utf-8") as f:
                f.write(text + "\n")
        raw = sum(a.raw_bytes for a in result.arrays)
        return {"TEXT": text, "CHECKSUMS_OK": result.checksums_ok, "FILE_BYTES": result.file_bytes,
                "RATIO": raw / result.file_bytes if result.file_bytes else 0.0, self.REPORT: out or None}
