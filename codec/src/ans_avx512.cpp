#include "ans_avx512.hpp"

#include "rans.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define B2B_ANS_AVX512 1
// GCC 12's AVX-512 intrinsics start some results from _mm512_undefined_*, which it then reports.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace byte2bit {
namespace detail {

#ifdef B2B_ANS_AVX512
#define B2B_AVX512_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512cd,avx512vbmi,avx512vbmi2,bmi2")))
namespace {

template <class U>
B2B_AVX512_TARGET inline __m512i load16(const U* p) {
    if constexpr (sizeof(U) == 1) return _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    return _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}

// bucket_of(q) (ans.cpp): 0 and 1 for themselves, else 2 e - 2 and the bit below the leading one,
// e = bit_length(q) = 32 - leading zeros.
B2B_AVX512_TARGET inline __m512i buckets_of(__m512i q) {
    const __m512i two = _mm512_set1_epi32(2);
    const __m512i e = _mm512_sub_epi32(_mm512_set1_epi32(32), _mm512_lzcnt_epi32(q));
    const __m512i below = _mm512_and_si512(_mm512_srlv_epi32(q, _mm512_sub_epi32(e, two)), _mm512_set1_epi32(1));
    const __m512i b = _mm512_add_epi32(_mm512_sub_epi32(_mm512_add_epi32(e, e), two), below);
    return _mm512_mask_blend_epi32(_mm512_cmplt_epu32_mask(q, two), b, q);
}

template <class U>
B2B_AVX512_TARGET inline __m512i load32(const U* p) {
    if constexpr (sizeof(U) == 1) return _mm512_cvtepu8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    return _mm512_loadu_si512(p);
}

// The activity of lanes x .. x + 31 in 16-bit sums that saturate (context_ranks says why that is
// exact here), then the number of thresholds it reaches, which a byte shuffle turns into the context.
template <class U>
B2B_AVX512_TARGET inline void ranks_block(const U* up, const U* upup, std::uint64_t x, const __m512i* threshold,
                                          int count, __m256i ctx_of_rank, std::uint8_t* ctx) {
    const __m512i far = _mm512_adds_epu16(_mm512_adds_epu16(load32(up + x - 2), load32(up + x + 2)),
                                          upup ? load32(upup + x) : _mm512_setzero_si512());
    const __m512i near = _mm512_adds_epu16(load32(up + x - 1), load32(up + x + 1));
    const __m512i u = load32(up + x);
    const __m512i q = _mm512_adds_epu16(_mm512_adds_epu16(_mm512_adds_epu16(u, u), near), _mm512_srli_epi16(far, 1));
    __m512i rank = _mm512_setzero_si512();
    for (int j = 0; j < count; ++j)
        rank = _mm512_mask_sub_epi16(rank, _mm512_cmpge_epu16_mask(q, threshold[j]), rank, _mm512_set1_epi16(-1));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(ctx + x), _mm256_shuffle_epi8(ctx_of_rank, _mm512_cvtepi16_epi8(rank)));
}

template <class U>
B2B_AVX512_TARGET std::uint64_t ranks_kernel(const U* up, const U* upup, std::uint64_t W, const context_ranks& r,
                                             std::uint8_t* ctx) {
    const __m256i ctx_of_rank = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(r.ctx_of_rank)));
    __m512i threshold[15];
    for (int j = 0; j < r.count; ++j) threshold[j] = _mm512_set1_epi16(std::int16_t(r.threshold[j]));
    std::uint64_t x = 2;
    for (; x + 32 + 2 <= W; x += 32) ranks_block(up, upup, x, threshold, r.count, ctx_of_rank, ctx);
    if (x < W - 2 && W >= 32 + 4) {  // the last lanes as one more block, overlapping lanes already found
        ranks_block(up, upup, W - 2 - 32, threshold, r.count, ctx_of_rank, ctx);
        x = W - 2;
    }
    return x;
}

template <class U>
B2B_AVX512_TARGET std::uint64_t contexts_kernel(const U* up, const U* upup, std::uint64_t W, const std::uint8_t* of_bucket,
                                           int top, std::uint8_t* ctx) {
    const __m512i table = _mm512_loadu_si512(of_bucket);
    const __m512i cap = _mm512_set1_epi32(top);
    std::uint64_t x = 2;
    for (; x + 16 + 2 <= W; x += 16) {
        const __m512i far = _mm512_add_epi32(_mm512_add_epi32(load16(up + x - 2), load16(up + x + 2)),
                                             upup ? load16(upup + x) : _mm512_setzero_si512());
        const __m512i near = _mm512_add_epi32(load16(up + x - 1), load16(up + x + 1));
        const __m512i q = _mm512_add_epi32(_mm512_add_epi32(_mm512_slli_epi32(load16(up + x), 1), near),
                                           _mm512_srli_epi32(far, 1));
        const __m128i b = _mm512_cvtepi32_epi8(_mm512_min_epi32(buckets_of(q), cap));
        const __m512i c = _mm512_permutexvar_epi8(_mm512_castsi128_si512(b), table);  // bytes 0-15 matter
        _mm_storeu_si128(reinterpret_cast<__m128i*>(ctx + x), _mm512_castsi512_si128(c));
    }
    return x;
}

