"""GRIB 1/2 files into a .b2b message store (layout "grib"), and every message back bit for bit.

Everything GRIB is read through ecCodes. A grid-point message is kept as the integers its packing
encodes, X, with the packing parameters: ecCodes decodes every grid-point packing (simple, complex,
second order, CCSDS, JPEG 2000) as ``(X * 2**E + R) * 10**-D`` in double precision, so
``decompress_gridsimple_message`` gives back exactly its numbers from X, E, R and D. The integers
compress well with the codec's 2-D prediction, where GRIB packs them bit by bit. Each message is
checked when it is written: if the integers do not give ecCodes' values back bit for bit (or a
packing has no such form, as spherical harmonics), the decoded float64 values are stored instead,
losslessly, and the message's attributes say so.

Layout (codec/CONTAINER.md, "GRIB layout"): ``messages/msg_NNNNNN`` per message, in input order,
shaped as its grid, with the message's GRIB keys as attributes; ``bitmaps/msg_NNNNNN`` (1 = value
present) for messages with missing points.
"""
from __future__ import annotations

import datetime as dt
import json
import math
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from .container import ContainerWriter, array_document, group_document, whole_chunk_key
from .core import LEVELS, decode_array, encode_array, inspect_stream
from .errors import Byte2BitError, CorruptDataError, InvalidArgumentError
from .integrity import ATTRIBUTE, CONTAINER_VERSION, Container
from .progress import ticker
from .raster import BandReport, VerificationError, VerifyReport

LAYOUT = "grib"
PACKING = "byte2bit_grib"  # the attribute that says how a message is stored and how to decode it
# Keys every message carries as attributes (when the message defines them), besides its grid
# definition (ecCodes' "geography" namespace).
KEYS = ("shortName", "name", "paramId", "units", "typeOfLevel", "level", "dataDate", "dataTime", "stepRange",
        "dataType", "number", "centre", "edition", "gridType", "packingType", "Ni", "Nj", "N", "alternativeRowScanning")
MAX_ATTRIBUTE_VALUES = 100_000  # longer key arrays (a reduced grid's pl has a few thousand) are left out
MAX_MESSAGE_VALUES = 1 << 28    # 2 GiB of float64: far beyond any GRIB grid; a larger claim is hostile


def eccodes():
    try:
        with warnings.catch_warnings():
            # the bindings recommend a newer library than Debian 12's 2.28, which does all we use
            warnings.filterwarnings("ignore", "ecCodes .* or higher is recommended")
            import eccodes as ec
        ec.codes_get_api_version()
    except (ImportError, RuntimeError, OSError) as e:
        raise Byte2BitError(f"GRIB needs ecCodes: apt install libeccodes-dev and pip install 'eccodes<2' ({e})") from None
    return ec


@dataclass
class Message:
    """One GRIB message as read by ecCodes: its attributes, grid shape and decoded values."""
    file: str
    index: int                     # 0-based, within its file
    attrs: dict
    shape: tuple[int, ...]
    values: np.ndarray             # float64, as ecCodes decodes them (missing points = missingValue)
    packing: dict                  # referenceValue, binaryScaleFactor, ... or {} for spectral data
    raw: bytes                     # the message as it is in the file


def _key(ec, h, key):
    if not ec.codes_is_defined(h, key):
        return None
    size = ec.codes_get_size(h, key)
    if size > 1:
        if size > MAX_ATTRIBUTE_VALUES:
            return None
        return np.asarray(ec.codes_get_array(h, key)).tolist()
    value = ec.codes_get(h, key)
    if isinstance(value, np.generic):
        value = value.item()
    return value


