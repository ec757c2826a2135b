{{ header }}
// A x V requantization into the proj input codes, heads merged, LANES lanes (docs/arithmetic.md,
// "A x V to proj input codes"), bit-exact with arith::merge_heads:
//   pin[t][h*D_h + c] = clamp(round_shift(out * M0, n) + z, lo, hi)      (U2 of U4's outputs)
// s_av: repq_shift_av's output beats unchanged, LANES lanes of s{ACC}: per head h = 0 .. H-1, per
// lane group g = 0 .. ceil(D_h / LANES) - 1, per query t = 0 .. T-1, one beat with channels
// g*LANES .. g*LANES + LANES-1 of head h. The constants m0 (u31), shift (u6, 1 .. 62),
// zero_point (s32), lo, hi (u{ABITS}) are taken with each beat (per-head constants: change them
// with the beats of the next head).
// m_out: LANES codes per beat, in the input order, with their place in the merged [T, H*D_h]
// proj input: m_out_row = t, m_out_col = h*D_h + g*LANES (lane c is column m_out_col + c),
// m_out_keep lane c set when g*LANES + c < D_h (lanes outside the head are 0), m_out_last on the
// job's last beat.
// CONTROL. Pulse start (while busy = 0) with tokens = T, head_dim = D_h, heads = H (each 1 ..
// 2^DIMW - 1, H * D_h too; a size 0 completes at once: done pulses, nothing is streamed). busy
// stays high until the last output beat is accepted; done pulses then.
// RQ_LANES requantization lanes (a divisor of LANES; repq_requant, 4 hard multipliers each) take
// a beat in G = LANES / RQ_LANES cycles, one group of RQ_LANES lanes per cycle. Throughput one
// beat per G cycles ({{ u.av_groups }} here); an output beat is valid AV_REQUANT_LATENCY = G + 12 = {{ u.av_latency }} cycles after
// its input beat was accepted. Credits keep the 16-deep output FIFO from overflowing.

`timescale 1ns / 1ps
`default_nettype none

