{{ header }}
// Average pooling and the U2 to the head's input codes (docs/arithmetic.md, "Average pooling"),
// bit-exact with arith::pool::avg_pool followed by Requant::apply. Per channel c of the T rows
// y[t] (U5r's s32 output, the final norm):
//   S[c]    = sum_t y[t][c]                                   s{32+TW}, exact
//   avg[c]  = floor((2 S[c] + T) / 2T)                        s32 (S / T rounded half up)
//   code[c] = clamp(round_shift(avg[c] M0, n) + z, lo, hi)    u{ABITS} (repq_requant)
// The division is the row divider's (repq_rowdiv_recip once per job, repq_rowdiv_lane per
// channel, QW = 32, divisor 2T): a = 2 S + T, N = a or, for a negative a, |a| + 2T - 1 (then
// avg = -floor(N / 2T) = floor(a / 2T)).
// CONTROL. Pulse start (while busy = 0) with dim = D (1 .. MAXD), tokens = T (1 .. 2^TW - 1;
// otherwise done pulses at once and nothing is taken) and the head input's U2 constants (m0 u31,
// shift 1 .. 62, zp, lo, hi s32). Then the T rows on s_x: ceil(D / LANES) beats each, lane l of
// beat b is channel b*LANES + l (lanes past D are ignored). The pooled row leaves on m_out in the
// same beats, m_out_avg (s32) and m_out_code (u{ABITS}) per lane (lanes past D are 0),
// m_out_last on its last beat; busy stays high until that beat is taken, done pulses then.
// PASSES:
//   sum:        a beat every 2 cycles: its partial sums are read, the lanes added, written back
//               (row 0 writes the lanes); the reciprocal runs alongside from the start pulse
//   reciprocal: repq_rowdiv_recip's R = floor(2^K / 2T), QW + 3 = 35 cycles
//   divide:     per output beat: its sums read, then one lane per cycle through
//               repq_rowdiv_lane (5 registers), the sign, and repq_requant (10 registers); the
//               beat leaves when its last lane's code is in, the next is read when it is taken
// Stall-free cycles of a job of B = ceil(D / LANES) beats (perf::avgpool_cycles):
//   max(2 T B + 1, 36) + B (LANES + 17)

`timescale 1ns / 1ps
`default_nettype none

module repq_avgpool #(
    parameter integer LANES = {{ d.cols }},
    parameter integer ABITS = {{ d.abits }},
    parameter integer MAXD = {{ u.ln_max_dim }},       // channels (>= 1)
    parameter integer DW = {{ u.ln_dim_bits }},           // bits of dim: MAXD < 2^DW
    parameter integer TW = {{ u.pool_token_bits }}            // bits of tokens: T < 2^TW
) (
    input  wire                   clk,
    input  wire                   rst,
    // control: one pooled row
    input  wire                   start,
    input  wire [DW-1:0]          dim,
    input  wire [TW-1:0]          tokens,
    input  wire [30:0]            m0,
    input  wire [5:0]             shift,
    input  wire [31:0]            zp,
    input  wire [31:0]            lo,
    input  wire [31:0]            hi,
    output reg                    busy,
    output reg                    done,
    // the rows (U5r's output)
    input  wire                   s_x_valid,
    output wire                   s_x_ready,
    input  wire [LANES*32-1:0]    s_x_data,
    // the pooled row and its codes
    output wire                   m_out_valid,
    input  wire                   m_out_ready,
    output wire [LANES*32-1:0]    m_out_avg,
    output wire [LANES*ABITS-1:0] m_out_code,
    output wire                   m_out_last
);
    localparam integer SW = 32 + TW;                       // S
    localparam integer AW = SW + 2;                        // a = 2 S + T
    localparam integer QW = 32;                            // quotient bits (|avg| <= 2^31)
    localparam integer DVW = QW - 1;                       // divisor 2T (QW <= DVW + 1 for the lane)
    localparam integer NW = QW + DVW;                      // numerator port
    localparam integer NB = TW + 33;                       // N < 2T 2^32 <= 2^NB
    localparam integer KW = $clog2(QW + DVW + 2);
    localparam integer MAXB = (MAXD + LANES - 1) / LANES;  // beats of a row
    localparam integer BW = (MAXB > 1) ? $clog2(MAXB) : 1;
    localparam integer LW = (LANES > 1) ? $clog2(LANES) : 1;
    localparam integer LL = LANES - 1;
    localparam [LW-1:0] LANE_LAST = LL[LW-1:0];
    localparam [DW-1:0] LANES_D = LANES[DW-1:0];
    localparam [TW-1:0] ONE_T = 1;
    localparam [1:0] PH_SUM = 2'd0;                        // phases of a job
    localparam [1:0] PH_WAIT = 2'd1;
    localparam [1:0] PH_DIV = 2'd2;

