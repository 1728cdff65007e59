"""NetCDF, HDF5 and Zarr sources into one .b2b (layout ``datasets``), and ``verify`` against them.

Each source file becomes a group of the .b2b named after it, holding the file's groups, variables,
dimension names and attributes as a Zarr v3 hierarchy that zarr-python and xarray read directly.
CF encodings stay encodings: packed integers are stored as integers, ``_FillValue`` as xarray
writes it for Zarr v3, so xarray decodes the .b2b as it decodes the source. What JSON attributes
cannot say (numpy types, NetCDF dimensions, how a non-numeric dtype is stored) is kept in the root's
``byte2bit`` attribute, so ``verify`` compares types exactly (codec/CONTAINER.md, "Datasets layout").

Work is a list of chunk tasks (read a window of the source, encode it), each naming the file
rather than holding it open, so the same task runs in a thread, on Dask's scheduler or on a
``dask.distributed`` worker. Results are written in task order, so every scheduler writes the
same bytes. Memory holds one batch of chunks at a time.
"""
from __future__ import annotations

import base64
import contextlib
import functools
import itertools
import json
import math
import os
import re
import struct
import warnings
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from . import sources
from .container import ContainerWriter, default_chunks
from .core import LEVELS, encode_array
from .errors import Byte2BitError, InvalidArgumentError, UnsupportedDtypeError
from .integrity import ATTRIBUTE, CONTAINER_VERSION
from .progress import ticker
from .raster import BandReport, VerificationError, VerifyReport

LAYOUT = "datasets"
BATCH = 64  # chunk tasks in flight at once: bounds memory whatever the input size


# ---------------------------------------------------------------------------------------------
# Attributes: plain JSON for readers, their exact types in the sidecar


def attr_to_json(key: str, value, var_dtype: np.dtype | None):
    """(JSON value, type tag or None) of an attribute. ``_FillValue`` of a variable is written as
    xarray writes it into Zarr v3 (floats as base64 of a little-endian double)."""
    if value is None or isinstance(value, (bool, str)) or type(value) in (int, float):
        return value, None
    if isinstance(value, list):
        return [attr_to_json("", v, None)[0] for v in value], "list"
    if isinstance(value, (bytes, np.bytes_)):
        try:
            return bytes(value).decode("utf-8"), "bytes"
        except UnicodeDecodeError:
            return bytes(value).decode("latin-1"), "bytes-latin-1"
    if isinstance(value, np.str_):
        return str(value), None
    if isinstance(value, np.generic):
        tag = value.dtype.str
        if key == "_FillValue" and var_dtype is not None and var_dtype.kind in "fc" and value.dtype.kind in "iuf":
            return base64.standard_b64encode(struct.pack("<d", float(value))).decode(), tag
        if value.dtype.kind == "c":
            return [float(value.real), float(value.imag)], tag
        return value.item(), tag
    if isinstance(value, np.ndarray):
        if value.dtype.kind == "S":
            return [attr_to_json("", v, None)[0] for v in value.reshape(-1)], f"{value.dtype.str}{list(value.shape)}"
        if value.dtype.kind == "O":
            return [str(v) for v in value.reshape(-1)], f"O{list(value.shape)}"
        if value.dtype.kind == "c":
            return [[float(v.real), float(v.imag)] for v in value.reshape(-1)], f"{value.dtype.str}{list(value.shape)}"
        if value.dtype.kind in "biufU":
            return value.reshape(-1).tolist(), f"{value.dtype.str}{list(value.shape)}"
    raise UnsupportedDtypeError(f"attribute {key!r} of type {type(value).__name__} cannot be stored")


def attr_from_json(key: str, value, tag: str | None, var_dtype: np.dtype | None):
    """The attribute as the source library gave it, from its JSON value and type tag."""
    if tag is None:
        return value
    if tag == "list":
        return list(value)
    if tag in ("bytes", "bytes-latin-1"):
        return np.bytes_(value.encode("utf-8" if tag == "bytes" else "latin-1"))
    m = re.fullmatch(r"(.+?)(\[[\d, ]*\])?", tag)
    dtype_text, shape = m.group(1), m.group(2)
    if shape is not None:
        shape = tuple(json.loads(shape))
        if dtype_text == "O":
            return np.array(value, dtype=object).reshape(shape)
        dt = np.dtype(dtype_text)
        if dt.kind == "S":
            return np.array([v.encode("utf-8") for v in value], dtype=dt).reshape(shape)
        if dt.kind == "c":
            return np.array([complex(*v) for v in value], dtype=dt).reshape(shape)
        return np.array(value, dtype=dt).reshape(shape)
    dt = np.dtype(dtype_text)
    if isinstance(value, str) and key == "_FillValue":
        return dt.type(struct.unpack("<d", base64.standard_b64decode(value))[0])
    if dt.kind == "c":
        return dt.type(complex(*value))
    return dt.type(value)


