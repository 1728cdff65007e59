// C++ unit tests of the codec: round trips, error-bounded mode, and refusal of damaged streams.
#include <byte2bit/byte2bit.hpp>

#include "ans_avx2.hpp"
#include "entropy.hpp"  // codec/src: predictors and entropy coding are tested directly
#include "header.hpp"
#include "linear.hpp"
#include "rans.hpp"
#include "simd.hpp"
#include "wavefront.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <complex>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <sys/mman.h>
#include <unistd.h>

namespace {

int failures = 0, checks = 0;

#define CHECK(cond)                                                                  \
    do {                                                                             \
        ++checks;                                                                    \
        if (!(cond)) {                                                               \
            ++failures;                                                              \
            std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                            \
    } while (0)

using byte2bit::dtype;
using byte2bit::errc;

std::vector<std::uint8_t> smooth_bytes(std::size_t nbytes, std::uint32_t seed) {
    // A smooth 16-bit field with noise, seen as bytes, so every dtype gets structure and noise.
    std::mt19937 rng(seed);
    std::vector<std::uint8_t> out(nbytes);
    std::uint16_t v = 1000;
    for (std::size_t i = 0; i + 1 < nbytes; i += 2) {
        v = std::uint16_t(v + int(rng() % 7) - 3);
        out[i] = std::uint8_t(v);
        out[i + 1] = std::uint8_t(v >> 8);
    }
    if (nbytes % 2) out[nbytes - 1] = std::uint8_t(rng());
    return out;
}

errc code_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const byte2bit::error& e) {
        return e.code();
    }
    return errc(0);
}

// Streams as the tests edit them: the header's fields, its length (where the lanes block starts),
// the methods of the lanes blocks, the same stream under another format version's header layout,
// and the checksum made right again after an edit.
byte2bit::detail::header header_of(const std::vector<std::uint8_t>& s) {
    return byte2bit::detail::read_header(s.data(), s.size());
}
std::size_t block_of(const std::vector<std::uint8_t>& s) { return header_of(s).size; }
std::vector<int> methods_of(const std::vector<std::uint8_t>& s) {  // (no reserved values or exceptions)
    const auto h = header_of(s);
    if (!h.lattice()) return {s[h.size + 1]};
    byte2bit::detail::byte_reader r(s.data() + h.size + 16, s.size() - h.size - 16);  // after offset, step
    const std::size_t q_size = std::size_t(r.varint("test")), q_at = s.size() - r.remaining();
    return {s[q_at + 1], s[q_at + q_size + 1]};
}
std::vector<std::uint8_t> resealed(std::vector<std::uint8_t> s) {
    byte2bit::detail::seal(s.data(), s.size());
    return s;
}
std::vector<std::uint8_t> as_version(const std::vector<std::uint8_t>& s, int version) {
    auto h = header_of(s);
    byte2bit::detail::byte_writer w;
    const std::size_t old_size = h.size;
    h.version = version;
    byte2bit::detail::write_header(w, h);
    w.append(s.data() + old_size, s.size() - old_size);
    return resealed(std::move(w.bytes));
}

void round_trip(dtype t, std::size_t item, std::vector<std::uint64_t> shape, int level, std::uint32_t seed) {
    std::size_t count = 1;
    for (auto d : shape) count *= std::size_t(d);
    const std::size_t nbytes = count * item;
    const std::vector<std::uint8_t> in = smooth_bytes(nbytes, seed);
    byte2bit::encode_options o;
    o.level = level;
    const auto s = byte2bit::encode(in.data(), in.size(), t, t == dtype::bytes ? item : 0, shape, o);
    std::vector<std::uint8_t> out(nbytes + 1, 0xAB);
    byte2bit::decode(s.data(), s.size(), out.data(), nbytes, &t);
    CHECK(nbytes == 0 || std::memcmp(in.data(), out.data(), nbytes) == 0);
    CHECK(out[nbytes] == 0xAB);  // nothing written past the buffer
    const auto info = byte2bit::inspect(s.data(), s.size());
    CHECK(info.checksum_ok && info.raw_size == nbytes && info.level == level && info.shape == shape);
}

void test_round_trips() {
    const dtype types[] = {dtype::boolean, dtype::int8,    dtype::uint8,   dtype::int16,     dtype::uint16,
                           dtype::int32,   dtype::uint32,  dtype::int64,   dtype::uint64,    dtype::float16,
                           dtype::float32, dtype::float64, dtype::complex64, dtype::complex128};
    const std::vector<std::vector<std::uint64_t>> shapes = {{}, {0}, {1}, {1, 1}, {7}, {1000}, {13, 17}, {3, 65, 33}, {2, 2, 5, 9}, {0, 5}};
    std::uint32_t seed = 1;
    for (dtype t : types)
        for (int level : {0, 1, 2, 4})
            for (const auto& shape : shapes) round_trip(t, byte2bit::dtype_size(t), shape, level, seed++);
    for (std::size_t item : {1, 3, 16})
        for (int level : {0, 1, 2, 4}) round_trip(dtype::bytes, item, {40, 3}, level, seed++);
}

void test_quantized() {
    std::mt19937 rng(7);
    std::normal_distribution<double> normal(0, 50);
    std::vector<double> x(5000);
    for (auto& v : x) v = normal(rng);
    x[10] = NAN;
    x[11] = INFINITY;
    x[12] = -INFINITY;
    x[13] = 1e300;  // too large to quantize: kept exactly
    byte2bit::encode_options o;
    o.level = 1;
    o.quantize_scale = 0.01;
    const auto s = byte2bit::encode(x.data(), x.size() * 8, dtype::float64, 0, {5000}, o);
    std::vector<double> y(x.size());
    byte2bit::decode(s.data(), s.size(), y.data(), y.size() * 8);
    bool ok = true;
    for (std::size_t i = 0; i < x.size(); ++i) {
        if (std::isnan(x[i]))
            ok &= std::isnan(y[i]);
        else if (std::isinf(x[i]))
            ok &= x[i] == y[i];
        else
            ok &= std::fabs(x[i] - y[i]) <= 0.005;
    }
    CHECK(ok);
    CHECK(y[13] == 1e300);
    CHECK(s.size() < x.size() * 8 / 3);
    // The error-bounded mode needs level 1 and real data.
    o.level = 4;
    CHECK(code_of([&] { byte2bit::encode(x.data(), x.size() * 8, dtype::float64, 0, {5000}, o); }) ==
          errc::invalid_argument);
    o.level = 1;
    std::vector<std::int32_t> ints(10);
    CHECK(code_of([&] { byte2bit::encode(ints.data(), 40, dtype::int32, 0, {10}, o); }) == errc::invalid_argument);
}

void test_exact_values() {
    // A float32 field with a nodata area, quantized with a step that does not land on the nodata.
    const float nodata = -9999.0f;
    const std::size_t h = 64, w = 64;
    std::vector<float> x(h * w);
    std::mt19937 rng(11);
    std::normal_distribution<double> normal(0, 3);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = float(100 + 0.05 * double(i % w) + normal(rng));
    for (std::size_t r = 10; r < 40; ++r)
        for (std::size_t c = 0; c < 30; ++c) x[r * w + c] = nodata;
    x[5] = -9999.2f;  // within the bound of nodata, yet not nodata: must not become it
    x[6] = -9998.8f;
    byte2bit::encode_options o;
    o.level = 1;
    o.quantize_scale = 0.7;
    const auto plain = byte2bit::encode(x.data(), x.size() * 4, dtype::float32, 0, {h, w}, o);
    o.exact_values = {double(nodata), double(nodata)};  // repeated: stored once
    const auto s = byte2bit::encode(x.data(), x.size() * 4, dtype::float32, 0, {h, w}, o);
    std::vector<float> y(x.size()), y_plain(x.size());
    byte2bit::decode(s.data(), s.size(), y.data(), y.size() * 4);
    byte2bit::decode(plain.data(), plain.size(), y_plain.data(), y_plain.size() * 4);
    bool exact = true, bounded = true;
    std::size_t moved_plain = 0;
    for (std::size_t i = 0; i < x.size(); ++i) {
        exact &= (x[i] == nodata) == (y[i] == nodata);
        bounded &= std::fabs(double(x[i]) - y[i]) <= 0.35;
        moved_plain += (x[i] == nodata) != (y_plain[i] == nodata);
    }
    CHECK(exact && bounded);
    CHECK(moved_plain > 0);  // without exact values nodata moves: the test sees the difference
    // Reserved integers keep a nodata area nearly free: far from 5 bytes a pixel of exceptions.
    CHECK(s.size() < plain.size() + 200);
    // The reserved values flag (format version 2 on; methods 3 and 4 may raise the version to 4).
    CHECK(header_of(s).reserved() && !header_of(plain).reserved());
    // Reserved values need format version 2 or later.
    std::vector<float> y_again(x.size());
    const auto v1 = as_version(s, 1);
    CHECK(code_of([&] { byte2bit::decode(v1.data(), v1.size(), y_again.data(), y_again.size() * 4); }) == errc::corrupt);
    // NaN as a nodata value, and complex data: exact per component.
    std::vector<float> z = {1.0f, NAN, 2.0f, -9999.0f, 3.0f, -9999.0f};
    o.exact_values = {NAN, -9999.0};
    const auto sz = byte2bit::encode(z.data(), z.size() * 4, dtype::complex64, 0, {3}, o);
    std::vector<float> zy(z.size());
    byte2bit::decode(sz.data(), sz.size(), zy.data(), zy.size() * 4);
    CHECK(std::isnan(zy[1]) && zy[3] == -9999.0f && zy[5] == -9999.0f && std::fabs(zy[4] - 3.0f) <= 0.35);
    o.exact_values.assign(17, 0.0);
    for (std::size_t k = 0; k < 17; ++k) o.exact_values[k] = double(k);
    CHECK(code_of([&] { byte2bit::encode(x.data(), x.size() * 4, dtype::float32, 0, {h, w}, o); }) ==
          errc::invalid_argument);
}

void test_decimal() {
    std::vector<double> x = {0.1, 0.25, -3.75, 12345.67, -0.0, NAN, 0.123456789, 1e-3};
    byte2bit::encode_options o;
    o.decimal_digits = 2;
    const auto s = byte2bit::encode(x.data(), x.size() * 8, dtype::float64, 0, {x.size()}, o);
    std::vector<double> y(x.size());
    byte2bit::decode(s.data(), s.size(), y.data(), y.size() * 8);
    CHECK(std::memcmp(x.data(), y.data(), x.size() * 8) == 0);  // bit-exact, -0.0 and NaN included
}

