// encode / decode / inspect: the stream as a whole, and what each level spends its effort on.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <string>
#include <utility>

#include "byte2bit/byte2bit.hpp"
#include "ans_avx2.hpp"
#include "entropy.hpp"
#include "header.hpp"
#include "lanes.hpp"
#include "lattice.hpp"
#include "linear.hpp"
#include "predict.hpp"

namespace byte2bit {
namespace detail {
namespace {

enum class method : std::uint8_t {
    stored = 0, bitpack = 1, ans = 2, palette = 3, ans_left = 4, ans_wide = 5, constant = 6, ans_left_range = 7
};

// Two sets of linear coefficients slow the linear predictor's decoding by about a quarter (a blend
// of the nine coefficients a step): a block takes them only where they save this fraction of the
// cheap cost (DESIGN.md 59).
constexpr double linear_two_sets_min_saving = 0.004;

// How many of the predictor candidates, best ranked by magnitude_bits, get ans_estimate_bits.
constexpr int estimated_candidates = 4;

// How many of z[0 .. n) have each bit length, for 8- and 16-bit lanes: from how many are at least
// 2^t for each t, loops of compares the compiler vectorises (a bit length per lane cost 9% of
// level 4 encoding). Counted in blocks that fit 16-bit sums, the widest vectors. With AVX2,
// 16-bit lanes are counted as bytes, twice as many a compare (ans_avx2.hpp).
template <class U>
__attribute__((always_inline)) inline void count_bit_lengths(const U* z, std::uint64_t n, std::uint64_t* lengths) {
    constexpr int B = 8 * sizeof(U);
    std::uint64_t at_least[B] = {};
    std::uint64_t i0 = 0;
    if constexpr (sizeof(U) == 2)
        if (ans_avx2_usable()) i0 = count_at_least_pow2(z, n, at_least);
    constexpr std::uint64_t block = 4096;  // lanes: B passes over 8 KB stay in L1, not in L2
    for (; i0 < n; i0 += block) {
        const std::uint64_t m = std::min<std::uint64_t>(n - i0, block);
        for (int t = 0; t < B; ++t) {
            const U bound = U(1u << t);
            std::uint16_t c = 0;
            for (std::uint64_t i = 0; i < m; ++i) c = std::uint16_t(c + (z[i0 + i] >= bound));
            at_least[t] += c;
        }
    }
    lengths[0] = n - at_least[0];
    for (int b = 1; b < B; ++b) lengths[b] = at_least[b - 1] - at_least[b];
    lengths[B] = at_least[B - 1];
}
#if defined(__x86_64__)
template <class U>
__attribute__((target("avx2"), flatten)) void count_bit_lengths_avx2(const U* z, std::uint64_t n,
                                                                     std::uint64_t* lengths) {
    count_bit_lengths<U>(z, n, lengths);
}
#endif

// A cheap stand-in for the coded size of residuals, to rank predictors: the order-0 entropy of
// their bit lengths plus the bits below each leading one (what tokens without contexts would cost).
template <class U>
double magnitude_bits(const U* z, std::uint64_t n) {
    std::array<std::uint64_t, 8 * sizeof(U) + 1> lengths{};
    if constexpr (sizeof(U) <= 2) {
#if defined(__x86_64__)
        if (simd() >= simd_level::avx2)
            count_bit_lengths_avx2<U>(z, n, lengths.data());
        else
#endif
            count_bit_lengths<U>(z, n, lengths.data());
    } else {
        for (std::uint64_t i = 0; i < n; ++i) lengths[std::size_t(bit_length(z[i]))]++;
    }
    double bits = 0;
    for (std::size_t b = 0; b < lengths.size(); ++b) {
        if (!lengths[b]) continue;
        const double c = double(lengths[b]);
        bits += c * (std::log2(double(n) / c) + double(b > 1 ? b - 1 : 0));
    }
    return bits;
}

// 8 bands of 16 whole rows, spread over the planes, as planes of their own; or all lanes when
// that would be half of them or more.
template <class U>
struct lane_sample {
    static constexpr std::uint64_t band_rows = 16, bands = 8;
    const U* data;
    lane_layout layout;
    std::vector<U> copy;

