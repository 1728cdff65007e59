"""A SQLite index of GRIB metadata over .b2b GRIB stores and GRIB files, and the operational query:
for each valid time, the latest forecast issued at least a threshold earlier.

Rows come from the messages' keys (no value is decoded): a store's message attributes, or a GRIB
file's headers read by ecCodes. Times are UTC; ``ref_s``/``valid_s`` are seconds since 1970, which
the query compares, and ISO 8601 strings are kept for display. Re-indexing a source replaces its
rows, so nothing is counted twice.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import re
import sqlite3

import numpy as np

from .errors import Byte2BitError, InvalidArgumentError

SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    source TEXT NOT NULL,            -- absolute path of the .b2b store or GRIB file
    message TEXT NOT NULL,           -- msg_NNNNNN in a store; the 1-based message number in a GRIB file
    byte_offset INTEGER,             -- where the message starts in a GRIB file (NULL in a store)
    reference_time TEXT NOT NULL,    -- ISO 8601, UTC
    valid_time TEXT NOT NULL,
    ref_s INTEGER NOT NULL,          -- the same, as seconds since 1970
    valid_s INTEGER NOT NULL,
    step_range TEXT,
    short_name TEXT NOT NULL,
    type_of_level TEXT NOT NULL,
    level REAL,
    number INTEGER NOT NULL DEFAULT 0,   -- ensemble member
    grid_type TEXT,
    grid TEXT,                       -- the grid definition (ecCodes' geography keys), JSON
    PRIMARY KEY (source, message)
);
CREATE INDEX IF NOT EXISTS by_field_and_time ON messages (short_name, type_of_level, level, valid_s, ref_s);
CREATE INDEX IF NOT EXISTS by_field_any_level ON messages (short_name, type_of_level, valid_s, ref_s, level);
"""
GRID_KEYS_LEFT_OUT = {"shortName", "name", "paramId", "units", "typeOfLevel", "level", "dataDate", "dataTime",
                      "stepRange", "dataType", "number", "centre", "edition", "packingType",
                      "forecast_reference_time", "valid_time", "source_file", "message_index", "byte2bit_grib"}


def _seconds(iso: str) -> int:
    return int(dt.datetime.fromisoformat(iso).replace(tzinfo=dt.timezone.utc).timestamp())


def _row(source: str, message: str, offset, attrs: dict) -> tuple:
    ref, valid = attrs.get("forecast_reference_time"), attrs.get("valid_time")
    if not ref or not valid:
        raise Byte2BitError(f"{source} {message}: no forecast reference time or valid time")
    grid = {k: v for k, v in attrs.items() if k not in GRID_KEYS_LEFT_OUT}
    return (source, message, offset, ref, valid, _seconds(ref), _seconds(valid), attrs.get("stepRange"),
            str(attrs.get("shortName")), str(attrs.get("typeOfLevel")), attrs.get("level"),
            int(attrs.get("number") or 0), attrs.get("gridType"), json.dumps(grid, sort_keys=True))


def _rows_of(path: str):
    from .convert import detect
    kind = detect(path)
    if kind == "grib":
        from .grib import _attributes, eccodes
        ec = eccodes()
        name = os.path.basename(path)
        with open(path, "rb") as f:
            n = 0
            while True:
                try:
                    h = ec.codes_grib_new_from_file(f, headers_only=True)
                except Exception as e:
                    raise Byte2BitError(f"{name}: message {n + 1}: ecCodes cannot read it ({e})") from None
                if h is None:
                    break
                try:
                    offset = int(ec.codes_get(h, "offset"))
                    yield _row(path, str(n + 1), offset, _attributes(ec, h, name, n))
                finally:
                    ec.codes_release(h)
                n += 1
        return
    from .grib import GribStore
    try:
        store = GribStore(path)
    except InvalidArgumentError:
        raise InvalidArgumentError(f"{path} is neither a GRIB file nor a .b2b GRIB message store") from None
    with store:
        store.container.raise_problems()
        for key in store.keys():
            yield _row(path, key, None, store.attrs(key))