// Floats on offset + q * step take the lattice form (flag bit 2) and still come back bit-exact.
void test_lattice() {
    std::mt19937 rng(3);
    std::vector<float> x(120 * 90);
    int q = 0;
    for (auto& v : x) {
        q += int(rng() % 9) - 4;
        v = float(273.15 + q * 0.01);
    }
    x[17] = NAN;
    x[18] = -INFINITY;
    x[19] = 1e30f;  // off the lattice's range: kept through its correction
    for (int level : {1, 2, 4}) {
        byte2bit::encode_options o;
        o.level = level;
        const auto s = byte2bit::encode(x.data(), x.size() * 4, dtype::float32, 0, {120, 90}, o);
        CHECK(header_of(s).lattice());
        std::vector<float> y(x.size());
        byte2bit::decode(s.data(), s.size(), y.data(), y.size() * 4);
        CHECK(std::memcmp(x.data(), y.data(), x.size() * 4) == 0);
        CHECK(s.size() < x.size() * 4 / 3);
    }
}

void test_damage() {
    std::vector<std::uint16_t> x(64 * 64);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = std::uint16_t(i * 7 % 1000);
    for (int level : {0, 1, 2, 4}) {
        byte2bit::encode_options o;
        o.level = level;
        const auto s = byte2bit::encode(x.data(), x.size() * 2, dtype::uint16, 0, {64, 64}, o);
        std::vector<std::uint16_t> y(x.size());
        bool all_refused = true;
        for (std::size_t cut = 0; cut < s.size(); cut += 1 + s.size() / 200)
            all_refused &= code_of([&] { byte2bit::decode(s.data(), cut, y.data(), y.size() * 2); }) != errc(0);
        CHECK(all_refused);
        all_refused = true;
        for (std::size_t at = 0; at < s.size(); at += 1 + s.size() / 300) {
            auto bad = s;
            bad[at] ^= 0x10;
            all_refused &= code_of([&] { byte2bit::decode(bad.data(), bad.size(), y.data(), y.size() * 2); }) != errc(0);
        }
        CHECK(all_refused);
        // Wrong output size and type.
        CHECK(code_of([&] { byte2bit::decode(s.data(), s.size(), y.data(), 10); }) == errc::buffer_mismatch);
        const dtype other = dtype::int16;
        CHECK(code_of([&] { byte2bit::decode(s.data(), s.size(), y.data(), y.size() * 2, &other); }) ==
              errc::buffer_mismatch);
        // A newer format version is refused by name.
        auto newer = s;
        newer[4] = std::uint8_t(byte2bit::format_version + 1);
        CHECK(code_of([&] { byte2bit::decode(newer.data(), newer.size(), y.data(), y.size() * 2); }) ==
              errc::unsupported_version);
    }
    CHECK(code_of([] { byte2bit::inspect("nonsense", 8); }) == errc::bad_magic);
}

// The token split byte (format version 3) is refused wherever the format does not allow it.
void test_token_split_checks() {
    std::mt19937 rng(3);
    // Uneven within powers of two: chooses a split other than version 1's; fewer lanes than
    // method 5 takes, so the stream stays version 3.
    std::vector<std::uint8_t> ranks(4000);
    for (auto& v : ranks) v = std::uint8_t((rng() % 7 == 0 ? 200 : 0) + std::min<unsigned>(rng() % 64, rng() % 64));
    auto encode = [&](int level) {
        byte2bit::encode_options o;
        o.level = level;
        return byte2bit::encode(ranks.data(), ranks.size(), dtype::uint8, 0, {ranks.size()}, o);
    };
    const auto v3 = encode(4), v1 = encode(0);
    const std::size_t split_at = block_of(v3) + 3;  // lanes block byte 3
    const std::uint8_t written = v3[split_at];  // (6, 2) on these lanes
    CHECK(written != 0 && v1[split_at] == 0 && block_of(v1) == block_of(v3));
    std::vector<std::uint8_t> y(ranks.size());
    auto refused = [&](std::vector<std::uint8_t> s, int version, std::uint8_t split) {
        s[split_at] = split;
        s = as_version(s, version);
        return code_of([&] { byte2bit::decode(s.data(), s.size(), y.data(), y.size()); }) == errc::corrupt;
    };
    CHECK(!refused(v3, 3, written));  // as written
    CHECK(refused(v3, 2, written));   // a split in a version-2 stream
    CHECK(refused(v3, 3, 0x09));   // k = 9
    CHECK(refused(v3, 3, 0x20));   // k = 0
    CHECK(code_of([] { byte2bit::detail::token_config::from_byte(0x38, 16); }) == errc::corrupt);  // 320 tokens
    CHECK(refused(v3, 3, 0x34));   // m > k
    CHECK(refused(v1, 3, 0x08));   // a split on bit packing
}

// Every vector path this CPU has unpacks exactly what the portable path does: every width of every
// lane type, groups near the end of the data (where the vector loads need slack) included.
template <class U>
void simd_paths_agree() {
    using namespace byte2bit::detail;
    std::mt19937_64 rng(11);
    const int bits = int(sizeof(U) * 8);
    for (std::uint64_t n : {std::uint64_t(32 * 70), std::uint64_t(32 * 3 + 5), std::uint64_t(31)}) {
        std::vector<U> z(n);
        for (std::uint64_t i = 0; i < n; ++i) {
            const int w = int((i / 32) % std::uint64_t(bits + 1));  // group g packs at width g mod (B + 1)
            z[i] = w == 0 ? U(0) : U((rng() & (~std::uint64_t(0) >> (64 - w))) | (std::uint64_t(1) << (w - 1)));
        }
        byte_writer w;
        bitpack_encode<U>(z.data(), n, w);
        for (int level = 0; level <= int(supported_simd()); ++level) {
            CHECK(int(set_simd_level(simd_level(level))) == level);
            std::vector<U> y(n);
            byte_reader r(w.bytes.data(), w.bytes.size());
            bitpack_decode<U>(r, y.data(), n);
            CHECK(y == z);
        }
    }
    // whole streams too, at level 0 (bit packing) and level 1
    std::vector<U> image(300 * 257);
    for (std::size_t i = 0; i < image.size(); ++i) image[i] = U(std::uint64_t(i % 257) * 37 + (rng() % (1u << (i % 13))));
    const dtype t = bits == 8 ? dtype::uint8 : bits == 16 ? dtype::uint16 : bits == 32 ? dtype::uint32 : dtype::uint64;
    for (int lvl : {0, 1}) {
        byte2bit::encode_options o;
        o.level = lvl;
        const auto stream = byte2bit::encode(image.data(), image.size() * sizeof(U), t, 0, {300, 257}, o);
        for (int level = 0; level <= int(supported_simd()); ++level) {
            set_simd_level(simd_level(level));
            std::vector<U> y(image.size());
            byte2bit::decode(stream.data(), stream.size(), y.data(), y.size() * sizeof(U));
            CHECK(y == image);
        }
    }
    set_simd_level(supported_simd());
}

