// Method 2: context-modelled rANS over residual tokens.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <type_traits>

#include "entropy.hpp"
#include "linear.hpp"
#include "predict.hpp"
#include "rans.hpp"
#include "ans_avx2.hpp"
#include "wavefront.hpp"

namespace byte2bit {
namespace detail {
namespace {

constexpr int max_buckets = 64;
constexpr std::uint32_t small_activity = 4096;  // decoding without vectors looks these up in a table

// Token of a residual, by a token_config (k, m): values below 2^k stand for themselves; larger
// ones keep the position of their leading bit and the m bits below it in the token and send the
// rest raw, so the token says the magnitude and the raw bits the detail. Format version 1 knows
// only (4, 2); version 3 lets a stream choose (FORMAT.md, "Method 2").
struct token {
    std::uint8_t symbol;
    std::uint8_t nbits;
    std::uint64_t extra;
};

// Always inlined: the encoders call it per lane, and out of line it cost level 1 encoding 10-15%.
__attribute__((always_inline)) inline token tokenize(std::uint64_t z, token_config c) {
    if (z < (std::uint64_t(1) << c.k)) return {std::uint8_t(z), 0, 0};
    const int n = bit_length(z) - 1;  // >= k
    const int nbits = n - c.m;
    const std::uint64_t top = (z >> nbits) & ((1u << c.m) - 1);
    return {std::uint8_t((1 << c.k) + ((n - c.k) << c.m) + int(top)), std::uint8_t(nbits),
            z & ((std::uint64_t(1) << nbits) - 1)};
}

// Residual of `symbol` without its raw bits, and how many raw bits follow; symbol < c.tokens(B).
inline std::uint64_t token_base(int symbol, token_config c, int* nbits) {
    if (symbol < (1 << c.k)) return *nbits = 0, std::uint64_t(symbol);
    const int t = symbol - (1 << c.k), n = c.k + (t >> c.m);
    *nbits = n - c.m;
    return (std::uint64_t((1 << c.m) | (t & ((1 << c.m) - 1)))) << *nbits;
}

inline int bucket_of(std::uint64_t q) {
    if (q == 0) return 0;
    const int e = bit_length(q);
    if (e == 1) return 1;
    return 2 * e - 2 + int((q >> (e - 2)) & 1);
}

// Greedy merging of adjacent buckets into at most max_contexts contexts, while merging does not
// cost more bits than it saves in tables. Each pair's merged cost is kept: a merge changes only the
// two pairs next to it (recomputing them all took 4% of level 4 encoding).
std::vector<std::uint8_t> cluster(std::vector<symbol_counts>& hist, int max_ctx,
                                  std::vector<symbol_counts>& merged) {
    struct group {
        int first, last;
        symbol_counts counts;
        double cost;
    };
    auto cost_of = [](const symbol_counts& c) {
        return entropy_bits(c.data()) + table_cost_bits(c.data());
    };
    std::vector<group> groups;
    for (int b = 0; b < int(hist.size()); ++b) groups.push_back({b, b, hist[b], cost_of(hist[b])});
    auto pair_cost = [&](std::size_t i) {  // of groups i and i + 1 merged
        symbol_counts c;
        for (int s = 0; s < alphabet; ++s) c[s] = groups[i].counts[s] + groups[i + 1].counts[s];
        return cost_of(c);
    };
    std::vector<double> pairs;
    for (std::size_t i = 0; i + 1 < groups.size(); ++i) pairs.push_back(pair_cost(i));
    while (groups.size() > 1) {
        double best = 0;
        std::size_t at = 0;
        for (std::size_t i = 0; i < pairs.size(); ++i) {
            const double delta = pairs[i] - groups[i].cost - groups[i + 1].cost;
            if (i == 0 || delta < best) best = delta, at = i;
        }
        if (best > 0 && int(groups.size()) <= max_ctx) break;
        groups[at].last = groups[at + 1].last;
        for (int s = 0; s < alphabet; ++s) groups[at].counts[s] += groups[at + 1].counts[s];
        groups[at].cost = pairs[at];
        groups.erase(groups.begin() + std::ptrdiff_t(at) + 1);
        pairs.erase(pairs.begin() + std::ptrdiff_t(at));
        if (at > 0) pairs[at - 1] = pair_cost(at - 1);
        if (at < pairs.size()) pairs[at] = pair_cost(at);
    }
    std::vector<std::uint8_t> map(hist.size());
    merged.clear();
    for (std::size_t g = 0; g < groups.size(); ++g) {
        for (int b = groups[g].first; b <= groups[g].last; ++b) map[std::size_t(b)] = std::uint8_t(g);
        merged.push_back(groups[g].counts);
    }
    return map;
}


// Activity of each lane of a row, from the residuals of the two rows above (null where they fall
// outside the plane): 2 up + up-left + up-right + (up-left-left + up-right-right + up-up) / 2.
// Only rows above are used, so a whole row's contexts are known before its first symbol is
// decoded and the rANS states never wait on one another.
template <class U>
inline std::uint64_t clamped(U v) {
    if constexpr (sizeof(U) < 8) return v;  // sums of a few cannot overflow
    return std::min<std::uint64_t>(v, std::uint64_t(1) << 58);
}

template <class U>
inline std::uint64_t activity_of(const U* upup, std::uint64_t x, std::uint64_t u, std::uint64_t l1, std::uint64_t r1,
                                 std::uint64_t l2, std::uint64_t r2) {
    const std::uint64_t uu = upup ? clamped(upup[x]) : 0;
    return 2 * u + l1 + r1 + ((l2 + r2 + uu) >> 1);
}

// The activity of lane x of any row below the first, with 0 for what lies outside the row.
template <class U>
std::uint64_t activity_at(const U* up, const U* upup, std::uint64_t W, std::uint64_t x) {
    auto at = [&](int dx) -> std::uint64_t {  // up[x + dx]
        const std::int64_t i = std::int64_t(x) + dx;
        return i >= 0 && i < std::int64_t(W) ? clamped(up[i]) : 0;
    };
    return activity_of(upup, x, at(0), at(-1), at(1), at(-2), at(2));
}

template <class U, class F>
void row_activities(const U* up, const U* upup, std::uint64_t W, F&& f) {
    if (up == nullptr) {
        for (std::uint64_t x = 0; x < W; ++x) f(x, 0);
        return;
    }
    const std::uint64_t edge = std::min<std::uint64_t>(W, 2);
    for (std::uint64_t x = 0; x < edge; ++x) f(x, activity_at(up, upup, W, x));
    for (std::uint64_t x = 2; x + 2 < W; ++x)
        f(x, activity_of(upup, x, clamped(up[x]), clamped(up[x - 1]), clamped(up[x + 1]), clamped(up[x - 2]),
                         clamped(up[x + 2])));
    for (std::uint64_t x = std::max<std::uint64_t>(edge, W >= 2 ? W - 2 : 0); x < W; ++x)
        f(x, activity_at(up, upup, W, x));
}

// out[x] = of(activity of lane x) for a row, from the residual rows above: eight lanes at a time
// where AVX2 runs, through of_bucket (of(q) = of_bucket[min(bucket_of(q), top)], ans_avx2.hpp),
// else lane by lane. Decoding maps activities to contexts this way, encoding to buckets.
template <class U>
bool lookup_vectors(bool avx2, const U* up, std::uint64_t W) {
    return sizeof(U) <= 2 && avx2 && up && W > 12;
}
template <class U, class Of>
void row_lookup(const U* up, const U* upup, std::uint64_t W, bool avx2, const std::uint8_t* of_bucket, int top,
                Of&& of, std::uint8_t* out, const context_ranks* ranks = nullptr) {
    if constexpr (sizeof(U) <= 2)
        if (lookup_vectors(avx2, up, W)) {
            const std::uint64_t end = row_contexts8<U>(up, upup, W, of_bucket, top, ranks, out);
            for (std::uint64_t i = 0; i < W; i = i == 1 ? end : i + 1)  // two lanes at each end
                out[i] = of(activity_at(up, upup, W, i));
            return;
        }
    row_activities<U>(up, upup, W, [&](std::uint64_t i, std::uint64_t q) { out[i] = of(q); });
}

// Method 2's bucket of an activity.
inline std::uint8_t activity_bucket(std::uint64_t q) { return std::uint8_t(std::min(bucket_of(q), max_buckets - 1)); }
struct identity_buckets {  // of_bucket for row_lookup
    std::uint8_t of[max_buckets];
    identity_buckets() {
        for (int b = 0; b < max_buckets; ++b) of[b] = std::uint8_t(b);
    }
};

// Tokens of z[0 .. x) eight lanes at a time where AVX2 runs (lanes of up to 16 bits); returns x,
// the first lane left to tokenize().
template <class U, class S>
std::uint64_t lane_tokens(const U* z, std::uint64_t n, token_config split, S* symbols, std::uint8_t* nbits) {
    if constexpr (sizeof(U) <= 2)
        if (ans_avx2_usable()) return lane_tokens8<U, S>(z, n, split, symbols, nbits);
    return 0;
}

// The symbols and raw bit counts of all n lanes (lanes of up to 32 bits: a token's raw bits are
// the low nbits of its residual). Returns the sum of the bit counts.
template <class U>
std::uint64_t tokens_of(const U* z, std::uint64_t n, token_config split, std::uint8_t* symbols, std::uint8_t* nbits) {
    for (std::uint64_t i = lane_tokens(z, n, split, symbols, nbits); i < n; ++i) {
        const token t = tokenize(z[i], split);
        symbols[i] = t.symbol, nbits[i] = t.nbits;
    }
    std::uint64_t total = 0;
    for (std::uint64_t i = 0; i < n; ++i) total += nbits[i];
    return total;
}

// Writes the raw bits of tokens_of's lanes: the low nbits[i] of z[i]. A token of a B-bit lane has
// at most B - 1 raw bits, so the bits of 32 / B lanes go in one put: the writer's serial
// accumulator takes half (16-bit) or a quarter (8-bit) of the steps.
template <class U>
void put_raw_bits(bit_writer& out, const U* z, const std::uint8_t* nbits, std::uint64_t n) {
    constexpr std::uint64_t per_put = sizeof(U) <= 2 ? 4 / sizeof(U) : 1;
    out.put_each(n / per_put, [&](std::uint64_t g, std::uint64_t& value, int& count) {
        const U* v = z + g * per_put;
        const std::uint8_t* b = nbits + g * per_put;
        value = 0, count = 0;
        for (std::uint64_t j = 0; j < per_put; ++j) {  // a constant count: unrolled
            value |= (std::uint64_t(v[j]) & ((std::uint64_t(1) << b[j]) - 1)) << count;
            count += b[j];
        }
    });
    out.put_each(n % per_put, [&](std::uint64_t j, std::uint64_t& value, int& count) {
        value = z[n - n % per_put + j], count = nbits[n - n % per_put + j];
    });
}

// Every row's buckets, into the bytes out(row) points to (row: from 0 over all planes), then
// f(row's residuals, its buckets): vectors find a row's buckets where they run, else lane by lane.
template <class U, class Out, class F>
void bucket_rows(const U* z, const lane_layout& l, Out&& out, F&& f) {
    static const identity_buckets table;
    const bool avx2 = ans_avx2_usable();
    for (std::uint64_t p = 0; p < l.planes; ++p)
        for (std::uint64_t y = 0; y < l.rows; ++y) {
            const U* row = z + (p * l.rows + y) * l.cols;
            const U* up = y > 0 ? row - l.cols : nullptr;
            const U* upup = y > 1 ? row - 2 * l.cols : nullptr;
            std::uint8_t* b = out(p * l.rows + y);
            row_lookup<U>(up, upup, l.cols, avx2, table.of, max_buckets - 1, activity_bucket, b);
            f(row, const_cast<const std::uint8_t*>(b));
        }
}

}  // namespace

template <class U>
double ans_estimate_bits(const U* z, const lane_layout& layout) {
    std::vector<symbol_counts> hist(max_buckets);
    for (auto& h : hist) h.fill(0);
    std::uint64_t extra = 0;  // an integer sum: a double one chained a 4-cycle add per lane
    const std::size_t W = static_cast<std::size_t>(layout.cols);
    std::vector<std::uint8_t> buckets(W), symbols(W), nbits(W);
    bucket_rows(z, layout, [&](std::uint64_t) { return buckets.data(); }, [&](const U* row, const std::uint8_t* b) {
        for (std::uint64_t x = lane_tokens(row, W, token_config{}, symbols.data(), nbits.data()); x < W; ++x) {
            const token t = tokenize(row[x], token_config{});
            symbols[x] = t.symbol, nbits[x] = t.nbits;
        }
        for (std::size_t x = 0; x < W; ++x) {
            hist[b[x]][symbols[x]]++;
            extra += nbits[x];
        }
    });
    double bits = double(extra);
    for (auto& h : hist) bits += entropy_bits(h.data());
    return bits;
}

namespace {

// Residuals counted finely enough to tokenize them under any split with k <= 8 and m <= 4: values
// below 256 as themselves, larger ones by their leading bit's position and the 4 bits below it.
constexpr int fine_keys = 256 + 56 * 16;
inline int fine_key(std::uint64_t z) {
    if (z < 256) return int(z);
    const int n = bit_length(z) - 1;
    return 256 + (n - 8) * 16 + int((z >> (n - 4)) & 15);
}

// The split that codes `fine` (one histogram per bucket) smallest, by the entropy of the tokens in
// each bucket plus raw bits plus an estimate of what the larger tables cost. Sets `hist` to each
// bucket's token histogram under that split: the same counts tokenizing every lane would give.
token_config choose_split(const std::vector<std::array<std::uint64_t, fine_keys>>& fine, int bits, int max_ctx,
                          std::vector<symbol_counts>& hist) {
    static constexpr token_config for8[] = {{4, 2}, {5, 2}, {6, 2}, {8, 0}};
    static constexpr token_config for16[] = {{4, 2}, {5, 2}, {6, 2}, {7, 2}, {6, 3}, {7, 3}};
    static constexpr token_config for32[] = {{4, 2}, {6, 2}, {5, 3}};
    const token_config* candidates = bits == 8 ? for8 : bits == 16 ? for16 : for32;
    const int count = bits == 8 ? 4 : bits == 16 ? 6 : 3;
    // Each bucket's keys that occur, found once: most of the 1152 do not.
    std::vector<std::vector<std::pair<int, std::uint64_t>>> present(fine.size());
    for (std::size_t b = 0; b < fine.size(); ++b)
        for (int key = 0; key < fine_keys; ++key)
            if (fine[b][std::size_t(key)]) present[b].push_back({key, fine[b][std::size_t(key)]});
    token_config best;
    double best_bits = -1;
    std::vector<symbol_counts> trial;
    for (int i = 0; i < count; ++i) {
        const token_config c = candidates[i];
        double total = 0;
        int tables = 0, max_symbol = 0;
        trial.resize(present.size());
        for (std::size_t b = 0; b < present.size(); ++b) {
            const auto& keys = present[b];
            symbol_counts& h = trial[b];
            h.fill(0);
            const bool used = !keys.empty();
            for (const auto& [key, times] : keys) {
                int symbol, nbits;
                if (key < 256) {
                    const token t = tokenize(std::uint64_t(key), c);
                    symbol = t.symbol, nbits = t.nbits;
                } else {
                    const int n = 8 + (key - 256) / 16, top = (key - 256) % 16;
                    symbol = (1 << c.k) + ((n - c.k) << c.m) + (top >> (4 - c.m)), nbits = n - c.m;
                }
                h[std::size_t(symbol)] += times;
                total += double(times) * nbits;
                max_symbol = std::max(max_symbol, symbol);
            }
            if (used) total += entropy_bits(h.data()), ++tables;
        }
        total += std::min(tables, max_ctx) * (16 + 10.0 * (max_symbol + 1));
        if (best_bits < 0 || total < best_bits) best_bits = total, best = c, std::swap(hist, trial);
    }
    return best;
}

}  // namespace

template <class U>
token_config ans_encode(const U* z, const lane_layout& layout, int max_ctx, const token_config* forced, byte_writer& out,
                        rans_width states, bool* wide_used) {
    const std::uint64_t n = layout.count();
    std::vector<std::uint8_t> buckets(static_cast<std::size_t>(n)), symbols(static_cast<std::size_t>(n));
    int used_buckets = 1;
    bit_writer extra;
    token_config split = forced ? *forced : token_config{};
    const bool may_choose = !forced && sizeof(U) < 8;  // 64-bit lanes fill the alphabet with version 1's split
    std::vector<symbol_counts> hist;  // per bucket
    {
        // The split's histograms grow with the buckets seen: a small chunk does not clear 590 KB.
        std::vector<std::array<std::uint64_t, fine_keys>> fine(may_choose ? 1 : 0);
        std::vector<std::uint16_t> keys(static_cast<std::size_t>(layout.cols));
        bucket_rows(z, layout, [&](std::uint64_t r) { return &buckets[std::size_t(r * layout.cols)]; },
                    [&, W = layout.cols](const U* row, const std::uint8_t* b) {  // (a count may alias layout)
                        std::uint8_t top = 0;  // a local maximum, which vectorizes
                        for (std::uint64_t x = 0; x < W; ++x) top = std::max(top, b[x]);
                        used_buckets = std::max(used_buckets, top + 1);
                        if (!may_choose) return;
                        fine.resize(std::size_t(used_buckets));
                        // fine_key is the token under split (8, 4)
                        std::uint64_t x = lane_tokens(row, W, token_config{8, 4}, keys.data(), nullptr);
                        for (; x < W; ++x) keys[std::size_t(x)] = std::uint16_t(fine_key(row[x]));
                        for (x = 0; x < W; ++x) fine[b[x]][keys[std::size_t(x)]]++;
                    });
        if (may_choose) split = choose_split(fine, int(sizeof(U) * 8), std::min(max_ctx, max_contexts), hist);
    }
    if (!may_choose) {
        hist.resize(static_cast<std::size_t>(used_buckets));
        for (auto& h : hist) h.fill(0);
        for (std::uint64_t i = 0; i < n; ++i) hist[buckets[std::size_t(i)]][tokenize(z[i], split).symbol]++;
    }
    if constexpr (sizeof(U) <= 4) {
        std::vector<std::uint8_t> nbits(static_cast<std::size_t>(n));
        extra.reserve(tokens_of(z, n, split, symbols.data(), nbits.data()));
        put_raw_bits(extra, z, nbits.data(), n);
    } else {
        for (std::uint64_t i = 0; i < n; ++i) {
            const token t = tokenize(z[i], split);
            symbols[std::size_t(i)] = t.symbol;
            extra.put(t.extra, t.nbits);
        }
    }
    std::vector<symbol_counts> ctx_counts;
    const std::vector<std::uint8_t> ctx_map = cluster(hist, std::min(max_ctx, max_contexts), ctx_counts);

    static_assert(wide_rans_extra_bytes == 4 * (wide_rans_states - rans_states), "a u32 per extra state");
    bool wide = states == rans_width::wide;
    if (states == rans_width::wide_if_worth && n >= wide_rans_min_lanes) {
        double bits = 8.0 * double(extra.size());
        for (const auto& c : ctx_counts) bits += entropy_bits(c.data());
        wide = bits >= 8.0 * 100 * wide_rans_extra_bytes;
    }
    if (wide_used) *wide_used = wide;

    out.u8(std::uint8_t(used_buckets));
    out.append(ctx_map.data(), ctx_map.size());
    for (auto& b : buckets) b = ctx_map[b];  // each lane's context
    write_rans(ctx_counts, buckets.data(), symbols.data(), n, out, wide ? wide_rans_states : rans_states);
    extra.append_to(out.bytes);
    return split;
}

namespace {

// How a symbol becomes a residual under a token split (methods 2 and 4).
struct token_tables {
    std::uint64_t base[alphabet];  // symbol -> residual without its extra bits
    std::uint8_t nbits[alphabet];  // symbol -> extra bits

