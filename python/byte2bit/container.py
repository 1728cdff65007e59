"""The .b2b container: a Zarr v3 hierarchy, as one zip file (stored entries) or a directory.

Layouts (see codec/CONTAINER.md): a single array is the array "data" in a root group whose
attribute ``byte2bit.layout`` is "array"; an archive holds named arrays (names may contain "/")
under a root group with layout "archive". Every write goes to a temporary name beside the target
and is renamed into place only when complete.
"""
from __future__ import annotations

import asyncio
import json
import contextlib
import math
import os
import shutil
import tempfile
import threading
import warnings
import zipfile
from collections.abc import Iterator, Mapping

import numpy as np
import zarr

from zarr.storage import WrapperStore

from .core import _check_options, codec_dtype
from .errors import BufferMismatchError, Byte2BitError, CorruptDataError, InvalidArgumentError
from .inspection import Inspection, inspect_byte2bit  # noqa: F401  (part of the container API)
from .integrity import (ATTRIBUTE, CONTAINER_VERSION, MANIFEST_KEY, MAX_JSON_BYTES, Container, crc32, manifest_document,
                        valid_key)
from .zarr_codec import Byte2BitZarrV3Codec

ARRAY_NAME = "data"
TILE = 512                  # raster-like arrays: 512 x 512 chunks, like a COG
CHUNK_BYTES = 1 << 20       # 1-D arrays: chunks of about 1 MiB


