// The linear predictor (predictor 9, FORMAT.md 3.1): a lane predicted from eight neighbours with
// coefficients the encoder fits to each lanes block by least squares. Its inverse is serial along a
// row but needs only lanes up to two columns left and two rows up, so the wavefront (wavefront.hpp)
// undoes it six rows at a time.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <vector>

#include "lanes.hpp"
#include "predict.hpp"

namespace byte2bit {
namespace detail {

// The taps, in the order of their coefficients: left (a), up-left (c), up-right (d), two up, two
// left, up and two left, two up and one right, two up and one left.
constexpr int linear_taps = 8;
constexpr int linear_shift = 6;  // coefficients are in 64ths

constexpr std::size_t linear_params_bytes = 1 + linear_taps;  // in a lanes block (FORMAT.md 3.1)

struct linear_params {
    std::uint8_t flags = 0;  // bit 0: the prediction is clamped to the range of a, b and d
    std::array<std::int8_t, linear_taps> k{};
    bool clamped() const { return (flags & 1) != 0; }
};

// The prediction of lane i of a row below a plane's first, 1 <= i < W; row[0 .. i) hold lanes, `up`
// is the row above and `uu` the row two above (the row above on a plane's second row). Columns
// outside the row read its nearest lane.
template <class U>
inline U linear_predict_at(const linear_params& p, const U* row, const U* up, const U* uu, std::uint64_t W,
                           std::uint64_t i) {
    const std::uint64_t right = i + 1 < W ? i + 1 : i, left2 = i > 1 ? i - 2 : 0;
    const std::int32_t a = row[i - 1], b = up[i], d = up[right];
    const std::int32_t t[linear_taps] = {a, up[i - 1], d, uu[i], row[left2], up[left2], uu[right], uu[i - 1]};
    std::int32_t s = 1 << (linear_shift - 1);
    for (int j = 0; j < linear_taps; ++j) s += std::int32_t(p.k[std::size_t(j)]) * (t[j] - b);
    const std::int32_t pred = b + (s >> linear_shift);
    if (p.clamped()) return U(std::clamp(pred, std::min({a, b, d}), std::max({a, b, d})));
    return U(std::clamp(pred, 0, std::int32_t(U(~U(0)))));
}

// linear_predict_at for 2 <= i < W - 1, where no column needs the border rule, with the clamp
// flag as a template argument: also the body of the encoder's vectorised loop.
template <class U, bool Clamped>
inline U linear_predict_interior(const std::int32_t* k, const U* row, const U* up, const U* uu, std::uint64_t i) {
    const std::int32_t a = row[i - 1], b = up[i], d = up[i + 1];
    const std::int32_t s = (1 << (linear_shift - 1)) + k[0] * (a - b) + k[1] * (up[i - 1] - b) + k[2] * (d - b) +
                           k[3] * (uu[i] - b) + k[4] * (row[i - 2] - b) + k[5] * (up[i - 2] - b) +
                           k[6] * (uu[i + 1] - b) + k[7] * (uu[i - 1] - b);
    const std::int32_t pred = b + (s >> linear_shift);
    if constexpr (Clamped) return U(std::min(std::max(pred, std::min(a, std::min(b, d))), std::max(a, std::max(b, d))));
    return U(std::min(std::max(pred, 0), std::int32_t(U(~U(0)))));
}

// The interior lanes 2 .. W - 2 of a row below a plane's first: a loop without branches that the
// compiler vectorises.
template <class U, bool Clamped>
inline void linear_interior(const U* __restrict row, const U* __restrict up, const U* __restrict uu, U* __restrict out,
                            std::uint64_t W, const std::int32_t* k) {
    for (std::uint64_t i = 2; i + 1 < W; ++i)
        out[i] = zigzag<U>(U(row[i] - linear_predict_interior<U, Clamped>(k, row, up, uu, i)));
}

// Residuals of every lane (the border rules of make_residuals).
template <class U>
void make_linear_residuals(const U* x, U* z, const lane_layout& l, const linear_params& p) {
    static_assert(sizeof(U) <= 2, "the linear predictor is for 8- and 16-bit lanes");
    const std::uint64_t W = l.cols, H = l.rows;
    std::int32_t k[linear_taps];
    for (int j = 0; j < linear_taps; ++j) k[j] = p.k[std::size_t(j)];
    for (std::uint64_t plane = 0; plane < l.planes; ++plane)
        for (std::uint64_t y = 0; y < H; ++y) {
            const U* row = x + (plane * H + y) * W;
            U* out = z + (plane * H + y) * W;
            if (W == 0) continue;
            if (y == 0) {
                out[0] = zigzag<U>(row[0]);
                for (std::uint64_t i = 1; i < W; ++i) out[i] = zigzag<U>(U(row[i] - row[i - 1]));
                continue;
            }
            const U* up = row - W;
            const U* uu = y > 1 ? up - W : up;
            out[0] = zigzag<U>(U(row[0] - up[0]));
            auto edge = [&](std::uint64_t i) { out[i] = zigzag<U>(U(row[i] - linear_predict_at<U>(p, row, up, uu, W, i))); };
            if (W > 1) edge(1);
            if (p.clamped())
                linear_interior<U, true>(row, up, uu, out, W, k);
            else
                linear_interior<U, false>(row, up, uu, out, W, k);
            if (W > 2) edge(W - 1);
        }
}

#if defined(__x86_64__)
// Compiled again for AVX2 where the CPU has it (its min, max and 32-bit products eight lanes wide).
template <class U>
__attribute__((target("avx2"), flatten)) void make_linear_residuals_avx2(const U* x, U* z, const lane_layout& l,
                                                                          const linear_params& p) {
    make_linear_residuals<U>(x, z, l, p);
}
#endif
template <class U>
void linear_residuals(const U* x, U* z, const lane_layout& l, const linear_params& p) {
#if defined(__x86_64__)
    if (simd() >= simd_level::avx2) return make_linear_residuals_avx2<U>(x, z, l, p);
#endif
    make_linear_residuals<U>(x, z, l, p);
}

// Inverse of make_linear_residuals for one row (the portable path; wavefront.cpp has the fast one):
// `up` null on a plane's first row, `uu` the row two above or `up` on its second. `row` may be `z`.
template <class U>
void undo_linear_row(U* row, const U* z, const U* up, const U* uu, std::uint64_t W, const linear_params& p) {
    if (W == 0) return;
    if (up == nullptr) {
        row[0] = unzigzag<U>(z[0]);
        for (std::uint64_t i = 1; i < W; ++i) row[i] = U(row[i - 1] + unzigzag<U>(z[i]));
        return;
    }
    row[0] = U(unzigzag<U>(z[0]) + up[0]);
    for (std::uint64_t i = 1; i < W; ++i) row[i] = U(unzigzag<U>(z[i]) + linear_predict_at<U>(p, row, up, uu, W, i));
}

// The normal equations of fit_linear: over every fourth row from the third, the sums of products
// of the taps (each minus the lane above) with one another (A, upper triangle) and with the lane
// minus the one above (r). In integers, which are exact (at most 2^54 for the largest sample), a
// row's taps first laid out tap by tap so that each sum is a loop the compiler vectorises (the
// products lane by lane in doubles were 5% of level 4 encoding).
template <class U>
void linear_sums(const U* x, const lane_layout& l, std::int64_t (&A)[linear_taps][linear_taps],
                 std::int64_t (&r)[linear_taps]) {
    const std::uint64_t W = l.cols, H = l.rows, n = W - 3;  // lanes 2 .. W - 2
    std::vector<std::int32_t> taps((linear_taps + 1) * n);
    std::int32_t* v = &taps[linear_taps * n];
    for (std::uint64_t plane = 0; plane < l.planes; ++plane)
        for (std::uint64_t y = 2; y < H; y += 4) {
            const U* row = x + (plane * H + y) * W + 2;
            const U* up = row - W;
            const U* uu = up - W;
            const std::ptrdiff_t offsets[linear_taps][2] = {{0, -1}, {1, -1}, {1, 1}, {2, 0}, {0, -2}, {1, -2}, {2, 1}, {2, -1}};
            for (int j = 0; j < linear_taps; ++j) {
                const U* from = (offsets[j][0] == 0 ? row : offsets[j][0] == 1 ? up : uu) + offsets[j][1];
                std::int32_t* t = &taps[std::size_t(j) * n];
                for (std::uint64_t i = 0; i < n; ++i) t[i] = std::int32_t(from[i]) - std::int32_t(up[i]);
            }
            for (std::uint64_t i = 0; i < n; ++i) v[i] = std::int32_t(row[i]) - std::int32_t(up[i]);
            for (int j = 0; j < linear_taps; ++j) {
                const std::int32_t* tj = &taps[std::size_t(j) * n];
                for (int m = j; m <= linear_taps; ++m) {  // m = linear_taps: the sum with v
                    const std::int32_t* tm = &taps[std::size_t(m) * n];
                    std::int64_t sum = 0;
                    for (std::uint64_t i = 0; i < n; ++i) sum += std::int64_t(tj[i]) * tm[i];
                    (m < linear_taps ? A[j][m] : r[j]) += sum;
                }
            }
        }
}
#if defined(__x86_64__)
template <class U>
__attribute__((target("avx2"), flatten)) void linear_sums_avx2(const U* x, const lane_layout& l,
                                                                std::int64_t (&A)[linear_taps][linear_taps],
                                                                std::int64_t (&r)[linear_taps]) {
    linear_sums<U>(x, l, A, r);
}
#endif

// Least-squares coefficients for the lanes of `x` (a sample of whole rows): each lane minus the one
// above, against each tap minus the one above, over every fourth row from the third. Returns the
// gradient (a + b - c) when the system is singular (flat or tiny blocks).
template <class U>
linear_params fit_linear(const U* x, const lane_layout& l) {
    linear_params p;
    p.k[0] = 64, p.k[1] = -64;
    const std::uint64_t W = l.cols, H = l.rows;
    if (W < 4 || H < 3) return p;
    std::int64_t sums[linear_taps][linear_taps] = {}, rsums[linear_taps] = {};
#if defined(__x86_64__)
    if (simd() >= simd_level::avx2)
        linear_sums_avx2<U>(x, l, sums, rsums);
    else
#endif
        linear_sums<U>(x, l, sums, rsums);
    double A[linear_taps][linear_taps] = {}, r[linear_taps];
    for (int j = 0; j < linear_taps; ++j) {
        r[j] = double(rsums[j]);
        for (int m = j; m < linear_taps; ++m) A[j][m] = double(sums[j][m]);
    }
    double trace = 0;
    for (int j = 0; j < linear_taps; ++j) trace += A[j][j];
    if (!(trace > 0)) return p;
    // Symmetric, with a little ridge so that nearly dependent taps stay bounded; then elimination.
    for (int j = 0; j < linear_taps; ++j) {
        A[j][j] += trace * 1e-6;
        for (int m = 0; m < j; ++m) A[j][m] = A[m][j];
    }
    for (int j = 0; j < linear_taps; ++j) {
        int pivot = j;
        for (int m = j + 1; m < linear_taps; ++m)
            if (std::fabs(A[m][j]) > std::fabs(A[pivot][j])) pivot = m;
        if (!(std::fabs(A[pivot][j]) > trace * 1e-12)) return p;
        std::swap(A[j], A[pivot]);
        std::swap(r[j], r[pivot]);
        for (int m = j + 1; m < linear_taps; ++m) {
            const double f = A[m][j] / A[j][j];
            for (int q = j; q < linear_taps; ++q) A[m][q] -= f * A[j][q];
            r[m] -= f * r[j];
        }
    }
    double c[linear_taps];
    for (int j = linear_taps - 1; j >= 0; --j) {
        double s = r[j];
        for (int m = j + 1; m < linear_taps; ++m) s -= A[j][m] * c[m];
        c[j] = s / A[j][j];
    }
    for (int j = 0; j < linear_taps; ++j)
        p.k[std::size_t(j)] = std::int8_t(std::clamp(std::lround(c[j] * (1 << linear_shift)), -128L, 127L));
    return p;
}

}  // namespace detail
}  // namespace byte2bit
