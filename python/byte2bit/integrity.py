"""Integrity of a .b2b container (codec/CONTAINER.md, "Integrity"), reading keys without zarr-python.

``Container`` opens either form and reads its keys as stored, refusing what a .b2b never holds
(compressed or repeated zip entries, files that are not regular files, entries larger than their
content can be). It validates every ``zarr.json`` before anyone uses it, checks the manifest (every
key with its size and CRC-32) and lists the problems that would make a load fail: missing chunks,
entries that differ from the manifest, damaged metadata (including metadata zarr-python, which
loads the data, would refuse). Loaders raise on them; ``inspect`` reports them.
"""
from __future__ import annotations

import functools
import json
import math
import os
import stat
import threading
import zipfile
import zlib
from dataclasses import dataclass

import numpy as np

from .core import codec_dtype
from .errors import CorruptDataError, LimitExceededError, NotByte2BitError, UnsupportedVersionError

ATTRIBUTE = "byte2bit"
MANIFEST_GROUP = "__manifest__"
MANIFEST_KEY = "__manifest__/zarr.json"
# 1: the first layouts. 2: a manifest in every container, and every chunk of every array written.
CONTAINER_VERSION = 2
MAX_JSON_BYTES = 16 << 20       # one zarr.json (the manifest may be larger)
MAX_MANIFEST_BYTES = 256 << 20
MAX_JSON_DEPTH = 32
MAX_DIMENSIONS = 32


def crc32(data) -> int:
    return zlib.crc32(data) & 0xFFFFFFFF


def manifest_document(entries: dict[str, tuple[int, int]]) -> bytes:
    """The manifest group's zarr.json for keys -> (size, CRC-32)."""
    lines = "".join(f"{crc:08x} {size} {key}\n" for key, (size, crc) in entries.items())
    doc = {"zarr_format": 3, "node_type": "group", "attributes": {"byte2bit_manifest": {
        "version": 1, "entries": lines, "crc32": crc32(lines.encode())}}}
    return json.dumps(doc, indent=2).encode()


def parse_manifest(data: bytes, where: str) -> dict[str, tuple[int, int]]:
    try:
        m = loads_json(data, where)["attributes"]["byte2bit_manifest"]
        lines, crc = m["entries"], m["crc32"]
        if not isinstance(lines, str) or not isinstance(crc, int):
            raise TypeError
    except (KeyError, TypeError, CorruptDataError):
        raise CorruptDataError(f"{where}: {MANIFEST_KEY} is damaged") from None
    if crc32(lines.encode()) != crc:
        raise CorruptDataError(f"{where}: {MANIFEST_KEY} fails its CRC-32 check")
    out = {}
    for line in lines.splitlines():
        parts = line.split(" ", 2)
        try:
            crc_text, size_text, key = parts
            if len(crc_text) != 8 or key in out or not valid_key(key):
                raise ValueError
            out[key] = (int(size_text), int(crc_text, 16))
        except ValueError:
            raise CorruptDataError(f"{where}: {MANIFEST_KEY} lists an invalid or repeated key") from None
    if not out:
        raise CorruptDataError(f"{where}: {MANIFEST_KEY} lists no keys")
    return out


def valid_key(key: str) -> bool:
    return (bool(key) and len(key) <= 1024 and not key.startswith("/") and "\\" not in key
            and not any(ord(c) < 0x20 for c in key)
            and all(part not in ("", ".", "..") for part in key.split("/")))


def loads_json(data: bytes, where: str) -> dict:
    """A JSON object, refused with a clear error when malformed or absurdly nested."""
    depth = deepest = 0
    in_string = escaped = False
    # Nesting is counted before parsing (json's recursion has no clean limit), byte by byte only
    # when there are enough brackets to nest that deep: the manifest is one long string.
    brackets = data.count(b"[") + data.count(b"{") if isinstance(data, bytes) else MAX_JSON_DEPTH + 1
    for c in data if brackets > MAX_JSON_DEPTH else b"":
        if in_string:
            if escaped:
                escaped = False
            elif c == 0x5C:
                escaped = True
            elif c == 0x22:
                in_string = False
        elif c == 0x22:
            in_string = True
        elif c in (0x5B, 0x7B):
            depth += 1
            deepest = max(deepest, depth)
        elif c in (0x5D, 0x7D):
            depth -= 1
    if deepest > MAX_JSON_DEPTH:
        raise CorruptDataError(f"{where} nests deeper ({deepest}) than a .b2b description can")
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError) as e:
        raise CorruptDataError(f"{where} is not valid JSON ({e})") from None
    if not isinstance(doc, dict):
        raise CorruptDataError(f"{where} is not a JSON object")
    return doc


