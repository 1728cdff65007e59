"""What is inside a .b2b, read from its keys alone (zarr.json documents and stream headers), so it
works without zarr-python (inside QGIS, whose numpy may be older than zarr needs)."""
from __future__ import annotations

import json
import math
import os
import zipfile
from dataclasses import dataclass, field

import numpy as np

from .core import inspect_stream
from .errors import Byte2BitError, NotByte2BitError

ATTRIBUTE = "byte2bit"


@dataclass
class ArrayReport:
    name: str
    dtype: str
    shape: tuple
    chunks: tuple
    compression_level: int | None
    quantize_scale: float | None
    raw_bytes: int
    stored_bytes: int
    chunk_count: int
    chunks_ok: int
    problems: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        return self.raw_bytes / self.stored_bytes if self.stored_bytes else float("inf")


@dataclass
class Inspection:
    path: str
    form: str
    layout: str
    file_bytes: int
    arrays: list[ArrayReport]
    rasters: dict[str, dict] = field(default_factory=dict)  # raster layouts: group name -> description

    @property
    def checksums_ok(self) -> bool:
        return all(not a.problems for a in self.arrays)

    def to_dict(self) -> dict:
        return {"path": self.path, "form": self.form, "layout": self.layout, "file_bytes": self.file_bytes,
                "checksums_ok": self.checksums_ok, "rasters": self.rasters,
                "arrays": [dict(vars(a), ratio=a.ratio) for a in self.arrays]}

    def __str__(self) -> str:
        lines = [f"{self.path}: Byte2Bit {self.layout} ({self.form}), {self.file_bytes:,} bytes, "
                 f"checksums {'OK' if self.checksums_ok else 'FAILED'}"]
        for name, r in self.rasters.items():
            lines.append(f"  raster {name or '(root)'}: {raster_summary(r)}")
        for a in self.arrays:
            mode = ("lossless" if not a.quantize_scale else f"error <= {a.quantize_scale / 2:g}")
            lines.append(
                f"  {a.name}: {a.dtype} {tuple(a.shape)} chunks {tuple(a.chunks)} level {a.compression_level} "
                f"{mode}; {a.raw_bytes:,} -> {a.stored_bytes:,} bytes (ratio {a.ratio:.3f}); "
                f"{a.chunks_ok}/{a.chunk_count} chunks OK")
            lines += [f"    ! {p}" for p in a.problems[:10]]
        return "\n".join(lines)


def raster_summary(r: dict) -> str:
    """One line: size, bands, block, overviews, georeferencing."""
    types = sorted({b.get("data_type", "?") for b in r.get("bands", [])})
    crs = r.get("crs_wkt", "")
    epsg = crs.rsplit('ID["EPSG",', 1)[1].split("]", 1)[0] if 'ID["EPSG",' in crs else None
    name = crs.split('"', 2)[1] if crs.count('"') >= 2 else ""
    geo = f"CRS {name}" + (f" (EPSG:{epsg})" if epsg else "") if crs else (
        f"{len(r['gcps'])} GCPs" if r.get("gcps") else "no georeferencing")
    if "geotransform" in r:
        gt = [float(v) for v in r["geotransform"]]  # exact "%.17g" strings
        geo += f", origin ({gt[0]:.6g}, {gt[3]:.6g}), pixel {gt[1]:.6g} x {gt[5]:.6g}"
    ovs = ", ".join(f"{w}x{h}" for w, h in r.get("overviews", [])) or "none"
    return (f"{r.get('width')}x{r.get('height')}, {len(r.get('bands', []))} band(s) {'/'.join(types)}, "
            f"blocks {r.get('block_size', ['?', '?'])[0]}x{r.get('block_size', ['?', '?'])[1]}, "
            f"level {r.get('compression_level')}"
            + (f", error <= {q / 2:g}" if (q := float(r.get("quantize_scale", 0))) else ", lossless")
            + f"{', mask' if r.get('mask') else ''}; overviews {ovs}; {geo}")


