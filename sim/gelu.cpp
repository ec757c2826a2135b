// Harness of repq_gelu (U7's table, docs/arithmetic.md): the table loaded as its steps, then
// indices h to codes T[h], compared element by element with the golden outputs.
//
// Plusargs (operands as in golden.h):
//   +golden=DIR
//   +steps= the table-load words (GeluSteps::load_words): [L] for one table or [S, L] for S tables,
//           L = REPQ_GELU_LOAD_BEATS, or the smaller L of a narrower model (padded, see below)
//   +h=     indices, [M, N] or [n] (one row)     +out= codes, shaped as h ([S, ...] for S tables)
//   +seed=S +stall=PERCENT (default 20) +fst=FILE
// Index beats follow repq_top's m_out order (M tiles of REPQ_M_TILE rows, N tiles of
// REPQ_PE_COLS columns, rows inner; padding lanes are 0 and their codes are not checked);
// s_h_last marks each table's last beat and must come back on m_code_last. For every table: its
// load words on s_tbl, then all index beats on s_h. The index beats are presented from the
// start of the load (the unit must not take one before the load is complete), and the next
// table's load while the previous indices are still in the pipeline (it must wait for them).
// Runs: table 0 with every stream always valid/ready, whose cycle count from the first load beat
// to the cycle after the last code beat was taken is printed as "C cycles without stalls"
// (perf::gelu_cycles); every table with random gaps on s_tbl and s_h and back-pressure on m_code;
// the same cut off by a reset halfway; and again after the reset. With IBITS > 16 and the indices
// -2^15 and 2^15 - 1 among h, a last run sends indices outside s16, which must saturate.
#include "Vrepq_gelu.h"
#include "stream.h"

namespace {
const char* const UNIT = "repq_gelu";
const unsigned LANES = REPQ_PE_COLS;
const unsigned ABITS = REPQ_ABITS;
const unsigned IBITS = REPQ_GELU_IBITS;
const size_t LOAD = REPQ_GELU_LOAD_BEATS;
}  // namespace

