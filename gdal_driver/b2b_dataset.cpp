#include "b2b_dataset.hpp"

#include <algorithm>
#include <cctype>
#include <atomic>
#include <cstring>
#include <mutex>
#include <thread>

#include "cpl_string.h"

#include "b2b_driver.hpp"

namespace b2b_gdal {
namespace {

// Splits "B2B:path", B2B:"path":group or a plain path into the container path and a raster group.
void parse_name(const std::string& name, std::string& path, std::string& group) {
    std::string rest = name;
    if (STARTS_WITH_CI(rest.c_str(), "B2B:")) rest = rest.substr(4);
    if (!rest.empty() && rest[0] == '"') {
        const auto close = rest.find('"', 1);
        if (close != std::string::npos) {
            path = rest.substr(1, close - 1);
            if (close + 1 < rest.size() && rest[close + 1] == ':') group = rest.substr(close + 2);
            return;
        }
    }
    path = rest;
}

// Raster group names become key prefixes: letters, digits, '_', '-', '.', and never "." or "..".
bool valid_group_name(const std::string& name) {
    if (name.empty() || name == "." || name == ".." || name.size() > 255) return false;
    for (char c : name)
        if (!(isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.')) return false;
    return true;
}

bool fail(const std::string& path, const std::string& why) {
    CPLError(CE_Failure, CPLE_OpenFailed, "B2B: %s: %s", path.c_str(), why.c_str());
    return false;
}

bool read_json(const store_reader& store, const std::string& key, CPLJSONDocument& doc, std::string* why) {
    std::vector<GByte> bytes;
    if (!store.read(key, bytes, max_json_bytes, why)) return false;
    bytes.push_back(0);
    CPLPushErrorHandler(CPLQuietErrorHandler);
    const bool parsed = doc.LoadMemory(bytes.data(), int(bytes.size() - 1));
    CPLPopErrorHandler();
    if (!parsed) {
        *why = key + " is not valid JSON";
        return false;
    }
    return true;
}

void load_metadata(GDALMajorObject& target, const CPLJSONArray& domains) {
    for (int i = 0; i < domains.Size(); ++i) {
        const CPLJSONObject d = domains[i];
        const std::string domain = d.GetString("domain");
        if (STARTS_WITH(domain.c_str(), "xml:")) {
            const std::string xml = d.GetString("xml");
            const char* const list[] = {xml.c_str(), nullptr};
            target.GDALMajorObject::SetMetadata(const_cast<char**>(list), domain.c_str());
        } else {
            char** list = string_list_from_pairs(d.GetArray("items"));
            target.GDALMajorObject::SetMetadata(list, domain.c_str());
            CSLDestroy(list);
        }
    }
}

}  // namespace

int configured_threads(CSLConstList open_options) {
    const char* value = CSLFetchNameValue(open_options, "NUM_THREADS");
    if (!value) value = CPLGetConfigOption("GDAL_NUM_THREADS", "ALL_CPUS");
    const int cpus = std::max(1, CPLGetNumCPUs());
    if (EQUAL(value, "ALL_CPUS")) return cpus;
    return std::max(1, std::min(atoi(value), 1024));
}

GDALDataset* B2BDataset::Open(GDALOpenInfo* info) {
    if (!Identify(info)) return nullptr;
    std::string path, group;
    parse_name(info->pszFilename, path, group);
    if (info->eAccess == GA_Update) {
        CPLError(CE_Failure, CPLE_NotSupported,
                 "B2B: %s: .b2b files are read-only; write a new one with gdal_translate -of B2B", path.c_str());
        return nullptr;
    }
    std::string why;
    std::shared_ptr<store_reader> store(store_reader::open(path, &why));
    if (!store) return fail(path, why), nullptr;
    CPLJSONDocument doc;
    if (!read_json(*store, "zarr.json", doc, &why))
        return fail(path, why + " (not a .b2b file, or a damaged one)"), nullptr;
    const CPLJSONObject attrs = doc.GetRoot().GetObj("attributes");
    const CPLJSONObject tag = attrs.GetObj("byte2bit");
    if (!tag.IsValid()) return fail(path, "not a Byte2Bit container (no byte2bit attribute)"), nullptr;
    const std::string layout = tag.GetString("layout");
    const int version = tag.GetInteger("format_version", -1);
    if (version > raster_format_version)
        return fail(path, "written by a newer Byte2Bit (container format " + std::to_string(version) +
                              "); this driver reads up to " + std::to_string(raster_format_version)),
               nullptr;
    const int threads = configured_threads(info->papszOpenOptions);

    auto ds = std::unique_ptr<B2BDataset>(new B2BDataset());
    ds->SetDescription(info->pszFilename);
    if (layout == layout_rasters && group.empty()) {
        if (!ds->load_collection(attrs, path)) return nullptr;
    } else if (layout == layout_rasters || layout == layout_raster) {
        CPLJSONObject raster = attrs.GetObj("raster");
        std::string prefix;
        if (layout == layout_rasters) {
            bool known = false;
            const CPLJSONArray names = attrs.GetArray("subdatasets");
            for (int i = 0; i < names.Size(); ++i) known |= names[i].ToString() == group;
            if (!known || !valid_group_name(group))
                return fail(path, "no raster named '" + group + "' in this file"), nullptr;
            prefix = group + "/";
            CPLJSONDocument sub;
            if (!read_json(*store, prefix + "zarr.json", sub, &why)) return fail(path, why), nullptr;
            raster = sub.GetRoot().GetObj("attributes").GetObj("raster");
        } else if (!group.empty()) {
            return fail(path, "this file holds one raster; it has no raster named '" + group + "'"), nullptr;
        }
        if (!ds->load_raster(store, prefix, raster, 0, threads)) return nullptr;
    } else {
        return fail(path, "holds a Byte2Bit " + (layout.empty() ? std::string("?") : layout) +
                              ", not a raster; read it with the Python API (byte2bit.load)"),
               nullptr;
    }
    ds->store_ = store;
    ds->SetPhysicalFilename(path.c_str());
    ds->TryLoadXML();
    ds->oOvManager.Initialize(ds.get(), info->pszFilename);
    return ds.release();
}

B2BDataset::~B2BDataset() {
    if (!gcps_.empty()) GDALDeinitGCPs(int(gcps_.size()), gcps_.data());  // frees the id and info strings
}

bool B2BDataset::load_collection(const CPLJSONObject& attrs, const std::string& path) {
    nRasterXSize = nRasterYSize = 0;  // a list of rasters (SUBDATASETS), no pixels of its own
    const CPLJSONArray names = attrs.GetArray("subdatasets");
    const CPLJSONArray descriptions = attrs.GetArray("subdataset_descriptions");
    CPLStringList sds;
    for (int i = 0; i < names.Size(); ++i) {
        const std::string name = names[i].ToString();
        if (!valid_group_name(name)) return fail(path, "invalid raster name '" + name + "'");
        sds.SetNameValue(CPLSPrintf("SUBDATASET_%d_NAME", i + 1),
                         CPLSPrintf("B2B:\"%s\":%s", path.c_str(), name.c_str()));
        const std::string desc = i < descriptions.Size() ? descriptions[i].ToString() : name;
        sds.SetNameValue(CPLSPrintf("SUBDATASET_%d_DESC", i + 1), desc.c_str());
    }
    load_metadata(*this, attrs.GetArray("metadata"));
    GDALMajorObject::SetMetadata(sds.List(), "SUBDATASETS");
    return true;
}

bool B2BDataset::load_raster(const std::shared_ptr<store_reader>& store, const std::string& prefix,
                             const CPLJSONObject& raster, int overview_level, int threads) {
    const std::string& path = store->path();
    store_ = store;
    prefix_ = prefix;
    threads_ = threads;
    if (!raster.IsValid()) return fail(path, "raster description missing from zarr.json");
    const GInt64 width = raster.GetLong("width", 0), height = raster.GetLong("height", 0);
    const CPLJSONArray block = raster.GetArray("block_size");
    const GInt64 bx = block.Size() == 2 ? block[0].ToLong() : 0, by = block.Size() == 2 ? block[1].ToLong() : 0;
    const CPLJSONArray bands = raster.GetArray("bands");
    const CPLJSONArray overviews = raster.GetArray("overviews");
    if (width < 1 || height < 1 || width > INT_MAX || height > INT_MAX)
        return fail(path, "invalid raster size " + std::to_string(width) + "x" + std::to_string(height));
    if (bx < 1 || by < 1 || bx > max_block_size || by > max_block_size)
        return fail(path, "invalid block size " + std::to_string(bx) + "x" + std::to_string(by));
    if (bands.Size() < 1 || bands.Size() > 65535) return fail(path, "invalid band list");
    nRasterXSize = int(width);
    nRasterYSize = int(height);
    int level_w = nRasterXSize, level_h = nRasterYSize;
    if (overview_level > 0) {
        const CPLJSONArray size = overviews[overview_level - 1].ToArray();
        level_w = size.Size() == 2 ? size[0].ToInteger() : 0;
        level_h = size.Size() == 2 ? size[1].ToInteger() : 0;
        if (level_w < 1 || level_h < 1 || level_w > nRasterXSize || level_h > nRasterYSize)
            return fail(path, "invalid overview size");
        nRasterXSize = level_w;
        nRasterYSize = level_h;
        prefix_ = prefix + overview_group(overview_level) + "/";
    }
    const int level = raster.GetInteger("compression_level", 4);
    const double quantize = exact_value(raster.GetObj("quantize_scale"), 0.0);

    for (int i = 0; i < bands.Size(); ++i) {
        const CPLJSONObject b = bands[i];
        storage_type type;
        if (!storage_from_name(b.GetString("data_type"), type))
            return fail(path, "band " + std::to_string(i + 1) + " has an unknown data type '" +
                                  b.GetString("data_type") + "'");
        auto band = new B2BRasterBand(this, i + 1, prefix_ + band_array(i + 1), type, int(bx), int(by));
        SetBand(i + 1, band);
        band->has_nodata_ = b.GetObj("nodata").IsValid();
        band->nodata_ = b.GetString("nodata");
        band->has_scale_ = b.GetObj("scale").IsValid();
        band->scale_ = exact_value(b.GetObj("scale"), 1.0);
        band->has_offset_ = b.GetObj("offset").IsValid();
        band->offset_ = exact_value(b.GetObj("offset"), 0.0);
        band->unit_ = b.GetString("unit");
        band->interp_ = GDALGetColorInterpretationByName(b.GetString("color_interpretation", "Undefined").c_str());
        const CPLJSONArray entries = b.GetArray("color_table");
        if (entries.Size() > 0 && entries.Size() <= 65536) {
            band->color_table_.reset(new GDALColorTable());
            for (int e = 0; e < entries.Size(); ++e) {
                const CPLJSONArray c = entries[e].ToArray();
                GDALColorEntry entry = {short(c[0].ToInteger()), short(c[1].ToInteger()), short(c[2].ToInteger()),
                                        short(c.Size() > 3 ? c[3].ToInteger() : 255)};
                band->color_table_->SetColorEntry(e, &entry);
            }
        }
        if (overview_level == 0) {
            band->GDALMajorObject::SetDescription(b.GetString("description").c_str());
            load_metadata(*band, b.GetArray("metadata"));
        }
        if (type.signed_byte) band->GDALMajorObject::SetMetadataItem("PIXELTYPE", "SIGNEDBYTE", "IMAGE_STRUCTURE");
    }
    if (raster.GetBool("mask", false)) {
        storage_type mask_type;
        storage_for_gdal(GDT_Byte, false, mask_type);
        mask_.reset(new B2BRasterBand(this, 0, prefix_ + mask_array, mask_type, int(bx), int(by)));
        mask_->is_mask_ = true;
    }

    GDALMajorObject::SetMetadataItem("COMPRESSION", "BYTE2BIT", "IMAGE_STRUCTURE");
    GDALMajorObject::SetMetadataItem("INTERLEAVE", "BAND", "IMAGE_STRUCTURE");
    GDALMajorObject::SetMetadataItem("COMPRESSION_REVERSIBILITY", quantize > 0 ? "LOSSY" : "LOSSLESS",
                                     "IMAGE_STRUCTURE");
    GDALMajorObject::SetMetadataItem("B2B_LEVEL", CPLSPrintf("%d", level), "IMAGE_STRUCTURE");
    if (quantize > 0)
        GDALMajorObject::SetMetadataItem("B2B_QUANTIZE_SCALE", CPLSPrintf("%.17g", quantize), "IMAGE_STRUCTURE");
    if (overview_level > 0) return true;

    // Georeferencing and metadata belong to the full-resolution level.
    const CPLJSONArray gt = raster.GetArray("geotransform");
    if (gt.Size() == 6) {
        has_geotransform_ = true;
        for (int i = 0; i < 6; ++i) geotransform_[i] = exact_value(gt[i], 0.0);
    }
    const std::string wkt = raster.GetString("crs_wkt");
    if (!wkt.empty() && srs_.importFromWkt(wkt.c_str()) != OGRERR_NONE) return fail(path, "invalid CRS");
    srs_.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
    const CPLJSONArray gcps = raster.GetArray("gcps");
    for (int i = 0; i < gcps.Size(); ++i) {
        const CPLJSONObject g = gcps[i];
        GDAL_GCP gcp;
        gcp.pszId = CPLStrdup(g.GetString("id").c_str());
        gcp.pszInfo = CPLStrdup(g.GetString("info").c_str());
        gcp.dfGCPPixel = exact_value(g.GetObj("pixel"), 0.0);
        gcp.dfGCPLine = exact_value(g.GetObj("line"), 0.0);
        gcp.dfGCPX = exact_value(g.GetObj("x"), 0.0);
        gcp.dfGCPY = exact_value(g.GetObj("y"), 0.0);
        gcp.dfGCPZ = exact_value(g.GetObj("z"), 0.0);
        gcps_.push_back(gcp);
    }
    const std::string gcp_wkt = raster.GetString("gcp_crs_wkt");
    if (!gcp_wkt.empty() && gcp_srs_.importFromWkt(gcp_wkt.c_str()) != OGRERR_NONE)
        return fail(path, "invalid GCP CRS");
    gcp_srs_.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
    load_metadata(*this, raster.GetArray("metadata"));

    if (overviews.Size() > 64) return fail(path, "too many overview levels");
    for (int k = 1; k <= overviews.Size(); ++k) {
        auto ov = std::unique_ptr<B2BDataset>(new B2BDataset());
        ov->SetDescription(GetDescription());
        if (!ov->load_raster(store, prefix, raster, k, threads)) return false;
        overviews_.push_back(std::move(ov));
    }
    return true;
}

CPLErr B2BDataset::GetGeoTransform(double* transform) {
    if (!has_geotransform_) return GDALPamDataset::GetGeoTransform(transform);
    std::memcpy(transform, geotransform_, sizeof(geotransform_));
    return CE_None;
}

const OGRSpatialReference* B2BDataset::GetSpatialRef() const {
    return srs_.IsEmpty() ? GDALPamDataset::GetSpatialRef() : &srs_;
}

int B2BDataset::GetGCPCount() { return gcps_.empty() ? GDALPamDataset::GetGCPCount() : int(gcps_.size()); }

const OGRSpatialReference* B2BDataset::GetGCPSpatialRef() const {
    return gcp_srs_.IsEmpty() ? GDALPamDataset::GetGCPSpatialRef() : &gcp_srs_;
}

const GDAL_GCP* B2BDataset::GetGCPs() { return gcps_.empty() ? GDALPamDataset::GetGCPs() : gcps_.data(); }

char** B2BDataset::GetFileList() {
    char** list = GDALPamDataset::GetFileList();
    if (store_ && CSLFindString(list, store_->path().c_str()) < 0) list = CSLAddString(list, store_->path().c_str());
    return list;
}

// ---------------------------------------------------------------------------------------------

B2BRasterBand::B2BRasterBand(B2BDataset* ds, int band, const std::string& array, const storage_type& type,
                             int block_x, int block_y)
    : ds_(ds), array_(array), type_(type) {
    poDS = ds;
    nBand = band;
    nRasterXSize = ds->GetRasterXSize();  // set by SetBand() for bands, not for the mask band
    nRasterYSize = ds->GetRasterYSize();
    eDataType = type.gdal;
    // The block is the stored chunk, also in overviews smaller than one chunk.
    nBlockXSize = block_x;
    nBlockYSize = block_y;
}

B2BRasterBand::~B2BRasterBand() = default;

bool B2BRasterBand::decode_block(int col, int row, void* out, std::vector<GByte>& stream, std::vector<GByte>& planes,
                                 std::string* why) const {
    const std::size_t pixels = std::size_t(nBlockXSize) * std::size_t(nBlockYSize);
    const std::size_t raw = pixels * std::size_t(type_.item_bytes);
    const std::string key = chunk_key(array_, row, col, type_.planes);
    // A stream never needs much more than its raw size; anything larger is hostile or damaged.
    if (!ds_->store().read(key, stream, raw + raw / 2 + 65536, why)) return false;
    try {
        const byte2bit::stream_info info = byte2bit::inspect(stream.data(), stream.size(), false);
        std::vector<std::uint64_t> shape;
        if (type_.planes) shape.push_back(2);
        shape.push_back(std::uint64_t(nBlockYSize));
        shape.push_back(std::uint64_t(nBlockXSize));
        if (info.type != type_.codec || info.shape != shape) {
            *why = "chunk " + key + " holds " + byte2bit::dtype_name(info.type) + " of another shape than its band";
            return false;
        }
        if (!type_.planes) {
            byte2bit::decode(stream.data(), stream.size(), out, raw, &type_.codec);
            return true;
        }
        planes.resize(raw);
        byte2bit::decode(stream.data(), stream.size(), planes.data(), raw, &type_.codec);
        const int part = type_.item_bytes / 2;  // bytes of the real (or imaginary) part
        auto* dst = static_cast<GByte*>(out);
        for (std::size_t i = 0; i < pixels; ++i) {
            std::memcpy(dst + i * 2 * part, planes.data() + i * part, part);
            std::memcpy(dst + i * 2 * part + part, planes.data() + (pixels + i) * part, part);
        }
        return true;
    } catch (const byte2bit::error& e) {
        *why = "chunk " + key + ": " + e.what();
        return false;
    }
}

CPLErr B2BRasterBand::IReadBlock(int col, int row, void* image) {
    std::vector<GByte> stream, planes;
    std::string why;
    if (decode_block(col, row, image, stream, planes, &why)) return CE_None;
    CPLError(CE_Failure, CPLE_FileIO, "B2B: %s: %s", ds_->store().path().c_str(), why.c_str());
    return CE_Failure;
}

// Reads touching several blocks decode them on NUM_THREADS threads. Blocks the window covers
// entirely go straight into the caller's buffer; blocks it covers in part also go into GDAL's block
// cache, so that row-by-row readers (checksums, scanline loops) decode each block once.
// Resampled reads take GDAL's path, which uses the overviews.
CPLErr B2BRasterBand::IRasterIO(GDALRWFlag rw, int x, int y, int xsize, int ysize, void* data, int buf_xsize,
                                int buf_ysize, GDALDataType buf_type, GSpacing pixel_space, GSpacing line_space,
                                GDALRasterIOExtraArg* extra) {
    const int c0 = x / nBlockXSize, c1 = (x + xsize - 1) / nBlockXSize;
    const int r0 = y / nBlockYSize, r1 = (y + ysize - 1) / nBlockYSize;
    const std::size_t nblocks = std::size_t(c1 - c0 + 1) * std::size_t(r1 - r0 + 1);
    if (rw != GF_Read || buf_xsize != xsize || buf_ysize != ysize || nblocks < 2)
        return GDALPamRasterBand::IRasterIO(rw, x, y, xsize, ysize, data, buf_xsize, buf_ysize, buf_type,
                                            pixel_space, line_space, extra);
    const std::size_t block_bytes = std::size_t(nBlockXSize) * nBlockYSize * type_.item_bytes;
    // Copies the part of a decoded block that lies in the window into the caller's buffer.
    auto copy_out = [&](int col, int row, const GByte* block) {
        const int ox0 = std::max(x, col * nBlockXSize), ox1 = std::min(x + xsize, (col + 1) * nBlockXSize);
        const int oy0 = std::max(y, row * nBlockYSize), oy1 = std::min(y + ysize, (row + 1) * nBlockYSize);
        for (int yy = oy0; yy < oy1; ++yy) {
            const GByte* src = block + (std::size_t(yy - row * nBlockYSize) * nBlockXSize +
                                        std::size_t(ox0 - col * nBlockXSize)) * type_.item_bytes;
            GByte* dst = static_cast<GByte*>(data) + (yy - y) * line_space + (ox0 - x) * pixel_space;
            GDALCopyWords64(src, eDataType, type_.item_bytes, dst, buf_type, int(pixel_space), ox1 - ox0);
        }
    };
    struct job {
        int col, row;
        bool whole;                 // the window holds every pixel of the block inside the raster
        std::vector<GByte> decoded;  // partial blocks: kept for the block cache
    };
    std::vector<job> jobs;
    for (int row = r0; row <= r1; ++row)
        for (int col = c0; col <= c1; ++col) {
            const bool whole = x <= col * nBlockXSize && y <= row * nBlockYSize &&
                               x + xsize >= std::min(nRasterXSize, (col + 1) * nBlockXSize) &&
                               y + ysize >= std::min(nRasterYSize, (row + 1) * nBlockYSize);
            if (!whole) {
                if (GDALRasterBlock* cached = TryGetLockedBlockRef(col, row)) {
                    copy_out(col, row, static_cast<const GByte*>(cached->GetDataRef()));
                    cached->DropLock();
                    continue;
                }
            }
            jobs.push_back({col, row, whole, {}});
        }
    std::atomic<std::size_t> next{0};
    std::atomic<bool> failed{false};
    std::mutex error_mutex;
    std::string error;
    auto work = [&]() {
        std::vector<GByte> scratch, stream, planes;
        std::string why;
        for (std::size_t j; !failed && (j = next++) < jobs.size();) {
            job& jb = jobs[j];
            try {
                std::vector<GByte>& out = jb.whole ? scratch : jb.decoded;
                out.resize(block_bytes);
                if (!decode_block(jb.col, jb.row, out.data(), stream, planes, &why)) {
                    std::lock_guard<std::mutex> lock(error_mutex);
                    if (!failed.exchange(true)) error = why;
                    return;
                }
                if (jb.whole) copy_out(jb.col, jb.row, out.data());
            } catch (const std::bad_alloc&) {
                failed = true;
                return;
            }
        }
    };
    const int nthreads = int(std::min<std::size_t>(std::size_t(ds_->threads()), jobs.size()));
    std::vector<std::thread> pool;
    for (int t = 1; t < nthreads; ++t) pool.emplace_back(work);
    work();
    for (auto& t : pool) t.join();
    if (failed) {
        CPLError(CE_Failure, CPLE_FileIO, "B2B: %s: %s", ds_->store().path().c_str(),
                 error.empty() ? "out of memory" : error.c_str());
        return CE_Failure;
    }
    for (job& jb : jobs) {
        if (jb.whole) continue;
        copy_out(jb.col, jb.row, jb.decoded.data());
        if (GDALRasterBlock* block = GetLockedBlockRef(jb.col, jb.row, TRUE)) {
            std::memcpy(block->GetDataRef(), jb.decoded.data(), block_bytes);
            block->DropLock();
        }
    }
    if (extra && extra->pfnProgress) extra->pfnProgress(1.0, "", extra->pProgressData);
    return CE_None;
}

double B2BRasterBand::GetNoDataValue(int* success) {
    if (success) *success = has_nodata_;
    return has_nodata_ ? CPLAtof(nodata_.c_str()) : GDALPamRasterBand::GetNoDataValue(success);
}

#if GDAL_VERSION_NUM >= 3050000
int64_t B2BRasterBand::GetNoDataValueAsInt64(int* success) {
    if (success) *success = has_nodata_;
    return has_nodata_ ? std::strtoll(nodata_.c_str(), nullptr, 10) : GDALPamRasterBand::GetNoDataValueAsInt64(success);
}

uint64_t B2BRasterBand::GetNoDataValueAsUInt64(int* success) {
    if (success) *success = has_nodata_;
    return has_nodata_ ? std::strtoull(nodata_.c_str(), nullptr, 10)
                       : GDALPamRasterBand::GetNoDataValueAsUInt64(success);
}
#endif

double B2BRasterBand::GetOffset(int* success) {
    if (!has_offset_) return GDALPamRasterBand::GetOffset(success);
    if (success) *success = TRUE;
    return offset_;
}

double B2BRasterBand::GetScale(int* success) {
    if (!has_scale_) return GDALPamRasterBand::GetScale(success);
    if (success) *success = TRUE;
    return scale_;
}

const char* B2BRasterBand::GetUnitType() { return unit_.empty() ? GDALPamRasterBand::GetUnitType() : unit_.c_str(); }

GDALColorInterp B2BRasterBand::GetColorInterpretation() {
    return interp_ != GCI_Undefined ? interp_ : GDALPamRasterBand::GetColorInterpretation();
}

GDALColorTable* B2BRasterBand::GetColorTable() {
    return color_table_ ? color_table_.get() : GDALPamRasterBand::GetColorTable();
}

int B2BRasterBand::GetOverviewCount() {
    if (!ds_->overviews_.empty()) return int(ds_->overviews_.size());
    return is_mask_ ? 0 : GDALPamRasterBand::GetOverviewCount();
}

GDALRasterBand* B2BRasterBand::GetOverview(int i) {
    if (ds_->overviews_.empty()) return is_mask_ ? nullptr : GDALPamRasterBand::GetOverview(i);
    if (i < 0 || i >= int(ds_->overviews_.size())) return nullptr;
    B2BDataset* ov = ds_->overviews_[std::size_t(i)].get();
    return is_mask_ ? static_cast<GDALRasterBand*>(ov->mask_.get()) : ov->GetRasterBand(nBand);
}

int B2BRasterBand::GetMaskFlags() {
    if (is_mask_) return GMF_ALL_VALID;
    if (ds_->mask_) return GMF_PER_DATASET;
    return GDALPamRasterBand::GetMaskFlags();
}

GDALRasterBand* B2BRasterBand::GetMaskBand() {
    if (!is_mask_ && ds_->mask_) return ds_->mask_.get();
    return GDALPamRasterBand::GetMaskBand();
}

}  // namespace b2b_gdal
