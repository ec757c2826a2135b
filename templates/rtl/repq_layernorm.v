{{ header }}
// Integer LayerNorm to codes (U5, docs/arithmetic.md), LANES lanes in and out, bit-exact with
// arith::layernorm::LayerNormParams::apply; with RESID = 1, U5r (docs/arithmetic.md, "Swin
// Transformer in integers"): the same equations into s32 lanes of the residual stream
// (LayerNormParams::apply_residual: lo, hi and y are s32, OBITS = 32). Per token (row)
// x[0 .. D-1] of the s32 residual stream:
//   S = sum x,  M = max(D xmax - S, S - D xmin),  k = max(0, bitlen(M) - 17)
//   t[c] = (D x[c] - S) >> k                    s18, flooring
//   Q = sum t^2,  E_k = E (k = 0) or (E + 2^(2k-1)) >> 2k,  r = isqrt(Q + E_k)       u33
//   n[c] = 0 if r = 0, else floor((t 2^17 + r) / 2r)     (repq_rowdiv, one reciprocal per row)
//   y[c] = clamp((n G[c] + B[c] + 2^23) >> 24, lo, hi)
// CONTROL. Pulse start (while busy = 0) with dim = D (1 .. MAXD; otherwise done pulses at once and
// nothing is taken), eps = E (u64), lo <= hi (u{OBITS}; s32 when RESID = 1). Then D parameter
// beats on s_prm, one per channel in channel order, {B (s48), G (s32)}: the layer's constants,
// written into the unit's memories (reloaded per layer). Then the rows on s_x: ceil(D / LANES)
// beats each, lane l of beat b is channel b*LANES + l (lanes past D are ignored), s_x_last on the
// last beat of the job's last row (read only on a row's last beat). Each row's outputs leave on
// m_y in the same beats (lanes past D are 0), m_y_last on the job's last beat; busy stays high
// until it is taken, done pulses then.
// PASSES, one row at a time (a row is taken only when the previous one has left):
//   in:        one beat per cycle into the row buffer; S, xmin, xmax on the way (LANES lanes)
//   row shift: D xmax, D xmin, M, k (4 cycles)
//   squares:   U = LN_LANES lanes per cycle ({{ u.ln_groups }} cycles per beat): t into the t buffer, Q
//   root:      E_k and Q + E_k, then a restoring square root, one bit per cycle (34 cycles)
//   reciprocal: repq_rowdiv's R = floor(2^K / 2r) (QW + 3 = 20 cycles, and 2 of hand-over)
//   normalize: U lanes per cycle: t, n by repq_rowdiv, y; a beat leaves when its LANES codes are in
// Stall-free cycles of a row of B = ceil(D / LANES) beats with G = LANES / LN_LANES:
//   B + 4 + (B G + 4) + 34 + 22 + (B G + LN_NORM_LATENCY) = 2 B G + B + {{ u.ln_row_overhead }}
// (perf::layernorm_cycles); a back-pressured m_y holds the normalize pipeline.

`timescale 1ns / 1ps
`default_nettype none

