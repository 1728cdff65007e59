#include "ans_avx2.hpp"

#include <algorithm>
#include <cstring>

#include "ans_avx512.hpp"

#include "rans.hpp"
#include "simd.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define B2B_ANS_AVX2 1
#endif

namespace byte2bit {
namespace detail {

bool ans_avx2_usable() {
#ifdef B2B_ANS_AVX2
    return simd() >= simd_level::avx2;
#else
    return false;
#endif
}

#ifdef B2B_ANS_AVX2
namespace {

template <class U>
__attribute__((target("avx2"))) __m256i load8(const U* p) {
    if constexpr (sizeof(U) == 1) return _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
    return _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

// bucket_of(q) (ans.cpp) for q < 2^24: 0 and 1 for themselves, else 2 e - 2 and the bit below the
// leading one, e = bit_length(q) from the float's exponent.
__attribute__((target("avx2"))) inline __m256i buckets_of(__m256i q) {
    const __m256i two = _mm256_set1_epi32(2);
    const __m256i e = _mm256_sub_epi32(_mm256_srli_epi32(_mm256_castps_si256(_mm256_cvtepi32_ps(q)), 23),
                                       _mm256_set1_epi32(126));
    const __m256i below = _mm256_and_si256(_mm256_srlv_epi32(q, _mm256_sub_epi32(e, two)), _mm256_set1_epi32(1));
    const __m256i b = _mm256_add_epi32(_mm256_sub_epi32(_mm256_add_epi32(e, e), two), below);
    return _mm256_blendv_epi8(b, q, _mm256_cmpgt_epi32(two, q));
}

// 2 up + up-left + up-right + (up-left-left + up-right-right + up-up) / 2, as ans.cpp's
// row_activities; 16-bit residuals keep every sum below 2^20. A bucket's byte: its 32-bit word of
// the table by a permute (entries 0-31 in one register, 32-63 in the other), then a shift.
template <class U>
__attribute__((target("avx2"))) std::uint64_t contexts8(const U* up, const U* upup, std::uint64_t W,
                                                        const std::uint8_t* of_bucket, int top, std::uint8_t* ctx,
                                                        std::uint64_t x) {
    const __m256i low_half = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(of_bucket));
    const __m256i high_half = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(of_bucket + 32));
    const __m256i cap = _mm256_set1_epi32(top), byte = _mm256_set1_epi32(0xFF), three = _mm256_set1_epi32(3);
    const __m256i bytes_of = _mm256_setr_epi8(0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
                                              0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
    for (; x + 8 + 2 <= W; x += 8) {
        const __m256i far = _mm256_add_epi32(_mm256_add_epi32(load8(up + x - 2), load8(up + x + 2)),
                                             upup ? load8(upup + x) : _mm256_setzero_si256());
        const __m256i near = _mm256_add_epi32(load8(up + x - 1), load8(up + x + 1));
        const __m256i q = _mm256_add_epi32(_mm256_add_epi32(_mm256_slli_epi32(load8(up + x), 1), near),
                                           _mm256_srli_epi32(far, 1));
        const __m256i b = _mm256_min_epi32(buckets_of(q), cap);
        const __m256i word_at = _mm256_srli_epi32(b, 2);
        const __m256i word = _mm256_castps_si256(  // by bit 5 of the bucket, moved to the sign of its element
            _mm256_blendv_ps(_mm256_castsi256_ps(_mm256_permutevar8x32_epi32(low_half, word_at)),
                             _mm256_castsi256_ps(_mm256_permutevar8x32_epi32(high_half, word_at)),
                             _mm256_castsi256_ps(_mm256_slli_epi32(b, 26))));
        __m256i c = _mm256_and_si256(_mm256_srlv_epi32(word, _mm256_slli_epi32(_mm256_and_si256(b, three), 3)), byte);
        c = _mm256_shuffle_epi8(c, bytes_of);  // the low byte of each element, four per half
        const std::uint32_t lo = std::uint32_t(_mm256_cvtsi256_si32(c));
        const std::uint32_t hi = std::uint32_t(_mm256_extract_epi32(c, 4));
        const std::uint64_t eight = std::uint64_t(lo) | std::uint64_t(hi) << 32;
        std::memcpy(ctx + x, &eight, 8);
    }
    return x;
}

// ans_avx512.cpp's contexts by ranges of activity on AVX2: sixteen lanes in saturating 16-bit sums,
// q >= threshold as max(q, threshold) == q (AVX2 compares 16-bit lanes signed only).
template <class U>
__attribute__((target("avx2"))) inline __m256i load16w(const U* p) {
    if constexpr (sizeof(U) == 1) return _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}
template <class U>
__attribute__((target("avx2"))) inline void ranks_block16(const U* up, const U* upup, std::uint64_t x,
                                                          const __m256i* threshold, int count, __m128i ctx_of_rank,
                                                          std::uint8_t* ctx) {
    const __m256i far = _mm256_adds_epu16(_mm256_adds_epu16(load16w(up + x - 2), load16w(up + x + 2)),
                                          upup ? load16w(upup + x) : _mm256_setzero_si256());
    const __m256i near = _mm256_adds_epu16(load16w(up + x - 1), load16w(up + x + 1));
    const __m256i u = load16w(up + x);
    const __m256i q = _mm256_adds_epu16(_mm256_adds_epu16(_mm256_adds_epu16(u, u), near), _mm256_srli_epi16(far, 1));
    __m256i rank = _mm256_setzero_si256();
    for (int j = 0; j < count; ++j)
        rank = _mm256_sub_epi16(rank, _mm256_cmpeq_epi16(_mm256_max_epu16(q, threshold[j]), q));
    const __m256i bytes = _mm256_permute4x64_epi64(_mm256_packus_epi16(rank, rank), 0x08);  // ranks 0-15 in order
    _mm_storeu_si128(reinterpret_cast<__m128i*>(ctx + x), _mm_shuffle_epi8(ctx_of_rank, _mm256_castsi256_si128(bytes)));
}
template <class U>
__attribute__((target("avx2"))) std::uint64_t ranks16(const U* up, const U* upup, std::uint64_t W, const context_ranks& r,
                                                     std::uint8_t* ctx) {
    const __m128i ctx_of_rank = _mm_loadu_si128(reinterpret_cast<const __m128i*>(r.ctx_of_rank));
    __m256i threshold[15];
    for (int j = 0; j < r.count; ++j) threshold[j] = _mm256_set1_epi16(std::int16_t(r.threshold[j]));
    std::uint64_t x = 2;
    for (; x + 16 + 2 <= W; x += 16) ranks_block16(up, upup, x, threshold, r.count, ctx_of_rank, ctx);
    if (x < W - 2 && W >= 16 + 4) {  // the last lanes as one more block, overlapping lanes already found
        ranks_block16(up, upup, W - 2 - 16, threshold, r.count, ctx_of_rank, ctx);
        x = W - 2;
    }
    return x;
}

// tokenize() on eight lanes: the leading bit's position from the float exponent (exact: lanes of
// at most 16 bits), the token and raw-bit count by the same arithmetic.
template <class U, class S>
__attribute__((target("avx2"))) std::uint64_t tokens8(const U* z, std::uint64_t n, token_config split, S* symbols,
                                                      std::uint8_t* nbits) {
    const __m256i k = _mm256_set1_epi32(split.k), m = _mm256_set1_epi32(split.m);
    const __m256i small_top = _mm256_set1_epi32(1 << split.k), low_m = _mm256_set1_epi32((1 << split.m) - 1);
    const __m256i bias = _mm256_set1_epi32(127);
    std::uint64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256i v = load8(z + i);
        const __m256i small = _mm256_cmpgt_epi32(small_top, v);
        const __m256i lead = _mm256_sub_epi32(_mm256_srli_epi32(_mm256_castps_si256(_mm256_cvtepi32_ps(v)), 23), bias);
        const __m256i raw = _mm256_sub_epi32(lead, m);
        const __m256i top = _mm256_and_si256(_mm256_srlv_epi32(v, raw), low_m);
        const __m256i large = _mm256_add_epi32(_mm256_add_epi32(small_top, _mm256_sllv_epi32(_mm256_sub_epi32(lead, k), m)), top);
        const __m256i sym = _mm256_blendv_epi8(large, v, small);
        const __m128i sym16 = _mm_packus_epi32(_mm256_castsi256_si128(sym), _mm256_extracti128_si256(sym, 1));
        if constexpr (sizeof(S) == 1) {
            _mm_storel_epi64(reinterpret_cast<__m128i*>(symbols + i), _mm_packus_epi16(sym16, sym16));
        } else {
            _mm_storeu_si128(reinterpret_cast<__m128i*>(symbols + i), sym16);
        }
        if (nbits) {
            const __m256i nb = _mm256_andnot_si256(small, raw);
            const __m128i nb16 = _mm_packus_epi32(_mm256_castsi256_si128(nb), _mm256_extracti128_si256(nb, 1));
            _mm_storel_epi64(reinterpret_cast<__m128i*>(nbits + i), _mm_packus_epi16(nb16, nb16));
        }
    }
    return i;
}

// ans.cpp's left_bucket: texture |w - nw| + |n - nw| + |ne - n| + |w - ww| joins activity + 2 z_left,
// whose bucket_of is capped at 31 (every sum from 2^16 on); the family (0, 1 or 2) from the equalities of w, n, nw and ne.
template <class U>
__attribute__((target("avx2"))) std::uint64_t left_buckets8(const U* row, const U* up, const U* zrow,
                                                            const std::uint32_t* activity, std::uint64_t i0,
                                                            std::uint64_t i1, std::uint8_t* out) {
    const __m256i cap = _mm256_set1_epi32(1 << 16), top = _mm256_set1_epi32(31);
    const __m256i family_step = _mm256_set1_epi32(32);
    const __m256i bytes_of = _mm256_setr_epi8(0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
                                              0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
    std::uint64_t i = i0;
    for (; i + 8 <= i1; i += 8) {
        const __m256i w = load8(row + i - 1), ww = load8(row + i - 2);
        const __m256i n = load8(up + i), nw = load8(up + i - 1), ne = load8(up + i + 1);
        const __m256i texture = _mm256_add_epi32(
            _mm256_add_epi32(_mm256_abs_epi32(_mm256_sub_epi32(w, nw)), _mm256_abs_epi32(_mm256_sub_epi32(n, nw))),
            _mm256_add_epi32(_mm256_abs_epi32(_mm256_sub_epi32(ne, n)), _mm256_abs_epi32(_mm256_sub_epi32(w, ww))));
        const __m256i act = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(activity + i));
        const __m256i z_left = load8(zrow + i - 1);
        const __m256i q = _mm256_min_epu32(_mm256_add_epi32(_mm256_add_epi32(act, _mm256_slli_epi32(z_left, 1)), texture),
                                           cap);
        const __m256i bucket = _mm256_min_epi32(buckets_of(q), top);
        const __m256i same_wn = _mm256_cmpeq_epi32(w, n);
        const __m256i flat = _mm256_and_si256(same_wn, _mm256_and_si256(_mm256_cmpeq_epi32(nw, n), _mm256_cmpeq_epi32(ne, n)));
        const __m256i family = _mm256_add_epi32(_mm256_and_si256(same_wn, family_step), _mm256_and_si256(flat, family_step));
        const __m256i b = _mm256_shuffle_epi8(_mm256_add_epi32(family, bucket), bytes_of);
        const std::uint64_t eight = std::uint64_t(std::uint32_t(_mm256_cvtsi256_si32(b))) |
                                    std::uint64_t(std::uint32_t(_mm256_extract_epi32(b, 4))) << 32;
        std::memcpy(out + i, &eight, 8);
    }
    return i;
}

// For each 4-bit mask of renormalizing states in a half vector: the bytes that move the next words,
// in state order, into those states' 32-bit elements (zero elsewhere).
struct word_shuffles {
    alignas(16) std::uint8_t control[16][16];
    word_shuffles() {
        for (int m = 0; m < 16; ++m)
            for (int lane = 0, rank = 0; lane < 4; ++lane) {
                const bool takes = (m >> lane) & 1;
                for (int b = 0; b < 4; ++b)
                    control[m][4 * lane + b] = takes && b < 2 ? std::uint8_t(2 * rank + b) : 0x80;
                rank += takes;
            }
    }
};

__attribute__((target("avx2"))) std::uint64_t rans_groups(const std::uint32_t* table, std::uint32_t* states,
                                                          const std::uint8_t** wp_io, const std::uint8_t* wend,
                                                          const std::uint8_t* ctx, std::uint8_t* symbols,
                                                          std::uint64_t groups) {
    static const word_shuffles shuffles;
    const __m256i zero = _mm256_setzero_si256();
    const __m256i bytes_of = _mm256_setr_epi8(0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
                                              0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
    __m256i s[4];
    for (int v = 0; v < 4; ++v) s[v] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(states + 8 * v));
    const std::uint8_t* wp = *wp_io;
    std::uint64_t g = 0;
    // A group reads at most 32 words, and each half vector loads 8 bytes where its words begin.
    for (; g < groups && wend - wp >= 2 * wide_rans_states + 8; ++g) {
        for (int v = 0; v < 4; ++v) {
            const std::uint64_t at = g * wide_rans_states + 8 * std::uint64_t(v);
            __m256i e;
            const __m256i x = rans_step8(table, ctx + at, s[v], &e);
            const __m256i renorm = _mm256_cmpeq_epi32(_mm256_srli_epi32(x, 16), zero);
            const unsigned mask = unsigned(_mm256_movemask_ps(_mm256_castsi256_ps(renorm)));
            const __m128i lo = _mm_shuffle_epi8(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(wp)),
                                                _mm_load_si128(reinterpret_cast<const __m128i*>(shuffles.control[mask & 15])));
            wp += 2 * __builtin_popcount(mask & 15);
            const __m128i hi = _mm_shuffle_epi8(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(wp)),
                                                _mm_load_si128(reinterpret_cast<const __m128i*>(shuffles.control[mask >> 4])));
            wp += 2 * __builtin_popcount(mask >> 4);
            const __m256i words = _mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1);
            s[v] = _mm256_blendv_epi8(x, _mm256_or_si256(_mm256_slli_epi32(x, 16), words), renorm);
            const __m256i b = _mm256_shuffle_epi8(e, bytes_of);  // each symbol, the low byte of its entry
            const std::uint64_t eight = std::uint64_t(std::uint32_t(_mm256_cvtsi256_si32(b))) |
                                        std::uint64_t(std::uint32_t(_mm256_extract_epi32(b, 4))) << 32;
            std::memcpy(symbols + at, &eight, 8);
        }
    }
    for (int v = 0; v < 4; ++v) _mm256_storeu_si256(reinterpret_cast<__m256i*>(states + 8 * v), s[v]);
    *wp_io = wp;
    return g;
}

