//! Functional checks of the generated RTL against the reference units of src/arith: every test
//! writes its vectors, computed by `Requant::apply`, `LogCodeParams::code`, `attention_value` and
//! `MatmulJob::expected` (`matmul_acc` + `Requant::apply`), as a unit-mode golden directory
//! (docs/golden-vectors.md) and runs a golden-vector harness of sim/ on it (built with
//! `repq_hw::verify::build_harness_with`), which compares every element bit for bit under random
//! stalls and a reset in mid-run. Skipped with a notice when Verilator is not installed.

mod rtl_common;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use repq_hw::arith::{LogCode, LogCodeParams, Requant, attention_value};
use repq_hw::golden::{GoldenFile, signed, unsigned};
use repq_hw::perf::av_cycles;
use repq_hw::rtl::streams::{MatmulJob, raw_accumulator_requant};
use repq_hw::rtl::{Design, GenConfig, PeShape, bound};
use repq_hw::verify::Harness;
use rtl_common::*;

fn cfg(pe: &str, w: u32, a: u32, m_tile: u32) -> GenConfig {
    let mut c = GenConfig::new(pe.parse::<PeShape>().unwrap());
    c.wbits = w;
    c.abits = a;
    c.m_tile = m_tile;
    c
}

#[test]
fn requant_unit_equals_requant_apply() {
    if !have("verilator") {
        return;
    }
    // Full reference domain at ACC = 32 (any lo, hi, zero point in i32, 32-bit output), and a
    // narrow accumulator (ACC = 14: the product needs no upper pieces).
    let dir = scratch("sim_requant");
    generate_incremental(&cfg("4x4", 8, 8, 256), &dir.join("rtl"));
    for acc_bits in [32u32, 14] {
        requant_case(&dir, acc_bits);
    }
}

