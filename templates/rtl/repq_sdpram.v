{{ header }}
// Simple dual-port RAM: one write port, one synchronous read port (block RAM on every target).

`timescale 1ns / 1ps
`default_nettype none

module repq_sdpram #(
    parameter integer WIDTH = 8,
    parameter integer DEPTH = 256,
    parameter integer AW = $clog2(DEPTH)
) (
    input  wire             clk,
    input  wire             we,
    input  wire [AW-1:0]    waddr,
    input  wire [WIDTH-1:0] wdata,
    input  wire             re,
    input  wire [AW-1:0]    raddr,
    output reg  [WIDTH-1:0] rdata
);
    reg [WIDTH-1:0] mem [0:DEPTH-1];
    always @(posedge clk) begin
        if (we) mem[waddr] <= wdata;
        if (re) rdata <= mem[raddr];
    end
endmodule

`default_nettype wire
