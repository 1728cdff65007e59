"""Writes the golden streams of the current format version: those cases whose stream has that version
(a writer gives each stream the lowest version that holds it). Run once per format version, commit
the output, and never rewrite it: tests/python/test_golden.py decodes these files forever.

    .venv/bin/python tests/golden/make_golden.py
"""
import pathlib

import numpy as np

import byte2bit

HERE = pathlib.Path(__file__).parent / f"v{byte2bit.FORMAT_VERSION}"


def cases():
    rng = np.random.default_rng(20261122)
    y, x = np.mgrid[0:40, 0:52]
    image = (800 + 200 * np.sin(x / 7) + 150 * np.cos(y / 5) + rng.normal(0, 3, x.shape)).astype(np.uint16)
    for level in (0, 1, 2, 4):
        yield f"uint16_image_level{level}", image, dict(compression_level=level)
    yield "int8_noise_stored", rng.integers(-128, 128, 300).astype(np.int8), dict(compression_level=4)
    yield "float32_stack_level4", np.cumsum(rng.normal(size=(3, 17, 23)), axis=2).astype(np.float32), {}
    yield "float64_specials_level2", np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 5e-324, 1.5]), dict(compression_level=2)
    f = np.cumsum(rng.normal(size=(30, 30)), axis=1)
    f[3, 4] = np.nan
    yield "float64_quantized", f, dict(compression_level=1, quantize_scale=0.01)
    yield "float32_decimal2", np.round(rng.normal(20, 4, 200), 2).astype(np.float32), dict(decimal_digits=2)
    yield "complex64_level1", (rng.normal(size=64) + 1j * rng.normal(size=64)).astype(np.complex64), dict(compression_level=1)
    yield "bytes_s5_level4", np.array([b"alpha", b"beta", b"gamma", b"delta"] * 5), {}
    yield "bool_mask_level0", rng.random((20, 33)) > 0.7, dict(compression_level=0)
    yield "uint64_extremes", np.array([0, 2**64 - 1, 2**63, 1, 2**32], dtype=np.uint64), {}
    yield "float16_level4", np.linspace(-3, 3, 101).astype(np.float16), {}
    packed = np.cumsum(rng.integers(-4, 5, (24, 30)), axis=1)
    sst = (273.15 + packed * 0.01).astype(np.float32)
    sst[2, 3:9] = np.nan
    yield "float32_lattice_level2", sst, dict(compression_level=2)
    # version 2: reserved values (a nodata value kept exact in the error-bounded mode)
    field = (np.cumsum(rng.normal(size=(20, 40)), axis=1) * 3).astype(np.float32)
    field[5:12, 10:30] = -9999
    yield "float32_quantized_nodata", field, dict(compression_level=1, quantize_scale=0.7, exact_values=[-9999])
    # version 3: token splits, for residuals whose distribution is uneven within each power of two
    # (categories, ranks, exponent bytes): every 8-bit residual a symbol of its own, finer 16-bit tokens
    ranks = rng.choice(256, 100 * 100, p=np.bincount(rng.geometric(0.06, 20000).clip(0, 255), minlength=256)[rng.permutation(256)] / 20000)
    yield "uint8_ranks_level4", ranks.astype(np.uint8), {}
    levels = np.sort(rng.choice(4000, 300, replace=False)).astype(np.uint16)
    yield "uint16_levels_level1", levels[rng.geometric(0.02, 20000).clip(0, 299)], dict(compression_level=1)
    # version 4: palette indices in their neighbours' context (method 3), for classes and masks
    # (float16_level4 and float32_lattice_level2 above become version 4 too: palettes of lattice
    # corrections)
    cy, cx = np.mgrid[0:96, 0:120]
    regions = (cy // 13 * 5 + (cx + rng.integers(0, 4, cx.shape)) // 17) * 7 % 6
    yield "uint8_classes_level4", np.array([0, 4, 5, 6, 8, 11], np.uint8)[regions], {}
    yield "uint16_mask_level2", np.where(regions[:, ::-1] < 2, 65535, 1).astype(np.uint16), dict(compression_level=2)
    # version 4: method 4, contexts that see the left neighbour, for smooth fields with flat areas
    aerosol = 100 + cy // 7 + cx // 9 + (rng.random(cy.shape) < 0.05)
    yield "uint16_aerosol_level4", aerosol.astype(np.uint16), {}
    # version 5: method 5, method 2 with 32 rANS states, for lanes blocks of 4096 lanes or more
    # that code in 11,200 bytes or more (uint16_levels_level1 above becomes version 5 too)
    wy, wx = np.mgrid[0:128, 0:256]
    big = (800 + 200 * np.sin(wx / 7) + 150 * np.cos(wy / 5) + rng.normal(0, 30, wx.shape)).astype(np.uint16)
    for level in (1, 2, 4):
        yield f"uint16_image128x256_level{level}", big, dict(compression_level=level)
    yield "int16_walk_level1", np.cumsum(rng.integers(-99, 100, 40000)).astype(np.int16), dict(compression_level=1)
    yield "uint8_image_level4", (128 + 60 * np.sin(wx / 9) + rng.normal(0, 12, wx.shape)).clip(0, 255).astype(np.uint8), {}
    yield "float32_stack_6000_level4", np.cumsum(rng.normal(size=(3, 40, 50)), axis=2).astype(np.float32), {}
    # version 6: a compact header on every stream; method 6 for lanes of one value (empty masks, fill)
    yield "uint8_empty_mask_level4", np.zeros((64, 80), np.uint8), {}
    yield "float32_nan_fill_level0", np.full((5, 7), np.nan, np.float32), dict(compression_level=0)
    yield "int16_constant_stack_level1", np.full((2, 9, 11), -32768, np.int16), dict(compression_level=1)
    # version 7: predictor 9, linear with coefficients fitted per lanes block, for textured imagery
    texture = np.zeros((96, 160))
    shocks = rng.normal(0, 6, texture.shape)
    for ty in range(2, 96):
        for tx in range(2, 159):
            texture[ty, tx] = (0.55 * texture[ty, tx - 1] + 0.6 * texture[ty - 1, tx] - 0.35 * texture[ty - 1, tx - 1]
                               + 0.25 * texture[ty - 2, tx] - 0.1 * texture[ty, tx - 2] + 0.05 * texture[ty - 1, tx + 1]
                               + shocks[ty, tx])
    yield "uint16_texture_level4", (3000 + texture).clip(0, 65535).astype(np.uint16), {}
    yield "uint8_texture_level4", (128 + texture / 4).clip(0, 255).astype(np.uint8), {}
    # version 8: the linear predictor with two sets of coefficients, chosen by the texture above
    regimes = np.zeros((96, 160))
    shocks = rng.normal(0, 6, regimes.shape) * np.where(np.arange(160) < 80, 0.5, 3)
    for ty in range(2, 96):
        for tx in range(2, 159):
            a, b, c = regimes[ty, tx - 1], regimes[ty - 1, tx], regimes[ty - 1, tx - 1]
            d, u = regimes[ty - 1, tx + 1], regimes[ty - 2, tx]
            rough = abs(b - c) + abs(b - d) + abs(u - b) > 30
            regimes[ty, tx] = (0.9 * a + 0.5 * b - 0.4 * c if rough else 0.3 * a + 0.3 * d + 0.4 * u) + shocks[ty, tx]
    yield "uint16_regimes_level4", (3000 + regimes).clip(0, 65535).astype(np.uint16), {}
    yield "uint8_regimes_level4", (128 + regimes / 4).clip(0, 255).astype(np.uint8), {}
    # version 9: method 7, method 4 on residuals folded into the block's range, for masks that sit at
    # their bounds (cloud probability: mostly 0, blobs saturated at 100)
    my, mx = np.mgrid[0:120, 0:150]
    blob = 150 - np.hypot(my - 60, 1.4 * (mx - 70)) + rng.integers(-20, 21, my.shape)
    speckle = np.where(rng.random(my.shape) < 0.1, rng.integers(0, 3, my.shape), 0)
    yield "uint8_probability_level4", np.maximum(blob, speckle).clip(0, 100).astype(np.uint8), {}

def main():
    HERE.mkdir(parents=True, exist_ok=True)
    for name, array, options in cases():
        stream = byte2bit.encode_array(array, **options)
        if byte2bit.inspect_stream(stream)["format_version"] != byte2bit.FORMAT_VERSION:
            continue
        if (HERE / f"{name}.b2bs").exists():
            raise SystemExit(f"{HERE / name}.b2bs exists: golden streams are never rewritten")
        (HERE / f"{name}.b2bs").write_bytes(stream)
        np.save(HERE / f"{name}.npy", byte2bit.decode_array(stream))
        print(f"{name}: {array.nbytes} -> {len(stream)} bytes")


if __name__ == "__main__":
    main()
