// Testbench of repq_logcode (U3): drives lc_in.hex (p c_int t1 t0 tm1; p packs LANES lanes) with
// random gaps and random output back-pressure, compares every output beat with lc_out.hex
// (code zero), in order. Plusargs: +dir=DIR, +codebits=N, +lanes=L, +seed=S.
#include "Vrepq_logcode.h"
#include "tb.h"

int main(int argc, char** argv) {
    Verilated::commandArgs(argc, argv);
    const std::string dir = tb::arg_str(argc, argv, "dir", ".");
    const unsigned codebits = tb::arg_uint(argc, argv, "codebits", 8);
    const unsigned lanes = tb::arg_uint(argc, argv, "lanes", 1);
    tb::Rng rng(tb::arg_uint(argc, argv, "seed", 1));
    auto in = tb::read_vectors(dir + "/lc_in.hex");
    auto out = tb::read_vectors(dir + "/lc_out.hex");
    Vrepq_logcode top;
    top.clk = 0; top.rst = 1; top.in_valid = 0; top.out_ready = 0;
    for (int i = 0; i < 4; i++) { top.clk = 0; top.eval(); top.clk = 1; top.eval(); }
    top.rst = 0;
    size_t sent = 0, got = 0;
    bool presenting = false;
    for (uint64_t cycle = 0; got < out.size(); cycle++) {
        if (cycle > 100 * (in.size() + 100)) { std::fprintf(stderr, "TIMEOUT\n"); return 1; }
        if (!presenting && sent < in.size() && !rng.chance(5)) presenting = true;
        top.in_valid = presenting;
        if (presenting) {
            const auto& v = in[sent];
            tb::set(top.p, v[0]); tb::set(top.c_int, v[1]); tb::set(top.t1, v[2]);
            tb::set(top.t0, v[3]); tb::set(top.tm1, v[4]);
        }
        top.out_ready = !rng.chance(5);
        top.clk = 0; top.eval();
        if (top.out_valid && top.out_ready) {
            tb::Words code = tb::get(top.code), zero = tb::get(top.zero);
            if (!tb::equal(out[got][0], code, codebits)) tb::fail("logcode code", got, out[got][0], code, codebits);
            if (!tb::equal(out[got][1], zero, lanes)) tb::fail("logcode zero", got, out[got][1], zero, lanes);
            got++;
        }
        if (presenting && top.in_ready) { presenting = false; sent++; }
        top.clk = 1; top.eval();
    }
    std::printf("logcode: %zu beats equal\n", got);
    return 0;
}