def attrs_to_json(attrs: dict, var_dtype=None) -> tuple[dict, dict, dict]:
    """(attributes as JSON, their type tags, attributes kept aside). Aside: a ``_FillValue``
    xarray cannot read for the variable's type (NaN on packed integers, which xarray drops as
    non-conforming when it reads the source), kept in the sidecar only."""
    out, tags, aside = {}, {}, {}
    for k, v in attrs.items():
        value, tag = attr_to_json(k, v, var_dtype)
        if k == "_FillValue" and var_dtype is not None and var_dtype.kind in "biu" and not _integral(v):
            aside[k] = [value, tag]
            continue
        out[k] = value
        if tag is not None:
            tags[k] = tag
    return out, tags, aside


def _integral(value) -> bool:
    try:
        return all(float(x).is_integer() for x in np.atleast_1d(value).reshape(-1))
    except (TypeError, ValueError):
        return False


def restore_attrs(stored: dict, record: dict, node: str, var_dtype) -> dict:
    """A node's attributes as the source library gave them, from the .b2b and its sidecar."""
    tags = record.get("attribute_types", {}).get(node, {})
    out = {k: attr_from_json(k, v, tags.get(k), var_dtype) for k, v in stored.items()}
    for k, (value, tag) in record.get("attributes_aside", {}).get(node, {}).items():
        out[k] = attr_from_json(k, value, tag, var_dtype)
    return out


def same_value(a, b) -> bool:
    """Equal in type and value, NaN equal to NaN: how verify compares attributes."""
    if isinstance(a, np.str_):
        a = str(a)
    if isinstance(b, np.str_):
        b = str(b)
    if type(a) is not type(b):
        return False
    if isinstance(a, np.ndarray):
        if a.dtype != b.dtype or a.shape != b.shape:
            return False
        if a.dtype.kind in "fc":
            return bool(np.all((a == b) | (np.isnan(a) & np.isnan(b))))
        return bool(np.array_equal(a, b))
    if isinstance(a, (float, np.floating, np.complexfloating)):
        return bool(a == b or (np.isnan(a) and np.isnan(b)))
    if isinstance(a, list):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))
    return bool(a == b)


# ---------------------------------------------------------------------------------------------
# How each variable is stored


def stored_dtype(v: sources.Variable, vlen_bytes: int = 0) -> np.dtype:
    """The dtype the .b2b array has: numeric types as they are (native byte order); the rest as
    fixed-length bytes (``how_stored`` says how)."""
    dt = v.dtype
    if v.kind == "numeric":
        return dt.newbyteorder("=")
    if v.kind == "bytes":
        return np.dtype(f"S{dt.itemsize}")
    if v.kind in ("compound", "unicode"):
        return np.dtype(f"S{dt.itemsize}")
    return np.dtype(f"S{max(1, vlen_bytes)}")  # vlen-str


def how_stored(v: sources.Variable, stored: np.dtype) -> str | None:
    return {"numeric": None,
            "bytes": None if v.dtype.kind == "S" else f"opaque {v.dtype.str}: raw bytes",
            "compound": f"compound type: each element's {stored.itemsize} raw bytes; the source dtype is kept",
            "unicode": f"fixed-length unicode {v.dtype.str}: its {stored.itemsize} raw UCS-4 bytes",
            "vlen-str": f"variable-length strings: UTF-8, fixed length {stored.itemsize} bytes"}[v.kind]


def to_stored(a: np.ndarray, kind: str, stored: str) -> np.ndarray:
    dt = np.dtype(stored)
    if kind == "numeric":
        return a.astype(dt, copy=False)
    if kind == "vlen-str":
        encoded = [s.encode("utf-8") if isinstance(s, str) else bytes(s) for s in a.reshape(-1)]
        if any(e.endswith(b"\0") or len(e) > dt.itemsize for e in encoded):
            raise UnsupportedDtypeError("a variable-length string ends with a NUL character or grew since it "
                                        "was measured; it cannot be stored as fixed-length UTF-8")
        return np.array(encoded, dtype=dt).reshape(a.shape)
    return np.ascontiguousarray(a).view(dt).reshape(a.shape)


