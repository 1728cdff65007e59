#include <algorithm>
#include <cstring>
#include <utility>
#include <string>

#include "entropy.hpp"
#include "simd.hpp"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace byte2bit {
namespace detail {

constexpr std::uint64_t group = 32;

template <class U>
void bitpack_encode(const U* z, std::uint64_t n, byte_writer& out) {
    const std::uint64_t groups = (n + group - 1) / group;
    std::vector<std::uint8_t> widths(static_cast<std::size_t>(groups));
    for (std::uint64_t g = 0; g < groups; ++g) {
        U all = 0;
        const std::uint64_t end = std::min(n, (g + 1) * group);
        for (std::uint64_t i = g * group; i < end; ++i) all |= z[i];
        widths[std::size_t(g)] = std::uint8_t(bit_length(all));
    }
    bit_writer bits;
    std::uint64_t total = 0;
    for (std::uint64_t g = 0; g < groups; ++g) total += widths[std::size_t(g)] * std::min(group, n - g * group);
    bits.reserve(total);
    if constexpr (sizeof(U) <= 4) {
        for (std::uint64_t g = 0; g < groups; ++g) {  // a group at a time: its width stays in a register
            const int w = widths[std::size_t(g)];
            const U* first = z + g * group;
            bits.put_each(std::min(n - g * group, group), [&](std::uint64_t i, std::uint64_t& value, int& nbits) {
                value = first[i], nbits = w;
            });
        }
    } else {
        for (std::uint64_t g = 0; g < groups; ++g) {
            const int w = widths[std::size_t(g)];
            const std::uint64_t end = std::min(n, (g + 1) * group);
            for (std::uint64_t i = g * group; i < end; ++i) bits.put(z[i], w);
        }
    }
    out.append(widths.data(), widths.size());
    bits.append_to(out.bytes);
}

namespace {

template <class U, unsigned W>
void unpack_fixed(const std::uint8_t* p, U* out) {
    constexpr std::uint64_t mask = (std::uint64_t(1) << W) - 1;
#pragma GCC unroll 32
    for (unsigned i = 0; i < group; ++i) {
        std::uint64_t word;
        std::memcpy(&word, p + (i * W >> 3), 8);
        out[i] = U((word >> (i * W & 7)) & mask);
    }
}

template <class U, unsigned... W>
void unpack_dispatch(unsigned w, const std::uint8_t* p, U* out, std::integer_sequence<unsigned, W...>) {
    using routine = void (*)(const std::uint8_t*, U*);
    static constexpr routine routines[] = {&unpack_fixed<U, W>...};
    routines[w](p, out);
}

// One full group at width w <= min(56, B).
template <class U>
void unpack_group(unsigned w, const std::uint8_t* p, U* out) {
    if (w == 0) {
        std::memset(out, 0, group * sizeof(U));
        return;
    }
    constexpr unsigned widths = std::min<unsigned>(sizeof(U) * 8, 56) + 1;
    unpack_dispatch<U>(w, p, out, std::make_integer_sequence<unsigned, widths>{});
}

#if defined(__x86_64__)
// SSE4.1: a full group of 32 8- or 16-bit residuals, eight at a time. Eight values at
// width w are w bytes; each value's (at most three) bytes are gathered into a 32-bit lane by a
// byte shuffle, shifted into place by a multiplication (a left shift by 8 - offset) and a right
// shift by 8, masked, and packed to 16 bits.
struct sse41_unpack_table {
    alignas(16) std::uint8_t shuffle[17][2][16];
    alignas(16) std::uint32_t multiply[17][2][4];
    sse41_unpack_table() {
        for (unsigned w = 1; w <= 16; ++w)
            for (unsigned k = 0; k < 8; ++k) {
                const unsigned first = k * w >> 3, offset = k * w & 7, half = k / 4, lane = k % 4;
                for (unsigned b = 0; b < 4; ++b)
                    shuffle[w][half][4 * lane + b] = std::uint8_t(first + b < 16 ? first + b : 0x80);
                multiply[w][half][lane] = 1u << (8 - offset);
            }
    }
};

// Eight values of width w (1..16) from the w bytes at p (16 readable), as 16-bit lanes.
__attribute__((target("sse4.1"))) inline __m128i unpack8_sse41(const std::uint8_t* p, __m128i shuffle_lo,
                                                               __m128i shuffle_hi, __m128i multiply_lo,
                                                               __m128i multiply_hi, __m128i mask) {
    const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const __m128i lo = _mm_and_si128(_mm_srli_epi32(_mm_mullo_epi32(_mm_shuffle_epi8(bytes, shuffle_lo), multiply_lo), 8), mask);
    const __m128i hi = _mm_and_si128(_mm_srli_epi32(_mm_mullo_epi32(_mm_shuffle_epi8(bytes, shuffle_hi), multiply_hi), 8), mask);
    return _mm_packus_epi32(lo, hi);
}

// A full group of 32 at width 1..16 (1..8 for bytes); the last 16-byte load starts 3w bytes in.
template <class U>
__attribute__((target("sse4.1"))) void unpack_group_sse41(unsigned w, const std::uint8_t* p, U* out) {
    static const sse41_unpack_table table;
    const __m128i mask = _mm_set1_epi32(int((1u << w) - 1));
    const __m128i s0 = _mm_load_si128(reinterpret_cast<const __m128i*>(table.shuffle[w][0]));
    const __m128i s1 = _mm_load_si128(reinterpret_cast<const __m128i*>(table.shuffle[w][1]));
    const __m128i m0 = _mm_load_si128(reinterpret_cast<const __m128i*>(table.multiply[w][0]));
    const __m128i m1 = _mm_load_si128(reinterpret_cast<const __m128i*>(table.multiply[w][1]));
    for (unsigned step = 0; step < 4; step += 2) {
        const __m128i a = unpack8_sse41(p + step * w, s0, s1, m0, m1, mask);
        const __m128i b = unpack8_sse41(p + (step + 1) * w, s0, s1, m0, m1, mask);
        if constexpr (sizeof(U) == 1) {
            _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 8 * step), _mm_packus_epi16(a, b));
        } else {
            _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 8 * step), a);
            _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 8 * step + 8), b);
        }
    }
}
#endif

}  // namespace

