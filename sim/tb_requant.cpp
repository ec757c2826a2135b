// Testbench of repq_requant (U2): drives rq_in.hex (acc m0 shift zp lo hi, LANES lanes packed per
// field) with random gaps and compares every output row with rq_out.hex (y), in order.
// Plusargs: +dir=DIR (vector directory), +ybits=N (bits of y), +seed=S.
#include "Vrepq_requant.h"
#include "tb.h"

int main(int argc, char** argv) {
    Verilated::commandArgs(argc, argv);
    const std::string dir = tb::arg_str(argc, argv, "dir", ".");
    const unsigned ybits = tb::arg_uint(argc, argv, "ybits", 32);
    tb::Rng rng(tb::arg_uint(argc, argv, "seed", 1));
    auto in = tb::read_vectors(dir + "/rq_in.hex");
    auto out = tb::read_vectors(dir + "/rq_out.hex");
    Vrepq_requant top;
    top.clk = 0;
    top.rst = 1;
    top.in_valid = 0;
    top.in_side = 0;
    for (int i = 0; i < 4; i++) { top.clk = 0; top.eval(); top.clk = 1; top.eval(); }
    top.rst = 0;
    size_t sent = 0, got = 0;
    for (uint64_t cycle = 0; got < out.size(); cycle++) {
        if (cycle > 100 * (in.size() + 100)) { std::fprintf(stderr, "TIMEOUT\n"); return 1; }
        bool send = sent < in.size() && !rng.chance(10);
        top.in_valid = send;
        if (send) {
            const auto& v = in[sent];
            tb::set(top.acc, v[0]); tb::set(top.m0, v[1]); tb::set(top.shift, v[2]);
            tb::set(top.zp, v[3]); tb::set(top.lo, v[4]); tb::set(top.hi, v[5]);
            top.in_side = sent & 1;
        }
        top.clk = 0; top.eval();
        if (top.out_valid) {
            if (got >= out.size()) { std::fprintf(stderr, "EXTRA output\n"); return 1; }
            tb::Words y = tb::get(top.y);
            if (!tb::equal(out[got][0], y, ybits)) tb::fail("requant y", got, out[got][0], y, ybits);
            if (top.out_side != (got & 1)) { std::fprintf(stderr, "side band lost at %zu\n", got); return 1; }
            got++;
        }
        if (send) sent++;
        top.clk = 1; top.eval();
    }
    std::printf("requant: %zu rows equal\n", got);
    return 0;
}
