// Writing: CreateCopy (gdal_translate -of B2B, byte2bit.transform) into a temporary name beside the
// target, renamed into place only when everything is written.
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <map>
#include <cmath>
#include <cstring>
#include <mutex>
#include <thread>

#include <unistd.h>

#include "cpl_string.h"

#include "b2b_driver.hpp"
#include "b2b_layout.hpp"
#include "b2b_store.hpp"

namespace b2b_gdal {
namespace {

struct settings {
    byte2bit::encode_options codec;
    bool zip = true;
    bool cog_layout = true;
    // OVERVIEWS, as the COG driver: AUTO copies the source's overviews when it has some, else
    // computes them; IGNORE_EXISTING computes; FORCE_USE_EXISTING copies (none when it has none).
    std::string overviews = "AUTO";
    std::vector<int> overview_factors;  // OVERVIEWS=2,4,8: computed at these factors
    std::string resampling;  // empty: per band default
    int block_x = 0, block_y = 0;  // 0: not given
    int threads = 1;
};

bool error(const char* fmt, const std::string& a = "", const std::string& b = "") {
    CPLError(CE_Failure, CPLE_AppDefined, "B2B: %s", CPLSPrintf(fmt, a.c_str(), b.c_str()));
    return false;
}

bool parse_settings(CSLConstList options, settings& s) {
    const char* level = CSLFetchNameValueDef(options, "LEVEL", "4");
    s.codec.level = atoi(level);
    if (!(EQUAL(level, "0") || EQUAL(level, "1") || EQUAL(level, "2") || EQUAL(level, "4")))
        return error("LEVEL=%s: choose 0, 1, 2 or 4", level);
    const char* q = CSLFetchNameValueDef(options, "QUANTIZE_SCALE", "0");
    char* end = nullptr;
    s.codec.quantize_scale = CPLStrtod(q, &end);
    if (end == q || *end || !std::isfinite(s.codec.quantize_scale) || s.codec.quantize_scale < 0)
        return error("QUANTIZE_SCALE=%s: give 0 (lossless) or a positive number", q);
    const char* format = CSLFetchNameValueDef(options, "FORMAT", "ZIP");
    if (!EQUAL(format, "ZIP") && !EQUAL(format, "DIRECTORY")) return error("FORMAT=%s: choose ZIP or DIRECTORY", format);
    s.zip = EQUAL(format, "ZIP");
    s.cog_layout = CPLTestBool(CSLFetchNameValueDef(options, "COG_LAYOUT", "YES"));
    const char* level_given = CSLFetchNameValue(options, "LEVEL");
    if (s.codec.quantize_scale > 0 && level_given && EQUAL(level_given, "0"))
        return error("QUANTIZE_SCALE=%s needs an entropy-coded level: LEVEL=0 stores values without one "
                     "(omit LEVEL, or choose 1, 2 or 4)", q);
    const char* ov = CSLFetchNameValueDef(options, "OVERVIEWS", "AUTO");
    s.overviews = CPLString(ov).toupper();
    if (s.overviews != "AUTO" && s.overviews != "NONE" && s.overviews != "IGNORE_EXISTING" &&
        s.overviews != "FORCE_USE_EXISTING") {
        s.overviews = "FACTORS";
        const CPLStringList factors(CSLTokenizeString2(ov, ",", 0));
        for (int i = 0; i < factors.size(); ++i) {
            char* end = nullptr;
            const long f = std::strtol(factors[i], &end, 10);
            if (end == factors[i] || *end || f < 2 || f > 65536 ||
                (!s.overview_factors.empty() && f <= s.overview_factors.back()))
                return error("OVERVIEWS=%s: choose AUTO, NONE, IGNORE_EXISTING, FORCE_USE_EXISTING or increasing "
                             "factors such as 2,4,8", ov);
            s.overview_factors.push_back(int(f));
        }
        if (s.overview_factors.empty()) return error("OVERVIEWS=%s: no factor given", ov);
    }
    // RESAMPLING is the COG driver's name for it.
    s.resampling = CSLFetchNameValueDef(options, "OVERVIEW_RESAMPLING", CSLFetchNameValueDef(options, "RESAMPLING", ""));
    static const char* const methods[] = {"NEAREST", "AVERAGE", "BILINEAR", "CUBIC", "CUBICSPLINE", "LANCZOS",
                                          "MODE", "RMS", "GAUSS"};
    if (!s.resampling.empty() &&
        std::none_of(std::begin(methods), std::end(methods), [&](const char* m) { return EQUAL(m, s.resampling.c_str()); }))
        return error("OVERVIEW_RESAMPLING=%s: choose NEAREST, AVERAGE, BILINEAR, CUBIC, CUBICSPLINE, LANCZOS, "
                     "MODE, RMS or GAUSS", s.resampling);
    // BLOCKXSIZE/BLOCKYSIZE with TILED=NO describe a striped source (rasterio passes a source's
    // profile as creation options): not a request, since a .b2b has no strips.
    const char* tiled = CSLFetchNameValue(options, "TILED");
    const bool strip_profile = tiled && !CPLTestBool(tiled);
    for (const char* name : {"BLOCKSIZE", "BLOCKXSIZE", "BLOCKYSIZE"}) {
        const char* v = CSLFetchNameValue(options, name);
        if (!v || (strip_profile && !EQUAL(name, "BLOCKSIZE"))) continue;
        const int n = atoi(v);
        if (n < min_block_size || n > max_block_size)
            return error("%s: the block size must be 16 to 8192 pixels", std::string(name) + "=" + v);
        if (EQUAL(name, "BLOCKSIZE")) s.block_x = s.block_y = n;
        else if (EQUAL(name, "BLOCKXSIZE")) s.block_x = n;
        else s.block_y = n;
    }
    if ((s.block_x == 0) != (s.block_y == 0)) s.block_x = s.block_y = std::max(s.block_x, s.block_y);
    s.threads = configured_threads(options);
    return true;
}

std::string wkt2(const OGRSpatialReference* srs) {
    if (!srs || srs->IsEmpty()) return "";
    char* wkt = nullptr;
    const char* const opts[] = {"FORMAT=WKT2_2019", nullptr};
    srs->exportToWkt(&wkt, opts);
    std::string s = wkt ? wkt : "";
    CPLFree(wkt);
    return s;
}

// Metadata domains worth keeping; IMAGE_STRUCTURE describes the source's encoding, not the data,
// and rio_overview the source's overviews (kept only when they are the ones copied).
CPLJSONArray metadata_json(GDALMajorObject& obj, bool is_raster, bool keep_overview_metadata = false) {
    CPLJSONArray domains;
    CPLStringList names(obj.GetMetadataDomainList());
    if (names.FindString("") < 0) names.InsertString(0, "");
    for (int i = 0; i < names.size(); ++i) {
        const std::string d = names[i];
        if (d == "IMAGE_STRUCTURE" || d == "DERIVED_SUBDATASETS" || (d == "rio_overview" && !keep_overview_metadata) ||
            (is_raster && d == "SUBDATASETS"))
            continue;
        char** md = obj.GetMetadata(d.c_str());
        if (!md || !*md) continue;
        CPLJSONObject o;
        o.Add("domain", d);
        if (STARTS_WITH(d.c_str(), "xml:")) o.Add("xml", std::string(md[0]));
        else o.Add("items", string_pairs(md));
        domains.Add(o);
    }
    return domains;
}

std::string nodata_text(GDALRasterBand* band, bool* has) {
    int ok = FALSE;
#if GDAL_VERSION_NUM >= 3050000
    if (band->GetRasterDataType() == GDT_Int64) {
        const auto v = band->GetNoDataValueAsInt64(&ok);
        *has = ok;
        return std::to_string(v);
    }
    if (band->GetRasterDataType() == GDT_UInt64) {
        const auto v = band->GetNoDataValueAsUInt64(&ok);
        *has = ok;
        return std::to_string(v);
    }
#endif
    const double v = band->GetNoDataValue(&ok);
    *has = ok;
    if (std::isnan(v)) return "nan";
    if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
    return exact(v);
}

std::string array_json(const storage_type& t, int width, int height, int bx, int by, const settings& s,
                       double quantize, const CPLJSONObject& attributes) {
    CPLJSONObject a;
    a.Add("zarr_format", 3);
    a.Add("node_type", "array");
    CPLJSONArray shape, chunks, dims;
    if (t.planes) {
        shape.Add(2);
        chunks.Add(2);
        dims.Add("part");
    }
    shape.Add(height);
    shape.Add(width);
    chunks.Add(by);
    chunks.Add(bx);
    dims.Add("y");
    dims.Add("x");
    a.Add("shape", shape);
    a.Add("data_type", t.zarr);
    CPLJSONObject grid, grid_conf;
    grid.Add("name", "regular");
    grid_conf.Add("chunk_shape", chunks);
    grid.Add("configuration", grid_conf);
    a.Add("chunk_grid", grid);
    CPLJSONObject keys, keys_conf;
    keys.Add("name", "default");
    keys_conf.Add("separator", "/");
    keys.Add("configuration", keys_conf);
    a.Add("chunk_key_encoding", keys);
    if (t.codec == byte2bit::dtype::complex64 || t.codec == byte2bit::dtype::complex128) {
        CPLJSONArray zero;
        zero.Add(0.0);
        zero.Add(0.0);
        a.Add("fill_value", zero);
    } else if (t.codec == byte2bit::dtype::float32 || t.codec == byte2bit::dtype::float64) {
        a.Add("fill_value", 0.0);
    } else {
        a.Add("fill_value", 0);
    }
    CPLJSONArray codecs;
    CPLJSONObject codec, conf;
    codec.Add("name", "byte2bit");
    conf.Add("compression_level", quantize > 0 ? 1 : s.codec.level);
    conf.Add("quantize_scale", quantize);
    codec.Add("configuration", conf);
    codecs.Add(codec);
    a.Add("codecs", codecs);
    a.Add("attributes", attributes);
    a.Add("dimension_names", dims);
    return a.Format(CPLJSONObject::PrettyFormat::Pretty);
}

std::string group_json(const CPLJSONObject& attributes) {
    CPLJSONObject g;
    g.Add("zarr_format", 3);
    g.Add("node_type", "group");
    g.Add("attributes", attributes);
    return g.Format(CPLJSONObject::PrettyFormat::Pretty);
}

// Progress over several steps: each step gets a share of [0, 1]; a false return means cancelled.
// The caller's progress function, never told a smaller fraction than before: GDAL's overview
// computation may report a little over its own end, so the next part would seem to go backwards.
struct monotonic_progress {
    GDALProgressFunc fn;
    void* data;
    double last = 0.0;
    static int report(double fraction, const char* message, void* self) {
        auto* p = static_cast<monotonic_progress*>(self);
        p->last = std::max(p->last, std::min(1.0, fraction));
        return p->fn(p->last, message, p->data);
    }
};

struct progress_span {
    GDALProgressFunc fn;
    void* data;
    double start, size;
    bool report(double fraction) const {
        if (fn && !fn(start + size * std::min(1.0, fraction), nullptr, data)) {
            CPLError(CE_Failure, CPLE_UserInterrupt, "B2B: cancelled");
            return false;
        }
        return true;
    }
    progress_span part(double from, double len) const { return {fn, data, start + size * from, size * len}; }
};

// Encodes one band (any GDAL band: source, mask, or a computed overview) into array `key`,
// strip by strip; the chunks of a strip are encoded in parallel and written in order.
bool write_array(store_writer& out, GDALRasterBand* band, const std::string& key, const storage_type& t,
                 int bx, int by, const settings& s, double quantize, const CPLJSONObject& attributes,
                 const progress_span& progress) {
    const int width = band->GetXSize(), height = band->GetYSize();
    if (!out.put(key + "/zarr.json", array_json(t, width, height, bx, by, s, quantize, attributes)))
        return error("cannot write %s/zarr.json", key);
    const std::size_t item = std::size_t(t.item_bytes);
    const int ncols = (width + bx - 1) / bx, nrows = (height + by - 1) / by;
    std::vector<GByte> strip;
    try {
        strip.resize(std::size_t(width) * std::size_t(by) * item);
    } catch (const std::bad_alloc&) {
        return error("out of memory for a strip of %s", key);
    }
    byte2bit::encode_options opts = s.codec;
    opts.quantize_scale = quantize;
    if (quantize > 0) {
        opts.level = 1;
        int has_nodata = FALSE;  // nodata pixels stay nodata, and no other pixel becomes one
        const double nodata = band->GetNoDataValue(&has_nodata);
        if (has_nodata) opts.exact_values = {nodata};
    }
    std::vector<std::uint64_t> shape;
    if (t.planes) shape.push_back(2);
    shape.push_back(std::uint64_t(by));
    shape.push_back(std::uint64_t(bx));
    std::vector<std::vector<std::uint8_t>> streams(static_cast<std::size_t>(ncols));
    for (int row = 0; row < nrows; ++row) {
        const int y0 = row * by, rows = std::min(by, height - y0);
        if (band->RasterIO(GF_Read, 0, y0, width, rows, strip.data(), width, rows, t.gdal, 0, 0, nullptr) != CE_None)
            return error("cannot read rows %s of the source for %s", std::to_string(y0), key);
        std::atomic<int> next{0};
        std::atomic<bool> failed{false};
        std::mutex m;
        std::string failure;
        auto work = [&]() {
            std::vector<GByte> chunk, planes;
            try {
                chunk.resize(std::size_t(bx) * by * item);
            } catch (const std::bad_alloc&) {
                std::lock_guard<std::mutex> lock(m);
                if (!failed.exchange(true)) failure = "out of memory";
                return;
            }
            for (int col; !failed && (col = next++) < ncols;) {
                const int x0 = col * bx, cols = std::min(bx, width - x0);
                // Edge chunks are full size (Zarr's regular grid); replicating the last row and column
                // into the padding keeps it nearly free to code.
                for (int i = 0; i < by; ++i) {
                    const GByte* src = strip.data() + (std::size_t(std::min(i, rows - 1)) * width + x0) * item;
                    GByte* dst = chunk.data() + std::size_t(i) * bx * item;
                    std::memcpy(dst, src, std::size_t(cols) * item);
                    for (int j = cols; j < bx; ++j) std::memcpy(dst + j * item, src + (cols - 1) * item, item);
                }
                const GByte* data = chunk.data();
                if (t.planes) {  // (re, im) pairs -> a real plane then an imaginary plane
                    const std::size_t n = std::size_t(bx) * by, part = item / 2;
                    planes.resize(chunk.size());
                    for (std::size_t p = 0; p < n; ++p) {
                        std::memcpy(planes.data() + p * part, chunk.data() + p * item, part);
                        std::memcpy(planes.data() + (n + p) * part, chunk.data() + p * item + part, part);
                    }
                    data = planes.data();
                }
                try {
                    streams[std::size_t(col)] = byte2bit::encode(data, chunk.size(), t.codec, 0, shape, opts);
                } catch (const std::exception& e) {
                    std::lock_guard<std::mutex> lock(m);
                    if (!failed.exchange(true)) failure = e.what();
                }
            }
        };
        std::vector<std::thread> pool;
        for (int i = 1; i < std::min(s.threads, ncols); ++i) pool.emplace_back(work);
        work();
        for (auto& th : pool) th.join();
        if (failed) return error("encoding %s: %s", key, failure);
        for (int col = 0; col < ncols; ++col)
            if (!out.put(chunk_key(key, row, col, t.planes), streams[std::size_t(col)].data(),
                         streams[std::size_t(col)].size()))
                return error("cannot write chunk %s of %s (disk full?)", std::to_string(col), key);
        if (!progress.report(double(row + 1) / nrows)) return false;
    }
    return true;
}

// COG_LAYOUT keeps a source's blocks only when they are a block grid worth keeping: a tiled GeoTIFF
// (COGs included) with square blocks of at least 256. VRTs (128), JP2 (192), warped outputs
// (512 x 128) and strips would make the .b2b larger and slower; they get the default 512.
bool keeps_source_blocks(GDALDataset* src) {
    GDALDriver* driver = src->GetDriver();
    if (!driver || !EQUAL(driver->GetDescription(), "GTiff")) return false;
    int bx = 0, by = 0;
    src->GetRasterBand(1)->GetBlockSize(&bx, &by);
    return bx == by && bx >= 256 && bx <= max_block_size;
}

// The overview sizes all bands of `src` share; none (and *differ) when their overviews differ.
std::vector<std::pair<int, int>> shared_overviews(GDALDataset* src, bool* differ) {
    GDALRasterBand* first = src->GetRasterBand(1);
    std::vector<std::pair<int, int>> sizes;
    for (int k = 0; k < first->GetOverviewCount(); ++k) {
        GDALRasterBand* o = first->GetOverview(k);
        for (int i = 1; o && i <= src->GetRasterCount(); ++i) {
            GDALRasterBand* b = src->GetRasterBand(i);
            GDALRasterBand* other = b->GetOverview(k);
            if (b->GetOverviewCount() != first->GetOverviewCount() || !other || other->GetXSize() != o->GetXSize() ||
                other->GetYSize() != o->GetYSize())
                o = nullptr;
        }
        if (!o) {
            *differ = true;
            return {};
        }
        sizes.emplace_back(o->GetXSize(), o->GetYSize());
    }
    return sizes;
}

// As the COG driver: NEAREST for masks and paletted bands, else CUBIC, unless one was chosen.
std::string overview_resampling(const settings& s, GDALRasterBand* b, bool mask) {
    if (!s.resampling.empty()) return CPLString(s.resampling).toupper();
    return (mask || b->GetColorTable()) ? "NEAREST" : "CUBIC";
}

// Writes one raster group (bands, mask, overviews) under `prefix` and returns its description.
bool write_raster(store_writer& out, GDALDataset* src, const std::string& prefix, const settings& s,
                  const progress_span& progress) {
    const int width = src->GetRasterXSize(), height = src->GetRasterYSize(), nbands = src->GetRasterCount();
    if (nbands < 1) return error("%s has no raster bands", src->GetDescription());
    std::vector<storage_type> types(static_cast<std::size_t>(nbands));
    for (int i = 1; i <= nbands; ++i) {
        GDALRasterBand* b = src->GetRasterBand(i);
        const char* pixeltype = b->GetMetadataItem("PIXELTYPE", "IMAGE_STRUCTURE");
        const bool signed_byte = pixeltype && EQUAL(pixeltype, "SIGNEDBYTE");
        if (!storage_for_gdal(b->GetRasterDataType(), signed_byte, types[std::size_t(i - 1)]))
            return error("band %s has data type %s, which B2B cannot store", std::to_string(i),
                         GDALGetDataTypeName(b->GetRasterDataType()));
        if (s.codec.quantize_scale > 0 && !GDALDataTypeIsFloating(b->GetRasterDataType()))
            return error("QUANTIZE_SCALE applies to floating-point bands; band %s is %s (use lossless)",
                         std::to_string(i), GDALGetDataTypeName(b->GetRasterDataType()));
    }
    GDALRasterBand* first = src->GetRasterBand(1);
    int bx = 512, by = 512;
    if (s.block_x) {
        bx = s.block_x;
        by = s.block_y;
    } else if (s.cog_layout && keeps_source_blocks(src)) {
        first->GetBlockSize(&bx, &by);
    }
    bx = std::min(bx, width);
    by = std::min(by, height);
    if (double(bx) * by * 16 > double(1u << 30)) return error("block size %s is too large", std::to_string(bx));

    std::vector<std::pair<int, int>> existing;
    if (s.overviews == "AUTO" || s.overviews == "FORCE_USE_EXISTING") {
        bool differ = false;
        existing = shared_overviews(src, &differ);
        if (differ && s.overviews == "FORCE_USE_EXISTING")
            return error("OVERVIEWS=FORCE_USE_EXISTING: the bands of %s have different overviews", src->GetDescription());
    }
    const bool copy_overviews = s.overviews == "FORCE_USE_EXISTING" || (s.overviews == "AUTO" && !existing.empty());
    std::vector<std::pair<int, int>> levels;
    if (copy_overviews) {
        levels = existing;
    } else if (s.overviews == "FACTORS") {
        for (int f : s.overview_factors)
            if (width / f >= 1 && height / f >= 1) levels.emplace_back((width + f - 1) / f, (height + f - 1) / f);
    } else if (s.overviews != "NONE") {
        // Like the COG driver: halve until the previous level fits in one block.
        for (int f = 2;; f *= 2) {
            const int prev_w = (width + f / 2 - 1) / (f / 2), prev_h = (height + f / 2 - 1) / (f / 2);
            if (prev_w <= bx && prev_h <= by) break;
            levels.emplace_back((width + f - 1) / f, (height + f - 1) / f);
        }
    }
    const bool has_mask = first->GetMaskFlags() == GMF_PER_DATASET;

    CPLJSONObject raster;
    raster.Add("width", width);
    raster.Add("height", height);
    CPLJSONArray block;
    block.Add(bx);
    block.Add(by);
    raster.Add("block_size", block);
    raster.Add("compression_level", s.codec.quantize_scale > 0 ? 1 : s.codec.level);
    raster.Add("quantize_scale", exact(s.codec.quantize_scale));
    double gt[6];
    if (src->GetGeoTransform(gt) == CE_None) {
        CPLJSONArray a;
        for (double v : gt) a.Add(exact(v));
        raster.Add("geotransform", a);
    }
    const std::string crs = wkt2(src->GetSpatialRef());
    if (!crs.empty()) raster.Add("crs_wkt", crs);
    if (src->GetGCPCount() > 0) {
        CPLJSONArray gcps;
        const GDAL_GCP* g = src->GetGCPs();
        for (int i = 0; i < src->GetGCPCount(); ++i) {
            CPLJSONObject o;
            o.Add("id", g[i].pszId ? g[i].pszId : "");
            o.Add("info", g[i].pszInfo ? g[i].pszInfo : "");
            o.Add("pixel", exact(g[i].dfGCPPixel));
            o.Add("line", exact(g[i].dfGCPLine));
            o.Add("x", exact(g[i].dfGCPX));
            o.Add("y", exact(g[i].dfGCPY));
            o.Add("z", exact(g[i].dfGCPZ));
            gcps.Add(o);
        }
        raster.Add("gcps", gcps);
        const std::string gcp_crs = wkt2(src->GetGCPSpatialRef());
        if (!gcp_crs.empty()) raster.Add("gcp_crs_wkt", gcp_crs);
    }
    CPLJSONArray metadata = metadata_json(*src, true, copy_overviews);
    if (!levels.empty() && !copy_overviews) {  // what `rio overview --ls` reports
        CPLJSONObject domain;
        CPLJSONArray items, item;
        item.Add("resampling");
        item.Add(CPLString(overview_resampling(s, first, false)).tolower());
        items.Add(item);
        domain.Add("domain", "rio_overview");
        domain.Add("items", items);
        metadata.Add(domain);
    }
    raster.Add("metadata", metadata);
    if (has_mask) raster.Add("mask", true);
    CPLJSONArray ov_sizes;
    for (const auto& l : levels) {
        CPLJSONArray wh;
        wh.Add(l.first);
        wh.Add(l.second);
        ov_sizes.Add(wh);
    }
    raster.Add("overviews", ov_sizes);

    // Work: each band once at full resolution and, with overviews, once more to resample.
    const int steps = (nbands + (has_mask ? 1 : 0)) * (levels.empty() ? 1 : 2);
    int step = 0;
    CPLJSONArray bands;
    for (int i = 1; i <= nbands + (has_mask ? 1 : 0); ++i) {
        const bool mask = i > nbands;
        GDALRasterBand* b = mask ? first->GetMaskBand() : src->GetRasterBand(i);
        storage_type t;
        if (mask) storage_for_gdal(GDT_Byte, false, t);
        else t = types[std::size_t(i - 1)];
        const double q = GDALDataTypeIsFloating(t.gdal) ? s.codec.quantize_scale : 0.0;
        const std::string name = mask ? std::string(mask_array) : band_array(i);
        CPLJSONObject band_json, attrs;
        bool has_nodata = false;
        std::string nodata;
        if (!mask) {
            nodata = nodata_text(b, &has_nodata);
            band_json.Add("data_type", storage_name(t));
            band_json.Add("description", b->GetDescription());
            if (has_nodata) band_json.Add("nodata", nodata);
            int ok = FALSE;
            const double scale = b->GetScale(&ok);
            if (ok && scale != 1.0) band_json.Add("scale", exact(scale));
            const double offset = b->GetOffset(&ok);
            if (ok && offset != 0.0) band_json.Add("offset", exact(offset));
            if (b->GetUnitType() && *b->GetUnitType()) band_json.Add("unit", b->GetUnitType());
            band_json.Add("color_interpretation", GDALGetColorInterpretationName(b->GetColorInterpretation()));
            if (GDALColorTable* ct = b->GetColorTable()) {
                CPLJSONArray entries;
                for (int e = 0; e < ct->GetColorEntryCount(); ++e) {
                    const GDALColorEntry* c = ct->GetColorEntry(e);
                    CPLJSONArray rgba;
                    for (short v : {c->c1, c->c2, c->c3, c->c4}) rgba.Add(int(v));
                    entries.Add(rgba);
                }
                band_json.Add("color_table", entries);
            }
            band_json.Add("metadata", metadata_json(*b, false));
            bands.Add(band_json);
            // For xarray/CF readers of the array itself.
            if (*b->GetDescription()) attrs.Add("long_name", b->GetDescription());
            if (b->GetUnitType() && *b->GetUnitType()) attrs.Add("units", b->GetUnitType());
        }
        if (!write_array(out, b, prefix + name, t, bx, by, s, q, attrs,
                         progress.part(double(step++) / steps, 1.0 / steps)))
            return false;
        if (levels.empty()) continue;

        // The source's own overviews when they are copied and this band has them (a mask may not).
        std::vector<GDALRasterBand*> ov_bands;
        for (std::size_t k = 0; copy_overviews && b->GetOverviewCount() == int(levels.size()) && k < levels.size(); ++k)
            if (GDALRasterBand* o = b->GetOverview(int(k));
                o && o->GetXSize() == levels[k].first && o->GetYSize() == levels[k].second)
                ov_bands.push_back(o);
        const bool copy = ov_bands.size() == levels.size();
        if (!copy) ov_bands.clear();
        // Otherwise computed in memory by the function gdaladdo uses on a GeoTIFF, so they are equal.
        GDALDriver* mem = GetGDALDriverManager()->GetDriverByName("MEM");
        std::vector<std::unique_ptr<GDALDataset>> ov_ds;
        for (std::size_t k = 0; !copy && k < levels.size(); ++k) {
            ov_ds.emplace_back(mem->Create("", levels[k].first, levels[k].second, 1, t.gdal, nullptr));
            if (!ov_ds.back()) return error("out of memory for the overviews of %s", name);
            GDALRasterBand* ob = ov_ds.back()->GetRasterBand(1);
            if (t.signed_byte) ob->SetMetadataItem("PIXELTYPE", "SIGNEDBYTE", "IMAGE_STRUCTURE");
            if (has_nodata) ob->SetNoDataValue(CPLAtof(nodata.c_str()));
            ov_bands.push_back(ob);
        }
        const progress_span ov_span = progress.part(double(step++) / steps, 1.0 / steps);
        auto scaled = [](double done, const char*, void* p) -> int {
            const auto* span = static_cast<const progress_span*>(p);
            return span->fn ? span->fn(span->start + span->size * 0.5 * std::min(1.0, done), nullptr, span->data)
                            : TRUE;
        };
        if (!copy) {
            GDALRasterBand* const* per_band[1] = {ov_bands.data()};
            if (GDALRegenerateOverviewsMultiBand(1, &b, int(ov_bands.size()), per_band,
                                                 overview_resampling(s, b, mask).c_str(), scaled,
                                                 const_cast<progress_span*>(&ov_span), nullptr) != CE_None)
                return error("computing the overviews of %s failed", name);
        }
        for (std::size_t k = 0; k < levels.size(); ++k) {
            const std::string group = prefix + overview_group(int(k + 1));
            if (i == 1 && !out.put(group + "/zarr.json", group_json(CPLJSONObject())))
                return error("cannot write %s", group);
            const double done = 0.5 + 0.5 * double(k) / levels.size();
            if (!write_array(out, ov_bands[k], group + "/" + name, t, bx, by, s, q, attrs,
                             ov_span.part(done, 0.5 / levels.size())))
                return false;
        }
    }
    raster.Add("bands", bands);

    CPLJSONObject attrs, tag;
    tag.Add("layout", layout_raster);
    tag.Add("format_version", container_format_version);
    attrs.Add("byte2bit", tag);
    attrs.Add("raster", raster);
    if (!out.put(prefix + "zarr.json", group_json(attrs))) return error("cannot write %szarr.json", prefix);
    return true;
}

// A short, unique group name for a subdataset: the last field of its GDAL name that is not a CRS
// ("SENTINEL2_L2A:...xml:10m:EPSG_32629" -> "10m").
std::string group_name(const std::string& sds_name, const std::vector<std::string>& taken) {
    CPLStringList fields(CSLTokenizeString2(sds_name.c_str(), ":", CSLT_HONOURSTRINGS));
    std::string name;
    for (int i = fields.size() - 1; i >= 0 && name.empty(); --i)
        if (!STARTS_WITH_CI(fields[i], "EPSG_")) name = fields[i];
    std::string clean;
    for (char c : std::string(CPLGetFilename(name.c_str())))
        clean += (isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.') ? c : '_';
    if (clean.empty() || clean == "zarr.json") clean = "raster";
    std::string unique = clean;
    for (int n = 2; std::find(taken.begin(), taken.end(), unique) != taken.end(); ++n)
        unique = clean + "_" + std::to_string(n);
    return unique;
}

bool write_collection(store_writer& out, GDALDataset* src, const settings& s, const progress_span& progress) {
    CPLStringList sds(CSLDuplicate(src->GetMetadata("SUBDATASETS")));
    std::vector<std::string> names, sources;
    CPLJSONArray json_names, json_desc;
    for (int i = 1;; ++i) {
        const char* name = sds.FetchNameValue(CPLSPrintf("SUBDATASET_%d_NAME", i));
        if (!name) break;
        const char* desc = sds.FetchNameValue(CPLSPrintf("SUBDATASET_%d_DESC", i));
        sources.push_back(name);
        names.push_back(group_name(name, names));
        json_names.Add(names.back());
        json_desc.Add(std::string(desc ? desc : name));
    }
    if (sources.empty()) return error("%s has no raster bands and no subdatasets", src->GetDescription());
    for (std::size_t i = 0; i < sources.size(); ++i) {
        std::unique_ptr<GDALDataset> sub(GDALDataset::Open(sources[i].c_str(), GDAL_OF_RASTER | GDAL_OF_VERBOSE_ERROR));
        if (!sub) return error("cannot open subdataset %s", sources[i]);
        if (!write_raster(out, sub.get(), names[i] + "/", s,
                          progress.part(double(i) / sources.size(), 1.0 / sources.size())))
            return false;
    }
    CPLJSONObject attrs, tag;
    tag.Add("layout", layout_rasters);
    tag.Add("format_version", container_format_version);
    attrs.Add("byte2bit", tag);
    attrs.Add("subdatasets", json_names);
    attrs.Add("subdataset_descriptions", json_desc);
    attrs.Add("metadata", metadata_json(*src, false));
    return out.put("zarr.json", group_json(attrs)) || error("cannot write zarr.json");
}

void remove_path(const std::string& path) {
    VSIStatBufL st;
    if (VSIStatL(path.c_str(), &st) != 0) return;
    if (VSI_ISDIR(st.st_mode)) VSIRmdirRecursive(path.c_str());
    else VSIUnlink(path.c_str());
}

// Names beside the target: ".NAME.<pid>-<n>.tmp" for a write in progress, ".NAME.<pid>-<n>.old"
// for the previous file while it is being replaced. The pid tells the next writer whether the
// process that made them is gone (killed), so it can clean up and restore.
std::string side_name(const std::string& target, const char* suffix) {
    static std::atomic<unsigned> counter{0};
    return CPLFormFilename(CPLGetPath(target.c_str()),
                           CPLSPrintf(".%s.%lx-%u.%s", CPLGetFilename(target.c_str()),
                                      static_cast<unsigned long>(getpid()), counter++, suffix),
                           nullptr);
}

// Files a killed writer left for `target`: its temporary output is removed, and the previous file
// it had moved aside is put back when nothing has replaced it since.
void clean_after_killed_writers(const std::string& target) {
    const std::string dir = CPLGetPath(target.c_str());
    const std::string prefix = std::string(".") + CPLGetFilename(target.c_str()) + ".";
    const CPLStringList names(VSIReadDir(dir.empty() ? "." : dir.c_str()));
    for (int i = 0; i < names.size(); ++i) {
        const std::string name = names[i];
        if (name.rfind(prefix, 0) != 0) continue;
        const std::string rest = name.substr(prefix.size());  // "<pid>-<n>.tmp"
        const bool tmp = rest.size() > 4 && rest.compare(rest.size() - 4, 4, ".tmp") == 0;
        const bool old = rest.size() > 4 && rest.compare(rest.size() - 4, 4, ".old") == 0;
        char* end = nullptr;
        const unsigned long pid = std::strtoul(rest.c_str(), &end, 16);
        if ((!tmp && !old) || !end || *end != '-' || pid == 0) continue;
        if (pid == static_cast<unsigned long>(getpid()) || kill(pid_t(pid), 0) == 0 || errno != ESRCH) continue;
        const std::string path = CPLFormFilename(dir.c_str(), name.c_str(), nullptr);
        VSIStatBufL st;
        if (old && VSIStatL(target.c_str(), &st) != 0) {
            CPLError(CE_Warning, CPLE_AppDefined, "B2B: restoring %s, left aside by a writer that was killed",
                     target.c_str());
            VSIRename(path.c_str(), target.c_str());
        } else {
            remove_path(path);
        }
    }
}

// GDAL deletes an existing target before CreateCopy (QuietDelete). Deleting it outright would lose
// it when the write then fails, so Delete moves a file aside and CreateCopy removes it only after
// the new file is in place, or puts it back. A Delete no CreateCopy follows is finished at exit.
struct moved_aside {
    std::mutex mutex;
    std::map<std::string, std::string> backups;  // target -> its previous file
    ~moved_aside() {
        for (const auto& entry : backups) remove_path(entry.second);
    }
    void put(const std::string& target, const std::string& backup) {
        std::lock_guard<std::mutex> lock(mutex);
        if (backups.count(target)) remove_path(backups[target]);
        backups[target] = backup;
    }
    std::string take(const std::string& target) {
        std::lock_guard<std::mutex> lock(mutex);
        const auto it = backups.find(target);
        if (it == backups.end()) return "";
        const std::string backup = it->second;
        backups.erase(it);
        return backup;
    }
};
moved_aside& previous_files() {
    static moved_aside instance;
    return instance;
}

std::string plain_path(const char* filename) {
    std::string path = filename;
    if (STARTS_WITH_CI(path.c_str(), "B2B:")) path = path.substr(4);
    return path;
}

}  // namespace

CPLErr Delete(const char* filename) {
    const std::string path = plain_path(filename);
    VSIStatBufL st;
    if (VSIStatL(path.c_str(), &st) != 0) {
        CPLError(CE_Failure, CPLE_FileIO, "B2B: %s does not exist", path.c_str());
        return CE_Failure;
    }
    if (VSI_ISDIR(st.st_mode)) return VSIRmdirRecursive(path.c_str()) == 0 ? CE_None : CE_Failure;
    const std::string backup = side_name(path, "old");
    if (VSIRename(path.c_str(), backup.c_str()) != 0) return VSIUnlink(path.c_str()) == 0 ? CE_None : CE_Failure;
    previous_files().put(path, backup);
    return CE_None;
}

GDALDataset* Create(const char* filename, int, int, int, GDALDataType, char**) {
    CPLError(CE_Failure, CPLE_NotSupported,
             "B2B: %s: a .b2b is written in one go from a finished raster, so programs that create a raster and "
             "then fill it (gdal_calc.py, gdal_merge.py, gdal_rasterize) cannot write it directly. Write a GeoTIFF "
             "(or a VRT) and convert it: gdal_translate -of B2B in.tif out.b2b",
             filename);
    return nullptr;
}

GDALDataset* CreateCopy(const char* filename, GDALDataset* src, int /*strict*/, char** options,
                        GDALProgressFunc progress, void* progress_data) {
    settings s;
    if (!parse_settings(options, s)) return nullptr;
    const std::string target = filename;
    clean_after_killed_writers(target);
    // A unique hidden name beside the target, so the final rename is atomic on one file system.
    const std::string temp = side_name(target, "tmp");
    if (!progress) progress = GDALDummyProgress;
    bool ok = false;
    try {
        std::unique_ptr<store_writer> out(store_writer::create(temp, s.zip));
        if (!out) {
            CPLError(CE_Failure, CPLE_OpenFailed, "B2B: cannot create %s", temp.c_str());
        } else {
            monotonic_progress forward{progress, progress_data};
            const progress_span span{monotonic_progress::report, &forward, 0.0, 1.0};
            ok = src->GetRasterCount() > 0 ? write_raster(*out, src, "", s, span) : write_collection(*out, src, s, span);
            if (ok && !out->close()) ok = error("cannot finish %s (disk full?)", temp);
        }
    } catch (const std::bad_alloc&) {
        ok = error("out of memory writing %s", target);
    }
    std::string previous = previous_files().take(target);
    if (ok) {
        // A directory (or a file replaced by a directory) cannot be renamed over: move it aside first.
        VSIStatBufL st;
        if (VSIStatL(target.c_str(), &st) == 0 && (VSI_ISDIR(st.st_mode) || !s.zip)) {
            const std::string aside = side_name(target, "old");
            if (VSIRename(target.c_str(), aside.c_str()) != 0) {
                ok = error("cannot move the existing %s aside", target);
            } else {
                if (!previous.empty()) remove_path(previous);
                previous = aside;
            }
        }
        ok = ok && VSIRename(temp.c_str(), target.c_str()) == 0;
        if (!ok) CPLError(CE_Failure, CPLE_FileIO, "B2B: cannot rename %s to %s", temp.c_str(), target.c_str());
    }
    if (!ok) {
        remove_path(temp);
        VSIStatBufL st;
        if (!previous.empty() && VSIStatL(target.c_str(), &st) != 0) VSIRename(previous.c_str(), target.c_str());
        return nullptr;
    }
    if (!previous.empty()) remove_path(previous);
    progress(1.0, nullptr, progress_data);
    const char* const drivers[] = {driver_name, nullptr};
    return GDALDataset::Open(filename, GDAL_OF_RASTER | GDAL_OF_VERBOSE_ERROR, drivers);
}

}  // namespace b2b_gdal