def build_index(sources, db) -> int:
    """Add (or refresh) the messages of .b2b GRIB stores and GRIB files in the SQLite database
    ``db`` (created if absent); returns how many rows were written."""
    from .convert import expand
    paths, _ = expand(sources)
    written = 0
    with sqlite3.connect(os.fspath(db)) as con:
        con.executescript(SCHEMA)
        for path in paths:
            path = os.path.abspath(path)
            rows = list(_rows_of(path))  # read fully first: a bad source changes nothing
            con.execute("DELETE FROM messages WHERE source = ?", (path,))
            con.executemany("INSERT INTO messages VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
            written += len(rows)
    return written


# ---------------------------------------------------------------------------------------------
# the query


def parse_time(text: str, what: str) -> int:
    try:
        t = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidArgumentError(f"{what}: {text!r} is not a date-time (use ISO 8601, as 2017-10-18T12:00)") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.timezone.utc)
    return int(t.timestamp())


def parse_duration(text: str) -> int:
    """Seconds in "6h", "90m", "1d", "3600s" or "0"."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", text)
    if not m or (not m.group(2) and float(m.group(1)) != 0):
        raise InvalidArgumentError(f"threshold {text!r}: give a number and a unit s, m, h or d, as 6h")
    return round(float(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400, "": 0}[m.group(2)])


def latest_forecasts(db, short_name: str, type_of_level: str, start: str, end: str, threshold: str,
                     level: float | None = None) -> list[dict]:
    """For each valid time M in [start, end] (and each level), the messages of the latest forecast
    F with F <= M - threshold; one row per message (ensemble members give several)."""
    t0, t1 = parse_time(start, "start"), parse_time(end, "end")
    if t0 > t1:
        raise InvalidArgumentError(f"start {start} is after end {end}")
    gap = parse_duration(threshold)
    if not os.path.exists(db):
        raise InvalidArgumentError(f"no index database {db}; build it with: b2b index STORE_OR_GRIB... --db {db}")
    with sqlite3.connect(f"file:{os.fspath(db)}?mode=ro", uri=True) as con:
        con.row_factory = sqlite3.Row
        # an index seek each; the lists for the error messages are gathered only when one fails
        if con.execute("SELECT 1 FROM messages WHERE short_name = ? LIMIT 1", (short_name,)).fetchone() is None:
            known = [r[0] for r in con.execute("SELECT DISTINCT short_name FROM messages ORDER BY 1")]
            raise InvalidArgumentError(f"unknown short name {short_name!r}; the index has: {', '.join(known) or 'nothing'}")
        if con.execute("SELECT 1 FROM messages WHERE short_name = ? AND type_of_level = ? LIMIT 1",
                       (short_name, type_of_level)).fetchone() is None:
            levels = [r[0] for r in con.execute("SELECT DISTINCT type_of_level FROM messages WHERE short_name = ? "
                                                "ORDER BY 1", (short_name,))]
            raise InvalidArgumentError(f"{short_name} has no type of level {type_of_level!r}; it has: {', '.join(levels)}")
        def where(t: str) -> str:
            return f"{t}short_name = ? AND {t}type_of_level = ?" + (f" AND {t}level = ?" if level is not None else "")
        args = [short_name, type_of_level] + ([level] if level is not None else [])
        rows = con.execute(f"""
            WITH best AS (
                SELECT valid_s, level, MAX(ref_s) AS ref_s FROM messages
                WHERE {where("")} AND valid_s BETWEEN ? AND ? AND ref_s <= valid_s - ?
                GROUP BY valid_s, level)
            SELECT m.* FROM best AS b CROSS JOIN messages AS m  -- CROSS: SQLite keeps this order, best first
                ON m.valid_s = b.valid_s AND m.level IS b.level AND m.ref_s = b.ref_s
            WHERE {where("m.")}
            ORDER BY m.valid_s, m.level, m.number, m.source, m.message""",
                           args + [t0, t1, gap] + args).fetchall()
    return [dict(r) | {"lead_hours": (r["valid_s"] - r["ref_s"]) / 3600} for r in rows]


# ---------------------------------------------------------------------------------------------
# the value at the nearest grid point


def _rotate(lat: float, lon: float, grid: dict) -> tuple[float, float]:
    """Geographic (lat, lon) in the rotated frame whose south pole is the grid's."""
    sp_lat = grid["latitudeOfSouthernPoleInDegrees"]
    sp_lon = grid["longitudeOfSouthernPoleInDegrees"]
    phi, lam = np.radians(lat), np.radians(lon - sp_lon)
    x, y, z = np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam), np.sin(phi)
    theta = np.radians(90 + sp_lat)
    xr, zr = np.cos(theta) * x + np.sin(theta) * z, -np.sin(theta) * x + np.cos(theta) * z
    return float(np.degrees(np.arcsin(np.clip(zr, -1, 1)))), \
        float(np.degrees(np.arctan2(y, xr))) - float(grid.get("angleOfRotationInDegrees", 0) or 0)


