// The raster layout of a .b2b (codec/CONTAINER.md, "raster"): names of arrays and groups, the
// mapping between GDAL data types and Zarr data types, and access to the container's keys.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "cpl_json.h"
#include "cpl_string.h"
#include "gdal.h"

#include "byte2bit/byte2bit.hpp"

namespace b2b_gdal {

// 1: the first layouts. 2: every container has a manifest (__manifest__), and every chunk of
// every array is written.
constexpr int container_format_version = 2;
constexpr const char* layout_raster = "raster";    // one raster in the group
constexpr const char* layout_rasters = "rasters";  // named raster subgroups (subdatasets)

// Bounds on what a metadata document may hold (hostile files): bytes, JSON values and nesting.
constexpr std::size_t max_json_bytes = 16u << 20;
constexpr std::size_t max_json_values = 1u << 20;
constexpr int max_json_depth = 32;
// Bands times (1 + overview levels): GDAL band objects one dataset may create.
constexpr long max_band_objects = 1 << 17;
constexpr int max_overview_levels = 32;
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

// JSON numbers pass through json-c with 15 digits; doubles are kept as "%.17g" strings, exactly.
std::string exact(double value);
// A double written by exact() (or a plain JSON number): false when it is neither.
bool exact_value(const CPLJSONObject& value, double& out);

// Whether a JSON text stays within max_json_values values and max_json_depth levels, counted
// before json-c builds objects (each costs far more than its bytes).
bool json_within_limits(const GByte* text, std::size_t size);

// JSON helpers: CPLJSONObject splits names on "/", so metadata is kept as [key, value] pairs.
CPLJSONArray string_pairs(CSLConstList list);
// The pairs as a GDAL string list; false when an element is not a pair of strings.
bool string_list_from_pairs(const CPLJSONArray& pairs, CPLStringList& out);

}  // namespace b2b_gdal
