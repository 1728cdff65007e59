// Entropy coding of residual lanes (FORMAT.md, "Method 1: bit packing", "Method 2: context rANS").
#pragma once

#include <cstdint>
#include <vector>

#include "io.hpp"
#include "lanes.hpp"

namespace byte2bit {
namespace detail {

// Method 1: groups of 32 residuals, each packed at the bit width of its largest member.
template <class U>
void bitpack_encode(const U* z, std::uint64_t n, byte_writer& out);
template <class U>
void bitpack_decode(byte_reader& in, U* z, std::uint64_t n);

// Method 2: residuals as tokens (a small symbol plus raw extra bits), the symbols coded with rANS
// under statistics chosen per context, the context being the size of neighbouring residuals.
enum class context_model : std::uint8_t { two_neighbours = 0, four_neighbours = 1 };
constexpr int context_model_count = 2;

struct ans_options {
    context_model model = context_model::four_neighbours;
    int max_contexts = 16;  // at most 16
};

template <class U>
void ans_encode(const U* z, const lane_layout& layout, const ans_options& options, byte_writer& out);
template <class U>
void ans_decode(byte_reader& in, U* z, const lane_layout& layout);

// Estimated coded size in bits, for choosing a predictor: context-conditional token entropy plus
// extra bits, without table costs.
template <class U>
double ans_estimate_bits(const U* z, const lane_layout& layout, context_model model);

}  // namespace detail
}  // namespace byte2bit
