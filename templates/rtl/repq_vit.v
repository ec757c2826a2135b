{{ header }}
// repq_vit: the command-driven engine that runs a layer program on the units (docs/accelerator.md).
// A CPU writes a command list and the tensors into external memory, sets PROG_ADDR over the
// AXI4-Lite register block (repq_vit_regs) and starts; the sequencer below fetches one 32-byte
// command at a time through the read DMA (repq_vit_rd, AXI4 read master) and runs it:
//   JOB    start repq_top with M, K, N (once it is idle)
//   READ   stream beats from memory into a read port (blocks until the last beat is accepted):
//          0 repq_top.s_prm, 1 repq_top.s_wgt, 2 repq_top.s_act, 3 repq_residual.s_res,
//          4 repq_gelu.s_tbl, 5 the copy FIFO
//   WRITE  start writing beats of a source to memory (repq_vit_wr, AXI4 write master; runs in the
//          background): 0 repq_top.m_out, 1 repq_residual (x + repq_top.m_out), 2 repq_gelu
//          (T[repq_top.m_out]), 3 the copy FIFO; EB = 1 writes each lane's low byte, EB = 4 its
//          32 bits
//   SYNC   wait until the write channel has written every beat and had every response
//   END    done
// STOP_AFTER ends the run at the first SYNC at or after command number STOP_AFTER (every
// transfer before it complete), for per-layer debugging. Errors end the run: STATUS[15:8] = 0x01 bad command, 0x02/0x12 read/write address
// (unaligned or crossing 4 KiB), 0x03/0x13 read/write response; reset the engine after an error.
// Bus: 64-bit data, 32-bit addresses, one burst per beat (read beats: {{ v.prm_words }} words for
// s_prm, {{ v.wgt_words }} for s_wgt, {{ v.act_words }} for s_act, {{ v.res_words }} for s_res and copy, 1 for s_tbl).

`timescale 1ns / 1ps
`default_nettype none

