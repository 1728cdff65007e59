// The rANS coder that methods 2 to 5 share (FORMAT.md 5.4, 5.5, 8): static 12-bit frequency tables,
// one per context, and four interleaved states with a stream of 16-bit words each (method 5: 32
// states sharing one stream).
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "io.hpp"

namespace byte2bit {
namespace detail {

constexpr int prob_bits = 12;
constexpr std::uint32_t prob_scale = 1u << prob_bits;
constexpr std::uint32_t state_low = 1u << 16;  // states live in [2^16, 2^32)
constexpr int alphabet = 256;
constexpr int max_contexts = 16;
constexpr int rans_states = 4;
constexpr int wide_rans_states = 32;  // method 5 (FORMAT.md 8): one word stream, decoded by vectors

using symbol_counts = std::array<std::uint64_t, alphabet>;

// log2 of counts (at least 1, below 2^53), within 1e-13 and without a division or a branch: the
// exponent, plus the table's log2 of the nearest of 128 points of the mantissa, plus a short series
// in the small remainder. The encoders' estimates take millions a chunk; std::log2 was 7-10% of
// level 4 encoding.
class count_log2 {
public:
    double operator()(double v) const {
        std::uint64_t bits;
        std::memcpy(&bits, &v, sizeof bits);
        const std::size_t k = std::size_t(bits >> 45) & 127;
        const double e = double(int(bits >> 52) - 1023);
        bits = (bits & ((std::uint64_t(1) << 52) - 1)) | std::uint64_t(1023) << 52;
        double m;
        std::memcpy(&m, &bits, sizeof m);
        const double r = m * inv_[k] - 1;  // |r| <= 1/256
        constexpr double l = 1.4426950408889634;  // 1 / ln 2
        return e + log_[k] + r * (l + r * (-l / 2 + r * (l / 3 - r * l / 4)));
    }
    // The same for an integer count, small ones from a table of the same values.
    double of(std::uint64_t c) const { return c < small ? small_[c] : (*this)(double(c)); }
    static const count_log2& get() {
        static const count_log2 table;
        return table;
    }

private:
    static constexpr std::uint64_t small = 4096;
    count_log2() {
        for (int k = 0; k < 128; ++k) {
            const double point = 1 + (k + 0.5) / 128;
            inv_[k] = 1 / point;
            log_[k] = std::log2(point);
        }
        small_[0] = 0;
        for (std::uint64_t c = 1; c < small; ++c) small_[c] = (*this)(double(c));
    }
    double inv_[128], log_[128];
    double small_[small];
};

// Bits to code the counted symbols (counts[0 .. symbols - 1]) with their own frequencies. Inline:
// the encoders' clustering and split choice call it thousands of times a chunk (out of line,
// level 1 encoded up to 25% slower on low-entropy layers).
inline double entropy_bits(const std::uint64_t* counts, int symbols = alphabet) {
    std::uint64_t total = 0;
    for (int s = 0; s < symbols; ++s) total += counts[s];
    if (!total) return 0;
    const count_log2& log2 = count_log2::get();
    const double log_total = log2.of(total);
    double bits = 0;
    for (int s = 0; s < symbols; ++s)
        if (counts[s]) bits += double(counts[s]) * (log_total - log2.of(counts[s]));
    return bits;
}
// A rough cost of sending a table for the counted symbols.
inline double table_cost_bits(const std::uint64_t* counts, int symbols = alphabet) {
    int max_symbol = -1;
    for (int s = 0; s < symbols; ++s)
        if (counts[s]) max_symbol = s;
    return max_symbol < 0 ? 0 : 16 + 10.0 * (max_symbol + 1);
}

// The neighbours of lane i of a row that contexts of methods 3 and 4 read: w = left, n = up,
// nw = up-left, ne = up-right; `up` is null on a plane's first row. Outside the plane, w is n (0
// on the first row), n is w, and nw and ne are n (FORMAT.md 6). V: the type to hold them in.
template <class T, class V = T>
struct neighbours {
    V w, n, nw, ne;
    neighbours(const T* row, const T* up, std::uint64_t i, std::uint64_t W)
        : w(i > 0 ? row[i - 1] : up ? up[0] : V(0)),
          n(up ? up[i] : w),
          nw(up && i > 0 ? up[i - 1] : n),
          ne(up && i + 1 < W ? up[i + 1] : n) {}
};

// Groups context buckets (one symbol histogram each, symbols below `symbols`) into at most
// max_contexts contexts: greedily merges the pair of groups whose merging costs fewest bits (entropy
// plus a table each), while that saves bits or there are too many. Returns each bucket's context and
// sets the merged histograms.
std::vector<std::uint8_t> cluster_buckets(const std::vector<symbol_counts>& hist, int symbols,
                                          std::vector<symbol_counts>& merged);

// A map from buckets to contexts as runs: context, then run length - 1 (FORMAT.md 6). Reading
// also reads the context count that follows (write_rans writes it) and checks it against the map.
void write_context_runs(const std::vector<std::uint8_t>& map, byte_writer& out);
std::vector<std::uint8_t> read_context_runs(byte_reader& in, int buckets, int* contexts);

// Reads the frequency tables into `table`, then the rANS data, returned as a reader of its own;
// `in` is left at what follows (methods 2 and 4: the extra bits).
byte_reader read_tables_and_rans(byte_reader& in, int contexts, int tokens, std::vector<std::uint32_t>& table,
                                 int* top_symbol);

// Writes the context count, one frequency table per context (from `counts`), then the size and the
// rANS data of symbols[i] under context ctx[i], for n symbols.
// With states = wide_rans_states, the rANS data of method 5 instead.
void write_rans(const std::vector<symbol_counts>& counts, const std::uint8_t* ctx, const std::uint8_t* symbols,
                std::uint64_t n, byte_writer& out, int states = rans_states);

// Reads the frequency tables of `contexts` contexts (symbols below `tokens`) into a decode table:
// for each context and slot, (freq - 1) << 20 | (slot - start) << 8 | symbol. Sets the largest
// symbol any table gives.
std::vector<std::uint32_t> read_frequency_tables(byte_reader& in, int contexts, int tokens, int* top_symbol);

// Methods 3 and 4 after their own fields: clusters the buckets' histograms (symbols below
// `symbols`), then writes the context map as runs, the tables and the rANS data of
// lane_symbols[i] under the context of bucket[i].
template <class B>
void write_clustered_rans(const std::vector<symbol_counts>& hist, int symbols, const B* bucket,
                          const std::uint8_t* lane_symbols, std::uint64_t n, byte_writer& out) {
    std::vector<symbol_counts> counts;
    const std::vector<std::uint8_t> map = cluster_buckets(hist, symbols, counts);
    std::vector<std::uint8_t> ctx(static_cast<std::size_t>(n));
    for (std::uint64_t i = 0; i < n; ++i) ctx[std::size_t(i)] = map[bucket[i]];
    write_context_runs(map, out);
    write_rans(counts, ctx.data(), lane_symbols, n, out);
}

// One rANS state with its own stream of 16-bit words: four of them decode independently, none
// waiting on another's renormalization.
struct rans_lane {
    std::uint32_t s = 0;
    const std::uint8_t* wp = nullptr;
    const std::uint8_t* wend = nullptr;
    bool overrun = false;