module repq_layernorm #(
    parameter integer LANES = {{ d.cols }},
    parameter integer ABITS = {{ d.abits }},
    parameter integer LN_LANES = {{ u.ln_lanes }},       // U, divides LANES
    parameter integer MAXD = {{ u.ln_max_dim }},       // row buffer capacity, channels (>= 2)
    parameter integer DW = {{ u.ln_dim_bits }},          // bits of dim: MAXD < 2^DW
    parameter integer RESID = 0,        // 1: U5r, s32 outputs into the residual stream
    parameter integer OBITS = (RESID != 0) ? 32 : ABITS  // output lane width
) (
    input  wire                   clk,
    input  wire                   rst,
    // control: one layer
    input  wire                   start,
    input  wire [DW-1:0]          dim,
    input  wire [63:0]            eps,
    input  wire [OBITS-1:0]       lo,
    input  wire [OBITS-1:0]       hi,
    output reg                    busy,
    output reg                    done,
    // per-channel constants {B s48, G s32}, D beats
    input  wire                   s_prm_valid,
    output wire                   s_prm_ready,
    input  wire [79:0]            s_prm_data,
    // residual stream rows
    input  wire                   s_x_valid,
    output wire                   s_x_ready,
    input  wire [LANES*32-1:0]    s_x_data,
    input  wire                   s_x_last,
    // codes (U5) or residual-stream values (U5r)
    output wire                   m_y_valid,
    input  wire                   m_y_ready,
    output wire [LANES*OBITS-1:0] m_y_data,
    output wire                   m_y_last
);
    localparam integer U = LN_LANES;
    localparam integer G = LANES / U;                      // groups (cycles) per beat
    localparam integer GW = (G > 1) ? $clog2(G) : 1;
    localparam integer L = $clog2(MAXD);                   // S is s{32+L}
    localparam integer SW = 32 + L;
    localparam integer PW = 33 + DW;                       // D x, D x - S: s{33+DW}
    localparam integer MW = 32 + L;                        // M
    localparam integer QSW = 34 + L;                       // Q
    localparam integer MAXB = (MAXD + LANES - 1) / LANES;  // row buffer beats
    localparam integer BW = (MAXB > 1) ? $clog2(MAXB) : 1;
    localparam integer TD = MAXB * G;                      // t and constant entries per lane
    localparam integer TAW = (TD > 1) ? $clog2(TD) : 1;
    localparam integer RDW = 66;                           // Q + E_k (u65), padded to even
    localparam integer QW = 17;                            // quotient bits of n
    localparam integer DVW = 34;                           // divisor 2r
    localparam integer KW = $clog2(QW + DVW + 2);
    localparam integer NRM = 5;                            // repq_rowdiv_lane's registers
    localparam [2:0] PH_LOAD = 3'd0;                       // phases of a row
    localparam [2:0] PH_IN = 3'd1;
    localparam [2:0] PH_SHIFT = 3'd2;
    localparam [2:0] PH_SQ = 3'd3;
    localparam [2:0] PH_ROOT = 3'd4;
    localparam [2:0] PH_RECIP = 3'd5;
    localparam [2:0] PH_NORM = 3'd6;
    localparam integer GL = G - 1;
    localparam [GW-1:0] G_LAST = GL[GW-1:0];
    localparam [DW-1:0] LANES_D = LANES[DW-1:0];
    localparam [DW-1:0] ONE_D = 1;
    localparam [DW-1:0] U_D = U[DW-1:0];
    localparam [1:0] SHIFT_LAST = 2'd3;
    localparam [5:0] ROOT_STEPS = 6'd33;
    localparam [6:0] DB = 7'd17;
    localparam signed [49:0] HALF = 50'sd8388608;          // 2^(GF-1)
    localparam [0:0] LO_HI_SIGNED = (RESID != 0);          // lo, hi: s32, else u{ABITS}

