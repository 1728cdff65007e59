#include <algorithm>
#include <cstring>
#include <utility>
#include <string>

#include "entropy.hpp"

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
    for (std::uint64_t g = 0; g < groups; ++g) {
        const int w = widths[std::size_t(g)];
        const std::uint64_t end = std::min(n, (g + 1) * group);
        for (std::uint64_t i = g * group; i < end; ++i) bits.put(z[i], w);
    }
    out.append(widths.data(), widths.size());
    const std::vector<std::uint8_t> packed = bits.finish();
    out.append(packed.data(), packed.size());
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
    for (std::uint64_t g = 0; g < groups; ++g) {
        const unsigned w = widths[g];
        U* out = z + g * group;
        const std::uint64_t count = std::min(group, n - g * group);
        if (count == group && w <= 56 && std::size_t(end - p) >= 4 * w + 8) {
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
