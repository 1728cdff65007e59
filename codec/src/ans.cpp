// Method 2: context-modelled rANS over residual tokens.
#include <algorithm>
#include <array>
#include <cmath>
#include <string>

#include "entropy.hpp"

namespace byte2bit {
namespace detail {
namespace {

constexpr int prob_bits = 12;
constexpr std::uint32_t prob_scale = 1u << prob_bits;
constexpr std::uint32_t state_low = 1u << 16;  // states live in [2^16, 2^32)
constexpr int alphabet = 256;
constexpr int max_buckets = 64;
constexpr int max_contexts = 16;

// Token of a residual: values below 16 stand for themselves; larger ones keep their top three bits
// in the token and send the rest raw, so the token says the magnitude and the raw bits the detail.
struct token {
    std::uint8_t symbol;
    std::uint8_t nbits;
    std::uint64_t extra;
};

inline token tokenize(std::uint64_t z) {
    if (z < 16) return {std::uint8_t(z), 0, 0};
    const int n = bit_length(z) - 1;  // >= 4
    const int nbits = n - 2;
    const std::uint64_t m = (z >> nbits) & 3;
    return {std::uint8_t(16 + (n - 4) * 4 + int(m)), std::uint8_t(nbits), z & ((std::uint64_t(1) << nbits) - 1)};
}

inline int token_extra_bits(int symbol) { return symbol < 16 ? 0 : (symbol - 16) / 4 + 2; }

inline std::uint64_t detokenize(int symbol, std::uint64_t extra) {
    if (symbol < 16) return std::uint64_t(symbol);
    const int nbits = (symbol - 16) / 4 + 2;
    return (std::uint64_t(4 | ((symbol - 16) & 3)) << nbits) | extra;
}

inline int bucket_of(std::uint64_t q) {
    if (q == 0) return 0;
    const int e = bit_length(q);
    if (e == 1) return 1;
    return 2 * e - 2 + int((q >> (e - 2)) & 1);
}

// Context activity of lane (y, x) from residuals already coded: left, up, up-left, up-right.
template <class U>
struct neighbourhood {
    const U* z;
    std::uint64_t W;
    context_model model;

    static std::uint64_t clamp(U v) { return std::min<std::uint64_t>(v, std::uint64_t(1) << 58); }

