{{ header }}
// GELU table unit, LANES lanes (docs/arithmetic.md, U7 in hardware), bit-exact with the
// 65,536-entry table T of arith::gelu (GeluSteps::lookup). The U2 step of U7 (fc1's accumulator
// to the index h) is done by repq_top's requantization lanes with fc1's constants and the clamp
// [-2^15, 2^15 - 1]; this unit takes those output beats unchanged (s_h: LANES lanes of s{IBITS},
// IBITS = repq_top's output lane width, {{ u.gelu_ibits }} here; a lane outside s16 is saturated to it) and gives the
// fc2 input codes (m_code: LANES lanes of u{ABITS}; m_code_last repeats s_h_last).
//
// The table is held as its steps, which give every entry exactly:
//   T[h] = B + #{j : U[j] < h} - #{j : D[j] < h}
// B = T[-2^15]; U[1..N] (D[1..N]) ascending: the indices t after which T rises (falls) by one
// code, a step of several codes repeating t; each list padded with 32767 to N = 2^ABITS - 1
// entries (GeluSteps::new builds them and refuses a table that does not fit).
// TABLE LOAD (s_tbl, one s16 per beat): 2N + 1 = {{ u.gelu_load_beats }} beats, B, U[1..N], D[1..N], written into every
// lane's copy. The table is reloaded per layer: after reset and after every index beat with
// s_h_last, s_h_ready stays low until a whole table has been loaded; s_tbl_ready is low while
// an index is in the pipeline (its lookups read the table). So a layer is: its table, then its
// index beats, the last with s_h_last (repq_top's m_out_last).
//
// Each lane counts #{U[j] < h} by binary lifting, k = ABITS-1 .. 0: p += 2^k if U[p + 2^k] < h.
// Step k reads only entries (2m + 1) 2^k, at m = p >> (k+1): a memory of 2^(ABITS-1-k) entries
// per step (1 .. 128 at 8 bits), read asynchronously (distributed RAM), written at load time.
// D is searched alongside. Pipeline with ready/valid (a stall holds every stage): 1 register
// (saturate h), ABITS search steps, 1 sum B + count_U - count_D (modulo 2^ABITS: it is T[h],
// always in range); throughput one
// beat (LANES indices) per cycle, GELU_LATENCY = ABITS + 2 = {{ u.gelu_latency }} cycles.

`timescale 1ns / 1ps
`default_nettype none