// The AVX2 kernels of ans_avx2.hpp against the format's arithmetic written out here: contexts
// through a bucket table (every bucket, tables not the identity, caps), tokens under every split,
// method 4's left buckets; rows whose values reach every magnitude. Streams alone cannot catch a
// kernel that is wrong the same way in encoder and decoder.
template <class U>
void vector_kernels_match_formulas() {
    using namespace byte2bit::detail;
    if (supported_simd() < simd_level::avx2) return;
    std::mt19937_64 rng(41);
    auto bucket_of = [](std::uint64_t q) {
        if (q < 2) return int(q);
        const int e = bit_length(q);
        return 2 * e - 2 + int((q >> (e - 2)) & 1);
    };
    int round = 0, rank_tables = 0;
    // every bit length about as often; the last rounds two values only, so that neighbours are equal
    auto any = [&]() { return round < 14 ? U(rng() >> (rng() % 64)) : U(rng() % 2); };
    for (int level = int(simd_level::avx2); level <= int(supported_simd()); ++level)  // and the AVX-512 kernels
    for (std::uint64_t W : {13, 40, 77, 300}) {
        set_simd_level(simd_level(level));
        std::vector<U> up(W), upup(W), row(W), z(W);
        for (round = 0; round < 20; ++round) {
            for (std::uint64_t x = 0; x < W; ++x) up[x] = any(), upup[x] = any(), row[x] = any(), z[x] = any();
            const int top = round % 3 == 0 ? 63 : round % 3 == 1 ? 20 : 5;
            const bool has_upup = round % 2;
            // Tables of any bytes, and tables of a few ranges of buckets as decoders have them, which
            // the AVX-512 path also takes as ranges of activity (context_ranks) where it can.
            for (int kind = 0; kind < 3; ++kind) {
                std::uint8_t of_bucket[64];
                for (auto& v : of_bucket) v = std::uint8_t(rng());
                if (kind > 0) {
                    const int changes = kind == 1 ? int(rng() % 16) : 14 + int(rng() % 4);
                    for (int b = 1; b < 64; ++b) of_bucket[b] = of_bucket[b - 1];
                    for (int c = 0; c < changes; ++c) {
                        const int at = 1 + int(rng() % (round % 3 == 0 ? 40 : top));
                        for (int b = at; b < 64; ++b) of_bucket[b] = std::uint8_t(of_bucket[b] + 1 + at % 7);
                    }
                }
                const context_ranks ranks = make_context_ranks(of_bucket, top);
                int changes = 0, last_change = 0;
                for (int b = 1; b <= top; ++b)
                    if (of_bucket[b] != of_bucket[b - 1]) ++changes, last_change = b;
                CHECK((ranks.count >= 0) == (changes <= 15 && last_change < 30));
                if (ranks.count >= 0) ++rank_tables;
                std::vector<std::uint8_t> ctx(W);
                const std::uint64_t end = row_contexts8<U>(up.data(), has_upup ? upup.data() : nullptr, W, of_bucket, top,
                                                           kind ? &ranks : nullptr, ctx.data());
                CHECK(end == W - 2);
                for (std::uint64_t x = 2; x < end; ++x) {
                    const std::uint64_t q = 2 * std::uint64_t(up[x]) + up[x - 1] + up[x + 1] +
                                            ((std::uint64_t(up[x - 2]) + up[x + 2] + (has_upup ? upup[x] : 0)) >> 1);
                    CHECK(ctx[x] == of_bucket[std::min(bucket_of(q), top)]);
                }
            }
            for (const token_config c : {token_config{}, token_config{5, 2}, token_config{6, 3}, token_config{7, 3},
                                         token_config{8, 0}, token_config{8, 4}}) {
                if (sizeof(U) == 1 && c.m > 2 && c.k < 8) continue;  // not a split of 8-bit lanes
                std::vector<std::uint16_t> symbols(W);
                std::vector<std::uint8_t> nbits(W);
                const std::uint64_t done = lane_tokens8<U, std::uint16_t>(row.data(), W, c, symbols.data(), nbits.data());
                CHECK(done + 8 > W);
                for (std::uint64_t x = 0; x < done; ++x) {
                    const std::uint64_t v = row[x];
                    const int n = bit_length(v) - 1;
                    const bool small = v < (std::uint64_t(1) << c.k);
                    CHECK(symbols[x] == (small ? v : (1u << c.k) + ((n - c.k) << c.m) + ((v >> (n - c.m)) & ((1u << c.m) - 1))));
                    CHECK(nbits[x] == (small ? 0 : n - c.m));
                }
            }
            // Raw bits (token_residuals8) against the format's arithmetic: symbols of every split,
            // their raw bits packed LSB first, as the encoder writes them.
            for (const token_config c : {token_config{}, token_config{5, 2}, token_config{6, 3}, token_config{7, 3},
                                         token_config{8, 0}, token_config{8, 4}}) {
                const int tokens = c.tokens(int(8 * sizeof(U)));
                if (tokens > 256) continue;  // not a split of these lanes
                std::vector<std::uint8_t> symbols(W), packed(2 * W + 64);
                std::vector<std::uint64_t> expect(W), bits_before(W + 1);
                std::uint64_t at = 0;
                for (std::uint64_t x = 0; x < W; ++x) {
                    const std::uint32_t sym = std::uint32_t(rng() % std::uint64_t(tokens));
                    symbols[x] = std::uint8_t(sym);
                    bits_before[x] = at;
                    if (sym < (1u << c.k)) {
                        expect[x] = sym;
                        continue;
                    }
                    const std::uint32_t t = sym - (1u << c.k);
                    const int nb = c.k + int(t >> c.m) - c.m;
                    const std::uint64_t raw = rng() & ((std::uint64_t(1) << nb) - 1);
                    expect[x] = ((std::uint64_t((1u << c.m) | (t & ((1u << c.m) - 1)))) << nb) | raw;
                    for (int b = 0; b < nb; ++b, ++at) packed[at / 8] |= std::uint8_t(((raw >> b) & 1) << (at % 8));
                }
                bits_before[W] = at;
                bit_reader r(packed.data(), packed.size());
                std::vector<U> out(W);
                const std::uint64_t done = token_residuals8<U>(symbols.data(), W, c, r, out.data());
                CHECK(done == W - W % 8);
                CHECK(r.bits_used() == bits_before[done]);
                for (std::uint64_t x = 0; x < done; ++x) CHECK(out[x] == U(expect[x]));
            }
            std::vector<std::uint32_t> activity(W);
            for (auto& a : activity) a = std::uint32_t(rng() % (1u << (rng() % 21)));
            std::vector<std::uint8_t> left(W);
            const std::uint64_t reached = row_left_buckets8<U>(row.data(), up.data(), z.data(), activity.data(), 2, W - 1, left.data());
            CHECK(reached + 8 > W - 1);
            for (std::uint64_t i = 2; i < reached; ++i) {
                auto diff = [](std::uint64_t a, std::uint64_t b) { return a > b ? a - b : b - a; };
                const std::uint64_t w = row[i - 1], n = up[i], nw = up[i - 1], ne = up[i + 1], ww = row[i - 2];
                const std::uint64_t q = activity[i] + 2 * std::uint64_t(z[i - 1]) + diff(w, nw) + diff(n, nw) + diff(ne, n) + diff(w, ww);
                const int family = w != n ? 0 : nw == n && ne == n ? 2 : 1;
                CHECK(left[i] == family * 32 + std::min(bucket_of(q), 31));
            }
        }
    }
    CHECK(rank_tables > 20);  // the ranges path ran
    set_simd_level(supported_simd());
}

// Encoding gives the same bytes on every vector path (residuals, bucket and bit-length counts,
// method 4's buckets): whole streams at every level, method 4's body and its gain estimate, on
// smooth data, noise, extremes (where the activities reach their cap) and flat areas.
template <class U>
void encoders_agree_on_every_path() {
    using namespace byte2bit::detail;
    std::mt19937_64 rng(31);
    const dtype t = sizeof(U) == 1 ? dtype::uint8 : sizeof(U) == 2 ? dtype::uint16 : sizeof(U) == 4 ? dtype::uint32 : dtype::uint64;
    for (const auto& dims : std::vector<std::array<std::uint64_t, 3>>{{1, 40, 77}, {2, 19, 12}, {1, 300, 9}, {1, 6, 300}}) {
        lane_layout l;
        l.bits = int(sizeof(U) * 8);
        l.planes = dims[0], l.rows = dims[1], l.cols = dims[2];
        for (int pattern = 0; pattern < 4; ++pattern) {
            std::vector<U> x(l.count()), z(l.count());
            U v = U(U(~U(0)) / 3);
            for (std::size_t i = 0; i < x.size(); ++i) {
                v = U(v + U(rng() % 7) - 3);
                const U top = U(~U(0));
                x[i] = pattern == 0   ? v
                       : pattern == 1 ? U(rng())
                       : pattern == 2 ? (rng() % 3 ? (rng() & 1 ? top : U(0)) : U(rng()))
                                      : (i / 23 % 3 ? U(7) : U(v >> (rng() % 8)));
            }
            residuals<U>(predictor::med, x.data(), z.data(), l);
            std::vector<std::vector<std::uint8_t>> outputs;
            std::vector<double> gains;
            for (int level = 0; level <= int(supported_simd()); ++level) {
                set_simd_level(simd_level(level));
                std::vector<std::uint8_t> all;
                for (int lvl : {0, 1, 2, 4}) {
                    byte2bit::encode_options o;
                    o.level = lvl;
                    const auto s = byte2bit::encode(x.data(), x.size() * sizeof(U), t, 0, {l.planes, l.rows, l.cols}, o);
                    all.insert(all.end(), s.begin(), s.end());
                }
                byte_writer w;
                ans_left_encode<U>(x.data(), z.data(), l, token_config{}, w);
                all.insert(all.end(), w.bytes.begin(), w.bytes.end());
                outputs.push_back(all);
                gains.push_back(ans_left_gain<U>(x.data(), z.data(), l, 1e6));
            }
            for (std::size_t k = 1; k < outputs.size(); ++k) {
                CHECK(outputs[k] == outputs[0]);
                CHECK(gains[k] == gains[0]);
            }
        }
    }
    set_simd_level(supported_simd());
}

// The wavefront (several rows at once, AVX2) gives the lanes the row-by-row inverse gives, for
// every serial predictor: strips full and partial, rows narrower than a block of steps, planes
// after the first, and lanes at 0 and at the top, where the predictors clamp.
template <class U>
void wavefront_matches_rows() {
    using namespace byte2bit::detail;
    std::mt19937_64 rng(23);
    int wavefront_cases = 0;
    for (const auto& dims : std::vector<std::array<std::uint64_t, 3>>{
             {1, 2, 1}, {1, 8, 2}, {1, 9, 3}, {2, 15, 33}, {1, 22, 512}, {3, 17, 9}, {1, 64, 131}}) {
        lane_layout l;
        l.bits = int(sizeof(U) * 8);
        l.planes = dims[0], l.rows = dims[1], l.cols = dims[2];
        for (int pattern = 0; pattern < 3; ++pattern) {
            std::vector<U> x(l.count()), z(l.count());
            U v = U(1u << (l.bits - 1));
            for (std::size_t i = 0; i < x.size(); ++i) {
                v = U(v + U(rng() % 9) - 4);
                const U top = U(~U(0));
                x[i] = pattern == 0 ? v : pattern == 1 ? U(rng()) : (rng() % 3 ? (rng() & 1 ? top : U(0)) : U(rng()));
            }
            for (predictor p : {predictor::med, predictor::average, predictor::med_mix, predictor::plane_avg,
                                predictor::soft_grad}) {
                residuals<U>(p, x.data(), z.data(), l);
                byte_writer w;
                const token_config split = ans_encode<U>(z.data(), l, 16, nullptr, w);
                for (int level = 0; level <= int(supported_simd()); ++level) {
                    set_simd_level(simd_level(level));
                    wavefront_cases += wavefront_strip<U>::usable(p, l.cols);
                    std::vector<U> y(l.count());
                    byte_reader r(w.bytes.data(), w.bytes.size());
                    ans_decode<U>(r, y.data(), l, p, split);
                    CHECK(y == x);
                }
            }
        }
    }
    set_simd_level(supported_simd());
    CHECK(wavefront_cases > 0 || supported_simd() < simd_level::avx2);  // the path under test ran
}

// Every predictor inverts exactly, for every lane width, on smooth data, noise and extremes.
template <class U>
void predictors_invert() {
    using namespace byte2bit::detail;
    std::mt19937_64 rng(11);
    for (const auto& dims : std::vector<std::array<std::uint64_t, 3>>{{1, 1, 1}, {1, 1, 9}, {2, 7, 1}, {3, 13, 17}, {1, 40, 2}}) {
        lane_layout l;
        l.bits = int(sizeof(U) * 8);
        l.planes = dims[0], l.rows = dims[1], l.cols = dims[2];
        for (int pattern = 0; pattern < 3; ++pattern) {
            std::vector<U> x(l.count()), z(l.count());
            for (std::size_t i = 0; i < x.size(); ++i) {
                const U top = U(~U(0));
                x[i] = pattern == 0 ? U(1000 + i % 7) : pattern == 1 ? U(rng()) : (rng() & 1 ? top : U(0));
            }
            for (int p = 0; p < predictor_count; ++p) {
                if (predictor(p) == predictor::linear) continue;  // parameters: linear_predictor_inverts
                residuals<U>(predictor(p), x.data(), z.data(), l);
                unresiduals<U>(predictor(p), z.data(), l);
                CHECK(z == x);
            }
        }
    }
}

