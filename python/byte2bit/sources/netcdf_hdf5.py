"""NetCDF (classic, 64-bit offset, NetCDF-4) through netCDF4, and plain HDF5 through h5py.

Values and attributes are read raw: no masking, scaling or character joining, so CF encodings
reach the .b2b as they are in the file.
"""
from __future__ import annotations

import numpy as np

from ..errors import UnsupportedDtypeError
from . import LIBRARY_LOCK, Group, SourceError, SourceTree, Variable, kind_of

# Attributes HDF5 dimension scales keep for themselves (object references): the structure they
# describe is kept as dimension names instead.
DIMENSION_SCALE_ATTRS = ("DIMENSION_LIST", "REFERENCE_LIST", "DIMENSION_LABELS")


def is_netcdf4(path: str) -> bool:
    """An HDF5 file written by the NetCDF-4 library: it says so (``_NCProperties``) or uses
    dimension scales, which netCDF4 reads as named dimensions."""
    import h5py
    with LIBRARY_LOCK, h5py.File(path, "r") as f:
        if "_NCProperties" in f.attrs:
            return True
        found = []

        def visit(_name, obj):
            if isinstance(obj, h5py.Dataset) and ("DIMENSION_LIST" in obj.attrs or obj.attrs.get("CLASS") == b"DIMENSION_SCALE"):
                found.append(1)
                return True
            return None
        f.visititems(visit)
        return bool(found)


def open_file(path: str, fmt: str):
    with LIBRARY_LOCK:
        if fmt == "hdf5":
            import h5py
            return h5py.File(path, "r")
        import netCDF4
        ds = netCDF4.Dataset(path, "r")
        ds.set_auto_maskandscale(False)
        ds.set_auto_chartostring(False)
        return ds


def read(handle, variable: str, slices: tuple) -> np.ndarray:
    with LIBRARY_LOCK:
        if hasattr(handle, "visititems"):  # h5py
            ds = handle[variable]
            if ds.dtype.kind == "O":
                ds = ds.asstr()
            return np.asarray(ds[slices] if slices else ds[()])
        group, _, name = variable.rpartition("/")
        v = (handle[group] if group else handle).variables[name]
        return np.asarray(v[slices] if slices else v[...])


def scan(path: str, fmt: str) -> SourceTree:
    handle = open_file(path, fmt)
    try:
        with LIBRARY_LOCK:
            return _scan_hdf5(path, handle) if fmt == "hdf5" else _scan_netcdf(path, fmt, handle)
    finally:
        with LIBRARY_LOCK:
            handle.close()


def _check_classic_size(path: str) -> None:
    """NetCDF-C reads a truncated classic file's missing data as zeros, without an error: the
    header's variables must all end inside the file (checked through scipy's classic reader,
    which maps the file and reads no data)."""
    import warnings
    from scipy.io import netcdf_file
    try:
        f = netcdf_file(path, mmap=True)
    except Exception as e:  # noqa: BLE001 (scipy raises ValueError, TypeError, struct.error ...)
        raise SourceError(f"{path}: damaged or truncated NetCDF classic file ({e})") from None
    try:
        for v in f.variables.values():
            v.data  # noqa: B018 (maps the variable: fails when it ends past the end of the file)
    except Exception as e:  # noqa: BLE001
        raise SourceError(f"{path}: truncated NetCDF classic file (a variable ends past the end of the file: {e})") \
            from None
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            f.close()


def _scan_netcdf(path: str, fmt: str, ds) -> SourceTree:
    import netCDF4
    if fmt == "netcdf3" and ds.data_model in ("NETCDF3_CLASSIC", "NETCDF3_64BIT_OFFSET"):
        _check_classic_size(path)
    groups, variables = [], []

    def walk(g, prefix: str):
        groups.append(Group(prefix, {k: g.getncattr(k) for k in g.ncattrs()},
                            {n: (len(d), d.isunlimited()) for n, d in g.dimensions.items()}))
        for name, v in g.variables.items():
            where = f"{prefix}/{name}" if prefix else name
            if isinstance(v.datatype, netCDF4.VLType) and v.dtype is not str:
                raise UnsupportedDtypeError(f"{path}: variable {where} has a variable-length type "
                                            f"({v.datatype}), which byte2bit does not store yet")
            dtype = np.dtype(object) if v.dtype is str else np.dtype(v.dtype)
            if isinstance(v.datatype, netCDF4.EnumType):
                raise UnsupportedDtypeError(f"{path}: variable {where} has an enum type, which byte2bit "
                                            "does not store yet")
            chunking = v.chunking() if fmt == "netcdf4" else None
            chunks = tuple(chunking) if isinstance(chunking, list) else None
            variables.append(Variable(where, tuple(v.dimensions), tuple(v.shape), dtype,
                                      {k: v.getncattr(k) for k in v.ncattrs()}, chunks, kind_of(dtype)))
        for name, child in g.groups.items():
            walk(child, f"{prefix}/{name}" if prefix else name)
    walk(ds, "")
    return SourceTree(path, fmt, groups, variables)


def _scan_hdf5(path: str, f) -> SourceTree:
    import h5py
    groups = {"": Group("", _hdf5_attrs(path, "/", f))}
    variables, counter = [], [0]

    def visit(name, obj):
        if isinstance(obj, h5py.Group):
            groups[name] = Group(name, _hdf5_attrs(path, name, obj))
        elif isinstance(obj, h5py.Dataset):
            if obj.shape is None:
                raise UnsupportedDtypeError(f"{path}: dataset {name} has a null dataspace")
            dtype = obj.dtype
            if h5py.check_vlen_dtype(dtype) is not None and h5py.check_string_dtype(dtype) is None:
                raise UnsupportedDtypeError(f"{path}: dataset {name} has a variable-length type, which "
                                            "byte2bit does not store yet")
            if dtype.kind == "O" and h5py.check_string_dtype(dtype) is None:
                raise UnsupportedDtypeError(f"{path}: dataset {name} holds object references")
            parent = name.rpartition("/")[0]
            group = groups.setdefault(parent, Group(parent, {}))
            variables.append(Variable(name, _phony_dims(group, obj.shape, counter), tuple(obj.shape), np.dtype(dtype),
                                      _hdf5_attrs(path, name, obj), obj.chunks, kind_of(dtype),
                                      hdf5_fillvalue=obj.fillvalue))
    f.visititems(visit)
    return SourceTree(path, "hdf5", list(groups.values()), variables)


def _phony_dims(group: Group, shape, counter: list[int]) -> tuple[str, ...]:
    """Dimension names for plain HDF5, which has none: one per distinct size in a group, as
    h5netcdf's ``phony_dim_N`` (a dataset using one size twice gets two names), numbered across
    the file so that a group's names never clash with its parent's in an xarray DataTree."""
    names = []
    for size in shape:
        taken = [n for n, (s, _) in group.dims.items() if s == size and n not in names]
        if taken:
            names.append(taken[0])
        else:
            name = f"phony_dim_{counter[0]}"
            counter[0] += 1
            group.dims[name] = (size, False)
            names.append(name)
    return tuple(names)


def _hdf5_attrs(path: str, where: str, obj) -> dict:
    import h5py
    out = {}
    for key in obj.attrs:
        if key in DIMENSION_SCALE_ATTRS:
            continue
        try:
            value = obj.attrs[key]
        except (OSError, TypeError) as e:
            raise SourceError(f"{path}: cannot read attribute {key!r} of {where}: {e}") from None
        if isinstance(value, h5py.Empty):
            value = None
        out[key] = value
    return out