module repq_gelu #(
    parameter integer LANES = {{ d.cols }},
    parameter integer ABITS = {{ d.abits }},
    parameter integer IBITS = {{ u.gelu_ibits }}
) (
    input  wire                   clk,
    input  wire                   rst,
    // table load: B, U[1..N], D[1..N]
    input  wire                   s_tbl_valid,
    output wire                   s_tbl_ready,
    input  wire [15:0]            s_tbl_data,
    // indices h
    input  wire                   s_h_valid,
    output wire                   s_h_ready,
    input  wire [LANES*IBITS-1:0] s_h_data,
    input  wire                   s_h_last,
    // codes T[h]
    output wire                   m_code_valid,
    input  wire                   m_code_ready,
    output wire [LANES*ABITS-1:0] m_code_data,
    output wire                   m_code_last
);
    localparam integer N = (1 << ABITS) - 1;     // steps per list
    localparam integer S = ABITS + 2;            // pipeline stages
    localparam integer NL = 2 * N;               // index of the last load beat
    localparam [ABITS:0] LOAD_LAST = NL[ABITS:0];

    // ------------------------------------------------------------------ pipeline control
    reg [S-1:0] v_q;        // stage valid
    reg [S-1:0] last_q;     // s_h_last travelling with the beat
    wire ce = ~v_q[S-1] | m_code_ready;
    reg [ABITS:0] ld_q;     // next load beat: 0 = B, 1 .. N = U, N+1 .. 2N = D
    reg need_q;             // no table for the next index yet
    wire loading = (ld_q != {(ABITS+1){1'b0}});
    assign s_h_ready = ce & ~need_q;
    assign s_tbl_ready = ~(|v_q);
    wire take = s_h_valid & s_h_ready;
    wire load = s_tbl_valid & s_tbl_ready;
    assign m_code_valid = v_q[S-1];
    assign m_code_last = last_q[S-1];

    always @(posedge clk) begin
        if (rst) begin
            v_q <= {S{1'b0}};
            ld_q <= {(ABITS+1){1'b0}};
            need_q <= 1'b1;
        end else begin
            if (ce) v_q <= { v_q[S-2:0], take };
            if (load) ld_q <= (ld_q == LOAD_LAST) ? {(ABITS+1){1'b0}} : ld_q + 1'b1;
            if (load & (ld_q == LOAD_LAST)) need_q <= 1'b0;
            else if (take & s_h_last) need_q <= 1'b1;
        end
    end
    always @(posedge clk) begin
        if (ce) last_q <= { last_q[S-2:0], s_h_last };
    end

    // ------------------------------------------------------------------ table writes
    reg [ABITS-1:0] base_q;
    wire dn_sel = ld_q[ABITS];                   // beats N+1 .. 2N = 2^ABITS .. 2N: the falls
    wire up_w = load & loading & ~dn_sel;
    wire dn_w = load & dn_sel;
    wire [ABITS-1:0] idx = dn_sel ? ld_q[ABITS-1:0] + 1'b1 : ld_q[ABITS-1:0];    // 1 .. N
    // Entry idx belongs to step k = (trailing zeros of idx), at address idx >> (k+1).
    wire [ABITS-1:0] step_we;
    genvar k;
    generate
        for (k = 0; k < ABITS; k = k + 1) begin : g_we
            if (k == 0) begin : g_first
                assign step_we[k] = idx[0];
            end else begin : g_rest
                assign step_we[k] = idx[k] & ~(|idx[k-1:0]);
            end
        end
    endgenerate
    always @(posedge clk) begin
        if (load & ~loading) base_q <= s_tbl_data[ABITS-1:0];
    end
    wire unused_tbl = &{1'b0, s_tbl_data[15:ABITS]};

    // ------------------------------------------------------------------ lanes
    genvar l, j;
    generate
        for (l = 0; l < LANES; l = l + 1) begin : g_lane
            // stage 0: the index, saturated to s16
            wire [IBITS-1:0] h_in = s_h_data[l*IBITS +: IBITS];
            wire [15:0] h_sat;
            if (IBITS > 16) begin : g_sat
                wire above = ~h_in[IBITS-1] & (|h_in[IBITS-2:15]);
                wire below = h_in[IBITS-1] & ~(&h_in[IBITS-2:15]);
                assign h_sat = above ? 16'h7fff : (below ? 16'h8000 : h_in[15:0]);
            end else begin : g_direct
                assign h_sat = h_in;
            end
            reg [15:0] h0_q;
            always @(posedge clk) begin
                if (ce) h0_q <= h_sat;
            end
            // per step: the index and both counts after it
            wire [16*(ABITS+1)-1:0] h_at;
            wire [ABITS*(ABITS+1)-1:0] pu_at;
            wire [ABITS*(ABITS+1)-1:0] pd_at;
            assign h_at[15:0] = h0_q;
            assign pu_at[ABITS-1:0] = {ABITS{1'b0}};
            assign pd_at[ABITS-1:0] = {ABITS{1'b0}};
            for (j = 1; j <= ABITS; j = j + 1) begin : g_step
                localparam integer K = ABITS - j;                 // the bit this step decides
                localparam [ABITS-1:0] BIT = 1 << K;
                wire signed [15:0] h_prev = h_at[(j-1)*16 +: 16];
                wire [ABITS-1:0] pu_prev = pu_at[(j-1)*ABITS +: ABITS];
                wire [ABITS-1:0] pd_prev = pd_at[(j-1)*ABITS +: ABITS];
                wire signed [15:0] tu;
                wire signed [15:0] td;
                if (K == ABITS - 1) begin : g_one
                    reg [15:0] u_q;
                    reg [15:0] d_q;
                    always @(posedge clk) begin
                        if (up_w & step_we[K]) u_q <= s_tbl_data;
                        if (dn_w & step_we[K]) d_q <= s_tbl_data;
                    end
                    assign tu = u_q;
                    assign td = d_q;
                    wire unused_p = &{1'b0, pu_prev, pd_prev};
                end else begin : g_mem
                    localparam integer E = 1 << (ABITS - 1 - K);
                    reg [15:0] u_mem [0:E-1];
                    reg [15:0] d_mem [0:E-1];
                    always @(posedge clk) begin
                        if (up_w & step_we[K]) u_mem[idx[ABITS-1:K+1]] <= s_tbl_data;
                        if (dn_w & step_we[K]) d_mem[idx[ABITS-1:K+1]] <= s_tbl_data;
                    end
                    assign tu = u_mem[pu_prev[ABITS-1:K+1]];
                    assign td = d_mem[pd_prev[ABITS-1:K+1]];
                end
                reg [15:0] h_q;
                reg [ABITS-1:0] pu_q;
                reg [ABITS-1:0] pd_q;
                always @(posedge clk) begin
                    if (ce) begin
                        h_q <= h_prev;
                        pu_q <= (tu < h_prev) ? (pu_prev | BIT) : pu_prev;
                        pd_q <= (td < h_prev) ? (pd_prev | BIT) : pd_prev;
                    end
                end
                assign h_at[j*16 +: 16] = h_q;
                assign pu_at[j*ABITS +: ABITS] = pu_q;
                assign pd_at[j*ABITS +: ABITS] = pd_q;
            end
            // last stage: B + count_U - count_D, exactly T[h] in 0 .. 2^ABITS - 1, so modulo 2^ABITS
            wire [ABITS-1:0] code_x = base_q + pu_at[ABITS*ABITS +: ABITS] - pd_at[ABITS*ABITS +: ABITS];
            reg [ABITS-1:0] code_q;
            always @(posedge clk) begin
                if (ce) code_q <= code_x;
            end
            assign m_code_data[l*ABITS +: ABITS] = code_q;
            wire unused_lane = &{1'b0, h_at[16*ABITS +: 16]};
        end
    endgenerate
endmodule

`default_nettype wire
