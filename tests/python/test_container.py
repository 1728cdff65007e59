"""The .b2b container: single arrays, archives, both forms, atomic writes, inspection, errors."""
import os
import zipfile

import numpy as np
import pytest

import byte2bit


@pytest.fixture
def image():
    rng = np.random.default_rng(0)
    return (rng.normal(0, 30, (1100, 700)).cumsum(axis=1) % 60000).astype(np.uint16)


@pytest.mark.parametrize("form", ["zip", "directory"])
def test_single_array_both_forms(tmp_path, image, form):
    path = tmp_path / "sub" / "dir" / "image.b2b"  # parents are created
    byte2bit.save_byte2bit(path, image, compression_level=2, form=form)
    assert path.is_dir() == (form == "directory")
    assert np.array_equal(byte2bit.load_byte2bit(path), image)
    out = np.empty_like(image)
    byte2bit.load_byte2bit_into(path, out)
    assert np.array_equal(out, image)
    info = byte2bit.inspect_byte2bit(path)
    (arr,) = info.arrays
    assert arr.chunks == (512, 512) and arr.chunk_count == 6 and arr.chunks_ok == 6
    assert arr.compression_level == 2 and arr.raw_bytes == image.nbytes and info.checksums_ok
    assert "uint16 (1100, 700)" in str(info) and "6/6 chunks OK" in str(info)
    assert not [p for p in os.listdir(path.parent) if p.startswith(".")]  # no temporaries left


def test_zip_is_readable_by_people_and_stored(tmp_path, image):
    path = tmp_path / "a.b2b"
    byte2bit.save_byte2bit(path, image)
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        assert len(names) == len(set(names))
        assert "zarr.json" in names and "data/zarr.json" in names and "data/c/0/0" in names
        assert all(i.compress_type == zipfile.ZIP_STORED for i in zf.infolist())


def test_overwrite_replaces_atomically(tmp_path, image):
    path = tmp_path / "a.b2b"
    byte2bit.save_byte2bit(path, image)
    byte2bit.save_byte2bit(path, image[:10])
    assert byte2bit.load_byte2bit(path).shape == (10, 700)
    d = tmp_path / "d.b2b"
    byte2bit.save_byte2bit(d, image, form="directory")
    byte2bit.save_byte2bit(d, image[:5], form="directory")
    assert byte2bit.load_byte2bit(d).shape == (5, 700)


def test_failed_write_leaves_nothing(tmp_path, image):
    path = tmp_path / "bad.b2b"
    with pytest.raises(byte2bit.UnsupportedDtypeError):
        byte2bit.save_archive(path, {"good": image, "bad": np.array(["x"], dtype=object)})
    assert os.listdir(tmp_path) == []
    byte2bit.save_byte2bit(path, image)
    before = path.read_bytes()
    with pytest.raises(byte2bit.UnsupportedDtypeError):
        byte2bit.save_byte2bit(path, np.array([1], dtype="datetime64[s]"))
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["bad.b2b"]


def test_archive_lazy_and_whole(tmp_path, image):
    arrays = {"bands/B02": image, "bands/B03": image[::-1].copy(), "mask": image > 30000,
              "meta/names": np.array([b"B02", b"B03"]), "scalar": np.float64(3.5),
              "empty": np.zeros((0, 4), np.int8), "cplx": np.arange(10) * (1 + 2j)}
    path = tmp_path / "arch.b2b"
    byte2bit.save_archive(path, arrays)
    assert sorted(byte2bit.list_archive(path)) == sorted(arrays)
    with byte2bit.open_archive(path) as arch:
        assert arch.info("bands/B02")["shape"] == image.shape
        assert np.array_equal(arch["bands/B03"], arrays["bands/B03"])
        with pytest.raises(KeyError):
            arch["nope"]
    loaded = byte2bit.load_archive(path)
    for k, v in arrays.items():
        assert np.array_equal(loaded[k], v) and loaded[k].dtype == np.asarray(v).dtype
    with pytest.raises(byte2bit.Byte2BitError, match="archive"):
        byte2bit.load_byte2bit(path)


def test_archive_rejects_bad_names(tmp_path):
    for bad in ("", "../x", "a//b", "__x"):
        with pytest.raises(byte2bit.InvalidArgumentError):
            byte2bit.save_archive(tmp_path / "n.b2b", {bad: np.zeros(3)})


def test_error_bounded_container(tmp_path):
    x = np.cumsum(np.random.default_rng(2).normal(size=300_000)).astype(np.float32)
    path = tmp_path / "q.b2b"
    byte2bit.save_byte2bit(path, x, compression_level=1, quantize_scale=0.01)
    y = byte2bit.load_byte2bit(path)
    assert np.max(np.abs(x.astype(np.float64) - y)) <= 0.005
    assert "error <= 0.005" in str(byte2bit.inspect_byte2bit(path))


def test_corrupt_chunk_is_named(tmp_path, image):
    path = tmp_path / "c.b2b"
    byte2bit.save_byte2bit(path, image, form="directory")
    chunk = path / "data" / "c" / "1" / "0"
    raw = bytearray(chunk.read_bytes())
    raw[len(raw) // 2] ^= 0x40
    chunk.write_bytes(bytes(raw))
    with pytest.raises(byte2bit.CorruptDataError, match="data/c/1/0"):
        byte2bit.load_byte2bit(path)
    report = byte2bit.inspect_byte2bit(path)
    assert not report.checksums_ok and "data/c/1/0" in str(report)


def test_wrong_inputs(tmp_path, image):
    with pytest.raises(FileNotFoundError):
        byte2bit.load_byte2bit(tmp_path / "missing.b2b")
    junk = tmp_path / "junk.b2b"
    junk.write_bytes(b"not a zip at all")
    with pytest.raises(byte2bit.CorruptDataError, match="not a .b2b"):
        byte2bit.load_byte2bit(junk)
    path = tmp_path / "a.b2b"
    byte2bit.save_byte2bit(path, image)
    with pytest.raises(byte2bit.BufferMismatchError, match="dtype"):
        byte2bit.load_byte2bit_into(path, np.empty(image.shape, np.int16))
    with pytest.raises(byte2bit.BufferMismatchError, match="shape"):
        byte2bit.load_byte2bit_into(path, np.empty((3, 3), np.uint16))
    truncated = tmp_path / "t.b2b"
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises((byte2bit.CorruptDataError, OSError)):
        byte2bit.load_byte2bit(truncated)
