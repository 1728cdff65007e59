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

std::string exact(double value) {
    if (std::isnan(value)) return "nan";
    if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
    return CPLSPrintf("%.17g", value);
}

bool exact_value(const CPLJSONObject& value, double& out) {
    switch (value.GetType()) {
        case CPLJSONObject::Type::Integer:
        case CPLJSONObject::Type::Long:
        case CPLJSONObject::Type::Double:
            out = value.ToDouble();
            return true;
        case CPLJSONObject::Type::String: {
            const std::string text = value.ToString();
            char* end = nullptr;
            out = CPLStrtod(text.c_str(), &end);
            return !text.empty() && end && *end == 0;
        }
        default:
            return false;
    }
}

bool json_within_limits(const GByte* text, std::size_t size) {
    std::size_t values = 0;
    int depth = 0;
    bool in_string = false;
    for (std::size_t i = 0; i < size; ++i) {
        const GByte c = text[i];
        if (in_string) {
            if (c == '\\') ++i;
            else if (c == '"') in_string = false;
            continue;
        }
        if (c == '"') in_string = true;
        else if (c == '[' || c == '{') {
            if (++depth > max_json_depth) return false;
        } else if (c == ']' || c == '}') {
            --depth;
        }
        // Every value follows one of these (or is the first): their count bounds the values.
        if ((c == '[' || c == '{' || c == ',' || c == ':') && ++values > max_json_values) return false;
    }
    return true;
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

bool string_list_from_pairs(const CPLJSONArray& pairs, CPLStringList& out) {
    for (int i = 0; i < pairs.Size(); ++i) {
        const CPLJSONObject element = pairs[i];
        if (element.GetType() != CPLJSONObject::Type::Array) return false;
        const CPLJSONArray pair = element.ToArray();
        if (pair.Size() != 2 || pair[0].GetType() != CPLJSONObject::Type::String ||
            pair[1].GetType() != CPLJSONObject::Type::String)
            return false;
        out.SetNameValue(pair[0].ToString().c_str(), pair[1].ToString().c_str());
    }
    return true;
}

}  // namespace b2b_gdal