fn requant_case(dir: &std::path::Path, acc_bits: u32) {
    const LANES: i64 = 4;
    let mut rng = StdRng::seed_from_u64(0x5eed_0002 + u64::from(acc_bits));
    let amin = -(1i64 << (acc_bits - 1));
    let amax = (1i64 << (acc_bits - 1)) - 1;
    let mut cases: Vec<(i64, Requant)> = Vec::new();
    let extreme_acc = [amin, amax, -1, 0, 1, amin / 2, amax / 2];
    let extreme_m0 = [0u32, 1 << 30, (1 << 31) - 1, 1, 0xffff, 0x1_0000];
    let extreme_shift = [1u32, 2, 31, 32, 61, 62];
    for &acc in &extreme_acc {
        for &m0 in &extreme_m0 {
            for &shift in &extreme_shift {
                for (zp, lo, hi) in [(0, i32::MIN, i32::MAX), (3, 0, 15), (-7, -128, 127)] {
                    cases.push((
                        acc,
                        Requant {
                            m0,
                            shift,
                            zero_point: zp,
                            lo,
                            hi,
                        },
                    ));
                }
            }
        }
    }
    for _ in 0..20_000 {
        let acc = match rng.random_range(0..3) {
            0 => rng.random_range(amin..=amax),
            1 => rng.random_range(-1000i64..=1000),
            _ => rng.random_range(amin >> 10..=amax >> 10) << rng.random_range(0..11),
        };
        let m0 = if rng.random_range(0..8) == 0 {
            rng.random_range(0..(1u32 << 31))
        } else {
            rng.random_range((1u32 << 30)..(1u32 << 31))
        };
        let shift = rng.random_range(1..=62);
        let (zero_point, lo, hi) = match rng.random_range(0..3) {
            0 => (rng.random_range(0..256), 0, 255),
            1 => (rng.random_range(i32::MIN..=i32::MAX), i32::MIN, i32::MAX),
            _ => {
                let a = rng.random_range(i32::MIN..=i32::MAX);
                let b = rng.random_range(i32::MIN..=i32::MAX);
                (rng.random_range(-1000..=1000), a.min(b), a.max(b))
            }
        };
        cases.push((
            acc,
            Requant {
                m0,
                shift,
                zero_point,
                lo,
                hi,
            },
        ));
    }
    // One more than a multiple of LANES: the last beat is padded.
    if cases.len() as i64 % LANES == 0 {
        cases.pop();
    }
    let n = cases.len();
    let col = |f: &dyn Fn(&(i64, Requant)) -> i64| cases.iter().map(f).collect::<Vec<i64>>();
    let files = [
        tensor("rq.acc", &[n], signed(acc_bits), &col(&|c| c.0)),
        tensor("rq.m0", &[n], unsigned(31), &col(&|c| c.1.m0.into())),
        tensor("rq.shift", &[n], unsigned(6), &col(&|c| c.1.shift.into())),
        tensor(
            "rq.zero_point",
            &[n],
            signed(32),
            &col(&|c| c.1.zero_point.into()),
        ),
        tensor("rq.lo", &[n], signed(32), &col(&|c| c.1.lo.into())),
        tensor("rq.hi", &[n], signed(32), &col(&|c| c.1.hi.into())),
        tensor("rq.out", &[n], signed(32), &col(&|c| c.1.apply(c.0).into())),
    ];
    let golden = dir.join(format!("golden_acc{acc_bits}"));
    write_golden(&golden, "rtl_sim requant_unit_equals_requant_apply", &files);
    let exe = build(
        &dir.join("rtl"),
        Harness::Requant,
        &dir.join("build"),
        &[("LANES", LANES), ("ACC", acc_bits.into()), ("OBITS", 32)],
    );
    let mut args: Vec<(&str, String)> = ["acc", "m0", "shift", "zero_point", "lo", "hi", "out"]
        .into_iter()
        .map(|f| (f, format!("rq.{f}")))
        .collect();
    args.push(("seed", acc_bits.to_string()));
    let log = run_harness(&exe, &golden, &args);
    eprintln!("ACC={acc_bits}: {log}");
    assert!(log.contains(&format!("{n} outputs equal")), "{log}");
    // Bounds with lo > hi are refused when loaded (the RTL would give lo, U2's clamp hi).
    let mut cmd = std::process::Command::new(&exe);
    cmd.arg(format!("+golden={}", golden.display()));
    for (k, v) in &args {
        let v = match *k {
            "lo" => "#9".to_string(),
            "hi" => "#3".to_string(),
            _ => v.clone(),
        };
        cmd.arg(format!("+{k}={v}"));
    }
    let out = cmd.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("lo 9 > hi 3"), "{err}");
}

/// U3 over every probability 0 ..= 2^16 (and a few above) at several scales, 4 and 8 bits.
#[test]
fn logcode_unit_equals_logcode_exhaustively() {
    if !have("verilator") {
        return;
    }
    for abits in [4u32, 8] {
        let dir = scratch(&format!("sim_logcode_a{abits}"));
        generate_incremental(&cfg("4x4", 8, abits, 256), &dir.join("rtl"));
        let scales = [1.0, 0.731, 0.5, 0.25, 0.061_3, 1.3, 3.1e-4];
        let ps: Vec<u32> = (0..=65536u32).chain([65537, 98304, 131071]).collect();
        let (mut c_int, mut thresholds) = (Vec::new(), Vec::new());
        let (mut p, mut code, mut zero) = (Vec::new(), Vec::new(), Vec::new());
        for &s in &scales {
            let params = LogCodeParams::from_scale(s, abits);
            c_int.push(params.c_int);
            thresholds.extend(params.thresholds);
            for &x in &ps {
                let c: LogCode = params.code(x);
                p.push(x);
                code.push(c.code);
                zero.push(u8::from(c.zero));
            }
        }
        let shape = [scales.len(), ps.len()];
        let files = [
            tensor("lc.p", &shape, unsigned(17), &p),
            tensor("lc.c_int", &[scales.len()], signed(16), &c_int),
            tensor(
                "lc.thresholds",
                &[scales.len(), 3],
                unsigned(17),
                &thresholds,
            ),
            tensor("lc.code", &shape, unsigned(abits), &code),
            tensor("lc.zero", &shape, unsigned(1), &zero),
        ];
        let golden = dir.join("golden");
        write_golden(
            &golden,
            "rtl_sim logcode_unit_equals_logcode_exhaustively",
            &files,
        );
        let exe = build(&dir.join("rtl"), Harness::LogCode, &dir.join("build"), &[]);
        let mut args: Vec<(&str, String)> = ["p", "c_int", "thresholds", "code", "zero"]
            .into_iter()
            .map(|f| (f, format!("lc.{f}")))
            .collect();
        args.push(("stall", "5".into()));
        let log = run_harness(&exe, &golden, &args);
        eprintln!("a{abits}: {log}");
        assert!(log.contains(&format!("{} codes equal", p.len())), "{log}");
    }
}

