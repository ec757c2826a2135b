{{ header }}
// Integer softmax U6, LANES lanes per beat (docs/arithmetic.md, U6), bit-exact with
// arith::softmax::probabilities: per row of T keys,
//   v = z + b (s33); vmax = max of v over the unmasked keys; delta = min(vmax - v, 21504);
//   e = 0 if masked, else EXP2[delta mod 1024] >> (delta >> 10)       (u21)
//   S = sum e (u33);  p = floor((e 2^17 + S) / (2 S)) by the row divider (repq_rowdiv_*), u17;
//   a row with every key masked gives p = 0 everywhere.
// s_z: the logits z (LANES lanes of s32; repq_top's s32 output lanes of the Q K^T job run with the
// softmax's M0, n, z_o = 0 and the s32 clamp), with each beat LANES lanes of s16 bias and a
// LANES-bit mask (1: the key is masked out; a ViT ties both to 0). A row is ceil(T / LANES)
// beats, keys j*LANES .. j*LANES + LANES-1 in beat j; lanes past T are ignored.
// m_p: the probabilities, LANES lanes of u17 (repq_logcode's p input), in the same beats;
// m_p_keep marks the lanes inside the row (padding lanes are 0), m_p_rlast a row's last beat,
// m_p_last the job's last beat.
// CONTROL. Pulse start (while busy = 0) with row_len = T (1 .. ROWMAX) and rows (>= 1); a size 0
// or T > ROWMAX completes at once (done pulses, nothing is taken). busy stays high until the last
// beat is taken; done pulses then.
// Per row, in order: IN takes the beats (one per cycle) into the row buffer (v and the mask,
// LANES banks of ceil(ROWMAX / LANES) x 34 bits) and keeps the running maximum; EXP reads
// EX_LANES keys per cycle, computes e through the EXP2 ROM (repq_exp2_rom, one per exponent
// lane) and writes it back in place, summing S; RECIP computes the reciprocal of 2S
// (repq_rowdiv_recip, QW + 3 = 20 cycles; skipped for a fully masked row); DIV reads EX_LANES
// e per cycle through EX_LANES repq_rowdiv_lane and assembles the output beats. The next row's
// IN starts as soon as DIV has read the buffer, while the last beats are still in the divider.
// Stall-free cycles per row: B + 2 B G + 26 (B + 2 B G + 5 for a fully masked row), with
// B = ceil(T / LANES) and G = LANES / EX_LANES; then 5 for the last row's last beat
// (perf::softmax_cycles). Throughput EX_LANES / 2 keys per cycle for long rows.

`timescale 1ns / 1ps
`default_nettype none

module repq_softmax #(
    parameter integer LANES = {{ d.cols }},
    parameter integer EX_LANES = {{ u.softmax_lanes }},     // divides LANES
    parameter integer ROWMAX = {{ u.softmax_rowmax }},     // longest row, <= 4096
    parameter integer TW = 13,         // row length width (T <= 4096)
    parameter integer RW = 16          // row count width
) (
    input  wire                   clk,
    input  wire                   rst,
    // control
    input  wire                   start,
    input  wire [TW-1:0]          row_len,
    input  wire [RW-1:0]          rows,
    output reg                    busy,
    output reg                    done,
    // logits, bias and mask
    input  wire                   s_z_valid,
    output wire                   s_z_ready,
    input  wire [LANES*32-1:0]    s_z_data,
    input  wire [LANES*16-1:0]    s_z_bias,
    input  wire [LANES-1:0]       s_z_mask,
    // probabilities
    output wire                   m_p_valid,
    input  wire                   m_p_ready,
    output wire [LANES*17-1:0]    m_p_data,
    output wire [LANES-1:0]       m_p_keep,
    output wire                   m_p_rlast,
    output wire                   m_p_last
);
    localparam integer U = EX_LANES;
    localparam integer G = LANES / EX_LANES;
    localparam integer GW = (G > 1) ? $clog2(G) : 1;
    localparam integer BD = (ROWMAX + LANES - 1) / LANES;       // buffer words per bank
    localparam integer AW = (BD > 1) ? $clog2(BD) : 1;
    localparam integer KW = $clog2(17 + 34 + 2);
    localparam integer GL = G - 1;
    localparam [GW-1:0] G_LAST = GL[GW-1:0];
    localparam [GW-1:0] G_ONE = 1;
    localparam [AW-1:0] A_ONE = 1;
    localparam [TW-1:0] LANES_T = LANES[TW-1:0];
    localparam [TW-1:0] ROWMAX_T = ROWMAX[TW-1:0];
    localparam [RW-1:0] R_ONE = 1;
    localparam [33:0] DSAT = 34'd21504;      // (EBITS + 1) 2^EF
    localparam [2:0] S_IDLE = 3'd0;
    localparam [2:0] S_IN = 3'd1;
    localparam [2:0] S_EXP = 3'd2;
    localparam [2:0] S_RECIP = 3'd3;
    localparam [2:0] S_DIV = 3'd4;
    localparam [2:0] S_FLUSH = 3'd5;
