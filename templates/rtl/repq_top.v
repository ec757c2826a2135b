{{ header }}
// repq_top: tiled matmul with bias and requantization on a {{ d.rows }}x{{ d.cols }} weight-stationary array
//   out[m][n] = requant_n( bias[n] + sum_k a[m][k] * w[k][n] )       (U1 then U2)
// a: u{{ d.abits }} activation codes, w: s{{ d.wob }} stationary operands (w_code - z_w, or k_code - z_k
{%- if d.out_signed() %}
// for Q K^T), bias: s{{ d.acc_bits }}, accumulation exact in s{{ d.acc_bits }}, out: s{{ d.obits }} values (--out-bits {{ d.obits }}).
{%- else %}
// for Q K^T), bias: s{{ d.acc_bits }}, accumulation exact in s{{ d.acc_bits }}, out: u{{ d.abits }} codes.
{%- endif %}
// The operand lanes are s(max(wbits, abits) + 1) = s{{ d.wob }}: weights minus their zero points (s{{ d.wbits + 1 }}) and
// keys minus theirs (s{{ d.abits + 1 }}) both fit, so the array runs the linear layers and Q K^T.
//
// CONTROL. Pulse `start` (while busy = 0) with m_rows = M, k_depth = K, n_cols = N (each
// 1 .. 65535; any of them 0 completes at once: done pulses, nothing is streamed). busy stays high
// until the last output beat is accepted; done pulses for one cycle then. The accumulator bound
// holds for K <= {{ d.requirement.max_k }} (what the configured requirement covers).
//
// STREAMS (ready/valid; a beat moves when valid and ready are both high; valid must not wait for
// ready; every stream may stall at any time). Beats are packed LSB first, lane i at bits
// [i*W +: W]. The job is cut into M tiles of TM = {{ d.m_tile }} rows, N tiles of C = {{ d.cols }} columns and
// K tiles of R = {{ d.rows }} depth indices, walked in this order (m0, n0, k0 are tile bases;
// mr = min(TM, M - m0), nr = min(C, N - n0), kr = min(R, K - k0)):
//
//   for m0 = 0, TM, ..:  for n0 = 0, C, ..:
//       s_prm: nr beats, column n = n0 .. n0+nr-1: {hi, lo, zero_point, shift, m0, bias}
//       for k0 = 0, R, ..:
//           s_wgt: kr beats, k = k0 .. k0+kr-1: lane c = w[k][n0+c]       (c < nr; others ignored)
//           s_act: mr beats, m = m0 .. m0+mr-1: lane r = a[m][k0+r]       (r < kr; others ignored)
//       m_out: mr beats, m = m0 .. m0+mr-1: lane c = out[m][n0+c]        (c >= nr: 0);
//              m_out_last marks the job's last beat
//
// Each stream is consumed in its own order independently of the others (the design buffers one
// tile of parameters and one pass of weights ahead), so a driver may feed them from separate DMA
// channels; activation rows are re-sent for every N tile (weight-stationary: the weights of a
// tile stay while all mr rows pass). A single-threaded driver may also move one stream at a time
// in exactly the order above, every beat of a step before the next step (all mr activation beats
// of the last K tile before the first m_out beat of the tile): the output FIFO holds
// {{ d.fifo_depth }} >= TM rows, a whole tile, so no step waits for a later one and the order cannot deadlock.
//
// Parameter beat, {{ d.param_bits() }} bits, LSB first:
{%- for f in d.param_fields() %}
//   [{{ f.lsb + f.bits - 1 }}:{{ f.lsb }}] {{ f.name }} ({% if f.signed %}s{% else %}u{% endif %}{{ f.bits }})
{%- endfor %}
//   requant: y = clamp(((acc * m0 + 2^(shift-1)) >> shift) + zero_point, lo, hi)  (U2), with
{%- if d.out_signed() %}
//   shift in 1 .. 62 and -2^{{ d.obits - 1 }} <= lo <= hi <= 2^{{ d.obits - 1 }}-1 ({{ d.out_range().0 }} .. {{ d.out_range().1 }}).
//
// OUTPUT LANES (--out-bits {{ d.obits }}). m_out lanes are s{{ d.obits }} two's complement and lo/hi are s{{ d.obits }} fields,
// sign-extended to 32 bits into the requantization unit, so the array also produces the wider
// requantization targets of docs/arithmetic.md (U2): activation codes (lo = 0, hi = 2^{{ d.abits }}-1),
{%- if d.obits >= 16 %}
// the GELU index of fc1 (s16: lo = -32768, hi = 32767),
{%- endif %}
{%- if d.obits == 32 %}
// residual-stream increments of patch_embed, proj, fc2 and the head (s32), and raw accumulators
// (Q K^T scores: m0 = 2^30, shift = 30, zero_point = 0, lo = -2^31, hi = 2^31-1 give y = acc).
{%- else %}
// and any signed target within s{{ d.obits }} (s32 targets, such as residual increments and raw Q K^T
// accumulators, need --out-bits 32).
{%- endif %}
// The default, --out-bits {{ d.abits }}, has unsigned u{{ d.abits }} code lanes and u{{ d.abits }} lo/hi; only lane and field
// widths differ from it: the cycle timing is the same.
{%- else %}
//   shift in 1 .. 62 and 0 <= lo <= hi <= {{ (1 << d.abits) - 1 }}.
{%- endif %}
//
// TIMING. Activation beat accepted -> its row leaves the array {{ d.array_latency() }} cycles later (2 + R + C);
// a row of the last K tile is valid on m_out {{ d.output_latency() }} cycles after its activation beat was
// accepted (array, {% if d.requant_groups() > 1 %}{{ d.requant_groups() }} requantization groups, {% endif %}{{ requant_latency }}-cycle requantization, FIFO).
// With all streams always valid/ready the array accepts one activation row per cycle except when
// (a) the weights of the next pass are not loaded yet: loading takes R cycles and may start only
//     once the pass before the previous one has left the array (double buffering), or
// (b) a later K tile would read a row of the accumulator buffer before the previous K tile wrote
//     it back (M tiles shorter than the array latency), or
// (c) the output FIFO ({{ d.fifo_depth }} rows) has no room reserved for a last-K-tile row (only when m_out is
//     not read: the FIFO holds an M tile){% if d.requant_groups() > 1 %}, or
// (d) the previous last-K-tile row was accepted fewer than C / U = {{ d.requant_groups() }} cycles ago: {{ d.requant_lanes }}
//     requantization lanes serve the {{ d.cols }} columns{% endif %}.

