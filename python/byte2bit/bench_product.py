"""Benchmark: a whole Sentinel-2 product into one .b2b (``transform``, default settings) against the
same images as tiled GeoTIFFs (512 blocks, ZSTD + PREDICTOR=2, the JPEG 2000 pyramid copied as
overviews, as the .b2b's OVERVIEWS=AUTO does) and against the product's own JPEG 2000 files.

    python -m byte2bit.bench_product [--product DIR.SAFE]

Prints a table by kind of image (bands, TCI/SCL/AOT/WVP, QI masks, preview) and the totals, with
the seconds each writer took (transform with its default threads; GeoTIFF on one thread). Images
the product lacks are skipped (the dev product lacks 18). The .b2b is verified against the product
before its numbers are printed.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import zipfile
from collections import defaultdict
from pathlib import Path

from . import safe
from .raster import gdal as load_gdal
from .raster import transform, verify


def kind(relative: str) -> str:
    name = os.path.basename(relative)
    if "/QI_DATA/MSK_" in relative:
        return "QI masks (MSK_*)"
    if name.endswith("_PVI.jp2"):
        return "preview (PVI)"
    if any(f"_{k}_" in name for k in ("TCI", "SCL", "AOT", "WVP")):
        return "TCI, SCL, AOT, WVP"
    return "spectral bands"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m byte2bit.bench_product", description=__doc__.split("\n\n")[0])
    default = next((Path(os.environ.get("B2B_DATA", "../shared/data")) / "sentinel2").glob(
        "stactools_*/*.SAFE"), None)
    p.add_argument("--product", default=default, type=Path, help="a .SAFE folder (default: the dev product)")
    args = p.parse_args(argv)
    if args.product is None or not args.product.is_dir():
        sys.exit("bench_product: no product: pass --product or set B2B_DATA")
    g = load_gdal()
    product = safe.scan(g, str(args.product))
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        out = transform(args.product, Path(tmp) / "product.b2b", skip_missing=True)
        b2b_seconds = time.perf_counter() - start
        report = verify(args.product, out)
        stored = defaultdict(int)
        with zipfile.ZipFile(out) as z:
            groups = {}
            ds = g.Open(out)
            md = ds.GetMetadata("SUBDATASETS")
            for i in range(1, len(md) // 2 + 1):
                groups[md[f"SUBDATASET_{i}_NAME"].rsplit(":", 1)[1]] = md[f"SUBDATASET_{i}_DESC"]
            for info in z.infolist():
                top = info.filename.split("/")[0]
                stored[kind(groups[top]) if top in groups else "metadata, manifest"] += info.compress_size
            stored["zip headers, central directory"] = Path(out).stat().st_size - sum(stored.values())
            chunks = len(z.infolist())
        jp2, tif, n = defaultdict(int), defaultdict(int), defaultdict(int)
        tif_seconds = 0.0
        for relative in product.images:
            src = args.product / relative
            k = kind(relative)
            n[k] += 1
            jp2[k] += src.stat().st_size
            bits = g.GetDataTypeSize(g.Open(str(src)).GetRasterBand(1).DataType)
            target = Path(tmp) / (Path(relative).stem + ".tif")
            start = time.perf_counter()
            # NBITS: these JP2s declare 15 bits, with which GeoTIFF refuses PREDICTOR=2
            g.Translate(str(target), str(src), format="GTiff", creationOptions=[
                "TILED=YES", "BLOCKXSIZE=512", "BLOCKYSIZE=512", "COMPRESS=ZSTD", "PREDICTOR=2", f"NBITS={bits}",
                "COPY_SRC_OVERVIEWS=YES", "NUM_THREADS=1"])
            tif_seconds += time.perf_counter() - start
            tif[k] += target.stat().st_size
            target.unlink()
    print(f"{args.product.name}: {len(product.images)} images, {len(product.missing)} listed but missing "
          f"(skipped); .b2b verified: {'EQUAL' if report.equal else report}\n")
    print("| images | count | JPEG 2000 MB | GeoTIFF ZSTD MB | .b2b MB | .b2b vs GeoTIFF |")
    print("|---|---:|---:|---:|---:|---:|")
    for k in sorted(n):
        print(f"| {k} | {n[k]} | {jp2[k] / 1e6:.2f} | {tif[k] / 1e6:.2f} | {stored[k] / 1e6:.2f} | "
              f"{100 * (stored[k] / tif[k] - 1):+.1f}% |")
    total_b2b = sum(stored.values())  # the file's size
    print(f"| metadata, manifest | | | | {stored['metadata, manifest'] / 1e6:.2f} | |")
    print(f"| zip headers, central directory ({chunks} entries) | | | | "
          f"{stored['zip headers, central directory'] / 1e6:.2f} | |")
    print(f"| **total** | {sum(n.values())} | {sum(jp2.values()) / 1e6:.2f} | {sum(tif.values()) / 1e6:.2f} | "
          f"{total_b2b / 1e6:.2f} | {100 * (total_b2b / sum(tif.values()) - 1):+.1f}% |")
    print(f"\nWritten in: .b2b (transform, {os.cpu_count()} threads) {b2b_seconds:.1f} s; "
          f"GeoTIFF (one thread) {tif_seconds:.1f} s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