SERIALIZERS = ("byte2bit", "byte2bit_planes")  # ours: every chunk is one stream of ours


@dataclass
class ArrayMeta:
    """An array's zarr.json, validated: what reading it will rely on."""
    name: str
    shape: tuple[int, ...]
    chunks: tuple[int, ...]
    dtype: np.dtype
    data_type: object
    codec: dict | None          # the byte2bit codec's configuration, None for other serializers
    serializer: str | None = None  # "byte2bit" or "byte2bit_planes" (checkpoint weights)

    @property
    def chunk_count(self) -> int:
        return math.prod(math.ceil(s / c) for s, c in zip(self.shape, self.chunks)) if self.shape else 1

    @property
    def max_chunk_bytes(self) -> int:
        """Largest stream a chunk of this array can legitimately be."""
        raw = math.prod(self.chunks) * self.dtype.itemsize
        return raw + raw // 2 + 65536

    def chunk_keys(self):
        prefix = f"{self.name}/c" if self.name else "c"
        grid = [range(math.ceil(s / c)) for s, c in zip(self.shape, self.chunks)]
        for index in np.ndindex(*(len(g) for g in grid)) if grid else [()]:
            yield "/".join([prefix, *map(str, index)]) if index else prefix


def _int_list(value, what: str, positive: bool) -> tuple[int, ...]:
    if (not isinstance(value, list) or len(value) > MAX_DIMENSIONS
            or not all(isinstance(v, int) and not isinstance(v, bool) and (v > 0 if positive else v >= 0)
                       for v in value)):
        raise CorruptDataError(f"{what} must be a list of {'positive' if positive else 'non-negative'} integers, "
                               f"got {value!r:.80}")
    return tuple(value)


def array_meta(name: str, doc: dict, where: str) -> ArrayMeta:
    what = f"{where}: array {name or '(root)'}"
    shape = _int_list(doc.get("shape"), f"{what} shape", positive=False)
    grid = doc.get("chunk_grid")
    conf = grid.get("configuration") if isinstance(grid, dict) else None
    chunks = _int_list(conf.get("chunk_shape") if isinstance(conf, dict) else None, f"{what} chunk_shape", True)
    if len(chunks) != len(shape):
        raise CorruptDataError(f"{what}: chunk_shape {chunks} does not fit shape {shape}")
    keys = doc.get("chunk_key_encoding", {"name": "default"})
    key_conf = (keys.get("configuration") if isinstance(keys, dict) else None) or {}
    if not isinstance(keys, dict) or keys.get("name") != "default" or not isinstance(key_conf, dict) or \
            key_conf.get("separator", "/") != "/":
        raise CorruptDataError(f"{what}: chunk_key_encoding must be the default with '/'")
    data_type = doc.get("data_type")
    try:
        if isinstance(data_type, dict):  # fixed-length bytes: {"name": ..., "configuration": {"length_bytes": n}}
            conf = data_type.get("configuration", {})
            length = conf.get("length_bytes") if isinstance(conf, dict) else None
            if not isinstance(length, int) or not 0 < length <= 1 << 20:
                raise TypeError
            dtype = np.dtype(f"S{length}")
        elif isinstance(data_type, str):
            dtype = np.dtype(data_type)
        else:
            raise TypeError
        codec_dtype(dtype)
    except (TypeError, ValueError):
        raise CorruptDataError(f"{what}: unsupported data_type {data_type!r:.80}") from None
    codecs = doc.get("codecs")
    if not isinstance(codecs, list) or not all(isinstance(c, dict) for c in codecs):
        raise CorruptDataError(f"{what}: codecs must be a list of objects")
    ours = next((c for c in codecs if c.get("name") in SERIALIZERS), None)
    codec = (ours.get("configuration") or {}) if ours is not None else None
    if codec is not None:
        level, q = codec.get("compression_level", 4), codec.get("quantize_scale", 0.0)
        if level not in (0, 1, 2, 4) or isinstance(level, bool) or not isinstance(q, (int, float)) \
                or not (q == 0 or q > 0) or math.isinf(q):
            raise CorruptDataError(f"{what}: invalid byte2bit codec configuration {codec!r:.80}")
    return ArrayMeta(name, shape, chunks, dtype, data_type, codec, ours.get("name") if ours is not None else None)