`ifndef SYNTHESIS
    initial begin
        if (G * EX_LANES != LANES) $error("repq_softmax: EX_LANES must divide LANES");
        if (ROWMAX > 4096 || ROWMAX < 1) $error("repq_softmax: ROWMAX must be 1 .. 4096");
    end
`endif

    reg  [2:0]    state_q;
    reg  [TW-1:0] t_n;
    reg  [RW-1:0] rows_left_q;
    wire          sizes_ok = (row_len != {TW{1'b0}}) & (rows != {RW{1'b0}}) & (row_len <= ROWMAX_T);
    wire          out_take = m_p_valid & m_p_ready;

    // ------------------------------------------------------------------ IN
    reg  [TW-1:0]  in_rem_q;     // keys of the row from this beat on
    reg  [AW-1:0]  in_b_q;
    reg            vany_q;       // an unmasked key was seen
    reg  signed [32:0] vmax_q;
    assign s_z_ready = (state_q == S_IN);
    wire           in_take = s_z_valid & s_z_ready;
    wire           in_last = (in_rem_q <= LANES_T);
    wire [LANES-1:0]    lmask;
    wire [LANES*33-1:0] lv;
    genvar l;
    generate
        for (l = 0; l < LANES; l = l + 1) begin : g_in
            localparam [TW-1:0] LT = l;
            wire signed [31:0] z = s_z_data[l*32 +: 32];
            wire signed [15:0] b = s_z_bias[l*16 +: 16];
            assign lv[l*33 +: 33] = { z[31], z } + { {17{b[15]}}, b };
            assign lmask[l] = s_z_mask[l] | (LT >= in_rem_q);
        end
    endgenerate
    // The beat's maximum over its unmasked lanes.
    reg            bany;
    reg  signed [32:0] bmax;
    integer i;
    always @* begin
        bany = 1'b0;
        bmax = 33'sd0;
        for (i = 0; i < LANES; i = i + 1) begin
            if (~lmask[i] & (~bany | ($signed(lv[i*33 +: 33]) > bmax))) begin
                bany = 1'b1;
                bmax = lv[i*33 +: 33];
            end
        end
    end

    // ------------------------------------------------------------------ EXP
    reg  [AW-1:0]  ex_b_q;
    reg  [GW-1:0]  ex_g_q;
    reg            ex_end_q;     // every group issued
    reg  [32:0]    s_q;          // S
    reg            x1_v_q;       // stage 1: buffer words read
    reg  [GW-1:0]  x1_g_q;
    reg  [AW-1:0]  x1_b_q;
    reg            x2_v_q;       // stage 2: ROM read
    reg  [GW-1:0]  x2_g_q;
    reg  [AW-1:0]  x2_b_q;
    wire           ex_issue = (state_q == S_EXP) & ~ex_end_q;
    wire           ex_drained = ex_end_q & ~x1_v_q & ~x2_v_q;

    // ------------------------------------------------------------------ DIV
    wire           ce = ~m_p_valid | m_p_ready;
    reg  [AW-1:0]  dv_b_q;
    reg  [GW-1:0]  dv_g_q;
    reg  [TW-1:0]  dv_rem_q;
    reg            dv_end_q;
    reg            zero_row_q;   // every key of the row is masked
    reg            d1_v_q;       // stage 1: buffer words read
    reg  [GW-1:0]  d1_g_q;
    reg  [LANES-1:0] d1_keep_q;
    reg            d1_blast_q;
    wire           dv_issue = (state_q == S_DIV) & ~dv_end_q & ce;
    wire           dv_last = (dv_rem_q <= LANES_T);
    wire [LANES-1:0] dv_keep;
    generate
        for (l = 0; l < LANES; l = l + 1) begin : g_keep
            localparam [TW-1:0] LT = l;
            assign dv_keep[l] = (LT < dv_rem_q);
        end
    endgenerate

    // ------------------------------------------------------------------ row buffer
    wire [AW-1:0]  rd_addr = (state_q == S_EXP) ? ex_b_q : dv_b_q;
    wire           rd_en = ex_issue | dv_issue;
    wire [LANES*34-1:0] rdata;
    wire [U*21-1:0] x2_e;        // stage 2 results, written back
    generate
        for (l = 0; l < LANES; l = l + 1) begin : g_buf
            localparam integer LG = l / U;
            localparam [GW-1:0] LGG = LG[GW-1:0];
            reg [33:0] mem [0:BD-1];
            reg [33:0] rd_q;
            wire       wb = (state_q == S_EXP) & x2_v_q & (x2_g_q == LGG);
            always @(posedge clk) begin
                if (in_take) mem[in_b_q] <= { lmask[l], lv[l*33 +: 33] };
                else if (wb) mem[x2_b_q] <= { 13'd0, x2_e[(l % U)*21 +: 21] };
            end
            always @(posedge clk) begin
                if (rd_en) rd_q <= mem[rd_addr];
            end
            assign rdata[l*34 +: 34] = rd_q;
        end
    endgenerate

    // ------------------------------------------------------------------ EXP lanes
    wire [GW-1:0] x_sel = x1_g_q;
    reg  [U*5-1:0] x2_sh_q;
    reg  [U-1:0]   x2_kill_q;
    reg  [32:0]    e_sum;
    genvar u;
    generate
        for (u = 0; u < U; u = u + 1) begin : g_ex
            wire [33:0] w = rdata[(x_sel * U + u)*34 +: 34];
            wire signed [33:0] delta = { vmax_q[32], vmax_q } - { w[32], w[32:0] };
            wire [14:0] dsat = (delta >= $signed(DSAT)) ? DSAT[14:0] : delta[14:0];
            wire [20:0] rom_data;
            repq_exp2_rom u_rom (.clk(clk), .addr(dsat[9:0]), .data(rom_data));
            always @(posedge clk) begin
                x2_sh_q[u*5 +: 5] <= dsat[14:10];
                x2_kill_q[u] <= w[33];
            end
            assign x2_e[u*21 +: 21] = x2_kill_q[u] ? 21'd0 : (rom_data >> x2_sh_q[u*5 +: 5]);
        end
    endgenerate
    always @* begin
        e_sum = s_q;
        for (i = 0; i < U; i = i + 1) e_sum = e_sum + { 12'd0, x2_e[i*21 +: 21] };
    end

    // ------------------------------------------------------------------ reciprocal and DIV lanes
    wire          rc_busy;
    wire [19:0]   rc_r;
    wire [KW-1:0] rc_k;
    wire          rc_start = (state_q == S_EXP) & ex_drained & (s_q != 33'd0);
    repq_rowdiv_recip #(.QW(17), .DW(34)) u_recip (
        .clk(clk), .rst(rst), .start(rc_start), .d({ s_q, 1'b0 }), .busy(rc_busy), .r(rc_r),
        .k(rc_k)
    );
    wire [U-1:0]    q_v;
    wire [U*17-1:0] q;
    generate
        for (u = 0; u < U; u = u + 1) begin : g_div
            wire [20:0] e = rdata[(d1_g_q * U + u)*34 +: 21];
            wire [50:0] n = { 13'd0, e, 17'd0 } + { 18'd0, s_q };
            repq_rowdiv_lane #(.QW(17), .DW(34)) u_lane (
                .clk(clk), .rst(rst), .ce(ce), .in_valid(d1_v_q), .n(n), .r(rc_r), .k(rc_k),
                .d({ s_q, 1'b0 }), .out_valid(q_v[u]), .q(q[u*17 +: 17])
            );
        end
    endgenerate
    // The beat's place travels beside the divider: group, keep, row's last beat, job's last
    // beat, fully masked row.
    localparam integer TGW = GW + LANES + 3;
    reg  [5*TGW-1:0] tag_q;
    reg              last_row_q;
    wire [TGW-1:0]   tag_in = { d1_g_q, d1_keep_q, d1_blast_q, d1_blast_q & last_row_q, zero_row_q };
    wire [TGW-1:0]   tag_out = tag_q[4*TGW +: TGW];
    always @(posedge clk) begin
        if (ce) tag_q <= { tag_q[0 +: 4*TGW], tag_in };
    end
    wire [GW-1:0]    o_g = tag_out[TGW-1 -: GW];
    wire [LANES-1:0] o_keep = tag_out[3 +: LANES];
    wire             o_rlast = tag_out[2];
    wire             o_last = tag_out[1];
    wire             o_zero = tag_out[0];

    // ------------------------------------------------------------------ output beat
    reg               out_v_q;
    reg [LANES*17-1:0] out_q;
    reg [LANES-1:0]   keep_q;
    reg               rlast_q;
    reg               last_q;
    wire              o_put = ce & (&q_v);      // the lanes move together
    assign m_p_valid = out_v_q;
    assign m_p_data = out_q;
    assign m_p_keep = keep_q;
    assign m_p_rlast = rlast_q;
    assign m_p_last = last_q;
    always @(posedge clk) begin
        if (rst) out_v_q <= 1'b0;
        else if (o_put & (o_g == G_LAST)) out_v_q <= 1'b1;
        else if (out_take) out_v_q <= 1'b0;
    end
    generate
        for (l = 0; l < LANES; l = l + 1) begin : g_out
            localparam integer LG = l / U;
            localparam [GW-1:0] LGG = LG[GW-1:0];
            always @(posedge clk) begin
                if (o_put & (o_g == LGG))
                    out_q[l*17 +: 17] <= (o_zero | ~o_keep[l]) ? 17'd0 : q[(l % U)*17 +: 17];
            end
        end
    endgenerate
    always @(posedge clk) begin
        if (o_put & (o_g == G_LAST)) begin
            keep_q <= o_keep;
            rlast_q <= o_rlast;
            last_q <= o_last;
        end
    end

    // ------------------------------------------------------------------ control
    always @(posedge clk) begin
        if (rst) begin
            state_q <= S_IDLE;
            busy <= 1'b0;
            done <= 1'b0;
        end else begin
            done <= 1'b0;
            case (state_q)
                S_IDLE: if (start) begin
                    if (sizes_ok) begin
                        state_q <= S_IN;
                        busy <= 1'b1;
                    end else done <= 1'b1;
                end
                S_IN: if (in_take & in_last) state_q <= S_EXP;
                S_EXP: if (ex_drained) state_q <= (s_q == 33'd0) ? S_DIV : S_RECIP;
                S_RECIP: if (~rc_busy) state_q <= S_DIV;
                S_DIV: if (dv_end_q & ~d1_v_q) state_q <= last_row_q ? S_FLUSH : S_IN;
                S_FLUSH: if (out_take & m_p_last) begin
                    state_q <= S_IDLE;
                    busy <= 1'b0;
                    done <= 1'b1;
                end
                default: state_q <= S_IDLE;
            endcase
        end
    end
    // Per job and per row.
    wire row_begin = ((state_q == S_IDLE) & start & sizes_ok) |
                     ((state_q == S_DIV) & dv_end_q & ~d1_v_q & ~last_row_q);
    always @(posedge clk) begin
        if ((state_q == S_IDLE) & start) begin
            t_n <= row_len;
            rows_left_q <= rows;
            last_row_q <= (rows == R_ONE);
        end else if ((state_q == S_DIV) & dv_end_q & ~d1_v_q) begin
            rows_left_q <= rows_left_q - R_ONE;
            last_row_q <= (rows_left_q == R_ONE + R_ONE);
        end
    end
    always @(posedge clk) begin
        if (row_begin) begin
            in_rem_q <= ((state_q == S_IDLE) ? row_len : t_n);
            in_b_q <= {AW{1'b0}};
            vany_q <= 1'b0;
        end else if (in_take) begin
            in_rem_q <= in_rem_q - LANES_T;
            in_b_q <= in_b_q + A_ONE;
            if (bany & (~vany_q | (bmax > vmax_q))) begin
                vany_q <= 1'b1;
                vmax_q <= bmax;
            end
        end
    end
    // EXP: issue B G groups, then S is complete two cycles after the last.
    always @(posedge clk) begin
        if (in_take & in_last) begin
            ex_b_q <= {AW{1'b0}};
            ex_g_q <= {GW{1'b0}};
            ex_end_q <= 1'b0;
            s_q <= 33'd0;
        end else begin
            if (ex_issue) begin
                if (ex_g_q == G_LAST) begin
                    ex_g_q <= {GW{1'b0}};
                    ex_b_q <= ex_b_q + A_ONE;
                    if (ex_b_q == in_b_q - A_ONE) ex_end_q <= 1'b1;
                end else ex_g_q <= ex_g_q + G_ONE;
            end
            if ((state_q == S_EXP) & x2_v_q) s_q <= e_sum;
        end
    end
    always @(posedge clk) begin
        if (rst) begin
            x1_v_q <= 1'b0;
            x2_v_q <= 1'b0;
        end else begin
            x1_v_q <= ex_issue;
            x2_v_q <= x1_v_q;
        end
    end
    always @(posedge clk) begin
        x1_g_q <= ex_g_q;
        x1_b_q <= ex_b_q;
        x2_g_q <= x1_g_q;
        x2_b_q <= x1_b_q;
    end
    // DIV: issue B G groups with their keep and last-beat flags.
    always @(posedge clk) begin
        if ((state_q == S_EXP) & ex_drained) begin
            dv_b_q <= {AW{1'b0}};
            dv_g_q <= {GW{1'b0}};
            dv_rem_q <= t_n;
            dv_end_q <= 1'b0;
            zero_row_q <= (s_q == 33'd0);
        end else if (dv_issue) begin
            if (dv_g_q == G_LAST) begin
                dv_g_q <= {GW{1'b0}};
                dv_b_q <= dv_b_q + A_ONE;
                dv_rem_q <= dv_rem_q - LANES_T;
                if (dv_last) dv_end_q <= 1'b1;
            end else dv_g_q <= dv_g_q + G_ONE;
        end
    end
    always @(posedge clk) begin
        if (rst) d1_v_q <= 1'b0;
        else if (ce) d1_v_q <= dv_issue;
    end
    always @(posedge clk) begin
        if (dv_issue) begin
            d1_g_q <= dv_g_q;
            d1_keep_q <= dv_last ? dv_keep : {LANES{1'b1}};
            d1_blast_q <= dv_last & (dv_g_q == G_LAST);
        end
    end
endmodule

`default_nettype wire
