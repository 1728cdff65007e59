#include "wavefront.hpp"

#include <algorithm>

#include "simd.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define B2B_WAVEFRONT 1
#endif

namespace byte2bit {
namespace detail {
namespace {

// Padding on both sides of each buffer row: blocks of eight steps read and write up to 14 lanes
// left of a row's start and 21 right of its end.
constexpr std::uint64_t pad = 32;

constexpr bool serial(predictor p) {
    return p == predictor::med || p == predictor::average || p == predictor::med_mix ||
           p == predictor::plane_avg || p == predictor::soft_grad;
}
constexpr int buffer_rows = 8;

#ifdef B2B_WAVEFRONT
#define B2B_AVX2 __attribute__((target("avx2"), always_inline)) inline

// Rows to steps and back: element e of step k is lane k of row e (self-inverse).
B2B_AVX2 void transpose8(__m256i* v) {
    __m256i t[8], u[8];
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_epi32(v[i], v[i + 1]);
        t[i + 1] = _mm256_unpackhi_epi32(v[i], v[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) {
        u[i] = _mm256_unpacklo_epi64(t[i], t[i + 2]);
        u[i + 1] = _mm256_unpackhi_epi64(t[i], t[i + 2]);
        u[i + 2] = _mm256_unpacklo_epi64(t[i + 1], t[i + 3]);
        u[i + 3] = _mm256_unpackhi_epi64(t[i + 1], t[i + 3]);
    }
    for (int i = 0; i < 4; ++i) {
        v[i] = _mm256_permute2x128_si256(u[i], u[i + 4], 0x20);
        v[i + 4] = _mm256_permute2x128_si256(u[i], u[i + 4], 0x31);
    }
}

// Eight steps of a block from the buffer (element e of step k: lane t0 + k - 2e of row e) and back.
B2B_AVX2 void load_steps(const std::uint32_t* base, std::uint64_t stride, std::uint64_t t0, __m256i* v) {
    for (int e = 0; e < 8; ++e)
        v[e] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(base + (std::ptrdiff_t(std::uint64_t(e) * stride + t0) - 2 * e)));
    transpose8(v);
}
B2B_AVX2 void store_steps(std::uint32_t* base, std::uint64_t stride, std::uint64_t t0, __m256i* v) {
    transpose8(v);
    for (int e = 0; e < 8; ++e)
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(base + (std::ptrdiff_t(std::uint64_t(e) * stride + t0) - 2 * e)), v[e]);
}

// predict_interior on 32-bit elements: lanes are at most 16 bits, so no sum below overflows and
// each rounds (shifts) and clamps as the wide arithmetic of predict.hpp does.
B2B_AVX2 __m256i clamp8(__m256i v, __m256i top) {
    return _mm256_min_epi32(_mm256_max_epi32(v, _mm256_setzero_si256()), top);
}
template <predictor P>
B2B_AVX2 __m256i predict8(__m256i a, __m256i b, __m256i c, __m256i d, __m256i top) {
    if constexpr (P == predictor::average) {
        return _mm256_srli_epi32(_mm256_add_epi32(a, b), 1);
    } else if constexpr (P == predictor::plane_avg) {
        const __m256i s = _mm256_slli_epi32(_mm256_add_epi32(a, b), 1);
        return clamp8(_mm256_srai_epi32(_mm256_add_epi32(_mm256_sub_epi32(s, c), d), 2), top);
    } else if constexpr (P == predictor::soft_grad) {
        const __m256i s = _mm256_add_epi32(a, b), s3 = _mm256_add_epi32(s, _mm256_slli_epi32(s, 1));
        const __m256i v = _mm256_add_epi32(_mm256_sub_epi32(s3, _mm256_slli_epi32(c, 1)), _mm256_set1_epi32(2));
        return clamp8(_mm256_srai_epi32(v, 2), top);
    } else {
        const __m256i g = _mm256_sub_epi32(_mm256_add_epi32(a, b), c);
        const __m256i med = _mm256_min_epi32(_mm256_max_epi32(g, _mm256_min_epi32(a, b)), _mm256_max_epi32(a, b));
        if constexpr (P == predictor::med) return med;
        return _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(_mm256_slli_epi32(med, 1), a), d), 2);
    }
}

