// Harness of repq_avgpool (docs/arithmetic.md, "Average pooling"): per job a start pulse (D, T and
// the head input's U2 constants), then the T rows on s_x; the pooled row from m_out is compared
// lane by lane with the golden averages (m_out_avg, s32) and codes (m_out_code, u{ABITS}).
//
// Plusargs (operands as in golden.h):
//   +golden=DIR
//   +x=     rows, [S, T, D] (S jobs) or [T, D] (one job)
//   +avg=   the pooled rows, S D values          +code= their head input codes, S D values
//   +m0= +shift= +zero_point= +lo= +hi=   the U2 constants per job, [S] or one value
//   +seed=S +stall=PERCENT (default 20) +fst=FILE
//   +cycles=C (optional) the stall-free count job 0 must take (perf::avgpool_cycles)
// Beats: a row is ceil(D / LANES) beats, lane l of beat b channel b*LANES + l; lanes past D carry
// junk on s_x and must be 0 on m_out. m_out_last marks the pooled row's last beat; busy must fall
// and done pulse when it is taken. Runs: job 0 with every stream always valid/ready, whose cycle
// count from the cycle after the start pulse to the cycle after the last beat was taken is
// printed as "C cycles without stalls"; every job with random gaps on s_x and back-pressure on
// m_out; the same cut off by a reset halfway; and again after the reset. Starts with dim = 0 and
// with tokens = 0 must complete at once (done, nothing taken).
#include "Vrepq_avgpool.h"
#include "stream.h"

namespace {
const char* const UNIT = "repq_avgpool";
const unsigned LANES = REPQ_PE_COLS;
const unsigned ABITS = REPQ_ABITS;
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
    const golden::Tensor x = arg("x"), avg = arg("avg"), code = arg("code"), m0 = arg("m0"), sh = arg("shift"),
                         zp = arg("zero_point"), lo = arg("lo"), hi = arg("hi");
    if (x.shape.size() != 2 && x.shape.size() != 3) golden::die("x " + x.type() + ": expected [T, D] or [S, T, D]");
    const size_t S = x.shape.size() == 3 ? x.dim(0) : 1, T = x.dim(x.shape.size() - 2), D = x.shape.back();
    if (D == 0 || T == 0) golden::die("x " + x.type() + ": no rows or no channels");
    if (avg.v.size() != S * D) golden::die("avg " + avg.type() + ": expected " + std::to_string(S * D) + " values");
    if (code.v.size() != S * D) golden::die("code " + code.type() + ": expected " + std::to_string(S * D) + " values");
    for (auto* c : {&m0, &sh, &zp, &lo, &hi}) harness::require_len(*c, S, c->name);
    if (D > MAXD)
        harness::unsupported("rows of D = " + std::to_string(D) + " channels exceed the sum memory (MAXD = " +
                             std::to_string(MAXD) + ")");
    if (T >= (size_t(1) << REPQ_POOL_TOKEN_BITS))
        harness::unsupported("T = " + std::to_string(T) + " rows exceed the token counter (TW = " +
                             std::to_string(REPQ_POOL_TOKEN_BITS) + " bits)");
    harness::require_fits(x, 32, true, "the input lanes (s32)");
    harness::require_fits(avg, 32, true, "the average lanes (s32)");
    harness::require_fits(code, ABITS, false, "the code lanes");
    harness::require_fits(m0, 31, false, "m0");
    harness::require_fits(zp, 32, true, "zero_point");
    harness::require_fits(lo, 32, true, "lo");
    harness::require_fits(hi, 32, true, "hi");
    for (size_t s = 0; s < S; s++)
        if (sh.at(s) < 1 || sh.at(s) > 62) golden::die("job " + std::to_string(s) + ": shift outside 1 .. 62");
    const size_t B = (D + LANES - 1) / LANES, beats = T * B;

