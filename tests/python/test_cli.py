"""The b2b command line."""
import json
import subprocess
import sys

import numpy as np


def b2b(*args, check=True):
    done = subprocess.run([sys.executable, "-m", "byte2bit.cli", *map(str, args)], capture_output=True,
                          text=True, timeout=300)
    if check:
        assert done.returncode == 0, done.stderr
    return done


def test_compress_inspect_decompress(tmp_path):
    x = np.cumsum(np.random.default_rng(0).integers(-3, 4, (700, 900)), axis=1).astype(np.int32)
    np.save(tmp_path / "x.npy", x)
    out = b2b("compress", tmp_path / "x.npy", tmp_path / "x.b2b", "--level", "1").stdout
    assert "ratio" in out
    report = json.loads(b2b("inspect", tmp_path / "x.b2b", "--json").stdout)
    assert report["checksums_ok"] and report["arrays"][0]["shape"] == [700, 900]
    assert report["arrays"][0]["compression_level"] == 1
    b2b("decompress", tmp_path / "x.b2b", tmp_path / "y.npy")
    assert np.array_equal(np.load(tmp_path / "y.npy"), x)


def test_error_bounded_and_errors(tmp_path):
    x = np.random.default_rng(1).normal(size=5000)
    np.save(tmp_path / "f.npy", x)
    b2b("compress", tmp_path / "f.npy", tmp_path / "f.b2b", "--level", "1", "--quantize-scale", "0.01")
    b2b("decompress", tmp_path / "f.b2b", tmp_path / "g.npy")
    assert np.max(np.abs(np.load(tmp_path / "g.npy") - x)) <= 0.005
    b2b("compress", tmp_path / "f.npy", tmp_path / "f2.b2b", "--quantize-scale", "0.01")  # level 1 implied
    bad = b2b("compress", tmp_path / "f.npy", tmp_path / "h.b2b", "--level", "4", "--quantize-scale", "0.01",
              check=False)
    assert bad.returncode == 2 and "compression_level=1" in bad.stderr and not (tmp_path / "h.b2b").exists()
    missing = b2b("inspect", tmp_path / "missing.b2b", check=False)
    assert missing.returncode == 2 and "missing.b2b" in missing.stderr
