// Harness of repq_av_requant (the U2 of the attention x V outputs into the proj input codes,
// heads merged; docs/arithmetic.md): every output beat's codes and its place in the merged matrix
// (m_out_row, m_out_col, m_out_keep) against the golden proj input.
//
// Plusargs (operands as in golden.h):
//   +golden=DIR  +av= [H, T, D_h] U4 outputs (s{ACC})
//   +m0= +shift= +zero_point= +lo= +hi=  one value for all heads, or [H] (per head)
//   +out= [T, H * D_h] the proj input codes (head h's channel c in column h * D_h + c)
//   +seed=S +stall=PERCENT (default 20) +fst=FILE
// Input beats in U4's order (per head, per lane group of REPQ_PE_COLS channels, per query), each
// with its head's constants. Runs: a zero-size job (done at once, nothing streamed); a job with
// s_av always valid and m_out always ready, whose cycle count from the cycle after the start
// pulse to the cycle done is high is printed as "C cycles without stalls"
// (perf::av_requant_cycles); a job with random gaps on s_av and back-pressure on m_out; a job
// whose m_out is not ready for a long time at first (the input must stop when the output FIFO's
// credits are used up); one cut off by a reset halfway; and one after the reset. During every job
// the size ports change (they count only at the start pulse) and, once every beat was sent, a
// beat beyond the job is offered, which must not be taken. Every job must deliver every element
// of the proj input exactly once, padding lanes 0, m_out_last on the last beat only, done once;
// after reset nothing is busy, done, valid or ready.
// RQ_LANES is the design's (REPQ_AV_REQUANT_LANES) unless the build overrides it (-GRQ_LANES=..
// with -DREPQ_G_RQ_LANES=.., as build_harness_with does).
#include "Vrepq_av_requant.h"
#include "stream.h"

#ifndef REPQ_G_RQ_LANES
#define REPQ_G_RQ_LANES REPQ_AV_REQUANT_LANES
#endif

namespace {
const unsigned LANES = REPQ_PE_COLS;
const unsigned ABITS = REPQ_ABITS;
const unsigned ACC = REPQ_ACC_BITS;
const unsigned RQ = REPQ_G_RQ_LANES;

std::string unit() { return "repq_av_requant (RQ_LANES=" + std::to_string(RQ) + ")"; }
}  // namespace

