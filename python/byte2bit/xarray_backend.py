"""xarray backend ``engine="byte2bit"``: every .b2b layout, zip or directory, opened lazily.

- Rasters are read through the B2B GDAL driver (one raster, or one of a product's with
  ``group=``), with x/y coordinates of pixel centres, a ``spatial_ref`` variable carrying
  ``crs_wkt``/``spatial_ref``/``GeoTransform`` (what rioxarray and GDAL's netCDF and Zarr drivers
  write), ``grid_mapping`` on each band, nodata as ``_FillValue``, scale/offset as
  ``scale_factor``/``add_offset``, and ``overview_level=`` to open an overview. Dask chunks
  (``chunks={}``) are the raster's blocks.
- Arrays and archives are read through zarr-python over the checked store (``open_store``);
  an archive's generic dimension names (``dim_0``) become per-array names so that arrays of
  different shapes sit side by side.
- ``xr.open_datatree`` gives a product's rasters as child nodes (overviews are opened with
  ``overview_level=``, since their grids differ from their parent's).
"""
from __future__ import annotations

import os
import threading

import numpy as np
import xarray as xr
from xarray.backends import BackendArray, BackendEntrypoint
from xarray.core import indexing

from .errors import Byte2BitError, InvalidArgumentError

_local = threading.local()  # GDAL datasets are not thread-safe: one per thread and name


def _dataset(name: str):
    from .raster import gdal
    cache = _local.__dict__.setdefault("datasets", {})
    if name not in cache:
        g = gdal()
        cache[name] = g.OpenEx(name, g.OF_RASTER, allowed_drivers=["B2B"])
    return cache[name]


class _BandArray(BackendArray):
    """One band (or its overview) of a .b2b raster, read window by window through GDAL."""

    def __init__(self, name: str, band: int, overview_level: int, shape: tuple[int, int], dtype: np.dtype):
        self.name, self.band, self.overview_level = name, band, overview_level
        self.shape, self.dtype = shape, dtype

    def __getitem__(self, key):
        return indexing.explicit_indexing_adapter(key, self.shape, indexing.IndexingSupport.BASIC, self._read)

    def _read(self, key) -> np.ndarray:
        band = _dataset(self.name).GetRasterBand(self.band)
        if self.overview_level:
            band = band.GetOverview(self.overview_level - 1)
        windows, picks = [], []
        for k, size in zip(key, self.shape):
            if isinstance(k, slice):
                start, stop, step = k.indices(size)
                stop = max(start, stop)
                windows.append((start, stop - start))
                picks.append(slice(None, None, step))
            else:
                windows.append((int(k), 1))
                picks.append(0)
        (y, h), (x, w) = windows
        if h == 0 or w == 0:
            return np.empty((h, w), dtype=self.dtype)[tuple(picks)]
        return band.ReadAsArray(x, y, w, h)[tuple(picks)]


