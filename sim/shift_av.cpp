// Harness of repq_shift_av (U4, docs/arithmetic.md): attention x V by shifts, compared element
// by element with the golden outputs.
//
// Plusargs (operands as in golden.h):
//   +golden=DIR
//   codes [M, K] (query rows over keys), either +codes= (s{abits+1}, -1 for the exact zero) or
//   +code= (u{abits}) and +zero= (u1)
//   +v= [K, N] value operands (v - z_v)     +f= one value: F     +out= [M, N] expected outputs
//   +seed=S +stall=PERCENT (default 20) +fst=FILE
// One output row (query m, columns n0 .. n0+LANES-1, LANES = REPQ_PE_COLS) is a run of K beats,
// one per key, the last flagged; column groups are walked outermost. Runs first with the input
// always valid and the output always ready, and prints its cycle count as "C cycles without
// stalls" (from the first beat's cycle to the cycle after the last output row was taken, the
// count src/perf/shift_av.rs `av_cycles` models); then with random input gaps and output
// back-pressure, once cut off by a reset halfway, and once more after it.
#include "Vrepq_shift_av.h"
#include "harness.h"

namespace {
const char* const UNIT = "repq_shift_av";
const unsigned LANES = REPQ_PE_COLS;
const unsigned VBITS = REPQ_ABITS + 1;
}  // namespace

int main(int argc, char** argv) {
    Verilated::commandArgs(argc, argv);
    const golden::Dir g(tb::arg_str(argc, argv, "golden", "."));
    auto arg = [&](const char* name) { return harness::operand(g, argc, argv, name); };
    const bool combined = !tb::arg_str(argc, argv, "codes", "").empty();
    const golden::Tensor code = combined ? arg("codes") : arg("code");
    const golden::Tensor zero = combined ? code : arg("zero");
    const golden::Tensor v = arg("v"), f = arg("f"), out = arg("out");
    if (code.shape.size() != 2 || v.shape.size() != 2 || out.shape.size() != 2)
        golden::die("codes, v and out must be matrices: " + code.type() + ", " + v.type() + ", " + out.type());
    const size_t M = code.dim(0), K = code.dim(1), N = v.dim(1);
    if (v.dim(0) != K || out.dim(0) != M || out.dim(1) != N || zero.v.size() != code.v.size())
        golden::die("shapes disagree: codes " + code.type() + ", v " + v.type() + ", out " + out.type());
    if (f.v.size() != 1) golden::die("f " + f.name + " must be one value");
    harness::require_fits(v, VBITS, true, "the value lanes");
    harness::require_fits(f, 5, false, "F");
    harness::require_fits(out, REPQ_ACC_BITS, true, "the output lanes");
    std::vector<int64_t> c(code.v.size()), z(code.v.size());
    for (size_t i = 0; i < c.size(); i++) {
        z[i] = combined ? code.v[i] < 0 : zero.v[i];
        c[i] = combined ? (code.v[i] < 0 ? 0 : code.v[i]) : code.v[i];
    }
    harness::require_fits(code, combined ? REPQ_ABITS + 1 : REPQ_ABITS, combined, "the code input");

    // Input beats (group, m, j) and output rows (group, m).
    const size_t groups = (N + LANES - 1) / LANES;
    const size_t n_in = groups * M * K, n_out = groups * M;
    harness::Sim<Vrepq_shift_av> sim(argc, argv);
    auto& t = sim.top;
    auto drive = [&](size_t b) {
        const size_t grp = b / (M * K), m = (b / K) % M, j = b % K;
        const size_t n0 = grp * LANES, nr = std::min<size_t>(LANES, N - n0);
        t.in_last = j + 1 == K;
        t.code = uint32_t(c[m * K + j]);
        t.zero = uint8_t(z[m * K + j]);
        t.f = uint8_t(f.v[0]);
        tb::Words vw((LANES * VBITS + 31) / 32 + 1, 0);
        for (size_t l = 0; l < nr; l++) repq_put_bits(vw.data(), unsigned(l * VBITS), VBITS, uint64_t(v.v[j * N + n0 + l]));
        tb::set(t.v, vw);
    };
    std::string what;
    auto check = [&](size_t r) {
        const size_t grp = r / M, m = r % M, n0 = grp * LANES, nr = std::min<size_t>(LANES, N - n0);
        const tb::Words o = tb::get(t.out);
        for (size_t l = 0; l < nr; l++) {
            uint64_t x = repq_get_bits(o.data(), unsigned(l * REPQ_ACC_BITS), REPQ_ACC_BITS);
            int64_t got = int64_t(x);
            if ((x >> (REPQ_ACC_BITS - 1)) & 1) got = int64_t(x - (uint64_t(1) << REPQ_ACC_BITS));
            const size_t i = m * N + n0 + l;
            if (got != out.v[i])
                harness::mismatch(UNIT, out, i, out.v[i], got, what + ", output row " + std::to_string(r) + " lane " + std::to_string(l));
        }
    };
    const unsigned seed = tb::arg_uint(argc, argv, "seed", 1);
    const unsigned stall = tb::arg_uint(argc, argv, "stall", 20);
    tb::Rng rng(seed);
    harness::reset_unit(sim);
    what = "run without stalls";
    const uint64_t ideal = harness::run_stream(sim, UNIT, n_in, n_out, drive, check, rng, 0, 0);
    what = "run 1";
    const uint64_t cycles = harness::run_stream(sim, UNIT, n_in, n_out, drive, check, rng, stall, 0);
    what = "run cut off by a reset";
    harness::run_stream(sim, UNIT, n_in, n_out, drive, check, rng, stall, cycles / 2 + 1);
    harness::reset_unit(sim);
    what = "run after a reset in mid-run";
    harness::run_stream(sim, UNIT, n_in, n_out, drive, check, rng, stall, 0);
    std::printf("shift_av %s: %s M=%zu K=%zu N=%zu: %zu outputs equal in each of 3 runs (seed %u, stall %u%%); "
                "%llu cycles without stalls\n",
                harness::config(), out.name.c_str(), M, K, N, M * N, seed, stall, (unsigned long long)ideal);
    return 0;
}