// A copy of some bytes that ends where an unreadable page begins.
struct guarded_bytes {
    std::uint8_t* map = nullptr;
    std::size_t length = 0;
    const std::uint8_t* data = nullptr;
    explicit guarded_bytes(const std::vector<std::uint8_t>& bytes) {
        const std::size_t page = std::size_t(sysconf(_SC_PAGESIZE));
        const std::size_t body = (bytes.size() + page - 1) / page * page;
        length = body + page;
        map = static_cast<std::uint8_t*>(mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
        if (map == MAP_FAILED) std::abort();
        mprotect(map + body, page, PROT_NONE);
        std::uint8_t* at = map + body - bytes.size();
        std::memcpy(at, bytes.data(), bytes.size());
        data = at;
    }
    ~guarded_bytes() { munmap(map, length); }
    guarded_bytes(const guarded_bytes&) = delete;
    guarded_bytes& operator=(const guarded_bytes&) = delete;
};

// Rows wider than 2^16 lanes decode in segments, recomputing the residuals (or palette indices)
// above from the lanes: the lanes come back, for every predictor and lane width; and every token
// split a lanes block may name gives the lanes back.
template <class U>
void wide_rows_decode() {
    using namespace byte2bit::detail;
    std::mt19937_64 rng(5);
    for (const auto& dims : std::vector<std::array<std::uint64_t, 3>>{{1, 1, 200003}, {2, 3, 70001}, {1, 4, 65536}}) {
        lane_layout l;
        l.bits = int(sizeof(U) * 8);
        l.planes = dims[0], l.rows = dims[1], l.cols = dims[2];
        std::vector<U> x(l.count()), z(l.count());
        U v = 0;
        for (std::size_t i = 0; i < x.size(); ++i) {  // a random walk with bursts: many contexts
            v = U(v + U(rng() % 5) - 2);
            x[i] = i % 997 < 20 ? U(rng()) : v;
        }
        for (int p = 0; p < predictor_count; ++p) {
            if (predictor(p) == predictor::linear) continue;  // rows of at most 2^16 lanes (below)
            residuals<U>(predictor(p), x.data(), z.data(), l);
            byte_writer w;
            const token_config chosen = ans_encode<U>(z.data(), l, 16, nullptr, w);
            std::vector<U> y(l.count());
            byte_reader r(w.bytes.data(), w.bytes.size());
            ans_decode<U>(r, y.data(), l, predictor(p), chosen);
            CHECK(y == x);
        }
    }
    // Palette indices too (method 3), whose contexts see the lane to the left and those above.
    for (const auto& dims : std::vector<std::array<std::uint64_t, 3>>{{1, 1, 200003}, {2, 3, 70001}, {1, 2, 65537}}) {
        lane_layout l;
        l.bits = int(sizeof(U) * 8);
        l.planes = dims[0], l.rows = dims[1], l.cols = dims[2];
        std::vector<U> x(l.count()), y(l.count());
        const U values[5] = {U(3), U(9), U(200), U(201), U(-1)};
        for (std::size_t i = 0; i < x.size(); ++i)  // runs of classes, some across segment edges
            x[i] = rng() % 50 == 0 ? values[rng() % 5] : values[(i / 1000 + i / l.cols) % 5];
        byte_writer w;
        CHECK(palette_encode<U>(x.data(), l, w));
        byte_reader r(w.bytes.data(), w.bytes.size());
        palette_decode<U>(r, y.data(), l);
        CHECK(y == x);
    }
    lane_layout l;
    l.bits = int(sizeof(U) * 8), l.planes = 1, l.rows = 64, l.cols = 257;
    std::vector<U> x(l.count()), y(l.count()), z(l.count());
    for (auto& v : x) v = U(rng() >> (rng() % 64));  // every magnitude
    residuals<U>(predictor::none, x.data(), z.data(), l);
    int splits = 0;
    for (int k = 1; k <= 8; ++k)
        for (int m = 0; m <= k; ++m) {
            const token_config c{k, m};
            if (k > l.bits || c.tokens(l.bits) > 256 || c.is_default()) continue;
            CHECK(token_config::from_byte(c.byte(), l.bits).k == k);
            byte_writer w;
            ans_encode<U>(z.data(), l, 16, &c, w);
            // The raw bits come last, right before an unreadable page: a vector reader that loads
            // past the end crashes here (ASan does not check gathers).
            const guarded_bytes exact(w.bytes);
            for (int level = 0; level <= int(supported_simd()); ++level) {  // ans_avx2.hpp too
                set_simd_level(simd_level(level));
                byte_reader r(exact.data, w.bytes.size());
                ans_decode<U>(r, y.data(), l, predictor::none, c);
                CHECK(y == x);
            }
            set_simd_level(supported_simd());
            ++splits;
        }
    CHECK(splits > 0);
}

}  // namespace

// Few distinct values (classes, masks) take method 3 at levels 2 and 4 (format version 4) and come
// back exactly, for every lane width and layout; the decoder refuses what the format forbids.

template <class T>
std::vector<T> classes(std::size_t n, std::size_t cols, int distinct, std::uint32_t seed) {
    // Blocks of one class with ragged edges, from `distinct` values spread over T's range.
    std::mt19937 rng(seed);
    std::vector<T> values(static_cast<std::size_t>(distinct));
    const std::uint64_t step = sizeof(T) == 1 ? 15 : 4099;  // distinct values, not evenly spaced
    for (int k = 0; k < distinct; ++k) values[std::size_t(k)] = T(std::uint64_t(k) * step + rng() % step);
    std::vector<T> x(n);
    for (std::size_t i = 0; i < n; ++i) {
        const std::size_t y = i / cols, c = i % cols;
        const std::size_t block = (y / 9) * 7 + (c + rng() % 3) / 11;
        x[i] = values[(block * 2654435761u >> 4) % std::size_t(distinct)];
    }
    return x;
}

void test_palette() {
    auto encode = [](const void* p, std::size_t nbytes, dtype t, std::vector<std::uint64_t> shape, int level) {
        byte2bit::encode_options o;
        o.level = level;
        return byte2bit::encode(p, nbytes, t, 0, shape, o);
    };
    auto check_type = [&](auto zero, dtype t) {
        using T = decltype(zero);
        const std::vector<std::vector<std::uint64_t>> shapes = {{1, 1}, {1000}, {40, 1}, {13, 17}, {3, 65, 33}, {96, 120}};
        std::uint32_t seed = 7;
        for (const auto& shape : shapes)
            for (int distinct : {1, 2, 5, 16})
                for (int level : {1, 2, 4}) {
                    std::size_t n = 1;
                    for (auto d : shape) n *= std::size_t(d);
                    const auto x = classes<T>(n, std::size_t(shape.back()), distinct, seed++);
                    const auto s = encode(x.data(), n * sizeof(T), t, shape, level);
                    std::vector<T> y(n);
                    byte2bit::decode(s.data(), s.size(), y.data(), n * sizeof(T), &t);
                    CHECK(y == x);
                    const auto m = methods_of(s);
                    // Methods 3 (palette), 4 or 7 (left contexts): level 1 keeps to the fast methods.
                    const bool serial = std::count_if(m.begin(), m.end(), [](int k) { return k == 3 || k == 4 || k == 7; }) > 0;
                    CHECK(level >= 2 || !serial);
                    // On images of classes they win (on one row, runs code as well with method 2).
                    if (level == 4 && distinct >= 2 && n >= 1000 && shape.size() >= 2) CHECK(serial);
                    if (distinct == 1) CHECK(m == std::vector<int>{6});  // one value: the constant method
                }
    };
    check_type(std::uint8_t{}, dtype::uint8);
    check_type(std::int16_t{}, dtype::int16);
    check_type(std::uint32_t{}, dtype::uint32);
    check_type(std::uint64_t{}, dtype::uint64);
    check_type(float{}, dtype::float32);
    {  // 17 values are too many for a palette
        auto x = classes<std::uint8_t>(96 * 120, 120, 16, 5);
        bool seen[256] = {};
        int distinct = 0;
        for (auto v : x) distinct += !std::exchange(seen[v], true);
        CHECK(distinct == 16);
        const auto p16 = encode(x.data(), x.size(), dtype::uint8, {96, 120}, 4);
        x[500] = std::uint8_t(std::find(seen, seen + 256, false) - seen);
        const auto p17 = encode(x.data(), x.size(), dtype::uint8, {96, 120}, 4);
        CHECK(methods_of(p16)[0] == 3);
        CHECK(methods_of(p17)[0] != 3);
    }

    const auto x = classes<std::uint8_t>(96 * 120, 120, 4, 11);
    const auto s = encode(x.data(), x.size(), dtype::uint8, {96, 120}, 4);
    const std::size_t block = block_of(s);
    CHECK(s[block + 1] == 3 && s[block + 2] == 0 && s[block + 3] == 0 && s[block + 4] == 4);
    std::vector<std::uint8_t> y(x.size());
    auto error_of = [&](const std::vector<std::uint8_t>& bad) {
        return code_of([&] { byte2bit::decode(bad.data(), bad.size(), y.data(), y.size()); });
    };
    auto edited = [&](std::size_t at, std::uint8_t v) {
        auto bad = s;
        bad[at] = v;
        return resealed(bad);
    };
    CHECK(error_of(resealed(s)) == errc(0) && y == x);
    CHECK(error_of(as_version(s, 3)) == errc::corrupt);              // method 3 in a version-3 stream
    CHECK(error_of(edited(block + 2, 1)) == errc::corrupt);          // a predictor with a palette
    CHECK(error_of(edited(block + 3, 0x08)) == errc::corrupt);       // a token split with a palette
    CHECK(error_of(edited(block + 4, 0)) == errc::corrupt);          // empty palette
    CHECK(error_of(edited(block + 4, 17)) == errc::corrupt);         // palette too large
    CHECK(error_of(edited(block + 6, s[block + 5])) == errc::corrupt);  // values not increasing
    const std::size_t map = block + 5 + 4;  // runs of (context, length - 1) over 6 x 4 x 4 buckets
    CHECK(s[map + 1] < 0x80);                // the first run's length is one byte
    CHECK(error_of(edited(map, 16)) == errc::corrupt);        // a context beyond 16
    CHECK(error_of(edited(map + 1, 96)) == errc::corrupt);    // a run one past the last bucket
    {  // the run-length bound exactly: runs must cover the buckets, not one more
        using namespace byte2bit::detail;
        auto runs = [](std::vector<std::uint8_t> bytes, int* contexts) {
            byte_reader r(bytes.data(), bytes.size());
            return read_context_runs(r, 24, contexts);
        };
        int contexts = 0;
        CHECK(runs({0, 23, 1}, &contexts) == std::vector<std::uint8_t>(24, 0) && contexts == 1);
        CHECK(runs({0, 10, 1, 12, 2}, &contexts).back() == 1 && contexts == 2);
        CHECK(code_of([&] { runs({0, 24, 1}, &contexts); }) == errc::corrupt);
        CHECK(code_of([&] { runs({0, 10, 1, 13, 2}, &contexts); }) == errc::corrupt);
        CHECK(code_of([&] { runs({0, 23, 2}, &contexts); }) == errc::corrupt);  // count disagrees
    }
    // Any byte of the body changed and resealed: refused or decoded, never a crash or an overrun.
    for (std::size_t at = block; at < s.size(); ++at) {
        auto bad = s;
        bad[at] ^= 0x5A;
        const errc e = error_of(resealed(bad));
        CHECK(e == errc(0) || e == errc::corrupt || e == errc::truncated);
    }
}

