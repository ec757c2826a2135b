//! Runs the cases of a golden directory on a generated design.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::error::{Error, Result};
use crate::golden::GoldenDir;
use crate::perf::{
    av_cycles, av_requant_cycles, gelu_cycles, job_cycles, layernorm_cycles, residual_cycles,
};

use super::build::{Harness, build_harness_checked, verilator_available};
use super::build_dir::{default_build_dir, usable_build_dir};
use super::cases::{Case, cases_for};
use super::design::RtlInfo;
use super::report::{CaseResult, Outcome, VerifyReport};

/// What to verify and how.
#[derive(Clone, Debug)]
pub struct VerifyOptions {
    /// A directory written by `repq-hw gen`.
    pub rtl: PathBuf,
    /// Directories written by `repq-hw golden` (one or more).
    pub golden: Vec<PathBuf>,
    /// Where the Verilator builds go (reused across runs); `None`: the RTL directory's own build
    /// directory in the cache ([`super::build_dir::default_build_dir`]). A directory GNU Make
    /// cannot build in (spaces, non-ASCII) is replaced by one derived from it
    /// ([`super::build_dir::usable_build_dir`]).
    pub build: Option<PathBuf>,
    /// Model mode: the transformer blocks to run.
    pub blocks: Vec<usize>,
    /// Every case runs once per seed: the stall pattern and Verilator's `+verilator+seed`
    /// (unique X values of uninitialized state and X assignments).
    pub seeds: Vec<u64>,
    /// Percent of cycles a source withholds valid / the sink withholds ready.
    pub stall: u32,
    /// Dump an FST waveform per case (first seed) into this directory.
    pub fst: Option<PathBuf>,
}

/// What [`verify`] reports while it works.
#[derive(Clone, Copy, Debug)]
pub enum Progress<'a> {
    /// The inputs are read; the harnesses the cases need are built next, in `dir`.
    Building {
        harnesses: &'a [Harness],
        dir: &'a Path,
    },
    /// One harness is ready: compiled by this run, or up to date; `seconds` it took.
    Built {
        harness: Harness,
        compiled: bool,
        seconds: f64,
    },
    /// One case ran.
    Case(&'a CaseResult),
    /// One case cannot run on this design (name, reason), decided before building.
    Skipped(&'a str, &'a str),
}

