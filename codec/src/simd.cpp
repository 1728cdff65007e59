#include "simd.hpp"

#include <atomic>
#include <cstdlib>
#include <cstring>

namespace byte2bit {
namespace detail {

simd_level supported_simd() {
#if defined(__x86_64__) || defined(__i386__)
    // libgcc checks that the OS saves the vector registers these levels use.
    static const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                               __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512cd") &&
                               __builtin_cpu_supports("avx512vbmi") && __builtin_cpu_supports("avx512vbmi2") &&
                               __builtin_cpu_supports("bmi2");
    static const simd_level best = avx512                             ? simd_level::avx512
                                   : __builtin_cpu_supports("avx2")   ? simd_level::avx2
                                   : __builtin_cpu_supports("sse4.1") ? simd_level::sse41
                                                                      : simd_level::portable;
    return best;
#else
    return simd_level::portable;
#endif
}

const char* simd_name(simd_level level) {
    return level == simd_level::avx512 ? "avx512"
           : level == simd_level::avx2 ? "avx2"
           : level == simd_level::sse41 ? "sse41"
                                        : "portable";
}

namespace {
simd_level from_environment() {
    const char* v = std::getenv("B2B_SIMD");
    const simd_level best = supported_simd();
    for (int level = 0; v != nullptr && level < int(best); ++level)
        if (std::strcmp(v, simd_name(simd_level(level))) == 0) return simd_level(level);
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