// Method 4 (contexts that see the left neighbour) gives the lanes back for every predictor, lane
// width, token split and shape, flat areas and every magnitude included; level 4 picks it where it
// pays, and the decoder refuses it where the format does not allow it.
template <class U>
void left_contexts_decode() {
    using namespace byte2bit::detail;
    std::mt19937_64 rng(8);
    for (const auto& dims : std::vector<std::array<std::uint64_t, 3>>{{1, 1, 1}, {1, 1, 300}, {2, 3, 5}, {3, 40, 33}, {1, 2, 65536}}) {
        lane_layout l;
        l.bits = int(sizeof(U) * 8);
        l.planes = dims[0], l.rows = dims[1], l.cols = dims[2];
        std::vector<U> x(l.count()), z(l.count());
        U v = 0;
        for (std::size_t i = 0; i < x.size(); ++i) {  // flat runs, a walk, and bursts of any size
            if (i % 50 >= 20) v = U(v + U(rng() % 5) - 2);
            x[i] = i % 997 < 9 ? U(rng() >> (rng() % (sizeof(U) * 8))) : v;
        }
        for (int p = 0; p < predictor_count; ++p) {
            if (predictor(p) == predictor::linear) continue;  // not with method 4 (test_linear_predictor)
            residuals<U>(predictor(p), x.data(), z.data(), l);
            for (const token_config c : {token_config{}, token_config{l.bits >= 8 ? 6 : 4, 2}}) {
                if (c.tokens(l.bits) > 256) continue;
                byte_writer w;
                ans_left_encode<U>(x.data(), z.data(), l, c, w);
                std::vector<U> y(l.count());
                byte_reader r(w.bytes.data(), w.bytes.size());
                ans_left_decode<U>(r, y.data(), l, predictor(p), c);
                CHECK(y == x);
            }
        }
    }
}

void test_left_contexts() {
    left_contexts_decode<std::uint8_t>();
    left_contexts_decode<std::uint16_t>();
    left_contexts_decode<std::uint32_t>();
    left_contexts_decode<std::uint64_t>();
    // A smooth field with flat areas (like aerosol or water vapour maps): level 4 takes method 4.
    const std::size_t h = 120, w = 150;
    std::vector<std::uint16_t> x(h * w);
    for (std::size_t i = 0; i < x.size(); ++i)
        x[i] = std::uint16_t(100 + (i / w) / 7 + (i % w) / 9 + ((i / w) * (i % w) % 17 == 0));
    byte2bit::encode_options o;
    o.level = 4;
    const auto s = byte2bit::encode(x.data(), x.size() * 2, dtype::uint16, 0, {h, w}, o);
    const std::size_t method_at = block_of(s) + 1;
    CHECK(s[method_at] == 4);
    std::vector<std::uint16_t> y(x.size());
    byte2bit::decode(s.data(), s.size(), y.data(), y.size() * 2);
    CHECK(y == x);
    auto refused = [&](std::vector<std::uint8_t> bad) {
        bad = resealed(bad);
        return code_of([&] { byte2bit::decode(bad.data(), bad.size(), y.data(), y.size() * 2); }) == errc::corrupt;
    };
    CHECK(refused(as_version(s, 3)));  // method 4 in a version-3 stream
    // (with the linear predictor, which level 4 may take for method 4 too, version 7, or 8 with its
    // two sets)
    const int needed = s[method_at + 1] != std::uint8_t(byte2bit::detail::predictor::linear) ? 4
                       : s[method_at + 3] & 2                                              ? 8
                                                                                           : 7;
    CHECK(refused(as_version(s, needed - 1)) && !refused(as_version(s, needed)));
    auto unknown = s;
    unknown[method_at] = 5;
    CHECK(refused(unknown));
    for (std::size_t at = method_at + 3; at < s.size(); ++at) {  // any body byte: refused or decoded
        auto bad = s;
        bad[at] ^= 0xA5;
        bad = resealed(bad);
        const errc e = code_of([&] { byte2bit::decode(bad.data(), bad.size(), y.data(), y.size() * 2); });
        CHECK(e == errc(0) || e == errc::corrupt || e == errc::truncated);
    }
    // Rows wider than 2^16 lanes cannot name method 4.
    {
        using namespace byte2bit::detail;
        lane_layout l;
        l.bits = 8, l.rows = 1, l.cols = max_left_context_cols + 1;
        std::vector<std::uint8_t> lanes(l.count(), 7), zz(l.count());
        residuals<std::uint8_t>(predictor::left, lanes.data(), zz.data(), l);
        byte_writer wr;
        ans_left_encode<std::uint8_t>(lanes.data(), zz.data(), l, token_config{}, wr);
        byte_reader r(wr.bytes.data(), wr.bytes.size());
        CHECK(code_of([&] { ans_left_decode<std::uint8_t>(r, lanes.data(), l, predictor::left, token_config{}); }) ==
              errc::corrupt);
    }
}

// Method 7 (format version 9): residuals folded into the block's range. fold_residual is a bijection
// of [lo, hi] onto 0 .. hi - lo for every prediction, in range or not, and unfold_residual its
// inverse; every symbol unfolds without fault. A probability mask (0 .. 100, mostly 0, cloud
// blobs saturated at 100) takes method 7 at level 4; it is refused in a version 8 stream, with an
// empty range, or damaged.
void test_range_folding() {
    using namespace byte2bit::detail;
    const int bounds[][2] = {{0, 255}, {0, 100}, {7, 7}, {10, 11}, {3, 200}, {128, 255}, {0, 0}, {254, 255}};
    for (const auto& b : bounds) {
        const std::uint8_t lo = std::uint8_t(b[0]), hi = std::uint8_t(b[1]);
        bool bijective = true, inverse = true;
        for (int p = 0; p < 256; ++p) {
            std::vector<bool> seen(256, false);
            for (int x = lo; x <= hi; ++x) {
                const std::uint8_t s = fold_residual<std::uint8_t>(std::uint8_t(x), std::uint8_t(p), lo, hi);
                bijective &= s <= hi - lo && !seen[s];
                seen[s] = true;
                inverse &= unfold_residual<std::uint8_t>(s, std::uint8_t(p), lo, hi) == x;
            }
            for (int s = 0; s < 256; ++s) (void)unfold_residual<std::uint8_t>(std::uint8_t(s), std::uint8_t(p), lo, hi);
        }
        CHECK(bijective && inverse);
    }
    // At a bound the far side costs nothing: one above the prediction 0 is residual 1 (zigzag: 2).
    CHECK(fold_residual<std::uint8_t>(1, 0, 0, 100) == 1 && fold_residual<std::uint8_t>(99, 100, 0, 100) == 1);
    CHECK(fold_residual<std::uint16_t>(1003, 1000, 0, 60000) == zigzag<std::uint16_t>(3));  // inside: zigzag

    const std::size_t h = 160, w = 192;
    std::vector<std::uint8_t> x(h * w);
    std::uint32_t seed = 12345;
    auto next = [&] { return (seed = seed * 1664525u + 1013904223u) >> 8; };
    for (std::size_t y = 0; y < h; ++y)
        for (std::size_t c = 0; c < w; ++c) {
            const double dy = double(y) - 70, dx = double(c) - 90;
            const int blob = int(160 - std::sqrt(dy * dy + 2 * dx * dx)) + int(next() % 41) - 20;
            const int noise = next() % 9 == 0 ? int(next() % 3) : 0;
            x[y * w + c] = std::uint8_t(std::clamp(std::max(blob, noise), 0, 100));
        }
    byte2bit::encode_options o;
    o.level = 4;
    const auto s = byte2bit::encode(x.data(), x.size(), dtype::uint8, 0, {h, w}, o);
    const std::size_t method_at = block_of(s) + 1;
    CHECK(s[method_at] == 7);
    CHECK(byte2bit::inspect(s.data(), s.size(), true).format_version == 9);
    std::vector<std::uint8_t> y(x.size());
    byte2bit::decode(s.data(), s.size(), y.data(), y.size());
    CHECK(y == x);
    auto code = [&](std::vector<std::uint8_t> bad) {
        bad = resealed(bad);
        return code_of([&] { byte2bit::decode(bad.data(), bad.size(), y.data(), y.size()); });
    };
    CHECK(code(as_version(s, 8)) == errc::corrupt && code(as_version(s, 9)) == errc(0));
    const std::size_t range_at = method_at + 3 + (s[method_at + 1] == std::uint8_t(predictor::linear) ? 9 : 0);
    CHECK(s[range_at] == 0 && s[range_at + 1] == 100);
    auto empty = s;
    std::swap(empty[range_at], empty[range_at + 1]);  // lo 100 > hi 0
    CHECK(code(empty) == errc::corrupt);
    auto unknown = s;
    unknown[method_at] = 8;
    CHECK(code(unknown) == errc::corrupt);
    for (std::size_t at = range_at; at < s.size(); ++at) {  // any body byte: refused or decoded
        auto bad = s;
        bad[at] ^= 0x5A;
        const errc e = code(bad);
        CHECK(e == errc(0) || e == errc::corrupt || e == errc::truncated);
    }
}

