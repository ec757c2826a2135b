{{ header }}
// The reciprocal of repq_rowdiv (the row divider of U5 and U6; the equations and the handshake
// are in repq_rowdiv.v and docs/arithmetic.md, "Row divider"): R = floor(2^K / d), K = bitlen(d)
// + QW + 1, by a sequential restoring division of QW + 3 steps on the normalized divisor.

`timescale 1ns / 1ps
`default_nettype none

module repq_rowdiv_recip #(
    parameter integer QW = 17,
    parameter integer DW = 34
) (
    input  wire                             clk,
    input  wire                             rst,
    input  wire                             start,
    input  wire [DW-1:0]                    d,
    output wire                             busy,
    output wire [QW+2:0]                    r,
    output wire [$clog2(QW+DW+2)-1:0]       k
);
    localparam integer KW = $clog2(QW + DW + 2);
    localparam integer CW = $clog2(QW + 4);
    localparam integer STEPS = QW + 3;
    localparam [CW-1:0] STEPS_C = STEPS[CW-1:0];
    localparam [CW-1:0] CNT_ONE = 1;
    localparam integer QW1 = QW + 1;
    localparam [KW-1:0] QW1_K = QW1[KW-1:0];
`ifndef SYNTHESIS
    initial begin
        if (DW < 2 || QW < 1) $error("repq_rowdiv_recip: DW >= 2 and QW >= 1 required");
    end
`endif

    // l = bitlen(d) and dn = d << (DW - l): the highest set bit, by a priority scan.
    reg [KW-1:0] l_c;
    integer i;
    always @* begin
        l_c = {KW{1'b0}};
        for (i = 0; i < DW; i = i + 1) if (d[i]) l_c = i[KW-1:0] + 1'b1;
    end
    wire [KW-1:0] lz_c = DW[KW-1:0] - l_c;
    wire [DW-1:0] dn_c = d << lz_c;

    reg [DW-1:0]  dn_q;
    reg [DW-1:0]  p_q;        // partial remainder, below dn (< 2^DW)
    reg [QW+2:0]  r_q;        // every bit is shifted in during the QW + 3 steps
    reg [KW-1:0]  k_q;
    reg [CW-1:0]  cnt_q;      // steps left
    wire [DW:0]   p2 = { p_q, 1'b0 };
    wire          ge = (p2 >= { 1'b0, dn_q });
    assign busy = (cnt_q != {CW{1'b0}});
    assign r = r_q;
    assign k = k_q;

    always @(posedge clk) begin
        if (rst) cnt_q <= {CW{1'b0}};
        else if (start & ~busy) cnt_q <= STEPS_C;
        else if (busy) cnt_q <= cnt_q - CNT_ONE;
    end
    always @(posedge clk) begin
        if (start & ~busy) begin
            dn_q <= dn_c;
            // 2^(DW-2): the dividend 2^(QW+1+DW) shifted down by the QW+3 quotient bits
            p_q <= { 2'b01, {(DW-2){1'b0}} };
            k_q <= l_c + QW1_K;
        end else if (busy) begin
            // below dn < 2^DW either way, so DW bits of the difference are exact
            p_q <= ge ? (p2[DW-1:0] - dn_q) : p2[DW-1:0];
            r_q <= { r_q[QW+1:0], ge };
        end
    end
endmodule

`default_nettype wire