def _raster_dataset(name: str, overview_level: int, drop_variables) -> xr.Dataset:
    from .raster import gdal
    g = gdal()
    ds = g.OpenEx(name, g.OF_RASTER, allowed_drivers=["B2B"])
    if ds.RasterCount == 0:
        groups = [v.rsplit(":", 1)[-1] for k, v in (ds.GetMetadata("SUBDATASETS") or {}).items() if k.endswith("_NAME")]
        raise InvalidArgumentError(f"{name} holds {len(groups)} rasters: open one with group= ({', '.join(groups)}) "
                                   "or all of them with xarray.open_datatree")
    first = ds.GetRasterBand(1)
    levels = first.GetOverviewCount()
    if not 0 <= overview_level <= levels:
        raise InvalidArgumentError(f"overview_level={overview_level}: {name} has overview levels 1 to {levels}"
                                   if levels else f"overview_level={overview_level}: {name} has no overviews")
    grid = first.GetOverview(overview_level - 1) if overview_level else first
    width, height = grid.XSize, grid.YSize
    bx, by = first.GetBlockSize()
    variables, coords = {}, {}
    srs = ds.GetSpatialRef()
    crs_attrs = {}
    if srs is not None:
        wkt = srs.ExportToWkt(["FORMAT=WKT2_2019"])
        crs_attrs = {"crs_wkt": wkt, "spatial_ref": wkt}
    units = ({"x": "degrees_east", "y": "degrees_north"} if srs.IsGeographic() else
             dict.fromkeys("xy", srs.GetLinearUnitsName())) if srs is not None else {}
    gt = ds.GetGeoTransform(can_return_null=True)
    if gt is not None:
        sx, sy = ds.RasterXSize / width, ds.RasterYSize / height  # an overview's pixels are larger
        gt = (gt[0], gt[1] * sx, gt[2] * sy, gt[3], gt[4] * sx, gt[5] * sy)
        if gt[2] == 0 and gt[4] == 0:
            for axis, n, origin, step in (("x", width, gt[0], gt[1]), ("y", height, gt[3], gt[5])):
                attrs = {"axis": axis.upper(), **({"units": units[axis]} if axis in units else {})}
                coords[axis] = (axis, origin + (np.arange(n) + 0.5) * step, attrs)
    if gt is not None:
        crs_attrs["GeoTransform"] = " ".join(repr(float(v)) for v in gt)
    grid_mapping = {}
    if crs_attrs:
        coords["spatial_ref"] = ((), np.int64(0), crs_attrs)
        grid_mapping = {"grid_mapping": "spatial_ref"}
    from osgeo import gdal_array
    for i in range(1, ds.RasterCount + 1):
        band = ds.GetRasterBand(i)
        var = f"band_{i}"
        if drop_variables and var in drop_variables:
            continue
        dtype = np.dtype(gdal_array.GDALTypeCodeToNumericTypeCode(band.DataType))
        attrs = dict(band.GetMetadata() or {})
        if band.GetDescription():
            attrs["long_name"] = band.GetDescription()
        if band.GetUnitType():
            attrs["units"] = band.GetUnitType()
        nodata = band.GetNoDataValue()
        if nodata is not None:
            attrs["_FillValue"] = dtype.type(nodata) if dtype.kind != "c" else nodata
        if band.GetScale() not in (None, 1.0):
            attrs["scale_factor"] = band.GetScale()
        if band.GetOffset() not in (None, 0.0):
            attrs["add_offset"] = band.GetOffset()
        attrs.update(grid_mapping)
        data = indexing.LazilyIndexedArray(_BandArray(name, i, overview_level, (height, width), dtype))
        variables[var] = xr.Variable(("y", "x"), data, attrs,
                                     encoding={"preferred_chunks": {"y": by, "x": bx}, "chunks": (by, bx)})
    attrs = dict(ds.GetMetadata() or {})
    if overview_level:
        attrs["overview_level"] = overview_level
    return xr.Dataset(variables, coords={k: xr.Variable(*v) for k, v in coords.items()}, attrs=attrs)


class _ZarrArray(BackendArray):
    """One zarr array of an array or archive .b2b, read on demand."""

    def __init__(self, array):
        self.array, self.shape, self.dtype = array, array.shape, array.dtype

    def __getitem__(self, key):
        return indexing.explicit_indexing_adapter(key, self.shape, indexing.IndexingSupport.BASIC,
                                                  lambda k: np.asarray(self.array[k]))


def _array_dataset(path: str, group: str | None, drop_variables) -> xr.Dataset:
    import zarr
    from .container import open_store
    store = open_store(path)
    try:
        root = zarr.open_group(store=store, mode="r", path=(group or "").strip("/"))
        arrays = [(n, a) for n, a in root.arrays() if not (drop_variables and n in drop_variables)]
    except BaseException:
        store.close()
        raise
    variables = {}
    for name, a in arrays:
        dims = list(a.metadata.dimension_names or [f"dim_{i}" for i in range(a.ndim)])
        if len(arrays) > 1:  # an archive's arrays are unrelated: generic dimension names are per array
            dims = [f"{name}_{d}" if d.startswith("dim_") else d for d in dims]
        data = indexing.LazilyIndexedArray(_ZarrArray(a))
        variables[name] = xr.Variable(dims, data, dict(a.attrs), encoding={
            "preferred_chunks": dict(zip(dims, a.chunks)), "chunks": a.chunks})
    attrs = {k: v for k, v in root.attrs.items() if k != "byte2bit"}
    ds = xr.Dataset(variables, attrs=attrs)
    ds.set_close(store.close)
    return ds


