{{ header }}
// repq_vit_wr: the write DMA channel of repq_vit on the AXI4 write master (docs/accelerator.md,
// "Memory"). A transfer (`start` with an address walk of repq_vit_agen and `words` 8-byte words
// per beat) writes each beat taken from s_beat as one INCR burst (AWLEN = words - 1, AWSIZE =
// 8 bytes, all strobes set), word w from bits [w*64 +: 64]. The address and the data of a burst
// are offered together; the next beat is taken once both were accepted. `busy` stays high until
// the last beat was taken and every BRESP has arrived.
// Errors (sticky until the next start; the channel then takes no more beats): 2 a beat that is not
// 8-byte aligned or crosses a 4 KiB boundary, 3 a BRESP other than OKAY.

`timescale 1ns / 1ps
`default_nettype none

module repq_vit_wr #(
    parameter integer AW = 32,
    parameter integer MAXW = 4
) (
    input  wire               clk,
    input  wire               rst,
    // transfer
    input  wire               start,
    input  wire [AW-1:0]      base,
    input  wire [15:0]        n0,
    input  wire [15:0]        n1,
    input  wire [15:0]        n2,
    input  wire [31:0]        s0,
    input  wire [31:0]        s1,
    input  wire [31:0]        s2,
    input  wire [3:0]         words,          // 1 .. MAXW
    output wire               busy,
    output reg  [1:0]         err,
    // beats
    input  wire               s_beat_valid,
    output wire               s_beat_ready,
    input  wire [MAXW*64-1:0] s_beat_data,
    // AXI4 write master
    output wire [AW-1:0]      m_axi_awaddr,
    output wire [7:0]         m_axi_awlen,
    output wire [2:0]         m_axi_awsize,
    output wire [1:0]         m_axi_awburst,
    output wire               m_axi_awvalid,
    input  wire               m_axi_awready,
    output wire [63:0]        m_axi_wdata,
    output wire [7:0]         m_axi_wstrb,
    output wire               m_axi_wlast,
    output wire               m_axi_wvalid,
    input  wire               m_axi_wready,
    input  wire [1:0]         m_axi_bresp,
    input  wire               m_axi_bvalid,
    output wire               m_axi_bready
);
    localparam integer WIW = (MAXW > 1) ? $clog2(MAXW) : 1;

    wire          ag_active;
    wire [AW-1:0] ag_addr;
    wire          ag_last_unused;
    reg  [3:0]    words_q;
    reg           full_q;         // a beat is held: its burst is being written
    reg           aw_done_q;
    reg  [WIW-1:0] widx_q;
    reg  [MAXW*64-1:0] beat_q;
    reg  [AW-1:0] addr_q;
    reg  [15:0]   bpend_q;        // bursts whose BRESP is outstanding

    wire [12:0] burst_end = {1'b0, ag_addr[11:0]} + {6'd0, words_q, 3'd0};
    wire        addr_bad = (ag_addr[2:0] != 3'd0) | (burst_end > 13'd4096);
    wire        take = s_beat_valid & s_beat_ready;
    wire        aw_fire = m_axi_awvalid & m_axi_awready;
    wire        w_fire = m_axi_wvalid & m_axi_wready;
    wire        w_last = (widx_q == words_q[WIW-1:0] - 1'b1);
    wire        b_fire = m_axi_bvalid & m_axi_bready;
    wire        w_done = w_fire & w_last;
    reg         w_done_q;         // every word of the held beat was accepted (address pending)

    assign s_beat_ready = ~full_q & ag_active & ~addr_bad & (err == 2'd0);
    assign m_axi_awaddr = addr_q;
    assign m_axi_awlen = {4'd0, words_q - 4'd1};
    assign m_axi_awsize = 3'd3;
    assign m_axi_awburst = 2'b01;
    assign m_axi_awvalid = full_q & ~aw_done_q;
    assign m_axi_wdata = beat_q[widx_q*64 +: 64];
    assign m_axi_wstrb = 8'hff;
    assign m_axi_wlast = w_last;
    assign m_axi_wvalid = full_q & ~(w_done_q);
    assign m_axi_bready = 1'b1;
    assign busy = ag_active & (err == 2'd0) | full_q | (bpend_q != 16'd0);

    repq_vit_agen #(.AW(AW)) u_agen (
        .clk(clk), .rst(rst), .load(start), .base(base), .n0(n0), .n1(n1), .n2(n2),
        .s0(s0), .s1(s1), .s2(s2), .step(take), .active(ag_active), .addr(ag_addr),
        .last(ag_last_unused)
    );

    always @(posedge clk) begin
        if (start) words_q <= words;
    end

    always @(posedge clk) begin
        if (rst) begin
            full_q <= 1'b0;
            aw_done_q <= 1'b0;
            w_done_q <= 1'b0;
            widx_q <= {WIW{1'b0}};
        end else if (take) begin
            full_q <= 1'b1;
            aw_done_q <= 1'b0;
            w_done_q <= 1'b0;
            widx_q <= {WIW{1'b0}};
        end else if (full_q) begin
            if (aw_fire) aw_done_q <= 1'b1;
            if (w_fire) widx_q <= w_last ? {WIW{1'b0}} : widx_q + 1'b1;
            if (w_done) w_done_q <= 1'b1;
            if ((aw_done_q | aw_fire) & (w_done_q | w_done)) full_q <= 1'b0;
        end
    end

    always @(posedge clk) begin
        if (take) begin
            beat_q <= s_beat_data;
            addr_q <= ag_addr;
        end
    end

    always @(posedge clk) begin
        if (rst) begin
            bpend_q <= 16'd0;
        end else begin
            case ({aw_fire, b_fire})
                2'b10: bpend_q <= bpend_q + 16'd1;
                2'b01: bpend_q <= bpend_q - 16'd1;
                default: bpend_q <= bpend_q;
            endcase
        end
    end

    always @(posedge clk) begin
        if (rst | start) err <= 2'd0;
        else if (err == 2'd0) begin
            if (ag_active & ~full_q & addr_bad) err <= 2'd2;
            else if (b_fire & (m_axi_bresp != 2'b00)) err <= 2'd3;
        end
    end
endmodule

`default_nettype wire
