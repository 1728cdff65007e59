"""Builds the installable plugin zip (Plugins > Manage and Install > Install from ZIP).

    python qgis_plugin/build_zip.py [OUT_DIR]     -> OUT_DIR/byte2bit_qgis-<version>.zip (default build/)
"""
import configparser
import pathlib
import sys
import zipfile

HERE = pathlib.Path(__file__).resolve().parent
PLUGIN = HERE / "byte2bit_qgis"


def build(out_dir: pathlib.Path) -> pathlib.Path:
    meta = configparser.ConfigParser()
    meta.read(PLUGIN / "metadata.txt")
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"byte2bit_qgis-{meta['general']['version']}.zip"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as z:
        for path in sorted(PLUGIN.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.name != "python_path.txt":
                z.write(path, path.relative_to(HERE))
    return target


if __name__ == "__main__":
    print(build(pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else HERE.parent / "build")))
