// The raster layout of a .b2b (codec/CONTAINER.md, "raster"): names of arrays and groups, the
// mapping between GDAL data types and Zarr data types, and access to the container's keys.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "cpl_json.h"
#include "cpl_vsi.h"
#include "gdal.h"

#include "byte2bit/byte2bit.hpp"

namespace b2b_gdal {

constexpr int raster_format_version = 1;
constexpr const char* layout_raster = "raster";    // one raster in the group
constexpr const char* layout_rasters = "rasters";  // named raster subgroups (subdatasets)

// Largest metadata document and largest chunk stream we read: bounds memory on hostile files.
constexpr std::size_t max_json_bytes = 64u << 20;
constexpr int max_block_size = 8192;
constexpr int min_block_size = 16;

// How a GDAL band type is stored. Complex integers, which Zarr lacks, are stored as a leading
// axis of two planes (real, imaginary); everything else maps to one Zarr/Byte2Bit dtype.
struct storage_type {
    GDALDataType gdal = GDT_Unknown;
    bool signed_byte = false;         // GDAL < 3.7: Byte with PIXELTYPE=SIGNEDBYTE
    byte2bit::dtype codec = byte2bit::dtype::uint8;
    const char* zarr = "";            // Zarr v3 data_type
    bool planes = false;              // complex integer as (2, y, x)
    int item_bytes = 1;               // bytes of one GDAL pixel
};

// Name of the storage for a GDAL type ("UInt16", "CInt16", "Int8"); false if not storable.
bool storage_for_gdal(GDALDataType type, bool signed_byte, storage_type& out);
// Storage from the stored name of the GDAL type; false for an unknown name.
bool storage_from_name(const std::string& name, storage_type& out);
std::string storage_name(const storage_type& t);

std::string band_array(int band);                     // "band_1"
std::string overview_group(int level);                // "overview_1"
constexpr const char* mask_array = "mask";
// Zarr v3 default chunk key for a 2-D array (or 3-D with the complex planes axis).
std::string chunk_key(const std::string& array, int row, int col, bool planes);

// Read access to a .b2b in either form (zip file or directory), through GDAL's VSI, so /vsimem/,
// /vsicurl/ and friends work. Thread-safe: every read opens its own handle.
class store_reader {
public:
    // path: the .b2b file or directory. Returns null (with *why set) when it is neither.
    static std::unique_ptr<store_reader> open(const std::string& path, std::string* why);
    // Reads a whole key. Returns false with *why set when missing, unreadable or over max_bytes.
    bool read(const std::string& key, std::vector<GByte>& out, std::size_t max_bytes, std::string* why) const;
    const std::string& path() const { return path_; }

private:
    std::string path_, root_;
    bool zip_ = false;
};

// Writes keys into a zip file (stored entries) or a directory; the caller handles atomic rename.
class store_writer {
public:
    static std::unique_ptr<store_writer> create(const std::string& path, bool zip);
    ~store_writer();
    bool put(const std::string& key, const void* data, std::size_t size);
    bool put(const std::string& key, const std::string& text) { return put(key, text.data(), text.size()); }
    bool close();

private:
    std::string path_;
    bool zip_ = false;
    void* zip_handle_ = nullptr;
};

// JSON numbers pass through json-c with 15 digits; doubles are kept as "%.17g" strings, exactly.
std::string exact(double value);
// A double written by exact() (or a plain JSON number); `fallback` when absent.
double exact_value(const CPLJSONObject& value, double fallback);

// JSON helpers: CPLJSONObject splits names on "/", so metadata is kept as [key, value] pairs.
CPLJSONArray string_pairs(CSLConstList list);
char** string_list_from_pairs(const CPLJSONArray& pairs);

}  // namespace b2b_gdal