/// U4 against `attention_value`: key counts 1 ..= 60 (the bound the accumulator is sized for),
/// F at its largest (every third case) or random, a query row of all code 0 (the largest
/// weights), one of exact zeros, value columns of all `+max` and all `-max`, and three lane
/// groups (the last one partial). Every case's stall-free cycle count equals `av_cycles`.
#[test]
fn shift_av_unit_equals_attention_value() {
    if !have("verilator") {
        return;
    }
    for (w, abits) in [(4u32, 4u32), (8, 8)] {
        let design = cfg("4x4", w, abits, 256).validate().unwrap();
        let lanes = design.cols as usize;
        let acc = design.acc_bits;
        let dir = scratch(&format!("sim_shift_av_a{abits}"));
        generate_incremental(&cfg("4x4", w, abits, 256), &dir.join("rtl"));
        let mut rng = StdRng::seed_from_u64(0x5eed_0004 + u64::from(abits));
        let vmax = (1i32 << abits) - 1;
        let (queries, cols) = (8usize, 2 * lanes + 1);
        let mut files: Vec<GoldenFile> = Vec::new();
        let mut cases = Vec::new();
        for i in 0..24 {
            let t = match i {
                0 => 1,
                1 | 5 => 60,
                2 => 2,
                _ => rng.random_range(1..=60usize),
            };
            let fmax = bound::av_fraction_bits(t as u64, abits, acc).expect("a fitting F");
            let f = if i % 3 == 0 {
                fmax
            } else {
                rng.random_range(0..=fmax)
            };
            let codes: Vec<Vec<LogCode>> = (0..queries)
                .map(|q| {
                    (0..t)
                        .map(|_| match q {
                            0 => LogCode {
                                code: 0,
                                zero: false,
                            },
                            1 => LogCode {
                                code: 0,
                                zero: true,
                            },
                            _ => LogCode {
                                code: rng.random_range(0..(1u32 << abits)),
                                zero: rng.random_range(0..10) == 0,
                            },
                        })
                        .collect()
                })
                .collect();
            // values[n][j]: column n's operand of key j.
            let values: Vec<Vec<i32>> = (0..cols)
                .map(|n| {
                    (0..t)
                        .map(|_| match n % 5 {
                            0 => vmax,
                            1 => -vmax,
                            _ => rng.random_range(-vmax..=vmax),
                        })
                        .collect()
                })
                .collect();
            let out: Vec<i64> = (0..queries * cols)
                .map(|x| attention_value(&codes[x / cols], &values[x % cols], f))
                .collect();
            let code: Vec<u32> = codes.iter().flatten().map(|c| c.code).collect();
            let zero: Vec<u8> = codes.iter().flatten().map(|c| u8::from(c.zero)).collect();
            let v: Vec<i32> = (0..t * cols).map(|x| values[x % cols][x / cols]).collect();
            let p = format!("av{i}");
            files.extend([
                tensor(&format!("{p}.code"), &[queries, t], unsigned(abits), &code),
                tensor(&format!("{p}.zero"), &[queries, t], unsigned(1), &zero),
                tensor(&format!("{p}.v"), &[t, cols], signed(abits + 1), &v),
                tensor(&format!("{p}.f"), &[1], unsigned(5), &[f]),
                tensor(&format!("{p}.out"), &[queries, cols], signed(acc), &out),
            ]);
            cases.push((p, t, f));
        }
        let golden = dir.join("golden");
        write_golden(
            &golden,
            "rtl_sim shift_av_unit_equals_attention_value",
            &files,
        );
        let exe = build(&dir.join("rtl"), Harness::ShiftAv, &dir.join("build"), &[]);
        for (i, (p, t, f)) in cases.iter().enumerate() {
            let mut args: Vec<(&str, String)> = ["code", "zero", "v", "f", "out"]
                .into_iter()
                .map(|a| (a, format!("{p}.{a}")))
                .collect();
            args.push(("seed", i.to_string()));
            let log = run_harness(&exe, &golden, &args);
            eprintln!("w{w}a{abits} {p} (T={t}, F={f}): {log}");
            assert!(
                log.contains(&format!("{} outputs equal", queries * cols)),
                "{log}"
            );
            let model = av_cycles(&design, queries as u64, *t as u64, cols as u64);
            assert_eq!(
                stall_free_cycles(&log),
                Some(model),
                "w{w}a{abits} {p}: stall-free cycles vs av_cycles"
            );
        }
    }
}

