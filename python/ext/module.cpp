// byte2bit._core: the codec for Python. Buffers in, bytes out; the GIL is released around all
// coding work so chunks encode and decode in parallel from Python threads.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <byte2bit/byte2bit.hpp>

#include <cstdint>
#include <cstring>
#include <vector>
#include <string>

#if defined(__linux__)
#include <sys/mman.h>
#include <unistd.h>
#endif

namespace py = pybind11;

namespace {

byte2bit::dtype dtype_from_name(const std::string& name) {
    for (int code = 1; code <= 15; ++code) {
        const auto t = byte2bit::dtype(code);
        if (name == byte2bit::dtype_name(t)) return t;
    }
    throw byte2bit::error(byte2bit::errc::unsupported_dtype, "unsupported dtype '" + name + "'");
}

struct read_buffer {
    py::buffer_info info;
    explicit read_buffer(const py::buffer& b) : info(b.request()) {}
    const void* data() const { return info.ptr; }
    std::size_t size() const { return std::size_t(info.size * info.itemsize); }
};

py::bytes encode(const py::buffer& data, const std::string& dtype, std::size_t item_size,
                 const std::vector<std::uint64_t>& shape, int level, double quantize_scale, int decimal_digits,
                 const std::vector<double>& exact_values) {
    read_buffer in(data);
    byte2bit::encode_options options;
    options.level = level;
    options.quantize_scale = quantize_scale;
    options.exact_values = exact_values;
    options.decimal_digits = decimal_digits;
    const byte2bit::dtype t = dtype_from_name(dtype);
    std::vector<std::uint8_t> out;
    {
        py::gil_scoped_release release;
        out = byte2bit::encode(in.data(), in.size(), t, item_size, shape, options);
    }
    return py::bytes(reinterpret_cast<const char*>(out.data()), out.size());
}

// A new numpy array's pages are mapped on first write, one fault each (a 512 x 512 uint16 tile
// takes 128). Asking the kernel to map them all in one call first costs less; where it cannot
// (an older kernel, memory that is not ordinary), the writes fault as before.
void map_pages_for_writing(void* data, std::size_t size) {
#if defined(__linux__) && defined(MADV_POPULATE_WRITE)
    static const std::uintptr_t page = std::uintptr_t(sysconf(_SC_PAGESIZE));
    if (size < 16 * page) return;
    const std::uintptr_t begin = (std::uintptr_t(data) + page - 1) & ~(page - 1);
    const std::uintptr_t end = (std::uintptr_t(data) + size) & ~(page - 1);
    madvise(reinterpret_cast<void*>(begin), end - begin, MADV_POPULATE_WRITE);
#endif
}

void decode(const py::buffer& stream, const py::buffer& out, const std::string& dtype, bool fresh) {
    read_buffer in(stream);
    py::buffer_info target = out.request(true);
    const std::size_t out_size = std::size_t(target.size * target.itemsize);
    byte2bit::dtype expected{};
    const bool check_type = !dtype.empty();
    if (check_type) expected = dtype_from_name(dtype);
    py::gil_scoped_release release;
    if (fresh) map_pages_for_writing(target.ptr, out_size);
    byte2bit::decode(in.data(), in.size(), target.ptr, out_size, check_type ? &expected : nullptr);
}

py::dict inspect(const py::buffer& stream, bool verify_checksum) {
    read_buffer in(stream);
    byte2bit::stream_info info;
    {
        py::gil_scoped_release release;
        info = byte2bit::inspect(in.data(), in.size(), verify_checksum);
    }
    py::dict d;
    d["format_version"] = info.format_version;
    d["dtype"] = byte2bit::dtype_name(info.type);
    d["item_size"] = info.item_size;
    d["shape"] = py::tuple(py::cast(info.shape));
    d["level"] = info.level;
    d["quantize_scale"] = info.quantize_scale;
    d["decimal_digits"] = info.decimal_digits < 0 ? py::object(py::none()) : py::object(py::int_(info.decimal_digits));
    d["raw_size"] = info.raw_size;
    d["stored_size"] = info.stored_size;
    d["checksum"] = info.checksum;
    d["checksum_ok"] = info.checksum_checked ? py::object(py::bool_(info.checksum_ok)) : py::object(py::none());
    return d;
}

// The byte planes of planes.py joined back into words, each byte mapped through its plane's rank
// order (when given) and each word rotated right by one bit, into `out`: one pass in C++ where
// numpy needed one strided pass per plane and three more for the rotation.
template <class W>
void join_planes(const std::vector<const std::uint8_t*>& planes, const std::vector<const std::uint8_t*>& orders,
                 std::size_t count, W* out) {
    constexpr int k = sizeof(W);
    std::uint8_t identity[256];
    for (int i = 0; i < 256; ++i) identity[i] = std::uint8_t(i);
    const std::uint8_t* map[k];
    for (int j = 0; j < k; ++j) map[j] = orders[std::size_t(j)] ? orders[std::size_t(j)] : identity;
    for (std::size_t i = 0; i < count; ++i) {
        W w = 0;
        for (int j = 0; j < k; ++j) w |= W(map[j][planes[std::size_t(j)][i]]) << (8 * j);
        out[i] = W(w >> 1 | w << (8 * k - 1));
    }
}

void join_byte_planes(const std::vector<py::buffer>& planes, const std::vector<py::object>& orders, const py::buffer& out) {
    py::buffer_info o = out.request(true);
    const std::size_t k = planes.size(), bytes = std::size_t(o.size * o.itemsize);
    if ((k != 2 && k != 4 && k != 8) || orders.size() != k || bytes % k)
        throw byte2bit::error(byte2bit::errc::invalid_argument, "join_byte_planes: 2, 4 or 8 planes, an order each");
    const std::size_t count = bytes / k;
    std::vector<py::buffer_info> keep;
    std::vector<const std::uint8_t*> p(k), ord(k, nullptr);
    for (std::size_t j = 0; j < k; ++j) {
        keep.push_back(planes[j].request());
        if (std::size_t(keep.back().size * keep.back().itemsize) != count)
            throw byte2bit::error(byte2bit::errc::invalid_argument, "join_byte_planes: a plane has the wrong size");
        p[j] = static_cast<const std::uint8_t*>(keep.back().ptr);
        if (!orders[j].is_none()) {
            keep.push_back(py::buffer(orders[j]).request());
            if (keep.back().size * keep.back().itemsize != 256)
                throw byte2bit::error(byte2bit::errc::invalid_argument, "join_byte_planes: an order is not 256 bytes");
            ord[j] = static_cast<const std::uint8_t*>(keep.back().ptr);
        }
    }
    py::gil_scoped_release release;
    if (k == 2) join_planes(p, ord, count, static_cast<std::uint16_t*>(o.ptr));
    if (k == 4) join_planes(p, ord, count, static_cast<std::uint32_t*>(o.ptr));
    if (k == 8) join_planes(p, ord, count, static_cast<std::uint64_t*>(o.ptr));
}

}  // namespace

