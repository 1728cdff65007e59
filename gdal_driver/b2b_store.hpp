// The keys of a .b2b container, read and written through GDAL's VSI (codec/CONTAINER.md).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cpl_vsi.h"

namespace b2b_gdal {

// The reserved group whose attributes hold the manifest: every other key with its size and CRC-32.
constexpr const char* manifest_group = "__manifest__";
constexpr const char* manifest_key = "__manifest__/zarr.json";

std::uint32_t crc32_of(const void* data, std::size_t size);

// Read access to a .b2b in either form. Thread-safe.
// - Zip file: opened once; its central directory is read at open and every entry is read by offset
//   through that one handle, so a dataset sees one file for its whole life even when the path is
//   replaced under it. Entries must be stored (not deflated) and unique; every read checks CRC-32.
// - Directory: keys are regular files; with a manifest, each read checks size and CRC-32 against it
//   and a key the manifest does not list is refused.
class store_reader {
public:
    // Returns null (with *why set) when `path` is neither form or its zip structure is damaged.
    static std::unique_ptr<store_reader> open(const std::string& path, std::string* why);
    ~store_reader();
    store_reader(const store_reader&) = delete;
    store_reader& operator=(const store_reader&) = delete;

    // Reads a whole key. False with *why set when missing, unreadable, over max_bytes or damaged.
    // With `start`, the key's bytes are out[*start, out.size()) (a zip entry's local header may
    // precede them, which saves moving them); without, they are all of out.
    bool read(const std::string& key, std::vector<GByte>& out, std::size_t max_bytes, std::string* why,
              std::size_t* start = nullptr) const;
    // Loads and checks the manifest (its own CRC). False with *why set when it is damaged; a
    // container without one leaves has_manifest() false.
    bool load_manifest(std::string* why);
    bool has_manifest() const { return !manifest_.empty(); }
    bool is_zip() const { return zip_; }
    const std::string& path() const { return path_; }

private:
    struct zip_entry {
        std::uint64_t header_offset = 0, size = 0;
        std::uint32_t crc = 0;
        std::uint32_t header_guess = 30;  // local header size, if it repeats the central entry's name and extra
    };
    struct listed {
        std::uint64_t size = 0;
        std::uint32_t crc = 0;
    };
    store_reader() = default;
    bool read_central_directory(std::string* why);
    bool read_at(std::uint64_t offset, void* data, std::size_t size) const;
    bool read_zip_entry(const std::string& key, const zip_entry& e, std::vector<GByte>& out, std::size_t* start,
                        std::string* why) const;
    bool read_file(const std::string& key, std::vector<GByte>& out, std::size_t max_bytes, std::string* why) const;

    std::string path_;
    bool zip_ = false;
    VSILFILE* fp_ = nullptr;
    std::uint64_t file_size_ = 0;
    mutable std::mutex mutex_;  // guards fp_'s position
    std::map<std::string, zip_entry> entries_;
    std::map<std::string, listed> manifest_;
};

// Writes keys into a zip file (stored entries) or a directory, and the manifest last; the caller
// handles the atomic rename.
class store_writer {
public:
    static std::unique_ptr<store_writer> create(const std::string& path, bool zip);
    ~store_writer();
    bool put(const std::string& key, const void* data, std::size_t size);
    bool put(const std::string& key, const std::string& text) { return put(key, text.data(), text.size()); }
    // Writes the manifest of every key put so far, then closes the zip.
    bool close();

private:
    bool put_entry(const std::string& key, const void* data, std::size_t size);

    std::string path_;
    bool zip_ = false;
    void* zip_handle_ = nullptr;
    std::string manifest_;  // "crc32 size key" lines
    // A zip's zarr.json documents, written last next to the manifest and the central directory,
    // so that a reader gets all of them with the one read of the file's end (one HTTP request).
    std::vector<std::pair<std::string, std::string>> documents_;
};

}  // namespace b2b_gdal
