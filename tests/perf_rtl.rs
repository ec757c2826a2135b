//! The cycle model of src/perf against the RTL: `job_cycles` equals the stall-free cycle count
//! the golden-vector harness of `repq_top` (sim/top.cpp) prints ("N cycles without stalls", from
//! the cycle after `start` to `done`) for many shapes on several configurations, and `av_cycles`
//! equals the stall-free count of the `repq_shift_av` harness (sim/shift_av.cpp). Every job's
//! outputs are checked by the harness as well. The vectors are unit-mode golden directories
//! (docs/golden-vectors.md). Skipped with a notice when Verilator is not installed.

mod rtl_common;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use repq_hw::arith::{LogCode, Requant, attention_value};
use repq_hw::golden::{signed, unsigned};
use repq_hw::perf::{av_cycles, job_cycles};
use repq_hw::rtl::streams::MatmulJob;
use repq_hw::rtl::{Design, GenConfig, PeShape, bound};
use repq_hw::verify::Harness;
use rtl_common::*;

fn cfg(pe: &str, w: u32, a: u32, m_tile: u32, lanes: Option<u32>) -> GenConfig {
    GenConfig {
        wbits: w,
        abits: a,
        m_tile,
        requant_lanes: lanes,
        ..GenConfig::new(pe.parse::<PeShape>().unwrap())
    }
}

/// A random job whose accumulators fit (the timing does not depend on the data; the testbench
/// checks the outputs all the same).
fn job(rng: &mut StdRng, d: &Design, m: usize, k: usize, n: usize) -> MatmulJob {
    let amax = (1i32 << d.abits) - 1;
    let wmax = (1i32 << d.wbits) - 1;
    let std = (k as f64).sqrt() * f64::from(amax) * f64::from(wmax) / 3.0;
    MatmulJob {
        m,
        k,
        n,
        a: (0..m * k)
            .map(|_| rng.random_range(0..=amax) as u8)
            .collect(),
        a_bits: d.abits,
        w: (0..k * n).map(|_| rng.random_range(-wmax..=wmax)).collect(),
        bias: (0..n)
            .map(|_| rng.random_range(-(std as i64)..=std as i64))
            .collect(),
        requant: (0..n)
            .map(|_| {
                let mult = f64::from(amax) / (4.0 * std);
                Requant::to_codes(mult, rng.random_range(0..=amax), d.abits, "perf_rtl").unwrap()
            })
            .collect(),
    }
}

/// Shapes that reach every rule of the schedule on design `d`: edge tiles in M, K and N, M below
/// and around the array latency (the accumulator read-after-write stall), M above the M tile,
/// K = 1, N = 1, several K tiles, few rows with many N tiles (parameter loads bind).
fn shapes(d: &Design) -> Vec<(usize, usize, usize)> {
    let (r, c, tm) = (d.rows as usize, d.cols as usize, d.m_tile as usize);
    let a = d.array_latency() as usize;
    vec![
        (1, 1, 1),
        (1, 3 * r + 1, 2 * c + 1),
        (a / 2, 3 * r, c),
        (a, 2 * r, c + 1),
        (a + 1, 2 * r, 1),
        (a + 2, r + 1, 2 * c - 1),
        (tm + 3, 2 * r + 1, 2 * c + 3),
        (2 * tm + 1, r, c),
        (5, 1, 3 * c + 2),
        (2, r, 5 * c),
        (r.max(c) + 3, 4 * r + 3, 1),
        (r + c, 5 * r, 2 * c),
    ]
}

