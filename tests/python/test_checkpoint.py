"""ML checkpoints: every dtype back bit for bit, metadata exactly, lazy and partial loads, zarr-python
reading the arrays, checksums naming the damaged tensor, hostile files refused, killed saves."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest

import byte2bit
from byte2bit.checkpoint import load_ml_checkpoint, open_ml_checkpoint, save_ml_checkpoint
from tamper import entries, rezip

ml_dtypes = pytest.importorskip("ml_dtypes")
RNG = np.random.default_rng(7)
TENSORS = {
    "encoder.layer.0/attention.weight": (RNG.standard_normal((96, 64)) * 0.02).astype(np.float32),
    "encoder.layer.0/attention.bias": np.zeros(64, np.float32),
    "head.weight": RNG.standard_normal((10, 64)).astype(np.float64),
    "head.bf16": RNG.standard_normal((33, 17)).astype(ml_dtypes.bfloat16),
    "head.half": RNG.standard_normal(500).astype(np.float16),
    "step": np.array(120, np.int64),
    "ids": np.arange(-50, 50, dtype=np.int32),
    "mask": RNG.random((4, 5)) > 0.5,
    "bytes": np.arange(256, dtype=np.uint8),
    "u64": np.array([0, 2**64 - 1], np.uint64),
    "empty": np.zeros((0, 3), np.float32),
    "special": np.array([np.nan, -np.inf, np.inf, -0.0, 1e-45, 3.4e38], np.float32),
}
METADATA = {"global_step": 120, "epoch": 3, "learning_rate": 1e-3, "zeta": {"b": [1, 2.5, "x"], "a": None},
            "flags": [True, False], "name": "run-7"}


def same(a, b):
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    return save_ml_checkpoint(tmp_path_factory.mktemp("ckpt") / "model.b2b.ckpt", TENSORS, metadata=METADATA,
                              checksum=True)


def test_every_dtype_and_the_metadata_come_back_exactly(saved, monkeypatch):
    import pickle

    def refuse(*_a, **_k):
        raise AssertionError("a checkpoint load must not unpickle")
    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)
    loaded = load_ml_checkpoint(saved)
    assert list(loaded["tensors"]) == list(TENSORS)
    for name, t in TENSORS.items():
        assert same(loaded["tensors"][name], t), name
    assert json.dumps(loaded["metadata"]) == json.dumps(METADATA)  # types, nesting and key order
    assert byte2bit.inspect_byte2bit(saved).ok


def test_floats_are_smaller_than_raw_and_error_bound_touches_floats_only(tmp_path):
    w = {"w": (RNG.standard_normal((512, 512)) * 0.05).astype(np.float32), "i": np.arange(10**5, dtype=np.int64)}
    lossless = save_ml_checkpoint(tmp_path / "a.b2b.ckpt", w)
    assert os.path.getsize(lossless) < 0.9 * sum(a.nbytes for a in w.values())
    bounded = load_ml_checkpoint(save_ml_checkpoint(tmp_path / "q.b2b.ckpt", w, quantize_scale=1e-3))["tensors"]
    assert np.max(np.abs(bounded["w"] - w["w"])) <= 5e-4 + 1e-9 and not same(bounded["w"], w["w"])
    assert same(bounded["i"], w["i"])


def test_lazy_open_and_partial_load_read_only_what_is_asked(saved, tmp_path):
    data = open(saved, "rb").read()
    key = next(k for k in entries(data) if k.startswith("tensors/t000002/c"))  # head.weight
    damaged = tmp_path / "damaged.b2b.ckpt"
    damaged.write_bytes(rezip(data, {key: b"\x00" * 40}))  # manifest rewritten to agree
    with open_ml_checkpoint(damaged) as ckpt:
        assert list(ckpt) == list(TENSORS) and ckpt.metadata == METADATA
        assert ckpt.info("head.bf16")["shape"] == (33, 17) and ckpt.info("head.bf16")["dtype"] == "bfloat16"
        assert same(ckpt["head.bf16"], TENSORS["head.bf16"])
    part = load_ml_checkpoint(damaged, names=["ids", "head.half"])
    assert list(part["tensors"]) == ["ids", "head.half"] and same(part["tensors"]["ids"], TENSORS["ids"])
    with pytest.raises(byte2bit.CorruptDataError, match="tensor 'head.weight'"):
        load_ml_checkpoint(damaged)
    with pytest.raises(KeyError, match="nope"):
        load_ml_checkpoint(saved, names=["nope"])


def test_checksum_names_the_tensor_whose_bytes_changed(saved, tmp_path):
    data = open(saved, "rb").read()
    key = next(k for k in entries(data) if k.startswith("tensors/t000006/c"))  # ids
    other = byte2bit.encode_array(TENSORS["ids"] + 1)  # a valid stream of other values
    forged = tmp_path / "forged.b2b.ckpt"
    forged.write_bytes(rezip(data, {key: other}))
    with pytest.raises(byte2bit.CorruptDataError, match="tensor 'ids': its checksum does not match"):
        load_ml_checkpoint(forged)
    flipped = bytearray(entries(data)[key])
    flipped[-3] ^= 0x40
    broken = tmp_path / "broken.b2b.ckpt"
    broken.write_bytes(rezip(data, {key: bytes(flipped)}))
    with pytest.raises(byte2bit.CorruptDataError, match="tensor 'ids'"):  # the codec's own checksum
        load_ml_checkpoint(broken)
    assert not byte2bit.inspect_byte2bit(broken).ok


def test_hostile_files_are_refused(saved, tmp_path):
    data = open(saved, "rb").read()
    root = json.loads(entries(data)["zarr.json"])
    doc = json.loads(entries(data)["tensors/t000000/zarr.json"])

    def write(name, replace):
        p = tmp_path / name
        p.write_bytes(rezip(data, {k: json.dumps(v).encode() for k, v in replace.items()}))
        return p

    huge = json.loads(json.dumps(doc))
    huge["shape"] = huge["chunk_grid"]["configuration"]["chunk_shape"] = [10**7, 10**7]
    with pytest.raises(byte2bit.LimitExceededError, match="encoder.layer.0/attention.weight"):
        open_ml_checkpoint(write("huge.b2b.ckpt", {"tensors/t000000/zarr.json": huge}))
    dots = json.loads(json.dumps(root))
    dots["attributes"]["byte2bit"]["tensors"][0]["name"] = "../../etc/passwd"
    with pytest.raises(byte2bit.InvalidArgumentError, match=r"'\.\./\.\./etc/passwd'"):
        open_ml_checkpoint(write("dots.b2b.ckpt", {"zarr.json": dots}))
    elsewhere = json.loads(json.dumps(root))
    elsewhere["attributes"]["byte2bit"]["tensors"][0]["key"] = "tensors/t999999"
    with pytest.raises(byte2bit.CorruptDataError, match="has no array"):
        open_ml_checkpoint(write("elsewhere.b2b.ckpt", {"zarr.json": elsewhere}))
    cut = tmp_path / "cut.b2b.ckpt"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(byte2bit.Byte2BitError):
        load_ml_checkpoint(cut)


def test_bad_arguments(tmp_path):
    with pytest.raises(byte2bit.InvalidArgumentError, match="JSON"):
        save_ml_checkpoint(tmp_path / "m.b2b.ckpt", {"a": np.zeros(2)}, metadata={"f": object()})
    with pytest.raises(byte2bit.InvalidArgumentError, match="complex128"):
        save_ml_checkpoint(tmp_path / "m.b2b.ckpt", {"a": np.zeros(2, complex)})
    with pytest.raises(byte2bit.InvalidArgumentError, match="tensor name"):
        save_ml_checkpoint(tmp_path / "m.b2b.ckpt", {"a/../b": np.zeros(2)})
    with pytest.raises(byte2bit.InvalidArgumentError, match="mapping"):
        save_ml_checkpoint(tmp_path / "m.b2b.ckpt", [np.zeros(2)])
    assert os.listdir(tmp_path) == []


def test_zarr_python_reads_the_arrays_in_a_fresh_process(saved):
    script = textwrap.dedent("""
        import sys, zarr, numpy as np
        root = zarr.open_group(zarr.storage.ZipStore(sys.argv[1], mode="r"), mode="r")
        index = root.attrs["byte2bit"]["tensors"]
        for e in index:
            a = root[e["key"]]
            x = a[...]
            print(e["name"], a.attrs["dtype"], x.dtype, x.shape, float(np.nansum(x.astype(np.float64))) if x.size else 0)
        assert "byte2bit.checkpoint" not in sys.modules  # the codecs alone, through their entry points
    """)
    r = subprocess.run([sys.executable, "-c", script, saved], capture_output=True, text=True,
                       env={"PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr
    lines = {ln.split(" ")[0]: ln.split(" ")[1:] for ln in r.stdout.splitlines()}
    assert lines["head.bf16"][:2] == ["bfloat16", "uint16"]  # bfloat16 is kept as its 16 bits
    assert lines["encoder.layer.0/attention.weight"][1] == "float32"
    w = TENSORS["encoder.layer.0/attention.weight"]
    assert float(lines["encoder.layer.0/attention.weight"][-1]) == pytest.approx(float(np.sum(w.astype(np.float64))))


@pytest.mark.parametrize("kill_after", [0, 20, "end"])
def test_killed_save_keeps_the_previous_checkpoint(tmp_path, kill_after):
    path = tmp_path / "model.b2b.ckpt"
    save_ml_checkpoint(path, {"old": np.arange(10, dtype=np.float32)}, metadata={"step": 1})
    before = open(path, "rb").read()
    script = textwrap.dedent("""
        import os, signal, sys, numpy as np
        from collections.abc import Mapping
        from byte2bit.checkpoint import save_ml_checkpoint
        kill_after = sys.argv[2]

        class Tensors(Mapping):  # 40 tensors of 4 MB, the writer killed after the n-th is taken
            def __getitem__(self, k): return np.full(10**6, float(k[1:]), np.float32)
            def __len__(self): return 40
            def __iter__(self): return iter(f"t{i}" for i in range(40))
            def items(self):
                for i, k in enumerate(self):
                    if str(i) == kill_after:
                        os.kill(os.getpid(), signal.SIGKILL)
                    yield k, self[k]
                if kill_after == "end":  # every tensor written, the index and rename not yet
                    os.kill(os.getpid(), signal.SIGKILL)

        save_ml_checkpoint(sys.argv[1], Tensors(), metadata={"step": 2})
    """)
    r = subprocess.run([sys.executable, "-c", script, str(path), str(kill_after)], capture_output=True, text=True)
    assert r.returncode == -signal.SIGKILL, r.stderr
    assert open(path, "rb").read() == before
    assert load_ml_checkpoint(path)["metadata"] == {"step": 1}
    assert [n for n in os.listdir(tmp_path) if not n.endswith(".tmp")] == ["model.b2b.ckpt"]
    with zipfile.ZipFile(path) as z:
        assert z.testzip() is None


def test_torch_state_dict_round_trip(tmp_path):
    """A real module's state_dict, every torch dtype, a transposed view and a tensor with grad: back
    as torch tensors of the same dtype, bit for bit, and loadable into the module."""
    torch = pytest.importorskip("torch")  # scripts/setup.sh installs Debian's CPU-only python3-torch
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(16, 8), torch.nn.LayerNorm(8), torch.nn.Linear(8, 3))
    tensors = dict(model.state_dict())
    tensors |= {f"cast.{d}": (torch.randn(5, 7) * 100).to(getattr(torch, d))
                for d in ("float16", "bfloat16", "float64", "int8", "uint8", "int16", "int32", "int64")}
    tensors |= {"cast.bool": torch.rand(9) > 0.5, "scalar": torch.tensor(3.5), "empty": torch.zeros(0, 4),
                "transposed": torch.randn(6, 4).t(), "grad": torch.randn(3, requires_grad=True),
                "special": torch.tensor([float("nan"), float("inf"), -0.0], dtype=torch.bfloat16)}
    p = save_ml_checkpoint(tmp_path / "m.b2b.ckpt", tensors, metadata={"epoch": 3})
    back = load_ml_checkpoint(p, as_torch=True)["tensors"]
    assert list(back) == list(tensors)
    for k, v in tensors.items():
        b = back[k]
        assert isinstance(b, torch.Tensor) and b.dtype == v.dtype and b.shape == v.shape, k
        bits = {torch.bfloat16: torch.int16, torch.float16: torch.int16}.get(v.dtype)
        same = torch.equal(b.view(bits), v.detach().contiguous().view(bits)) if bits else torch.equal(b, v.detach())
        assert same, k
    fresh = torch.nn.Sequential(torch.nn.Linear(16, 8), torch.nn.LayerNorm(8), torch.nn.Linear(8, 3))
    fresh.load_state_dict({k: back[k] for k in model.state_dict()})
    x = torch.randn(2, 16)
    assert torch.equal(fresh(x), model(x))
    part = load_ml_checkpoint(p, names=["cast.bfloat16"], as_torch=True)["tensors"]
    assert list(part) == ["cast.bfloat16"] and part["cast.bfloat16"].dtype == torch.bfloat16
    # without as_torch, the same file gives numpy arrays (bfloat16 through ml_dtypes)
    assert load_ml_checkpoint(p)["tensors"]["cast.bfloat16"].dtype.name == "bfloat16"


def test_no_torch_needed(tmp_path):
    """torch is optional: with its import blocked, saving and loading numpy tensors works, and asking
    for torch tensors says what is missing."""
    script = textwrap.dedent("""
        import sys
        sys.modules["torch"] = None  # import torch now raises ImportError
        import numpy as np
        from byte2bit.checkpoint import load_ml_checkpoint, save_ml_checkpoint
        p = save_ml_checkpoint(sys.argv[1], {"w": np.arange(6, dtype=np.float32)})
        assert (load_ml_checkpoint(p)["tensors"]["w"] == np.arange(6)).all()
        try:
            load_ml_checkpoint(p, as_torch=True)
        except Exception as e:
            print(type(e).__name__, e)
    """)
    r = subprocess.run([sys.executable, "-c", script, str(tmp_path / "n.b2b.ckpt")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "torch" in r.stdout and "pip install" in r.stdout, r.stdout
