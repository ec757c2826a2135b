{{ header }}
// repq_vit_wsel: the write source of repq_vit (docs/accelerator.md, "Ports"), chosen by the last
// WRITE command, and its packing into the write channel's beats: EB = 4 keeps C lanes of s32,
// EB = 1 keeps each lane's low byte (codes). Code sources (GELU, LayerNorm, A x V requantization)
// are zero-extended to 32-bit lanes first. Also the copy path: beats of read port 5 go through a
// 4-deep FIFO to source 3 unchanged.

`timescale 1ns / 1ps
`default_nettype none

module repq_vit_wsel #(
    parameter integer C = {{ d.cols }},
    parameter integer ABITS = {{ d.abits }},
    parameter integer BW = {{ v.max_words * 64 }}
) (
    input  wire               clk,
    input  wire               rst,
    input  wire [2:0]         wsrc,
    input  wire               eb4,
    input  wire               wr_ready,
    output reg                wr_valid,
    output wire [BW-1:0]      wr_beat,
    input  wire               top_valid,
    input  wire [C*32-1:0]    top_lanes,
    input  wire               res_valid,
    input  wire [C*32-1:0]    res_lanes,
    input  wire               gelu_valid,
    input  wire [C*ABITS-1:0] gelu_codes,
    input  wire               ln_valid,
    input  wire [C*ABITS-1:0] ln_codes,
    input  wire               lc_valid,
    input  wire [C*32-1:0]    lc_lanes,
    input  wire               avr_valid,
    input  wire [C*ABITS-1:0] avr_codes,
    input  wire               cpy_in_valid,
    output wire               cpy_in_ready,
    input  wire [C*32-1:0]    cpy_in
);
    localparam [2:0] SRC_TOP = 3'd0;
    localparam [2:0] SRC_RES = 3'd1;
    localparam [2:0] SRC_GELU = 3'd2;
    localparam [2:0] SRC_COPY = 3'd3;
    localparam [2:0] SRC_LN = 3'd4;
    localparam [2:0] SRC_LC = 3'd5;
    localparam [2:0] SRC_AVR = 3'd6;
    localparam integer CPY_DEPTH = 4;

    reg  [2:0]      cpy_count_q;
    wire            cpy_out_valid;
    wire [C*32-1:0] cpy_out;
    wire            cpy_pop = cpy_out_valid & wr_ready & (wsrc == SRC_COPY);
    wire            cpy_push = cpy_in_valid & cpy_in_ready;
    assign cpy_in_ready = (cpy_count_q != CPY_DEPTH[2:0]);
    always @(posedge clk) begin
        if (rst) cpy_count_q <= 3'd0;
        else cpy_count_q <= cpy_count_q + {2'd0, cpy_push} - {2'd0, cpy_pop};
    end
    repq_fifo #(.WIDTH(C*32), .DEPTH(CPY_DEPTH)) u_cpy (
        .clk(clk), .rst(rst), .push(cpy_push), .din(cpy_in),
        .dout_valid(cpy_out_valid), .dout_ready(wr_ready & (wsrc == SRC_COPY)), .dout(cpy_out)
    );

    // Code lanes zero-extended to 32 bits.
    wire [C*32-1:0] gelu32;
    wire [C*32-1:0] ln32;
    wire [C*32-1:0] avr32;
    genvar g;
    generate
        for (g = 0; g < C; g = g + 1) begin : g_ext
            assign gelu32[g*32 +: 32] = {{ "{{" }}(32-ABITS){1'b0}}, gelu_codes[g*ABITS +: ABITS]};
            assign ln32[g*32 +: 32] = {{ "{{" }}(32-ABITS){1'b0}}, ln_codes[g*ABITS +: ABITS]};
            assign avr32[g*32 +: 32] = {{ "{{" }}(32-ABITS){1'b0}}, avr_codes[g*ABITS +: ABITS]};
        end
    endgenerate

    reg [C*32-1:0] lanes;
    always @(*) begin
        case (wsrc)
            SRC_TOP: {wr_valid, lanes} = {top_valid, top_lanes};
            SRC_RES: {wr_valid, lanes} = {res_valid, res_lanes};
            SRC_GELU: {wr_valid, lanes} = {gelu_valid, gelu32};
            SRC_LN: {wr_valid, lanes} = {ln_valid, ln32};
            SRC_LC: {wr_valid, lanes} = {lc_valid, lc_lanes};
            SRC_AVR: {wr_valid, lanes} = {avr_valid, avr32};
            default: {wr_valid, lanes} = {cpy_out_valid, cpy_out};
        endcase
    end

    wire [C*8-1:0] bytes;
    generate
        for (g = 0; g < C; g = g + 1) begin : g_pack
            assign bytes[g*8 +: 8] = lanes[g*32 +: 8];
        end
    endgenerate
    assign wr_beat = eb4 ? {{ "{{" }}(BW-C*32){1'b0}}, lanes} : {{ "{{" }}(BW-C*8){1'b0}}, bytes};
endmodule

`default_nettype wire
