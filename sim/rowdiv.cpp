// Harness of repq_rowdiv (the row divider of U5 and U6, docs/arithmetic.md "Row divider"):
// floor(N / d) per numerator, compared with the golden quotients (arith::rowdiv::RowDiv).
//
// Plusargs (operands as in golden.h):
//   +golden=DIR  +d= [R] divisors (u{DW}, >= 1)  +n= [R, M] numerators (u{QW+DW}, N < d 2^QW)
//   +q= [R, M] quotients (u{QW})  +seed=S +stall=PERCENT (default 20) +fst=FILE
// The input stream is, per row, a divisor beat (s_div = 1) and then the row's M numerators. Runs
// first without gaps or back-pressure and prints that run's cycle count as "C cycles without
// stalls" (R (QW + 4) + R M + ROWDIV_LATENCY: perf::rowdiv_cycles); then with random gaps and
// back-pressure, once cut off by a reset halfway, and once more after the reset.
#include "Vrepq_rowdiv.h"
#include "stream.h"

namespace {
const char* const UNIT = "repq_rowdiv";
#ifdef REPQ_G_QW
const unsigned QW = REPQ_G_QW;
#else
const unsigned QW = 17;
#endif
#ifdef REPQ_G_DW
const unsigned DW = REPQ_G_DW;
#else
const unsigned DW = 34;
#endif
}  // namespace

int main(int argc, char** argv) {
    Verilated::commandArgs(argc, argv);
    const golden::Dir g(tb::arg_str(argc, argv, "golden", "."));
    auto arg = [&](const char* name) { return harness::operand(g, argc, argv, name); };
    const golden::Tensor d = arg("d"), n = arg("n"), q = arg("q");
    if (d.shape.size() != 1 || n.shape.size() != 2 || n.dim(0) != d.dim(0) || q.shape != n.shape)
        golden::die("d must be [R], n and q [R, M]: " + d.type() + ", " + n.type() + ", " + q.type());
    harness::require_fits(d, DW, false, "the divisor (u{DW})");
    harness::require_fits(n, QW + DW, false, "the numerator (u{QW+DW})");
    harness::require_fits(q, QW, false, "the quotient (u{QW})");
    const size_t R = n.dim(0), M = n.dim(1);
    for (size_t r = 0; r < R; r++) {
        if (d.v[r] < 1) golden::die("divisor " + std::to_string(r) + " is 0");
        for (size_t j = 0; j < M; j++)
            if (uint64_t(n.v[r * M + j]) >> QW >= uint64_t(d.v[r]))
                golden::die("numerator " + n.index(r * M + j) + " is not below d 2^QW");
    }
    const size_t beats = R * (M + 1), outs = R * M;

    harness::Sim<Vrepq_rowdiv> sim(argc, argv);
    auto& t = sim.top;
    std::string what;
    auto check = [&](size_t i) {
        const int64_t got = int64_t(t.m_q_data);
        if (got != q.v[i])
            harness::mismatch(UNIT, q, i, q.v[i], got,
                              what + "; N " + std::to_string(n.v[i]) + ", d " + std::to_string(d.v[i / M]));
    };
    auto run = [&](tb::Rng& rng, unsigned stall, uint64_t abort_after) -> uint64_t {
        stream::Source src{beats};
        stream::Sink out{outs};
        const uint64_t c0 = sim.cycles;
        while (!out.done()) {
            if (sim.cycles - c0 > 64 * beats + 64 * R * (QW + 4) + 1000)
                harness::protocol(UNIT, what + ": timeout: " + std::to_string(out.got) + " of " +
                                            std::to_string(outs) + " quotients");
            if (abort_after && sim.cycles - c0 >= abort_after) return sim.cycles - c0;
            t.s_valid = src.pre(rng, stall, [&](size_t b) {
                const size_t r = b / (M + 1), j = b % (M + 1);
                t.s_div = j == 0;
                t.s_data = j == 0 ? uint64_t(d.v[r]) : uint64_t(n.v[r * M + j - 1]);
            });
            t.m_q_ready = out.pre(rng, stall);
            sim.settle();
            out.post(t.m_q_valid, UNIT, check);
            src.post(t.s_ready);
            sim.edge();
        }
        const uint64_t cycles = sim.cycles - c0;
        t.s_valid = 0;
        t.m_q_ready = 1;
        for (int i = 0; i < 16; i++) {
            sim.settle();
            if (t.m_q_valid) harness::protocol(UNIT, what + ": extra quotient after the last expected one");
            sim.edge();
        }
        return cycles;
    };
    auto reset = [&]() {
        t.rst = 1;
        t.s_valid = 0;
        t.m_q_ready = 0;
        for (int i = 0; i < 4; i++) sim.tick();
        t.rst = 0;
    };
    const unsigned seed = tb::arg_uint(argc, argv, "seed", 1);
    const unsigned stall = tb::arg_uint(argc, argv, "stall", 20);
    tb::Rng rng(seed);
    reset();
    what = "run without stalls";
    const uint64_t ideal = run(rng, 0, 0);
    what = "run 1";
    const uint64_t cycles = run(rng, stall, 0);
    what = "run cut off by a reset";
    run(rng, stall, cycles / 2 + 1);
    reset();
    what = "run after a reset in mid-run";
    run(rng, stall, 0);
    std::printf("rowdiv QW=%u DW=%u: %s R=%zu M=%zu: %zu elements compared in each of 3 runs, all equal (seed %u, "
                "stall %u%%); %llu cycles without stalls\n",
                QW, DW, q.name.c_str(), R, M, outs, seed, stall, (unsigned long long)ideal);
    return 0;
}
