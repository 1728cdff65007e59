"""Installs the plugin into a QGIS profile and makes QGIS find byte2bit.

    python qgis_plugin/install.py SITE_PACKAGES [PROFILE_DIR]

- copies byte2bit_qgis/ into PROFILE_DIR/python/plugins (default: the user's default profile);
- records SITE_PACKAGES (where byte2bit is installed) in the plugin's python_path.txt;
- enables the plugin in the profile's QGIS3.ini.

The B2B driver needs nothing here: setup installs it into GDAL's own plugin folder. A
GDAL_DRIVER_PATH that earlier versions set among QGIS's custom environment variables is removed
(pointing at one checkout, it hid the driver once that checkout was gone); the user's other
variables are kept.
"""
import configparser
import pathlib
import shutil
import sys

PLUGIN = pathlib.Path(__file__).resolve().parent / "byte2bit_qgis"
DEFAULT_PROFILE = pathlib.Path.home() / ".local" / "share" / "QGIS" / "QGIS3" / "profiles" / "default"


def install(site_packages: str, profile: pathlib.Path = DEFAULT_PROFILE) -> pathlib.Path:
    target = profile / "python" / "plugins" / PLUGIN.name
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(PLUGIN, target, ignore=shutil.ignore_patterns("__pycache__", "python_path.txt"))
    (target / "python_path.txt").write_text(site_packages + "\n", encoding="utf-8")
    ini = profile / "QGIS" / "QGIS3.ini"
    ini.parent.mkdir(parents=True, exist_ok=True)
    config = configparser.RawConfigParser()
    config.optionxform = str  # QGIS keys are case-sensitive
    config.read(ini, encoding="utf-8")
    for section in ("PythonPlugins", "qgis"):
        if not config.has_section(section):
            config.add_section(section)
    config.set("PythonPlugins", PLUGIN.name, "true")
    ours = config.get("qgis", "customEnvVars", fallback="")
    if ours.startswith("overwrite|GDAL_DRIVER_PATH=") and "," not in ours:
        config.remove_option("qgis", "customEnvVars")
    with open(ini, "w", encoding="utf-8") as f:
        config.write(f, space_around_delimiters=False)
    return target


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    profile = pathlib.Path(sys.argv[2]) if len(sys.argv) == 3 else DEFAULT_PROFILE
    print(f"setup: QGIS plugin installed in {install(sys.argv[1], profile)}")
