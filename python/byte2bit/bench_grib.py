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

from byte2bit import grib
from byte2bit.bench import _time


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


def index_benchmark(rows: int, folder: str) -> None:
    """The latest-forecast query on a synthetic index of about ``rows`` messages: 4 runs a day,
    steps 0-48 h every 6 h, 2 m temperature and temperature on 37 pressure levels."""
    import datetime as dt
    import sqlite3
    from byte2bit.forecast_index import SCHEMA, latest_forecasts
    db = os.path.join(folder, "index.sqlite")
    fields = [("2t", "heightAboveGround", 2.0)] + [("t", "isobaricInhPa", float(lv)) for lv in range(100, 1001, 25)]
    runs = max(1, rows // (len(fields) * 9))
    t0 = int(dt.datetime(2022, 1, 1, tzinfo=dt.timezone.utc).timestamp())
    with sqlite3.connect(db) as con:
        con.executescript(SCHEMA)
        con.executemany("INSERT INTO messages VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", (
            (f"/archive/{r // 100}.b2b", f"msg_{f}_{r}_{n}", None, "", "", t0 + r * 21600, t0 + r * 21600 + step * 3600,
             str(step), sn, tl, level, 0, "regular_ll", "{}")
            for f, (sn, tl, level) in enumerate(fields) for r in range(runs) for n, step in enumerate(range(0, 49, 6))))
        total = con.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
    print(f"\nLatest-forecast query on a synthetic index of {total:,} messages ({runs} runs; best of 3, ms)")
    print("| query | window | rows returned | ms |")
    print("|---|---|---:|---:|")
    for sn, tl, level, what in (("2t", "heightAboveGround", None, "2t"), ("t", "isobaricInhPa", 500.0, "t at 500 hPa"),
                                ("t", "isobaricInhPa", None, "t, all 37 levels")):
        for window in (("2022-03-01", "2022-03-31"), ("2022-01-01", "2022-12-31")):
            out = []
            seconds = _time(lambda: out.append(latest_forecasts(db, sn, tl, *window, "6h", level)), 3)[0]
            print(f"| {what}, threshold 6h | {window[0]} .. {window[1]} | {len(out[-1]):,} | {seconds * 1e3:.1f} |")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("files", nargs="*")
    p.add_argument("--repeat", type=int, default=3, help="decode timings: best of N (default 3)")
    p.add_argument("--index-rows", type=int, default=1_000_000,
                   help="rows of the synthetic forecast index the query is timed on (0: skip)")
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
            t_ec = _time(lambda: decode_eccodes(path), args.repeat)[0]
            t_b2b = _time(lambda: decode_b2b(out), args.repeat)[0]
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
    if args.index_rows:
        with tempfile.TemporaryDirectory() as tmp:
            index_benchmark(args.index_rows, tmp)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