def _iso(date, time) -> str | None:
    if date is None or time is None:
        return None
    d = int(date)
    t = int(time)
    return dt.datetime(d // 10000, d // 100 % 100, d % 100, t // 100, t % 100).isoformat()


def _attributes(ec, h, file: str, index: int) -> dict:
    attrs = {}
    it = ec.codes_keys_iterator_new(h, "geography")
    try:
        while ec.codes_keys_iterator_next(it):
            name = ec.codes_keys_iterator_get_name(it)
            if "bitmap" not in name:  # GRIB 1 counts its bitmap section as geography: data, not grid
                attrs[name] = _key(ec, h, name)
    finally:
        ec.codes_keys_iterator_delete(it)
    for name in KEYS:
        attrs[name] = _key(ec, h, name)
    if attrs.get("Ni") is None:  # grids that count their points as Nx x Ny (Lambert, polar stereographic)
        attrs["Nx"], attrs["Ny"] = _key(ec, h, "Nx"), _key(ec, h, "Ny")
    attrs = {k: v for k, v in attrs.items() if v is not None}
    attrs["forecast_reference_time"] = _iso(attrs.get("dataDate"), attrs.get("dataTime"))
    attrs["valid_time"] = _iso(_key(ec, h, "validityDate"), _key(ec, h, "validityTime"))
    attrs["source_file"] = file
    attrs["message_index"] = index
    return attrs


def _grid_shape(ec, h, n: int) -> tuple[int, ...]:
    """(Nj, Ni) for grids of Ni x Nj points ((Ni, Nj) when j varies fastest), else (n,)."""
    for ni, nj in (("Ni", "Nj"), ("Nx", "Ny")):
        a, b = _key(ec, h, ni), _key(ec, h, nj)
        if isinstance(a, int) and isinstance(b, int) and a > 0 and b > 0 and a * b == n:
            return (a, b) if _key(ec, h, "jPointsAreConsecutive") == 1 else (b, a)
    return (n,)


def read_message(ec, h, file: str, index: int) -> Message:
    values = ec.codes_get_double_array(h, "values")
    packing = {}
    if not str(_key(ec, h, "packingType") or "").startswith("spectral"):
        packing = {k: _key(ec, h, k) for k in ("referenceValue", "binaryScaleFactor", "decimalScaleFactor",
                                                "bitsPerValue", "missingValue")}
        packing["referenceValue"] = float(ec.codes_get_double(h, "referenceValue"))
        packing["missingValue"] = float(ec.codes_get_double(h, "missingValue"))
        packing["missing_points"] = bool(_key(ec, h, "bitmapPresent") or _key(ec, h, "missingValueManagementUsed"))
    return Message(file, index, _attributes(ec, h, file, index), _grid_shape(ec, h, values.size), values, packing,
                   ec.codes_get_message(h))


def iter_messages(path: str) -> Iterator[Message]:
    """Every message of a GRIB file, in order. A message ecCodes cannot read raises an error that
    names the file and the message number (1-based)."""
    ec = eccodes()
    name = os.path.basename(path)
    try:
        f = open(path, "rb")  # noqa: SIM115 (closed below, also when the caller stops early)
    except OSError as e:
        raise Byte2BitError(f"{path}: {e.strerror}") from None
    with f:
        index = 0
        while True:
            try:
                h = ec.codes_grib_new_from_file(f)
            except Exception as e:  # ecCodes raises its own error classes
                raise CorruptDataError(f"{name}: message {index + 1}: ecCodes cannot read it ({e})") from None
            if h is None:
                break
            try:
                message = read_message(ec, h, name, index)
            except Exception as e:
                raise CorruptDataError(f"{name}: message {index + 1}: ecCodes cannot decode it ({e})") from None
            finally:
                ec.codes_release(h)
            yield message
            index += 1
    if index == 0:
        raise CorruptDataError(f"{name}: no GRIB message in the file")


# ---------------------------------------------------------------------------------------------
# the packed integers and back


def _power(base: int, exponent: int) -> float:
    """base**exponent as ecCodes computes it (repeated multiplication or division), so the decoded
    values round exactly as ecCodes' do."""
    result = 1.0
    if exponent == 0:
        return 1.0
    if exponent == 1:
        return float(base)
    while exponent < 0:
        result /= base
        exponent += 1
    while exponent > 0:
        result *= base
        exponent -= 1
    return result


def _apply(x: np.ndarray, p: dict) -> np.ndarray:
    if p["bitsPerValue"] == 0:  # a constant field: ecCodes gives the reference value unscaled
        return np.full(x.shape, p["referenceValue"])
    s, d = _power(2, p["binaryScaleFactor"]), _power(10, -p["decimalScaleFactor"])
    values = x.astype(np.float64)  # then in place, in ecCodes' order of operations
    values *= s
    values += p["referenceValue"]
    if d != 1.0:  # multiplying by 1.0 changes no bit
        values *= d
    return values


def pack(m: Message) -> tuple[np.ndarray, np.ndarray | None] | None:
    """(integers X shaped as the grid, presence bitmap or None) that give ``m.values`` back bit for
    bit, or None when the message has no such form."""
    p = m.packing
    if not p or not isinstance(p.get("bitsPerValue"), int) or p["bitsPerValue"] > 32:
        return None
    values = m.values
    present = None
    if p["missing_points"]:
        present = values.view(np.uint64) != np.float64(p["missingValue"]).view(np.uint64)
        values = values[present]
    if p["bitsPerValue"] == 0:
        x = np.zeros(values.shape, np.int64)
    else:
        s, d = _power(2, p["binaryScaleFactor"]), _power(10, -p["decimalScaleFactor"])
        with np.errstate(all="ignore"):
            xf = np.rint((values / d - p["referenceValue"]) / s)
        if not np.all(np.isfinite(xf)) or (xf.size and (xf.min() < -2**31 or xf.max() >= 2**32)):
            return None
        x = xf.astype(np.int64)
    if not np.array_equal(_apply(x, p).view(np.uint64), values.view(np.uint64)):
        return None
    lo, hi = (int(x.min()), int(x.max())) if x.size else (0, 0)
    dtype = next((t for t in (np.uint8, np.uint16, np.uint32, np.int32)
                  if np.iinfo(t).min <= lo and hi <= np.iinfo(t).max), None)
    if dtype is None:
        return None
    if present is not None:
        # missing points take the last value present before them, so the 2-D prediction sees no edge
        full = np.zeros(m.values.size, np.int64)
        full[present] = x
        last = np.maximum.accumulate(np.where(present, np.arange(present.size), 0))
        x = full[last]
        present = present.reshape(m.shape)
    return x.astype(dtype).reshape(m.shape), present


def _serpentine(a: np.ndarray) -> np.ndarray:
    """``a`` with its odd rows reversed (its own inverse)."""
    a = a.copy()
    a[1::2] = a[1::2, ::-1]
    return a


def unpack(x: np.ndarray, present: np.ndarray | None, p: dict) -> np.ndarray:
    values = _apply(x, p)
    if present is not None:
        values[~present] = p["missingValue"]
    return values


# ---------------------------------------------------------------------------------------------
# transform


def message_key(n: int) -> str:
    return f"msg_{n:06d}"


def _codec(level: int) -> dict:
    return {"name": "byte2bit", "configuration": {"compression_level": level}}


def encode_message(m: Message, level: int) -> tuple[dict, np.dtype, tuple[int, ...], dict[str, bytes]]:
    """(how the message is stored, stored dtype and shape, {"values": stream[, "bitmap": stream]}).
    Without packed integers, the smaller of the decoded values and the message itself is kept."""
    packed = pack(m)
    if packed is None:
        values = encode_array(m.values.reshape(m.shape), level)
        raw = encode_array(np.frombuffer(m.raw, np.uint8), level)
        if len(raw) < len(values):
            return {"stored": "grib_message"}, np.dtype(np.uint8), (len(m.raw),), {"values": raw}
        return {"stored": "decoded_float64"}, np.dtype(np.float64), m.shape, {"values": values}
    x, present = packed
    how = {"stored": "packed_integers", **{k: m.packing[k] for k in (
        "referenceValue", "binaryScaleFactor", "decimalScaleFactor", "bitsPerValue", "missingValue")},
        "bitmap": present is not None}
    if m.attrs.get("alternativeRowScanning") == 1 and x.ndim == 2:
        # every other row runs backwards in the message; stored forwards, the 2-D prediction works
        x, present = _serpentine(x), None if present is None else _serpentine(present)
        how["rows_reversed"] = "odd"
    parts = {"values": encode_array(x, level)}
    if present is not None:
        parts["bitmap"] = encode_array(present.astype(np.uint8), level)
    return how, x.dtype, m.shape, parts


def transform(paths: list[str], dst, *, compression_level: int = 4, form: str = "zip", progress=True,
              on_error: str = "raise", skipped: list[dict] | None = None) -> str:
    """Every message of every GRIB file into one .b2b (see the module's docstring); returns its path."""
    if on_error not in ("raise", "skip"):
        raise InvalidArgumentError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    level = int(compression_level)
    if level not in LEVELS:
        raise InvalidArgumentError(f"compression_level must be one of 0, 1, 2, 4, got {compression_level!r}")
    skipped = list(skipped or [])
    dst = os.fspath(dst).rstrip("/")
    dst = dst if dst.lower().endswith(".b2b") else dst + ".b2b"
    tick, close = ticker(progress, sum(os.path.getsize(p) for p in paths), "transform", "B")
    sources, n, stored = [], 0, {}
    try:
        with ContainerWriter(dst, form) as out:
            for path in paths:
                first, written = n, []
                try:
                    for m in iter_messages(path):
                        key = message_key(n)
                        how, dtype, shape, parts = encode_message(m, level)
                        attrs = {**m.attrs, PACKING: how}
                        docs = {f"messages/{key}/zarr.json": array_document(shape, dtype, _codec(level), attrs),
                                whole_chunk_key(f"messages/{key}", len(shape)): parts["values"]}
                        if "bitmap" in parts:
                            docs[f"bitmaps/{key}/zarr.json"] = array_document(shape, np.uint8, _codec(level), {})
                            docs[whole_chunk_key(f"bitmaps/{key}", len(shape))] = parts["bitmap"]
                        for k, v in docs.items():
                            out.put(k, v)
                            written.append(k)
                        stored[how["stored"]] = stored.get(how["stored"], 0) + 1
                        n += 1
                except Byte2BitError as e:
                    if on_error == "raise":
                        raise
                    out.forget(written)
                    n = first
                    skipped.append({"file": os.path.basename(path), "error": str(e)})
                    continue
                finally:
                    tick(os.path.getsize(path))
                sources.append({"file": os.path.basename(path), "first_message": first, "messages": n - first})
            if not sources:
                raise Byte2BitError("no input could be converted:\n  " +
                                    "\n  ".join(f"{s['file']}: {s['error']}" for s in skipped))
            tag = {"layout": LAYOUT, "format_version": CONTAINER_VERSION, "sources": sources, "messages": n,
                   "stored": stored}
            if skipped:
                tag["skipped"] = skipped
            out.put("zarr.json", group_document({ATTRIBUTE: tag}))
            out.put("messages/zarr.json", group_document())
            if any(k.startswith("bitmaps/") for k in out.entries):
                out.put("bitmaps/zarr.json", group_document())
            result = out.finish()
    finally:
        close()
    for s in skipped:
        warnings.warn(f"skipped {s['file']}: {s['error']}", stacklevel=3)
    return result


# ---------------------------------------------------------------------------------------------
# reading


class GribStore:
    """A GRIB .b2b opened for reading messages (every key checked against the manifest)."""

    def __init__(self, path):
        self.container = Container(path)
        tag = self.container.docs[""].get("attributes", {}).get(ATTRIBUTE, {})
        if not isinstance(tag, dict) or tag.get("layout") != LAYOUT:
            self.container.close()
            raise InvalidArgumentError(f"{path} is not a GRIB message store (layout "
                                       f"{tag.get('layout', 'zarr') if isinstance(tag, dict) else 'zarr'})")
        self.tag = tag
        self.path = self.container.path

    def keys(self) -> list[str]:
        return sorted(n.rpartition("/")[2] for n in self.container.arrays if n.startswith("messages/"))

    def attrs(self, key: str) -> dict:
        return self.container.docs[f"messages/{self._name(key)}"]["attributes"]

    @staticmethod
    def _name(key: str) -> str:
        return key.rpartition("/")[2]

    def _read(self, array: str) -> np.ndarray:
        self.container.raise_problems([array])
        meta = self.container.arrays.get(array)
        if meta is None:
            raise CorruptDataError(f"{self.path}: no array {array}")
        if math.prod(meta.shape) > MAX_MESSAGE_VALUES or meta.chunks != meta.shape:
            raise CorruptDataError(f"{self.path}: {array} claims {meta.shape} values in chunks of {meta.chunks}; "
                                   "a message is one chunk of at most 268 million values")
        data = self.container.read(next(meta.chunk_keys()), meta.max_chunk_bytes)
        try:
            info = inspect_stream(data, verify_checksum=False)
            if tuple(info["shape"]) != meta.shape or info["dtype"] != meta.dtype.name:
                raise CorruptDataError(f"holds {info['dtype']} {tuple(info['shape'])}, its metadata says "
                                       f"{meta.dtype} {meta.shape}")
            x = decode_array(data, out=np.empty(meta.shape, meta.dtype))  # checks the stream's checksum
        except Byte2BitError as e:
            raise CorruptDataError(f"{self.path}: {array}: {e}") from None
        return x

    def decompress(self, key: str) -> np.ndarray:
        name = self._name(key)
        if f"messages/{name}" not in self.container.arrays:
            raise KeyError(f"{self.path}: no message {name}")
        how = self.attrs(name).get(PACKING)
        if not isinstance(how, dict) or how.get("stored") not in ("packed_integers", "decoded_float64", "grib_message"):
            raise CorruptDataError(f"{self.path}: message {name} does not say how it is stored ({PACKING})")
        x = self._read(f"messages/{name}")
        if how["stored"] == "decoded_float64":
            return x
        if how["stored"] == "grib_message":
            return _decode_grib(x.tobytes(), f"{self.path}: message {name}")
        try:
            p = {k: how[k] for k in ("referenceValue", "binaryScaleFactor", "decimalScaleFactor", "bitsPerValue",
                                     "missingValue")}
            if not all(isinstance(p[k], int) for k in ("binaryScaleFactor", "decimalScaleFactor", "bitsPerValue")) \
                    or abs(p["binaryScaleFactor"]) > 1000 or abs(p["decimalScaleFactor"]) > 1000:
                raise ValueError
        except (KeyError, ValueError):
            raise CorruptDataError(f"{self.path}: message {name}: damaged packing parameters") from None
        present = self._read(f"bitmaps/{name}").astype(bool) if how.get("bitmap") else None
        if how.get("rows_reversed") == "odd" and x.ndim == 2:
            x, present = _serpentine(x), None if present is None else _serpentine(present)
        return unpack(x, present, p)

    def close(self) -> None:
        self.container.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _decode_grib(message: bytes, where: str) -> np.ndarray:
    ec = eccodes()
    try:
        h = ec.codes_new_from_message(message)
    except Exception as e:
        raise CorruptDataError(f"{where}: ecCodes cannot read the stored message ({e})") from None
    try:
        m = read_message(ec, h, "", 0)
        return m.values.reshape(m.shape)
    finally:
        ec.codes_release(h)


def decompress_gridsimple_message(store, msg_key: str) -> np.ndarray:
    """The values of one message, bit for bit as ecCodes decodes them from the original GRIB
    (float64, shaped as the grid, missing points as ecCodes' missingValue). ``store`` is a .b2b
    path or an open ``GribStore``; ``msg_key`` is ``"msg_000012"`` or ``"messages/msg_000012"``."""
    if isinstance(store, GribStore):
        return store.decompress(msg_key)
    with GribStore(store) as s:
        return s.decompress(msg_key)


# ---------------------------------------------------------------------------------------------
# verify


def _same_attrs(a: dict, b: dict) -> list[str]:
    norm = lambda v: json.loads(json.dumps(v))  # noqa: E731  (what JSON keeps: tuples as lists)
    return sorted(k for k in set(a) | set(b) if norm(a.get(k)) != norm(b.get(k)))


def verify(paths: list[str], dst, *, progress=None, raise_on_mismatch: bool = True,
           unreadable: list[dict] = ()) -> VerifyReport:
    """Decode every message of the GRIB files with ecCodes and from the .b2b, and compare the
    values bit for bit and the attributes. ``unreadable``: inputs whose format could not be
    recognised; fine only if transform skipped them."""
    report = VerifyReport(", ".join(os.path.basename(p) for p in paths[:3]) + (" ..." if len(paths) > 3 else ""),
                          os.fspath(dst))
    with GribStore(dst) as store:
        store.container.raise_problems()
        keys = store.keys()
        skipped = {s.get("file") for s in store.tag.get("skipped", []) if isinstance(s, dict)}
        for bad in unreadable:
            if bad["file"] in skipped:
                report.notes.append(f"{bad['file']}: skipped at transform, not in the .b2b")
            else:
                report.problems.append(f"{bad['file']}: cannot be read: {bad['error']}")
        tick, close = ticker(progress, sum(os.path.getsize(p) for p in paths), "verify", "B")
        n = 0
        try:
            for path in paths:
                name = os.path.basename(path)
                if name in skipped:
                    report.notes.append(f"{name}: skipped at transform, not in the .b2b")
                    tick(os.path.getsize(path))
                    continue
                for m in iter_messages(path):
                    key = message_key(n)
                    n += 1
                    if key not in keys:
                        report.problems.append(f"{name} message {m.index + 1}: {key} missing from the .b2b")
                        continue
                    stored = dict(store.attrs(key))
                    stored.pop(PACKING, None)
                    differ = _same_attrs(m.attrs, stored)
                    if differ:
                        report.problems.append(f"{key} ({name} message {m.index + 1}): attributes differ: "
                                               f"{', '.join(differ[:5])}")
                    got = store.decompress(key)
                    same = got.shape == m.shape and np.array_equal(got.reshape(-1).view(np.uint64),
                                                                    m.values.view(np.uint64))
                    err = 0.0
                    if not same and got.size == m.values.size:
                        with np.errstate(all="ignore"):
                            err = float(np.nanmax(np.abs(got.reshape(-1) - m.values)))
                    report.bands.append(BandReport(key, same, err, None))
                    if got.shape != m.shape:
                        report.problems.append(f"{key}: shape {got.shape} vs {m.shape}")
                tick(os.path.getsize(path))
        finally:
            close()
        for key in keys[n:]:
            report.problems.append(f"{key}: in the .b2b, not among the sources")
    if raise_on_mismatch and not report.ok:
        raise VerificationError(report)
    return report
