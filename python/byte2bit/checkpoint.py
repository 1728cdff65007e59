"""ML checkpoints (``.b2b.ckpt``): named tensors and JSON metadata in the project's container, layout
"checkpoint" (codec/CONTAINER.md). Floating-point tensors are coded by their byte planes
(``planes.py``), everything else by the codec; nothing is ever unpickled. Saves are atomic (temporary
name, fsync, rename) and can store a CRC-32 of each tensor's raw bytes, checked on load.
"""
from __future__ import annotations

import json
import math
import os
import zlib
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from . import planes
from .container import ContainerWriter, array_document, group_document, whole_chunk_key
from .core import LEVELS, decode_array, encode_array, inspect_stream
from .errors import Byte2BitError, CorruptDataError, InvalidArgumentError, LimitExceededError
from .integrity import ATTRIBUTE, CONTAINER_VERSION, Container

LAYOUT = "checkpoint"
FLOATS = {"float16", "float32", "float64", "bfloat16"}
INTEGERS = {"bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"}
MAX_TENSOR_BYTES = 1 << 36  # 64 GiB: a larger declared tensor is refused unless the caller raises it


def _bfloat16():
    try:
        import ml_dtypes
    except ImportError:
        raise Byte2BitError("bfloat16 tensors need ml_dtypes (pip install ml_dtypes)") from None
    return np.dtype(ml_dtypes.bfloat16)


def _as_numpy(name: str, tensor) -> tuple[np.ndarray, str]:
    """(array, dtype name); torch tensors are taken when torch is what they come from."""
    if type(tensor).__module__.startswith("torch"):
        import torch
        t = tensor.detach().cpu().contiguous()
        if t.dtype == torch.bfloat16:
            return t.view(torch.int16).numpy().view(np.uint16), "bfloat16"
        tensor = t.numpy()
    a = np.asarray(tensor)
    if a.dtype.name == "bfloat16":
        return a.view(np.uint16), "bfloat16"
    if a.dtype.name not in FLOATS | INTEGERS:
        raise InvalidArgumentError(f"tensor {name!r}: dtype {a.dtype} is not supported (floating point, integers "
                                   "and bool are)")
    return a, a.dtype.name


def _check_name(name) -> str:
    if not isinstance(name, str) or not name or ".." in name.split("/") or "\x00" in name:
        raise InvalidArgumentError(f"tensor name {name!r}: a non-empty string without '..' parts or NUL")
    return name


def save_ml_checkpoint(path, tensors: Mapping, metadata: Mapping | None = None, compression_level: int = 4,
                       quantize_scale: float = 0, atomic: bool = True, checksum: bool = False) -> str:
    """Write ``tensors`` (names to numpy arrays, ml_dtypes bfloat16 arrays or torch tensors) and
    JSON ``metadata`` to ``path``; returns the path. ``quantize_scale > 0`` is error-bounded on
    floating-point tensors (integers are always lossless). ``checksum`` stores a CRC-32 of each
    tensor's raw bytes, checked on load. The file is written under a temporary name and renamed,
    so it appears complete or not at all and a previous checkpoint at ``path`` survives a failed
    or killed save; ``atomic`` (the default) also fsyncs the file and its folder, so that a power
    cut cannot lose it either (``atomic=False`` skips that cost)."""
    level = int(compression_level)
    if level not in LEVELS:
        raise InvalidArgumentError(f"compression_level must be one of 0, 1, 2, 4, got {compression_level!r}")
    q = float(quantize_scale)
    if not (math.isfinite(q) and q >= 0):
        raise InvalidArgumentError(f"quantize_scale must be 0 or a positive number, got {quantize_scale!r}")
    if not isinstance(tensors, Mapping):
        raise InvalidArgumentError("tensors must be a mapping of names to arrays")
    try:
        meta_json = json.loads(json.dumps({} if metadata is None else metadata, allow_nan=False))
    except (TypeError, ValueError) as e:
        raise InvalidArgumentError(f"metadata must be JSON-serialisable ({e})") from None
    if not isinstance(meta_json, dict):
        raise InvalidArgumentError("metadata must be a mapping")
    index = []
    with ContainerWriter(os.fspath(path), "zip", durable=atomic) as out:
        for n, (name, tensor) in enumerate(tensors.items()):
            a, dtype = _as_numpy(_check_name(name), tensor)
            a = a if a.flags.c_contiguous else a.copy()  # (ascontiguousarray would make a scalar 1-D)
            key = f"tensors/t{n:06d}"
            attrs = {"name": name, "dtype": dtype}
            if checksum:
                attrs["crc32"] = zlib.crc32(a.reshape(-1).view(np.uint8))
            tq = q if dtype in FLOATS and dtype != "bfloat16" else 0.0  # the codec has no bfloat16
            if dtype in FLOATS and not tq:
                serializer = {"name": "byte2bit_planes", "configuration": {"compression_level": level}}
            else:
                serializer = {"name": "byte2bit", "configuration": {"compression_level": 1 if tq else level,
                                                                    "quantize_scale": tq}}
            if tq:
                attrs["quantize_scale"] = tq
            out.put(f"{key}/zarr.json", array_document(a.shape, a.dtype, serializer, attrs))
            if a.size:  # an empty tensor has no chunk; a scalar's chunk is "c"
                stream = planes.encode(a, level) if serializer["name"] == "byte2bit_planes" else \
                    encode_array(a, 1 if tq else level, tq)
                out.put(whole_chunk_key(key, a.ndim), stream)
            index.append({"name": name, "key": key, "dtype": dtype, "shape": list(a.shape)})
        names = [e["name"] for e in index]
        if len(set(names)) != len(names):
            raise InvalidArgumentError("tensor names repeat")
        out.put("tensors/zarr.json", group_document())
        out.put("zarr.json", group_document({ATTRIBUTE: {"layout": LAYOUT, "format_version": CONTAINER_VERSION,
                                                          "metadata": meta_json, "tensors": index}}))
        return out.finish()