`ifndef SYNTHESIS
    initial begin
        if (U < 1 || LANES % U != 0) $error("repq_layernorm: LN_LANES must divide LANES");
        if (MAXD < 2 || MAXD >= (1 << DW)) $error("repq_layernorm: need 2 <= MAXD < 2^DW");
        if (DW > 30 || L > 30) $error("repq_layernorm: MAXD too large");
        if (OBITS != ((RESID != 0) ? 32 : ABITS))
            $error("repq_layernorm: OBITS must be 32 with RESID = 1, ABITS otherwise");
    end
`endif

    // ------------------------------------------------------------------ job and row control
    reg [2:0]       ph_q;       // phase of the row (PH_LOAD: the constants)
    reg [DW-1:0]    d_q;        // D
    reg [63:0]      eps_q;
    reg [OBITS-1:0] lo_q;
    reg [OBITS-1:0] hi_q;
    reg             job_last_q; // the row in flight is the job's last
    reg [DW-1:0]    ch_q;       // load: the channel
    reg [BW-1:0]    ib_q;       // in: the beat
    reg [DW-1:0]    left_q;     // in: channels from beat ib_q on
    reg [1:0]       sc_q;       // row shift: cycle
    wire dim_ok = (dim != {DW{1'b0}}) && (dim <= MAXD[DW-1:0]);
    wire sq_done, root_done, recip_done, row_out_done;
    assign s_prm_ready = busy & (ph_q == PH_LOAD);
    assign s_x_ready = busy & (ph_q == PH_IN);
    wire prm_take = s_prm_valid & s_prm_ready;
    wire x_take = s_x_valid & s_x_ready;
    wire x_row_end = x_take & (left_q <= LANES_D);
    wire shift_end = (ph_q == PH_SHIFT) & (sc_q == SHIFT_LAST);

    always @(posedge clk) begin
        if (rst) begin
            busy <= 1'b0;
            done <= 1'b0;
            ph_q <= PH_LOAD;
        end else begin
            done <= 1'b0;
            if (start & ~busy) begin
                if (dim_ok) busy <= 1'b1;
                else done <= 1'b1;
                ph_q <= PH_LOAD;
            end else if (busy) begin
                case (ph_q)
                    PH_LOAD: if (prm_take & (ch_q == d_q - ONE_D)) ph_q <= PH_IN;
                    PH_IN: if (x_row_end) ph_q <= PH_SHIFT;
                    PH_SHIFT: if (sc_q == SHIFT_LAST) ph_q <= PH_SQ;
                    PH_SQ: if (sq_done) ph_q <= PH_ROOT;
                    PH_ROOT: if (root_done) ph_q <= PH_RECIP;
                    PH_RECIP: if (recip_done) ph_q <= PH_NORM;
                    PH_NORM: if (row_out_done) begin
                        ph_q <= PH_IN;
                        if (job_last_q) begin
                            busy <= 1'b0;
                            done <= 1'b1;
                        end
                    end
                    default: ph_q <= PH_LOAD;
                endcase
            end
        end
    end
    always @(posedge clk) begin
        if (start & ~busy) begin
            d_q <= dim;
            eps_q <= eps;
            lo_q <= lo;
            hi_q <= hi;
            ch_q <= {DW{1'b0}};
        end else if (prm_take) ch_q <= ch_q + ONE_D;
        if (x_take) job_last_q <= s_x_last;
        if ((start & ~busy) | x_row_end | row_out_done) begin
            ib_q <= {BW{1'b0}};
            left_q <= (start & ~busy) ? dim : d_q;
        end else if (x_take) begin
            ib_q <= ib_q + 1'b1;
            left_q <= left_q - LANES_D;
        end
        sc_q <= (ph_q == PH_SHIFT) ? sc_q + 1'b1 : 2'd0;
    end

    // ------------------------------------------------------------------ constants G, B
    // Lane j of U holds channel c = a U + j at address a; group g of beat b is address b G + g.
    reg  [TAW-1:0]  nm_addr_q;
    wire            nm_re;
    wire [U*80-1:0] gb_rd;
    reg  [TAW-1:0]  prm_addr_q;                            // ch_q / U
    reg  [U:0]      prm_lane_q;                            // one-hot ch_q mod U (bit U unused)
    always @(posedge clk) begin
        if (start & ~busy) begin
            prm_addr_q <= {TAW{1'b0}};
            prm_lane_q <= { {U{1'b0}}, 1'b1};
        end else if (prm_take) begin
            if (prm_lane_q[U-1]) begin
                prm_addr_q <= prm_addr_q + 1'b1;
                prm_lane_q <= { {U{1'b0}}, 1'b1};
            end else prm_lane_q <= {prm_lane_q[U-1:0], 1'b0};
        end
    end
    genvar j;
    generate
        for (j = 0; j < U; j = j + 1) begin : g_gb
            repq_sdpram #(.WIDTH(80), .DEPTH(TD), .AW(TAW)) u_gb (
                .clk(clk),
                .we(prm_take & prm_lane_q[j]),
                .waddr(prm_addr_q),
                .wdata(s_prm_data),
                .re(nm_re),
                .raddr(nm_addr_q),
                .rdata(gb_rd[j*80 +: 80])
            );
        end
    endgenerate

    // ------------------------------------------------------------------ in: statistics
    // The beat is written to the row buffer and registered; the next cycle adds its channels to S
    // and folds them into xmin, xmax.
    reg  [LANES*32-1:0] st_x_q;
    reg  [LANES-1:0]    st_m_q;                            // lane holds a channel
    reg                 st_v_q;
    reg                 st_first_q;                        // first beat of the row
    reg  signed [SW-1:0] s_q;
    reg  signed [31:0]   xmin_q;
    reg  signed [31:0]   xmax_q;
    integer l;
    always @(posedge clk) begin
        st_v_q <= x_take;
        st_x_q <= s_x_data;
        st_first_q <= (ib_q == {BW{1'b0}});
        for (l = 0; l < LANES; l = l + 1) st_m_q[l] <= (left_q > l[DW-1:0]);
    end
    reg signed [SW-1:0] beat_sum;
    reg signed [31:0]   beat_min;
    reg signed [31:0]   beat_max;
    reg signed [31:0]   lane_x;
    always @(*) begin
        beat_sum = {SW{1'b0}};
        beat_min = st_x_q[31:0];
        beat_max = st_x_q[31:0];
        for (l = 0; l < LANES; l = l + 1) begin
            lane_x = st_x_q[l*32 +: 32];
            if (st_m_q[l]) begin
                beat_sum = beat_sum + { {(SW-32){lane_x[31]}}, lane_x};
                if (lane_x < beat_min) beat_min = lane_x;
                if (lane_x > beat_max) beat_max = lane_x;
            end
        end
    end
    always @(posedge clk) begin
        if (st_v_q) begin
            s_q <= (st_first_q ? {SW{1'b0}} : s_q) + beat_sum;
            xmin_q <= (st_first_q || beat_min < xmin_q) ? beat_min : xmin_q;
            xmax_q <= (st_first_q || beat_max > xmax_q) ? beat_max : xmax_q;
        end
    end

    // ------------------------------------------------------------------ row buffer
    reg  [BW-1:0]       sq_b_q;
    reg                 sq_run_q;
    wire [LANES*32-1:0] rb_rd;
    repq_sdpram #(.WIDTH(LANES*32), .DEPTH(MAXB), .AW(BW)) u_row (
        .clk(clk),
        .we(x_take),
        .waddr(ib_q),
        .wdata(s_x_data),
        .re(sq_run_q),
        .raddr(sq_b_q),
        .rdata(rb_rd)
    );

    // ------------------------------------------------------------------ row shift
    // Cycle 0: the last beat's statistics land; 1: D xmax, D xmin; 2: M; 3: k.
    wire signed [PW-1:0] d_s = { {(PW-DW){1'b0}}, d_q};
    wire signed [PW-1:0] s_ext = { {(PW-SW){s_q[SW-1]}}, s_q};
    reg  signed [PW-1:0] dxmax_q;
    reg  signed [PW-1:0] dxmin_q;
    reg         [MW-1:0] m_q;
    reg         [5:0]    k_q;
    wire signed [PW-1:0] hi_dev = dxmax_q - s_ext;
    wire signed [PW-1:0] lo_dev = s_ext - dxmin_q;
    wire signed [PW-1:0] m_c = (hi_dev > lo_dev) ? hi_dev : lo_dev;
    reg  [6:0] m_bits;                                     // bitlen(M)
    integer bi;
    always @(*) begin
        m_bits = 7'd0;
        for (bi = 0; bi < MW; bi = bi + 1) if (m_q[bi]) m_bits = bi[6:0] + 7'd1;
    end
    wire [6:0] k_c = (m_bits > DB) ? m_bits - DB : 7'd0;  // at most MW - 17 < 64
    wire       k_c_unused = k_c[6];
    wire [PW-MW-1:0] m_c_unused = m_c[PW-1:MW];          // M >= 0 fits u{MW}
    always @(posedge clk) begin
        if (ph_q == PH_SHIFT) begin
            dxmax_q <= d_s * { {(PW-32){xmax_q[31]}}, xmax_q};
            dxmin_q <= d_s * { {(PW-32){xmin_q[31]}}, xmin_q};
            m_q <= m_c[MW-1:0];
            k_q <= k_c[5:0];
        end
    end

    // ------------------------------------------------------------------ squares
    // Issue (beat b, group g) one per cycle; then 1 row buffer read, 2 D x, 3 t (written to the
    // t buffer the cycle after), 4 t^2, and Q adds the group.
    reg  [GW-1:0]  sq_g_q;
    reg  [3:0]     sq_v_q;                                 // stage valid
    reg  [GW-1:0]  sq_g1_q;
    reg  [TAW-1:0] sq_a_q, sq_a1_q, sq_a2_q, sq_a3_q;      // t buffer address b G + g
    reg  [DW-1:0]  sq_e_q, sq_e1_q, sq_e2_q;               // first channel b LANES + g U
    wire sq_issue_last = (sq_b_q == ib_last_q) & (sq_g_q == G_LAST);
    reg  [BW-1:0]  ib_last_q;                              // the row's last beat
    assign sq_done = (ph_q == PH_SQ) & ~sq_run_q & (sq_v_q == 4'd0);
    always @(posedge clk) begin
        if (x_row_end) ib_last_q <= ib_q;
        if (rst) begin
            sq_run_q <= 1'b0;
            sq_v_q <= 4'd0;
        end else begin
            sq_v_q <= {sq_v_q[2:0], sq_run_q};
            if (shift_end) sq_run_q <= 1'b1;
            else if (sq_issue_last) sq_run_q <= 1'b0;
        end
        if (shift_end) begin
            sq_b_q <= {BW{1'b0}};
            sq_g_q <= {GW{1'b0}};
            sq_a_q <= {TAW{1'b0}};
            sq_e_q <= {DW{1'b0}};
        end else if (sq_run_q) begin
            if (sq_g_q == G_LAST) begin
                sq_g_q <= {GW{1'b0}};
                sq_b_q <= sq_b_q + 1'b1;
            end else sq_g_q <= sq_g_q + 1'b1;
            sq_a_q <= sq_a_q + 1'b1;
            sq_e_q <= sq_e_q + U_D;
        end
        sq_g1_q <= sq_g_q;
        sq_a1_q <= sq_a_q;
        sq_e1_q <= sq_e_q;
        sq_a2_q <= sq_a1_q;
        sq_a3_q <= sq_a2_q;
        sq_e2_q <= sq_e1_q;
    end

    wire [U*35-1:0] sq_p;                                  // t^2 <= 2^34 per lane
    wire [U*18-1:0] sq_t;
    reg  [QSW-1:0]  q_q;
    reg  [QSW-1:0]  sq_sum;
    integer u;
    always @(*) begin
        sq_sum = {QSW{1'b0}};
        for (u = 0; u < U; u = u + 1) sq_sum = sq_sum + { {(QSW-35){1'b0}}, sq_p[u*35 +: 35]};
    end
    generate
        for (j = 0; j < U; j = j + 1) begin : g_sq
            localparam [DW-1:0] J_D = j;
            wire signed [31:0]   x = rb_rd[(sq_g1_q * U + j) * 32 +: 32];
            reg  signed [PW-1:0] dx_q;
            wire signed [PW-1:0] dev = (dx_q - s_ext) >>> k_q;   // |dev >> k| < 2^17
            reg  signed [17:0]   t_q;
            wire signed [35:0]   tt = t_q * t_q;
            reg         [34:0]   p_q;
            always @(posedge clk) begin
                dx_q <= d_s * { {(PW-32){x[31]}}, x};
                t_q <= (sq_e2_q + J_D < d_q) ? dev[17:0] : 18'sd0;
                p_q <= tt[34:0];
            end
            assign sq_t[j*18 +: 18] = t_q;
            assign sq_p[j*35 +: 35] = p_q;
            wire [PW-19:0] dev_unused = dev[PW-1:18];
            wire           tt_unused = tt[35];
        end
    endgenerate
    always @(posedge clk) begin
        if (shift_end) q_q <= {QSW{1'b0}};
        else if (sq_v_q[3]) q_q <= q_q + sq_sum;
    end
    wire [U*18-1:0] t_rd;
    generate
        for (j = 0; j < U; j = j + 1) begin : g_t
            repq_sdpram #(.WIDTH(18), .DEPTH(TD), .AW(TAW)) u_t (
                .clk(clk),
                .we(sq_v_q[2]),
                .waddr(sq_a3_q),
                .wdata(sq_t[j*18 +: 18]),
                .re(nm_re),
                .raddr(nm_addr_q),
                .rdata(t_rd[j*18 +: 18])
            );
        end
    endgenerate

    // ------------------------------------------------------------------ root
    // The cycle sq_done: Q + E_k; then 33 cycles of one bit of r = isqrt(Q + E_k) (restoring).
    reg  [RDW-1:0] rad_q;
    reg  [32:0]    root_q;
    reg  [34:0]    rem_q;
    reg  [5:0]     rc_q;
    reg            root_run_q;
    wire [6:0]     two_k = {k_q, 1'b0};
    wire [RDW+1:0] eps_half = { {(RDW+1){1'b0}}, 1'b1} << (two_k - 7'd1);   // 2^(2k-1)
    wire [RDW+1:0] eps_round = {4'd0, eps_q} + eps_half;
    wire [RDW+1:0] eps_shifted = eps_round >> two_k;
    wire [RDW-1:0] eps_k = (k_q == 6'd0) ? {2'b00, eps_q} : eps_shifted[RDW-1:0];
    wire [1:0]     eps_shifted_unused = eps_shifted[RDW+1:RDW]; // E_k < 2^64
    wire [36:0]    rem_sh = {rem_q, rad_q[RDW-1 -: 2]};
    wire [36:0]    trial = {2'b00, root_q, 2'b01};
    wire           fits = (rem_sh >= trial);
    wire [36:0]    rem_sub = rem_sh - trial;
    wire [1:0]     rem_sub_unused = rem_sub[36:35];      // a remainder is at most 2 root
    assign root_done = root_run_q & (rc_q == ROOT_STEPS);
    always @(posedge clk) begin
        if (rst) root_run_q <= 1'b0;
        else if (sq_done) root_run_q <= 1'b1;
        else if (root_done) root_run_q <= 1'b0;
        if (sq_done) begin
            rad_q <= { {(RDW-QSW){1'b0}}, q_q} + eps_k;
            root_q <= 33'd0;
            rem_q <= 35'd0;
            rc_q <= 6'd0;
        end else if (root_run_q & ~root_done) begin
            rc_q <= rc_q + 6'd1;
            rad_q <= rad_q << 2;
            root_q <= {root_q[31:0], fits};
            rem_q <= fits ? rem_sub[34:0] : rem_sh[34:0];
        end
    end

    // ------------------------------------------------------------------ reciprocal of 2r
    wire            recip_busy;
    wire [QW+2:0]   recip_r;
    wire [KW-1:0]   recip_k;
    reg             recip_wait_q;
    wire [DVW-1:0]  div_d = {root_q, 1'b0};
    wire            r_zero = (root_q == 33'd0);
    repq_rowdiv_recip #(.QW(QW), .DW(DVW)) u_recip (
        .clk(clk),
        .rst(rst),
        .start(root_done),
        .d(div_d),
        .busy(recip_busy),
        .r(recip_r),
        .k(recip_k)
    );
    assign recip_done = recip_wait_q & ~recip_busy;
    always @(posedge clk) begin
        if (rst) recip_wait_q <= 1'b0;
        else if (root_done) recip_wait_q <= 1'b1;
        else if (recip_done) recip_wait_q <= 1'b0;
    end

    // ------------------------------------------------------------------ normalize
    // Issue (beat b, group g) one per cycle while the output may move (ce); then 1 t, G, B read,
    // the numerator into repq_rowdiv_lane (NRM registers), n and n G + B, y into the output beat.
    wire ce = ~m_y_valid | m_y_ready;
    reg  [BW-1:0]  nm_b_q;
    reg  [GW-1:0]  nm_g_q;
    reg  [DW-1:0]  nm_e_q;                                 // first channel b LANES + g U
    reg            nm_run_q;
    wire nm_issue = nm_run_q & ce;
    wire nm_issue_last = (nm_b_q == ib_last_q) & (nm_g_q == G_LAST);
    assign nm_re = ce;
    always @(posedge clk) begin
        if (rst) nm_run_q <= 1'b0;
        else if (recip_done) nm_run_q <= 1'b1;
        else if (nm_issue & nm_issue_last) nm_run_q <= 1'b0;
        if (recip_done) begin
            nm_b_q <= {BW{1'b0}};
            nm_g_q <= {GW{1'b0}};
            nm_addr_q <= {TAW{1'b0}};
            nm_e_q <= {DW{1'b0}};
        end else if (nm_issue) begin
            if (nm_g_q == G_LAST) begin
                nm_g_q <= {GW{1'b0}};
                nm_b_q <= nm_b_q + 1'b1;
            end else nm_g_q <= nm_g_q + 1'b1;
            nm_addr_q <= nm_addr_q + 1'b1;
            nm_e_q <= nm_e_q + U_D;
        end
    end
    // Side information of a group, from the read to y: valid, group, first channel, row end.
    localparam integer SD = NRM + 1;                       // stages 1 .. SD
    reg            nv_q  [1:SD];
    reg [GW-1:0]   ng_q  [1:SD];
    reg [DW-1:0]   ne_q  [1:SD];
    reg            nl_q  [1:SD];
    reg [U-1:0]    nneg_q [2:SD];
    reg [U*80-1:0] ngb_q [2:SD];
    integer s;
    wire [U-1:0] nm_neg;
    wire [U*(QW+DVW)-1:0] nm_num;
    always @(posedge clk) begin
        if (rst) begin
            for (s = 1; s <= SD; s = s + 1) nv_q[s] <= 1'b0;
        end else if (ce) begin
            nv_q[1] <= nm_issue;
            for (s = 2; s <= SD; s = s + 1) nv_q[s] <= nv_q[s-1];
        end
        if (ce) begin
            ng_q[1] <= nm_g_q;
            ne_q[1] <= nm_e_q;
            nl_q[1] <= nm_issue_last;
            nneg_q[2] <= nm_neg;
            ngb_q[2] <= gb_rd;
            for (s = 2; s <= SD; s = s + 1) begin
                ng_q[s] <= ng_q[s-1];
                ne_q[s] <= ne_q[s-1];
                nl_q[s] <= nl_q[s-1];
            end
            for (s = 3; s <= SD; s = s + 1) begin
                nneg_q[s] <= nneg_q[s-1];
                ngb_q[s] <= ngb_q[s-1];
            end
        end
    end
    // n, n G + B (stage SD), then clamp into lanes g U .. g U + U - 1 of the output beat
    reg                    y_v_q;
    reg                    y_last_q;
    reg                    y_last_row_q;
    reg                    yv_q;
    reg [GW-1:0]           yg_q;
    reg [DW-1:0]           ye_q;
    reg                    yl_q;
    wire [U*OBITS-1:0]     nm_code;
    wire [LANES*OBITS-1:0] y_data;
    // lo and hi extended to the 50 bits of n G + B: by sign (U5r) or by zeros (codes)
    wire signed [49:0] lo_x = $signed({ {(50-OBITS){LO_HI_SIGNED & lo_q[OBITS-1]}}, lo_q});
    wire signed [49:0] hi_x = $signed({ {(50-OBITS){LO_HI_SIGNED & hi_q[OBITS-1]}}, hi_q});
    generate
        for (j = 0; j < U; j = j + 1) begin : g_div
            localparam [DW-1:0] J_D = j;
            // a = t 2^17 + r; N = a, or |a| + 2r - 1 for a negative a (then n = -floor(N / 2r))
            wire signed [17:0] t = t_rd[j*18 +: 18];
            wire [36:0]        r_ext = {4'd0, root_q};
            wire [36:0]        a = { {2{t[17]}}, t, 17'd0} + r_ext;
            wire [36:0]        na = a[36] ? ({3'd0, div_d} - 37'd1 - a) : a;
            wire [QW-1:0]      q;
            wire               out_valid_unused;
            assign nm_neg[j] = a[36];
            assign nm_num[j*(QW+DVW) +: QW+DVW] = { {(QW+DVW-37){1'b0}}, na};
            repq_rowdiv_lane #(.QW(QW), .DW(DVW)) u_lane (
                .clk(clk),
                .rst(rst),
                .ce(ce),
                .in_valid(nv_q[1]),
                .n(nm_num[j*(QW+DVW) +: QW+DVW]),
                .r(recip_r),
                .k(recip_k),
                .d(div_d),
                .out_valid(out_valid_unused),
                .q(q)
            );
            wire signed [17:0] qs = {1'b0, q};
            wire signed [17:0] n = r_zero ? 18'sd0 : (nneg_q[SD][j] ? -qs : qs);
            wire signed [31:0] gg = ngb_q[SD][j*80 +: 32];
            wire signed [49:0] bb = { {2{ngb_q[SD][j*80 + 79]}}, ngb_q[SD][j*80 + 32 +: 48]};
            reg  signed [49:0] p_q;
            always @(posedge clk) begin
                if (ce) p_q <= n * gg + bb + HALF;            // all signed: s18 x s32 + s48
            end
            wire signed [49:0] sh = p_q >>> 24;
            wire [OBITS-1:0] code = (ye_q + J_D >= d_q) ? {OBITS{1'b0}}
                : (sh < lo_x) ? lo_q
                : (sh > hi_x) ? hi_q
                : sh[OBITS-1:0];
            assign nm_code[j*OBITS +: OBITS] = code;
        end
        for (j = 0; j < LANES; j = j + 1) begin : g_y
            localparam integer GRP_I = j / U;
            localparam [GW-1:0] GRP = GRP_I[GW-1:0];
            reg [OBITS-1:0] y_q;
            always @(posedge clk) begin
                if (ce & yv_q & (yg_q == GRP)) y_q <= nm_code[(j % U)*OBITS +: OBITS];
            end
            assign y_data[j*OBITS +: OBITS] = y_q;
        end
    endgenerate
    always @(posedge clk) begin
        if (rst) yv_q <= 1'b0;
        else if (ce) yv_q <= nv_q[SD];
        if (ce) begin
            yg_q <= ng_q[SD];
            ye_q <= ne_q[SD];
            yl_q <= nl_q[SD];
        end
    end
    assign row_out_done = y_v_q & m_y_ready & y_last_row_q;
    always @(posedge clk) begin
        if (rst) y_v_q <= 1'b0;
        else if (ce) y_v_q <= yv_q & (yg_q == G_LAST);
        if (ce) begin
            y_last_row_q <= yl_q;
            y_last_q <= yl_q & job_last_q;
        end
    end
    assign m_y_valid = y_v_q;
    assign m_y_data = y_data;
    assign m_y_last = y_last_q;
endmodule

`default_nettype wire