/// A random job whose accumulators fit and whose outputs spread over the output range (the code
/// range, or with `--out-bits` the signed lane range: [`signed_requant`]), with some all-maximum
/// rows and extreme operands.
fn random_job(rng: &mut StdRng, m: usize, k: usize, n: usize, d: &Design) -> MatmulJob {
    let (wbits, abits, acc_bits) = (d.wbits, d.abits, d.acc_bits);
    let amax = (1u32 << abits) - 1;
    let wmax = (1i32 << wbits) - 1;
    let a: Vec<u8> = (0..m * k)
        .map(|i| {
            if (i / k) % 5 == 1 {
                amax as u8
            } else {
                rng.random_range(0..=amax) as u8
            }
        })
        .collect();
    let w: Vec<i32> = (0..k * n)
        .map(|i| match i % 11 {
            0 => wmax,
            1 => -wmax,
            _ => rng.random_range(-wmax..=wmax),
        })
        .collect();
    // Typical |acc| of random codes: sqrt(K) * amax * wmax / 3; outputs spread around the zero point.
    let span = (k as f64) * f64::from(amax) * f64::from(wmax);
    let std = (k as f64).sqrt() * f64::from(amax) * f64::from(wmax) / 3.0;
    let big = ((1i64 << (acc_bits - 1)) - 1 - span as i64).max(0);
    let bias: Vec<i64> = (0..n)
        .map(|c| match c % 7 {
            5 => big,
            6 => -big,
            _ => rng.random_range(-(std as i64)..=std as i64),
        })
        .collect();
    let requant = (0..n)
        .map(|c| {
            if d.out_signed() {
                return signed_requant(rng, d, std, c);
            }
            let mult = f64::from(amax) / (4.0 * std) * rng.random_range(0.5..2.0);
            let zp = rng.random_range(0..=amax as i32);
            let mut r = Requant::to_codes(mult, zp, abits, "test").unwrap();
            if rng.random_range(0..4) == 0 {
                r.lo = rng.random_range(0..=amax as i32 / 2);
                r.hi = rng.random_range(r.lo..=amax as i32);
            }
            r
        })
        .collect();
    MatmulJob {
        m,
        k,
        n,
        a,
        a_bits: abits,
        w,
        bias,
        requant,
    }
}

