// Harness of repq_layernorm (U5, docs/arithmetic.md): per layer a start pulse (D, E, lo, hi), the
// D constants {B, G} on s_prm, then the rows of the residual stream on s_x; the codes from m_y are
// compared element by element with the golden outputs. Built with -GRESID=1 (-DREPQ_G_RESID=1) it
// runs U5r: lo, hi and the outputs are s32 residual-stream values instead of u{ABITS} codes.
//
// Plusargs (operands as in golden.h):
//   +golden=DIR
//   +x=     residual-stream rows, [S, R, D] (S layers), [R, D] or [D] (one row)
//   +g= +b= constants per channel, [S, D] or [D]        +eps_q= +lo= +hi= per layer, [S] or [1]
//   +out=   codes, as many as x
//   +seed=S +stall=PERCENT (default 20) +fst=FILE
//   +cycles=C (optional) the stall-free count layer 0 must take (perf::layernorm_cycles)
// Beats: a row is ceil(D / LANES) beats, lane l of beat b channel b*LANES + l; lanes past D carry
// junk on s_x and must be 0 on m_y. s_x_last marks the last beat of the layer's last row and must
// come back as m_y_last on the layer's last beat; busy must fall and done pulse then. The rows
// are presented from the start pulse on (the unit must not take one before its constants are
// loaded). Runs: layer 0 with every stream always valid/ready, whose cycle count from the cycle
// after the start pulse to the cycle after the last code beat was taken is printed as "C cycles
// without stalls" (perf::layernorm_cycles); every layer with random gaps on s_prm and s_x and
// back-pressure on m_y; the same cut off by a reset halfway; and again after the reset. A start
// with dim = 0 must complete at once (done, nothing taken).
#include "Vrepq_layernorm.h"
#include "stream.h"

namespace {
const char* const UNIT = "repq_layernorm";
const unsigned LANES = REPQ_PE_COLS;
#ifdef REPQ_G_RESID
const bool RESID = REPQ_G_RESID != 0;
#else
const bool RESID = false;
#endif
const unsigned OBITS = RESID ? 32 : REPQ_ABITS;
#ifdef REPQ_G_MAXD
const size_t MAXD = REPQ_G_MAXD;
#else
const size_t MAXD = REPQ_LN_MAX_DIM;
#endif
}  // namespace

