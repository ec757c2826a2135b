{{ header }}
// repq_vit_rd: the read DMA channel of repq_vit on the AXI4 read master (docs/accelerator.md,
// "Memory"). A transfer (`start` with an address walk of repq_vit_agen and `words` 8-byte words
// per beat) becomes one INCR burst per beat (ARLEN = words - 1, ARSIZE = 8 bytes); the words of
// a burst are assembled LSB first into one beat of MAXW words and leave on m_beat in address-walk
// order. A burst is issued only while the beats already requested and not yet taken from m_beat
// fit the FIFO (FIFO_DEPTH beats), so RVALID is never back-pressured by a full FIFO and a slow
// consumer cannot block the bus. `busy` stays high until the last beat was taken.
// Errors (sticky until the next start; the transfer stops issuing): 2 a beat that is not 8-byte
// aligned or crosses a 4 KiB boundary, 3 an RRESP other than OKAY.

`timescale 1ns / 1ps
`default_nettype none

module repq_vit_rd #(
    parameter integer AW = 32,
    parameter integer MAXW = 4,               // words of the widest beat
    parameter integer FIFO_DEPTH = 4          // beats in flight, a power of two
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
    output reg  [1:0]         err,            // 0 none, 2 address, 3 response
    // beats
    output wire               m_beat_valid,
    input  wire               m_beat_ready,
    output wire [MAXW*64-1:0] m_beat_data,
    output wire               m_beat_last,    // the transfer's last beat
    // AXI4 read master
    output wire [AW-1:0]      m_axi_araddr,
    output wire [7:0]         m_axi_arlen,
    output wire [2:0]         m_axi_arsize,
    output wire [1:0]         m_axi_arburst,
    output wire               m_axi_arvalid,
    input  wire               m_axi_arready,
    input  wire [63:0]        m_axi_rdata,
    input  wire [1:0]         m_axi_rresp,
    input  wire               m_axi_rlast,
    input  wire               m_axi_rvalid,
    output wire               m_axi_rready
);
    localparam integer CW = $clog2(FIFO_DEPTH + 1);
    localparam integer WIW = (MAXW > 1) ? $clog2(MAXW) : 1;

    wire          ag_active;
    wire [AW-1:0] ag_addr;
    wire          ag_last_unused;
    wire          ar_fire = m_axi_arvalid & m_axi_arready;

    repq_vit_agen #(.AW(AW)) u_agen (
        .clk(clk), .rst(rst), .load(start), .base(base), .n0(n0), .n1(n1), .n2(n2),
        .s0(s0), .s1(s1), .s2(s2), .step(ar_fire), .active(ag_active), .addr(ag_addr),
        .last(ag_last_unused)
    );

    reg  [3:0]    words_q;
    reg  [CW-1:0] reserved_q;       // beats requested and not yet taken from m_beat
    wire          pop = m_beat_valid & m_beat_ready;
    wire [12:0]   burst_end = {1'b0, ag_addr[11:0]} + {6'd0, words_q, 3'd0};
    wire          addr_bad = (ag_addr[2:0] != 3'd0) | (burst_end > 13'd4096);
    wire          room = (reserved_q != FIFO_DEPTH[CW-1:0]);

    assign m_axi_araddr = ag_addr;
    assign m_axi_arlen = {4'd0, words_q - 4'd1};
    assign m_axi_arsize = 3'd3;
    assign m_axi_arburst = 2'b01;
    assign m_axi_arvalid = ag_active & room & ~addr_bad & (err == 2'd0);
    assign m_axi_rready = 1'b1;     // room was reserved when the burst was issued
    assign busy = ag_active & (err == 2'd0) | (reserved_q != {CW{1'b0}});

    reg  [31:0] left_q;             // beats of the transfer not yet taken from m_beat
    assign m_beat_last = (left_q == 32'd1);
    always @(posedge clk) begin
        if (start) words_q <= words;
    end
    always @(posedge clk) begin
        if (rst) left_q <= 32'd0;
        else if (start) left_q <= {16'd0, n0} * {16'd0, n1} * {16'd0, n2};
        else if (pop) left_q <= left_q - 32'd1;
    end

    always @(posedge clk) begin
        if (rst) begin
            reserved_q <= {CW{1'b0}};
        end else begin
            case ({ar_fire, pop})
                2'b10: reserved_q <= reserved_q + 1'b1;
                2'b01: reserved_q <= reserved_q - 1'b1;
                default: reserved_q <= reserved_q;
            endcase
        end
    end

    always @(posedge clk) begin
        if (rst | start) err <= 2'd0;
        else if (err == 2'd0) begin
            if (ag_active & room & addr_bad) err <= 2'd2;
            else if (m_axi_rvalid & (m_axi_rresp != 2'b00)) err <= 2'd3;
        end
    end

    // Burst assembly: word w of a beat lands at bits [w*64 +: 64].
    reg  [MAXW*64-1:0] asm_q;
    reg  [WIW-1:0]     widx_q;
    wire [MAXW*64-1:0] asm_d;
    genvar g;
    generate
        for (g = 0; g < MAXW; g = g + 1) begin : g_asm
            assign asm_d[g*64 +: 64] = (widx_q == g[WIW-1:0]) ? m_axi_rdata : asm_q[g*64 +: 64];
        end
    endgenerate
    wire r_fire = m_axi_rvalid;
    wire beat_push = r_fire & m_axi_rlast;

    always @(posedge clk) begin
        if (rst) begin
            widx_q <= {WIW{1'b0}};
            asm_q <= {(MAXW*64){1'b0}};
        end else if (r_fire) begin
            widx_q <= m_axi_rlast ? {WIW{1'b0}} : widx_q + 1'b1;
            asm_q <= m_axi_rlast ? {(MAXW*64){1'b0}} : asm_d;
        end
    end

    repq_fifo #(.WIDTH(MAXW*64), .DEPTH(FIFO_DEPTH)) u_fifo (
        .clk(clk), .rst(rst), .push(beat_push), .din(asm_d),
        .dout_valid(m_beat_valid), .dout_ready(m_beat_ready), .dout(m_beat_data)
    );
endmodule

`default_nettype wire
