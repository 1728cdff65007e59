// Reading and writing array components (a complex number has two), and the order-preserving
// map of floats to unsigned integers. Shared by the lane transforms.
#pragma once

#include <cstdint>
#include <cstring>

#include "half.hpp"
#include "header.hpp"

namespace byte2bit {
namespace detail {

inline int components(const header& h) { return is_complex(h.type) ? 2 : 1; }

inline std::size_t component_size(const header& h) { return is_complex(h.type) ? h.item_size / 2 : h.item_size; }

template <class U>
constexpr U top_bit() {
    return U(U(1) << (sizeof(U) * 8 - 1));
}

// Floats as unsigned integers whose order is the order of the values (negative values reversed).
template <class U>
U order_float(U u) {
    return (u & top_bit<U>()) ? U(~u) : U(u | top_bit<U>());
}
template <class U>
U unorder_float(U v) {
    return (v & top_bit<U>()) ? U(v ^ top_bit<U>()) : U(~v);
}

template <class U>
U load(const std::uint8_t* p) {
    U v;
    std::memcpy(&v, p, sizeof(U));
    return v;
}
template <class U>
void store(std::uint8_t* p, U v) {
    std::memcpy(p, &v, sizeof(U));
}

inline std::uint64_t load_bits(const std::uint8_t* p, std::size_t size) {
    switch (size) {
        case 1: return *p;
        case 2: return load<std::uint16_t>(p);
        case 4: return load<std::uint32_t>(p);
        default: return load<std::uint64_t>(p);
    }
}
inline void store_bits(std::uint8_t* p, std::size_t size, std::uint64_t v) {
    switch (size) {
        case 1: *p = std::uint8_t(v); break;
        case 2: store(p, std::uint16_t(v)); break;
        case 4: store(p, std::uint32_t(v)); break;
        default: store(p, v); break;
    }
}

inline double component_value(const std::uint8_t* p, std::size_t size) {
    if (size == 2) return half_to_double(load<std::uint16_t>(p));
    if (size == 4) return double(load<float>(p));
    return load<double>(p);
}
inline void store_component(std::uint8_t* p, std::size_t size, double v) {
    if (size == 2)
        store(p, double_to_half(v));
    else if (size == 4)
        store(p, float(v));
    else
        store(p, v);
}

}  // namespace detail
}  // namespace byte2bit
