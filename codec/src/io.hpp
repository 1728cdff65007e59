// Bounds-checked byte and bit input, and growing output, used by every part of the stream.
// Every read checks its bounds: a malformed stream becomes an error, never undefined behaviour.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "byte2bit/byte2bit.hpp"

namespace byte2bit {
namespace detail {

[[noreturn]] void fail(errc code, const std::string& message);

// Reads little-endian fields from [p, end). Throws errc::truncated past the end.
class byte_reader {
public:
    byte_reader(const std::uint8_t* data, std::size_t size) : p_(data), end_(data + size) {}

    std::size_t remaining() const { return static_cast<std::size_t>(end_ - p_); }
    const std::uint8_t* position() const { return p_; }

    const std::uint8_t* take(std::size_t n, const char* what) {
        if (n > remaining()) fail(errc::truncated, std::string("stream truncated in ") + what);
        const std::uint8_t* at = p_;
        p_ += n;
        return at;
    }
    std::uint8_t u8(const char* what) { return *take(1, what); }
    std::uint32_t u32(const char* what) {
        const std::uint8_t* b = take(4, what);
        return std::uint32_t(b[0]) | std::uint32_t(b[1]) << 8 | std::uint32_t(b[2]) << 16 |
               std::uint32_t(b[3]) << 24;
    }
    std::uint64_t u64(const char* what) {
        const std::uint8_t* b = take(8, what);
        std::uint64_t v = 0;
        for (int i = 7; i >= 0; --i) v = v << 8 | b[i];
        return v;
    }
    // LEB128, at most 10 bytes, no bits above 64.
    std::uint64_t varint(const char* what) {
        std::uint64_t v = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            std::uint8_t b = u8(what);
            if (shift == 63 && (b & 0x7E)) fail(errc::corrupt, std::string("varint overflow in ") + what);
            v |= std::uint64_t(b & 0x7F) << shift;
            if (!(b & 0x80)) return v;
        }
        fail(errc::corrupt, std::string("varint too long in ") + what);
    }

private:
    const std::uint8_t* p_;
    const std::uint8_t* end_;
};

class byte_writer {
public:
    std::vector<std::uint8_t> bytes;

    void u8(std::uint8_t v) { bytes.push_back(v); }
    void u32(std::uint32_t v) {
        for (int i = 0; i < 4; ++i) bytes.push_back(std::uint8_t(v >> (8 * i)));
    }
    void u64(std::uint64_t v) {
        for (int i = 0; i < 8; ++i) bytes.push_back(std::uint8_t(v >> (8 * i)));
    }
    void varint(std::uint64_t v) {
        while (v >= 0x80) {
            bytes.push_back(std::uint8_t(v) | 0x80);
            v >>= 7;
        }
        bytes.push_back(std::uint8_t(v));
    }
    void append(const void* data, std::size_t n) {
        const auto* b = static_cast<const std::uint8_t*>(data);
        bytes.insert(bytes.end(), b, b + n);
    }
};

// LSB-first bit output. Bits leave the accumulator 32 at a time into a buffer that doubles when
// full; the growth is out of line, so a put is a few register operations and one store (a writer
// pushing byte by byte into a vector kept its accumulator in memory: a quarter of method 2's
// encoding).
class bit_writer {
public:
    // Always inlined: the encoders call it per lane (out of line, level 4 encoding spent 4% more).
    __attribute__((always_inline)) void put(std::uint64_t value, int nbits) {  // nbits in [0, 64]
        if (__builtin_expect(nbits > 32, 0)) {
            put_at_most_32(value & 0xFFFFFFFFu, 32);
            value >>= 32, nbits -= 32;
        }
        put_at_most_32(value, nbits);
    }
    // For callers whose values never exceed 32 bits (lanes of up to 32 bits).
    __attribute__((always_inline)) void put_at_most_32(std::uint64_t value, int nbits) {  // 0 bits: nothing
        acc_ |= (value & ((std::uint64_t(1) << nbits) - 1)) << fill_;
        fill_ += std::uint64_t(nbits);
        if (fill_ >= 32) {
            if (__builtin_expect(used_ == words_.size(), 0)) grow();
            words_[used_++] = std::uint32_t(acc_);
            acc_ >>= 32;
            fill_ -= 32;
        }
    }
    // put_at_most_32(value, nbits) for i in [0, count), where f(i, value, nbits) gives them. In a
    // loop of puts that also stores bytes the writer's members stay in memory (a byte store may
    // alias them); here the accumulator is a local for each block of values. Out of line, so that
    // the loop has registers of its own (inlined into method 2's encoder, its counter lived in
    // memory), and without a branch on whether a word is full.
    template <class F>
    __attribute__((noinline)) void put_each(std::uint64_t count, F&& f) {
        constexpr std::uint64_t block = 4096;  // values, so at most `block` words
        for (std::uint64_t i0 = 0; i0 < count; i0 += block) {
            const std::uint64_t i1 = std::min(count, i0 + block);
            while (words_.size() - used_ < block + 1) grow();
            std::uint32_t* w = words_.data() + used_;
            std::uint64_t acc = acc_, fill = fill_;
            for (std::uint64_t i = i0; i < i1; ++i) {
                std::uint64_t value;
                int nbits;
                f(i, value, nbits);
                acc |= (value & ((std::uint64_t(1) << nbits) - 1)) << fill;
                fill += std::uint64_t(nbits);
                *w = std::uint32_t(acc);  // kept only when full
                const std::uint64_t full = fill >> 5;  // 0 or 1
                w += full;
                acc >>= 32 * full;
                fill -= 32 * full;
            }
            used_ = std::size_t(w - words_.data());
            acc_ = acc, fill_ = fill;
        }
    }
    // Room for `bits` more bits in one allocation, where the caller knows how many will come
    // (growing by doubling faulted in fresh pages at every step: level 0 encoded B02 up to a third
    // slower).
    void reserve(std::uint64_t bits) {
        const std::size_t want = used_ + std::size_t(bits / 32) + 4096 + 2;  // put_each's headroom
        if (words_.size() < want) words_.resize(want);
    }
    // Bytes written so far, counting the last partial byte.
    std::size_t size() const { return 4 * used_ + std::size_t((fill_ + 7) / 8); }
    // Appends the bits to `bytes` (one copy: no vector of their own) and starts over.
    void append_to(std::vector<std::uint8_t>& bytes) {
        const auto* words = reinterpret_cast<const std::uint8_t*>(words_.data());
        bytes.insert(bytes.end(), words, words + 4 * used_);  // a little-endian host, as bit_reader assumes
        for (std::uint64_t left = fill_; left > 0; left = left > 8 ? left - 8 : 0, acc_ >>= 8)
            bytes.push_back(std::uint8_t(acc_));
        words_.clear();
        used_ = 0;
        acc_ = 0;
        fill_ = 0;
    }

private:
    // Whole 32-bit words leave the accumulator; fewer than 32 bits stay, so a put of up to 32 more
    // cannot overflow it. Words, not bytes: a byte store may alias the accumulator, and the compiler
    // then kept it in memory, a store and a load per put.
    __attribute__((noinline)) void grow() { words_.resize(std::max<std::size_t>(1024, 2 * words_.size())); }

