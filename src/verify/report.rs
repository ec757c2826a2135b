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
    /// The widest accumulator the golden directories were written for (their manifests).
    pub golden_acc_bits: u32,
}

/// Whether a not-runnable reason is about the output lanes (their width or signedness), which
/// `--out-bits` sets; every other reason is about the accumulator (`--acc-bits`).
fn about_output_lanes(reason: &str) -> bool {
    reason.contains("output lane type") || reason.contains("signed output lanes")
}

/// Whether a not-runnable reason is about the activation lanes (`--abits`): the patch
/// embedding's 8-bit image codes on an array of narrower activations. No `--out-bits` or
/// `--acc-bits` runs such a case; it needs a design of 8-bit activation lanes.
fn about_activation_lanes(reason: &str) -> bool {
    reason.contains("activation lanes")
}

/// `cmd` with `option` set to `value`: replaced where it is, else inserted before `--out`.
fn with_option(cmd: &str, option: &str, value: &str) -> String {
    let mut t: Vec<String> = cmd.split(' ').map(str::to_string).collect();
    if let Some(i) = t.iter().position(|x| x == option) {
        if i + 1 < t.len() {
            t[i + 1] = value.to_string();
        }
    } else {
        let at = t.iter().position(|x| x == "--out").unwrap_or(t.len());
        t.splice(at..at, [option.to_string(), value.to_string()]);
    }
    t.join(" ")
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

    /// The reasons of every case that could not run.
    fn not_run_reasons(&self) -> impl Iterator<Item = &str> {
        self.skipped
            .iter()
            .map(|(_, w)| w.as_str())
            .chain(self.results.iter().filter_map(|r| match &r.outcome {
                Outcome::Unsupported(w) => Some(w.as_str()),
                _ => None,
            }))
    }

    /// The complete `repq-hw gen` command of a design that runs the cases this one could not:
    /// the design's own command with s32 output lanes (`--out-bits 32`) when a case needs wider
    /// or signed output lanes, 8-bit activation lanes (`--abits 8`) when a case's inputs (the
    /// patch embedding's 8-bit image codes) exceed the lanes, and the golden vectors'
    /// accumulator width (`--acc-bits`) when a case needs a wider accumulator. `None` when every
    /// case ran.
    pub fn gen_command_for_all(&self) -> Option<String> {
        let reasons: Vec<&str> = self.not_run_reasons().collect();
        if reasons.is_empty() {
            return None;
        }
        let out_bits = reasons
            .iter()
            .any(|r| about_output_lanes(r))
            .then_some(crate::rtl::config::DEFAULT_OUT_BITS);
        let abits = reasons
            .iter()
            .any(|r| about_activation_lanes(r))
            .then_some(crate::quant::config::PATCH_INPUT_BITS);
        let acc = if reasons
            .iter()
            .any(|r| !about_output_lanes(r) && !about_activation_lanes(r))
        {
            self.golden_acc_bits.max(self.rtl.acc_bits)
        } else {
            self.rtl.acc_bits
        };
        match self.rtl.command_with(&self.rtl_dir, out_bits, abits, acc) {
            Ok(cmd) => Some(cmd),
            // A design directory this version cannot read back: the options to change.
            Err(_) => {
                let mut cmd = self.rtl.command.clone();
                if let Some(b) = out_bits {
                    cmd = with_option(&cmd, "--out-bits", &b.to_string());
                }
                if let Some(a) = abits {
                    cmd = with_option(&cmd, "--abits", &a.to_string());
                }
                Some(with_option(&cmd, "--acc-bits", &acc.to_string()))
            }
        }
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

#[cfg(test)]
mod command_tests {
    use super::*;

    #[test]
    fn options_are_replaced_or_inserted_before_out() {
        let c = "repq-hw gen --pe 4x4 --acc-bits 28 --out <DIR>";
        assert_eq!(
            with_option(c, "--acc-bits", "32"),
            "repq-hw gen --pe 4x4 --acc-bits 32 --out <DIR>"
        );
        assert_eq!(
            with_option(c, "--out-bits", "32"),
            "repq-hw gen --pe 4x4 --acc-bits 28 --out-bits 32 --out <DIR>"
        );
        assert!(about_output_lanes(
            "tensor head.lo s32 [10] element [0] = -2147483648 does not fit the lo field of \
             the output lane type (see gen --out-bits) (u8)"
        ));
        assert!(!about_output_lanes(
            "tensor matmul.bias s32 [12] element [5] = 2146740577 does not fit the bias field (s28)"
        ));
        let patch = "tensor patch_embed.input u8 [49, 48] element [1, 11] = 27 does not fit the \
                     activation lanes (u4)";
        assert!(about_activation_lanes(patch) && !about_output_lanes(patch));
    }
}
