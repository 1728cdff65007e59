// Byte2Bit: lossless and error-bounded compression of numeric arrays.
//
// One call encodes one array (one chunk) into one self-describing stream; one call decodes it.
// The byte layout of a stream is specified in codec/FORMAT.md.
//
// Ownership: every function reads only the buffers it is given, for the duration of the call, and
// keeps no reference to them. encode() returns a new buffer owned by the caller; decode() writes
// into the caller's buffer and nowhere else.
//
// Thread safety: there is no global mutable state. Any number of threads may encode and decode
// different streams at the same time. Functions release nothing and lock nothing.
//
// Failure: every function reports failure by throwing byte2bit::error (and nothing else, except
// std::bad_alloc when the machine is out of memory). Decoding is safe on any input: a truncated,
// corrupted or hostile stream yields an error, never a crash, hang or allocation beyond the size of
// the caller's output buffer. On error, the contents of decode()'s output buffer are unspecified.
//
// Not promised: the encoded bytes of a given array may change between library versions (a newer
// encoder may compress better); decoding of every published format version is kept forever.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace byte2bit {

// The version of the stream format this library writes (every stream it writes has this version's
// compact header). Readers accept every version up to this one and refuse newer ones with
// errc::unsupported_version.
constexpr int format_version = 9;

// The library's own version, independent of format_version.
const char* library_version() noexcept;

// Error codes are fixed forever: new codes are appended, numbers are never reused.
enum class errc : int {
    invalid_argument = 1,     // a caller's argument is out of range or inconsistent
    unsupported_dtype = 2,    // dtype code unknown, or the operation is not defined for it
    buffer_mismatch = 3,      // output buffer size or dtype does not match the stream
    truncated = 4,            // the stream ends before its declared size
    corrupt = 5,              // a field or the payload is inconsistent
    checksum_mismatch = 6,    // the payload does not match its checksum
    unsupported_version = 7,  // the stream was written by a newer format version
    limit_exceeded = 8,       // a declared size exceeds what this library accepts
    bad_magic = 9,            // the bytes are not a Byte2Bit stream
};

const char* errc_name(errc code) noexcept;

class error : public std::runtime_error {
public:
    error(errc code, const std::string& message) : std::runtime_error(message), code_(code) {}
    errc code() const noexcept { return code_; }

private:
    errc code_;
};

// Element types. The numbers are part of the format (FORMAT.md, "dtype codes").
enum class dtype : std::uint8_t {
    boolean = 1,
    int8 = 2,
    uint8 = 3,
    int16 = 4,
    uint16 = 5,
    int32 = 6,
    uint32 = 7,
    int64 = 8,
    uint64 = 9,
    float16 = 10,
    float32 = 11,
    float64 = 12,
    complex64 = 13,   // interleaved float32 (real, imaginary)
    complex128 = 14,  // interleaved float64 (real, imaginary)
    bytes = 15,       // fixed-size byte strings; item_size gives their length (1 = raw bytes)
};

// Bytes per element of a fixed-size dtype; 0 for dtype::bytes (its size is the item size).
std::size_t dtype_size(dtype t) noexcept;
// Lower-case name ("uint16", "complex64", "bytes"), or nullptr for an unknown code.
const char* dtype_name(dtype t) noexcept;

struct encode_options {
    // 0, 1, 2 or 4: lossless, 0 fastest to decode, 4 smallest (default).
    int level = 4;
    // > 0 selects the error-bounded mode (level 1, real or complex data only): every decoded value
    // lies within quantize_scale / 2 of the original; NaN and +-Inf are kept exactly.
    double quantize_scale = 0.0;
    // Values the error-bounded mode keeps exactly (a raster's nodata, a _FillValue): an input equal
    // to one is stored bit-exact, and no other input is allowed to decode to one. Ignored when lossless.
    std::vector<double> exact_values;
    // >= 0 selects fixed-point decimal storage for float data whose values are multiples of
    // 10^-decimal_digits (at most 18): stored as integers, decoded bit-exact. Values that are not
    // such multiples (and NaN, Inf) are kept exactly as exceptions, so the result is always lossless.
    int decimal_digits = -1;
};

// Encodes `nbytes` bytes at `data`, read as a C-contiguous array of `shape` with elements of type
// `type` in native (little-endian) byte order. For dtype::bytes, item_size is the length of one
// element; for other types it must be 0 or dtype_size(type). nbytes must equal the product of
// shape times the element size. At most 32 dimensions.
std::vector<std::uint8_t> encode(const void* data, std::size_t nbytes, dtype type,
                                 std::size_t item_size, const std::vector<std::uint64_t>& shape,
                                 const encode_options& options = {});

// What a stream says about itself, read from its header without decoding the payload.
struct stream_info {
    int format_version = 0;
    dtype type = dtype::uint8;
    std::size_t item_size = 0;
    std::vector<std::uint64_t> shape;
    int level = 0;
    double quantize_scale = 0.0;
    int decimal_digits = -1;
    std::uint64_t raw_size = 0;     // bytes of the decoded array
    std::uint64_t stored_size = 0;  // bytes of the whole stream, header included
    std::uint64_t checksum = 0;     // as stored
    bool checksum_checked = false;  // whether inspect() recomputed it
    bool checksum_ok = false;       // meaningful when checksum_checked
};

// Reads the header of a stream. With verify_checksum, also recomputes the checksum (cheap: no
// decoding). Throws on a malformed or truncated header; a checksum mismatch is reported in the
// result, not thrown.
stream_info inspect(const void* stream, std::size_t size, bool verify_checksum = true);

// Decodes a whole stream into `out`, which must be exactly info.raw_size bytes. When
// `expected_type` is not null it must equal the stream's dtype (errc::buffer_mismatch otherwise).
// The checksum is always verified before any output is written.
void decode(const void* stream, std::size_t size, void* out, std::size_t out_size,
            const dtype* expected_type = nullptr);

}  // namespace byte2bit
