"""The B2B driver through GDAL's own API: registration, every data type, metadata, sizes, blocks,
overviews, masks, threads, virtual file systems, cancel and atomic output."""
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

from sample_data import s2_band, safe_product

TYPES = ["Byte", "Int8", "UInt16", "Int16", "UInt32", "Int32", "UInt64", "Int64", "Float32", "Float64",
         "CInt16", "CInt32", "CFloat32", "CFloat64"]


def mem_dataset(gdal, width, height, bands=1, type_name="UInt16", seed=0):
    """A MEM raster of smooth-plus-noise data (like imagery) of any GDAL type, georeferenced."""
    signed_byte = type_name == "Int8" and not hasattr(gdal, "GDT_Int8")
    gdt = gdal.GDT_Byte if signed_byte else gdal.GetDataTypeByName(type_name)
    ds = gdal.GetDriverByName("MEM").Create("", width, height, bands, gdt)
    ds.SetGeoTransform([500000, 10, 0, 4200000, 0, -10])
    ds.SetProjection('EPSG:32618' and _wkt(gdal, 32618))
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    for b in range(1, bands + 1):
        base = 100 + 50 * np.sin(x / 37.0 + b) + 40 * np.cos(y / 23.0) + rng.normal(0, 3, (height, width))
        band = ds.GetRasterBand(b)
        if type_name.startswith("C"):
            data = (base + 1j * base[::-1]).astype(np.complex64 if type_name in ("CInt16", "CFloat32") else np.complex128)
            if type_name.startswith("CInt"):
                data = np.round(data.real) + 1j * np.round(data.imag)
            band.WriteRaster(0, 0, width, height, _complex_bytes(data, type_name), width, height, gdt)
        else:
            kind = {"Byte": np.uint8, "Int8": np.int8}.get(type_name) or np.dtype(type_name.lower())
            dtype = np.dtype(kind)
            if dtype.kind == "f":
                data = (base * 1.37).astype(dtype)
            else:
                data = np.clip(base - (100 if dtype.kind == "i" else 0), np.iinfo(dtype).min,
                               np.iinfo(dtype).max).astype(dtype)
            band.WriteRaster(0, 0, width, height, data.tobytes(), width, height, gdt)
    return ds


def _complex_bytes(data, type_name):
    part = {"CInt16": np.int16, "CInt32": np.int32, "CFloat32": np.float32, "CFloat64": np.float64}[type_name]
    out = np.empty(data.shape + (2,), dtype=part)
    out[..., 0], out[..., 1] = data.real, data.imag
    return out.tobytes()


def _wkt(gdal, epsg):
    from osgeo import osr
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(epsg)
    return srs.ExportToWkt()


def copy(gdal, src, path, options=None, **kwargs):
    ds = gdal.GetDriverByName("B2B").CreateCopy(str(path), src, options=options or [], **kwargs)
    assert ds is not None
    ds = None
    return gdal.OpenEx(str(path), allowed_drivers=["B2B"])


def assert_same_pixels(a, b):
    assert (a.RasterXSize, a.RasterYSize, a.RasterCount) == (b.RasterXSize, b.RasterYSize, b.RasterCount)
    for i in range(1, a.RasterCount + 1):
        ba, bb = a.GetRasterBand(i), b.GetRasterBand(i)
        assert ba.DataType == bb.DataType
        assert ba.ReadRaster() == bb.ReadRaster(), f"band {i} differs"
        assert ba.Checksum() == bb.Checksum()


def test_driver_registration(gdal):
    drv = gdal.GetDriverByName("B2B")
    assert drv.LongName == "Byte2Bit compressed raster"
    assert drv.GetMetadataItem(gdal.DMD_EXTENSIONS) == "b2b"
    assert drv.GetMetadataItem(gdal.DCAP_CREATECOPY) == "YES"
    assert drv.GetMetadataItem(gdal.DCAP_VIRTUALIO) == "YES"
    options = drv.GetMetadataItem(gdal.DMD_CREATIONOPTIONLIST)
    for name in ("LEVEL", "QUANTIZE_SCALE", "BLOCKSIZE", "COG_LAYOUT", "OVERVIEWS", "OVERVIEW_RESAMPLING",
                 "NUM_THREADS", "FORMAT"):
        assert f"name='{name}'" in options
    assert "NUM_THREADS" in drv.GetMetadataItem(gdal.DMD_OPENOPTIONLIST)


def test_gdalinfo_lists_driver():
    out = subprocess.run(["gdalinfo", "--formats"], capture_output=True, text=True, check=True).stdout
    assert "B2B -raster- (rwvs): Byte2Bit compressed raster" in out


