// Method 3: lanes of a few distinct values (classes, masks, flags) coded as palette indices, each
// in the context of its neighbours' indices (FORMAT.md 6). Categorical layers have edges, not
// gradients: what predicts a class is the classes around it, including the one to its left.
#include <algorithm>
#include <cmath>
#include <string>

#include "entropy.hpp"
#include "rans.hpp"

namespace byte2bit {
namespace detail {
namespace {

constexpr int max_palette = 16;
constexpr std::size_t max_clustered = 192;  // buckets clustered pair by pair; rarer ones join the nearest

int bucket_count(int p) { return 6 * p * p; }

// Context bucket of index (y, i) from the indices around it; `up` is null on a plane's first row.
// Outside the plane, left falls back to up (0 at the corner), and up, up-left and up-right to
// left, up and up.
inline int bucket_at(const std::uint8_t* row, const std::uint8_t* up, std::uint64_t i, std::uint64_t W, int p) {
    const int w = i > 0 ? row[i - 1] : up ? up[0] : 0;
    const int n = up ? up[i] : w;
    const int nw = up && i > 0 ? up[i - 1] : n;
    const int ne = up && i + 1 < W ? up[i + 1] : n;
    const int corner = nw == n ? 0 : nw == w ? 1 : 2;  // which way an edge runs
    return ((w * p + n) * 3 + corner) * 2 + (ne == n);
}

// Entropy plus a table, over the p symbols an index can be (cheaper than the 256 of a token).
double cost_bits(const symbol_counts& c, int p) {
    std::uint64_t total = 0;
    int top = -1;
    for (int s = 0; s < p; ++s) total += c[std::size_t(s)], top = c[std::size_t(s)] ? s : top;
    double bits = 0;
    for (int s = 0; s < p; ++s)
        if (c[std::size_t(s)]) bits += double(c[std::size_t(s)]) * std::log2(double(total) / double(c[std::size_t(s)]));
    return top < 0 ? 0 : bits + 16 + 10.0 * (top + 1);
}

// Groups buckets into at most max_contexts contexts: greedily merges the pair whose merging costs
// fewest bits (entropy plus a table each), while that saves bits or there are too many groups.
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
        symbol_counts c{};
        for (int s = 0; s < p; ++s) c[std::size_t(s)] = groups[a][std::size_t(s)] + groups[b][std::size_t(s)];
        return cost_bits(c, p) - cost[a] - cost[b];
    };
    std::vector<std::vector<double>> delta(n, std::vector<double>(n, 0));
    for (std::size_t a = 0; a < n; ++a)
        for (std::size_t b = a + 1; b < n; ++b) delta[a][b] = merge_delta(a, b);
    std::vector<bool> alive(n, true);
    std::size_t live = n;
    while (live > 1) {
        std::size_t ba = 0, bb = 0;
        double best = 0;
        bool found = false;
        for (std::size_t a = 0; a < n; ++a)
            if (alive[a])
                for (std::size_t b = a + 1; b < n; ++b)
                    if (alive[b] && (!found || delta[a][b] < best)) best = delta[a][b], ba = a, bb = b, found = true;
        if (best > 0 && live <= std::size_t(max_contexts)) break;
        for (int s = 0; s < p; ++s) groups[ba][std::size_t(s)] += groups[bb][std::size_t(s)];
        cost[ba] = cost_bits(groups[ba], p);
        members[ba].insert(members[ba].end(), members[bb].begin(), members[bb].end());
        alive[bb] = false;
        --live;
        for (std::size_t o = 0; o < n; ++o)
            if (alive[o] && o != ba) (o < ba ? delta[o][ba] : delta[ba][o]) = merge_delta(std::min(o, ba), std::max(o, ba));
    }
    // Unused buckets continue the run before them, so that the stored map has few runs.
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
    std::vector<std::uint8_t> map(hist.size());
    int last = 0;
    for (std::size_t b = 0; b < hist.size(); ++b) {
        if (context_of[b] >= 0) last = context_of[b];
        map[b] = std::uint8_t(last);
    }
    return map;
}

}  // namespace

