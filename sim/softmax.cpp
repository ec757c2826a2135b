// Harness of repq_softmax (U6, docs/arithmetic.md): the probabilities of rows of logits with an
// additive bias and a mask, compared element by element with the golden p
// (arith::softmax::probabilities).
//
// Plusargs (operands as in golden.h):
//   +golden=DIR  +z= [..., T] logits (s32; rows are all leading axes)  +p= [..., T] (u17)
//   +bias= [..., T] (s16, optional: 0)  +mask= [..., T] (1: masked; optional: 0)
//   +seed=S +stall=PERCENT (default 20) +fst=FILE
// One job of R rows of T keys (start with row_len = T, rows = R); a row is ceil(T / LANES) beats,
// padding lanes get random values (they must be ignored) and must come out 0 with keep clear;
// m_p_rlast marks each row's last beat, m_p_last the job's. Runs first with the input always
// valid and the output always ready and prints that run's cycle count as "C cycles without
// stalls" (from the cycle after the start pulse to the cycle after the last beat was taken:
// perf::softmax_cycles); then with random gaps and back-pressure, once cut off by a reset
// halfway, and once more after the reset.
#include "Vrepq_softmax.h"
#include "stream.h"

namespace {
const char* const UNIT = "repq_softmax";
const unsigned LANES = REPQ_PE_COLS;
#ifdef REPQ_G_ROWMAX
const size_t ROWMAX = REPQ_G_ROWMAX;
#else
const size_t ROWMAX = REPQ_SOFTMAX_ROWMAX;
#endif
}  // namespace

