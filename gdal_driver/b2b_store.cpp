#include "b2b_store.hpp"

#include <algorithm>
#include <cstring>

#include <libdeflate.h>

#include "cpl_conv.h"
#include "cpl_json.h"
#include "cpl_string.h"

namespace b2b_gdal {
namespace {

// Bounds on what a hostile file can make us hold before anything is decoded.
constexpr std::uint64_t max_central_directory = 256u << 20;
constexpr std::uint64_t max_manifest_bytes = 256u << 20;

std::uint16_t le16(const GByte* p) { return std::uint16_t(p[0] | p[1] << 8); }
std::uint32_t le32(const GByte* p) { return std::uint32_t(le16(p)) | std::uint32_t(le16(p + 2)) << 16; }
std::uint64_t le64(const GByte* p) { return std::uint64_t(le32(p)) | std::uint64_t(le32(p + 4)) << 32; }

// A key as a container may hold it: relative, no empty, "." or ".." parts, no control characters.
bool valid_key(const std::string& key) {
    if (key.empty() || key.size() > 1024 || key.front() == '/' || key.back() == '/') return false;
    for (unsigned char c : key)
        if (c < 0x20 || c == '\\') return false;
    for (std::size_t at = 0; at <= key.size();) {
        const std::size_t end = std::min(key.find('/', at), key.size());
        const std::string part = key.substr(at, end - at);
        if (part.empty() || part == "." || part == "..") return false;
        at = end + 1;
    }
    return true;
}

}  // namespace

std::uint32_t crc32_of(const void* data, std::size_t size) {
    return libdeflate_crc32(0, data, size);
}

// Fuzzing builds (FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION, set by tests/fuzz) accept any CRC-32,
// so that mutations reach the parsers behind the checks.
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
constexpr bool checking_crcs = false;
#else
constexpr bool checking_crcs = true;
#endif

static bool crc_ok(std::uint32_t expected, const void* data, std::size_t size) {
    return !checking_crcs || crc32_of(data, size) == expected;
}

std::unique_ptr<store_reader> store_reader::open(const std::string& path, std::string* why) {
    VSIStatBufL st;
    if (VSIStatL(path.c_str(), &st) != 0) {
        *why = "no such file or directory";
        return nullptr;
    }
    auto r = std::unique_ptr<store_reader>(new store_reader());
    r->path_ = path;
    if (VSI_ISDIR(st.st_mode)) return r;
    if (!VSI_ISREG(st.st_mode)) {
        *why = "not a regular file";
        return nullptr;
    }
    r->zip_ = true;
    r->fp_ = VSIFOpenL(path.c_str(), "rb");
    if (!r->fp_) {
        *why = "cannot open the file";
        return nullptr;
    }
    if (!r->read_central_directory(why)) return nullptr;
    return r;
}

store_reader::~store_reader() {
    if (fp_) VSIFCloseL(fp_);
}

bool store_reader::read_at(std::uint64_t offset, void* data, std::size_t size) const {
    std::lock_guard<std::mutex> lock(mutex_);
    return VSIFSeekL(fp_, offset, SEEK_SET) == 0 && VSIFReadL(data, 1, size, fp_) == size;
}

// The end of central directory record (and its zip64 form), then every central directory entry.
bool store_reader::read_central_directory(std::string* why) {
    if (VSIFSeekL(fp_, 0, SEEK_END) != 0) return *why = "cannot seek", false;
    file_size_ = VSIFTellL(fp_);
    const std::uint64_t tail = std::min<std::uint64_t>(file_size_, 22 + 65535);
    std::vector<GByte> end(static_cast<std::size_t>(tail));
    if (tail < 22 || !read_at(file_size_ - tail, end.data(), end.size()))
        return *why = "not a zip archive (too short)", false;
    std::size_t eocd = std::string::npos;
    for (std::size_t i = end.size() - 22 + 1; i-- > 0;)
        if (le32(&end[i]) == 0x06054b50 && i + 22 + le16(&end[i + 20]) == end.size()) {
            eocd = i;
            break;
        }
    if (eocd == std::string::npos) return *why = "not a zip archive, or a truncated one (no end record)", false;
    const GByte* e = &end[eocd];
    if (le16(e + 4) != 0 || le16(e + 6) != 0) return *why = "multi-volume zip archives are not supported", false;
    std::uint64_t count = le16(e + 10), cd_size = le32(e + 12), cd_offset = le32(e + 16);
    if (count == 0xFFFF || cd_size == 0xFFFFFFFF || cd_offset == 0xFFFFFFFF) {  // zip64
        const std::uint64_t locator = file_size_ - tail + eocd;
        GByte loc[20], z64[56];
        if (locator < 20 || !read_at(locator - 20, loc, 20) || le32(loc) != 0x07064b50)
            return *why = "damaged zip64 end record", false;
        const std::uint64_t at = le64(loc + 8);
        if (at + 56 > file_size_ || !read_at(at, z64, 56) || le32(z64) != 0x06064b50)
            return *why = "damaged zip64 end record", false;
        count = le64(z64 + 32);
        cd_size = le64(z64 + 40);
        cd_offset = le64(z64 + 48);
    }
    if (cd_size > max_central_directory || cd_offset > file_size_ || cd_size > file_size_ - cd_offset ||
        count > cd_size / 46)
        return *why = "damaged zip central directory (sizes out of range)", false;
    std::vector<GByte> cd(static_cast<std::size_t>(cd_size));
    if (!read_at(cd_offset, cd.data(), cd.size())) return *why = "cannot read the zip central directory", false;
    std::size_t p = 0;
    for (std::uint64_t i = 0; i < count; ++i) {
        if (cd.size() - p < 46 || le32(&cd[p]) != 0x02014b50)
            return *why = "damaged zip central directory (entry " + std::to_string(i) + ")", false;
        const GByte* h = &cd[p];
        const std::uint16_t flags = le16(h + 8), method = le16(h + 10);
        const std::size_t name_len = le16(h + 28), extra_len = le16(h + 30), comment_len = le16(h + 32);
        if (cd.size() - p - 46 < name_len + extra_len + comment_len)
            return *why = "damaged zip central directory (entry " + std::to_string(i) + ")", false;
        const std::string key(reinterpret_cast<const char*>(h + 46), name_len);
        zip_entry entry;
        entry.crc = le32(h + 16);
        std::uint64_t compressed = le32(h + 20), size = le32(h + 24), offset = le32(h + 42);
        // Zip64 extra field: the 64-bit values of the fields that read 0xFFFFFFFF, in this order.
        for (std::size_t x = 0; x + 4 <= extra_len;) {
            const GByte* f = h + 46 + name_len + x;
            const std::size_t len = le16(f + 2);
            if (x + 4 + len > extra_len) break;
            if (le16(f) == 0x0001) {
                std::size_t k = 4;
                for (std::uint64_t* v : {&size, &compressed, &offset})
                    if (*v == 0xFFFFFFFF) {
                        if (k + 8 > 4 + len) return *why = "damaged zip64 field of " + key, false;
                        *v = le64(f + k);
                        k += 8;
                    }
            }
            x += 4 + len;
        }
        if (!valid_key(key)) return *why = "invalid entry name in the zip archive", false;
        if (method != 0 || compressed != size)
            return *why = "entry " + key + " is compressed (method " + std::to_string(method) +
                          "); a .b2b stores its entries uncompressed", false;
        if (flags & 1) return *why = "entry " + key + " is encrypted", false;
        if (offset >= file_size_ || size > file_size_ - offset)
            return *why = "entry " + key + " lies outside the file", false;
        entry.header_offset = offset;
        entry.size = size;
        entry.header_guess = std::uint32_t(30 + name_len + extra_len);
        if (!entries_.emplace(key, entry).second)
            return *why = "the zip archive holds " + key + " twice", false;
        p += 46 + name_len + extra_len + comment_len;
    }
    return true;
}

// One read of the local header and the data together (one range request over HTTP), guessing the
// local header's size from the central entry; a header of another size costs a second read.
bool store_reader::read_zip_entry(const std::string& key, const zip_entry& e, std::vector<GByte>& out,
                                  std::size_t* start, std::string* why) const {
    const std::uint64_t guess = std::min<std::uint64_t>(e.header_guess + e.size, file_size_ - e.header_offset);
    if (guess < 30) return *why = "damaged local header of entry " + key, false;
    out.resize(std::size_t(guess));
    if (!read_at(e.header_offset, out.data(), out.size()) || le32(out.data()) != 0x04034b50 || le16(out.data() + 8) != 0)
        return *why = "damaged local header of entry " + key, false;
    const std::uint64_t header = 30 + std::uint64_t(le16(out.data() + 26)) + le16(out.data() + 28);
    const std::uint64_t data = e.header_offset + header;
    if (data > file_size_ || e.size > file_size_ - data)
        return *why = "entry " + key + " lies outside the file (truncated file?)", false;
    if (header == e.header_guess) {
        *start = std::size_t(header);
    } else {
        *start = 0;
        out.resize(std::size_t(e.size));
        if (!read_at(data, out.data(), out.size())) return *why = "cannot read entry " + key, false;
    }
    if (!crc_ok(e.crc, out.data() + *start, out.size() - *start))
        return *why = "entry " + key + " fails its CRC-32 check", false;
    return true;
}

bool store_reader::read_file(const std::string& key, std::vector<GByte>& out, std::size_t max_bytes,
                             std::string* why) const {
    const std::string name = path_ + "/" + key;
    VSIStatBufL st;
    if (VSIStatL(name.c_str(), &st) != 0) return *why = "missing entry " + key, false;
    // Never open a FIFO or a device (a read could hang or never end).
    if (!VSI_ISREG(st.st_mode)) return *why = key + " is not a regular file", false;
    if (std::uint64_t(st.st_size) > max_bytes)
        return *why = "entry " + key + " is " + std::to_string(st.st_size) + " bytes, more than the " +
                      std::to_string(max_bytes) + " its content allows", false;
    VSILFILE* fp = VSIFOpenL(name.c_str(), "rb");
    if (!fp) return *why = "cannot open entry " + key, false;
    out.resize(std::size_t(st.st_size));
    // One byte more than expected must not be there: the file changed size since the stat.
    GByte extra;
    const bool ok = VSIFReadL(out.data(), 1, out.size(), fp) == out.size() && VSIFReadL(&extra, 1, 1, fp) == 0;
    VSIFCloseL(fp);
    if (!ok) return *why = "cannot read entry " + key + " (changed while read?)", false;
    return true;
}

bool store_reader::read(const std::string& key, std::vector<GByte>& out, std::size_t max_bytes, std::string* why,
                        std::size_t* start) const {
    const listed* expect = nullptr;
    if (!manifest_.empty()) {
        const auto m = manifest_.find(key);
        if (m == manifest_.end()) return *why = "missing entry " + key + " (not in the manifest)", false;
        expect = &m->second;
    }
    std::size_t at = 0;
    if (zip_) {
        const auto it = entries_.find(key);
        if (it == entries_.end()) return *why = "missing entry " + key, false;
        if (it->second.size > max_bytes)
            return *why = "entry " + key + " is " + std::to_string(it->second.size) + " bytes, more than the " +
                          std::to_string(max_bytes) + " its content allows", false;
        // The entry's own CRC-32 equals the manifest's (load_manifest() checked), so one check is both.
        if (!read_zip_entry(key, it->second, out, &at, why)) return false;
    } else if (!read_file(key, out, max_bytes, why)) {
        return false;
    } else if (expect && (expect->size != out.size() || !crc_ok(expect->crc, out.data(), out.size()))) {
        return *why = "entry " + key + " does not match its size and CRC-32 in the manifest", false;
    }
    if (start)
        *start = at;
    else
        out.erase(out.begin(), out.begin() + std::ptrdiff_t(at));
    return true;
}

bool store_reader::load_manifest(std::string* why) {
    manifest_.clear();
    VSIStatBufL st;
    if (zip_ ? !entries_.count(manifest_key) : VSIStatL((path_ + "/" + manifest_key).c_str(), &st) != 0)
        return true;  // no manifest: an older container
    std::vector<GByte> bytes;
    if (!read(manifest_key, bytes, max_manifest_bytes, why)) return false;
    CPLJSONDocument doc;
    bytes.push_back(0);
    CPLPushErrorHandler(CPLQuietErrorHandler);
    const bool parsed = doc.LoadMemory(bytes.data(), int(bytes.size() - 1));
    CPLPopErrorHandler();
    const CPLJSONObject m = doc.GetRoot().GetObj("attributes").GetObj("byte2bit_manifest");
    const CPLJSONObject text = m.GetObj("entries"), crc = m.GetObj("crc32");
    if (!parsed || text.GetType() != CPLJSONObject::Type::String ||
        (crc.GetType() != CPLJSONObject::Type::Integer && crc.GetType() != CPLJSONObject::Type::Long))
        return *why = std::string(manifest_key) + " is damaged", false;
    const std::string lines = text.ToString();
    if (crc.ToLong() < 0 || crc.ToLong() > 0xFFFFFFFFll || !crc_ok(std::uint32_t(crc.ToLong()), lines.data(), lines.size()))
        return *why = std::string(manifest_key) + " fails its CRC-32 check", false;
    std::size_t at = 0;
    while (at < lines.size()) {
        const std::size_t end = lines.find('\n', at);
        if (end == std::string::npos) return *why = std::string(manifest_key) + " is damaged", false;
        const std::string line = lines.substr(at, end - at);
        at = end + 1;
        const std::size_t s1 = line.find(' '), s2 = s1 == std::string::npos ? s1 : line.find(' ', s1 + 1);
        if (s1 != 8 || s2 == std::string::npos) return *why = std::string(manifest_key) + " is damaged", false;
        listed e;
        char* stop = nullptr;
        e.crc = std::uint32_t(std::strtoul(line.substr(0, 8).c_str(), &stop, 16));
        e.size = std::strtoull(line.substr(s1 + 1, s2 - s1 - 1).c_str(), &stop, 10);
        const std::string key = line.substr(s2 + 1);
        if (!valid_key(key) || !manifest_.emplace(key, e).second)
            return *why = std::string(manifest_key) + " lists an invalid or repeated key", false;
    }
    if (manifest_.empty()) return *why = std::string(manifest_key) + " lists no keys", false;
    // In a zip, every listed key must be an entry of the same size: a lost chunk is found at open.
    for (const auto& [key, e] : manifest_) {
        if (!zip_) break;
        const auto it = entries_.find(key);
        if (it == entries_.end()) return *why = "missing entry " + key + " (listed in the manifest)", false;
        if (it->second.size != e.size || (checking_crcs && it->second.crc != e.crc))
            return *why = "entry " + key + " does not match its size and CRC-32 in the manifest", false;
    }
    return true;
}

// ---------------------------------------------------------------------------------------------

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
    if (key != manifest_key)
        manifest_ += CPLSPrintf("%08x %llu %s\n", crc32_of(data, size), static_cast<unsigned long long>(size),
                                key.c_str());
    if (zip_ && key != manifest_key && (key == "zarr.json" || CPLString(key).endsWith("/zarr.json"))) {
        documents_.emplace_back(key, std::string(static_cast<const char*>(data), size));
        return true;
    }
    return put_entry(key, data, size);
}

bool store_writer::put_entry(const std::string& key, const void* data, std::size_t size) {
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
    CPLJSONObject doc, attrs, manifest;
    manifest.Add("version", 1);
    manifest.Add("entries", manifest_);
    manifest.Add("crc32", static_cast<GInt64>(crc32_of(manifest_.data(), manifest_.size())));
    attrs.Add("byte2bit_manifest", manifest);
    doc.Add("zarr_format", 3);
    doc.Add("node_type", "group");
    doc.Add("attributes", attrs);
    for (const auto& d : documents_)
        if (!put_entry(d.first, d.second.data(), d.second.size())) return false;
    documents_.clear();
    const std::string text = doc.Format(CPLJSONObject::PrettyFormat::Pretty);
    if (!put_entry(manifest_key, text.data(), text.size())) return false;
    if (!zip_handle_) return true;
    const bool ok = CPLCloseZip(zip_handle_) == CE_None;
    zip_handle_ = nullptr;
    return ok;
}

}  // namespace b2b_gdal
