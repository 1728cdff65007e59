// Single-thread C++ timing of each level on 512 x 512 tiles of a raw array, for codec work (the
// tables users read come from `python -m byte2bit.bench` and anchor_bench.py):
//     bench_codec FILE.raw DTYPE ROWS COLS [LEVELS=0,1,4] [REPS=5] [TILE=512]
// (TILE 0: the whole array as one stream). Prints ratio and encode/decode MB/s (raw bytes / best time); every decode is checked bit for bit.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "byte2bit/byte2bit.hpp"

using clock_type = std::chrono::steady_clock;

int main(int argc, char** argv) {
    if (argc < 5) {
        std::fprintf(stderr, "usage: %s FILE.raw DTYPE ROWS COLS [LEVELS=0,1,4] [REPS=5] [TILE=512]\n", argv[0]);
        return 2;
    }
    byte2bit::dtype type{};
    bool known = false;
    for (int code = 1; code <= 14 && !known; ++code)
        if (std::strcmp(byte2bit::dtype_name(byte2bit::dtype(code)), argv[2]) == 0) type = byte2bit::dtype(code), known = true;
    if (!known) {
        std::fprintf(stderr, "unknown dtype %s\n", argv[2]);
        return 2;
    }
    const std::size_t rows = std::strtoull(argv[3], nullptr, 10), cols = std::strtoull(argv[4], nullptr, 10);
    const std::size_t item = byte2bit::dtype_size(type);
    std::vector<int> levels;
    std::stringstream ls(argc > 5 ? argv[5] : "0,1,4");
    for (std::string l; std::getline(ls, l, ',');) levels.push_back(std::atoi(l.c_str()));
    const int reps = argc > 6 ? std::atoi(argv[6]) : 5;
    std::size_t tile = argc > 7 ? std::strtoull(argv[7], nullptr, 10) : 512;
    if (tile == 0) tile = std::max(rows, cols);

    std::ifstream f(argv[1], std::ios::binary);
    std::vector<char> all(rows * cols * item);
    if (!f.read(all.data(), std::streamsize(all.size()))) {
        std::fprintf(stderr, "%s: fewer than %zu bytes\n", argv[1], all.size());
        return 2;
    }
    std::vector<std::vector<char>> tiles;
    std::vector<std::vector<std::uint64_t>> shapes;
    for (std::size_t y = 0; y < rows; y += tile)
        for (std::size_t x = 0; x < cols; x += tile) {
            const std::size_t h = std::min(tile, rows - y), w = std::min(tile, cols - x);
            std::vector<char> t(h * w * item);
            for (std::size_t r = 0; r < h; ++r)
                std::memcpy(&t[r * w * item], &all[((y + r) * cols + x) * item], w * item);
            tiles.push_back(std::move(t));
            shapes.push_back({h, w});
        }
    std::printf("%s: %zu tiles of up to %zu x %zu %s, best of %d\n", argv[1], tiles.size(), tile, tile, argv[2], reps);
    std::printf("level  ratio    encode MB/s  decode MB/s\n");
    for (int level : levels) {
        byte2bit::encode_options o;
        o.level = level;
        std::vector<std::vector<std::uint8_t>> streams(tiles.size());
        double enc = 1e30, dec = 1e30;
        std::size_t stored = 0;
        for (int r = 0; r < reps; ++r) {
            auto t0 = clock_type::now();
            for (std::size_t i = 0; i < tiles.size(); ++i)
                streams[i] = byte2bit::encode(tiles[i].data(), tiles[i].size(), type, 0, shapes[i], o);
            enc = std::min(enc, std::chrono::duration<double>(clock_type::now() - t0).count());
        }
        std::vector<char> out;
        for (int r = 0; r < reps; ++r) {
            double t = 0;
            for (std::size_t i = 0; i < tiles.size(); ++i) {
                out.resize(tiles[i].size());
                auto t0 = clock_type::now();
                byte2bit::decode(streams[i].data(), streams[i].size(), out.data(), out.size());
                t += std::chrono::duration<double>(clock_type::now() - t0).count();
                if (out != tiles[i]) {
                    std::fprintf(stderr, "level %d: tile %zu does not decode to its data\n", level, i);
                    return 1;
                }
            }
            dec = std::min(dec, t);
        }
        for (auto& s : streams) stored += s.size();
        std::printf("%5d  %7.4f  %11.1f  %11.1f\n", level, double(all.size()) / double(stored), all.size() / enc / 1e6,
                    all.size() / dec / 1e6);
    }
}