int main(int argc, char** argv) {
    Verilated::commandArgs(argc, argv);
    const golden::Dir g(tb::arg_str(argc, argv, "golden", "."));
    auto arg = [&](const char* name) { return harness::operand(g, argc, argv, name); };
    const golden::Tensor z = arg("z"), p = arg("p");
    const bool has_bias = !tb::arg_str(argc, argv, "bias", "").empty();
    const bool has_mask = !tb::arg_str(argc, argv, "mask", "").empty();
    golden::Tensor bias, mask;
    if (has_bias) bias = arg("bias");
    if (has_mask) mask = arg("mask");
    if (z.shape.empty() || p.shape != z.shape || (has_bias && bias.shape != z.shape) ||
        (has_mask && mask.shape != z.shape))
        golden::die("z, p, bias and mask must have one shape [..., T]: " + z.type() + ", " + p.type());
    harness::require_fits(z, 32, true, "the logit lanes (s32)");
    harness::require_fits(p, 17, false, "the probability lanes (u17)");
    if (has_bias) harness::require_fits(bias, 16, true, "the bias lanes (s16)");
    if (has_mask) harness::require_fits(mask, 1, false, "the mask bits");
    const size_t T = z.shape.back(), R = z.v.size() / T;
    if (T > ROWMAX)
        harness::unsupported("rows of " + std::to_string(T) + " keys: the row buffer holds " + std::to_string(ROWMAX));
    const size_t B = (T + LANES - 1) / LANES, beats = R * B;

    harness::Sim<Vrepq_softmax> sim(argc, argv);
    auto& t = sim.top;
    tb::Rng pad(7);
    std::string what;
    auto drive = [&](size_t b) {
        const size_t r = b / B, c0 = (b % B) * LANES;
        tb::Words wz = stream::words(LANES * 32), wb = stream::words(LANES * 16);
        uint32_t m = 0;
        for (size_t l = 0; l < LANES; l++) {
            const bool in = c0 + l < T;
            const size_t i = r * T + c0 + l;
            repq_put_bits(wz.data(), unsigned(l * 32), 32, in ? uint64_t(z.v[i]) : pad.next());
            repq_put_bits(wb.data(), unsigned(l * 16), 16,
                          in ? (has_bias ? uint64_t(bias.v[i]) : 0) : pad.next());
            if (in ? (has_mask && mask.v[i]) : (pad.next() & 1)) m |= 1u << l;
        }
        tb::set(t.s_z_data, wz);
        tb::set(t.s_z_bias, wb);
        t.s_z_mask = m;
    };
    auto check = [&](size_t b) {
        const size_t r = b / B, c0 = (b % B) * LANES;
        const tb::Words o = tb::get(t.m_p_data);
        const bool rlast = b % B == B - 1, last = b + 1 == beats;
        if (bool(t.m_p_rlast) != rlast || bool(t.m_p_last) != last)
            harness::protocol(UNIT, what + ": m_p_rlast/m_p_last " + std::to_string(int(t.m_p_rlast)) + "/" +
                                        std::to_string(int(t.m_p_last)) + " on beat " + std::to_string(b));
        for (size_t l = 0; l < LANES; l++) {
            const int64_t got = int64_t(repq_get_bits(o.data(), unsigned(l * 17), 17));
            const bool in = c0 + l < T;
            if (bool((uint64_t(t.m_p_keep) >> l) & 1) != in)
                harness::protocol(UNIT, what + ": m_p_keep lane " + std::to_string(l) + " of beat " +
                                            std::to_string(b) + " is wrong");
            if (!in) {
                if (got != 0)
                    harness::protocol(UNIT, what + ": padding lane " + std::to_string(l) + " is " + std::to_string(got));
                continue;
            }
            const size_t i = r * T + c0 + l;
            if (got != p.v[i])
                harness::mismatch(UNIT, p, i, p.v[i], got,
                                  what + ", beat " + std::to_string(b) + " lane " + std::to_string(l) + "; z " +
                                      std::to_string(z.v[i]));
        }
    };
    auto run = [&](tb::Rng& rng, unsigned stall, uint64_t abort_after) -> uint64_t {
        t.row_len = uint32_t(T);
        t.rows = uint32_t(R);
        t.start = 1;
        t.s_z_valid = 0;
        t.m_p_ready = 0;
        sim.tick();
        t.start = 0;
        stream::Source src{beats};
        stream::Sink out{beats};
        const uint64_t c0 = sim.cycles;
        while (!out.done()) {
            if (sim.cycles - c0 > 64 * beats * LANES + 200 * R + 1000)
                harness::protocol(UNIT, what + ": timeout: " + std::to_string(out.got) + " of " +
                                            std::to_string(beats) + " beats");
            if (abort_after && sim.cycles - c0 >= abort_after) return sim.cycles - c0;
            t.s_z_valid = src.pre(rng, stall, drive);
            t.m_p_ready = out.pre(rng, stall);
            sim.settle();
            if (!t.busy || t.done) harness::protocol(UNIT, what + ": busy low or done high before the job's last beat");
            out.post(t.m_p_valid, UNIT, check);
            src.post(t.s_z_ready);
            sim.edge();
        }
        const uint64_t cycles = sim.cycles - c0;
        t.s_z_valid = 0;
        t.m_p_ready = 1;
        bool done = false;
        for (int i = 0; i < 16; i++) {
            sim.settle();
            if (t.m_p_valid) harness::protocol(UNIT, what + ": extra beat after the last expected one");
            done |= bool(t.done);
            sim.edge();
        }
        sim.settle();
        if (t.busy || !(done || t.done)) harness::protocol(UNIT, what + ": busy after the job, or no done pulse");
        return cycles;
    };
    auto reset = [&]() {
        t.rst = 1;
        t.start = 0;
        t.s_z_valid = 0;
        t.m_p_ready = 0;
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
    std::printf("softmax %s: %s rows=%zu T=%zu: %zu elements compared in each of 3 runs, all equal (seed %u, "
                "stall %u%%); %llu cycles without stalls\n",
                harness::config(), p.name.c_str(), R, T, R * T, seed, stall, (unsigned long long)ideal);
    return 0;
}