/// Builds the needed harnesses, runs every case, and returns the report (`Err` only for
/// problems before any case ran: no Verilator, unreadable inputs, a failed build).
pub fn verify(
    opts: &VerifyOptions,
    mut progress: impl FnMut(Progress<'_>),
) -> Result<VerifyReport> {
    let rtl = RtlInfo::read(&opts.rtl)?;
    let design = rtl.design(&opts.rtl)?;
    if opts.seeds.is_empty() {
        return Err(Error::Config {
            source_name: "verify".into(),
            field: "--seeds".into(),
            reason: "at least one seed is needed".into(),
        });
    }
    let (mut cases, mut skipped) = (Vec::new(), Vec::new());
    let mut golden_acc_bits = 0;
    for dir in &opts.golden {
        let abs = std::path::absolute(dir).map_err(|e| Error::io(dir, e))?;
        let g = GoldenDir::open(&abs)?;
        let m = &g.manifest;
        let acc = m.random.as_ref().map(|r| r.acc_bits);
        golden_acc_bits =
            golden_acc_bits.max(acc.or(m.model.as_ref().map(|r| r.acc_bits)).unwrap_or(0));
        check_widths(&g, &rtl, dir, &opts.rtl)?;
        let (mut c, s) = cases_for(&g, &rtl, &opts.blocks)?;
        if opts.golden.len() > 1 {
            let tag = dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            for case in &mut c {
                case.name = format!("{tag}: {}", case.name);
            }
            skipped.extend(s.into_iter().map(|(n, w)| (format!("{tag}: {n}"), w)));
        } else {
            skipped.extend(s);
        }
        cases.extend(c);
    }
    if !verilator_available() {
        return Err(Error::Tool {
            tool: "verilator".into(),
            reason: "not found on PATH; install Verilator 5 (apt-get install verilator)".into(),
        });
    }
    for (name, why) in &skipped {
        progress(Progress::Skipped(name, why));
    }
    let build_dir = match &opts.build {
        Some(b) => usable_build_dir(b)?,
        None => default_build_dir(&opts.rtl)?,
    };
    let needed: Vec<Harness> = Harness::ALL
        .into_iter()
        .filter(|&h| cases.iter().any(|c| c.harness == h))
        .collect();
    progress(Progress::Building {
        harnesses: &needed,
        dir: &build_dir,
    });
    let t0 = Instant::now();
    let mut exes = std::collections::BTreeMap::new();
    let (mut compiled, mut up_to_date) = (Vec::new(), Vec::new());
    for &h in &needed {
        let t = Instant::now();
        let b = build_harness_checked(&opts.rtl, h, &build_dir, opts.fst.is_some(), &[])?;
        progress(Progress::Built {
            harness: h,
            compiled: b.compiled,
            seconds: t.elapsed().as_secs_f64(),
        });
        if b.compiled {
            compiled.push(h);
        } else {
            up_to_date.push(h);
        }
        exes.insert(h, b.exe);
    }
    let build_seconds = t0.elapsed().as_secs_f64();
    if let Some(d) = &opts.fst {
        std::fs::create_dir_all(d).map_err(|e| Error::io(d, e))?;
    }
    let t1 = Instant::now();
    let mut results = Vec::new();
    for case in cases {
        let t = Instant::now();
        let mut outcome = Outcome::Pass { cycles: None };
        let mut elements = None;
        for (i, &seed) in opts.seeds.iter().enumerate() {
            let fst = opts
                .fst
                .as_ref()
                .filter(|_| i == 0)
                .map(|d| d.join(format!("{}.fst", file_stem(&case.name))));
            let (o, e) = run_case(
                &exes[&case.harness],
                &case,
                seed,
                opts.stall,
                fst.as_deref(),
            )?;
            elements = elements.or(e);
            let o = match (o, case.shape) {
                (Outcome::Pass { cycles: Some(c) }, Some([m, k, n])) => {
                    let (m, k, n) = (m as u64, k as u64, n as u64);
                    let (model, function) = match case.harness {
                        Harness::ShiftAv => (av_cycles(&design, m, k, n), "av_cycles"),
                        Harness::AvRequant => {
                            (av_requant_cycles(&design, m, k, n), "av_requant_cycles")
                        }
                        Harness::Gelu => (gelu_cycles(&design, m, n), "gelu_cycles"),
                        Harness::Residual => (residual_cycles(&design, m, n), "residual_cycles"),
                        Harness::LayerNorm | Harness::LayerNormResid => {
                            (layernorm_cycles(&design, m, n), "layernorm_cycles")
                        }
                        Harness::AvgPool => (
                            crate::rtl::units::avgpool_cycles(design.cols, m, n),
                            "avgpool_cycles",
                        ),
                        Harness::Softmax => (
                            crate::perf::units::softmax_cycles_with(
                                &design,
                                crate::rtl::units::SOFTMAX_LANES,
                                m,
                                n,
                                k,
                            ),
                            "softmax_cycles_with",
                        ),
                        _ => (job_cycles(&design, m, k, n), "job_cycles"),
                    };
                    if model == c {
                        Outcome::Pass { cycles: Some(c) }
                    } else {
                        Outcome::Fail(format!(
                            "the RTL took {c} cycles without stalls, the cycle model (repq-hw perf, \
                             {function}) says {model}"
                        ))
                    }
                }
                (Outcome::Pass { cycles: None }, Some(_)) => Outcome::Fail(format!(
                    "seed {seed}: the {} harness printed no stall-free cycle count",
                    case.harness.name()
                )),
                (o, _) => o,
            };
            outcome = match (outcome, o) {
                (Outcome::Pass { cycles: a }, Outcome::Pass { cycles: b }) => {
                    if a.is_some() && a != b {
                        Outcome::Fail(format!(
                            "stall-free cycle counts differ between seeds: {a:?} vs {b:?}"
                        ))
                    } else {
                        Outcome::Pass { cycles: b }
                    }
                }
                (Outcome::Pass { .. }, other) => other,
                (other, _) => other,
            };
            if !matches!(outcome, Outcome::Pass { .. }) {
                break;
            }
        }
        let r = CaseResult {
            case,
            outcome,
            seeds: opts.seeds.clone(),
            seconds: t.elapsed().as_secs_f64(),
            elements,
        };
        progress(Progress::Case(&r));
        results.push(r);
    }
    Ok(VerifyReport {
        rtl,
        rtl_dir: opts.rtl.clone(),
        golden_dirs: opts.golden.clone(),
        results,
        skipped,
        golden_acc_bits,
        build_dir,
        compiled,
        up_to_date,
        build_seconds,
        run_seconds: t1.elapsed().as_secs_f64(),
    })
}

fn file_stem(name: &str) -> String {
    name.split(' ')
        .next()
        .unwrap_or(name)
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The golden vectors' activation codes must fit the design's activation lanes: a design of
/// `A`-bit lanes runs the vectors of any model of at most `A` bits (U3 takes the model's
/// `2^abits - 1` and U7 its table at run time), not wider ones.
fn check_widths(g: &GoldenDir, rtl: &RtlInfo, dir: &Path, rtl_dir: &Path) -> Result<()> {
    let golden_abits = g.manifest.abits().unwrap_or(rtl.abits);
    if golden_abits > rtl.abits {
        return Err(Error::Invalid(format!(
            "the golden vectors in {} are for {}-bit activations but the design in {} ({}) has              {}-bit activation lanes: generate it with `--abits {}` or more",
            dir.display(),
            golden_abits,
            rtl_dir.display(),
            rtl.config,
            rtl.abits,
            golden_abits.max(8)
        )));
    }
    Ok(())
}

/// One harness run: its outcome and the output elements it says it compared.
fn run_case(
    exe: &Path,
    case: &Case,
    seed: u64,
    stall: u32,
    fst: Option<&Path>,
) -> Result<(Outcome, Option<u64>)> {
    let mut cmd = Command::new(exe);
    cmd.arg(format!("+golden={}", case.golden.display()));
    for (k, v) in &case.args {
        cmd.arg(format!("+{k}={v}"));
    }
    cmd.arg(format!("+seed={seed}"))
        .arg(format!("+stall={stall}"))
        .arg(format!("+verilator+seed+{seed}"))
        .arg("+verilator+rand+reset+2");
    if let Some(f) = fst {
        cmd.arg(format!("+fst={}", f.display()));
    }
    let out = cmd.output().map_err(|e| Error::Tool {
        tool: exe.display().to_string(),
        reason: format!("cannot run the harness: {e}"),
    })?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let first = |s: &str| {
        s.lines()
            .find(|l| !l.trim().is_empty() && !l.starts_with("note:"))
            .unwrap_or("")
            .to_string()
    };
    let elements = parse_elements(&stdout);
    let outcome = match out.status.code() {
        Some(0) => Outcome::Pass {
            cycles: parse_cycles(&stdout),
        },
        Some(3) => Outcome::Unsupported(first(&stderr)),
        Some(1) => Outcome::Fail(format!("seed {seed}: {}", first(&stderr))),
        Some(2) => {
            return Err(Error::Invalid(format!(
                "harness {} on case {}: {}",
                case.harness.name(),
                case.name,
                first(&stderr)
            )));
        }
        _ => Outcome::Fail(format!(
            "seed {seed}: harness ended with {} ({})",
            out.status,
            first(&stderr)
        )),
    };
    Ok((outcome, elements))
}

/// The element count of a harness's summary line: "N elements compared" (the harnesses of the
/// units after the array), "N output elements equal" (top), "N codes equal" (logcode), "N outputs
/// equal" (shift_av, requant).
fn parse_elements(stdout: &str) -> Option<u64> {
    [
        " elements compared",
        " output elements equal",
        " codes equal",
        " outputs equal",
    ]
    .iter()
    .find_map(|p| {
        let i = stdout.find(p)?;
        stdout[..i].rsplit(' ').next()?.parse().ok()
    })
}

/// "... N cycles without stalls ..." of the top and shift_av harnesses.
fn parse_cycles(stdout: &str) -> Option<u64> {
    let i = stdout.find(" cycles without stalls")?;
    stdout[..i].rsplit(' ').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_cycle_count() {
        assert_eq!(
            parse_cycles(
                "top 4x4: x M=1: 1 output elements equal; 150 cycles without stalls; l 4\n"
            ),
            Some(150)
        );
        assert_eq!(parse_cycles("logcode: 3 codes equal\n"), None);
        assert_eq!(parse_elements("logcode x: 3 codes equal in\n"), Some(3));
        assert_eq!(
            parse_elements("gelu x: 65536 elements compared in each of 2 runs\n"),
            Some(65536)
        );
        assert_eq!(
            parse_elements("top x: 12 output elements equal\n"),
            Some(12)
        );
        assert_eq!(parse_elements("nothing\n"), None);
    }

    #[test]
    fn waveform_names_are_file_names() {
        assert_eq!(
            file_stem("blocks.0.attn.scores[1] (Q K^T)"),
            "blocks.0.attn.scores_1_"
        );
    }
}