    // Checked: reads no word past wend. Unchecked: the caller has made sure enough words remain.
    template <bool Checked>
    __attribute__((always_inline)) std::uint8_t next(const std::uint32_t* table, std::uint32_t ctx) {
        const std::uint32_t e = table[ctx << prob_bits | (s & (prob_scale - 1))];
        s = ((e >> 20) + 1) * (s >> prob_bits) + ((e >> 8) & (prob_scale - 1));
        const bool renorm = s < state_low;
        if (Checked) {
            const bool have = wend - wp >= 2;
            const std::uint32_t word = have ? std::uint32_t(wp[0]) | std::uint32_t(wp[1]) << 8 : 0;
            overrun |= renorm && !have;
            s = renorm ? (s << 16 | word) : s;
            wp += (renorm && have) ? 2 : 0;
        } else {
            // Arithmetic, not a conditional: compilers turn the conditional into a branch, and
            // whether a state renormalizes is as unpredictable as the data.
            std::uint16_t word;  // little-endian, like the format
            std::memcpy(&word, wp, 2);
            const std::uint32_t r = renorm;
            s = (s << (r << 4)) | (word & (0u - r));
            wp += r << 1;
        }
        return std::uint8_t(e);
    }
    std::uint64_t words_left() const { return std::uint64_t(wend - wp) / 2; }
};

// The four states; symbol k (in lane order) uses state k mod 4.
class rans_decoder {
public:
    rans_decoder(const std::uint32_t* table, byte_reader& in);

