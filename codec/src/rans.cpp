// The rANS coder that methods 2 to 5 share: frequency tables, contexts, states and words.
#include "rans.hpp"

#include "ans_avx2.hpp"

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace byte2bit {
namespace detail {
namespace {

constexpr std::size_t max_clustered = 192;  // buckets clustered pair by pair; rarer ones join the nearest

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


// Entropy plus a table, over the p symbols that can occur.
double cost_bits(const symbol_counts& c, int p) { return entropy_bits(c.data(), p) + table_cost_bits(c.data(), p); }

}  // namespace

// Pairs of any two groups, not only neighbours: the buckets of methods 3 and 4 have no order in
// which similar statistics sit side by side. p: the number of symbols.
std::vector<std::uint8_t> cluster_buckets(const std::vector<symbol_counts>& hist, int p, std::vector<symbol_counts>& merged) {
    auto total_of = [&](int b) {
        std::uint64_t t = 0;
        for (int s = 0; s < p; ++s) t += hist[std::size_t(b)][std::size_t(s)];
        return t;
    };
    std::vector<int> used;
    for (int b = 0; b < int(hist.size()); ++b) {
        if (total_of(b)) used.push_back(b);
    }
    std::stable_sort(used.begin(), used.end(), [&](int a, int b) { return total_of(a) > total_of(b); });
    const std::size_t n = std::min(used.size(), max_clustered);
    std::vector<symbol_counts> groups;
    std::vector<double> cost;
    std::vector<std::vector<int>> members;
    for (std::size_t g = 0; g < n; ++g) {
        groups.push_back(hist[std::size_t(used[g])]);
        cost.push_back(cost_bits(groups.back(), p));
        members.push_back({used[g]});
    }
    auto merge_delta = [&](std::size_t a, std::size_t b) {
        symbol_counts c;  // cost_bits reads the first p only: clearing all 256 took 5% of SCL's encoding
        for (int s = 0; s < p; ++s) c[std::size_t(s)] = groups[a][std::size_t(s)] + groups[b][std::size_t(s)];
        return cost_bits(c, p) - cost[a] - cost[b];
    };
    std::vector<std::vector<double>> delta(n, std::vector<double>(n, 0));
    for (std::size_t a = 0; a < n; ++a)
        for (std::size_t b = a + 1; b < n; ++b) delta[a][b] = merge_delta(a, b);
    std::vector<bool> alive(n, true);
    // Each row's smallest delta and its first column (none: n), so that a merge is found without
    // scanning every pair: the first smallest row, then its column, is the first smallest pair in
    // row order, as a scan of all pairs finds it.
    std::vector<std::size_t> row_best(n, n);
    auto find_row_best = [&](std::size_t a) {
        row_best[a] = n;
        for (std::size_t b = a + 1; b < n; ++b)
            if (alive[b] && (row_best[a] == n || delta[a][b] < delta[a][row_best[a]])) row_best[a] = b;
    };
    for (std::size_t a = 0; a < n; ++a) find_row_best(a);
    std::size_t live = n;
    while (live > 1) {
        std::size_t ba = n;
        for (std::size_t a = 0; a < n; ++a)
            if (alive[a] && row_best[a] < n && (ba == n || delta[a][row_best[a]] < delta[ba][row_best[ba]])) ba = a;
        const std::size_t bb = row_best[ba];
        const double best = delta[ba][bb];
        if (best > 0 && live <= std::size_t(max_contexts)) break;
        for (int s = 0; s < p; ++s) groups[ba][std::size_t(s)] += groups[bb][std::size_t(s)];
        cost[ba] = cost_bits(groups[ba], p);
        members[ba].insert(members[ba].end(), members[bb].begin(), members[bb].end());
        alive[bb] = false;
        --live;
        for (std::size_t o = 0; o < n; ++o)
            if (alive[o] && o != ba) (o < ba ? delta[o][ba] : delta[ba][o]) = merge_delta(std::min(o, ba), std::max(o, ba));
        // Rows whose best was ba's or bb's column look again; rows above ba may now prefer ba.
        for (std::size_t o = 0; o < n; ++o) {
            if (!alive[o] || o == ba) continue;
            if (row_best[o] == ba || row_best[o] == bb)
                find_row_best(o);
            else if (o < ba && (row_best[o] == n || delta[o][ba] < delta[o][row_best[o]] ||
                                (delta[o][ba] == delta[o][row_best[o]] && ba < row_best[o])))
                row_best[o] = ba;
        }
        find_row_best(ba);
    }
    std::vector<std::size_t> order;
    for (std::size_t g = 0; g < n; ++g)
        if (alive[g]) order.push_back(g);
    std::vector<int> context_of(hist.size(), -1);
    merged.clear();
    for (std::size_t g : order) {
        for (int b : members[g]) context_of[std::size_t(b)] = int(merged.size());
        merged.push_back(groups[g]);
    }
    // Rare buckets join the context whose statistics code them cheapest.
    for (std::size_t k = n; k < used.size(); ++k) {
        const auto& h = hist[std::size_t(used[k])];
        int best_ctx = 0;
        double best_bits = 0;
        for (std::size_t c = 0; c < merged.size(); ++c) {
            std::uint64_t total = 0;
            for (int s = 0; s < p; ++s) total += merged[c][std::size_t(s)];
            double bits = 0;
            for (int s = 0; s < p; ++s)
                if (h[std::size_t(s)])
                    bits += merged[c][std::size_t(s)]
                                ? double(h[std::size_t(s)]) * std::log2(double(total) / double(merged[c][std::size_t(s)]))
                                : double(h[std::size_t(s)]) * 32;  // absent: the table would have to grow
            if (c == 0 || bits < best_bits) best_bits = bits, best_ctx = int(c);
        }
        context_of[std::size_t(used[k])] = best_ctx;
        for (int s = 0; s < p; ++s) merged[std::size_t(best_ctx)][std::size_t(s)] += h[std::size_t(s)];
    }
    // Unused buckets continue the run before them, so that the stored map has few runs.
    std::vector<std::uint8_t> map(hist.size());
    int last = 0;
    for (std::size_t b = 0; b < hist.size(); ++b) {
        if (context_of[b] >= 0) last = context_of[b];
        map[b] = std::uint8_t(last);
    }
    return map;
}

byte_reader read_tables_and_rans(byte_reader& in, int contexts, int tokens, std::vector<std::uint32_t>& table,
                                 int* top_symbol) {
    table = read_frequency_tables(in, contexts, tokens, top_symbol);
    const std::uint64_t ans_size = in.varint("rANS size");
    if (ans_size > in.remaining()) fail(errc::corrupt, "rANS data size is invalid");
    return byte_reader(in.take(std::size_t(ans_size), "rANS data"), std::size_t(ans_size));
}

namespace {

// How the encoder steps a state for one symbol without dividing: x / f is (x * rcp) >> 44, exact
// for the states x < 2^32 and frequencies f <= 2^12 (rcp = ceil(2^44 / f), which is at most 2^32 / f
// too large), and x / f * 2^12 + x % f + start is x + start + (x / f) * (2^12 - f). The division
// took half of writing the words.
struct encode_step {
    std::uint64_t x_max = 0;  // renormalize from here
    std::uint64_t rcp = 0;
    std::uint32_t start = 0, complement = 0, f = 0;

    encode_step() = default;
    encode_step(std::uint32_t f, std::uint32_t start)
        : x_max(std::uint64_t((state_low >> prob_bits) << 16) * f),
          rcp(f ? ((std::uint64_t(1) << 44) + f - 1) / f : 0),
          start(start),
          complement(prob_scale - f),
          f(f) {}
    std::uint32_t operator()(std::uint32_t x) const {
        const auto q = std::uint32_t((static_cast<unsigned __int128>(x) * rcp) >> 44);
        return x + start + q * complement;
    }
};

// Symbol i uses state i mod 32; the words of all states form one stream, in the order the decoder
// reads them (FORMAT.md 8). With AVX2, whole groups of 32 lanes eight states at a time
// (ans_avx2.hpp), after the lanes past the last whole group.
void write_wide_rans(const std::vector<encode_step>& steps, const std::uint8_t* ctx, const std::uint8_t* symbols,
                     std::uint64_t n, byte_writer& out) {
    // At most a word a symbol, and room for a vector's store, left uninitialised: zeroing it took
    // longer than coding a near-constant block.
    std::unique_ptr<std::uint16_t[]> words(new std::uint16_t[std::size_t(n + 8)]);
    std::size_t used = 0;
    std::uint32_t state[wide_rans_states];
    std::fill(std::begin(state), std::end(state), state_low);
    auto step = [&](std::uint64_t i) {  // branch-free renormalization, as in write_rans
        const encode_step& e = steps[std::size_t(ctx[i]) * alphabet + symbols[std::size_t(i)]];
        std::uint32_t& x = state[i % wide_rans_states];
        const bool renorm = x >= e.x_max;
        words[used] = std::uint16_t(x);
        used += renorm;
        x = e(x >> (16 * int(renorm)));
    };
    const std::uint64_t groups = n / wide_rans_states;
    for (std::uint64_t i = n; i > groups * wide_rans_states; --i) step(i - 1);
    std::uint64_t i = groups * wide_rans_states;
    if (groups && ans_avx2_usable()) {
        std::vector<std::uint32_t> packed(steps.size());  // f | start << 13
        for (std::size_t k = 0; k < steps.size(); ++k) packed[k] = steps[k].f | steps[k].start << 13;
        wide_rans_encode_groups(packed.data(), ctx, symbols, groups, state, words.get(), &used);
        i = 0;
    }
    for (; i > 0; --i) step(i - 1);
    out.varint(4 * std::uint64_t(wide_rans_states) + 2 * std::uint64_t(used));
    for (std::uint32_t st : state) out.u32(st);
    std::reverse(words.get(), words.get() + used);
    out.append(reinterpret_cast<const std::uint8_t*>(words.get()), 2 * used);  // little-endian host
}

}  // namespace

void write_rans(const std::vector<symbol_counts>& counts, const std::uint8_t* ctx, const std::uint8_t* symbols,
                std::uint64_t n, byte_writer& out, int states) {
    const int contexts = int(counts.size());
    out.u8(std::uint8_t(contexts));
    std::vector<encode_step> steps(std::size_t(contexts) * alphabet);
    for (int c = 0; c < contexts; ++c) {
        std::uint32_t f[alphabet];
        normalize(counts[std::size_t(c)].data(), f);
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
        for (int s = 0; s < alphabet; ++s) steps[std::size_t(c) * alphabet + s] = encode_step(f[s], cum), cum += f[s];
    }

    if (states == wide_rans_states) {
        write_wide_rans(steps, ctx, symbols, n, out);
        return;
    }
    // rANS runs backwards over the lanes; symbol i uses state i mod 4, each state its own words.
    // Four lanes a step keep the states in registers, and a word is stored whether or not the
    // state renormalizes (its count moves only when it does): the branch mispredicted often.
    std::unique_ptr<std::uint16_t[]> words[rans_states];  // as in write_wide_rans
    std::size_t used[rans_states] = {};
    for (auto& w : words) w.reset(new std::uint16_t[std::size_t(n / rans_states + 1)]);
    std::uint32_t state[rans_states] = {state_low, state_low, state_low, state_low};
    auto step = [&](std::uint64_t i, std::uint32_t& x, int s) {
        const encode_step& e = steps[std::size_t(ctx[i]) * alphabet + symbols[std::size_t(i)]];
        const bool renorm = x >= e.x_max;
        words[s][used[s]] = std::uint16_t(x);
        used[s] += renorm;
        x = e(x >> (16 * int(renorm)));
    };
    std::uint64_t i = n;
    for (; i % rans_states; --i) step(i - 1, state[(i - 1) % rans_states], int((i - 1) % rans_states));
    static_assert(rans_states == 4, "the loop below steps four states");
    std::uint32_t x0 = state[0], x1 = state[1], x2 = state[2], x3 = state[3];
    for (; i > 0; i -= 4) {
        step(i - 1, x3, 3);
        step(i - 2, x2, 2);
        step(i - 3, x1, 1);
        step(i - 4, x0, 0);
    }
    state[0] = x0, state[1] = x1, state[2] = x2, state[3] = x3;
    std::uint64_t total_words = 0;
    for (std::size_t u : used) total_words += u;
    byte_writer ans;
    for (std::uint32_t st : state) ans.u32(st);
    for (int s = 0; s + 1 < rans_states; ++s) ans.varint(used[s]);
    out.varint(ans.bytes.size() + 2 * total_words);
    out.append(ans.bytes.data(), ans.bytes.size());
    for (int s = 0; s < rans_states; ++s) {  // each state's words in the order the decoder reads them
        std::reverse(words[s].get(), words[s].get() + used[s]);
        out.append(reinterpret_cast<const std::uint8_t*>(words[s].get()), 2 * used[s]);  // little-endian host
    }
}

std::vector<std::uint32_t> read_frequency_tables(byte_reader& in, int contexts, int tokens, int* top_symbol) {
    std::vector<std::uint32_t> table(std::size_t(contexts) << prob_bits, 0);
    *top_symbol = 0;
    for (int c = 0; c < contexts; ++c) {
        std::uint32_t f[alphabet] = {};
        const int kind = in.u8("frequency table");
        if (kind == 1) {
            const int only = in.u8("frequency table");
            if (only >= tokens) fail(errc::corrupt, "frequency table has symbols beyond the token range");
            f[only] = prob_scale;
        } else if (kind == 2) {
            const int max_symbol = in.u8("frequency table");
            if (max_symbol >= tokens) fail(errc::corrupt, "frequency table has symbols beyond the token range");
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
        for (int s = 0; s < alphabet; ++s) {
            if (f[s] == 0) continue;
            // Entry k of the symbol's slots: its frequency - 1, k and the symbol, four at a time.
            const std::uint32_t head = (f[s] - 1) << 20 | std::uint32_t(s);
            std::uint32_t* at = t + slot;
            std::uint32_t k = 0;
#if defined(__SSE2__)
            __m128i four = _mm_add_epi32(_mm_set1_epi32(int(head)), _mm_setr_epi32(0, 1 << 8, 2 << 8, 3 << 8));
            for (; k + 4 <= f[s]; k += 4, four = _mm_add_epi32(four, _mm_set1_epi32(4 << 8)))
                _mm_storeu_si128(reinterpret_cast<__m128i*>(at + k), four);
#endif
            for (; k < f[s]; ++k) at[k] = head | k << 8;
            slot += f[s];
            *top_symbol = std::max(*top_symbol, s);
        }
    }
    return table;
}

rans_decoder::rans_decoder(const std::uint32_t* table, byte_reader& in) : table_(table) {
    std::uint64_t words[rans_states];
    for (auto& l : lanes_) l.s = in.u32("rANS states");
    for (int i = 0; i + 1 < rans_states; ++i) words[i] = in.varint("rANS word counts");
    const std::uint8_t* p = in.position();
    std::uint64_t used = 0;
    for (int i = 0; i + 1 < rans_states; ++i) {
        if (words[i] > in.remaining() / 2 - used) fail(errc::corrupt, "rANS word count out of range");
        used += words[i];
    }
    words[rans_states - 1] = in.remaining() / 2 - used;
    if (in.remaining() % 2) fail(errc::corrupt, "rANS data has an odd size");
    for (int i = 0; i < rans_states; ++i) {
        lanes_[i].wp = p;
        lanes_[i].wend = p += 2 * words[i];
    }
    in.take(in.remaining(), "rANS words");
}

wide_rans_decoder::wide_rans_decoder(const std::uint32_t* table, byte_reader& in) : table_(table) {
    for (auto& st : states_) st = in.u32("rANS states");
    if (in.remaining() % 2) fail(errc::corrupt, "rANS data has an odd size");
    wp_ = in.position();
    wend_ = wp_ + in.remaining();
    in.take(in.remaining(), "rANS words");
}

void wide_rans_decoder::row(const std::uint8_t* ctx, std::uint8_t* symbols, std::uint64_t W) {
    std::uint64_t x = 0;
    for (; x < W && phase_ != 0; ++x) symbols[x] = next(ctx[x]);
    if (ans_avx2_usable()) {
        const std::uint64_t done = wide_rans_groups(table_, states_, &wp_, wend_, ctx + x, symbols + x, (W - x) / wide_rans_states);
        x += done * wide_rans_states;
    }
    for (; x < W; ++x) symbols[x] = next(ctx[x]);
}

void write_context_runs(const std::vector<std::uint8_t>& map, byte_writer& out) {
    for (std::size_t b = 0; b < map.size();) {
        std::size_t e = b;
        while (e < map.size() && map[e] == map[b]) ++e;
        out.u8(map[b]);
        out.varint(e - b - 1);
        b = e;
    }
}

std::vector<std::uint8_t> read_context_runs(byte_reader& in, int buckets, int* contexts) {
    std::vector<std::uint8_t> map(static_cast<std::size_t>(buckets));
    *contexts = 0;
    for (int b = 0; b < buckets;) {
        const std::uint8_t c = in.u8("context map");
        const std::uint64_t run = in.varint("context map");
        if (c >= max_contexts || run >= std::uint64_t(buckets - b)) fail(errc::corrupt, "context map is invalid");
        std::fill_n(map.begin() + b, std::size_t(run + 1), c);
        b += int(run + 1);
        *contexts = std::max(*contexts, c + 1);
    }
    if (in.u8("context count") != *contexts) fail(errc::corrupt, "context map and tables disagree");
    return map;
}

}  // namespace detail
}  // namespace byte2bit