def from_stored(b: np.ndarray, kind: str, source_dtype) -> np.ndarray:
    if kind == "numeric" or kind == "bytes" and np.dtype(source_dtype).kind == "S":
        return b
    if kind == "vlen-str":
        out = np.empty(b.shape, dtype=object)
        out.reshape(-1)[:] = [bytes(x).decode("utf-8") for x in b.reshape(-1)]
        return out
    dt = np.lib.format.descr_to_dtype(_descr(source_dtype)) if isinstance(source_dtype, list) else np.dtype(source_dtype)
    return np.ascontiguousarray(b).view(dt).reshape(b.shape)


def _descr(json_descr: list) -> list:
    """numpy's compound description back from JSON (which turned its tuples into lists)."""
    return [tuple([e[0], _descr(e[1]) if isinstance(e[1], list) else e[1]] + [tuple(x) for x in e[2:]])
            for e in json_descr]


def dtype_record(dt: np.dtype):
    """A dtype as JSON: its string, or numpy's description of a compound type."""
    if dt.kind == "O":
        return "vlen-str"
    if dt.fields is None:
        return dt.str
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # h5py's dtype metadata (a string's encoding), left out here
        return _plain_descr(np.lib.format.dtype_to_descr(dt))


def _plain_descr(descr):
    """A compound description without dtype metadata (which h5py attaches as (type, {...}))."""
    if isinstance(descr, tuple) and len(descr) == 2 and isinstance(descr[1], dict):
        return _plain_descr(descr[0])
    if isinstance(descr, list):
        return [tuple([e[0], _plain_descr(e[1]), *e[2:]]) for e in descr]
    return descr


def fill_bytes(v: sources.Variable) -> str:
    """An HDF5 dataset's fill value property, as hex of its bytes (any type, compound included)."""
    if v.kind == "vlen-str":
        value = v.hdf5_fillvalue
        return (value if isinstance(value, bytes) else str(value).encode("utf-8")).hex()
    return np.asarray(v.hdf5_fillvalue, dtype=v.dtype).tobytes().hex()


# ---------------------------------------------------------------------------------------------
# Chunk tasks (run anywhere: they name files, not open handles)


@dataclass(frozen=True)
class ChunkTask:
    source: str
    fmt: str
    variable: str
    start: tuple
    stop: tuple
    chunk: tuple
    kind: str
    stored: str
    level: int
    quantize_scale: float
    exact: tuple = ()


def _slices(t) -> tuple:
    return tuple(slice(a, b) for a, b in zip(t.start, t.stop))


def encode_chunk(t: ChunkTask) -> bytes:
    """Reads one window of the source and encodes it as a full chunk (edges repeat their last
    row and column, which costs nearly nothing and which readers never see)."""
    a = to_stored(sources.read(t.source, t.fmt, t.variable, _slices(t)), t.kind, t.stored)
    pad = [(0, c - s) for c, s in zip(t.chunk, a.shape)]
    if any(p for _, p in pad):
        a = np.pad(a, pad, mode="edge") if a.size else np.zeros(t.chunk, a.dtype)
    return encode_array(a, t.level, t.quantize_scale, exact_values=t.exact)


@dataclass(frozen=True)
class CompareTask:
    source: str
    fmt: str
    variable: str
    start: tuple
    stop: tuple
    b2b: str
    array: str
    kind: str
    source_dtype: object
    fills: tuple = ()


@functools.lru_cache(maxsize=4)
def _b2b_root(path: str, stamp: tuple):
    import zarr
    from .container import open_store
    return zarr.open_group(store=open_store(path), mode="r")


