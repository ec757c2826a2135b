{{ header }}
// Attention x V by shifts, LANES output channels (docs/arithmetic.md, U4), bit-exact with
// attention_value. One output row (query i) is a run of beats, one per key j, the last flagged
// by in_last; each beat carries the key's log2 code c_j and exact-zero flag (shared by all
// lanes) and the value operands v_j[d] = V_code[j][d] - z_v of the LANES channels (s{ABITS+1}).
// Per lane:
//   k_j    = (c_j + 1) >> 1
//   term_j = (v_j << F) >> k_j        (arithmetic, flooring; a shift of ABITS+16 or more gives
//                                      0 or -1, so the shifter saturates there)
//   E      = sum of term_j, flag clear and c_j even;  O = same for c_j odd
//   out    = E + ((O * 46341 + 2^14) >> 15)     one sqrt(2) multiply per output
// E, O and out are s{ACC}: F (0 .. 16, constant during a row) must satisfy the model's bound
// T * 2^(ABITS + F) * (1 + sqrt 2) < 2^(ACC-1), and then nothing wraps.
// Pipeline with ready/valid on both sides (a stall holds every stage): 1 register, 2 shift,
// 3 accumulate, 4 sqrt(2) product, 5 round and add; an output row is valid SHIFT_AV_LATENCY = 5
// cycles after its last beat was accepted (without output stalls).

`timescale 1ns / 1ps
`default_nettype none

module repq_shift_av #(
    parameter integer LANES = {{ d.cols }},
    parameter integer ABITS = {{ d.abits }},
    parameter integer ACC = {{ d.acc_bits }}
) (
    input  wire                       clk,
    input  wire                       rst,
    input  wire                       in_valid,
    output wire                       in_ready,
    input  wire                       in_last,
    input  wire [ABITS-1:0]           code,
    input  wire                       zero,
    input  wire [4:0]                 f,
    input  wire [LANES*(ABITS+1)-1:0] v,
    output wire                       out_valid,
    input  wire                       out_ready,
    output wire [LANES*ACC-1:0]       out
);
    localparam integer VW = ABITS + 1;        // value operand
    localparam integer TW = ABITS + 17;       // (v << F), F <= 16
    localparam integer KSAT = ABITS + 16;     // shifts >= KSAT give the sign only
    localparam integer PW = ACC + 17;         // O * 46341
    localparam integer KW = (ABITS > 6) ? ABITS : 6;   // holds k (<= 2^(ABITS-1)) and KSAT (<= 24)
    localparam [KW-1:0] KSAT_K = KSAT[KW-1:0];
    localparam signed [PW-1:0] SQRT2 = 46341;
    localparam signed [PW-1:0] HALF = 16384;

    reg v1;
    reg v2;
    reg d3;     // stage 3 holds a finished row
    reg v4;
    reg v5;
    wire ce = ~v5 | out_ready;
    assign in_ready = ce;
    assign out_valid = v5;

    reg             last1;
    reg [ABITS-1:0] code1;
    reg             zero1;
    reg [4:0]       f1;
    reg             last2;
    reg             use2;    // flag clear
    reg             odd2;
    reg             fresh;   // the next accumulated beat starts a new row

    // k = (c + 1) >> 1 without overflow: c >> 1 plus the LSB; then saturate.
    wire [KW-1:0] k1 = { {(KW-ABITS+1){1'b0}}, code1[ABITS-1:1] } + { {(KW-1){1'b0}}, code1[0] };
    wire [KW-1:0] ks1 = (k1 > KSAT_K) ? KSAT_K : k1;

    always @(posedge clk) begin
        if (rst) begin
            v1 <= 1'b0;
            v2 <= 1'b0;
            d3 <= 1'b0;
            v4 <= 1'b0;
            v5 <= 1'b0;
            fresh <= 1'b1;
        end else if (ce) begin
            v1 <= in_valid;
            v2 <= v1;
            d3 <= v2 & last2;
            v4 <= d3;
            v5 <= v4;
            if (v2) fresh <= last2;
        end
    end

    always @(posedge clk) begin
        if (ce) begin
            last1 <= in_last;
            code1 <= code;
            zero1 <= zero;
            f1 <= f;
            last2 <= last1;
            use2 <= ~zero1;
            odd2 <= code1[0];
        end
    end

    genvar l;
    generate
        for (l = 0; l < LANES; l = l + 1) begin : g_lane
            reg  signed [VW-1:0] v1_l;
            wire signed [TW-1:0] vx = { {(TW-VW){v1_l[VW-1]}}, v1_l };
            wire signed [TW-1:0] vf = vx <<< f1;
            reg  signed [TW-1:0] term2;
            wire signed [ACC-1:0] term_x;
            if (ACC >= TW) begin : g_ext
                assign term_x = { {(ACC-TW+1){term2[TW-1]}}, term2[TW-2:0] };
            end else begin : g_trunc
                // |term| <= 2^(ABITS+F) fits s{ACC} whenever the model's bound holds.
                assign term_x = term2[ACC-1:0];
                wire unused_term = &{1'b0, term2[TW-1:ACC]};
            end
            reg signed [ACC-1:0] e3;
            reg signed [ACC-1:0] o3;
            wire signed [ACC-1:0] e_base = fresh ? {ACC{1'b0}} : e3;
            wire signed [ACC-1:0] o_base = fresh ? {ACC{1'b0}} : o3;
            reg signed [PW-1:0]  p4;
            reg signed [ACC-1:0] e4;
            wire signed [PW-1:0] o_x = { {(PW-ACC){o3[ACC-1]}}, o3 };
            wire signed [PW-1:0] rounded = (p4 + HALF) >>> 15;
            reg signed [ACC-1:0] out5;

            always @(posedge clk) begin
                if (ce) begin
                    v1_l <= v[l*VW +: VW];
                    term2 <= vf >>> ks1;
                    if (v2) begin
                        if (use2 && !odd2) e3 <= e_base + term_x;
                        else e3 <= e_base;
                        if (use2 && odd2) o3 <= o_base + term_x;
                        else o3 <= o_base;
                    end
                    p4 <= o_x * SQRT2;
                    e4 <= e3;
                    out5 <= e4 + rounded[ACC-1:0];
                end
            end
            assign out[l*ACC +: ACC] = out5;
            wire unused_round = &{1'b0, rounded[PW-1:ACC]};
        end
    endgenerate
endmodule

`default_nettype wire