// For each 8-bit mask of renormalizing states in a vector: the bytes that gather their low words,
// highest lane first (the order write_wide_rans writes them), to the front.
struct word_compress {
    alignas(16) std::uint8_t control[256][16];
    word_compress() {
        for (int m = 0; m < 256; ++m) {
            int at = 0;
            for (int lane = 7; lane >= 0; --lane)
                if ((m >> lane) & 1) control[m][at++] = std::uint8_t(2 * lane), control[m][at++] = std::uint8_t(2 * lane + 1);
            while (at < 16) control[m][at++] = 0x80;
        }
    }
};

// Eight states of method 5 take a symbol each, as write_wide_rans's scalar step: renormalize where
// x >= f 2^20, then x + start + (x / f) (2^12 - f). e: f | start << 13 of each lane's symbol.
__attribute__((target("avx2"))) inline __m256i rans_encode8(__m256i x, __m256i e, const std::uint8_t* compress,
                                                            std::uint16_t* words, std::size_t* used) {
    const __m256i f = _mm256_and_si256(e, _mm256_set1_epi32(0x1FFF)), start = _mm256_srli_epi32(e, 13);
    const __m256i renorm = _mm256_xor_si256(_mm256_cmpgt_epi32(f, _mm256_srli_epi32(x, 20)), _mm256_set1_epi32(-1));
    const unsigned mask = unsigned(_mm256_movemask_ps(_mm256_castsi256_ps(renorm)));
    // Each lane's low word, in lane order, then the renormalizing ones compressed to the front.
    const __m256i low = _mm256_shuffle_epi8(x, _mm256_setr_epi8(0, 1, 4, 5, 8, 9, 12, 13, -1, -1, -1, -1, -1, -1, -1, -1,
                                                                 0, 1, 4, 5, 8, 9, 12, 13, -1, -1, -1, -1, -1, -1, -1, -1));
    const __m128i eight = _mm256_castsi256_si128(_mm256_permute4x64_epi64(low, 0x08));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(words + *used),
                     _mm_shuffle_epi8(eight, _mm_load_si128(reinterpret_cast<const __m128i*>(compress + 16 * mask))));
    *used += unsigned(__builtin_popcount(mask));
    x = _mm256_srlv_epi32(x, _mm256_and_si256(renorm, _mm256_set1_epi32(16)));
    // x < f 2^20 <= 2^32 now. As doubles (unsigned: offset by 2^31), x / f rounds to a double whose
    // integer part is the quotient: within 2^-44 of an integer x / f is one, and doubles are finer.
    const __m256d bias = _mm256_set1_pd(2147483648.0);
    const __m256i flipped = _mm256_xor_si256(x, _mm256_set1_epi32(INT32_MIN));
    const __m256d x_lo = _mm256_add_pd(_mm256_cvtepi32_pd(_mm256_castsi256_si128(flipped)), bias);
    const __m256d x_hi = _mm256_add_pd(_mm256_cvtepi32_pd(_mm256_extracti128_si256(flipped, 1)), bias);
    const __m256d f_lo = _mm256_cvtepi32_pd(_mm256_castsi256_si128(f)), f_hi = _mm256_cvtepi32_pd(_mm256_extracti128_si256(f, 1));
    const __m256i q = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm256_cvttpd_epi32(_mm256_div_pd(x_lo, f_lo))),
                                              _mm256_cvttpd_epi32(_mm256_div_pd(x_hi, f_hi)), 1);
    const __m256i complement = _mm256_sub_epi32(_mm256_set1_epi32(prob_scale), f);
    return _mm256_add_epi32(_mm256_add_epi32(x, start), _mm256_mullo_epi32(q, complement));
}

