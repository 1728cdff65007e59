"""Issue 8 through the Python API, zarr, xarray and the CLI: a lost or damaged entry is an error
(or, for older files, a warning that says what cannot be checked), never silently wrong data."""
import hashlib
import io
import json
import os
import resource
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest
import zarr

import byte2bit
from byte2bit.errors import Byte2BitError, CorruptDataError
from tamper import entries, rezip, stream_layout

IMAGE = np.arange(1100 * 700, dtype=np.uint16).reshape(700, 1100) % 977
IMAGE[:512, :512] = 0  # an all-zero chunk is written too: its absence would be indistinguishable


def b2b(*args):
    return subprocess.run([sys.executable, "-m", "byte2bit.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=120)


@pytest.fixture(params=["zip", "directory"])
def saved(request, tmp_path):
    path = tmp_path / "x.b2b"
    byte2bit.save_byte2bit(path, IMAGE, form=request.param)
    return path


def delete(path, key):
    if path.is_dir():
        os.unlink(path / key)
    else:
        path.write_bytes(rezip(path.read_bytes(), {key: None}, manifest=False))


def test_every_chunk_is_written_and_listed(saved):
    report = byte2bit.inspect_byte2bit(saved)
    assert report.ok and report.format_version == 2 and report.arrays[0].chunks_ok == 6


def test_missing_chunk_is_an_error_everywhere(saved):
    delete(saved, "data/c/0/0")
    with pytest.raises(CorruptDataError, match="data/c/0/0"):
        byte2bit.load_byte2bit(saved)
    with pytest.raises(CorruptDataError, match="data/c/0/0"):
        zarr.open_group(byte2bit.open_store(saved), mode="r")["data"][:]
    report = byte2bit.inspect_byte2bit(saved)
    assert not report.ok and "data/c/0/0" in str(report)
    done = b2b("inspect", saved)
    assert done.returncode == 1 and "FAILED" in done.stdout


def test_missing_chunk_through_xarray(tmp_path):
    xr = pytest.importorskip("xarray")
    path = tmp_path / "x.b2b"
    byte2bit.save_byte2bit(path, IMAGE, form="directory")
    os.unlink(path / "data" / "c" / "1" / "2")
    with pytest.raises(CorruptDataError, match="data/c/1/2"):
        xr.open_zarr(byte2bit.open_store(path), consolidated=False)["data"].values


@pytest.mark.parametrize("field, value, where", [
    (6, b"\x54\x00", "zip archive"),  # version needed to extract: 8.4, which zipfile refuses at open
    (8, b"\x41\x00", "data/c/0/0"),  # general-purpose flags: encrypted with strong encryption
])
def test_zip_versions_and_flags_no_b2b_uses_are_damage(tmp_path, field, value, where):
    """Bits flipped in a central directory entry into a zip feature no .b2b writes (zipfile raises
    NotImplementedError or RuntimeError for them) are a clear error, in loading and inspecting."""
    path = tmp_path / "x.b2b"
    byte2bit.save_byte2bit(path, IMAGE)
    blob = bytearray(path.read_bytes())
    at = blob.rfind(b"PK\x01\x02", 0, blob.rfind(b"data/c/0/0"))  # the chunk's central directory entry
    blob[at + field:at + field + 2] = value
    path.write_bytes(bytes(blob))
    with pytest.raises(CorruptDataError, match=where):
        byte2bit.load_byte2bit(path)
    try:
        assert not byte2bit.inspect_byte2bit(path).ok
    except Byte2BitError:
        pass


@pytest.mark.parametrize("field, value", [("chunk_key_encoding", {"name": "default", "configuration": [None]}),
                                          ("data_type", {"name": "fixed_length_bytes", "configuration": [3]})])
def test_metadata_of_the_wrong_shape_is_damage(tmp_path, field, value):
    """A zarr.json whose nested configuration is not an object (with a manifest rewritten to match)
    is a clear error in loading and in inspect, not an AttributeError (found by test_mutations)."""
    path = tmp_path / "x.b2b"
    byte2bit.save_byte2bit(path, IMAGE)
    doc = json.loads(entries(path.read_bytes())["data/zarr.json"])
    doc[field] = value
    path.write_bytes(rezip(path.read_bytes(), {"data/zarr.json": json.dumps(doc).encode()}))
    with pytest.raises(Byte2BitError):
        byte2bit.load_byte2bit(path)
    try:
        assert not byte2bit.inspect_byte2bit(path).ok
    except Byte2BitError:
        pass


def test_older_files_are_read_and_say_what_they_cannot_check(tmp_path):
    """Container format 1 had no manifest and skipped chunks equal to the fill value."""
    path = tmp_path / "old.b2b"
    byte2bit.save_byte2bit(path, IMAGE)
    keys = entries(path.read_bytes())
    root = json.loads(keys["zarr.json"])
    root["attributes"]["byte2bit"]["format_version"] = 1
    path.write_bytes(rezip(path.read_bytes(), {"zarr.json": json.dumps(root).encode(), "data/c/0/0": None,
                                               "__manifest__/zarr.json": None}, manifest=False))
    with pytest.warns(UserWarning, match="cannot tell a lost chunk"):
        assert np.array_equal(byte2bit.load_byte2bit(path), IMAGE)  # the absent chunk was all zeros
    report = byte2bit.inspect_byte2bit(path)
    assert not report.ok and "UNVERIFIED" in str(report)
    assert b2b("inspect", path).returncode == 1


def test_directory_metadata_flip_is_caught(tmp_path):
    path = tmp_path / "x.b2b"
    byte2bit.save_byte2bit(path, IMAGE, form="directory")
    doc = (path / "data" / "zarr.json").read_text()
    (path / "data" / "zarr.json").write_text(doc.replace("1100", "1101", 1))
    with pytest.raises(CorruptDataError, match="manifest"):
        byte2bit.load_byte2bit(path)
    assert not byte2bit.inspect_byte2bit(path).ok


def test_duplicate_and_deflated_entries_are_refused(tmp_path):
    path = tmp_path / "x.b2b"
    byte2bit.save_byte2bit(path, IMAGE)
    data = path.read_bytes()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z, pytest.warns(UserWarning, match="Duplicate"):
        for key, value in entries(data).items():
            z.writestr(key, value)
        z.writestr("data/c/0/1", entries(data)["data/c/0/0"])
    (tmp_path / "dup.b2b").write_bytes(out.getvalue())
    (tmp_path / "deflated.b2b").write_bytes(rezip(data, {}, method=zipfile.ZIP_DEFLATED))
    for name, message in (("dup.b2b", "twice"), ("deflated.b2b", "compressed")):
        with pytest.raises(CorruptDataError, match=message):
            byte2bit.load_byte2bit(tmp_path / name)
        with pytest.raises(CorruptDataError, match=message):
            byte2bit.inspect_byte2bit(tmp_path / name)
        done = b2b("inspect", tmp_path / name)
        assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr


def test_special_files_in_place_of_chunks(tmp_path):
    path = tmp_path / "x.b2b"
    byte2bit.save_byte2bit(path, IMAGE, form="directory")
    chunk = path / "data" / "c" / "0" / "1"
    os.unlink(chunk)
    os.symlink("/dev/zero", chunk)
    with pytest.raises(CorruptDataError, match="not a regular file"):
        byte2bit.load_byte2bit(path)
    os.unlink(chunk)
    os.mkfifo(chunk)
    with pytest.raises(CorruptDataError, match="not a regular file"):  # and no hang
        byte2bit.load_byte2bit(path)
    assert not byte2bit.inspect_byte2bit(path).ok


def test_oversized_chunk_is_refused_before_reading(tmp_path):
    path = tmp_path / "x.b2b"
    byte2bit.save_byte2bit(path, IMAGE)
    path.write_bytes(rezip(path.read_bytes(), {"data/c/0/1": b"\0" * (3 << 20)}))
    with pytest.raises(Byte2BitError, match="more than"):
        byte2bit.load_byte2bit(path)


@pytest.mark.parametrize("edit,message", [
    (lambda a: a.update(data_type=7), "unsupported data_type"),
    (lambda a: a.update(data_type="uint17"), "unsupported data_type"),
    (lambda a: a.update(data_type="float128"), "unsupported data_type"),
    (lambda a: a["chunk_grid"]["configuration"].update(chunk_shape=[0, 512]), "positive integers"),
    (lambda a: a["chunk_grid"]["configuration"].update(chunk_shape=[-1, 512]), "positive integers"),
    (lambda a: a.update(shape=[-5, 700]), "non-negative integers"),
    (lambda a: a["codecs"][0]["configuration"].update(compression_level=99), "codec configuration"),
    (lambda a: a.update(shape=[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]), "nests deeper"),
    # what only zarr-python's own parser refuses (found by tests/gdal/test_mutations.py)
    (lambda a: a.update(zarr_format=None), "not valid Zarr v3 metadata"),
    (lambda a: a["chunk_grid"].update(name=""), "not valid Zarr v3 metadata"),
    (lambda a: a.update(dimension_names=["x"]), "not valid Zarr v3 metadata"),
    (lambda a: a.update(codecs=[]), "not valid Zarr v3 metadata"),
])
def test_malformed_metadata_is_a_clear_error(tmp_path, edit, message):
    path = tmp_path / "x.b2b"
    byte2bit.save_byte2bit(path, IMAGE)
    doc = json.loads(entries(path.read_bytes())["data/zarr.json"])
    edit(doc)
    path.write_bytes(rezip(path.read_bytes(), {"data/zarr.json": json.dumps(doc).encode()}))
    with pytest.raises(Byte2BitError, match=message):
        byte2bit.load_byte2bit(path)
    done = b2b("inspect", path)
    assert done.returncode != 0 and "Traceback" not in done.stderr


def test_damaged_local_header_is_refused_as_the_driver_refuses_it(tmp_path):
    """zipfile reads the method from the central directory only; GDAL reads the local header too."""
    path = tmp_path / "x.b2b"
    byte2bit.save_byte2bit(path, IMAGE)
    data = bytearray(path.read_bytes())
    data[9] ^= 4  # the first entry's compression method, in its local header
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptDataError, match="damaged local header of entry zarr.json"):
        byte2bit.load_byte2bit(path)
    with pytest.raises(CorruptDataError, match="damaged local header"):
        byte2bit.inspect_byte2bit(path)


def test_bad_zip_crc_is_one_clean_line(tmp_path):
    from tamper import flip_stored_bit
    path = tmp_path / "x.b2b"
    byte2bit.save_byte2bit(path, IMAGE)
    path.write_bytes(flip_stored_bit(path.read_bytes(), "data/c/0/1", 100))
    with pytest.raises(CorruptDataError, match="data/c/0/1"):
        byte2bit.load_byte2bit(path)
    done = b2b("inspect", path)
    assert done.returncode == 1 and "data/c/0/1" in done.stdout and "Traceback" not in done.stderr


def test_non_utf8_file_name(tmp_path):
    name = os.fsencode(tmp_path) + b"/caf\xe9.b2b"
    byte2bit.save_byte2bit(os.fsdecode(name), IMAGE)
    done = subprocess.run([sys.executable, "-m", "byte2bit.cli", "inspect", name], capture_output=True, timeout=120)
    assert done.returncode == 0 and b"integrity OK" in done.stdout


WRITE_UNTIL_FULL = textwrap.dedent("""
    import resource, signal, sys, numpy as np, byte2bit
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)       # writes past the limit fail with EFBIG
    resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))
    x = np.random.default_rng(0).integers(0, 60000, (2000, 2000), dtype=np.uint16)
    try:
        if sys.argv[2] == "save":
            byte2bit.save_byte2bit(sys.argv[1], x)
        else:
            from byte2bit.cli import main
            sys.exit(main(["decompress", sys.argv[1], sys.argv[1] + ".npy"]))
    except OSError as e:
        print("OSError", e.errno)
""")


def test_full_disk_leaves_nothing_behind(tmp_path):
    """A write that runs out of room (the file size limit stands in for a full disk) fails with an
    OSError and leaves neither a partial file nor its temporary."""
    target = tmp_path / "out" / "x.b2b"
    done = subprocess.run([sys.executable, "-c", WRITE_UNTIL_FULL, str(target), "save"], capture_output=True,
                          text=True, timeout=120)
    assert "OSError" in done.stdout, done.stderr
    assert list((tmp_path / "out").iterdir()) == []
    big = tmp_path / "big.b2b"
    byte2bit.save_byte2bit(big, np.random.default_rng(0).integers(0, 60000, (2000, 2000), dtype=np.uint16))
    done = subprocess.run([sys.executable, "-c", WRITE_UNTIL_FULL, str(big), "decompress"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.b2b", "out"]


def test_a_failed_write_leaves_nothing_even_with_writes_under_way(tmp_path, monkeypatch):
    """When one chunk's write fails, zarr's other chunk writes are still running. One that had
    started before the failure must not reopen the zip after the cleanup removed it (a ZipStore
    recreates its file): this left a .tmp behind when a full disk hit at the wrong moment."""
    import asyncio
    import time
    real_set = zarr.storage.ZipStore.set

    async def failing_set(self, key, value):
        if key.endswith("c/1/1"):
            raise OSError(27, "File too large")
        if "/c/" in key:  # the other chunks' writes are under way when that one fails
            await asyncio.sleep(0.3)
        await real_set(self, key, value)

    monkeypatch.setattr(zarr.storage.ZipStore, "set", failing_set)
    with pytest.raises(OSError):
        byte2bit.save_byte2bit(tmp_path / "x.b2b", np.arange(4 * 512 * 512, dtype=np.uint16).reshape(1024, 1024),
                               chunks=(512, 512))
    time.sleep(1.0)  # any write still running after the failure has ended by now
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("content", ["zeros", "classes"])
@pytest.mark.parametrize("shape", [(64 << 20,), (2, 32 << 20)], ids=["1-D", "2 wide rows"])
def test_decoder_scratch_is_bounded_whatever_the_shape(tmp_path, shape, content):
    """Case 13: a 77-byte stream of a 1-D array is one row, and the decoder used to keep about
    5 bytes of scratch per lane of a row: 8.4 GB for a declared 2 GiB. Now a few MB. Classes take
    the palette (method 3), whose decoder also kept two whole rows of indices (fixed in 2026-12)."""
    if content == "zeros":
        array = np.zeros(shape, np.uint8)
    else:  # runs of three classes, with strays
        size = int(np.prod(shape))
        runs = (np.arange(size) // 1000 + (np.random.default_rng(3).random(size) < 0.01)) % 3
        array = np.array([3, 9, 200], np.uint8)[runs].reshape(shape)
    stream = byte2bit.encode_array(array)
    if content == "zeros":
        assert len(stream) < 100
    else:
        assert stream_layout(stream)["method"] == 3  # the palette (method 4 needs narrow rows)
    (tmp_path / "s.b2bs").write_bytes(stream)
    script = textwrap.dedent(f"""
        import hashlib
        import numpy as np
        import byte2bit
        def peak_mib():
            return int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0]) // 1024
        stream = open({str(tmp_path / "s.b2bs")!r}, "rb").read()
        out = np.ones({shape!r}, np.uint8)  # the output, touched before measuring
        open("/proc/self/clear_refs", "w").write("5")  # restart the peak from here
        before = peak_mib()
        byte2bit.decode_array(stream, out=out)
        print(hashlib.sha256(out).hexdigest(), peak_mib() - before)
    """)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    digest, grew_mib = run.stdout.split()
    assert digest == hashlib.sha256(array).hexdigest(), "the decoded array differs"
    assert int(grew_mib) < 16, f"decoding a 64 MiB array grew the peak memory by {grew_mib} MiB"


def test_decompress_refuses_what_cannot_fit_before_writing(tmp_path):
    """Case 8: a small .b2b declaring a huge array made `b2b decompress` create a file of its declared
    size. Now the free space is checked first, and nothing is written."""
    path = tmp_path / "huge.b2b"
    byte2bit.save_byte2bit(path, np.zeros((4, 4), np.uint8), chunks=(2, 2))
    keys = entries(path.read_bytes())
    doc = json.loads(keys["data/zarr.json"])
    doc["shape"], doc["chunk_grid"]["configuration"]["chunk_shape"] = [1 << 20, 1 << 20], [1 << 19, 1 << 19]
    # the chunks are never read: their declared total (1 TiB) already exceeds any disk here
    path.write_bytes(rezip(path.read_bytes(), {"data/zarr.json": json.dumps(doc).encode()}))
    done = b2b("decompress", path, tmp_path / "huge.npy")
    assert done.returncode == 2 and "do not fit" in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert not (tmp_path / "huge.npy").exists()


def test_inspect_works_without_zarr(saved):
    """inspection.py promises to work where zarr-python cannot be imported (inside QGIS)."""
    script = ("import sys; sys.modules['zarr'] = None\n"
              "from byte2bit.inspection import inspect_byte2bit\n"
              f"print(inspect_byte2bit({str(saved)!r}).ok)")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "True", done.stderr