int main(int argc, char** argv) {
    Verilated::commandArgs(argc, argv);
    const golden::Dir g(tb::arg_str(argc, argv, "golden", "."));
    auto arg = [&](const char* name) { return harness::operand(g, argc, argv, name); };
    const golden::Tensor steps = arg("steps"), h = arg("h"), out = arg("out");
    // A narrower model's table (abits' < ABITS: B and two lists of N' = 2^abits' - 1) is padded to
    // the unit's N = 2^ABITS - 1 with 32767 in both lists, which no s16 index exceeds: the same
    // table (as the accelerator's compiler loads it, src/accel/image.rs).
    const size_t given = steps.shape.empty() ? 0 : steps.shape.back();
    if (steps.shape.empty() || steps.shape.size() > 2 || given > LOAD || given % 2 != 1 || ((given + 1) & given) != 0)
        golden::die("steps " + steps.type() + ": expected [L] or [S, L] load words, L = 2^(abits+1) - 1 for abits <= " +
                    std::to_string(ABITS) + " (at most " + std::to_string(LOAD) + ")");
    const size_t sets = steps.shape.size() == 2 ? steps.dim(0) : 1;
    std::vector<int64_t> load_words;
    {
        const size_t n = (LOAD - 1) / 2, m = (given - 1) / 2;
        for (size_t s = 0; s < sets; s++) {
            const int64_t* w = steps.v.data() + s * given;
            load_words.push_back(w[0]);
            for (size_t list = 0; list < 2; list++) {
                load_words.insert(load_words.end(), w + 1 + list * m, w + 1 + (list + 1) * m);
                load_words.insert(load_words.end(), n - m, 32767);
            }
        }
    }
    if (h.shape.empty() || h.shape.size() > 2) golden::die("h " + h.type() + " must be a vector or a matrix");
    const size_t M = h.shape.size() == 2 ? h.dim(0) : 1, N = h.shape.back();
    std::vector<size_t> want_shape = h.shape;
    if (steps.shape.size() == 2) want_shape.insert(want_shape.begin(), sets);
    if (out.shape != want_shape)
        golden::die("out " + out.type() + " must be shaped as h " + h.type() + (sets > 1 ? ", one per table" : ""));
    harness::require_fits(steps, 16, true, "the table-load words (s16)");
    harness::require_fits(h, IBITS, true, "the index lanes (s{IBITS}, repq_top's output lanes)");
    harness::require_fits(out, ABITS, false, "the code lanes");
    const stream::MoutOrder order(M, N, LANES, REPQ_M_TILE);
    const size_t beats = order.size(), per_set = M * N;

    harness::Sim<Vrepq_gelu> sim(argc, argv);
    auto& t = sim.top;
    std::string what;
    // One run over `tables` (indices into the sets); returns the cycles from its start to the cycle
    // after the last code beat was taken.
    auto run = [&](const std::vector<size_t>& tables, tb::Rng& rng, unsigned stall, uint64_t abort_after) -> uint64_t {
        const size_t nt = tables.size();
        stream::Source load{0}, idx{0};
        stream::Sink codes{nt * beats};
        size_t lt = 0, it = 0;  // the table being loaded, the table whose indices are sent
        bool loading = true;    // load words of table lt are (still) to be sent
        load.n = LOAD;
        idx.n = beats;
        const uint64_t c0 = sim.cycles;
        while (!codes.done()) {
            if (sim.cycles - c0 > 64 * nt * (beats + LOAD) + 1000)
                harness::protocol(UNIT, what + ": timeout: " + std::to_string(codes.got) + " of " +
                                            std::to_string(nt * beats) + " code beats");
            if (abort_after && sim.cycles - c0 >= abort_after) return sim.cycles - c0;
            const size_t ls = tables[std::min(lt, nt - 1)], is = tables[std::min(it, nt - 1)];
            t.s_tbl_valid = loading && lt < nt &&
                            load.pre(rng, stall, [&](size_t b) { t.s_tbl_data = uint16_t(load_words[ls * LOAD + b]); });
            // Indices of table `it`, presented from the start of its load.
            t.s_h_valid = it < nt && it <= lt && idx.pre(rng, stall, [&](size_t b) {
                tb::Words w = stream::words(LANES * IBITS);
                for (size_t l = 0; l < LANES && order.col0[b] + l < N; l++)
                    repq_put_bits(w.data(), unsigned(l * IBITS), IBITS, uint64_t(h.v[order.rows[b] * N + order.col0[b] + l]));
                tb::set(t.s_h_data, w);
                t.s_h_last = b + 1 == beats;
            });
            t.m_code_ready = codes.pre(rng, stall);
            sim.settle();
            codes.post(t.m_code_valid, UNIT, [&](size_t k) {
                const size_t s = tables[k / beats], b = k % beats;
                if (bool(t.m_code_last) != (b + 1 == beats))
                    harness::protocol(UNIT, what + ": m_code_last is " + std::to_string(int(t.m_code_last)) +
                                                " on beat " + std::to_string(b) + " of " + std::to_string(beats));
                const tb::Words o = tb::get(t.m_code_data);
                for (size_t l = 0; l < LANES && order.col0[b] + l < N; l++) {
                    const int64_t got = int64_t(repq_get_bits(o.data(), unsigned(l * ABITS), ABITS));
                    const size_t e = order.rows[b] * N + order.col0[b] + l, i = s * per_set + e;
                    if (got != out.v[i])
                        harness::mismatch(UNIT, out, i, out.v[i], got,
                                          what + ", table " + std::to_string(s) + ", beat " + std::to_string(b) +
                                              " lane " + std::to_string(l) + "; h = " + std::to_string(h.v[e]));
                }
            });
            const bool took_h = t.s_h_valid && t.s_h_ready;
            if (took_h && (it > lt || (it == lt && loading)))
                harness::protocol(UNIT, what + ": an index beat was taken while table " + std::to_string(is) +
                                            " was still loading");
            if (load.post(t.s_tbl_ready) && load.done()) {
                loading = false;  // indices of table lt may go now
            }
            if (idx.post(t.s_h_ready) && idx.done()) {
                it++;
                idx = stream::Source{beats};
                if (it < nt) {  // the next table's load, while these indices drain
                    lt = it;
                    load = stream::Source{LOAD};
                    loading = true;
                }
            }
            sim.edge();
        }
        const uint64_t cycles = sim.cycles - c0;
        t.s_tbl_valid = t.s_h_valid = 0;
        t.m_code_ready = 1;
        for (int i = 0; i < 16; i++) {
            sim.settle();
            if (t.m_code_valid) harness::protocol(UNIT, what + ": extra output beat after the last expected one");
            sim.edge();
        }
        return cycles;
    };
    auto reset = [&]() {
        t.rst = 1;
        t.s_tbl_valid = t.s_h_valid = 0;
        t.m_code_ready = 0;
        for (int i = 0; i < 4; i++) sim.tick();
        t.rst = 0;
    };
    std::vector<size_t> all(sets);
    for (size_t s = 0; s < sets; s++) all[s] = s;
    const unsigned seed = tb::arg_uint(argc, argv, "seed", 1);
    const unsigned stall = tb::arg_uint(argc, argv, "stall", 20);
    tb::Rng rng(seed);
    reset();
    what = "run without stalls";
    const uint64_t ideal = run({0}, rng, 0, 0);
    what = "run 1";
    const uint64_t cycles = run(all, rng, stall, 0);
    what = "run cut off by a reset";
    run(all, rng, stall, cycles / 2 + 1);
    reset();
    what = "run after a reset in mid-run";
    run(all, rng, stall, 0);

    // Saturation of indices outside s16 (the last table is loaded).
    size_t sat_checked = 0;
    if (IBITS > 16) {
        long lo_i = -1, hi_i = -1;
        for (size_t e = 0; e < per_set; e++) {
            if (h.v[e] == -32768) lo_i = long(e);
            if (h.v[e] == 32767) hi_i = long(e);
        }
        if (lo_i >= 0 && hi_i >= 0) {
            const size_t last = sets - 1;
            const int64_t top = int64_t(1) << (IBITS - 1);
            const std::vector<int64_t> vals = {32768, 32769, top - 1, top / 2, -32769, -32770, -top, -top / 2};
            what = "run with indices outside s16";
            t.m_code_ready = 1;
            for (size_t b = 0; b < LOAD; b++) {  // the table again (the last index beat asked for one)
                t.s_tbl_valid = 1;
                t.s_tbl_data = uint16_t(load_words[last * LOAD + b]);
                sim.settle();
                if (!t.s_tbl_ready) harness::protocol(UNIT, what + ": s_tbl not ready");
                sim.edge();
            }
            t.s_tbl_valid = 0;
            for (size_t k = 0; k < vals.size(); k += 1) {
                tb::Words w = stream::words(LANES * IBITS);
                for (size_t l = 0; l < LANES; l++)
                    repq_put_bits(w.data(), unsigned(l * IBITS), IBITS, uint64_t(vals[(k + l) % vals.size()]));
                tb::set(t.s_h_data, w);
                t.s_h_last = k + 1 == vals.size();
                t.s_h_valid = 1;
                sim.settle();
                if (!t.s_h_ready) harness::protocol(UNIT, what + ": s_h not ready");
                sim.edge();
                t.s_h_valid = 0;
                bool seen = false;
                for (unsigned c = 0; c < REPQ_GELU_LATENCY + 2 && !seen; c++) {
                    sim.settle();
                    if (t.m_code_valid) {
                        seen = true;
                        const tb::Words o = tb::get(t.m_code_data);
                        for (size_t l = 0; l < LANES; l++) {
                            const int64_t v = vals[(k + l) % vals.size()];
                            const size_t i = last * per_set + size_t(v > 0 ? hi_i : lo_i);
                            const int64_t got = int64_t(repq_get_bits(o.data(), unsigned(l * ABITS), ABITS));
                            if (got != out.v[i])
                                harness::mismatch(UNIT, out, i, out.v[i], got,
                                                  what + ", lane " + std::to_string(l) + "; h = " + std::to_string(v));
                            sat_checked++;
                        }
                    }
                    sim.edge();
                }
                if (!seen) harness::protocol(UNIT, what + ": no output beat");
            }
        }
    }
    std::printf("gelu %s: %s [%zu tables] M=%zu N=%zu: %zu elements compared in each of 2 runs, all equal (seed %u, "
                "stall %u%%), %zu saturated indices; %llu cycles without stalls\n",
                harness::config(), out.name.c_str(), sets, M, N, sets * per_set, seed, stall, sat_checked,
                (unsigned long long)ideal);
    return 0;
}
