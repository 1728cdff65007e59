// IEEE 754 binary16 <-> double, needed to quantize float16 data. Rounding is to nearest, ties to
// even; the encoder checks every value through exactly these functions, so they define the format.
#pragma once

#include <cmath>
#include <cstdint>

namespace byte2bit {
namespace detail {

inline double half_to_double(std::uint16_t h) {
    const int sign = h >> 15, exponent = (h >> 10) & 0x1F, mantissa = h & 0x3FF;
    double v;
    if (exponent == 0)
        v = std::ldexp(double(mantissa), -24);
    else if (exponent == 31)
        v = mantissa ? std::nan("") : INFINITY;
    else
        v = std::ldexp(double(1024 + mantissa), exponent - 25);
    return sign ? -v : v;
}

inline std::uint16_t double_to_half(double v) {
    const std::uint16_t sign = std::signbit(v) ? 0x8000 : 0;
    const double a = std::fabs(v);
    if (std::isnan(v)) return sign | 0x7E00;
    if (a >= 65520.0) return sign | 0x7C00;  // rounds past the largest finite half
    if (a < std::ldexp(1.0, -14)) {          // subnormal range: multiples of 2^-24
        return sign | std::uint16_t(std::nearbyint(a * 16777216.0));  // 1024 becomes the first normal
    }
    int e;
    std::frexp(a, &e);  // a = f * 2^e, f in [0.5, 1)
    e -= 1;             // a = m * 2^e, m in [1, 2)
    double m = std::nearbyint((std::ldexp(a, -e) - 1.0) * 1024.0);
    if (m >= 1024.0) {
        m = 0;
        e += 1;
    }
    if (e > 15) return sign | 0x7C00;
    return sign | std::uint16_t((e + 15) << 10 | int(m));
}

}  // namespace detail
}  // namespace byte2bit