__attribute__((target("avx2"))) void rans_encode_groups(const std::uint32_t* steps, const std::uint8_t* ctx,
                                                        const std::uint8_t* symbols, std::uint64_t groups,
                                                        std::uint32_t* states, std::uint16_t* words, std::size_t* used) {
    static const word_compress compress;
    __m256i s[4];
    for (int v = 0; v < 4; ++v) s[v] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(states + 8 * v));
    for (std::uint64_t g = groups; g-- > 0;)
        for (int v = 3; v >= 0; --v) {
            const std::uint64_t at = g * wide_rans_states + 8 * std::uint64_t(v);
            const __m256i c = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(ctx + at)));
            const __m256i sym = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(symbols + at)));
            const __m256i e = _mm256_i32gather_epi32(reinterpret_cast<const int*>(steps), _mm256_add_epi32(_mm256_slli_epi32(c, 8), sym), 4);
            s[v] = rans_encode8(s[v], e, &compress.control[0][0], words, used);
        }
    for (int v = 0; v < 4; ++v) _mm256_storeu_si256(reinterpret_cast<__m256i*>(states + 8 * v), s[v]);
}

// 32 lanes a vector as bytes: min(z, 255) answers z >= 2^t for t < 8, z >> 8 for the others. Byte
// counters take up to 255 vectors, then are summed into 64-bit ones.
__attribute__((target("avx2"))) void at_least_pow2(const std::uint16_t* z, std::uint64_t vectors, std::uint64_t* at_least) {
    const __m256i zero = _mm256_setzero_si256(), byte_max = _mm256_set1_epi16(255);
    __m256i total[16];
    for (auto& t : total) t = zero;
    for (std::uint64_t v0 = 0; v0 < vectors; v0 += 255) {
        const std::uint64_t v1 = std::min(vectors, v0 + 255);
        for (int high = 0; high < 2; ++high) {  // eight counters at a time stay in registers
            __m256i count[8];
            for (auto& c : count) c = zero;
            for (std::uint64_t v = v0; v < v1; ++v) {
                const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(z + 32 * v));
                const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(z + 32 * v + 16));
                const __m256i bytes = high ? _mm256_packus_epi16(_mm256_srli_epi16(a, 8), _mm256_srli_epi16(b, 8))
                                           : _mm256_packus_epi16(_mm256_min_epu16(a, byte_max), _mm256_min_epu16(b, byte_max));
                for (int t = 0; t < 8; ++t) {
                    const __m256i bound = _mm256_set1_epi8(char(1 << t));
                    count[t] = _mm256_sub_epi8(count[t], _mm256_cmpeq_epi8(_mm256_max_epu8(bytes, bound), bytes));
                }
            }
            for (int t = 0; t < 8; ++t) total[8 * high + t] = _mm256_add_epi64(total[8 * high + t], _mm256_sad_epu8(count[t], zero));
        }
    }
    for (int t = 0; t < 16; ++t) {
        alignas(32) std::uint64_t part[4];
        _mm256_store_si256(reinterpret_cast<__m256i*>(part), total[t]);
        at_least[t] += part[0] + part[1] + part[2] + part[3];
    }
}

