// Testbench of repq_top: runs the matmul job of DIR (job.txt: "M K N"; act.hex, wgt.hex,
// prm.hex: the input streams in contract order; out.hex: the expected output beats) through the
// control interface, with random valid gaps on every input stream and random back-pressure on the
// output, and compares every output beat (and m_out_last on the last one only). Runs the job
// +jobs=J times back to back (the first without any stall, to report the cycle count), checks a
// zero-size job, and a reset in the middle of a job followed by a clean run.
// Plusargs: +dir=DIR, +seed=S, +jobs=J, +outbits=N, +stall=PERCENT.
#include "Vrepq_top.h"
#include "tb.h"

struct Bench {
    Vrepq_top top;
    uint64_t cycles = 0;
    void tick() {
        top.clk = 1; top.eval();
        top.clk = 0; top.eval();
        cycles++;
    }
    void reset() {
        top.rst = 1;
        top.start = 0; top.s_act_valid = 0; top.s_wgt_valid = 0; top.s_prm_valid = 0;
        top.m_out_ready = 0;
        for (int i = 0; i < 3; i++) tick();
        top.rst = 0;
        tick();
    }
};

// One stream source: holds valid until accepted.
struct Source {
    const std::vector<std::vector<tb::Words>>* beats;
    size_t next = 0;
    bool presenting = false;
};

static int run_job(Bench& b, unsigned m, unsigned k, unsigned n,
                   const std::vector<std::vector<tb::Words>>& act,
                   const std::vector<std::vector<tb::Words>>& wgt,
                   const std::vector<std::vector<tb::Words>>& prm,
                   const std::vector<std::vector<tb::Words>>& out, unsigned outbits,
                   tb::Rng& rng, unsigned stall, uint64_t abort_after, uint64_t* cycles,
                   uint64_t* first_latency = nullptr) {
    auto& t = b.top;
    if (t.busy) { std::fprintf(stderr, "busy before start\n"); return 1; }
    t.m_rows = m; t.k_depth = k; t.n_cols = n; t.start = 1;
    b.tick();
    t.start = 0;
    const uint64_t c0 = b.cycles;
    Source sa{&act}, sw{&wgt}, sp{&prm};
    size_t got = 0;
    bool done_seen = false;
    uint64_t first_act = 0, first_out = 0;
    while (!done_seen) {
        if (b.cycles - c0 > 50 * (act.size() + wgt.size() + prm.size() + out.size()) + 1000) {
            std::fprintf(stderr, "TIMEOUT: %zu of %zu outputs, act %zu/%zu wgt %zu/%zu prm %zu/%zu\n",
                         got, out.size(), sa.next, act.size(), sw.next, wgt.size(), sp.next, prm.size());
            return 1;
        }
        if (abort_after && b.cycles - c0 >= abort_after) return 0;
        for (Source* s : {&sa, &sw, &sp})
            if (!s->presenting && s->next < s->beats->size() && !rng.chance(stall)) s->presenting = true;
        t.s_act_valid = sa.presenting;
        if (sa.presenting) tb::set(t.s_act_data, act[sa.next][0]);
        t.s_wgt_valid = sw.presenting;
        if (sw.presenting) tb::set(t.s_wgt_data, wgt[sw.next][0]);
        t.s_prm_valid = sp.presenting;
        if (sp.presenting) tb::set(t.s_prm_data, prm[sp.next][0]);
        t.m_out_ready = !rng.chance(stall);
        t.eval();
        if (t.m_out_valid && t.m_out_ready) {
            if (got >= out.size()) { std::fprintf(stderr, "EXTRA output beat\n"); return 1; }
            tb::Words o = tb::get(t.m_out_data);
            if (!tb::equal(out[got][0], o, outbits)) tb::fail("top m_out_data", got, out[got][0], o, outbits);
            if (bool(t.m_out_last) != (got + 1 == out.size())) {
                std::fprintf(stderr, "m_out_last wrong at beat %zu\n", got);
                return 1;
            }
            if (got == 0) first_out = b.cycles;
            got++;
        }
        if (sa.presenting && t.s_act_ready) {
            if (sa.next == 0) first_act = b.cycles;
            sa.presenting = false;
            sa.next++;
        }
        if (sw.presenting && t.s_wgt_ready) { sw.presenting = false; sw.next++; }
        if (sp.presenting && t.s_prm_ready) { sp.presenting = false; sp.next++; }
        b.tick();
        if (t.done) done_seen = true;
    }
    if (got != out.size() || sa.next != act.size() || sw.next != wgt.size() || sp.next != prm.size()) {
        std::fprintf(stderr, "done early: out %zu/%zu act %zu/%zu wgt %zu/%zu prm %zu/%zu\n", got,
                     out.size(), sa.next, act.size(), sw.next, wgt.size(), sp.next, prm.size());
        return 1;
    }
    if (t.busy) { std::fprintf(stderr, "busy after done\n"); return 1; }
    if (cycles) *cycles = b.cycles - c0;
    if (first_latency) *first_latency = first_out - first_act;
    return 0;
}

int main(int argc, char** argv) {
    Verilated::commandArgs(argc, argv);
    const std::string dir = tb::arg_str(argc, argv, "dir", ".");
    const unsigned outbits = tb::arg_uint(argc, argv, "outbits", 32);
    const unsigned jobs = tb::arg_uint(argc, argv, "jobs", 2);
    const unsigned stall = tb::arg_uint(argc, argv, "stall", 30);
    tb::Rng rng(tb::arg_uint(argc, argv, "seed", 1));
    unsigned m, k, n;
    {
        std::ifstream f(dir + "/job.txt");
        if (!(f >> m >> k >> n)) { std::fprintf(stderr, "cannot read %s/job.txt\n", dir.c_str()); return 2; }
    }
    auto act = tb::read_vectors(dir + "/act.hex");
    auto wgt = tb::read_vectors(dir + "/wgt.hex");
    auto prm = tb::read_vectors(dir + "/prm.hex");
    auto out = tb::read_vectors(dir + "/out.hex");
    Bench b;
    b.top.clk = 0;
    b.reset();

    // A zero-size job completes at once.
    b.top.m_rows = 0; b.top.k_depth = k; b.top.n_cols = n; b.top.start = 1;
    b.tick();
    b.top.start = 0;
    if (!b.top.done || b.top.busy) { std::fprintf(stderr, "zero-size job did not complete\n"); return 1; }
    b.tick();

    uint64_t ideal = 0, latency = 0;
    for (unsigned j = 0; j < jobs; j++) {
        uint64_t c = 0;
        if (run_job(b, m, k, n, act, wgt, prm, out, outbits, rng, j == 0 ? 0 : stall, 0, &c,
                    j == 0 ? &latency : nullptr)) {
            std::fprintf(stderr, "job %u (M=%u K=%u N=%u) failed\n", j, m, k, n);
            return 1;
        }
        if (j == 0) ideal = c;
    }
    // Reset in the middle of a job, then a clean run.
    if (run_job(b, m, k, n, act, wgt, prm, out, outbits, rng, stall, ideal / 2 + 1, nullptr)) return 1;
    b.reset();
    if (run_job(b, m, k, n, act, wgt, prm, out, outbits, rng, stall, 0, nullptr)) {
        std::fprintf(stderr, "job after mid-run reset failed\n");
        return 1;
    }
    std::printf("top: M=%u K=%u N=%u, %zu output beats equal over %u+2 jobs; %llu cycles without stalls; "
                "first-row latency %llu\n",
                m, k, n, out.size(), jobs, (unsigned long long)ideal, (unsigned long long)latency);
    return 0;
}
