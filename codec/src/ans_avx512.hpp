// The AVX2 decoding kernels of ans_avx2.cpp again with AVX-512 (simd.hpp's avx512 level). Each does
// what its AVX2 kernel does on the lanes it reaches and returns where it stopped; the AVX2 kernel
// carries on from there. What AVX-512 adds:
// - contexts, sixteen lanes at a time: a bucket from the leading-zero count, its context by one
//   byte permute of the 64-byte table; by ranges of activity (context_ranks), 32 lanes at a time
//   (1.5-5% faster than the AVX2 kernel's sixteen on the same CPU);
// - rANS of method 5: the states stay in four vectors of eight (four gathers in flight; two vectors
//   of sixteen were slower), and the words of the states that renormalize are placed by one word
//   expand whose mask is the states' mask spread to every other word;
// - raw bits, sixteen lanes at a time, from one 64-byte load by dword permutes.
#pragma once

#include <cstdint>

#include "ans_avx2.hpp"
#include "entropy.hpp"
#include "rans.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace byte2bit {
namespace detail {

#if defined(__x86_64__) || defined(__i386__)
// What the AVX2 and AVX-512 decoders of method 5 share: eight states' step before renormalizing
// (FORMAT.md 8), from their contexts ctx[0 .. 7]; *entry gets the table entries (symbols in the
// low bytes).
__attribute__((target("avx2"), always_inline)) inline __m256i rans_step8(const std::uint32_t* table,
                                                                         const std::uint8_t* ctx, __m256i s,
                                                                         __m256i* entry) {
    const __m256i slot_mask = _mm256_set1_epi32(int(prob_scale - 1));
    const __m256i c = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(ctx)));
    const __m256i index = _mm256_or_si256(_mm256_slli_epi32(c, prob_bits), _mm256_and_si256(s, slot_mask));
    const __m256i e = _mm256_i32gather_epi32(reinterpret_cast<const int*>(table), index, 4);
    const __m256i freq = _mm256_add_epi32(_mm256_srli_epi32(e, 20), _mm256_set1_epi32(1));
    const __m256i bias = _mm256_and_si256(_mm256_srli_epi32(e, 8), slot_mask);
    *entry = e;
    return _mm256_add_epi32(_mm256_mullo_epi32(freq, _mm256_srli_epi32(s, prob_bits)), bias);
}
#endif

// As row_contexts8 (ans_avx2.hpp), from lane 2; returns the first lane it did not reach.
template <class U>
std::uint64_t contexts16(const U* up, const U* upup, std::uint64_t W, const std::uint8_t* of_bucket, int top,
                         std::uint8_t* ctx);

// The same by ranges of activity (ans_avx2.hpp's context_ranks), 32 lanes at a time in 16-bit sums.
template <class U>
std::uint64_t contexts32(const U* up, const U* upup, std::uint64_t W, const context_ranks& ranks, std::uint8_t* ctx);

// As wide_rans_groups, stopping earlier before the end of the words (a group needs 96 bytes left).
std::uint64_t rans_groups_avx512(const std::uint32_t* table, std::uint32_t* states, const std::uint8_t** wp,
                            const std::uint8_t* wend, const std::uint8_t* ctx, std::uint8_t* symbols,
                            std::uint64_t groups);

// As token_residuals8 on lanes [0, i) for the largest i <= n, a multiple of 16, whose 64-byte loads
// lie inside data[0 .. size); *bit is the reader's position, moved past what was read.
template <class U>
std::uint64_t residuals16(const std::uint8_t* symbols, std::uint64_t n, token_config split, const std::uint8_t* data,
                          std::size_t size, std::uint64_t* bit, U* z);

}  // namespace detail
}  // namespace byte2bit
