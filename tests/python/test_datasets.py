"""NetCDF, HDF5 and Zarr into .b2b: every such file of the shared data, proved against xarray,
h5py and zarr-python; verify failing where it must; bad input; Dask."""
import glob
import os
import shutil
import subprocess
import sys
import warnings

import numpy as np
import pytest

import byte2bit

xr = pytest.importorskip("xarray")
netCDF4 = pytest.importorskip("netCDF4")
h5py = pytest.importorskip("h5py")
zarr = pytest.importorskip("zarr")

DATA = os.environ.get("B2B_DATA", os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data"))
NETCDF = sorted(glob.glob(os.path.join(DATA, "netcdf", "*", "*.nc")))
HDF5 = sorted(glob.glob(os.path.join(DATA, "hdf5", "*", "*")))
ZARR = sorted(glob.glob(os.path.join(DATA, "zarr", "*", "*.zarr")))
needs_data = pytest.mark.skipif(not (NETCDF and HDF5 and ZARR), reason=f"no NetCDF/HDF5/Zarr sample data in {DATA}")


def group_of(path):
    return os.path.splitext(os.path.basename(path))[0]


def quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # xarray's notes about the sources' own non-conforming fill values
        return fn(*args, **kwargs)


@needs_data
def test_formats_are_recognised_by_content(tmp_path):
    kinds = {os.path.basename(p): byte2bit.detect(p) for p in NETCDF + HDF5 + ZARR}
    assert kinds["eraint_uvz.nc"] == "netcdf3" and kinds["tmmx_20190121.nc"] == "netcdf4"
    assert kinds["40_20181220_060630.pvol.h5"] == "hdf5" and kinds["cube-1-250-250.zarr"] == "zarr"
    renamed = tmp_path / "no_suffix"
    shutil.copy(NETCDF[0], renamed)
    assert byte2bit.detect(renamed) == byte2bit.detect(NETCDF[0])
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(byte2bit.UnknownFormatError, match="NetCDF.*HDF5.*Zarr"):
        byte2bit.transform(tmp_path / "notes.txt", tmp_path / "x.b2b")
    assert sorted(os.listdir(tmp_path)) == ["no_suffix", "notes.txt"]


@needs_data
@pytest.mark.parametrize("path", NETCDF, ids=os.path.basename)
def test_netcdf_identical_in_xarray(tmp_path, path):
    out = byte2bit.transform(path, tmp_path / "out.b2b", progress=False)
    assert byte2bit.verify(path, out, progress=False).equal
    for decode in (True, False):
        src = quiet(xr.open_dataset, path, decode_cf=decode)
        with quiet(xr.open_dataset, out, engine="byte2bit", decode_cf=decode) as b:
            xr.testing.assert_identical(src.load(), b.load())
        tree = quiet(xr.open_datatree, out, engine="byte2bit", decode_cf=decode)
        xr.testing.assert_identical(src, tree[group_of(path)].to_dataset())
    if os.path.basename(path).startswith(("tmmx", "MODIS")):
        # plain zarr-python + xarray, with no byte2bit reader in between (where JSON can say every
        # attribute type: see CONTAINER.md for the float32 and NaN-on-integers cases)
        for decode in (True, False):
            with quiet(xr.open_zarr, byte2bit.open_store(out), group=group_of(path), consolidated=False,
                       decode_cf=decode) as b:
                xr.testing.assert_identical(quiet(xr.open_dataset, path, decode_cf=decode).load(), b.load())


@needs_data
def test_zarr_identical_in_xarray(tmp_path):
    path = ZARR[0]
    out = byte2bit.transform(path, tmp_path / "cube.b2b", progress=False)
    assert byte2bit.verify(path, out, progress=False).equal
    for decode in (True, False):
        src = xr.open_zarr(path, decode_cf=decode, consolidated=True)
        with xr.open_zarr(byte2bit.open_store(out), group=group_of(path), consolidated=False, decode_cf=decode) as b:
            xr.testing.assert_identical(src.load(), b.load())


@needs_data
@pytest.mark.parametrize("path", HDF5, ids=os.path.basename)
def test_hdf5_every_group_dataset_and_attribute_through_h5py(tmp_path, path):
    from byte2bit.datasets import restore_attrs, same_value
    out = byte2bit.transform(path, tmp_path / "out.b2b", progress=False)
    assert byte2bit.verify(path, out, progress=False).equal
    root = zarr.open_group(byte2bit.open_store(out), mode="r")
    record = root.attrs["byte2bit"]["sources"][0]
    top = root[group_of(path)]
    seen = []
    with h5py.File(path, "r") as f:
        def check(name, obj):
            stored = top[name]
            dtype = obj.dtype if isinstance(obj, h5py.Dataset) and obj.dtype.kind in "biufc" else None
            attrs = restore_attrs(dict(stored.attrs), record, name, dtype)
            assert set(attrs) == set(obj.attrs), name
            for k in obj.attrs:
                assert same_value(obj.attrs[k], attrs[k]), (name, k)
            if isinstance(obj, h5py.Dataset):
                a = obj[()]
                b = stored[...]
                assert a.dtype.kind == "S" or a.dtype == b.dtype, name
                assert a.tobytes() == np.asarray(b).astype(a.dtype).tobytes(), name
            seen.append(name)
        f.visititems(check)
        assert all(same_value(f.attrs[k], v) for k, v in restore_attrs(dict(top.attrs), record, "/", None).items())
    assert len(seen) > 50
    tree = quiet(xr.open_datatree, out, engine="byte2bit")  # phony dimensions never clash between groups
    assert len(list(tree.subtree)) > 3


@needs_data
def test_glob_into_one_b2b_and_verify_equal(tmp_path, capsys):
    pattern = os.path.join(DATA, "netcdf", "*", "*.nc")
    out = byte2bit.transform(pattern, tmp_path / "netcdf.b2b", progress=False)
    root = zarr.open_group(byte2bit.open_store(out), mode="r")
    assert sorted(n for n, _ in root.groups() if n != "__manifest__") == sorted(group_of(p) for p in NETCDF)
    report = byte2bit.verify(pattern, out, progress=False)
    assert report.equal and len(report.bands) >= 10
    tree = quiet(xr.open_datatree, out, engine="byte2bit")
    assert {"tmmx_20190121", "eraint_uvz"} <= set(tree.children)
    # one file of several, through open_dataset with group=
    with quiet(xr.open_dataset, out, engine="byte2bit", group="eraint_uvz") as ds:
        xr.testing.assert_identical(ds.load(), quiet(xr.open_dataset, NETCDF[[group_of(p) for p in NETCDF].index("eraint_uvz")]))
    r = byte2bit.verify_equal(pattern, out, arrays=["air_temperature", "eraint_uvz/z"], progress_every=1)
    assert r.equal and sorted(b.name for b in r.bands) == ["eraint_uvz/z", "tmmx_20190121/air_temperature"]
    assert "verify: 1/" in capsys.readouterr().out
    with pytest.raises(byte2bit.InvalidArgumentError, match="no array named nope"):
        byte2bit.verify_equal(pattern, out, arrays=["nope"])
    # a source file missing at verify is a problem, never a pass
    report = byte2bit.verify(NETCDF[:2], out, progress=False, raise_on_mismatch=False)
    assert not report.ok and any("not among the sources" in p for p in report.problems)


def _copy(src, dst):
    shutil.copy(src, dst)
    os.chmod(dst, 0o644)
    return str(dst)


@needs_data
def test_verify_fails_on_changed_values_attributes_and_missing_chunks(tmp_path):
    path = [p for p in NETCDF if "tmmx" in p][0]
    src = _copy(path, tmp_path / "tmmx.nc")
    out = byte2bit.transform(src, tmp_path / "t.b2b", progress=False, form="directory")
    with netCDF4.Dataset(src, "a") as ds:
        ds.set_auto_maskandscale(False)
        ds["air_temperature"][10, 20] = ds["air_temperature"][10, 20] + 3
    with pytest.raises(byte2bit.VerificationError) as e:
        byte2bit.verify(src, out, progress=False)
    bad = [b for b in e.value.report.bands if not b.equal]
    assert [b.name for b in bad] == ["tmmx/air_temperature"] and bad[0].max_abs_error == 3
    _copy(path, src)
    with netCDF4.Dataset(src, "a") as ds:
        ds["air_temperature"].units = "degC"
    report = byte2bit.verify(src, out, progress=False, raise_on_mismatch=False)
    assert not report.ok and any("attribute units" in p for p in report.problems)
    _copy(path, src)
    assert byte2bit.verify(src, out, progress=False).equal
    os.unlink(os.path.join(out, "tmmx", "air_temperature", "c", "0", "0"))
    with pytest.raises(byte2bit.CorruptDataError, match="missing"):
        byte2bit.verify(src, out, progress=False)
    assert not byte2bit.inspect_byte2bit(out).ok


@needs_data
def test_truncated_inputs_name_the_file_and_skip_converts_the_rest(tmp_path):
    good = _copy([p for p in NETCDF if "MODIS" in p][0], tmp_path / "good.nc")
    for name, source in (("cut_hdf5.nc", [p for p in NETCDF if "tmmx" in p][0]),
                         ("cut_classic.nc", [p for p in NETCDF if "eraint" in p][0]),
                         ("cut.h5", HDF5[0])):
        data = open(source, "rb").read()
        (tmp_path / name).write_bytes(data[:len(data) // 3])
        with pytest.raises(byte2bit.Byte2BitError, match=name):
            byte2bit.transform(tmp_path / name, tmp_path / "x.b2b", progress=False)
    assert not [n for n in os.listdir(tmp_path) if n.startswith(("x.b2b", ".x.b2b"))]
    inputs = [str(tmp_path / "*.nc"), str(tmp_path / "*.h5")]
    with pytest.warns(UserWarning, match="skipped cut_"):
        out = byte2bit.transform(inputs, tmp_path / "all.b2b", progress=False, on_error="skip")
    root = zarr.open_group(byte2bit.open_store(out), mode="r")
    assert [n for n, _ in root.groups() if n != "__manifest__"] == ["good"]
    skipped = sorted(s["file"] for s in root.attrs["byte2bit"]["skipped"])
    assert skipped == ["cut.h5", "cut_classic.nc", "cut_hdf5.nc"]
    report = byte2bit.verify(inputs, out, progress=False)
    assert report.ok and sum("skipped at transform" in n for n in report.notes) == 3
    assert sum("skipped" in n for n in byte2bit.inspect_byte2bit(out).notes) == 3
    assert good


@needs_data
def test_unwritable_destination_leaves_nothing(tmp_path):
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(byte2bit.InvalidArgumentError, match="does not exist"):
        byte2bit.transform(NETCDF[0], tmp_path / "a_file" / "out.b2b", progress=False)
    with pytest.raises(byte2bit.InvalidArgumentError, match="does not exist"):
        byte2bit.transform(NETCDF[0], tmp_path / "missing" / "out.b2b", progress=False)
    assert os.listdir(tmp_path) == ["a_file"]


@needs_data
def test_failed_transform_keeps_the_previous_file(tmp_path):
    out = byte2bit.transform(NETCDF[0], tmp_path / "x.b2b", progress=False)
    before = open(out, "rb").read()
    data = open(HDF5[0], "rb").read()
    (tmp_path / "cut.h5").write_bytes(data[:len(data) // 2])
    with pytest.raises(byte2bit.Byte2BitError):
        byte2bit.transform(tmp_path / "cut.h5", out, progress=False)
    assert open(out, "rb").read() == before
    assert sorted(os.listdir(tmp_path)) == ["cut.h5", "x.b2b"]


@needs_data
def test_progress_and_cancel(tmp_path):
    src = [p for p in NETCDF if "eraint" in p][0]
    seen = []
    out = byte2bit.transform(src, tmp_path / "p.b2b", progress=seen.append)
    assert len(seen) > 3 and seen == sorted(seen) and seen[-1] == 1.0
    seen.clear()
    byte2bit.verify(src, out, progress=seen.append)
    assert len(seen) > 3 and seen == sorted(seen) and seen[-1] == 1.0
    with pytest.raises(byte2bit.Byte2BitError, match="transform cancelled"):
        byte2bit.transform(src, tmp_path / "c.b2b", progress=lambda f: f < 0.5)
    assert os.listdir(tmp_path) == ["p.b2b"]


@needs_data
@pytest.mark.parametrize("at", [0.05, 0.5, 1.0])
def test_killed_writer_keeps_the_previous_file(tmp_path, at):
    out = byte2bit.transform(NETCDF[0], tmp_path / "x.b2b", progress=False)
    before = open(out, "rb").read()
    src = [p for p in NETCDF if "eraint" in p][0]
    script = ("import os, signal, sys, byte2bit\n"
              "def kill(f):\n"
              "    if f >= float(sys.argv[3]): os.kill(os.getpid(), signal.SIGKILL)\n"
              "byte2bit.transform(sys.argv[1], sys.argv[2], progress=kill)\n")
    r = subprocess.run([sys.executable, "-c", script, src, out, str(at)], capture_output=True, text=True)
    assert r.returncode == -9, r.stderr
    assert open(out, "rb").read() == before
    assert byte2bit.verify(NETCDF[0], out, progress=False).equal
    assert [n for n in os.listdir(tmp_path) if not n.endswith(".tmp")] == ["x.b2b"]


@needs_data
def test_zarr_python_reads_every_array_in_a_fresh_process(tmp_path):
    out = byte2bit.transform([NETCDF[0], HDF5[1]], tmp_path / "two.b2b", progress=False)
    script = (
        "import sys, zarr, numpy as np\n"
        "root = zarr.open_group(zarr.storage.ZipStore(sys.argv[1], mode='r'), mode='r')\n"
        "n = 0\n"
        "def walk(g):\n"
        "    global n\n"
        "    for _, m in g.members():\n"
        "        if isinstance(m, zarr.Group): walk(m)\n"
        "        else: np.asarray(m[...]); n += 1\n"
        "walk(root)\n"
        "assert 'byte2bit.datasets' not in sys.modules  # only the codec, found through its entry point\n"
        "print(n)\n")
    r = subprocess.run([sys.executable, "-c", script, out], capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr
    assert int(r.stdout) > 100


@needs_data
def test_error_bound_touches_floating_data_only(tmp_path):
    path = ZARR[0]
    out = byte2bit.transform(path, tmp_path / "q.b2b", quantize_scale=0.01, progress=False,
                             encoding={"kd489": {"quantize_scale": 0}})
    report = byte2bit.verify(path, out, progress=False)
    bands = {b.name.split("/", 1)[1]: b for b in report.bands}
    assert report.ok and not report.equal
    assert bands["conc_chl"].bound == 0.005 and 0 < bands["conc_chl"].max_abs_error <= 0.005
    assert bands["conc_chl"].nodata_mismatches == 0  # NaN (the fill value) stays NaN
    assert bands["kd489"].equal and bands["kd489"].bound is None  # the override
    assert bands["lat"].equal and bands["lat"].bound is None and bands["lon_bnds"].bound is None  # coordinates
    with pytest.raises(byte2bit.InvalidArgumentError, match="coordinates"):
        byte2bit.transform(path, tmp_path / "q2.b2b", encoding={"lat": {"quantize_scale": 0.1}}, progress=False)


@needs_data
def test_chunks_follow_the_source_unless_overridden(tmp_path):
    path = ZARR[0]
    out = byte2bit.transform(path, tmp_path / "c.b2b", progress=False, compression_level=0,
                             chunks={"lat": 500}, encoding={"time": {"chunks": (5,)}})
    root = zarr.open_group(byte2bit.open_store(out), mode="r")
    assert root["cube-1-250-250/conc_chl"].chunks == (1, 500, 250)
    assert root["cube-1-250-250/time"].chunks == (5,)
    assert byte2bit.verify(path, out, progress=False).equal


def test_strings_compound_and_opaque_types_round_trip(tmp_path):
    h5 = tmp_path / "types.h5"
    compound = np.dtype([("a", "<i4"), ("b", ">f8"), ("c", "S3")])
    with h5py.File(h5, "w") as f:
        f["compound"] = np.array([(1, 2.5, b"x"), (-3, np.nan, b"yz\0")], dtype=compound)
        f.create_dataset("names", data=["alpha", "βeta", ""], dtype=h5py.string_dtype())
        f["fixed"] = np.array([b"ab", b"c"], dtype="S2")
        f["big_endian"] = np.arange(6, dtype=">i2").reshape(2, 3)
        f["names"].attrs["long_name"] = "names"
        f.attrs["version"] = np.int64(3)
        f.attrs["flags"] = np.array([1.5, np.nan], dtype="f4")
    nc = tmp_path / "strings.nc"
    with netCDF4.Dataset(nc, "w") as ds:
        ds.createDimension("n", 2)
        v = ds.createVariable("label", str, ("n",))
        v[0], v[1] = "one", "twö"
        sub = ds.createGroup("inner")
        sub.createDimension("m", 3)
        sub.createVariable("x", "f4", ("m",))[:] = [1, 2, 3]
    for path in (h5, nc):
        out = byte2bit.transform(path, tmp_path / f"{path.name}.b2b", progress=False)
        assert byte2bit.verify(path, out, progress=False).equal
    notes = byte2bit.inspect_byte2bit(tmp_path / "types.h5.b2b").notes
    assert any("compound" in n for n in notes) and any("variable-length strings: UTF-8" in n for n in notes)
    with xr.open_dataset(tmp_path / "strings.nc.b2b", engine="byte2bit") as ds:
        assert list(ds["label"].values) == ["one", "twö"] or list(ds["label"].values) == [b"one", "twö".encode()]
    with xr.open_dataset(tmp_path / "strings.nc.b2b", engine="byte2bit", group="strings/inner") as ds:
        xr.testing.assert_identical(ds, xr.open_dataset(nc, group="inner"))


@needs_data
def test_cli_transform_and_verify(tmp_path):
    b2b = [sys.executable, "-m", "byte2bit.cli"]
    r = subprocess.run(b2b + ["transform", HDF5[1], str(tmp_path / "r.b2b")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    r = subprocess.run(b2b + ["verify", HDF5[1], str(tmp_path / "r.b2b")], capture_output=True, text=True)
    assert r.returncode == 0 and "EQUAL" in r.stdout
    r = subprocess.run(b2b + ["verify", HDF5[0], str(tmp_path / "r.b2b")], capture_output=True, text=True)
    assert r.returncode == 1 and "not among the sources" in r.stdout


@needs_data
def test_dask_distributed_output_is_byte_identical(tmp_path):
    dask = pytest.importorskip("dask")
    distributed = pytest.importorskip("distributed")
    sources = [NETCDF[0], HDF5[1]]
    with dask.config.set(scheduler="synchronous"):
        sequential = open(byte2bit.transform(sources, tmp_path / "seq.b2b", progress=False), "rb").read()
    threaded = open(byte2bit.transform(sources, tmp_path / "thr.b2b", progress=False), "rb").read()
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        out = byte2bit.transform(sources, tmp_path / "dist.b2b", progress=False)
        assert byte2bit.verify(sources, out, progress=False).equal
        worked = client.run(lambda: "byte2bit.datasets" in __import__("sys").modules)
    assert sorted(worked.values()) == [True, True]  # the chunk tasks ran on both workers
    assert open(out, "rb").read() == sequential == threaded