template <class U>
void bitpack_decode(byte_reader& in, U* z, std::uint64_t n) {
    const std::uint64_t groups = (n + group - 1) / group;
    if (groups > in.remaining()) fail(errc::truncated, "stream truncated in bit-packing widths");
    const std::uint8_t* widths = in.take(std::size_t(groups), "bit-packing widths");
    std::uint64_t total_bits = 0;
    for (std::uint64_t g = 0; g < groups; ++g) {
        if (widths[g] > sizeof(U) * 8) fail(errc::corrupt, "bit-packing width exceeds the lane width");
        total_bits += widths[g] * std::min(group, n - g * group);
    }
    const std::uint64_t need = (total_bits + 7) / 8;
    if (need != in.remaining())
        fail(need > in.remaining() ? errc::truncated : errc::corrupt,
             "bit-packed data has " + std::to_string(in.remaining()) + " bytes, widths say " +
                 std::to_string(need));
    const std::uint8_t* data = in.take(std::size_t(need), "bit-packed data");
    const std::uint8_t* const end = data + need;
    // A full group of 32 at width w fills exactly 4w bytes, so every group starts on a byte and its
    // values can be unpacked independently with 8-byte loads (when 8 bytes of slack remain), by a
    // routine for each width whose offsets and shifts are constants.
    const std::uint8_t* p = data;
    const bool vector = simd() >= simd_level::sse41;
    for (std::uint64_t g = 0; g < groups; ++g) {
        const unsigned w = widths[g];
        U* out = z + g * group;
        const std::uint64_t count = std::min(group, n - g * group);
        if (count == group && w <= 56 && std::size_t(end - p) >= 4 * w + 8) {
#if defined(__x86_64__)
            if constexpr (sizeof(U) <= 2)  // widths are at most B, checked above
                if (vector && w >= 1 && std::size_t(end - p) >= 3 * w + 16) {
                    unpack_group_sse41<U>(w, p, out);
                    p += 4 * w;
                    continue;
                }
#endif
            unpack_group<U>(w, p, out);
            p += 4 * w;
        } else {  // the last groups: a careful bit reader
            bit_reader bits(p, std::size_t(end - p));
            for (std::uint64_t i = 0; i < count; ++i) out[i] = U(bits.get_wide(w));
            p += (count * w + 7) / 8;
        }
    }
}

#define B2B_INSTANTIATE(U)                                                    \
    template void bitpack_encode<U>(const U*, std::uint64_t, byte_writer&); \
    template void bitpack_decode<U>(byte_reader&, U*, std::uint64_t);
B2B_INSTANTIATE(std::uint8_t)
B2B_INSTANTIATE(std::uint16_t)
B2B_INSTANTIATE(std::uint32_t)
B2B_INSTANTIATE(std::uint64_t)
#undef B2B_INSTANTIATE

}  // namespace detail
}  // namespace byte2bit