module repq_av_requant #(
    parameter integer LANES = {{ d.cols }},
    parameter integer ABITS = {{ d.abits }},
    parameter integer ACC = {{ d.acc_bits }},
    parameter integer RQ_LANES = {{ u.av_requant_lanes }},        // divides LANES
    parameter integer DIMW = {{ d.dim_bits }}
) (
    input  wire                   clk,
    input  wire                   rst,
    // control
    input  wire                   start,
    input  wire [DIMW-1:0]        tokens,
    input  wire [DIMW-1:0]        head_dim,
    input  wire [DIMW-1:0]        heads,
    output reg                    busy,
    output reg                    done,
    // U4 outputs, with the constants of their head
    input  wire                   s_av_valid,
    output wire                   s_av_ready,
    input  wire [LANES*ACC-1:0]   s_av_data,
    input  wire [30:0]            m0,
    input  wire [5:0]             shift,
    input  wire [31:0]            zero_point,
    input  wire [ABITS-1:0]       lo,
    input  wire [ABITS-1:0]       hi,
    // proj input codes
    output wire                   m_out_valid,
    input  wire                   m_out_ready,
    output wire [LANES*ABITS-1:0] m_out_data,
    output wire [DIMW-1:0]        m_out_row,
    output wire [DIMW-1:0]        m_out_col,
    output wire [LANES-1:0]       m_out_keep,
    output wire                   m_out_last
);
    localparam integer G = LANES / RQ_LANES;
    localparam integer GW = (G > 1) ? $clog2(G) : 1;
    localparam integer FDEPTH = 16;
    localparam integer CW = 5;                                   // credits 0 .. FDEPTH
    localparam integer OW = LANES * ABITS;
    localparam integer FW = OW + 2 * DIMW + LANES + 1;
    localparam [DIMW-1:0] ONE = 1;
    localparam integer GL = G - 1;
    localparam [DIMW-1:0] LANES_D = LANES[DIMW-1:0];
    localparam [GW-1:0] G_LAST = GL[GW-1:0];
    localparam [CW-1:0] FULL = FDEPTH[CW-1:0];

    // ------------------------------------------------------------------ control
    reg [DIMW-1:0] t_n;
    reg [DIMW-1:0] dh_n;
    reg [DIMW-1:0] h_n;
    wire sizes_ok = (tokens != {DIMW{1'b0}}) & (head_dim != {DIMW{1'b0}}) & (heads != {DIMW{1'b0}});
    wire out_pop = m_out_valid & m_out_ready;
    always @(posedge clk) begin
        if (rst) begin
            busy <= 1'b0;
            done <= 1'b0;
        end else begin
            done <= 1'b0;
            if (start & ~busy) begin
                if (sizes_ok) busy <= 1'b1;
                else done <= 1'b1;
            end
            if (busy & out_pop & m_out_last) begin
                busy <= 1'b0;
                done <= 1'b1;
            end
        end
    end
    always @(posedge clk) begin
        if (start & ~busy) begin
            t_n <= tokens;
            dh_n <= head_dim;
            h_n <= heads;
        end
    end

    // ------------------------------------------------------------------ input side
    // Walk (head, group, query) of the accepted beats, to stop after the job's last one.
    reg [DIMW-1:0] it_q;       // query
    reg [DIMW-1:0] irem_q;     // channels of the head from this group on
    reg [DIMW-1:0] ih_q;       // head
    reg            in_done;
    reg [CW-1:0]   credits_q;  // beats accepted and not yet taken from m_out
    reg            hold_v;     // a beat is in the group register
    reg [GW-1:0]   gi_q;       // its group on the requantization lanes this cycle
    wire grp_last = (gi_q == G_LAST);
    assign s_av_ready = busy & ~in_done & (credits_q != FULL) & (~hold_v | grp_last);
    wire take = s_av_valid & s_av_ready;
    wire i_t_end = (it_q == t_n - ONE);
    wire i_g_end = (irem_q <= LANES_D);
    wire i_h_end = (ih_q == h_n - ONE);

    always @(posedge clk) begin
        if (rst | (start & ~busy)) begin
            it_q <= {DIMW{1'b0}};
            irem_q <= head_dim;
            ih_q <= {DIMW{1'b0}};
            in_done <= 1'b0;
        end else if (take) begin
            if (!i_t_end) it_q <= it_q + ONE;
            else begin
                it_q <= {DIMW{1'b0}};
                if (!i_g_end) irem_q <= irem_q - LANES_D;
                else begin
                    irem_q <= dh_n;
                    if (!i_h_end) ih_q <= ih_q + ONE;
                    else in_done <= 1'b1;
                end
            end
        end
    end
    always @(posedge clk) begin
        if (rst) begin
            credits_q <= {CW{1'b0}};
            hold_v <= 1'b0;
            gi_q <= {GW{1'b0}};
        end else begin
            credits_q <= credits_q + { {(CW-1){1'b0}}, take } - { {(CW-1){1'b0}}, out_pop };
            if (take) begin
                hold_v <= 1'b1;
                gi_q <= {GW{1'b0}};
            end else if (hold_v) begin
                if (grp_last) hold_v <= 1'b0;
                else gi_q <= gi_q + 1'b1;
            end
        end
    end

    // The held beat and its constants.
    reg [LANES*ACC-1:0] hold_acc;
    reg [30:0]          hold_m0;
    reg [5:0]           hold_sh;
    reg [31:0]          hold_zp;
    reg [ABITS-1:0]     hold_lo;
    reg [ABITS-1:0]     hold_hi;
    always @(posedge clk) begin
        if (take) begin
            hold_acc <= s_av_data;
            hold_m0 <= m0;
            hold_sh <= shift;
            hold_zp <= zero_point;
            hold_lo <= lo;
            hold_hi <= hi;
        end
    end

    // ------------------------------------------------------------------ requantization lanes
    wire [RQ_LANES*ACC-1:0] grp_acc;
    generate
        if (G > 1) begin : g_mux
            repq_gmux #(.W(RQ_LANES * ACC), .G(G), .SW(GW)) u_mux (
                .d(hold_acc), .sel(gi_q), .q(grp_acc)
            );
        end else begin : g_direct
            assign grp_acc = hold_acc;
            wire unused_gi = &{1'b0, gi_q};
        end
    endgenerate
    wire [31:0] lo_x = { {(32-ABITS){1'b0}}, hold_lo };
    wire [31:0] hi_x = { {(32-ABITS){1'b0}}, hold_hi };
    wire                    rq_valid;
    wire                    rq_last_grp;
    wire [RQ_LANES*ABITS-1:0] rq_y;
    repq_requant #(.LANES(RQ_LANES), .ACC(ACC), .OBITS(ABITS), .SIDE(1)) u_rq (
        .clk(clk), .rst(rst), .in_valid(hold_v), .in_side(grp_last), .acc(grp_acc),
        .m0({RQ_LANES{hold_m0}}), .shift({RQ_LANES{hold_sh}}), .zp({RQ_LANES{hold_zp}}),
        .lo({RQ_LANES{lo_x}}), .hi({RQ_LANES{hi_x}}),
        .out_valid(rq_valid), .out_side(rq_last_grp), .y(rq_y)
    );

    // ------------------------------------------------------------------ output side
    // Groups arrive in order; the last completes a beat.
    wire [OW-1:0] beat;
    generate
        if (G > 1) begin : g_asm
            reg [OW-RQ_LANES*ABITS-1:0] asm_q;     // groups 0 .. G-2 of the beat
            if (G > 2) begin : g_shift
                always @(posedge clk) begin
                    if (rq_valid) asm_q <= { rq_y, asm_q[OW-RQ_LANES*ABITS-1:RQ_LANES*ABITS] };
                end
            end else begin : g_hold                   // two groups: the first is held alone
                always @(posedge clk) begin
                    if (rq_valid) asm_q <= rq_y;
                end
            end
            assign beat = { rq_y, asm_q };
        end else begin : g_one
            assign beat = rq_y;
        end
    endgenerate
    wire push = rq_valid & rq_last_grp;
    // The place of the pushed beat: (head, group, query) walked again.
    reg [DIMW-1:0] ot_q;
    reg [DIMW-1:0] orem_q;
    reg [DIMW-1:0] oh_q;
    reg [DIMW-1:0] ocol_q;     // h*D_h + g*LANES
    reg [DIMW-1:0] ohead_q;    // h*D_h
    wire o_t_end = (ot_q == t_n - ONE);
    wire o_g_end = (orem_q <= LANES_D);
    wire o_h_end = (oh_q == h_n - ONE);
    always @(posedge clk) begin
        if (rst | (start & ~busy)) begin
            ot_q <= {DIMW{1'b0}};
            orem_q <= head_dim;
            oh_q <= {DIMW{1'b0}};
            ocol_q <= {DIMW{1'b0}};
            ohead_q <= {DIMW{1'b0}};
        end else if (push) begin
            if (!o_t_end) ot_q <= ot_q + ONE;
            else begin
                ot_q <= {DIMW{1'b0}};
                if (!o_g_end) begin
                    orem_q <= orem_q - LANES_D;
                    ocol_q <= ocol_q + LANES_D;
                end else begin
                    orem_q <= dh_n;
                    ocol_q <= ohead_q + dh_n;
                    ohead_q <= ohead_q + dh_n;
                    oh_q <= oh_q + ONE;
                end
            end
        end
    end
    wire [LANES-1:0] keep;
    wire [OW-1:0] beat_kept;
    genvar c;
    generate
        for (c = 0; c < LANES; c = c + 1) begin : g_keep
            localparam [DIMW-1:0] CD = c;
            assign keep[c] = (CD < orem_q);
            assign beat_kept[c*ABITS +: ABITS] = keep[c] ? beat[c*ABITS +: ABITS] : {ABITS{1'b0}};
        end
    endgenerate
    wire o_last = o_t_end & o_g_end & o_h_end;

    repq_fifo #(.WIDTH(FW), .DEPTH(FDEPTH)) u_fifo (
        .clk(clk), .rst(rst), .push(push),
        .din({o_last, keep, ocol_q, ot_q, beat_kept}),
        .dout_valid(m_out_valid), .dout_ready(m_out_ready),
        .dout({m_out_last, m_out_keep, m_out_col, m_out_row, m_out_data})
    );
endmodule

`default_nettype wire
