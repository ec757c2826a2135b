{{ header }}
// R x C weight-stationary systolic array with input skew and output de-skew (U1).
//
// Dataflow. PE (r, c) holds the stationary operand w[k0 + r][n0 + c] of the current tile.
// Activation rows enter unskewed on a_in (lane r = depth index k0 + r) together with the
// initial partial sums psum_in (lane c = output column n0 + c: the bias on the first K tile, the
// accumulated sum on later ones). Inside, lane r of the activations is delayed r cycles (input
// skew) and travels right one column per cycle; partial sums travel down one row per cycle, so
// column c's sum for a row leaves the bottom c cycles after column 0's, and the output de-skew
// delays column c by C-1-c. One activation row in, one finished row of C partial sums out per
// cycle, a fixed R + C + 1 cycles later:
//   psum_out[c] = psum_in[c] + sum_r a_in[r] * w[r][c]
//
// Why weight-stationary: on FPGAs the partial sums run down the DSP cascade (PCOUT -> PCIN of
// DSP48E2, the cascade paths of ECP5/iCE40 MAC blocks) with no fabric routing, each weight is
// loaded once per tile and reused for every one of the M rows (M = tokens: 50 in the demo model,
// 197 in DeiT), and only one activation row and one partial-sum row cross the array edge per
// cycle. Weights are double-buffered in the PEs (bank bit travelling with the activations), so
// loading the next tile overlaps the current one.

`timescale 1ns / 1ps
`default_nettype none

module repq_array #(
    parameter integer R = {{ d.rows }},
    parameter integer C = {{ d.cols }},
    parameter integer ABITS = {{ d.abits }},
    parameter integer WOB = {{ d.wob }},
    parameter integer ACC = {{ d.acc_bits }}
) (
    input  wire                 clk,
    input  wire [R*ABITS-1:0]   a_in,
    input  wire                 bank_in,
    input  wire [C*ACC-1:0]     psum_in,
    input  wire [R-1:0]         w_row_we,
    input  wire                 w_bank,
    input  wire [C*WOB-1:0]     w_data,
    output wire [C*ACC-1:0]     psum_out
);
    // Horizontal nets, R rows x (C+1) positions: activation and bank bit entering column c.
    wire [R*(C+1)*ABITS-1:0] ah;
    wire [R*(C+1)-1:0]       bh;
    // Vertical nets, (R+1) positions x C columns: partial sum entering row r.
    wire [(R+1)*C*ACC-1:0]   pv;

    genvar r, c;
    generate
        for (r = 0; r < R; r = r + 1) begin : g_skew
            if (r == 0) begin : g_direct
                assign ah[0 +: ABITS] = a_in[0 +: ABITS];
                assign bh[0] = bank_in;
            end else begin : g_delay
                repq_delay #(.WIDTH(ABITS + 1), .DEPTH(r)) u_skew (
                    .clk(clk),
                    .d({bank_in, a_in[r*ABITS +: ABITS]}),
                    .q({bh[r*(C+1)], ah[r*(C+1)*ABITS +: ABITS]})
                );
            end
        end

        // The PE's input and product registers: the partial sum meets the activation two cycles
        // after the activation reached the PE, so column c's initial sum waits c + 2 cycles.
        for (c = 0; c < C; c = c + 1) begin : g_top
            repq_delay #(.WIDTH(ACC), .DEPTH(c + 2)) u_top (
                .clk(clk),
                .d(psum_in[c*ACC +: ACC]),
                .q(pv[c*ACC +: ACC])
            );
        end

        for (r = 0; r < R; r = r + 1) begin : g_row
            for (c = 0; c < C; c = c + 1) begin : g_col
                repq_pe #(.ABITS(ABITS), .WOB(WOB), .ACC(ACC)) u_pe (
                    .clk(clk),
                    .a_in(ah[(r*(C+1)+c)*ABITS +: ABITS]),
                    .b_in(bh[r*(C+1)+c]),
                    .a_out(ah[(r*(C+1)+c+1)*ABITS +: ABITS]),
                    .b_out(bh[r*(C+1)+c+1]),
                    .w_we0(w_row_we[r] & ~w_bank),
                    .w_we1(w_row_we[r] & w_bank),
                    .w_in(w_data[c*WOB +: WOB]),
                    .psum_in(pv[(r*C+c)*ACC +: ACC]),
                    .psum_out(pv[((r+1)*C+c)*ACC +: ACC])
                );
            end
        end

        for (c = 0; c < C; c = c + 1) begin : g_deskew
            if (c == C - 1) begin : g_direct
                assign psum_out[c*ACC +: ACC] = pv[(R*C+c)*ACC +: ACC];
            end else begin : g_delay
                repq_delay #(.WIDTH(ACC), .DEPTH(C - 1 - c)) u_deskew (
                    .clk(clk),
                    .d(pv[(R*C+c)*ACC +: ACC]),
                    .q(psum_out[c*ACC +: ACC])
                );
            end
        end

        // The east edge: activations leaving the last column are not needed.
        for (r = 0; r < R; r = r + 1) begin : g_east
            wire unused_east = &{1'b0, bh[r*(C+1)+C], ah[(r*(C+1)+C)*ABITS +: ABITS]};
        end
    endgenerate
endmodule

`default_nettype wire
