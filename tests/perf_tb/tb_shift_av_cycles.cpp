// Cycle count of repq_shift_av (U4) with the input always valid and the output always ready
// (tests/perf_rtl.rs compares it with repq_hw::perf::av_cycles). Feeds +rows=Q output rows of
// +keys=T beats each (zero codes and values: the timing does not depend on the data), counting
// from the cycle the first beat is presented to the cycle after the last output row was taken.
// Prints "shift_av: <N> cycles for <Q> rows of <T> keys". Fails if the unit ever refuses a beat.
#include "Vrepq_shift_av.h"
#include "tb.h"

int main(int argc, char** argv) {
    Verilated::commandArgs(argc, argv);
    const uint64_t rows = tb::arg_uint(argc, argv, "rows", 1);
    const uint64_t keys = tb::arg_uint(argc, argv, "keys", 1);
    Vrepq_shift_av top;
    top.clk = 0; top.rst = 1; top.in_valid = 0; top.out_ready = 0;
    top.code = 0; top.zero = 0; top.f = 0;
    tb::set(top.v, tb::Words{0});
    for (int i = 0; i < 4; i++) { top.clk = 0; top.eval(); top.clk = 1; top.eval(); }
    top.rst = 0;
    const uint64_t beats = rows * keys;
    uint64_t sent = 0, got = 0, cycles = 0;
    while (got < rows) {
        if (cycles > beats + 1000) { std::fprintf(stderr, "TIMEOUT\n"); return 1; }
        top.in_valid = sent < beats;
        top.in_last = sent % keys == keys - 1;
        top.out_ready = 1;
        top.clk = 0; top.eval();
        if (top.out_valid) got++;
        if (top.in_valid) {
            if (!top.in_ready) { std::fprintf(stderr, "beat %llu refused\n", (unsigned long long)sent); return 1; }
            sent++;
        }
        top.clk = 1; top.eval();
        cycles++;
    }
    std::printf("shift_av: %llu cycles for %llu rows of %llu keys\n", (unsigned long long)cycles,
                (unsigned long long)rows, (unsigned long long)keys);
    return 0;
}
