// Identify and the driver's metadata: cheap, no dataset is opened here.
#include <cstring>

#include "cpl_string.h"

#include "b2b_driver.hpp"

namespace b2b_gdal {

int Identify(GDALOpenInfo* info) {
    const char* name = info->pszFilename;
    if (STARTS_WITH_CI(name, "B2B:")) return TRUE;
    if (!EQUAL(CPLGetExtension(name), "b2b")) return FALSE;
    if (info->bIsDirectory) {
        VSIStatBufL st;
        return VSIStatL(CPLFormFilename(name, "zarr.json", nullptr), &st) == 0;
    }
    // A .b2b file is a zip archive: local file header signature "PK\3\4".
    return info->nHeaderBytes >= 4 && std::memcmp(info->pabyHeader, "PK\x03\x04", 4) == 0;
}

void SetDriverMetadata(GDALDriver* driver) {
    driver->SetDescription(driver_name);
    driver->SetMetadataItem(GDAL_DCAP_RASTER, "YES");
    driver->SetMetadataItem(GDAL_DMD_LONGNAME, "Byte2Bit compressed raster");
    driver->SetMetadataItem(GDAL_DMD_EXTENSION, "b2b");
    driver->SetMetadataItem(GDAL_DMD_EXTENSIONS, "b2b");
    driver->SetMetadataItem(GDAL_DCAP_VIRTUALIO, "YES");
    driver->SetMetadataItem(GDAL_DMD_SUBDATASETS, "YES");
    driver->SetMetadataItem(GDAL_DCAP_CREATECOPY, "YES");
    driver->SetMetadataItem(GDAL_DMD_CREATIONDATATYPES,
                            "Byte Int8 UInt16 Int16 UInt32 Int32 UInt64 Int64 Float32 Float64 "
                            "CInt16 CInt32 CFloat32 CFloat64");
    driver->SetMetadataItem(
        GDAL_DMD_OPENOPTIONLIST,
        "<OpenOptionList>"
        "  <Option name='NUM_THREADS' type='string' description='Threads decoding blocks of one read: a number "
        "or ALL_CPUS (default: GDAL_NUM_THREADS, else ALL_CPUS)'/>"
        "</OpenOptionList>");
    driver->SetMetadataItem(
        GDAL_DMD_CREATIONOPTIONLIST,
        "<CreationOptionList>"
        "  <Option name='LEVEL' type='int' description='0, 1, 2 or 4: lossless; 0 decodes fastest, 4 is "
        "smallest' default='4'/>"
        "  <Option name='QUANTIZE_SCALE' type='float' description='0 for lossless; &gt; 0 for error-bounded "
        "floating-point bands: every value within QUANTIZE_SCALE/2 of the original' default='0'/>"
        "  <Option name='BLOCKSIZE' type='int' description='Block (chunk) width and height in pixels, 16 to "
        "8192 (default: a tiled GeoTIFF source&apos;s square blocks of 256 or more, else 512)'/>"
        "  <Option name='BLOCKXSIZE' type='int' description='Block width, for non-square blocks'/>"
        "  <Option name='BLOCKYSIZE' type='int' description='Block height, for non-square blocks'/>"
        "  <Option name='TILED' type='boolean' description='NO: BLOCKXSIZE/BLOCKYSIZE describe a striped "
        "source (as rasterio passes a profile) and are ignored; a .b2b is always tiled'/>"
        "  <Option name='COG_LAYOUT' type='boolean' description='YES: keep the blocks of a tiled GeoTIFF/COG "
        "source when square and 256 or more; NO: a fixed grid of BLOCKSIZE' default='YES'/>"
        "  <Option name='OVERVIEWS' type='string' description='As the COG driver: AUTO (the source&apos;s "
        "overviews if it has some, else computed: halved until one block), IGNORE_EXISTING (computed), "
        "FORCE_USE_EXISTING (the source&apos;s), NONE, or factors to compute such as 2,4,8' default='AUTO'/>"
        "  <Option name='OVERVIEW_RESAMPLING' type='string-select' description='As the COG driver: CUBIC, or "
        "NEAREST for bands with a colour table (RESAMPLING is accepted too)'>"
        "    <Value>NEAREST</Value><Value>AVERAGE</Value><Value>BILINEAR</Value><Value>CUBIC</Value>"
        "    <Value>CUBICSPLINE</Value><Value>LANCZOS</Value><Value>MODE</Value><Value>RMS</Value>"
        "    <Value>GAUSS</Value></Option>"
        "  <Option name='RESAMPLING' type='string' description='Alias of OVERVIEW_RESAMPLING'/>"
        "  <Option name='NUM_THREADS' type='string' description='Encoding threads: a number or ALL_CPUS' "
        "default='ALL_CPUS'/>"
        "  <Option name='FORMAT' type='string-select' default='ZIP'>"
        "    <Value>ZIP</Value><Value>DIRECTORY</Value></Option>"
        "</CreationOptionList>");
}

}  // namespace b2b_gdal