    token_config split;

    token_tables(token_config split, int tokens) : split(split) {
        for (int s = 0; s < alphabet; ++s) {  // symbols from `tokens` on never occur: the tables say so
            int n = 0;
            base[s] = s < tokens ? token_base(s, split, &n) : 0;
            nbits[s] = std::uint8_t(n);
        }
    }
    template <class U>
    U residual(unsigned s, bit_reader& extra) const {  // get(0) is 0: no branch on the symbol
        return sizeof(U) < 8 ? U(base[s] | extra.get(nbits[s])) : U(base[s] | extra.get_wide(nbits[s]));
    }
};

// What decoding looks up per lane.
struct decode_tables : token_tables {
    using token_tables::token_tables;
    std::uint8_t ctx_of_small[small_activity];  // activity -> context, for nearly all
    std::uint8_t ctx_of_bucket[max_buckets];    // for row_lookup's vectors, with top_bucket
    int top_bucket = 0;
    context_ranks ranks;                        // the same as ranges of activity
    const std::uint8_t* map = nullptr;          // bucket -> context
    int buckets = 1;
    bool symbols_are_residuals = false;         // no symbol has extra bits: each is its residual
    bool avx2 = false;                          // ans_avx2.hpp: contexts and raw bits eight lanes at a time

    std::uint8_t context(std::uint64_t q) const {
        return q < small_activity ? ctx_of_small[q] : map[std::min(bucket_of(q), buckets - 1)];
    }
    // The residuals of n symbols, with their extra bits.
    template <class U>
    void residuals(const std::uint8_t* symbols, std::uint64_t n, bit_reader& extra, U* z) const {
        if (symbols_are_residuals) {
            for (std::uint64_t i = 0; i < n; ++i) z[i] = U(symbols[i]);
            return;
        }
        std::uint64_t i = 0;
        if constexpr (sizeof(U) <= 2)
            if (avx2) i = token_residuals8<U>(symbols, n, split, extra, z);
        for (; i < n; ++i) z[i] = residual<U>(symbols[i], extra);
    }
};

// Very wide rows, a segment at a time. The residuals of the rows above, which contexts need, are
// recomputed from the lanes already decoded instead of being kept: slower, but bounded.
template <class U, class R>
__attribute__((noinline)) void ans_decode_segments(R& rans, bit_reader& extra, U* x, const lane_layout& layout, predictor p,
                         const decode_tables& t) {
    const std::uint64_t W = layout.cols;
    std::vector<U> z(segment_cols), z_up(segment_cols + 4), z_upup(segment_cols);
    std::vector<std::uint8_t> ctx(segment_cols), symbols(segment_cols);
    with_predictor<U>(p, [&](auto P) {
        constexpr predictor PP = decltype(P)::value;
        for (std::uint64_t plane = 0; plane < layout.planes; ++plane) {
            U* lanes = x + plane * layout.rows * W;
            for (std::uint64_t y = 0; y < layout.rows; ++y) {
                U* row = lanes + y * W;
                for (std::uint64_t s0 = 0; s0 < W; s0 += segment_cols) {
                    const std::uint64_t s1 = std::min(W, s0 + segment_cols), n = s1 - s0;
                    if (y == 0) {
                        std::fill(ctx.begin(), ctx.begin() + std::ptrdiff_t(n), t.context(0));
                    } else {
                        const std::uint64_t lo = s0 >= 2 ? s0 - 2 : 0, hi = std::min(W, s1 + 2);
                        residual_span<PP, U>(lanes, W, y - 1, lo, hi, z_up.data());
                        if (y > 1) residual_span<PP, U>(lanes, W, y - 2, s0, s1, z_upup.data());
                        auto up = [&](std::uint64_t i, int dx) -> std::uint64_t {  // 0 outside the row
                            const std::int64_t j = std::int64_t(i) + dx;
                            return j >= 0 && j < std::int64_t(W) ? clamped(z_up[std::size_t(j) - lo]) : 0;
                        };
                        for (std::uint64_t i = s0; i < s1; ++i) {
                            const std::uint64_t uu = y > 1 ? clamped(z_upup[i - s0]) : 0;
                            ctx[i - s0] = t.context(2 * up(i, 0) + up(i, -1) + up(i, 1) +
                                                     ((up(i, -2) + up(i, 2) + uu) >> 1));
                        }
                    }
                    rans.row(ctx.data(), symbols.data(), n);
                    t.residuals<U>(symbols.data(), n, extra, z.data());
                    if (PP == predictor::none)  // nothing to predict from: the fast whole-row inverse
                        undo_row<PP, U>(row + s0, z.data(), nullptr, n);
                    else
                        undo_span<PP, U>(row, z.data(), y > 0 ? row - W : nullptr, W, s0, s1);
                }
            }
        }
    });
}

}  // namespace

template <class U>
void ans_decode(byte_reader& in, U* x, const lane_layout& layout, predictor p, token_config split, bool wide,
                const linear_params* linear) {
    const int tokens = split.tokens(int(sizeof(U) * 8));
    const int buckets = in.u8("context buckets");
    if (buckets < 1 || buckets > max_buckets) fail(errc::corrupt, "bucket count out of range");
    const std::uint8_t* map = in.take(std::size_t(buckets), "context map");
    const int contexts = in.u8("context count");
    if (contexts < 1 || contexts > max_contexts) fail(errc::corrupt, "context count out of range");
    for (int b = 0; b < buckets; ++b)
        if (map[b] >= contexts) fail(errc::corrupt, "context map names a missing context");

    int top_symbol = 0;  // the largest symbol any context can give
    std::vector<std::uint32_t> table;
    byte_reader ans_in = read_tables_and_rans(in, contexts, tokens, table, &top_symbol);
    const std::size_t extra_size = in.remaining();
    bit_reader extra(in.take(extra_size, "extra bits"), extra_size);

    decode_tables tables(split, tokens);
    tables.map = map;
    tables.buckets = buckets;
    for (std::uint32_t q = 0; q < small_activity; ++q) tables.ctx_of_small[q] = map[std::min(bucket_of(q), buckets - 1)];
    // Lanes of up to 16 bits have activities below 2^20, so buckets below 38: 64 cover every one.
    tables.top_bucket = std::min(buckets, max_buckets) - 1;
    for (int b = 0; b < max_buckets; ++b) tables.ctx_of_bucket[b] = map[std::min(b, tables.top_bucket)];
    tables.ranks = make_context_ranks(tables.ctx_of_bucket, tables.top_bucket);
    tables.symbols_are_residuals = top_symbol < (1 << split.k);
    tables.avx2 = sizeof(U) <= 2 && ans_avx2_usable();
    // Method 2's four states, or method 5's 32 (FORMAT.md 8): the same rows around either.
    auto decode_with = [&](auto& rans) {
        const std::uint64_t W = layout.cols;
        if (W > max_whole_row_cols) {
            if (p == predictor::linear) fail(errc::corrupt, "the linear predictor is for rows of at most 65536 lanes");
            ans_decode_segments<U>(rans, extra, x, layout, p, tables);
        } else {  // row by row: contexts from the residuals of the rows above, kept, then symbols, lanes
            std::vector<U> residuals(static_cast<std::size_t>(3 * W));  // the last three rows
            std::vector<std::uint8_t> ctx(static_cast<std::size_t>(W)), symbols(static_cast<std::size_t>(W));
            // Serial predictors undo several rows at once where the CPU allows (wavefront.hpp)
            using strip_type = wavefront_strip<std::conditional_t<sizeof(U) <= 2, U, std::uint16_t>>;
            std::unique_ptr<strip_type> strip;
            if (sizeof(U) <= 2 && strip_type::usable(p, W)) strip = std::make_unique<strip_type>(p, W, linear);
            // Every row: its contexts, symbols and residuals; then `undo` turns them into lanes.
            auto rows = [&](auto&& undo) {
                for (std::uint64_t plane = 0; plane < layout.planes; ++plane)
                    for (std::uint64_t y = 0; y < layout.rows; ++y) {
                        U* z = residuals.data() + (y % 3) * W;
                        const U* z_up = y > 0 ? residuals.data() + ((y + 2) % 3) * W : nullptr;
                        const U* z_upup = y > 1 ? residuals.data() + ((y + 1) % 3) * W : nullptr;
                        std::uint8_t* const c = ctx.data();  // stores through it cannot move it
                        row_lookup<U>(z_up, z_upup, W, tables.avx2, tables.ctx_of_bucket, tables.top_bucket,
                                      [&tables](std::uint64_t q) { return tables.context(q); }, c, &tables.ranks);
                        rans.row(ctx.data(), symbols.data(), W);
                        tables.residuals<U>(symbols.data(), W, extra, z);
                        U* row = x + (plane * layout.rows + y) * W;
                        if constexpr (sizeof(U) <= 2)
                            if (strip && y > 0) {
                                strip->add(z);
                                if (strip->full() || y + 1 == layout.rows) {
                                    const std::uint64_t first = y + 1 - std::uint64_t(strip->size());
                                    U* out = row - (y - first) * W;
                                    strip->flush(out - (first > 1 ? 2 : 1) * W, out - W, out);
                                }
                                continue;
                            }
                        undo(row, z, y);
                    }
            };
            if (p == predictor::linear) {
                if (linear == nullptr) fail(errc::invalid_argument, "the linear predictor's parameters are missing");
                if constexpr (sizeof(U) > 2) fail(errc::corrupt, "the linear predictor is for 8- and 16-bit lanes");
                else
                    rows([&](U* row, const U* z, std::uint64_t y) {
                        undo_linear_row<U>(row, z, y > 0 ? row - W : nullptr, y > 1 ? row - 2 * W : row - W, W, *linear);
                    });
            } else {
                with_predictor<U>(p, [&](auto P) {
                    rows([&](U* row, const U* z, std::uint64_t y) {
                        undo_row<decltype(P)::value, U>(row, z, y > 0 ? row - W : nullptr, W);
                    });
                });
            }
        }
        if (!rans.finished_cleanly() || extra.overrun() || (extra.bits_used() + 7) / 8 != extra_size)
            fail(errc::corrupt, "entropy-coded data is inconsistent");

    };
    if (wide) {
        wide_rans_decoder rans(table.data(), ans_in);
        decode_with(rans);
    } else {
        rans_decoder rans(table.data(), ans_in);
        decode_with(rans);
    }
}

namespace {

constexpr int left_activity_buckets = 32;  // per family
constexpr int left_buckets = 3 * left_activity_buckets;

// The bucket of a lane from the residual activity above it, the residual to its left and the
// values around it (`neighbours`, and ww = two to the left, w in columns 0 and 1). The values' texture
// (differences between neighbours) joins the activity; their equality picks one of three
// families: 2 for a flat area (w = n = nw = ne), 1 when only w = n, else 0.
// Interior: a lane of a row below the first, from its third lane to the one before last, whose
// neighbours need no border rule (the serial loops of method 4 take those lanes apart).
template <class U, bool Interior>
inline int left_bucket(const U* row, const U* up, std::uint64_t i, std::uint64_t W, std::uint64_t activity,
                       std::uint64_t z_left) {
    U w, n, nw, ne, ww;
    if constexpr (Interior) {
        w = row[i - 1], n = up[i], nw = up[i - 1], ne = up[i + 1], ww = row[i - 2];
    } else {
        const neighbours<U> v(row, up, i, W);
        w = v.w, n = v.n, nw = v.nw, ne = v.ne, ww = i > 1 ? row[i - 2] : w;
    }
    auto diff = [](U a, U b) { return clamped(U(a > b ? a - b : b - a)); };
    const std::uint64_t texture = diff(w, nw) + diff(n, nw) + diff(ne, n) + diff(w, ww);
    const int family = w != n ? 0 : nw == n && ne == n ? 2 : 1;
    return family * left_activity_buckets +
           std::min(bucket_of(activity + 2 * z_left + texture), left_activity_buckets - 1);
}

// f(i, std::bool_constant<interior>) for i = 0 .. W - 1, in order.
template <class F>
inline void left_lanes(bool has_up, std::uint64_t W, F&& f) {
    const std::uint64_t begin = has_up ? std::min<std::uint64_t>(2, W) : W, end = has_up && W > 2 ? W - 1 : begin;
    for (std::uint64_t i = 0; i < begin; ++i) f(i, std::false_type{});
    for (std::uint64_t i = begin; i < end; ++i) f(i, std::true_type{});
    for (std::uint64_t i = end; i < W; ++i) f(i, std::false_type{});
}

// The prediction of lane i of a row from the lanes already known (FORMAT.md 3, border rules included).
template <predictor P, class U>
inline U predict_at(const U* row, const U* up, std::uint64_t i, std::uint64_t W) {
    if (P == predictor::none || (up == nullptr && i == 0)) return 0;
    if (up == nullptr) return row[i - 1];
    if (i == 0) return up[0];
    return predict_interior<P, U>(row[i - 1], up[i], up[i - 1], i + 1 < W ? up[i + 1] : up[i]);
}

}  // namespace

namespace {

// Calls f(lane index, left-context bucket) for every lane, in lane order. Lanes of up to 16 bits
// find a row's interior buckets eight at a time where AVX2 runs (in encoding, every lane is known).
template <class U, class F>
void for_each_left_context(const U* x, const U* z, const lane_layout& layout, F&& f) {
    const std::uint64_t W = layout.cols;
    using activity_t = typename std::conditional<sizeof(U) <= 2, std::uint32_t, std::uint64_t>::type;
    std::vector<activity_t> activity(static_cast<std::size_t>(W));
    std::vector<std::uint8_t> buckets(static_cast<std::size_t>(W));
    const bool avx2 = sizeof(U) <= 2 && ans_avx2_usable();
    for (std::uint64_t r = 0; r < layout.planes * layout.rows; ++r) {
        const std::uint64_t y = r % layout.rows, at = r * W;
        const U* zr = z + at;
        const U* up = y > 0 ? x + at - W : nullptr;
        row_activities<U>(y > 0 ? zr - W : nullptr, y > 1 ? zr - 2 * W : nullptr, W,
                          [&](std::uint64_t i, std::uint64_t q) { activity[std::size_t(i)] = activity_t(q); });
        std::uint64_t vectored = 0;  // interior lanes [2, vectored) have their buckets
        if constexpr (sizeof(U) <= 2)
            if (avx2 && up && W > 3)
                vectored = row_left_buckets8<U>(x + at, up, zr, activity.data(), 2, W - 1, buckets.data());
        left_lanes(up != nullptr, W, [&](std::uint64_t i, auto interior) {
            const int b = decltype(interior)::value && i < vectored
                              ? buckets[std::size_t(i)]
                              : left_bucket<U, decltype(interior)::value>(x + at, up, i, W, activity[std::size_t(i)],
                                                                          i > 0 ? clamped(zr[i - 1]) : 0);
            f(at + i, b);
        });
    }
}

}  // namespace

template <class U>
double ans_left_gain(const U* x, const U* z, const lane_layout& layout, double above_bits) {
    std::vector<symbol_counts> left(left_buckets);
    for (auto& h : left) h.fill(0);
    const std::uint64_t n = layout.count();
    std::vector<std::uint8_t> symbols(static_cast<std::size_t>(n)), nbits(static_cast<std::size_t>(n));
    std::uint64_t extra_bits = 0;  // an integer sum, as in ans_estimate_bits
    if constexpr (sizeof(U) <= 4)
        extra_bits = tokens_of(z, n, token_config{}, symbols.data(), nbits.data());
    else
        for (std::uint64_t i = 0; i < n; ++i) {
            const token t = tokenize(z[i], token_config{});
            symbols[std::size_t(i)] = t.symbol, extra_bits += t.nbits;
        }
    for_each_left_context(x, z, layout, [&](std::uint64_t i, int b) { left[std::size_t(b)][symbols[std::size_t(i)]]++; });
    double left_bits = double(extra_bits);
    for (const auto& h : left) left_bits += entropy_bits(h.data());
    return above_bits > 0 ? 1 - left_bits / above_bits : 0;
}

template <class U>
void ans_left_encode(const U* x, const U* z, const lane_layout& layout, token_config split, byte_writer& out,
                     const std::uint8_t* at_bound) {
    const std::uint64_t n = layout.count();
    std::vector<std::uint8_t> bucket(static_cast<std::size_t>(n)), symbols(static_cast<std::size_t>(n));
    std::vector<symbol_counts> hist(at_bound ? 2 * left_buckets : left_buckets);
    for (auto& h : hist) h.fill(0);
    bit_writer extra;
    if constexpr (sizeof(U) <= 4) {
        std::vector<std::uint8_t> nbits(static_cast<std::size_t>(n));
        extra.reserve(tokens_of(z, n, split, symbols.data(), nbits.data()));
        put_raw_bits(extra, z, nbits.data(), n);
    } else {
        for (std::uint64_t i = 0; i < n; ++i) {
            const token t = tokenize(z[i], split);
            symbols[std::size_t(i)] = t.symbol;
            extra.put(t.extra, t.nbits);
        }
    }
    for_each_left_context(x, z, layout, [&](std::uint64_t i, int b) {
        if (at_bound && at_bound[i]) b += left_buckets;
        bucket[std::size_t(i)] = std::uint8_t(b);
        hist[std::size_t(b)][symbols[std::size_t(i)]]++;
    });
    write_clustered_rans(hist, split.tokens(int(sizeof(U) * 8)), bucket.data(), symbols.data(), n, out);
    extra.append_to(out.bytes);
}

template <class U>
void fold_residuals(const U* x, U* z, std::uint64_t n, lane_range<U> range, std::uint8_t* at_bound) {
    for (std::uint64_t i = 0; i < n; ++i) {
        const U prediction = U(x[i] - unzigzag<U>(z[i]));
        z[i] = fold_residual<U>(x[i], prediction, range.lo, range.hi);
        at_bound[i] = at_range_bound<U>(prediction, range.lo, range.hi);
    }
}

template <class U>
void ans_left_decode(byte_reader& in, U* x, const lane_layout& layout, predictor p, token_config split,
                     const linear_params* linear, const lane_range<U>* range) {
    const std::uint64_t W = layout.cols;
    if (W > max_left_context_cols) fail(errc::corrupt, "rows too wide for left contexts");
    if (p == predictor::linear && linear == nullptr) fail(errc::invalid_argument, "the linear predictor's parameters are missing");
    const int tokens = split.tokens(int(sizeof(U) * 8));
    int contexts = 0, top_symbol = 0;
    const std::vector<std::uint8_t> map = read_context_runs(in, range ? 2 * left_buckets : left_buckets, &contexts);
    std::vector<std::uint32_t> table;
    byte_reader ans_in = read_tables_and_rans(in, contexts, tokens, table, &top_symbol);
    rans_decoder rans(table.data(), ans_in);
    const std::size_t extra_size = in.remaining();
    bit_reader extra(in.take(extra_size, "extra bits"), extra_size);
    const token_tables tokens_of(split, tokens);
    std::vector<U> residuals(static_cast<std::size_t>(3 * W));  // the last three rows
    std::vector<std::uint64_t> activity(static_cast<std::size_t>(W));
    // predict(row, up, uu, i, interior): lane i's prediction (up null on a plane's first row, uu the
    // row two above or up on its second).
    const U lo = range ? range->lo : U(0), hi = range ? range->hi : U(0);
    auto rows = [&](auto&& predict) {
        // InRange: method 7 (compiled apart, so that method 4's serial loop does not test for it).
        auto row_with = [&](auto checked, auto in_range, U* row, const U* up, const U* uu, U* z) {
            constexpr bool Checked = decltype(checked)::value, InRange = decltype(in_range)::value;
            std::uint64_t z_left = 0;
            left_lanes(up != nullptr, W, [&](std::uint64_t i, auto interior) {
                constexpr bool Interior = decltype(interior)::value;
                const U prediction = predict(row, up, uu, i, interior);
                int b = left_bucket<U, Interior>(row, up, i, W, activity[i], z_left);
                if constexpr (InRange)
                    if (at_range_bound<U>(prediction, lo, hi)) b += left_buckets;
                const unsigned s = rans.template next<Checked>(map[std::size_t(b)]);
                const U zi = tokens_of.residual<U>(s, extra);
                z[i] = zi;
                z_left = clamped(zi);
                if constexpr (InRange)
                    row[i] = unfold_residual<U>(zi, prediction, lo, hi);
                else
                    row[i] = U(prediction + unzigzag<U>(zi));
            });
        };
        for (std::uint64_t r = 0; r < layout.planes * layout.rows; ++r) {
            const std::uint64_t y = r % layout.rows;
            U* z = residuals.data() + (y % 3) * W;
            const U* z_up = y > 0 ? residuals.data() + ((y + 2) % 3) * W : nullptr;
            const U* z_upup = y > 1 ? residuals.data() + ((y + 1) % 3) * W : nullptr;
            row_activities<U>(z_up, z_upup, W, [&](std::uint64_t i, std::uint64_t q) { activity[i] = q; });
            U* row = x + r * W;
            const U* up = y > 0 ? row - W : nullptr;
            const U* uu = y > 1 ? row - 2 * W : up;
            auto with = [&](auto checked) {
                if (range)
                    row_with(checked, std::true_type{}, row, up, uu, z);
                else
                    row_with(checked, std::false_type{}, row, up, uu, z);
            };
            if (rans.has_room(W))
                with(std::false_type{});
            else
                with(std::true_type{});
        }
    };
    if (p == predictor::linear) {
        if constexpr (sizeof(U) > 2) {
            fail(errc::corrupt, "the linear predictor is for 8- and 16-bit lanes");
        } else {
            const linear_weights w(*linear);
            const bool clamped = linear->clamped(), two_sets = linear->two_sets();
            rows([&](const U* row, const U* up, const U* uu, std::uint64_t i, auto interior) -> U {
                if (decltype(interior)::value) {
                    if (two_sets)
                        return clamped ? linear_predict_interior<U, true, true>(w, row, up, uu, i)
                                       : linear_predict_interior<U, false, true>(w, row, up, uu, i);
                    return clamped ? linear_predict_interior<U, true, false>(w, row, up, uu, i)
                                   : linear_predict_interior<U, false, false>(w, row, up, uu, i);
                }
                if (up == nullptr) return i ? row[i - 1] : U(0);
                return i ? linear_predict_at<U>(*linear, row, up, uu, W, i) : up[0];
            });
        }
    } else {
        with_predictor<U>(p, [&](auto P) {
            constexpr predictor PP = decltype(P)::value;
            rows([&](const U* row, const U* up, const U*, std::uint64_t i, auto interior) -> U {
                return decltype(interior)::value ? predict_interior<PP, U>(row[i - 1], up[i], up[i - 1], up[i + 1])
                                                 : predict_at<PP, U>(row, up, i, W);
            });
        });
    }
    if (!rans.finished_cleanly() || extra.overrun() || (extra.bits_used() + 7) / 8 != extra_size)
        fail(errc::corrupt, "entropy-coded data is inconsistent");
}

#define B2B_INSTANTIATE(U)                                                             \
    template token_config ans_encode<U>(const U*, const lane_layout&, int, const token_config*, byte_writer&, rans_width, bool*); \
    template void ans_decode<U>(byte_reader&, U*, const lane_layout&, predictor, token_config, bool, const linear_params*); \
    template double ans_estimate_bits<U>(const U*, const lane_layout&); \
    template void ans_left_encode<U>(const U*, const U*, const lane_layout&, token_config, byte_writer&, const std::uint8_t*); \
    template double ans_left_gain<U>(const U*, const U*, const lane_layout&, double); \
    template void ans_left_decode<U>(byte_reader&, U*, const lane_layout&, predictor, token_config, const linear_params*, const lane_range<U>*); \
    template void fold_residuals<U>(const U*, U*, std::uint64_t, lane_range<U>, std::uint8_t*);
B2B_INSTANTIATE(std::uint8_t)
B2B_INSTANTIATE(std::uint16_t)
B2B_INSTANTIATE(std::uint32_t)
B2B_INSTANTIATE(std::uint64_t)
#undef B2B_INSTANTIATE

}  // namespace detail
}  // namespace byte2bit
