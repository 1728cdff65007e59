// Inverse prediction of several rows at once for the serial predictors (med, average, med_mix,
// plane_avg, soft_grad, linear), whose lanes each wait for their left neighbour. Lane (y, i) needs
// (y, i - 1) and (y - 1, i - 1 .. i + 1), so rows y, y + 1, ... can advance together when each row
// runs two lanes behind the one above: a diagonal wavefront, one row per vector element. The linear
// predictor also reads (y, i - 2), (y - 1, i - 2) and (y - 2, i - 1 .. i + 1), which the same
// wavefront has computed by then. The lanes are exactly those of undo_row and undo_linear_row;
// only the order of the work changes.
#pragma once

#include <cstdint>
#include <vector>

#include "linear.hpp"
#include "predict.hpp"

namespace byte2bit {
namespace detail {

// Rows of 8- and 16-bit residuals collected into a strip, then turned into lanes with AVX2: eight
// 32-bit elements, the first carrying the row above the strip (the first two the two rows above,
// for the linear predictor), the others a row each.
template <class U>
class wavefront_strip {
public:
    // Whether this CPU and SIMD level have the wavefront for predictor p on rows of W lanes.
    static bool usable(predictor p, std::uint64_t W);

    // `linear`: the linear predictor's parameters, when p is that predictor.
    wavefront_strip(predictor p, std::uint64_t W, const linear_params* linear = nullptr);
    int size() const { return rows_; }
    bool full() const { return rows_ + above_ == 8; }
    // Appends a row of W residuals (below the plane's first row), until full().
    void add(const U* z);
    // Writes the lanes of the strip's rows to out[0 .. size() * W) (consecutive rows), the rows
    // above being `above` and `above2` (lanes; above2 is read by the linear predictor only, and is
    // `above` again on a plane's second row), then empties the strip.
    void flush(const U* above2, const U* above, U* out);

private:
    predictor p_;
    linear_params linear_;
    std::uint64_t W_, stride_;
    int above_;  // rows above the strip in its buffer
    int rows_ = 0;
    std::vector<std::uint32_t> buffer_;  // 8 rows of stride_ elements, padded both sides
};

extern template class wavefront_strip<std::uint8_t>;
extern template class wavefront_strip<std::uint16_t>;

}  // namespace detail
}  // namespace byte2bit
