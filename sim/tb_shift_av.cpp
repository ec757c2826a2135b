// Testbench of repq_shift_av (U4): drives av_in.hex (last code zero f v; v packs LANES lanes), one
// beat per key, with random gaps and random output back-pressure; compares every output row with
// av_out.hex (out), in order. Plusargs: +dir=DIR, +outbits=N, +seed=S.
#include "Vrepq_shift_av.h"
#include "tb.h"

int main(int argc, char** argv) {
    Verilated::commandArgs(argc, argv);
    const std::string dir = tb::arg_str(argc, argv, "dir", ".");
    const unsigned outbits = tb::arg_uint(argc, argv, "outbits", 32);
    tb::Rng rng(tb::arg_uint(argc, argv, "seed", 1));
    auto in = tb::read_vectors(dir + "/av_in.hex");
    auto out = tb::read_vectors(dir + "/av_out.hex");
    Vrepq_shift_av top;
    top.clk = 0; top.rst = 1; top.in_valid = 0; top.out_ready = 0;
    for (int i = 0; i < 4; i++) { top.clk = 0; top.eval(); top.clk = 1; top.eval(); }
    top.rst = 0;
    size_t sent = 0, got = 0;
    bool presenting = false;
    for (uint64_t cycle = 0; got < out.size(); cycle++) {
        if (cycle > 100 * (in.size() + 100)) { std::fprintf(stderr, "TIMEOUT\n"); return 1; }
        if (!presenting && sent < in.size() && !rng.chance(20)) presenting = true;
        top.in_valid = presenting;
        if (presenting) {
            const auto& v = in[sent];
            top.in_last = v[0][0]; tb::set(top.code, v[1]); top.zero = v[2][0];
            top.f = v[3][0]; tb::set(top.v, v[4]);
        }
        top.out_ready = !rng.chance(20);
        top.clk = 0; top.eval();
        if (top.out_valid && top.out_ready) {
            tb::Words o = tb::get(top.out);
            if (!tb::equal(out[got][0], o, outbits)) tb::fail("shift_av out", got, out[got][0], o, outbits);
            got++;
        }
        if (presenting && top.in_ready) { presenting = false; sent++; }
        top.clk = 1; top.eval();
    }
    std::printf("shift_av: %zu rows equal\n", got);
    return 0;
}