def compare_chunk(t: CompareTask) -> tuple[bool, float, int]:
    """(equal, max abs error, values that are a fill value on one side only) of one window."""
    st = os.stat(t.b2b)
    stored = _b2b_root(t.b2b, (st.st_mtime_ns, st.st_size, st.st_ino))[t.array]
    b = from_stored(np.asarray(stored[_slices(t)] if t.start else stored[...]), t.kind, t.source_dtype)
    a = sources.read(t.source, t.fmt, t.variable, _slices(t))
    if a.shape != b.shape:
        return False, math.inf, 0
    if a.dtype.kind in "fc" and b.dtype.kind in "fc":
        a = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("="))
        b = np.ascontiguousarray(b, dtype=a.dtype)
        bits = a.reshape(a.shape + (1,)).view(np.uint8) == b.reshape(b.shape + (1,)).view(np.uint8)
        same = bits.all(-1) | (np.isnan(a) & np.isnan(b))
        if same.all():
            return True, 0.0, 0
        diff = np.abs(a.astype(np.complex128 if a.dtype.kind == "c" else np.float64) - b)
        diff[np.isnan(a) & np.isnan(b)] = 0
        diff[~same & ~np.isfinite(diff)] = np.inf
        fills = sum(int(np.count_nonzero((a == f) != (b == f))) for f in t.fills if not math.isnan(f))
        if any(math.isnan(f) for f in t.fills):
            fills += int(np.count_nonzero(np.isnan(a) != np.isnan(b)))
        return bool(same.all()), float(diff.max()) if diff.size else 0.0, fills
    if a.dtype.kind == "O" or b.dtype.kind == "O":
        return bool(a.shape == b.shape and all(x == y for x, y in zip(a.reshape(-1), b.reshape(-1)))), 0.0, 0
    if a.dtype.kind in "biu":
        equal = bool(np.array_equal(a, b))
        err = 0.0 if equal else float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64))))
        return equal, err, 0
    return bool(a.dtype == b.dtype and a.tobytes() == b.tobytes()), 0.0, 0


def run_tasks(fn, tasks: Iterable, batch: int = BATCH) -> Iterator:
    """fn over tasks, results in task order: on the current Dask scheduler (a
    ``dask.distributed`` client when one is active) when Dask is installed, else in threads."""
    try:
        import dask
    except ImportError:
        dask = None
    it = iter(tasks)
    with contextlib.ExitStack() as stack:
        pool = None if dask is not None else stack.enter_context(ThreadPoolExecutor(os.cpu_count() or 2))
        while part := list(itertools.islice(it, batch)):
            if dask is not None:
                yield from dask.compute(*[dask.delayed(fn, pure=False, traverse=False)(t) for t in part])
            else:
                yield from pool.map(fn, part)


def _windows(shape: tuple, chunks: tuple) -> Iterator[tuple[tuple, tuple, tuple]]:
    """(chunk index, start, stop) of every chunk, in Zarr key order."""
    grid = [range(math.ceil(s / c)) for s, c in zip(shape, chunks)]
    for index in itertools.product(*grid):
        start = tuple(i * c for i, c in zip(index, chunks))
        yield index, start, tuple(min(a + c, s) for a, c, s in zip(start, chunks, shape))


def _chunk_key(prefix: str, index: tuple) -> str:
    return "/".join([prefix, "c", *map(str, index)])


# ---------------------------------------------------------------------------------------------
# Planning: what each variable becomes


@dataclass
class Planned:
    variable: sources.Variable
    array: str              # its path in the .b2b
    stored: np.dtype
    chunks: tuple
    level: int
    quantize_scale: float
    exact: tuple


@dataclass
class Options:
    compression_level: int = 4
    quantize_scale: float = 0.0
    chunks: dict | None = None          # dimension name -> chunk size
    encoding: dict = field(default_factory=dict)  # variable -> {compression_level, quantize_scale, chunks}


def coordinate_names(tree: sources.SourceTree) -> set[str]:
    """Variables that are coordinates: named as a dimension, or listed in a ``coordinates`` or
    ``bounds`` attribute. The error-bounded mode never touches them."""
    names = set()
    for v in tree.variables:
        if v.name in v.dims:
            names.add(v.path)
        for key in ("coordinates", "bounds"):
            text = v.attrs.get(key)
            if isinstance(text, (str, bytes, np.bytes_)):
                text = text.decode("utf-8", "replace") if isinstance(text, (bytes, np.bytes_)) else text
                group = v.path.rpartition("/")[0]
                names.update(f"{group}/{n}" if group else n for n in text.split())
    names.update(v.path for v in tree.variables if any(v.name == d for g in tree.groups for d in g.dims))
    return names


