// Fuzz target: arbitrary bytes opened as a .b2b by the B2B GDAL driver from /vsimem/, reading every
// band, overview and mask of what opens. Any outcome but a crash, hang or leak is fine.
#include <cstdint>

#include "cpl_conv.h"
#include "cpl_vsi.h"
#include "cpl_string.h"
#include "gdal.h"
#include "gdal_alg.h"

extern "C" void GDALRegister_B2B();

namespace {

void read_all(GDALRasterBandH band) {
    const int w = GDALGetRasterBandXSize(band), h = GDALGetRasterBandYSize(band);
    if (double(w) * h > 4e6) return;  // a declared size is not an allocation: read small rasters only
    GDALChecksumImage(band, 0, 0, w, h);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const bool ready = [] {
        CPLSetErrorHandler(CPLQuietErrorHandler);
        CPLSetConfigOption("GDAL_NUM_THREADS", "2");
        GDALSetCacheMax(16 << 20);
        GDALRegister_B2B();
        return true;
    }();
    (void)ready;
    const char* name = "/vsimem/fuzz/input.b2b";
    VSIFCloseL(VSIFileFromMemBuffer(name, const_cast<GByte*>(data), vsi_l_offset(size), FALSE));
    const char* const drivers[] = {"B2B", nullptr};
    if (GDALDatasetH ds = GDALOpenEx(name, GDAL_OF_RASTER, drivers, nullptr, nullptr)) {
        for (int i = 1; i <= GDALGetRasterCount(ds); ++i) {
            GDALRasterBandH band = GDALGetRasterBand(ds, i);
            read_all(band);
            GDALGetRasterNoDataValue(band, nullptr);
            for (int k = 0; k < GDALGetOverviewCount(band); ++k) read_all(GDALGetOverview(band, k));
            if (GDALGetMaskFlags(band) == GMF_PER_DATASET) read_all(GDALGetMaskBand(band));
        }
        char** sds = GDALGetMetadata(ds, "SUBDATASETS");
        if (sds && sds[0]) {
            // open the first subdataset too (it names the same /vsimem/ file)
            const char* sub = CPLParseNameValue(sds[0], nullptr);
            if (sub)
                if (GDALDatasetH s = GDALOpenEx(sub, GDAL_OF_RASTER, drivers, nullptr, nullptr)) {
                    if (GDALGetRasterCount(s) > 0) read_all(GDALGetRasterBand(s, 1));
                    GDALClose(s);
                }
        }
        GDALClose(ds);
    }
    VSIUnlink(name);
    return 0;
}
