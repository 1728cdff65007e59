#!/usr/bin/env bash
# Sets up everything byte2bit needs on Debian 12, idempotently and quickly on a second run:
# Debian packages, the Python environment .venv, the installed byte2bit package and the C++ tests.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

APT_PACKAGES=(build-essential cmake ninja-build git python3-venv python3-dev python3-gdal gdal-bin
              libgdal-dev libdeflate-dev pkgconf libxxhash-dev clang libclang-rt-14-dev unzip libeccodes-dev
              qgis python3-qgis qgis-providers
              python3-torch)  # CPU-only PyTorch for the checkpoint tests (PyPI's Linux wheels pull in CUDA)

sudo_if_needed() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  sudo_if_needed apt-get update -q
  sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# One environment for everything: Debian's python3 sees apt's osgeo (and later qgis).
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  /usr/bin/python3 -m venv --system-site-packages .venv
fi
PY=.venv/bin/python
stamp() { mkdir -p build; echo "build/.stamp-$1"; }

req_hash=$(sha256sum requirements-dev.txt | cut -c1-16)
if [ "$(cat "$(stamp requirements)" 2>/dev/null)" != "$req_hash" ]; then
  echo "setup: installing Python requirements"
  $PY -m pip install -q --upgrade pip
  $PY -m pip install -q -r requirements-dev.txt
  echo "$req_hash" > "$(stamp requirements)"
fi

# Rebuild only when a source of the build changed.
src_hash=$(find CMakeLists.txt pyproject.toml codec gdal_driver python tests/codec tests/fuzz -type f \
             \( -name '*.cpp' -o -name '*.hpp' -o -name '*.py' -o -name 'CMakeLists.txt' -o -name '*.toml' \) \
             -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)
if [ "$(cat "$(stamp build)" 2>/dev/null)" != "$src_hash" ] || ! $PY -c "import byte2bit" 2>/dev/null; then
  echo "setup: building and installing byte2bit"
  $PY -m pip install -q --no-build-isolation --no-deps .
  cmake -S . -B build/cpp -G Ninja -DBYTE2BIT_TESTS=ON > /dev/null
  cmake --build build/cpp > /dev/null
  echo "$src_hash" > "$(stamp build)"
fi

# The GDAL plugin goes into GDAL's own plugin folder, where every program built against the system
# GDAL finds it with nothing exported (gdalinfo, QGIS, qgis_process, rasterio, Jupyter), and into
# .venv/lib/gdalplugins, which run.sh puts on GDAL_DRIVER_PATH (so the tests use this checkout's
# build) and which `import byte2bit` registers from when GDAL has no B2B driver.
PLUGIN_DIR="$ROOT/.venv/lib/gdalplugins"
mkdir -p "$PLUGIN_DIR"
cmp -s build/cpp/gdalplugins/gdal_B2B.so "$PLUGIN_DIR/gdal_B2B.so" || install -m 644 build/cpp/gdalplugins/gdal_B2B.so "$PLUGIN_DIR/"  # unlinks first: a running GDAL keeps its copy
GDAL_PLUGIN_DIR="$(gdal-config --libs | tr ' ' '\n' | sed -n 's/^-L//p' | head -1)/gdalplugins"
if ! cmp -s build/cpp/gdalplugins/gdal_B2B.so "$GDAL_PLUGIN_DIR/gdal_B2B.so"; then
  echo "setup: installing the B2B driver into $GDAL_PLUGIN_DIR"
  sudo_if_needed install -D -m 644 build/cpp/gdalplugins/gdal_B2B.so "$GDAL_PLUGIN_DIR/gdal_B2B.so"
fi
formats=$(env -u GDAL_DRIVER_PATH gdalinfo --formats)
grep -q "^  B2B " <<< "$formats" ||
  { echo "setup: GDAL does not load $GDAL_PLUGIN_DIR/gdal_B2B.so" >&2; exit 1; }
# The QGIS plugin, in the default QGIS profile, enabled.
site_packages=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
"$PY" qgis_plugin/install.py "$site_packages" > /dev/null
version=$("$PY" -c 'import byte2bit; print("byte2bit", byte2bit.__version__)')  # fails setup if it cannot import
echo "setup: ready ($version)"
