// Residuals of method 2 and 4 tokens with their raw bits, eight lanes at a time (AVX2): the token
// arithmetic of FORMAT.md 5.1 on vectors, each lane's bit position from a prefix sum of the bit
// counts, and its bits gathered from the bytes at that position, so that no lane waits on the
// reader state of the one before it. The same residuals as token_tables::residual, one by one.
#pragma once

#include <cstdint>

#include "entropy.hpp"
#include "io.hpp"

namespace byte2bit {
namespace detail {

// Whether this CPU and SIMD level read tokens of 8- and 16-bit lanes eight at a time.
bool token_bits_usable();

// Residuals z[0 .. i) of symbols[0 .. i), reading their raw bits from `extra`, for the largest i
// <= n (a multiple of 8) whose bits lie safely inside the data; the reader is left after them.
// Returns i: the caller reads the rest one by one.
template <class U>
std::uint64_t token_residuals8(const std::uint8_t* symbols, std::uint64_t n, token_config split, bit_reader& extra,
                               U* z);

}  // namespace detail
}  // namespace byte2bit
