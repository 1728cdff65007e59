#include "lattice.hpp"

#include <algorithm>
#include <cmath>

#include "components.hpp"

namespace byte2bit {
namespace detail {
namespace {

std::uint64_t ordered_bits(std::uint64_t bits, std::size_t size) {
    switch (size) {
        case 2: return order_float(std::uint16_t(bits));
        case 4: return order_float(std::uint32_t(bits));
        default: return order_float(bits);
    }
}
std::uint64_t unordered_bits(std::uint64_t v, std::size_t size) {
    switch (size) {
        case 2: return unorder_float(std::uint16_t(v));
        case 4: return unorder_float(std::uint32_t(v));
        default: return unorder_float(v);
    }
}

// The bits of the component that lattice point q stands for: the one place that defines it.
std::uint64_t point_bits(std::int64_t q, const lattice& l, std::size_t size) {
    std::uint8_t tmp[8];
    store_component(tmp, size, l.offset + double(q) * l.step);
    return load_bits(tmp, size);
}

std::uint64_t mask_of(std::size_t size) { return size == 8 ? ~std::uint64_t(0) : (std::uint64_t(1) << (8 * size)) - 1; }

}  // namespace

std::optional<lattice> find_lattice(const std::uint8_t* input, const header& h) {
    const std::size_t cs = component_size(h);
    const int ncomp = components(h);
    const std::uint64_t n = h.count, total = n * std::uint64_t(ncomp);
    auto value = [&](std::uint64_t j) { return component_value(input + ((j % n) * ncomp + j / n) * cs, cs); };
    // Neighbouring values differ by small multiples of the step, so the smallest difference of a
    // sample of neighbours is the step, up to the rounding of the values to their float type.
    std::vector<double> values, diffs;
    const std::uint64_t stride = std::max<std::uint64_t>(1, total / 8192);
    for (std::uint64_t j = 0; j + 1 < total; j += stride) {
        const double a = value(j), b = value(j + 1);
        if (!std::isfinite(a) || !std::isfinite(b)) continue;
        values.push_back(a);
        if (a != b) diffs.push_back(std::fabs(b - a));
    }
    if (values.size() < 16 || diffs.size() < 8) return std::nullopt;
    const double smallest = *std::min_element(diffs.begin(), diffs.end());
    if (!(smallest > 0) || !std::isfinite(smallest)) return std::nullopt;
    // The data may use only some lattice points (values re-packed from a coarser grid), so the
    // smallest difference can be several steps: take the largest smallest/m of which nearly all
    // differences are whole multiples (an approximate greatest common divisor).
    // Only differences up to a few times the smallest are compared: the smallest carries the
    // rounding error of two values, which grows with the multiple.
    double step = 0;
    for (int m = 1; m <= 64 && step == 0; ++m) {
        const double candidate = smallest / m;
        std::size_t fit = 0, tried = 0;
        for (double d : diffs) {
            if (d > 8.5 * smallest) continue;
            const double r = d / candidate;
            ++tried;
            fit += std::fabs(r - std::nearbyint(r)) < 0.05;
        }
        if (tried >= 8 && fit >= tried - tried / 20) step = candidate;
    }
    if (step == 0) return std::nullopt;
    // Refine: least squares of difference on step count, admitting ever larger multiples as the
    // estimate improves.
    for (double kmax : {8.0, 32.0, 128.0, 512.0}) {
        double sdk = 0, skk = 0;
        for (double d : diffs) {
            const double k = std::nearbyint(d / step);
            if (k >= 1 && k <= kmax) sdk += d * k, skk += k * k;
        }
        if (skk > 0) step = sdk / skk;
    }
    // The range of the bulk of the values: a few outliers (fill values) must not spoil the fit;
    // they are kept exactly through their corrections.
    std::sort(values.begin(), values.end());
    const double lo = values[values.size() / 100], hi = values[values.size() - 1 - values.size() / 100];
    values.erase(std::upper_bound(values.begin(), values.end(), hi), values.end());
    values.erase(values.begin(), std::lower_bound(values.begin(), values.end(), lo));
    if (!(step > 0) || !std::isfinite(step) || !std::isfinite(hi - lo) || (hi - lo) / step > 2147483648.0)
        return std::nullopt;
    // Then a least-squares line through (q, value) over the whole range recovers the lattice the
    // values were rounded from, so that nearly all of them come back exactly with no correction.
    double sq = 0, sx = 0;
    for (double x : values) sq += std::nearbyint((x - lo) / step), sx += x - lo;
    const double mq = sq / double(values.size()), mx = sx / double(values.size());
    double sqq = 0, sqx = 0;
    for (double x : values) {
        const double dq = std::nearbyint((x - lo) / step) - mq;
        sqq += dq * dq;
        sqx += dq * (x - lo - mx);
    }
    if (sqq > 0) {
        const double fitted = sqx / sqq;
        if (fitted > 0 && std::isfinite(fitted) && std::fabs(fitted - step) < 0.01 * step) step = fitted;
    }
    // Centre the integers on the data, so they fit the narrowest lanes.
    return lattice{lo + mx - step * mq + step * std::nearbyint((hi - lo) / (2 * step)), step};
}

lattice_lanes to_lattice_lanes(const std::uint8_t* input, const header& h, const lattice& l) {
    const std::size_t cs = component_size(h);
    const int ncomp = components(h);
    const std::uint64_t n = h.count, total = n * std::uint64_t(ncomp);
    const std::uint64_t mask = mask_of(cs);
    std::vector<std::int64_t> q(static_cast<std::size_t>(total));
    std::vector<std::uint64_t> correction(static_cast<std::size_t>(total));
    std::int64_t previous = 0, lo = 0, hi = 0;
    for (std::uint64_t j = 0; j < total; ++j) {
        const std::uint8_t* p = input + ((j % n) * ncomp + j / n) * cs;
        const double x = component_value(p, cs);
        // Far-off values keep a smooth stand-in; NaN and Inf take point 0, so that a region of them
        // (a land mask) has one constant correction, which costs next to nothing.
        std::int64_t k = std::isfinite(x) ? previous : 0;
        if (std::isfinite(x)) {
            const double t = std::nearbyint((x - l.offset) / l.step);
            if (std::fabs(t) < 2147483648.0) k = previous = std::int64_t(t);
        }
        q[j] = k;
        lo = std::min(lo, k);
        hi = std::max(hi, k);
        correction[j] = (ordered_bits(load_bits(p, cs), cs) - ordered_bits(point_bits(k, l, cs), cs)) & mask;
    }
    lattice_lanes out;
    int bits = 64;
    for (int b : {8, 16, 32}) {
        if (lo >= -(std::int64_t(1) << (b - 1)) && hi < (std::int64_t(1) << (b - 1))) {
            bits = b;
            break;
        }
    }
    out.q.layout = make_layout(h, bits);
    out.q.owned.resize(out.q.layout.bytes());
    with_lane_type(bits, [&](auto zero) {
        using U = decltype(zero);
        U* dst = reinterpret_cast<U*>(out.q.owned.data());
        for (std::uint64_t j = 0; j < total; ++j) dst[j] = U(std::uint64_t(q[j])) ^ top_bit<U>();
    });
    out.q.data = out.q.owned.data();
    out.correction.layout = make_layout(h, int(cs * 8));
    out.correction.owned.resize(out.correction.layout.bytes());
    for (std::uint64_t j = 0; j < total; ++j) store_bits(out.correction.owned.data() + j * cs, cs, correction[j]);
    out.correction.data = out.correction.owned.data();
    return out;
}

void from_lattice_lanes(const std::uint8_t* q, int q_bits, const std::uint8_t* correction, const header& h,
                        const lattice& l, std::uint8_t* out) {
    const std::size_t cs = component_size(h);
    const int ncomp = components(h);
    const std::uint64_t n = h.count, total = n * std::uint64_t(ncomp);
    const std::uint64_t mask = mask_of(cs);
    with_lane_type(q_bits, [&](auto zero) {
        using U = decltype(zero);
        using S = typename std::make_signed<U>::type;
        const U* in = reinterpret_cast<const U*>(q);
        for (std::uint64_t j = 0; j < total; ++j) {
            const auto k = std::int64_t(S(U(in[j] ^ top_bit<U>())));
            const std::uint64_t exact =
                (ordered_bits(point_bits(k, l, cs), cs) + load_bits(correction + j * cs, cs)) & mask;
            store_bits(out + ((j % n) * ncomp + j / n) * cs, cs, unordered_bits(exact, cs));
        }
    });
}

}  // namespace detail
}  // namespace byte2bit