@functools.cache
def _zarr_metadata_classes():
    """zarr-python's metadata classes, or None where zarr cannot be imported: inside QGIS, Debian's
    older numpy is loaded first and zarr fails with AttributeError, not ImportError."""
    try:
        from zarr.core.group import GroupMetadata
        from zarr.core.metadata.v3 import ArrayV3Metadata
    except Exception:  # noqa: BLE001 (any failure means: no zarr here)
        return None
    return ArrayV3Metadata, GroupMetadata


def _zarr_parses(doc: dict, where: str) -> None:
    """Raises CorruptDataError unless zarr-python, which loads the data, accepts this node's metadata.
    Without a working zarr-python there is no zarr reader to disagree with. Attributes are any JSON
    object to zarr, so nodes that differ only there (a GRIB store's thousand messages) are parsed once."""
    if _zarr_metadata_classes() is None:
        return
    attrs = doc.get("attributes", {})
    problem = "attributes must be a JSON object" if not isinstance(attrs, dict) else \
        _zarr_problem(json.dumps({k: v for k, v in doc.items() if k != "attributes"}, sort_keys=True))
    if problem:
        raise CorruptDataError(f"{where}: not valid Zarr v3 metadata ({problem})"[:300])


@functools.lru_cache(maxsize=1024)
def _zarr_problem(doc_without_attributes: str) -> str | None:
    ArrayV3Metadata, GroupMetadata = _zarr_metadata_classes()
    doc = json.loads(doc_without_attributes)
    kind = doc.get("node_type")
    try:
        if kind == "array":
            ArrayV3Metadata.from_dict(doc)
        elif kind == "group":
            GroupMetadata.from_dict(doc)
        else:
            raise ValueError(f"node_type must be 'array' or 'group', got {kind!r:.40}")
        if doc.get("zarr_format") != 3:
            raise ValueError(f"zarr_format must be 3, got {doc.get('zarr_format')!r:.40}")
    except Exception as e:  # zarr raises many types; every one means "cannot be read"
        return f"{type(e).__name__}: {e}"
    return None