/// Builds the top of `c` with Verilator and compares `job_cycles` with the harness's count
/// for [`shapes`] and `extra`.
fn check_top(name: &str, c: &GenConfig, extra: &[(usize, usize, usize)], seed: u64) {
    if !have("verilator") {
        return;
    }
    let d = c.validate().unwrap();
    let dir = scratch(name);
    generate_incremental(c, &dir.join("rtl"));
    let exe = build(&dir.join("rtl"), Harness::Top, &dir.join("build"), &[]);
    let mut rng = StdRng::seed_from_u64(seed);
    let all: Vec<_> = shapes(&d)
        .into_iter()
        .chain(extra.iter().copied())
        .collect();
    let files: Vec<_> = all
        .iter()
        .enumerate()
        .flat_map(|(i, &(m, k, n))| {
            top_job_files(&format!("job{i}"), &d, &job(&mut rng, &d, m, k, n))
        })
        .collect();
    let golden = dir.join("golden");
    write_golden(&golden, &format!("perf_rtl {name}"), &files);
    let mut wrong = Vec::new();
    for (i, &(m, k, n)) in all.iter().enumerate() {
        let mut args = top_job_args(&format!("job{i}"));
        args.extend([
            ("seed", (seed + i as u64).to_string()),
            ("jobs", "1".into()),
        ]);
        let log = run_harness(&exe, &golden, &args);
        assert!(
            log.contains(&format!("{} output elements equal", m * n)),
            "{name} {m}x{k}x{n}: {log}"
        );
        let rtl = stall_free_cycles(&log).unwrap_or_else(|| panic!("no cycle count in {log}"));
        let model = job_cycles(&d, m as u64, k as u64, n as u64);
        eprintln!("{name} {m}x{k}x{n}: RTL {rtl} cycles, model {model}");
        if rtl != model {
            wrong.push(format!("{m}x{k}x{n}: RTL {rtl}, model {model}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "{name}: job_cycles differs from the RTL:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn top_cycles_4x4_w4a4_small_m_tile() {
    check_top(
        "perf_top_4x4_w4a4",
        &cfg("4x4", 4, 4, 8, None),
        &[(40, 64, 9)],
        0x9e7f_0100,
    );
}

#[test]
fn top_cycles_8x8_w8a8() {
    check_top(
        "perf_top_8x8_w8a8",
        &cfg("8x8", 8, 8, 32, None),
        &[(50, 96, 40)],
        0x9e7f_0200,
    );
}

#[test]
fn top_cycles_4x8_w8a8_two_requant_lanes() {
    check_top(
        "perf_top_4x8_w8a8_u2",
        &cfg("4x8", 8, 8, 32, Some(2)),
        &[(50, 32, 50), (3, 9, 17)],
        0x9e7f_0300,
    );
}

#[test]
fn top_cycles_3x5_w8a4_one_requant_lane() {
    check_top(
        "perf_top_3x5_w8a4_u1",
        &cfg("3x5", 8, 4, 16, Some(1)),
        &[(7, 7, 26), (33, 10, 5)],
        0x9e7f_0400,
    );
}

#[test]
fn top_cycles_16x16_default() {
    check_top(
        "perf_top_16x16_w8a8",
        &GenConfig::new(PeShape { rows: 16, cols: 16 }),
        &[(50, 32, 50), (197, 64, 40)],
        0x9e7f_0500,
    );
}

/// `av_cycles` against the stall-free run of the shift unit's harness, for head widths below, at
/// and above the lane count (several lane groups).
#[test]
fn shift_av_cycles_match_the_rtl() {
    if !have("verilator") {
        return;
    }
    for c in [cfg("4x4", 8, 8, 256, None), cfg("3x5", 8, 4, 16, Some(1))] {
        let d = c.validate().unwrap();
        let dir = scratch(&format!("perf_shift_av_{}", d.tag()));
        generate_incremental(&c, &dir.join("rtl"));
        let exe = build(&dir.join("rtl"), Harness::ShiftAv, &dir.join("build"), &[]);
        let lanes = d.cols as usize;
        let shapes = [
            (1, 1, 1),
            (1, 7, lanes),
            (5, 1, lanes + 1),
            (50, 50, 32),
            (13, 9, 3 * lanes - 1),
        ];
        let mut rng = StdRng::seed_from_u64(0x9e7f_0600);
        let vmax = (1i32 << d.abits) - 1;
        let mut files = Vec::new();
        for (i, &(q, t, dh)) in shapes.iter().enumerate() {
            let f = bound::av_fraction_bits(t as u64, d.abits, d.acc_bits).expect("a fitting F");
            let codes: Vec<LogCode> = (0..q * t)
                .map(|_| LogCode {
                    code: rng.random_range(0..(1u32 << d.abits)),
                    zero: rng.random_range(0..10) == 0,
                })
                .collect();
            let v: Vec<i32> = (0..t * dh)
                .map(|_| rng.random_range(-vmax..=vmax))
                .collect();
            let out: Vec<i64> = (0..q * dh)
                .map(|x| {
                    let column: Vec<i32> = (0..t).map(|j| v[j * dh + x % dh]).collect();
                    attention_value(&codes[x / dh * t..][..t], &column, f)
                })
                .collect();
            let code: Vec<u32> = codes.iter().map(|c| c.code).collect();
            let zero: Vec<u8> = codes.iter().map(|c| u8::from(c.zero)).collect();
            files.extend([
                tensor(&format!("av{i}.code"), &[q, t], unsigned(d.abits), &code),
                tensor(&format!("av{i}.zero"), &[q, t], unsigned(1), &zero),
                tensor(&format!("av{i}.v"), &[t, dh], signed(d.abits + 1), &v),
                tensor(&format!("av{i}.f"), &[1], unsigned(5), &[f]),
                tensor(&format!("av{i}.out"), &[q, dh], signed(d.acc_bits), &out),
            ]);
        }
        let golden = dir.join("golden");
        write_golden(&golden, "perf_rtl shift_av_cycles_match_the_rtl", &files);
        for (i, &(q, t, dh)) in shapes.iter().enumerate() {
            let args: Vec<(&str, String)> = ["code", "zero", "v", "f", "out"]
                .into_iter()
                .map(|a| (a, format!("av{i}.{a}")))
                .collect();
            let log = run_harness(&exe, &golden, &args);
            let model = av_cycles(&d, q as u64, t as u64, dh as u64);
            eprintln!("{} A x V {q}x{t}x{dh}: {log}", d.tag());
            assert!(log.contains(&format!("{} outputs equal", q * dh)), "{log}");
            assert_eq!(
                stall_free_cycles(&log),
                Some(model),
                "{} A x V {q}x{t}x{dh}: model {model} cycles, RTL: {log}",
                d.tag()
            );
        }
    }
}
