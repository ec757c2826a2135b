// Shared helpers of the Verilator testbenches in sim/: vector files, port access for every
// Verilator port type, a deterministic random source, and mismatch reporting. Vector files hold
// one beat per line, space-separated hexadecimal fields (most significant digit first, as
// src/rtl/streams.rs `beat_hex` writes them); `#` starts a comment line.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "verilated.h"

namespace tb {

using Words = std::vector<uint32_t>;  // least significant word first

inline Words parse_hex(const std::string& s) {
    Words w((s.size() * 4 + 31) / 32 + 1, 0);
    size_t bit = 0;
    for (size_t i = s.size(); i-- > 0; bit += 4) {
        char c = s[i];
        uint32_t v = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                   : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : 99;
        if (v == 99) {
            std::fprintf(stderr, "bad hex digit '%c' in '%s'\n", c, s.c_str());
            std::exit(2);
        }
        w[bit / 32] |= v << (bit % 32);
    }
    return w;
}

inline std::string to_hex(const Words& w, unsigned bits) {
    std::string s;
    for (unsigned d = (bits + 3) / 4; d-- > 0;) {
        unsigned v = (w[d * 4 / 32] >> (d * 4 % 32)) & 0xf;
        s.push_back("0123456789abcdef"[v]);
    }
    return s;
}

// Lines of `path`, each split into hex fields.
inline std::vector<std::vector<Words>> read_vectors(const std::string& path) {
    std::ifstream f(path);
    if (!f) {
        std::fprintf(stderr, "cannot open %s\n", path.c_str());
        std::exit(2);
    }
    std::vector<std::vector<Words>> rows;
    std::string line;
    while (std::getline(f, line)) {
        if (line.empty() || line[0] == '#') continue;
        std::istringstream is(line);
        std::vector<Words> row;
        std::string field;
        while (is >> field) row.push_back(parse_hex(field));
        rows.push_back(row);
    }
    return rows;
}

inline uint64_t lo64(const Words& w) {
    return w[0] | (w.size() > 1 ? uint64_t(w[1]) << 32 : 0);
}

// Port setters and getters for every Verilator port type.
inline void set(CData& p, const Words& w) { p = CData(w[0]); }
inline void set(SData& p, const Words& w) { p = SData(w[0]); }
inline void set(IData& p, const Words& w) { p = w[0]; }
inline void set(QData& p, const Words& w) { p = lo64(w); }
template <std::size_t N> void set(VlWide<N>& p, const Words& w) {
    for (std::size_t i = 0; i < N; i++) p[i] = i < w.size() ? w[i] : 0;
}
inline Words get(CData p) { return Words{p}; }
inline Words get(SData p) { return Words{p}; }
inline Words get(IData p) { return Words{p}; }
inline Words get(QData p) { return Words{uint32_t(p), uint32_t(p >> 32)}; }
template <std::size_t N> Words get(const VlWide<N>& p) {
    Words w(N);
    for (std::size_t i = 0; i < N; i++) w[i] = p[i];
    return w;
}

// Equality of the low `bits` bits.
inline bool equal(const Words& a, const Words& b, unsigned bits) {
    for (unsigned i = 0; i < bits; i++) {
        uint32_t x = i / 32 < a.size() ? (a[i / 32] >> (i % 32)) & 1 : 0;
        uint32_t y = i / 32 < b.size() ? (b[i / 32] >> (i % 32)) & 1 : 0;
        if (x != y) return false;
    }
    return true;
}

// xorshift64*: deterministic stalls from a seed.
struct Rng {
    uint64_t s;
    explicit Rng(uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull + 1) {}
    uint64_t next() {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        return s * 0x2545F4914F6CDD1Dull;
    }
    // true with probability percent / 100
    bool chance(unsigned percent) { return next() % 100 < percent; }
};

[[noreturn]] inline void fail(const char* what, size_t index, const Words& want, const Words& got,
                              unsigned bits) {
    std::fprintf(stderr, "MISMATCH %s at beat %zu: expected %s, got %s\n", what, index,
                 to_hex(want, bits).c_str(), to_hex(got, bits).c_str());
    std::exit(1);
}

inline unsigned arg_uint(int argc, char** argv, const char* name, unsigned dflt) {
    std::string key = std::string("+") + name + "=";
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        if (a.rfind(key, 0) == 0) return unsigned(std::stoul(a.substr(key.size())));
    }
    return dflt;
}

inline std::string arg_str(int argc, char** argv, const char* name, const char* dflt) {
    std::string key = std::string("+") + name + "=";
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        if (a.rfind(key, 0) == 0) return a.substr(key.size());
    }
    return dflt;
}

}  // namespace tb
