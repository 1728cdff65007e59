"""Truncated, corrupted and hostile .b2b files give GDAL errors that name the problem, never a crash,
a hang or silently wrong pixels."""
import io
import json
import zipfile

import numpy as np
import pytest

from tamper import rezip, root_json
from test_gdal_driver import copy, mem_dataset


@pytest.fixture
def good(gdal, tmp_path):
    """A small valid .b2b (2 bands, 4 blocks each, overviews) and its source."""
    src = mem_dataset(gdal, 300, 260, bands=2)
    copy(gdal, src, tmp_path / "good.b2b", ["BLOCKSIZE=160"])
    return (tmp_path / "good.b2b").read_bytes(), src


def open_and_read(gdal, data: bytes, name="/vsimem/hostile/t.b2b"):
    """Open bytes as a .b2b and read every band, overview and mask; returns the pixels read."""
    gdal.FileFromMemBuffer(name, data)
    try:
        ds = gdal.OpenEx(name, gdal.OF_RASTER, allowed_drivers=["B2B"])
        out = []
        for i in range(1, ds.RasterCount + 1):
            band = ds.GetRasterBand(i)
            out.append(band.ReadRaster())
            for k in range(band.GetOverviewCount()):
                band.GetOverview(k).ReadRaster()
        return out
    finally:
        gdal.Unlink(name)


def test_every_truncation_fails_cleanly(gdal, good):
    data, src = good
    expected = [src.GetRasterBand(i).ReadRaster() for i in (1, 2)]
    for cut in sorted({1, 4, 30, 100, 1000, len(data) // 3, len(data) // 2, len(data) - 100, len(data) - 22,
                       len(data) - 1}):
        try:
            got = open_and_read(gdal, data[:cut])
        except RuntimeError:
            continue
        assert got == expected, f"cut at {cut}: pixels read differ without an error"


