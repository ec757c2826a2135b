{{ header }}
// Self-checking Verilator testbench of repq_top: the `sim` target of repq_top.core
// (`fusesoc run --target sim`), built with the generated repq_params.h and nothing else.
//
// One M x K x N job of pseudo-random activation codes, full-range s{{ d.wob }} operands, biases and
// requantization constants: M = TM + 3 (a full M tile and a short one), K = 2R + 1 and N = C + 1
// (edge tiles in K and N; K smaller if the s{{ d.acc_bits }} accumulator needs it). It is driven by one thread
// in the documented stream order of repq_params.h, one stream at a time, every beat of a step
// before the next (a tile's parameters, per K tile its weights then its activations, then the
// tile's outputs), with random gaps; beats are packed with the header's repq_pack_* functions.
// Every output element is compared with U1 + U2 of docs/arithmetic.md computed here,
//   out[m][n] = clamp(round_shift((bias[n] + sum_k a[m][k] w[k][n]) * m0[n], shift[n]) + zp[n], lo[n], hi[n]),
//   round_shift(x, s) = floor(x / 2^s) + bit s-1 of x,
// and m_out_last must mark the last beat only. Prints PASS and exits 0, or the first difference
// (or a beat the design did not take: a deadlock) and exits 1. Plusargs: +seed=N (default 1),
// +stall=PERCENT of cycles without valid/ready (default 25).

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <vector>

#include "Vrepq_top.h"
#include "repq_params.h"
#include "verilated.h"

namespace {

typedef std::vector<uint32_t> Beat;  // 32-bit words, least significant first
{%- if d.out_signed() %}
typedef int32_t OutLane;              // repq_unpack_out: signed s{{ d.obits }} lanes
{%- else %}
typedef uint8_t OutLane;              // repq_unpack_out: u{{ d.abits }} codes
{%- endif %}

// Verilator port access for every port type.
void put(CData& p, const Beat& b) { p = CData(b[0]); }
void put(SData& p, const Beat& b) { p = SData(b[0]); }
void put(IData& p, const Beat& b) { p = b[0]; }
void put(QData& p, const Beat& b) { p = QData(b[0]) | (b.size() > 1 ? QData(b[1]) << 32 : 0); }
template <std::size_t N> void put(VlWide<N>& p, const Beat& b) {
    for (std::size_t i = 0; i < N; i++) p[i] = i < b.size() ? b[i] : 0;
}
Beat take(CData p) { return Beat(1, p); }
Beat take(SData p) { return Beat(1, p); }
Beat take(IData p) { return Beat(1, p); }
Beat take(QData p) { return Beat{uint32_t(p), uint32_t(p >> 32)}; }
template <std::size_t N> Beat take(const VlWide<N>& p) {
    Beat b(N);
    for (std::size_t i = 0; i < N; i++) b[i] = p[i];
    return b;
}

// xorshift64*: the job's data and the stall pattern from the seed.
struct Rng {
    uint64_t s;
    explicit Rng(uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull + 1) {}
    uint64_t next() {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        return s * 0x2545F4914F6CDD1Dull;
    }
    int64_t range(int64_t lo, int64_t hi) { return lo + int64_t(next() % uint64_t(hi - lo + 1)); }
    bool chance(unsigned percent) { return next() % 100 < percent; }
};

unsigned arg(int argc, char** argv, const char* name, unsigned dflt) {
    const std::string key = std::string("+") + name + "=";
    for (int i = 1; i < argc; i++) {
        const std::string a = argv[i];
        if (a.rfind(key, 0) == 0) return unsigned(std::strtoul(a.c_str() + key.size(), nullptr, 10));
    }
    return dflt;
}

int64_t round_shift(int64_t x, unsigned s) { return (x >> s) + ((x >> (s - 1)) & 1); }

unsigned bit_length(uint64_t x) {
    unsigned n = 0;
    while (x) {
        n++;
        x >>= 1;
    }
    return n;
}

struct Column {
    int64_t bias;
    uint32_t m0, shift;
    int32_t zp;
    int64_t lo, hi;
};

[[noreturn]] void fail(const std::string& what) {
    std::printf("FAIL repq_top %s: %s\n", REPQ_CONFIG, what.c_str());
    std::exit(1);
}

}  // namespace

