// Lanes: the unsigned integers the predictors and entropy coders work on (FORMAT.md, "Lanes").
// Every dtype maps to planes of rows x cols lanes of 8, 16, 32 or 64 bits, in an order-preserving
// way, so that neighbouring values stay neighbours and near values stay near.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "header.hpp"
#include "io.hpp"

namespace byte2bit {
namespace detail {

struct lane_layout {
    int bits = 8;  // 8, 16, 32 or 64
    std::uint64_t planes = 1, rows = 1, cols = 1;
    std::uint64_t count() const { return planes * rows * cols; }
    std::size_t bytes() const { return std::size_t(count() * std::uint64_t(bits / 8)); }
};

// Calls f(U{}) with U the unsigned integer of `bits` (8, 16, 32 or 64); any other width is corrupt.
template <class F>
void with_lane_type(int bits, F&& f) {
    switch (bits) {
        case 8: f(std::uint8_t{}); break;
        case 16: f(std::uint16_t{}); break;
        case 32: f(std::uint32_t{}); break;
        case 64: f(std::uint64_t{}); break;
        default: fail(errc::corrupt, "lane width " + std::to_string(bits) + " is invalid");
    }
}

// Lane width of a stream that is not quantized or decimal.
int natural_lane_bits(const header& h);
// Planes, rows and columns for a lane width.
lane_layout make_layout(const header& h, int bits);

// The lanes of an array for encoding. `data` points into `owned` or straight at the caller's input
// when no transform is needed.
struct encoder_lanes {
    lane_layout layout;
    const std::uint8_t* data = nullptr;
    std::vector<std::uint8_t> owned;
    byte_writer exceptions;  // the exception block, for quantized and decimal streams
    byte_writer reserved;    // the reserved values block, when the stream has reserved values
};

// Values a quantized stream keeps bit-exact under reserved lane integers base .. base + bits.size() - 1.
struct reserved_values {
    std::int64_t base = 0;
    std::vector<std::uint64_t> bits;  // component bits
};

encoder_lanes to_lanes(const std::uint8_t* input, const header& h, const std::vector<double>& exact_values = {});

// One value kept exactly outside the lanes, in lane order (component-major for complex data).
struct exception_value {
    std::uint64_t index;
    std::uint64_t bits;  // the component's raw bits
};

std::vector<exception_value> read_exceptions(byte_reader& r, const header& h);
reserved_values read_reserved_values(byte_reader& r, const header& h);

// Whether decoding can reconstruct lanes directly in the output buffer (right type and alignment).
bool lanes_in_place(const header& h, const void* out);

// Turns decoded lanes into the output array (in place when lanes == out).
void from_lanes(std::uint8_t* lanes, const lane_layout& layout, const header& h,
                const std::vector<exception_value>& exceptions, const reserved_values& reserved,
                std::uint8_t* out);

}  // namespace detail
}  // namespace byte2bit