`ifndef SYNTHESIS
    initial begin
        if (MAXD < 1 || MAXD >= (1 << DW)) $error("repq_avgpool: need 1 <= MAXD < 2^DW");
        if (TW < 1 || TW > 24) $error("repq_avgpool: TW must be in 1 .. 24");
    end
`endif

    // ------------------------------------------------------------------ job control
    reg [1:0]    ph_q;
    reg [DW-1:0] d_q;          // D
    reg [TW-1:0] t_q;          // T
    reg [30:0]   m0_q;
    reg [5:0]    sh_q;
    reg [31:0]   zp_q;
    reg [31:0]   lo_q;
    reg [31:0]   hi_q;
    reg [BW-1:0] ib_q;         // sum: the beat within the row
    reg [BW-1:0] ib_last_q;    // the row's last beat
    reg [DW-1:0] left_q;       // sum: channels from beat ib_q on
    reg [TW-1:0] row_q;        // sum: the row
    reg          wr_q;         // sum: the beat taken last cycle is written now
    reg          rd_q;         // divide: the sums of beat db_q are read now
    reg          iss_q;        // divide: lane dl_q is issued now
    reg [BW-1:0] db_q;         // divide: the output beat
    reg [DW-1:0] dch_q;        // divide: its first channel, db_q LANES
    reg [LW-1:0] dl_q;         // divide: the lane
    reg          out_v_q;      // the output beat is complete
    wire go = start & ~busy;
    wire dim_ok = (dim != {DW{1'b0}}) && (dim <= MAXD[DW-1:0]) && (tokens != {TW{1'b0}});
    assign s_x_ready = busy & (ph_q == PH_SUM) & ~wr_q;
    wire x_take = s_x_valid & s_x_ready;
    wire x_row_end = left_q <= LANES_D;
    wire sum_end = x_take & x_row_end & (row_q == t_q - ONE_T);
    wire recip_busy;
    reg  recip_wait_q;                                     // the reciprocal was started
    wire recip_ready = recip_wait_q & ~recip_busy;
    wire div_start = (ph_q == PH_WAIT) & ~wr_q & recip_ready;
    wire out_take = out_v_q & m_out_ready;
    wire beat_last = (db_q == ib_last_q);
    wire iss_last = iss_q & (dl_q == LANE_LAST);

    always @(posedge clk) begin
        if (rst) begin
            busy <= 1'b0;
            done <= 1'b0;
            ph_q <= PH_SUM;
            wr_q <= 1'b0;
            rd_q <= 1'b0;
            iss_q <= 1'b0;
            recip_wait_q <= 1'b0;
        end else begin
            done <= 1'b0;
            wr_q <= x_take;
            rd_q <= div_start | (out_take & ~beat_last);
            if (rd_q) iss_q <= 1'b1;
            else if (iss_last) iss_q <= 1'b0;
            if (go) begin
                if (dim_ok) busy <= 1'b1;
                else done <= 1'b1;
                ph_q <= PH_SUM;
                recip_wait_q <= dim_ok;
            end else if (busy) begin
                case (ph_q)
                    PH_SUM: if (sum_end) ph_q <= PH_WAIT;
                    PH_WAIT: if (div_start) ph_q <= PH_DIV;
                    PH_DIV: if (out_take & beat_last) begin
                        ph_q <= PH_SUM;
                        busy <= 1'b0;
                        done <= 1'b1;
                    end
                    default: ph_q <= PH_SUM;
                endcase
            end
        end
    end
    always @(posedge clk) begin
        if (go) begin
            d_q <= dim;
            t_q <= tokens;
            m0_q <= m0;
            sh_q <= shift;
            zp_q <= zp;
            lo_q <= lo;
            hi_q <= hi;
            ib_q <= {BW{1'b0}};
            left_q <= dim;
            row_q <= {TW{1'b0}};
        end else if (x_take) begin
            if (x_row_end) begin
                ib_last_q <= ib_q;
                ib_q <= {BW{1'b0}};
                left_q <= d_q;
                row_q <= row_q + ONE_T;
            end else begin
                ib_q <= ib_q + 1'b1;
                left_q <= left_q - LANES_D;
            end
        end
        if (div_start) begin
            db_q <= {BW{1'b0}};
            dch_q <= {DW{1'b0}};
        end else if (out_take) begin
            db_q <= db_q + 1'b1;
            dch_q <= dch_q + LANES_D;
        end
        if (rd_q) dl_q <= {LW{1'b0}};
        else if (iss_q) dl_q <= dl_q + 1'b1;
    end

    // ------------------------------------------------------------------ sum
    // A beat taken in one cycle reads its partial sums; the next cycle adds its lanes (row 0: the
    // lanes alone) and writes them back, and takes no beat, so a read never meets a pending write.
    reg  [LANES*32-1:0] sx_q;
    reg  [BW-1:0]       sa_q;
    reg                 sfirst_q;                          // the beat is in row 0
    wire [LANES*SW-1:0] sum_rd;
    reg  [LANES*SW-1:0] sum_wd;
    integer l;
    always @(posedge clk) begin
        if (x_take) begin
            sx_q <= s_x_data;
            sa_q <= ib_q;
            sfirst_q <= (row_q == {TW{1'b0}});
        end
    end
    always @(*) begin
        for (l = 0; l < LANES; l = l + 1)
            sum_wd[l*SW +: SW] = (sfirst_q ? {SW{1'b0}} : sum_rd[l*SW +: SW])
                + { {(SW-32){sx_q[l*32 + 31]}}, sx_q[l*32 +: 32]};
    end
    repq_sdpram #(.WIDTH(LANES*SW), .DEPTH(MAXB), .AW(BW)) u_sum (
        .clk(clk),
        .we(wr_q),
        .waddr(sa_q),
        .wdata(sum_wd),
        .re(x_take | rd_q),
        .raddr(x_take ? ib_q : db_q),
        .rdata(sum_rd)
    );

    // ------------------------------------------------------------------ reciprocal of 2T
    wire [QW+2:0]  recip_r;
    wire [KW-1:0]  recip_k;
    wire [DVW-1:0] div_d = { {(DVW-TW-1){1'b0}}, t_q, 1'b0};
    repq_rowdiv_recip #(.QW(QW), .DW(DVW)) u_recip (
        .clk(clk),
        .rst(rst),
        .start(go & dim_ok),
        .d({ {(DVW-TW-1){1'b0}}, tokens, 1'b0}),
        .busy(recip_busy),
        .r(recip_r),
        .k(recip_k)
    );

    // ------------------------------------------------------------------ divide
    // a = 2 S + T of lane dl_q; N = a, or |a| + 2T - 1 = 2T - 1 - a for a negative a.
    wire signed [SW-1:0] s_l = sum_rd[dl_q*SW +: SW];
    wire signed [AW-1:0] a = { {(AW-SW-1){s_l[SW-1]}}, s_l, 1'b0}
        + { {(AW-TW){1'b0}}, t_q};
    wire        [AW-1:0] n_abs = a[AW-1]
        ? ({ {(AW-DVW){1'b0}}, div_d} - { {(AW-1){1'b0}}, 1'b1} - a) : a;
    wire                 n_abs_unused = n_abs[AW-1];           // N < 2^NB, NB = AW - 1
    wire                 q_valid;
    wire        [QW-1:0] q;
    repq_rowdiv_lane #(.QW(QW), .DW(DVW)) u_lane (
        .clk(clk),
        .rst(rst),
        .ce(1'b1),
        .in_valid(iss_q),
        .n({ {(NW-NB){1'b0}}, n_abs[NB-1:0]}),
        .r(recip_r),
        .k(recip_k),
        .d(div_d),
        .out_valid(q_valid),
        .q(q)
    );
    wire          q_neg;
    wire [LW-1:0] q_lane;
    repq_vdelay #(.WIDTH(1 + LW), .DEPTH(5)) u_side (
        .clk(clk),
        .rst(rst),
        .d({a[AW-1], dl_q}),
        .q({q_neg, q_lane})
    );
    wire [31:0] avg = q_neg ? 32'd0 - q : q;               // -2^31 .. 2^31 - 1
    wire             rq_valid;
    wire [LW-1:0]    rq_lane;
    wire [ABITS-1:0] rq_code;
    repq_requant #(.LANES(1), .ACC(32), .OBITS(ABITS), .SIDE(LW)) u_rq (
        .clk(clk),
        .rst(rst),
        .in_valid(q_valid),
        .in_side(q_lane),
        .acc(avg),
        .m0(m0_q),
        .shift(sh_q),
        .zp(zp_q),
        .lo(lo_q),
        .hi(hi_q),
        .out_valid(rq_valid),
        .out_side(rq_lane),
        .y(rq_code)
    );
    always @(posedge clk) begin
        if (rst) out_v_q <= 1'b0;
        else if (rq_valid & (rq_lane == LANE_LAST)) out_v_q <= 1'b1;
        else if (out_take) out_v_q <= 1'b0;
    end
    genvar j;
    generate
        for (j = 0; j < LANES; j = j + 1) begin : g_out
            localparam [LW-1:0] J_L = j;
            localparam [DW-1:0] J_D = j;
            reg  [31:0]      avg_q;
            reg  [ABITS-1:0] code_q;
            wire             in_dim = (dch_q + J_D < d_q);
            always @(posedge clk) begin
                if (q_valid & (q_lane == J_L)) avg_q <= avg;
                if (rq_valid & (rq_lane == J_L)) code_q <= rq_code;
            end
            assign m_out_avg[j*32 +: 32] = in_dim ? avg_q : 32'd0;
            assign m_out_code[j*ABITS +: ABITS] = in_dim ? code_q : {ABITS{1'b0}};
        end
    endgenerate
    assign m_out_valid = out_v_q;
    assign m_out_last = out_v_q & beat_last;
endmodule

`default_nettype wire