def _raw_entries(path: str) -> dict[str, tuple[int, callable]]:
    """Every stored key with its size and a reader, from the zip or directory itself."""
    entries = {}
    if os.path.isdir(path):
        for dirpath, _, files in os.walk(path):
            for f in files:
                full = os.path.join(dirpath, f)
                key = os.path.relpath(full, path).replace(os.sep, "/")
                entries[key] = (os.path.getsize(full), lambda full=full: open(full, "rb").read())
    else:
        zf = zipfile.ZipFile(path)
        for info in zf.infolist():
            entries[info.filename] = (info.file_size, lambda name=info.filename: zf.read(name))
    return entries


def _itemsize(data_type) -> int:
    if isinstance(data_type, dict):  # e.g. fixed-length bytes: {"name": ..., "configuration": {"length_bytes": n}}
        return int(data_type.get("configuration", {}).get("length_bytes", 1))
    return np.dtype(data_type).itemsize


def inspect_byte2bit(path) -> Inspection:
    """Structure, dtype, shape, chunking, codec settings, sizes, ratio and checksum status of a .b2b."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such .b2b file or directory: {path}")
    if not os.path.isdir(path) and not zipfile.is_zipfile(path):
        raise NotByte2BitError(f"{path} is not a .b2b file (not a zip archive)")
    entries = _raw_entries(path)
    docs = {}
    for key in entries:
        if key == "zarr.json" or key.endswith("/zarr.json"):
            try:
                docs[key[:-len("zarr.json")].rstrip("/")] = json.loads(entries[key][1]())
            except ValueError as e:
                raise Byte2BitError(f"{path}: {key} is not valid JSON ({e})") from None
    if "" not in docs:
        raise NotByte2BitError(f"{path} is not a .b2b file (no zarr.json)")
    reports = []
    for name in sorted(n for n, d in docs.items() if d.get("node_type") == "array"):
        meta = docs[name]
        codec = next((c.get("configuration", {}) for c in meta.get("codecs", []) if c.get("name") == "byte2bit"), None)
        chunks = tuple(meta.get("chunk_grid", {}).get("configuration", {}).get("chunk_shape", ()))
        shape = tuple(meta.get("shape", ()))
        keys = [k for k in entries if k.startswith(f"{name}/c/") or k == f"{name}/c"]
        report = ArrayReport(
            name=name, dtype=str(meta.get("data_type")), shape=shape, chunks=chunks,
            compression_level=codec.get("compression_level") if codec is not None else None,
            quantize_scale=codec.get("quantize_scale") if codec is not None else None,
            raw_bytes=math.prod(shape) * _itemsize(meta.get("data_type")),
            stored_bytes=sum(entries[k][0] for k in keys), chunk_count=len(keys), chunks_ok=0)
        for k in keys if codec is not None else []:  # other serializers (e.g. sharding) hold no bare streams
            try:
                if inspect_stream(entries[k][1](), verify_checksum=True)["checksum_ok"]:
                    report.chunks_ok += 1
                else:
                    report.problems.append(f"chunk {k}: checksum mismatch")
            except Byte2BitError as e:
                report.problems.append(f"chunk {k}: {e}")
        reports.append(report)
    attrs = docs[""].get("attributes", {})
    layout = attrs.get(ATTRIBUTE, {}).get("layout", "?")
    rasters = {}
    if layout == "raster":
        rasters[""] = attrs.get("raster", {})
    elif layout == "rasters":
        rasters = {n: docs.get(n, {}).get("attributes", {}).get("raster", {}) for n in attrs.get("subdatasets", [])}
    return Inspection(path=path, form="directory" if os.path.isdir(path) else "zip", layout=layout,
                      file_bytes=sum(s for s, _ in entries.values()) if os.path.isdir(path) else os.path.getsize(path),
                      arrays=reports, rasters=rasters)
