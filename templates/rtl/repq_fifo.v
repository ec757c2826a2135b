{{ header }}
// First-word-fall-through FIFO on a repq_sdpram with a registered output (capacity DEPTH + 1).
// The writer must not push into a full FIFO (repq_top reserves room with credits).

`timescale 1ns / 1ps
`default_nettype none

module repq_fifo #(
    parameter integer WIDTH = 8,
    parameter integer DEPTH = 16,          // power of two, >= 2
    parameter integer AW = $clog2(DEPTH)
) (
    input  wire             clk,
    input  wire             rst,
    input  wire             push,          // the writer guarantees space (credits)
    input  wire [WIDTH-1:0] din,
    output reg              dout_valid,
    input  wire             dout_ready,
    output wire [WIDTH-1:0] dout
);
    reg [AW:0] wptr;
    reg [AW:0] rptr;
    wire mem_empty = (wptr == rptr);
    wire rd = ~mem_empty & (~dout_valid | dout_ready);

    repq_sdpram #(.WIDTH(WIDTH), .DEPTH(DEPTH), .AW(AW)) u_ram (
        .clk(clk), .we(push), .waddr(wptr[AW-1:0]), .wdata(din),
        .re(rd), .raddr(rptr[AW-1:0]), .rdata(dout)
    );

    always @(posedge clk) begin
        if (rst) begin
            wptr <= {(AW+1){1'b0}};
            rptr <= {(AW+1){1'b0}};
            dout_valid <= 1'b0;
        end else begin
            if (push) wptr <= wptr + 1'b1;
            if (rd) rptr <= rptr + 1'b1;
            if (rd) dout_valid <= 1'b1;
            else if (dout_ready) dout_valid <= 1'b0;
        end
    end
endmodule

`default_nettype wire
