{{ header }}
// Tile walker: steps through the loop nest of one tiled matmul job,
//   for m0 in 0, TM, 2 TM, .. < M         (M tiles of at most TM rows: mr = min(TM, M - m0))
//     for n0 in 0, C, 2 C, .. < N         (N tiles: nr = min(C, N - n0))
//       for k0 in 0, R, 2 R, .. < K       (K tiles, one pass each: kr = min(R, K - k0))
//         for idx in 0 .. count - 1       (count = mr, R or C, by INNER)
// advancing one inner step per `step`. The three sequencers of repq_top (weight loader,
// parameter loader, activation issue) each run one walker over the same nest, so they agree on
// the tile order by construction. pass_par toggles after every pass (the weight bank),
// tile_par after every (m0, n0) tile (the parameter bank).

`timescale 1ns / 1ps
`default_nettype none

module repq_walk #(
    parameter integer TM = {{ d.m_tile }},
    parameter integer R = {{ d.rows }},
    parameter integer C = {{ d.cols }},
    parameter integer DIMW = {{ d.dim_bits }},
    parameter integer INNER = 0,        // inner count: 0 = mr, 1 = R, 2 = C
    parameter integer IW = 8,           // inner index width: $clog2 of the largest count, >= 1
    parameter integer MW = $clog2(TM + 1),
    parameter integer KW = $clog2(R + 1),
    parameter integer NW = $clog2(C + 1)
) (
    input  wire            clk,
    input  wire            rst,
    input  wire            start,
    input  wire [DIMW-1:0] m_rows,
    input  wire [DIMW-1:0] k_depth,
    input  wire [DIMW-1:0] n_cols,
    input  wire            step,
    output reg             active,
    output reg  [IW-1:0]   idx,
    output wire [MW-1:0]   mr,
    output wire [KW-1:0]   kr,
    output wire [NW-1:0]   nr,
    output wire            last_idx,
    output wire            idx_lt_kr,   // idx < kr: a real row of a weight tile
    output wire            idx_lt_nr,   // idx < nr: a real column of a parameter tile
    output wire            first_k,
    output wire            last_k,
    output wire            last_tile,
    output reg             pass_par,
    output reg             tile_par
);
    localparam [DIMW-1:0] TM_D = TM[DIMW-1:0];
    localparam [DIMW-1:0] R_D = R[DIMW-1:0];
    localparam [DIMW-1:0] C_D = C[DIMW-1:0];
    localparam [DIMW-1:0] ONE_D = 1;
    localparam integer R_M1_I = R - 1;
    localparam integer C_M1_I = C - 1;
    localparam [IW-1:0] R_M1 = R_M1_I[IW-1:0];
    localparam [IW-1:0] C_M1 = C_M1_I[IW-1:0];

    // min(x, t): the extent of a tile with x elements left
    function [DIMW-1:0] extent;
        input [DIMW-1:0] x;
        input [DIMW-1:0] t;
        extent = (x <= t) ? x : t;
    endfunction

    // Everything the loop conditions need is registered: elements left from the tile base, the
    // tile's extent and whether it is the last tile, per dimension. The next values are computed
    // from registers only, so `step` merely selects them (short paths at any array size).
    reg  [DIMW-1:0] m_left;
    reg  [DIMW-1:0] n_left;
    reg  [DIMW-1:0] k_left;
    reg             last_m;
    reg             last_n;
    reg             last_k_q;
    reg             first_k_q;
    reg  [DIMW-1:0] mr_q;
    reg  [DIMW-1:0] kr_q;
    reg  [DIMW-1:0] nr_q;
    reg  [IW-1:0]   count_m1;     // inner count - 1

    wire [DIMW-1:0] m_adv = m_left - TM_D;
    wire [DIMW-1:0] n_adv = n_left - C_D;
    wire [DIMW-1:0] k_adv = k_left - R_D;
    wire [DIMW-1:0] mr_adv = extent(m_adv, TM_D);
    wire [DIMW-1:0] mr_new = extent(m_rows, TM_D);
    wire [DIMW-1:0] mr_adv_m1 = mr_adv - ONE_D;
    wire [DIMW-1:0] mr_new_m1 = mr_new - ONE_D;
    wire [IW-1:0] count_adv = (INNER == 0) ? mr_adv_m1[IW-1:0] : (INNER == 1) ? R_M1 : C_M1;
    wire [IW-1:0] count_new = (INNER == 0) ? mr_new_m1[IW-1:0] : (INNER == 1) ? R_M1 : C_M1;

    assign mr = mr_q[MW-1:0];
    assign kr = kr_q[KW-1:0];
    assign nr = nr_q[NW-1:0];
    assign last_k = last_k_q;
    assign first_k = first_k_q;
    assign last_tile = last_m & last_n;
    assign last_idx = (idx == count_m1);
    wire [DIMW:0] idx_x = { {(DIMW+1-IW){1'b0}}, idx };
    assign idx_lt_kr = (idx_x < {1'b0, kr_q});
    assign idx_lt_nr = (idx_x < {1'b0, nr_q});

    // The extents never exceed TM, R, C: their upper bits are always zero.
    wire unused_hi = &{1'b0, mr_q[DIMW-1:MW], kr_q[DIMW-1:KW], nr_q[DIMW-1:NW],
                       mr_adv_m1[DIMW-1:IW], mr_new_m1[DIMW-1:IW]};

    always @(posedge clk) begin
        if (rst) begin
            active <= 1'b0;
            idx <= {IW{1'b0}};
            pass_par <= 1'b0;
            tile_par <= 1'b0;
        end else if (start) begin
            active <= 1'b1;
            idx <= {IW{1'b0}};
            pass_par <= 1'b0;
            tile_par <= 1'b0;
        end else if (step && active) begin
            if (!last_idx) begin
                idx <= idx + 1'b1;
            end else begin
                idx <= {IW{1'b0}};
                pass_par <= ~pass_par;
                if (last_k_q) begin
                    tile_par <= ~tile_par;
                    if (last_n && last_m) active <= 1'b0;
                end
            end
        end
    end

    always @(posedge clk) begin
        if (start) begin
            m_left <= m_rows;
            n_left <= n_cols;
            k_left <= k_depth;
            last_m <= (m_rows <= TM_D);
            last_n <= (n_cols <= C_D);
            last_k_q <= (k_depth <= R_D);
            first_k_q <= 1'b1;
            mr_q <= mr_new;
            nr_q <= extent(n_cols, C_D);
            kr_q <= extent(k_depth, R_D);
            count_m1 <= count_new;
        end else if (step && active && last_idx) begin
            if (!last_k_q) begin
                k_left <= k_adv;
                last_k_q <= (k_adv <= R_D);
                kr_q <= extent(k_adv, R_D);
                first_k_q <= 1'b0;
            end else begin
                k_left <= k_depth;
                last_k_q <= (k_depth <= R_D);
                kr_q <= extent(k_depth, R_D);
                first_k_q <= 1'b1;
                if (!last_n) begin
                    n_left <= n_adv;
                    last_n <= (n_adv <= C_D);
                    nr_q <= extent(n_adv, C_D);
                end else begin
                    n_left <= n_cols;
                    last_n <= (n_cols <= C_D);
                    nr_q <= extent(n_cols, C_D);
                    if (!last_m) begin
                        m_left <= m_adv;
                        last_m <= (m_adv <= TM_D);
                        mr_q <= mr_adv;
                        count_m1 <= count_adv;
                    end
                end
            end
        end
    end
endmodule

`default_nettype wire