def _axis_lons(grid: dict) -> np.ndarray:
    lo1, lo2, ni = grid["longitudeOfFirstGridPointInDegrees"], grid["longitudeOfLastGridPointInDegrees"], grid["Ni"]
    if grid.get("iScansNegatively"):
        lo2 = lo2 - 360 if lo2 > lo1 else lo2
    else:
        lo2 = lo2 + 360 if lo2 < lo1 else lo2
    return np.linspace(lo1, lo2, ni)


def _axis_lats(grid: dict) -> np.ndarray:
    la1, la2, nj = grid["latitudeOfFirstGridPointInDegrees"], grid["latitudeOfLastGridPointInDegrees"], grid["Nj"]
    if grid["gridType"] != "regular_gg":
        return np.linspace(la1, la2, nj)
    from .grib import eccodes
    lats = np.array(list(eccodes().codes_get_gaussian_latitudes(grid["N"])), dtype=float)  # north to south
    lats = lats[(lats <= max(la1, la2) + 1e-3) & (lats >= min(la1, la2) - 1e-3)]
    if lats.size != nj:
        raise Byte2BitError(f"the Gaussian grid N={grid['N']} between {la1} and {la2} has {lats.size} rows, not {nj}")
    return lats if la1 > la2 else lats[::-1]


NEAREST_GRIDS = ("regular_ll", "rotated_ll", "regular_gg")


def nearest_index(grid: dict, lat: float, lon: float) -> tuple[int, int, float, float]:
    """(row, column, grid latitude, grid longitude) of the point nearest to (lat, lon), on the
    grid's own axes (for a rotated grid: rotated latitude and longitude)."""
    kind = grid.get("gridType")
    if kind not in NEAREST_GRIDS:
        raise InvalidArgumentError(f"the nearest grid point is found on {', '.join(NEAREST_GRIDS)} grids; this "
                                   f"message is on a {kind} grid")
    if kind == "rotated_ll":
        lat, lon = _rotate(lat, lon, grid)
    lats, lons = _axis_lats(grid), _axis_lons(grid)
    j = int(np.argmin(np.abs(lats - lat)))
    dlon = np.abs((lons - lon + 180) % 360 - 180)
    i = int(np.argmin(dlon))
    half_row = abs(lats[-1] - lats[0]) / max(1, lats.size - 1) / 2
    half_col = abs(lons[-1] - lons[0]) / max(1, lons.size - 1) / 2
    if abs(lats[j] - lat) > half_row + 1e-9 or (abs(lons[-1] - lons[0]) + 2 * half_col < 360 and
                                                 dlon[i] > half_col + 1e-9):
        raise InvalidArgumentError(f"({lat:g}, {lon:g}) is outside the {kind} grid of this message")
    return j, i, float(lats[j]), float(lons[i])


def value_at(row: dict, lat: float, lon: float, stores: dict | None = None) -> float:
    """The value of an index row's message at the grid point nearest to (lat, lon), decoded from
    its .b2b store (or from its GRIB file by ecCodes). ``stores`` caches open stores."""
    grid = json.loads(row["grid"]) | {"gridType": row["grid_type"]}
    j, i, _, _ = nearest_index(grid, lat, lon)
    if row["byte_offset"] is None:
        from .grib import GribStore
        stores = {} if stores is None else stores
        if row["source"] not in stores:
            stores[row["source"]] = GribStore(row["source"])
        values = stores[row["source"]].decompress(row["message"])
    else:
        from .grib import _decode_grib, eccodes
        ec = eccodes()
        with open(row["source"], "rb") as f:
            f.seek(row["byte_offset"])
            h = ec.codes_grib_new_from_file(f)
            message = ec.codes_get_message(h)
            ec.codes_release(h)
        values = _decode_grib(message, f"{row['source']} message {row['message']}")
    if grid.get("jPointsAreConsecutive"):
        return float(values[i, j])
    return float(values[j, i])
