// Reading: a .b2b raster (or one raster group of it) as a GDAL dataset.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "gdal_pam.h"

#include "b2b_layout.hpp"
#include "b2b_store.hpp"

namespace b2b_gdal {

class B2BRasterBand;

class B2BDataset final : public GDALPamDataset {
public:
    static GDALDataset* Open(GDALOpenInfo* info);
    ~B2BDataset() override;

    CPLErr GetGeoTransform(double* transform) override;
    const OGRSpatialReference* GetSpatialRef() const override;
    int GetGCPCount() override;
    const OGRSpatialReference* GetGCPSpatialRef() const override;
    const GDAL_GCP* GetGCPs() override;
    char** GetFileList() override;
    CPLErr IBuildOverviews(const char* resampling, int count, const int* factors, int nbands, const int* bands,
                           GDALProgressFunc progress, void* progress_data, CSLConstList options) override;

    int threads() const { return threads_; }
    const store_reader& store() const { return *store_; }

    struct band_description;  // a band as the raster attribute describes it, validated
    struct raster_description;

private:
    friend class B2BRasterBand;
    B2BDataset() = default;
    static GDALDataset* open(GDALOpenInfo* info);
    void load_raster(const std::shared_ptr<store_reader>& store, const std::string& prefix,
                     const raster_description& raster, int overview_level, int threads);
    void load_collection(const CPLJSONObject& root, const std::string& path);

    std::shared_ptr<store_reader> store_;
    std::string prefix_;  // "" or "<subdataset>/", plus "overview_<k>/" for an overview
    bool has_geotransform_ = false;
    double geotransform_[6] = {0, 1, 0, 0, 0, 1};
    OGRSpatialReference srs_, gcp_srs_;
    std::vector<GDAL_GCP> gcps_;
    int threads_ = 1;
    std::vector<std::unique_ptr<B2BDataset>> overviews_;
    std::unique_ptr<B2BRasterBand> mask_;
};

class B2BRasterBand final : public GDALPamRasterBand {
public:
    B2BRasterBand(B2BDataset* ds, int band, const std::string& array, const storage_type& type, int block_x,
                  int block_y);
    ~B2BRasterBand() override;

    CPLErr IReadBlock(int block_col, int block_row, void* image) override;
    CPLErr IRasterIO(GDALRWFlag rw, int x, int y, int xsize, int ysize, void* data, int buf_xsize, int buf_ysize,
                     GDALDataType buf_type, GSpacing pixel_space, GSpacing line_space,
                     GDALRasterIOExtraArg* extra) override;

    double GetNoDataValue(int* success) override;
#if GDAL_VERSION_NUM >= 3050000
    int64_t GetNoDataValueAsInt64(int* success) override;
    uint64_t GetNoDataValueAsUInt64(int* success) override;
#endif
    double GetOffset(int* success) override;
    double GetScale(int* success) override;
    const char* GetUnitType() override;
    GDALColorInterp GetColorInterpretation() override;
    GDALColorTable* GetColorTable() override;
    int GetOverviewCount() override;
    GDALRasterBand* GetOverview(int i) override;
    int GetMaskFlags() override;
    GDALRasterBand* GetMaskBand() override;

private:
    friend class B2BDataset;
    CPLErr read_blocks(int x, int y, int xsize, int ysize, void* data, GDALDataType buf_type, GSpacing pixel_space,
                       GSpacing line_space, GDALRasterIOExtraArg* extra);
    // "" when the band array's zarr.json agrees with the raster description, else why not.
    std::string check_array() const;
    // Decodes one chunk into `out` (one GDAL block, pixel-interleaved as GDAL wants it).
    bool decode_block(int block_col, int block_row, void* out, std::vector<GByte>& stream,
                      std::vector<GByte>& planes, std::string* why) const;

    B2BDataset* ds_;
    std::string array_;  // key prefix of the band's array
    storage_type type_;
    bool has_nodata_ = false;
    std::string nodata_;  // as written: exact for 64-bit integers
    bool has_scale_ = false, has_offset_ = false;
    double scale_ = 1.0, offset_ = 0.0;
    std::string unit_;
    GDALColorInterp interp_ = GCI_Undefined;
    std::shared_ptr<GDALColorTable> color_table_;  // shared by the overview levels
    bool is_mask_ = false;
    int planes_axis_ = 0;       // 1 when stored as (2, y, x)
    double quantize_ = 0.0;     // the error bound every chunk must state
    // The band array's own zarr.json, read and checked against the raster description once, when
    // the first block is read (opening reads only the root document).
    mutable std::once_flag array_checked_;
    mutable std::string array_error_;
};

}  // namespace b2b_gdal
