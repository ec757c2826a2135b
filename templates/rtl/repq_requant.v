{{ header }}
// Requantization unit, LANES lanes (docs/arithmetic.md, U2), bit-exact with Requant::apply:
//   y = clamp(round_shift(acc * M0, n) + z, lo, hi),  round_shift(x, n) = (x + 2^(n-1)) >> n
// with acc s{ACC} (ACC <= 32), M0 u31, n u6 in 1 .. 62, z s32, lo/hi s32, one rounding (half
// up) and an exact product of up to 64 bits. How it stays exact and fast:
//   * the product is built from unsigned 16-bit pieces, each one hard multiplier (DSP48E2,
//     ECP5 MULT18X18D, iCE40 SB_MAC16) with a registered output:
//       acc * M0 = u * M0 - s * 2^ACC * M0,  u = acc's bits as unsigned, s = its sign bit
//       u * M0 = u0 b0 + (u0 b1 + u1 b0) 2^16 + u1 b1 2^32,  u = u1 2^16 + u0, M0 = b1 2^16 + b0
//   * (x + 2^(n-1)) >> n  ==  (t >> 1) + t[0]  with t = x >> (n-1)   (floor shifts), one adder
//     with t[0] as carry-in, no 64-bit rounding constant;
//   * |z|, |lo|, |hi| < 2^31, so saturating t to s36 changes no result.
// The output is the low OBITS bits of the clamped value: exact whenever [lo, hi] fits OBITS
{%- if d.out_signed() %}
// bits (repq_top, generated with --out-bits {{ d.obits }}, uses OBITS = {{ d.obits }} with -2^{{ d.obits - 1 }} <= lo <= hi < 2^{{ d.obits - 1 }}).
{%- else %}
// bits (repq_top uses OBITS = ABITS with 0 <= lo <= hi < 2^ABITS).
{%- endif %}
// Pipeline, REQUANT_LATENCY = 10 cycles, one row of LANES values per cycle, no stall (stage
// registers are numbered by the stage that loads them; 4 loads q5_p):
//   1 inputs  2 partial products  3 two partial sums, with the sign correction  4 the product
//   5 shift by 8 * ((n-1) >> 3)  6 shift by (n-1) & 7  7 saturate to s36  8 (t >> 1) + z + t[0]
//   9 compare with lo and hi  10 select
// SIDE bits travel alongside (valid-qualified metadata).

`timescale 1ns / 1ps
`default_nettype none

