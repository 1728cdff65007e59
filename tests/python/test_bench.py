"""The codec benchmark's measurement on a small made-up dataset: every codec is timed, every
lossless result is checked, and a codec whose decoder is wrong is reported as not lossless."""
import numpy as np

from byte2bit import bench


def _dataset():
    rng = np.random.default_rng(3)
    tiles = [np.cumsum(rng.integers(-3, 4, (64, 80)), axis=1).astype(np.uint16) + 1000 for _ in range(2)]
    return bench.Dataset("made-up", "made-up uint16", tiles, [("band", tiles)])


def test_every_codec_is_measured_and_lossless():
    rows = bench.measure(_dataset(), reps=2)
    names = [r[0] for r in rows]
    assert names[:4] == [f"byte2bit level {lvl}" for lvl in (0, 1, 2, 4)]
    assert "pcodec" in names and "zstd-1 + predictor" in names
    for name, ratio, enc, dec, ok, speedup in rows:
        assert ok, name
        assert ratio > 1 and enc > 0 and dec > 0
        assert (speedup is not None) == name.startswith("byte2bit")
    assert "| byte2bit level 4 |" in bench.render(_dataset(), rows)


def test_a_wrong_decoder_is_reported(monkeypatch):
    right = bench.competitors()
    wrong = [(name, enc, (lambda b, t, dec=dec: dec(b, t) + 1) if name == "pcodec" else dec) for name, enc, dec in right]
    monkeypatch.setattr(bench, "competitors", lambda: wrong)
    rows = {r[0]: r for r in bench.measure(_dataset(), reps=1)}
    assert rows["pcodec"][4] is False and rows["zstd-1 + predictor"][4] is True
