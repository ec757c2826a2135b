// Harness of the standalone requantization unit repq_requant (U2, docs/arithmetic.md):
//   y = clamp(round_shift(acc * m0, shift) + zero_point, lo, hi)
// element by element, compared with the golden outputs.
//
// Plusargs (operands as in golden.h: NAME, NAME[i] or #CONSTANT):
//   +golden=DIR
//   +acc= +m0= +shift= +zero_point= +lo= +hi=   each shaped as out, or one value (broadcast)
//   +out=        the expected outputs, any shape
//   +seed=S +stall=PERCENT (default 10) +fst=FILE
// The unit's parameters come from the design (LANES = REPQ_REQUANT_LANES, ACC = REPQ_ACC_BITS,
// OBITS = REPQ_OUT_LANE_BITS) unless the build overrides them (-GLANES=.. with -DREPQ_G_LANES=..,
// as build_harness_with in src/verify/build.rs does); SIDE stays 1. Each beat carries LANES
// consecutive elements (the last beat is padded with zeros, whose outputs are ignored). The unit
// has no back-pressure: input beats come with random gaps, and every output beat must follow its
// input beat after exactly REPQ_REQUANT_LATENCY cycles, in order, with its side bit. Runs once,
// once cut off by a reset halfway, and once more after the reset (nothing in flight may come out).
#include <vector>

#include "Vrepq_requant.h"
#include "harness.h"

#ifndef REPQ_G_LANES
#define REPQ_G_LANES REPQ_REQUANT_LANES
#endif
#ifndef REPQ_G_ACC
#define REPQ_G_ACC REPQ_ACC_BITS
#endif
#ifndef REPQ_G_OBITS
#ifdef REPQ_OUT_LANE_BITS
#define REPQ_G_OBITS REPQ_OUT_LANE_BITS
#else
#define REPQ_G_OBITS REPQ_ABITS
#endif
#endif

namespace {

const unsigned LANES = REPQ_G_LANES;
const unsigned ACC = REPQ_G_ACC;
const unsigned OBITS = REPQ_G_OBITS;

std::string unit() {
    return "repq_requant (LANES=" + std::to_string(LANES) + " ACC=" + std::to_string(ACC) +
           " OBITS=" + std::to_string(OBITS) + ")";
}

tb::Words lanes(unsigned bits) { return tb::Words((LANES * bits + 31) / 32 + 1, 0); }

struct Operands {
    const golden::Tensor *acc, *m0, *shift, *zp, *lo, *hi, *out;
    size_t n = 0;
    int64_t get(const golden::Tensor& t, size_t i) const { return t.v.size() == 1 ? t.v[0] : t.v[i]; }
};

void reset(harness::Sim<Vrepq_requant>& s) {
    s.top.rst = 1;
    s.top.in_valid = 0;
    s.top.in_side = 0;
    for (int i = 0; i < 4; i++) s.tick();
    s.top.rst = 0;
}

// One run over every beat; returns the cycles from the first to the cycle after the last output
// beat. abort_after > 0 stops the run after that many cycles (a reset follows).
uint64_t run(harness::Sim<Vrepq_requant>& s, const Operands& o, tb::Rng& rng, unsigned stall,
             uint64_t abort_after, const std::string& what) {
    auto& t = s.top;
    const size_t beats = (o.n + LANES - 1) / LANES;
    std::vector<uint64_t> sent_at(beats);
    size_t sent = 0, got = 0;
    const uint64_t c0 = s.cycles;
    while (got < beats) {
        if (s.cycles - c0 > 64 * beats + 1000)
            harness::protocol(unit(), what + ": timeout: " + std::to_string(got) + " of " + std::to_string(beats) +
                                          " output beats after " + std::to_string(sent) + " input beats");
        if (abort_after && s.cycles - c0 >= abort_after) return s.cycles - c0;
        const bool send = sent < beats && !rng.chance(stall);
        t.in_valid = send;
        if (send) {
            tb::Words acc = lanes(ACC), m0 = lanes(31), sh = lanes(6), zp = lanes(32), lo = lanes(32), hi = lanes(32);
            for (unsigned l = 0; l < LANES; l++) {
                const size_t i = sent * LANES + l;
                if (i >= o.n) {
                    repq_put_bits(sh.data(), l * 6, 6, 1);  // padding: m0 = 0, y = 0
                    continue;
                }
                repq_put_bits(acc.data(), l * ACC, ACC, uint64_t(o.get(*o.acc, i)));
                repq_put_bits(m0.data(), l * 31, 31, uint64_t(o.get(*o.m0, i)));
                repq_put_bits(sh.data(), l * 6, 6, uint64_t(o.get(*o.shift, i)));
                repq_put_bits(zp.data(), l * 32, 32, uint64_t(o.get(*o.zp, i)));
                repq_put_bits(lo.data(), l * 32, 32, uint64_t(o.get(*o.lo, i)));
                repq_put_bits(hi.data(), l * 32, 32, uint64_t(o.get(*o.hi, i)));
            }
            tb::set(t.acc, acc);
            tb::set(t.m0, m0);
            tb::set(t.shift, sh);
            tb::set(t.zp, zp);
            tb::set(t.lo, lo);
            tb::set(t.hi, hi);
            t.in_side = sent & 1;
        }
        s.settle();
        if (t.out_valid) {
            if (got >= sent) harness::protocol(unit(), what + ": an output beat without an input beat");
            if (s.cycles - sent_at[got] != REPQ_REQUANT_LATENCY)
                harness::protocol(unit(), what + ": output beat " + std::to_string(got) + " came " +
                                              std::to_string(s.cycles - sent_at[got]) +
                                              " cycles after its input, not REPQ_REQUANT_LATENCY = " +
                                              std::to_string(REPQ_REQUANT_LATENCY));
            if (unsigned(t.out_side) != (got & 1))
                harness::protocol(unit(), what + ": the side bit of output beat " + std::to_string(got) + " is wrong");
            const tb::Words y = tb::get(t.y);
            for (unsigned l = 0; l < LANES; l++) {
                const size_t i = got * LANES + l;
                if (i >= o.n) break;
                const uint64_t x = repq_get_bits(y.data(), l * OBITS, OBITS);
                int64_t g = int64_t(x);
                if (o.out->is_signed && OBITS < 64 && ((x >> (OBITS - 1)) & 1))
                    g = int64_t(x - (uint64_t(1) << OBITS));
                if (g != o.out->v[i])
                    harness::mismatch(unit(), *o.out, i, o.out->v[i], g,
                                      what + ", output beat " + std::to_string(got) + " lane " + std::to_string(l) +
                                          "; acc " + std::to_string(o.get(*o.acc, i)) + ", m0 " +
                                          std::to_string(o.get(*o.m0, i)) + ", shift " +
                                          std::to_string(o.get(*o.shift, i)) + ", zero_point " +
                                          std::to_string(o.get(*o.zp, i)) + ", lo " +
                                          std::to_string(o.get(*o.lo, i)) + ", hi " + std::to_string(o.get(*o.hi, i)));
            }
            got++;
        }
        if (send) sent_at[sent++] = s.cycles;
        s.edge();
    }
    const uint64_t cycles = s.cycles - c0;
    t.in_valid = 0;
    for (unsigned i = 0; i < REPQ_REQUANT_LATENCY + 4; i++) {
        s.settle();
        if (t.out_valid) harness::protocol(unit(), what + ": extra output beat after the last expected one");
        s.edge();
    }
    return cycles;
}

}  // namespace

