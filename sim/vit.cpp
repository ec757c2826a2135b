// Verilator harness of repq_vit, the end-to-end engine (docs/accelerator.md). It runs the C
// driver (templates/driver/repq_driver.c, compiled in below) against the design: register
// accesses drive the AXI4-Lite port cycle by cycle, and a memory model answers the AXI4 read and
// write masters with random latency and random back-pressure on every channel (seeded), or, with
// +latency=L, deterministically (the stall-free mode the cycle model src/perf/engine.rs counts).
//
//   +image=FILE   the accel image (`repq-hw program --pe RxC`), loaded with repq_load
//   +input=FILE   optional: C*H*W input codes, written with repq_set_input
//   +stop=N       STOP_AFTER (default: run to the end)
//   +irq=1        wait for the interrupt instead of polling STATUS
//   +seed=S +stall=P   memory-model randomness: P percent stalls on each channel (default 30)
//   +latency=L    deterministic memory (L in 1..64; +stall is ignored): AR, AW and W always
//                 ready, the first R word of a burst L cycles after its AR (one word per cycle,
//                 bursts in order, R never withheld), each B 1 cycle after its last W word
//   +trace=FILE   one line per fetched command: its number and the cycle its fetch AR was
//                 accepted, counted from the fetch of command 0
//   +dump=FILE    the memory after the run
//   +max_cycles=N abort (exit 1) after N cycles (default 400,000,000)
// Prints `vit: status S commands N cycles C memory-stall-free C0 ...`. Exit status: 0 the run
// ended without engine error, 1 an engine error or a timeout or an AXI protocol error, 2 bad
// arguments or files.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "Vrepq_vit.h"
#include "tb.h"
#include "verilated.h"

#include "repq_driver.c"

namespace {

[[noreturn]] void fail(int code, const std::string& msg) {
    std::fprintf(stderr, "vit: %s\n", msg.c_str());
    std::exit(code);
}

std::vector<uint8_t> read_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) fail(2, "cannot read " + path);
    return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), {});
}

struct ReadBurst {
    uint32_t addr;
    unsigned beats;
    uint64_t ready_at;
};
struct WriteBurst {
    uint32_t addr;
    unsigned beats;
};

struct Bench {
    Vrepq_vit top;
    std::vector<uint8_t> mem;
    tb::Rng rng;
    unsigned stall;
    unsigned latency = 0;           // 0: random read latency 1-16 and B 1-8; else fixed
    uint64_t cycle = 0;
    uint64_t busy_from = 0;         // the cycle command 0 was fetched (traced fetches)
    uint32_t prog = 0, ncmd = 0;    // the command list (traced fetches)
    FILE* trace = nullptr;
    uint64_t max_cycles;
    std::deque<ReadBurst> rq;       // accepted read bursts, in order
    unsigned rword = 0;             // words of rq.front() already returned
    std::deque<WriteBurst> awq;     // accepted write addresses
    std::deque<uint64_t> wdata;     // accepted write words, in order
    std::deque<uint64_t> bq;        // B responses due (cycle)
    std::deque<unsigned> wbursts;   // word counts of complete W bursts not yet matched
    unsigned pending_w = 0;         // words of the W burst in progress
    uint64_t read_words = 0, write_words = 0;

    Bench(uint32_t mem_bytes, uint64_t seed, unsigned stall_percent, uint64_t max)
        : mem(mem_bytes, 0), rng(seed), stall(stall_percent), max_cycles(max) {
        top.clk = 0;
        top.rst = 1;
        top.s_axil_awvalid = 0;
        top.s_axil_wvalid = 0;
        top.s_axil_bready = 0;
        top.s_axil_arvalid = 0;
        top.s_axil_rready = 0;
        for (int i = 0; i < 4; i++) tick();
        top.rst = 0;
    }

    uint64_t load64(uint32_t a) const {
        uint64_t v = 0;
        for (int i = 7; i >= 0; i--) v = v << 8 | (a + i < mem.size() ? mem[a + i] : 0);
        return v;
    }
    void store64(uint32_t a, uint64_t v) {
        if (a + 8 > mem.size()) fail(1, "write outside the memory model at " + std::to_string(a));
        for (int i = 0; i < 8; i++) mem[a + i] = uint8_t(v >> (8 * i));
    }

