#include "b2b_layout.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "cpl_conv.h"
#include "cpl_string.h"

namespace b2b_gdal {
namespace {

struct type_row {
    const char* name;
    GDALDataType gdal;
    bool signed_byte;
    byte2bit::dtype codec;
    const char* zarr;
    bool planes;
    int item_bytes;
};

#if GDAL_VERSION_NUM >= 3070000
constexpr GDALDataType int8_type = GDT_Int8;
#else
constexpr GDALDataType int8_type = GDT_Byte;  // with PIXELTYPE=SIGNEDBYTE
#endif

const type_row type_table[] = {
    {"Byte", GDT_Byte, false, byte2bit::dtype::uint8, "uint8", false, 1},
    {"Int8", int8_type, int8_type == GDT_Byte, byte2bit::dtype::int8, "int8", false, 1},
    {"UInt16", GDT_UInt16, false, byte2bit::dtype::uint16, "uint16", false, 2},
    {"Int16", GDT_Int16, false, byte2bit::dtype::int16, "int16", false, 2},
    {"UInt32", GDT_UInt32, false, byte2bit::dtype::uint32, "uint32", false, 4},
    {"Int32", GDT_Int32, false, byte2bit::dtype::int32, "int32", false, 4},
    {"UInt64", GDT_UInt64, false, byte2bit::dtype::uint64, "uint64", false, 8},
    {"Int64", GDT_Int64, false, byte2bit::dtype::int64, "int64", false, 8},
    {"Float32", GDT_Float32, false, byte2bit::dtype::float32, "float32", false, 4},
    {"Float64", GDT_Float64, false, byte2bit::dtype::float64, "float64", false, 8},
    {"CInt16", GDT_CInt16, false, byte2bit::dtype::int16, "int16", true, 4},
    {"CInt32", GDT_CInt32, false, byte2bit::dtype::int32, "int32", true, 8},
    {"CFloat32", GDT_CFloat32, false, byte2bit::dtype::complex64, "complex64", false, 8},
    {"CFloat64", GDT_CFloat64, false, byte2bit::dtype::complex128, "complex128", false, 16},
};

storage_type from_row(const type_row& r) {
    storage_type t;
    t.gdal = r.gdal;
    t.signed_byte = r.signed_byte;
    t.codec = r.codec;
    t.zarr = r.zarr;
    t.planes = r.planes;
    t.item_bytes = r.item_bytes;
    return t;
}

}  // namespace

bool storage_for_gdal(GDALDataType type, bool signed_byte, storage_type& out) {
    for (const auto& r : type_table)
        if (r.gdal == type && r.signed_byte == (signed_byte && type == GDT_Byte)) {
            out = from_row(r);
            return true;
        }
    return false;
}

bool storage_from_name(const std::string& name, storage_type& out) {
    for (const auto& r : type_table)
        if (name == r.name) {
            out = from_row(r);
            return true;
        }
    return false;
}

std::string storage_name(const storage_type& t) {
    for (const auto& r : type_table)
        if (r.gdal == t.gdal && r.signed_byte == t.signed_byte) return r.name;
    return "";
}

std::string band_array(int band) { return "band_" + std::to_string(band); }
std::string overview_group(int level) { return "overview_" + std::to_string(level); }

std::string chunk_key(const std::string& array, int row, int col, bool planes) {
    return array + (planes ? "/c/0/" : "/c/") + std::to_string(row) + "/" + std::to_string(col);
}

std::unique_ptr<store_reader> store_reader::open(const std::string& path, std::string* why) {
    VSIStatBufL st;
    if (VSIStatL(path.c_str(), &st) != 0) {
        *why = "no such file or directory";
        return nullptr;
    }
    auto r = std::unique_ptr<store_reader>(new store_reader());
    r->path_ = path;
    r->zip_ = !VSI_ISDIR(st.st_mode);
    r->root_ = r->zip_ ? "/vsizip/{" + path + "}" : path;
    return r;
}

bool store_reader::read(const std::string& key, std::vector<GByte>& out, std::size_t max_bytes,
                        std::string* why) const {
    const std::string name = root_ + "/" + key;
    VSILFILE* fp = VSIFOpenL(name.c_str(), "rb");
    if (!fp) {
        *why = "missing entry " + key;
        return false;
    }
    bool ok = VSIFSeekL(fp, 0, SEEK_END) == 0;
    const vsi_l_offset size = ok ? VSIFTellL(fp) : 0;
    if (ok && size > max_bytes) {
        *why = "entry " + key + " is " + std::to_string(size) + " bytes, more than the " +
               std::to_string(max_bytes) + " its content allows";
        VSIFCloseL(fp);
        return false;
    }
    if (ok) {
        out.resize(std::size_t(size));
        ok = VSIFSeekL(fp, 0, SEEK_SET) == 0 && VSIFReadL(out.data(), 1, out.size(), fp) == out.size();
    }
    VSIFCloseL(fp);
    if (!ok) *why = "cannot read entry " + key + " (truncated file?)";
    return ok;
}

std::unique_ptr<store_writer> store_writer::create(const std::string& path, bool zip) {
    auto w = std::unique_ptr<store_writer>(new store_writer());
    w->path_ = path;
    w->zip_ = zip;
    if (zip) {
        w->zip_handle_ = CPLCreateZip(path.c_str(), nullptr);
        if (!w->zip_handle_) return nullptr;
    } else if (VSIMkdir(path.c_str(), 0755) != 0) {
        return nullptr;
    }
    return w;
}

store_writer::~store_writer() {
    if (zip_handle_) CPLCloseZip(zip_handle_);
}

bool store_writer::put(const std::string& key, const void* data, std::size_t size) {
    if (zip_) {
        // Stored, uncompressed entries: the chunks are compressed already, and readers seek into them.
        const char* const options[] = {"COMPRESSED=NO", nullptr};
        if (CPLCreateFileInZip(zip_handle_, key.c_str(), const_cast<char**>(options)) != CE_None) return false;
        const auto* p = static_cast<const GByte*>(data);
        bool ok = true;
        for (std::size_t done = 0; ok && done < size;) {  // CPLWriteFileInZip takes an int size
            const int n = int(std::min<std::size_t>(size - done, 1u << 30));
            ok = CPLWriteFileInZip(zip_handle_, p + done, n) == CE_None;
            done += std::size_t(n);
        }
        return CPLCloseFileInZip(zip_handle_) == CE_None && ok;
    }
    const std::string name = path_ + "/" + key;
    const std::string dir = CPLGetPath(name.c_str());
    VSIStatBufL st;
    if (VSIStatL(dir.c_str(), &st) != 0 && VSIMkdirRecursive(dir.c_str(), 0755) != 0) return false;
    VSILFILE* fp = VSIFOpenL(name.c_str(), "wb");
    if (!fp) return false;
    const bool ok = VSIFWriteL(data, 1, size, fp) == size;
    return VSIFCloseL(fp) == 0 && ok;
}

bool store_writer::close() {
    if (!zip_handle_) return true;
    const bool ok = CPLCloseZip(zip_handle_) == CE_None;
    zip_handle_ = nullptr;
    return ok;
}

std::string exact(double value) {
    if (std::isnan(value)) return "nan";
    if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
    return CPLSPrintf("%.17g", value);
}

double exact_value(const CPLJSONObject& value, double fallback) {
    if (!value.IsValid()) return fallback;
    if (value.GetType() == CPLJSONObject::Type::String) return CPLAtof(value.ToString().c_str());
    return value.ToDouble(fallback);
}

CPLJSONArray string_pairs(CSLConstList list) {
    CPLJSONArray pairs;
    for (CSLConstList p = list; p && *p; ++p) {
        char* key = nullptr;
        const char* value = CPLParseNameValue(*p, &key);
        if (!key || !value) {
            CPLFree(key);
            continue;
        }
        CPLJSONArray pair;
        pair.Add(std::string(key));
        pair.Add(std::string(value));
        pairs.Add(pair);
        CPLFree(key);
    }
    return pairs;
}

char** string_list_from_pairs(const CPLJSONArray& pairs) {
    CPLStringList list;
    for (int i = 0; i < pairs.Size(); ++i) {
        const CPLJSONArray pair = pairs[i].ToArray();
        if (pair.Size() != 2) continue;
        list.SetNameValue(pair[0].ToString().c_str(), pair[1].ToString().c_str());
    }
    return list.StealList();
}

}  // namespace b2b_gdal
