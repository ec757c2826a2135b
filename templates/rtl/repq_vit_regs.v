{{ header }}
// repq_vit_regs: the AXI4-Lite register block of repq_vit (docs/accelerator.md, "Register
// block"). One write and one read in flight at a time; a write takes AW and W together. Writes
// to read-only registers and unmapped addresses are ignored (OKAY); unmapped reads return 0.

`timescale 1ns / 1ps
`default_nettype none

module repq_vit_regs #(
    parameter [31:0] VERSION = 32'h0001_0000,
    parameter [31:0] CONFIG = 32'h0
) (
    input  wire        clk,
    input  wire        rst,
    // AXI4-Lite slave
    input  wire [11:0] s_axil_awaddr,
    input  wire        s_axil_awvalid,
    output wire        s_axil_awready,
    input  wire [31:0] s_axil_wdata,
    input  wire [3:0]  s_axil_wstrb,
    input  wire        s_axil_wvalid,
    output wire        s_axil_wready,
    output wire [1:0]  s_axil_bresp,
    output reg         s_axil_bvalid,
    input  wire        s_axil_bready,
    input  wire [11:0] s_axil_araddr,
    input  wire        s_axil_arvalid,
    output wire        s_axil_arready,
    output reg  [31:0] s_axil_rdata,
    output wire [1:0]  s_axil_rresp,
    output reg         s_axil_rvalid,
    input  wire        s_axil_rready,
    // engine
    output wire        start,           // one-cycle pulse: CTRL bit 0 written with 1
    input  wire        busy,
    input  wire        done_pulse,      // the run ended (normally, by STOP_AFTER, or by an error)
    input  wire        stopped,
    input  wire [7:0]  err_code,
    input  wire [31:0] cmd_done,
    input  wire [31:0] cycles,
    output reg  [31:0] prog_addr,
    output reg  [31:0] stop_after,
    output wire        irq
);
    localparam [11:0] A_VERSION = 12'h000;
    localparam [11:0] A_CONFIG = 12'h004;
    localparam [11:0] A_CTRL = 12'h008;
    localparam [11:0] A_STATUS = 12'h00C;
    localparam [11:0] A_IRQ_EN = 12'h010;
    localparam [11:0] A_IRQ_ST = 12'h014;
    localparam [11:0] A_PROG_LO = 12'h018;
    localparam [11:0] A_PROG_HI = 12'h01C;
    localparam [11:0] A_STOP = 12'h020;
    localparam [11:0] A_CMD_DONE = 12'h024;
    localparam [11:0] A_CYCLES = 12'h028;

    wire addr_lsbs_unused = |{s_axil_awaddr[1:0], s_axil_araddr[1:0]};   // word registers
    reg done_q;
    reg irq_en_q;
    reg irq_st_q;

    wire wr = s_axil_awvalid & s_axil_wvalid & ~s_axil_bvalid;
    wire [11:0] waddr = {s_axil_awaddr[11:2], 2'b00};
    wire wr_full = (s_axil_wstrb == 4'hf);     // registers take whole-word writes only
    assign s_axil_awready = wr;
    assign s_axil_wready = wr;
    assign s_axil_bresp = 2'b00;
    assign s_axil_rresp = 2'b00;
    assign s_axil_arready = ~s_axil_rvalid;
    assign start = wr & wr_full & (waddr == A_CTRL) & s_axil_wdata[0] & ~busy;
    assign irq = irq_en_q & irq_st_q;

    always @(posedge clk) begin
        if (rst) s_axil_bvalid <= 1'b0;
        else if (wr) s_axil_bvalid <= 1'b1;
        else if (s_axil_bready) s_axil_bvalid <= 1'b0;
    end

    always @(posedge clk) begin
        if (rst) begin
            irq_en_q <= 1'b0;
            irq_st_q <= 1'b0;
            done_q <= 1'b0;
            prog_addr <= 32'd0;
            stop_after <= 32'hffff_ffff;
        end else begin
            if (start) done_q <= 1'b0;
            if (done_pulse) begin
                done_q <= 1'b1;
                irq_st_q <= 1'b1;
            end
            if (wr & wr_full) begin
                case (waddr)
                    A_IRQ_EN: irq_en_q <= s_axil_wdata[0];
                    A_IRQ_ST: if (s_axil_wdata[0] & ~done_pulse) irq_st_q <= 1'b0;
                    A_PROG_LO: prog_addr <= s_axil_wdata;
                    A_STOP: stop_after <= s_axil_wdata;
                    default: ;
                endcase
            end
        end
    end

    always @(posedge clk) begin
        if (rst) begin
            s_axil_rvalid <= 1'b0;
            s_axil_rdata <= 32'd0;
        end else if (s_axil_arvalid & ~s_axil_rvalid) begin
            s_axil_rvalid <= 1'b1;
            case ({s_axil_araddr[11:2], 2'b00})
                A_VERSION: s_axil_rdata <= VERSION;
                A_CONFIG: s_axil_rdata <= CONFIG;
                A_STATUS: s_axil_rdata <= {16'd0, err_code, 4'd0, stopped, err_code != 8'd0,
                                           done_q, busy};
                A_IRQ_EN: s_axil_rdata <= {31'd0, irq_en_q};
                A_IRQ_ST: s_axil_rdata <= {31'd0, irq_st_q};
                A_PROG_LO: s_axil_rdata <= prog_addr;
                A_PROG_HI: s_axil_rdata <= 32'd0;
                A_STOP: s_axil_rdata <= stop_after;
                A_CMD_DONE: s_axil_rdata <= cmd_done;
                A_CYCLES: s_axil_rdata <= cycles;
                default: s_axil_rdata <= 32'd0;
            endcase
        end else if (s_axil_rready) begin
            s_axil_rvalid <= 1'b0;
        end
    end
endmodule

`default_nettype wire
