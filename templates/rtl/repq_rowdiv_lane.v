{{ header }}
// The per-element path of repq_rowdiv (the row divider of U5 and U6; the equations are in
// repq_rowdiv.v and docs/arithmetic.md, "Row divider"): q = floor(N / d) from R, K and d in
// ROWDIV_LATENCY = 5 pipeline registers that advance together when ce is high.

`timescale 1ns / 1ps
`default_nettype none

module repq_rowdiv_lane #(
    parameter integer QW = 17,
    parameter integer DW = 34
) (
    input  wire                             clk,
    input  wire                             rst,
    input  wire                             ce,
    input  wire                             in_valid,
    input  wire [QW+DW-1:0]                 n,
    input  wire [QW+2:0]                    r,
    input  wire [$clog2(QW+DW+2)-1:0]       k,
    input  wire [DW-1:0]                    d,
    output wire                             out_valid,
    output wire [QW-1:0]                    q
);
    localparam integer KW = $clog2(QW + DW + 2);
    localparam integer NW = QW + DW;
    localparam integer PW = NW + QW + 3;
    localparam integer RMW = DW + 1;          // remainder width: N - q0 d < 2d
    localparam [QW-1:0] Q_ONE = 1;

    reg [4:0] v_q;
    assign out_valid = v_q[4];
    always @(posedge clk) begin
        if (rst) v_q <= 5'b00000;
        else if (ce) v_q <= { v_q[3:0], in_valid };
    end

    // stage 0: the operands
    reg [NW-1:0]  n0_q;
    reg [QW+2:0]  r0_q;
    reg [KW-1:0]  k0_q;
    reg [DW-1:0]  d0_q;
    // stage 1: N * R
    reg [PW-1:0]  prod1_q;
    reg [KW-1:0]  k1_q;
    reg [DW-1:0]  d1_q;
    reg [RMW-1:0] n1_q;
    // stage 2: q0 = (N * R) >> K
    reg [QW-1:0]  q02_q;
    reg [DW-1:0]  d2_q;
    reg [RMW-1:0] n2_q;
    // stage 3: the remainder N - q0 d, modulo 2^(DW+1)
    reg [QW-1:0]  q03_q;
    reg [DW-1:0]  d3_q;
    reg [RMW-1:0] rem3_q;
    // stage 4: q
    reg [QW-1:0]  q4_q;

    wire [PW-1:0]  prod_c = { {(PW-NW){1'b0}}, n0_q } * { {(PW-QW-3){1'b0}}, r0_q };
    wire [PW-1:0]  shifted_c = prod1_q >> k1_q;
    wire [RMW-1:0] qd_c = { {(RMW-QW){1'b0}}, q02_q } * { 1'b0, d2_q };
    wire           carry_c = (rem3_q >= { 1'b0, d3_q });

    always @(posedge clk) begin
        if (ce) begin
            n0_q <= n;
            r0_q <= r;
            k0_q <= k;
            d0_q <= d;
            prod1_q <= prod_c;
            k1_q <= k0_q;
            d1_q <= d0_q;
            n1_q <= n0_q[RMW-1:0];
            q02_q <= shifted_c[QW-1:0];
            d2_q <= d1_q;
            n2_q <= n1_q;
            q03_q <= q02_q;
            d3_q <= d2_q;
            rem3_q <= n2_q - qd_c;
            q4_q <= carry_c ? (q03_q + Q_ONE) : q03_q;
        end
    end
    assign q = q4_q;

    // Bits of the shifted product above the quotient width are zero for every N < d 2^QW.
    wire [PW-QW-1:0] shifted_unused = shifted_c[PW-1:QW];
endmodule

`default_nettype wire