    // Drives the memory model's outputs for this cycle from its state.
    void drive() {
        if (latency) {
            top.m_axi_arready = 1;
            top.m_axi_awready = 1;
            top.m_axi_wready = 1;
        }
        bool have_r = !rq.empty() && rq.front().ready_at <= cycle;
        if (!latency) {
            top.m_axi_arready = !rng.chance(stall);
            have_r = have_r && !rng.chance(stall);
        }
        top.m_axi_rvalid = have_r;
        if (have_r) {
            const ReadBurst& b = rq.front();
            top.m_axi_rdata = load64(b.addr + 8 * rword);
            top.m_axi_rlast = rword + 1 == b.beats;
            top.m_axi_rresp = b.addr + 8 * b.beats > mem.size() ? 2 : 0;
        } else {
            top.m_axi_rdata = 0;
            top.m_axi_rlast = 0;
            top.m_axi_rresp = 0;
        }
        if (!latency) {
            top.m_axi_awready = !rng.chance(stall);
            top.m_axi_wready = !rng.chance(stall);
        }
        top.m_axi_bvalid = !bq.empty() && bq.front() <= cycle && (latency || !rng.chance(stall));
        top.m_axi_bresp = 0;
    }

    void tick() {
        drive();
        step();
    }

    // One clock cycle with the model outputs already driven: evaluate with the clock low,
    // sample the handshakes, rising edge, update the memory model.
    void step() {
        top.clk = 0;
        top.eval();
        const bool ar = top.m_axi_arvalid && top.m_axi_arready;
        const bool r = top.m_axi_rvalid && top.m_axi_rready;
        const bool aw = top.m_axi_awvalid && top.m_axi_awready;
        const bool w = top.m_axi_wvalid && top.m_axi_wready;
        const bool b = top.m_axi_bvalid && top.m_axi_bready;
        const uint32_t araddr = top.m_axi_araddr, awaddr = top.m_axi_awaddr;
        const unsigned arlen = top.m_axi_arlen, awlen = top.m_axi_awlen;
        const uint64_t wd = top.m_axi_wdata;
        const bool wl = top.m_axi_wlast;
        if ((ar && (top.m_axi_arsize != 3 || top.m_axi_arburst != 1)) ||
            (aw && (top.m_axi_awsize != 3 || top.m_axi_awburst != 1)) ||
            (w && top.m_axi_wstrb != 0xff))
            fail(1, "AXI protocol: unexpected size, burst type or strobes");
        top.clk = 1;
        top.eval();
        cycle++;
        if (cycle > max_cycles) fail(1, "timeout after " + std::to_string(max_cycles) + " cycles");
        if (ar) {
            const uint64_t lat = latency ? latency - 1 : 1 + rng.next() % 16;
            rq.push_back({araddr, arlen + 1, cycle + lat});
            if (trace && arlen == 3 && araddr == prog) busy_from = cycle;
            if (trace && arlen == 3 && araddr >= prog && araddr < prog + 32 * ncmd)
                std::fprintf(trace, "%u %llu\n", (araddr - prog) / 32,
                             (unsigned long long)(cycle - busy_from));
        }
        if (r) {
            read_words++;
            if (++rword == rq.front().beats) {
                rq.pop_front();
                rword = 0;
            }
        }
        if (aw) awq.push_back({awaddr, awlen + 1});
        if (w) {
            wdata.push_back(wd);
            write_words++;
            pending_w++;
            if (wl) {
                wbursts.push_back(pending_w);
                pending_w = 0;
            }
        }
        while (!awq.empty() && !wbursts.empty()) {
            const WriteBurst wb = awq.front();
            if (wbursts.front() != wb.beats)
                fail(1, "AXI protocol: WLAST does not end a burst of AWLEN + 1 words");
            awq.pop_front();
            wbursts.pop_front();
            for (unsigned i = 0; i < wb.beats; i++) {
                store64(wb.addr + 8 * i, wdata.front());
                wdata.pop_front();
            }
            bq.push_back(cycle + (latency ? 0 : 1 + rng.next() % 8));
        }
        if (b) bq.pop_front();
    }

    void reg_write(uint32_t off, uint32_t v) {
        top.s_axil_awaddr = off;
        top.s_axil_wdata = v;
        top.s_axil_wstrb = 0xf;
        top.s_axil_awvalid = 1;
        top.s_axil_wvalid = 1;
        top.s_axil_bready = 0;
        for (;;) {
            drive();
            top.clk = 0;
            top.eval();
            const bool done = top.s_axil_awready && top.s_axil_wready;
            step();
            if (done) break;
        }
        top.s_axil_awvalid = 0;
        top.s_axil_wvalid = 0;
        top.s_axil_bready = 1;
        for (;;) {
            drive();
            top.clk = 0;
            top.eval();
            const bool done = top.s_axil_bvalid;
            step();
            if (done) break;
        }
        top.s_axil_bready = 0;
    }

