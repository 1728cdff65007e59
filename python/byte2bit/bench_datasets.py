"""Benchmark: NetCDF, HDF5 and Zarr files as .b2b (levels 0, 1, 4) against NetCDF-4 zlib 4 + shuffle,
HDF5 with hdf5plugin Zstd and Blosc2 (zstd, shuffle), and Zarr v3 with zstd and pcodec; then
transform, verify and full-read (xarray ``.load()``) speeds, one thread and two Dask workers.

Run: ``./run.sh bench-datasets [files...]`` (default: every NetCDF, HDF5 and Zarr file of the shared
data). Every .b2b is verified before its numbers are printed.
"""
from __future__ import annotations

import argparse
import glob
import os
import tempfile
import time
import warnings

import byte2bit
from byte2bit import sources
from byte2bit.convert import detect


def _size(path: str) -> int:
    if os.path.isdir(path):
        return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)
    return os.path.getsize(path)


def _variables(path: str, fmt: str):
    """(path, raw array, dims) of every variable, read whole (the benchmark's files are small)."""
    tree = sources.scan(path, fmt)
    for v in tree.variables:
        if v.kind == "numeric":
            yield v, sources.read(path, fmt, v.path, tuple(slice(0, s) for s in v.shape))


def _hdf5(path: str, fmt: str, out: str, filter_kwargs) -> int:
    import h5py
    with h5py.File(out, "w") as f:
        for v, a in _variables(path, fmt):
            chunks = v.chunks or (tuple(min(s, 512) for s in a.shape) if a.ndim else None)
            f.create_dataset(v.path or "data", data=a, chunks=chunks if a.size else None,
                             **(filter_kwargs if a.ndim and a.size else {}))
    return _size(out)


def _netcdf4(path: str, fmt: str, out: str) -> int:
    import netCDF4
    tree = sources.scan(path, fmt)
    with netCDF4.Dataset(out, "w") as ds:
        for g in tree.groups:
            grp = ds if not g.path else ds.createGroup(g.path)
            for d, (size, unlimited) in g.dims.items():
                grp.createDimension(d, None if unlimited else size)
        for v, a in _variables(path, fmt):
            group, _, name = v.path.rpartition("/")
            grp = ds[group] if group else ds
            for d, size in zip(v.dims, a.shape):
                if d not in grp.dimensions and not any(d in x.dimensions for x in [ds]):
                    grp.createDimension(d, size)
            var = grp.createVariable(name or "data", a.dtype, v.dims, zlib=True, complevel=4, shuffle=True,
                                     chunksizes=v.chunks if v.chunks and a.ndim else None)
            var.set_auto_maskandscale(False)
            var[...] = a
    return _size(out)


def _zarr(path: str, fmt: str, out: str, compressor) -> int:
    import zarr
    root = zarr.open_group(zarr.storage.LocalStore(out), mode="w", zarr_format=3)
    for v, a in _variables(path, fmt):
        if a.dtype.kind not in "biufc":
            continue
        kwargs = {"compressors": compressor} if not callable(compressor) else compressor(a)
        arr = root.create_array(v.path or "data", shape=a.shape, dtype=a.dtype,
                                chunks=v.chunks or tuple(min(s, 512) for s in a.shape), **kwargs)
        arr[...] = a
    return _size(out)


def _pcodec(a):
    from numcodecs.zarr3 import PCodec
    if a.dtype.kind not in "iuf" or a.dtype.itemsize < 2:
        from zarr.codecs import ZstdCodec
        return {"compressors": ZstdCodec(level=3)}
    return {"serializer": PCodec(level=8), "compressors": None}


def _load_all(path: str, engine=None) -> float:
    import xarray as xr
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if engine == "byte2bit":
            tree = xr.open_datatree(path, engine="byte2bit")
        else:
            tree = xr.open_datatree(path, engine="netcdf4")
        tree.load()
    return time.perf_counter() - start