def _datasets_dataset(path: str, group: str | None, drop_variables, shared=None) -> xr.Dataset:
    """One group of converted NetCDF/HDF5/Zarr files, raw (CF decoding comes after), with its
    attributes restored to the types the source library gave (the root's sidecar). ``shared``: a
    store already open on ``path``, which its opener closes (checking a container is not free)."""
    import zarr
    from .container import open_store
    from .datasets import restore_attrs
    from .integrity import ATTRIBUTE
    store = shared or open_store(path)
    try:
        root = zarr.open_group(store=store, mode="r")
        records = {r["group"]: r for r in root.attrs[ATTRIBUTE].get("sources", [])}
        group = (group or "").strip("/")
        if not group:
            if len(records) != 1:
                raise InvalidArgumentError(f"{path} holds {len(records)} files: open one with group= (one of "
                                           f"{', '.join(sorted(records))}), or all with xarray.open_datatree")
            group = next(iter(records))
        top, _, inner = group.partition("/")
        if top not in records or group not in root:
            raise InvalidArgumentError(f"{path} has no group {group!r}; files: {', '.join(sorted(records))}")
        ds = xr.open_zarr(store, group=group, consolidated=False, chunks=None, decode_cf=False,
                          mask_and_scale=False, decode_times=False, drop_variables=drop_variables)
        node = root[group]
        for name, var in ds.variables.items():
            dtype = var.dtype if var.dtype.kind in "biufc" else None
            var.attrs = restore_attrs(dict(node[name].attrs), records[top], f"{inner}/{name}" if inner else name, dtype)
        ds.attrs = restore_attrs(dict(node.attrs), records[top], inner or "/", None)
    except BaseException:
        if shared is None:
            store.close()
        raise
    if shared is None:
        ds.set_close(store.close)
    return ds


def _layout(path: str) -> str:
    """The layout named in the root zarr.json, read alone: the readers behind it (the GDAL driver,
    the checked store) check the whole container, and a full check here cost 3 s per call on a
    product."""
    from .integrity import ATTRIBUTE, loads_json
    if os.path.isdir(path):
        with open(os.path.join(path, "zarr.json"), "rb") as f:
            root = loads_json(f.read(), f"{path}: zarr.json")
    else:
        import zipfile
        try:
            with zipfile.ZipFile(path) as z:
                root = loads_json(z.read("zarr.json"), f"{path}: zarr.json")
        except (zipfile.BadZipFile, KeyError):
            raise Byte2BitError(f"{path} is not a .b2b file (no zarr.json)") from None
    tag = root.get("attributes", {}).get(ATTRIBUTE) if isinstance(root.get("attributes"), dict) else None
    return str(tag.get("layout", "?")) if isinstance(tag, dict) else "zarr"


def _open(path: str, layout: str, group, overview_level: int, drop_variables, mask_and_scale: bool,
          decode_times: bool, decode_coords=True, concat_characters: bool = True, decode_timedelta=None,
          use_cftime=None, shared=None) -> xr.Dataset:
    if layout in ("raster", "rasters"):
        group = (group or "").strip("/")
        if group and layout == "raster":
            raise InvalidArgumentError(f"{path} holds one raster; it has no group {group!r}")
        name = f'B2B:"{path}":{group}' if group else path
        ds = _raster_dataset(name, int(overview_level), drop_variables)
    else:
        if overview_level:
            raise InvalidArgumentError(f"overview_level applies to rasters; {path} holds a {layout}")
        ds = _datasets_dataset(path, group, drop_variables, shared) if layout == "datasets" \
            else _array_dataset(path, group, drop_variables)
    return xr.decode_cf(ds, mask_and_scale=mask_and_scale, decode_times=decode_times, decode_coords=decode_coords,
                        concat_characters=concat_characters, decode_timedelta=decode_timedelta,
                        use_cftime=use_cftime)


