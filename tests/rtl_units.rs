//! The units after the array in Verilator: `repq_residual` (U8), `repq_gelu` (U7's table),
//! `repq_av_requant` (A x V to proj input codes, heads merged) and `repq_layernorm` (U5, with the
//! row divider `repq_rowdiv` of U5 and U6, which is also tested alone), each built once as a mutant
//! schemata (tests/rtl_common/mutate.rs) and run
//!
//! * with no mutant on unit-mode golden vectors of the reference units: the random vectors of
//!   `repq-hw golden --random` (every GELU index through two tables, residual saturation both
//!   ways, per-head constants and rounding ties) and edge shapes, with stalls and a mid-run reset;
//! * without stalls, where the cycle count must equal the cycle model (src/perf/units.rs);
//! * with every mutant of the generated mutation set: each must fail, or be listed below with
//!   the reason it cannot (the survivors are compared exactly, so a new survivor fails the test).
//!
//! One Verilator build per unit and configuration; skipped with a notice without Verilator.

mod rtl_common;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use repq_hw::arith::gelu::GeluSteps;
use repq_hw::arith::{Requant, merge_heads, residual_add};
use repq_hw::golden::{signed, unsigned};
use repq_hw::perf::units::{av_requant_cycles_with, gelu_cycles, residual_cycles};
use repq_hw::rtl::GenConfig;
use repq_hw::verify::Harness;
use rtl_common::mutate::Rounding;
use rtl_common::units::{
    Run, assert_survivors, check_unit, config, layernorm_edge_layers, random_files, schemata_build,
};
use rtl_common::{have, tensor, write_golden};

#[test]
fn residual_unit_runs_the_model_and_kills_its_mutants() {
    if !have("verilator") {
        return;
    }
    let (b, d, dir) = schemata_build(
        "residual",
        &config(),
        Harness::Residual,
        &["repq_residual.v"],
        &[],
        &[],
    );
    let mut files = random_files(&d, 21, [13, 1, 10]);
    let mut runs = vec![Run {
        args: vec![
            ("x", "residual.x".into()),
            ("y", "residual.y".into()),
            ("out", "residual.out".into()),
        ],
        cycles: residual_cycles(&d, 13, 10),
    }];
    // Edge shapes: one element, one lane group, several M and N tiles.
    let mut rng = StdRng::seed_from_u64(0x5e51);
    for (i, &(m, n)) in [(1usize, 1usize), (5, 4), (17, 9)].iter().enumerate() {
        let x: Vec<i32> = (0..m * n).map(|_| rng.random()).collect();
        let y: Vec<i32> = (0..m * n).map(|_| rng.random()).collect();
        let out: Vec<i32> = x
            .iter()
            .zip(&y)
            .map(|(&a, &b)| residual_add(a, b))
            .collect();
        for (t, v) in [("x", &x), ("y", &y), ("out", &out)] {
            files.push(tensor(&format!("e{i}.{t}"), &[m, n], signed(32), v));
        }
        runs.push(Run {
            args: vec![
                ("x", format!("e{i}.x")),
                ("y", format!("e{i}.y")),
                ("out", format!("e{i}.out")),
            ],
            cycles: residual_cycles(&d, m as u64, n as u64),
        });
    }
    let golden = dir.join("golden");
    write_golden(&golden, "rtl_units residual", &files);
    let survivors = check_unit("repq_residual", &b, &golden, &runs);
    assert_survivors("repq_residual", &survivors, RESIDUAL_SURVIVORS);
}

/// Survivors of repq_residual's mutation set, with the reason.
const RESIDUAL_SURVIVORS: &[(&str, &str)] = &[];

