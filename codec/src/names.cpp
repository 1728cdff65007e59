// Names, sizes, versions and the one way errors are raised.
#include "byte2bit/byte2bit.hpp"
#include "byte2bit/version.hpp"
#include "io.hpp"

namespace byte2bit {

const char* library_version() noexcept { return BYTE2BIT_LIBRARY_VERSION; }

const char* errc_name(errc code) noexcept {
    switch (code) {
        case errc::invalid_argument: return "invalid_argument";
        case errc::unsupported_dtype: return "unsupported_dtype";
        case errc::buffer_mismatch: return "buffer_mismatch";
        case errc::truncated: return "truncated";
        case errc::corrupt: return "corrupt";
        case errc::checksum_mismatch: return "checksum_mismatch";
        case errc::unsupported_version: return "unsupported_version";
        case errc::limit_exceeded: return "limit_exceeded";
        case errc::bad_magic: return "bad_magic";
    }
    return "unknown";
}

std::size_t dtype_size(dtype t) noexcept {
    switch (t) {
        case dtype::boolean:
        case dtype::int8:
        case dtype::uint8: return 1;
        case dtype::int16:
        case dtype::uint16:
        case dtype::float16: return 2;
        case dtype::int32:
        case dtype::uint32:
        case dtype::float32: return 4;
        case dtype::int64:
        case dtype::uint64:
        case dtype::float64:
        case dtype::complex64: return 8;
        case dtype::complex128: return 16;
        case dtype::bytes: return 0;
    }
    return 0;
}

const char* dtype_name(dtype t) noexcept {
    switch (t) {
        case dtype::boolean: return "bool";
        case dtype::int8: return "int8";
        case dtype::uint8: return "uint8";
        case dtype::int16: return "int16";
        case dtype::uint16: return "uint16";
        case dtype::int32: return "int32";
        case dtype::uint32: return "uint32";
        case dtype::int64: return "int64";
        case dtype::uint64: return "uint64";
        case dtype::float16: return "float16";
        case dtype::float32: return "float32";
        case dtype::float64: return "float64";
        case dtype::complex64: return "complex64";
        case dtype::complex128: return "complex128";
        case dtype::bytes: return "bytes";
    }
    return nullptr;
}

namespace detail {

// Cold and out of line, so the checks that call it stay cheap in hot loops.
[[noreturn]] __attribute__((cold, noinline)) void fail(errc code, const std::string& message) {
    throw error(code, message);
}

}  // namespace detail
}  // namespace byte2bit
