{{ header }}
// Data delay line: DEPTH >= 1 register stages, no reset (maps to SRLs / plain registers).

`timescale 1ns / 1ps
`default_nettype none

module repq_delay #(
    parameter integer WIDTH = 1,
    parameter integer DEPTH = 1
) (
    input  wire             clk,
    input  wire [WIDTH-1:0] d,
    output wire [WIDTH-1:0] q
);
    reg [WIDTH*DEPTH-1:0] sr;
    generate
        if (DEPTH == 1) begin : g_one
            always @(posedge clk) sr <= d;
        end else begin : g_many
            always @(posedge clk) sr <= {sr[WIDTH*(DEPTH-1)-1:0], d};
        end
    endgenerate
    assign q = sr[WIDTH*DEPTH-1 -: WIDTH];
endmodule

`default_nettype wire