// Lanes of at most 16 bits have at most 15 raw bits, so eight lanes take at most 120 bits: with
// the block's offset in its first byte, they lie in the first 128 + 32 bits from that byte, one
// 32-byte load. A lane's bits: the two 32-bit words around its offset (by permutes), shifted.
constexpr std::uint64_t max_block_bits = 8 * 15;

template <class U>
__attribute__((target("avx2"))) std::uint64_t residuals8(const std::uint8_t* symbols, std::uint64_t n,
                                                         token_config split, const std::uint8_t* data,
                                                         std::size_t size, std::uint64_t* bit, U* z) {
    const __m256i small_top = _mm256_set1_epi32(1 << split.k), k = _mm256_set1_epi32(split.k);
    const __m256i m = _mm256_set1_epi32(split.m), low_m = _mm256_set1_epi32((1 << split.m) - 1);
    const __m256i lead = _mm256_set1_epi32(1 << split.m), one = _mm256_set1_epi32(1);
    const __m128i shift_m = _mm_cvtsi32_si128(split.m);
    const __m256i last = _mm256_set1_epi32(7), bits_in_word = _mm256_set1_epi32(31), thirty_two = _mm256_set1_epi32(32);
    std::uint64_t pos = *bit, i = 0;
    for (; i + 8 <= n && pos / 8 + 32 <= size; i += 8) {
        const __m256i s = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(symbols + i)));
        const __m256i small = _mm256_cmpgt_epi32(small_top, s);  // symbols below 2^k are residuals
        const __m256i t = _mm256_sub_epi32(s, small_top);
        const __m256i nbits =
            _mm256_andnot_si256(small, _mm256_sub_epi32(_mm256_add_epi32(k, _mm256_srl_epi32(t, shift_m)), m));
        const __m256i base = _mm256_blendv_epi8(
            _mm256_sllv_epi32(_mm256_or_si256(_mm256_and_si256(t, low_m), lead), nbits), s, small);
        // Bit offsets from the block's first byte: an inclusive prefix sum of the counts, less each.
        __m256i sum = _mm256_add_epi32(nbits, _mm256_slli_si256(nbits, 4));
        sum = _mm256_add_epi32(sum, _mm256_slli_si256(sum, 8));
        sum = _mm256_add_epi32(sum, _mm256_blend_epi32(_mm256_setzero_si256(),
                                                       _mm256_permutevar8x32_epi32(sum, _mm256_set1_epi32(3)), 0xF0));
        const __m256i at = _mm256_add_epi32(_mm256_sub_epi32(sum, nbits), _mm256_set1_epi32(int(pos & 7)));
        const __m256i block = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(data + pos / 8));
        const __m256i word_at = _mm256_srli_epi32(at, 5), shift = _mm256_and_si256(at, bits_in_word);
        const __m256i low = _mm256_permutevar8x32_epi32(block, word_at);
        const __m256i high = _mm256_permutevar8x32_epi32(block, _mm256_add_epi32(word_at, one));
        const __m256i word = _mm256_or_si256(_mm256_srlv_epi32(low, shift),  // (a shift by 32 gives 0)
                                             _mm256_sllv_epi32(high, _mm256_sub_epi32(thirty_two, shift)));
        const __m256i raw = _mm256_and_si256(word, _mm256_sub_epi32(_mm256_sllv_epi32(one, nbits), one));
        const __m256i r = _mm256_or_si256(base, raw);
        __m128i packed = _mm_packus_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));
        if constexpr (sizeof(U) == 1) {
            _mm_storel_epi64(reinterpret_cast<__m128i*>(z + i), _mm_packus_epi16(packed, packed));
        } else {
            _mm_storeu_si128(reinterpret_cast<__m128i*>(z + i), packed);
        }
        pos += std::uint32_t(_mm256_cvtsi256_si32(_mm256_permutevar8x32_epi32(sum, last)));
    }
    *bit = pos;
    return i;
}

}  // namespace
#endif

