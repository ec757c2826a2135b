{{ header }}
// repq_vit_attn: the attention units of repq_vit and the three small adapters that let them run
// from memory through the DMA channels (docs/accelerator.md, "Attention"). Per head:
//   Q K^T on repq_top (outside): s_wgt from the KEY TRANSPOSER (read port 9: C beats, the R key
//     channels k0 .. k0+R-1 of C keys, give R beats of C lanes k - z_k), s_prm from the KEY SUM
//     (read port 8: BPK beats of R channels per key give one parameter beat, bias
//     -z_q * sum_c (k_c - z_k), the softmax's M0 and shift, zero point 0, the s32 clamp);
//   repq_softmax (read port 10: logit rows, bias and mask 0) -> repq_logcode -> write source 5
//     (s32 lanes: the code, or -1 for the exact zero, also for a code past the model's
//     2^abits - 1 when the model is narrower than the design);
//   the A x V FEEDER: read port 11 loads the value operands v - z_v of one lane group for every
//     key into a buffer; read port 12 streams code rows (s32 lanes as written by source 5),
//     serialized into one repq_shift_av beat per key with that key's values, in_last on the
//     row's last key -> repq_av_requant -> write source 6 (proj input codes).
// The constants come from two JOB commands of repq_vit (units 2 and 3).

`timescale 1ns / 1ps
`default_nettype none