// Method 5 (32 rANS states, one word stream; format version 5): the same lanes from the vector and
// the scalar decoder, whatever the rows' phase against groups of 32 symbols, also in segments of
// wide rows; refused in an older version; damaged bodies, resealed and placed before an
// unreadable page, are refused or decoded on every path, never read past the stream.
template <class U>
void wide_rans_round_trips() {
    using namespace byte2bit::detail;
    std::mt19937_64 rng(31);
    for (const auto& dims : std::vector<std::array<std::uint64_t, 3>>{
             {1, 1, 1}, {1, 1, 31}, {1, 3, 33}, {1, 64, 65}, {2, 33, 97}, {1, 16, 512}, {1, 2, 70001}}) {
        lane_layout l;
        l.bits = int(sizeof(U) * 8);
        l.planes = dims[0], l.rows = dims[1], l.cols = dims[2];
        std::vector<U> x(l.count()), z(l.count());
        U v = 0;
        for (std::size_t i = 0; i < x.size(); ++i) {  // smooth runs, bursts and flat stretches
            v = U(v + U(rng() % 7) - 3);
            x[i] = i % 701 < 30 ? U(rng()) : i % 1303 < 200 ? U(5) : v;
        }
        for (predictor p : {predictor::gradient, predictor::med_mix}) {
            residuals<U>(p, x.data(), z.data(), l);
            byte_writer w;
            const token_config split = ans_encode<U>(z.data(), l, 16, nullptr, w, rans_width::wide);
            const guarded_bytes stream(w.bytes);
            for (int level = 0; level <= int(supported_simd()); ++level) {
                set_simd_level(simd_level(level));
                std::vector<U> y(l.count());
                byte_reader r(stream.data, w.bytes.size());
                ans_decode<U>(r, y.data(), l, p, split, true);
                CHECK(y == x);
            }
        }
    }
    set_simd_level(supported_simd());
}

// Method 5's rANS data is the same byte for byte whichever path writes it (groups of 32 lanes eight
// states at a time with AVX2): lane counts around whole groups, contexts of one symbol (frequency
// 4096), of rare symbols (frequency 1) and of all 256.
void wide_rans_encoders_agree() {
    using namespace byte2bit::detail;
    std::mt19937_64 rng(77);
    int cases = 0, differ = 0;
    for (std::uint64_t n : {0, 1, 31, 32, 33, 95, 96, 1000, 4099, 70000}) {
        for (int kind = 0; kind < 3; ++kind) {
            std::vector<std::uint8_t> ctx(n), symbols(n);
            std::vector<symbol_counts> counts(3);
            for (auto& c : counts) c.fill(0);
            for (std::uint64_t i = 0; i < n; ++i) {
                ctx[i] = std::uint8_t(rng() % 3);
                const std::uint64_t r = rng();
                symbols[i] = ctx[i] == 0 && kind != 2 ? 9  // one symbol
                             : kind == 0 ? std::uint8_t(r % 64 ? r % 4 : 200 + r % 56)  // skewed, rare tail
                                         : std::uint8_t(r);
                counts[ctx[i]][symbols[i]]++;
            }
            std::vector<std::vector<std::uint8_t>> out;
            for (int level = 0; level <= int(supported_simd()); ++level) {
                set_simd_level(simd_level(level));
                byte_writer w;
                write_rans(counts, ctx.data(), symbols.data(), n, w, wide_rans_states);
                out.push_back(w.bytes);
            }
            set_simd_level(supported_simd());
            for (const auto& o : out) differ += o != out[0];
            ++cases;
        }
    }
    CHECK(cases == 30);
    CHECK(differ == 0);
}

// The AVX2 count of lanes at least 2^t (the predictor ranking's bit lengths), 16-bit lanes as
// bytes, against counting lane by lane: sizes around a vector (32) and a byte counter's 255 vectors.
void bit_length_counts_agree() {
    using namespace byte2bit::detail;
    if (!ans_avx2_usable()) return;
    std::mt19937_64 rng(3);
    bool same = true;
    for (std::uint64_t n : {0, 31, 32, 33, 8160, 8165, 100000}) {
        std::vector<std::uint16_t> z(n);
        for (auto& v : z) {
            const std::uint64_t r = rng();
            v = r % 7 == 0 ? std::uint16_t(r >> 8) : r % 7 == 1 ? std::uint16_t(255 + (r >> 8) % 3) : std::uint16_t((r >> 8) & ((1u << (r % 17)) - 1));
        }
        std::uint64_t got[16] = {}, want[16] = {};
        const std::uint64_t done = count_at_least_pow2(z.data(), n, got);
        for (std::uint64_t i = 0; i < done; ++i)
            for (int t = 0; t < 16; ++t) want[t] += z[i] >= (1u << t);
        same &= done == n / 32 * 32 && std::equal(got, got + 16, want);
    }
    CHECK(same);
}

void test_wide_rans() {
    bit_length_counts_agree();
    wide_rans_encoders_agree();
    wide_rans_round_trips<std::uint8_t>();
    wide_rans_round_trips<std::uint16_t>();
    wide_rans_round_trips<std::uint32_t>();
    wide_rans_round_trips<std::uint64_t>();
    using namespace byte2bit::detail;
    // Where 32 states cost more than 1% of the block, method 2 stays: a nearly constant block.
    std::vector<std::uint16_t> flat(128 * 128, 7);
    flat[5000] = 8;
    byte2bit::encode_options level1;
    level1.level = 1;
    const auto flat_stream = byte2bit::encode(flat.data(), flat.size() * 2, dtype::uint16, 0, {128, 128}, level1);
    CHECK(methods_of(flat_stream)[0] == 2);
    std::vector<std::uint16_t> x(128 * 256), y(x.size());
    std::mt19937 noise(5);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = std::uint16_t(900 + 40 * std::sin(double(i % 256) / 9) + noise() % 61);
    for (int level : {1, 2}) {  // (level 4 takes left contexts on these lanes)
        byte2bit::encode_options o;
        o.level = level;
        const auto s = byte2bit::encode(x.data(), x.size() * 2, dtype::uint16, 0, {128, 256}, o);
        const std::size_t method_at = block_of(s) + 1;
        CHECK(s[method_at] == 5);
        const auto older = as_version(s, 4);
        const errc refused = code_of([&] { byte2bit::decode(older.data(), older.size(), y.data(), y.size() * 2); });
        CHECK(refused == errc::corrupt);
        bool no_crash = true;  // and no error other than a damaged stream's
        for (std::size_t at = method_at + 3; at < s.size(); at += 1 + s.size() / 400) {
            auto bad = s;
            bad[at] ^= std::uint8_t(1u << (at % 8));
            const guarded_bytes stream(resealed(bad));
            for (int simd = 0; simd <= int(supported_simd()); ++simd) {
                set_simd_level(simd_level(simd));
                const errc e = code_of([&] { byte2bit::decode(stream.data, bad.size(), y.data(), y.size() * 2); });
                no_crash &= e == errc::corrupt || e == errc::truncated || e == errc(0);
            }
        }
        set_simd_level(supported_simd());
        CHECK(no_crash);
    }
}

// Format version 6: the compact header holds every field the fixed one did (each stream decodes the
// same under either layout), and one value throughout is the constant method at every level.
void test_compact_header_and_constant() {
    using namespace byte2bit::detail;
    auto encode = [](const void* p, std::size_t nbytes, dtype t, std::size_t item, std::vector<std::uint64_t> shape,
                     byte2bit::encode_options o) { return byte2bit::encode(p, nbytes, t, item, shape, o); };
    const auto noise = smooth_bytes(4000, 21);
    std::vector<double> decimals(500);
    std::vector<float> field(1000);
    for (std::size_t i = 0; i < decimals.size(); ++i) decimals[i] = double(1000 + i * 37 % 500) / 1000;
    for (std::size_t i = 0; i < field.size(); ++i) field[i] = float(100 * std::sin(double(i) / 30));
    byte2bit::encode_options plain, decimal, quantized;
    plain.level = 2;  // (level 4 may take the linear predictor, which a version-5 header cannot name)
    decimal.decimal_digits = 3;
    quantized.level = 1;
    quantized.quantize_scale = 0.25;
    const std::vector<std::vector<std::uint8_t>> streams = {
        encode(noise.data(), 4000, dtype::uint16, 0, {40, 50}, plain),
        encode(noise.data(), 4000, dtype::bytes, 5, {800}, plain),              // item size in the header
        encode(decimals.data(), 4000, dtype::float64, 0, {500}, decimal),       // decimal digits
        encode(field.data(), 4000, dtype::float32, 0, {2, 5, 100}, quantized),  // scale
        encode(noise.data(), 4000, dtype::uint32, 0, {1000, 1}, plain),
        encode(nullptr, 0, dtype::int16, 0, {3, 0, 1u << 30}, plain),           // empty, large dimension
    };
    for (const auto& s : streams) {
        const header h = header_of(s);
        auto varint_bytes = [](std::uint64_t v) { return std::size_t(1 + (v >= 1u << 7) + (v >= 1u << 14) + (v >= 1u << 21) + (v >= 1u << 28) + (v >= 1ull << 35)); };
        std::size_t expected = 17 + varint_bytes(h.payload_size) + (h.type == dtype::bytes ? varint_bytes(h.item_size) : 0) +
                               (h.decimal() ? 1 : 0) + (h.quantized() ? 8 : 0);
        for (auto d : h.shape) expected += varint_bytes(d);
        CHECK(h.version == 6 && h.size == expected);
        std::vector<std::uint8_t> a(h.raw_size), b(h.raw_size);
        byte2bit::decode(s.data(), s.size(), a.data(), a.size());
        const auto old = as_version(s, 5);
        const header ho = header_of(old);
        CHECK(ho.size == 40 + 8 * h.shape.size() && ho.type == h.type && ho.item_size == h.item_size &&
              ho.flags == h.flags && ho.decimal_digits == h.decimal_digits && ho.quantize_scale == h.quantize_scale &&
              ho.shape == h.shape && ho.payload_size == h.payload_size);
        CHECK(code_of([&] { byte2bit::decode(old.data(), old.size(), b.data(), b.size()); }) == errc(0) && a == b);
    }
    // A constant tile, as the empty quality masks of a Sentinel-2 product: 22 header bytes, then the
    // lanes block's 4 bytes and the value.
    const std::vector<std::uint8_t> empty(512 * 512, 0);
    for (int level : {0, 1, 2, 4}) {
        byte2bit::encode_options o;
        o.level = level;
        const auto s = encode(empty.data(), empty.size(), dtype::uint8, 0, {512, 512}, o);
        CHECK(s.size() == 27 && methods_of(s) == std::vector<int>{6});
    }
    auto constant = [&](auto value, dtype t, std::size_t lane_bytes) {
        using T = decltype(value);
        const std::vector<T> x(3 * 70, value);
        for (int level : {0, 1, 2, 4}) {
            byte2bit::encode_options o;
            o.level = level;
            const auto s = encode(x.data(), x.size() * sizeof(T), t, 0, {3, 70}, o);
            std::vector<T> y(x.size());
            CHECK(methods_of(s) == std::vector<int>{6} && s.size() == block_of(s) + 4 + lane_bytes);
            byte2bit::decode(s.data(), s.size(), y.data(), y.size() * sizeof(T), &t);
            CHECK(std::memcmp(x.data(), y.data(), x.size() * sizeof(T)) == 0);
            // Refused: in a version-5 stream, with a predictor, with a byte too many or too few,
            // and any byte changed without resealing.
            const auto refused = [&](const std::vector<std::uint8_t>& bad) {
                return code_of([&] { byte2bit::decode(bad.data(), bad.size(), y.data(), y.size() * sizeof(T)); }) != errc(0);
            };
            CHECK(refused(as_version(s, 5)));
            auto predicted = s;
            predicted[block_of(s) + 2] = 3;
            CHECK(refused(resealed(predicted)));
            for (int extra : {1, -1}) {
                header h = header_of(s);
                h.payload_size = std::uint64_t(std::int64_t(h.payload_size) + extra);
                byte_writer w;
                write_header(w, h);
                w.append(s.data() + block_of(s), std::size_t(std::int64_t(s.size() - block_of(s)) + std::min(extra, 0)));
                if (extra > 0) w.u8(0);
                seal(w.bytes.data(), w.bytes.size());
                CHECK(code_of([&] { byte2bit::decode(w.bytes.data(), w.bytes.size(), y.data(), y.size() * sizeof(T)); }) ==
                      errc::corrupt);
            }
            bool every_flip = true;
            for (std::size_t at = 0; at < s.size(); ++at) {
                auto bad = s;
                bad[at] ^= 0x01;
                every_flip &= refused(bad);
            }
            CHECK(every_flip);
        }
    };
    constant(std::uint8_t(9), dtype::uint8, 1);
    constant(std::int16_t(-3), dtype::int16, 2);
    constant(float(NAN), dtype::float32, 4);
    constant(std::uint64_t(1) << 63, dtype::uint64, 8);
    constant(std::complex<float>(1.5f, 1.5f), dtype::complex64, 4);  // lanes: all real parts, then all imaginary
}

