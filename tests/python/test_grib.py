"""GRIB message stores: every GRIB file of the shared data, each message proved bit for bit against
ecCodes reading the original file; attributes against ecCodes' keys; verify failing where it must."""
import glob
import json
import os
import shutil
import subprocess
import sys
import warnings

import numpy as np
import pytest

import byte2bit

zarr = pytest.importorskip("zarr")
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # the bindings' note that Debian's library is older than they like
    ec = pytest.importorskip("eccodes")

DATA = os.environ.get("B2B_DATA", os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data"))
GRIB = sorted(glob.glob(os.path.join(DATA, "grib", "*", "*.grib*")))
CORRUPTED = [p for p in GRIB if "corrupted" in p]
GOOD = [p for p in GRIB if "corrupted" not in p]
needs_data = pytest.mark.skipif(not GOOD or not CORRUPTED, reason=f"no GRIB sample data in {DATA}")


def ecc_messages(path):
    """(values, keys) of every message, straight from ecCodes."""
    out = []
    with open(path, "rb") as f:
        while (h := ec.codes_grib_new_from_file(f)) is not None:
            keys = {k: ec.codes_get(h, k) for k in ("shortName", "name", "paramId", "typeOfLevel", "level",
                                                    "dataDate", "dataTime", "stepRange", "units", "gridType",
                                                    "validityDate", "validityTime")}
            for k in ("Ni", "Nj", "jPointsAreConsecutive"):
                keys[k] = ec.codes_get(h, k) if ec.codes_is_defined(h, k) else None
            out.append((ec.codes_get_double_array(h, "values"), keys))
            ec.codes_release(h)
    return out


@needs_data
@pytest.mark.parametrize("path", GOOD, ids=[os.path.basename(p) for p in GOOD])
def test_every_message_bit_exact_against_eccodes(tmp_path, path):
    out = byte2bit.transform(path, tmp_path / "m.b2b", progress=False)
    expected = ecc_messages(path)
    with byte2bit.GribStore(out) as store:
        assert store.keys() == [f"msg_{i:06d}" for i in range(len(expected))]
        for i, (values, keys) in enumerate(expected):
            key = f"msg_{i:06d}"
            got = byte2bit.decompress_gridsimple_message(store, key)
            assert got.dtype == np.float64 and got.size == values.size
            assert np.array_equal(got.reshape(-1).view(np.uint64), values.view(np.uint64)), key
            if keys["Ni"] and keys["Nj"] and keys["Ni"] * keys["Nj"] == values.size:
                assert got.shape == ((keys["Ni"], keys["Nj"]) if keys["jPointsAreConsecutive"] else
                                     (keys["Nj"], keys["Ni"]))
            attrs = store.attrs(key)
            for k in ("shortName", "name", "paramId", "typeOfLevel", "level", "dataDate", "dataTime", "stepRange",
                      "units", "gridType"):
                assert attrs[k] == keys[k], (key, k)
            d, t = keys["validityDate"], keys["validityTime"]
            assert attrs["valid_time"] == f"{d // 10000:04d}-{d // 100 % 100:02d}-{d % 100:02d}T{t // 100:02d}:{t % 100:02d}:00"
            assert attrs["source_file"] == os.path.basename(path) and attrs["message_index"] == i
    assert byte2bit.verify(path, out, progress=False).equal


@needs_data
def test_how_each_packing_is_stored(tmp_path):
    by_name = {os.path.basename(p): p for p in GOOD}
    out = byte2bit.transform([by_name["spherical_harmonics.grib"], by_name["nam.t00z.awp21100.tm00.grib2"],
                              by_name["fields_with_missing_values.grib"]], tmp_path / "mix.b2b", progress=False)
    with byte2bit.GribStore(out) as store:
        how = [store.attrs(k)["byte2bit_grib"] for k in store.keys()]
    assert how[0]["stored"] == "grib_message"  # spectral: the message itself is smaller than its float64 values
    assert {h["stored"] for h in how[1:]} == {"packed_integers"}
    assert how[-1]["bitmap"] is True
    notes = byte2bit.inspect_byte2bit(out).notes
    assert any("1 message(s) kept as the original GRIB message" in n for n in notes)
    # zarr-python alone reads the packed integers and the bitmap
    root = zarr.open_group(byte2bit.open_store(out), mode="r")
    x = root["messages/msg_000001"][...]
    assert x.dtype.kind == "u" and x.shape == root["messages/msg_000001"].shape
    assert set(np.unique(root["bitmaps/msg_000155"][...])) <= {0, 1}
    # rows scanned alternately are stored turned round, and still decode to ecCodes' values
    src = by_name["alternate-scanning.grib"]
    with byte2bit.GribStore(byte2bit.transform(src, tmp_path / "alt.b2b", progress=False)) as store:
        assert store.attrs("msg_000000")["byte2bit_grib"]["rows_reversed"] == "odd"
        got = store.decompress("msg_000000")
        stored = store._read("messages/msg_000000")
    values = ecc_messages(src)[0][0]
    assert np.array_equal(got.reshape(-1).view(np.uint64), values.view(np.uint64))
    from byte2bit.grib import iter_messages, pack
    in_message_order = pack(next(iter_messages(src)))[0]
    assert np.array_equal(stored[0::2], in_message_order[0::2])
    assert np.array_equal(stored[1::2], in_message_order[1::2, ::-1])


@needs_data
def test_corrupted_file_names_file_and_message_and_skip_converts_the_rest(tmp_path):
    with pytest.raises(byte2bit.Byte2BitError, match=r"era5-levels-corrupted.grib: message 1"):
        byte2bit.transform(CORRUPTED[0], tmp_path / "x.b2b", progress=False)
    assert os.listdir(tmp_path) == []
    pick = [CORRUPTED[0]] + [p for p in GOOD if os.path.basename(p).startswith("regular_ll")]
    for p in pick:
        shutil.copy(p, tmp_path)
    with pytest.warns(UserWarning, match="skipped era5-levels-corrupted.grib"):
        out = byte2bit.transform(str(tmp_path / "*.grib"), tmp_path / "all.b2b", progress=False, on_error="skip")
    with byte2bit.GribStore(out) as store:
        assert len(store.keys()) == len(pick) - 1
        assert [s["file"] for s in store.tag["skipped"]] == ["era5-levels-corrupted.grib"]
    report = byte2bit.verify(str(tmp_path / "*.grib"), out, progress=False)
    assert report.equal and any("era5-levels-corrupted.grib: skipped" in n for n in report.notes)
    (tmp_path / "notes.grib").write_text("not GRIB")  # a file verify cannot read, which transform never saw
    report = byte2bit.verify(str(tmp_path / "*.grib"), out, progress=False, raise_on_mismatch=False)
    assert not report.ok and any("notes.grib: cannot be read" in p for p in report.problems)
    # a file cut short in the middle of a message
    data = open([p for p in GOOD if "era5-levels-members" in p][0], "rb").read()
    (tmp_path / "cut.grib").write_bytes(data[:1_000_000])
    with pytest.raises(byte2bit.Byte2BitError, match=r"cut.grib: message 68"):
        byte2bit.transform(tmp_path / "cut.grib", tmp_path / "cut.b2b", progress=False)


def _rewrite(src, dst, change):
    """dst: src with ``change(handle, n)`` applied to every message, through ecCodes."""
    with open(src, "rb") as f, open(dst, "wb") as o:
        n = 0
        while (h := ec.codes_grib_new_from_file(f)) is not None:
            change(h, n)
            o.write(ec.codes_get_message(h))
            ec.codes_release(h)
            n += 1


@needs_data
def test_verify_fails_on_changed_values_keys_and_messages(tmp_path):
    src = [p for p in GOOD if "uv_on_different_levels" in p][0]
    out = byte2bit.transform(src, tmp_path / "uv.b2b", progress=False, form="directory")

    def bump_value(h, n):
        if n == 3:
            v = ec.codes_get_double_array(h, "values")
            v[7] += 50
            ec.codes_set_double_array(h, "values", v)
    _rewrite(src, tmp_path / "values.grib", bump_value)
    report = byte2bit.verify(tmp_path / "values.grib", out, progress=False, raise_on_mismatch=False)
    assert not report.equal and [b.name for b in report.bands if not b.equal] == ["msg_000003"]

    _rewrite(src, tmp_path / "level.grib", lambda h, n: n == 5 and ec.codes_set(h, "level", 123))
    with pytest.raises(byte2bit.VerificationError, match="msg_000005.*attributes differ: level"):
        byte2bit.verify(tmp_path / "level.grib", out, progress=False)

    with open(tmp_path / "more.grib", "wb") as f:
        f.write(open(src, "rb").read() * 2)
    report = byte2bit.verify(tmp_path / "more.grib", out, progress=False, raise_on_mismatch=False)
    assert any("msg_000016 missing from the .b2b" in p for p in report.problems)

    assert byte2bit.verify(src, out, progress=False).equal
    os.unlink(os.path.join(out, "messages", "msg_000009", "c", "0", "0"))
    with pytest.raises(byte2bit.CorruptDataError, match="missing"):
        byte2bit.verify(src, out, progress=False)
    assert not byte2bit.inspect_byte2bit(out).ok


@needs_data
def test_options_that_do_not_apply_are_refused(tmp_path):
    with pytest.raises(byte2bit.InvalidArgumentError, match="quantize_scale"):
        byte2bit.transform(GOOD[0], tmp_path / "x.b2b", quantize_scale=0.1)
    with pytest.raises(byte2bit.InvalidArgumentError, match="cannot go into one"):
        byte2bit.transform([GOOD[0], os.path.join(DATA, "netcdf", "rioxarray", "MODIS_ARRAY.nc")], tmp_path / "x.b2b")
    with pytest.raises(byte2bit.InvalidArgumentError, match="not a GRIB message store"):
        byte2bit.decompress_gridsimple_message(byte2bit.transform(
            os.path.join(DATA, "netcdf", "rioxarray", "MODIS_ARRAY.nc"), tmp_path / "m.b2b", progress=False), "msg_000000")
    assert sorted(os.listdir(tmp_path)) == ["m.b2b"]


@needs_data
def test_cli_in_a_fresh_shell(tmp_path):
    src = [p for p in GOOD if "regular_gg_ml_g2" in p][0]
    b2b = os.path.join(os.path.dirname(sys.executable), "b2b")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    r = subprocess.run([b2b, "transform", src, str(tmp_path / "g.b2b")], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([b2b, "verify", src, str(tmp_path / "g.b2b")], capture_output=True, text=True, env=env)
    assert r.returncode == 0 and "EQUAL" in r.stdout, r.stdout + r.stderr


@needs_data
def test_hostile_stores_are_refused_without_allocating(tmp_path):
    from tamper import entries, rezip
    out = byte2bit.transform([p for p in GOOD if "uv_on_different_levels" in p][0], tmp_path / "uv.b2b",
                             progress=False)
    data = open(out, "rb").read()
    doc = json.loads(entries(data)["messages/msg_000000/zarr.json"])

    def tampered(change, name):
        d = json.loads(json.dumps(doc))
        change(d)
        path = tmp_path / name
        path.write_bytes(rezip(data, {"messages/msg_000000/zarr.json": json.dumps(d).encode()}))  # manifest agrees
        return path

    huge = tampered(lambda d: d.update(shape=[300_000, 300_000], chunk_grid={
        "name": "regular", "configuration": {"chunk_shape": [300_000, 300_000]}}), "huge.b2b")
    scale = tampered(lambda d: d["attributes"]["byte2bit_grib"].update(binaryScaleFactor=10**9), "scale.b2b")
    kind = tampered(lambda d: d["attributes"]["byte2bit_grib"].update(stored="pickle"), "kind.b2b")
    shape = tampered(lambda d: d.update(shape=d["shape"][::-1], chunk_grid={
        "name": "regular", "configuration": {"chunk_shape": d["shape"][::-1]}}), "shape.b2b")
    for path, message in ((huge, "at most 268 million"), (scale, "damaged packing parameters"),
                          (kind, "does not say how it is stored"), (shape, r"holds uint\d+ \(37, 72\)")):
        with pytest.raises(byte2bit.CorruptDataError, match=message):
            byte2bit.decompress_gridsimple_message(path, "msg_000000")
    assert byte2bit.decompress_gridsimple_message(out, "msg_000001").size == 2664
    with pytest.raises(KeyError, match="msg_000099"):
        byte2bit.decompress_gridsimple_message(out, "msg_000099")
