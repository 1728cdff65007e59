// Method 2 and 5 decoding (and method 5's rANS encoding), eight lanes at a time with AVX2 (chosen at run time); the same
// contexts, symbols and residuals as the scalar code of ans.cpp and rans.hpp, lane by lane.
// - rANS of method 5: its 32 states as four vectors of eight; the states that renormalize take
//   the next words of the shared stream by a shuffle chosen by their mask.
// - Contexts: the activities of a row from the residuals above, their buckets from the float
//   exponent, and the buckets' contexts from a 64-byte table held in two registers.
// - Raw bits: the token arithmetic of FORMAT.md 5.1 on vectors, each lane's bit position from a
//   prefix sum of the bit counts, and its bits gathered from the bytes at that position, so that
//   no lane waits on the reader state of the one before it.
#pragma once

#include <cstdint>

#include "entropy.hpp"
#include "io.hpp"

namespace byte2bit {
namespace detail {

// Whether this CPU and SIMD level run the kernels below.
bool ans_avx2_usable();

// Decodes `groups` groups of 32 symbols of method 5 (states[0 .. 31], the next being state 0),
// fewer where the words left might not hold a group's; returns the groups decoded and moves *wp.
std::uint64_t wide_rans_groups(const std::uint32_t* table, std::uint32_t* states, const std::uint8_t** wp,
                               const std::uint8_t* wend, const std::uint8_t* ctx, std::uint8_t* symbols,
                               std::uint64_t groups);

// Method 5's encoding of lanes [0, 32 groups), backwards from the last as write_wide_rans does, with
// states[0 .. 31] (moved) and words appended at words[*used] (room for 8 more than written).
// steps[ctx << 8 | symbol]: f | start << 13. Only where ans_avx2_usable().
void wide_rans_encode_groups(const std::uint32_t* steps, const std::uint8_t* ctx, const std::uint8_t* symbols,
                             std::uint64_t groups, std::uint32_t* states, std::uint16_t* words, std::size_t* used);

// For each t < 16, adds to at_least[t] how many of z[0 .. i) are at least 2^t, for the largest
// multiple of 32 i <= n; returns i. Only where ans_avx2_usable().
std::uint64_t count_at_least_pow2(const std::uint16_t* z, std::uint64_t n, std::uint64_t* at_least);

// A bucket map seen as ranges of activity, for decoding: the context of activity q is
// ctx_of_rank[number of thresholds <= q]. Usable (count >= 0) when the map changes at most 15 times
// up to `top` and every threshold lies below 2^15, so that 16-bit sums saturating at 2^16 - 1
// compare with them as the exact sums do.
struct context_ranks {
    int count = -1;
    std::uint16_t threshold[15] = {};
    std::uint8_t ctx_of_rank[16] = {};
};
context_ranks make_context_ranks(const std::uint8_t* of_bucket, int top);

// ctx[x] = of_bucket[min(bucket_of(activity), top)] for x in [2, end), end returned (W - 2, two
// lanes inside the row's end, for W >= 12), from the residual rows above (`upup` may be null);
// of_bucket has 64 entries and top < 64.
// `ranks` (may be null) is of_bucket and top as ranges, for the AVX-512 kernel of 32 lanes.
template <class U>
std::uint64_t row_contexts8(const U* up, const U* upup, std::uint64_t W, const std::uint8_t* of_bucket, int top,
                            const context_ranks* ranks, std::uint8_t* ctx);

// Tokens (FORMAT.md 5.1) of z[0 .. i) under `split`: symbols[x] and, unless null, nbits[x] (raw
// bits), for the largest i <= n that eight lanes at a time reach; returns i. S: uint8_t, or
// uint16_t for splits whose symbols reach 256 (the encoder's fine keys, split (8, 4)).
template <class U, class S>
std::uint64_t lane_tokens8(const U* z, std::uint64_t n, token_config split, S* symbols, std::uint8_t* nbits);

// Method 4's buckets of lanes [i0, i) of a row below the first, where every lane is known
// (encoding): ans.cpp's left_bucket for interior lanes (2 <= i0, i <= W - 1), for the largest i <=
// i1 eight lanes at a time reach; returns i. activity[x]: the row's activities (below 2^21 for
// lanes of up to 16 bits), zrow its residuals.
template <class U>
std::uint64_t row_left_buckets8(const U* row, const U* up, const U* zrow, const std::uint32_t* activity,
                                std::uint64_t i0, std::uint64_t i1, std::uint8_t* out);

// Residuals z[0 .. i) of symbols[0 .. i), reading their raw bits from `extra`, for the largest i
// <= n (a multiple of 8) whose bits lie safely inside the data; the reader is left after them.
// Returns i: the caller reads the rest one by one.
template <class U>
std::uint64_t token_residuals8(const std::uint8_t* symbols, std::uint64_t n, token_config split, bit_reader& extra,
                               U* z);

}  // namespace detail
}  // namespace byte2bit
