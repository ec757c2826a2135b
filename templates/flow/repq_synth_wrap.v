{{ header }}
// Place-and-route wrapper of repq_top: the toplevel of the `synth` target of repq_top.core on
// FPGA targets, and of scripts/synth/run.sh. The core has {{ d.act_bits() + d.wgt_bits() + d.param_bits() + 3 * d.dim_bits + 7 }} input and {{ d.out_bits() + 7 }} output pins, more
// than a package offers for all but the smallest arrays: this wrapper feeds every data and size
// input from one serial shift register (so nothing is constant and nothing is optimized away)
// and folds every output into one registered parity bit, nine pins in all (clk, rst, sin,
// ctl[4:0], sout: left to the placer, give them LOCATE / set_io lines for a board). Every core
// port is registered on both sides, so the place-and-route Fmax is the core's own
// register-to-register Fmax.

`timescale 1ns / 1ps
`default_nettype none

module repq_synth_wrap #(
    parameter integer ACT_BITS = {{ d.act_bits() }},
    parameter integer WGT_BITS = {{ d.wgt_bits() }},
    parameter integer PRM_BITS = {{ d.param_bits() }},
    parameter integer OUT_BITS = {{ d.out_bits() }},
    parameter integer DIMW = {{ d.dim_bits }}
) (
    input  wire       clk,
    input  wire       rst,
    input  wire       sin,
    input  wire [4:0] ctl,    // start, act/wgt/prm valid, out ready
    output reg        sout
);
    localparam integer IN_BITS = ACT_BITS + WGT_BITS + PRM_BITS + 3 * DIMW;
    reg [IN_BITS-1:0] sr;
    reg [4:0] ctl_q;
    reg rst_q;
    always @(posedge clk) begin
        sr <= {sr[IN_BITS-2:0], sin};
        ctl_q <= ctl;
        rst_q <= rst;
    end
    wire busy, done, act_ready, wgt_ready, prm_ready, out_valid, out_last;
    wire [OUT_BITS-1:0] out_data;
    repq_top u_top (
        .clk(clk), .rst(rst_q),
        .start(ctl_q[0]),
        .m_rows(sr[0 +: DIMW]), .k_depth(sr[DIMW +: DIMW]), .n_cols(sr[2*DIMW +: DIMW]),
        .busy(busy), .done(done),
        .s_act_valid(ctl_q[1]), .s_act_ready(act_ready), .s_act_data(sr[3*DIMW +: ACT_BITS]),
        .s_wgt_valid(ctl_q[2]), .s_wgt_ready(wgt_ready),
        .s_wgt_data(sr[3*DIMW + ACT_BITS +: WGT_BITS]),
        .s_prm_valid(ctl_q[3]), .s_prm_ready(prm_ready),
        .s_prm_data(sr[3*DIMW + ACT_BITS + WGT_BITS +: PRM_BITS]),
        .m_out_valid(out_valid), .m_out_ready(ctl_q[4]), .m_out_data(out_data),
        .m_out_last(out_last)
    );
    reg [OUT_BITS+7:0] o_q;
    always @(posedge clk) begin
        o_q <= {out_data, busy, done, act_ready, wgt_ready, prm_ready, out_valid, out_last, 1'b0};
        sout <= ^o_q;
    end
endmodule

`default_nettype wire