/// Column `col`'s requantization on signed output lanes (docs/arithmetic.md, U2 targets), for
/// accumulators of standard deviation about `std`: raw accumulators (s32 lanes; the full lane
/// range at unit-ish gain otherwise, as for the GELU index), the full lane range with frequent
/// saturation (residual increments), activation codes, and random signed clamps and zero points.
fn signed_requant(rng: &mut StdRng, d: &Design, std: f64, col: usize) -> Requant {
    let (omin, omax) = d.out_range();
    let (omin, omax) = (omin as i32, omax as i32);
    let amax = (1i32 << d.abits) - 1;
    let gain = |rng: &mut StdRng, target: f64| target / (4.0 * std) * rng.random_range(0.5..2.0);
    let with = |mult: f64, zero_point: i32, lo: i32, hi: i32| {
        let (m0, shift) = Requant::multiplier(mult, "test").unwrap();
        Requant {
            m0,
            shift,
            zero_point,
            lo,
            hi,
        }
    };
    match col % 5 {
        0 if d.out_lane_bits() == 32 => raw_accumulator_requant(),
        0 => with(gain(rng, f64::from(omax)), 0, omin, omax),
        1 => with(gain(rng, 2.0 * f64::from(omax)), 0, omin, omax),
        2 => {
            let zp = rng.random_range(0..=amax);
            Requant::to_codes(gain(rng, f64::from(amax)), zp, d.abits, "test").unwrap()
        }
        3 => {
            let zp = rng.random_range(omin / 2..=omax / 2);
            let lo = rng.random_range(omin..=0);
            let hi = rng.random_range(0..=omax);
            with(gain(rng, f64::from(omax)), zp, lo, hi)
        }
        _ => {
            let zp = rng.random_range(omin / 4..=omax / 4);
            let lo = rng.random_range(omin..=omax);
            let hi = rng.random_range(lo..=omax);
            with(gain(rng, f64::from(omax) / 2.0), zp, lo, hi)
        }
    }
}

/// A job that drives the accumulators to the ends of s32 (needs `--acc-bits 32`, `--out-bits 32`,
/// M >= 2, N >= 4): column 0 reaches 2^31 - 1 and column 1 -2^31 on the all-maximum rows, both
/// leaving through the raw-accumulator requantization, as does column 2; column 3 saturates
/// (gain 2^30) to the s32 clamp bounds.
fn extreme_job(rng: &mut StdRng, m: usize, k: usize, n: usize, d: &Design) -> MatmulJob {
    assert!(d.acc_bits == 32 && d.out_lane_bits() == 32 && m >= 2 && n >= 4);
    let mut job = random_job(rng, m, k, n, d);
    let amax = (1i64 << d.abits) - 1;
    let wmax = (1i32 << d.wbits) - 1;
    let reach = k as i64 * amax * i64::from(wmax);
    for kk in 0..k {
        job.w[kk * n] = wmax;
        job.w[kk * n + 1] = -wmax;
    }
    job.bias[0] = i64::from(i32::MAX) - reach;
    job.bias[1] = i64::from(i32::MIN) + reach;
    job.bias[2] = 0;
    for c in 0..3 {
        job.requant[c] = raw_accumulator_requant();
    }
    job.requant[3] = Requant {
        m0: (1 << 31) - 1,
        shift: 1,
        zero_point: 0,
        lo: i32::MIN,
        hi: i32::MAX,
    };
    let out = job.expected();
    for want in [i32::MAX, i32::MIN] {
        assert!(out.contains(&want), "the extreme job does not reach {want}");
    }
    job
}

/// What makes job `i` of a run: `(rng, i, m, k, n, design)`.
type JobMaker = dyn Fn(&mut StdRng, usize, usize, usize, usize, &Design) -> MatmulJob;

/// Runs random jobs of these sizes through `repq_top` (sim/top.cpp); returns each job's cycle
/// count without stalls.
fn run_top(name: &str, c: &GenConfig, jobs: &[(usize, usize, usize)], seed: u64) -> Vec<u64> {
    run_top_with(name, c, jobs, seed, &|rng, _, m, k, n, d| {
        random_job(rng, m, k, n, d)
    })
}

