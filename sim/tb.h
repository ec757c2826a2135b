// Low-level helpers of the Verilator harnesses in sim/: beats as 32-bit words, port access for
// every Verilator port type, a deterministic random source, and plusargs.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "verilated.h"

namespace tb {

using Words = std::vector<uint32_t>;  // least significant word first

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
