// Fuzz target: arbitrary bytes as an array (the first bytes choose dtype, level and shape); encode
// then decode must give the same bytes back, or the quantized values within their bound.
#include <byte2bit/byte2bit.hpp>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 3) return 0;
    const auto type = byte2bit::dtype(1 + data[0] % 15);
    const int levels[] = {0, 1, 2, 4};
    byte2bit::encode_options options;
    options.level = levels[data[1] & 3];
    const int rows = 1 + (data[2] & 31);
    const std::size_t item = type == byte2bit::dtype::bytes ? 1 + (data[1] >> 2 & 7) : byte2bit::dtype_size(type);
    const std::uint8_t* body = data + 3;
    const std::size_t count = (size - 3) / item;
    if (count == 0) return 0;
    std::vector<std::uint64_t> shape;
    if (count % rows == 0 && rows > 1)
        shape = {std::uint64_t(rows), std::uint64_t(count / rows)};
    else
        shape = {std::uint64_t(count)};
    const std::size_t nbytes = count * item;
    std::vector<std::uint8_t> stream =
        byte2bit::encode(body, nbytes, type, type == byte2bit::dtype::bytes ? item : 0, shape, options);
    std::vector<std::uint8_t> out(nbytes);
    byte2bit::decode(stream.data(), stream.size(), out.data(), out.size(), &type);
    if (std::memcmp(out.data(), body, nbytes) != 0) std::abort();
    return 0;
}