int main(int argc, char** argv) {
    Verilated::commandArgs(argc, argv);
    const golden::Dir g(tb::arg_str(argc, argv, "golden", "."));
    auto arg = [&](const char* name) { return harness::operand(g, argc, argv, name); };
    const golden::Tensor acc = arg("acc"), m0 = arg("m0"), shift = arg("shift"), zp = arg("zero_point"),
                         lo = arg("lo"), hi = arg("hi"), out = arg("out");
    if (out.constant()) golden::die("out " + out.name + " must be a tensor (it gives the shape)");
    const Operands o{&acc, &m0, &shift, &zp, &lo, &hi, &out, out.v.size()};
    for (auto* t : {&acc, &m0, &shift, &zp, &lo, &hi}) harness::require_len(*t, o.n, "operand");
    if (ACC > 32 || OBITS > 32) harness::unsupported(unit() + ": ACC and OBITS must be at most 32");
    harness::require_fits(acc, ACC, true, "the accumulator lanes (ACC)");
    harness::require_fits(m0, 31, false, "m0");
    harness::require_fits(zp, 32, true, "zero_point");
    harness::require_fits(lo, 32, true, "lo");
    harness::require_fits(hi, 32, true, "hi");
    harness::require_fits(out, OBITS, out.is_signed, "the output lanes (OBITS)");
    for (size_t i = 0; i < shift.v.size(); i++)
        if (shift.v[i] < 1 || shift.v[i] > 62)
            harness::unsupported("shift " + std::to_string(shift.v[i]) + " of " + shift.name +
                                 (shift.constant() ? "" : " " + shift.index(i)) + " is outside 1 .. 62");
    // Bounds with lo > hi are refused (docs/arithmetic.md, U2): the RTL would return lo where
    // min(max(y, lo), hi) gives hi.
    for (size_t i = 0; i < o.n; i++)
        if (o.get(lo, i) > o.get(hi, i))
            harness::unsupported("lo " + std::to_string(o.get(lo, i)) + " > hi " + std::to_string(o.get(hi, i)) +
                                 " at element " + std::to_string(i) + " of " + lo.name + " / " + hi.name);

    const unsigned seed = tb::arg_uint(argc, argv, "seed", 1);
    const unsigned stall = tb::arg_uint(argc, argv, "stall", 10);
    tb::Rng rng(seed);
    harness::Sim<Vrepq_requant> s(argc, argv);
    s.top.clk = 0;
    reset(s);
    const uint64_t cycles = run(s, o, rng, stall, 0, "run 1");
    run(s, o, rng, stall, cycles / 2 + 1, "run cut off by a reset");
    reset(s);
    run(s, o, rng, stall, 0, "run after a reset in mid-run");
    std::printf("requant %s LANES=%u ACC=%u OBITS=%u: %s: %zu outputs equal in each of 2 runs (%zu beats, "
                "seed %u, stall %u%%)\n",
                harness::config(), LANES, ACC, OBITS, out.name.c_str(), o.n, (o.n + LANES - 1) / LANES, seed,
                stall);
    return 0;
}
