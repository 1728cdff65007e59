// Entropy coding of residual lanes (FORMAT.md, "Method 1: bit packing", "Method 2: context rANS").
#pragma once

#include <cstdint>
#include <vector>

#include "io.hpp"
#include "lanes.hpp"
#include "predict.hpp"

namespace byte2bit {
namespace detail {

// Method 1: groups of 32 residuals, each packed at the bit width of its largest member.
template <class U>
void bitpack_encode(const U* z, std::uint64_t n, byte_writer& out);
template <class U>
void bitpack_decode(byte_reader& in, U* z, std::uint64_t n);

// Method 2: residuals as tokens (a small symbol plus raw extra bits), the symbols coded with rANS
// under statistics chosen per context, the context being the size of the residuals above.
// max_contexts: at most 16 frequency tables.
template <class U>
void ans_encode(const U* z, const lane_layout& layout, int max_contexts, byte_writer& out);
// Decodes residuals and undoes prediction `p` as it goes: writes the lanes themselves to `x`.
template <class U>
void ans_decode(byte_reader& in, U* x, const lane_layout& layout, predictor p);

// Estimated coded size in bits, for choosing a predictor: context-conditional token entropy plus
// extra bits, without table costs.
template <class U>
double ans_estimate_bits(const U* z, const lane_layout& layout);

}  // namespace detail
}  // namespace byte2bit