int main(int argc, char** argv) {
    Verilated::commandArgs(argc, argv);
    const golden::Dir g(tb::arg_str(argc, argv, "golden", "."));
    auto arg = [&](const char* name) { return harness::operand(g, argc, argv, name); };
    const golden::Tensor x = arg("x"), gg = arg("g"), bb = arg("b"), eps = arg("eps_q"), lo = arg("lo"),
                         hi = arg("hi"), out = arg("out");
    if (gg.shape.empty() || gg.shape.size() > 2) golden::die("g " + gg.type() + ": expected [D] or [S, D]");
    const size_t D = gg.shape.back(), S = gg.shape.size() == 2 ? gg.dim(0) : 1;
    if (bb.shape != gg.shape) golden::die("b " + bb.type() + " must be shaped as g " + gg.type());
    if (D == 0 || x.v.size() % (S * D) != 0 || x.shape.empty() || x.shape.back() != D)
        golden::die("x " + x.type() + ": expected rows of D = " + std::to_string(D) + " for " + std::to_string(S) +
                    " layer(s)");
    if (out.v.size() != x.v.size()) golden::die("out " + out.type() + " must have as many codes as x " + x.type());
    harness::require_len(eps, S, "eps_q");
    harness::require_len(lo, S, "lo");
    harness::require_len(hi, S, "hi");
    if (D > MAXD)
        harness::unsupported("rows of D = " + std::to_string(D) + " channels exceed the row buffer (MAXD = " +
                             std::to_string(MAXD) + ")");
    harness::require_fits(x, 32, true, "the residual lanes (s32)");
    harness::require_fits(gg, 32, true, "G (s32)");
    harness::require_fits(bb, 48, true, "B (s48)");
    harness::require_fits(lo, OBITS, RESID, "lo");
    harness::require_fits(hi, OBITS, RESID, "hi");
    harness::require_fits(out, OBITS, RESID, RESID ? "the s32 output lanes (U5r)" : "the code lanes");
    for (size_t s = 0; s < S; s++)
        if (lo.at(s) > hi.at(s)) golden::die("layer " + std::to_string(s) + ": lo > hi");
    const size_t R = x.v.size() / (S * D), B = (D + LANES - 1) / LANES, beats = R * B;

    harness::Sim<Vrepq_layernorm> sim(argc, argv);
    auto& t = sim.top;
    std::string what;
    auto idle = [&]() {
        t.start = 0;
        t.s_prm_valid = t.s_x_valid = 0;
    };
    // One layer; returns the cycles from the cycle after its start pulse to the cycle after its last
    // code beat was taken (0 when cut off by abort_after).
    auto layer = [&](size_t s, tb::Rng& rng, unsigned stall, uint64_t abort_after) -> uint64_t {
        const std::string w = what + ", layer " + std::to_string(s);
        t.start = 1;
        t.dim = uint32_t(D);
        t.eps = uint64_t(eps.at(s));
        t.lo = uint32_t(lo.at(s));
        t.hi = uint32_t(hi.at(s));
        sim.settle();
        if (t.busy) harness::protocol(UNIT, w + ": busy before the start pulse");
        sim.edge();
        t.start = 0;
        const uint64_t c0 = sim.cycles;
        stream::Source load{D}, rows{beats};
        stream::Sink codes{beats};
        while (!codes.done()) {
            if (sim.cycles - c0 > 64 * (D + beats * (2 * LANES + 100)) + 1000)
                harness::protocol(UNIT, w + ": timeout: " + std::to_string(codes.got) + " of " +
                                            std::to_string(beats) + " code beats");
            if (abort_after && sim.cycles - c0 >= abort_after) return 0;
            t.s_prm_valid = load.pre(rng, stall, [&](size_t c) {
                tb::Words wd = stream::words(80);
                repq_put_bits(wd.data(), 0, 32, uint64_t(gg.v[s * D + c]));
                repq_put_bits(wd.data(), 32, 48, uint64_t(bb.v[s * D + c]));
                tb::set(t.s_prm_data, wd);
            });
            t.s_x_valid = rows.pre(rng, stall, [&](size_t b) {
                tb::Words wd = stream::words(LANES * 32);
                const size_t r = b / B, c0 = (b % B) * LANES;
                for (size_t l = 0; l < LANES; l++) {
                    const uint64_t v = c0 + l < D ? uint64_t(x.v[(s * R + r) * D + c0 + l]) : rng.next();
                    repq_put_bits(wd.data(), unsigned(l * 32), 32, v);
                }
                tb::set(t.s_x_data, wd);
                t.s_x_last = b + 1 == beats;
            });
            t.m_y_ready = codes.pre(rng, stall);
            sim.settle();
            codes.post(t.m_y_valid, UNIT, [&](size_t b) {
                if (bool(t.m_y_last) != (b + 1 == beats))
                    harness::protocol(UNIT, w + ": m_y_last is " + std::to_string(int(t.m_y_last)) + " on beat " +
                                                std::to_string(b) + " of " + std::to_string(beats));
                const tb::Words o = tb::get(t.m_y_data);
                const size_t r = b / B, c0 = (b % B) * LANES;
                for (size_t l = 0; l < LANES; l++) {
                    const uint64_t raw = repq_get_bits(o.data(), unsigned(l * OBITS), OBITS);
                    const int64_t got = RESID ? int64_t(int32_t(uint32_t(raw))) : int64_t(raw);
                    if (c0 + l >= D) {
                        if (got != 0)
                            harness::protocol(UNIT, w + ": lane " + std::to_string(l) + " past D is " +
                                                        std::to_string(got) + ", not 0");
                        continue;
                    }
                    const size_t i = (s * R + r) * D + c0 + l;
                    if (got != out.v[i])
                        harness::mismatch(UNIT, out, i, out.v[i], got,
                                          w + ", row " + std::to_string(r) + " channel " + std::to_string(c0 + l) +
                                              "; x = " + std::to_string(x.v[i]));
                }
            });
            if (t.done) harness::protocol(UNIT, w + ": done before the layer's last code beat was taken");
            if (t.s_x_valid && t.s_x_ready && !load.done())
                harness::protocol(UNIT, w + ": a row beat was taken before the constants were loaded");
            load.post(t.s_prm_ready);
            rows.post(t.s_x_ready);
            sim.edge();
        }
        const uint64_t cycles = sim.cycles - c0;
        idle();
        t.m_y_ready = 1;
        bool done = false;
        for (int i = 0; i < 8; i++) {
            sim.settle();
            if (t.m_y_valid) harness::protocol(UNIT, w + ": extra output beat after the last expected one");
            if (t.s_prm_ready || t.s_x_ready) harness::protocol(UNIT, w + ": still ready after the layer");
            done |= bool(t.done);
            sim.edge();
        }
        if (!done || t.busy) harness::protocol(UNIT, w + ": busy did not fall or done did not pulse");
        return cycles;
    };
    auto run = [&](tb::Rng& rng, unsigned stall, uint64_t abort_after) {
        const uint64_t c0 = sim.cycles;
        for (size_t s = 0; s < S; s++) {
            const uint64_t left = abort_after ? abort_after - std::min(abort_after - 1, sim.cycles - c0) : 0;
            if (layer(s, rng, stall, left) == 0 && abort_after) return;
        }
    };
    auto reset = [&]() {
        t.rst = 1;
        idle();
        t.m_y_ready = 0;
        for (int i = 0; i < 4; i++) sim.tick();
        t.rst = 0;
        sim.settle();
        if (t.busy || t.done || t.m_y_valid || t.s_prm_ready || t.s_x_ready)
            harness::protocol(UNIT, "busy, done, valid or ready after reset");
    };
    const unsigned seed = tb::arg_uint(argc, argv, "seed", 1);
    const unsigned stall = tb::arg_uint(argc, argv, "stall", 20);
    tb::Rng rng(seed);
    reset();
    idle();
    // dim = 0: done at once, nothing taken.
    what = "start with dim = 0";
    t.start = 1;
    t.dim = 0;
    sim.tick();
    t.start = 0;
    sim.settle();
    if (!t.done || t.busy || t.s_prm_ready || t.s_x_ready) harness::protocol(UNIT, what + ": no immediate done");
    sim.edge();
    what = "run without stalls";
    const uint64_t ideal = layer(0, rng, 0, 0);
    const long long want_cycles = (long long)tb::arg_uint(argc, argv, "cycles", 0);
    if (want_cycles && (long long)ideal != want_cycles)
        harness::protocol(UNIT, "layer 0 took " + std::to_string(ideal) + " cycles without stalls, +cycles= says " +
                                    std::to_string(want_cycles));
    const uint64_t c1 = sim.cycles;
    what = "run 1";
    run(rng, stall, 0);
    const uint64_t cycles = sim.cycles - c1;
    what = "run cut off by a reset";
    run(rng, stall, cycles / 2 + 1);
    reset();
    what = "run after a reset in mid-run";
    run(rng, stall, 0);
    std::printf("layernorm%s %s: %s [%zu layers] R=%zu D=%zu: %zu elements compared in each of 2 runs, all equal (seed "
                "%u, stall %u%%); %llu cycles without stalls\n",
                RESID ? " (U5r)" : "", harness::config(), out.name.c_str(), S, R, D, S * R * D, seed, stall, (unsigned long long)ideal);
    return 0;
}
