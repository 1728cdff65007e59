#include "b2b_dataset.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <climits>
#include <cmath>
#include <cstring>
#include <mutex>
#include <thread>

#include "cpl_string.h"

#include "b2b_driver.hpp"

namespace b2b_gdal {

// A damaged or hostile raster description: thrown while loading, reported by Open.
struct invalid_file : std::runtime_error {
    using std::runtime_error::runtime_error;
};

namespace {

[[noreturn]] void invalid(const std::string& why) { throw invalid_file(why); }

// Raster group names become key prefixes: letters, digits, '_', '-', '.', never "." or "..", and
// never the reserved "__" names.
bool valid_group_name(const std::string& name) {
    if (name.empty() || name == "." || name == ".." || name.size() > 255 || name.rfind("__", 0) == 0) return false;
    for (char c : name)
        if (!(isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.')) return false;
    return true;
}

// Splits "B2B:path", B2B:"path":group, the unquoted B2B:path:group (rasterio hands subdataset names
// back unquoted) or a plain path into the container path and a raster group.
void parse_name(const std::string& name, std::string& path, std::string& group) {
    std::string rest = name;
    const bool prefixed = STARTS_WITH_CI(rest.c_str(), "B2B:");
    if (prefixed) rest = rest.substr(4);
    if (!rest.empty() && rest[0] == '"') {
        const auto close = rest.find('"', 1);
        if (close != std::string::npos) {
            path = rest.substr(1, close - 1);
            if (close + 1 < rest.size() && rest[close + 1] == ':') group = rest.substr(close + 2);
            return;
        }
    }
    path = rest;
    // Group names never hold ':' or '/', so the last ':' can only start one ("/vsicurl/https://..."
    // without a group keeps its colons).
    const auto colon = rest.rfind(':');
    if (prefixed && colon != std::string::npos && colon > 0 && valid_group_name(rest.substr(colon + 1))) {
        path = rest.substr(0, colon);
        group = rest.substr(colon + 1);
    }
}

void read_json(const store_reader& store, const std::string& key, CPLJSONDocument& doc) {
    std::vector<GByte> bytes;
    std::string why;
    if (!store.read(key, bytes, max_json_bytes, &why)) invalid(why);
    if (!json_within_limits(bytes.data(), bytes.size()))
        invalid(key + " nests deeper or holds more values than a .b2b description can");
    bytes.push_back(0);
    CPLPushErrorHandler(CPLQuietErrorHandler);
    const bool parsed = doc.LoadMemory(bytes.data(), int(bytes.size() - 1));
    CPLPopErrorHandler();
    if (!parsed || doc.GetRoot().GetType() != CPLJSONObject::Type::Object) invalid(key + " is not valid JSON");
}

// Typed access to the fields of a description: absent fields take defaults, wrong types throw.
bool present(const CPLJSONObject& o, const char* name) { return o.GetObj(name).IsValid(); }

bool is_integer(const CPLJSONObject& v) {
    return v.GetType() == CPLJSONObject::Type::Integer || v.GetType() == CPLJSONObject::Type::Long;
}

GInt64 integer(const CPLJSONObject& v, GInt64 lo, GInt64 hi, const std::string& what) {
    if (!is_integer(v) || v.ToLong() < lo || v.ToLong() > hi)
        invalid(what + " must be an integer from " + std::to_string(lo) + " to " + std::to_string(hi));
    return v.ToLong();
}

std::string text(const CPLJSONObject& o, const char* name, const std::string& what) {
    const CPLJSONObject v = o.GetObj(name);
    if (!v.IsValid()) return "";
    if (v.GetType() != CPLJSONObject::Type::String) invalid(what + " must be a string");
    return v.ToString();
}

double number(const CPLJSONObject& v, const std::string& what) {
    double out = 0;
    if (!exact_value(v, out)) invalid(what + " must be a number");
    return out;
}

CPLJSONArray array(const CPLJSONObject& o, const char* name, int max_size, const std::string& what) {
    const CPLJSONObject v = o.GetObj(name);
    if (!v.IsValid()) return CPLJSONArray();
    if (v.GetType() != CPLJSONObject::Type::Array) invalid(what + " must be a list");
    const CPLJSONArray a = v.ToArray();
    if (a.Size() > max_size) invalid(what + " has " + std::to_string(a.Size()) + " entries, at most " +
                                     std::to_string(max_size) + " are allowed");
    return a;
}

CPLJSONObject object(const CPLJSONArray& a, int i, const std::string& what) {
    const CPLJSONObject v = a[i];
    if (v.GetType() != CPLJSONObject::Type::Object) invalid(what + " must be an object");
    return v;
}

// Metadata domains, [{domain, items: [[key, value], ...]}] or [{domain: "xml:...", xml}].
struct metadata_domain {
    std::string domain;
    CPLStringList items;
};

std::vector<metadata_domain> metadata_list(const CPLJSONObject& o, const std::string& what) {
    std::vector<metadata_domain> out;
    const CPLJSONArray domains = array(o, "metadata", 4096, what);
    for (int i = 0; i < domains.Size(); ++i) {
        const CPLJSONObject d = object(domains, i, what + " domain");
        metadata_domain m;
        m.domain = text(d, "domain", what + " domain name");
        if (STARTS_WITH(m.domain.c_str(), "xml:")) {
            m.items.AddString(text(d, "xml", what + " " + m.domain).c_str());
        } else if (!string_list_from_pairs(array(d, "items", 1 << 20, what), m.items)) {
            invalid(what + " domain '" + m.domain + "' must hold [key, value] string pairs");
        }
        out.push_back(std::move(m));
    }
    return out;
}

void apply_metadata(GDALMajorObject& target, const std::vector<metadata_domain>& domains) {
    for (const auto& d : domains) target.GDALMajorObject::SetMetadata(const_cast<char**>(d.items.List()), d.domain.c_str());
}

std::shared_ptr<GDALColorTable> color_table(const CPLJSONObject& band, const storage_type& type,
                                            const std::string& what) {
    const int max_entries = type.item_bytes == 1 ? 256 : 65536;
    const CPLJSONArray entries = array(band, "color_table", max_entries, what + " color_table");
    if (entries.Size() == 0) return nullptr;
    auto table = std::make_shared<GDALColorTable>();
    for (int e = 0; e < entries.Size(); ++e) {
        const std::string where = what + " color_table entry " + std::to_string(e);
        if (entries[e].GetType() != CPLJSONObject::Type::Array) invalid(where + " must be [c1, c2, c3(, c4)]");
        const CPLJSONArray c = entries[e].ToArray();
        if (c.Size() < 3 || c.Size() > 4) invalid(where + " must be [c1, c2, c3(, c4)]");
        short v[4] = {0, 0, 0, 255};
        for (int k = 0; k < c.Size(); ++k) v[k] = short(integer(c[k], 0, 32767, where));
        const GDALColorEntry entry = {v[0], v[1], v[2], v[3]};
        table->SetColorEntry(e, &entry);
    }
    return table;
}

}  // namespace

struct B2BDataset::band_description {
    storage_type type;
    bool has_nodata = false;
    std::string nodata;
    bool has_scale = false, has_offset = false;
    double scale = 1.0, offset = 0.0;
    std::string unit, description;
    GDALColorInterp interp = GCI_Undefined;
    std::shared_ptr<GDALColorTable> color_table;
    std::vector<metadata_domain> metadata;
};

struct B2BDataset::raster_description {
    int width = 0, height = 0, block_x = 0, block_y = 0, level = 4;
    double quantize = 0.0;
    std::vector<band_description> bands;
    std::vector<std::pair<int, int>> overviews;
    bool mask = false;
    bool has_geotransform = false;
    double geotransform[6] = {0, 1, 0, 0, 0, 1};
    std::string crs_wkt, gcp_crs_wkt;
    struct gcp {
        double pixel, line, x, y, z;
        std::string id, info;
    };
    std::vector<gcp> gcps;  // (not GDAL_GCP: its strings would leak when a later field throws)
    std::vector<metadata_domain> metadata;

    raster_description() = default;
    raster_description(const raster_description&) = delete;

    // Validates every field before anything uses it.
    explicit raster_description(const CPLJSONObject& r) {
        if (r.GetType() != CPLJSONObject::Type::Object) invalid("raster description missing from zarr.json");
        width = int(integer(r.GetObj("width"), 1, INT_MAX, "raster width"));
        height = int(integer(r.GetObj("height"), 1, INT_MAX, "raster height"));
        const CPLJSONArray block = array(r, "block_size", 2, "block_size");
        if (block.Size() != 2) invalid("block_size must be [x, y]");
        block_x = int(integer(block[0], 1, max_block_size, "block width"));
        block_y = int(integer(block[1], 1, max_block_size, "block height"));
        if (present(r, "compression_level")) level = int(integer(r.GetObj("compression_level"), 0, 4, "compression_level"));
        if (present(r, "quantize_scale")) quantize = number(r.GetObj("quantize_scale"), "quantize_scale");
        if (!(quantize >= 0) || !std::isfinite(quantize)) invalid("quantize_scale must be 0 or positive");
        if (present(r, "mask")) {
            if (r.GetObj("mask").GetType() != CPLJSONObject::Type::Boolean) invalid("mask must be true or false");
            mask = r.GetBool("mask");
        }

        const CPLJSONArray ovs = array(r, "overviews", max_overview_levels, "overviews");
        int prev_w = width, prev_h = height;
        for (int k = 0; k < ovs.Size(); ++k) {
            const std::string where = "overview " + std::to_string(k + 1);
            if (ovs[k].GetType() != CPLJSONObject::Type::Array || ovs[k].ToArray().Size() != 2)
                invalid(where + " must be [width, height]");
            const CPLJSONArray wh = ovs[k].ToArray();
            const int w = int(integer(wh[0], 1, prev_w, where + " width")), h = int(integer(wh[1], 1, prev_h, where + " height"));
            overviews.emplace_back(prev_w = w, prev_h = h);
        }

        const CPLJSONArray list = array(r, "bands", 65535, "bands");
        if (list.Size() < 1) invalid("the raster lists no bands");
        if (long(list.Size()) * long(1 + overviews.size()) > max_band_objects)
            invalid(std::to_string(list.Size()) + " bands with " + std::to_string(overviews.size()) +
                    " overview levels are more than this driver opens");
        for (int i = 0; i < list.Size(); ++i) {
            const std::string what = "band " + std::to_string(i + 1);
            const CPLJSONObject b = object(list, i, what);
            band_description d;
            const std::string name = text(b, "data_type", what + " data_type");
            if (!storage_from_name(name, d.type)) invalid(what + " has an unknown data type '" + name + "'");
            d.has_nodata = present(b, "nodata");
            if (d.has_nodata) {
                d.nodata = text(b, "nodata", what + " nodata");
                double unused;
                if (!exact_value(b.GetObj("nodata"), unused)) invalid(what + " nodata must be a number");
            }
            if ((d.has_scale = present(b, "scale"))) d.scale = number(b.GetObj("scale"), what + " scale");
            if ((d.has_offset = present(b, "offset"))) d.offset = number(b.GetObj("offset"), what + " offset");
            d.unit = text(b, "unit", what + " unit");
            d.description = text(b, "description", what + " description");
            const std::string interp = text(b, "color_interpretation", what + " color_interpretation");
            d.interp = GDALGetColorInterpretationByName(interp.empty() ? "Undefined" : interp.c_str());
            d.color_table = color_table(b, d.type, what);
            d.metadata = metadata_list(b, what + " metadata");
            bands.push_back(std::move(d));
        }

        const CPLJSONArray gt = array(r, "geotransform", 6, "geotransform");
        if (gt.Size() != 0 && gt.Size() != 6) invalid("geotransform must hold six numbers");
        has_geotransform = gt.Size() == 6;
        for (int i = 0; i < gt.Size(); ++i) geotransform[i] = number(gt[i], "geotransform");
        crs_wkt = text(r, "crs_wkt", "crs_wkt");
        gcp_crs_wkt = text(r, "gcp_crs_wkt", "gcp_crs_wkt");
        const CPLJSONArray g = array(r, "gcps", 1 << 20, "gcps");
        for (int i = 0; i < g.Size(); ++i) {
            const std::string what = "GCP " + std::to_string(i + 1);
            const CPLJSONObject o = object(g, i, what);
            gcp p;
            p.pixel = number(o.GetObj("pixel"), what + " pixel");
            p.line = number(o.GetObj("line"), what + " line");
            p.x = number(o.GetObj("x"), what + " x");
            p.y = number(o.GetObj("y"), what + " y");
            p.z = present(o, "z") ? number(o.GetObj("z"), what + " z") : 0.0;
            p.id = text(o, "id", what + " id");
            p.info = text(o, "info", what + " info");
            gcps.push_back(std::move(p));
        }
        metadata = metadata_list(r, "metadata");
    }
};

namespace {
bool fail(const std::string& path, const std::string& why) {
    CPLError(CE_Failure, CPLE_OpenFailed, "B2B: %s: %s", path.c_str(), why.c_str());
    return false;
}
}  // namespace

int configured_threads(CSLConstList open_options) {
    const char* value = CSLFetchNameValue(open_options, "NUM_THREADS");
    if (!value) value = CPLGetConfigOption("GDAL_NUM_THREADS", "ALL_CPUS");
    const int cpus = std::max(1, CPLGetNumCPUs());
    if (EQUAL(value, "ALL_CPUS")) return cpus;
    return std::max(1, std::min(atoi(value), 1024));
}

// GDAL must never see an exception, whatever the file holds.
GDALDataset* B2BDataset::Open(GDALOpenInfo* info) {
    if (!Identify(info)) return nullptr;
    std::string path, group;
    parse_name(info->pszFilename, path, group);
    try {
        return open(info);
    } catch (const invalid_file& e) {
        fail(path, e.what());
    } catch (const std::bad_alloc&) {
        fail(path, "out of memory while opening");
    } catch (const std::exception& e) {
        fail(path, e.what());
    }
    return nullptr;
}

GDALDataset* B2BDataset::open(GDALOpenInfo* info) {
    std::string path, group;
    parse_name(info->pszFilename, path, group);
    if (info->eAccess == GA_Update)
        invalid(".b2b files are read-only; write a new one with gdal_translate -of B2B "
                "(-co OVERVIEWS=2,4,8 chooses its overviews)");
    std::string why;
    std::shared_ptr<store_reader> store(store_reader::open(path, &why));
    if (!store || !store->load_manifest(&why)) invalid(why);
    CPLJSONDocument doc;
    read_json(*store, "zarr.json", doc);
    const CPLJSONObject attrs = doc.GetRoot().GetObj("attributes");
    const CPLJSONObject tag = attrs.GetObj("byte2bit");
    if (tag.GetType() != CPLJSONObject::Type::Object) invalid("not a Byte2Bit container (no byte2bit attribute)");
    const std::string layout = text(tag, "layout", "layout");
    const int version = int(integer(tag.GetObj("format_version"), 0, INT_MAX, "format_version"));
    if (version > container_format_version)
        invalid("written by a newer Byte2Bit (container format " + std::to_string(version) +
                "); this driver reads up to " + std::to_string(container_format_version));
    if (version >= 2 && !store->has_manifest())
        invalid(std::string(manifest_key) + " is missing: entries of this file may have been lost");
    const int threads = configured_threads(info->papszOpenOptions);

    auto ds = std::unique_ptr<B2BDataset>(new B2BDataset());
    ds->SetDescription(info->pszFilename);
    ds->store_ = store;
    if (layout == layout_rasters && group.empty()) {
        ds->load_collection(attrs, path);
    } else if (layout == layout_rasters || layout == layout_raster) {
        CPLJSONObject raster = attrs.GetObj("raster");
        std::string prefix;
        CPLJSONDocument sub;
        if (layout == layout_rasters) {
            bool known = false;
            const CPLJSONArray names = array(attrs, "subdatasets", 65535, "subdatasets");
            for (int i = 0; i < names.Size(); ++i) known |= names[i].ToString() == group;
            if (!known || !valid_group_name(group)) invalid("no raster named '" + group + "' in this file");
            prefix = group + "/";
            read_json(*store, prefix + "zarr.json", sub);
            raster = sub.GetRoot().GetObj("attributes").GetObj("raster");
        } else if (!group.empty()) {
            invalid("this file holds one raster; it has no raster named '" + group + "'");
        }
        const raster_description description(raster);
        ds->load_raster(store, prefix, description, 0, threads);
    } else {
        invalid("holds a Byte2Bit " + (layout.empty() ? std::string("?") : layout) +
                ", not a raster; read it with the Python API (byte2bit.load_byte2bit or open_archive)");
    }
    ds->SetPhysicalFilename(path.c_str());
    ds->TryLoadXML();
    ds->oOvManager.Initialize(ds.get(), info->pszFilename);
    return ds.release();
}

// gdaladdo and rio overview would write an external .ovr beside the file, which readers ignore in
// favour of the overviews stored inside: refuse, and say how to get other overviews.
CPLErr B2BDataset::IBuildOverviews(const char* resampling, int count, const int* factors, int nbands,
                                   const int* bands, GDALProgressFunc progress, void* progress_data,
                                   CSLConstList options) {
    if (count == 0)  // gdaladdo -clean: nothing of ours to remove
        return GDALPamDataset::IBuildOverviews(resampling, count, factors, nbands, bands, progress, progress_data,
                                               options);
    CPLString list;
    for (int i = 0; i < count; ++i) list += CPLSPrintf("%s%d", i ? "," : "", factors[i]);
    CPLError(CE_Failure, CPLE_NotSupported,
             "B2B: a .b2b keeps its overviews inside the file and is not modified in place; write it again "
             "with the overviews you want: gdal_translate -of B2B -co OVERVIEWS=%s -co OVERVIEW_RESAMPLING=%s "
             "SOURCE out.b2b (OVERVIEWS=AUTO|NONE|FORCE_USE_EXISTING|factors)",
             list.c_str(), resampling && *resampling ? resampling : "CUBIC");
    return CE_Failure;
}

B2BDataset::~B2BDataset() {
    if (!gcps_.empty()) GDALDeinitGCPs(int(gcps_.size()), gcps_.data());  // frees the id and info strings
}

void B2BDataset::load_collection(const CPLJSONObject& attrs, const std::string& path) {
    nRasterXSize = nRasterYSize = 0;  // a list of rasters (SUBDATASETS), no pixels of its own
    const CPLJSONArray names = array(attrs, "subdatasets", 65535, "subdatasets");
    const CPLJSONArray descriptions = array(attrs, "subdataset_descriptions", 65535, "subdataset_descriptions");
    CPLStringList sds;
    for (int i = 0; i < names.Size(); ++i) {
        if (names[i].GetType() != CPLJSONObject::Type::String) invalid("subdataset names must be strings");
        const std::string name = names[i].ToString();
        if (!valid_group_name(name)) invalid("invalid raster name '" + name + "'");
        sds.SetNameValue(CPLSPrintf("SUBDATASET_%d_NAME", i + 1),
                         CPLSPrintf("B2B:\"%s\":%s", path.c_str(), name.c_str()));
        std::string desc = name;
        if (i < descriptions.Size()) {
            if (descriptions[i].GetType() != CPLJSONObject::Type::String)
                invalid("subdataset descriptions must be strings");
            desc = descriptions[i].ToString();
        }
        sds.SetNameValue(CPLSPrintf("SUBDATASET_%d_DESC", i + 1), desc.c_str());
    }
    apply_metadata(*this, metadata_list(attrs, "metadata"));
    GDALMajorObject::SetMetadata(sds.List(), "SUBDATASETS");
}

void B2BDataset::load_raster(const std::shared_ptr<store_reader>& store, const std::string& prefix,
                             const raster_description& raster, int overview_level, int threads) {
    store_ = store;
    prefix_ = prefix;
    threads_ = threads;
    nRasterXSize = raster.width;
    nRasterYSize = raster.height;
    if (overview_level > 0) {
        nRasterXSize = raster.overviews[std::size_t(overview_level - 1)].first;
        nRasterYSize = raster.overviews[std::size_t(overview_level - 1)].second;
        prefix_ = prefix + overview_group(overview_level) + "/";
    }
    const int bx = raster.block_x, by = raster.block_y;
    for (std::size_t i = 0; i < raster.bands.size(); ++i) {
        const band_description& d = raster.bands[i];
        auto band = new B2BRasterBand(this, int(i + 1), prefix_ + band_array(int(i + 1)), d.type, bx, by);
        SetBand(int(i + 1), band);
        band->has_nodata_ = d.has_nodata;
        band->nodata_ = d.nodata;
        band->has_scale_ = d.has_scale;
        band->scale_ = d.scale;
        band->has_offset_ = d.has_offset;
        band->offset_ = d.offset;
        band->unit_ = d.unit;
        band->interp_ = d.interp;
        band->color_table_ = d.color_table;
        band->quantize_ = GDALDataTypeIsFloating(d.type.gdal) ? raster.quantize : 0.0;
        if (overview_level == 0) {
            band->GDALMajorObject::SetDescription(d.description.c_str());
            apply_metadata(*band, d.metadata);
        }
        if (d.type.signed_byte) band->GDALMajorObject::SetMetadataItem("PIXELTYPE", "SIGNEDBYTE", "IMAGE_STRUCTURE");
    }
    if (raster.mask) {
        storage_type mask_type;
        storage_for_gdal(GDT_Byte, false, mask_type);
        mask_.reset(new B2BRasterBand(this, 0, prefix_ + mask_array, mask_type, bx, by));
        mask_->is_mask_ = true;
    }

    GDALMajorObject::SetMetadataItem("COMPRESSION", "BYTE2BIT", "IMAGE_STRUCTURE");
    GDALMajorObject::SetMetadataItem("INTERLEAVE", "BAND", "IMAGE_STRUCTURE");
    GDALMajorObject::SetMetadataItem("COMPRESSION_REVERSIBILITY", raster.quantize > 0 ? "LOSSY" : "LOSSLESS",
                                     "IMAGE_STRUCTURE");
    GDALMajorObject::SetMetadataItem("B2B_LEVEL", CPLSPrintf("%d", raster.level), "IMAGE_STRUCTURE");
    if (raster.quantize > 0)
        GDALMajorObject::SetMetadataItem("B2B_QUANTIZE_SCALE", CPLSPrintf("%.17g", raster.quantize),
                                         "IMAGE_STRUCTURE");
    if (overview_level > 0) return;

    // Georeferencing and metadata belong to the full-resolution level.
    has_geotransform_ = raster.has_geotransform;
    std::memcpy(geotransform_, raster.geotransform, sizeof(geotransform_));
    if (!raster.crs_wkt.empty() && srs_.importFromWkt(raster.crs_wkt.c_str()) != OGRERR_NONE) invalid("invalid CRS");
    srs_.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
    for (const auto& g : raster.gcps) {
        GDAL_GCP gcp;
        gcp.dfGCPPixel = g.pixel, gcp.dfGCPLine = g.line, gcp.dfGCPX = g.x, gcp.dfGCPY = g.y, gcp.dfGCPZ = g.z;
        gcp.pszId = CPLStrdup(g.id.c_str());
        gcp.pszInfo = CPLStrdup(g.info.c_str());
        gcps_.push_back(gcp);
    }
    if (!raster.gcp_crs_wkt.empty() && gcp_srs_.importFromWkt(raster.gcp_crs_wkt.c_str()) != OGRERR_NONE)
        invalid("invalid GCP CRS");
    gcp_srs_.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
    apply_metadata(*this, raster.metadata);

    for (int k = 1; k <= int(raster.overviews.size()); ++k) {
        auto ov = std::unique_ptr<B2BDataset>(new B2BDataset());
        ov->SetDescription(GetDescription());
        ov->load_raster(store, prefix, raster, k, threads);
        overviews_.push_back(std::move(ov));
    }
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
    : ds_(ds), array_(array), type_(type), planes_axis_(type.planes ? 1 : 0) {
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

// The band array's zarr.json must describe what the raster description says: same shape, chunks,
// data type and codec. A damaged description could otherwise show padding as pixels.
std::string B2BRasterBand::check_array() const {
    try {
        CPLJSONDocument doc;
        read_json(ds_->store(), array_ + "/zarr.json", doc);
        const CPLJSONObject a = doc.GetRoot();
        auto dims = [&](const CPLJSONArray& v, int y, int x) {
            if (v.Size() != 2 + planes_axis_) return false;
            if (planes_axis_ && !(is_integer(v[0]) && v[0].ToLong() == 2)) return false;
            return is_integer(v[planes_axis_]) && v[planes_axis_].ToLong() == y && is_integer(v[planes_axis_ + 1]) &&
                   v[planes_axis_ + 1].ToLong() == x;
        };
        const CPLJSONArray shape = array(a, "shape", 3, "shape");
        const CPLJSONArray chunks =
            array(a.GetObj("chunk_grid").GetObj("configuration"), "chunk_shape", 3, "chunk_shape");
        const CPLJSONArray codecs = array(a, "codecs", 16, "codecs");
        bool byte2bit_codec = false;
        for (int i = 0; i < codecs.Size(); ++i)
            byte2bit_codec |= codecs[i].GetType() == CPLJSONObject::Type::Object &&
                              codecs[i].GetString("name") == "byte2bit";
        if (text(a, "node_type", "node_type") != "array" || !dims(shape, nRasterYSize, nRasterXSize) ||
            !dims(chunks, nBlockYSize, nBlockXSize) || text(a, "data_type", "data_type") != type_.zarr ||
            !byte2bit_codec)
            return array_ + "/zarr.json does not match the raster description (shape, chunks, data type or codec)";
        return "";
    } catch (const invalid_file& e) {
        return e.what();
    }
}

bool B2BRasterBand::decode_block(int col, int row, void* out, std::vector<GByte>& stream, std::vector<GByte>& planes,
                                 std::string* why) const {
    std::call_once(array_checked_, [this] { array_error_ = check_array(); });
    if (!array_error_.empty()) return *why = array_error_, false;
    const std::size_t pixels = std::size_t(nBlockXSize) * std::size_t(nBlockYSize);
    const std::size_t raw = pixels * std::size_t(type_.item_bytes);
    const std::string key = chunk_key(array_, row, col, type_.planes);
    // A stream never needs much more than its raw size; anything larger is hostile or damaged.
    std::size_t start = 0;
    if (!ds_->store().read(key, stream, raw + raw / 2 + 65536, why, &start)) return false;
    const GByte* bytes = stream.data() + start;
    const std::size_t size = stream.size() - start;
    try {
        const byte2bit::stream_info info = byte2bit::inspect(bytes, size, false);
        std::vector<std::uint64_t> shape;
        if (type_.planes) shape.push_back(2);
        shape.push_back(std::uint64_t(nBlockYSize));
        shape.push_back(std::uint64_t(nBlockXSize));
        if (info.type != type_.codec || info.shape != shape) {
            *why = "chunk " + key + " holds " + byte2bit::dtype_name(info.type) + " of another shape than its band";
            return false;
        }
        if (info.quantize_scale != quantize_) {
            *why = "chunk " + key + " states an error bound other than the raster's";
            return false;
        }
        if (!type_.planes) {
            byte2bit::decode(bytes, size, out, raw, &type_.codec);
            return true;
        }
        planes.resize(raw);
        byte2bit::decode(bytes, size, planes.data(), raw, &type_.codec);
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
    } catch (const std::bad_alloc&) {
        *why = "out of memory decoding chunk " + key;
        return false;
    }
}

CPLErr B2BRasterBand::IReadBlock(int col, int row, void* image) {
    std::vector<GByte> stream, planes;
    std::string why;
    try {
        if (decode_block(col, row, image, stream, planes, &why)) return CE_None;
    } catch (const std::bad_alloc&) {
        why = "out of memory";
    }
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
    try {
        return read_blocks(x, y, xsize, ysize, data, buf_type, pixel_space, line_space, extra);
    } catch (const std::bad_alloc&) {
        CPLError(CE_Failure, CPLE_OutOfMemory, "B2B: %s: out of memory", ds_->store().path().c_str());
        return CE_Failure;
    }
}

CPLErr B2BRasterBand::read_blocks(int x, int y, int xsize, int ysize, void* data, GDALDataType buf_type,
                                  GSpacing pixel_space, GSpacing line_space, GDALRasterIOExtraArg* extra) {
    const int c0 = x / nBlockXSize, c1 = (x + xsize - 1) / nBlockXSize;
    const int r0 = y / nBlockYSize, r1 = (y + ysize - 1) / nBlockYSize;
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
    // Each thread holds a block, its stream and planes, and the codec's own lanes: bound them all
    // by a share of the memory (8192 x 8192 complex blocks are 1 GiB each).
    const double per_thread = 4.0 * double(block_bytes);
    const double budget = std::max(double(256 << 20), double(CPLGetUsablePhysicalRAM()) / 4);
    const int by_memory = int(std::max(1.0, budget / per_thread));
    const int nthreads = int(std::min<std::size_t>(std::size_t(std::min(ds_->threads(), by_memory)), jobs.size()));
    CPLDebug("B2B", "%s: %d blocks on %d threads (memory allows %d)", ds_->store().path().c_str(), int(jobs.size()),
             nthreads, by_memory);
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