#[test]
fn gelu_unit_runs_every_index_and_kills_its_mutants() {
    if !have("verilator") {
        return;
    }
    let (b, d, dir) = schemata_build("gelu", &config(), Harness::Gelu, &["repq_gelu.v"], &[], &[]);
    let mut files = random_files(&d, 22, [3, 1, 3]);
    let mut runs = vec![Run {
        args: vec![
            ("steps", "gelu.steps".into()),
            ("h", "gelu.h".into()),
            ("out", "gelu.out".into()),
        ],
        cycles: gelu_cycles(&d, 1, 65536),
    }];
    // The first random table (typical), and a table with steps at both ends of the index range:
    // every index through both, then (the harness's last run) indices outside s16, which must
    // give T[2^15 - 1] and T[-2^15].
    let t0: Vec<i64> = files
        .iter()
        .find(|f| f.entry.name == "gelu.table")
        .unwrap()
        .data[..65536]
        .iter()
        .map(|&v| v as i64)
        .collect();
    let edge: Vec<u8> = (0..65536)
        .map(|i| match i {
            0 => 3,
            65535 => 9,
            _ if i < 32768 => 2,
            _ => 5,
        })
        .collect();
    let mut steps = Vec::new();
    let mut out = Vec::new();
    for t in [t0.iter().map(|&v| v as u8).collect::<Vec<u8>>(), edge] {
        let st = GeluSteps::new(&t, d.abits, "test table").unwrap();
        steps.extend(st.load_words().iter().map(|&w| i64::from(w)));
        out.extend(t.iter().map(|&v| i64::from(v)));
    }
    let l = steps.len() / 2;
    files.push(tensor("edge.steps", &[2, l], signed(16), &steps));
    files.push(tensor("edge.out", &[2, 65536], unsigned(d.abits), &out));
    files.push(tensor("t0.steps", &[l], signed(16), &steps[..l]));
    runs.push(Run {
        args: vec![
            ("steps", "edge.steps".into()),
            ("h", "gelu.h".into()),
            ("out", "edge.out".into()),
        ],
        cycles: gelu_cycles(&d, 1, 65536),
    });
    // Index matrices of edge shapes (h any s16) through the typical table.
    let mut rng = StdRng::seed_from_u64(0x6e1);
    for (i, &(m, n)) in [(1usize, 1usize), (9, 5), (3, 12)].iter().enumerate() {
        let h: Vec<i32> = (0..m * n)
            .map(|_| rng.random_range(-32768..32768))
            .collect();
        let out: Vec<i64> = h.iter().map(|&x| t0[(x + 32768) as usize]).collect();
        files.push(tensor(&format!("g{i}.h"), &[m, n], signed(16), &h));
        files.push(tensor(
            &format!("g{i}.out"),
            &[m, n],
            unsigned(d.abits),
            &out,
        ));
        runs.push(Run {
            args: vec![
                ("steps", "t0.steps".into()),
                ("h", format!("g{i}.h")),
                ("out", format!("g{i}.out")),
            ],
            cycles: gelu_cycles(&d, m as u64, n as u64),
        });
    }
    let golden = dir.join("golden");
    write_golden(&golden, "rtl_units gelu", &files);
    let survivors = check_unit("repq_gelu", &b, &golden, &runs);
    assert_survivors("repq_gelu", &survivors, GELU_SURVIVORS);
}

/// Survivors of repq_gelu's mutation set, with the reason.
const GELU_SURVIVORS: &[(&str, &str)] = &[];