PYBIND11_MODULE(_core, m) {
    m.doc() = "Byte2Bit codec core (C++)";
    m.attr("format_version") = byte2bit::format_version;
    m.attr("library_version") = byte2bit::library_version();

    // Errors become byte2bit.errors classes (ValueError subclasses), chosen by their fixed code.
    py::register_exception_translator([](std::exception_ptr p) {
        try {
            if (p) std::rethrow_exception(p);
        } catch (const byte2bit::error& e) {
            py::object cls = py::module_::import("byte2bit.errors").attr("error_class")(int(e.code()));
            PyErr_SetObject(cls.ptr(), py::str(e.what()).ptr());
        }
    });

    m.def("encode", &encode, py::arg("data"), py::arg("dtype"), py::arg("item_size"), py::arg("shape"),
          py::arg("level") = 4, py::arg("quantize_scale") = 0.0, py::arg("decimal_digits") = -1,
          py::arg("exact_values") = std::vector<double>(), "Encode a C-contiguous buffer into one Byte2Bit stream.");
    m.def("decode", &decode, py::arg("stream"), py::arg("out"), py::arg("dtype") = std::string(),
          py::arg("fresh") = false,
          "Decode a stream into a writable buffer of exactly its raw size (fresh: newly allocated, never written).");
    m.def("join_byte_planes", &join_byte_planes, py::arg("planes"), py::arg("orders"), py::arg("out"),
          "Join byte planes (each through its rank order, or None) into rotated words in out (planes.py).");
    m.def("inspect", &inspect, py::arg("stream"), py::arg("verify_checksum") = true,
          "Read a stream's header (and check its checksum) without decoding.");
}
