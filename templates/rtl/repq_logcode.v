{{ header }}
// Softmax probability -> log2 code unit, LANES lanes (docs/arithmetic.md, U3), bit-exact with
// LogCodeParams::code. For p in 0 .. 2^16 (u17, p / 2^16 is the probability):
//   p = 0                         -> exact zero (zero = 1, code = 0)
//   e = leading-one position of p (0 .. 16)
//   m = p << (15 - e) or p >> (e - 15)     (truncating; m in [2^15, 2^16))
//   r = [m <= T1] + [m <= T0] + [m <= Tm1] - 2
//   raw = 2 (16 - e) + C_INT + r
//   raw > max_code                -> exact zero; else code = max(raw, 0), zero = 0
// max_code is the model's 2^abits - 1 (abits <= ABITS), given at run time with the constants, so
// one design runs the codes of a narrower model (ABITS = 8 lanes for a W4A4 model's U3).
// The code's LSB is the parity that selects the sqrt(2) factor (Eq. 19-20). The constants
// C_INT (s16; the reference's i32 must lie in -32768 .. 32767), T1, T0, Tm1 (u17) and max_code
// are loaded at run time and travel with each beat. Inputs above 2^16 give what the reference gives for them.
// Pipeline: 3 stages (register; leading-one detect and normalize; compare and encode) with a
// ready/valid handshake on both sides (a stall holds every stage).

`timescale 1ns / 1ps
`default_nettype none

module repq_logcode #(
    parameter integer LANES = {{ d.cols }},
    parameter integer ABITS = {{ d.abits }}
) (
    input  wire                   clk,
    input  wire                   rst,
    input  wire                   in_valid,
    output wire                   in_ready,
    input  wire [LANES*17-1:0]    p,
    input  wire [15:0]            c_int,
    input  wire [16:0]            t1,
    input  wire [16:0]            t0,
    input  wire [16:0]            tm1,
    input  wire [ABITS-1:0]       max_code,
    output wire                   out_valid,
    input  wire                   out_ready,
    output wire [LANES*ABITS-1:0] code,
    output wire [LANES-1:0]       zero
);
    localparam integer RW = 19;   // raw: 2 * 16 + s16 + (-2 .. 1) fits s19
    localparam [RW-1:0] TWO = 2;

    reg v1;
    reg v2;
    reg v3;
    wire ce = ~v3 | out_ready;
    assign in_ready = ce;
    assign out_valid = v3;

    always @(posedge clk) begin
        if (rst) begin
            v1 <= 1'b0;
            v2 <= 1'b0;
            v3 <= 1'b0;
        end else if (ce) begin
            v1 <= in_valid;
            v2 <= v1;
            v3 <= v2;
        end
    end

    // Constants, registered with the beat.
    reg [15:0] c1;
    reg [16:0] t1_1;
    reg [16:0] t0_1;
    reg [16:0] tm1_1;
    reg [ABITS-1:0] max1;
    reg [15:0] c2;
    reg [16:0] t1_2;
    reg [16:0] t0_2;
    reg [16:0] tm1_2;
    reg [ABITS-1:0] max2;
    always @(posedge clk) begin
        if (ce) begin
            c1 <= c_int;
            t1_1 <= t1;
            t0_1 <= t0;
            tm1_1 <= tm1;
            max1 <= max_code;
            c2 <= c1;
            t1_2 <= t1_1;
            t0_2 <= t0_1;
            tm1_2 <= tm1_1;
            max2 <= max1;
        end
    end
    wire signed [RW-1:0] c2_x = { {(RW-16){c2[15]}}, c2 };
    wire signed [RW-1:0] max2_x = { {(RW-ABITS){1'b0}}, max2 };

    genvar l;
    generate
        for (l = 0; l < LANES; l = l + 1) begin : g_lane
            reg  [16:0] p1;
            // stage 2: leading zeros of p1 (0 .. 16; 17 for p = 0) and the mantissa
            reg  [4:0]  lz;
            integer i;
            always @(*) begin
                lz = 5'd17;
                for (i = 0; i <= 16; i = i + 1)
                    if (p1[i]) lz = 5'd16 - i[4:0];
            end
            wire [16:0] pn = p1 << lz;   // leading one at bit 16 (m = pn[16:1])
            reg  [15:0] m2;
            reg  [4:0]  lz2;
            reg         z2;
            // stage 3
            wire [16:0] m_x = {1'b0, m2};
            wire [2:0] r_cnt = {2'b00, (m_x <= t1_2)} + {2'b00, (m_x <= t0_2)}
                             + {2'b00, (m_x <= tm1_2)};
            wire signed [RW-1:0] raw = { {(RW-6){1'b0}}, lz2, 1'b0 } + c2_x
                                     + { {(RW-3){1'b0}}, r_cnt } - TWO;
            reg [ABITS-1:0] code3;
            reg             z3;

            always @(posedge clk) begin
                if (ce) begin
                    p1 <= p[l*17 +: 17];
                    m2 <= pn[16:1];
                    lz2 <= lz;
                    z2 <= (p1 == 17'd0);
                    if (z2 || raw > max2_x) begin
                        code3 <= {ABITS{1'b0}};
                        z3 <= 1'b1;
                    end else begin
                        code3 <= raw[RW-1] ? {ABITS{1'b0}} : raw[ABITS-1:0];
                        z3 <= 1'b0;
                    end
                end
            end
            assign code[l*ABITS +: ABITS] = code3;
            assign zero[l] = z3;
            wire unused_pn = &{1'b0, pn[0]};
        end
    endgenerate
endmodule

`default_nettype wire
