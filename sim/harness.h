// Shared parts of the golden-vector harnesses (sim/top.cpp, sim/logcode.cpp, sim/shift_av.cpp,
// sim/requant.cpp):
// the clocked model with an optional FST waveform (+fst=FILE; the build needs --trace-fst, which
// `repq-hw verify --fst` adds), the mismatch report, and a ready/valid stream runner with random
// gaps and back-pressure.
//
// Exit status: 0 all outputs equal; 1 a mismatch or a protocol error (lost, extra or late beats);
// 2 bad golden data or arguments; 3 the golden tensors do not fit this configuration.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "golden.h"
#include "repq_params.h"
#include "tb.h"
#if VM_TRACE
#include "verilated_fst_c.h"
#endif

namespace harness {

// The configuration tag of the generated design the harness was built against.
inline const char* config() { return REPQ_CONFIG; }

template <class T>
struct Sim {
    T top;
    uint64_t cycles = 0;
    uint64_t time = 0;
#if VM_TRACE
    std::unique_ptr<VerilatedFstC> fst;
#endif

    Sim(int argc, char** argv) {
        const std::string path = tb::arg_str(argc, argv, "fst", "");
        if (path.empty()) return;
#if VM_TRACE
        Verilated::traceEverOn(true);
        fst.reset(new VerilatedFstC);
        top.trace(fst.get(), 99);
        fst->open(path.c_str());
#else
        golden::die("+fst needs a build with --trace-fst (repq-hw verify --fst)");
#endif
    }
    ~Sim() {
#if VM_TRACE
        if (fst) fst->close();
#endif
    }
    void dump() {
#if VM_TRACE
        if (fst) fst->dump(time);
#endif
        time++;
    }
    // Settles the combinational logic with the clock low (after the inputs changed).
    void settle() {
        top.clk = 0;
        top.eval();
        dump();
    }
    // The rising edge.
    void edge() {
        top.clk = 1;
        top.eval();
        dump();
        cycles++;
    }
    void tick() {
        settle();
        edge();
    }
};

[[noreturn]] inline void mismatch(const std::string& unit, const golden::Tensor& t, size_t flat,
                                  int64_t want, int64_t got, const std::string& context) {
    std::fprintf(stderr,
                 "MISMATCH config %s, %s: tensor %s %s, first mismatch at index %s: expected %lld, "
                 "got %lld (%s)\n",
                 config(), unit.c_str(), t.name.c_str(), t.type().c_str(), t.index(flat).c_str(),
                 (long long)want, (long long)got, context.c_str());
    std::exit(1);
}

[[noreturn]] inline void protocol(const std::string& unit, const std::string& what) {
    std::fprintf(stderr, "PROTOCOL ERROR config %s, %s: %s\n", config(), unit.c_str(), what.c_str());
    std::exit(1);
}

[[noreturn]] inline void unsupported(const std::string& what) {
    std::fprintf(stderr, "UNSUPPORTED by config %s: %s\n", config(), what.c_str());
    std::exit(3);
}

// The golden operand a required plusarg +NAME= specifies (golden.h's operand syntax).
inline golden::Tensor operand(const golden::Dir& g, int argc, char** argv, const char* name) {
    const std::string v = tb::arg_str(argc, argv, name, "");
    if (v.empty()) golden::die(std::string("missing +") + name + "=");
    return g.load(v);
}

// Checks that every element of t fits `bits` bits of the given signedness.
inline void require_fits(const golden::Tensor& t, unsigned bits, bool is_signed, const std::string& field) {
    for (size_t i = 0; i < t.v.size(); i++)
        if (!golden::fits(t.v[i], bits, is_signed))
            unsupported("tensor " + t.name + " " + t.type() + " element " + (t.constant() ? "" : t.index(i)) +
                        " = " + std::to_string(t.v[i]) + " does not fit " + field + " (" +
                        (is_signed ? "s" : "u") + std::to_string(bits) + ")");
}

// A tensor's element count must be n, or it is a constant (broadcast).
inline void require_len(const golden::Tensor& t, size_t n, const std::string& role) {
    if (!t.constant() && t.v.size() != n && !(t.v.size() == 1 && n >= 1))
        golden::die(role + " " + t.name + " " + t.type() + ": expected " + std::to_string(n) +
                    " elements (or one, broadcast)");
}

// One run of a unit with one input and one output stream (ports in_valid/in_ready,
// out_valid/out_ready). `drive(i)` puts input beat i on the ports; `check(j)` compares output
// beat j (and exits on a mismatch). Input beats wait a random gap with probability `stall`
// percent each cycle; the output is not ready with the same probability. With abort_after > 0
// the run stops after that many cycles (a reset follows). Returns the cycles taken, from the
// cycle the run starts (with stall 0: the first input beat's) to the cycle after the last output
// beat was taken (the convention of src/perf; the check for extra beats that follows is not
// counted).
template <class T>
uint64_t run_stream(Sim<T>& s, const std::string& unit, size_t n_in, size_t n_out,
                    const std::function<void(size_t)>& drive, const std::function<void(size_t)>& check,
                    tb::Rng& rng, unsigned stall, uint64_t abort_after) {
    auto& t = s.top;
    size_t sent = 0, got = 0;
    bool presenting = false;
    const uint64_t c0 = s.cycles;
    while (got < n_out) {
        if (s.cycles - c0 > 64 * (n_in + n_out) + 1000)
            protocol(unit, "timeout: " + std::to_string(got) + " of " + std::to_string(n_out) +
                               " outputs after " + std::to_string(sent) + " of " + std::to_string(n_in) + " inputs");
        if (abort_after && s.cycles - c0 >= abort_after) return s.cycles - c0;
        if (!presenting && sent < n_in && !rng.chance(stall)) presenting = true;
        t.in_valid = presenting;
        if (presenting) drive(sent);
        t.out_ready = !rng.chance(stall);
        s.settle();
        if (t.out_valid && t.out_ready) {
            if (got >= n_out) protocol(unit, "extra output beat");
            check(got);
            got++;
        }
        if (presenting && t.in_ready) {
            presenting = false;
            sent++;
        }
        s.edge();
    }
    const uint64_t cycles = s.cycles - c0;
    // Nothing more may come out.
    t.in_valid = 0;
    t.out_ready = 1;
    for (int i = 0; i < 16; i++) {
        s.settle();
        if (t.out_valid) protocol(unit, "extra output beat after the last expected one");
        s.edge();
    }
    if (sent != n_in) protocol(unit, "outputs complete but only " + std::to_string(sent) + " of " +
                                         std::to_string(n_in) + " inputs taken");
    return cycles;
}

template <class T>
void reset_unit(Sim<T>& s) {
    s.top.rst = 1;
    s.top.in_valid = 0;
    s.top.out_ready = 0;
    for (int i = 0; i < 4; i++) s.tick();
    s.top.rst = 0;
}

}  // namespace harness
