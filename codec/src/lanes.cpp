#include "lanes.hpp"

#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "components.hpp"

namespace byte2bit {
namespace detail {
namespace {

constexpr double pow10_table[19] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8, 1e9,
                                    1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18};

// The value an integer lane stands for: the one place that defines dequantization.
double integer_to_value(std::int64_t q, const header& h) {
    if (h.quantized()) return double(q) * h.quantize_scale;
    return double(q) / pow10_table[h.decimal_digits];
}

bool is_signed_int(dtype t) {
    return t == dtype::int8 || t == dtype::int16 || t == dtype::int32 || t == dtype::int64;
}

void integerize(const std::uint8_t* input, const header& h, encoder_lanes& lanes) {
    const std::size_t csize = component_size(h);
    const int ncomp = components(h);
    const std::uint64_t n = h.count, total = n * std::uint64_t(ncomp);
    const double half_step = h.quantize_scale / 2;
    const double limit = 9007199254740992.0;  // 2^53: beyond it integers are no longer exact doubles
    std::vector<std::int64_t> q(static_cast<std::size_t>(total), 0);
    std::vector<exception_value> exceptions;
    std::int64_t lo = 0, hi = 0, previous = 0;  // 0 included: stand-ins start at 0
    std::vector<std::uint8_t> scratch(csize);
    for (std::uint64_t j = 0; j < total; ++j) {
        const std::uint64_t i = j % n, c = j / n;
        const std::uint8_t* p = input + (i * ncomp + c) * csize;
        const std::uint64_t raw = load_bits(p, csize);
        const double v = component_value(p, csize);
        bool kept = false;
        if (std::isfinite(v)) {
            const double guess = h.quantized() ? std::nearbyint(v / h.quantize_scale)
                                               : std::nearbyint(v * pow10_table[h.decimal_digits]);
            if (std::fabs(guess) < limit) {
                for (double candidate : {guess, guess - 1, guess + 1}) {
                    const auto k = static_cast<std::int64_t>(candidate);
                    store_component(scratch.data(), csize, integer_to_value(k, h));
                    const bool ok = h.quantized()
                                        ? std::fabs(component_value(scratch.data(), csize) - v) <= half_step
                                        : load_bits(scratch.data(), csize) == raw;
                    if (ok) {
                        q[j] = previous = k;
                        lo = std::min(lo, k);
                        hi = std::max(hi, k);
                        kept = true;
                        break;
                    }
                }
            }
        }
        if (!kept) {
            exceptions.push_back({j, raw});
            q[j] = previous;  // a smooth stand-in costs least to code
        }
    }
    int bits = 64;
    for (int b : {8, 16, 32}) {
        const std::int64_t half = std::int64_t(1) << (b - 1);
        if (lo >= -half && hi < half) {
            bits = b;
            break;
        }
    }
    lanes.layout = make_layout(h, bits);
    lanes.owned.resize(lanes.layout.bytes());
    with_lane_type(bits, [&](auto zero) {
        using U = decltype(zero);
        U* out = reinterpret_cast<U*>(lanes.owned.data());
        for (std::uint64_t j = 0; j < total; ++j) out[j] = U(std::uint64_t(q[j])) ^ top_bit<U>();
    });
    lanes.data = lanes.owned.data();
    lanes.exceptions.varint(exceptions.size());
    std::uint64_t next = 0;
    for (const auto& e : exceptions) {
        lanes.exceptions.varint(e.index - next);
        next = e.index + 1;
        std::uint8_t b[8];
        store_bits(b, csize, e.bits);
        lanes.exceptions.append(b, csize);
    }
}

}  // namespace

int natural_lane_bits(const header& h) {
    if (h.type == dtype::bytes) return 8;
    return int(component_size(h) * 8);
}

lane_layout make_layout(const header& h, int bits) {
    lane_layout l;
    l.bits = bits;
    if (h.type == dtype::bytes) {
        l.rows = h.count;
        l.cols = h.item_size;
        return l;
    }
    const auto& s = h.shape;
    const std::size_t nd = s.size();
    l.planes = std::uint64_t(components(h));
    for (std::size_t k = 0; k + 2 < nd; ++k) l.planes *= s[k];
    l.rows = nd >= 2 ? s[nd - 2] : 1;
    l.cols = nd >= 1 ? s[nd - 1] : 1;
    if (h.count == 0) l.planes = 0;
    return l;
}

encoder_lanes to_lanes(const std::uint8_t* input, const header& h) {
    encoder_lanes lanes;
    if (h.integerized()) {
        integerize(input, h, lanes);
        return lanes;
    }
    lanes.layout = make_layout(h, natural_lane_bits(h));
    const std::uint64_t n = h.count;
    if (is_signed_int(h.type) || is_float(h.type) || is_complex(h.type)) {
        lanes.owned.resize(lanes.layout.bytes());
        const int ncomp = components(h);
        const bool floats = !is_signed_int(h.type);
        with_lane_type(lanes.layout.bits, [&](auto zero) {
            using U = decltype(zero);
            U* out = reinterpret_cast<U*>(lanes.owned.data());
            for (int c = 0; c < ncomp; ++c)
                for (std::uint64_t i = 0; i < n; ++i) {
                    const U u = load<U>(input + (i * ncomp + c) * sizeof(U));
                    out[c * n + i] = floats ? order_float(u) : U(u ^ top_bit<U>());
                }
        });
        lanes.data = lanes.owned.data();
    } else if (reinterpret_cast<std::uintptr_t>(input) % std::uintptr_t(lanes.layout.bits / 8) == 0) {
        lanes.data = input;  // unsigned integers, bool and bytes are lanes already
    } else {  // ... but lanes are read as integers, which must be aligned
        lanes.owned.assign(input, input + lanes.layout.bytes());
        lanes.data = lanes.owned.data();
    }
    return lanes;
}

std::vector<exception_value> read_exceptions(byte_reader& r, const header& h) {
    const std::size_t csize = component_size(h);
    const std::uint64_t total = h.count * std::uint64_t(components(h));
    const std::uint64_t count = r.varint("exception count");
    if (count > total || count > r.remaining() / (1 + csize))
        fail(errc::corrupt, "exception count " + std::to_string(count) + " is impossible here");
    std::vector<exception_value> out(std::size_t(count), exception_value{0, 0});
    std::uint64_t next = 0;
    for (auto& e : out) {
        const std::uint64_t gap = r.varint("exceptions");
        if (gap >= total - next) fail(errc::corrupt, "exception index out of range");
        e.index = next + gap;
        next = e.index + 1;
        e.bits = load_bits(r.take(csize, "exceptions"), csize);
    }
    return out;
}

bool lanes_in_place(const header& h, const void* out) {
    return !h.integerized() && !is_complex(h.type) &&
           reinterpret_cast<std::uintptr_t>(out) % std::uintptr_t(natural_lane_bits(h) / 8) == 0;
}

void from_lanes(std::uint8_t* lanes, const lane_layout& layout, const header& h,
                const std::vector<exception_value>& exceptions, std::uint8_t* out) {
    const std::uint64_t n = h.count;
    const int ncomp = components(h);
    const std::size_t csize = component_size(h);
    if (h.integerized()) {
        with_lane_type(layout.bits, [&](auto zero) {
            using U = decltype(zero);
            using S = typename std::make_signed<U>::type;
            const U* in = reinterpret_cast<const U*>(lanes);
            const std::uint64_t total = n * std::uint64_t(ncomp);
            for (std::uint64_t j = 0; j < total; ++j) {
                const auto q = std::int64_t(S(U(in[j] ^ top_bit<U>())));
                const std::uint64_t i = j % n, c = j / n;
                store_component(out + (i * ncomp + c) * csize, csize, integer_to_value(q, h));
            }
        });
        for (const auto& e : exceptions) {
            const std::uint64_t i = e.index % n, c = e.index / n;
            store_bits(out + (i * ncomp + c) * csize, csize, e.bits);
        }
        return;
    }
    if (!is_signed_int(h.type) && !is_float(h.type) && !is_complex(h.type)) {  // identity
        if (lanes != out && layout.bytes()) std::memcpy(out, lanes, layout.bytes());
        return;
    }
    const bool floats = !is_signed_int(h.type);
    with_lane_type(layout.bits, [&](auto zero) {
        using U = decltype(zero);
        const U* in = reinterpret_cast<const U*>(lanes);  // aligned: ours, or checked
        for (int c = 0; c < ncomp; ++c)
            for (std::uint64_t i = 0; i < n; ++i) {
                const U v = in[c * n + i];
                store<U>(out + (i * ncomp + c) * sizeof(U), floats ? unorder_float(v) : U(v ^ top_bit<U>()));
            }
    });
}

}  // namespace detail
}  // namespace byte2bit
