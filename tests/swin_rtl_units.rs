//! Swin's units after the last stage in Verilator: U5r (`repq_layernorm` built with `RESID = 1`,
//! a LayerNorm into the `s32` residual stream) and `repq_avgpool` (average pooling and the U2 to
//! the head's input codes), each built once as a mutant schemata (tests/rtl_common/mutate.rs) and
//! run on the random vectors of `repq-hw golden --random` (`layernorm_r.*`, `avgpool*.*`:
//! zero-variance and full-scale rows, signed clamps, full-scale sums, ties, `T = 1, 6, 197` over
//! 37 channels) with no mutant (two seeds, stalls, a mid-run reset, the modelled stall-free cycle
//! count) and with every mutant, which must fail or be listed below with the reason it cannot.
//! Skipped with a notice without Verilator. The whole Swin golden directory runs in
//! tests/swin_golden.rs.

mod rtl_common;

use repq_hw::golden::random_pool::{LNR_ROWS, POOLS};
use repq_hw::golden::random_units::LN_DIM;
use repq_hw::perf::units::layernorm_cycles_with;
use repq_hw::rtl::units::avgpool_cycles;
use repq_hw::verify::Harness;
use rtl_common::units::{
    Run, assert_survivors, check_unit, config, layernorm_edge_layers, random_files, schemata_build,
};
use rtl_common::{have, write_golden};

