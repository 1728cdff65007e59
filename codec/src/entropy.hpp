// Entropy coding of residual lanes (FORMAT.md, "Method 1: bit packing", "Method 2: context rANS").
#pragma once

#include <cstdint>
#include <string>
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

// How method 2 splits a residual into a token and raw bits (see tokenize in ans.cpp): values below
// 2^k are tokens of their own, larger ones give the position of their leading bit and the m bits
// below it. Stored in the lanes block's fourth byte: 0 for (4, 2), the only split of format
// version 1, else k | m << 4 (format version 3).
struct token_config {
    int k = 4, m = 2;
    int tokens(int bits) const { return (1 << k) + ((bits - k) << m); }
    bool is_default() const { return k == 4 && m == 2; }
    std::uint8_t byte() const { return is_default() ? 0 : std::uint8_t(k | m << 4); }
    // Validates a stored byte for lanes of `bits` bits: every token must fit the 256-symbol alphabet.
    static token_config from_byte(std::uint8_t b, int bits) {
        if (b == 0) return {};
        const token_config c{b & 15, b >> 4};
        if (c.k < 1 || c.k > 8 || c.k > bits || c.m > c.k || c.tokens(bits) > 256)
            fail(errc::corrupt, "invalid token split " + std::to_string(int(b)));
        return c;
    }
};

// Method 2: residuals as tokens (a small symbol plus raw extra bits), the symbols coded with rANS
// under statistics chosen per context, the context being the size of the residuals above.
// max_contexts: at most 16 frequency tables.
// Uses the `forced` token split, or when that is null the one it estimates codes smallest; returns it.
// states: method 2's four rANS states, method 5's 32 sharing one word stream (FORMAT.md 8), or 32
// where they pay (below); *wide_used says which were written.
enum class rans_width { four, wide, wide_if_worth };
template <class U>
token_config ans_encode(const U* z, const lane_layout& layout, int max_contexts, const token_config* forced,
                        byte_writer& out, rans_width states = rans_width::four, bool* wide_used = nullptr);
// Decodes residuals and undoes prediction `p` as it goes: writes the lanes themselves to `x`.
// `linear` holds the linear predictor's parameters when p is that predictor.
struct linear_params;
template <class U>
void ans_decode(byte_reader& in, U* x, const lane_layout& layout, predictor p, token_config split, bool wide = false,
                const linear_params* linear = nullptr);

// Method 5 pays where it has many symbols to decode and its states (112 bytes more than method
// 2's) cost at most 1% of the block: blocks of 4096 lanes or more, coded in 11,200 bytes or more.
constexpr std::uint64_t wide_rans_min_lanes = 4096;
constexpr std::size_t wide_rans_extra_bytes = 4 * (32 - 4);

// Rows wider than this decode in segments of segment_cols lanes (methods 2, 3 and 5), so that a
// decoder's scratch stays a few MB whatever the shape (a 1-D array is one row of up to 2^40 lanes).
constexpr std::uint64_t max_whole_row_cols = 1 << 16;
constexpr std::uint64_t segment_cols = 1 << 16;

// Method 4: method 2's tokens and predictors, with contexts that also see the lane to the left:
// its residual joins the activity, and whether the neighbours' values are equal picks one of three
// families of buckets. Decoding is serial. Only for rows of at most max_left_context_cols lanes.
constexpr std::uint64_t max_left_context_cols = 1 << 16;
// With at_bound (method 7), each lane's bucket is doubled by its flag (fold_residuals gives them).
template <class U>
void ans_left_encode(const U* x, const U* z, const lane_layout& layout, token_config split, byte_writer& out,
                     const std::uint8_t* at_bound = nullptr);
// The estimated fraction of method 2's bits that method 4 saves (context-conditional token entropy
// plus extra bits under each one's buckets, unclustered, version 1's split): a cheap test before
// encoding both. above_bits is method 2's estimate of the same residuals (ans_estimate_bits).
template <class U>
double ans_left_gain(const U* x, const U* z, const lane_layout& layout, double above_bits);
// Method 7: method 4 on residuals folded into the block's range [lo, hi] (predict.hpp's
// fold_residual), its buckets doubled by whether the prediction is at a bound. fold_residuals
// turns method 4's residuals of x into method 7's, in place, and flags the lanes at a bound; the
// decoder takes the range.
template <class U>
struct lane_range {
    U lo, hi;
};
template <class U>
void fold_residuals(const U* x, U* z, std::uint64_t n, lane_range<U> range, std::uint8_t* at_bound);
template <class U>
void ans_left_decode(byte_reader& in, U* x, const lane_layout& layout, predictor p, token_config split,
                     const linear_params* linear = nullptr, const lane_range<U>* range = nullptr);

// Method 3: lanes of at most 16 distinct values as palette indices, each coded in the context of
// the indices left of and above it. Returns false, writing nothing, when there are more values.
template <class U>
bool palette_encode(const U* x, const lane_layout& layout, byte_writer& out);
template <class U>
void palette_decode(byte_reader& in, U* x, const lane_layout& layout);

// Estimated coded size in bits, for choosing a predictor: context-conditional token entropy plus
// extra bits, without table costs.
template <class U>
double ans_estimate_bits(const U* z, const lane_layout& layout);

}  // namespace detail
}  // namespace byte2bit