    lane_sample(const U* x, const lane_layout& l) : data(x), layout(l) {
        const std::uint64_t rows = l.planes * l.rows;
        if (l.rows < band_rows || rows < 2 * bands * band_rows) return;
        copy.resize(static_cast<std::size_t>(bands * band_rows * l.cols));
        for (std::uint64_t b = 0; b < bands; ++b) {
            // Band b starts at an evenly spread row, kept inside one plane.
            const std::uint64_t at = b * rows / bands, plane = at / l.rows;
            const std::uint64_t row = std::min(at % l.rows, l.rows - band_rows);
            std::memcpy(&copy[std::size_t(b * band_rows * l.cols)], x + (plane * l.rows + row) * l.cols,
                        std::size_t(band_rows * l.cols) * sizeof(U));
        }
        data = copy.data();
        layout.planes = bands;
        layout.rows = band_rows;
    }
};

// Lanes block: lane bits, method, predictor, token split, the linear predictor's parameters if it is
// the predictor, then the method's body. Returns the format version the block needs: 1, 3 for a
// token split other than version 1's, 4 for methods 3 and 4, 5 for method 5, 6 for method 6
// (constant), 7 for the linear predictor, 8 for its two sets of coefficients, 9 for method 7.
template <class U>
int encode_lanes(const U* x, const lane_layout& layout, int level, byte_writer& out) {
    const std::uint64_t n = layout.count();
    // One value throughout (empty masks, nodata tiles, fill): the value alone, at every level. The
    // scan stops at the first lane that differs, a few lanes into most data.
    if (n > 0 && std::all_of(x + 1, x + n, [&](U v) { return v == x[0]; })) {
        out.u8(std::uint8_t(layout.bits));
        out.u8(std::uint8_t(method::constant));
        out.u8(0);
        out.u8(0);
        out.append(x, sizeof(U));
        return 6;
    }
    std::vector<U> z(static_cast<std::size_t>(n));
    // Level 1 keeps to predictors whose inverse is a prefix sum or less (fast to decode); levels 2
    // and 4 also try the serial ones. Each level keeps the candidate whose residuals code smallest.
    static constexpr predictor fast[] = {predictor::gradient, predictor::left, predictor::up, predictor::none};
    static constexpr predictor quick[] = {predictor::med, predictor::gradient, predictor::med_mix};
    static constexpr predictor all[] = {predictor::med,       predictor::med_mix, predictor::plane_avg,
                                        predictor::soft_grad, predictor::gradient, predictor::average,
                                        predictor::left,      predictor::up,       predictor::none};
    predictor chosen = predictor::gradient, plain = chosen;  // plain: the best without parameters
    bool linear_ranked = false;  // the linear predictor was among the best ranked
    bool left_plain = true, left_linear = false;  // the predictors method 4 is encoded with
    bool fold_plain = false, fold_linear = false;  // ... and whether as method 7
    lane_range<U> range{};  // the lanes' range, method 7's bounds
    std::vector<U> folded;
    std::vector<std::uint8_t> at_bound;
    // Method 7's residuals of data from z (method 4's) into `folded`, their flags into `at_bound`.
    auto fold_z = [&](const U* data, std::uint64_t count) {
        folded.assign(z.begin(), z.begin() + std::ptrdiff_t(count));
        at_bound.resize(static_cast<std::size_t>(count));
        fold_residuals<U>(data, folded.data(), count, range, at_bound.data());
    };
    // Whether they rank below method 4's by their cheap cost, with the range's bytes.
    auto fold_pays = [&](const U* data, std::uint64_t count) {
        fold_z(data, count);
        return magnitude_bits<U>(folded.data(), count) + 16.0 * sizeof(U) < magnitude_bits<U>(z.data(), count);
    };
    method m = level == 0 ? method::bitpack : method::ans;
    const int max_contexts = level == 1 ? 6 : level == 2 ? 10 : 16;
    const bool try_left = level == 4 && layout.cols <= max_left_context_cols;
    double left_gain = 0;  // the fraction method 4 is estimated to save, on the same sample
    // Level 4 also fits the linear predictor (8- and 16-bit lanes, rows that decode whole).
    const bool try_linear = level == 4 && sizeof(U) <= 2 && layout.rows >= 3 && layout.cols >= 4 &&
                            layout.cols <= max_whole_row_cols;
    linear_params linear;
    auto make_residuals_of = [&](predictor p, const U* data, const lane_layout& l) {
        if constexpr (sizeof(U) <= 2)
            if (p == predictor::linear) return linear_residuals<U>(data, z.data(), l, linear);
        residuals<U>(p, data, z.data(), l);
    };
    if (level >= 1) {
        const predictor* first = level == 1 ? fast : level == 2 ? quick : all;
        const int candidates = level == 1 ? 4 : level == 2 ? 3 : 9;
        // Judge the candidates on a sample of whole-row bands when the chunk is large: the choice
        // comes out the same and encoding gets several times faster.
        const lane_sample<U> sample(x, layout);
        // Every candidate is ranked by the bit lengths of its residuals (cheap); only the best
        // few get the context-model estimate, which costs several times more.
        struct ranked {
            double cost;
            predictor p;
        };
        std::array<ranked, predictor_count> ranks;
        int nranks = 0;
        bool tried_left = false;
        for (int k = 0; k < candidates; ++k) {
            // On planes of one row every predictor but none predicts from the left: try that once.
            if (layout.rows == 1 && first[k] != predictor::none && std::exchange(tried_left, true)) continue;
            double cost = 0;
            if (candidates > estimated_candidates) {  // (levels 1 and 2 estimate all theirs)
                residuals<U>(first[k], sample.data, z.data(), sample.layout);
                cost = magnitude_bits<U>(z.data(), sample.layout.count());
            }
            ranks[std::size_t(nranks++)] = {cost, first[k]};
        }
        if (try_linear) {  // coefficients fitted on the sample: with or without the clamp, then two sets
            linear_params two;
            linear = fit_linear<U>(sample.data, sample.layout, &two);
            double cost[2];
            for (std::uint8_t clamp : {0, 1}) {
                linear.flags = clamp;
                make_residuals_of(predictor::linear, sample.data, sample.layout);
                cost[clamp] = magnitude_bits<U>(z.data(), sample.layout.count()) + 8.0 * linear.bytes();
            }
            linear.flags = cost[1] <= cost[0] ? 1 : 0;
            double best_cost = std::min(cost[0], cost[1]);
            if (two.two_sets()) {  // (with the clamp the single set chose)
                std::swap(linear, two);
                linear.flags |= two.flags & 1;
                make_residuals_of(predictor::linear, sample.data, sample.layout);
                const double two_cost = magnitude_bits<U>(z.data(), sample.layout.count()) + 8.0 * linear.bytes();
                if (two_cost * (1 + linear_two_sets_min_saving) < best_cost)
                    best_cost = two_cost;
                else
                    std::swap(linear, two);
            }
            ranks[std::size_t(nranks++)] = {best_cost, predictor::linear};
        }
        if (nranks > estimated_candidates)
            std::stable_sort(ranks.begin(), ranks.begin() + nranks,
                             [](const ranked& a, const ranked& b) { return a.cost < b.cost; });
        // The best predictor without parameters, and the linear one's estimate when it is ranked.
        // The linear predictor is estimated when it ranks among the best few, beside as many others.
        double best = -1, linear_bits = -1;
        for (int k = 0, others = 0; k < nranks && others < estimated_candidates; ++k) {
            const predictor p = ranks[std::size_t(k)].p;
            if (p == predictor::linear ? k >= estimated_candidates : others++ >= estimated_candidates) continue;
            make_residuals_of(p, sample.data, sample.layout);
            const double bits = ans_estimate_bits<U>(z.data(), sample.layout);
            if (p == predictor::linear)
                linear_bits = bits + 8.0 * linear.bytes();
            else if (best < 0 || bits < best)
                best = bits, chosen = p;
        }
        plain = chosen;
        linear_ranked = linear_bits >= 0;
        if (linear_ranked && (best < 0 || linear_bits < best)) chosen = predictor::linear;
        // Method 4's gain, estimated with the best predictor without parameters; where it reaches
        // 2%, with the linear one too. Method 4 is encoded with each whose estimate is within 1% of
        // the smaller (the estimates and the sizes disagree that much on flat tiles).
        if (try_left && best >= 0) {
            residuals<U>(plain, sample.data, z.data(), sample.layout);
            left_gain = ans_left_gain<U>(sample.data, z.data(), sample.layout, best);
            if (left_gain >= 0.02) {  // method 7 instead where folding pays on the sample
                const auto [lo, hi] = std::minmax_element(x, x + n);
                range = {*lo, *hi};
                fold_plain = fold_pays(sample.data, sample.layout.count());
            }
            if (left_gain >= 0.02 && linear_ranked) {
                make_residuals_of(predictor::linear, sample.data, sample.layout);
                fold_linear = fold_pays(sample.data, sample.layout.count());
                const double plain_left = best * (1 - left_gain),
                             linear_left = linear_bits * (1 - ans_left_gain<U>(sample.data, z.data(), sample.layout, linear_bits));
                left_plain = plain_left <= linear_left * 1.01;
                left_linear = linear_left <= plain_left * 1.01;
            }
        }
    }
    make_residuals_of(chosen, x, layout);
    byte_writer body;
    token_config split;
    bool wide = false;  // method 5's states
    if (m == method::bitpack)
        bitpack_encode<U>(z.data(), n, body);
    else
        split = ans_encode<U>(z.data(), layout, max_contexts, nullptr, body, rans_width::wide_if_worth, &wide);
    // Level 4 also tries contexts that see the left neighbour. Their decoding is serial, half as
    // fast or less, so they must save at least 2%: most reflectance tiles gain less and stay fast.
    // Method 4 with two predictors keeps the smaller; each is method 7 where folding paid on the
    // sample.
    if (try_left && m == method::ans && left_gain >= 0.02) {
        // Against method 2's size (whichever predictor it has): method 5's extra states must not
        // lower the bar.
        const std::size_t coded = body.bytes.size() - (wide ? wide_rans_extra_bytes : 0) +
                                  (chosen == predictor::linear ? linear.bytes() : 0);
        std::size_t smallest = 0;  // method 4's or 7's, once one is kept
        predictor in_z = chosen;  // whose residuals z holds
        for (predictor p : {plain, predictor::linear}) {
            if (!(p == predictor::linear ? left_linear : left_plain)) continue;
            if (p != std::exchange(in_z, p)) make_residuals_of(p, x, layout);
            byte_writer left;
            const bool fold = p == predictor::linear ? fold_linear : fold_plain;
            if (fold) {
                fold_z(x, n);
                left.append(&range.lo, sizeof(U));
                left.append(&range.hi, sizeof(U));
                ans_left_encode<U>(x, folded.data(), layout, split, left, at_bound.data());
            } else {
                ans_left_encode<U>(x, z.data(), layout, split, left);
            }
            const std::size_t size = left.bytes.size() + (p == predictor::linear ? linear.bytes() : 0);
            const std::size_t bar = m != method::ans ? smallest : coded - coded / 50;
            if (size < bar) {
                m = fold ? method::ans_left_range : method::ans_left;
                chosen = p;
                body = std::move(left);
                smallest = size;
            }
        }
    }
    // The block's size after the token split: its body, and the linear predictor's parameters.
    auto coded_size = [&] { return body.bytes.size() + (chosen == predictor::linear ? linear.bytes() : 0); };
    // Few distinct values (classes, masks): levels 2 and 4 also try palette indices in the context
    // of their neighbours, and keep them when smaller.
    if (level >= 2) {
        byte_writer indices;
        if (palette_encode<U>(x, layout, indices) && indices.bytes.size() < coded_size()) {
            m = method::palette;
            chosen = predictor::none;
            split = {};
            body = std::move(indices);
        }
    }
    if (m == method::ans && wide) m = method::ans_wide;  // its 32 states (FORMAT.md 8)
    if (coded_size() >= layout.bytes()) {  // incompressible: store the lanes as they are
        m = method::stored;
        chosen = predictor::none;
        split = {};
        body.bytes.clear();
        body.append(x, layout.bytes());
    }
    const bool linear_used = chosen == predictor::linear;  // (with method 2, 4 or 5)
    out.u8(std::uint8_t(layout.bits));
    out.u8(std::uint8_t(m));
    out.u8(std::uint8_t(chosen));
    out.u8(split.byte());
    if (linear_used) {
        out.u8(linear.flags);
        for (std::int8_t k : linear.k) out.u8(std::uint8_t(k));
        if (linear.two_sets()) {
            for (std::int8_t k : linear.k2) out.u8(std::uint8_t(k));
            out.u8(std::uint8_t(linear.threshold));
            out.u8(std::uint8_t(linear.threshold >> 8));
        }
    }
    out.append(body.bytes.data(), body.bytes.size());
    if (m == method::ans_left_range) return 9;
    if (linear_used) return linear.two_sets() ? 8 : 7;
    return m == method::ans_wide ? 5 : m == method::palette || m == method::ans_left ? 4 : split.is_default() ? 1 : 3;
}

template <class U>
void decode_lanes(byte_reader& in, int version, method m, predictor p, token_config split, U* lanes,
                  const lane_layout& layout) {
    const std::uint64_t n = layout.count();
    lane_range<U> range;
    auto read_range = [&]() -> const lane_range<U>* {  // method 7's, at the start of its body
        if (m != method::ans_left_range) return nullptr;
        std::memcpy(&range.lo, in.take(sizeof(U), "lane range"), sizeof(U));
        std::memcpy(&range.hi, in.take(sizeof(U), "lane range"), sizeof(U));
        if (range.lo > range.hi) fail(errc::corrupt, "lane range is empty");
        return &range;
    };
    if (p == predictor::linear) {  // read_lanes_block has checked the version, width and method
        linear_params linear;
        linear.flags = in.u8("linear predictor");
        if (linear.flags > (version >= 8 ? 3 : 1)) fail(errc::corrupt, "linear predictor flags have reserved bits set");
        for (auto& k : linear.k) k = std::int8_t(in.u8("linear predictor"));
        if (linear.two_sets()) {
            for (auto& k : linear.k2) k = std::int8_t(in.u8("linear predictor"));
            linear.threshold = in.u8("linear predictor");
            linear.threshold |= std::uint16_t(in.u8("linear predictor") << 8);
        }
        if (m == method::ans_left || m == method::ans_left_range)
            ans_left_decode<U>(in, lanes, layout, p, split, &linear, read_range());
        else
            ans_decode<U>(in, lanes, layout, p, split, m == method::ans_wide, &linear);
        return;
    }
    if (m == method::stored) {
        if (in.remaining() != layout.bytes()) fail(errc::corrupt, "stored lanes have the wrong size");
        const std::uint8_t* stored = in.take(layout.bytes(), "stored lanes");
        if (layout.bytes()) std::memcpy(lanes, stored, layout.bytes());
        return;
    }
    if (m == method::constant) {
        if (in.remaining() != sizeof(U)) fail(errc::corrupt, "constant lanes have the wrong size");
        U value;
        std::memcpy(&value, in.take(sizeof(U), "constant lanes"), sizeof(U));
        std::fill(lanes, lanes + n, value);
        return;
    }
    if (m == method::bitpack) {
        bitpack_decode<U>(in, lanes, n);
        unresiduals<U>(p, lanes, layout);
    } else if (m == method::palette) {
        palette_decode<U>(in, lanes, layout);
    } else if (m == method::ans_left || m == method::ans_left_range) {
        ans_left_decode<U>(in, lanes, layout, p, split, nullptr, read_range());
    } else {
        ans_decode<U>(in, lanes, layout, p, split, m == method::ans_wide);
    }
}

header decoded_header(const void* stream, std::size_t size) {
    if (stream == nullptr && size) fail(errc::invalid_argument, "stream pointer is null");
    return read_header(static_cast<const std::uint8_t*>(stream), size);
}

// Returns the format version the block needs.
int write_lanes_block(const encoder_lanes& lanes, int level, byte_writer& out) {
    int version = 1;
    with_lane_type(lanes.layout.bits, [&](auto zero) {
        using U = decltype(zero);
        version = encode_lanes<U>(reinterpret_cast<const U*>(lanes.data), lanes.layout, level, out);
    });
    return version;
}

// Reads one lanes block. Decodes into `target` when given (the output buffer, in place), else into
// `scratch`; returns the lanes and their width. `natural` demands the dtype's own lane width.
std::pair<std::uint8_t*, int> read_lanes_block(byte_reader& in, const header& h, bool natural, std::uint8_t* target,
                                               std::vector<std::uint8_t>& scratch) {
    const int bits = in.u8("lanes block");
    const std::uint8_t m = in.u8("lanes block"), p = in.u8("lanes block"), split_byte = in.u8("lanes block");
    const bool tokens = m == std::uint8_t(method::ans) || m == std::uint8_t(method::ans_left) ||
                        m == std::uint8_t(method::ans_wide) || m == std::uint8_t(method::ans_left_range);
    if (split_byte != 0 && (h.version < 3 || !tokens))
        fail(errc::corrupt, "lanes block names a token split its format version or method does not have");
    if (m > 7 || (m >= std::uint8_t(method::palette) && h.version < 4) || (m == std::uint8_t(method::ans_wide) && h.version < 5) ||
        (m == std::uint8_t(method::constant) && h.version < 6) || (m == std::uint8_t(method::ans_left_range) && h.version < 9))
        fail(errc::corrupt, "unknown coding method " + std::to_string(m));
    if (p >= predictor_count || (p == std::uint8_t(predictor::linear) && h.version < 7))
        fail(errc::corrupt, "unknown predictor " + std::to_string(p));
    if (p == std::uint8_t(predictor::linear) && (bits > 16 || !tokens))
        fail(errc::corrupt, "the linear predictor needs lanes of 8 or 16 bits and method 2, 4 or 5");
    if ((m == std::uint8_t(method::stored) || m == std::uint8_t(method::palette) || m == std::uint8_t(method::constant)) && p != 0)
        fail(errc::corrupt, "stored, palette or constant lanes name a predictor");
    if (natural && bits != natural_lane_bits(h)) fail(errc::corrupt, "lane width does not match dtype");
    with_lane_type(bits, [](auto) {});  // validates the width before anything is allocated
    const token_config split = token_config::from_byte(split_byte, bits);
    const lane_layout layout = make_layout(h, bits);
    std::uint8_t* lanes = target;
    if (lanes == nullptr) {
        scratch.resize(layout.bytes());
        lanes = scratch.data();
    }
    with_lane_type(bits, [&](auto zero) {
        using U = decltype(zero);
        decode_lanes<U>(in, h.version, method(m), predictor(p), split, reinterpret_cast<U*>(lanes), layout);
    });
    return {lanes, bits};
}

void write_f64(byte_writer& w, double v) {
    std::uint64_t bits;
    std::memcpy(&bits, &v, 8);
    w.u64(bits);
}
double read_f64(byte_reader& r, const char* what) {
    const std::uint64_t bits = r.u64(what);
    double v;
    std::memcpy(&v, &bits, 8);
    return v;
}

}  // namespace
}  // namespace detail

std::vector<std::uint8_t> encode(const void* data, std::size_t nbytes, dtype type, std::size_t item_size,
                                 const std::vector<std::uint64_t>& shape, const encode_options& options) {
    using namespace detail;
    if (!is_valid_dtype(std::uint8_t(type))) fail(errc::unsupported_dtype, "unknown dtype code");
    header h;
    h.type = type;
    h.level = options.level;
    h.item_size = std::uint32_t(item_size ? item_size : dtype_size(type));
    if (item_size > max_item_size) fail(errc::invalid_argument, "item size too large");
    if (type != dtype::bytes && item_size && item_size != dtype_size(type))
        fail(errc::invalid_argument, std::string("item size ") + std::to_string(item_size) +
                                         " does not match dtype " + dtype_name(type));
    if (options.quantize_scale != 0.0) {
        h.flags |= flag_quantized;
        h.quantize_scale = options.quantize_scale;
    }
    if (options.decimal_digits >= 0) {
        h.flags |= flag_decimal;
        h.decimal_digits = options.decimal_digits;
    }
    h.shape = shape;
    finish_header(h);
    if (nbytes != h.raw_size)
        fail(errc::buffer_mismatch, "input has " + std::to_string(nbytes) + " bytes, shape and dtype need " +
                                        std::to_string(h.raw_size));
    if (nbytes && data == nullptr) fail(errc::invalid_argument, "input pointer is null");

    const auto* input = static_cast<const std::uint8_t*>(data);
    byte_writer payload;
    const encoder_lanes lanes = to_lanes(input, h, options.exact_values);
    if (!lanes.reserved.bytes.empty()) {  // the one feature of format version 2
        h.flags |= flag_reserved;
        h.version = 2;
        payload.append(lanes.reserved.bytes.data(), lanes.reserved.bytes.size());
    }
    if (h.integerized()) payload.append(lanes.exceptions.bytes.data(), lanes.exceptions.bytes.size());
    // Integerized lanes are already exact integers, so level 1 there means full lossless effort.
    h.version = std::max(h.version, write_lanes_block(lanes, h.quantized() ? 4 : h.level, payload));
    // Floats on a lattice (offset + q * step) may code far smaller as integers: try, keep the smaller.
    if (h.level >= 1 && !h.integerized() && (is_float(h.type) || is_complex(h.type))) {
        if (const auto l = find_lattice(input, h)) {
            const lattice_lanes ll = to_lattice_lanes(input, h, *l);
            byte_writer q, alt;
            const int q_version = write_lanes_block(ll.q, h.level, q);
            write_f64(alt, l->offset);
            write_f64(alt, l->step);
            alt.varint(q.bytes.size());
            alt.append(q.bytes.data(), q.bytes.size());
            const int c_version = write_lanes_block(ll.correction, h.level, alt);
            if (alt.bytes.size() < payload.bytes.size()) {
                payload = std::move(alt);
                h.flags |= flag_lattice;
                h.version = std::max({1, q_version, c_version});  // a lattice stream has no reserved values
            }
        }
    }
    h.payload_size = payload.bytes.size();
    // Every feature above is older than the compact header, which every stream now has.
    h.version = std::max(h.version, compact_header_version);
    byte_writer out;
    write_header(out, h);
    out.append(payload.bytes.data(), payload.bytes.size());
    seal(out.bytes.data(), out.bytes.size());
    return std::move(out.bytes);
}

stream_info inspect(const void* stream, std::size_t size, bool verify_checksum) {
    using namespace detail;
    const header h = decoded_header(stream, size);
    stream_info info;
    info.format_version = h.version;
    info.type = h.type;
    info.item_size = h.item_size;
    info.shape = h.shape;
    info.level = h.level;
    info.quantize_scale = h.quantize_scale;
    info.decimal_digits = h.decimal() ? h.decimal_digits : -1;
    info.raw_size = h.raw_size;
    info.stored_size = size;
    info.checksum = h.checksum;
    if (verify_checksum) {
        info.checksum_checked = true;
        info.checksum_ok = stream_checksum(static_cast<const std::uint8_t*>(stream), size) == h.checksum;
    }
    return info;
}

void decode(const void* stream, std::size_t size, void* out, std::size_t out_size, const dtype* expected_type) {
    using namespace detail;
    const header h = decoded_header(stream, size);
    if (expected_type && *expected_type != h.type)
        fail(errc::buffer_mismatch, std::string("stream holds ") + dtype_name(h.type) + ", caller expects " +
                                        (dtype_name(*expected_type) ? dtype_name(*expected_type) : "?"));
    if (out_size != h.raw_size)
        fail(errc::buffer_mismatch, "output buffer has " + std::to_string(out_size) + " bytes, stream decodes to " +
                                        std::to_string(h.raw_size));
    if (out_size && out == nullptr) fail(errc::invalid_argument, "output pointer is null");
    const auto* bytes = static_cast<const std::uint8_t*>(stream);
    if (stream_checksum(bytes, size) != h.checksum)
        fail(errc::checksum_mismatch, "checksum mismatch: the stream is corrupt");

    byte_reader in(bytes + h.size, std::size_t(h.payload_size));
    auto* dst = static_cast<std::uint8_t*>(out);
    std::vector<std::uint8_t> scratch;
    if (h.lattice()) {
        lattice l;
        l.offset = read_f64(in, "lattice");
        l.step = read_f64(in, "lattice");
        if (!std::isfinite(l.offset) || !(l.step > 0) || !std::isfinite(l.step))
            fail(errc::corrupt, "lattice offset or step is invalid");
        const std::uint64_t q_size = in.varint("lattice");
        if (q_size > in.remaining()) fail(errc::truncated, "stream truncated in lattice integers");
        byte_reader q_in(in.take(std::size_t(q_size), "lattice integers"), std::size_t(q_size));
        std::vector<std::uint8_t> q_scratch;
        const auto q = read_lanes_block(q_in, h, false, nullptr, q_scratch);
        const auto correction = read_lanes_block(in, h, true, nullptr, scratch);
        from_lattice_lanes(q.first, q.second, correction.first, h, l, dst);
        return;
    }
    reserved_values reserved;
    if (h.reserved()) reserved = read_reserved_values(in, h);
    std::vector<exception_value> exceptions;
    if (h.integerized()) exceptions = read_exceptions(in, h);
    const auto lanes = read_lanes_block(in, h, !h.integerized(), lanes_in_place(h, dst) ? dst : nullptr, scratch);
    from_lanes(lanes.first, make_layout(h, lanes.second), h, exceptions, reserved, dst);
}

}  // namespace byte2bit
