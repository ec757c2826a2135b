//! The mutant-schemata runs of the units-after-the-array tests (tests/rtl_units.rs,
//! tests/swin_rtl_units.rs): a schematized Verilator build of one unit, its runs with no mutant
//! (two seeds, the modelled stall-free cycle count) and with every mutant, and the survivors'
//! check against the listed ones.

use std::path::{Path, PathBuf};
use std::process::Command;

use repq_hw::arith::LayerNormParams;
use repq_hw::golden::random::{RandomSpec, generate as random_vectors};
use repq_hw::golden::{GoldenFile, signed, unsigned};
use repq_hw::rtl::{Design, GenConfig, PeShape};
use repq_hw::verify::Harness;

use super::mutate::{Mutant, Rounding, schematize};
use super::{build, generate_incremental, scratch, stall_free_cycles, tensor};

/// 4x4 w8a8, s32 accumulators, s32 output lanes (the increments and indices of the real model),
/// 8-row M tiles (several M tiles on small shapes).
pub fn config() -> GenConfig {
    GenConfig {
        acc_bits: Some(32),
        out_bits: Some(32),
        m_tile: 8,
        ..GenConfig::new(PeShape { rows: 4, cols: 4 })
    }
}

/// One harness run: (plusargs, the cycle model's count for its stall-free run).
pub struct Run {
    pub args: Vec<(&'static str, String)>,
    pub cycles: u64,
}

/// A schematized build of one unit: the executable and the mutants.
pub struct Build {
    pub exe: PathBuf,
    pub mutants: Vec<Mutant>,
}

/// Generates `cfg`, schematizes `files` of it (with the rounding addends `rounding`) into
/// `DIR/rtl_mut`, and builds `h` there with the parameter overrides `params`.
pub fn schemata_build(
    name: &str,
    cfg: &GenConfig,
    h: Harness,
    files: &[&str],
    rounding: &[Rounding],
    params: &[(&str, i64)],
) -> (Build, Design, PathBuf) {
    let dir = scratch(&format!("units_{name}"));
    let d = generate_incremental(cfg, &dir.join("rtl"));
    let texts: Vec<(String, String)> = files
        .iter()
        .map(|f| {
            (
                f.to_string(),
                std::fs::read_to_string(dir.join("rtl").join(f)).unwrap(),
            )
        })
        .collect();
    let refs: Vec<(&str, &str)> = texts
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let s = schematize(&refs, rounding);
    let m = dir.join("rtl_mut");
    std::fs::create_dir_all(&m).unwrap();
    for e in std::fs::read_dir(dir.join("rtl")).unwrap() {
        let e = e.unwrap();
        let text = match s.files.iter().find(|(n, _)| **n == *e.file_name()) {
            Some((_, t)) => t.clone(),
            None => std::fs::read_to_string(e.path()).unwrap(),
        };
        let p = m.join(e.file_name());
        if std::fs::read_to_string(&p).ok().as_deref() != Some(text.as_str()) {
            std::fs::write(&p, text).unwrap();
        }
    }
    let exe = build(&m, h, &dir.join("build"), params);
    (
        Build {
            exe,
            mutants: s.mutants,
        },
        d,
        dir,
    )
}

/// Runs `exe` on `golden` with `run`'s plusargs and mutant `mutant`; Ok(stdout) or Err(report).
pub fn run_once(
    exe: &Path,
    golden: &Path,
    run: &Run,
    mutant: u32,
    seed: u64,
) -> Result<String, String> {
    let mut cmd = Command::new(exe);
    cmd.arg(format!("+golden={}", golden.display()))
        .arg(format!("+mutant={mutant}"))
        .arg(format!("+seed={seed}"))
        .arg(format!("+verilator+seed+{seed}"))
        .arg("+verilator+rand+reset+2");
    for (k, v) in &run.args {
        cmd.arg(format!("+{k}={v}"));
    }
    let out = cmd.output().map_err(|e| e.to_string())?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    match out.status.code() {
        Some(0) => Ok(stdout),
        Some(2) | Some(3) => panic!("bad vectors or arguments for {exe:?}: {stderr}"),
        _ => Err(format!(
            "{}: {}",
            out.status,
            stderr.lines().next().unwrap_or("")
        )),
    }
}

/// Every run passes without a mutant (two seeds), with the modelled stall-free cycle count;
/// then every mutant must fail some run. Returns the survivors' descriptions.
pub fn check_unit(name: &str, b: &Build, golden: &Path, runs: &[Run]) -> Vec<String> {
    for r in runs {
        for seed in [1, 2] {
            let log = run_once(&b.exe, golden, r, 0, seed)
                .unwrap_or_else(|e| panic!("{name} {:?} (no mutant): {e}", r.args));
            eprintln!("{name}: {}", log.trim());
            assert!(log.contains("elements compared"), "{log}");
            assert_eq!(
                stall_free_cycles(&log),
                Some(r.cycles),
                "{name} {:?}: the cycle model says {}, the RTL: {log}",
                r.args,
                r.cycles
            );
        }
    }
    let mut survivors = Vec::new();
    let mut killed = 0;
    for m in &b.mutants {
        let dead = runs
            .iter()
            .any(|r| run_once(&b.exe, golden, r, m.id, 1).is_err());
        if dead {
            killed += 1;
        } else {
            survivors.push(format!(
                "{}:{} {} {} in `{}`",
                m.file, m.line, m.kind, m.what, m.code
            ));
        }
    }
    eprintln!(
        "MUTATION {name}: {} mutants, {killed} killed, {} survived",
        b.mutants.len(),
        survivors.len()
    );
    for s in &survivors {
        eprintln!("  survivor {s}");
    }
    survivors
}

/// The random vectors of `repq-hw golden --random` for `shape` (the units' tensors among them).
pub fn random_files(d: &Design, seed: u64, shape: [usize; 3]) -> Vec<GoldenFile> {
    let spec = RandomSpec {
        seed,
        shape,
        wbits: d.wbits,
        abits: d.abits,
        acc_bits: d.acc_bits,
    };
    random_vectors(&spec).unwrap().0
}

/// Survivors must be exactly `expected` (a substring of each survivor's description, with the
/// reason it survives).
pub fn assert_survivors(name: &str, got: &[String], expected: &[(&str, &str)]) {
    let unexplained: Vec<&String> = got
        .iter()
        .filter(|s| !expected.iter().any(|(e, _)| s.contains(e)))
        .collect();
    let stale: Vec<&str> = expected
        .iter()
        .filter(|(e, _)| !got.iter().any(|s| s.contains(e)))
        .map(|(e, _)| *e)
        .collect();
    assert!(
        unexplained.is_empty() && stale.is_empty(),
        "{name}: unexplained survivors {unexplained:#?}; listed survivors that were killed {stale:?}"
    );
}

/// The golden tensors `{p}.*` of LayerNorm layers (`x`, `g`, `b`, `eps_q`, `lo`, `hi`, `out`):
/// U5's codes (`u8`), or with `resid` U5r's `s32` values ([`LayerNormParams::apply_residual`]).
pub fn layernorm_tensors(
    p: &str,
    layers: &[(LayerNormParams, Vec<Vec<i32>>)],
    resid: bool,
) -> Vec<GoldenFile> {
    let (n, r, d) = (layers.len(), layers[0].1.len(), layers[0].0.dim());
    let (mut x, mut out, mut g, mut b) = (vec![], vec![], vec![], vec![]);
    let (mut e, mut lo, mut hi) = (vec![], vec![], vec![]);
    for (ln, rows) in layers {
        assert_eq!((rows.len(), ln.dim()), (r, d));
        for row in rows {
            if resid {
                let mut y = vec![0i32; d];
                ln.apply_residual(row, &mut y);
                out.extend(y.iter().map(|&v| i64::from(v)));
            } else {
                let mut y = vec![0u8; d];
                ln.apply(row, &mut y);
                out.extend(y.iter().map(|&v| i64::from(v)));
            }
            x.extend(row.iter().copied());
        }
        g.extend(ln.g.iter().copied());
        b.extend(ln.b.iter().copied());
        e.push(ln.eps_q);
        lo.push(ln.lo);
        hi.push(ln.hi);
    }
    let ty = if resid { signed(32) } else { unsigned(8) };
    vec![
        tensor(&format!("{p}.x"), &[n, r, d], signed(32), &x),
        tensor(&format!("{p}.g"), &[n, d], signed(32), &g),
        tensor(&format!("{p}.b"), &[n, d], signed(48), &b),
        tensor(&format!("{p}.eps_q"), &[n], unsigned(64), &e),
        tensor(&format!("{p}.lo"), &[n], ty, &lo),
        tensor(&format!("{p}.hi"), &[n], ty, &hi),
        tensor(&format!("{p}.out"), &[n, r, d], ty, &out),
    ]
}

/// Layers of two channels whose rows put `n` where one LSB moves a code (`G = 2^24`, `B` such
/// that the exact `n` gives code 100): `r = 1` (`E = 0`, `n = +-2^16`, a numerator one below a
/// multiple of `2r`), `r = 2^17` with `Q + E = 2^34` a perfect square and `n = -1` exactly, and
/// `k = 1` rows whose `E` sits at (and one below) the rounding tie of `E_k` with `Q + E_k` a
/// perfect square. A layer of four channels (`D = C`): constant rows (`r = 0`) with `B` at a
/// rounding tie of the output and one below.
/// With `resid`, the same layers for U5r: the clamp is the whole `s32` range and the outputs
/// are `s32` values (100 where the codes are 100).
pub fn layernorm_edge_layers(resid: bool) -> Vec<GoldenFile> {
    let (lo, hi) = if resid {
        (i32::MIN, i32::MAX)
    } else {
        (0, 255)
    };
    use repq_hw::arith::layernorm::{RowStep, div_round, isqrt};
    let n_of = |row: &[i32], eps: u64| -> Vec<i64> {
        let st = RowStep::new(row, eps);
        row.iter()
            .map(|&v| {
                if st.r == 0 {
                    0
                } else {
                    div_round(i128::from(st.deviation(row.len(), v)) << 16, st.r.into()) as i64
                }
            })
            .collect()
    };
    let layer = |row: Vec<i32>, eps: u64| {
        let n = n_of(&row, eps);
        let ln = LayerNormParams {
            eps_q: eps,
            g: vec![1 << 24; 2],
            b: n.iter().map(|&n| (100 - n) << 24).collect(),
            lo,
            hi,
        };
        (ln, vec![row])
    };
    // k = 1, t = +-2^16, Q = 2^33: the first root s > isqrt(Q) + 1 at which n moves when r
    // does, and E_k = s^2 - Q (E = 4 E_k - 2 rounds up to it, 4 E_k - 3 does not).
    let q = u128::from(RowStep::new(&[0, 1 << 17], 0).q);
    let n_at = |r: u128| div_round(1i128 << 32, r as i128);
    let s = (isqrt(q) + 2..).find(|&s| n_at(s) != n_at(s - 1)).unwrap();
    let ek = (s * s - q) as u64;
    let mut files = layernorm_tensors(
        "c2",
        &[
            layer(vec![0, 1], 0),
            layer(vec![0, 3], (1 << 34) - 18),
            layer(vec![0, 1 << 17], 4 * ek - 2),
            layer(vec![0, 1 << 17], 4 * ek - 3),
        ],
        resid,
    );
    let ties = LayerNormParams {
        eps_q: 0,
        g: vec![1 << 20; 4],
        b: vec![
            (100 << 24) + (1 << 23),
            (100 << 24) + (1 << 23) - 1,
            7 << 24,
            0,
        ],
        lo,
        hi,
    };
    files.extend(layernorm_tensors(
        "t4",
        &[(ties, vec![vec![5; 4], vec![i32::MIN; 4]])],
        resid,
    ));
    files
}
