// Harness of repq_logcode (U3, docs/arithmetic.md): softmax probabilities p / 2^16 to log2 codes
// with the exact-zero flag, compared element by element with the golden codes.
//
// Plusargs (operands as in golden.h):
//   +golden=DIR
//   +p=          u17 probabilities, any shape; with S parameter sets, S equal consecutive runs
//   +c_int=      [S] or one value: C_INT per set
//   +thresholds= [S, 3] or [3]: [T_1, T_0, T_-1] per set
//   +max_code=   the model's 2^abits - 1 (a constant; default 2^ABITS - 1): codes past it are the
//                exact zero, so a design of ABITS-bit lanes runs a narrower model's U3
//   expected, either +codes= (s{abits+1}, -1 for the exact zero, as model-mode golden vectors hold
//   them) or +code= (u{abits}) and +zero= (u1), shaped as p
//   +seed=S +stall=PERCENT (default 20) +fst=FILE
// Each beat carries LANES = REPQ_PE_COLS probabilities of one set (a set's last beat is padded
// with zeros, whose outputs are ignored). Runs once with random input gaps and output
// back-pressure, once cut off by a reset halfway, and once more after the reset.
#include "Vrepq_logcode.h"
#include "harness.h"

namespace {
const char* const UNIT = "repq_logcode";
const unsigned LANES = REPQ_PE_COLS;
}  // namespace

int main(int argc, char** argv) {
    Verilated::commandArgs(argc, argv);
    const golden::Dir g(tb::arg_str(argc, argv, "golden", "."));
    auto arg = [&](const char* name) { return harness::operand(g, argc, argv, name); };
    const golden::Tensor p = arg("p"), c_int = arg("c_int"), th = arg("thresholds");
    const bool combined = !tb::arg_str(argc, argv, "codes", "").empty();
    const golden::Tensor code = combined ? arg("codes") : arg("code");
    const golden::Tensor zero = combined ? code : arg("zero");
    const std::string max_spec = tb::arg_str(argc, argv, "max_code", "");
    const golden::Tensor max_code = g.load(max_spec.empty() ? "#" + std::to_string((1u << REPQ_ABITS) - 1) : max_spec);
    if (!max_code.constant() && max_code.v.size() != 1)
        golden::die("max_code " + max_code.name + " " + max_code.type() + " must be one value");
    const size_t sets = c_int.v.size(), n = p.v.size();
    if (th.v.size() != 3 * sets)
        golden::die("thresholds " + th.name + " " + th.type() + " must hold 3 values per C_INT set (" +
                    std::to_string(sets) + ")");
    if (n % sets) golden::die("p " + p.name + " " + p.type() + " does not split into " + std::to_string(sets) + " sets");
    if (code.v.size() != n || zero.v.size() != n) golden::die("expected codes must have as many elements as p");
    harness::require_fits(p, 17, false, "the probability lanes");
    harness::require_fits(c_int, 16, true, "C_INT");
    harness::require_fits(th, 17, false, "the thresholds");
    harness::require_fits(max_code, REPQ_ABITS, false, "max_code (the model's 2^abits - 1 on u{ABITS})");
    // Expected (code, zero) per element.
    std::vector<int64_t> want_code(n), want_zero(n);
    for (size_t i = 0; i < n; i++) {
        if (combined) {
            want_zero[i] = code.v[i] < 0;
            want_code[i] = code.v[i] < 0 ? 0 : code.v[i];
        } else {
            want_code[i] = code.v[i];
            want_zero[i] = zero.v[i];
        }
        if (!golden::fits(want_code[i], REPQ_ABITS, false))
            harness::unsupported("code " + std::to_string(want_code[i]) + " of " + code.name + " does not fit u" +
                                 std::to_string(REPQ_ABITS));
    }
    // Beats: (first element, lanes used, set).
    struct Beat { size_t first, used, set; };
    std::vector<Beat> beats;
    const size_t per_set = n / sets;
    for (size_t s = 0; s < sets; s++)
        for (size_t i = 0; i < per_set; i += LANES) beats.push_back({s * per_set + i, std::min<size_t>(LANES, per_set - i), s});

    harness::Sim<Vrepq_logcode> sim(argc, argv);
    auto& t = sim.top;
    auto drive = [&](size_t b) {
        const Beat& bt = beats[b];
        tb::Words pw((LANES * 17 + 31) / 32 + 1, 0);
        for (size_t l = 0; l < bt.used; l++) repq_put_bits(pw.data(), unsigned(l * 17), 17, uint64_t(p.v[bt.first + l]));
        tb::set(t.p, pw);
        t.c_int = uint16_t(c_int.v[bt.set]);
        t.t1 = uint32_t(th.v[3 * bt.set]);
        t.t0 = uint32_t(th.v[3 * bt.set + 1]);
        t.tm1 = uint32_t(th.v[3 * bt.set + 2]);
        t.max_code = uint32_t(max_code.v[0]);
    };
    std::string what;
    auto check = [&](size_t b) {
        const Beat& bt = beats[b];
        const tb::Words cw = tb::get(t.code), zw = tb::get(t.zero);
        for (size_t l = 0; l < bt.used; l++) {
            const size_t i = bt.first + l;
            const int64_t gc = int64_t(repq_get_bits(cw.data(), unsigned(l * REPQ_ABITS), REPQ_ABITS));
            const int64_t gz = int64_t(repq_get_bits(zw.data(), unsigned(l), 1));
            if (gz != want_zero[i] || gc != want_code[i]) {
                // Report in the golden tensor's own encoding.
                const int64_t want = combined ? code.v[i] : (gz != want_zero[i] ? want_zero[i] : want_code[i]);
                const int64_t got = combined ? (gz ? -1 : gc) : (gz != want_zero[i] ? gz : gc);
                const golden::Tensor& tt = combined || gz == want_zero[i] ? code : zero;
                harness::mismatch(UNIT, tt, i, want, got, what + ", beat " + std::to_string(b) + " lane " + std::to_string(l));
            }
        }
    };
    const unsigned seed = tb::arg_uint(argc, argv, "seed", 1);
    const unsigned stall = tb::arg_uint(argc, argv, "stall", 20);
    tb::Rng rng(seed);
    harness::reset_unit(sim);
    what = "run 1";
    const uint64_t cycles = harness::run_stream(sim, UNIT, beats.size(), beats.size(), drive, check, rng, stall, 0);
    what = "run cut off by a reset";
    harness::run_stream(sim, UNIT, beats.size(), beats.size(), drive, check, rng, stall, cycles / 2 + 1);
    harness::reset_unit(sim);
    what = "run after a reset in mid-run";
    harness::run_stream(sim, UNIT, beats.size(), beats.size(), drive, check, rng, stall, 0);
    std::printf("logcode %s: %s: %zu codes equal in each of 2 runs (%zu sets, %zu beats, seed %u, stall %u%%)\n",
                harness::config(), code.name.c_str(), n, sets, beats.size(), seed, stall);
    return 0;
}
