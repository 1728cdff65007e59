"""What is inside a .b2b, read from its keys alone (zarr.json documents and stream headers), so it
works without zarr-python (inside QGIS, whose numpy may be older than zarr needs)."""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

from . import planes
from .core import codec_dtype, inspect_stream
from .errors import Byte2BitError
from .integrity import Container


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
    problems: list[str] = field(default_factory=list)       # of the container: missing keys, manifest
    warnings: list[str] = field(default_factory=list)       # what an older file cannot prove
    format_version: int = 1
    notes: list[str] = field(default_factory=list)          # how arrays are stored, inputs skipped

    @property
    def unverified(self) -> bool:
        """Chunks are absent from an older file, which cannot tell lost from never written."""
        return any("absent" in w for w in self.warnings)

    @property
    def ok(self) -> bool:
        """Every key present and intact, every chunk checked: loading gives exactly what was saved."""
        return not self.problems and not self.unverified and all(not a.problems for a in self.arrays)

    @property
    def checksums_ok(self) -> bool:  # the name earlier versions used
        return self.ok

    def to_dict(self) -> dict:
        return {"path": self.path, "form": self.form, "layout": self.layout, "format_version": self.format_version,
                "file_bytes": self.file_bytes, "ok": self.ok, "checksums_ok": self.ok, "problems": self.problems,
                "warnings": self.warnings, "notes": self.notes, "rasters": self.rasters,
                "arrays": [dict(vars(a), ratio=a.ratio) for a in self.arrays]}

    def __str__(self) -> str:
        status = "OK" if self.ok else "UNVERIFIED" if not self.problems and self.unverified and \
            all(not a.problems for a in self.arrays) else "FAILED"
        lines = [f"{self.path}: Byte2Bit {self.layout} ({self.form}), {self.file_bytes:,} bytes, integrity {status}"]
        lines += [f"  ! {p}" for p in self.problems[:10]]
        lines += [f"  note: {w}" for w in self.warnings[:10] + self.notes]
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


def raster_problems(prefix: str, r: dict, arrays: dict) -> list[str]:
    """What is wrong with a raster description, checked against the band arrays it describes."""
    what = f"raster {prefix.rstrip('/') or '(root)'}"
    def is_int(v, lo=1):
        return isinstance(v, int) and not isinstance(v, bool) and v >= lo
    w, h, block, bands = r.get("width"), r.get("height"), r.get("block_size"), r.get("bands")
    if not (is_int(w) and is_int(h) and isinstance(block, list) and len(block) == 2 and all(map(is_int, block))
            and isinstance(bands, list) and bands and all(isinstance(b, dict) for b in bands)):
        return [f"{what}: width, height, block_size or bands are missing or invalid"]
    ovs = r.get("overviews", [])
    if not isinstance(ovs, list) or not all(isinstance(o, list) and len(o) == 2 and all(map(is_int, o)) for o in ovs):
        return [f"{what}: overviews must be a list of [width, height]"]
    problems = []
    levels = [("", w, h)] + [(f"overview_{k + 1}/", ow, oh) for k, (ow, oh) in enumerate(ovs)]
    names = [f"band_{i + 1}" for i in range(len(bands))] + (["mask"] if r.get("mask") else [])
    for level, lw, lh in levels:
        for name in names:
            meta = arrays.get(f"{prefix}{level}{name}")
            if meta is None:
                problems.append(f"{what}: array {prefix}{level}{name} is missing")
            elif meta.shape[-2:] != (lh, lw) or meta.chunks[-2:] != (block[1], block[0]):
                problems.append(f"{what}: array {prefix}{level}{name} is {meta.shape} in chunks {meta.chunks}, "
                                f"the raster description says {lw}x{lh} in blocks {block[0]}x{block[1]}")
    return problems


def raster_summary(r: dict) -> str:
    """One line: size, bands, block, overviews, georeferencing."""
    try:
        return _raster_summary(r)
    except (TypeError, ValueError, AttributeError, IndexError, KeyError):
        return "(damaged raster description)"


def _raster_summary(r: dict) -> str:
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


def _driver_problems(path: str, warnings: list[str]) -> list[str]:
    """What GDAL's B2B driver, which every raster reader goes through, refuses in a raster .b2b: it
    validates the whole description at open and each band array when its first block is read."""
    try:
        from .raster import gdal
        g = gdal()
    except (ImportError, Byte2BitError) as e:
        warnings.append(f"raster descriptions not checked by the GDAL driver ({e})")
        return []
    try:
        ds = g.OpenEx(path, g.OF_RASTER, allowed_drivers=["B2B"])
        md = ds.GetMetadata("SUBDATASETS") or {}
        for d in [ds] + [g.OpenEx(v, g.OF_RASTER, allowed_drivers=["B2B"]) for k, v in sorted(md.items())
                         if k.endswith("_NAME")]:
            for i in range(1, d.RasterCount + 1):
                band = d.GetRasterBand(i)
                for b in [band] + [band.GetOverview(k) for k in range(band.GetOverviewCount())] + (
                        [band.GetMaskBand()] if band.GetMaskFlags() == g.GMF_PER_DATASET else []):
                    b.ReadRaster(0, 0, 1, 1)
    except RuntimeError as e:
        return [f"GDAL's B2B driver cannot read it: {str(e).replace(path + ': ', '')}"]
    return []


