{{ header }}
// The row divider shared by U5 (d = 2r) and U6 (d = 2S) (docs/arithmetic.md, "Row divider"),
// bit-exact with arith::rowdiv::RowDiv: for a divisor d >= 1 and 0 <= N < d * 2^QW,
//   l  = bitlen(d), K = l + QW + 1
//   R  = floor(2^K / d)                 u{QW+3}, once per row (repq_rowdiv_recip)
//   q0 = (N * R) >> K                   floor(N / d) or one less
//   q  = q0 + (N - q0 * d >= d)         = floor(N / d), u{QW}  (repq_rowdiv_lane, per element)
// Three modules (repq_rowdiv_recip.v, repq_rowdiv_lane.v, this file):
// * repq_rowdiv_recip: R and K of one divisor by a sequential restoring division. Pulse start
//   with d while busy = 0; busy stays high QW + 3 cycles (RECIP_CYCLES), then R and K hold until
//   the next start. The divisor is normalized first (dn = d << (DW - l), a priority encoder), so
//   every step is one DW+1-bit compare and subtract.
// * repq_rowdiv_lane: the per-element path, a pipeline of ROWDIV_LATENCY = 5 registers that
//   advance together when ce is high. R, K and d are taken with each numerator and travel with
//   it, so rows may follow each other without draining the pipeline. Widths: N u{QW+DW},
//   N * R u{2QW+DW+3}, the remainder N - q0 d in [0, 2d) is computed modulo 2^(DW+1).
//   A unit instantiates it once per lane that divides.
// * repq_rowdiv: a standalone top (one recip, one lane) for lint and its harness sim/rowdiv.cpp.
//   One input stream: a beat with s_div set is a row's divisor d (low DW bits of s_data), the
//   beats after it are that row's numerators N; m_q gives floor(N / d) per numerator, in order.
// d = 0 is outside the contract (a unit never divides by it: U6's fully masked row, U5's r = 0).

`timescale 1ns / 1ps
`default_nettype none

module repq_rowdiv #(
    parameter integer QW = 17,
    parameter integer DW = 34
) (
    input  wire               clk,
    input  wire               rst,
    input  wire               s_valid,
    output wire               s_ready,
    input  wire               s_div,
    input  wire [QW+DW-1:0]   s_data,
    output wire               m_q_valid,
    input  wire               m_q_ready,
    output wire [QW-1:0]      m_q_data
);
    localparam integer KW = $clog2(QW + DW + 2);
    wire          busy;
    wire [QW+2:0] r;
    wire [KW-1:0] k;
    reg  [DW-1:0] d_q;
    wire          out_valid;
    // The pipeline stops while its output waits; a divisor waits for the reciprocal.
    wire          ce = ~out_valid | m_q_ready;
    assign s_ready = ~busy & (s_div | ce);
    wire          take_div = s_valid & s_ready & s_div;
    wire          take_num = s_valid & s_ready & ~s_div;

    always @(posedge clk) begin
        if (take_div) d_q <= s_data[DW-1:0];
    end
    repq_rowdiv_recip #(.QW(QW), .DW(DW)) u_recip (
        .clk(clk), .rst(rst), .start(take_div), .d(s_data[DW-1:0]), .busy(busy), .r(r), .k(k)
    );
    repq_rowdiv_lane #(.QW(QW), .DW(DW)) u_lane (
        .clk(clk), .rst(rst), .ce(ce), .in_valid(take_num), .n(s_data), .r(r), .k(k), .d(d_q),
        .out_valid(out_valid), .q(m_q_data)
    );
    assign m_q_valid = out_valid;
endmodule

`default_nettype wire

`default_nettype wire