`timescale 1ns / 1ps
`default_nettype none

module repq_top #(
    parameter integer R = {{ d.rows }},
    parameter integer C = {{ d.cols }},
    parameter integer ABITS = {{ d.abits }},
{%- if d.out_signed() %}
    parameter integer OBITS = {{ d.obits }},               // signed output lanes, ABITS < OBITS <= 32
{%- endif %}
    parameter integer WOB = {{ d.wob }},
    parameter integer ACC = {{ d.acc_bits }},
    parameter integer TM = {{ d.m_tile }},
    parameter integer DIMW = {{ d.dim_bits }},
    parameter integer FIFO_DEPTH = {{ d.fifo_depth }},
    parameter integer RQ_LANES = {{ d.requant_lanes }},                // divides C
    parameter integer PRM_BITS = ACC + 69 + 2 * {{ ob }}    // derived: do not override
) (
    input  wire                 clk,
    input  wire                 rst,
    // control
    input  wire                 start,
    input  wire [DIMW-1:0]      m_rows,
    input  wire [DIMW-1:0]      k_depth,
    input  wire [DIMW-1:0]      n_cols,
    output reg                  busy,
    output reg                  done,
    // activation codes, R lanes of ABITS
    input  wire                 s_act_valid,
    output wire                 s_act_ready,
    input  wire [R*ABITS-1:0]   s_act_data,
    // stationary operands, C lanes of WOB
    input  wire                 s_wgt_valid,
    output wire                 s_wgt_ready,
    input  wire [C*WOB-1:0]     s_wgt_data,
    // per-column parameters, one column per beat
    input  wire                 s_prm_valid,
    output wire                 s_prm_ready,
    input  wire [PRM_BITS-1:0]  s_prm_data,
{%- if d.out_signed() %}
    // signed outputs, C lanes of OBITS
{%- else %}
    // output codes, C lanes of ABITS
{%- endif %}
    output wire                 m_out_valid,
    input  wire                 m_out_ready,
    output wire [C*{{ ob }}-1:0]   m_out_data,
    output wire                 m_out_last
);
    // Parameter beat layout (LSB first).
    localparam integer P_BIAS = 0;
    localparam integer P_M0 = ACC;
    localparam integer P_SH = ACC + 31;
    localparam integer P_ZP = ACC + 37;
    localparam integer P_LO = ACC + 69;
    localparam integer P_HI = ACC + 69 + {{ ob }};

    localparam integer U = RQ_LANES;                         // requantization lanes
    localparam integer G = C / RQ_LANES;                     // cycles per output row
    localparam integer AW = (TM > 1) ? $clog2(TM) : 1;      // row address
    localparam integer RIW = (R > 1) ? $clog2(R) : 1;       // array row index
    localparam integer CIW = (C > 1) ? $clog2(C) : 1;       // array column index
    localparam integer MW = $clog2(TM + 1);
    localparam integer KW = $clog2(R + 1);
    localparam integer NW = $clog2(C + 1);
    localparam integer LW = MW + 2;                          // lag counter
    localparam integer FW = $clog2(FIFO_DEPTH + 1);          // credit counter
    localparam [FW-1:0] FIFO_FULL_CREDITS = FIFO_DEPTH[FW-1:0];

    // ------------------------------------------------------------------ control
    reg [DIMW-1:0] m_q;
    reg [DIMW-1:0] k_q;
    reg [DIMW-1:0] n_q;
    wire sizes_ok = (m_rows != {DIMW{1'b0}}) & (k_depth != {DIMW{1'b0}}) & (n_cols != {DIMW{1'b0}});
    wire go = start & ~busy & sizes_ok;
    reg  go_q;          // the walkers start once the sizes are latched
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
        if (rst) go_q <= 1'b0;
        else go_q <= go;
    end
    always @(posedge clk) begin
        if (go) begin
            m_q <= m_rows;
            k_q <= k_depth;
            n_q <= n_cols;
        end
    end

    // Bank states. A bank is free (loadable), ready (loaded, waiting for or in its pass), or busy
    // (its last row was issued and has not left the array / entered requantization).
    reg [1:0] wready;
    reg [1:0] wbusy;
    reg [1:0] pready;
    reg [1:0] pbusy;

    // ------------------------------------------------------------------ weight loader
    wire           wl_active;
    wire [RIW-1:0] wl_idx;
    wire [KW-1:0]  wl_kr_unused;
    wire [NW-1:0]  wl_nr;
    wire           wl_last;
    wire           wl_par;
    wire           wl_need;     // a real row of the tile: takes a beat (else a zero row)
    wire           wl_step;
    wire           wl_lt_nr_unused;
    wire [MW-1:0]  wl_mr_unused;
    wire           wl_first_k_unused;
    wire           wl_last_k_unused;
    wire           wl_last_tile_unused;
    wire           wl_tile_par_unused;
    repq_walk #(.TM(TM), .R(R), .C(C), .DIMW(DIMW), .INNER(1), .IW(RIW)) u_wl_walk (
        .clk(clk), .rst(rst), .start(go_q), .m_rows(m_q), .k_depth(k_q), .n_cols(n_q),
        .step(wl_step), .active(wl_active), .idx(wl_idx), .mr(wl_mr_unused), .kr(wl_kr_unused),
        .nr(wl_nr), .last_idx(wl_last), .idx_lt_kr(wl_need), .idx_lt_nr(wl_lt_nr_unused), .first_k(wl_first_k_unused), .last_k(wl_last_k_unused),
        .last_tile(wl_last_tile_unused), .pass_par(wl_par), .tile_par(wl_tile_par_unused)
    );
    wire wl_free = ~wready[wl_par] & ~wbusy[wl_par];
    assign s_wgt_ready = wl_active & wl_free & wl_need;
    assign wl_step = wl_active & wl_free & (~wl_need | s_wgt_valid);

    reg [R-1:0]     wq_we;
    reg             wq_bank;
    reg [C*WOB-1:0] wq_data;
    genvar gi;
    generate
        for (gi = 0; gi < R; gi = gi + 1) begin : g_wl_row
            localparam [RIW-1:0] ROW = gi;
            always @(posedge clk) begin
                if (rst) wq_we[gi] <= 1'b0;
                else wq_we[gi] <= wl_step & (wl_idx == ROW);
            end
        end
        for (gi = 0; gi < C; gi = gi + 1) begin : g_wl_col
            localparam [NW-1:0] COL = gi;
            always @(posedge clk) begin
                wq_data[gi*WOB +: WOB] <= (wl_need && COL < wl_nr) ? s_wgt_data[gi*WOB +: WOB]
                                                                   : {WOB{1'b0}};
            end
        end
    endgenerate
    always @(posedge clk) wq_bank <= wl_par;

    // ------------------------------------------------------------------ parameter loader
    wire           pl_active;
    wire [CIW-1:0] pl_idx;
    wire [NW-1:0]  pl_nr_unused;
    wire           pl_last;
    wire           pl_par;
    wire           pl_need;     // a real column: takes a beat (else zero parameters)
    wire           pl_step;
    wire           pl_lt_kr_unused;
    wire [MW-1:0]  pl_mr_unused;
    wire [KW-1:0]  pl_kr_unused;
    wire           pl_first_k_unused;
    wire           pl_last_k_unused;
    wire           pl_last_tile_unused;
    wire           pl_pass_par_unused;
    localparam [DIMW-1:0] ONE_K = 1;    // one K tile per parameter tile
    repq_walk #(.TM(TM), .R(R), .C(C), .DIMW(DIMW), .INNER(2), .IW(CIW)) u_pl_walk (
        .clk(clk), .rst(rst), .start(go_q), .m_rows(m_q), .k_depth(ONE_K), .n_cols(n_q),
        .step(pl_step), .active(pl_active), .idx(pl_idx), .mr(pl_mr_unused), .kr(pl_kr_unused),
        .nr(pl_nr_unused), .last_idx(pl_last), .idx_lt_kr(pl_lt_kr_unused), .idx_lt_nr(pl_need), .first_k(pl_first_k_unused), .last_k(pl_last_k_unused),
        .last_tile(pl_last_tile_unused), .pass_par(pl_pass_par_unused), .tile_par(pl_par)
    );
    wire pl_free = ~pready[pl_par] & ~pbusy[pl_par];
    assign s_prm_ready = pl_active & pl_free & pl_need;
    assign pl_step = pl_active & pl_free & (~pl_need | s_prm_valid);
    wire [PRM_BITS-1:0] pl_data = pl_need ? s_prm_data : {PRM_BITS{1'b0}};

    // Two banks of C columns each.
    reg [C*ACC-1:0] bias_b0;
    reg [C*ACC-1:0] bias_b1;
    reg [C*31-1:0]  m0_b0;
    reg [C*31-1:0]  m0_b1;
    reg [C*6-1:0]   sh_b0;
    reg [C*6-1:0]   sh_b1;
    reg [C*32-1:0]  zp_b0;
    reg [C*32-1:0]  zp_b1;
    reg [C*{{ ob }}-1:0] lo_b0;
    reg [C*{{ ob }}-1:0] lo_b1;
    reg [C*{{ ob }}-1:0] hi_b0;
    reg [C*{{ ob }}-1:0] hi_b1;
    generate
        for (gi = 0; gi < C; gi = gi + 1) begin : g_pl_col
            localparam [CIW-1:0] COL = gi;
            wire we = pl_step & (pl_idx == COL);
            always @(posedge clk) begin
                if (we & ~pl_par) begin
                    bias_b0[gi*ACC +: ACC] <= pl_data[P_BIAS +: ACC];
                    m0_b0[gi*31 +: 31] <= pl_data[P_M0 +: 31];
                    sh_b0[gi*6 +: 6] <= pl_data[P_SH +: 6];
                    zp_b0[gi*32 +: 32] <= pl_data[P_ZP +: 32];
                    lo_b0[gi*{{ ob }} +: {{ ob }}] <= pl_data[P_LO +: {{ ob }}];
                    hi_b0[gi*{{ ob }} +: {{ ob }}] <= pl_data[P_HI +: {{ ob }}];
                end
                if (we & pl_par) begin
                    bias_b1[gi*ACC +: ACC] <= pl_data[P_BIAS +: ACC];
                    m0_b1[gi*31 +: 31] <= pl_data[P_M0 +: 31];
                    sh_b1[gi*6 +: 6] <= pl_data[P_SH +: 6];
                    zp_b1[gi*32 +: 32] <= pl_data[P_ZP +: 32];
                    lo_b1[gi*{{ ob }} +: {{ ob }}] <= pl_data[P_LO +: {{ ob }}];
                    hi_b1[gi*{{ ob }} +: {{ ob }}] <= pl_data[P_HI +: {{ ob }}];
                end
            end
        end
    endgenerate

    // ------------------------------------------------------------------ activation issue
    wire           is_active;
    wire [AW-1:0]  is_idx;
    wire [MW-1:0]  is_mr;
    wire [KW-1:0]  is_kr;
    wire           is_last;
    wire           is_first_k;
    wire           is_last_k;
    wire           is_last_tile;
    wire           is_wpar;
    wire           is_ppar;
    wire [NW-1:0]  is_nr_unused;
    wire           is_lt_kr_unused;
    wire           is_lt_nr_unused;
    wire           is_step;
    repq_walk #(.TM(TM), .R(R), .C(C), .DIMW(DIMW), .INNER(0), .IW(AW)) u_is_walk (
        .clk(clk), .rst(rst), .start(go_q), .m_rows(m_q), .k_depth(k_q), .n_cols(n_q),
        .step(is_step), .active(is_active), .idx(is_idx), .mr(is_mr), .kr(is_kr),
        .nr(is_nr_unused), .last_idx(is_last), .idx_lt_kr(is_lt_kr_unused), .idx_lt_nr(is_lt_nr_unused), .first_k(is_first_k), .last_k(is_last_k),
        .last_tile(is_last_tile), .pass_par(is_wpar), .tile_par(is_ppar)
    );

    // lag = rows issued in this (m0, n0) tile - rows written back to the accumulator buffer.
    // A later K tile may read row i only after the previous K tile wrote it: lag < mr.
    reg [LW-1:0] lag;
    reg [FW-1:0] credits;
    wire is_hazard_ok = is_first_k | (lag < { {(LW-MW){1'b0}}, is_mr });
    wire is_rq_ok;      // last-K-tile rows G cycles apart when requantization is shared
    wire is_credit_ok = ~is_last_k | ((credits != {FW{1'b0}}) & is_rq_ok);
    assign s_act_ready = is_active & wready[is_wpar] & pready[is_ppar] & is_hazard_ok
                       & is_credit_ok;
    assign is_step = s_act_ready & s_act_valid;
    wire is_tile_end = is_step & is_last & is_last_k;
    generate
        if (G == 1) begin : g_no_spacing
            assign is_rq_ok = 1'b1;
        end else begin : g_spacing
            localparam integer GW = $clog2(G);
            localparam integer G_M1_I = G - 1;
            localparam [GW-1:0] G_M1 = G_M1_I[GW-1:0];
            reg [GW-1:0] cool;
            always @(posedge clk) begin
                if (rst) cool <= {GW{1'b0}};
                else if (is_step & is_last_k) cool <= G_M1;
                else if (cool != {GW{1'b0}}) cool <= cool - 1'b1;
            end
            assign is_rq_ok = (cool == {GW{1'b0}});
        end
    endgenerate

    // Stage 1: the masked activation row and its metadata.
    localparam integer MB = AW + 6;   // {job_last, pbank, wbank, last_row, last_k, first_k, row}
    reg [R*ABITS-1:0] s1_act;
    wire [MB-1:0] s1_meta;
    reg  s1_valid;
    reg  [AW-1:0] s1_row;
    reg  s1_first_k;
    reg  s1_last_k;
    reg  s1_last_row;
    reg  s1_wbank;
    reg  s1_pbank;
    reg  s1_job_last;
    generate
        for (gi = 0; gi < R; gi = gi + 1) begin : g_act_lane
            localparam [KW-1:0] LANE = gi;
            always @(posedge clk) begin
                s1_act[gi*ABITS +: ABITS] <= (LANE < is_kr) ? s_act_data[gi*ABITS +: ABITS]
                                                            : {ABITS{1'b0}};
            end
        end
    endgenerate
    always @(posedge clk) begin
        if (rst) s1_valid <= 1'b0;
        else s1_valid <= is_step;
        s1_row <= is_idx;
        s1_first_k <= is_first_k;
        s1_last_k <= is_last_k;
        s1_last_row <= is_last;
        s1_wbank <= is_wpar;
        s1_pbank <= is_ppar;
        s1_job_last <= is_last & is_last_k & is_last_tile;
    end
    assign s1_meta = {s1_job_last, s1_pbank, s1_wbank, s1_last_row, s1_last_k, s1_first_k, s1_row};

    // Accumulator buffer: TM rows of C partial sums. Read when a row is issued, written back
    // when it leaves the array (rows of every K tile but the last).
    wire [C*ACC-1:0] acc_rdata;
    wire [C*ACC-1:0] arr_out;
    wire [MB-1:0]    so_meta;
    wire             so_valid;
    wire [AW-1:0]    so_row = so_meta[AW-1:0];
    wire             so_first_k_unused = so_meta[AW];
    wire             so_last_k = so_meta[AW+1];
    wire             so_last_row = so_meta[AW+2];
    wire             so_wbank = so_meta[AW+3];
    wire             so_pbank = so_meta[AW+4];
    wire             so_job_last = so_meta[AW+5];
    wire             so_wb = so_valid & ~so_last_k;
    repq_sdpram #(.WIDTH(C*ACC), .DEPTH(TM), .AW(AW)) u_accbuf (
        .clk(clk), .we(so_wb), .waddr(so_row), .wdata(arr_out),
        .re(is_step & ~is_first_k), .raddr(is_idx), .rdata(acc_rdata)
    );

    // Initial partial sums: the bias on the first K tile, the buffered sums after it.
    wire [C*ACC-1:0] s1_bias = s1_pbank ? bias_b1 : bias_b0;
    wire [C*ACC-1:0] s1_psum = s1_first_k ? s1_bias : acc_rdata;

    repq_array #(.R(R), .C(C), .ABITS(ABITS), .WOB(WOB), .ACC(ACC)) u_array (
        .clk(clk), .a_in(s1_act), .bank_in(s1_wbank), .psum_in(s1_psum),
        .w_row_we(wq_we), .w_bank(wq_bank), .w_data(wq_data), .psum_out(arr_out)
    );
    repq_vdelay #(.WIDTH(MB + 1), .DEPTH(R + C + 1)) u_meta (
        .clk(clk), .rst(rst), .d({s1_meta, s1_valid}), .q({so_meta, so_valid})
    );

    // ------------------------------------------------------------------ requantization
    // Rows of the last K tile are requantized by U = RQ_LANES lanes. With U = C a whole row enters
    // the requantization unit the cycle it leaves the array; with U < C the row is held and fed
    // in G = C / U groups of U columns on consecutive cycles (the issue stage spaces last-K-tile
    // rows G cycles apart), and the output row is reassembled before the FIFO.
    wire               so_sel_pb;       // the parameter bank of the row being requantized
    wire [C*31-1:0]    pb_m0 = so_sel_pb ? m0_b1 : m0_b0;
    wire [C*6-1:0]     pb_sh = so_sel_pb ? sh_b1 : sh_b0;
    wire [C*32-1:0]    pb_zp = so_sel_pb ? zp_b1 : zp_b0;
    wire [C*{{ ob }}-1:0] pb_lo = so_sel_pb ? lo_b1 : lo_b0;
    wire [C*{{ ob }}-1:0] pb_hi = so_sel_pb ? hi_b1 : hi_b0;
    wire               rq_in_valid;
    wire [1:0]         rq_in_side;      // {job_last, row complete}
    wire [U*ACC-1:0]   rq_acc;
    wire [U*31-1:0]    rq_m0;
    wire [U*6-1:0]     rq_sh;
    wire [U*32-1:0]    rq_zp;
    wire [U*{{ ob }}-1:0] rq_lo_n;
    wire [U*{{ ob }}-1:0] rq_hi_n;
    wire               rq_release;      // the tile's last row has taken its parameters
    wire [U*32-1:0]    rq_lo;
    wire [U*32-1:0]    rq_hi;
    generate
{%- if d.out_signed() %}
        // lo/hi are s{OBITS}: sign-extended to the unit's s32 bounds.
        for (gi = 0; gi < U; gi = gi + 1) begin : g_rq_ext
            if (OBITS < 32) begin : g_sext
                assign rq_lo[gi*32 +: 32] = { {(32-OBITS){rq_lo_n[gi*OBITS+OBITS-1]}},
                                              rq_lo_n[gi*OBITS +: OBITS] };
                assign rq_hi[gi*32 +: 32] = { {(32-OBITS){rq_hi_n[gi*OBITS+OBITS-1]}},
                                              rq_hi_n[gi*OBITS +: OBITS] };
            end else begin : g_full
                assign rq_lo[gi*32 +: 32] = rq_lo_n[gi*OBITS +: 32];
                assign rq_hi[gi*32 +: 32] = rq_hi_n[gi*OBITS +: 32];
            end
        end
{%- else %}
        for (gi = 0; gi < U; gi = gi + 1) begin : g_rq_ext
            assign rq_lo[gi*32 +: 32] = { {(32-ABITS){1'b0}}, rq_lo_n[gi*ABITS +: ABITS] };
            assign rq_hi[gi*32 +: 32] = { {(32-ABITS){1'b0}}, rq_hi_n[gi*ABITS +: ABITS] };
        end
{%- endif %}
        if (G == 1) begin : g_rq_direct
            assign so_sel_pb = so_pbank;
            assign rq_in_valid = so_valid & so_last_k;
            assign rq_in_side = {so_job_last, 1'b1};
            assign rq_acc = arr_out;
            assign rq_m0 = pb_m0;
            assign rq_sh = pb_sh;
            assign rq_zp = pb_zp;
            assign rq_lo_n = pb_lo;
            assign rq_hi_n = pb_hi;
            assign rq_release = so_valid & so_last_row & so_last_k;
        end else begin : g_rq_serial
            localparam integer GW = $clog2(G);
            localparam integer G_M1_I = G - 1;
            localparam [GW-1:0] G_M1 = G_M1_I[GW-1:0];
            reg [C*ACC-1:0] hold;
            reg             hold_pb;
            reg             hold_job_last;
            reg             hold_tile_end;
            reg             feeding;
            reg [GW-1:0]    grp;
            wire            last_grp = (grp == G_M1);
            always @(posedge clk) begin
                if (so_valid & so_last_k) begin
                    hold <= arr_out;
                    hold_pb <= so_pbank;
                    hold_job_last <= so_job_last;
                    hold_tile_end <= so_last_row;
                end else if (feeding) begin
                    hold <= hold >> (U * ACC);     // the next group moves to the bottom
                end
            end
            always @(posedge clk) begin
                if (rst) begin
                    feeding <= 1'b0;
                    grp <= {GW{1'b0}};
                end else if (so_valid & so_last_k) begin
                    feeding <= 1'b1;
                    grp <= {GW{1'b0}};
                end else if (feeding) begin
                    if (last_grp) feeding <= 1'b0;
                    else grp <= grp + 1'b1;
                end
            end
            assign so_sel_pb = hold_pb;
            assign rq_in_valid = feeding;
            assign rq_in_side = {hold_job_last & last_grp, last_grp};
            assign rq_acc = hold[U*ACC-1:0];
            repq_gmux #(.W(U*31), .G(G), .SW(GW)) u_m0 (.d(pb_m0), .sel(grp), .q(rq_m0));
            repq_gmux #(.W(U*6), .G(G), .SW(GW)) u_sh (.d(pb_sh), .sel(grp), .q(rq_sh));
            repq_gmux #(.W(U*32), .G(G), .SW(GW)) u_zp (.d(pb_zp), .sel(grp), .q(rq_zp));
            repq_gmux #(.W(U*{{ ob }}), .G(G), .SW(GW)) u_lo (.d(pb_lo), .sel(grp), .q(rq_lo_n));
            repq_gmux #(.W(U*{{ ob }}), .G(G), .SW(GW)) u_hi (.d(pb_hi), .sel(grp), .q(rq_hi_n));
            assign rq_release = feeding & last_grp & hold_tile_end;
        end
    endgenerate

    wire             rq_valid;
    wire [1:0]       rq_side;
    wire [U*{{ ob }}-1:0] rq_y;
    repq_requant #(.LANES(U), .ACC(ACC), .OBITS({{ ob }}), .SIDE(2)) u_requant (
        .clk(clk), .rst(rst), .in_valid(rq_in_valid), .in_side(rq_in_side),
        .acc(rq_acc), .m0(rq_m0), .shift(rq_sh), .zp(rq_zp), .lo(rq_lo), .hi(rq_hi),
        .out_valid(rq_valid), .out_side(rq_side), .y(rq_y)
    );

    // Reassembled output rows.
    wire               row_push = rq_valid & rq_side[0];
    wire [C*{{ ob }}-1:0] row_data;
    generate
        if (G == 1) begin : g_row_direct
            assign row_data = rq_y;
        end else begin : g_row_assemble
            // Groups 0 .. G-2 shift in from the top; the last group completes the row.
            reg [(G-1)*U*{{ ob }}-1:0] partial;
            if (G == 2) begin : g_two
                always @(posedge clk) if (rq_valid & ~rq_side[0]) partial <= rq_y;
            end else begin : g_more
                always @(posedge clk) begin
                    if (rq_valid & ~rq_side[0])
                        partial <= {rq_y, partial[(G-1)*U*{{ ob }}-1:U*{{ ob }}]};
                end
            end
            assign row_data = {rq_y, partial};
        end
    endgenerate

    // ------------------------------------------------------------------ output FIFO
    repq_fifo #(.WIDTH(C*{{ ob }} + 1), .DEPTH(FIFO_DEPTH)) u_fifo (
        .clk(clk), .rst(rst), .push(row_push), .din({rq_side[1], row_data}),
        .dout_valid(m_out_valid), .dout_ready(m_out_ready), .dout({m_out_last, m_out_data})
    );

    // ------------------------------------------------------------------ bookkeeping
    always @(posedge clk) begin
        if (rst) begin
            wready <= 2'b00;
            wbusy <= 2'b00;
            pready <= 2'b00;
            pbusy <= 2'b00;
            lag <= {LW{1'b0}};
            credits <= FIFO_FULL_CREDITS;
        end else begin
            if (wl_step & wl_last) wready[wl_par] <= 1'b1;
            if (is_step & is_last) begin
                wready[is_wpar] <= 1'b0;
                wbusy[is_wpar] <= 1'b1;
            end
            if (so_valid & so_last_row) wbusy[so_wbank] <= 1'b0;

            if (pl_step & pl_last) pready[pl_par] <= 1'b1;
            if (is_tile_end) begin
                pready[is_ppar] <= 1'b0;
                pbusy[is_ppar] <= 1'b1;
            end
            if (rq_release) pbusy[so_sel_pb] <= 1'b0;

            if (is_tile_end) lag <= {LW{1'b0}};
            else lag <= lag + { {(LW-1){1'b0}}, is_step } - { {(LW-1){1'b0}}, so_wb };

            credits <= credits - { {(FW-1){1'b0}}, is_step & is_last_k }
                               + { {(FW-1){1'b0}}, out_pop };
        end
    end

    wire unused_ok = &{1'b0, wl_mr_unused, wl_first_k_unused, wl_last_k_unused,
                       wl_last_tile_unused, wl_tile_par_unused, pl_mr_unused, pl_kr_unused,
                       pl_first_k_unused, pl_last_k_unused, pl_last_tile_unused,
                       pl_pass_par_unused, is_nr_unused, so_first_k_unused, wl_lt_nr_unused,
                       pl_lt_kr_unused, is_lt_kr_unused, is_lt_nr_unused, wl_kr_unused, pl_nr_unused};
endmodule

`default_nettype wire