    harness::Sim<Vrepq_avgpool> sim(argc, argv);
    auto& t = sim.top;
    std::string what;
    auto idle = [&]() {
        t.start = 0;
        t.s_x_valid = 0;
    };
    // One job; returns the cycles from the cycle after its start pulse to the cycle after its last
    // beat was taken (0 when cut off by abort_after).
    auto job = [&](size_t s, tb::Rng& rng, unsigned stall, uint64_t abort_after) -> uint64_t {
        const std::string w = what + ", job " + std::to_string(s);
        t.start = 1;
        t.dim = uint32_t(D);
        t.tokens = uint32_t(T);
        t.m0 = uint32_t(m0.at(s));
        t.shift = uint32_t(sh.at(s));
        t.zp = uint32_t(zp.at(s));
        t.lo = uint32_t(lo.at(s));
        t.hi = uint32_t(hi.at(s));
        sim.settle();
        if (t.busy) harness::protocol(UNIT, w + ": busy before the start pulse");
        sim.edge();
        t.start = 0;
        const uint64_t c0 = sim.cycles;
        stream::Source rows{beats};
        stream::Sink out{B};
        while (!out.done()) {
            if (sim.cycles - c0 > 64 * (beats + B * (LANES + 40)) + 1000)
                harness::protocol(UNIT, w + ": timeout: " + std::to_string(out.got) + " of " + std::to_string(B) +
                                            " output beats");
            if (abort_after && sim.cycles - c0 >= abort_after) return 0;
            t.s_x_valid = rows.pre(rng, stall, [&](size_t b) {
                tb::Words wd = stream::words(LANES * 32);
                const size_t r = b / B, ch0 = (b % B) * LANES;
                for (size_t l = 0; l < LANES; l++) {
                    const uint64_t v = ch0 + l < D ? uint64_t(x.v[(s * T + r) * D + ch0 + l]) : rng.next();
                    repq_put_bits(wd.data(), unsigned(l * 32), 32, v);
                }
                tb::set(t.s_x_data, wd);
            });
            t.m_out_ready = out.pre(rng, stall);
            sim.settle();
            if (t.m_out_valid && rows.sent < beats)
                harness::protocol(UNIT, w + ": an output beat before the last row was taken");
            out.post(t.m_out_valid, UNIT, [&](size_t b) {
                if (bool(t.m_out_last) != (b + 1 == B))
                    harness::protocol(UNIT, w + ": m_out_last is " + std::to_string(int(t.m_out_last)) + " on beat " +
                                                std::to_string(b) + " of " + std::to_string(B));
                const tb::Words oa = tb::get(t.m_out_avg), oc = tb::get(t.m_out_code);
                for (size_t l = 0; l < LANES; l++) {
                    const size_t ch = b * LANES + l;
                    const int64_t ga = stream::sext(repq_get_bits(oa.data(), unsigned(l * 32), 32), 32);
                    const int64_t gc = int64_t(repq_get_bits(oc.data(), unsigned(l * ABITS), ABITS));
                    if (ch >= D) {
                        if (ga != 0 || gc != 0)
                            harness::protocol(UNIT, w + ": lane " + std::to_string(l) + " past D is " +
                                                        std::to_string(ga) + " / " + std::to_string(gc) + ", not 0");
                        continue;
                    }
                    const size_t i = s * D + ch;
                    const std::string where = w + ", channel " + std::to_string(ch);
                    if (ga != avg.v[i]) harness::mismatch(UNIT, avg, i, avg.v[i], ga, where + " (average)");
                    if (gc != code.v[i]) harness::mismatch(UNIT, code, i, code.v[i], gc, where + " (code)");
                }
            });
            if (t.done) harness::protocol(UNIT, w + ": done before the last output beat was taken");
            rows.post(t.s_x_ready);
            sim.edge();
        }
        const uint64_t cycles = sim.cycles - c0;
        idle();
        t.m_out_ready = 1;
        bool done = false;
        for (int i = 0; i < 8; i++) {
            sim.settle();
            if (t.m_out_valid) harness::protocol(UNIT, w + ": extra output beat after the last expected one");
            if (t.s_x_ready) harness::protocol(UNIT, w + ": still ready after the job");
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
            if (job(s, rng, stall, left) == 0 && abort_after) return;
        }
    };
    auto reset = [&]() {
        t.rst = 1;
        idle();
        t.m_out_ready = 0;
        for (int i = 0; i < 4; i++) sim.tick();
        t.rst = 0;
        sim.settle();
        if (t.busy || t.done || t.m_out_valid || t.s_x_ready)
            harness::protocol(UNIT, "busy, done, valid or ready after reset");
    };
    const unsigned seed = tb::arg_uint(argc, argv, "seed", 1);
    const unsigned stall = tb::arg_uint(argc, argv, "stall", 20);
    tb::Rng rng(seed);
    reset();
    idle();
    for (int bad = 0; bad < 2; bad++) {
        what = bad == 0 ? "start with dim = 0" : "start with tokens = 0";
        t.start = 1;
        t.dim = bad == 0 ? 0 : uint32_t(D);
        t.tokens = bad == 0 ? uint32_t(T) : 0;
        sim.tick();
        t.start = 0;
        sim.settle();
        if (!t.done || t.busy || t.s_x_ready) harness::protocol(UNIT, what + ": no immediate done");
        sim.edge();
    }
    what = "run without stalls";
    const uint64_t ideal = job(0, rng, 0, 0);
    const long long want_cycles = (long long)tb::arg_uint(argc, argv, "cycles", 0);
    if (want_cycles && (long long)ideal != want_cycles)
        harness::protocol(UNIT, "job 0 took " + std::to_string(ideal) + " cycles without stalls, +cycles= says " +
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
    std::printf("avgpool %s: %s, %s [%zu jobs] T=%zu D=%zu: %zu elements compared in each of 2 runs, all equal (seed "
                "%u, stall %u%%); %llu cycles without stalls\n",
                harness::config(), avg.name.c_str(), code.name.c_str(), S, T, D, 2 * S * D, seed, stall,
                (unsigned long long)ideal);
    return 0;
}