module repq_vit_attn #(
    parameter integer R = {{ d.rows }},
    parameter integer C = {{ d.cols }},
    parameter integer ABITS = {{ d.abits }},
    parameter integer WOB = {{ d.wob }},
    parameter integer ACC = {{ d.acc_bits }},
    parameter integer DIMW = {{ d.dim_bits }},
    parameter integer BW = {{ v.max_words * 64 }},
    parameter integer VMAX = 1024,                       // keys the value buffer holds
    parameter integer PRM_BITS = ACC + 69 + 2 * 32      // derived: do not override
) (
    input  wire                   clk,
    input  wire                   rst,
    // constants: JOB unit 2 (cfg_a) and 3 (cfg_b) with command words 1 .. 7 (w[k*32 +: 32] is
    // word k + 1); docs/accelerator.md lists the fields
    input  wire                   cfg_a,
    input  wire                   cfg_b,
    input  wire [7*32-1:0]        w,
    // jobs
    input  wire                   sm_start,
    input  wire [12:0]            sm_row_len,
    input  wire [15:0]            sm_rows,
    output wire                   sm_busy,
    input  wire                   avr_start,
    input  wire [DIMW-1:0]        avr_tokens,
    input  wire [DIMW-1:0]        avr_head_dim,
    input  wire [DIMW-1:0]        avr_heads,
    output wire                   avr_busy,
    // read beats (one port at a time)
    input  wire [BW-1:0]          rd_data,
    input  wire                   ks_valid,
    output wire                   ks_ready,
    input  wire                   kt_valid,
    output wire                   kt_ready,
    input  wire                   smz_valid,
    output wire                   smz_ready,
    input  wire                   v_valid,
    output wire                   v_ready,
    input  wire                   code_valid,
    output wire                   code_ready,
    // to repq_top
    output reg                    prm_valid,
    input  wire                   prm_ready,
    output wire [PRM_BITS-1:0]    prm_data,
    output wire                   wgt_valid,
    input  wire                   wgt_ready,
    output wire [C*WOB-1:0]       wgt_data,
    // to the writer
    output wire                   lc_valid,
    input  wire                   lc_ready,
    output wire [C*32-1:0]        lc_lanes,
    output wire                   avr_valid,
    input  wire                   avr_ready,
    output wire [C*ABITS-1:0]     avr_codes
);
    genvar g;
    integer i;

    // ------------------------------------------------------------------ constants
    reg  [31:0] zq_q, zk_q, zv_q, smm0_q, misc_q, tokens_q, maxcode_q;
    reg  [31:0] cint_q, t1_q, t0_q, tm1_q, avm0_q, avmisc_q, avzp_q;
    always @(posedge clk) begin
        if (cfg_a) begin
            {maxcode_q, tokens_q, misc_q, smm0_q, zv_q, zk_q, zq_q} <= w;
        end
        if (cfg_b) begin
            {avzp_q, avmisc_q, avm0_q, tm1_q, t0_q, t1_q, cint_q} <= w;
        end
    end
    wire [31:0]      z_q = zq_q;
    wire [31:0]      z_k = zk_q;
    wire [31:0]      z_v = zv_q;
    wire [30:0]      sm_m0 = smm0_q[30:0];
    wire [5:0]       sm_shift = misc_q[5:0];
    wire [4:0]       f = misc_q[12:8];
    wire [7:0]       bpk = misc_q[23:16];           // key-sum beats per key: D_h / R
    wire [15:0]      tokens = tokens_q[15:0];       // keys per row
    wire [ABITS-1:0] max_code = maxcode_q[ABITS-1:0];   // 2^abits - 1 of the model
    wire [15:0]      c_int = cint_q[15:0];
    wire [16:0]      t1 = t1_q[16:0];
    wire [16:0]      t0 = t0_q[16:0];
    wire [16:0]      tm1 = tm1_q[16:0];
    wire [30:0]      av_m0 = avm0_q[30:0];
    wire [5:0]       av_shift = avmisc_q[5:0];
    wire [31:0]      av_zp = avzp_q;
    wire [ABITS-1:0] av_lo = avmisc_q[8 +: ABITS];
    wire [ABITS-1:0] av_hi = avmisc_q[16 +: ABITS];
    wire cfg_unused = |{smm0_q[31], misc_q[31:24], misc_q[15:13], misc_q[7:6],
                        tokens_q[31:16], maxcode_q[31:ABITS], cint_q[31:16], t1_q[31:17],
                        t0_q[31:17], tm1_q[31:17], avm0_q[31], avmisc_q[31:6]};

    // ------------------------------------------------------------------ key sum
    reg  signed [31:0] ks_sum_q;
    reg  [7:0]         ks_beat_q;
    reg  [ACC-1:0]     ks_bias_q;
    reg  signed [31:0] beat_sum;
    always @(*) begin
        beat_sum = 32'sd0;
        for (i = 0; i < R; i = i + 1)
            beat_sum = beat_sum + $signed({24'd0, rd_data[i*8 +: 8]}) - $signed(z_k);
    end
    wire               ks_take = ks_valid & ks_ready;
    wire               ks_key_end = (ks_beat_q == bpk - 8'd1);
    wire signed [31:0] key_sum = ks_sum_q + beat_sum;
    wire signed [63:0] zq64 = {{ "{{" }}32{z_q[31]}}, z_q};
    wire signed [63:0] ks64 = {{ "{{" }}32{key_sum[31]}}, key_sum};
    wire signed [63:0] ks_bias_full = -(zq64 * ks64);
    assign ks_ready = ~prm_valid;
    always @(posedge clk) begin
        if (rst) begin
            ks_sum_q <= 32'sd0;
            ks_beat_q <= 8'd0;
            prm_valid <= 1'b0;
        end else begin
            if (prm_valid & prm_ready) prm_valid <= 1'b0;
            if (ks_take) begin
                if (ks_key_end) begin
                    ks_sum_q <= 32'sd0;
                    ks_beat_q <= 8'd0;
                    ks_bias_q <= ks_bias_full[ACC-1:0];
                    prm_valid <= 1'b1;
                end else begin
                    ks_sum_q <= ks_sum_q + beat_sum;
                    ks_beat_q <= ks_beat_q + 8'd1;
                end
            end
        end
    end
    wire ks_bias_hi_unused = |ks_bias_full[63:ACC];
    // {hi, lo, zero_point, shift, m0, bias}: the s32 clamp and zero point 0 (the softmax logits)
    assign prm_data = {32'h7fff_ffff, 32'h8000_0000, 32'd0, sm_shift, sm_m0, ks_bias_q};

    // ------------------------------------------------------------------ key transposer
    reg  [R*8-1:0]   kt_rows_q [0:C-1];
    reg  [$clog2(C+1)-1:0] kt_in_q;        // key rows held
    reg  [$clog2(R+1)-1:0] kt_out_q;       // channel beats sent
    wire             kt_full = (kt_in_q == C[$clog2(C+1)-1:0]);
    assign kt_ready = ~kt_full;
    assign wgt_valid = kt_full;
    generate
        for (g = 0; g < C; g = g + 1) begin : g_kt
            wire [8:0] code9 = {1'b0, kt_rows_q[g][kt_out_q[$clog2(R+1)-1:0]*8 +: 8]};
            wire [31:0] opnd = {23'd0, code9} - z_k;
            assign wgt_data[g*WOB +: WOB] = opnd[WOB-1:0];
            wire opnd_hi_unused = |opnd[31:WOB];
        end
    endgenerate
    always @(posedge clk) begin
        if (rst) begin
            kt_in_q <= 0;
            kt_out_q <= 0;
        end else if (kt_valid & kt_ready) begin
            kt_in_q <= kt_in_q + 1'b1;
        end else if (wgt_valid & wgt_ready) begin
            if (kt_out_q == R[$clog2(R+1)-1:0] - 1'b1) begin
                kt_out_q <= 0;
                kt_in_q <= 0;
            end else begin
                kt_out_q <= kt_out_q + 1'b1;
            end
        end
    end
    always @(posedge clk) begin
        if (kt_valid & kt_ready) kt_rows_q[kt_in_q[$clog2(C)-1:0]] <= rd_data[R*8-1:0];
    end

    // ------------------------------------------------------------------ softmax, log2 codes
    wire              p_valid;
    wire              p_ready;
    wire [C*17-1:0]   p_data;
    wire [C-1:0]      p_keep_unused;
    wire              p_rlast_unused;
    wire              p_last_unused;
    wire              sm_done_unused;
    repq_softmax u_softmax (
        .clk(clk), .rst(rst), .start(sm_start), .row_len(sm_row_len), .rows(sm_rows),
        .busy(sm_busy), .done(sm_done_unused),
        .s_z_valid(smz_valid), .s_z_ready(smz_ready), .s_z_data(rd_data[C*32-1:0]),
        .s_z_bias({(C*16){1'b0}}), .s_z_mask({C{1'b0}}),
        .m_p_valid(p_valid), .m_p_ready(p_ready), .m_p_data(p_data), .m_p_keep(p_keep_unused),
        .m_p_rlast(p_rlast_unused), .m_p_last(p_last_unused)
    );
    wire [C*ABITS-1:0] lc_code;
    wire [C-1:0]       lc_zero;
    repq_logcode u_logcode (
        .clk(clk), .rst(rst), .in_valid(p_valid), .in_ready(p_ready), .p(p_data),
        .c_int(c_int), .t1(t1), .t0(t0), .tm1(tm1), .max_code(max_code),
        .out_valid(lc_valid), .out_ready(lc_ready), .code(lc_code), .zero(lc_zero)
    );
    generate
        for (g = 0; g < C; g = g + 1) begin : g_lc
            // The exact zero (also a code past max_code, a model narrower than the design) is -1.
            assign lc_lanes[g*32 +: 32] = lc_zero[g] ? 32'hffff_ffff
                                                     : {{ "{{" }}(32-ABITS){1'b0}}, lc_code[g*ABITS +: ABITS]};
        end
    endgenerate

    // ------------------------------------------------------------------ A x V feeder
    localparam integer VW = ABITS + 1;
    localparam integer VAW = $clog2(VMAX);
    reg  [C*VW-1:0] vbuf [0:VMAX-1];
    reg  [VAW-1:0]  vptr_q;
    wire [C*VW-1:0] v_in;
    generate
        for (g = 0; g < C; g = g + 1) begin : g_v
            wire [31:0] opnd = {24'd0, rd_data[g*8 +: 8]} - z_v;
            assign v_in[g*VW +: VW] = opnd[VW-1:0];
            wire opnd_hi_unused = |opnd[31:VW];
        end
    endgenerate
    assign v_ready = 1'b1;
    wire [15:0] last_key = tokens - 16'd1;
    always @(posedge clk) begin
        if (rst) vptr_q <= {VAW{1'b0}};
        else if (v_valid) vptr_q <= ({{ "{{" }}(16-VAW){1'b0}}, vptr_q} == last_key) ? {VAW{1'b0}} : vptr_q + 1'b1;
    end
    always @(posedge clk) begin
        if (v_valid) vbuf[vptr_q] <= v_in;
    end

    reg  [C*32-1:0]        cb_q;
    reg                    cb_valid_q;
    reg  [$clog2(C)-1:0]   lane_q;
    reg  [15:0]            key_q;
    wire                   sa_in_ready;
    wire [31:0]            cur = cb_q[lane_q*32 +: 32];
    wire                   sa_fire = cb_valid_q & sa_in_ready;
    wire                   row_end = (key_q == last_key);
    assign code_ready = ~cb_valid_q;
    always @(posedge clk) begin
        if (rst) begin
            cb_valid_q <= 1'b0;
            lane_q <= 0;
            key_q <= 16'd0;
        end else if (code_valid & code_ready) begin
            cb_q <= rd_data[C*32-1:0];
            cb_valid_q <= 1'b1;
        end else if (sa_fire) begin
            if (row_end) begin
                key_q <= 16'd0;
                lane_q <= 0;
                cb_valid_q <= 1'b0;
            end else begin
                key_q <= key_q + 16'd1;
                lane_q <= lane_q + 1'b1;
                if (lane_q == C[$clog2(C)-1:0] - 1'b1) cb_valid_q <= 1'b0;
            end
        end
    end
    wire cur_mid_unused = |cur[30:ABITS];

    wire              sa_out_valid;
    wire              sa_out_ready;
    wire [C*ACC-1:0]  sa_out;
    repq_shift_av u_shift_av (
        .clk(clk), .rst(rst), .in_valid(cb_valid_q), .in_ready(sa_in_ready), .in_last(row_end),
        .code(cur[ABITS-1:0]), .zero(cur[31]), .f(f), .v(vbuf[key_q[VAW-1:0]]),
        .out_valid(sa_out_valid), .out_ready(sa_out_ready), .out(sa_out)
    );

    wire [DIMW-1:0] avr_row_unused;
    wire [DIMW-1:0] avr_col_unused;
    wire [C-1:0]    avr_keep_unused;
    wire            avr_last_unused;
    wire            avr_done_unused;
    repq_av_requant u_av_requant (
        .clk(clk), .rst(rst), .start(avr_start), .tokens(avr_tokens), .head_dim(avr_head_dim),
        .heads(avr_heads), .busy(avr_busy), .done(avr_done_unused),
        .s_av_valid(sa_out_valid), .s_av_ready(sa_out_ready), .s_av_data(sa_out),
        .m0(av_m0), .shift(av_shift), .zero_point(av_zp), .lo(av_lo), .hi(av_hi),
        .m_out_valid(avr_valid), .m_out_ready(avr_ready), .m_out_data(avr_codes),
        .m_out_row(avr_row_unused), .m_out_col(avr_col_unused), .m_out_keep(avr_keep_unused),
        .m_out_last(avr_last_unused)
    );
endmodule

`default_nettype wire