/// The A x V requantization on random vectors (3 heads, per-head constants, rounding ties) and
/// edge shapes, with one requantization lane (4 groups per beat, the shifting assembly) at the
/// model's s32 accumulators, w8a8, and with two (2 groups, the held first group) at s20, w4a4
/// (the U2 lanes' zero-padded product inputs).
#[test]
fn av_requant_unit_merges_heads_and_kills_its_mutants() {
    if !have("verilator") {
        return;
    }
    // U2's rounding: the carry t[0] of (t >> 1) + z + t[0].
    let rounding: &[Rounding] = &[("repq_requant.v", "wire [UW:0] zp_c", "q8_t[0]", "1'b0")];
    let mut all_survivors: Option<Vec<String>> = None;
    for lanes in [1u32, 2] {
        let name = format!("av_requant_u{lanes}");
        let cfg = if lanes == 1 {
            config()
        } else {
            GenConfig {
                wbits: 4,
                abits: 4,
                acc_bits: Some(20),
                ..config()
            }
        };
        let (b, d, dir) = schemata_build(
            &name,
            &cfg,
            Harness::AvRequant,
            &["repq_av_requant.v", "repq_requant.v"],
            rounding,
            &[("RQ_LANES", i64::from(lanes))],
        );
        let mut files = random_files(&d, 23, [13, 1, 10]);
        let mut runs = vec![Run {
            args: av_args("av_requant"),
            cycles: av_requant_cycles_with(&d, lanes, 13, 10, 3),
        }];
        let mut rng = StdRng::seed_from_u64(0xa7 + u64::from(lanes));
        for (i, &(t, dh, h)) in [(1usize, 1usize, 1usize), (5, 4, 2), (7, 9, 1), (3, 3, 4)]
            .iter()
            .enumerate()
        {
            let lim = 1i64 << (d.acc_bits - 1);
            let av: Vec<i64> = (0..h * t * dh)
                .map(|_| rng.random_range(-lim..lim) >> rng.random_range(0..d.acc_bits - 8))
                .collect();
            let rq: Vec<Requant> = (0..h)
                .map(|_| {
                    let mult = 2f64.powf(rng.random_range(-(f64::from(d.acc_bits) - 2.0)..-10.0));
                    let amax = (1 << d.abits) - 1;
                    Requant::to_codes(mult, rng.random_range(0..=amax), d.abits, "t").unwrap()
                })
                .collect();
            let out = merge_heads(&av, h, dh, &rq);
            let p = format!("a{i}");
            files.push(tensor(
                &format!("{p}.av"),
                &[h, t, dh],
                signed(d.acc_bits),
                &av,
            ));
            let per = |f: fn(&Requant) -> i64| rq.iter().map(f).collect::<Vec<i64>>();
            files.push(tensor(
                &format!("{p}.m0"),
                &[h],
                unsigned(31),
                &per(|r| r.m0.into()),
            ));
            files.push(tensor(
                &format!("{p}.shift"),
                &[h],
                unsigned(6),
                &per(|r| r.shift.into()),
            ));
            files.push(tensor(
                &format!("{p}.zero_point"),
                &[h],
                signed(32),
                &per(|r| r.zero_point.into()),
            ));
            let ab = unsigned(d.abits);
            files.push(tensor(&format!("{p}.lo"), &[h], ab, &per(|r| r.lo.into())));
            files.push(tensor(&format!("{p}.hi"), &[h], ab, &per(|r| r.hi.into())));
            files.push(tensor(&format!("{p}.out"), &[t, h * dh], ab, &out));
            runs.push(Run {
                args: av_args(&p),
                cycles: av_requant_cycles_with(&d, lanes, t as u64, dh as u64, h as u64),
            });
        }
        let golden = dir.join("golden");
        write_golden(&golden, &format!("rtl_units {name}"), &files);
        let survivors = check_unit(
            &format!("repq_av_requant RQ_LANES={lanes}"),
            &b,
            &golden,
            &runs,
        );
        // The same schemata in both builds (RQ_LANES is a parameter): a mutant survives the set
        // when it survives both.
        all_survivors = Some(match all_survivors {
            None => survivors,
            Some(prev) => prev.into_iter().filter(|s| survivors.contains(s)).collect(),
        });
    }
    assert_survivors(
        "repq_av_requant",
        &all_survivors.unwrap(),
        AV_REQUANT_SURVIVORS,
    );
}

fn av_args(p: &str) -> Vec<(&'static str, String)> {
    ["av", "m0", "shift", "zero_point", "lo", "hi", "out"]
        .into_iter()
        .map(|a| (a, format!("{p}.{a}")))
        .collect()
}