def inspect_byte2bit(path) -> Inspection:
    """Structure, dtype, shape, chunking, codec settings, sizes, ratio and integrity of a .b2b.

    Every chunk's checksum and header (dtype, shape, error bound) are checked against its array,
    every key against the manifest. ``ok`` is false whenever loading would fail or lost data
    could not be ruled out; ``problems`` says why."""
    path = os.fspath(path)
    with Container(path) as c:
        reports = []
        for name, meta in c.arrays.items():
            codec = meta.codec
            prefix = f"{name}/c" if name else "c"
            keys = [k for k in c.sizes if (k == prefix or k.startswith(prefix + "/")) and c.listed(k)]
            report = ArrayReport(
                name=name, dtype=str(meta.dtype), shape=meta.shape, chunks=meta.chunks,
                compression_level=codec.get("compression_level", 4) if codec is not None else None,
                quantize_scale=codec.get("quantize_scale", 0.0) if codec is not None else None,
                raw_bytes=math.prod(meta.shape) * meta.dtype.itemsize,
                stored_bytes=sum(c.sizes[k] for k in keys), chunk_count=meta.chunk_count, chunks_ok=0)
            expected_type = codec_dtype(meta.dtype)[0]
            for k in keys if codec is not None else []:  # other serializers (sharding) hold no bare streams
                try:
                    data = c.read(k, meta.max_chunk_bytes)
                    if meta.serializer == "byte2bit_planes":
                        size, count = planes.check(data)
                        if (size, count) != (meta.dtype.itemsize, math.prod(meta.chunks)):
                            report.problems.append(f"chunk {k}: holds {count:,} values of {size} bytes, the array "
                                                   f"has chunks of {math.prod(meta.chunks):,} {meta.dtype}")
                        else:
                            report.chunks_ok += 1
                        continue
                    info = inspect_stream(data, verify_checksum=True)
                    if not info["checksum_ok"]:
                        report.problems.append(f"chunk {k}: checksum mismatch")
                    elif info["dtype"] != expected_type or tuple(info["shape"]) != meta.chunks:
                        report.problems.append(f"chunk {k}: holds {info['dtype']} {tuple(info['shape'])}, "
                                               f"the array has {expected_type} chunks {meta.chunks}")
                    elif float(info["quantize_scale"]) != float(report.quantize_scale or 0):
                        report.problems.append(f"chunk {k}: error bound differs from the array's")
                    else:
                        report.chunks_ok += 1
                except Byte2BitError as e:
                    report.problems.append(f"chunk {k}: {e}")
            reports.append(report)
        attrs = c.docs[""].get("attributes")
        attrs = attrs if isinstance(attrs, dict) else {}
        rasters = {}
        if c.layout == "raster":
            rasters[""] = attrs.get("raster", {})
        elif c.layout == "rasters":
            names = attrs.get("subdatasets", [])
            for n in names if isinstance(names, list) else []:
                doc = c.docs.get(str(n), {}).get("attributes", {})
                rasters[str(n)] = doc.get("raster", {}) if isinstance(doc, dict) else {}
        problems = list(c.problems)
        for n, r in rasters.items():
            problems += raster_problems(f"{n}/" if n else "", r, c.arrays) if isinstance(r, dict) else \
                [f"raster {n or '(root)'}: description missing"]
        rasters = {n: r for n, r in rasters.items() if isinstance(r, dict)}
        warnings = list(c.warnings)
        if rasters and not problems:
            problems += _driver_problems(path, warnings)
        notes = _datasets_notes(attrs.get("byte2bit")) if c.layout == "datasets" else \
            _grib_notes(c, attrs.get("byte2bit")) if c.layout == "grib" else []
        file_bytes = sum(max(0, s) for s in c.sizes.values()) if c.form == "directory" else os.path.getsize(path)
        return Inspection(path=path, form=c.form, layout=c.layout, file_bytes=file_bytes, arrays=reports,
                          rasters=rasters, problems=problems, warnings=warnings,
                          format_version=c.version, notes=notes)


def _datasets_notes(tag) -> list[str]:
    """What a user of converted NetCDF/HDF5/Zarr files should know: arrays not stored as their
    source type, attributes only the sidecar holds, inputs skipped."""
    notes = []
    for record in tag.get("sources", []) if isinstance(tag, dict) else []:
        if not isinstance(record, dict):
            continue
        for var, entry in (record.get("variables") or {}).items():
            if isinstance(entry, dict) and entry.get("stored_as"):
                notes.append(f"{record.get('group')}/{var}: {entry['stored_as']} (source dtype "
                             f"{entry.get('source_dtype')}); xarray's engine='byte2bit' and verify give back the source type")
        for node, attrs in (record.get("attributes_aside") or {}).items():
            notes.append(f"{record.get('group')}/{node}: attribute(s) {', '.join(attrs)} kept in the root's byte2bit "
                         "attribute only (xarray's Zarr reader cannot read them for this type); engine='byte2bit' "
                         "restores them")
    return notes + _skipped_notes(tag)


def _skipped_notes(tag) -> list[str]:
    return [f"input {s.get('file')} was skipped at transform: {s.get('error')}"
            for s in (tag.get("skipped", []) if isinstance(tag, dict) else []) if isinstance(s, dict)]


GRIB_STORED = {"packed_integers": "kept as their packed GRIB integers and packing parameters (decoded bit for bit)",
               "decoded_float64": "kept as the float64 values ecCodes decodes",
               "grib_message": "kept as the original GRIB message (ecCodes decodes it on read)"}


def _grib_notes(c, tag) -> list[str]:
    """How the messages of a GRIB store are kept, counted from their own descriptions."""
    kinds: dict[str, int] = {}
    for name, doc in c.docs.items():
        if name.startswith("messages/") and doc.get("node_type") == "array":
            how = (doc.get("attributes") or {}).get("byte2bit_grib")
            kind = str(how.get("stored")) if isinstance(how, dict) else "?"
            kinds[kind] = kinds.get(kind, 0) + 1
    return [f"{n} message(s) {GRIB_STORED.get(k, f'stored as {k!r}, which this version does not know')}"
            for k, n in sorted(kinds.items())] + _skipped_notes(tag)