// The linear predictor (predictor 9, format versions 7 and 8): the residuals of the vectorised row
// loop are those of the lane-by-lane definition, and the wavefront and the portable rows give the
// lanes back on every SIMD level, for fitted, random and extreme coefficients, one set or two, with
// and without the clamp, under method 2's and method 5's states and under method 4.
template <class U>
void linear_predictor_inverts() {
    using namespace byte2bit::detail;
    std::mt19937_64 rng(31);
    int wavefront_cases = 0, cases = 0;
    for (const auto& dims : std::vector<std::array<std::uint64_t, 3>>{
             {1, 1, 1}, {1, 2, 1}, {1, 3, 2}, {1, 3, 3}, {2, 5, 4}, {1, 9, 5}, {3, 17, 9}, {1, 22, 512}, {2, 15, 33}, {1, 64, 131}}) {
        lane_layout l;
        l.bits = int(sizeof(U) * 8);
        l.planes = dims[0], l.rows = dims[1], l.cols = dims[2];
        const std::uint64_t W = l.cols;
        for (int pattern = 0; pattern < 3; ++pattern) {
            std::vector<U> x(l.count()), z(l.count()), ref(l.count());
            U v = U(1u << (l.bits - 1));
            for (std::size_t i = 0; i < x.size(); ++i) {
                v = U(v + U(rng() % 9) - 4);
                const U top = U(~U(0));
                x[i] = pattern == 0 ? v : pattern == 1 ? U(rng()) : (rng() % 3 ? (rng() & 1 ? top : U(0)) : U(rng()));
            }
            std::vector<linear_params> params(6);
            params[0] = fit_linear<U>(x.data(), l);
            params[1] = params[0];
            params[1].flags = 1;
            for (int r = 2; r < 4; ++r) {
                for (auto& k : params[std::size_t(r)].k) k = std::int8_t(rng());
                params[std::size_t(r)].flags = std::uint8_t(r & 1);
            }
            params[4].k.fill(127);
            params[5].k.fill(-128);
            params[5].flags = 1;
            // Two sets: fitted (the second set random where the fit found one), random with a
            // threshold of 0, a few and the most, and the extremes against each other.
            params.resize(11);
            fit_linear<U>(x.data(), l, &params[6]);
            if (!params[6].two_sets())
                for (auto& k : params[6].k2) k = std::int8_t(rng());
            params[6].flags = 2;
            params[7] = params[6];
            params[7].flags = 3;
            const std::uint16_t thresholds[3] = {0, std::uint16_t(rng() % 24), 65535};
            for (int r = 8; r < 11; ++r) {
                for (auto& k : params[std::size_t(r)].k) k = std::int8_t(rng());
                for (auto& k : params[std::size_t(r)].k2) k = std::int8_t(rng());
                params[std::size_t(r)].flags = std::uint8_t(2 | (r & 1));
                params[std::size_t(r)].threshold = thresholds[r - 8];
            }
            params[9].k.fill(127);
            params[9].k2.fill(-128);
            for (std::size_t n = 0; n < params.size(); ++n) {
                const linear_params& prm = params[n];
                for (std::uint64_t plane = 0; plane < l.planes; ++plane)  // the definition, lane by lane
                    for (std::uint64_t y = 0; y < l.rows; ++y) {
                        const U* row = x.data() + (plane * l.rows + y) * W;
                        const U* up = row - W;
                        for (std::uint64_t i = 0; i < W; ++i) {
                            const U pred = y == 0 ? (i ? row[i - 1] : U(0)) : i == 0 ? up[0]
                                                  : linear_predict_at<U>(prm, row, up, y > 1 ? up - W : up, W, i);
                            ref[std::size_t(row - x.data()) + i] = zigzag<U>(U(row[i] - pred));
                        }
                    }
                for (int level = 0; level <= int(supported_simd()); ++level) {
                    set_simd_level(simd_level(level));
                    linear_residuals<U>(x.data(), z.data(), l, prm);
                    CHECK(z == ref);
                }
                byte_writer w;
                const bool wide = n % 2 == 1;
                const token_config split =
                    ans_encode<U>(z.data(), l, 16, nullptr, w, wide ? rans_width::wide : rans_width::four);
                byte_writer left;  // method 4, whose serial loop predicts lane by lane
                ans_left_encode<U>(x.data(), z.data(), l, split, left);
                for (int level = 0; level <= int(supported_simd()); ++level) {
                    set_simd_level(simd_level(level));
                    wavefront_cases += wavefront_strip<U>::usable(predictor::linear, W);
                    std::vector<U> y(l.count()), y4(l.count());
                    byte_reader r(w.bytes.data(), w.bytes.size()), r4(left.bytes.data(), left.bytes.size());
                    ans_decode<U>(r, y.data(), l, predictor::linear, split, wide, &prm);
                    ans_left_decode<U>(r4, y4.data(), l, predictor::linear, split, &prm);
                    CHECK(y == x && y4 == x);
                    ++cases;
                }
            }
        }
    }
    set_simd_level(supported_simd());
    CHECK(cases > 0 && (wavefront_cases > 0 || supported_simd() < simd_level::avx2));  // the paths under test ran
}

