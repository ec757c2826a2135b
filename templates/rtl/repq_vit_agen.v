{{ header }}
// repq_vit_agen: the address walk of one DMA transfer of repq_vit (docs/accelerator.md,
// "Commands"): beat (i0, i1, i2), i0 innermost, is at base + i0*s0 + i1*s1 + i2*s2, for
// n0 * n1 * n2 beats (each count >= 1). `load` takes a transfer; `addr` is the current beat's
// address while `active`; `step` moves to the next beat (`last` marks the final one, after which
// `active` falls).

`timescale 1ns / 1ps
`default_nettype none

module repq_vit_agen #(
    parameter integer AW = 32
) (
    input  wire          clk,
    input  wire          rst,
    input  wire          load,
    input  wire [AW-1:0] base,
    input  wire [15:0]   n0,
    input  wire [15:0]   n1,
    input  wire [15:0]   n2,
    input  wire [31:0]   s0,
    input  wire [31:0]   s1,
    input  wire [31:0]   s2,
    input  wire          step,
    output reg           active,
    output wire [AW-1:0] addr,
    output wire          last
);
    reg [15:0]   i0_q;
    reg [15:0]   i1_q;
    reg [15:0]   i2_q;
    reg [15:0]   n0_q;
    reg [15:0]   n1_q;
    reg [15:0]   n2_q;
    reg [AW-1:0] s0_q;
    reg [AW-1:0] s1_q;
    reg [AW-1:0] s2_q;
    reg [AW-1:0] a0_q;      // address of the current beat
    reg [AW-1:0] a1_q;      // address of beat (0, i1, i2)
    reg [AW-1:0] a2_q;      // address of beat (0, 0, i2)

    wire end0 = (i0_q == n0_q - 16'd1);
    wire end1 = (i1_q == n1_q - 16'd1);
    wire end2 = (i2_q == n2_q - 16'd1);
    assign last = end0 & end1 & end2;
    assign addr = a0_q;

    always @(posedge clk) begin
        if (rst) begin
            active <= 1'b0;
        end else if (load) begin
            active <= (n0 != 16'd0) & (n1 != 16'd0) & (n2 != 16'd0);
        end else if (step & active & last) begin
            active <= 1'b0;
        end
    end

    always @(posedge clk) begin
        if (load) begin
            n0_q <= n0;
            n1_q <= n1;
            n2_q <= n2;
            s0_q <= s0[AW-1:0];
            s1_q <= s1[AW-1:0];
            s2_q <= s2[AW-1:0];
            i0_q <= 16'd0;
            i1_q <= 16'd0;
            i2_q <= 16'd0;
            a0_q <= base;
            a1_q <= base;
            a2_q <= base;
        end else if (step & active) begin
            if (!end0) begin
                i0_q <= i0_q + 16'd1;
                a0_q <= a0_q + s0_q;
            end else if (!end1) begin
                i0_q <= 16'd0;
                i1_q <= i1_q + 16'd1;
                a0_q <= a1_q + s1_q;
                a1_q <= a1_q + s1_q;
            end else begin
                i0_q <= 16'd0;
                i1_q <= 16'd0;
                i2_q <= i2_q + 16'd1;
                a0_q <= a2_q + s2_q;
                a1_q <= a2_q + s2_q;
                a2_q <= a2_q + s2_q;
            end
        end
    end
endmodule

`default_nettype wire