std::uint64_t wide_rans_groups(const std::uint32_t* table, std::uint32_t* states, const std::uint8_t** wp,
                               const std::uint8_t* wend, const std::uint8_t* ctx, std::uint8_t* symbols,
                               std::uint64_t groups) {
#ifdef B2B_ANS_AVX2
    const std::uint64_t done = simd() >= simd_level::avx512 ? rans_groups_avx512(table, states, wp, wend, ctx, symbols, groups) : 0;
    const std::uint64_t at = done * wide_rans_states;
    return done + rans_groups(table, states, wp, wend, ctx + at, symbols + at, groups - done);
#else
    return 0;
#endif
}

void wide_rans_encode_groups(const std::uint32_t* steps, const std::uint8_t* ctx, const std::uint8_t* symbols,
                             std::uint64_t groups, std::uint32_t* states, std::uint16_t* words, std::size_t* used) {
#ifdef B2B_ANS_AVX2
    rans_encode_groups(steps, ctx, symbols, groups, states, words, used);
#endif
}

std::uint64_t count_at_least_pow2(const std::uint16_t* z, std::uint64_t n, std::uint64_t* at_least) {
#ifdef B2B_ANS_AVX2
    at_least_pow2(z, n / 32, at_least);
    return n / 32 * 32;
#else
    return 0;
#endif
}

