{{ header }}
// The EXP2 table of U6 (docs/arithmetic.md, U6) as a ROM with a registered read (one block RAM):
//   EXP2[f] = round_half_even(2^(20 - f / 1024)), f = 0 .. 1023, u21
// Contents generated from arith::softmax::exp2_table (the golden vectors' softmax.exp2).

`timescale 1ns / 1ps
`default_nettype none

module repq_exp2_rom (
    input  wire        clk,
    input  wire [9:0]  addr,
    output reg  [20:0] data
);
    reg [20:0] rom [0:1023];
    initial begin
{{ exp2_init }}
    end
    always @(posedge clk) data <= rom[addr];
endmodule

`default_nettype wire