// The wavefront over buffer rows 0 (the row above: lanes) and 1 .. 7 (residuals), in place. At
// step t, element e works on lane t - 2e of its row; its left neighbour is its own result of step
// t - 1 and its upper neighbours are element e - 1's results of steps t - 3, t - 2 and t - 1, one
// element along. Steps outside a row only touch its padding, and their results reach a lane only
// as the up-left of a first lane or the up-right of a last, which the edge rules replace.
template <predictor P>
__attribute__((target("avx2"))) void wavefront(std::uint32_t* buf, std::uint64_t stride, std::uint64_t W,
                                               std::uint32_t top_lane) {
    const __m256i one_up = _mm256_setr_epi32(0, 0, 1, 2, 3, 4, 5, 6);  // element e takes e - 1
    const __m256i top = _mm256_set1_epi32(int(top_lane)), one = _mm256_set1_epi32(1);
    const __m256i zero = _mm256_setzero_si256(), last = _mm256_set1_epi32(int(W - 1));
    __m256i col = _mm256_setr_epi32(0, -2, -4, -6, -8, -10, -12, -14);
    __m256i out = zero, up = zero, up_left = zero;  // step t - 1's result, and b, c of step t - 1
    std::uint32_t* base = buf + pad;
    for (std::uint64_t t0 = 0; t0 < W + 14; t0 += 8) {
        __m256i v[8];
        load_steps(base, stride, t0, v);
        for (int k = 0; k < 8; ++k) {
            const __m256i up_right = _mm256_permutevar8x32_epi32(out, one_up);
            const __m256i b = up, c = up_left;
            const __m256i d = uses_up_right(P) ? _mm256_blendv_epi8(up_right, b, _mm256_cmpeq_epi32(col, last)) : up_right;
            __m256i pred = predict8<P>(out, b, c, d, top);
            pred = _mm256_blendv_epi8(pred, b, _mm256_cmpeq_epi32(col, zero));  // a row's first lane: up
            const __m256i z = v[k];
            const __m256i delta = _mm256_xor_si256(_mm256_srli_epi32(z, 1), _mm256_sub_epi32(zero, _mm256_and_si256(z, one)));
            const __m256i lanes = _mm256_and_si256(_mm256_add_epi32(pred, delta), top);
            up_left = up;
            up = up_right;
            out = _mm256_blend_epi32(lanes, z, 0x01);  // element 0 passes the row above through
            v[k] = out;
            col = _mm256_add_epi32(col, one);
        }
        store_steps(base, stride, t0, v);
    }
}

// The linear wavefront's state between steps: results of steps t - 1 and t - 2; element e - 1's of
// steps t - 1 .. t - 4 (u1 .. u4) and element e - 2's of steps t - 1 .. t - 5 (v1 .. v5), each one
// element along; each element's lane.
struct linear_state {
    __m256i o1, o2, u1, u2, u3, u4, v1, v2, v3, v4, v5, col;
};
struct linear_constants {
    __m256i one_up, two_up, top, one, zero, last, half, threshold;
    __m256i minus_k_sum[2], k[2][linear_taps];  // the two sets (the same set twice with one)
};

