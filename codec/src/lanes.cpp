#include "lanes.hpp"

#include <algorithm>
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

bool is_one_of(double v, const std::vector<double>& values) {
    for (double x : values)
        if (v == x) return true;
    return false;
}

std::uint64_t zigzag(std::int64_t v) { return (std::uint64_t(v) << 1) ^ std::uint64_t(v >> 63); }
std::int64_t unzigzag(std::uint64_t u) { return std::int64_t(u >> 1) ^ -std::int64_t(u & 1); }

// `exact` (quantized streams only): values that survive bit-exact, under reserved lane integers
// above all others (a nodata area stays one constant integer, nearly free to code), and that no
// other value may decode to, so a nodata value keeps marking exactly the pixels it marked.
void integerize(const std::uint8_t* input, const header& h, const std::vector<double>& exact,
                encoder_lanes& lanes) {
    const std::size_t csize = component_size(h);
    const int ncomp = components(h);
    const std::uint64_t n = h.count, total = n * std::uint64_t(ncomp);
    const double half_step = h.quantize_scale / 2;
    const double limit = 9007199254740992.0;  // 2^53: beyond it integers are no longer exact doubles
    std::vector<std::int64_t> q(static_cast<std::size_t>(total), 0);
    std::vector<exception_value> exceptions;
    std::vector<std::uint8_t> scratch(csize);
    std::vector<std::uint64_t> exact_bits;  // as the component type stores them, each once
    for (double x : exact) {
        store_component(scratch.data(), csize, x);
        const std::uint64_t b = load_bits(scratch.data(), csize);
        if (std::find(exact_bits.begin(), exact_bits.end(), b) == exact_bits.end()) exact_bits.push_back(b);
    }
    if (exact_bits.size() > max_reserved_values)
        fail(errc::invalid_argument, "at most " + std::to_string(max_reserved_values) + " exact values");
    std::vector<std::pair<std::uint64_t, std::int64_t>> reserved_at;  // (index, which exact value)
    std::vector<bool> used(exact_bits.size(), false);
    std::int64_t lo = 0, hi = 0, previous = 0;  // 0 included: stand-ins start at 0
    for (std::uint64_t j = 0; j < total; ++j) {
        const std::uint64_t i = j % n, c = j / n;
        const std::uint8_t* p = input + (i * ncomp + c) * csize;
        const std::uint64_t raw = load_bits(p, csize);
        const auto e = std::find(exact_bits.begin(), exact_bits.end(), raw);
        if (e != exact_bits.end()) {
            reserved_at.emplace_back(j, e - exact_bits.begin());
            used[std::size_t(e - exact_bits.begin())] = true;
            continue;
        }
        const double v = component_value(p, csize);
        bool kept = false;
        if (std::isfinite(v)) {
            const double guess = h.quantized() ? std::nearbyint(v / h.quantize_scale)
                                               : std::nearbyint(v * pow10_table[h.decimal_digits]);
            if (std::fabs(guess) < limit) {
                for (double candidate : {guess, guess - 1, guess + 1}) {
                    const auto k = static_cast<std::int64_t>(candidate);
                    store_component(scratch.data(), csize, integer_to_value(k, h));
                    const double decoded = component_value(scratch.data(), csize);
                    const bool ok = h.quantized()
                                        ? std::fabs(decoded - v) <= half_step && !is_one_of(decoded, exact)
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
    if (!reserved_at.empty()) {  // only exact values that occur get an integer: old readers read the rest
        std::vector<std::int64_t> slot(exact_bits.size(), 0);
        lanes.reserved.varint(std::uint64_t(std::count(used.begin(), used.end(), true)));
        lanes.reserved.varint(zigzag(hi + 1));
        for (std::size_t k = 0; k < exact_bits.size(); ++k)
            if (used[k]) {
                slot[k] = ++hi;
                std::uint8_t b[8];
                store_bits(b, csize, exact_bits[k]);
                lanes.reserved.append(b, csize);
            }
        for (const auto& r : reserved_at) q[r.first] = slot[std::size_t(r.second)];
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

encoder_lanes to_lanes(const std::uint8_t* input, const header& h, const std::vector<double>& exact_values) {
    encoder_lanes lanes;
    if (h.integerized()) {
        integerize(input, h, h.quantized() ? exact_values : std::vector<double>{}, lanes);
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

reserved_values read_reserved_values(byte_reader& r, const header& h) {
    const std::size_t csize = component_size(h);
    const std::uint64_t count = r.varint("reserved values");
    if (count == 0 || count > max_reserved_values)
        fail(errc::corrupt, "reserved value count " + std::to_string(count) + " is not 1 to " +
                                std::to_string(max_reserved_values));
    reserved_values out;
    out.base = unzigzag(r.varint("reserved values"));
    if (out.base > std::numeric_limits<std::int64_t>::max() - std::int64_t(count))
        fail(errc::corrupt, "reserved value integers out of range");
    for (std::uint64_t k = 0; k < count; ++k) out.bits.push_back(load_bits(r.take(csize, "reserved values"), csize));
    return out;
}

bool lanes_in_place(const header& h, const void* out) {
    return !h.integerized() && !is_complex(h.type) &&
           reinterpret_cast<std::uintptr_t>(out) % std::uintptr_t(natural_lane_bits(h) / 8) == 0;
}

void from_lanes(std::uint8_t* lanes, const lane_layout& layout, const header& h,
                const std::vector<exception_value>& exceptions, const reserved_values& reserved,
                std::uint8_t* out) {
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
                std::uint8_t* p = out + (i * ncomp + c) * csize;
                const std::uint64_t slot = std::uint64_t(q) - std::uint64_t(reserved.base);
                if (slot < reserved.bits.size()) store_bits(p, csize, reserved.bits[std::size_t(slot)]);
                else store_component(p, csize, integer_to_value(q, h));
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