context_ranks make_context_ranks(const std::uint8_t* of_bucket, int top) {
    context_ranks r;
    int count = 0;
    r.ctx_of_rank[0] = of_bucket[0];
    for (int b = 1; b <= top; ++b) {
        if (of_bucket[b] == of_bucket[b - 1]) continue;
        // the smallest activity of bucket b (ans.cpp's bucket_of): 1, then 2^(e - 1) and, for odd
        // buckets, 2^(e - 2) more
        const int e = b / 2 + 1;
        const std::uint32_t q = b == 1 ? 1 : (1u << (e - 1)) + (b % 2 ? 1u << (e - 2) : 0);
        if (count == 15 || q >= (1u << 15)) return context_ranks{};
        r.threshold[count++] = std::uint16_t(q);
        r.ctx_of_rank[count] = of_bucket[b];
    }
    r.count = count;
    return r;
}

template <class U>
std::uint64_t row_contexts8(const U* up, const U* upup, std::uint64_t W, const std::uint8_t* of_bucket, int top,
                            const context_ranks* ranks, std::uint8_t* ctx) {
#ifdef B2B_ANS_AVX2
    std::uint64_t x = 2;
    const bool by_ranks = ranks && ranks->count >= 0;
    if (simd() >= simd_level::avx512)
        x = by_ranks ? contexts32<U>(up, upup, W, *ranks, ctx) : contexts16<U>(up, upup, W, of_bucket, top, ctx);
    else if (by_ranks)
        x = ranks16<U>(up, upup, W, *ranks, ctx);
    x = contexts8<U>(up, upup, W, of_bucket, top, ctx, x);
    // The last lanes as one more block that overlaps lanes already found (with the same contexts).
    return x < W - 2 && W >= 12 ? contexts8<U>(up, upup, W, of_bucket, top, ctx, W - 10) : x;
#else
    return 2;
#endif
}