// Eight steps of the linear wavefront on the transposed block v. Without Edges, every lane of the
// block is at least two from its row's ends and the border rules are left out. With TwoSets each
// element blends its coefficients by the texture above it.
template <bool Clamped, bool TwoSets, bool Edges>
B2B_AVX2 void linear_steps(linear_state& st, const linear_constants& kc, __m256i* v) {
    for (int s = 0; s < 8; ++s) {
        st.u4 = st.u3, st.u3 = st.u2, st.u2 = st.u1, st.u1 = _mm256_permutevar8x32_epi32(st.o1, kc.one_up);
        st.v5 = st.v4, st.v4 = st.v3, st.v3 = st.v2, st.v2 = st.v1, st.v1 = _mm256_permutevar8x32_epi32(st.o1, kc.two_up);
        const __m256i a = st.o1, b = st.u2, c = st.u3, nn = st.v4, nnw = st.v5;
        __m256i d = st.u1, nne = st.v3, ww = st.o2, nww = st.u4;
        if constexpr (Edges) {
            const __m256i at_last = _mm256_cmpeq_epi32(st.col, kc.last), second = _mm256_cmpeq_epi32(st.col, kc.one);
            d = _mm256_blendv_epi8(d, b, at_last), nne = _mm256_blendv_epi8(nne, nn, at_last);
            ww = _mm256_blendv_epi8(ww, a, second), nww = _mm256_blendv_epi8(nww, c, second);
        }
        __m256i k[linear_taps], minus_k_sum = kc.minus_k_sum[0];
        for (int j = 0; j < linear_taps; ++j) k[j] = kc.k[0][j];
        if constexpr (TwoSets) {
            const __m256i texture = _mm256_add_epi32(
                _mm256_add_epi32(_mm256_abs_epi32(_mm256_sub_epi32(b, c)), _mm256_abs_epi32(_mm256_sub_epi32(b, d))),
                _mm256_abs_epi32(_mm256_sub_epi32(nn, b)));
            const __m256i second = _mm256_cmpgt_epi32(texture, kc.threshold);
            for (int j = 0; j < linear_taps; ++j) k[j] = _mm256_blendv_epi8(k[j], kc.k[1][j], second);
            minus_k_sum = _mm256_blendv_epi8(minus_k_sum, kc.minus_k_sum[1], second);
        }
        // Everything but the left lane's term first: only that term waits for step t - 1.
        __m256i rest = _mm256_add_epi32(kc.half, _mm256_mullo_epi32(minus_k_sum, b));
        rest = _mm256_add_epi32(rest, _mm256_mullo_epi32(k[1], c));
        rest = _mm256_add_epi32(rest, _mm256_mullo_epi32(k[2], d));
        rest = _mm256_add_epi32(rest, _mm256_mullo_epi32(k[3], nn));
        rest = _mm256_add_epi32(rest, _mm256_mullo_epi32(k[4], ww));
        rest = _mm256_add_epi32(rest, _mm256_mullo_epi32(k[5], nww));
        rest = _mm256_add_epi32(rest, _mm256_mullo_epi32(k[6], nne));
        rest = _mm256_add_epi32(rest, _mm256_mullo_epi32(k[7], nnw));
        const __m256i sum = _mm256_add_epi32(rest, _mm256_mullo_epi32(k[0], a));
        __m256i pred = _mm256_add_epi32(b, _mm256_srai_epi32(sum, linear_shift));
        if constexpr (Clamped) {
            const __m256i lo = _mm256_min_epi32(a, _mm256_min_epi32(b, d)), hi = _mm256_max_epi32(a, _mm256_max_epi32(b, d));
            pred = _mm256_min_epi32(_mm256_max_epi32(pred, lo), hi);
        } else {
            pred = clamp8(pred, kc.top);
        }
        if constexpr (Edges) pred = _mm256_blendv_epi8(pred, b, _mm256_cmpeq_epi32(st.col, kc.zero));  // first lane: up
        const __m256i z = v[s];
        const __m256i delta = _mm256_xor_si256(_mm256_srli_epi32(z, 1), _mm256_sub_epi32(kc.zero, _mm256_and_si256(z, kc.one)));
        const __m256i lanes = _mm256_and_si256(_mm256_add_epi32(pred, delta), kc.top);
        st.o2 = st.o1;
        st.o1 = _mm256_blend_epi32(lanes, z, 0x03);  // elements 0 and 1 pass the rows above through
        v[s] = st.o1;
        st.col = _mm256_add_epi32(st.col, kc.one);
    }
}