def test_flipped_bytes_in_chunks_are_detected(gdal, good):
    data, _ = good
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        chunks = [i for i in z.infolist() if "/c/" in i.filename]
    for info in chunks[::3]:
        # the data of a stored entry follows its 30-byte local header, name and extra field
        name_len = int.from_bytes(data[info.header_offset + 26:info.header_offset + 28], "little")
        extra_len = int.from_bytes(data[info.header_offset + 28:info.header_offset + 30], "little")
        start = info.header_offset + 30 + name_len + extra_len
        for pos in (start + 5, start + info.file_size // 2, start + info.file_size - 1):
            bad = bytearray(data)
            bad[pos] ^= 0x40
            with pytest.raises(RuntimeError, match=r"B2B: .*(checksum|CRC|chunk)"):
                open_and_read(gdal, bytes(bad))


@pytest.mark.parametrize("edit,message", [
    (lambda r: r.update(width=2**40), "raster width must be an integer"),
    (lambda r: r.update(height=-5), "raster height must be an integer"),
    (lambda r: r.update(block_size=[0, 512]), "block width must be"),
    (lambda r: r.update(block_size=[10**6, 10**6]), "block width must be"),
    (lambda r: r.update(bands=[]), "lists no bands"),
    (lambda r: r["bands"][0].update(data_type="Float128"), "unknown data type"),
    (lambda r: r.update(overviews=[[10**6, 10]]), "overview 1 width must be"),
    (lambda r: r.update(crs_wkt="PROJCS[nonsense"), "invalid CRS"),
    # every field is validated before use (colour tables crashed json-c's assertions)
    (lambda r: r["bands"][0].update(color_table=[["x"]]), "color_table entry 0"),
    (lambda r: r["bands"][0].update(color_table=[5]), "color_table entry 0"),
    (lambda r: r["bands"][0].update(color_table=[{}]), "color_table entry 0"),
    (lambda r: r["bands"][0].update(color_table=[[1, 2]]), "color_table entry 0"),
    (lambda r: r["bands"][0].update(color_table=[[0, 0, 0]] * 65537), "at most 65536"),
    (lambda r: r.update(gcps=[{"pixel": "a"}]), "GCP 1 pixel must be a number"),
    (lambda r: r.update(gcps=[5]), "GCP 1 must be an object"),
    (lambda r: r.update(geotransform="0,1,0,0,0,1"), "geotransform must be a list"),
    (lambda r: r.update(geotransform=[1, 2, 3]), "six numbers"),
    (lambda r: r.update(geotransform=["1", "x", 0, 0, 0, 1]), "geotransform must be a number"),
    (lambda r: r.update(overviews=[5, 6]), "overview 1 must be"),
    (lambda r: r.update(overviews=[[1, 1]] * 33), "at most 32"),
    (lambda r: r.update(metadata=[{"domain": "", "items": [["a", 1]]}]), "string pairs"),
    (lambda r: r.update(metadata="x"), "metadata must be a list"),
    (lambda r: r["bands"][0].update(nodata=[1]), "nodata must be a string"),
    (lambda r: r["bands"][0].update(nodata="abc"), "nodata must be a number"),
    (lambda r: r.update(mask="yes"), "mask must be true or false"),
    (lambda r: r.update(bands=[r["bands"][0]] * 40000, overviews=[[150, 130], [75, 65], [38, 33], [19, 17]]),
     "more than this driver opens"),
])
def test_hostile_descriptions(gdal, good, edit, message):
    data, _ = good
    root = root_json(data)
    edit(root["attributes"]["raster"])
    with pytest.raises(RuntimeError, match=message):
        open_and_read(gdal, rezip(data, {"zarr.json": json.dumps(root).encode()}))


def test_hostile_chunks(gdal, good):
    data, _ = good
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        small = z.read("band_1/c/0/1")
    # a chunk larger than any stream of its block can be is refused before it is read
    with pytest.raises(RuntimeError, match="more than"):
        open_and_read(gdal, rezip(data, {"band_1/c/0/0": b"\0" * (160 * 160 * 2 * 2 + 70000)}))
    # a missing chunk is an error, not silently zeros
    with pytest.raises(RuntimeError, match="missing entry band_1/c/1/1"):
        open_and_read(gdal, rezip(data, {"band_1/c/1/1": None}))
    # a valid stream of another dtype or shape is refused
    import byte2bit
    wrong = byte2bit.encode_array(np.zeros((160, 160), np.uint8))
    with pytest.raises(RuntimeError, match="another shape"):
        open_and_read(gdal, rezip(data, {"band_1/c/0/0": wrong}))
    wrong = byte2bit.encode_array(np.zeros((100, 160), np.uint16))
    with pytest.raises(RuntimeError, match="another shape"):
        open_and_read(gdal, rezip(data, {"band_1/c/0/0": wrong}))
    # garbage where a stream should be
    with pytest.raises(RuntimeError, match="band_1/c/0/0"):
        open_and_read(gdal, rezip(data, {"band_1/c/0/0": small[:40]}))


def test_not_a_b2b(gdal, good):
    data, _ = good
    with pytest.raises(RuntimeError, match="missing entry zarr.json"):
        open_and_read(gdal, rezip(data, {"zarr.json": None}))
    with pytest.raises(RuntimeError, match="not valid JSON"):
        open_and_read(gdal, rezip(data, {"zarr.json": b"{\"zarr_format\": 3, "}))
    with pytest.raises(RuntimeError, match="not a Byte2Bit container"):
        open_and_read(gdal, rezip(data, {"zarr.json": b'{"zarr_format": 3, "node_type": "group"}'}))
    with pytest.raises(RuntimeError, match="not recognized"):
        open_and_read(gdal, b"this is not a zip file at all" * 10)


def test_newer_format_is_refused(gdal, good):
    data, _ = good
    root = root_json(data)
    root["attributes"]["byte2bit"]["format_version"] = 99
    with pytest.raises(RuntimeError, match="newer Byte2Bit"):
        open_and_read(gdal, rezip(data, {"zarr.json": json.dumps(root).encode()}))


def test_array_layout_is_not_a_raster(gdal, tmp_path):
    import byte2bit
    byte2bit.save_byte2bit(tmp_path / "a.b2b", np.zeros((10, 10), np.uint8))
    with pytest.raises(RuntimeError, match="holds a Byte2Bit array, not a raster"):
        gdal.Open(str(tmp_path / "a.b2b"))
