//! Results of a verification run and their Markdown report.

use std::fmt::Write as _;
use std::path::PathBuf;

use super::build::Harness;
use super::cases::Case;
use super::design::RtlInfo;

/// How one case ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Every output element equal under every seed; `cycles`: the stall-free cycle count of a
    /// `repq_top` job or a `repq_shift_av` case (the same under every seed, and equal to the
    /// cycle model's: `perf::job_cycles`, `perf::av_cycles`).
    Pass { cycles: Option<u64> },
    /// The golden tensors do not fit the design (the harness's reason).
    Unsupported(String),
    /// A mismatch or a protocol error (the harness's report), or a harness that crashed.
    Fail(String),
}

/// One case's result.
#[derive(Clone, Debug)]
pub struct CaseResult {
    pub case: Case,
    pub outcome: Outcome,
    /// Seeds run (each: random stalls, `+verilator+seed`, a mid-run reset).
    pub seeds: Vec<u64>,
    pub seconds: f64,
    /// Output elements the harness compared (per run), when it says.
    pub elements: Option<u64>,
}

/// A whole verification run.
#[derive(Clone, Debug)]
pub struct VerifyReport {
    pub rtl: RtlInfo,
    pub rtl_dir: PathBuf,
    pub golden_dirs: Vec<PathBuf>,
    pub results: Vec<CaseResult>,
    /// Cases the design cannot run, decided before running (name, reason).
    pub skipped: Vec<(String, String)>,
    /// Where the harnesses were built.
    pub build_dir: PathBuf,
    /// Harnesses this run compiled, and those that were up to date.
    pub compiled: Vec<Harness>,
    pub up_to_date: Vec<Harness>,
    pub build_seconds: f64,
    pub run_seconds: f64,
}

impl VerifyReport {
    pub fn passed(&self) -> usize {
        self.results
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Pass { .. }))
            .count()
    }

    pub fn failed(&self) -> usize {
        self.results
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Fail(_)))
            .count()
    }

    /// Cases not run: decided up front, or refused by a harness.
    pub fn not_run(&self) -> usize {
        self.skipped.len()
            + self
                .results
                .iter()
                .filter(|r| matches!(r.outcome, Outcome::Unsupported(_)))
                .count()
    }

    /// The run succeeded: something ran, nothing failed, and (unless allowed) nothing was left out.
    pub fn ok(&self, allow_unsupported: bool) -> bool {
        self.passed() > 0 && self.failed() == 0 && (allow_unsupported || self.not_run() == 0)
    }

    /// One line per case.
    pub fn summary(&self) -> String {
        format!(
            "{} of {} cases bit-exact, {} failed, {} not runnable on {} (build {:.1} s: {} \
             compiled, {} up to date; runs {:.1} s)",
            self.passed(),
            self.results.len() + self.skipped.len(),
            self.failed(),
            self.not_run(),
            self.rtl.config,
            self.build_seconds,
            self.compiled.len(),
            self.up_to_date.len(),
            self.run_seconds
        )
    }

    /// Per unit (harness) that ran: its module, the cases that passed, and the output elements
    /// they compared (each in every run of every seed).
    pub fn elements_by_unit(&self) -> Vec<(&'static str, usize, u64)> {
        let mut v: Vec<(&'static str, usize, u64)> = Vec::new();
        for r in &self.results {
            if !matches!(r.outcome, Outcome::Pass { .. }) {
                continue;
            }
            let m = r.case.harness.module();
            let e = r.elements.unwrap_or(0);
            match v.iter_mut().find(|(n, _, _)| *n == m) {
                Some(x) => {
                    x.1 += 1;
                    x.2 += e;
                }
                None => v.push((m, 1, e)),
            }
        }
        v
    }

    /// One line: the elements compared per unit.
    pub fn elements_line(&self) -> String {
        let parts: Vec<String> = self
            .elements_by_unit()
            .iter()
            .map(|(m, c, e)| {
                format!(
                    "{m} {e} elements ({c} case{})",
                    if *c == 1 { "" } else { "s" }
                )
            })
            .collect();
        format!("elements compared per unit: {}", parts.join(", "))
    }

    /// A Markdown section.
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "RTL `{}` ({}) against golden vectors {}, Verilator with `--x-assign unique \
             --x-initial unique`, random stalls on every stream and a reset in mid-run.\n",
            self.rtl_dir.display(),
            self.rtl.config,
            self.golden_dirs
                .iter()
                .map(|d| format!("`{}`", d.display()))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let _ = writeln!(
            s,
            "| case | unit | shape | result | stall-free cycles (RTL = model) | seeds |"
        );
        let _ = writeln!(s, "| --- | --- | --- | --- | --- | --- |");
        for r in &self.results {
            let shape = r
                .case
                .shape
                .map(|[m, k, n]| format!("{m}x{k}x{n}"))
                .unwrap_or_default();
            let (res, cycles) = match &r.outcome {
                Outcome::Pass { cycles } => (
                    "bit-exact".to_string(),
                    cycles.map(|c| c.to_string()).unwrap_or_default(),
                ),
                Outcome::Unsupported(why) => (format!("not runnable: {why}"), String::new()),
                Outcome::Fail(why) => (format!("**FAIL**: {why}"), String::new()),
            };
            let seeds: Vec<String> = r.seeds.iter().map(u64::to_string).collect();
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} |",
                r.case.name,
                r.case.harness.name(),
                shape,
                res.replace('|', "\\|"),
                cycles,
                seeds.join(", ")
            );
        }
        for (name, why) in &self.skipped {
            let _ = writeln!(s, "| {name} | | | not runnable: {why} | | |");
        }
        let _ = writeln!(s, "\n{}", self.summary());
        let _ = writeln!(s, "\n{}", self.elements_line());
        s
    }
}
