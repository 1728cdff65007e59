"""Writes the seed inputs of fuzz_gdal_open: small .b2b rasters covering the layout's features
(types, overviews, palette, nodata, mask, GCPs, metadata domains, scale/offset/unit, error-bounded
with nodata, a directory-free multi-raster file), every one container format 2 with its manifest.
Run: .venv/bin/python tests/fuzz/make_gdal_corpus.py (with the plugin on GDAL_DRIVER_PATH)."""
import pathlib

import numpy as np

from byte2bit.raster import gdal as load_gdal

OUT = pathlib.Path(__file__).parent / "corpus" / "gdal_open"


def mem(gdal, w, h, bands, gdt):
    ds = gdal.GetDriverByName("MEM").Create("", w, h, bands, gdt)
    ds.SetGeoTransform([300000, 20, 0, 5000000, 0, -20])
    ds.SetProjection('LOCAL_CS["x"]')
    y, x = np.mgrid[0:h, 0:w]
    for b in range(1, bands + 1):
        ds.GetRasterBand(b).WriteArray(((x * 3 + y * b) % 97).astype(np.float64))
    return ds


def main():
    gdal = load_gdal()
    OUT.mkdir(parents=True, exist_ok=True)
    drv = gdal.GetDriverByName("B2B")
    seeds = {}
    seeds["uint16_overviews"] = (mem(gdal, 40, 30, 1, gdal.GDT_UInt16), ["BLOCKSIZE=16"])
    ds = mem(gdal, 20, 20, 3, gdal.GDT_Byte)
    ct = gdal.ColorTable()
    ct.SetColorEntry(1, (10, 20, 30, 255))
    ds.GetRasterBand(1).SetColorTable(ct)
    ds.GetRasterBand(2).SetNoDataValue(7)
    ds.GetRasterBand(3).SetScale(0.5)
    ds.CreateMaskBand(gdal.GMF_PER_DATASET)
    seeds["byte_palette_mask"] = (ds, ["BLOCKSIZE=16", "LEVEL=0"])
    seeds["cint16"] = (mem(gdal, 17, 9, 1, gdal.GDT_CInt16), ["BLOCKSIZE=16", "LEVEL=1"])
    seeds["cfloat32"] = (mem(gdal, 9, 17, 1, gdal.GDT_CFloat32), ["BLOCKSIZE=16", "LEVEL=2"])
    seeds["float32_quantized"] = (mem(gdal, 33, 20, 2, gdal.GDT_Float32), ["BLOCKSIZE=16", "QUANTIZE_SCALE=0.5"])
    ds = mem(gdal, 16, 16, 1, gdal.GDT_Int64)
    ds.SetGCPs([gdal.GCP(1.0, 2.0, 0.0, 0.5, 0.5), gdal.GCP(3.0, 4.0, 5.0, 10.5, 0.5, "info", "id2")],
               'LOCAL_CS["g"]')
    seeds["int64_gcps"] = (ds, ["LEVEL=4"])
    ds = mem(gdal, 24, 20, 2, gdal.GDT_Float32)
    ds.SetMetadata({"AREA_OR_POINT": "Point", "TIFFTAG_DATETIME": "2022:10:05 11:21:09"})
    ds.SetMetadata({"ALGORITHM": "L2A"}, "PROCESSING")
    ds.SetMetadata(["<xml>kept</xml>"], "xml:XMP")
    b = ds.GetRasterBand(1)
    b.SetNoDataValue(-9999)
    b.WriteArray(np.where(np.arange(24)[None, :] < 5, -9999, b.ReadAsArray()))
    b.SetDescription("B02")
    b.SetUnitType("m")
    b.SetOffset(-0.1)
    b.SetScale(1e-4)
    b.SetMetadata({"BANDNAME": "B2", "WAVELENGTH": "492.7"})
    b.SetColorInterpretation(gdal.GCI_BlueBand)
    ds.GetRasterBand(2).SetMetadata({"CLOUD": "1"}, "QUALITY")
    seeds["float32_metadata_nodata_quantized"] = (ds, ["BLOCKSIZE=16", "QUANTIZE_SCALE=0.25"])
    ds = mem(gdal, 30, 30, 1, gdal.GDT_UInt16)
    ct = gdal.ColorTable()
    for i in range(300):
        ct.SetColorEntry(i, (i % 256, (3 * i) % 256, 255 - i % 256, 128))
    ds.GetRasterBand(1).SetColorTable(ct)
    seeds["uint16_palette_overviews"] = (ds, ["BLOCKSIZE=16", "OVERVIEW_RESAMPLING=NEAREST"])
    for name, (src, options) in seeds.items():
        path = f"/vsimem/seed/{name}.b2b"
        drv.CreateCopy(path, src, options=options)
        f = gdal.VSIFOpenL(path, "rb")
        gdal.VSIFSeekL(f, 0, 2)
        size = gdal.VSIFTellL(f)
        gdal.VSIFSeekL(f, 0, 0)
        (OUT / f"{name}.b2b").write_bytes(gdal.VSIFReadL(1, size, f))
        gdal.VSIFCloseL(f)
        gdal.Unlink(path)
    # a multi-raster file, as transform() writes for a Sentinel-2 product
    product = gdal.GetDriverByName("MEM").Create("", 1, 1, 0)
    entries = {}
    for i, res in enumerate(("10m", "20m"), start=1):
        gdal.Translate(f"/vsimem/seed/{res}", mem(gdal, 24 // i, 24 // i, 2, gdal.GDT_UInt16), format="GTiff")
        entries[f"SUBDATASET_{i}_NAME"] = f"/vsimem/seed/{res}"
        entries[f"SUBDATASET_{i}_DESC"] = res
    product.SetMetadata(entries, "SUBDATASETS")
    drv.CreateCopy("/vsimem/seed/product.b2b", product, options=["BLOCKSIZE=16"])
    f = gdal.VSIFOpenL("/vsimem/seed/product.b2b", "rb")
    gdal.VSIFSeekL(f, 0, 2)
    size = gdal.VSIFTellL(f)
    gdal.VSIFSeekL(f, 0, 0)
    (OUT / "product.b2b").write_bytes(gdal.VSIFReadL(1, size, f))
    gdal.VSIFCloseL(f)


if __name__ == "__main__":
    main()