def _vlen_bytes(tree: sources.SourceTree, v: sources.Variable) -> int:
    """Longest UTF-8 encoding among a variable-length string variable's values (read chunk by chunk)."""
    longest = 0
    for _, start, stop in _windows(v.shape, v.chunks or default_chunks(v.shape, 64)) if v.shape else [((), (), ())]:
        a = sources.read(tree.path, tree.format, v.path, tuple(slice(s, e) for s, e in zip(start, stop)))
        longest = max([longest] + [len(s.encode("utf-8") if isinstance(s, str) else s) for s in a.reshape(-1)])
    return longest


def plan(tree: sources.SourceTree, group: str, options: Options) -> list[Planned]:
    coords = coordinate_names(tree)
    planned = []
    for v in tree.variables:
        enc = options.encoding.get(f"{group}/{v.path}", options.encoding.get(v.path, {}))
        unknown = set(enc) - {"compression_level", "quantize_scale", "chunks"}
        if unknown:
            raise InvalidArgumentError(f"encoding for {v.path}: unknown keys {sorted(unknown)} (accepted: "
                                       "compression_level, quantize_scale, chunks)")
        stored = stored_dtype(v, _vlen_bytes(tree, v) if v.kind == "vlen-str" else 0)
        q = float(enc.get("quantize_scale", options.quantize_scale))
        if q and (v.kind != "numeric" or v.dtype.kind not in "fc" or v.path in coords):
            if "quantize_scale" in enc:
                raise InvalidArgumentError(f"encoding for {v.path}: quantize_scale applies to floating-point data "
                                           "variables, not to coordinates or integers")
            q = 0.0
        level = int(enc.get("compression_level", 1 if q else options.compression_level))
        if level not in LEVELS:
            raise InvalidArgumentError(f"compression_level must be one of 0, 1, 2, 4, got {level!r}")
        if q and level != 1:
            raise InvalidArgumentError(f"{v.path}: quantize_scale > 0 needs compression_level 1, got {level}")
        chunks = enc.get("chunks")
        if chunks is None:
            chunks = v.chunks or default_chunks(v.shape, stored.itemsize)
            if options.chunks:
                chunks = tuple(options.chunks.get(d, c) for d, c in zip(v.dims, chunks))
        chunks = tuple(max(1, min(int(c), s)) if s else 1 for c, s in zip(chunks, v.shape))
        if len(chunks) != len(v.shape):
            raise InvalidArgumentError(f"encoding for {v.path}: chunks {chunks} do not fit shape {v.shape}")
        exact = ()
        if q:
            fills = [v.attrs.get("_FillValue"), v.attrs.get("missing_value")]
            exact = tuple(float(x) for f in fills if f is not None for x in np.atleast_1d(f).reshape(-1)[:8])
        planned.append(Planned(v, f"{group}/{v.path or 'data'}", stored, chunks, level, q, exact))
    return planned


# ---------------------------------------------------------------------------------------------
# transform


def _metadata(trees: list[sources.SourceTree], names: list[str], planned: list[list[Planned]],
              skipped: list[dict]) -> dict[str, bytes]:
    """Every zarr.json of the .b2b, made by zarr-python itself (in memory)."""
    import zarr
    from .zarr_codec import Byte2BitZarrV3Codec
    records = []
    for tree, name, arrays in zip(trees, names, planned):
        types = {}
        record = {"group": name, "file": os.path.basename(tree.path.rstrip("/")), "format": tree.format,
                  "dimensions": {g.path: {d: list(s) for d, s in g.dims.items()} for g in tree.groups if g.dims},
                  "attribute_types": types, "variables": {}}
        for p in arrays:
            v = p.variable
            how = how_stored(v, p.stored)
            entry = {}
            if how or v.dtype.str != p.stored.str:
                entry["source_dtype"] = dtype_record(v.dtype)
            if how:
                entry["stored_as"] = how
            if v.hdf5_fillvalue is not None:
                entry["hdf5_fillvalue"] = fill_bytes(v)
            if entry:
                record["variables"][v.path] = entry
        records.append(record)
    root_attrs = {ATTRIBUTE: {"layout": LAYOUT, "format_version": CONTAINER_VERSION, "sources": records}}
    if skipped:
        root_attrs[ATTRIBUTE]["skipped"] = skipped
    mem = zarr.storage.MemoryStore()
    root = zarr.create_group(store=mem, zarr_format=3, attributes=root_attrs)
    for tree, name, arrays, record in zip(trees, names, planned, records):
        nodes = {}
        for g in sorted(tree.groups, key=lambda g: (g.path.count("/") if g.path else -1, g.path)):
            attrs, tags, _ = attrs_to_json(g.attrs)
            if tags:
                record["attribute_types"][g.path or "/"] = tags
            parent = nodes.get(g.path.rpartition("/")[0], root) if g.path else root
            nodes[g.path] = parent.create_group(g.path.rpartition("/")[2] if g.path else name, attributes=attrs)
        for p in arrays:
            v = p.variable
            attrs, tags, aside = attrs_to_json(v.attrs, v.dtype if v.kind == "numeric" else None)
            if tags:
                record["attribute_types"][v.path] = tags
            if aside:
                record.setdefault("attributes_aside", {})[v.path] = aside
            parent = nodes[v.path.rpartition("/")[0]] if v.path else nodes[""]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # zarr's note that fixed-length bytes have no v3 spec yet
                parent.create_array(
                    v.name or "data", shape=v.shape, chunks=p.chunks or (), dtype=p.stored,
                    serializer=Byte2BitZarrV3Codec(compression_level=p.level, quantize_scale=p.quantize_scale),
                    compressors=None, filters=None, fill_value=None, attributes=attrs,
                    dimension_names=list(v.dims) or None)
    # the root's attributes were written before the type records were complete
    docs = {k: v.to_bytes() for k, v in mem._store_dict.items()}
    root_doc = json.loads(docs["zarr.json"])
    root_doc["attributes"] = root_attrs
    docs["zarr.json"] = json.dumps(root_doc, indent=2).encode()
    return docs


