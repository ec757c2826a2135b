// Ready/valid stream endpoints for the harnesses of the units after the array (sim/residual.cpp,
// sim/gelu.cpp, sim/av_requant.cpp), whose ports follow verilog-axis names (s_NAME_valid/ready,
// m_NAME_valid/ready) and which may have several input streams: a Source presents beats with
// random gaps, a Sink takes them with random back-pressure. Per cycle: call pre() on every
// endpoint (sets valid / ready), settle the model, call post() with the handshake signals, then
// the clock edge. Also the lane order of repq_top's m_out stream, which these units take.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "harness.h"

namespace stream {

// Presents beats 0 .. n-1 in order; a beat is held until taken, and a new one is presented
// after a random gap (probability `stall` percent per cycle).
struct Source {
    size_t n = 0, sent = 0;
    bool presenting = false;
    // Before settle: returns valid, and puts beat `sent` on the ports through `drive` when valid.
    bool pre(tb::Rng& rng, unsigned stall, const std::function<void(size_t)>& drive) {
        if (!presenting && sent < n && !rng.chance(stall)) presenting = true;
        if (presenting) drive(sent);
        return presenting;
    }
    // After settle, with the port's ready: true when the beat moved.
    bool post(bool ready) {
        if (presenting && ready) {
            presenting = false;
            sent++;
            return true;
        }
        return false;
    }
    bool done() const { return sent == n; }
};

// Takes beats 0 .. n-1; not ready with probability `stall` percent per cycle.
struct Sink {
    size_t n = 0, got = 0;
    bool ready = false;
    bool pre(tb::Rng& rng, unsigned stall) {
        ready = !rng.chance(stall);
        return ready;
    }
    // After settle, with the port's valid: checks beat `got` through `check` when it moves; a beat
    // beyond n is a protocol error.
    bool post(bool valid, const std::string& unit, const std::function<void(size_t)>& check) {
        if (!(valid && ready)) return false;
        if (got >= n) harness::protocol(unit, "extra output beat");
        check(got);
        got++;
        return true;
    }
    bool done() const { return got == n; }
};

// The beats of an [M, N] matrix in the order of repq_top's m_out (M tiles of TM rows, N tiles of
// C columns, rows inner): beat b holds row rows[b] and columns col0[b] .. col0[b] + C - 1 (those
// at or past N are padding).
struct MoutOrder {
    std::vector<size_t> rows, col0;
    MoutOrder(size_t m, size_t n, size_t c, size_t tm) {
        for (size_t m0 = 0; m0 < m; m0 += tm)
            for (size_t n0 = 0; n0 < n; n0 += c)
                for (size_t r = m0; r < std::min(m, m0 + tm); r++) {
                    rows.push_back(r);
                    col0.push_back(n0);
                }
    }
    size_t size() const { return rows.size(); }
};

// Sign-extends the low `bits` bits of x.
inline int64_t sext(uint64_t x, unsigned bits) {
    if (bits < 64 && ((x >> (bits - 1)) & 1)) return int64_t(x - (uint64_t(1) << bits));
    return int64_t(x);
}

// Words for a beat of `bits` bits (one spare word, as the other harnesses do).
inline tb::Words words(unsigned bits) { return tb::Words((bits + 31) / 32 + 1, 0); }

}  // namespace stream
