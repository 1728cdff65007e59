// The linear predictor (predictor 9, FORMAT.md 3.1): a lane predicted from eight neighbours with
// coefficients the encoder fits to each lanes block by least squares. Its inverse is serial along a
// row but needs only lanes up to two columns left and two rows up, so the wavefront (wavefront.hpp)
// undoes it six rows at a time.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "lanes.hpp"
#include "predict.hpp"

namespace byte2bit {
namespace detail {

// The taps, in the order of their coefficients: left (a), up-left (c), up-right (d), two up, two
// left, up and two left, two up and one right, two up and one left.
constexpr int linear_taps = 8;
constexpr int linear_shift = 6;  // coefficients are in 64ths

// In a lanes block (FORMAT.md 3.1): flags and one set of coefficients, or with two sets the second
// and the texture threshold too.
constexpr std::size_t linear_params_bytes = 1 + linear_taps;
constexpr std::size_t linear_two_sets_bytes = 1 + 2 * linear_taps + 2;

struct linear_params {
    std::uint8_t flags = 0;  // bit 0: clamped to the range of a, b and d; bit 1: two sets (format 8)
    std::array<std::int8_t, linear_taps> k{};
    std::array<std::int8_t, linear_taps> k2{};  // for lanes whose texture exceeds the threshold
    std::uint16_t threshold = 0;
    bool clamped() const { return (flags & 1) != 0; }
    bool two_sets() const { return (flags & 2) != 0; }
    std::size_t bytes() const { return two_sets() ? linear_two_sets_bytes : linear_params_bytes; }
};

// The texture of the lanes above, which picks a lane's set: |b - c| + |b - d| + |u(i) - b|.
inline std::int32_t linear_texture(std::int32_t b, std::int32_t c, std::int32_t d, std::int32_t uu) {
    return std::abs(b - c) + std::abs(b - d) + std::abs(uu - b);
}

// The coefficients as the row loops use them: k[0 .. 8) the first set, k[8 .. 16) the second.
struct linear_weights {
    std::int32_t k[2 * linear_taps];
    std::int32_t threshold;
    explicit linear_weights(const linear_params& p) : threshold(p.two_sets() ? p.threshold : 1 << 30) {
        for (int j = 0; j < linear_taps; ++j) {
            k[j] = p.k[std::size_t(j)];
            k[linear_taps + j] = p.two_sets() ? p.k2[std::size_t(j)] : p.k[std::size_t(j)];
        }
    }
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
    const auto& k = p.two_sets() && linear_texture(b, t[1], d, t[3]) > p.threshold ? p.k2 : p.k;
    std::int32_t s = 1 << (linear_shift - 1);
    for (int j = 0; j < linear_taps; ++j) s += std::int32_t(k[std::size_t(j)]) * (t[j] - b);
    const std::int32_t pred = b + (s >> linear_shift);
    if (p.clamped()) return U(std::clamp(pred, std::min({a, b, d}), std::max({a, b, d})));
    return U(std::clamp(pred, 0, std::int32_t(U(~U(0)))));
}

// linear_predict_at for 2 <= i < W - 1, where no column needs the border rule, with the clamp
// flag and the second set as template arguments: also the body of the encoder's vectorised loop.
template <class U, bool Clamped, bool TwoSets>
inline U linear_predict_interior(const linear_weights& w, const U* row, const U* up, const U* uu, std::uint64_t i) {
    const std::int32_t a = row[i - 1], b = up[i], c = up[i - 1], d = up[i + 1], n = uu[i];
    const std::int32_t* k = w.k;
    std::int32_t s = 1 << (linear_shift - 1);
    if constexpr (TwoSets) {  // a blend of each coefficient, which vectorises
        const bool second = linear_texture(b, c, d, n) > w.threshold;
        auto kj = [&](int j) { return second ? k[linear_taps + j] : k[j]; };
        s += kj(0) * (a - b) + kj(1) * (c - b) + kj(2) * (d - b) + kj(3) * (n - b) + kj(4) * (row[i - 2] - b) +
             kj(5) * (up[i - 2] - b) + kj(6) * (uu[i + 1] - b) + kj(7) * (uu[i - 1] - b);
    } else {
        s += k[0] * (a - b) + k[1] * (c - b) + k[2] * (d - b) + k[3] * (n - b) + k[4] * (row[i - 2] - b) +
             k[5] * (up[i - 2] - b) + k[6] * (uu[i + 1] - b) + k[7] * (uu[i - 1] - b);
    }
    const std::int32_t pred = b + (s >> linear_shift);
    if constexpr (Clamped) return U(std::min(std::max(pred, std::min(a, std::min(b, d))), std::max(a, std::max(b, d))));
    return U(std::min(std::max(pred, 0), std::int32_t(U(~U(0)))));
}

// The interior lanes 2 .. W - 2 of a row below a plane's first: a loop without branches that the
// compiler vectorises.
template <class U, bool Clamped, bool TwoSets>
inline void linear_interior(const U* __restrict row, const U* __restrict up, const U* __restrict uu, U* __restrict out,
                            std::uint64_t W, const linear_weights& w) {
    for (std::uint64_t i = 2; i + 1 < W; ++i)
        out[i] = zigzag<U>(U(row[i] - linear_predict_interior<U, Clamped, TwoSets>(w, row, up, uu, i)));
}

// Residuals of every lane (the border rules of make_residuals).
template <class U>
void make_linear_residuals(const U* x, U* z, const lane_layout& l, const linear_params& p) {
    static_assert(sizeof(U) <= 2, "the linear predictor is for 8- and 16-bit lanes");
    const std::uint64_t W = l.cols, H = l.rows;
    const linear_weights w(p);
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
            if (p.two_sets())
                p.clamped() ? linear_interior<U, true, true>(row, up, uu, out, W, w)
                            : linear_interior<U, false, true>(row, up, uu, out, W, w);
            else
                p.clamped() ? linear_interior<U, true, false>(row, up, uu, out, W, w)
                            : linear_interior<U, false, false>(row, up, uu, out, W, w);
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

// The normal equations of a least-squares fit: sums of products of the taps (each minus the lane
// above) with one another (A, upper triangle) and with the lane minus the one above (r).
struct linear_system {
    std::int64_t A[linear_taps][linear_taps] = {};
    std::int64_t r[linear_taps] = {};
};

// The rows a fit samples: every fourth from the third, lanes 2 .. W - 2 (no border rules).
template <class U, class F>
void for_each_fit_row(const U* x, const lane_layout& l, F&& f) {
    const std::uint64_t W = l.cols, H = l.rows;
    for (std::uint64_t plane = 0; plane < l.planes; ++plane)
        for (std::uint64_t y = 2; y < H; y += 4) f(x + (plane * H + y) * W + 2);
}

// The systems of fit_linear: every lane's in s[0], and those of the lanes whose texture exceeds
// `threshold` in s[1] (the other lanes' is the difference). In integers, which are exact (at most
// 2^54 for the largest sample), a row's taps first laid out tap by tap so that each sum is a loop
// the compiler vectorises (the products lane by lane in doubles were 5% of level 4 encoding). The
// second system's sums take the taps masked to its lanes.
template <class U>
void linear_sums(const U* x, const lane_layout& l, std::int32_t threshold, linear_system (&s)[2]) {
    const std::uint64_t W = l.cols, n = W - 3;
    const bool split = threshold < (1 << 30);
    std::vector<std::int32_t> taps((2 * linear_taps + 2) * n);
    std::int32_t* v = &taps[linear_taps * n];      // the lane minus the one above
    std::int32_t* masked = v + n;                  // taps[j] of the second set's lanes, else 0
    std::int32_t* second = masked + linear_taps * n;  // -1 on the second set's lanes
    for_each_fit_row(x, l, [&](const U* row) {
        const U* up = row - W;
        const U* uu = up - W;
        const std::ptrdiff_t offsets[linear_taps][2] = {{0, -1}, {1, -1}, {1, 1}, {2, 0}, {0, -2}, {1, -2}, {2, 1}, {2, -1}};
        for (int j = 0; j < linear_taps; ++j) {
            const U* from = (offsets[j][0] == 0 ? row : offsets[j][0] == 1 ? up : uu) + offsets[j][1];
            std::int32_t* t = &taps[std::size_t(j) * n];
            for (std::uint64_t i = 0; i < n; ++i) t[i] = std::int32_t(from[i]) - std::int32_t(up[i]);
        }
        for (std::uint64_t i = 0; i < n; ++i) v[i] = std::int32_t(row[i]) - std::int32_t(up[i]);
        auto sums = [&](const std::int32_t* of, linear_system& out) {
            for (int j = 0; j < linear_taps; ++j) {
                const std::int32_t* tj = of + std::size_t(j) * n;
                for (int m = j; m <= linear_taps; ++m) {  // m = linear_taps: the sum with v
                    const std::int32_t* tm = &taps[std::size_t(m) * n];
                    std::int64_t sum = 0;
                    for (std::uint64_t i = 0; i < n; ++i) sum += std::int64_t(tj[i]) * tm[i];
                    (m < linear_taps ? out.A[j][m] : out.r[j]) += sum;
                }
            }
        };
        sums(taps.data(), s[0]);
        if (!split) return;
        const std::int32_t *c = &taps[n], *d = &taps[2 * n], *nn = &taps[3 * n];
        for (std::uint64_t i = 0; i < n; ++i)
            second[i] = -std::int32_t(std::abs(c[i]) + std::abs(d[i]) + std::abs(nn[i]) > threshold);
        for (int j = 0; j < linear_taps; ++j)
            for (std::uint64_t i = 0; i < n; ++i) masked[std::size_t(j) * n + i] = taps[std::size_t(j) * n + i] & second[i];
        sums(masked, s[1]);
    });
}
#if defined(__x86_64__)
template <class U>
__attribute__((target("avx2"), flatten)) void linear_sums_avx2(const U* x, const lane_layout& l, std::int32_t threshold,
                                                                linear_system (&s)[2]) {
    linear_sums<U>(x, l, threshold, s);
}
#endif

// Least-squares coefficients in 64ths from a system, with a little ridge so that nearly dependent
// taps stay bounded. False when it is singular (flat or tiny blocks).
inline bool solve_linear(const linear_system& s, std::array<std::int8_t, linear_taps>& k) {
    double A[linear_taps][linear_taps] = {}, r[linear_taps];
    double trace = 0;
    for (int j = 0; j < linear_taps; ++j) {
        r[j] = double(s.r[j]);
        for (int m = j; m < linear_taps; ++m) A[j][m] = double(s.A[j][m]);
        trace += A[j][j];
    }
    if (!(trace > 0)) return false;
    for (int j = 0; j < linear_taps; ++j) {
        A[j][j] += trace * 1e-6;
        for (int m = 0; m < j; ++m) A[j][m] = A[m][j];
    }
    for (int j = 0; j < linear_taps; ++j) {
        int pivot = j;
        for (int m = j + 1; m < linear_taps; ++m)
            if (std::fabs(A[m][j]) > std::fabs(A[pivot][j])) pivot = m;
        if (!(std::fabs(A[pivot][j]) > trace * 1e-12)) return false;
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
        double sum = r[j];
        for (int m = j + 1; m < linear_taps; ++m) sum -= A[j][m] * c[m];
        c[j] = sum / A[j][j];
    }
    for (int j = 0; j < linear_taps; ++j)
        k[std::size_t(j)] = std::int8_t(std::clamp(std::lround(c[j] * (1 << linear_shift)), -128L, 127L));
    return true;
}

// The median texture of the lanes fit_linear samples: the threshold of two sets.
template <class U>
std::uint16_t median_linear_texture(const U* x, const lane_layout& l) {
    const std::uint64_t W = l.cols;
    std::vector<std::int32_t> t;
    for_each_fit_row(x, l, [&](const U* row) {
        const U* up = row - W;
        const U* uu = up - W;
        for (std::ptrdiff_t i = 0; i + 3 < std::ptrdiff_t(W); ++i)  // (signed: up[i - 1] at i = 0)
            t.push_back(linear_texture(up[i], up[i - 1], up[i + 1], uu[i]));
    });
    if (t.empty()) return 0;
    std::nth_element(t.begin(), t.begin() + std::ptrdiff_t(t.size() / 2), t.end());
    return std::uint16_t(std::min(t[t.size() / 2], std::int32_t(65535)));
}

// Least-squares coefficients for the lanes of `x` (a sample of whole rows): each lane minus the one
// above, against each tap minus the one above, over the rows for_each_fit_row visits. Returns the
// gradient (a + b - c) when the system is singular. With `two`, the same pass also gives *two: one
// set for the lanes up to the median texture and one for those above it (the single set where a
// part is singular), the single set being the same as without.
template <class U>
linear_params fit_linear(const U* x, const lane_layout& l, linear_params* two = nullptr) {
    linear_params p;
    p.k[0] = 64, p.k[1] = -64;
    if (two) *two = p;
    if (l.cols < 4 || l.rows < 3) return p;
    linear_system s[2];
    const std::int32_t threshold = two ? median_linear_texture<U>(x, l) : 1 << 30;
#if defined(__x86_64__)
    if (simd() >= simd_level::avx2)
        linear_sums_avx2<U>(x, l, threshold, s);
    else
#endif
        linear_sums<U>(x, l, threshold, s);
    solve_linear(s[0], p.k);
    if (!two) return p;
    *two = p;
    linear_system below = s[0];  // the lanes up to the threshold
    for (int j = 0; j < linear_taps; ++j) {
        below.r[j] -= s[1].r[j];
        for (int m = j; m < linear_taps; ++m) below.A[j][m] -= s[1].A[j][m];
    }
    linear_params q = p;
    if (solve_linear(below, q.k) && solve_linear(s[1], q.k2)) {
        q.flags = 2;
        q.threshold = std::uint16_t(threshold);
        *two = q;
    }
    return p;
}

}  // namespace detail
}  // namespace byte2bit