class Byte2BitBackendEntrypoint(BackendEntrypoint):
    description = "Byte2Bit .b2b files (rasters, products, arrays, archives), zip or directory"
    open_dataset_parameters = ("filename_or_obj", "drop_variables", "group", "overview_level", "mask_and_scale",
                               "decode_times", "decode_coords", "concat_characters", "decode_timedelta",
                               "use_cftime")
    supports_groups = True

    def guess_can_open(self, filename_or_obj) -> bool:
        try:
            return os.fspath(filename_or_obj).rstrip("/").lower().endswith(".b2b")
        except TypeError:
            return False

    def open_dataset(self, filename_or_obj, *, drop_variables=None, group=None, overview_level: int = 0,
                     mask_and_scale: bool = True, decode_times: bool = True, decode_coords=True,
                     concat_characters: bool = True, decode_timedelta=None, use_cftime=None) -> xr.Dataset:
        path = os.fspath(filename_or_obj).rstrip("/")
        if not os.path.exists(path):
            raise FileNotFoundError(f"no such .b2b: {path}")
        return _open(path, _layout(path), group, overview_level, drop_variables, mask_and_scale, decode_times,
                     decode_coords, concat_characters, decode_timedelta, use_cftime)

    def open_groups_as_dict(self, filename_or_obj, *, drop_variables=None, overview_level: int = 0,
                            mask_and_scale: bool = True, decode_times: bool = True, decode_coords=True,
                            concat_characters: bool = True, decode_timedelta=None, use_cftime=None,
                            **_) -> dict[str, xr.Dataset]:
        path = os.fspath(filename_or_obj).rstrip("/")
        layout = _layout(path)
        options = (overview_level, drop_variables, mask_and_scale, decode_times, decode_coords, concat_characters,
                   decode_timedelta, use_cftime)
        if layout in ("raster", "array"):
            return {"/": _open(path, layout, None, *options)}
        if layout == "datasets":
            return _datasets_groups(path, options)
        if layout != "rasters":
            raise Byte2BitError(f"{path} holds a {layout}: open its arrays with open_dataset "
                                "(their grids are unrelated), or byte2bit.open_archive")
        from .raster import _subdatasets, gdal
        g = gdal()
        root = g.OpenEx(path, g.OF_RASTER, allowed_drivers=["B2B"])
        groups = {"/": xr.Dataset(attrs=dict(root.GetMetadata() or {}))}
        for name in _subdatasets(root):
            group = name.rsplit(":", 1)[-1]
            groups[f"/{group}"] = _open(path, layout, group, *options)
        return groups

    def open_datatree(self, filename_or_obj, **kwargs) -> xr.DataTree:
        return xr.DataTree.from_dict(self.open_groups_as_dict(filename_or_obj, **kwargs))


def _datasets_groups(path: str, options) -> dict[str, xr.Dataset]:
    """Every group of every converted file: "/<file group>/<group>" -> its dataset."""
    import zarr
    from .container import open_store
    store = open_store(path)
    try:
        root = zarr.open_group(store=store, mode="r")
        from .integrity import ATTRIBUTE
        names = [r["group"] for r in root.attrs[ATTRIBUTE].get("sources", [])]  # not the manifest's group
        paths = []
        for name in sorted(names):
            paths.append(name)
            paths += sorted(f"{name}/{sub}" for sub, node in root[name].members(max_depth=None)
                            if isinstance(node, zarr.Group))
        groups = {"/": xr.Dataset()}
        for group in paths:
            groups[f"/{group}"] = _open(path, "datasets", group, *options, shared=store)
    except BaseException:
        store.close()
        raise
    groups["/"].set_close(store.close)  # one checked store serves the whole tree
    return groups
