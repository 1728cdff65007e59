// Prediction from neighbouring lanes (FORMAT.md, "Prediction"). Residuals are the wrapping
// difference between a lane and its prediction, zigzag-mapped so small magnitudes are small numbers.
#pragma once

#include <algorithm>
#include <cstdint>
#include <type_traits>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "io.hpp"
#include "lanes.hpp"
#include "simd.hpp"

namespace byte2bit {
namespace detail {

enum class predictor : std::uint8_t {
    none = 0, left = 1, up = 2, gradient = 3, med = 4, average = 5,
    med_mix = 6,    // (med + (left + up-right) / 2) / 2
    plane_avg = 7,  // (left + up + up-right + gradient) / 4
    soft_grad = 8,  // (3 left + 3 up - 2 up-left) / 4
    linear = 9,     // eight neighbours with fitted coefficients (linear.hpp), 8- and 16-bit lanes
};
constexpr int predictor_count = 10;

// Predictors that read the up-right neighbour (d); at a row's last lane it is taken as up (b).
constexpr bool uses_up_right(predictor p) {
    return p == predictor::med_mix || p == predictor::plane_avg;
}

template <class U>
inline U zigzag(U d) {
    constexpr int top = int(sizeof(U) * 8 - 1);
    return U(U(d << 1) ^ U(U(0) - U(d >> top)));
}
template <class U>
inline U unzigzag(U z) {
    return U(U(z >> 1) ^ U(U(0) - U(z & 1)));
}

// Method 7's residuals (FORMAT.md 7.1): the lane against its prediction clamped to the block's range
// [lo, hi], folded so that the range's values are the residuals 0 .. hi - lo: zigzag while both
// sides of the prediction have room, then counting on along the side that has. Where a prediction
// sits at a bound (a mask's 0, a saturated 255), the side beyond it costs no symbols.
template <class U>
inline U fold_residual(U x, U p, U lo, U hi) {
    const U c = std::min(std::max(p, lo), hi);
    const U m = std::min(U(c - lo), U(hi - c));
    const U distance = x >= c ? U(x - c) : U(c - x);
    return distance <= m ? zigzag<U>(U(x - c)) : U(m + distance);
}
// The inverse, for any s: lanes outside the range come only from corrupt data, which the stream's
// checksum catches. m + m <= hi - lo does not wrap (lo <= hi is checked on reading).
template <class U>
inline U unfold_residual(U s, U p, U lo, U hi) {
    const U c = std::min(std::max(p, lo), hi);
    const U below = U(c - lo), above = U(hi - c), m = std::min(below, above);
    if (s <= U(m + m)) return U(c + unzigzag<U>(s));
    return below < above ? U(c + U(s - m)) : U(c - U(s - m));
}
// Method 7 doubles method 4's buckets by whether the clamped prediction sits at a bound, where
// only one side is left: there the folded residuals count into the range, elsewhere they alternate.
template <class U>
inline bool at_range_bound(U p, U lo, U hi) {
    return p <= lo || p >= hi;
}

// a = left, b = up, c = up-left, d = up-right. Only used inside a plane, away from its first row
// and column. Predictors that mix values compute in a wider type and clamp to the lane range, so
// that signed data (lanes near 2^(B-1)) never wraps around.
// (int32 holds every sum of 8- and 16-bit lanes here, and lets the compiler vectorise them.)
template <class U>
using wide_t = typename std::conditional<sizeof(U) <= 2, std::int32_t,
                                         typename std::conditional<sizeof(U) == 4, std::int64_t, __int128>::type>::type;

template <class U>
inline U clamp_lane(wide_t<U> v) {
    const wide_t<U> top = wide_t<U>(U(~U(0)));
    return U(v < 0 ? 0 : v > top ? top : v);
}

template <class U>
inline U median_predict(U a, U b, U c) {
    using W = wide_t<U>;
    const W ia = a, ib = b, g = ia + ib - W(c);  // the median of a, b and a + b - c, branch-free
    const W mn = ia < ib ? ia : ib, mx = ia < ib ? ib : ia;
    return U(g < mn ? mn : g > mx ? mx : g);
}

template <predictor P, class U>
inline U predict_interior(U a, U b, U c, U d) {
    using W = wide_t<U>;
    if constexpr (P == predictor::none) return 0;
    if constexpr (P == predictor::left) return a;
    if constexpr (P == predictor::up) return b;
    if constexpr (P == predictor::gradient) return U(a + b - c);
    if constexpr (P == predictor::med) return median_predict(a, b, c);
    if constexpr (P == predictor::average) return U((a >> 1) + (b >> 1) + (a & b & 1));
    if constexpr (P == predictor::med_mix)
        return U((2 * W(median_predict(a, b, c)) + W(a) + W(d)) >> 2);
    if constexpr (P == predictor::plane_avg) return clamp_lane<U>((2 * W(a) + 2 * W(b) - W(c) + W(d)) >> 2);
    if constexpr (P == predictor::soft_grad) return clamp_lane<U>((3 * W(a) + 3 * W(b) - 2 * W(c) + 2) >> 2);
}

// The first row predicts from the left, the first column from above, the first lane is 0.
template <predictor P, class U>
void make_residuals(const U* x, U* z, const lane_layout& l) {
    const std::uint64_t W = l.cols, H = l.rows;
    for (std::uint64_t p = 0; p < l.planes; ++p) {
        const U* xp = x + p * W * H;
        U* zp = z + p * W * H;
        for (std::uint64_t y = 0; y < H; ++y) {
            const U* row = xp + y * W;
            const U* up = y > 0 ? row - W : row;  // only read below the first row
            U* out = zp + y * W;
            if (P == predictor::none) {
                for (std::uint64_t i = 0; i < W; ++i) out[i] = zigzag<U>(row[i]);
                continue;
            }
            if (y == 0) {
                if (W) out[0] = zigzag<U>(row[0]);
                for (std::uint64_t i = 1; i < W; ++i) out[i] = zigzag<U>(U(row[i] - row[i - 1]));
                continue;
            }
            out[0] = zigzag<U>(U(row[0] - up[0]));
            // The last lane apart (its up-right is up), so the loop has no branch to vectorise around.
            for (std::uint64_t i = 1; i + 1 < W; ++i)
                out[i] = zigzag<U>(U(row[i] - predict_interior<P, U>(row[i - 1], up[i], up[i - 1], up[i + 1])));
            if (W > 1)
                out[W - 1] = zigzag<U>(U(row[W - 1] - predict_interior<P, U>(row[W - 2], up[W - 1], up[W - 2], up[W - 1])));
        }
    }
}

#if defined(__SSE2__)
// Inverse gradient prediction of an 8- or 16-bit row below its first lane (row[0] is set):
// row[i] = row[i - 1] + unzigzag(z[i]) + up[i] - up[i - 1]; without `Up` (up unused), the inverse
// of the left predictor, row[i] = row[i - 1] + unzigzag(z[i]). `row` may be `z`: each block of 16
// bytes is read before it is written.
template <class U, bool Up = true>
inline void gradient_row_sse2(U* row, const U* z, const U* up, std::uint64_t W) {
    constexpr std::uint64_t per = 16 / sizeof(U);
    const bool bytes = sizeof(U) == 1;
    const __m128i one = bytes ? _mm_set1_epi8(1) : _mm_set1_epi16(1);
    const __m128i low7 = _mm_set1_epi8(0x7F);  // SSE2 shifts 16-bit lanes: clear what crosses bytes
    __m128i carry = bytes ? _mm_set1_epi8(std::int8_t(row[0])) : _mm_set1_epi16(std::int16_t(row[0]));
    std::uint64_t i = 1;
    for (; i + per <= W; i += per) {
        const __m128i zz = _mm_loadu_si128(reinterpret_cast<const __m128i*>(z + i));
        const __m128i u = Up ? _mm_loadu_si128(reinterpret_cast<const __m128i*>(up + i)) : _mm_setzero_si128();
        const __m128i ul = Up ? _mm_loadu_si128(reinterpret_cast<const __m128i*>(up + i - 1)) : _mm_setzero_si128();
        __m128i v, last;
        if (bytes) {
            const __m128i d = _mm_xor_si128(_mm_and_si128(_mm_srli_epi16(zz, 1), low7),
                                            _mm_sub_epi8(_mm_setzero_si128(), _mm_and_si128(zz, one)));
            v = _mm_add_epi8(d, _mm_sub_epi8(u, ul));
            v = _mm_add_epi8(v, _mm_slli_si128(v, 1));
            v = _mm_add_epi8(v, _mm_slli_si128(v, 2));
            v = _mm_add_epi8(v, _mm_slli_si128(v, 4));
            v = _mm_add_epi8(v, _mm_slli_si128(v, 8));
            last = _mm_unpackhi_epi8(v, v);  // the last byte, twice, in the last 16-bit lane
        } else {
            const __m128i d = _mm_xor_si128(_mm_srli_epi16(zz, 1), _mm_sub_epi16(_mm_setzero_si128(), _mm_and_si128(zz, one)));
            v = _mm_add_epi16(d, _mm_sub_epi16(u, ul));
            v = _mm_add_epi16(v, _mm_slli_si128(v, 2));
            v = _mm_add_epi16(v, _mm_slli_si128(v, 4));
            v = _mm_add_epi16(v, _mm_slli_si128(v, 8));
            last = v;
        }
        // The block's own sum, broadcast off the carry's chain: the chain is one add a block.
        last = _mm_shufflehi_epi16(_mm_unpackhi_epi64(last, last), 0xFF);
        last = _mm_unpackhi_epi64(last, last);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(row + i), bytes ? _mm_add_epi8(v, carry) : _mm_add_epi16(v, carry));
        carry = bytes ? _mm_add_epi8(carry, last) : _mm_add_epi16(carry, last);
    }
    for (; i < W; ++i) row[i] = U(row[i - 1] + unzigzag<U>(z[i]) + (Up ? U(up[i] - up[i - 1]) : U(0)));
}
#endif

// The prediction of lane i of a row, by the rules of make_residuals: `up` is null on a plane's first
// row, and row[i - 1] must already hold its lane.
template <predictor P, class U>
inline U prediction_at(const U* row, const U* up, std::uint64_t W, std::uint64_t i) {
    if (P == predictor::none) return 0;
    if (up == nullptr) return i ? row[i - 1] : U(0);
    if (i == 0) return up[0];
    return predict_interior<P, U>(row[i - 1], up[i], up[i - 1], i + 1 < W ? up[i + 1] : up[i]);
}

// Residuals z(y, i) for i in [i0, i1) of one plane's lanes, recomputed from the lanes: what a
// decoder of very wide rows uses instead of keeping whole rows of residuals.
template <predictor P, class U>
void residual_span(const U* plane, std::uint64_t W, std::uint64_t y, std::uint64_t i0, std::uint64_t i1, U* out) {
    const U* row = plane + y * W;
    const U* up = y > 0 ? row - W : nullptr;
    for (std::uint64_t i = i0; i < i1; ++i) out[i - i0] = zigzag<U>(U(row[i] - prediction_at<P, U>(row, up, W, i)));
}

// Inverse of residual_span on one row: lanes i0 .. i1 - 1 from their residuals z[0 .. i1 - i0).
template <predictor P, class U>
void undo_span(U* row, const U* z, const U* up, std::uint64_t W, std::uint64_t i0, std::uint64_t i1) {
    for (std::uint64_t i = i0; i < i1; ++i) row[i] = U(unzigzag<U>(z[i - i0]) + prediction_at<P, U>(row, up, W, i));
}

// Inverse of make_residuals for one row: lanes from residuals `z` and the row above (`up`, null on
// a plane's first row). `row` may be `z` itself (in place).
template <predictor P, class U>
inline void undo_row(U* row, const U* z, const U* up, std::uint64_t W) {
    if (P == predictor::none) {
        for (std::uint64_t i = 0; i < W; ++i) row[i] = unzigzag<U>(z[i]);
        return;
    }
    if (W == 0) return;
    // A plane's first row, and the left predictor below it: a prefix sum of the residuals.
    if (up == nullptr || P == predictor::left) {
        row[0] = U(unzigzag<U>(z[0]) + (up ? up[0] : U(0)));
#if defined(__SSE2__)
        if constexpr (sizeof(U) <= 2) {  // 8- and 16-bit imagery: 16 bytes at a time
            gradient_row_sse2<U, false>(row, z, nullptr, W);
            return;
        }
#endif
        for (std::uint64_t i = 1; i < W; ++i) row[i] = U(row[i - 1] + unzigzag<U>(z[i]));
        return;
    }
    U acc = U(unzigzag<U>(z[0]) + up[0]);
    row[0] = acc;
    if (P == predictor::gradient) {
        // A prefix sum of (residual + up - upleft).
#if defined(__SSE2__)
        if constexpr (sizeof(U) <= 2) {  // 8- and 16-bit imagery: 16 bytes at a time
            gradient_row_sse2(row, z, up, W);
            return;
        }
#endif
        for (std::uint64_t i = 1; i < W; ++i) row[i] = U(row[i - 1] + unzigzag<U>(z[i]) + U(up[i] - up[i - 1]));
        return;
    }
    if (!uses_up_right(P)) {
        for (std::uint64_t i = 1; i < W; ++i)
            row[i] = acc = U(unzigzag<U>(z[i]) + predict_interior<P, U>(acc, up[i], up[i - 1], up[i]));
        return;
    }
    for (std::uint64_t i = 1; i + 1 < W; ++i)
        row[i] = acc = U(unzigzag<U>(z[i]) + predict_interior<P, U>(acc, up[i], up[i - 1], up[i + 1]));
    if (W > 1) row[W - 1] = U(unzigzag<U>(z[W - 1]) + predict_interior<P, U>(acc, up[W - 1], up[W - 2], up[W - 1]));
}

// Inverse of make_residuals over all lanes, in place: on entry `xz` holds residuals, on exit lanes.
template <predictor P, class U>
void undo_residuals(U* xz, const lane_layout& l) {
    const std::uint64_t W = l.cols, H = l.rows;
    for (std::uint64_t p = 0; p < l.planes; ++p)
        for (std::uint64_t y = 0; y < H; ++y) {
            U* row = xz + (p * H + y) * W;
            undo_row<P, U>(row, row, y > 0 ? row - W : nullptr, W);
        }
}

// Runtime dispatch over the predictors without parameters. The linear predictor has its own loops
// (linear.hpp): callers that support it take it before this dispatch, and the others refuse it here.
template <class U, class F>
void with_predictor(predictor p, F&& f) {
    switch (p) {
        case predictor::linear: fail(errc::corrupt, "the linear predictor is not allowed here");
        case predictor::none: f(std::integral_constant<predictor, predictor::none>{}); break;
        case predictor::left: f(std::integral_constant<predictor, predictor::left>{}); break;
        case predictor::up: f(std::integral_constant<predictor, predictor::up>{}); break;
        case predictor::gradient: f(std::integral_constant<predictor, predictor::gradient>{}); break;
        case predictor::med: f(std::integral_constant<predictor, predictor::med>{}); break;
        case predictor::average: f(std::integral_constant<predictor, predictor::average>{}); break;
        case predictor::med_mix: f(std::integral_constant<predictor, predictor::med_mix>{}); break;
        case predictor::plane_avg: f(std::integral_constant<predictor, predictor::plane_avg>{}); break;
        case predictor::soft_grad: f(std::integral_constant<predictor, predictor::soft_grad>{}); break;
    }
}

#if defined(__x86_64__)
// make_residuals compiled again for AVX2, where the CPU has it: the mixing predictors' min, max and
// clamps are single instructions there and eight lanes wide (SSE2 has neither, the build's base).
// Level 4 encoding spent 15% of its instructions on residuals before.
template <predictor P, class U>
__attribute__((target("avx2"), flatten)) void make_residuals_avx2(const U* x, U* z, const lane_layout& l) {
    make_residuals<P, U>(x, z, l);
}
#endif

template <class U>
void residuals(predictor p, const U* x, U* z, const lane_layout& l) {
#if defined(__x86_64__)
    if (sizeof(U) <= 4 && simd() >= simd_level::avx2) {
        with_predictor<U>(p, [&](auto P) { make_residuals_avx2<decltype(P)::value, U>(x, z, l); });
        return;
    }
#endif
    with_predictor<U>(p, [&](auto P) { make_residuals<decltype(P)::value, U>(x, z, l); });
}
template <class U>
void unresiduals(predictor p, U* xz, const lane_layout& l) {
    with_predictor<U>(p, [&](auto P) { undo_residuals<decltype(P)::value, U>(xz, l); });
}

}  // namespace detail
}  // namespace byte2bit