    uint32_t reg_read(uint32_t off) {
        top.s_axil_araddr = off;
        top.s_axil_arvalid = 1;
        top.s_axil_rready = 0;
        for (;;) {
            drive();
            top.clk = 0;
            top.eval();
            const bool done = top.s_axil_arready;
            step();
            if (done) break;
        }
        top.s_axil_arvalid = 0;
        top.s_axil_rready = 1;
        uint32_t v = 0;
        for (;;) {
            drive();
            top.clk = 0;
            top.eval();
            const bool done = top.s_axil_rvalid;
            v = top.s_axil_rdata;
            step();
            if (done) break;
        }
        top.s_axil_rready = 0;
        return v;
    }
};


void dev_write(void* ctx, uint32_t off, uint32_t v) { static_cast<Bench*>(ctx)->reg_write(off, v); }
uint32_t dev_read(void* ctx, uint32_t off) { return static_cast<Bench*>(ctx)->reg_read(off); }
void dev_wait_irq(void* ctx) {
    Bench* b = static_cast<Bench*>(ctx);
    while (!b->top.irq) b->tick();
}

}  // namespace

int main(int argc, char** argv) {
    Verilated::commandArgs(argc, argv);
    const std::string image_path = tb::arg_str(argc, argv, "image", "");
    if (image_path.empty()) fail(2, "+image=FILE is required");
    const std::vector<uint8_t> image = read_file(image_path);
    const unsigned stop = tb::arg_uint(argc, argv, "stop", 0xFFFFFFFFu);
    const bool irq = tb::arg_uint(argc, argv, "irq", 0) != 0;
    const unsigned seed = tb::arg_uint(argc, argv, "seed", 1);
    const unsigned stall = tb::arg_uint(argc, argv, "stall", 30);
    const unsigned max = tb::arg_uint(argc, argv, "max_cycles", 400000000u);
    if (stall > 90) fail(2, "+stall must be at most 90 (percent)");
    const unsigned latency = tb::arg_uint(argc, argv, "latency", 0);
    if (latency > 64) fail(2, "+latency must be 0 (random) or 1 .. 64 cycles");

    Bench bench(uint32_t(image.size()), seed, stall, max);
    bench.latency = latency;
    const std::string trace_path = tb::arg_str(argc, argv, "trace", "");
    if (!trace_path.empty()) {
        bench.trace = std::fopen(trace_path.c_str(), "w");
        if (!bench.trace) fail(2, "cannot write " + trace_path);
        if (image.size() >= 24) {
            std::memcpy(&bench.prog, image.data() + 16, 4);
            std::memcpy(&bench.ncmd, image.data() + 20, 4);
        }
    }
    repq_dev dev = {&bench, dev_write, dev_read, dev_wait_irq, bench.mem.data(),
                    uint32_t(bench.mem.size())};
    if (repq_load(&dev, image.data(), uint32_t(image.size())) != REPQ_OK)
        fail(2, image_path + ": not an accel image of this driver version");
    const std::string input_path = tb::arg_str(argc, argv, "input", "");
    if (!input_path.empty()) {
        const std::vector<uint8_t> codes = read_file(input_path);
        if (repq_set_input(&dev, codes.data()) != REPQ_OK) fail(2, "repq_set_input failed");
    }
    const uint32_t version = bench.reg_read(REPQ_REG_VERSION);
    const uint32_t config = bench.reg_read(REPQ_REG_CONFIG);
    const int rc = repq_run(&dev, stop, irq);
    const uint32_t status = repq_status(&dev);
    const uint32_t cmds = bench.reg_read(REPQ_REG_CMD_DONE);
    const uint32_t cycles = bench.reg_read(REPQ_REG_CYCLES);
    std::printf("vit: version %08x config %08x status %08x commands %u cycles %u "
                "read-words %llu write-words %llu\n",
                version, config, status, cmds, cycles, (unsigned long long)bench.read_words,
                (unsigned long long)bench.write_words);
    if (bench.trace) std::fclose(bench.trace);
    const std::string dump = tb::arg_str(argc, argv, "dump", "");
    if (!dump.empty()) {
        std::ofstream f(dump, std::ios::binary);
        f.write(reinterpret_cast<const char*>(bench.mem.data()), std::streamsize(bench.mem.size()));
        if (!f) fail(2, "cannot write " + dump);
    }
    if (rc != REPQ_OK) {
        std::fprintf(stderr, "vit: engine error, STATUS %08x (code 0x%02x)\n", status,
                     (status >> 8) & 0xff);
        return 1;
    }
    return 0;
}