fn run_top_with(
    name: &str,
    c: &GenConfig,
    jobs: &[(usize, usize, usize)],
    seed: u64,
    make: &JobMaker,
) -> Vec<u64> {
    let design = c.validate().unwrap();
    let dir = scratch(name);
    generate_incremental(c, &dir.join("rtl"));
    let exe = build(&dir.join("rtl"), Harness::Top, &dir.join("build"), &[]);
    let mut rng = StdRng::seed_from_u64(seed);
    // Every output value seen, to check that signed lanes carry more than codes.
    let mut seen: Vec<i32> = Vec::new();
    let mut files = Vec::new();
    for (i, &(m, k, n)) in jobs.iter().enumerate() {
        let job = make(&mut rng, i, m, k, n, &design);
        seen.extend(job.expected());
        let mut distinct = job.expected();
        distinct.sort_unstable();
        distinct.dedup();
        assert!(
            distinct.len() as u32 >= ((m * n) as u32 / 4).min(1 << design.abits) / 2,
            "{name} job {i}: too few distinct outputs {distinct:?}"
        );
        files.extend(top_job_files(&format!("job{i}"), &design, &job));
    }
    let golden = dir.join("golden");
    write_golden(&golden, &format!("rtl_sim {name}"), &files);
    let mut cycles = Vec::new();
    for (i, &(m, k, n)) in jobs.iter().enumerate() {
        let mut args = top_job_args(&format!("job{i}"));
        args.extend([
            ("seed", (seed + i as u64).to_string()),
            ("jobs", "2".into()),
        ]);
        let log = run_harness(&exe, &golden, &args);
        eprintln!("{name} job {i}: {log}");
        assert!(
            log.contains(&format!("{} output elements equal", m * n)),
            "{log}"
        );
        assert!(log.contains("and a single-threaded job"), "{log}");
        let ideal = stall_free_cycles(&log)
            .unwrap_or_else(|| panic!("{name} job {i}: no cycle count in {log}"));
        cycles.push(ideal);
        if k <= design.rows as usize && n <= design.cols as usize {
            // One pass: the first output row is the first activation row's, after exactly the
            // latency the design states.
            assert!(
                log.contains(&format!("first-row latency {}\n", design.output_latency())),
                "{name} job {i}: latency differs from Design::output_latency() = {}: {log}",
                design.output_latency()
            );
        }
    }
    if design.out_signed() {
        // Signed lanes: negative values, values past the code range, and both saturation bounds.
        let (lo, hi) = design.out_range();
        let amax = (1i32 << design.abits) - 1;
        assert!(seen.iter().any(|&v| v < 0), "{name}: no negative output");
        assert!(
            seen.iter().any(|&v| v > amax),
            "{name}: no output past u{}",
            design.abits
        );
        for bound in [lo, hi] {
            assert!(
                seen.contains(&(bound as i32)),
                "{name}: no output at the lane bound {bound}"
            );
        }
    }
    cycles
}

/// Edge tiles in M, K and N (and several M tiles) on a 4x4 w4a4 array with an 8-row M tile.
#[test]
fn top_tiled_matmul_edge_tiles_4x4_w4a4() {
    if !have("verilator") {
        return;
    }
    let _ = run_top(
        "sim_top_4x4_w4a4",
        &cfg("4x4", 4, 4, 8),
        &[(13, 10, 7), (1, 1, 1), (8, 4, 4), (3, 17, 9)],
        0x5eed_0100,
    );
}

/// A non-square, mixed-width array (3x5, w8a4) with a short M tile, the demo's fc2 depth, and one
/// shared requantization lane (an output row every 5 cycles).
#[test]
fn top_tiled_matmul_3x5_w8a4_one_requant_lane() {
    if !have("verilator") {
        return;
    }
    let _ = run_top(
        "sim_top_3x5_w8a4_u1",
        &GenConfig {
            requant_lanes: Some(1),
            ..cfg("3x5", 8, 4, 4)
        },
        &[(9, 7, 12), (50, 384, 6)],
        0x5eed_0200,
    );
}

/// The demo model's shapes on an 8x4 w8a8 array with two requantization lanes: fc1-like
/// (50 x 96 x 40) and attention-score-like (50 x 24 x 50) jobs.
#[test]
fn top_tiled_matmul_8x4_w8a8_two_requant_lanes() {
    if !have("verilator") {
        return;
    }
    let _ = run_top(
        "sim_top_8x4_w8a8_u2",
        &GenConfig {
            requant_lanes: Some(2),
            ..cfg("8x4", 8, 8, 256)
        },
        &[(50, 96, 40), (50, 24, 50), (5, 3, 3)],
        0x5eed_0300,
    );
}

