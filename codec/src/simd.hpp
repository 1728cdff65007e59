// Which vector instructions the codec uses, chosen at run time from what the CPU has (the build
// targets plain x86-64: no -march). Every path gives the same output as the portable one.
#pragma once

namespace byte2bit {
namespace detail {

// avx512: F, BW, VL, CD, VBMI and VBMI2 (Ice Lake, Zen 4 and later), with BMI2.
enum class simd_level { portable = 0, sse41 = 1, avx2 = 2, avx512 = 3 };

// The best level this CPU supports, unless lowered by set_simd_level or the environment variable
// B2B_SIMD=portable|sse41|avx2|avx512 (read once).
simd_level simd();
// For tests: use at most `level` (still never above what the CPU supports); returns the level now used.
simd_level set_simd_level(simd_level level);
simd_level supported_simd();
const char* simd_name(simd_level level);

}  // namespace detail
}  // namespace byte2bit