/// Survivors of repq_av_requant's (with repq_requant's) mutation set, with the reason.
const AV_REQUANT_SURVIVORS: &[(&str, &str)] = &[
    (
        "const FULL = FDEPTH[CW-1:0] + 1",
        "equivalent: 17 credits, and the FIFO holds DEPTH + 1 = 17 beats (RAM and output \
         register), so it still never overflows",
    ),
    (
        "const FULL = FDEPTH[CW-1:0] - 1",
        "equivalent in values: 15 credits only stop the input one beat earlier while m_out is \
         blocked; at full speed at most (G + 13) / G beats are in flight",
    ),
    (
        "`credits_q <= {CW{1'b0}};`",
        "equivalent: a reset value of 31 = -1 (mod 32) lets one more beat in, 17, what the FIFO \
         holds",
    ),
    (
        "repq_av_requant.v:144 const 1'b0 flipped",
        "equivalent: the reset value of gi_q is never read (hold_v is low until a beat is taken, \
         which sets gi_q to 0)",
    ),
    (
        "`assign u0_in = { {(16-ACC){1'b0}}, acc_l };`",
        "not elaborated: repq_requant's g_narrow branch is for ACC <= 16; the mutation builds use \
         the model's s32 and s20 (tests/rtl_sim.rs runs repq_requant at ACC 14)",
    ),
    (
        "16'h0000 -> 16'h1 in `assign u1_in = 16'h0000;`",
        "not elaborated: g_narrow (ACC <= 16), as above",
    ),
    (
        "16'h0000 -> 16'hffff in `assign u1_in = 16'h0000;`",
        "not elaborated: g_narrow (ACC <= 16), as above",
    ),
    (
        "(q9_u < lo_x) -> (q9_u <= lo_x)",
        "equivalent: at u = lo the clamp gives lo either way",
    ),
    (
        "(q9_u > hi_x) -> (q9_u >= hi_x)",
        "equivalent: at u = hi the clamp gives hi either way",
    ),
];

/// The row divider of U5 and U6 (`repq_rowdiv`) against `arith::rowdiv::RowDiv`: at the real
/// widths (QW = 17, DW = 34) on random and edge divisors and numerators, and at QW = 4, DW = 6
/// on every divisor and every numerator; then its mutation set.
#[test]
fn rowdiv_equals_the_model_and_kills_its_mutants() {
    use repq_hw::arith::rowdiv::RowDiv;
    use repq_hw::perf::units::rowdiv_cycles;
    if !have("verilator") {
        return;
    }
    let mut all_survivors: Option<Vec<String>> = None;
    for (qw, dw) in [(17u32, 34u32), (4, 6)] {
        let name = format!("rowdiv_q{qw}_d{dw}");
        let (b, _, dir) = schemata_build(
            &name,
            &config(),
            Harness::RowDiv,
            &["repq_rowdiv_recip.v", "repq_rowdiv_lane.v", "repq_rowdiv.v"],
            &[],
            &[("QW", i64::from(qw)), ("DW", i64::from(dw))],
        );
        let mut rng = StdRng::seed_from_u64(0xd1 + u64::from(qw));
        let mut rows: Vec<(u64, Vec<u64>)> = Vec::new();
        if qw == 17 {
            let mut ds: Vec<u64> = (1..dw)
                .flat_map(|j| [(1u64 << j) - 1, 1 << j, (1 << j) + 1])
                .chain([1, (1 << dw) - 1, (1 << dw) - 2])
                .collect();
            ds.extend((0..60).map(|_| rng.random_range(1..1u64 << dw) >> rng.random_range(0..dw)));
            for d in ds {
                let d = d.max(1);
                let top = (d << qw) - 1;
                let mut ns = vec![0, 1, d - 1, d, top, top - 1, top - d + 1];
                while ns.len() < 24 {
                    let q = rng.random_range(0..1u64 << qw);
                    ns.extend([q * d, (q * d).saturating_sub(1), rng.random_range(0..=top)]);
                }
                ns.truncate(24);
                rows.push((d, ns.into_iter().map(|n| n.min(top)).collect()));
            }
        } else {
            // Every divisor, every numerator: rows of 2^QW numerators (d >= 1 has at least that
            // many), the first d 2^QW of them through rows of the same d.
            for d in 1..1u64 << dw {
                let all: Vec<u64> = (0..d << qw).collect();
                for c in all.chunks(1 << qw) {
                    rows.push((d, c.to_vec()));
                }
            }
        }
        let m = rows[0].1.len();
        assert!(rows.iter().all(|r| r.1.len() == m));
        let d: Vec<u64> = rows.iter().map(|r| r.0).collect();
        let n: Vec<u64> = rows.iter().flat_map(|r| r.1.clone()).collect();
        let q: Vec<u64> = rows
            .iter()
            .flat_map(|(d, ns)| {
                let rd = RowDiv::new(*d, qw);
                ns.iter().map(move |&x| rd.div(x)).collect::<Vec<u64>>()
            })
            .collect();
        assert!(
            n.iter()
                .zip(&q)
                .zip(rows.iter().flat_map(|r| std::iter::repeat_n(r.0, m)))
                .all(|((&x, &y), dd)| x / dd == y)
        );
        let files = vec![
            tensor("rd.d", &[rows.len()], unsigned(dw), &d),
            tensor("rd.n", &[rows.len(), m], unsigned(qw + dw), &n),
            tensor("rd.q", &[rows.len(), m], unsigned(qw), &q),
        ];
        let golden = dir.join("golden");
        write_golden(&golden, &format!("rtl_units {name}"), &files);
        let runs = [Run {
            args: vec![
                ("d", "rd.d".into()),
                ("n", "rd.n".into()),
                ("q", "rd.q".into()),
            ],
            cycles: rowdiv_cycles(qw, rows.len() as u64, m as u64),
        }];
        let survivors = check_unit(&format!("repq_rowdiv QW={qw} DW={dw}"), &b, &golden, &runs);
        all_survivors = Some(match all_survivors {
            None => survivors,
            Some(prev) => prev.into_iter().filter(|s| survivors.contains(s)).collect(),
        });
    }
    assert_survivors("repq_rowdiv", &all_survivors.unwrap(), ROWDIV_SURVIVORS);
}

