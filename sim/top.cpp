// Harness of repq_top (U1 matmul + U2 requantization, docs/arithmetic.md): one M x K x N job
// from golden tensors, packed into the four streams in the contract order of repq_top.v (the
// order repq_params.h states), compared element by element with the expected output tensor.
//
// Plusargs (operands as in golden.h: NAME, NAME[i] or #CONSTANT):
//   +golden=DIR   the golden directory
//   +a=  [M, K] activation codes        +w=  [K, N] stationary operands     +bias= [N]
//   +m0= +shift= +zero_point= +lo= +hi= [N] or one value: the per-column requantization
//   +out= [M, N] the expected outputs
//   +seed=S +stall=PERCENT (default 30) +jobs=J (default 3) +fst=FILE
// Runs: a zero-size job; job 0 with every stream always valid/ready (its cycle count, from the
// cycle after the start pulse to done, is printed as "C cycles without stalls"); jobs 1 .. J-1
// with random gaps on s_act, s_wgt, s_prm and random back-pressure on m_out; a single-threaded
// job that moves one stream at a time in the documented order (every beat of a step before the
// next step: a tile's parameters, per K tile its weights then its activations, then the tile's
// outputs), with random gaps, which must not deadlock; a job cut off by a reset halfway; a clean
// job after that reset. Every run must deliver every output element exactly once, equal to the
// golden tensor, and m_out_last on the last beat only.
#include <utility>

#include "Vrepq_top.h"
#include "harness.h"

#ifndef REPQ_OUT_LANE_BITS
#define REPQ_OUT_LANE_BITS REPQ_ABITS
#define REPQ_OUT_SIGNED 0
#endif