int main(int argc, char** argv) {
    Verilated::commandArgs(argc, argv);
    const unsigned seed = arg(argc, argv, "seed", 1);
    const unsigned stall = arg(argc, argv, "stall", 25);
    Rng rng(seed);

    const size_t R = REPQ_PE_ROWS, C = REPQ_PE_COLS, TM = REPQ_M_TILE;
    const int64_t amax = (int64_t(1) << REPQ_ABITS) - 1;
    const int64_t wmax = (int64_t(1) << (REPQ_W_OPERAND_BITS - 1)) - 1;
    const int64_t accmax = (int64_t(1) << (REPQ_ACC_BITS - 1)) - 1;
    const size_t M = TM + 3, N = C + 1;
    size_t K = 2 * R + 1;
    if (int64_t(K) * amax * wmax > accmax) K = size_t(accmax / (amax * wmax));
    const int64_t room = accmax - int64_t(K) * amax * wmax;  // what the bias may add

    std::vector<uint8_t> a(M * K);
    std::vector<int16_t> w(K * N);
    for (auto& x : a) x = uint8_t(rng.range(0, amax));
    for (auto& x : w) x = int16_t(rng.range(-wmax, wmax));
    // Shifts that put a typical accumulator (about sqrt(K) amax wmax / 2) near the output range,
    // one below and one above it in every third column, so that outputs both spread and clamp.
    uint64_t typical = 1;
    while (typical * typical < K) typical++;
    typical = typical * uint64_t(amax) * uint64_t(wmax) / 2 + 1;
    const int64_t lane_lo = {% if d.out_signed() %}-(int64_t(1) << (REPQ_OUT_LANE_BITS - 1)){% else %}0{% endif %};
    const int64_t lane_hi = {% if d.out_signed() %}(int64_t(1) << (REPQ_OUT_LANE_BITS - 1)) - 1{% else %}amax{% endif %};
    std::vector<Column> col(N);
    for (size_t n = 0; n < N; n++) {
        Column& c = col[n];
        c.bias = rng.range(-std::min<int64_t>(room, int64_t(typical)), std::min<int64_t>(room, int64_t(typical)));
        c.m0 = uint32_t(rng.range(int64_t(1) << 30, (int64_t(1) << 31) - 1));
        const int64_t s = int64_t(bit_length(typical)) + 31 - int64_t(REPQ_OUT_LANE_BITS) + int64_t(n % 3) - 1;
        c.shift = uint32_t(s < 1 ? 1 : s > 62 ? 62 : s);
        c.zp = int32_t({% if d.out_signed() %}rng.range(-(lane_hi / 4), lane_hi / 4){% else %}rng.range(0, amax){% endif %});
        c.lo = n % 4 == 1 ? rng.range(lane_lo, lane_lo + (lane_hi - lane_lo) / 4) : lane_lo;
        c.hi = n % 4 == 2 ? rng.range(lane_hi - (lane_hi - lane_lo) / 4, lane_hi) : lane_hi;
    }
    std::vector<int64_t> expect(M * N);
    std::set<int64_t> distinct;
    for (size_t m = 0; m < M; m++)
        for (size_t n = 0; n < N; n++) {
            int64_t acc = col[n].bias;
            for (size_t k = 0; k < K; k++) acc += int64_t(a[m * K + k]) * w[k * N + n];
            if (acc > accmax || acc < -accmax - 1) fail("test data overflow the accumulator");
            int64_t y = round_shift(acc * int64_t(col[n].m0), col[n].shift) + col[n].zp;
            y = y < col[n].lo ? col[n].lo : y > col[n].hi ? col[n].hi : y;
            expect[m * N + n] = y;
            distinct.insert(y);
        }
    if (distinct.size() < std::min<size_t>(8, M * N / 4)) fail("degenerate test data (too few distinct outputs)");

    // The documented order: per (m0, n0) tile the parameters, per K tile weights then
    // activations, then the outputs. One step at a time, each beat until it is taken.
    enum Stream { PRM, WGT, ACT, OUT };
    struct Step {
        Stream stream;
        size_t m0, n0, k0;
    };
    std::vector<Step> steps;
    for (size_t m0 = 0; m0 < M; m0 += TM)
        for (size_t n0 = 0; n0 < N; n0 += C) {
            steps.push_back({PRM, m0, n0, 0});
            for (size_t k0 = 0; k0 < K; k0 += R) {
                steps.push_back({WGT, m0, n0, k0});
                steps.push_back({ACT, m0, n0, k0});
            }
            steps.push_back({OUT, m0, n0, 0});
        }

    Vrepq_top top;
    uint64_t cycle = 0;
    auto settle = [&]() {
        top.clk = 0;
        top.eval();
    };
    auto edge = [&]() {
        top.clk = 1;
        top.eval();
        cycle++;
    };
    top.rst = 1;
    top.start = 0;
    top.s_act_valid = 0;
    top.s_wgt_valid = 0;
    top.s_prm_valid = 0;
    top.m_out_ready = 0;
    for (int i = 0; i < 4; i++) {
        settle();
        edge();
    }
    top.rst = 0;
    top.m_rows = uint32_t(M);
    top.k_depth = uint32_t(K);
    top.n_cols = uint32_t(N);
    top.start = 1;
    settle();
    edge();
    top.start = 0;

    const uint64_t patience = 4 * (REPQ_OUTPUT_LATENCY + REPQ_PE_ROWS + REPQ_PE_COLS) + 1000;
    size_t out_beats = 0;
    const size_t total_out = M * ((N + C - 1) / C);
    bool done_seen = false;
    for (const Step& st : steps) {
        const size_t mr = std::min(TM, M - st.m0), nr = std::min(C, N - st.n0), kr = std::min(R, K - st.k0);
        const size_t beats = st.stream == PRM ? nr : st.stream == WGT ? kr : mr;
        for (size_t i = 0; i < beats; i++) {
            Beat b;
            if (st.stream == PRM) {
                const Column& c = col[st.n0 + i];
                b.assign(REPQ_PRM_BEAT_WORDS, 0);
                repq_pack_prm(b.data(), c.bias, c.m0, c.shift, c.zp, {% if d.out_signed() %}int32_t(c.lo), int32_t(c.hi){% else %}uint32_t(c.lo), uint32_t(c.hi){% endif %});
            } else if (st.stream == WGT) {
                std::vector<int16_t> lanes(C, 0);
                for (size_t c = 0; c < nr; c++) lanes[c] = w[(st.k0 + i) * N + st.n0 + c];
                b.assign(REPQ_WGT_BEAT_WORDS, 0);
                repq_pack_wgt(b.data(), lanes.data());
            } else if (st.stream == ACT) {
                std::vector<uint8_t> lanes(R, 0);
                for (size_t r = 0; r < kr; r++) lanes[r] = a[(st.m0 + i) * K + st.k0 + r];
                b.assign(REPQ_ACT_BEAT_WORDS, 0);
                repq_pack_act(b.data(), lanes.data());
            }
            const uint64_t since = cycle;
            bool moved = false;
            while (!moved) {
                if (cycle - since > patience)
                    fail(std::string("deadlock: the design did not take ") +
                         (st.stream == PRM ? "parameter" : st.stream == WGT ? "weight" : st.stream == ACT ? "activation" : "output") +
                         " beat " + std::to_string(i) + " of tile (m0 " + std::to_string(st.m0) + ", n0 " +
                         std::to_string(st.n0) + ", k0 " + std::to_string(st.k0) + ") within " + std::to_string(patience) + " cycles");
                const bool on = !rng.chance(stall);
                top.s_prm_valid = st.stream == PRM && on;
                top.s_wgt_valid = st.stream == WGT && on;
                top.s_act_valid = st.stream == ACT && on;
                top.m_out_ready = st.stream == OUT && on;
                if (st.stream == PRM) put(top.s_prm_data, b);
                if (st.stream == WGT) put(top.s_wgt_data, b);
                if (st.stream == ACT) put(top.s_act_data, b);
                settle();
                if (st.stream == PRM) moved = on && top.s_prm_ready;
                if (st.stream == WGT) moved = on && top.s_wgt_ready;
                if (st.stream == ACT) moved = on && top.s_act_ready;
                if (st.stream == OUT && on && top.m_out_valid) {
                    moved = true;
                    const Beat o = take(top.m_out_data);
                    std::vector<OutLane> lanes(C);
                    repq_unpack_out(o.data(), lanes.data());
                    for (size_t c = 0; c < C; c++) {
                        const size_t m = st.m0 + i, n = st.n0 + c;
                        const int64_t want = c < nr ? expect[m * N + n] : 0;
                        if (int64_t(lanes[c]) != want)
                            fail("out[" + std::to_string(m) + "][" + std::to_string(n) + "] = " +
                                 std::to_string(int64_t(lanes[c])) + ", expected " + std::to_string(want) +
                                 (c < nr ? "" : " (a lane past the matrix edge)"));
                    }
                    if (bool(top.m_out_last) != (out_beats + 1 == total_out))
                        fail("m_out_last wrong at output beat " + std::to_string(out_beats));
                    out_beats++;
                }
                edge();
                if (top.done) done_seen = true;
            }
        }
    }
    top.s_prm_valid = 0;
    top.s_wgt_valid = 0;
    top.s_act_valid = 0;
    top.m_out_ready = 0;
    settle();
    if (!done_seen) fail("no done pulse after the last output beat");
    edge();
    settle();
    if (top.busy || top.m_out_valid) fail("busy or an output beat left after done");
    top.final();
    std::printf("PASS repq_top %s: %zu x %zu x %zu job, %zu output elements equal (%zu distinct), "
                "single-threaded stream order, seed %u, stall %u%%, %llu cycles\n",
                REPQ_CONFIG, M, K, N, M * N, distinct.size(), seed, stall, (unsigned long long)cycle);
    return 0;
}