/// Survivors of repq_rowdiv's mutation set, with the reason.
const ROWDIV_SURVIVORS: &[(&str, &str)] = &[
    (
        "const 1'b0 flipped in `l_c = {KW{1'b0}};`",
        "equivalent: the default of the priority scan is overwritten for every d >= 1 (d = 0 is \
         outside the contract)",
    ),
    (
        "const 1'b0 flipped in `if (rst) cnt_q <= {CW{1'b0}};`",
        "equivalent in values: the reciprocal is busy 2^CW - 1 cycles after a reset, which delays \
         the first divisor; the stall-free cycle count of the unmutated build is what the cycle \
         model checks",
    ),
];

/// Golden tensors `{p}.{x,g,b,eps_q,lo,hi,out}` of `layers` (each its constants and its rows, the
/// same number of rows each), the codes from [`LayerNormParams::apply`].
/// `repq_layernorm` (U5) on the random layers of `repq-hw golden --random` (constant rows with
/// and without `E`, full-scale rows, outlier channels, deviations of a few LSB, `E = 2^64 - 1`,
/// a narrowed clamp, `D = 37` on 4 lanes and `D = 1`), with one normalize lane (the default) and
/// with two; every mutant of its set must fail on one of the two builds or be listed.
#[test]
fn layernorm_unit_runs_hard_rows_and_kills_its_mutants() {
    use repq_hw::golden::random_units::{LN_DIM, LN_ROWS};
    use repq_hw::perf::units::layernorm_cycles_with;
    if !have("verilator") {
        return;
    }
    let mut all_survivors: Option<Vec<String>> = None;
    for lanes in [1u32, 2] {
        let name = format!("layernorm_u{lanes}");
        let (b, d, dir) = schemata_build(
            &name,
            &config(),
            Harness::LayerNorm,
            &["repq_layernorm.v"],
            &[
                ("repq_layernorm.v", "n * gg + bb + HALF", "HALF", "50'sd0"),
                ("repq_layernorm.v", "eps_round =", "eps_half", "68'd0"),
                ("repq_layernorm.v", "t, 17'd0} + r_ext", "r_ext", "37'd0"),
            ],
            // U = 2 with the row buffer exactly D = 37 channels (MAXD's limit reached).
            &if lanes == 1 {
                vec![("LN_LANES", 1)]
            } else {
                vec![("LN_LANES", i64::from(lanes)), ("MAXD", LN_DIM as i64)]
            },
        );
        let mut files = random_files(&d, 23, [4, 1, 4]);
        files.extend(layernorm_edge_layers(false));
        let golden = dir.join("golden");
        write_golden(&golden, &format!("rtl_units {name}"), &files);
        let runs: Vec<Run> = [
            ("layernorm", LN_ROWS, LN_DIM),
            ("layernorm1", LN_ROWS, 1),
            ("c2", 1, 2),
            ("t4", 2, 4),
        ]
        .iter()
        .map(|&(p, rows, dim)| {
            // The harness checks the stall-free count itself (+cycles), so that a mutant that
            // only changes the timing fails too.
            let cycles = layernorm_cycles_with(&d, lanes, rows as u64, dim as u64);
            let mut args: Vec<(&'static str, String)> = ["x", "g", "b", "eps_q", "lo", "hi", "out"]
                .iter()
                .map(|&f| (f, format!("{p}.{f}")))
                .collect();
            args.push(("cycles", cycles.to_string()));
            Run { args, cycles }
        })
        .collect();
        let survivors = check_unit(&format!("repq_layernorm U={lanes}"), &b, &golden, &runs);
        all_survivors = Some(match all_survivors {
            None => survivors,
            Some(prev) => prev.into_iter().filter(|s| survivors.contains(s)).collect(),
        });
    }
    assert_survivors(
        "repq_layernorm",
        &all_survivors.unwrap(),
        LAYERNORM_SURVIVORS,
    );
}

/// Survivors of repq_layernorm's mutation set (in both builds), with the reason.
const LAYERNORM_SURVIVORS: &[(&str, &str)] = &[
    (
        "const PH_LOAD = 3'd0 - 1",
        "equivalent: renumbers the load phase to the unused encoding 7",
    ),
    (
        "const PH_NORM = 3'd6 + 1",
        "equivalent: renumbers the normalize phase to the unused encoding 7",
    ),
    (
        "branch if (root_done) inverted",
        "equivalent: the phase register's root and reciprocal values are never read (the root \
         and the reciprocal run on their own flags, the normalize pass starts on recip_done)",
    ),
    (
        "branch if (recip_done) inverted",
        "equivalent: as above, the phase is not read between the squares and the normalize pass",
    ),
    (
        "bound (lane_x < beat_min) -> (lane_x <= beat_min)",
        "equivalent: on a tie the minimum is the same value",
    ),
    (
        "bound (lane_x > beat_max) -> (lane_x >= beat_max)",
        "equivalent: on a tie the maximum is the same value",
    ),
    (
        "bound (st_first_q || beat_min < xmin_q) -> (st_first_q || beat_min <= xmin_q)",
        "equivalent: on a tie xmin is the same value",
    ),
    (
        "bound (st_first_q || beat_max > xmax_q) -> (st_first_q || beat_max >= xmax_q)",
        "equivalent: on a tie xmax is the same value",
    ),
    (
        "bound (hi_dev > lo_dev) -> (hi_dev >= lo_dev)",
        "equivalent: on a tie M is the same value",
    ),
    (
        "const 7'd0 -> 7'h1 in `m_bits = 7'd0;`",
        "equivalent: the default of bitlen(M) is used only for M = 0, where every t is 0 and so \
         every n is 0 whatever k and r are",
    ),
    (
        "const 7'd0 -> 7'h7f in `m_bits = 7'd0;`",
        "equivalent: as above (M = 0)",
    ),
    (
        "bound (m_bits > DB) -> (m_bits >= DB)",
        "equivalent: at bitlen(M) = 17 both give k = 0",
    ),
    (
        "const 6'd0 -> 6'h3f in `wire [RDW-1:0] eps_k",
        "equivalent: k = 63 is never reached, and for k = 0 the shifted path gives E as well (the \
         half addend 2^-1 is shifted out, the shift is 0)",
    ),
    (
        "const 1'b0 flipped in `sq_run_q <= 1'b0;`",
        "reset values of the squares pass: a spurious pass after reset that ends before the first \
         row's squares pass (its Q is cleared at the row shift) in these runs",
    ),
    (
        "const 4'd0 -> 4'h1 in `sq_v_q <= 4'd0;`",
        "reset values of the squares pass, as above",
    ),
    (
        "const 4'd0 -> 4'hf in `sq_v_q <= 4'd0;`",
        "reset values of the squares pass, as above",
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

/// U6 (`repq_softmax`, with the row divider) on the random vectors of `repq-hw golden --random`
/// (ties, all-equal rows, a dominant score, bias and s32/s16 extremes, saturation edges, masked
/// scores, a row masked but one, an entirely masked row, rows of 197 and 785 keys) and rows of 1
/// and C + 1 keys, with one exponent lane (4 groups per beat) and with four (one group); then
/// the mutation set of repq_softmax and the row divider.
#[test]
fn softmax_unit_runs_the_hard_rows_and_kills_its_mutants() {
    use repq_hw::arith::softmax::{exp2_table, probabilities};
    use repq_hw::perf::units::softmax_cycles_with;
    if !have("verilator") {
        return;
    }
    let files_mut = [
        "repq_softmax.v",
        "repq_rowdiv_recip.v",
        "repq_rowdiv_lane.v",
    ];
    let mut all_survivors: Option<Vec<String>> = None;
    for lanes in [1u32, 4] {
        let name = format!("softmax_u{lanes}");
        let (b, d, dir) = schemata_build(
            &name,
            &config(),
            Harness::Softmax,
            &files_mut,
            &[],
            &[("EX_LANES", i64::from(lanes))],
        );
        let mut files = random_files(&d, 24, [3, 1, 3]);
        let args = |p: &str| -> Vec<(&'static str, String)> {
            ["z", "bias", "mask", "p"]
                .into_iter()
                .map(|a| (a, format!("{p}.{a}")))
                .collect()
        };
        let mut runs = vec![
            Run {
                args: args("softmax"),
                cycles: softmax_cycles_with(&d, lanes, 12, 37, 1),
            },
            Run {
                args: args("softmax197"),
                cycles: softmax_cycles_with(&d, lanes, 3, 197, 0),
            },
            Run {
                args: args("softmax785"),
                cycles: softmax_cycles_with(&d, lanes, 2, 785, 0),
            },
        ];
        // Rows of one key, of C + 1 keys (one lane in the last beat) and of 2 C keys (a full last
        // beat), no bias or mask.
        let table = exp2_table();
        let mut rng = StdRng::seed_from_u64(0x50f7);
        for (i, &(r, t)) in [
            (3usize, 1usize),
            (4, d.cols as usize + 1),
            (2, 2 * d.cols as usize),
        ]
        .iter()
        .enumerate()
        {
            let z: Vec<i32> = (0..r * t)
                .map(|_| rng.random_range(-30000..30000))
                .collect();
            let mut p = vec![0u32; r * t];
            for (zr, pr) in z.chunks(t).zip(p.chunks_mut(t)) {
                probabilities(&table, zr, None, None, pr);
            }
            files.push(tensor(&format!("s{i}.z"), &[r, t], signed(32), &z));
            files.push(tensor(&format!("s{i}.p"), &[r, t], unsigned(17), &p));
            runs.push(Run {
                args: vec![("z", format!("s{i}.z")), ("p", format!("s{i}.p"))],
                cycles: softmax_cycles_with(&d, lanes, r as u64, t as u64, 0),
            });
        }
        let golden = dir.join("golden");
        write_golden(&golden, &format!("rtl_units {name}"), &files);
        let survivors = check_unit(
            &format!("repq_softmax EX_LANES={lanes}"),
            &b,
            &golden,
            &runs,
        );
        all_survivors = Some(match all_survivors {
            None => survivors,
            Some(prev) => prev.into_iter().filter(|s| survivors.contains(s)).collect(),
        });
    }
    assert_survivors("repq_softmax", &all_survivors.unwrap(), SOFTMAX_SURVIVORS);
}

/// Survivors of repq_softmax's (with the row divider's) mutation set, with the reason.
const SOFTMAX_SURVIVORS: &[(&str, &str)] = &[
    (
        "const ROWMAX_T = ROWMAX[TW-1:0] + 1",
        "not exercised: the refusal of T > ROWMAX (the harness runs valid jobs)",
    ),
    (
        "const ROWMAX_T = ROWMAX[TW-1:0] - 1",
        "not exercised: as above (no row of ROWMAX keys)",
    ),
    (
        "(row_len <= ROWMAX_T) -> (row_len < ROWMAX_T)",
        "not exercised: as above",
    ),
    (
        "const 1'b0 flipped in `wire          sizes_ok",
        "not exercised: the refusal of T = 0 or rows = 0",
    ),
    (
        "end else done <= 1'b1;",
        "not exercised: the done pulse of a refused job",
    ),
    (
        "const DSAT = 34'd21504 + 1",
        "equivalent: every delta above 20 2^EF gives e = 0 (docs/arithmetic.md, U6)",
    ),
    ("const DSAT = 34'd21504 - 1", "equivalent: as above"),
    (
        "const S_IDLE = 3'd0 - 1",
        "equivalent: state 7 is an unused encoding, so IDLE stays distinct",
    ),
    (
        "const S_FLUSH = 3'd5 + 1",
        "equivalent: state 6 is an unused encoding",
    ),
    (
        "const 13'd0 -> 13'h1 in `else if (wb)",
        "equivalent: the bits above e in the buffer are never read after EXP",
    ),
    (
        "const 13'd0 -> 13'h1fff in `else if (wb)",
        "equivalent: as above",
    ),
    (
        "const 33'd0 -> 33'h1 in `wire          rc_start",
        "equivalent: S is 0 or at least 2^20",
    ),
    (
        "const 33'd0 -> 33'h1ffffffff in `wire          rc_start",
        "equivalent: as above",
    ),
    (
        "const 33'd0 -> 33'h1 in `S_EXP: if (ex_drained)",
        "equivalent: S is 0 or at least 2^20",
    ),
    (
        "const 33'd0 -> 33'h1ffffffff in `S_EXP: if (ex_drained)",
        "equivalent: as above",
    ),
    (
        ".start(rc_start), .d({ s_q, 1'b0 })",
        "the reciprocal of 2S + 1 keeps the estimate within one of the quotient, which the \
         correction step repairs (no vector makes it overshoot)",
    ),
    (
        ".d({ s_q, 1'b0 }), .out_valid(q_v[u])",
        "not killed: the correction with d = 2S + 1 differs only when (e 2^17 + S) mod 2S is below \
         p, which no row of these vectors reaches",
    ),
    (
        "const 17'd0 -> 17'h1 in `wire [50:0] n",
        "not killed: N + 1 changes p only when e 2^17 + S + 1 is a multiple of 2S",
    ),
    (
        "const 33'd0 -> 33'h1 in `s_q <= 33'd0;`",
        "not killed: S + 1 changes p only at exact division boundaries",
    ),
    (
        "const 1'b0 flipped in `busy <= 1'b0;`",
        "equivalent: busy is high only from reset to the first start, which sets it anyway",
    ),
    (
        "const 1'b0 flipped in `done <= 1'b0;`",
        "equivalent: a done during reset is cleared in the first cycle after it",
    ),
    (
        "(bmax > vmax_q) -> (bmax >= vmax_q)",
        "equivalent: an equal maximum is the same maximum",
    ),
    (
        "const 1'b0 flipped in `x1_v_q <= 1'b0;`",
        "equivalent: a stale EXP valid outside EXP writes nothing and adds nothing",
    ),
    (
        "const 1'b0 flipped in `x2_v_q <= 1'b0;`",
        "equivalent: as above",
    ),
    (
        "const 1'b0 flipped in `l_c = {KW{1'b0}};`",
        "equivalent: as in repq_rowdiv (d >= 1)",
    ),
    (
        "const 1'b0 flipped in `wire [DW:0]   p2",
        "killed by rowdiv_equals_the_model_and_kills_its_mutants (edge divisors); the softmax \
         rows' divisors 2S do not reach it",
    ),
];