namespace {

const char* const UNIT = "repq_top";

// The beats of one job, in stream order, and for every output lane the flat index of its
// element in the output tensor (-1: a lane past the matrix edge, which must be zero).
enum Stream { PRM, WGT, ACT, OUT };

struct Job {
    size_t m = 0, k = 0, n = 0;
    std::vector<tb::Words> act, wgt, prm, out;
    std::vector<std::vector<long>> out_index;
    // The documented order as steps (stream, beats) for a single-threaded driver.
    std::vector<std::pair<Stream, size_t>> steps;
};

tb::Words beat(unsigned words) { return tb::Words(words, 0); }

Job pack(const golden::Tensor& a, const golden::Tensor& w, const golden::Tensor& bias,
         const golden::Tensor& m0, const golden::Tensor& shift, const golden::Tensor& zp,
         const golden::Tensor& lo, const golden::Tensor& hi, const golden::Tensor& out) {
    Job j;
    if (a.shape.size() != 2 || w.shape.size() != 2 || out.shape.size() != 2)
        golden::die("a, w and out must be matrices: a " + a.type() + ", w " + w.type() + ", out " + out.type());
    j.m = a.dim(0);
    j.k = a.dim(1);
    j.n = w.dim(1);
    if (w.dim(0) != j.k || out.dim(0) != j.m || out.dim(1) != j.n)
        golden::die("shapes disagree: a " + a.type() + ", w " + w.type() + ", out " + out.type());
    for (auto* t : {&bias, &m0, &shift, &zp, &lo, &hi}) harness::require_len(*t, j.n, "per-column parameter");
    const size_t maxdim = (size_t(1) << REPQ_DIM_BITS) - 1;
    if (j.m > maxdim || j.k > maxdim || j.n > maxdim)
        harness::unsupported("a dimension exceeds " + std::to_string(maxdim));
    if (j.k > REPQ_BOUND_MAX_K)
        std::fprintf(stderr, "note: K = %zu exceeds the K = %u the accumulator bound was sized for\n", j.k,
                     REPQ_BOUND_MAX_K);
    harness::require_fits(a, REPQ_ABITS, false, "the activation lanes");
    harness::require_fits(w, REPQ_W_OPERAND_BITS, true, "the operand lanes");
    harness::require_fits(bias, REPQ_PRM_BIAS_BITS, true, "the bias field");
    harness::require_fits(m0, REPQ_PRM_M0_BITS, false, "the m0 field");
    harness::require_fits(zp, REPQ_PRM_ZERO_POINT_BITS, true, "the zero_point field");
    harness::require_fits(lo, REPQ_OUT_LANE_BITS, REPQ_OUT_SIGNED, "the lo field of the output lane type (see gen --out-bits)");
    harness::require_fits(hi, REPQ_OUT_LANE_BITS, REPQ_OUT_SIGNED, "the hi field of the output lane type (see gen --out-bits)");
    harness::require_fits(out, REPQ_OUT_LANE_BITS, REPQ_OUT_SIGNED, "the output lanes (see gen --out-bits)");
    for (size_t i = 0; i < shift.v.size(); i++)
        if (shift.v[i] < 1 || shift.v[i] > 62)
            harness::unsupported("shift " + std::to_string(shift.v[i]) + " of column " + std::to_string(i) +
                                 " is outside 1 .. 62");
    for (size_t i = 0; i < j.n; i++)
        if (lo.at(lo.v.size() == 1 ? 0 : i) > hi.at(hi.v.size() == 1 ? 0 : i))
            harness::unsupported("lo > hi in column " + std::to_string(i));

    auto col = [](const golden::Tensor& t, size_t n) { return t.v.size() == 1 ? t.v[0] : t.v[n]; };
    const size_t R = REPQ_PE_ROWS, C = REPQ_PE_COLS, TM = REPQ_M_TILE;
    for (size_t m0i = 0; m0i < j.m; m0i += TM) {
        const size_t mr = std::min(TM, j.m - m0i);
        for (size_t n0 = 0; n0 < j.n; n0 += C) {
            const size_t nr = std::min(C, j.n - n0);
            j.steps.push_back({PRM, nr});
            for (size_t n = n0; n < n0 + nr; n++) {
                tb::Words b = beat(REPQ_PRM_BEAT_WORDS);
                repq_put_bits(b.data(), REPQ_PRM_BIAS_LSB, REPQ_PRM_BIAS_BITS, uint64_t(col(bias, n)));
                repq_put_bits(b.data(), REPQ_PRM_M0_LSB, REPQ_PRM_M0_BITS, uint64_t(col(m0, n)));
                repq_put_bits(b.data(), REPQ_PRM_SHIFT_LSB, REPQ_PRM_SHIFT_BITS, uint64_t(col(shift, n)));
                repq_put_bits(b.data(), REPQ_PRM_ZERO_POINT_LSB, REPQ_PRM_ZERO_POINT_BITS, uint64_t(col(zp, n)));
                repq_put_bits(b.data(), REPQ_PRM_LO_LSB, REPQ_PRM_LO_BITS, uint64_t(col(lo, n)));
                repq_put_bits(b.data(), REPQ_PRM_HI_LSB, REPQ_PRM_HI_BITS, uint64_t(col(hi, n)));
                j.prm.push_back(b);
            }
            for (size_t k0 = 0; k0 < j.k; k0 += R) {
                const size_t kr = std::min(R, j.k - k0);
                j.steps.push_back({WGT, kr});
                j.steps.push_back({ACT, mr});
                for (size_t k = k0; k < k0 + kr; k++) {
                    tb::Words b = beat(REPQ_WGT_BEAT_WORDS);
                    for (size_t c = 0; c < nr; c++)
                        repq_put_bits(b.data(), c * REPQ_W_OPERAND_BITS, REPQ_W_OPERAND_BITS,
                                      uint64_t(w.v[k * j.n + n0 + c]));
                    j.wgt.push_back(b);
                }
                for (size_t m = m0i; m < m0i + mr; m++) {
                    tb::Words b = beat(REPQ_ACT_BEAT_WORDS);
                    for (size_t r = 0; r < kr; r++)
                        repq_put_bits(b.data(), r * REPQ_ABITS, REPQ_ABITS, uint64_t(a.v[m * j.k + k0 + r]));
                    j.act.push_back(b);
                }
            }
            j.steps.push_back({OUT, mr});
            for (size_t m = m0i; m < m0i + mr; m++) {
                tb::Words b = beat(REPQ_OUT_BEAT_WORDS);
                std::vector<long> idx(C, -1);
                for (size_t c = 0; c < nr; c++) {
                    idx[c] = long(m * j.n + n0 + c);
                    repq_put_bits(b.data(), c * REPQ_OUT_LANE_BITS, REPQ_OUT_LANE_BITS, uint64_t(out.v[idx[c]]));
                }
                j.out.push_back(b);
                j.out_index.push_back(idx);
            }
        }
    }
    return j;
}

int64_t lane(const tb::Words& b, size_t c) {
    uint64_t x = repq_get_bits(b.data(), unsigned(c * REPQ_OUT_LANE_BITS), REPQ_OUT_LANE_BITS);
    if (REPQ_OUT_SIGNED && REPQ_OUT_LANE_BITS < 64 && ((x >> (REPQ_OUT_LANE_BITS - 1)) & 1))
        return int64_t(x - (uint64_t(1) << REPQ_OUT_LANE_BITS));
    return int64_t(x);
}

// Checks output beat `got` on the m_out port (valid and ready high).
void check_out(const Vrepq_top& t, const Job& j, const golden::Tensor& out, size_t got, const std::string& what) {
    if (got >= j.out.size()) harness::protocol(UNIT, what + ": extra output beat");
    const tb::Words o = tb::get(t.m_out_data);
    for (size_t c = 0; c < REPQ_PE_COLS; c++) {
        const long idx = j.out_index[got][c];
        const int64_t g = lane(o, c);
        if (idx < 0) {
            if (g != 0)
                harness::protocol(UNIT, what + ": output beat " + std::to_string(got) + " lane " + std::to_string(c) +
                                            " past the matrix edge is " + std::to_string(g) + ", not 0");
        } else if (g != out.v[idx]) {
            harness::mismatch(UNIT, out, size_t(idx), out.v[idx], g,
                              what + ", output beat " + std::to_string(got) + " lane " + std::to_string(c));
        }
    }
    if (bool(t.m_out_last) != (got + 1 == j.out.size()))
        harness::protocol(UNIT, what + ": m_out_last wrong at output beat " + std::to_string(got));
}

struct Source {
    const std::vector<tb::Words>* beats;
    size_t next = 0;
    bool presenting = false;
};

void reset(harness::Sim<Vrepq_top>& s) {
    auto& t = s.top;
    t.rst = 1;
    t.start = 0;
    t.s_act_valid = 0;
    t.s_wgt_valid = 0;
    t.s_prm_valid = 0;
    t.m_out_ready = 0;
    for (int i = 0; i < 3; i++) s.tick();
    t.rst = 0;
    s.tick();
}

struct Result {
    uint64_t cycles = 0;
    uint64_t first_latency = 0;
};

// One job; returns its cycle count. abort_after > 0 stops the job after that many cycles.
Result run_job(harness::Sim<Vrepq_top>& s, const Job& j, const golden::Tensor& out, tb::Rng& rng,
               unsigned stall, uint64_t abort_after, const std::string& what) {
    auto& t = s.top;
    if (t.busy) harness::protocol(UNIT, what + ": busy before start");
    t.m_rows = uint32_t(j.m);
    t.k_depth = uint32_t(j.k);
    t.n_cols = uint32_t(j.n);
    t.start = 1;
    s.tick();
    t.start = 0;
    const uint64_t c0 = s.cycles;
    Source sa{&j.act}, sw{&j.wgt}, sp{&j.prm};
    size_t got = 0;
    bool done_seen = false;
    uint64_t first_act = 0, first_out = 0;
    const size_t total = j.act.size() + j.wgt.size() + j.prm.size() + j.out.size();
    while (!done_seen) {
        if (s.cycles - c0 > 64 * total + 2000)
            harness::protocol(UNIT, what + ": timeout with " + std::to_string(got) + " of " +
                                        std::to_string(j.out.size()) + " output beats, act " +
                                        std::to_string(sa.next) + "/" + std::to_string(j.act.size()) + ", wgt " +
                                        std::to_string(sw.next) + "/" + std::to_string(j.wgt.size()) + ", prm " +
                                        std::to_string(sp.next) + "/" + std::to_string(j.prm.size()));
        if (abort_after && s.cycles - c0 >= abort_after) return Result{};
        for (Source* src : {&sa, &sw, &sp})
            if (!src->presenting && src->next < src->beats->size() && !rng.chance(stall)) src->presenting = true;
        t.s_act_valid = sa.presenting;
        if (sa.presenting) tb::set(t.s_act_data, j.act[sa.next]);
        t.s_wgt_valid = sw.presenting;
        if (sw.presenting) tb::set(t.s_wgt_data, j.wgt[sw.next]);
        t.s_prm_valid = sp.presenting;
        if (sp.presenting) tb::set(t.s_prm_data, j.prm[sp.next]);
        t.m_out_ready = !rng.chance(stall);
        s.settle();
        if (t.m_out_valid && t.m_out_ready) {
            check_out(t, j, out, got, what);
            if (got == 0) first_out = s.cycles;
            got++;
        }
        if (sa.presenting && t.s_act_ready) {
            if (sa.next == 0) first_act = s.cycles;
            sa.presenting = false;
            sa.next++;
        }
        if (sw.presenting && t.s_wgt_ready) {
            sw.presenting = false;
            sw.next++;
        }
        if (sp.presenting && t.s_prm_ready) {
            sp.presenting = false;
            sp.next++;
        }
        s.edge();
        if (t.done) done_seen = true;
    }
    if (got != j.out.size() || sa.next != j.act.size() || sw.next != j.wgt.size() || sp.next != j.prm.size())
        harness::protocol(UNIT, what + ": done with out " + std::to_string(got) + "/" + std::to_string(j.out.size()) +
                                    ", act " + std::to_string(sa.next) + "/" + std::to_string(j.act.size()) +
                                    ", wgt " + std::to_string(sw.next) + "/" + std::to_string(j.wgt.size()) +
                                    ", prm " + std::to_string(sp.next) + "/" + std::to_string(j.prm.size()));
    s.settle();
    if (t.busy) harness::protocol(UNIT, what + ": busy after done");
    return Result{s.cycles - c0, first_out - first_act};
}

// One job driven by a single thread: one stream at a time in the documented order (j.steps),
// each beat presented (after a random gap) until taken, the output read only in its own steps.
// The design must take every beat without the driver moving another stream first.
void run_single_threaded(harness::Sim<Vrepq_top>& s, const Job& j, const golden::Tensor& out, tb::Rng& rng,
                         unsigned stall) {
    auto& t = s.top;
    const std::string what = "single-threaded job";
    if (t.busy) harness::protocol(UNIT, what + ": busy before start");
    t.m_rows = uint32_t(j.m);
    t.k_depth = uint32_t(j.k);
    t.n_cols = uint32_t(j.n);
    t.start = 1;
    s.tick();
    t.start = 0;
    t.s_act_valid = 0;
    t.s_wgt_valid = 0;
    t.s_prm_valid = 0;
    t.m_out_ready = 0;
    size_t next[4] = {0, 0, 0, 0};
    const char* const names[4] = {"prm", "wgt", "act", "out"};
    // The slowest a beat may take when the design does not wait for the driver: the array and
    // output latency, a weight pass and a parameter tile, the stall gaps.
    const uint64_t patience = 4 * (REPQ_OUTPUT_LATENCY + REPQ_PE_ROWS + REPQ_PE_COLS) + 200;
    bool done_seen = false;
    for (const auto& step : j.steps) {
        const Stream stream = step.first;
        for (size_t b = 0; b < step.second; b++) {
            const uint64_t since = s.cycles;
            bool moved = false;
            while (!moved) {
                if (s.cycles - since > patience)
                    harness::protocol(UNIT, what + ": deadlock: " + names[stream] + " beat " + std::to_string(next[stream]) +
                                                " not taken within " + std::to_string(patience) + " cycles (prm " +
                                                std::to_string(next[PRM]) + "/" + std::to_string(j.prm.size()) + ", wgt " +
                                                std::to_string(next[WGT]) + "/" + std::to_string(j.wgt.size()) + ", act " +
                                                std::to_string(next[ACT]) + "/" + std::to_string(j.act.size()) + ", out " +
                                                std::to_string(next[OUT]) + "/" + std::to_string(j.out.size()) + " done)");
                const bool on = !rng.chance(stall);
                t.s_prm_valid = stream == PRM && on;
                t.s_wgt_valid = stream == WGT && on;
                t.s_act_valid = stream == ACT && on;
                t.m_out_ready = stream == OUT && on;
                if (stream == PRM) tb::set(t.s_prm_data, j.prm[next[PRM]]);
                if (stream == WGT) tb::set(t.s_wgt_data, j.wgt[next[WGT]]);
                if (stream == ACT) tb::set(t.s_act_data, j.act[next[ACT]]);
                s.settle();
                switch (stream) {
                    case PRM: moved = on && t.s_prm_ready; break;
                    case WGT: moved = on && t.s_wgt_ready; break;
                    case ACT: moved = on && t.s_act_ready; break;
                    case OUT:
                        moved = on && t.m_out_valid;
                        if (moved) check_out(t, j, out, next[OUT], what);
                        break;
                }
                s.edge();
                if (t.done) done_seen = true;
            }
            next[stream]++;
        }
    }
    t.s_prm_valid = 0;
    t.s_wgt_valid = 0;
    t.s_act_valid = 0;
    t.m_out_ready = 0;
    if (next[PRM] != j.prm.size() || next[WGT] != j.wgt.size() || next[ACT] != j.act.size() ||
        next[OUT] != j.out.size())
        harness::protocol(UNIT, what + ": the steps do not cover every beat");
    s.settle();
    if (!done_seen && !t.done) harness::protocol(UNIT, what + ": no done pulse after the last output beat");
    s.edge();
    s.settle();
    if (t.busy || t.m_out_valid) harness::protocol(UNIT, what + ": busy or output left after done");
}

}  // namespace