/// The degenerate 1x1 array (one PE, one column, two-row M tile).
#[test]
fn top_tiled_matmul_1x1_w6a6() {
    if !have("verilator") {
        return;
    }
    let _ = run_top(
        "sim_top_1x1_w6a6",
        &cfg("1x1", 6, 6, 2),
        &[(5, 3, 2), (1, 1, 1)],
        0x5eed_0400,
    );
}

/// `--out-bits 32` with a 32-bit accumulator on a 4x4 w8a8 array with two shared requantization
/// lanes: signed s32 output lanes and clamps, accumulators at the ends of s32 leaving raw through
/// the identity requantization (job 0), attention-score-like jobs whose every column is raw
/// accumulators (Q K^T, job 2), and edge tiles in M, K and N with an 8-row M tile.
#[test]
fn top_out_bits_32_raw_accumulators_acc32_4x4_w8a8() {
    if !have("verilator") {
        return;
    }
    run_top_with(
        "sim_top_4x4_w8a8_acc32_o32_u2",
        &GenConfig {
            acc_bits: Some(32),
            out_bits: Some(32),
            requant_lanes: Some(2),
            ..cfg("4x4", 8, 8, 8)
        },
        &[(9, 384, 6), (13, 10, 7), (50, 24, 9), (1, 1, 1), (3, 4, 4)],
        0x5eed_0500,
        &|rng, i, m, k, n, d| match i {
            0 => extreme_job(rng, m, k, n, d),
            2 => {
                let mut job = random_job(rng, m, k, n, d);
                job.requant = vec![raw_accumulator_requant(); n];
                job
            }
            _ => random_job(rng, m, k, n, d),
        },
    );
}

/// `--out-bits 16` on a 5x3 w8a8 array: GELU-index-like clamps -32768 ..= 32767 (zero point 0)
/// mixed with activation codes and random signed clamps, edge tiles in M, K and N (a 4-row M
/// tile), an fc1-like job and a single pass checking the latency. The same jobs sizes on the
/// default (u8 code lanes) twin take exactly as many cycles: the lane width leaves the timing be.
#[test]
fn top_out_bits_16_gelu_index_5x3_w8a8() {
    if !have("verilator") {
        return;
    }
    let sizes = [(11, 13, 8), (50, 96, 7), (3, 5, 3), (1, 1, 1)];
    let base = cfg("5x3", 8, 8, 4);
    let wide = run_top(
        "sim_top_5x3_w8a8_o16",
        &GenConfig {
            out_bits: Some(16),
            ..base.clone()
        },
        &sizes,
        0x5eed_0600,
    );
    let codes = run_top("sim_top_5x3_w8a8", &base, &sizes, 0x5eed_0700);
    assert_eq!(
        wide, codes,
        "cycles without stalls, --out-bits 16 vs the default"
    );
}

/// The driver contract on a 4x4 w8a8 array with the default 256-row M tile: besides the jobs on
/// concurrent streams, sim/top.cpp runs every job once more single-threaded, one stream at a
/// time in the documented order, all of a tile's activation beats before its first output beat.
/// M tiles of more rows than the issue-to-output latency's FIFO (33 and up) must not deadlock:
/// 32x4x4, 33x4x4, several K and N tiles (70x9x9), a full M tile and a second one (300x24x6).
#[test]
fn top_single_threaded_driver_order_4x4_w8a8() {
    if !have("verilator") {
        return;
    }
    let c = cfg("4x4", 8, 8, 256);
    let d = c.validate().unwrap();
    assert!(d.fifo_depth >= d.m_tile, "{} < {}", d.fifo_depth, d.m_tile);
    let _ = run_top(
        "sim_top_4x4_w8a8",
        &c,
        &[(33, 4, 4), (32, 4, 4), (70, 9, 9), (300, 24, 6)],
        0x5eed_0800,
    );
}