def bench_file(path: str, tmp: str) -> dict:
    import hdf5plugin
    from zarr.codecs import ZstdCodec
    fmt = detect(path)
    raw = sum(a.nbytes for _, a in _variables(path, fmt))
    row = {"file": os.path.basename(path.rstrip("/")), "raw": raw, "source": _size(path)}
    timings = {}
    for level in (0, 1, 4):
        out = os.path.join(tmp, f"l{level}.b2b")
        start = time.perf_counter()
        byte2bit.transform(path, out, compression_level=level, progress=False)
        timings[level] = time.perf_counter() - start
        row[f"b2b L{level}"] = _size(out)
    import dask
    from distributed import Client, LocalCluster
    out4 = os.path.join(tmp, "l4.b2b")

    def time_both(suffix):
        for name, fn in (("transform", byte2bit.transform), ("verify", byte2bit.verify)):
            start = time.perf_counter()
            fn(path, out4, progress=False)
            row[f"{name} {suffix}"] = raw / (time.perf_counter() - start)
    with dask.config.set(scheduler="synchronous"):
        time_both("1t")
    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster, Client(cluster):
        time_both("2w")
    nc = os.path.join(tmp, "zlib.nc")
    row["NetCDF-4 zlib4"] = _netcdf4(path, fmt, nc)
    row["HDF5 Zstd"] = _hdf5(path, fmt, os.path.join(tmp, "zstd.h5"), hdf5plugin.Zstd(clevel=3))
    row["HDF5 Blosc2"] = _hdf5(path, fmt, os.path.join(tmp, "blosc2.h5"),
                               hdf5plugin.Blosc2(cname="zstd", clevel=5, filters=hdf5plugin.Blosc2.SHUFFLE))
    row["Zarr zstd"] = _zarr(path, fmt, os.path.join(tmp, "zstd.zarr"), ZstdCodec(level=3))
    row["Zarr pcodec"] = _zarr(path, fmt, os.path.join(tmp, "pco.zarr"), _pcodec)
    for key, target, engine in (("read b2b", out4, "byte2bit"), ("read nc zlib", nc, None)):
        try:
            with dask.config.set(scheduler="synchronous"):
                row[key] = raw / min(_load_all(target, engine) for _ in range(2))
        except ValueError as e:  # xarray's DataTree refuses groups whose dimensions clash with a parent's
            print(f"{row['file']}: {key}: {str(e).splitlines()[0]}")
            row[key] = float("nan")
    return row


SIZE_COLUMNS = ["source", "b2b L0", "b2b L1", "b2b L4", "NetCDF-4 zlib4", "HDF5 Zstd", "HDF5 Blosc2",
                "Zarr zstd", "Zarr pcodec"]
SPEED_COLUMNS = ["transform 1t", "transform 2w", "verify 1t", "verify 2w", "read b2b", "read nc zlib"]


def main(argv=None) -> int:
    data = os.environ.get("B2B_DATA", os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data"))
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("files", nargs="*", help="NetCDF/HDF5/Zarr files (default: the shared data's)")
    args = p.parse_args(argv)
    files = args.files or sorted(glob.glob(os.path.join(data, "netcdf", "*", "*.nc")) +
                                 glob.glob(os.path.join(data, "hdf5", "*", "*")) +
                                 glob.glob(os.path.join(data, "zarr", "*", "*.zarr")))
    rows = []
    for f in files:
        with tempfile.TemporaryDirectory() as tmp:
            rows.append(bench_file(f, tmp))
            print(f"measured {rows[-1]['file']}", flush=True)
    print("\nSizes in bytes (smallest alternative to .b2b L4 marked; raw = decoded bytes of the numeric variables)")
    print("| file | raw | " + " | ".join(SIZE_COLUMNS) + " | L4 smallest? |")
    print("|---" * (len(SIZE_COLUMNS) + 3) + "|")
    for r in rows:
        best_other = min(r[c] for c in SIZE_COLUMNS if not c.startswith("b2b") and c != "source")
        print(f"| {r['file'][:40]} | {r['raw']:,} | " + " | ".join(f"{r[c]:,}" for c in SIZE_COLUMNS) +
              f" | {'yes' if r['b2b L4'] < best_other else 'NO'} |")
    print("\nThroughput in MB/s of raw data (1t: one thread, Dask synchronous; 2w: dask.distributed, 2 workers;"
          " read: xarray open_datatree(...).load() of every variable)")
    print("| file | " + " | ".join(SPEED_COLUMNS) + " |")
    print("|---" * (len(SPEED_COLUMNS) + 1) + "|")
    for r in rows:
        print(f"| {r['file'][:40]} | " + " | ".join(f"{r[c] / 1e6:.1f}" for c in SPEED_COLUMNS) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
