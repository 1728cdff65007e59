"""The ``b2b`` command line: inspect, compress, decompress, transform and verify."""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

import numpy as np
from tqdm import tqdm

from . import container
from .errors import Byte2BitError


def _bar(total: int, desc: str):
    """A byte-counting progress bar, quiet when stderr is not a terminal."""
    return tqdm(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024,
                disable=None, file=sys.stderr)


def cmd_inspect(args) -> int:
    report = container.inspect_byte2bit(args.file)
    print(json.dumps(report.to_dict(), indent=2, default=str) if args.json else report)
    return 0 if report.ok else 1


def cmd_compress(args) -> int:
    level = args.level if args.level is not None else (1 if args.quantize_scale else 4)
    src = np.load(args.input, mmap_mode="r", allow_pickle=False)
    start = time.perf_counter()
    with _bar(src.nbytes, "compress") as bar:
        container.save_byte2bit(args.output, src, compression_level=level,
                                quantize_scale=args.quantize_scale,
                                form="directory" if args.directory else "zip", progress=bar.update)
    seconds = time.perf_counter() - start
    stored = container.inspect_byte2bit(args.output).file_bytes
    print(f"{args.input} -> {args.output}: {src.nbytes:,} -> {stored:,} bytes "
          f"(ratio {src.nbytes / max(stored, 1):.3f}) in {seconds:.2f} s")
    return 0


def cmd_decompress(args) -> int:
    import zarr
    with container._open_store(args.input) as store:
        arr = container._single_array(zarr.open_group(store=store, mode="r"), args.input)
        out_dir = os.path.dirname(os.path.abspath(args.output))
        free = shutil.disk_usage(out_dir).free
        if arr.nbytes > free:
            raise Byte2BitError(f"{args.output}: {arr.nbytes:,} bytes do not fit in the {free:,} bytes free there")
        fd, tmp = tempfile.mkstemp(prefix=".b2b-", suffix=".npy", dir=out_dir)
        try:
            # Plain buffered writes, slab by slab: a full disk is an OSError, never a SIGBUS.
            with os.fdopen(fd, "wb") as f, _bar(arr.nbytes, "decompress") as bar:
                np.lib.format.write_array_header_1_0(f, {"descr": np.lib.format.dtype_to_descr(arr.dtype),
                                                        "fortran_order": False, "shape": arr.shape})
                rows = arr.chunks[0] if arr.ndim else 1
                for start in range(0, arr.shape[0], rows) if arr.ndim else [None]:
                    slab = np.ascontiguousarray(arr[start:start + rows] if arr.ndim else arr[...])
                    f.write(slab.tobytes())
                    bar.update(slab.nbytes)
            os.replace(tmp, args.output)
        except BaseException:
            container._unlink(tmp)
            raise
    print(f"{args.input} -> {args.output}: {arr.dtype} {arr.shape}")
    return 0


def cmd_transform(args) -> int:
    from .convert import detect, expand, transform
    inputs = args.input if len(args.input) > 1 else args.input[0]
    options = dict(compression_level=args.level, quantize_scale=args.quantize_scale,
                   form="directory" if args.directory else "zip", progress=True, on_error=args.on_error)
    if detect(expand(inputs)[0][0]) in ("raster", "safe"):
        options.update(cogLayout=not args.no_cog_layout, block_size=args.block_size,
                       overviews=not args.no_overviews, skip_missing=args.skip_missing)
    start = time.perf_counter()
    out = transform(inputs, args.output, **options)
    seconds = time.perf_counter() - start
    report = container.inspect_byte2bit(out)
    print(f"{out}: {report.file_bytes:,} bytes")
    for note in report.notes:
        print(f"  note: {note}")
    print(f"done in {seconds:.2f} s")
    return 0


def cmd_verify(args) -> int:
    from .convert import verify
    report = verify(args.source if len(args.source) > 1 else args.source[0], args.b2b, progress=True,
                    raise_on_mismatch=False)
    print(report)
    return 0 if report.ok else 1


