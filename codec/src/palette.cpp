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

int bucket_count(int p) { return 6 * p * p; }

// Context bucket of index (y, i) from the indices around it.
inline int bucket_at(const std::uint8_t* row, const std::uint8_t* up, std::uint64_t i, std::uint64_t W, int p) {
    const neighbours<std::uint8_t, int> v(row, up, i, W);  // ints, as the arithmetic below
    const int corner = v.nw == v.n ? 0 : v.nw == v.w ? 1 : 2;  // which way an edge runs
    return ((v.w * p + v.n) * 3 + corner) * 2 + (v.ne == v.n);
}

}  // namespace

template <class U>
bool palette_encode(const U* x, const lane_layout& layout, byte_writer& out) {
    const std::uint64_t n = layout.count();
    std::vector<U> palette;
    std::vector<std::uint8_t> index(static_cast<std::size_t>(n));
    // 8- and 16-bit lanes (16-bit ones in chunks large enough to pay for clearing it) find their
    // palette slot in a table of every value; searching the palette took 10% of SCL's encoding.
    constexpr std::size_t values = sizeof(U) <= 2 ? std::size_t(1) << (8 * sizeof(U)) : 0;
    if (values && n >= values / 16) {
        std::vector<std::uint8_t> slot(values, 0xFF);
        for (std::uint64_t i = 0; i < n; ++i) {
            std::uint8_t& k = slot[std::size_t(x[i])];
            if (k != 0xFF) continue;
            if (palette.size() == max_palette) return false;
            k = std::uint8_t(palette.size());
            palette.push_back(x[i]);
        }
        if (palette.empty()) return false;
        std::sort(palette.begin(), palette.end());
        for (std::size_t k = 0; k < palette.size(); ++k) slot[std::size_t(palette[k])] = std::uint8_t(k);
        for (std::uint64_t i = 0; i < n; ++i) index[std::size_t(i)] = slot[std::size_t(x[i])];
    } else {
        for (std::uint64_t i = 0; i < n; ++i)
            if (std::find(palette.begin(), palette.end(), x[i]) == palette.end()) {
                if (palette.size() == max_palette) return false;
                palette.push_back(x[i]);
            }
        if (palette.empty()) return false;
        std::sort(palette.begin(), palette.end());
        for (std::uint64_t i = 0; i < n; ++i)
            index[std::size_t(i)] = std::uint8_t(std::lower_bound(palette.begin(), palette.end(), x[i]) - palette.begin());
    }
    const int p = int(palette.size());
    std::vector<symbol_counts> hist(static_cast<std::size_t>(bucket_count(p)));
    for (auto& h : hist) h.fill(0);
    std::vector<std::uint16_t> buckets(static_cast<std::size_t>(n));  // up to 6 x 16 x 16
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
    out.u8(std::uint8_t(p));
    for (U v : palette)
        for (std::size_t k = 0; k < sizeof(U); ++k) out.u8(std::uint8_t(std::uint64_t(v) >> (8 * k)));
    write_clustered_rans(hist, p, buckets.data(), index.data(), n, out);
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
    int contexts = 0;
    const std::vector<std::uint8_t> map = read_context_runs(in, bucket_count(p), &contexts);
    int top_symbol = 0;
    std::vector<std::uint32_t> table;
    byte_reader ans_in = read_tables_and_rans(in, contexts, p, table, &top_symbol);
    if (in.remaining()) fail(errc::corrupt, "palette rANS data size does not match the block");
    rans_decoder rans(table.data(), ans_in);
    const std::uint64_t W = layout.cols;
    if (W <= max_whole_row_cols) {
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
    } else {
        // Very wide rows, a segment at a time: the indices of columns lo.. of this row and the row
        // above, those of lanes already decoded found again in the palette.
        auto index_of = [&](U v) { return std::uint8_t(std::lower_bound(palette, palette + p, v) - palette); };
        std::vector<std::uint8_t> row(segment_cols + 1), up(segment_cols + 2);
        for (std::uint64_t r = 0; r < layout.planes * layout.rows; ++r) {
            U* lanes = x + r * W;
            const U* lanes_up = r % layout.rows ? lanes - W : nullptr;
            for (std::uint64_t s0 = 0; s0 < W; s0 += segment_cols) {
                const std::uint64_t s1 = std::min(W, s0 + segment_cols), lo = s0 > 0 ? s0 - 1 : 0;
                if (lanes_up)
                    for (std::uint64_t j = lo; j < std::min(W, s1 + 1); ++j) up[std::size_t(j - lo)] = index_of(lanes_up[j]);
                if (s0 > 0) row[0] = index_of(lanes[lo]);
                for (std::uint64_t i = s0; i < s1; ++i) {  // column i is i - lo in the segment
                    const int b = bucket_at(row.data(), lanes_up ? up.data() : nullptr, i - lo, W - lo, p);
                    const std::uint8_t s = rans.next(map[std::size_t(b)]);
                    row[std::size_t(i - lo)] = s;
                    lanes[i] = palette[s];
                }
            }
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
