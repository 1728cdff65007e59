#include "header.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#define XXH_INLINE_ALL  // header-only: nothing to link, no symbols exported
#include <xxhash.h>

namespace byte2bit {
namespace detail {

bool is_valid_dtype(std::uint8_t code) { return code >= 1 && code <= 15; }

bool is_float(dtype t) { return t == dtype::float16 || t == dtype::float32 || t == dtype::float64; }

bool is_complex(dtype t) { return t == dtype::complex64 || t == dtype::complex128; }

void finish_header(header& h) {
    if (h.shape.size() > std::size_t(max_ndim))
        fail(errc::limit_exceeded, "array has " + std::to_string(h.shape.size()) +
                                       " dimensions; at most 32 are supported");
    const std::size_t fixed = dtype_size(h.type);
    if (h.type == dtype::bytes) {
        if (h.item_size == 0 || h.item_size > max_item_size)
            fail(errc::invalid_argument, "byte strings need an item size from 1 to 1048576, got " +
                                             std::to_string(h.item_size));
    } else if (h.item_size != fixed) {
        fail(errc::corrupt, "item size " + std::to_string(h.item_size) + " does not match dtype " +
                                dtype_name(h.type));
    }
    if (h.level != 0 && h.level != 1 && h.level != 2 && h.level != 4)
        fail(errc::invalid_argument, "level must be 0, 1, 2 or 4, got " + std::to_string(h.level));
    if (h.flags & ~std::uint8_t(flag_quantized | flag_decimal | flag_lattice | flag_reserved))
        fail(errc::corrupt, "reserved flag bits are set");
    if (h.reserved() && (!h.quantized() || h.version < 2))
        fail(errc::corrupt, "reserved values need a quantized stream of format version 2 or later");
    const bool numeric_real = is_float(h.type) || is_complex(h.type);
    if (h.lattice() && (h.integerized() || !numeric_real))
        fail(errc::corrupt, "lattice storage is only for lossless float or complex data");
    if (h.quantized()) {
        if (h.decimal()) fail(errc::invalid_argument, "quantize_scale and decimal digits exclude each other");
        if (!numeric_real)
            fail(errc::invalid_argument, std::string("quantize_scale > 0 needs float or complex data, not ") +
                                             dtype_name(h.type));
        if (h.level != 1)
            fail(errc::invalid_argument, "quantize_scale > 0 (error-bounded mode) needs level 1, got level " +
                                             std::to_string(h.level));
        if (!(std::isfinite(h.quantize_scale) && h.quantize_scale > 0))
            fail(errc::invalid_argument, "quantize_scale must be a finite number > 0");
    } else if (h.quantize_scale != 0.0) {
        fail(errc::invalid_argument, "quantize_scale must be 0 (lossless) or > 0 (error-bounded)");
    }
    if (h.decimal()) {
        if (!numeric_real)
            fail(errc::invalid_argument, std::string("decimal digits need float or complex data, not ") +
                                             dtype_name(h.type));
        if (h.decimal_digits < 0 || h.decimal_digits > max_decimal_digits)
            fail(errc::invalid_argument, "decimal digits must be 0 to 18");
    } else if (h.decimal_digits != 0) {
        fail(errc::corrupt, "decimal digits set without the decimal flag");
    }
    std::uint64_t count = 1;
    for (std::uint64_t d : h.shape) {
        if (d != 0 && count > max_raw_size / d)
            fail(errc::limit_exceeded, "array is larger than 1 TiB, the limit of one stream");
        count *= d;
    }
    if (count > max_raw_size / h.item_size)
        fail(errc::limit_exceeded, "array is larger than 1 TiB, the limit of one stream");
    h.count = count;
    h.raw_size = count * h.item_size;
}

void write_header(byte_writer& w, header& h) {
    const std::size_t start = w.bytes.size();
    w.append(magic, 4);
    w.u8(std::uint8_t(h.version));
    std::uint64_t scale_bits;
    std::memcpy(&scale_bits, &h.quantize_scale, 8);
    if (h.version >= compact_header_version) {
        w.u64(h.checksum);
        w.u8(std::uint8_t(h.type));
        w.u8(std::uint8_t(h.level));
        w.u8(h.flags);
        w.u8(std::uint8_t(h.shape.size()));
        w.varint(h.payload_size);
        for (std::uint64_t d : h.shape) w.varint(d);
        if (h.type == dtype::bytes) w.varint(h.item_size);
        if (h.decimal()) w.u8(std::uint8_t(h.decimal_digits));
        if (h.quantized()) w.u64(scale_bits);
    } else {
        w.u8(std::uint8_t(h.type));
        w.u8(std::uint8_t(h.level));
        w.u8(h.flags);
        w.u8(std::uint8_t(h.shape.size()));
        w.u8(std::uint8_t(h.decimal_digits));
        w.u8(0);
        w.u8(0);
        w.u32(h.item_size);
        w.u64(scale_bits);
        w.u64(h.payload_size);
        w.u64(h.checksum);
        for (std::uint64_t d : h.shape) w.u64(d);
    }
    h.size = w.bytes.size() - start;
}

header read_header(const std::uint8_t* data, std::size_t size) {
    byte_reader r(data, size);
    if (size < 4 || std::memcmp(data, magic, 4) != 0)
        fail(errc::bad_magic, "not a Byte2Bit stream (bad magic bytes)");
    r.take(4, "header");
    header h;
    h.version = r.u8("header");
    if (h.version == 0) fail(errc::corrupt, "format version 0 is invalid");
    if (h.version > format_version)
        fail(errc::unsupported_version,
             "stream has format version " + std::to_string(h.version) + ", this library reads up to " +
                 std::to_string(format_version) + "; upgrade byte2bit");
    if (h.version >= compact_header_version) h.checksum = r.u64("header");
    const std::uint8_t code = r.u8("header");
    if (!is_valid_dtype(code)) fail(errc::unsupported_dtype, "unknown dtype code " + std::to_string(code));
    h.type = dtype(code);
    h.level = r.u8("header");
    h.flags = r.u8("header");
    const int ndim = r.u8("header");
    if (ndim > max_ndim) fail(errc::corrupt, "ndim " + std::to_string(ndim) + " exceeds 32");
    h.shape.resize(std::size_t(ndim));
    if (h.version >= compact_header_version) {
        // Absent fields keep their defaults: item size the dtype's, no decimal digits, scale 0.
        h.payload_size = r.varint("header");
        for (auto& d : h.shape) d = r.varint("header shape");
        h.item_size = h.type == dtype::bytes ? std::uint32_t(std::min<std::uint64_t>(r.varint("header"), max_item_size + 1))
                                             : std::uint32_t(dtype_size(h.type));
        if (h.decimal()) h.decimal_digits = r.u8("header");
        if (h.quantized()) {
            const std::uint64_t scale_bits = r.u64("header");
            std::memcpy(&h.quantize_scale, &scale_bits, 8);
        }
    } else {
        h.decimal_digits = r.u8("header");
        if (r.u8("header") != 0 || r.u8("header") != 0) fail(errc::corrupt, "reserved header bytes are not zero");
        h.item_size = r.u32("header");
        const std::uint64_t scale_bits = r.u64("header");
        std::memcpy(&h.quantize_scale, &scale_bits, 8);
        h.payload_size = r.u64("header");
        h.checksum = r.u64("header");
        for (auto& d : h.shape) d = r.u64("header shape");
    }
    h.size = size - r.remaining();
    try {
        finish_header(h);
    } catch (const error& e) {  // what is a bad argument to the encoder is a corrupt header here
        if (e.code() != errc::invalid_argument) throw;
        fail(errc::corrupt, std::string("corrupt header: ") + e.what());
    }
    if (h.payload_size > r.remaining())
        fail(errc::truncated, "stream truncated: payload declares " + std::to_string(h.payload_size) +
                                  " bytes, " + std::to_string(r.remaining()) + " present");
    if (h.payload_size < r.remaining())
        fail(errc::corrupt, "stream has " + std::to_string(r.remaining() - h.payload_size) +
                                " bytes after its payload");
    return h;
}

std::uint64_t stream_checksum(const std::uint8_t* stream, std::size_t size) {
    const std::size_t at = checksum_offset(stream[4]);
    XXH3_state_t state;
    XXH3_64bits_reset(&state);
    XXH3_64bits_update(&state, stream, at);
    XXH3_64bits_update(&state, stream + at + 8, size - at - 8);
    return XXH3_64bits_digest(&state);
}

void seal(std::uint8_t* stream, std::size_t size) {
    const std::uint64_t sum = stream_checksum(stream, size);
    for (int i = 0; i < 8; ++i) stream[checksum_offset(stream[4]) + std::size_t(i)] = std::uint8_t(sum >> (8 * i));
}

}  // namespace detail
}  // namespace byte2bit
