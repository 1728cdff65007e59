// Inverse prediction of several rows at once for the serial predictors (med, average, med_mix,
// plane_avg, soft_grad), whose lanes each wait for their left neighbour. Lane (y, i) needs
// (y, i - 1) and (y - 1, i - 1 .. i + 1), so rows y, y + 1, ... can advance together when each row
// runs two lanes behind the one above: a diagonal wavefront, one row per vector element. The lanes
// are exactly those of undo_row; only the order of the work changes (no format change).
#pragma once

#include <cstdint>
#include <vector>

#include "predict.hpp"

namespace byte2bit {
namespace detail {

// Rows of 8- and 16-bit residuals collected into a strip, then turned into lanes with AVX2: eight
// 32-bit elements, the first carrying the row above the strip, the other seven a row each.
template <class U>
class wavefront_strip {
public:
    static constexpr int height = 7;  // rows a strip holds

    // Whether this CPU and SIMD level have the wavefront for predictor p on rows of W lanes.
    static bool usable(predictor p, std::uint64_t W);

    wavefront_strip(predictor p, std::uint64_t W);
    int size() const { return rows_; }
    // Appends a row of W residuals (below the plane's first row); at most `height` rows.
    void add(const U* z);
    // Writes the lanes of the strip's rows to out[0 .. size() * W) (consecutive rows), the row
    // above being `above` (lanes), then empties the strip.
    void flush(const U* above, U* out);

private:
    predictor p_;
    std::uint64_t W_, stride_;
    int rows_ = 0;
    std::vector<std::uint32_t> buffer_;  // (height + 1) rows of stride_ elements, padded both sides
};

extern template class wavefront_strip<std::uint8_t>;
extern template class wavefront_strip<std::uint16_t>;

}  // namespace detail
}  // namespace byte2bit
