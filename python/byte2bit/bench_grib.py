"""GRIB files against their .b2b message stores: sizes (the GRIB as it is, re-packed by ecCodes with
CCSDS and with JPEG 2000, the .b2b) and the time to decode every message (ecCodes on the GRIB,
``decompress_gridsimple_message`` on the .b2b).

    ./run.sh bench-grib [files...]      (default: every GRIB file of the shared data)
"""
from __future__ import annotations

import argparse
import glob
import os
import tempfile
import time

from byte2bit import grib


def _messages(path: str) -> list[bytes]:
    ec = grib.eccodes()
    out = []
    with open(path, "rb") as f:
        while (h := ec.codes_grib_new_from_file(f)) is not None:
            out.append(ec.codes_get_message(h))
            ec.codes_release(h)
    return out


def repacked_size(messages: list[bytes], packing: str) -> int | None:
    """Bytes of the messages re-packed by ecCodes (GRIB 1 goes to edition 2 first, which these
    packings need); spectral messages stay as they are. None when ecCodes cannot."""
    ec = grib.eccodes()
    total = 0
    for m in messages:
        h = ec.codes_new_from_message(m)
        try:
            if str(ec.codes_get(h, "packingType")).startswith("spectral"):
                total += len(m)
                continue
            if ec.codes_get(h, "edition") == 1:
                ec.codes_set(h, "edition", 2)
            ec.codes_set(h, "packingType", packing)
            total += len(ec.codes_get_message(h))
        except Exception:  # noqa: BLE001  (ecCodes' own errors: this packing is not available here)
            return None
        finally:
            ec.codes_release(h)
    return total


def best_of(n: int, fn) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def decode_eccodes(path: str) -> None:
    """Every message's values from the GRIB file (as a user reads them: from the file)."""
    ec = grib.eccodes()
    with open(path, "rb") as f:
        while (h := ec.codes_grib_new_from_file(f)) is not None:
            ec.codes_get_double_array(h, "values")
            ec.codes_release(h)


def decode_b2b(path: str) -> None:
    """Every message's values from the .b2b, opening (and checking) it included."""
    with grib.GribStore(path) as store:
        for key in store.keys():
            grib.decompress_gridsimple_message(store, key)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("files", nargs="*")
    p.add_argument("--repeat", type=int, default=3, help="decode timings: best of N (default 3)")
    args = p.parse_args(argv)
    data = os.environ.get("B2B_DATA", os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data"))
    files = args.files or sorted(p for p in glob.glob(os.path.join(data, "grib", "*", "*.grib*"))
                                 if "corrupted" not in p)
    if not files:
        p.error(f"no GRIB file in {data}/grib (set B2B_DATA to the shared data folder)")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for path in files:
            messages = _messages(path)
            out = grib.transform([path], os.path.join(tmp, "b.b2b"), progress=False)
            t_ec = best_of(args.repeat, lambda: decode_eccodes(path))
            t_b2b = best_of(args.repeat, lambda: decode_b2b(out))
            rows.append((os.path.basename(path), len(messages), os.path.getsize(path), os.path.getsize(out),
                         repacked_size(messages, "grid_ccsds"), repacked_size(messages, "grid_jpeg"), t_ec, t_b2b))
    fmt = lambda n: "n/a" if n is None else f"{n:,}"  # noqa: E731
    print("| file | messages | GRIB | CCSDS | JPEG 2000 | .b2b L4 | .b2b < GRIB? | .b2b < CCSDS? "
          "| decode ecCodes ms | decode .b2b ms | speed-up |")
    print("|---|---:|---:|---:|---:|---:|:-:|:-:|---:|---:|---:|")
    for name, n, size, b2b, ccsds, jpeg, t_ec, t_b2b in rows:
        print(f"| {name} | {n} | {size:,} | {fmt(ccsds)} | {fmt(jpeg)} | {b2b:,} | {'yes' if b2b < size else 'NO'} "
              f"| {'n/a' if ccsds is None else 'yes' if b2b < ccsds else 'NO'} | {t_ec * 1e3:.1f} | {t_b2b * 1e3:.1f} "
              f"| {t_ec / t_b2b:.2f}x |")
    total = [sum(r[i] or 0 for r in rows) for i in (2, 4, 5, 3, 6, 7)]
    print(f"| **all** | {sum(r[1] for r in rows)} | {total[0]:,} | {total[1]:,} | {total[2]:,} | {total[3]:,} | "
          f"{'yes' if total[3] < total[0] else 'NO'} | {'yes' if total[3] < total[1] else 'NO'} | "
          f"{total[4] * 1e3:.1f} | {total[5] * 1e3:.1f} | {total[4] / total[5]:.2f}x |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
