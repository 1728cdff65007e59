// The stream header (FORMAT.md, "Header") and the facts derived from it.
#pragma once

#include <cstdint>
#include <vector>

#include "byte2bit/byte2bit.hpp"
#include "io.hpp"

namespace byte2bit {
namespace detail {

constexpr std::uint8_t magic[4] = {'B', '2', 'B', 0x1A};
// Versions 1-5 have a fixed header of 40 bytes plus 8 per dimension, the checksum at byte 32.
// From version 6 the header is compact (FORMAT.md 1.2): the checksum right after the version, sizes
// as varints, fields a stream does not use left out. It saves 34 bytes on a 2-D stream, which is
// most of a constant tile.
constexpr int compact_header_version = 6;
inline std::size_t checksum_offset(int version) { return version >= compact_header_version ? 5 : 32; }
constexpr int max_ndim = 32;
constexpr std::uint32_t max_item_size = 1u << 20;     // longest fixed-size byte string
constexpr std::uint64_t max_raw_size = 1ull << 40;    // 1 TiB per stream
constexpr int max_decimal_digits = 18;

enum flag_bits : std::uint8_t { flag_quantized = 1, flag_decimal = 2, flag_lattice = 4, flag_reserved = 8 };
constexpr std::size_t max_reserved_values = 16;  // exact values of one quantized stream

struct header {
    int version = 1;  // a writer writes the lowest version that holds what the stream uses
    dtype type = dtype::uint8;
    int level = 4;
    std::uint8_t flags = 0;
    int decimal_digits = 0;
    std::uint32_t item_size = 0;  // bytes per element
    double quantize_scale = 0.0;
    std::uint64_t payload_size = 0;
    std::uint64_t checksum = 0;
    std::vector<std::uint64_t> shape;

    // Derived.
    std::uint64_t count = 1;  // elements
    std::uint64_t raw_size = 0;
    std::size_t size = 0;     // header bytes (set by write_header and read_header)

    bool quantized() const { return flags & flag_quantized; }
    bool decimal() const { return flags & flag_decimal; }
    bool lattice() const { return flags & flag_lattice; }
    bool integerized() const { return flags & (flag_quantized | flag_decimal); }
    bool reserved() const { return flags & flag_reserved; }
};

bool is_valid_dtype(std::uint8_t code);
bool is_float(dtype t);    // float16/32/64
bool is_complex(dtype t);

// Validates the fields and fills the derived ones; `what` prefixes messages.
void finish_header(header& h);
void write_header(byte_writer& w, header& h);  // the layout of h.version; checksum written as h.checksum
header read_header(const std::uint8_t* data, std::size_t size);  // does not check the checksum

// XXH3-64 of the whole stream except the 8 checksum bytes. The stream's header has been read.
std::uint64_t stream_checksum(const std::uint8_t* stream, std::size_t size);
// Writes the checksum of a stream into its header (the encoder, and tests that reseal streams); the
// stream holds at least checksum_offset(its version) + 8 bytes.
void seal(std::uint8_t* stream, std::size_t size);

}  // namespace detail
}  // namespace byte2bit