    // `up` is the previous row of the plane, or null on its first row.
    std::uint64_t activity(const U* row, const U* up, std::uint64_t x) const {
        const std::uint64_t l = x > 0 ? clamp(row[x - 1]) : 0;
        const std::uint64_t u = up ? clamp(up[x]) : 0;
        if (model == context_model::two_neighbours) return l + u;
        const std::uint64_t ul = (up && x > 0) ? clamp(up[x - 1]) : 0;
        const std::uint64_t ur = (up && x + 1 < W) ? clamp(up[x + 1]) : 0;
        return 2 * (l + u) + ul + ur;
    }
};

double entropy_bits(const std::uint64_t* counts) {
    std::uint64_t total = 0;
    for (int s = 0; s < alphabet; ++s) total += counts[s];
    if (!total) return 0;
    double bits = 0;
    for (int s = 0; s < alphabet; ++s)
        if (counts[s]) bits += double(counts[s]) * std::log2(double(total) / double(counts[s]));
    return bits;
}

double table_cost_bits(const std::uint64_t* counts) {
    int max_symbol = -1;
    for (int s = 0; s < alphabet; ++s)
        if (counts[s]) max_symbol = s;
    return max_symbol < 0 ? 0 : 16 + 10.0 * (max_symbol + 1);
}

// Scales counts to frequencies summing to prob_scale, every present symbol at least 1.
void normalize(const std::uint64_t* counts, std::uint32_t* freqs) {
    std::uint64_t total = 0;
    int top = -1;
    for (int s = 0; s < alphabet; ++s) {
        total += counts[s];
        if (counts[s] && (top < 0 || counts[s] > counts[top])) top = s;
    }
    std::int64_t sum = 0;
    for (int s = 0; s < alphabet; ++s) freqs[s] = 0;
    if (total == 0) return;  // an empty context has no table
    for (int s = 0; s < alphabet; ++s) {
        if (!counts[s]) continue;
        const double exact = double(counts[s]) * prob_scale / double(total);
        freqs[s] = std::max<std::uint32_t>(1, std::uint32_t(exact + 0.5));
        sum += freqs[s];
    }
    // Move the rounding error onto the largest frequencies, which it distorts least.
    while (sum != prob_scale) {
        if (sum < prob_scale) {
            freqs[top] += std::uint32_t(prob_scale - sum);
            sum = prob_scale;
        } else {
            int largest = top;
            for (int s = 0; s < alphabet; ++s)
                if (freqs[s] > freqs[largest]) largest = s;
            const std::int64_t take = std::min<std::int64_t>(sum - prob_scale, freqs[largest] - 1);
            freqs[largest] -= std::uint32_t(take);
            sum -= take;
            if (take == 0) break;  // unreachable: fewer than prob_scale symbols exist
        }
    }
}

// Greedy merging of adjacent buckets into at most max_contexts contexts, while merging does not
// cost more bits than it saves in tables.
std::vector<std::uint8_t> cluster(std::vector<std::array<std::uint64_t, alphabet>>& hist, int max_ctx,
                                  std::vector<std::array<std::uint64_t, alphabet>>& merged) {
    struct group {
        int first, last;
        std::array<std::uint64_t, alphabet> counts;
        double cost;
    };
    auto cost_of = [](const std::array<std::uint64_t, alphabet>& c) {
        return entropy_bits(c.data()) + table_cost_bits(c.data());
    };
    std::vector<group> groups;
    for (int b = 0; b < int(hist.size()); ++b) groups.push_back({b, b, hist[b], cost_of(hist[b])});
    while (groups.size() > 1) {
        double best = 0;
        std::size_t at = 0;
        std::array<std::uint64_t, alphabet> best_counts{};
        bool found = false;
        for (std::size_t i = 0; i + 1 < groups.size(); ++i) {
            std::array<std::uint64_t, alphabet> c;
            for (int s = 0; s < alphabet; ++s) c[s] = groups[i].counts[s] + groups[i + 1].counts[s];
            const double delta = cost_of(c) - groups[i].cost - groups[i + 1].cost;
            if (!found || delta < best) {
                best = delta;
                at = i;
                best_counts = c;
                found = true;
            }
        }
        if (best > 0 && int(groups.size()) <= max_ctx) break;
        groups[at].last = groups[at + 1].last;
        groups[at].counts = best_counts;
        groups[at].cost = cost_of(best_counts);
        groups.erase(groups.begin() + std::ptrdiff_t(at) + 1);
    }
    std::vector<std::uint8_t> map(hist.size());
    merged.clear();
    for (std::size_t g = 0; g < groups.size(); ++g) {
        for (int b = groups[g].first; b <= groups[g].last; ++b) map[std::size_t(b)] = std::uint8_t(g);
        merged.push_back(groups[g].counts);
    }
    return map;
}

template <class U, class F>
void for_each_lane(const U* z, const lane_layout& l, context_model model, F&& f) {
    neighbourhood<U> nb{z, l.cols, model};
    for (std::uint64_t p = 0; p < l.planes; ++p)
        for (std::uint64_t y = 0; y < l.rows; ++y) {
            const U* row = z + (p * l.rows + y) * l.cols;
            const U* up = y > 0 ? row - l.cols : nullptr;
            for (std::uint64_t x = 0; x < l.cols; ++x) f(row[x], nb.activity(row, up, x));
        }
}

}  // namespace

template <class U>
double ans_estimate_bits(const U* z, const lane_layout& layout, context_model model) {
    std::vector<std::array<std::uint64_t, alphabet>> hist(max_buckets);
    for (auto& h : hist) h.fill(0);
    double extra = 0;
    for_each_lane(z, layout, model, [&](U v, std::uint64_t q) {
        const token t = tokenize(v);
        hist[std::size_t(std::min(bucket_of(q), max_buckets - 1))][t.symbol]++;
        extra += t.nbits;
    });
    double bits = extra;
    for (auto& h : hist) bits += entropy_bits(h.data());
    return bits;
}

template <class U>
void ans_encode(const U* z, const lane_layout& layout, const ans_options& options, byte_writer& out) {
    const std::uint64_t n = layout.count();
    std::vector<std::uint8_t> buckets(static_cast<std::size_t>(n)), symbols(static_cast<std::size_t>(n));
    int used_buckets = 1;
    bit_writer extra;
    {
        std::uint64_t i = 0;
        for_each_lane(z, layout, options.model, [&](U v, std::uint64_t q) {
            const token t = tokenize(v);
            const int b = std::min(bucket_of(q), max_buckets - 1);
            used_buckets = std::max(used_buckets, b + 1);
            buckets[std::size_t(i)] = std::uint8_t(b);
            symbols[std::size_t(i)] = t.symbol;
            extra.put(t.extra, t.nbits);
            ++i;
        });
    }
    std::vector<std::array<std::uint64_t, alphabet>> hist(static_cast<std::size_t>(used_buckets));
    for (auto& h : hist) h.fill(0);
    for (std::uint64_t i = 0; i < n; ++i) hist[buckets[std::size_t(i)]][symbols[std::size_t(i)]]++;
    std::vector<std::array<std::uint64_t, alphabet>> ctx_counts;
    const std::vector<std::uint8_t> ctx_map =
        cluster(hist, std::min(options.max_contexts, max_contexts), ctx_counts);
    const int contexts = int(ctx_counts.size());

    out.u8(std::uint8_t(options.model));
    out.u8(std::uint8_t(used_buckets));
    out.append(ctx_map.data(), ctx_map.size());
    out.u8(std::uint8_t(contexts));
    std::vector<std::uint32_t> freq(std::size_t(contexts) * alphabet), start(std::size_t(contexts) * alphabet);
    for (int c = 0; c < contexts; ++c) {
        std::uint32_t* f = &freq[std::size_t(c) * alphabet];
        normalize(ctx_counts[std::size_t(c)].data(), f);
        int max_symbol = -1, present = 0;
        for (int s = 0; s < alphabet; ++s)
            if (f[s]) max_symbol = s, ++present;
        if (present == 0) {
            out.u8(0);
        } else if (present == 1) {
            out.u8(1);
            out.u8(std::uint8_t(max_symbol));
        } else {
            out.u8(2);
            out.u8(std::uint8_t(max_symbol));
            for (int s = 0; s <= max_symbol; ++s) out.varint(f[s]);
        }
        std::uint32_t cum = 0;
        for (int s = 0; s < alphabet; ++s) start[std::size_t(c) * alphabet + s] = cum, cum += f[s];
    }

    // rANS runs backwards; two states alternate between symbols for instruction-level parallelism.
    std::vector<std::uint16_t> words;
    words.reserve(std::size_t(n / 2 + 16));
    std::uint32_t state[2] = {state_low, state_low};
    for (std::uint64_t i = n; i-- > 0;) {
        const std::size_t k = std::size_t(ctx_map[buckets[std::size_t(i)]]) * alphabet + symbols[std::size_t(i)];
        const std::uint32_t f = freq[k];
        std::uint32_t& x = state[i & 1];
        const std::uint64_t x_max = std::uint64_t((state_low >> prob_bits) << 16) * f;
        if (x >= x_max) {
            words.push_back(std::uint16_t(x));
            x >>= 16;
        }
        x = ((x / f) << prob_bits) + (x % f) + start[k];
    }
    byte_writer ans;
    ans.u32(state[0]);
    ans.u32(state[1]);
    for (auto it = words.rbegin(); it != words.rend(); ++it) {
        ans.u8(std::uint8_t(*it));
        ans.u8(std::uint8_t(*it >> 8));
    }
    out.varint(ans.bytes.size());
    out.append(ans.bytes.data(), ans.bytes.size());
    const std::vector<std::uint8_t> raw = extra.finish();
    out.append(raw.data(), raw.size());
}

template <class U>
void ans_decode(byte_reader& in, U* z, const lane_layout& layout) {
    const std::uint8_t model_code = in.u8("context model");
    if (model_code >= context_model_count) fail(errc::corrupt, "unknown context model");
    const auto model = context_model(model_code);
    const int buckets = in.u8("context buckets");
    if (buckets < 1 || buckets > max_buckets) fail(errc::corrupt, "bucket count out of range");
    const std::uint8_t* map = in.take(std::size_t(buckets), "context map");
    const int contexts = in.u8("context count");
    if (contexts < 1 || contexts > max_contexts) fail(errc::corrupt, "context count out of range");
    for (int b = 0; b < buckets; ++b)
        if (map[b] >= contexts) fail(errc::corrupt, "context map names a missing context");

    // Decode table: for each context and slot, (freq - 1) << 20 | (slot - start) << 8 | symbol.
    std::vector<std::uint32_t> table(std::size_t(contexts) << prob_bits, 0);
    for (int c = 0; c < contexts; ++c) {
        std::uint32_t f[alphabet] = {};
        const int kind = in.u8("frequency table");
        if (kind == 1) {
            f[in.u8("frequency table")] = prob_scale;
        } else if (kind == 2) {
            const int max_symbol = in.u8("frequency table");
            std::uint64_t sum = 0;
            for (int s = 0; s <= max_symbol; ++s) {
                const std::uint64_t v = in.varint("frequency table");
                if (v > prob_scale) fail(errc::corrupt, "symbol frequency out of range");
                f[s] = std::uint32_t(v);
                sum += v;
            }
            if (sum != prob_scale) fail(errc::corrupt, "symbol frequencies do not sum to 4096");
        } else if (kind != 0) {
            fail(errc::corrupt, "unknown frequency table kind");
        }
        std::uint32_t* t = &table[std::size_t(c) << prob_bits];
        std::uint32_t slot = 0;
        for (int s = 0; s < alphabet; ++s)
            for (std::uint32_t k = 0; k < f[s]; ++k, ++slot) t[slot] = (f[s] - 1) << 20 | k << 8 | std::uint32_t(s);
    }
    const std::uint64_t ans_size = in.varint("rANS size");
    if (ans_size < 8 || ans_size > in.remaining() || ans_size % 2)
        fail(errc::corrupt, "rANS stream size is invalid");
    const std::uint8_t* ans = in.take(std::size_t(ans_size), "rANS stream");
    const std::size_t extra_size = in.remaining();
    bit_reader extra(in.take(extra_size, "extra bits"), extra_size);

    std::uint32_t s0 = std::uint32_t(ans[0]) | std::uint32_t(ans[1]) << 8 | std::uint32_t(ans[2]) << 16 |
                       std::uint32_t(ans[3]) << 24;
    std::uint32_t s1 = std::uint32_t(ans[4]) | std::uint32_t(ans[5]) << 8 | std::uint32_t(ans[6]) << 16 |
                       std::uint32_t(ans[7]) << 24;
    const std::uint8_t* wp = ans + 8;
    const std::uint8_t* const wend = ans + ans_size;
    bool overrun = false;

    neighbourhood<U> nb{z, layout.cols, model};
    for (std::uint64_t p = 0; p < layout.planes; ++p)
        for (std::uint64_t y = 0; y < layout.rows; ++y) {
            U* row = z + (p * layout.rows + y) * layout.cols;
            const U* up = y > 0 ? row - layout.cols : nullptr;
            for (std::uint64_t x = 0; x < layout.cols; ++x) {
                const int b = std::min(bucket_of(nb.activity(row, up, x)), buckets - 1);
                const std::uint32_t e = table[std::size_t(map[b]) << prob_bits | (s0 & (prob_scale - 1))];
                const int symbol = int(e & 0xFF);
                s0 = ((e >> 20) + 1) * (s0 >> prob_bits) + ((e >> 8) & (prob_scale - 1));
                if (s0 < state_low) {
                    if (wp + 2 <= wend) {
                        s0 = s0 << 16 | std::uint32_t(wp[0]) | std::uint32_t(wp[1]) << 8;
                        wp += 2;
                    } else {
                        overrun = true;
                    }
                }
                std::swap(s0, s1);
                const int nbits = token_extra_bits(symbol);
                row[x] = U(detokenize(symbol, nbits ? extra.get_wide(nbits) : 0));
            }
        }
    if (overrun || wp != wend || s0 != state_low || s1 != state_low || extra.overrun() ||
        (extra.bits_used() + 7) / 8 != extra_size)
        fail(errc::corrupt, "entropy-coded data is inconsistent");
}

#define B2B_INSTANTIATE(U)                                                                      \
    template void ans_encode<U>(const U*, const lane_layout&, const ans_options&, byte_writer&); \
    template void ans_decode<U>(byte_reader&, U*, const lane_layout&);                           \
    template double ans_estimate_bits<U>(const U*, const lane_layout&, context_model);
B2B_INSTANTIATE(std::uint8_t)
B2B_INSTANTIATE(std::uint16_t)
B2B_INSTANTIATE(std::uint32_t)
B2B_INSTANTIATE(std::uint64_t)
#undef B2B_INSTANTIATE

}  // namespace detail
}  // namespace byte2bit
