{{ header }}
// Group multiplexer: selects group `sel` (0 .. G-1) of G groups of W bits. The loop unrolls to
// constant slices (no index arithmetic, which synthesis could map onto multipliers).

`timescale 1ns / 1ps
`default_nettype none

module repq_gmux #(
    parameter integer W = 8,
    parameter integer G = 2,
    parameter integer SW = 1
) (
    input  wire [G*W-1:0] d,
    input  wire [SW-1:0]  sel,
    output wire [W-1:0]   q
);
    reg [W-1:0] q_r;
    integer i;
    always @(*) begin
        q_r = {W{1'b0}};
        for (i = 0; i < G; i = i + 1)
            if (sel == i[SW-1:0]) q_r = d[i*W +: W];
    end
    assign q = q_r;
endmodule

`default_nettype wire
