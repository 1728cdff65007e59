"""Scientific sources (NetCDF, HDF5, Zarr) as one neutral description, read chunk by chunk.

A reader module per source family turns a file into a ``SourceTree``: its groups (attributes,
dimensions) and variables (dimension names, shape, dtype, raw attributes, chunking), with CF
encodings left as they are (packed integers stay integers, ``_FillValue`` stays an attribute).
``read(path, fmt, variable, slices)`` reads one window; it opens the file once per process, so the
same call runs in a thread, a Dask worker or a ``dask.distributed`` worker on another machine.
"""
from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass, field

import numpy as np

from ..errors import Byte2BitError

# NetCDF-C and HDF5 are not thread-safe: one lock for every read through them in this process.
LIBRARY_LOCK = threading.RLock()


class SourceError(Byte2BitError):
    """A source file cannot be read: truncated, damaged or not what its content claimed."""


@dataclass
class Variable:
    path: str                       # "group/sub/name" inside the file
    dims: tuple[str, ...]
    shape: tuple[int, ...]
    dtype: np.dtype                 # as stored in the source (no CF decoding)
    attrs: dict
    chunks: tuple[int, ...] | None  # the source's chunking; None when contiguous
    kind: str = "numeric"           # "numeric", "bytes", "compound" or "vlen-str"
    hdf5_fillvalue: object = None   # HDF5's own fill value property (plain HDF5 only)

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]


@dataclass
class Group:
    path: str                                   # "" for the root
    attrs: dict
    dims: dict[str, tuple[int, bool]] = field(default_factory=dict)  # name -> (size, unlimited)


@dataclass
class SourceTree:
    path: str
    format: str                                 # "netcdf3", "netcdf4", "hdf5", "zarr"
    groups: list[Group]
    variables: list[Variable]

    def variable(self, path: str) -> Variable:
        for v in self.variables:
            if v.path == path:
                return v
        raise KeyError(path)


def kind_of(dtype) -> str:
    dt = np.dtype(dtype)
    if dt.fields is not None:
        return "compound"
    if dt.kind == "O":
        return "vlen-str"
    if dt.kind == "U":
        return "unicode"
    if dt.kind in "SV":
        return "bytes"
    return "numeric"


def _reader(fmt: str):
    if fmt in ("netcdf3", "netcdf4", "hdf5"):
        from . import netcdf_hdf5
        return netcdf_hdf5
    if fmt == "zarr":
        from . import zarr_store
        return zarr_store
    raise Byte2BitError(f"no reader for source format {fmt!r}")


def scan(path: str, fmt: str) -> SourceTree:
    """The description of a source file (nothing but metadata is read)."""
    try:
        return _reader(fmt).scan(path, fmt)
    except Byte2BitError:
        raise
    except (OSError, RuntimeError, ValueError, KeyError, TypeError, IndexError) as e:
        raise SourceError(f"{path}: cannot read it as {fmt.upper()}: {e}") from None


_HANDLES: dict[tuple, object] = {}  # files open in this process, by (path, format, stamp)


def _opened(path: str, fmt: str, stamp: tuple):
    key = (path, fmt, stamp)
    with LIBRARY_LOCK:
        if key not in _HANDLES:
            if len(_HANDLES) >= 8:
                close_all()
            _HANDLES[key] = _reader(fmt).open_file(path, fmt)
        return _HANDLES[key]


def close_all() -> None:
    """Close the files reads opened in this process (at the end of a transform or verify, so that
    nothing holds a source open, or locked for writing, afterwards)."""
    with LIBRARY_LOCK:
        for handle in _HANDLES.values():
            close = getattr(handle, "close", None) or getattr(getattr(handle, "store", None), "close", None)
            if close:
                try:
                    close()
                except Exception:  # noqa: BLE001 (closing is best effort)
                    pass
        _HANDLES.clear()


def read(path: str, fmt: str, variable: str, slices: tuple) -> np.ndarray:
    """One window of a variable, raw (as stored in the source)."""
    try:
        st = os.stat(path)
        handle = _opened(path, fmt, (st.st_mtime_ns, st.st_size, st.st_ino))
        return _reader(fmt).read(handle, variable, slices)
    except Byte2BitError:
        raise
    except (OSError, RuntimeError, ValueError, KeyError, TypeError, IndexError) as e:
        raise SourceError(f"{path}: cannot read {variable}{_window(slices)}: {e}") from None


def _window(slices) -> str:
    return "[" + ", ".join(f"{s.start}:{s.stop}" for s in slices) + "]" if slices else ""


def group_names(paths: list[str]) -> list[str]:
    """A group name per file: its name without suffix, made a valid key, unique."""
    names = []
    for p in paths:
        stem = os.path.basename(p.rstrip("/"))
        stem = os.path.splitext(stem)[0] if "." in stem[1:] else stem
        stem = re.sub(r"[^A-Za-z0-9_.+-]", "_", stem).lstrip("._") or "file"
        unique, n = stem, 2
        while unique in names:
            unique, n = f"{stem}_{n}", n + 1
        names.append(unique)
    return names
