#!/usr/bin/env python3
"""For each valid time between --start and --end, the latest forecast issued at least --threshold
earlier, from a forecast index built by `b2b index ... --db DB`; optionally with the value at the
grid point nearest to --lat/--lon, decoded from the .b2b.

  query_latest_forecast.py --db forecast_index.sqlite --short-name 2t --type-of-level heightAboveGround \\
      --start 2017-10-18T00:00 --end 2017-10-20T00:00 --threshold 6h --lat 51.5 --lon -0.1 --with-values
"""
import argparse
import csv
import json
import sys

from byte2bit.errors import Byte2BitError
from byte2bit.forecast_index import latest_forecasts, value_at

COLUMNS = ["valid_time", "reference_time", "lead_hours", "level", "number", "source", "message"]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--db", required=True)
    p.add_argument("--short-name", required=True, help="the GRIB shortName, as 2t")
    p.add_argument("--type-of-level", required=True, help="the GRIB typeOfLevel, as heightAboveGround")
    p.add_argument("--level", type=float, help="one level only")
    p.add_argument("--start", required=True, help="first valid time (ISO 8601, UTC)")
    p.add_argument("--end", required=True, help="last valid time (ISO 8601, UTC)")
    p.add_argument("--threshold", required=True, help="how much earlier the forecast was issued at least: 6h, 90m, 1d")
    p.add_argument("--lat", type=float)
    p.add_argument("--lon", type=float)
    p.add_argument("--with-values", action="store_true", help="add the value at the point nearest to --lat/--lon")
    p.add_argument("--format", choices=("table", "csv", "json"), default="table")
    args = p.parse_args(argv)
    try:
        if args.with_values and (args.lat is None or args.lon is None):
            raise Byte2BitError("--with-values needs --lat and --lon")
        if args.lat is not None and not -90 <= args.lat <= 90:
            raise Byte2BitError(f"--lat {args.lat} is not between -90 and 90")
        rows = latest_forecasts(args.db, args.short_name, args.type_of_level, args.start, args.end, args.threshold,
                                args.level)
        columns = COLUMNS + (["value"] if args.with_values else [])
        stores = {}
        out = []
        for r in rows:
            item = {c: r[c] for c in COLUMNS}
            if args.with_values:
                item["value"] = value_at(r, args.lat, args.lon, stores)
            out.append(item)
    except (Byte2BitError, OSError) as e:
        print(f"query_latest_forecast: error: {e}", file=sys.stderr)
        return 2
    if args.format == "json":
        json.dump(out, sys.stdout, indent=1)
        print()
    elif args.format == "csv":
        w = csv.DictWriter(sys.stdout, columns)
        w.writeheader()
        w.writerows(out)
    else:
        text = [[f"{v:g}" if isinstance(v, float) else str(v) for v in (o[c] for c in columns)] for o in out]
        widths = [max([len(c)] + [len(t[i]) for t in text]) for i, c in enumerate(columns)]
        print("  ".join(c.ljust(w) for c, w in zip(columns, widths)))
        for t in text:
            print("  ".join(v.ljust(w) for v, w in zip(t, widths)))
        print(f"({len(out)} message(s))")
    return 0


if __name__ == "__main__":
    sys.exit(main())