def transform(paths: list[str], formats: list[str], dst, *, compression_level: int = 4, quantize_scale: float = 0,
              chunks: dict | None = None, encoding: dict | None = None, form: str = "zip", progress=True,
              on_error: str = "raise", skipped: list[dict] | None = None) -> str:
    """Write every source into one .b2b (see the module's docstring); returns the .b2b's path.
    ``skipped``: inputs already left out (``on_error="skip"``), recorded with the others."""
    if on_error not in ("raise", "skip"):
        raise InvalidArgumentError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    options = Options(int(compression_level), float(quantize_scale), dict(chunks or {}), dict(encoding or {}))
    if options.compression_level not in LEVELS:
        raise InvalidArgumentError(f"compression_level must be one of 0, 1, 2, 4, got {compression_level!r}")
    if not (math.isfinite(options.quantize_scale) and options.quantize_scale >= 0):
        raise InvalidArgumentError(f"quantize_scale must be 0 or a positive number, got {quantize_scale!r}")
    trees, skipped = [], list(skipped or [])
    for path, fmt in zip(paths, formats):
        try:
            trees.append(sources.scan(path, fmt))
        except Byte2BitError as e:
            if on_error == "raise" or isinstance(e, InvalidArgumentError):
                raise
            skipped.append({"file": os.path.basename(path.rstrip("/")), "error": str(e)})
    names = sources.group_names([t.path for t in trees])
    planned = [plan(t, n, options) for t, n in zip(trees, names)]
    total = sum(math.prod(math.ceil(s / c) for s, c in zip(p.variable.shape, p.chunks)) if p.variable.shape else 1
                for ps in planned for p in ps)
    tick, close = ticker(progress, total, "transform", "chunk")
    kept = []
    try:
        with ContainerWriter(_b2b_path(dst), form) as out:
            for tree, name, arrays in zip(trees, names, planned):
                written = []
                try:
                    for p, key, data in _encode(tree, arrays):
                        out.put(key, data)
                        written.append(key)
                        tick(1)
                except Byte2BitError as e:
                    if on_error == "raise":
                        raise
                    out.forget(written)
                    skipped.append({"file": os.path.basename(tree.path.rstrip("/")), "error": str(e)})
                    continue
                kept.append((tree, name, arrays))
            if not kept:
                raise Byte2BitError("no input could be converted:\n  " +
                                    "\n  ".join(f"{s['file']}: {s['error']}" for s in skipped))
            for key, doc in sorted(_metadata(*map(list, zip(*kept)), skipped).items()):
                out.put(key, doc)
            result = out.finish()
    finally:
        close()
        sources.close_all()
    for s in skipped:
        warnings.warn(f"skipped {s['file']}: {s['error']}", stacklevel=3)
    return result


