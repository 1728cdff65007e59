"""The forecast index and the latest-forecast query, checked against answers worked out here from
the runs' own definition and from ecCodes (its nearest-point search on the original messages)."""
import datetime as dt
import glob
import json
import os
import sqlite3
import subprocess
import sys
import warnings

import numpy as np
import pytest

import byte2bit
from byte2bit.forecast_index import build_index, latest_forecasts, value_at

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    ec = pytest.importorskip("eccodes")

DATA = os.environ.get("B2B_DATA", os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data"))
GRIB = {os.path.basename(p): p for p in glob.glob(os.path.join(DATA, "grib", "*", "*.grib*"))}
QUERY = os.path.join(os.path.dirname(__file__), "..", "..", "python", "examples", "query_latest_forecast.py")
RUNS = [dt.datetime(2024, 1, 1, h) for h in (0, 6, 12, 18)] + [dt.datetime(2024, 1, 2, 0)]
STEPS = range(0, 49, 6)


def write_runs(path, runs):
    """2 m temperature forecasts of several runs with overlapping steps; each value tells its run
    and step (run number * 1000 + step + a field varying over the grid)."""
    lat, lon = np.meshgrid(np.linspace(90, -90, 19), np.linspace(0, 350, 36), indexing="ij")
    with open(path, "wb") as f:
        for run in runs:
            for step in STEPS:
                h = ec.codes_grib_new_from_samples("regular_ll_sfc_grib2")
                for k, v in (("Ni", 36), ("Nj", 19), ("latitudeOfFirstGridPointInDegrees", 90.0),
                             ("longitudeOfFirstGridPointInDegrees", 0.0), ("latitudeOfLastGridPointInDegrees", -90.0),
                             ("longitudeOfLastGridPointInDegrees", 350.0), ("iDirectionIncrementInDegrees", 10.0),
                             ("jDirectionIncrementInDegrees", 10.0), ("dataDate", int(run.strftime("%Y%m%d"))),
                             ("dataTime", run.hour * 100), ("typeOfLevel", "heightAboveGround"), ("level", 2),
                             ("shortName", "2t"), ("stepUnits", "h"), ("step", step), ("bitsPerValue", 16)):
                    ec.codes_set(h, k, v)
                ec.codes_set_values(h, (RUNS.index(run) * 1000 + step + lat + lon / 100).reshape(-1))
                f.write(ec.codes_get_message(h))
                ec.codes_release(h)


def expected(start, end, threshold_h):
    """(valid time, run) pairs, from the runs' definition alone."""
    out = []
    valid = sorted({r + dt.timedelta(hours=s) for r in RUNS for s in STEPS})
    for m in valid:
        if start <= m <= end:
            runs = [r for r in RUNS if r <= m - dt.timedelta(hours=threshold_h) and (m - r) / dt.timedelta(hours=1) in STEPS]
            if runs:
                out.append((m.isoformat(), max(runs).isoformat()))
    return out


def ecc_nearest(path, message_number, lat, lon):
    with open(path, "rb") as f:
        for _ in range(message_number):
            h = ec.codes_grib_new_from_file(f)
            if _ < message_number - 1:
                ec.codes_release(h)
    try:
        return ec.codes_grib_find_nearest(h, lat, lon)[0]["value"]
    finally:
        ec.codes_release(h)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    d = tmp_path_factory.mktemp("runs")
    write_runs(d / "early.grib", RUNS[:3])
    write_runs(d / "late.grib", RUNS[3:])
    stores = [byte2bit.transform(d / n, d / n.replace(".grib", ".b2b"), progress=False) for n in ("early.grib", "late.grib")]
    build_index(stores, d / "stores.sqlite")
    build_index(str(d / "*.grib"), d / "gribs.sqlite")
    return d


@pytest.mark.parametrize("db", ["stores.sqlite", "gribs.sqlite"])
@pytest.mark.parametrize("window,threshold", [(("2024-01-01T06:00", "2024-01-03T00:00"), 6),
                                              (("2024-01-01T00:00", "2024-01-04T00:00"), 0),
                                              (("2024-01-02T00:00", "2024-01-02T12:00"), 24)])
def test_latest_forecast_selection_and_values(runs, db, window, threshold):
    rows = latest_forecasts(runs / db, "2t", "heightAboveGround", *window, f"{threshold}h")
    start, end = (dt.datetime.fromisoformat(t) for t in window)
    want = expected(start, end, threshold)
    assert want and [(r["valid_time"], r["reference_time"]) for r in rows] == want
    for r in rows[::5]:
        run = RUNS.index(dt.datetime.fromisoformat(r["reference_time"]))
        lead = r["lead_hours"]
        got = value_at(r, 40.0, 120.0)
        assert int(got // 1000) == run and round(got % 1000 - 40 - 1.2) == lead  # its run and step, at 40N 120E
        source = runs / ("early.grib" if run < 3 else "late.grib")
        number = (run if run < 3 else run - 3) * len(STEPS) + STEPS.index(int(lead)) + 1
        assert got == ecc_nearest(source, number, 40.0, 120.0)


def test_empty_window_and_excluding_threshold(runs):
    db = runs / "stores.sqlite"
    assert latest_forecasts(db, "2t", "heightAboveGround", "2023-01-01", "2023-12-31", "6h") == []
    assert latest_forecasts(db, "2t", "heightAboveGround", "2024-01-01", "2024-01-05", "100d") == []
    r = subprocess.run([sys.executable, QUERY, "--db", str(db), "--short-name", "2t", "--type-of-level",
                        "heightAboveGround", "--start", "2023-01-01", "--end", "2023-02-01", "--threshold", "6h"],
                       capture_output=True, text=True)
    assert r.returncode == 0 and "(0 message(s))" in r.stdout


def test_reindexing_does_not_duplicate(runs):
    db = runs / "again.sqlite"
    stores = sorted(str(p) for p in runs.glob("*.b2b"))
    n = build_index(stores, db)
    assert build_index(stores[0], db) == 3 * len(STEPS)  # early.b2b holds three runs
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == n == len(RUNS) * len(STEPS)
        plan = " ".join(r[-1] for r in con.execute(
            "EXPLAIN QUERY PLAN SELECT MAX(ref_s) FROM messages WHERE short_name='2t' AND type_of_level='x' "
            "AND level=2 AND valid_s BETWEEN 1 AND 2"))
    assert "by_field_and_time" in plan


def test_script_formats_and_bad_arguments(runs):
    base = [sys.executable, QUERY, "--db", str(runs / "stores.sqlite"), "--short-name", "2t", "--type-of-level",
            "heightAboveGround", "--start", "2024-01-01T06:00", "--end", "2024-01-01T18:00", "--threshold", "6h"]
    r = subprocess.run(base + ["--format", "json", "--lat", "40", "--lon", "120", "--with-values"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert [(x["valid_time"], x["reference_time"]) for x in rows] == expected(
        dt.datetime(2024, 1, 1, 6), dt.datetime(2024, 1, 1, 18), 6)
    r = subprocess.run(base + ["--format", "csv"], capture_output=True, text=True)
    assert r.stdout.splitlines()[0] == "valid_time,reference_time,lead_hours,level,number,source,message"
    for bad, message in ((["--short-name", "2x"], "unknown short name '2x'"),
                         (["--threshold", "6x"], "threshold '6x'"),
                         (["--start", "2024-02-01"], "is after end"),
                         (["--start", "yesterday"], "not a date-time"),
                         (["--with-values"], "needs --lat and --lon")):
        r = subprocess.run(base + bad, capture_output=True, text=True)
        assert r.returncode == 2 and message in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


@pytest.mark.skipif("regular_gg_sfc.grib" not in GRIB, reason="no GRIB sample data")
@pytest.mark.parametrize("name", ["regular_gg_sfc.grib", "regular_ll_msl.grib", "rotated"])
def test_nearest_value_on_each_grid_matches_eccodes(tmp_path, name):
    if name == "rotated":
        src = tmp_path / "rotated.grib"
        h = ec.codes_grib_new_from_samples("rotated_ll_sfc_grib2")
        for k, v in (("Ni", 41), ("Nj", 31), ("latitudeOfSouthernPoleInDegrees", -40.0),
                     ("longitudeOfSouthernPoleInDegrees", 10.0), ("latitudeOfFirstGridPointInDegrees", 15.0),
                     ("longitudeOfFirstGridPointInDegrees", -20.0), ("latitudeOfLastGridPointInDegrees", -15.0),
                     ("longitudeOfLastGridPointInDegrees", 20.0), ("iDirectionIncrementInDegrees", 1.0),
                     ("jDirectionIncrementInDegrees", 1.0), ("jScansPositively", 0)):
            ec.codes_set(h, k, v)
        ec.codes_set_values(h, np.arange(41 * 31, dtype=float))
        src.write_bytes(ec.codes_get_message(h))
        ec.codes_release(h)
        points = [(50, 10), (55, 0), (45, 25), (60, -5)]
    else:
        src = GRIB[name]
        points = [(51.5, -0.1), (-33.9, 151.2), (0.3, 359.9), (88.0, 10.0), (-12.0, -77.0)]
    store = byte2bit.transform(src, tmp_path / "s.b2b", progress=False)
    build_index(store, tmp_path / "i.sqlite")
    with sqlite3.connect(tmp_path / "i.sqlite") as con:
        con.row_factory = sqlite3.Row
        row = dict(con.execute("SELECT * FROM messages").fetchone())
    for lat, lon in points:
        assert value_at(row, lat, lon) == ecc_nearest(src, 1, lat, lon), (lat, lon)
    if name == "rotated":
        with pytest.raises(byte2bit.InvalidArgumentError, match="outside the rotated_ll grid"):
            value_at(row, -60, 10)


@pytest.mark.skipif("lambert_grid.grib" not in GRIB, reason="no GRIB sample data")
def test_other_grids_say_so_and_index_cli(tmp_path):
    store = byte2bit.transform(GRIB["lambert_grid.grib"], tmp_path / "l.b2b", progress=False)
    b2b = os.path.join(os.path.dirname(sys.executable), "b2b")
    r = subprocess.run([b2b, "index", store, "--db", str(tmp_path / "l.sqlite")], capture_output=True, text=True,
                       env={"PATH": "/usr/bin:/bin"})
    assert r.returncode == 0 and "1 message(s) indexed" in r.stdout, r.stderr
    with sqlite3.connect(tmp_path / "l.sqlite") as con:
        con.row_factory = sqlite3.Row
        row = dict(con.execute("SELECT * FROM messages").fetchone())
    with pytest.raises(byte2bit.InvalidArgumentError, match="lambert grid"):
        value_at(row, 40, -100)
    r = subprocess.run([b2b, "index", GRIB["era5-levels-corrupted.grib"], "--db", str(tmp_path / "l.sqlite")],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "era5-levels-corrupted.grib: message 1" in r.stderr
