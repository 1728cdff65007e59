#include "simd.hpp"

#include <atomic>
#include <cstdlib>
#include <cstring>

namespace byte2bit {
namespace detail {

simd_level supported_simd() {
#if defined(__x86_64__) || defined(__i386__)
    static const simd_level best = __builtin_cpu_supports("sse4.1") ? simd_level::sse41 : simd_level::portable;
    return best;
#else
    return simd_level::portable;
#endif
}

namespace {
simd_level from_environment() {
    const char* v = std::getenv("B2B_SIMD");
    const simd_level best = supported_simd();
    if (v != nullptr && std::strcmp(v, "portable") == 0) return simd_level::portable;
    return best;
}
std::atomic<int> current{-1};
}  // namespace

simd_level simd() {
    int level = current.load(std::memory_order_relaxed);
    if (level < 0) {
        level = int(from_environment());
        current.store(level, std::memory_order_relaxed);
    }
    return simd_level(level);
}

simd_level set_simd_level(simd_level level) {
    const simd_level used = int(level) < int(supported_simd()) ? level : supported_simd();
    current.store(int(used), std::memory_order_relaxed);
    return used;
}

}  // namespace detail
}  // namespace byte2bit
