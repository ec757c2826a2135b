// Harness of repq_residual (U8, docs/arithmetic.md): x' = sat32(x + y), compared element by
// element with the golden outputs.
//
// Plusargs (operands as in golden.h):
//   +golden=DIR  +x= [M, N] residual stream (s32)  +y= [M, N] increments (s{YBITS})  +out= [M, N]
//   +seed=S +stall=PERCENT (default 20) +fst=FILE
// Beats follow repq_top's m_out order (M tiles of REPQ_M_TILE rows, N tiles of REPQ_PE_COLS
// columns, rows inner; lanes past N are 0 and must come out 0); s_inc_last marks the last beat
// and must come back on m_res_last. Runs first with both inputs always valid and the output always
// ready and prints that run's cycle count as "C cycles without stalls" (first beat's cycle to the
// cycle after the last output beat was taken: perf::residual_cycles); then with random gaps on
// s_res and s_inc (independently) and back-pressure on m_res, once cut off by a reset halfway,
// and once more after the reset.
#include "Vrepq_residual.h"
#include "stream.h"

namespace {
const char* const UNIT = "repq_residual";
const unsigned LANES = REPQ_PE_COLS;
const unsigned YBITS = REPQ_RESIDUAL_YBITS;
}  // namespace

int main(int argc, char** argv) {
    Verilated::commandArgs(argc, argv);
    const golden::Dir g(tb::arg_str(argc, argv, "golden", "."));
    auto arg = [&](const char* name) { return harness::operand(g, argc, argv, name); };
    const golden::Tensor x = arg("x"), y = arg("y"), out = arg("out");
    if (x.shape.size() != 2 || y.shape != x.shape || out.shape != x.shape)
        golden::die("x, y and out must be matrices of one shape: " + x.type() + ", " + y.type() + ", " +
                    out.type());
    harness::require_fits(x, 32, true, "the residual lanes (s32)");
    harness::require_fits(y, YBITS, true, "the increment lanes (s{YBITS}, repq_top's output lanes)");
    harness::require_fits(out, 32, true, "the output lanes (s32)");
    const size_t M = x.dim(0), N = x.dim(1);
    const stream::MoutOrder order(M, N, LANES, REPQ_M_TILE);
    const size_t beats = order.size();

    harness::Sim<Vrepq_residual> sim(argc, argv);
    auto& t = sim.top;
    auto lanes = [&](const golden::Tensor& src, unsigned bits, size_t b) {
        tb::Words w = stream::words(LANES * bits);
        for (size_t l = 0; l < LANES && order.col0[b] + l < N; l++)
            repq_put_bits(w.data(), unsigned(l * bits), bits, uint64_t(src.v[order.rows[b] * N + order.col0[b] + l]));
        return w;
    };
    std::string what;
    auto check = [&](size_t b) {
        const tb::Words o = tb::get(t.m_res_data);
        if (bool(t.m_res_last) != (b + 1 == beats))
            harness::protocol(UNIT, what + ": m_res_last is " + std::to_string(int(t.m_res_last)) + " on beat " +
                                        std::to_string(b) + " of " + std::to_string(beats));
        for (size_t l = 0; l < LANES; l++) {
            const int64_t got = stream::sext(repq_get_bits(o.data(), unsigned(l * 32), 32), 32);
            const size_t col = order.col0[b] + l;
            if (col >= N) {
                if (got != 0)
                    harness::protocol(UNIT, what + ": padding lane " + std::to_string(l) + " of beat " +
                                                std::to_string(b) + " is " + std::to_string(got) + ", not 0");
                continue;
            }
            const size_t i = order.rows[b] * N + col;
            if (got != out.v[i])
                harness::mismatch(UNIT, out, i, out.v[i], got,
                                  what + ", beat " + std::to_string(b) + " lane " + std::to_string(l) + "; x " +
                                      std::to_string(x.v[i]) + ", y " + std::to_string(y.v[i]));
        }
    };
    // One run; returns the cycles from its start to the cycle after the last output beat.
    auto run = [&](tb::Rng& rng, unsigned stall, uint64_t abort_after) -> uint64_t {
        stream::Source sx{beats}, sy{beats};
        stream::Sink so{beats};
        const uint64_t c0 = sim.cycles;
        while (!so.done()) {
            if (sim.cycles - c0 > 64 * beats + 1000)
                harness::protocol(UNIT, what + ": timeout: " + std::to_string(so.got) + " of " + std::to_string(beats) +
                                            " outputs");
            if (abort_after && sim.cycles - c0 >= abort_after) return sim.cycles - c0;
            t.s_res_valid = sx.pre(rng, stall, [&](size_t b) { tb::set(t.s_res_data, lanes(x, 32, b)); });
            t.s_inc_valid = sy.pre(rng, stall, [&](size_t b) {
                tb::set(t.s_inc_data, lanes(y, YBITS, b));
                t.s_inc_last = b + 1 == beats;
            });
            t.m_res_ready = so.pre(rng, stall);
            sim.settle();
            so.post(t.m_res_valid, UNIT, check);
            const bool rx = t.s_res_valid && t.s_res_ready, ry = t.s_inc_valid && t.s_inc_ready;
            if (rx != ry) harness::protocol(UNIT, what + ": s_res and s_inc moved apart");
            sx.post(t.s_res_ready);
            sy.post(t.s_inc_ready);
            sim.edge();
        }
        const uint64_t cycles = sim.cycles - c0;
        t.s_res_valid = t.s_inc_valid = 0;
        t.m_res_ready = 1;
        for (int i = 0; i < 8; i++) {
            sim.settle();
            if (t.m_res_valid) harness::protocol(UNIT, what + ": extra output beat after the last expected one");
            sim.edge();
        }
        return cycles;
    };
    auto reset = [&]() {
        t.rst = 1;
        t.s_res_valid = t.s_inc_valid = 0;
        t.m_res_ready = 0;
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
    std::printf("residual %s: %s M=%zu N=%zu: %zu elements compared in each of 3 runs, all equal (seed %u, stall %u%%); "
                "%llu cycles without stalls\n",
                harness::config(), out.name.c_str(), M, N, M * N, seed, stall, (unsigned long long)ideal);
    return 0;
}