module repq_vit #(
    parameter integer R = {{ d.rows }},
    parameter integer C = {{ d.cols }},
    parameter integer ABITS = {{ d.abits }},
    parameter integer WOB = {{ d.wob }},
    parameter integer OBITS = {{ d.obits }},
    parameter integer ACC = {{ d.acc_bits }},
    parameter integer DIMW = {{ d.dim_bits }},
    parameter integer PRM_WORDS = {{ v.prm_words }},
    parameter integer WGT_WORDS = {{ v.wgt_words }},
    parameter integer MAXW = {{ v.max_words }},
    parameter integer LN_DW = {{ u.ln_dim_bits }},
    parameter integer PRM_BITS = ACC + 69 + 2 * OBITS    // derived: do not override
) (
    input  wire        clk,
    input  wire        rst,
    output wire        irq,
    // AXI4-Lite register block
    input  wire [11:0] s_axil_awaddr,
    input  wire        s_axil_awvalid,
    output wire        s_axil_awready,
    input  wire [31:0] s_axil_wdata,
    input  wire [3:0]  s_axil_wstrb,
    input  wire        s_axil_wvalid,
    output wire        s_axil_wready,
    output wire [1:0]  s_axil_bresp,
    output wire        s_axil_bvalid,
    input  wire        s_axil_bready,
    input  wire [11:0] s_axil_araddr,
    input  wire        s_axil_arvalid,
    output wire        s_axil_arready,
    output wire [31:0] s_axil_rdata,
    output wire [1:0]  s_axil_rresp,
    output wire        s_axil_rvalid,
    input  wire        s_axil_rready,
    // AXI4 read master
    output wire [31:0] m_axi_araddr,
    output wire [7:0]  m_axi_arlen,
    output wire [2:0]  m_axi_arsize,
    output wire [1:0]  m_axi_arburst,
    output wire        m_axi_arvalid,
    input  wire        m_axi_arready,
    input  wire [63:0] m_axi_rdata,
    input  wire [1:0]  m_axi_rresp,
    input  wire        m_axi_rlast,
    input  wire        m_axi_rvalid,
    output wire        m_axi_rready,
    // AXI4 write master
    output wire [31:0] m_axi_awaddr,
    output wire [7:0]  m_axi_awlen,
    output wire [2:0]  m_axi_awsize,
    output wire [1:0]  m_axi_awburst,
    output wire        m_axi_awvalid,
    input  wire        m_axi_awready,
    output wire [63:0] m_axi_wdata,
    output wire [7:0]  m_axi_wstrb,
    output wire        m_axi_wlast,
    output wire        m_axi_wvalid,
    input  wire        m_axi_wready,
    input  wire [1:0]  m_axi_bresp,
    input  wire        m_axi_bvalid,
    output wire        m_axi_bready
);
`ifndef SYNTHESIS
    initial begin
        if (R % 8 != 0 || C % 8 != 0) $error("repq_vit: R and C must be multiples of 8");
        if (PRM_BITS > PRM_WORDS * 64 || C * WOB > WGT_WORDS * 64) $error("repq_vit: beat words");
        if (C / 2 > MAXW || PRM_WORDS > MAXW || WGT_WORDS > MAXW || R / 8 > MAXW)
            $error("repq_vit: MAXW");
    end
`endif
    localparam integer BW = MAXW * 64;
    localparam [31:0] CONFIG_WORD = (32'd1 << 24) | ((WOB - 1) << 20) | (ABITS << 16) | (C << 8) | R;
    localparam [7:0] OP_JOB = 8'd1;
    localparam [7:0] OP_READ = 8'd2;
    localparam [7:0] OP_WRITE = 8'd3;
    localparam [7:0] OP_SYNC = 8'd4;
    localparam [7:0] OP_END = 8'd5;
    localparam [3:0] P_PRM = 4'd0;
    localparam [3:0] P_WGT = 4'd1;
    localparam [3:0] P_ACT = 4'd2;
    localparam [3:0] P_RES = 4'd3;
    localparam [3:0] P_TBL = 4'd4;
    localparam [3:0] P_COPY = 4'd5;
    localparam [3:0] P_LNP = 4'd6;
    localparam [3:0] P_LNX = 4'd7;
    localparam [3:0] P_KSUM = 4'd8;
    localparam [3:0] P_KT = 4'd9;
    localparam [3:0] P_SMZ = 4'd10;
    localparam [3:0] P_V = 4'd11;
    localparam [3:0] P_CODE = 4'd12;
    localparam [3:0] P_FETCH = 4'd15;
    localparam [2:0] SRC_TOP = 3'd0;
    localparam [2:0] SRC_RES = 3'd1;
    localparam [2:0] SRC_GELU = 3'd2;
    localparam [2:0] SRC_COPY = 3'd3;
    localparam [2:0] SRC_LN = 3'd4;
    localparam [2:0] SRC_LC = 3'd5;
    localparam [2:0] SRC_AVR = 3'd6;
    localparam [3:0] U_TOP = 4'd0;
    localparam [3:0] U_LN = 4'd1;
    localparam [3:0] U_ATT_A = 4'd2;
    localparam [3:0] U_ATT_B = 4'd3;
    localparam [3:0] U_SM = 4'd4;
    localparam [3:0] U_AVR = 4'd5;
    localparam [3:0] W_PRM = PRM_WORDS[3:0];
    localparam [3:0] W_WGT = WGT_WORDS[3:0];
    localparam integer ACT_WORDS = R / 8;
    localparam integer RES_WORDS = C / 2;
    localparam integer CODE_WORDS = C / 8;
    localparam [3:0] W_ACT = ACT_WORDS[3:0];
    localparam [3:0] W_RES = RES_WORDS[3:0];
    localparam [3:0] W_CODES = CODE_WORDS[3:0];

    localparam [2:0] S_IDLE = 3'd0;
    localparam [2:0] S_FETCH = 3'd1;
    localparam [2:0] S_FETCH_WAIT = 3'd2;
    localparam [2:0] S_EXEC = 3'd3;
    localparam [2:0] S_READ_WAIT = 3'd4;
    localparam [2:0] S_COMPLETE = 3'd5;
    localparam [2:0] S_DRAIN = 3'd6;
    localparam [2:0] S_DONE = 3'd7;

    // ------------------------------------------------------------------ registers
    wire        start;
    reg  [2:0]  state_q;
    reg  [31:0] pc_q;
    reg  [31:0] idx_q;
    reg  [31:0] cmd_done_q;
    reg  [31:0] cycles_q;
    reg  [7:0]  err_q;
    reg         stopped_q;
    wire [31:0] prog_addr;
    wire [31:0] stop_after;
    wire        busy = (state_q != S_IDLE);
    wire        done_pulse = (state_q == S_DONE);

    repq_vit_regs #(
        .VERSION(32'h0001_0000),
        .CONFIG(CONFIG_WORD)
    ) u_regs (
        .clk(clk), .rst(rst),
        .s_axil_awaddr(s_axil_awaddr), .s_axil_awvalid(s_axil_awvalid),
        .s_axil_awready(s_axil_awready), .s_axil_wdata(s_axil_wdata),
        .s_axil_wstrb(s_axil_wstrb), .s_axil_wvalid(s_axil_wvalid),
        .s_axil_wready(s_axil_wready), .s_axil_bresp(s_axil_bresp),
        .s_axil_bvalid(s_axil_bvalid), .s_axil_bready(s_axil_bready),
        .s_axil_araddr(s_axil_araddr), .s_axil_arvalid(s_axil_arvalid),
        .s_axil_arready(s_axil_arready), .s_axil_rdata(s_axil_rdata),
        .s_axil_rresp(s_axil_rresp), .s_axil_rvalid(s_axil_rvalid),
        .s_axil_rready(s_axil_rready),
        .start(start), .busy(busy), .done_pulse(done_pulse), .stopped(stopped_q),
        .err_code(err_q), .cmd_done(cmd_done_q), .cycles(cycles_q),
        .prog_addr(prog_addr), .stop_after(stop_after), .irq(irq)
    );

    // ------------------------------------------------------------------ command fields
    reg  [255:0] cmd_q;
    wire [7:0]  c_op = cmd_q[7:0];
    wire [3:0]  c_port = cmd_q[11:8];
    wire        c_port_hi = |cmd_q[15:12];
    wire [7:0]  c_eb = cmd_q[23:16];
    wire [31:0] c_base = cmd_q[63:32];
    wire [15:0] c_n0 = cmd_q[79:64];
    wire [15:0] c_n1 = cmd_q[95:80];
    wire [15:0] c_n2 = cmd_q[111:96];
    wire [31:0] c_s0 = cmd_q[159:128];
    wire [31:0] c_s1 = cmd_q[191:160];
    wire [31:0] c_s2 = cmd_q[223:192];
    wire [31:0] c_w2 = cmd_q[95:64];
    wire [31:0] c_w3 = cmd_q[127:96];
    wire        c_w_hi_unused = |{c_w2[31:16], c_w3[31:16]};   // sizes are at most 16 bits
    wire [7:0]  c_reserved_unused = cmd_q[31:24];

    // ------------------------------------------------------------------ read channel
    reg  [3:0]    route_q;
    reg           rd_start;
    reg  [31:0]   rd_base;
    reg  [15:0]   rd_n0;
    reg  [15:0]   rd_n1;
    reg  [15:0]   rd_n2;
    reg  [3:0]    rd_words;
    wire          rd_busy;
    wire [1:0]    rd_err;
    wire          rd_valid;
    wire          rd_ready;
    wire [BW-1:0] rd_data;
    wire          rd_last;

    repq_vit_rd #(.AW(32), .MAXW(MAXW), .FIFO_DEPTH(4)) u_rd (
        .clk(clk), .rst(rst), .start(rd_start), .base(rd_base), .n0(rd_n0), .n1(rd_n1),
        .n2(rd_n2), .s0(c_s0), .s1(c_s1), .s2(c_s2), .words(rd_words), .busy(rd_busy),
        .err(rd_err), .m_beat_valid(rd_valid), .m_beat_ready(rd_ready), .m_beat_data(rd_data),
        .m_beat_last(rd_last),
        .m_axi_araddr(m_axi_araddr), .m_axi_arlen(m_axi_arlen), .m_axi_arsize(m_axi_arsize),
        .m_axi_arburst(m_axi_arburst), .m_axi_arvalid(m_axi_arvalid),
        .m_axi_arready(m_axi_arready), .m_axi_rdata(m_axi_rdata), .m_axi_rresp(m_axi_rresp),
        .m_axi_rlast(m_axi_rlast), .m_axi_rvalid(m_axi_rvalid), .m_axi_rready(m_axi_rready)
    );

    wire reading = (state_q == S_READ_WAIT);
    wire prm_valid = rd_valid & reading & (route_q == P_PRM);
    wire wgt_valid = rd_valid & reading & (route_q == P_WGT);
    wire act_valid = rd_valid & reading & (route_q == P_ACT);
    wire res_valid = rd_valid & reading & (route_q == P_RES);
    wire tbl_valid = rd_valid & reading & (route_q == P_TBL);
    wire cpy_in_valid = rd_valid & reading & (route_q == P_COPY);
    wire lnp_valid = rd_valid & reading & (route_q == P_LNP);
    wire lnx_valid = rd_valid & reading & (route_q == P_LNX);
    wire lnp_ready;
    wire lnx_ready;
    wire ks_valid = rd_valid & reading & (route_q == P_KSUM);
    wire kt_valid = rd_valid & reading & (route_q == P_KT);
    wire smz_valid = rd_valid & reading & (route_q == P_SMZ);
    wire v_valid = rd_valid & reading & (route_q == P_V);
    wire code_valid = rd_valid & reading & (route_q == P_CODE);
    wire ks_ready;
    wire kt_ready;
    wire smz_ready;
    wire v_ready;
    wire code_ready;
    wire prm_ready;
    wire wgt_ready;
    wire act_ready;
    wire res_ready;
    wire tbl_ready;
    wire cpy_in_ready;
    reg  port_ready;
    always @(*) begin
        case (route_q)
            P_PRM: port_ready = prm_ready;
            P_WGT: port_ready = wgt_ready;
            P_ACT: port_ready = act_ready;
            P_RES: port_ready = res_ready;
            P_TBL: port_ready = tbl_ready;
            P_COPY: port_ready = cpy_in_ready;
            P_LNP: port_ready = lnp_ready;
            P_LNX: port_ready = lnx_ready;
            P_KSUM: port_ready = ks_ready;
            P_KT: port_ready = kt_ready;
            P_SMZ: port_ready = smz_ready;
            P_V: port_ready = v_ready;
            P_CODE: port_ready = code_ready;
            default: port_ready = (state_q == S_FETCH_WAIT);
        endcase
    end
    assign rd_ready = (reading | (state_q == S_FETCH_WAIT)) & port_ready;

    // Activation lanes: byte r of the beat, its low ABITS bits.
    wire [R*ABITS-1:0] act_data;
    genvar g;
    generate
        for (g = 0; g < R; g = g + 1) begin : g_act
            assign act_data[g*ABITS +: ABITS] = rd_data[g*8 +: ABITS];
        end
    endgenerate

    // ------------------------------------------------------------------ units
    reg               top_start;
    wire              top_prm_ready;
    wire              top_wgt_ready;
    wire              top_busy;
    wire              top_done_unused;
    wire              top_out_valid;
    wire              top_out_ready;
    wire [C*OBITS-1:0] top_out_data;
    wire              top_out_last;

    repq_top u_top (
        .clk(clk), .rst(rst), .start(top_start),
        .m_rows(c_base[DIMW-1:0]), .k_depth(c_n0[DIMW-1:0]), .n_cols(c_n2[DIMW-1:0]),
        .busy(top_busy), .done(top_done_unused),
        .s_act_valid(act_valid), .s_act_ready(act_ready), .s_act_data(act_data),
        .s_wgt_valid(wgt_valid | attn_wgt_valid), .s_wgt_ready(top_wgt_ready),
        .s_wgt_data(attn_wgt_valid ? attn_wgt_data : rd_data[C*WOB-1:0]),
        .s_prm_valid(prm_valid | attn_prm_valid), .s_prm_ready(top_prm_ready),
        .s_prm_data(attn_prm_valid ? attn_prm_data : rd_data[PRM_BITS-1:0]),
        .m_out_valid(top_out_valid), .m_out_ready(top_out_ready), .m_out_data(top_out_data),
        .m_out_last(top_out_last)
    );

    assign prm_ready = top_prm_ready;
    assign wgt_ready = top_wgt_ready;

    // repq_top's output lanes as s32
    wire [C*32-1:0] top_out32;
    generate
        for (g = 0; g < C; g = g + 1) begin : g_out32
{%- if d.obits < 32 %}
            assign top_out32[g*32 +: 32] = {% if d.obits > d.abits %}{{ "{{" }}(32-OBITS){top_out_data[g*OBITS+OBITS-1]}}{% else %}{{ "{{" }}(32-OBITS){1'b0}}{% endif %}, top_out_data[g*OBITS +: OBITS]};
{%- else %}
            assign top_out32[g*32 +: 32] = top_out_data[g*32 +: 32];
{%- endif %}
        end
    endgenerate

    reg        wr_start;
    wire       wr_busy;
    wire [1:0] wr_err;
    reg  [2:0] wsrc_q;
    reg        web4_q;       // EB = 4 (else 1)
    wire       wr_ready;
    wire       wr_valid;

    wire              res_inc_valid = top_out_valid & wr_busy & (wsrc_q == SRC_RES);
    wire              res_inc_ready;
    wire              res_out_valid;
    wire [C*32-1:0]   res_out_data;
    wire              res_out_last_unused;
    repq_residual u_res (
        .clk(clk), .rst(rst),
        .s_res_valid(res_valid), .s_res_ready(res_ready), .s_res_data(rd_data[C*32-1:0]),
        .s_inc_valid(res_inc_valid), .s_inc_ready(res_inc_ready), .s_inc_data(top_out_data),
        .s_inc_last(top_out_last),
        .m_res_valid(res_out_valid), .m_res_ready(wr_ready & (wsrc_q == SRC_RES)),
        .m_res_data(res_out_data), .m_res_last(res_out_last_unused)
    );

    wire              gelu_h_valid = top_out_valid & wr_busy & (wsrc_q == SRC_GELU);
    wire              gelu_h_ready;
    wire              gelu_out_valid;
    wire [C*ABITS-1:0] gelu_out_data;
    wire              gelu_out_last_unused;
    repq_gelu u_gelu (
        .clk(clk), .rst(rst),
        .s_tbl_valid(tbl_valid), .s_tbl_ready(tbl_ready), .s_tbl_data(rd_data[15:0]),
        .s_h_valid(gelu_h_valid), .s_h_ready(gelu_h_ready), .s_h_data(top_out_data),
        .s_h_last(top_out_last),
        .m_code_valid(gelu_out_valid), .m_code_ready(wr_ready & (wsrc_q == SRC_GELU)),
        .m_code_data(gelu_out_data), .m_code_last(gelu_out_last_unused)
    );

    // LayerNorm (U5): JOB unit 1 with dim = word 1, eps = words 5:4, lo = word 6 [15:0],
    // hi = word 6 [31:16]; constants on read port 6 ({B s48, G s32}, 2 words), rows of the
    // residual stream on read port 7 (s_x_last on the transfer's last beat), codes to source 4.
    reg                ln_start;
    wire               ln_busy;
    wire               ln_done_unused;
    wire               ln_out_valid;
    wire [C*ABITS-1:0] ln_out_data;
    wire               ln_out_last_unused;
    repq_layernorm u_ln (
        .clk(clk), .rst(rst), .start(ln_start), .dim(c_base[LN_DW-1:0]), .eps({c_s1, c_s0}),
        .lo(c_s2[ABITS-1:0]), .hi(c_s2[16 +: ABITS]), .busy(ln_busy), .done(ln_done_unused),
        .s_prm_valid(lnp_valid), .s_prm_ready(lnp_ready), .s_prm_data(rd_data[79:0]),
        .s_x_valid(lnx_valid), .s_x_ready(lnx_ready), .s_x_data(rd_data[C*32-1:0]),
        .s_x_last(rd_last),
        .m_y_valid(ln_out_valid), .m_y_ready(wr_ready & (wsrc_q == SRC_LN)),
        .m_y_data(ln_out_data), .m_y_last(ln_out_last_unused)
    );

    // Attention (repq_vit_attn): constants from JOB units 2 and 3, softmax JOB unit 4
    // (row length word 1, rows word 2), A x V requantization JOB unit 5 (tokens, head width,
    // heads in words 1-3); read ports 8-12, write sources 5 (codes) and 6 (proj input codes).
    wire cfg_a = (state_q == S_EXEC) & (c_op == OP_JOB) & ~c_port_hi & (c_port == U_ATT_A);
    wire cfg_b = (state_q == S_EXEC) & (c_op == OP_JOB) & ~c_port_hi & (c_port == U_ATT_B);
    reg                sm_start;
    reg                avr_start;
    wire               sm_busy;
    wire               avr_busy;
    wire               attn_prm_valid;
    wire [PRM_BITS-1:0] attn_prm_data;
    wire               attn_wgt_valid;
    wire [C*WOB-1:0]   attn_wgt_data;
    wire               attn_lc_valid;
    wire [C*32-1:0]    attn_lc_lanes;
    wire               attn_avr_valid;
    wire [C*ABITS-1:0] attn_avr_codes;
    repq_vit_attn u_attn (
        .clk(clk), .rst(rst),
        .cfg_a(cfg_a), .cfg_b(cfg_b), .w(cmd_q[255:32]),
        .sm_start(sm_start), .sm_row_len(c_base[12:0]), .sm_rows(c_w2[15:0]), .sm_busy(sm_busy),
        .avr_start(avr_start), .avr_tokens(c_base[DIMW-1:0]), .avr_head_dim(c_w2[DIMW-1:0]),
        .avr_heads(c_w3[DIMW-1:0]), .avr_busy(avr_busy),
        .rd_data(rd_data),
        .ks_valid(ks_valid), .ks_ready(ks_ready), .kt_valid(kt_valid), .kt_ready(kt_ready),
        .smz_valid(smz_valid), .smz_ready(smz_ready), .v_valid(v_valid), .v_ready(v_ready),
        .code_valid(code_valid), .code_ready(code_ready),
        .prm_valid(attn_prm_valid), .prm_ready(top_prm_ready), .prm_data(attn_prm_data),
        .wgt_valid(attn_wgt_valid), .wgt_ready(top_wgt_ready), .wgt_data(attn_wgt_data),
        .lc_valid(attn_lc_valid), .lc_ready(wr_ready & (wsrc_q == SRC_LC)),
        .lc_lanes(attn_lc_lanes),
        .avr_valid(attn_avr_valid), .avr_ready(wr_ready & (wsrc_q == SRC_AVR)),
        .avr_codes(attn_avr_codes)
    );

    assign top_out_ready = (wsrc_q == SRC_TOP) ? wr_ready :
                           (wsrc_q == SRC_RES) ? res_inc_ready & wr_busy :
                           (wsrc_q == SRC_GELU) ? gelu_h_ready & wr_busy : 1'b0;

    // The write source selected by the last WRITE, packed into bus words; the copy path.
    wire [BW-1:0] wr_beat;
    repq_vit_wsel u_wsel (
        .clk(clk), .rst(rst), .wsrc(wsrc_q), .eb4(web4_q), .wr_ready(wr_ready),
        .wr_valid(wr_valid), .wr_beat(wr_beat),
        .top_valid(top_out_valid), .top_lanes(top_out32),
        .res_valid(res_out_valid), .res_lanes(res_out_data),
        .gelu_valid(gelu_out_valid), .gelu_codes(gelu_out_data),
        .ln_valid(ln_out_valid), .ln_codes(ln_out_data),
        .lc_valid(attn_lc_valid), .lc_lanes(attn_lc_lanes),
        .avr_valid(attn_avr_valid), .avr_codes(attn_avr_codes),
        .cpy_in_valid(cpy_in_valid), .cpy_in_ready(cpy_in_ready), .cpy_in(rd_data[C*32-1:0])
    );

    // ------------------------------------------------------------------ write channel
    repq_vit_wr #(.AW(32), .MAXW(MAXW)) u_wr (
        .clk(clk), .rst(rst), .start(wr_start), .base(c_base), .n0(c_n0), .n1(c_n1),
        .n2(c_n2), .s0(c_s0), .s1(c_s1), .s2(c_s2), .words(c_eb == 8'd4 ? W_RES : W_CODES),
        .busy(wr_busy), .err(wr_err),
        .s_beat_valid(wr_valid), .s_beat_ready(wr_ready), .s_beat_data(wr_beat),
        .m_axi_awaddr(m_axi_awaddr), .m_axi_awlen(m_axi_awlen), .m_axi_awsize(m_axi_awsize),
        .m_axi_awburst(m_axi_awburst), .m_axi_awvalid(m_axi_awvalid),
        .m_axi_awready(m_axi_awready), .m_axi_wdata(m_axi_wdata), .m_axi_wstrb(m_axi_wstrb),
        .m_axi_wlast(m_axi_wlast), .m_axi_wvalid(m_axi_wvalid), .m_axi_wready(m_axi_wready),
        .m_axi_bresp(m_axi_bresp), .m_axi_bvalid(m_axi_bvalid), .m_axi_bready(m_axi_bready)
    );

    // ------------------------------------------------------------------ sequencer
    reg [3:0] port_words;
    always @(*) begin
        case (c_port)
            P_PRM: port_words = W_PRM;
            P_WGT: port_words = W_WGT;
            P_ACT: port_words = W_ACT;
            P_TBL: port_words = 4'd1;
            P_LNP: port_words = 4'd2;
            P_KSUM: port_words = W_ACT;
            P_KT: port_words = W_ACT;
            P_V: port_words = W_CODES;
            default: port_words = W_RES;
        endcase
    end
    wire bad_read = c_port_hi | (c_port > P_CODE);
    wire eb4_src = (c_port == {1'b0, SRC_RES}) | (c_port == {1'b0, SRC_COPY})
                 | (c_port == {1'b0, SRC_LC});
    wire eb1_src = (c_port == {1'b0, SRC_GELU}) | (c_port == {1'b0, SRC_LN})
                 | (c_port == {1'b0, SRC_AVR});
    wire bad_write = c_port_hi | (c_port > {1'b0, SRC_AVR}) | ((c_eb != 8'd1) & (c_eb != 8'd4))
                   | (eb4_src & (c_eb != 8'd4)) | (eb1_src & (c_eb != 8'd1));
    wire bad_job = c_port_hi | (c_port > U_AVR);
    reg  unit_busy;
    always @(*) begin
        case (c_port)
            U_TOP: unit_busy = top_busy;
            U_LN: unit_busy = ln_busy;
            U_SM: unit_busy = sm_busy;
            U_AVR: unit_busy = avr_busy;
            default: unit_busy = 1'b0;
        endcase
    end
    wire chan_err = (rd_err != 2'd0) | (wr_err != 2'd0);
    wire [7:0] chan_code = (rd_err != 2'd0) ? {6'd0, rd_err} : {6'd4, wr_err};

    always @(*) begin
        rd_start = 1'b0;
        rd_base = c_base;
        rd_n0 = c_n0;
        rd_n1 = c_n1;
        rd_n2 = c_n2;
        rd_words = port_words;
        wr_start = 1'b0;
        top_start = 1'b0;
        ln_start = 1'b0;
        sm_start = 1'b0;
        avr_start = 1'b0;
        if (state_q == S_FETCH) begin
            rd_start = 1'b1;
            rd_base = pc_q;
            rd_n0 = 16'd1;
            rd_n1 = 16'd1;
            rd_n2 = 16'd1;
            rd_words = 4'd4;
        end else if (state_q == S_EXEC) begin
            rd_start = (c_op == OP_READ) & ~bad_read;
            wr_start = (c_op == OP_WRITE) & ~bad_write & ~wr_busy;
            top_start = (c_op == OP_JOB) & ~bad_job & (c_port == U_TOP) & ~top_busy;
            ln_start = (c_op == OP_JOB) & ~bad_job & (c_port == U_LN) & ~ln_busy;
            sm_start = (c_op == OP_JOB) & ~bad_job & (c_port == U_SM) & ~sm_busy;
            avr_start = (c_op == OP_JOB) & ~bad_job & (c_port == U_AVR) & ~avr_busy;
        end
    end

    always @(posedge clk) begin
        if (rst) begin
            state_q <= S_IDLE;
            err_q <= 8'd0;
            stopped_q <= 1'b0;
            route_q <= P_FETCH;
            wsrc_q <= SRC_TOP;
            web4_q <= 1'b0;
            cycles_q <= 32'd0;
            cmd_done_q <= 32'd0;
        end else begin
            if (busy && cycles_q != 32'hffff_ffff) cycles_q <= cycles_q + 32'd1;
            case (state_q)
                S_IDLE: if (start) begin
                    state_q <= S_FETCH;
                    pc_q <= prog_addr;
                    idx_q <= 32'd0;
                    cmd_done_q <= 32'd0;
                    cycles_q <= 32'd0;
                    err_q <= 8'd0;
                    stopped_q <= 1'b0;
                end
                S_FETCH: begin
                    route_q <= P_FETCH;
                    state_q <= S_FETCH_WAIT;
                end
                S_FETCH_WAIT: begin
                    if (chan_err) begin
                        err_q <= chan_code;
                        state_q <= S_DONE;
                    end else if (rd_valid) begin
                        cmd_q <= rd_data[255:0];
                        state_q <= S_EXEC;
                    end
                end
                S_EXEC: begin
                    case (c_op)
                        OP_JOB: begin
                            if (bad_job) begin
                                err_q <= 8'h01;
                                state_q <= S_DONE;
                            end else if (!unit_busy) begin
                                state_q <= S_COMPLETE;
                            end
                        end
                        OP_READ: begin
                            if (bad_read) begin
                                err_q <= 8'h01;
                                state_q <= S_DONE;
                            end else begin
                                route_q <= c_port;
                                state_q <= S_READ_WAIT;
                            end
                        end
                        OP_WRITE: begin
                            if (bad_write) begin
                                err_q <= 8'h01;
                                state_q <= S_DONE;
                            end else if (!wr_busy) begin
                                wsrc_q <= c_port[2:0];
                                web4_q <= (c_eb == 8'd4);
                                state_q <= S_COMPLETE;
                            end
                        end
                        OP_SYNC: if (!wr_busy) state_q <= S_COMPLETE;
                        OP_END: state_q <= S_DONE;
                        default: begin
                            err_q <= 8'h01;
                            state_q <= S_DONE;
                        end
                    endcase
                end
                S_READ_WAIT: begin
                    if (chan_err) begin
                        err_q <= chan_code;
                        state_q <= S_DONE;
                    end else if (!rd_busy) begin
                        state_q <= S_COMPLETE;
                    end
                end
                S_COMPLETE: begin
                    cmd_done_q <= cmd_done_q + 32'd1;
                    if (idx_q >= stop_after && c_op == OP_SYNC) begin
                        stopped_q <= 1'b1;
                        state_q <= S_DRAIN;
                    end else begin
                        idx_q <= idx_q + 32'd1;
                        pc_q <= pc_q + 32'd32;
                        state_q <= S_FETCH;
                    end
                end
                S_DRAIN: begin
                    if (chan_err) begin
                        err_q <= chan_code;
                        state_q <= S_DONE;
                    end else if (!wr_busy) begin
                        state_q <= S_DONE;
                    end
                end
                default: state_q <= S_IDLE;     // S_DONE: done_pulse for one cycle
            endcase
            if (state_q != S_IDLE && state_q != S_DONE && chan_err && err_q == 8'd0
                && state_q != S_FETCH_WAIT && state_q != S_READ_WAIT && state_q != S_DRAIN) begin
                err_q <= chan_code;
                state_q <= S_DONE;
            end
        end
    end
endmodule

`default_nettype wire