template <class U, class S>
std::uint64_t lane_tokens8(const U* z, std::uint64_t n, token_config split, S* symbols, std::uint8_t* nbits) {
#ifdef B2B_ANS_AVX2
    return tokens8<U, S>(z, n, split, symbols, nbits);
#else
    return 0;
#endif
}

template <class U>
std::uint64_t row_left_buckets8(const U* row, const U* up, const U* zrow, const std::uint32_t* activity,
                                std::uint64_t i0, std::uint64_t i1, std::uint8_t* out) {
#ifdef B2B_ANS_AVX2
    return left_buckets8<U>(row, up, zrow, activity, i0, i1, out);
#else
    return i0;
#endif
}

template <class U>
std::uint64_t token_residuals8(const std::uint8_t* symbols, std::uint64_t n, token_config split, bit_reader& extra,
                               U* z) {
#ifdef B2B_ANS_AVX2
    std::uint64_t bit = extra.bits_used();
    std::uint64_t done = simd() >= simd_level::avx512 ? residuals16<U>(symbols, n, split, extra.data(), extra.size(), &bit, z) : 0;
    done += residuals8<U>(symbols + done, n - done, split, extra.data(), extra.size(), &bit, z + done);
    if (done) extra.seek(bit);
    return done;
#else
    return 0;
#endif
}