module repq_requant #(
    parameter integer LANES = {{ d.requant_lanes }},
    parameter integer ACC = {{ d.acc_bits }},
    parameter integer OBITS = {{ d.obits }},
    parameter integer SIDE = 1
) (
    input  wire                  clk,
    input  wire                  rst,
    input  wire                  in_valid,
    input  wire [SIDE-1:0]       in_side,
    input  wire [LANES*ACC-1:0]  acc,
    input  wire [LANES*31-1:0]   m0,
    input  wire [LANES*6-1:0]    shift,
    input  wire [LANES*32-1:0]   zp,
    input  wire [LANES*32-1:0]   lo,
    input  wire [LANES*32-1:0]   hi,
    output wire                  out_valid,
    output wire [SIDE-1:0]       out_side,
    output wire [LANES*OBITS-1:0] y
);
    localparam integer PW = ACC + 32;   // the product s{ACC+31}, computed modulo 2^PW
    localparam integer SW = 36;         // saturated t
    localparam integer UW = SW + 1;     // (t >> 1) + t[0] + z

    repq_vdelay #(.WIDTH(SIDE + 1), .DEPTH(10)) u_valid (
        .clk(clk), .rst(rst), .d({in_side, in_valid}), .q({out_side, out_valid})
    );

    genvar l;
    generate
        for (l = 0; l < LANES; l = l + 1) begin : g_lane
            // 1: the 16-bit pieces (each its own register: a whole register per multiplier input)
            reg [15:0]      q1_u0;
            reg [15:0]      q1_u1;
            reg [15:0]      q1_b0;
            reg [15:0]      q1_b1;
            reg             q1_neg;
            reg [30:0]      q1_m0;      // for the sign correction (the pieces feed only multipliers)
            reg [5:0]       q1_sh;
            reg [31:0]      q1_zp;
            reg [31:0]      q1_lo;
            reg [31:0]      q1_hi;
            // 2: u0 b0, u0 b1, u1 b0, u1 b1 (unsigned 16 x 16)
            reg [31:0]      p00;
            reg [31:0]      p01;
            reg [31:0]      p10;
            reg [31:0]      p11;
            reg             neg2;
            reg [30:0]      m0_2;
            reg [5:0]       q2_sh;
            // 3: x = u1 b1 2^32 + u0 b0 + u0 b1 2^16,  y = u1 b0 2^16 - s M0 2^ACC
            reg [PW-1:0]    x3;
            reg [PW-1:0]    y3;
            reg [5:0]       q3_sh;
            // 4: the product x + y
            reg signed [PW-1:0] q5_p;
            reg [5:0]       q5_sh;
            // 6, 7: t = x >> (n - 1)
            reg signed [PW-1:0] q6_t;
            reg [2:0]       q6_sh;
            reg signed [PW-1:0] q7_t;
            // 8, 9, 10, 11
            reg signed [SW-1:0] q8_t;
            reg signed [UW-1:0] q9_u;
            reg             q10_lt;
            reg             q10_gt;
            reg [OBITS-1:0] q10_u;
            reg [OBITS-1:0] q10_lo;
            reg [OBITS-1:0] q10_hi;
            reg [OBITS-1:0] q11_y;
            // zero point and clamp bounds travel with the value
            reg [31:0] zp2, zp3, zp5, zp6, zp7, zp8;
            reg [31:0] lo2, lo3, lo5, lo6, lo7, lo8, lo9;
            reg [31:0] hi2, hi3, hi5, hi6, hi7, hi8, hi9;

            wire [ACC-1:0] acc_l = acc[l*ACC +: ACC];
            wire [15:0] u0_in;
            wire [15:0] u1_in;
            if (ACC > 16) begin : g_wide
                assign u0_in = acc_l[15:0];
                if (ACC < 32) begin : g_pad
                    assign u1_in = { {(32-ACC){1'b0}}, acc_l[ACC-1:16] };
                end else begin : g_full
                    assign u1_in = acc_l[31:16];
                end
            end else begin : g_narrow
                if (ACC < 16) begin : g_pad
                    assign u0_in = { {(16-ACC){1'b0}}, acc_l };
                end else begin : g_full
                    assign u0_in = acc_l;
                end
                assign u1_in = 16'h0000;
            end
            // 3: {u1 b1, u0 b0} do not overlap; the sign correction is s * M0 * 2^ACC. Every
            // multiplier output feeds an adder (Yosys 0.23's ice40_dsp crashes on a multiplier
            // register feeding a register directly).
            wire [63:0] lohi_full = { p11, p00 };
            wire [PW-1:0] p01_x = { {(PW-32){1'b0}}, p01 };
            wire [PW-1:0] p10_x = { {(PW-32){1'b0}}, p10 };
            wire [PW-1:0] corr_x = neg2 ? { 1'b0, m0_2, {ACC{1'b0}} } : {PW{1'b0}};
            if (PW < 64) begin : g_lohi_trim
                wire unused_lohi = &{1'b0, lohi_full[63:PW]};
            end
            // 8: t fits s{SW} when its bits SW-1 .. PW-1 are all equal
            wire t_fits = (q7_t[PW-1:SW-1] == {(PW-SW+1){1'b0}})
                        | (q7_t[PW-1:SW-1] == {(PW-SW+1){1'b1}});
            wire [SW-1:0] t_sat = t_fits ? q7_t[SW-1:0] : { q7_t[PW-1], {(SW-1){~q7_t[PW-1]}} };
            // 9: (t >> 1) + z + t[0] as one add: {t >> 1, 1} + {z, t[0]}, then drop the LSB
            wire [UW:0] t_half_c = { q8_t[SW-1], q8_t[SW-1], q8_t[SW-1:1], 1'b1 };
            wire [UW:0] zp_c = { {(UW-32){zp8[31]}}, zp8, q8_t[0] };
            wire [UW:0] u_c = t_half_c + zp_c;
            wire signed [UW-1:0] lo_x = { {(UW-32){lo9[31]}}, lo9 };
            wire signed [UW-1:0] hi_x = { {(UW-32){hi9[31]}}, hi9 };
            wire unused_u = &{1'b0, u_c[0]};

            always @(posedge clk) begin
                q1_u0 <= u0_in;
                q1_u1 <= u1_in;
                q1_b0 <= m0[l*31 +: 16];
                q1_b1 <= { 1'b0, m0[l*31+16 +: 15] };
                q1_neg <= acc_l[ACC-1];
                q1_m0 <= m0[l*31 +: 31];
                q1_sh <= shift[l*6 +: 6];
                q1_zp <= zp[l*32 +: 32];
                q1_lo <= lo[l*32 +: 32];
                q1_hi <= hi[l*32 +: 32];
                // 2
                p00 <= { 16'h0000, q1_u0 } * { 16'h0000, q1_b0 };
                p01 <= { 16'h0000, q1_u0 } * { 16'h0000, q1_b1 };
                p10 <= { 16'h0000, q1_u1 } * { 16'h0000, q1_b0 };
                p11 <= { 16'h0000, q1_u1 } * { 16'h0000, q1_b1 };
                neg2 <= q1_neg;
                m0_2 <= q1_m0;
                q2_sh <= q1_sh - 6'd1;
                {zp2, lo2, hi2} <= {q1_zp, q1_lo, q1_hi};
                // 3
                x3 <= lohi_full[PW-1:0] + (p01_x << 16);
                y3 <= (p10_x << 16) - corr_x;
                q3_sh <= q2_sh;
                {zp3, lo3, hi3} <= {zp2, lo2, hi2};
                // 4
                q5_p <= x3 + y3;
                q5_sh <= q3_sh;
                {zp5, lo5, hi5} <= {zp3, lo3, hi3};
                // 6, 7
                q6_t <= q5_p >>> {q5_sh[5:3], 3'b000};
                q6_sh <= q5_sh[2:0];
                {zp6, lo6, hi6} <= {zp5, lo5, hi5};
                q7_t <= q6_t >>> q6_sh;
                {zp7, lo7, hi7} <= {zp6, lo6, hi6};
                // 8
                q8_t <= t_sat;
                {zp8, lo8, hi8} <= {zp7, lo7, hi7};
                // 9
                q9_u <= u_c[UW:1];
                {lo9, hi9} <= {lo8, hi8};
                // 10
                q10_lt <= (q9_u < lo_x);
                q10_gt <= (q9_u > hi_x);
                q10_u <= q9_u[OBITS-1:0];
                q10_lo <= lo9[OBITS-1:0];
                q10_hi <= hi9[OBITS-1:0];
                // 11
                if (q10_lt) q11_y <= q10_lo;
                else if (q10_gt) q11_y <= q10_hi;
                else q11_y <= q10_u;
            end
            assign y[l*OBITS +: OBITS] = q11_y;
        end
    endgenerate
endmodule

`default_nettype wire