def _encode(tree: sources.SourceTree, arrays: list[Planned]):
    tasks, where = [], []
    for p in arrays:
        v = p.variable
        for index, start, stop in _windows(v.shape, p.chunks) if v.shape else [((), (), ())]:
            tasks.append(ChunkTask(tree.path, tree.format, v.path, start, stop, p.chunks, v.kind, p.stored.str,
                                   p.level, p.quantize_scale, p.exact))
            where.append((p, _chunk_key(p.array, index)))
    for (p, key), data in zip(where, run_tasks(encode_chunk, tasks)):
        yield p, key, data


def _b2b_path(dst) -> str:
    dst = os.fspath(dst).rstrip("/")
    return dst if dst.lower().endswith(".b2b") else dst + ".b2b"


# ---------------------------------------------------------------------------------------------
# verify


def _stored_record(dst: str) -> tuple[dict, list[dict]]:
    from .integrity import Container
    with Container(dst) as c:
        c.raise_problems()
        tag = c.docs[""].get("attributes", {}).get(ATTRIBUTE, {})
    if tag.get("layout") != LAYOUT:
        raise InvalidArgumentError(f"{dst} holds a {tag.get('layout', 'plain Zarr')} layout, not converted "
                                   "NetCDF, HDF5 or Zarr files")
    return tag, tag.get("sources", [])


def _compare_structure(tree: sources.SourceTree, record: dict, root, report: VerifyReport) -> None:
    """Groups, dimensions, variables (dimension names, shapes, dtypes, attributes) of one file."""
    import zarr
    name = record["group"]
    problems = report.problems

    if name not in root:
        problems.append(f"{record['file']}: group {name} missing from the .b2b")
        return
    stored_vars, stored_grps = {}, {"": root[name]}

    def walk(g, prefix):
        for n, member in g.members():
            where = f"{prefix}/{n}" if prefix else n
            if isinstance(member, zarr.Group):
                stored_grps[where] = member
                walk(member, where)
            else:
                stored_vars[where] = member
    walk(root[name], "")
    src_groups = {g.path: g for g in tree.groups}
    for path in sorted(set(src_groups) ^ set(stored_grps)):
        problems.append(f"{record['file']}: group /{path} is in the {'source' if path in src_groups else '.b2b'} only")
    dims = record.get("dimensions", {})
    for path, g in src_groups.items():
        if path in stored_grps:
            _compare_attrs(f"{record['file']}: group /{path}", g.attrs,
                           restore_attrs(dict(stored_grps[path].attrs), record, path or "/", None), problems)
            if {d: list(s) for d, s in g.dims.items()} != dims.get(path, {}):
                problems.append(f"{record['file']}: dimensions of group /{path} differ")
    src_vars = {v.path or "data": v for v in tree.variables}
    for path in sorted(set(src_vars) ^ set(stored_vars)):
        problems.append(f"{record['file']}: variable {path} is in the {'source' if path in src_vars else '.b2b'} only")
    for path, v in src_vars.items():
        if path not in stored_vars:
            continue
        a = stored_vars[path]
        entry = record.get("variables", {}).get(v.path, {})
        where = f"{record['file']}: {path}"
        if tuple(a.metadata.dimension_names or ()) != v.dims:
            problems.append(f"{where}: dimensions {tuple(a.metadata.dimension_names or ())} vs {v.dims}")
        if a.shape != v.shape:
            problems.append(f"{where}: shape {a.shape} vs {v.shape}")
        recorded = entry.get("source_dtype", np.dtype(a.dtype).str)
        if recorded != json.loads(json.dumps(dtype_record(v.dtype))):  # as JSON: tuples are lists
            problems.append(f"{where}: dtype {recorded} vs {dtype_record(v.dtype)}")
        _compare_attrs(where, v.attrs, restore_attrs(dict(a.attrs), record, v.path,
                                                     v.dtype if v.kind == "numeric" else None), problems)
        if v.hdf5_fillvalue is not None and entry.get("hdf5_fillvalue") != fill_bytes(v):
            problems.append(f"{where}: HDF5 fill value differs ({v.hdf5_fillvalue!r} in the source)")


def _compare_attrs(where: str, source: dict, stored: dict, problems: list) -> None:
    for key in sorted(set(source) ^ set(stored)):
        problems.append(f"{where}: attribute {key} is in the {'source' if key in source else '.b2b'} only")
    for key in source:
        if key in stored:
            value = stored[key]
            if not same_value(source[key], value):
                problems.append(f"{where}: attribute {key} is {value!r:.80} in the .b2b, {source[key]!r:.80} in the source")