template std::uint64_t row_contexts8<std::uint8_t>(const std::uint8_t*, const std::uint8_t*, std::uint64_t,
                                                   const std::uint8_t*, int, const context_ranks*, std::uint8_t*);
template std::uint64_t row_contexts8<std::uint16_t>(const std::uint16_t*, const std::uint16_t*, std::uint64_t,
                                                    const std::uint8_t*, int, const context_ranks*, std::uint8_t*);
template std::uint64_t lane_tokens8<std::uint8_t, std::uint8_t>(const std::uint8_t*, std::uint64_t, token_config,
                                                                std::uint8_t*, std::uint8_t*);
template std::uint64_t lane_tokens8<std::uint16_t, std::uint8_t>(const std::uint16_t*, std::uint64_t, token_config,
                                                                 std::uint8_t*, std::uint8_t*);
template std::uint64_t lane_tokens8<std::uint8_t, std::uint16_t>(const std::uint8_t*, std::uint64_t, token_config,
                                                                 std::uint16_t*, std::uint8_t*);
template std::uint64_t lane_tokens8<std::uint16_t, std::uint16_t>(const std::uint16_t*, std::uint64_t, token_config,
                                                                  std::uint16_t*, std::uint8_t*);
template std::uint64_t row_left_buckets8<std::uint8_t>(const std::uint8_t*, const std::uint8_t*, const std::uint8_t*,
                                                       const std::uint32_t*, std::uint64_t, std::uint64_t,
                                                       std::uint8_t*);
template std::uint64_t row_left_buckets8<std::uint16_t>(const std::uint16_t*, const std::uint16_t*, const std::uint16_t*,
                                                        const std::uint32_t*, std::uint64_t, std::uint64_t,
                                                        std::uint8_t*);
template std::uint64_t token_residuals8<std::uint8_t>(const std::uint8_t*, std::uint64_t, token_config, bit_reader&,
                                                      std::uint8_t*);
template std::uint64_t token_residuals8<std::uint16_t>(const std::uint8_t*, std::uint64_t, token_config, bit_reader&,
                                                       std::uint16_t*);

}  // namespace detail
}  // namespace byte2bit
