// Fuzz target: arbitrary bytes as an array (the first four bytes choose dtype, level, shape and
// mode); encode then decode must give the same bytes back or, in the error-bounded mode, every
// value within quantize_scale / 2, non-finite values and exact values (nodata) bit for bit, and no
// other value turned into an exact value.
#include <byte2bit/byte2bit.hpp>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "components.hpp"  // codec/src: reading float16/32/64 components

namespace {

using byte2bit::dtype;

bool real_or_complex(dtype t) {
    return t == dtype::float16 || t == dtype::float32 || t == dtype::float64 || t == dtype::complex64 ||
           t == dtype::complex128;
}

// Checks the error-bounded result component by component.
void check_bounded(const std::uint8_t* in, const std::uint8_t* out, std::size_t nbytes, std::size_t csize,
                   double scale, const std::vector<double>& exact) {
    using namespace byte2bit::detail;
    std::vector<std::uint64_t> exact_bits;
    for (double x : exact) {
        std::uint8_t b[8];
        store_component(b, csize, x);
        exact_bits.push_back(load_bits(b, csize));
    }
    for (std::size_t at = 0; at < nbytes; at += csize) {
        const std::uint64_t a = load_bits(in + at, csize), b = load_bits(out + at, csize);
        const double v = component_value(in + at, csize), w = component_value(out + at, csize);
        bool must_be_exact = !std::isfinite(v);
        for (std::uint64_t e : exact_bits) must_be_exact |= a == e;
        if (must_be_exact) {
            if (a != b) std::abort();
            continue;
        }
        if (!(std::fabs(w - v) <= scale / 2)) std::abort();
        for (double x : exact)
            if (w == x && a != b) std::abort();  // became nodata without being it
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 4) return 0;
    const auto type = dtype(1 + data[0] % 15);
    const int levels[] = {0, 1, 2, 4};
    byte2bit::encode_options options;
    options.level = levels[data[1] & 3];
    const int rows = 1 + (data[2] & 31);
    const int mode = data[3] & 3, param = data[3] >> 2;  // lossless, quantized, decimal, quantized + nodata
    const std::size_t item = type == dtype::bytes ? 1 + (data[1] >> 2 & 7) : byte2bit::dtype_size(type);
    const std::uint8_t* body = data + 4;
    const std::size_t count = (size - 4) / item;
    if (count == 0) return 0;
    std::vector<std::uint64_t> shape;
    if (count % rows == 0 && rows > 1)
        shape = {std::uint64_t(rows), std::uint64_t(count / rows)};
    else
        shape = {std::uint64_t(count)};
    const std::size_t nbytes = count * item;
    const std::size_t csize = type == dtype::complex64 ? 4 : type == dtype::complex128 ? 8 : item;
    if (mode != 0 && real_or_complex(type)) {
        if (mode == 2) {
            options.decimal_digits = param % 19;
        } else {
            options.level = 1;
            options.quantize_scale = std::ldexp(1.0, param - 32);
            if (mode == 3)  // the first component as nodata, so that it occurs
                options.exact_values = {byte2bit::detail::component_value(body, csize), NAN};
        }
    }
    std::vector<std::uint8_t> stream =
        byte2bit::encode(body, nbytes, type, type == dtype::bytes ? item : 0, shape, options);
    std::vector<std::uint8_t> out(nbytes);
    byte2bit::decode(stream.data(), stream.size(), out.data(), out.size(), &type);
    if (options.quantize_scale > 0)
        check_bounded(body, out.data(), nbytes, csize, options.quantize_scale, options.exact_values);
    else if (std::memcmp(out.data(), body, nbytes) != 0)
        std::abort();
    return 0;
}
