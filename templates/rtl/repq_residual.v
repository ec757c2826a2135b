{{ header }}
// Residual addition, LANES lanes (docs/arithmetic.md, U8), bit-exact with arith::residual_add:
//   x' = clamp(x + y, -2^31, 2^31 - 1)
// s_res: the residual stream x, LANES lanes of s32 (16 fraction bits). s_inc: the increments y,
// the output beats of repq_top for proj or fc2 unchanged (LANES lanes of s{YBITS}, YBITS =
// repq_top's output lane width; {{ u.residual_ybits }} in this configuration), in the same order as the x beats.
// m_res: x', LANES lanes of s32; m_res_last repeats s_inc_last (repq_top's m_out_last).
// A beat moves on s_res and s_inc together: each ready waits for the other stream's valid (as
// AXI-Stream allows: ready may depend on valid, valid never depends on ready).
// Widths: the sum is exact in s33; it saturates when its bits 32 and 31 differ.
// Throughput one beat (LANES elements) per cycle; RESIDUAL_LATENCY = 1 cycle (one register
// stage, held while m_res is stalled).

`timescale 1ns / 1ps
`default_nettype none

module repq_residual #(
    parameter integer LANES = {{ d.cols }},
    parameter integer YBITS = {{ u.residual_ybits }}
) (
    input  wire                   clk,
    input  wire                   rst,
    // residual stream x
    input  wire                   s_res_valid,
    output wire                   s_res_ready,
    input  wire [LANES*32-1:0]    s_res_data,
    // increments y
    input  wire                   s_inc_valid,
    output wire                   s_inc_ready,
    input  wire [LANES*YBITS-1:0] s_inc_data,
    input  wire                   s_inc_last,
    // x + y, saturated
    output wire                   m_res_valid,
    input  wire                   m_res_ready,
    output wire [LANES*32-1:0]    m_res_data,
    output wire                   m_res_last
);
    reg valid_q;
    reg last_q;
    wire ce = ~valid_q | m_res_ready;
    wire take = s_res_valid & s_inc_valid & ce;
    assign s_res_ready = s_inc_valid & ce;
    assign s_inc_ready = s_res_valid & ce;
    assign m_res_valid = valid_q;
    assign m_res_last = last_q;

    always @(posedge clk) begin
        if (rst) valid_q <= 1'b0;
        else if (ce) valid_q <= s_res_valid & s_inc_valid;
    end
    always @(posedge clk) begin
        if (take) last_q <= s_inc_last;
    end

    genvar l;
    generate
        for (l = 0; l < LANES; l = l + 1) begin : g_lane
            wire [31:0] x = s_res_data[l*32 +: 32];
            wire [YBITS-1:0] y = s_inc_data[l*YBITS +: YBITS];
            wire [32:0] x_x = { x[31], x };
            wire [32:0] y_x = { {(33-YBITS){y[YBITS-1]}}, y };    // YBITS <= 32
            wire [32:0] sum = x_x + y_x;
            reg  [31:0] res_q;
            always @(posedge clk) begin
                if (take) begin
                    if (sum[32] != sum[31]) res_q <= sum[32] ? 32'h80000000 : 32'h7fffffff;
                    else res_q <= sum[31:0];
                end
            end
            assign m_res_data[l*32 +: 32] = res_q;
        end
    endgenerate
endmodule

`default_nettype wire
