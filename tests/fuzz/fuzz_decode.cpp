// Fuzz target: arbitrary bytes as a stream. Any input must end in success or byte2bit::error.
// Each input is decoded twice: as given, and with its checksum field recomputed, so mutations
// reach the payload decoders instead of stopping at the checksum. Each decoding runs on the best
// vector path the CPU has, on AVX2 where that is AVX-512 (whose kernels differ), and on the
// portable path, which must all agree exactly: sanitizers do not see a vector gather read past its
// data, a difference does.
#include <byte2bit/byte2bit.hpp>

#include <cstdint>
#include <cstdlib>
#include <vector>

#include "header.hpp"  // codec/src: the checksum function
#include "simd.hpp"

namespace {

// The decoded bytes, or nothing when the stream is refused (or too large to bother).
std::vector<std::uint8_t> decode_at(byte2bit::detail::simd_level level, const std::uint8_t* data, std::size_t size,
                                    bool* ok) {
    byte2bit::detail::set_simd_level(level);
    *ok = false;
    try {
        const byte2bit::stream_info info = byte2bit::inspect(data, size, true);
        if (info.raw_size > (std::uint64_t(64) << 20)) return {};  // the caller's buffer bounds memory
        std::vector<std::uint8_t> out(static_cast<std::size_t>(info.raw_size));
        byte2bit::decode(data, size, out.data(), out.size());
        *ok = true;
        return out;
    } catch (const byte2bit::error&) {
        return {};
    }
}

void decode_once(const std::uint8_t* data, std::size_t size) {
    using namespace byte2bit::detail;
    bool portable_ok = false;
    const std::vector<std::uint8_t> portable = decode_at(simd_level::portable, data, size, &portable_ok);
    std::vector<simd_level> levels{supported_simd()};
    if (supported_simd() > simd_level::avx2) levels.push_back(simd_level::avx2);
    for (const simd_level level : levels) {
        bool vector_ok = false;
        const std::vector<std::uint8_t> vector = decode_at(level, data, size, &vector_ok);
        if (vector_ok != portable_ok || vector != portable) std::abort();
    }
    set_simd_level(supported_simd());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    decode_once(data, size);
    // The same bytes with their checksum made right, so the decoder behind it is reached.
    if (size > 4 && size >= byte2bit::detail::checksum_offset(data[4]) + 8) {
        std::vector<std::uint8_t> fixed(data, data + size);
        byte2bit::detail::seal(fixed.data(), fixed.size());
        decode_once(fixed.data(), fixed.size());
    }
    return 0;
}
