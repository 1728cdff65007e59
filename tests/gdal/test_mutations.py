"""Property test over real .b2b files (issue 8): any mutation of the JSON, the zip structure or the
chunk bytes gives back exactly the original data or a clear error, in load_byte2bit, inspect_byte2bit
and rasterio; and an inspection that says OK is never followed by a load that differs."""
import io
import json
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import byte2bit
from byte2bit.errors import Byte2BitError
from tamper import entries, rezip
from test_gdal_driver import copy, mem_dataset

pytestmark = pytest.mark.filterwarnings("ignore:Duplicate name", "ignore::hypothesis.errors.HypothesisWarning")

rasterio = pytest.importorskip("rasterio")
from rasterio.errors import RasterioError  # noqa: E402

try:
    from rasterio._err import CPLE_BaseError  # noqa: E402
except ImportError:  # pragma: no cover
    CPLE_BaseError = RasterioError

ARRAY = (np.arange(150 * 90, dtype=np.uint16).reshape(150, 90) * 37 % 1013).astype(np.uint16)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2 ** 70), 2 ** 70) | st.floats() | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=5)


class Originals(dict):
    def __repr__(self):  # hypothesis prints its arguments: not the bytes
        return "<original .b2b files>"


@pytest.fixture(scope="module")
def files(tmp_path_factory, gdal):
    d = tmp_path_factory.mktemp("originals")
    byte2bit.save_byte2bit(d / "array.b2b", ARRAY, chunks=(64, 64))
    src = mem_dataset(gdal, 100, 70, bands=2, seed=4)
    src.GetRasterBand(1).SetNoDataValue(3)
    copy(gdal, src, d / "raster.b2b", ["BLOCKSIZE=32"])
    bands = [src.GetRasterBand(i).ReadAsArray() for i in (1, 2)]
    return Originals(array=(d / "array.b2b").read_bytes(), raster=((d / "raster.b2b").read_bytes(), np.stack(bands)))


def mutate_json(data, doc):
    """Replaces or deletes one node of a JSON document, chosen by a random walk from its root."""
    parent, key, node = None, None, doc
    while isinstance(node, (dict, list)) and node and (parent is None or data.draw(st.booleans())):
        parent, key = node, data.draw(st.sampled_from(list(node) if isinstance(node, dict) else range(len(node))))
        node = parent[key]
    value = data.draw(json_values)
    if parent is None:
        return value
    if data.draw(st.booleans()) and isinstance(parent, dict):
        del parent[key]
    else:
        parent[key] = value
    return doc


def mutate(data, blob: bytes) -> bytes:
    kind = data.draw(st.sampled_from(["json", "json-no-manifest", "flip", "truncate", "chunk", "swap", "duplicate"]))
    keys = entries(blob)
    if kind.startswith("json"):
        key = data.draw(st.sampled_from(sorted(k for k in keys if k.endswith("zarr.json"))))
        doc = mutate_json(data, json.loads(keys[key]))
        return rezip(blob, {key: json.dumps(doc).encode()}, manifest=kind == "json")
    if kind == "flip":
        at, bit = data.draw(st.integers(0, len(blob) - 1)), data.draw(st.integers(0, 7))
        out = bytearray(blob)
        out[at] ^= 1 << bit
        return bytes(out)
    if kind == "truncate":
        return blob[:data.draw(st.integers(0, len(blob) - 1))]
    chunks = sorted(k for k in keys if not k.endswith("zarr.json"))
    if kind == "chunk":  # a damaged chunk in an archive whose manifest was rewritten to match
        key = data.draw(st.sampled_from(chunks))
        value = bytearray(keys[key])
        value[data.draw(st.integers(0, len(value) - 1))] ^= 1 << data.draw(st.integers(0, 7))
        return rezip(blob, {key: bytes(value)})
    if kind == "swap":  # two chunks trade places (a writer that rewrites the manifest too writes a new file)
        a, b = data.draw(st.sampled_from(chunks)), data.draw(st.sampled_from(chunks))
        return rezip(blob, {a: keys[b], b: keys[a]}, manifest=False)
    key = data.draw(st.sampled_from(sorted(keys)))  # the same name twice
    out = io.BytesIO(blob)
    with zipfile.ZipFile(out, "a") as z:
        z.writestr(key, data.draw(st.binary(max_size=64)))
    return out.getvalue()


def write(tmp_path, blob):
    path = tmp_path / "m.b2b"
    path.write_bytes(blob)
    return path


def load_or_error(path):
    try:
        return byte2bit.load_byte2bit(path), None
    except Byte2BitError as e:
        return None, e


# Derandomized: every run tries the same 120 examples, so a failure reproduces. To explore, set
# derandomize=False and pass --hypothesis-seed (seed 4 found the zip-version bug that way).
SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


@SETTINGS
@given(data=st.data())
def test_array_file_mutations(files, tmp_path_factory, data):
    path = write(tmp_path_factory.mktemp("m"), mutate(data, files["array"]))
    got, error = load_or_error(path)
    assert got is None or (got.dtype == ARRAY.dtype and np.array_equal(got, ARRAY))
    try:
        report = byte2bit.inspect_byte2bit(path)
    except Byte2BitError:
        return
    if report.ok and report.layout == "array":  # (a file stripped of its layout is a plain Zarr store)
        assert got is not None, f"inspect said OK but the file does not load: {error}"


@SETTINGS
@given(data=st.data())
def test_raster_file_mutations(files, tmp_path_factory, data):
    blob, bands = files["raster"]
    path = write(tmp_path_factory.mktemp("m"), mutate(data, blob))
    try:
        with rasterio.open(path) as ds:
            got, error = ds.read(), None
    except (RasterioError, CPLE_BaseError) as e:
        got, error = None, e
    assert got is None or np.array_equal(got, bands)
    try:
        report = byte2bit.inspect_byte2bit(path)
    except Byte2BitError:
        return
    if report.ok and report.layout == "raster":
        assert got is not None, f"inspect said OK but rasterio cannot read the file: {error}"
