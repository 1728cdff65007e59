"""A Sentinel-2 product becomes one .b2b holding every image it ships and its metadata XML, or
fails loudly: images its metadata lists but that are missing are never replaced by zeros, and
verify fails when a source image or document is missing on either side."""
import re
import subprocess
import sys
import zipfile

import numpy as np
import pytest

import byte2bit
from byte2bit.safe import MISSING_KEY, MissingImagesError
from sample_data import safe_product, small_safe_copy


def stored(gdal, path) -> dict[str, str]:
    """{path in the product: raster name} of a product .b2b."""
    md = gdal.Open(str(path)).GetMetadata("SUBDATASETS")
    return {md[f"SUBDATASET_{i}_DESC"]: md[f"SUBDATASET_{i}_NAME"].rsplit(":", 1)[1]
            for i in range(1, len(md) // 2 + 1)}


def images_of(product) -> list[str]:
    return sorted(str(f.relative_to(product)) for f in product.rglob("*.jp2"))


@pytest.fixture
def small(tmp_path, shared_data):
    return small_safe_copy(tmp_path / "in")


def test_whole_real_product(gdal, tmp_path, shared_data):
    """The real product as users have it (only its 60 m bands, and some 10 m / 20 m layers): every
    image it ships is stored with its own size, none is invented, and it verifies."""
    product = safe_product()
    with pytest.raises(MissingImagesError, match=r"18 images .* missing.*\n.*B02_10m\.jp2"):
        byte2bit.transform(product, tmp_path / "p.b2b")
    assert not list(tmp_path.iterdir())
    out = byte2bit.transform(product, tmp_path / "p.b2b", skip_missing=True)
    held = stored(gdal, out)
    assert sorted(held) == images_of(product) and len(held) == 50
    assert {"AOT_10m", "AOT_20m", "SCL_20m", "TCI_60m", "SCL_60m", "WVP_60m", "B8A_60m", "PVI",
            "MSK_CLDPRB_20m", "MSK_QUALIT_B02", "MSK_DETFOO_B12"} <= set(held.values())
    assert not {"B02_10m", "TCI_10m", "B02_20m"} & set(held.values())  # absent, so not invented
    for relative, name in held.items():
        src, dst = gdal.Open(str(product / relative)), gdal.Open(f"B2B:{out}:{name}")
        assert (dst.RasterXSize, dst.RasterYSize, dst.RasterCount) == (src.RasterXSize, src.RasterYSize,
                                                                       src.RasterCount), name
    ds = gdal.Open(out)
    assert len(ds.GetMetadataItem(MISSING_KEY).split(",")) == 18
    assert ds.GetMetadataItem("CLOUD_COVERAGE_ASSESSMENT") == "59.769726"  # GDAL's SENTINEL2 metadata
    report = byte2bit.verify(product, out)
    assert report.equal, str(report)
    assert len(report.bands) == sum(gdal.Open(str(product / f)).RasterCount for f in held)
    assert "18 images" in report.notes[0]


def test_band_metadata_and_xml(gdal, small, tmp_path):
    out = byte2bit.transform(small, tmp_path / "p.b2b", skip_missing=True, compression_level=0)
    b02 = gdal.Open(f"B2B:{out}:B02_60m")
    band = b02.GetRasterBand(1)
    assert band.GetDescription() == "B2, central wavelength 492.7 nm"
    assert band.GetMetadataItem("BANDNAME") == "B2" and band.GetMetadataItem("WAVELENGTH") == "492.7"
    assert band.GetMetadataItem("BOA_ADD_OFFSET") == "-1000"
    assert band.GetMetadataItem("BOA_QUANTIFICATION_VALUE") == "10000"
    assert b02.GetSpatialRef().GetAuthorityCode(None) == "32629" and b02.GetGeoTransform()[1] == 60
    assert gdal.Open(f"B2B:{out}:AOT_60m").GetRasterBand(1).GetMetadataItem("AOT_QUANTIFICATION_VALUE") == "1000.0"
    ds = gdal.Open(out)
    kept = sorted(d[4:] for d in ds.GetMetadataDomainList() if d.startswith("xml:"))
    assert "MTD_MSIL2A.xml" in kept and "manifest.safe" in kept
    assert any(re.match(r"GRANULE/[^/]+/MTD_TL\.xml$", d) for d in kept)
    assert ds.GetMetadata("xml:MTD_MSIL2A.xml")[0] == (small / "MTD_MSIL2A.xml").read_text()


def test_missing_images_named_and_cli(small, tmp_path):
    with pytest.raises(MissingImagesError) as e:
        byte2bit.transform(small, tmp_path / "p.b2b")
    assert "T29UNU_20221005T115411_B02_10m.jp2" in str(e.value) and "skip_missing=True" in str(e.value)
    # the 18 the real product lacks, and the images not linked into the copy
    assert len(e.value.missing) == 18 + len(images_of(safe_product())) - len(images_of(small)) == 43
    assert not (tmp_path / "p.b2b").exists()
    cli = [sys.executable, "-m", "byte2bit.cli", "transform", str(small), str(tmp_path / "c.b2b"), "--level", "0"]
    r = subprocess.run(cli, capture_output=True, text=True)
    assert r.returncode != 0 and "B02_10m.jp2" in r.stderr and "--skip-missing" in r.stderr
    r = subprocess.run(cli + ["--skip-missing", "--no-overviews"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([sys.executable, "-m", "byte2bit.cli", "verify", str(small), str(tmp_path / "c.b2b")],
                       capture_output=True, text=True)
    assert r.returncode == 0 and "EQUAL" in r.stdout and "skipped at transform" in r.stdout, r.stdout + r.stderr


def test_verify_fails_when_a_source_image_is_gone(gdal, small, tmp_path):
    out = byte2bit.transform(small, tmp_path / "p.b2b", skip_missing=True, compression_level=0, overviews=False)
    assert byte2bit.verify(small, out).equal
    gone = next(small.rglob("*_B05_60m.jp2"))
    gone.unlink()
    report = byte2bit.verify(small, out, raise_on_mismatch=False)
    assert not report.ok and any("B05_60m.jp2: in the .b2b, missing from the product" in p for p in report.problems)


def test_verify_fails_when_the_b2b_lacks_an_image(small, tmp_path):
    out = byte2bit.transform(small, tmp_path / "p.b2b", skip_missing=True, compression_level=0, overviews=False)
    extra = next(safe_product().rglob("MSK_CLDPRB_20m.jp2"))
    (small / extra.relative_to(safe_product())).symlink_to(extra)  # in the product now, not in the .b2b
    report = byte2bit.verify(small, out, raise_on_mismatch=False)
    assert not report.ok and any("MSK_CLDPRB_20m.jp2: in the product, not in the .b2b" in p for p in report.problems)
    with pytest.raises(byte2bit.VerificationError):
        byte2bit.verify(small, out)


def test_verify_fails_on_changed_or_missing_xml(small, tmp_path):
    out = byte2bit.transform(small, tmp_path / "p.b2b", skip_missing=True, compression_level=0, overviews=False)
    tl = next(small.rglob("MTD_TL.xml"))
    tl.write_text(tl.read_text() + "<!-- edited -->\n")
    (small / "INSPIRE.xml").unlink()
    report = byte2bit.verify(small, out, raise_on_mismatch=False)
    assert not report.ok
    assert any("MTD_TL.xml: differs" in p for p in report.problems)
    assert any("INSPIRE.xml: in the .b2b, missing from the product" in p for p in report.problems)


def test_zipped_product_same_as_folder(gdal, small, tmp_path):
    zpath = tmp_path / (small.stem + ".zip")
    with zipfile.ZipFile(zpath, "w", zipfile.ZIP_STORED) as z:
        for f in small.rglob("*"):
            if f.is_file():
                z.write(f, f.relative_to(small.parent))
    from_zip = byte2bit.transform(zpath, tmp_path / "z", skip_missing=True, compression_level=0, overviews=False)
    from_dir = byte2bit.transform(small, tmp_path / "d", skip_missing=True, compression_level=0, overviews=False)
    assert from_zip.endswith("z.b2b") and stored(gdal, from_zip) == stored(gdal, from_dir)
    assert byte2bit.verify(zpath, from_zip).equal
    a, b = gdal.Open(f"B2B:{from_zip}:TCI_60m"), gdal.Open(f"B2B:{from_dir}:TCI_60m")
    np.testing.assert_array_equal(a.ReadAsArray(), b.ReadAsArray())


def test_progress_never_goes_backwards(small, tmp_path):
    """GDAL's overview computation reports a little past its end; the user's bar must not go back
    (it went 29.0% -> 28.98% on this product)."""
    seen = []
    byte2bit.transform(small, tmp_path / "p.b2b", compression_level=0, skip_missing=True, progress=seen.append)
    assert all(b >= a for a, b in zip(seen, seen[1:])), [(a, b) for a, b in zip(seen, seen[1:]) if b < a][:3]
    assert seen[-1] == 1.0 and all(0 <= f <= 1 for f in seen)
