"""Zarr v2 and v3 stores (a directory or a zip file) through zarr-python.

Dimension names come from v3's ``dimension_names`` or v2's ``_ARRAY_DIMENSIONS`` attribute. A v2
array's ``fill_value`` is what xarray reads as its ``_FillValue``, so it becomes that attribute,
which is how Zarr v3 stores written by xarray carry it.
"""
from __future__ import annotations

import os
import zipfile

import numpy as np

from . import Group, SourceTree, Variable, kind_of

V2_DIMENSIONS = "_ARRAY_DIMENSIONS"


def open_file(path: str, fmt: str = "zarr"):
    import zarr
    if os.path.isdir(path):
        store = zarr.storage.LocalStore(path, read_only=True)
    elif zipfile.is_zipfile(path):
        store = zarr.storage.ZipStore(path, mode="r")
    else:
        raise ValueError("neither a directory nor a zip file")
    return zarr.open(store=store, mode="r")


def read(node, variable: str, slices: tuple) -> np.ndarray:
    arr = node[variable] if variable else node
    return np.asarray(arr[slices] if slices else arr[...])


def scan(path: str, fmt: str = "zarr") -> SourceTree:
    import zarr
    node = open_file(path)
    groups, variables = [], []

    def add_array(where: str, arr, group: Group):
        attrs = dict(arr.attrs)
        if arr.metadata.zarr_format == 2:
            dims = attrs.pop(V2_DIMENSIONS, None) or [f"dim_{i}" for i in range(arr.ndim)]
            if arr.metadata.fill_value is not None:
                attrs["_FillValue"] = arr.metadata.fill_value
        else:
            dims = list(arr.metadata.dimension_names or [f"dim_{i}" for i in range(arr.ndim)])
        dtype = np.dtype(arr.dtype)
        for d, size in zip(dims, arr.shape):
            group.dims.setdefault(d, (size, False))
        variables.append(Variable(where, tuple(dims), tuple(arr.shape), dtype, attrs, tuple(arr.chunks),
                                  kind_of(dtype)))

    def walk(g, prefix: str):
        group = Group(prefix, dict(g.attrs))
        groups.append(group)
        for name, member in sorted(g.members(), key=lambda m: m[0]):
            where = f"{prefix}/{name}" if prefix else name
            if isinstance(member, zarr.Group):
                walk(member, where)
            else:
                add_array(where, member, group)

    if isinstance(node, zarr.Array):  # a store holding one array at its root
        group = Group("", {})
        groups.append(group)
        add_array("", node, group)
    else:
        walk(node, "")
    return SourceTree(path, "zarr", groups, variables)