class Checkpoint(Mapping):
    """A checkpoint opened lazily: names, shapes and dtypes come from its metadata; a tensor's bytes
    are read and decoded (and its checksum checked) when it is asked for."""

    def __init__(self, path, max_tensor_bytes: int = MAX_TENSOR_BYTES):
        self.container = Container(path)
        self.path = self.container.path
        try:
            tag = self.container.docs[""].get("attributes", {}).get(ATTRIBUTE, {})
            if not isinstance(tag, dict) or tag.get("layout") != LAYOUT:
                raise InvalidArgumentError(f"{path} is not a checkpoint (layout "
                                           f"{tag.get('layout', 'zarr') if isinstance(tag, dict) else 'zarr'})")
            self.container.raise_problems()
            self.metadata = tag.get("metadata", {})
            self._index = {}
            for e in tag.get("tensors", []):
                name, key = e.get("name"), e.get("key")
                _check_name(name)
                meta = self.container.arrays.get(str(key))
                if meta is None or name in self._index:
                    raise CorruptDataError(f"{self.path}: tensor {name!r} has no array (or is listed twice)")
                attrs = self.container.docs[key].get("attributes", {})
                if attrs.get("name") != name or attrs.get("dtype") not in FLOATS | INTEGERS:
                    raise CorruptDataError(f"{self.path}: tensor {name!r}: its array describes another tensor")
                if math.prod(meta.shape) * meta.dtype.itemsize > max_tensor_bytes:
                    raise LimitExceededError(f"{self.path}: tensor {name!r} declares {meta.shape}, more than "
                                             f"max_tensor_bytes={max_tensor_bytes:,}")
                self._index[name] = (meta, attrs)
        except BaseException:
            self.container.close()
            raise

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self._index:
            raise KeyError(name)
        meta, attrs = self._index[name]
        out = np.empty(meta.shape, meta.dtype)
        if out.size:
            data = self.container.read(next(meta.chunk_keys()), meta.max_chunk_bytes)
            try:
                if meta.serializer == "byte2bit_planes":
                    planes.decode(data, out, verify=self.container.manifest is None)  # read() checked its CRC
                elif meta.serializer == "byte2bit":
                    info = inspect_stream(data, verify_checksum=False)
                    if math.prod(info["shape"]) != out.size or info["item_size"] != out.dtype.itemsize:
                        raise CorruptDataError(f"holds {info['dtype']} {tuple(info['shape'])}")
                    decode_array(data, out=out)
                else:
                    raise CorruptDataError(f"unknown serializer {meta.serializer!r}")
            except Byte2BitError as e:
                raise CorruptDataError(f"{self.path}: tensor {name!r}: {e}") from None
        if "crc32" in attrs and zlib.crc32(out.reshape(-1).view(np.uint8)) != attrs["crc32"]:
            raise CorruptDataError(f"{self.path}: tensor {name!r}: its checksum does not match; the tensor is damaged")
        return out.view(_bfloat16()) if attrs["dtype"] == "bfloat16" else out

    def info(self, name: str) -> dict:
        meta, attrs = self._index[name]
        return {"shape": meta.shape, "dtype": attrs["dtype"], "checksum": "crc32" in attrs,
                "stored_bytes": self.container.sizes.get(next(meta.chunk_keys(), None), 0)}

    def __contains__(self, name) -> bool:  # Mapping's would decode the tensor
        return name in self._index

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)

    def close(self) -> None:
        self.container.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def open_ml_checkpoint(path, max_tensor_bytes: int = MAX_TENSOR_BYTES) -> Checkpoint:
    """The checkpoint at ``path`` as a lazy mapping of names to tensors (see ``Checkpoint``)."""
    return Checkpoint(path, max_tensor_bytes)


def _torch():
    try:
        import torch
    except ImportError:
        raise Byte2BitError("as_torch=True needs PyTorch (pip install torch); without it, tensors load as "
                            "numpy arrays") from None
    return torch


def _to_torch(a: np.ndarray):
    torch = _torch()
    if a.dtype.name == "bfloat16":
        return torch.from_numpy(a.view(np.int16)).view(torch.bfloat16)
    return torch.from_numpy(a)


def load_ml_checkpoint(path, names=None, as_torch: bool = False, max_tensor_bytes: int = MAX_TENSOR_BYTES) -> dict:
    """``{"tensors": {name: array}, "metadata": {...}}``; ``names`` loads only those tensors
    (reading only their bytes), ``as_torch`` gives torch tensors."""
    if as_torch:
        _torch()  # before reading anything
    with Checkpoint(path, max_tensor_bytes) as ckpt:
        wanted = list(ckpt) if names is None else list(names)
        missing = [n for n in wanted if n not in ckpt]
        if missing:
            raise KeyError(f"{path}: no tensor {', '.join(map(repr, missing[:5]))}")
        with ThreadPoolExecutor(max(1, min(8, os.cpu_count() or 1))) as pool:  # the codec releases the GIL
            tensors = dict(zip(wanted, pool.map(ckpt.__getitem__, wanted)))
        metadata = ckpt.metadata
    if as_torch:
        tensors = {k: _to_torch(v) for k, v in tensors.items()}
    return {"tensors": tensors, "metadata": metadata}