    // Symbols for one row of contexts known in advance (method 2).
    void row(const std::uint8_t* ctx, std::uint8_t* symbols, std::uint64_t W) {
        // A state renormalizes at most once a symbol: when every state has words for all of its
        // symbols in this row, the row can skip the bounds checks.
        if (has_room(W))
            row_with<false>(ctx, symbols, W);
        else
            row_with<true>(ctx, symbols, W);
    }

    // One symbol, for contexts that depend on the symbols before it (methods 3 and 4). Unchecked
    // only when has_room(n) said so for the n symbols to come.
    template <bool Checked = true>
    std::uint8_t next(std::uint32_t ctx) {
        const std::uint8_t s = lanes_[phase_].next<Checked>(table_, ctx);
        phase_ = (phase_ + 1) % rans_states;
        return s;
    }
    bool has_room(std::uint64_t n) const {
        bool room = true;
        for (const auto& l : lanes_) room &= l.words_left() >= (n + 3) / 4;
        return room;
    }

    bool finished_cleanly() const {
        bool ok = true;
        for (const auto& l : lanes_) ok &= !l.overrun && l.wp == l.wend && l.s == state_low;
        return ok;
    }

private:
    template <bool Checked>
    void row_with(const std::uint8_t* ctx, std::uint8_t* symbols, std::uint64_t W) {
        // Local copies, in the order this row uses them: stores to `symbols` could alias members.
        rans_lane a = lanes_[phase_], b = lanes_[(phase_ + 1) % 4], c = lanes_[(phase_ + 2) % 4],
                  d = lanes_[(phase_ + 3) % 4];
        const std::uint32_t* const table = table_;
        std::uint64_t x = 0;
        for (; x + 4 <= W; x += 4) {
            symbols[x] = a.next<Checked>(table, ctx[x]);
            symbols[x + 1] = b.next<Checked>(table, ctx[x + 1]);
            symbols[x + 2] = c.next<Checked>(table, ctx[x + 2]);
            symbols[x + 3] = d.next<Checked>(table, ctx[x + 3]);
        }
        const std::uint64_t tail = W - x;
        if (tail > 0) symbols[x] = a.next<Checked>(table, ctx[x]);
        if (tail > 1) symbols[x + 1] = b.next<Checked>(table, ctx[x + 1]);
        if (tail > 2) symbols[x + 2] = c.next<Checked>(table, ctx[x + 2]);
        lanes_[phase_] = a, lanes_[(phase_ + 1) % 4] = b, lanes_[(phase_ + 2) % 4] = c, lanes_[(phase_ + 3) % 4] = d;
        phase_ = unsigned((phase_ + W) % 4);
    }

    const std::uint32_t* table_;
    rans_lane lanes_[rans_states];
    unsigned phase_ = 0;  // which state decodes the next symbol
};

// Method 5's 32 states sharing one stream of words: symbol k uses state k mod 32 and, when that
// state renormalizes, reads the stream's next word. Rows go 32 symbols at a time through
// wide_rans_groups (ans_avx2.hpp) where the CPU allows, else one by one; both read the same words.
class wide_rans_decoder {
public:
    wide_rans_decoder(const std::uint32_t* table, byte_reader& in);

    // Symbols for one row of contexts known in advance.
    void row(const std::uint8_t* ctx, std::uint8_t* symbols, std::uint64_t W);

    bool finished_cleanly() const {
        bool ok = !overrun_ && wp_ == wend_;
        for (std::uint32_t st : states_) ok &= st == state_low;
        return ok;
    }

private:
    std::uint8_t next(std::uint32_t ctx) {
        std::uint32_t& s = states_[phase_];
        phase_ = (phase_ + 1) % wide_rans_states;
        const std::uint32_t e = table_[ctx << prob_bits | (s & (prob_scale - 1))];
        s = ((e >> 20) + 1) * (s >> prob_bits) + ((e >> 8) & (prob_scale - 1));
        if (s < state_low) {
            if (wend_ - wp_ < 2) {
                overrun_ = true;
            } else {
                s = s << 16 | std::uint32_t(wp_[0]) | std::uint32_t(wp_[1]) << 8;
                wp_ += 2;
            }
        }
        return std::uint8_t(e);
    }

    const std::uint32_t* table_;
    std::uint32_t states_[wide_rans_states];
    const std::uint8_t* wp_;
    const std::uint8_t* wend_;
    bool overrun_ = false;
    unsigned phase_ = 0;
};

}  // namespace detail
}  // namespace byte2bit