class Container:
    """A .b2b opened for reading its keys as stored (see the module's docstring)."""

    def __init__(self, path):
        self.path = os.fspath(path)
        if not os.path.exists(self.path):
            raise FileNotFoundError(f"no such .b2b file or directory: {self.path}")
        self.form = "directory" if os.path.isdir(self.path) else "zip"
        self._zip = None
        self.sizes: dict[str, int] = {}      # every key with its stored size
        self.problems: list[str] = []        # what makes a load fail
        self.warnings: list[str] = []        # what cannot be checked (older files)
        if self.form == "zip":
            self._open_zip()
        else:
            self._walk_directory()
        self.manifest = None
        if MANIFEST_KEY in self.sizes:
            self.manifest = parse_manifest(self.read(MANIFEST_KEY, MAX_MANIFEST_BYTES, checked=False), self.path)
        self.docs = {}
        for key in self.sizes:
            if key == "zarr.json" or key.endswith("/zarr.json"):
                if self.manifest is not None and key not in self.manifest:
                    continue
                try:
                    self.docs[key[:-len("zarr.json")].rstrip("/")] = loads_json(self.read(key), f"{self.path}: {key}")
                except CorruptDataError as e:
                    if key == "zarr.json":
                        raise
                    self.problems.append(str(e).replace(f"{self.path}: ", "", 1))
        if "" not in self.docs:
            raise NotByte2BitError(f"{self.path} is not a .b2b file (no zarr.json)")
        tag = self.docs[""].get("attributes", {}).get(ATTRIBUTE) if isinstance(self.docs[""].get("attributes"), dict) else None
        self.layout = str(tag.get("layout", "?")) if isinstance(tag, dict) else "zarr"
        version = tag.get("format_version", 1) if isinstance(tag, dict) else 1
        if not isinstance(version, int) or isinstance(version, bool):
            raise CorruptDataError(f"{self.path}: format_version must be an integer")
        if version > CONTAINER_VERSION:
            raise UnsupportedVersionError(f"{self.path} was written by a newer Byte2Bit (container format "
                                          f"{version}); this version reads up to {CONTAINER_VERSION}")
        self.version = version
        self._check_manifest()
        self.arrays: dict[str, ArrayMeta] = {}
        for name in sorted(self.docs):
            doc = self.docs[name]
            try:
                if doc.get("node_type") == "array":
                    self.arrays[name] = array_meta(name, doc, self.path)  # clearer messages first
                _zarr_parses(doc, f"{self.path}: {doc.get('node_type', 'node')!s:.10} {name or '(root)'}")
            except CorruptDataError as e:
                self.arrays.pop(name, None)
                if not name:
                    raise
                self.problems.append(str(e).replace(f"{self.path}: ", "", 1))
        present = self._chunks_present()
        for meta in self.arrays.values():
            self._check_chunks(meta, present.get(meta.name, 0))

    # -- keys as stored ---------------------------------------------------------------------

    def _open_zip(self):
        try:
            self._zip = zipfile.ZipFile(self.path)
            self._header_file = open(self.path, "rb")  # noqa: SIM115 (closed by close())
            self._header_lock = threading.Lock()
        except (zipfile.BadZipFile, OSError) as e:
            raise NotByte2BitError(f"{self.path} is not a .b2b file (not a zip archive: {e})") from None
        except (NotImplementedError, RuntimeError) as e:  # a zip version or flag no .b2b uses: damaged
            raise CorruptDataError(f"{self.path}: damaged zip archive ({e})") from None
        for info in self._zip.infolist():
            if info.filename in self.sizes:
                raise CorruptDataError(f"{self.path}: the zip archive holds {info.filename} twice")
            if info.compress_type != zipfile.ZIP_STORED:
                raise CorruptDataError(f"{self.path}: entry {info.filename} is compressed; a .b2b stores its "
                                       "entries uncompressed")
            if info.filename.endswith("/"):
                continue
            if not valid_key(info.filename):
                raise CorruptDataError(f"{self.path}: invalid entry name {info.filename!r}")
            self.sizes[info.filename] = info.file_size

    def _walk_directory(self):
        for dirpath, dirnames, files in os.walk(self.path):
            for f in files:
                full = os.path.join(dirpath, f)
                key = os.path.relpath(full, self.path).replace(os.sep, "/")
                try:
                    st = os.stat(full)
                except OSError:
                    continue
                self.sizes[key] = st.st_size if stat.S_ISREG(st.st_mode) else -1  # -1: not a regular file

    def read(self, key: str, max_bytes: int = MAX_JSON_BYTES, checked: bool = True) -> bytes:
        """The bytes of a key; checked against the manifest unless ``checked`` is false."""
        if key not in self.sizes:
            raise CorruptDataError(f"{self.path}: missing entry {key}")
        size = self.sizes[key]
        if size < 0:
            raise CorruptDataError(f"{self.path}: {key} is not a regular file")
        if size > max_bytes:
            raise LimitExceededError(f"{self.path}: entry {key} is {size:,} bytes, more than the {max_bytes:,} "
                                     "its content allows")
        crc = None
        if self._zip is not None:
            try:
                self._check_local_header(key)
                data = self._zip.read(key)  # raises unless the bytes match the entry's CRC-32
                crc = self._zip.getinfo(key).CRC  # so that CRC is theirs: no second pass over them
            except (zipfile.BadZipFile, NotImplementedError, RuntimeError) as e:  # (as in _open_zip)
                raise CorruptDataError(f"{self.path}: entry {key}: {e}") from None
        else:
            data = read_regular_file(os.path.join(self.path, *key.split("/")), size, f"{self.path}: {key}")
        if checked and self.manifest is not None and key != MANIFEST_KEY:  # the manifest checks itself
            self.check(key, data, crc)
        return data

    def _check_local_header(self, key: str) -> None:
        """zipfile trusts the central directory; the driver reads the local header too, so both must
        agree that the entry is stored."""
        offset = self._zip.getinfo(key).header_offset
        with self._header_lock:  # zarr reads chunks from several threads
            self._header_file.seek(offset)
            local = self._header_file.read(30)
        if len(local) < 30 or local[:4] != b"PK\x03\x04" or int.from_bytes(local[8:10], "little") != 0:
            raise CorruptDataError(f"{self.path}: damaged local header of entry {key}")

    def listed(self, key: str) -> bool:
        """Whether the key is part of the container (present, and in the manifest if there is one)."""
        return key in self.sizes and (self.manifest is None or key in self.manifest or key == MANIFEST_KEY)

    def check(self, key: str, data: bytes, crc: int | None = None) -> None:
        """Raises unless ``data`` (whose CRC-32 is ``crc`` when known) is what the manifest lists for
        ``key``."""
        expected = self.manifest.get(key) if self.manifest is not None else None
        if expected is None:
            if self.manifest is not None:
                raise CorruptDataError(f"{self.path}: {key} is not in the manifest")
            return
        if (len(data), crc32(data) if crc is None else crc) != expected:
            raise CorruptDataError(f"{self.path}: entry {key} does not match its size and CRC-32 in the manifest")

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()
            self._header_file.close()
            self._zip = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- checks ------------------------------------------------------------------------------

    def _check_manifest(self):
        if self.manifest is None:
            if self.version >= 2:
                self.problems.append(f"{MANIFEST_KEY} is missing: entries of this file may have been lost")
            else:
                self.warnings.append("written before manifests (container format 1): metadata is not "
                                     "checksummed, and a missing chunk cannot be told from one never written")
            return
        for key, (size, _) in self.manifest.items():
            if key not in self.sizes:
                self.problems.append(f"missing entry {key} (listed in the manifest)")
            elif self.sizes[key] < 0:
                self.problems.append(f"{key} is not a regular file")
            elif self.sizes[key] != size:
                self.problems.append(f"entry {key} is {self.sizes[key]:,} bytes, the manifest says {size:,}")

    def _chunks_present(self) -> dict[str, int]:
        """How many chunk keys each array has, counted in one pass over the keys."""
        counts: dict[str, int] = {}
        for key in self.sizes:
            parts = key.split("/")
            for i, part in enumerate(parts):
                if part == "c" and "/".join(parts[:i]) in self.arrays:
                    name = "/".join(parts[:i])
                    counts[name] = counts.get(name, 0) + 1
                    break
        return counts

    def _check_chunks(self, meta: ArrayMeta, present: int):
        if meta.codec is None:
            return  # other serializers (sharding) keep their own index
        expected = meta.chunk_count
        missing = []
        if expected <= present + 100_000:  # enumerate only what could exist
            missing = [k for k in meta.chunk_keys() if k not in self.sizes]
        elif present < expected:
            missing = [f"{expected - present:,} of {expected:,} chunks"]
        if not missing:
            return
        shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3:,} more" if len(missing) > 3 else "")
        if self.version >= 2:
            self.problems.append(f"array {meta.name or '(root)'}: missing chunk(s) {shown}")
        else:
            self.warnings.append(f"array {meta.name or '(root)'}: chunk(s) {shown} absent; they read as the fill "
                                 "value, and this older file cannot tell a lost chunk from one never written")

    def raise_problems(self, names=None) -> None:
        """Raises CorruptDataError naming the problems (those of the named arrays, if given)."""
        problems = [p for p in self.problems
                    if names is None or not p.startswith("array ") or any(p.startswith(f"array {n}:") for n in names)]
        if problems:
            more = f" (and {len(problems) - 3} more problems)" if len(problems) > 3 else ""
            raise CorruptDataError(f"{self.path}: {'; '.join(problems[:3])}{more}")


def read_regular_file(path: str, size: int, where: str) -> bytes:
    """Reads exactly ``size`` bytes of a regular file; a FIFO or device is refused without blocking."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        raise CorruptDataError(f"{where}: cannot open ({e.strerror})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise CorruptDataError(f"{where} is not a regular file")
        if st.st_size != size:
            raise CorruptDataError(f"{where} changed size while being read")
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(size + 1)
    finally:
        os.close(fd)
    if len(data) != size:
        raise CorruptDataError(f"{where} changed size while being read")
    return data