@pytest.mark.parametrize("type_name", TYPES)
def test_every_data_type(gdal, tmp_path, type_name):
    src = mem_dataset(gdal, 300, 200, bands=2, type_name=type_name)
    if type_name == "Int8" and not hasattr(gdal, "GDT_Int8"):  # GDAL < 3.7: GeoTIFF's signed Byte
        src = gdal.Translate(str(tmp_path / "int8.tif"), src, creationOptions=["PIXELTYPE=SIGNEDBYTE"])
    out = copy(gdal, src, tmp_path / "t.b2b", ["BLOCKSIZE=128"])
    assert_same_pixels(src, out)
    if type_name == "Int8" and not hasattr(gdal, "GDT_Int8"):
        assert out.GetRasterBand(1).GetMetadataItem("PIXELTYPE", "IMAGE_STRUCTURE") == "SIGNEDBYTE"
    assert out.GetMetadataItem("COMPRESSION", "IMAGE_STRUCTURE") == "BYTE2BIT"
    assert out.GetMetadataItem("COMPRESSION_REVERSIBILITY", "IMAGE_STRUCTURE") == "LOSSLESS"
    assert out.GetRasterBand(1).GetBlockSize() == [128, 128]
    # overviews until one block holds the level: 150x100, 75x50; both readable
    band = out.GetRasterBand(1)
    assert [(band.GetOverview(k).XSize, band.GetOverview(k).YSize) for k in range(band.GetOverviewCount())] == \
        [(150, 100), (75, 50)]
    assert band.GetOverview(1).Checksum() >= 0


@pytest.mark.parametrize("level", [0, 1, 2, 4])
def test_levels(gdal, tmp_path, level):
    src = mem_dataset(gdal, 257, 259, type_name="Int16")
    out = copy(gdal, src, tmp_path / "t.b2b", [f"LEVEL={level}"])
    assert_same_pixels(src, out)
    assert out.GetMetadataItem("B2B_LEVEL", "IMAGE_STRUCTURE") == str(level)


def test_band_and_dataset_properties(gdal, tmp_path):
    src = mem_dataset(gdal, 200, 100, bands=3, type_name="Int16")
    src.SetMetadata({"SENSOR": "MSI", "PATH/WITH/SLASH": "kept"})
    src.SetMetadata({"K": "v"}, "CUSTOM_DOMAIN")
    src.SetMetadata(["<x:xmpmeta>hello</x:xmpmeta>"], "xml:XMP")
    for i, interp in enumerate([gdal.GCI_RedBand, gdal.GCI_GreenBand, gdal.GCI_BlueBand], start=1):
        b = src.GetRasterBand(i)
        b.SetNoDataValue(-9999 + i)
        b.SetScale(0.0001 * i)
        b.SetOffset(-0.1 * i)
        b.SetUnitType("reflectance")
        b.SetDescription(f"B0{i}")
        b.SetColorInterpretation(interp)
        b.SetMetadata({"WAVELENGTH": str(400 + i)})
        b.SetMetadata({"X": "1"}, "BAND_DOMAIN")
    out = copy(gdal, src, tmp_path / "t.b2b")
    assert out.GetMetadata() == src.GetMetadata()
    assert out.GetMetadata("CUSTOM_DOMAIN") == {"K": "v"}
    assert out.GetMetadata("xml:XMP") == ["<x:xmpmeta>hello</x:xmpmeta>"]
    assert out.GetGeoTransform() == src.GetGeoTransform()
    assert out.GetSpatialRef().IsSame(src.GetSpatialRef())
    for i in range(1, 4):
        a, b = src.GetRasterBand(i), out.GetRasterBand(i)
        assert b.GetNoDataValue() == a.GetNoDataValue()
        assert b.GetScale() == a.GetScale() and b.GetOffset() == a.GetOffset()
        assert b.GetUnitType() == "reflectance"
        assert b.GetDescription() == a.GetDescription()
        assert b.GetColorInterpretation() == a.GetColorInterpretation()
        assert b.GetMetadata() == a.GetMetadata()
        assert b.GetMetadata("BAND_DOMAIN") == {"X": "1"}
    assert_same_pixels(src, out)


@pytest.mark.parametrize("type_name,nodata", [("Float32", float("nan")), ("Float64", -3.4e38),
                                              ("Int64", -(2**63) + 1), ("UInt64", 2**64 - 2)])