def default_chunks(shape: tuple[int, ...], itemsize: int) -> tuple[int, ...]:
    """Chunking for an array: image planes in 512 x 512 tiles, leading axes one plane at a time."""
    if not shape:
        return ()
    if len(shape) == 1:
        return (max(1, min(shape[0], CHUNK_BYTES // max(1, itemsize))),)
    lead = tuple(1 for _ in shape[:-2])
    return lead + tuple(max(1, min(s, TILE)) for s in shape[-2:])


# ---------------------------------------------------------------------------------------------
# Opening (checked) and atomic writing (with a manifest)


class CheckedStore(WrapperStore):
    """A read-only zarr store over a .b2b that serves only what the container's integrity allows:
    every key is checked against the manifest (size and CRC-32), a missing chunk is an error rather
    than Zarr's fill value, and nothing larger than its content can be is read.

    ``zarr.open_group(byte2bit.open_store(path))`` and ``xarray.open_zarr(byte2bit.open_store(path))``
    read a .b2b with these checks; ``zarr.open(path)`` alone cannot tell a lost chunk from an empty one.
    """

    def __init__(self, store, container: Container):
        super().__init__(store)
        self.container = container
        # chunk key prefixes ("band_1/c/", "c/" for a root array) -> largest stream a chunk can be
        self._limits = {(f"{name}/c/" if name else "c/"): meta.max_chunk_bytes
                        for name, meta in container.arrays.items()}

    def _chunk_limit(self, key: str):
        best = None
        for prefix, limit in self._limits.items():
            if key.startswith(prefix) and (best is None or len(prefix) > len(best[0])):
                best = (prefix, limit)
        return best[1] if best else None

    async def get(self, key, prototype, byte_range=None):
        c = self.container
        limit = self._chunk_limit(key)
        if not c.listed(key):
            if limit is not None and c.version >= 2:
                raise CorruptDataError(f"{c.path}: missing chunk {key}")
            return None
        data = await asyncio.to_thread(c.read, key, limit if limit is not None else MAX_JSON_BYTES)
        if byte_range is not None:
            data = _slice(data, byte_range)
        return prototype.buffer.from_bytes(data)

    async def get_partial_values(self, prototype, key_ranges):
        return [await self.get(key, prototype, byte_range) for key, byte_range in key_ranges]

    async def exists(self, key: str) -> bool:
        return self.container.listed(key)

    def close(self) -> None:
        super().close()
        self.container.close()


def _slice(data: bytes, byte_range) -> bytes:
    from zarr.abc.store import OffsetByteRequest, RangeByteRequest, SuffixByteRequest
    if isinstance(byte_range, RangeByteRequest):
        return data[byte_range.start:byte_range.end]
    if isinstance(byte_range, OffsetByteRequest):
        return data[byte_range.offset:]
    if isinstance(byte_range, SuffixByteRequest):
        return data[-byte_range.suffix:] if byte_range.suffix else b""
    raise InvalidArgumentError(f"unsupported byte range {byte_range!r}")


def open_store(path) -> CheckedStore:
    """A checked, read-only zarr store over a .b2b (zip or directory); see ``CheckedStore``."""
    path = os.fspath(path)
    container = Container(path)
    try:
        container.raise_problems()
        for w in container.warnings:
            warnings.warn(f"{path}: {w}", stacklevel=3)
        if container.form == "directory":
            store = zarr.storage.LocalStore(path, read_only=True)
        else:
            store = zarr.storage.ZipStore(path, mode="r")
    except BaseException:
        container.close()
        raise
    return CheckedStore(store, container)


@contextlib.contextmanager
def _open_store(path):
    store = open_store(path)
    try:
        yield store
    finally:
        store.close()


class _ManifestWriter(WrapperStore):
    """Records the size and CRC-32 of every key written, for the manifest written last."""

    def __init__(self, store):
        super().__init__(store)
        self.entries: dict[str, tuple[int, int]] = {}
        # After a failure, zarr's other chunk writes still run on its event loop. None may reach
        # the store once it is closed and its temporary removed (a ZipStore would recreate the
        # file), so `finish` stops new writes and waits for those already under way.
        self.finished = False
        self._writing = 0
        self._idle = threading.Condition()

    async def set(self, key, value) -> None:
        with self._idle:
            if self.finished:
                raise Byte2BitError(f"the write of {key} came after the .b2b was finished")
            self._writing += 1
        try:
            if key in self.entries and isinstance(self._store, zarr.storage.ZipStore):
                raise Byte2BitError(f"internal error: {key} written twice into a zip .b2b")
            data = value.to_bytes()
            self.entries[key] = (len(data), crc32(data))
            await self._store.set(key, value)
        finally:
            with self._idle:
                self._writing -= 1
                self._idle.notify_all()

    def finish(self) -> None:
        """No more writes; returns when the ones under way are over (at most a minute)."""
        with self._idle:
            self.finished = True
            self._idle.wait_for(lambda: self._writing == 0, timeout=60)

    async def set_if_not_exists(self, key, value) -> None:
        if key not in self.entries:
            await self.set(key, value)

    def write_manifest(self) -> None:
        from zarr.core.buffer import default_buffer_prototype
        from zarr.core.sync import sync
        doc = manifest_document(self.entries)
        sync(self._store.set(MANIFEST_KEY, default_buffer_prototype().buffer.from_bytes(doc)))


@contextlib.contextmanager
def _atomic_store(path: str, form: str):
    """A store at a temporary name beside ``path``, renamed into place when the block succeeds;
    on any failure (a full disk included) the temporary file or directory is removed."""
    path = os.path.abspath(os.fspath(path))
    if form not in ("zip", "directory"):
        raise InvalidArgumentError(f"form must be 'zip' or 'directory', got {form!r}")
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    base = os.path.basename(path)
    if form == "zip":
        fd, tmp = tempfile.mkstemp(prefix=f".{base}.", suffix=".tmp", dir=parent)
        os.close(fd)
        os.unlink(tmp)
        store = zarr.storage.ZipStore(tmp, mode="w")
    else:
        tmp = tempfile.mkdtemp(prefix=f".{base}.", suffix=".tmp", dir=parent)
        store = zarr.storage.LocalStore(tmp)
    writer = _ManifestWriter(store)
    try:
        # Every chunk is written, also one equal to the fill value: a missing chunk is then an error.
        with zarr.config.set({"array.write_empty_chunks": True}):
            yield writer
        writer.write_manifest()
        writer.finish()
        store.close()
        _replace(tmp, path)
    except BaseException:
        writer.finish()
        with contextlib.suppress(Exception):
            store.close()  # may fail again (a full disk): the cleanup below must still run
        if os.path.isdir(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            _unlink(tmp)
        raise


def array_document(shape, dtype, serializer: dict, attrs: dict, chunks=None) -> bytes:
    """A Zarr v3 array's zarr.json, for writers that put keys themselves (GRIB, checkpoints):
    one chunk unless ``chunks`` is given, the serializer ``{"name": ..., "configuration": ...}``."""
    dtype = np.dtype(dtype)
    doc = {"zarr_format": 3, "node_type": "array", "shape": list(shape), "data_type": dtype.name,
           "chunk_grid": {"name": "regular", "configuration": {
               "chunk_shape": list(chunks or [max(1, s) for s in shape])}},
           "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
           "fill_value": 0.0 if dtype.kind == "f" else False if dtype.kind == "b" else 0,
           "codecs": [serializer], "attributes": attrs}
    return json.dumps(doc, allow_nan=False, separators=(",", ":")).encode()


def whole_chunk_key(array: str, ndim: int) -> str:
    """The key of the one chunk of an ``array_document`` array ("name/c" for a scalar)."""
    return f"{array}/c" + "/0" * ndim


def group_document(attrs: dict | None = None) -> bytes:
    return json.dumps({"zarr_format": 3, "node_type": "group", "attributes": attrs or {}}, indent=2).encode()


class ContainerWriter:
    """Writes a .b2b key by key, in the order given, to a temporary name beside ``path``; ``finish``
    adds the manifest and renames it into place, ``abort`` (or leaving the ``with`` block on an
    error) removes it. A zip gets fixed entry dates, so the same keys give the same bytes: a run on
    a Dask cluster writes the file a sequential run writes."""

    ZIP_DATE = (1980, 1, 1, 0, 0, 0)

    def __init__(self, path, form: str = "zip", durable: bool = True):
        self.durable = durable  # fsync the file and its folder before and after the rename
        if form not in ("zip", "directory"):
            raise InvalidArgumentError(f"form must be 'zip' or 'directory', got {form!r}")
        self.path = os.path.abspath(os.fspath(path))
        self.form = form
        self.entries: dict[str, tuple[int, int]] = {}
        parent, base = os.path.dirname(self.path), os.path.basename(self.path)
        if not os.path.isdir(parent):
            raise InvalidArgumentError(f"folder {parent} does not exist")
        if form == "zip":
            fd, self.tmp = tempfile.mkstemp(prefix=f".{base}.", suffix=".tmp", dir=parent)
            self._file = os.fdopen(fd, "w+b")
            self._zip = zipfile.ZipFile(self._file, "w", compression=zipfile.ZIP_STORED, allowZip64=True)
        else:
            self.tmp = tempfile.mkdtemp(prefix=f".{base}.", suffix=".tmp", dir=parent)
            self._zip = None

    def put(self, key: str, data: bytes) -> None:
        if key in self.entries or not valid_key(key):
            raise Byte2BitError(f"internal error: key {key!r} repeated or invalid")
        self.entries[key] = (len(data), crc32(data))
        self._write(key, data)

    def _write(self, key: str, data: bytes) -> None:
        if self._zip is not None:
            info = zipfile.ZipInfo(key, date_time=self.ZIP_DATE)
            info.create_system, info.external_attr = 3, 0o644 << 16
            self._zip.writestr(info, data)
        else:
            full = os.path.join(self.tmp, *key.split("/"))
            os.makedirs(os.path.dirname(full), exist_ok=True)
            with open(full, "wb") as f:
                f.write(data)

    def forget(self, keys) -> None:
        """Leave keys out of the manifest (a source that failed half-way): readers then never see
        them; a directory loses their files, a zip keeps their bytes unreferenced."""
        for key in keys:
            del self.entries[key]
            if self._zip is None:
                _unlink(os.path.join(self.tmp, *key.split("/")))

    def finish(self) -> str:
        self._write(MANIFEST_KEY, manifest_document(self.entries))
        if self._zip is not None:
            self._zip.close()
            self._file.flush()
            if self.durable:
                os.fsync(self._file.fileno())
            self._file.close()
        _replace(self.tmp, self.path)
        if self.durable:  # the rename itself reaches the disk with its folder
            fd = os.open(os.path.dirname(self.path), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        return self.path

    def abort(self) -> None:
        if self._zip is not None:
            with contextlib.suppress(Exception):
                self._zip.close()
            with contextlib.suppress(Exception):
                self._file.close()
            _unlink(self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *_):
        if exc_type is not None:
            self.abort()


def _unlink(p: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(p)


def _replace(tmp: str, path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        old = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.", suffix=".old", dir=os.path.dirname(path))
        os.rmdir(old)
        os.rename(path, old)
        os.rename(tmp, path)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, path)


# ---------------------------------------------------------------------------------------------
# Writing arrays


def _write_array(group, name: str, array: np.ndarray, compression_level: int, quantize_scale: float,
                 chunks=None, progress=None) -> None:
    a = np.asarray(array)
    if a.dtype.byteorder == ">":
        a = a.astype(a.dtype.newbyteorder("="))
    codec_dtype(a.dtype)
    chunks = tuple(chunks) if chunks is not None else default_chunks(a.shape, a.dtype.itemsize)
    arr = group.create_array(
        name, shape=a.shape, chunks=chunks, dtype=a.dtype,
        serializer=Byte2BitZarrV3Codec(compression_level=compression_level, quantize_scale=quantize_scale),
        compressors=None, filters=None, fill_value=None,
        dimension_names=[f"dim_{i}" for i in range(a.ndim)] or None,
    )
    if a.size == 0:
        return
    if a.ndim == 0:
        arr[...] = a
        if progress:
            progress(a.nbytes)
        return
    # Slabs of whole chunk rows along axis 0: zarr encodes the chunks of a slab concurrently.
    per_row = math.prod(math.ceil(s / c) for s, c in zip(a.shape[1:], chunks[1:]))
    step = chunks[0] * max(1, math.ceil(16 / max(1, per_row)))
    for start in range(0, a.shape[0], step):
        slab = a[start:start + step]
        arr[start:start + step] = slab
        if progress:
            progress(slab.nbytes)


def _root_group(store, layout: str):
    # Attributes go in at creation: a zip entry cannot be rewritten.
    return zarr.create_group(store=store, zarr_format=3,
                             attributes={ATTRIBUTE: {"layout": layout, "format_version": CONTAINER_VERSION}})


def save_byte2bit(path, array, compression_level: int = 4, quantize_scale: float = 0, *,
                  chunks=None, form: str | None = None, progress=None) -> None:
    """Save one array as a .b2b (a zip file by default; ``form="directory"`` for a directory).

    Missing parent folders are created. ``progress``, if given, is called with the number of raw
    bytes written after each slab of chunks.
    """
    _check_options(compression_level, quantize_scale, None)
    array = np.asarray(array)
    with _atomic_store(path, form or "zip") as store:
        root = _root_group(store, "array")
        _write_array(root, ARRAY_NAME, array, compression_level, quantize_scale, chunks, progress)


def save_archive(path, arrays: Mapping[str, np.ndarray], compression_level: int = 4,
                 quantize_scale: float = 0, *, form: str | None = None, progress=None) -> None:
    """Save named arrays into one .b2b archive. Names may contain "/" to form groups."""
    _check_options(compression_level, quantize_scale, None)
    with _atomic_store(path, form or "zip") as store:
        root = _root_group(store, "archive")
        for name, array in arrays.items():
            _check_name(name)
            a = np.asarray(array)
            q = quantize_scale if a.dtype.kind in "fc" else 0
            level = 1 if q else compression_level
            _write_array(root, name, a, level, q, None, progress)


def _check_name(name: str) -> None:
    # "__" names are reserved (the manifest); a name becomes zarr keys, so no control characters.
    if not isinstance(name, str) or not valid_key(name) or any(p.startswith("__") for p in name.split("/")):
        raise InvalidArgumentError(f"invalid array name {name!r}")


# ---------------------------------------------------------------------------------------------
# Reading


def _layout(root) -> str:
    meta = root.attrs.get(ATTRIBUTE)
    if not isinstance(meta, dict) or "layout" not in meta:
        return "zarr"
    return str(meta["layout"])


def _single_array(root, path):
    if _layout(root) != "array" or ARRAY_NAME not in root:
        raise Byte2BitError(f"{path} is not a single-array .b2b (use open_archive for archives)")
    return root[ARRAY_NAME]


def _read_into(arr, out: np.ndarray, progress=None) -> None:
    if arr.ndim == 0 or arr.size == 0:
        out[...] = arr[...]
        return
    step = arr.chunks[0] * max(1, math.ceil(16 / max(1, math.prod(
        math.ceil(s / c) for s, c in zip(arr.shape[1:], arr.chunks[1:])))))
    for start in range(0, arr.shape[0], step):
        out[start:start + step] = arr[start:start + step]
        if progress:
            progress(out[start:start + step].nbytes)


def _read_checked(path, arr, out: np.ndarray, progress=None) -> np.ndarray:
    """Reads arr into out; when a chunk fails, the error names the chunk(s) at fault."""
    try:
        _read_into(arr, out, progress)
    except CorruptDataError as e:
        if os.fspath(path) in str(e):
            raise
        problems = [p for a in inspect_byte2bit(path).arrays if a.name == arr.path for p in a.problems]
        raise type(e)(f"{os.fspath(path)}: {'; '.join(problems[:3]) or e}") from e
    return out


def load_byte2bit(path, progress=None) -> np.ndarray:
    """Load the array of a single-array .b2b."""
    with _open_store(path) as store:
        arr = _single_array(zarr.open_group(store=store, mode="r"), path)
        return _read_checked(path, arr, np.empty(arr.shape, dtype=arr.dtype), progress)


def load_byte2bit_into(path, out: np.ndarray, progress=None) -> np.ndarray:
    """Load the array of a single-array .b2b into ``out``, which must match its dtype and shape."""
    with _open_store(path) as store:
        arr = _single_array(zarr.open_group(store=store, mode="r"), path)
        if not isinstance(out, np.ndarray):
            raise BufferMismatchError(f"out must be a numpy array, got {type(out).__name__}")
        if out.dtype.newbyteorder("=") != arr.dtype:
            raise BufferMismatchError(f"out has dtype {out.dtype}, {path} holds {arr.dtype}")
        if out.shape != arr.shape:
            raise BufferMismatchError(f"out has shape {out.shape}, {path} holds shape {arr.shape}")
        return _read_checked(path, arr, out, progress)


class Archive(Mapping):
    """A .b2b archive opened for lazy reading: arrays are decoded only when asked for."""

    def __init__(self, path):
        self.path = os.fspath(path)
        self._stack = contextlib.ExitStack()
        store = self._stack.enter_context(_open_store(self.path))
        self._root = zarr.open_group(store=store, mode="r")
        self._names = sorted(_array_names(self._root))

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self._names:
            raise KeyError(name)
        arr = self._root[name]
        return _read_checked(self.path, arr, np.empty(arr.shape, dtype=arr.dtype))

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def info(self, name: str) -> dict:
        arr = self._root[name]
        return {"dtype": str(arr.dtype), "shape": arr.shape, "chunks": arr.chunks}

    def close(self) -> None:
        self._stack.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _array_names(group) -> list[str]:
    names = [name for name, _ in group.arrays()]
    for gname, g in group.groups():
        if not gname.startswith("__"):  # reserved: the manifest
            names += [f"{gname}/{n}" for n in _array_names(g)]
    return names


def open_archive(path) -> Archive:
    return Archive(path)


def list_archive(path) -> list[str]:
    with Archive(path) as a:
        return list(a)


def load_archive(path) -> dict[str, np.ndarray]:
    with Archive(path) as a:
        return {name: a[name] for name in a}