B2B_AVX512_TARGET std::uint64_t rans_kernel(const std::uint32_t* table, std::uint32_t* states,
                                              const std::uint8_t** wp_io, const std::uint8_t* wend,
                                              const std::uint8_t* ctx, std::uint8_t* symbols, std::uint64_t groups) {
    const __m256i renorm_below = _mm256_set1_epi32(1 << 16);
    __m256i s[4];
    for (int v = 0; v < 4; ++v) s[v] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(states + 8 * v));
    const std::uint8_t* wp = *wp_io;
    std::uint64_t g = 0;
    // A group reads at most 64 bytes of words; the last vector loads 32 from at most 48 bytes on.
    for (; g < groups && wend - wp >= 2 * wide_rans_states + 32; ++g) {
        for (int v = 0; v < 4; ++v) {
            const std::uint64_t at = g * wide_rans_states + 8 * std::uint64_t(v);
            __m256i e;
            const __m256i x = rans_step8(table, ctx + at, s[v], &e);
            const __mmask8 renorm = _mm256_cmplt_epu32_mask(x, renorm_below);
            // The next words, in state order, into the low halves of the renormalizing states.
            const __mmask16 low_halves = __mmask16(_pdep_u32(renorm, 0x5555u));
            const __m256i words = _mm256_maskz_expand_epi16(low_halves, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wp)));
            wp += 2 * __builtin_popcount(renorm);
            s[v] = _mm256_mask_or_epi32(x, renorm, _mm256_slli_epi32(x, 16), words);
            _mm_storel_epi64(reinterpret_cast<__m128i*>(symbols + at), _mm256_cvtepi32_epi8(e));
        }
    }
    for (int v = 0; v < 4; ++v) _mm256_storeu_si256(reinterpret_cast<__m256i*>(states + 8 * v), s[v]);
    *wp_io = wp;
    return g;
}

// Sixteen lanes of at most 15 raw bits take at most 240 bits: with the block's offset in its first
// byte, within the first 248, so a lane's two dwords lie in one 64-byte load.
template <class U>
B2B_AVX512_TARGET std::uint64_t residuals_kernel(const std::uint8_t* symbols, std::uint64_t n, token_config split,
                                            const std::uint8_t* data, std::size_t size, std::uint64_t* bit, U* z) {
    const __m512i small_top = _mm512_set1_epi32(1 << split.k), low_m = _mm512_set1_epi32((1 << split.m) - 1);
    const __m512i lead = _mm512_set1_epi32(1 << split.m), one = _mm512_set1_epi32(1);
    const __m512i bits_in_word = _mm512_set1_epi32(31), thirty_two = _mm512_set1_epi32(32);
    // The counts in bytes, sixteen to a 16-byte register: at most 15 each, 240 in all.
    const __m128i small_top8 = _mm_set1_epi8(std::int8_t(1 << split.k)), k_less_m = _mm_set1_epi8(std::int8_t(split.k - split.m));
    const __m128i shift_m = _mm_cvtsi32_si128(split.m), low_bits = _mm_set1_epi8(std::int8_t(0xFF >> split.m));
    std::uint64_t pos = *bit, i = 0;
    for (; i + 16 <= n && pos / 8 + 64 <= size; i += 16) {
        const __m128i s8 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(symbols + i));
        const __mmask16 large = split.k < 8 ? _mm_cmpge_epu8_mask(s8, small_top8) : 0;  // below 2^k: residuals
        const __m128i t8 = _mm_sub_epi8(s8, small_top8);
        const __m128i nbits8 = _mm_maskz_add_epi8(large, _mm_and_si128(_mm_srl_epi16(t8, shift_m), low_bits), k_less_m);
        // Bit offsets from the block's first byte: an inclusive prefix sum of the counts, less each.
        __m128i sum8 = _mm_add_epi8(nbits8, _mm_slli_si128(nbits8, 1));
        sum8 = _mm_add_epi8(sum8, _mm_slli_si128(sum8, 2));
        sum8 = _mm_add_epi8(sum8, _mm_slli_si128(sum8, 4));
        sum8 = _mm_add_epi8(sum8, _mm_slli_si128(sum8, 8));
        const __m512i s = _mm512_cvtepu8_epi32(s8), nbits = _mm512_cvtepu8_epi32(nbits8);
        const __m512i t = _mm512_sub_epi32(s, small_top);
        const __m512i base =
            _mm512_mask_sllv_epi32(s, large, _mm512_or_si512(_mm512_and_si512(t, low_m), lead), nbits);
        const __m512i at = _mm512_add_epi32(_mm512_cvtepu8_epi32(_mm_sub_epi8(sum8, nbits8)), _mm512_set1_epi32(int(pos & 7)));
        const __m512i block = _mm512_loadu_si512(data + pos / 8);
        const __m512i word_at = _mm512_srli_epi32(at, 5), shift = _mm512_and_si512(at, bits_in_word);
        const __m512i low = _mm512_permutexvar_epi32(word_at, block);
        const __m512i high = _mm512_permutexvar_epi32(_mm512_add_epi32(word_at, one), block);
        const __m512i word = _mm512_or_si512(_mm512_srlv_epi32(low, shift),  // (a shift by 32 gives 0)
                                             _mm512_sllv_epi32(high, _mm512_sub_epi32(thirty_two, shift)));
        const __m512i raw = _mm512_and_si512(word, _mm512_sub_epi32(_mm512_sllv_epi32(one, nbits), one));
        const __m512i r = _mm512_or_si512(base, raw);
        if constexpr (sizeof(U) == 1) {
            _mm_storeu_si128(reinterpret_cast<__m128i*>(z + i), _mm512_cvtepi32_epi8(r));
        } else {
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(z + i), _mm512_cvtepi32_epi16(r));
        }
        pos += std::uint32_t(_mm_extract_epi8(sum8, 15));
    }
    *bit = pos;
    return i;
}

}  // namespace
#endif