def test_special_nodata(gdal, tmp_path, type_name, nodata):
    src = mem_dataset(gdal, 64, 64, type_name=type_name)
    band = src.GetRasterBand(1)
    if type_name == "Int64":
        band.SetNoDataValueAsInt64(nodata)
    elif type_name == "UInt64":
        band.SetNoDataValueAsUInt64(nodata)
    else:
        band.SetNoDataValue(nodata)
    ds = copy(gdal, src, tmp_path / "t.b2b")
    out = ds.GetRasterBand(1)
    if type_name == "Int64":
        assert out.GetNoDataValueAsInt64() == nodata
    elif type_name == "UInt64":
        assert out.GetNoDataValueAsUInt64() == nodata
    elif nodata != nodata:
        assert np.isnan(out.GetNoDataValue())
    else:
        assert out.GetNoDataValue() == nodata


def test_palette_uses_nearest_overviews(gdal, tmp_path):
    src = mem_dataset(gdal, 1100, 1000, type_name="Byte")
    band = src.GetRasterBand(1)
    band.WriteArray((band.ReadAsArray() // 64).astype(np.uint8))
    ct = gdal.ColorTable()
    for i, c in enumerate([(0, 0, 0, 255), (255, 0, 0, 255), (0, 255, 0, 255), (0, 0, 255, 128)]):
        ct.SetColorEntry(i, c)
    band.SetColorTable(ct)
    band.SetColorInterpretation(gdal.GCI_PaletteIndex)
    out = copy(gdal, src, tmp_path / "t.b2b")
    ob = out.GetRasterBand(1)
    assert ob.GetColorInterpretation() == gdal.GCI_PaletteIndex
    got = ob.GetColorTable()
    assert [got.GetColorEntry(i) for i in range(4)] == [ct.GetColorEntry(i) for i in range(4)]
    reference = gdal.Translate(str(tmp_path / "ref.tif"), src, format="GTiff")
    reference.BuildOverviews("NEAREST", [2, 4])
    for k in range(2):
        np.testing.assert_array_equal(ob.GetOverview(k).ReadAsArray(),
                                      reference.GetRasterBand(1).GetOverview(k).ReadAsArray())


def test_gcps(gdal, tmp_path):
    src = mem_dataset(gdal, 120, 80)
    gcps = [gdal.GCP(-75.0 + 0.01 * i, 37.0 + 0.01 * j, 0.5 * i, i * 10.0, j * 10.0) for i in range(3) for j in range(3)]
    for n, g in enumerate(gcps):
        g.Id, g.Info = f"p{n}", "corner" if n == 0 else ""
    src.SetGeoTransform([0, 1, 0, 0, 0, 1])
    src.SetGCPs(gcps, _wkt(gdal, 4326))
    out = copy(gdal, src, tmp_path / "t.b2b")
    assert out.GetGCPCount() == 9
    assert out.GetGCPSpatialRef().IsSame(src.GetGCPSpatialRef())
    for a, b in zip(src.GetGCPs(), out.GetGCPs()):
        assert (a.GCPPixel, a.GCPLine, a.GCPX, a.GCPY, a.GCPZ, a.Id, a.Info) == \
               (b.GCPPixel, b.GCPLine, b.GCPX, b.GCPY, b.GCPZ, b.Id, b.Info)


@pytest.mark.parametrize("width,height", [(1, 1), (1, 10000), (10000, 1), (513, 1025)])
def test_odd_sizes(gdal, tmp_path, width, height):
    src = mem_dataset(gdal, width, height, type_name="UInt16")
    out = copy(gdal, src, tmp_path / "t.b2b")
    assert_same_pixels(src, out)
    bx, by = out.GetRasterBand(1).GetBlockSize()
    assert (bx, by) == (min(512, width), min(512, height))


@pytest.mark.parametrize("options,block", [(["BLOCKSIZE=64"], [64, 64]), (["BLOCKSIZE=2048"], [2048, 2048]),
                                           (["BLOCKXSIZE=256", "BLOCKYSIZE=64"], [256, 64]),
                                           (["BLOCKXSIZE=128", "BLOCKYSIZE=1024"], [128, 1024])])
def test_block_sizes(gdal, tmp_path, options, block):
    src = mem_dataset(gdal, 2100, 2050, type_name="UInt16")
    out = copy(gdal, src, tmp_path / "t.b2b", options)
    assert out.GetRasterBand(1).GetBlockSize() == block
    assert_same_pixels(src, out)
    # a window across block edges, read one block at a time and many at a time, equals the source
    for threads in ("1", "2"):
        ds = gdal.OpenEx(str(tmp_path / "t.b2b"), open_options=[f"NUM_THREADS={threads}"])
        assert ds.ReadRaster(33, 61, 1500, 999) == src.ReadRaster(33, 61, 1500, 999)


def test_cog_layout_keeps_source_tiling(gdal, tmp_path):
    src = mem_dataset(gdal, 700, 600)
    cog = gdal.Translate(str(tmp_path / "src.tif"), src, format="COG", creationOptions=["BLOCKSIZE=256"])
    assert block_size(copy(gdal, cog, tmp_path / "a.b2b")) == [256, 256]
    assert block_size(copy(gdal, cog, tmp_path / "b.b2b", ["COG_LAYOUT=NO"])) == [512, 512]
    strips = gdal.Translate(str(tmp_path / "strips.tif"), src, format="GTiff")
    assert block_size(copy(gdal, strips, tmp_path / "c.b2b")) == [512, 512]


def block_size(ds):
    return ds.GetRasterBand(1).GetBlockSize()  # ds held while the band is used (GDAL 3.6 bindings)


def sources_with_layouts_not_worth_keeping(gdal, tmp_path):
    """What users convert from, whose block layout would hurt a .b2b (issue 9: 33.9 MB instead of 13.0)."""
    src = mem_dataset(gdal, 1300, 1100)
    tiled = gdal.Translate(str(tmp_path / "t256.tif"), src, creationOptions=["TILED=YES", "BLOCKXSIZE=256",
                                                                            "BLOCKYSIZE=256"])
    yield "VRT of a COG (128)", gdal.Translate(str(tmp_path / "v.vrt"), tiled, format="VRT")
    yield "-srcwin (128)", gdal.Translate("", tiled, format="VRT", srcWin=[10, 20, 1000, 900])
    yield "-outsize (128)", gdal.Translate("", tiled, format="VRT", width=650, height=550)
    yield "gdalwarp (512 x 128)", gdal.Warp("", tiled, format="VRT", dstSRS="EPSG:4326")
    yield "128 tiles", gdal.Translate(str(tmp_path / "t128.tif"), src, creationOptions=[
        "TILED=YES", "BLOCKXSIZE=128", "BLOCKYSIZE=128"])
    yield "non-square tiles", gdal.Translate(str(tmp_path / "t2.tif"), src, creationOptions=[
        "TILED=YES", "BLOCKXSIZE=512", "BLOCKYSIZE=256"])
    yield "MEM", src


def test_block_size_rule(gdal, tmp_path):
    """COG_LAYOUT keeps a tiled GeoTIFF's square blocks of 256 or more; everything else gets 512."""
    for name, src in sources_with_layouts_not_worth_keeping(gdal, tmp_path):
        out = copy(gdal, src, tmp_path / "o.b2b", ["OVERVIEWS=NONE"])
        assert out.GetRasterBand(1).GetBlockSize() == [512, 512], name
        assert_same_pixels(src, out)
    src = mem_dataset(gdal, 2100, 1100)
    big = gdal.Translate(str(tmp_path / "t1024.tif"), src, creationOptions=["TILED=YES", "BLOCKXSIZE=1024",
                                                                           "BLOCKYSIZE=1024"])
    assert block_size(copy(gdal, big, tmp_path / "k.b2b")) == [1024, 1024]
    # an explicit request always wins
    assert block_size(copy(gdal, big, tmp_path / "e.b2b", ["BLOCKSIZE=128"])) == [128, 128]


def test_rio_convert_from_a_striped_source(gdal, tmp_path):
    """rasterio passes a striped source's profile (TILED=NO, BLOCKYSIZE=3) as creation options: it must
    convert, with the default blocks, not fail on a block size nobody asked for."""
    src = tmp_path / "striped.tif"
    gdal.Translate(str(src), mem_dataset(gdal, 791, 718, bands=3, type_name="Byte"),
                   creationOptions=["BLOCKYSIZE=3"])
    out = tmp_path / "out.b2b"
    rio = os.path.join(os.path.dirname(sys.executable), "rio")
    done = subprocess.run([rio, "convert", "-f", "B2B", str(src), str(out)], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    ds = gdal.Open(str(out))
    assert ds.GetRasterBand(1).GetBlockSize() == [512, 512]
    assert_same_pixels(gdal.Open(str(src)), ds)


@pytest.mark.parametrize("resampling", ["AVERAGE", "NEAREST", "CUBIC"])
def test_overviews_equal_gdal_overviews(gdal, tmp_path, shared_data, resampling):
    src = gdal.Open(str(s2_band("B04")))
    # CUBIC is the default, as in the COG driver; the JP2's own overviews are not used
    out = copy(gdal, src, tmp_path / "t.b2b", ["OVERVIEWS=IGNORE_EXISTING"] +
               ([f"OVERVIEW_RESAMPLING={resampling}"] if resampling != "CUBIC" else []))
    band = out.GetRasterBand(1)
    # AUTO: halve until one block: 1933x1947 with 512 blocks -> 967x974, 484x487
    assert [(band.GetOverview(k).XSize, band.GetOverview(k).YSize) for k in range(band.GetOverviewCount())] == \
        [(967, 974), (484, 487)]
    reference = gdal.Translate(str(tmp_path / "ref.tif"), src, format="GTiff")
    reference.BuildOverviews(resampling, [2, 4])
    for k in range(2):
        np.testing.assert_array_equal(band.GetOverview(k).ReadAsArray(),
                                      reference.GetRasterBand(1).GetOverview(k).ReadAsArray())
    assert copy(gdal, src, tmp_path / "n.b2b", ["OVERVIEWS=NONE"]).GetRasterBand(1).GetOverviewCount() == 0


def test_overview_control(gdal, tmp_path, shared_data):
    src = gdal.Open(str(shared_data / "raster" / "rasterio" / "RGB.byte.tif"))  # 791 x 718
    sizes = lambda ds: [(ds.GetRasterBand(1).GetOverview(k).XSize, ds.GetRasterBand(1).GetOverview(k).YSize)  # noqa
                        for k in range(ds.GetRasterBand(1).GetOverviewCount())]
    assert sizes(copy(gdal, src, tmp_path / "f.b2b", ["OVERVIEWS=2,4,8"])) == [(396, 359), (198, 180), (99, 90)]
    # the COG driver's RESAMPLING name works too; what `rio overview --ls` reads is what was used
    out = copy(gdal, src, tmp_path / "r.b2b", ["OVERVIEWS=2,4", "RESAMPLING=AVERAGE"])
    assert out.GetMetadata("rio_overview") == {"resampling": "average"}
    reference = gdal.Translate(str(tmp_path / "ref.tif"), src, format="GTiff")
    reference.BuildOverviews("AVERAGE", [2, 4])
    np.testing.assert_array_equal(out.GetRasterBand(2).GetOverview(1).ReadAsArray(),
                                  reference.GetRasterBand(2).GetOverview(1).ReadAsArray())
    # as the COG driver: a source's own overviews are copied (AUTO, FORCE_USE_EXISTING), not
    # recomputed; IGNORE_EXISTING recomputes them
    cog = gdal.Translate(str(tmp_path / "cog.tif"), src, format="COG",
                         creationOptions=["BLOCKSIZE=256", "OVERVIEW_RESAMPLING=NEAREST"])
    for mode in ("AUTO", "FORCE_USE_EXISTING"):
        copied = copy(gdal, cog, tmp_path / "e.b2b", [f"OVERVIEWS={mode}", "OVERVIEW_RESAMPLING=CUBIC"])
        assert sizes(copied) == sizes(cog) and copied.GetMetadata("rio_overview") == {}
        for k in range(len(sizes(cog))):
            np.testing.assert_array_equal(copied.GetRasterBand(3).GetOverview(k).ReadAsArray(),
                                          cog.GetRasterBand(3).GetOverview(k).ReadAsArray())
    # a JPEG 2000's pyramid too, as the COG driver does
    jp2 = gdal.Open(str(next(safe_product().rglob("*_B04_60m.jp2"))))
    assert sizes(copy(gdal, jp2, tmp_path / "j.b2b")) == [(915, 915), (458, 458), (229, 229), (115, 115)]
    computed = copy(gdal, cog, tmp_path / "i.b2b", ["OVERVIEWS=IGNORE_EXISTING"])
    assert sizes(computed) == [(396, 359), (198, 180)] and computed.GetMetadata("rio_overview") == {"resampling": "cubic"}
    assert sizes(copy(gdal, src, tmp_path / "n.b2b", ["OVERVIEWS=FORCE_USE_EXISTING"])) == []  # none to copy
    driver = gdal.GetDriverByName("B2B")
    for options, message in ((["OVERVIEWS=4,2"], "increasing factors"), (["OVERVIEWS=1"], "increasing factors"),
                             (["OVERVIEW_RESAMPLING=FOO"], "choose NEAREST"),
                             (["LEVEL=0", "QUANTIZE_SCALE=0.5"], "LEVEL=0")):
        with pytest.raises(RuntimeError, match=message):
            driver.CreateCopy(str(tmp_path / "bad.b2b"), src if "LEVEL=0" not in options else
                              gdal.Translate("", src, format="MEM", outputType=gdal.GDT_Float32), options=options)
        assert not (tmp_path / "bad.b2b").exists()


def test_gdaladdo_refused_rio_overview_rewrites(gdal, tmp_path, shared_data):
    """gdaladdo would write an external .ovr that readers ignore: refused, with the way that works.
    rio overview --build rewrites the file through CreateCopy (atomically), with the overviews and
    resampling asked for, and --ls then reports what is stored."""
    src = shared_data / "raster" / "rasterio" / "RGB.byte.tif"
    out = tmp_path / "rgb.b2b"
    copy(gdal, gdal.Open(str(src)), out)
    before = out.read_bytes()
    r = subprocess.run(["gdaladdo", str(out), "2", "4"], capture_output=True, text=True)
    assert r.returncode != 0 and "-co OVERVIEWS=2,4" in r.stderr, r.stderr
    assert out.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["rgb.b2b"]
    rio = os.path.join(os.path.dirname(sys.executable), "rio")
    r = subprocess.run([rio, "overview", "--ls", str(out)], capture_output=True, text=True)
    assert r.returncode == 0 and "[2] (method: 'cubic')" in r.stdout, r.stdout + r.stderr
    r = subprocess.run([rio, "overview", "--build", "2^1..3", "--resampling", "nearest", str(out)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([rio, "overview", "--ls", str(out)], capture_output=True, text=True)
    assert "Band 3: [2, 4, 8] (method: 'nearest')" in r.stdout, r.stdout + r.stderr
    reference = gdal.Translate(str(tmp_path / "ref.tif"), str(src), format="GTiff")
    reference.BuildOverviews("NEAREST", [2, 4, 8])
    ds = gdal.Open(str(out))
    assert ds.GetDriver().ShortName == "B2B"
    band, ref = ds.GetRasterBand(1), reference.GetRasterBand(1)
    assert [(band.GetOverview(k).XSize, band.GetOverview(k).YSize) for k in range(band.GetOverviewCount())] == \
        [(ref.GetOverview(k).XSize, ref.GetOverview(k).YSize) for k in range(3)]
    # nearest at factor 2 is one choice of pixels (deeper levels depend on how they cascade)
    np.testing.assert_array_equal(band.GetOverview(0).ReadAsArray(), ref.GetOverview(0).ReadAsArray())
    np.testing.assert_array_equal(ds.ReadAsArray(), reference.ReadAsArray())


def test_create_says_how(gdal, tmp_path, shared_data):
    """gdal_calc.py, gdal_merge.py and gdal_rasterize use Create(): refused with the way that works."""
    with pytest.raises(RuntimeError, match="gdal_translate -of B2B in.tif out.b2b"):
        gdal.GetDriverByName("B2B").Create(str(tmp_path / "c.b2b"), 10, 10, 1, gdal.GDT_Byte)
    assert gdal.GetDriverByName("B2B").GetMetadataItem("DCAP_CREATE") is None  # gdalwarp keeps CreateCopy
    r = subprocess.run([os.path.join(os.path.dirname(sys.executable), "python"), "-m", "osgeo_utils.gdal_calc",
                        "-A", str(shared_data / "raster" / "rasterio" / "RGB.byte.tif"), "--format=B2B",
                        f"--outfile={tmp_path / 'c.b2b'}", "--calc=A*2"], capture_output=True, text=True)
    assert r.returncode != 0 and "gdal_translate -of B2B" in r.stderr, r.stderr
    assert not (tmp_path / "c.b2b").exists()


def test_mask_band(gdal, tmp_path):
    src = gdal.Translate(str(tmp_path / "src.tif"), mem_dataset(gdal, 600, 500, bands=2), format="GTiff")
    src.CreateMaskBand(gdal.GMF_PER_DATASET)
    mask = np.zeros((500, 600), dtype=np.uint8)
    mask[50:400, 100:550] = 255
    src.GetRasterBand(1).GetMaskBand().WriteArray(mask)
    src.FlushCache()
    out = copy(gdal, src, tmp_path / "t.b2b")
    for i in (1, 2):
        assert out.GetRasterBand(i).GetMaskFlags() == gdal.GMF_PER_DATASET
        np.testing.assert_array_equal(out.GetRasterBand(i).GetMaskBand().ReadAsArray(), mask)
    assert out.GetRasterBand(1).GetMaskBand().GetOverviewCount() == 1


def test_error_bounded(gdal, tmp_path, shared_data):
    dem = shared_data / "raster" / "copdem" / "Copernicus_DSM_COG_10_N00_00_E006_00_DEM.tif"
    src = gdal.Open(str(dem))
    out = copy(gdal, src, tmp_path / "q.b2b", ["QUANTIZE_SCALE=0.01"])
    assert out.GetMetadataItem("COMPRESSION_REVERSIBILITY", "IMAGE_STRUCTURE") == "LOSSY"
    a = src.GetRasterBand(1).ReadAsArray().astype(np.float64)
    b = out.GetRasterBand(1).ReadAsArray().astype(np.float64)
    assert np.max(np.abs(a - b)) <= 0.005
    with pytest.raises(RuntimeError, match="QUANTIZE_SCALE applies to floating-point bands"):
        gdal.GetDriverByName("B2B").CreateCopy(str(tmp_path / "bad.b2b"), mem_dataset(gdal, 10, 10),
                                               options=["QUANTIZE_SCALE=1"])
    assert not (tmp_path / "bad.b2b").exists()


@pytest.mark.parametrize("option", ["LEVEL=3", "QUANTIZE_SCALE=-1", "QUANTIZE_SCALE=abc", "BLOCKSIZE=8",
                                    "FORMAT=TAR", "OVERVIEWS=MAYBE"])
def test_bad_creation_options(gdal, tmp_path, option):
    with pytest.raises(RuntimeError, match=option.split("=")[0]):
        gdal.GetDriverByName("B2B").CreateCopy(str(tmp_path / "t.b2b"), mem_dataset(gdal, 10, 10), options=[option])
    assert list(tmp_path.iterdir()) == []


def test_directory_form_wins_over_zarr_driver(gdal, tmp_path):
    src = mem_dataset(gdal, 300, 300)
    out = copy(gdal, src, tmp_path / "d.b2b", ["FORMAT=DIRECTORY"])
    assert (tmp_path / "d.b2b").is_dir() and (tmp_path / "d.b2b" / "zarr.json").is_file()
    assert gdal.Open(str(tmp_path / "d.b2b")).GetDriver().ShortName == "B2B"
    assert gdal.Open(f"B2B:{tmp_path / 'd.b2b'}").GetDriver().ShortName == "B2B"
    assert_same_pixels(src, out)
    out = None
    gdal.GetDriverByName("B2B").Delete(str(tmp_path / "d.b2b"))
    assert not (tmp_path / "d.b2b").exists()


def test_zarr_python_reads_what_gdal_writes(gdal, tmp_path):
    import xarray as xr
    import zarr
    src = mem_dataset(gdal, 700, 300, bands=2)
    copy(gdal, src, tmp_path / "t.b2b", ["BLOCKSIZE=256"])
    store = zarr.storage.ZipStore(str(tmp_path / "t.b2b"), mode="r")
    group = zarr.open_group(store, mode="r")
    np.testing.assert_array_equal(group["band_2"][:], src.GetRasterBand(2).ReadAsArray())
    assert group["band_1"].chunks == (256, 256)
    assert group.attrs["byte2bit"]["layout"] == "raster"
    assert xr.open_zarr(store, consolidated=False)["band_1"].shape == (300, 700)


def test_vsimem_round_trip(gdal):
    src = mem_dataset(gdal, 333, 222, bands=2)
    out = copy(gdal, src, "/vsimem/b2b_test/t.b2b")
    assert_same_pixels(src, out)
    out = None
    assert gdal.Open("/vsimem/b2b_test/t.b2b").GetDriver().ShortName == "B2B"
    assert gdal.ReadDir("/vsimem/b2b_test") == ["t.b2b"]  # no temporary left beside it
    gdal.Unlink("/vsimem/b2b_test/t.b2b")


def test_cancel_leaves_nothing(gdal, tmp_path):
    src = mem_dataset(gdal, 2000, 2000, bands=2)
    seen = []

    def cancel_half_way(fraction, *_):
        seen.append(fraction)
        return 0 if fraction > 0.5 else 1
    with pytest.raises(RuntimeError):
        gdal.GetDriverByName("B2B").CreateCopy(str(tmp_path / "t.b2b"), src, callback=cancel_half_way)
    assert seen and max(seen) > 0.5
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(RuntimeError):
        gdal.Translate(str(tmp_path / "t.b2b"), src, format="B2B", callback=cancel_half_way)
    assert list(tmp_path.iterdir()) == []


def test_overwrite_is_atomic_replace(gdal, tmp_path):
    copy(gdal, mem_dataset(gdal, 100, 100, seed=1), tmp_path / "t.b2b")
    src = mem_dataset(gdal, 120, 90, seed=2)
    assert_same_pixels(src, copy(gdal, src, tmp_path / "t.b2b"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.b2b"]


def test_gdalwarp(gdal, tmp_path):
    src = mem_dataset(gdal, 400, 300)
    out = gdal.Warp(str(tmp_path / "w.b2b"), src, format="B2B", dstSRS="EPSG:4326")
    assert out is not None and out.GetDriver().ShortName == "B2B"
    ref = gdal.Warp("", src, format="MEM", dstSRS="EPSG:4326")
    assert out.GetRasterBand(1).ReadRaster() == ref.GetRasterBand(1).ReadRaster()


def test_concurrent_reads(gdal, tmp_path):
    src = mem_dataset(gdal, 1500, 1400, bands=2)
    copy(gdal, src, tmp_path / "t.b2b", ["BLOCKSIZE=256"])
    expected = [src.GetRasterBand(i).ReadRaster() for i in (1, 2)]
    errors = []

    def reader(seed):
        try:
            ds = gdal.Open(str(tmp_path / "t.b2b"))
            rng = np.random.default_rng(seed)
            for _ in range(20):
                b = int(rng.integers(1, 3))
                x, y = int(rng.integers(0, 1200)), int(rng.integers(0, 1100))
                got = np.frombuffer(ds.GetRasterBand(b).ReadRaster(x, y, 300, 300), dtype=np.uint16)
                want = np.frombuffer(expected[b - 1], dtype=np.uint16).reshape(1400, 1500)[y:y + 300, x:x + 300]
                assert np.array_equal(got, want.ravel())
            assert ds.GetRasterBand(1).ReadRaster() == expected[0]
        except Exception as e:  # noqa: BLE001  (reported from the main thread)
            errors.append(e)
    threads = [threading.Thread(target=reader, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_threads_option(gdal, tmp_path):
    src = mem_dataset(gdal, 1100, 1100)
    copy(gdal, src, tmp_path / "t.b2b", ["BLOCKSIZE=128", "NUM_THREADS=2"])
    for value in ("1", "2", "ALL_CPUS"):
        ds = gdal.OpenEx(str(tmp_path / "t.b2b"), open_options=[f"NUM_THREADS={value}"])
        assert ds.ReadRaster() == src.ReadRaster()
    with gdal.config_option("GDAL_NUM_THREADS", "1") if hasattr(gdal, "config_option") else _config(gdal, "1"):
        assert gdal.Open(str(tmp_path / "t.b2b")).ReadRaster() == src.ReadRaster()


class _config:
    def __init__(self, gdal, value):
        self.gdal, self.value = gdal, value

    def __enter__(self):
        self.gdal.SetConfigOption("GDAL_NUM_THREADS", self.value)

    def __exit__(self, *exc):
        self.gdal.SetConfigOption("GDAL_NUM_THREADS", None)


def test_read_only(gdal, tmp_path):
    copy(gdal, mem_dataset(gdal, 50, 50), tmp_path / "t.b2b")
    with pytest.raises(RuntimeError, match="read-only"):
        gdal.Open(str(tmp_path / "t.b2b"), gdal.GA_Update)


def multi_raster(gdal, path):
    """A .b2b with two rasters (as a Sentinel-2 product becomes), and their pixels by group name."""
    product = gdal.GetDriverByName("MEM").Create("", 1, 1, 0)
    entries, pixels = {}, {}
    for i, (name, size) in enumerate([("10m", 300), ("20m", 150)], start=1):
        src = f"/vsimem/multi/{name}"
        gdal.Translate(src, mem_dataset(gdal, size, size, bands=2, seed=i), format="GTiff")
        entries[f"SUBDATASET_{i}_NAME"], entries[f"SUBDATASET_{i}_DESC"] = src, name
        pixels[name] = gdal.Open(src).ReadAsArray()
    product.SetMetadata(entries, "SUBDATASETS")
    copy(gdal, product, path, ["OVERVIEWS=NONE"])
    return pixels


def test_subdatasets_in_rasterio_and_rioxarray(gdal, tmp_path):
    """rasterio hands subdataset names back unquoted (B2B:path:group); both forms open."""
    import rasterio
    rioxarray = pytest.importorskip("rioxarray")
    path = tmp_path / "product.b2b"
    pixels = multi_raster(gdal, path)
    with rasterio.open(path) as ds:
        names = ds.subdatasets
    assert [n.rsplit(":", 1)[1] for n in names] == ["10m", "20m"]
    for name in names:
        with rasterio.open(name) as sub:
            assert np.array_equal(sub.read(), pixels[name.rsplit(":", 1)[1]])
    for form in (f'B2B:"{path}":20m', f"B2B:{path}:20m"):
        ds = gdal.Open(form)
        assert np.array_equal(ds.ReadAsArray(), pixels["20m"]), form
    opened = rioxarray.open_rasterio(path)
    opened = opened if isinstance(opened, list) else [opened]
    arrays = [v for d in opened for v in (d.data_vars.values() if hasattr(d, "data_vars") else [d])]
    assert sorted(a.shape for a in arrays) == [(2, 150, 150), (2, 300, 300)]
    for a in arrays:
        assert np.array_equal(a.values, pixels["10m" if a.shape[1] == 300 else "20m"])
        assert a.rio.crs is not None