template <class U>
bool palette_encode(const U* x, const lane_layout& layout, byte_writer& out) {
    const std::uint64_t n = layout.count();
    std::vector<U> palette;
    for (std::uint64_t i = 0; i < n; ++i)
        if (std::find(palette.begin(), palette.end(), x[i]) == palette.end()) {
            if (palette.size() == max_palette) return false;
            palette.push_back(x[i]);
        }
    if (palette.empty()) return false;
    std::sort(palette.begin(), palette.end());
    const int p = int(palette.size());
    std::vector<std::uint8_t> index(static_cast<std::size_t>(n)), ctx(static_cast<std::size_t>(n));
    for (std::uint64_t i = 0; i < n; ++i)
        index[std::size_t(i)] = std::uint8_t(std::lower_bound(palette.begin(), palette.end(), x[i]) - palette.begin());
    std::vector<symbol_counts> hist(static_cast<std::size_t>(bucket_count(p)));
    for (auto& h : hist) h.fill(0);
    std::vector<std::uint16_t> buckets(static_cast<std::size_t>(n));
    const std::uint64_t W = layout.cols;
    for (std::uint64_t r = 0; r < layout.planes * layout.rows; ++r) {
        const std::uint8_t* row = &index[std::size_t(r * W)];
        const std::uint8_t* up = r % layout.rows ? row - W : nullptr;
        for (std::uint64_t i = 0; i < W; ++i) {
            const int b = bucket_at(row, up, i, W, p);
            buckets[std::size_t(r * W + i)] = std::uint16_t(b);
            hist[std::size_t(b)][row[i]]++;
        }
    }
    std::vector<symbol_counts> counts;
    const std::vector<std::uint8_t> map = cluster_buckets(hist, p, counts);
    for (std::uint64_t i = 0; i < n; ++i) ctx[std::size_t(i)] = map[buckets[std::size_t(i)]];

    out.u8(std::uint8_t(p));
    for (U v : palette)
        for (std::size_t k = 0; k < sizeof(U); ++k) out.u8(std::uint8_t(std::uint64_t(v) >> (8 * k)));
    for (std::size_t b = 0; b < map.size();) {  // the map as runs: context, then run length - 1
        std::size_t e = b;
        while (e < map.size() && map[e] == map[b]) ++e;
        out.u8(map[b]);
        out.varint(e - b - 1);
        b = e;
    }
    write_rans(counts, ctx.data(), index.data(), n, out);
    return true;
}

template <class U>
void palette_decode(byte_reader& in, U* x, const lane_layout& layout) {
    const int p = in.u8("palette");
    if (p < 1 || p > max_palette) fail(errc::corrupt, "palette size out of range");
    U palette[max_palette];
    for (int k = 0; k < p; ++k) {
        const std::uint8_t* b = in.take(sizeof(U), "palette");
        std::uint64_t v = 0;
        for (int j = int(sizeof(U)) - 1; j >= 0; --j) v = v << 8 | b[j];
        palette[k] = U(v);
        if (k > 0 && palette[k] <= palette[k - 1]) fail(errc::corrupt, "palette values are not increasing");
    }
    const int buckets = bucket_count(p);
    std::vector<std::uint8_t> map(static_cast<std::size_t>(buckets));
    int contexts = 0;
    for (int b = 0; b < buckets;) {
        const std::uint8_t c = in.u8("palette context map");
        const std::uint64_t run = in.varint("palette context map");
        if (c >= max_contexts || run >= std::uint64_t(buckets - b)) fail(errc::corrupt, "palette context map is invalid");
        std::fill_n(map.begin() + b, std::size_t(run + 1), c);
        b += int(run + 1);
        contexts = std::max(contexts, c + 1);
    }
    if (in.u8("context count") != contexts) fail(errc::corrupt, "palette context map and tables disagree");
    int top_symbol = 0;
    const std::vector<std::uint32_t> table = read_frequency_tables(in, contexts, p, &top_symbol);
    const std::uint64_t ans_size = in.varint("rANS size");
    if (ans_size != in.remaining()) fail(errc::corrupt, "palette rANS data size does not match the block");
    rans_decoder rans(table.data(), in);
    const std::uint64_t W = layout.cols;
    std::vector<std::uint8_t> rows(static_cast<std::size_t>(2 * W));  // this row's indices and the row above's
    for (std::uint64_t r = 0; r < layout.planes * layout.rows; ++r) {
        std::uint8_t* row = &rows[std::size_t(r % 2 * W)];
        const std::uint8_t* up = r % layout.rows ? &rows[std::size_t((r + 1) % 2 * W)] : nullptr;
        U* lanes = x + r * W;
        for (std::uint64_t i = 0; i < W; ++i) {
            const std::uint8_t s = rans.next(map[std::size_t(bucket_at(row, up, i, W, p))]);
            row[i] = s;  // s < p: the tables have no larger symbol
            lanes[i] = palette[s];
        }
    }
    if (!rans.finished_cleanly()) fail(errc::corrupt, "entropy-coded data is inconsistent");
}

#define B2B_INSTANTIATE(U)                                                     \
    template bool palette_encode<U>(const U*, const lane_layout&, byte_writer&); \
    template void palette_decode<U>(byte_reader&, U*, const lane_layout&);
B2B_INSTANTIATE(std::uint8_t)
B2B_INSTANTIATE(std::uint16_t)
B2B_INSTANTIATE(std::uint32_t)
B2B_INSTANTIATE(std::uint64_t)
#undef B2B_INSTANTIATE

}  // namespace detail
}  // namespace byte2bit