// Level 4 takes the linear predictor on textured imagery and writes format version 7, and with two
// sets of coefficients 8; a stream that names it where it is not allowed (an older version, 32-bit
// lanes, method 3, reserved flag bits, its parameters cut short) is refused; any body byte changed and resealed is refused or
// decoded on every path, never read past the stream.
void test_linear_predictor() {
    linear_predictor_inverts<std::uint8_t>();
    linear_predictor_inverts<std::uint16_t>();
    using namespace byte2bit::detail;
    const std::size_t h = 96, w = 160;
    std::vector<double> f(h * w, 0);
    std::mt19937 noise(13);
    std::normal_distribution<double> gauss(0, 6);
    for (std::size_t y = 2; y < h; ++y)  // texture that neighbours two rows up and two lanes left predict
        for (std::size_t i = 2; i + 1 < w; ++i)
            f[y * w + i] = 0.55 * f[y * w + i - 1] + 0.6 * f[(y - 1) * w + i] - 0.35 * f[(y - 1) * w + i - 1] +
                           0.25 * f[(y - 2) * w + i] - 0.1 * f[y * w + i - 2] + 0.05 * f[(y - 1) * w + i + 1] + gauss(noise);
    std::vector<std::uint16_t> x(h * w);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = std::uint16_t(std::clamp(3000.0 + f[i], 0.0, 65535.0));
    {  // the fit: its sums are those of the taps lane by lane, split by texture for two sets (the
       // median's, one below it and none), and it finds the texture's coefficients
        lane_layout l;
        l.bits = 16, l.rows = h, l.cols = w;
        const std::int32_t median = median_linear_texture<std::uint16_t>(x.data(), l);
        for (const std::int32_t threshold : {median, median - 1, std::int32_t(1) << 30}) {
            std::int64_t want[2][linear_taps + 1][linear_taps + 1] = {};
            int above = 0, lanes = 0;
            for (std::size_t y = 2; y < h; y += 4)
                for (std::size_t i = 2; i + 1 < w; ++i) {
                    const std::uint16_t* row = &x[y * w];
                    const std::uint16_t *up = row - w, *uu = up - w;
                    const std::int64_t b = up[i], t[linear_taps + 1] = {row[i - 1] - b, up[i - 1] - b, up[i + 1] - b, uu[i] - b, row[i - 2] - b,
                                                                        up[i - 2] - b, uu[i + 1] - b, uu[i - 1] - b, row[i] - b};
                    const bool second = std::abs(t[1]) + std::abs(t[2]) + std::abs(t[3]) > threshold;
                    above += second, ++lanes;
                    for (int j = 0; j <= linear_taps; ++j)
                        for (int m = j; m <= linear_taps; ++m) want[second][j][m] += t[j] * t[m];
                }
            if (threshold == median) CHECK(above <= lanes / 2 && above >= lanes / 2 - lanes / 10);  // a median
            for (int level = 0; level <= int(supported_simd()); ++level) {
                set_simd_level(simd_level(level));
                linear_system sums[2];
                if (level >= int(simd_level::avx2))
                    linear_sums_avx2<std::uint16_t>(x.data(), l, threshold, sums);
                else
                    linear_sums<std::uint16_t>(x.data(), l, threshold, sums);
                bool same = true;
                for (int set = 0; set < 2; ++set)
                    for (int j = 0; j < linear_taps; ++j) {
                        // (s[0] holds every lane's sums, s[1] the second set's lanes')
                        auto wanted = [&](int m) { return want[set][j][m] + (set == 0 ? want[1][j][m] : 0); };
                        same &= sums[set].r[j] == wanted(linear_taps);
                        for (int m = j; m < linear_taps; ++m) same &= sums[set].A[j][m] == wanted(m);
                    }
                CHECK(same);
            }
        }
        const int expected[linear_taps] = {35, -22, 3, 16, -6, 0, 0, 0};  // 64ths: 0.55 a - 0.35 c + 0.05 d + 0.25 uu - 0.1 aa
        for (int level = 0; level <= int(supported_simd()); ++level) {
            set_simd_level(simd_level(level));
            linear_params two;
            const linear_params fit = fit_linear<std::uint16_t>(x.data(), l), also = fit_linear<std::uint16_t>(x.data(), l, &two);
            CHECK(!fit.two_sets() && two.two_sets() && two.threshold == median && also.k == fit.k);
            for (int j = 0; j < linear_taps; ++j)  // one process throughout: both sets find it
                CHECK(std::abs(fit.k[std::size_t(j)] - expected[j]) <= 3 && std::abs(two.k[std::size_t(j)] - expected[j]) <= 6 &&
                      std::abs(two.k2[std::size_t(j)] - expected[j]) <= 6);
        }
        set_simd_level(supported_simd());
    }
    byte2bit::encode_options o;
    o.level = 4;
    const auto s = byte2bit::encode(x.data(), x.size() * 2, dtype::uint16, 0, {h, w}, o);
    const std::size_t block = block_of(s);
    CHECK(header_of(s).version >= 7 && s[block + 2] == std::uint8_t(predictor::linear));
    CHECK(s[block + 1] == 2 || s[block + 1] == 5);
    std::vector<std::uint16_t> y(x.size());
    for (int level = 0; level <= int(supported_simd()); ++level) {
        set_simd_level(simd_level(level));
        std::fill(y.begin(), y.end(), 0);
        byte2bit::decode(s.data(), s.size(), y.data(), y.size() * 2);
        CHECK(y == x);
    }
    set_simd_level(supported_simd());
    auto error_of_stream = [&](const std::vector<std::uint8_t>& bad) {
        return code_of([&] { byte2bit::decode(bad.data(), bad.size(), y.data(), y.size() * 2); });
    };
    CHECK(error_of_stream(as_version(s, 6)) == errc::corrupt);
    auto flags = s;
    flags[block + 4] = 2;
    CHECK(error_of_stream(resealed(flags)) == errc::corrupt);
    auto palette = s;  // a method without tokens
    palette[block + 1] = 3;
    CHECK(error_of_stream(resealed(palette)) == errc::corrupt);
    {  // cut right after the token split: the parameters are missing
        header hd = header_of(s);
        hd.payload_size = 4;
        byte_writer cut;
        write_header(cut, hd);
        cut.append(s.data() + block, 4);
        seal(cut.bytes.data(), cut.bytes.size());
        CHECK(error_of_stream(cut.bytes) == errc::truncated);
    }
    {  // 32-bit lanes naming the linear predictor
        std::vector<std::uint32_t> wide(h * w);
        for (std::size_t i = 0; i < wide.size(); ++i) wide[i] = std::uint32_t(x[i]) * 70001u;
        auto s32 = byte2bit::encode(wide.data(), wide.size() * 4, dtype::uint32, 0, {h, w}, o);
        s32 = as_version(s32, 7);
        s32[block_of(s32) + 2] = std::uint8_t(predictor::linear);
        std::vector<std::uint32_t> out(wide.size());
        const auto bad = resealed(s32);
        CHECK(code_of([&] { byte2bit::decode(bad.data(), bad.size(), out.data(), out.size() * 4); }) == errc::corrupt);
    }
    bool every_byte = true;
    for (std::size_t at = block + 4; at < s.size(); at += 7) {
        auto bad = s;
        bad[at] ^= 0x5A;
        const guarded_bytes stream(resealed(bad));
        for (int level = 0; level <= int(supported_simd()); ++level) {
            set_simd_level(simd_level(level));
            const errc e = code_of([&] { byte2bit::decode(stream.data, bad.size(), y.data(), y.size() * 2); });
            every_byte &= e == errc(0) || e == errc::corrupt || e == errc::truncated;
        }
    }
    set_simd_level(supported_simd());
    CHECK(every_byte);
    // Two processes, one where the rows above are smooth and one where they are not: level 4 takes
    // two sets of coefficients and writes format version 8, which a version 7 header cannot hold.
    for (std::size_t y = 2; y < h; ++y)
        for (std::size_t i = 2; i + 1 < w; ++i) {
            const double a = f[y * w + i - 1], b = f[(y - 1) * w + i], c = f[(y - 1) * w + i - 1], d = f[(y - 1) * w + i + 1];
            const bool rough = std::fabs(b - c) + std::fabs(b - d) + std::fabs(f[(y - 2) * w + i] - b) > 30;
            f[y * w + i] = (rough ? 0.9 * a + 0.5 * b - 0.4 * c : 0.3 * a + 0.3 * d + 0.4 * f[(y - 2) * w + i]) +
                           gauss(noise) * (i < w / 2 ? 0.5 : 3);
        }
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = std::uint16_t(std::clamp(3000.0 + f[i], 0.0, 65535.0));
    const auto s8 = byte2bit::encode(x.data(), x.size() * 2, dtype::uint16, 0, {h, w}, o);
    const std::size_t block8 = block_of(s8);
    CHECK(header_of(s8).version == 8 && s8[block8 + 2] == std::uint8_t(predictor::linear) && (s8[block8 + 4] & 2));
    for (int level = 0; level <= int(supported_simd()); ++level) {
        set_simd_level(simd_level(level));
        std::fill(y.begin(), y.end(), 0);
        byte2bit::decode(s8.data(), s8.size(), y.data(), y.size() * 2);
        CHECK(y == x);
    }
    set_simd_level(supported_simd());
    CHECK(error_of_stream(as_version(s8, 7)) == errc::corrupt);
    auto flags8 = s8;
    flags8[block8 + 4] |= 4;
    CHECK(error_of_stream(resealed(flags8)) == errc::corrupt);
    {  // cut inside the second set: the parameters are cut short
        header hd = header_of(s8);
        hd.payload_size = 4 + linear_two_sets_bytes - 3;
        byte_writer cut;
        write_header(cut, hd);
        cut.append(s8.data() + block8, std::size_t(hd.payload_size));
        seal(cut.bytes.data(), cut.bytes.size());
        CHECK(error_of_stream(cut.bytes) == errc::truncated);
    }
}

// Level 4 ranks its nine predictor candidates cheaply and estimates only the best ranked: on
// isolated spikes every prediction from neighbours repeats each spike beside and below it, so
// "none", last in the list, must still win.
void test_predictor_choice() {
    std::vector<std::uint16_t> x(128 * 256);
    std::mt19937 noise(9);
    for (auto& v : x) v = noise() % 20 ? 0 : std::uint16_t(1 + noise() % 500);  // more values than a palette takes
    byte2bit::encode_options o;
    o.level = 4;
    const auto s = byte2bit::encode(x.data(), x.size() * 2, dtype::uint16, 0, {128, 256}, o);
    const std::size_t block = block_of(s);
    CHECK(s[block + 1] == 2 || s[block + 1] == 5);  // method 2 or 5
    CHECK(s[block + 2] == std::uint8_t(byte2bit::detail::predictor::none));
    std::vector<std::uint16_t> y(x.size());
    byte2bit::decode(s.data(), s.size(), y.data(), y.size() * 2);
    CHECK(y == x);
}

int main() {
    predictors_invert<std::uint8_t>();
    predictors_invert<std::uint16_t>();
    predictors_invert<std::uint32_t>();
    predictors_invert<std::uint64_t>();
    wide_rows_decode<std::uint8_t>();
    wide_rows_decode<std::uint16_t>();
    wide_rows_decode<std::uint32_t>();
    wide_rows_decode<std::uint64_t>();
    test_round_trips();
    simd_paths_agree<std::uint8_t>();
    simd_paths_agree<std::uint16_t>();
    simd_paths_agree<std::uint32_t>();
    simd_paths_agree<std::uint64_t>();
    wavefront_matches_rows<std::uint8_t>();
    wavefront_matches_rows<std::uint16_t>();
    vector_kernels_match_formulas<std::uint8_t>();
    vector_kernels_match_formulas<std::uint16_t>();
    encoders_agree_on_every_path<std::uint8_t>();
    encoders_agree_on_every_path<std::uint16_t>();
    encoders_agree_on_every_path<std::uint32_t>();
    encoders_agree_on_every_path<std::uint64_t>();
    std::printf("vector paths tested: up to %s\n", byte2bit::detail::simd_name(byte2bit::detail::supported_simd()));
    test_token_split_checks();
    test_palette();
    test_left_contexts();
    test_range_folding();
    test_quantized();
    test_exact_values();
    test_decimal();
    test_lattice();
    test_damage();
    test_wide_rans();
    test_predictor_choice();
    test_linear_predictor();
    test_compact_header_and_constant();
    std::printf("%d checks, %d failed\n", checks, failures);
    return failures ? 1 : 0;
}
