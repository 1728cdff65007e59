// Lattice storage of floats (FORMAT.md, "Lattice"): float data that lies on offset + q * step for
// integers q (CF-packed NetCDF/GRIB fields unpacked to floats, instrument counts times a gain) is
// stored as the integers q plus a per-value correction in units of the float's last place, which
// is almost always 0. Lossless whatever the data: the correction absorbs every difference.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "header.hpp"
#include "lanes.hpp"

namespace byte2bit {
namespace detail {

struct lattice {
    double offset = 0;
    double step = 0;
};

// A lattice the float components of an array seem to lie on, found from a sample; none when the
// values do not look quantized.
std::optional<lattice> find_lattice(const std::uint8_t* input, const header& h);

struct lattice_lanes {
    encoder_lanes q;           // the integers, in the narrowest lane width that holds them
    encoder_lanes correction;  // ordered-bits difference to the exact value, natural lane width
};

lattice_lanes to_lattice_lanes(const std::uint8_t* input, const header& h, const lattice& l);

void from_lattice_lanes(const std::uint8_t* q, int q_bits, const std::uint8_t* correction, const header& h,
                        const lattice& l, std::uint8_t* out);

}  // namespace detail
}  // namespace byte2bit