    std::vector<std::uint32_t> words_;  // [0, used_) written
    std::size_t used_ = 0;
    std::uint64_t acc_ = 0;
    std::uint64_t fill_ = 0;  // not int: a uint32_t store may alias an int
};

// LSB-first bit input from a 64-bit buffer refilled 8 bytes at a time. Reads past the end yield
// zero bits and are detected by overrun(), so hot loops need no error branch; callers check
// overrun() (and usually exact consumption) once at the end.
class bit_reader {
public:
    bit_reader(const std::uint8_t* data, std::size_t size) : p_(data), begin_(data), end_(data + size) {}

    // nbits in [0, 56].
    __attribute__((always_inline)) std::uint64_t get(unsigned nbits) {
        if (__builtin_expect(count_ < nbits, 0)) refill();
        const std::uint64_t v = buf_ & ((std::uint64_t(1) << nbits) - 1);
        buf_ >>= nbits;
        count_ -= nbits;
        return v;
    }
    // nbits in [0, 64].
    std::uint64_t get_wide(unsigned nbits) {
        if (nbits <= 56) return get(nbits);
        const std::uint64_t lo = get(32);
        return lo | get(nbits - 32) << 32;
    }
    std::uint64_t bits_used() const { return (std::uint64_t(p_ - begin_) + padding_) * 8 - count_; }
    // For readers that take many values at once from the bytes themselves: the bytes, and moving
    // to a bit position inside them.
    const std::uint8_t* data() const { return begin_; }
    std::size_t size() const { return std::size_t(end_ - begin_); }
    void seek(std::uint64_t bit) {  // bit <= size() * 8
        p_ = begin_ + bit / 8, buf_ = 0, count_ = 0, padding_ = 0;
        get(unsigned(bit % 8));
    }
    bool overrun() const { return bits_used() > std::uint64_t(end_ - begin_) * 8; }

private:
    void refill() {
        if (end_ - p_ >= 8) {
            std::uint64_t word;
            std::memcpy(&word, p_, 8);
            buf_ |= word << count_;
            p_ += (63 - count_) >> 3;
            count_ |= 56;
            return;
        }
        while (count_ <= 56) {  // the last bytes, then zeros
            const std::uint64_t byte = p_ < end_ ? *p_++ : (++padding_, 0);
            buf_ |= byte << count_;
            count_ += 8;
        }
    }

    const std::uint8_t* p_;
    const std::uint8_t* begin_;
    const std::uint8_t* end_;
    std::uint64_t buf_ = 0;
    unsigned count_ = 0;
    std::uint64_t padding_ = 0;  // zero bytes supplied past the end
};

inline int bit_length(std::uint64_t v) { return v ? 64 - __builtin_clzll(v) : 0; }

}  // namespace detail
}  // namespace byte2bit