def verify(paths: list[str], formats: list[str], dst, *, arrays=None, progress=True,
           progress_every: int = 0, raise_on_mismatch: bool = True,
           unreadable: list[dict] = ()) -> VerifyReport:
    """Compare sources with the .b2b: structure, and every value of every variable (or of
    ``arrays`` only), bit-exact with NaN equal to NaN, or within the stored error bound.
    ``unreadable``: inputs whose format could not be read; fine only if transform skipped them."""
    import zarr
    from .container import open_store
    dst = _b2b_path(dst) if not os.path.exists(os.fspath(dst)) else os.fspath(dst)
    tag, records = _stored_record(dst)
    report = VerifyReport(source=", ".join(paths) if len(paths) < 4 else f"{len(paths)} files", b2b=dst)
    by_file = {r["file"]: r for r in records}
    files = {os.path.basename(p.rstrip("/")): (p, f) for p, f in zip(paths, formats)}
    skipped = {s["file"]: s["error"] for s in tag.get("skipped", [])}
    for bad in unreadable:
        if bad["file"] in skipped:
            report.notes.append(f"{bad['file']} was skipped at transform: {skipped[bad['file']]}")
        else:
            report.problems.append(f"{bad['file']}: cannot be read: {bad['error']}")
    for f in sorted(set(files) - set(by_file)):
        if f in skipped:
            report.notes.append(f"{f} was skipped at transform: {skipped[f]}")
        else:
            report.problems.append(f"{f}: in the sources, not in the .b2b")
    if arrays is None:
        report.problems += [f"{f}: in the .b2b, not among the sources" for f in sorted(set(by_file) - set(files))]
    store = open_store(dst)
    try:
        root = zarr.open_group(store=store, mode="r")
        work = []
        for f in sorted(set(files) & set(by_file)):
            path, fmt = files[f]
            record = by_file[f]
            tree = sources.scan(path, fmt)
            if arrays is None:
                _compare_structure(tree, record, root, report)
            for v in tree.variables:
                name = v.path or "data"
                if arrays is not None and name not in arrays and f"{record['group']}/{name}" not in arrays:
                    continue
                array = f"{record['group']}/{name}"
                if array not in root:
                    continue
                stored = root[array]
                if stored.shape != v.shape:
                    continue
                codec = _codec_config(stored)
                q = float(codec.get("quantize_scale", 0))
                fills = tuple(float(x) for k in ("_FillValue", "missing_value") if v.attrs.get(k) is not None
                              for x in np.atleast_1d(v.attrs[k]).reshape(-1)[:8]) if v.dtype.kind in "fc" else ()
                entry = record.get("variables", {}).get(v.path, {})
                tasks = [CompareTask(path, fmt, v.path, start, stop, dst, array, v.kind,
                                     entry.get("source_dtype", v.dtype.str), fills)
                         for _, start, stop in (_windows(v.shape, stored.chunks) if v.shape else [((), (), ())])]
                work.append((array, q / 2 if q else None, tasks))
        if arrays is not None:
            found = {a for a, _, _ in work} | {a.split("/", 1)[1] for a, _, _ in work}
            missing = [a for a in arrays if a not in found]
            if missing:
                raise InvalidArgumentError(f"{dst}: no array named {', '.join(missing)}")
        total = sum(len(t) for _, _, t in work)
        tick, close = ticker(progress, total, "verify", "chunk")
        done = 0
        try:
            for array, bound, tasks in work:
                equal, err, fills = True, 0.0, 0
                for e, m, n in run_tasks(compare_chunk, tasks):
                    equal, err, fills = equal and e, max(err, m), fills + n
                    tick(1)
                    done += 1
                    if progress_every and done % progress_every == 0:
                        print(f"verify: {done}/{total} chunks", flush=True)
                report.bands.append(BandReport(array, equal, err, bound, fills))
        finally:
            close()
    finally:
        store.close()
        sources.close_all()
        _b2b_root.cache_clear()
    if raise_on_mismatch and not report.ok:
        raise VerificationError(report)
    return report


def _codec_config(arr) -> dict:
    for codec in arr.metadata.codecs:
        d = codec.to_dict()
        if d.get("name") == "byte2bit":
            return d.get("configuration", {})
    return {}