// The linear predictor's wavefront over buffer rows 0 and 1 (the two rows above: lanes) and 2 .. 7
// (residuals), in place. As above, element e works on lane t - 2e at step t; element e - 1's
// results of steps t - 1 .. t - 4 are its up-right, up, up-left and up-two-left neighbours, and
// element e - 2's of steps t - 3 .. t - 5 its two-up neighbours. The sum of the coefficients times
// the taps minus the sum of the coefficients times b is linear_predict_at's sum (no int32 overflows).
template <bool Clamped, bool TwoSets>
__attribute__((target("avx2"))) void wavefront_linear(std::uint32_t* buf, std::uint64_t stride, std::uint64_t W,
                                                      std::uint32_t top_lane, const linear_params& p) {
    linear_constants kc;
    kc.one_up = _mm256_setr_epi32(0, 0, 1, 2, 3, 4, 5, 6), kc.two_up = _mm256_setr_epi32(0, 0, 0, 1, 2, 3, 4, 5);
    kc.top = _mm256_set1_epi32(int(top_lane)), kc.one = _mm256_set1_epi32(1);
    kc.zero = _mm256_setzero_si256(), kc.last = _mm256_set1_epi32(int(W - 1));
    kc.half = _mm256_set1_epi32(1 << (linear_shift - 1));
    const linear_weights w(p);
    kc.threshold = _mm256_set1_epi32(w.threshold);
    for (int set = 0; set < 2; ++set) {
        int k_sum = 0;
        for (int j = 0; j < linear_taps; ++j) {
            kc.k[set][j] = _mm256_set1_epi32(w.k[set * linear_taps + j]);
            k_sum += w.k[set * linear_taps + j];
        }
        kc.minus_k_sum[set] = _mm256_set1_epi32(-k_sum);
    }
    linear_state st;
    st.o1 = st.o2 = st.u1 = st.u2 = st.u3 = st.u4 = kc.zero;
    st.v1 = st.v2 = st.v3 = st.v4 = st.v5 = kc.zero;
    st.col = _mm256_setr_epi32(0, -2, -4, -6, -8, -10, -12, -14);
    std::uint32_t* base = buf + pad;
    for (std::uint64_t t0 = 0; t0 < W + 14; t0 += 8) {
        __m256i v[8];
        load_steps(base, stride, t0, v);
        // Element e's lanes in this block are t0 - 2e .. t0 + 7 - 2e.
        if (t0 >= 16 && t0 + 9 <= W)
            linear_steps<Clamped, TwoSets, false>(st, kc, v);
        else
            linear_steps<Clamped, TwoSets, true>(st, kc, v);
        store_steps(base, stride, t0, v);
    }
}
#endif

}  // namespace

template <class U>
bool wavefront_strip<U>::usable(predictor p, std::uint64_t W) {
#ifdef B2B_WAVEFRONT
    return sizeof(U) <= 2 && (serial(p) || p == predictor::linear) && W >= 1 && simd() >= simd_level::avx2;
#else
    return false;
#endif
}

template <class U>
wavefront_strip<U>::wavefront_strip(predictor p, std::uint64_t W, const linear_params* linear)
    : p_(p), W_(W), stride_(W + 2 * pad), above_(p == predictor::linear ? 2 : 1),
      buffer_(std::size_t(buffer_rows * stride_), 0) {
    if (p == predictor::linear) {
        if (linear == nullptr) fail(errc::invalid_argument, "the linear predictor's parameters are missing");
        linear_ = *linear;
    }
}

template <class U>
void wavefront_strip<U>::add(const U* z) {
    std::uint32_t* row = buffer_.data() + std::size_t(above_ + rows_++) * stride_ + pad;
    for (std::uint64_t i = 0; i < W_; ++i) row[i] = z[i];
}

template <class U>
void wavefront_strip<U>::flush(const U* above2, const U* above, U* out) {
    std::uint32_t* rows = buffer_.data() + pad;
    if (above_ == 2)
        for (std::uint64_t i = 0; i < W_; ++i) rows[i] = above2[i];
    std::uint32_t* up = rows + std::size_t(above_ - 1) * stride_;
    for (std::uint64_t i = 0; i < W_; ++i) up[i] = above[i];
#ifdef B2B_WAVEFRONT
    const std::uint32_t top = std::uint32_t(U(~U(0)));
    if (p_ == predictor::linear) {
        const bool clamped = linear_.clamped();
        if (linear_.two_sets())
            (clamped ? wavefront_linear<true, true> : wavefront_linear<false, true>)(buffer_.data(), stride_, W_, top, linear_);
        else
            (clamped ? wavefront_linear<true, false> : wavefront_linear<false, false>)(buffer_.data(), stride_, W_, top, linear_);
    } else {
        with_predictor<U>(p_, [&](auto P) {
            if constexpr (serial(decltype(P)::value)) wavefront<decltype(P)::value>(buffer_.data(), stride_, W_, top);
        });
    }
#endif
    for (int r = 0; r < rows_; ++r) {
        const std::uint32_t* lanes = rows + std::size_t(above_ + r) * stride_;
        U* dst = out + std::size_t(r) * W_;
        for (std::uint64_t i = 0; i < W_; ++i) dst[i] = U(lanes[i]);
    }
    rows_ = 0;
}

template class wavefront_strip<std::uint8_t>;
template class wavefront_strip<std::uint16_t>;

}  // namespace detail
}  // namespace byte2bit