int main(int argc, char** argv) {
    Verilated::commandArgs(argc, argv);
    const golden::Dir g(tb::arg_str(argc, argv, "golden", "."));
    auto arg = [&](const char* name) { return harness::operand(g, argc, argv, name); };
    const golden::Tensor av = arg("av"), m0 = arg("m0"), shift = arg("shift"), zp = arg("zero_point"),
                         lo = arg("lo"), hi = arg("hi"), out = arg("out");
    if (av.shape.size() != 3) golden::die("av " + av.type() + " must be [heads, tokens, head width]");
    const size_t H = av.dim(0), T = av.dim(1), DH = av.dim(2), D = H * DH;
    if (out.shape != std::vector<size_t>{T, D})
        golden::die("out " + out.type() + " must be [tokens, heads * head width] = [" + std::to_string(T) + ", " +
                    std::to_string(D) + "]");
    for (auto* c : {&m0, &shift, &zp, &lo, &hi})
        if (c->v.size() != 1 && c->v.size() != H)
            golden::die(c->name + " " + c->type() + ": one value, or one per head (" + std::to_string(H) + ")");
    const size_t maxdim = (size_t(1) << REPQ_DIM_BITS) - 1;
    if (T > maxdim || D > maxdim) harness::unsupported("tokens or heads * head width exceed " + std::to_string(maxdim));
    harness::require_fits(av, ACC, true, "the input lanes (s{ACC})");
    harness::require_fits(m0, 31, false, "m0");
    harness::require_fits(zp, 32, true, "zero_point");
    harness::require_fits(lo, ABITS, false, "lo (u{ABITS})");
    harness::require_fits(hi, ABITS, false, "hi (u{ABITS})");
    harness::require_fits(out, ABITS, false, "the code lanes");
    for (size_t i = 0; i < shift.v.size(); i++)
        if (shift.v[i] < 1 || shift.v[i] > 62)
            harness::unsupported("shift " + std::to_string(shift.v[i]) + " is outside 1 .. 62");
    auto per_head = [&](const golden::Tensor& c, size_t h) { return c.v.size() == 1 ? c.v[0] : c.v[h]; };

    // Beat b: head, lane group, query.
    const size_t groups = (DH + LANES - 1) / LANES, beats = H * groups * T;
    auto head_of = [&](size_t b) { return b / (groups * T); };
    auto group_of = [&](size_t b) { return (b / T) % groups; };
    auto query_of = [&](size_t b) { return b % T; };

    harness::Sim<Vrepq_av_requant> sim(argc, argv);
    auto& t = sim.top;
    std::string what;
    auto drive = [&](size_t b) {
        const size_t h = head_of(b), c0 = group_of(b) * LANES, q = query_of(b);
        tb::Words w = stream::words(LANES * ACC);
        for (size_t l = 0; l < LANES && c0 + l < DH; l++)
            repq_put_bits(w.data(), unsigned(l * ACC), ACC, uint64_t(av.v[(h * T + q) * DH + c0 + l]));
        tb::set(t.s_av_data, w);
        t.m0 = uint32_t(per_head(m0, h));
        t.shift = uint8_t(per_head(shift, h));
        t.zero_point = uint32_t(per_head(zp, h));
        t.lo = uint32_t(per_head(lo, h));
        t.hi = uint32_t(per_head(hi, h));
    };
    std::vector<int> seen;
    auto check = [&](size_t b) {
        const size_t h = head_of(b), c0 = group_of(b) * LANES, q = query_of(b);
        const size_t col = h * DH + c0;
        const std::string at = what + ", output beat " + std::to_string(b) + " (head " + std::to_string(h) +
                               ", channels " + std::to_string(c0) + "+, query " + std::to_string(q) + ")";
        if (size_t(t.m_out_row) != q || size_t(t.m_out_col) != col)
            harness::protocol(unit(), at + ": placed at row " + std::to_string(t.m_out_row) + " column " +
                                          std::to_string(t.m_out_col) + ", expected row " + std::to_string(q) +
                                          " column " + std::to_string(col));
        if (bool(t.m_out_last) != (b + 1 == beats))
            harness::protocol(unit(), at + ": m_out_last is " + std::to_string(int(t.m_out_last)));
        const tb::Words keep = tb::get(t.m_out_keep), o = tb::get(t.m_out_data);
        for (size_t l = 0; l < LANES; l++) {
            const bool in_head = c0 + l < DH;
            if (bool((keep[l / 32] >> (l % 32)) & 1) != in_head)
                harness::protocol(unit(), at + ": m_out_keep lane " + std::to_string(l) + " is wrong");
            const int64_t got = int64_t(repq_get_bits(o.data(), unsigned(l * ABITS), ABITS));
            if (!in_head) {
                if (got != 0) harness::protocol(unit(), at + ": lane " + std::to_string(l) + " outside the head is not 0");
                continue;
            }
            const size_t i = q * D + col + l;
            if (seen[i]++) harness::protocol(unit(), at + ": element " + out.index(i) + " delivered twice");
            if (got != out.v[i])
                harness::mismatch(unit(), out, i, out.v[i], got,
                                  at + " lane " + std::to_string(l) + "; av " +
                                      std::to_string(av.v[(h * T + q) * DH + c0 + l]));
        }
    };
    auto start = [&](size_t tokens, size_t dh, size_t heads) {
        t.start = 1;
        t.tokens = uint32_t(tokens);
        t.head_dim = uint32_t(dh);
        t.heads = uint32_t(heads);
        sim.settle();
        if (t.busy) harness::protocol(unit(), what + ": busy before the start pulse");
        sim.edge();
        t.start = 0;
    };
    // One job; returns the cycles from the cycle after the start pulse to the cycle done is high.
    // The size ports change after the start pulse (they are taken at the pulse only); once every
    // beat is sent, a beat beyond the job is offered and must not be taken; m_out is held not
    // ready for the first `block` cycles (the credits must keep the FIFO from overflowing).
    auto job = [&](tb::Rng& rng, unsigned stall, uint64_t abort_after, uint64_t block) -> uint64_t {
        seen.assign(T * D, 0);
        stream::Source src{beats};
        stream::Sink snk{beats};
        start(T, DH, H);
        const uint64_t c0 = sim.cycles;
        while (true) {
            if (sim.cycles - c0 > 64 * beats * (LANES / RQ) + 1000 + block)
                harness::protocol(unit(), what + ": timeout: " + std::to_string(snk.got) + " of " +
                                              std::to_string(beats) + " output beats");
            if (abort_after && sim.cycles - c0 >= abort_after) return sim.cycles - c0;
            t.tokens = uint32_t(rng.next());
            t.head_dim = uint32_t(rng.next());
            t.heads = uint32_t(rng.next());
            const bool extra = src.done();
            t.s_av_valid = src.pre(rng, stall, drive) || extra;
            t.m_out_ready = snk.pre(rng, stall) && sim.cycles - c0 >= block;
            snk.ready = t.m_out_ready;
            sim.settle();
            if (extra && t.s_av_ready)
                harness::protocol(unit(), what + ": a beat beyond the job's " + std::to_string(beats) + " was taken");
            if (t.done) {
                if (!snk.done()) harness::protocol(unit(), what + ": done before the last output beat");
                break;
            }
            snk.post(t.m_out_valid, unit(), check);
            src.post(t.s_av_ready);
            sim.edge();
        }
        const uint64_t cycles = sim.cycles - c0;
        if (!src.done()) harness::protocol(unit(), what + ": done before every input beat was taken");
        t.s_av_valid = 0;
        t.m_out_ready = 1;
        for (int i = 0; i < 16; i++) {
            sim.edge();
            sim.settle();
            if (t.m_out_valid) harness::protocol(unit(), what + ": extra output beat after the last expected one");
            if (t.done || t.busy) harness::protocol(unit(), what + ": done or busy after the job ended");
        }
        return cycles;
    };
    auto reset = [&]() {
        t.rst = 1;
        t.start = 0;
        t.s_av_valid = 0;
        t.m_out_ready = 0;
        for (int i = 0; i < 4; i++) sim.tick();
        t.rst = 0;
        sim.settle();
        if (t.busy || t.done || t.m_out_valid || t.s_av_ready)
            harness::protocol(unit(), "after reset: busy, done, m_out_valid or s_av_ready is high");
    };
    const unsigned seed = tb::arg_uint(argc, argv, "seed", 1);
    const unsigned stall = tb::arg_uint(argc, argv, "stall", 20);
    tb::Rng rng(seed);
    reset();
    // A job with a size 0 completes at once.
    for (int z = 0; z < 3; z++) {
        what = "zero-size job " + std::to_string(z);
        start(z == 0 ? 0 : T, z == 1 ? 0 : DH, z == 2 ? 0 : H);
        sim.settle();
        if (!t.done || t.busy) harness::protocol(unit(), what + ": no done pulse, or busy");
        sim.edge();
    }
    what = "job without stalls";
    const uint64_t ideal = job(rng, 0, 0, 0);
    what = "job 1";
    const uint64_t cycles = job(rng, stall, 0, 0);
    what = "job with m_out blocked at first";
    job(rng, 0, 0, 40 * (LANES / RQ) + 64);
    what = "job cut off by a reset";
    job(rng, stall, cycles / 2 + 1, 0);
    reset();
    what = "job after a reset in mid-run";
    job(rng, stall, 0, 0);
    std::printf("av_requant %s RQ_LANES=%u: %s H=%zu T=%zu D_h=%zu: %zu elements compared in each of 4 jobs, all "
                "equal (seed %u, stall %u%%); %llu cycles without stalls\n",
                harness::config(), RQ, out.name.c_str(), H, T, DH, T * D, seed, stall, (unsigned long long)ideal);
    return 0;
}