template <class U>
std::uint64_t contexts16(const U* up, const U* upup, std::uint64_t W, const std::uint8_t* of_bucket, int top,
                         std::uint8_t* ctx) {
#ifdef B2B_ANS_AVX512
    return contexts_kernel<U>(up, upup, W, of_bucket, top, ctx);
#else
    return 2;
#endif
}

template <class U>
std::uint64_t contexts32(const U* up, const U* upup, std::uint64_t W, const context_ranks& ranks, std::uint8_t* ctx) {
#ifdef B2B_ANS_AVX512
    return ranks_kernel<U>(up, upup, W, ranks, ctx);
#else
    return 2;
#endif
}

std::uint64_t rans_groups_avx512(const std::uint32_t* table, std::uint32_t* states, const std::uint8_t** wp,
                            const std::uint8_t* wend, const std::uint8_t* ctx, std::uint8_t* symbols,
                            std::uint64_t groups) {
#ifdef B2B_ANS_AVX512
    return rans_kernel(table, states, wp, wend, ctx, symbols, groups);
#else
    return 0;
#endif
}

template <class U>
std::uint64_t residuals16(const std::uint8_t* symbols, std::uint64_t n, token_config split, const std::uint8_t* data,
                          std::size_t size, std::uint64_t* bit, U* z) {
#ifdef B2B_ANS_AVX512
    return residuals_kernel<U>(symbols, n, split, data, size, bit, z);
#else
    return 0;
#endif
}

template std::uint64_t contexts32<std::uint8_t>(const std::uint8_t*, const std::uint8_t*, std::uint64_t,
                                                const context_ranks&, std::uint8_t*);
template std::uint64_t contexts32<std::uint16_t>(const std::uint16_t*, const std::uint16_t*, std::uint64_t,
                                                 const context_ranks&, std::uint8_t*);
template std::uint64_t contexts16<std::uint8_t>(const std::uint8_t*, const std::uint8_t*, std::uint64_t,
                                                const std::uint8_t*, int, std::uint8_t*);
template std::uint64_t contexts16<std::uint16_t>(const std::uint16_t*, const std::uint16_t*, std::uint64_t,
                                                 const std::uint8_t*, int, std::uint8_t*);
template std::uint64_t residuals16<std::uint8_t>(const std::uint8_t*, std::uint64_t, token_config,
                                                 const std::uint8_t*, std::size_t, std::uint64_t*, std::uint8_t*);
template std::uint64_t residuals16<std::uint16_t>(const std::uint8_t*, std::uint64_t, token_config,
                                                  const std::uint8_t*, std::size_t, std::uint64_t*, std::uint16_t*);

}  // namespace detail
}  // namespace byte2bit
