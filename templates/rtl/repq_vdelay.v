{{ header }}
// Control delay line: DEPTH >= 1 register stages with a synchronous reset to zero (valid bits
// and the metadata travelling with them).

`timescale 1ns / 1ps
`default_nettype none

module repq_vdelay #(
    parameter integer WIDTH = 1,
    parameter integer DEPTH = 1
) (
    input  wire             clk,
    input  wire             rst,
    input  wire [WIDTH-1:0] d,
    output wire [WIDTH-1:0] q
);
    reg [WIDTH*DEPTH-1:0] sr;
    generate
        if (DEPTH == 1) begin : g_one
            always @(posedge clk) begin
                if (rst) sr <= {WIDTH{1'b0}};
                else sr <= d;
            end
        end else begin : g_many
            always @(posedge clk) begin
                if (rst) sr <= {(WIDTH*DEPTH){1'b0}};
                else sr <= {sr[WIDTH*(DEPTH-1)-1:0], d};
            end
        end
    endgenerate
    assign q = sr[WIDTH*DEPTH-1 -: WIDTH];
endmodule

`default_nettype wire