#[test]
fn layernorm_resid_runs_hard_rows_and_kills_its_mutants() {
    if !have("verilator") {
        eprintln!("verilator not found: skipped");
        return;
    }
    let (b, d, dir) = schemata_build(
        "layernorm_resid",
        &config(),
        Harness::LayerNormResid,
        &["repq_layernorm.v"],
        &[
            ("repq_layernorm.v", "n * gg + bb + HALF", "HALF", "50'sd0"),
            ("repq_layernorm.v", "eps_round =", "eps_half", "68'd0"),
            ("repq_layernorm.v", "t, 17'd0} + r_ext", "r_ext", "37'd0"),
        ],
        // Two normalize lanes, the row buffer exactly D = 37 channels (MAXD's limit reached).
        &[("LN_LANES", 2), ("MAXD", LN_DIM as i64)],
    );
    let golden = dir.join("golden");
    let mut files = random_files(&d, 29, [4, 1, 4]);
    files.extend(layernorm_edge_layers(true));
    write_golden(&golden, "swin_rtl_units layernorm_resid", &files);
    let runs: Vec<Run> = [
        ("layernorm_r", LNR_ROWS, LN_DIM),
        ("c2", 1, 2),
        ("t4", 2, 4),
    ]
    .iter()
    .map(|&(p, rows, dim)| {
        let cycles = layernorm_cycles_with(&d, 2, rows as u64, dim as u64);
        let mut args: Vec<(&'static str, String)> = ["x", "g", "b", "eps_q", "lo", "hi", "out"]
            .iter()
            .map(|&f| (f, format!("{p}.{f}")))
            .collect();
        args.push(("cycles", cycles.to_string()));
        Run { args, cycles }
    })
    .collect();
    let survivors = check_unit("repq_layernorm RESID=1", &b, &golden, &runs);
    assert_survivors(
        "repq_layernorm RESID=1",
        &survivors,
        LAYERNORM_RESID_SURVIVORS,
    );
}

/// Survivors of repq_layernorm's mutation set built with `RESID = 1`, with the reason.
/// The first 16 are those of the U5 build (`LAYERNORM_SURVIVORS` in tests/rtl_units.rs, where the
/// reasons are spelled out); the last three are the build's own.
const LAYERNORM_RESID_SURVIVORS: &[(&str, &str)] = &[
    (
        "const PH_LOAD = 3'd0 - 1",
        "equivalent: the unused phase encoding 7",
    ),
    (
        "const PH_NORM = 3'd6 + 1",
        "equivalent: the unused phase encoding 7",
    ),
    (
        "branch if (root_done) inverted",
        "equivalent: a phase value never read",
    ),
    (
        "branch if (recip_done) inverted",
        "equivalent: a phase value never read",
    ),
    (
        "(lane_x < beat_min) -> (lane_x <= beat_min)",
        "equivalent on a tie",
    ),
    (
        "(lane_x > beat_max) -> (lane_x >= beat_max)",
        "equivalent on a tie",
    ),
    (
        "beat_min < xmin_q) -> (st_first_q || beat_min <= xmin_q)",
        "equivalent on a tie",
    ),
    (
        "beat_max > xmax_q) -> (st_first_q || beat_max >= xmax_q)",
        "equivalent on a tie",
    ),
    (
        "(hi_dev > lo_dev) -> (hi_dev >= lo_dev)",
        "equivalent on a tie",
    ),
    (
        "const 7'd0 -> 7'h1 in `m_bits = 7'd0;`",
        "equivalent: only M = 0 uses it",
    ),
    (
        "const 7'd0 -> 7'h7f in `m_bits = 7'd0;`",
        "equivalent: only M = 0 uses it",
    ),
    (
        "(m_bits > DB) -> (m_bits >= DB)",
        "equivalent: k = 0 at bitlen(M) = 17 either way",
    ),
    (
        "const 6'd0 -> 6'h3f in `wire [RDW-1:0] eps_k",
        "equivalent: k = 63 is unreachable",
    ),
    (
        "const 1'b0 flipped in `sq_run_q <= 1'b0;`",
        "a reset value overwritten before use",
    ),
    (
        "const 4'd0 -> 4'h1 in `sq_v_q <= 4'd0;`",
        "a reset value overwritten before use",
    ),
    (
        "const 4'd0 -> 4'hf in `sq_v_q <= 4'd0;`",
        "a reset value overwritten before use",
    ),
    (
        "(U < 1 || LANES % U != 0) -> (U <= 1",
        "the elaboration check: U = 2 passes either way; the U = 1 build of tests/rtl_units.rs \
         fails to elaborate with it",
    ),
    (
        "(sh < lo_x) -> (sh <= lo_x)",
        "equivalent: at y = lo the clamp gives lo either way",
    ),
    (
        "(sh > hi_x) -> (sh >= hi_x)",
        "equivalent: at y = hi the clamp gives hi either way",
    ),
];

#[test]
fn avgpool_pools_hard_jobs_and_kills_its_mutants() {
    if !have("verilator") {
        eprintln!("verilator not found: skipped");
        return;
    }
    let (b, d, dir) = schemata_build(
        "avgpool",
        &config(),
        Harness::AvgPool,
        &["repq_avgpool.v"],
        &[("repq_avgpool.v", "{1'b0}}, t_q};", "t_q", "{TW{1'b0}}")],
        // The sum memory exactly D = 37 channels (MAXD's limit reached).
        &[("MAXD", LN_DIM as i64)],
    );
    let golden = dir.join("golden");
    write_golden(
        &golden,
        "swin_rtl_units avgpool",
        &random_files(&d, 31, [4, 1, 4]),
    );
    let runs: Vec<Run> = POOLS
        .iter()
        .map(|&(p, _, tokens)| {
            let cycles = avgpool_cycles(d.cols, tokens as u64, LN_DIM as u64);
            let mut args: Vec<(&'static str, String)> =
                ["x", "avg", "code", "m0", "shift", "zero_point", "lo", "hi"]
                    .iter()
                    .map(|&f| (f, format!("{p}.{f}")))
                    .collect();
            args.push(("cycles", cycles.to_string()));
            Run { args, cycles }
        })
        .collect();
    let survivors = check_unit("repq_avgpool", &b, &golden, &runs);
    assert_survivors("repq_avgpool", &survivors, AVGPOOL_SURVIVORS);
}

/// Survivors of repq_avgpool's mutation set, with the reason.
const AVGPOOL_SURVIVORS: &[(&str, &str)] = &[
    (
        "const PH_SUM = 2'd0 - 1",
        "equivalent: renumbers the sum phase to the unused encoding 3",
    ),
    (
        "const PH_DIV = 2'd2 + 1",
        "equivalent: renumbers the divide phase to the unused encoding 3",
    ),
    (
        "const 1'b0 flipped in `wr_q <= 1'b0;`",
        "equivalent: a write after reset goes to a beat that row 0 overwrites without reading, \
         and s_x_ready is low only while no job can have started",
    ),
    (
        "const 1'b0 flipped in `recip_wait_q <= 1'b0;`",
        "equivalent: the start pulse sets the flag before the divide pass can read it",
    ),
];
