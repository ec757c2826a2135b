{{ header }}
// Processing element of the weight-stationary array (docs/arithmetic.md, U1).
//
// The PE holds two stationary operands (double-buffered weight banks 0 and 1: one is loaded
// while the other computes); the bank bit travelling with each activation selects which one the
// product uses, so a new tile's weights take effect exactly on the first activation of its pass.
// Three register stages per PE (no combinational path crosses a multiplier boundary):
//   a_q, w_q  <= a_in, w[b_in]          input registers (DSP A/B registers)
//   prod      <= a_q * w_q              u{ABITS} x s{WOB} -> s{ABITS+WOB}, exact (DSP M register)
//   psum_out  <= psum_in + prod         s{ACC}, never wraps (the accumulator bound; DSP P register,
//                                       the partial sum on the PCIN cascade)
// a_out = a_q: the activation (and its bank bit) moves one column to the right per cycle, and the
// partial sum meets it two cycles after it reached the PE (the array's skew accounts for it).
// No reset: the datapath carries no state that matters after a reset (valid bits travel in the
// control path).

`timescale 1ns / 1ps
`default_nettype none

module repq_pe #(
    parameter integer ABITS = {{ d.abits }},
    parameter integer WOB = {{ d.wob }},
    parameter integer ACC = {{ d.acc_bits }}
) (
    input  wire                  clk,
    input  wire [ABITS-1:0]      a_in,
    input  wire                  b_in,
    output wire [ABITS-1:0]      a_out,
    output reg                   b_out,
    input  wire                  w_we0,
    input  wire                  w_we1,
    input  wire [WOB-1:0]        w_in,
    input  wire [ACC-1:0]        psum_in,
    output reg  [ACC-1:0]        psum_out
);
    localparam integer PW = ABITS + WOB;

    reg [WOB-1:0]   w0;
    reg [WOB-1:0]   w1;
    reg [ABITS-1:0] a_q;
    reg [WOB-1:0]   w_q;
    // Operands extended to the product width: the activation code is unsigned (zero-extended),
    // the stationary operand signed (sign-extended).
    wire signed [PW-1:0] a_x = { {WOB{1'b0}}, a_q };
    wire signed [PW-1:0] w_x = { {ABITS{w_q[WOB-1]}}, w_q };
    reg  signed [PW-1:0] prod;
    wire signed [ACC-1:0] prod_x = { {(ACC-PW){prod[PW-1]}}, prod };

    always @(posedge clk) begin
        if (w_we0) w0 <= w_in;
        if (w_we1) w1 <= w_in;
        a_q <= a_in;
        b_out <= b_in;
        w_q <= b_in ? w1 : w0;
        prod <= a_x * w_x;
        psum_out <= psum_in + prod_x;
    end
    assign a_out = a_q;
endmodule

`default_nettype wire