int main(int argc, char** argv) {
    Verilated::commandArgs(argc, argv);
    const golden::Dir g(tb::arg_str(argc, argv, "golden", "."));
    auto arg = [&](const char* name) { return harness::operand(g, argc, argv, name); };
    const golden::Tensor a = arg("a"), w = arg("w"), bias = arg("bias"), m0 = arg("m0"), shift = arg("shift"),
                         zp = arg("zero_point"), lo = arg("lo"), hi = arg("hi"), out = arg("out");
    const unsigned seed = tb::arg_uint(argc, argv, "seed", 1);
    const unsigned jobs = std::max(1u, tb::arg_uint(argc, argv, "jobs", 3));
    const unsigned stall = tb::arg_uint(argc, argv, "stall", 30);
    const Job j = pack(a, w, bias, m0, shift, zp, lo, hi, out);
    tb::Rng rng(seed);

    harness::Sim<Vrepq_top> s(argc, argv);
    s.top.clk = 0;
    reset(s);

    // A zero-size job completes at once.
    s.top.m_rows = 0;
    s.top.k_depth = uint32_t(j.k);
    s.top.n_cols = uint32_t(j.n);
    s.top.start = 1;
    s.tick();
    s.top.start = 0;
    s.settle();
    if (!s.top.done || s.top.busy) harness::protocol(UNIT, "a zero-size job did not complete at once");
    s.edge();

    Result ideal;
    for (unsigned i = 0; i < jobs; i++) {
        const Result r = run_job(s, j, out, rng, i == 0 ? 0 : stall, 0, "job " + std::to_string(i));
        if (i == 0) ideal = r;
    }
    run_single_threaded(s, j, out, rng, stall);
    run_job(s, j, out, rng, stall, ideal.cycles / 2 + 1, "job cut off by a reset");
    reset(s);
    run_job(s, j, out, rng, stall, 0, "job after a reset in mid-run");
    std::printf("top %s: %s M=%zu K=%zu N=%zu: %zu output elements equal in each of %u+1 jobs and a "
                "single-threaded job (seed %u, stall %u%%); %llu cycles without stalls; first-row latency %llu\n",
                harness::config(), out.name.c_str(), j.m, j.k, j.n, j.m * j.n, jobs, seed, stall,
                (unsigned long long)ideal.cycles, (unsigned long long)ideal.first_latency);
    return 0;
}