def cmd_index(args) -> int:
    from .forecast_index import build_index
    n = build_index(args.source, args.db)
    print(f"{args.db}: {n:,} message(s) indexed")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="b2b", description="Byte2Bit compression for arrays and rasters.")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("inspect", help="show what is inside a .b2b and check every checksum")
    s.add_argument("file")
    s.add_argument("--json", action="store_true", help="print the report as JSON")
    s.set_defaults(func=cmd_inspect)

    s = sub.add_parser("compress", help="compress a .npy array into a .b2b")
    s.add_argument("input", help="a .npy file")
    s.add_argument("output", help="the .b2b to write")
    s.add_argument("--level", type=int, choices=(0, 1, 2, 4), default=None,
                   help="0 fastest ... 4 smallest (default 4, or 1 with --quantize-scale); all lossless")
    s.add_argument("--quantize-scale", type=float, default=0.0,
                   help="> 0: error-bounded (every value within scale/2), level 1, float or complex data")
    s.add_argument("--directory", action="store_true", help="write a .b2b directory instead of one zip file")
    s.set_defaults(func=cmd_compress)

    s = sub.add_parser("transform", help="convert rasters (GeoTIFF, COG, JP2, Sentinel-2 SAFE), NetCDF, HDF5, "
                                         "Zarr or GRIB into one .b2b")
    s.add_argument("input", nargs="+", help="files or folders, or a glob pattern (several go into one .b2b)")
    s.add_argument("output", help="the .b2b to write")
    s.add_argument("--level", type=int, choices=(0, 1, 2, 4), default=4, help="0 fastest ... 4 smallest")
    s.add_argument("--quantize-scale", type=float, default=0.0,
                   help="> 0: error-bounded floating-point bands (every value within scale/2)")
    s.add_argument("--block-size", type=int, default=None, help="block size (default: the source's, else 512)")
    s.add_argument("--no-cog-layout", action="store_true", help="a fixed block grid instead of the source's")
    s.add_argument("--no-overviews", action="store_true", help="write no overviews")
    s.add_argument("--directory", action="store_true", help="write a .b2b directory instead of one zip file")
    s.add_argument("--skip-missing", action="store_true",
                   help="convert a Sentinel-2 product whose metadata lists images it does not hold (recorded)")
    s.add_argument("--on-error", choices=("raise", "skip"), default="raise",
                   help="skip: leave out inputs that cannot be read, convert the rest, list them (NetCDF/HDF5/Zarr/GRIB)")
    s.set_defaults(func=cmd_transform)

    s = sub.add_parser("verify", help="compare every value of a .b2b with its source(s); exit 1 if they differ")
    s.add_argument("source", nargs="+", help="the source file(s), folder or glob pattern")
    s.add_argument("b2b")
    s.set_defaults(func=cmd_verify)

    s = sub.add_parser("index", help="build or update a SQLite index of GRIB metadata (forecast and valid times, "
                                     "field, level, grid) from .b2b GRIB stores or GRIB files")
    s.add_argument("source", nargs="+", help=".b2b GRIB stores or GRIB files, or glob patterns")
    s.add_argument("--db", required=True, help="the SQLite database (created if absent)")
    s.set_defaults(func=cmd_index)

    s = sub.add_parser("decompress", help="decompress a single-array .b2b into a .npy")
    s.add_argument("input")
    s.add_argument("output")
    s.set_defaults(func=cmd_decompress)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    for stream in (sys.stdout, sys.stderr):  # file names need not be valid UTF-8
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    try:
        return args.func(args)
    except (Byte2BitError, OSError) as e:
        print(f"b2b {args.command}: error: {e}", file=sys.stderr)  # one clean line, no traceback
        return 2


if __name__ == "__main__":
    sys.exit(main())
