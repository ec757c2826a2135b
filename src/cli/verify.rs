//! `repq-hw verify`: the generated RTL against golden vectors, bit for bit, with Verilator
//! (see [`crate::verify`]).

use std::path::PathBuf;

use super::output::{errln, outln};
use crate::error::{Error, Result};
use crate::verify::{CaseResult, Harness, Outcome, Progress, VerifyOptions, verify};

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// A directory written by `repq-hw gen`
    #[arg(long, value_name = "DIR")]
    pub rtl: PathBuf,
    /// A directory written by `repq-hw golden` (an image through a model, or --random vectors);
    /// repeat for several
    #[arg(long, value_name = "DIR", required = true)]
    pub golden: Vec<PathBuf>,
    /// Where Verilator builds the harnesses (kept for incremental re-runs); default: the RTL
    /// directory's own build directory in the cache ($XDG_CACHE_HOME or ~/.cache,
    /// repq-hw/verify/NAME-HASH). A path with spaces or non-ASCII characters, where GNU Make cannot
    /// build, is replaced by a directory in the cache derived from it
    #[arg(long, value_name = "DIR")]
    pub build: Option<PathBuf>,
    /// Model-mode golden vectors: the transformer blocks to run, comma-separated
    #[arg(
        long,
        value_name = "I,J,..",
        value_delimiter = ',',
        default_value = "0"
    )]
    pub blocks: Vec<usize>,
    /// Model-mode golden vectors: run every block
    #[arg(long, conflicts_with = "blocks")]
    pub all_blocks: bool,
    /// One run per seed: random stall pattern and Verilator's +verilator+seed (unique X values)
    #[arg(
        long,
        value_name = "S,T,..",
        value_delimiter = ',',
        default_value = "1,2"
    )]
    pub seeds: Vec<u64>,
    /// Percent of cycles each stream source withholds valid and the sink withholds ready
    #[arg(long, value_name = "PERCENT", default_value_t = 30,
          value_parser = clap::value_parser!(u32).range(0..=90))]
    pub stall: u32,
    /// Dump an FST waveform per case into DIR (builds the harnesses with --trace-fst)
    #[arg(long, value_name = "DIR")]
    pub fst: Option<PathBuf>,
    /// Succeed even when some cases do not fit the design (they are listed either way)
    #[arg(long)]
    pub allow_unsupported: bool,
    /// Also write the Markdown report to FILE
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Run the golden directory's layers on the end-to-end engine repq_vit (C driver, AXI memory
    /// model with random latency and back-pressure) instead of the per-unit cases: see
    /// docs/accelerator.md for what is lowered so far
    #[arg(long)]
    pub end_to_end: bool,
    /// With --end-to-end: the driver waits for the interrupt instead of polling STATUS
    #[arg(long, requires = "end_to_end")]
    pub irq: bool,
    /// With --end-to-end: deterministic memory instead of random stalls (AR, AW, W always
    /// ready, first R word L cycles after its AR, B 1 cycle after the last W word), the memory
    /// of `repq-hw perf --model M --mem-latency L`; prints the cycle model's count beside
    /// Verilator's
    #[arg(long, value_name = "L", requires = "end_to_end",
          value_parser = clap::value_parser!(u32).range(1..=64))]
    pub stall_free: Option<u32>,
    /// With --stall-free: write the cycle of every command fetch to FILE (number, cycle) and the
    /// model's to FILE with the extension .model.txt
    #[arg(long, value_name = "FILE", requires = "stall_free")]
    pub trace: Option<PathBuf>,
}

fn end_to_end(args: &VerifyArgs) -> Result<()> {
    use crate::verify::vit::{EndToEnd, run};
    let info = crate::verify::design::RtlInfo::read(&args.rtl)?;
    let design = info.design(&args.rtl)?;
    let build = match &args.build {
        Some(b) => b.clone(),
        None => crate::verify::build_dir::default_build_dir(&args.rtl)?,
    };
    let mut failed = None;
    for g in &args.golden {
        for &seed in &args.seeds {
            let o = EndToEnd {
                rtl: args.rtl.clone(),
                golden: g.clone(),
                build: build.clone(),
                seed,
                stall: args.stall,
                latency: args.stall_free,
                trace: args.trace.clone(),
                irq: args.irq,
                stop: None,
            };
            let t = std::time::Instant::now();
            let r = run(&o, &design)?;
            let what = match &r.mismatch {
                None => "bit-exact".to_string(),
                Some(m) => format!(
                    "MISMATCH at {} {}[{}, {}]: expected {}, actual {}",
                    m.layer, m.tensor, m.index[0], m.index[1], m.expected, m.actual
                ),
            };
            outln!(
                "{} seed {seed}: {} tensors, {} elements compared, {what}; {} commands, {} cycles, \
                 {:.2} MB read, {:.2} MB written ({:.1} s)",
                g.display(),
                r.tensors,
                r.compared,
                r.commands,
                r.cycles,
                r.read_words as f64 * 8e-6,
                r.write_words as f64 * 8e-6,
                t.elapsed().as_secs_f64()
            )?;
            if let Some(l) = args.stall_free {
                let cmds = crate::accel::AccelImage::command_words(&r.memory);
                let m = crate::perf::engine_cycles(&design, &cmds, l)?;
                let same = if m.cycles == r.cycles {
                    "equal"
                } else {
                    "DIFFERENT"
                };
                outln!(
                    "  stall-free memory, read latency {l}: Verilator {} cycles, cycle model {} \
                     ({same})",
                    r.cycles,
                    m.cycles
                )?;
                if let Some(t) = &args.trace {
                    let path = t.with_extension("model.txt");
                    let text: String = m
                        .fetch_at
                        .iter()
                        .enumerate()
                        .map(|(i, c)| format!("{i} {c}\n"))
                        .collect();
                    std::fs::write(&path, text).map_err(|e| Error::io(&path, e))?;
                }
            }
            if let Some(c) = r.checks.iter().find(|c| c.tensor == "logits") {
                let got: Vec<String> = (0..c.region.cols)
                    .map(|j| c.region.get(&r.memory, 0, j).to_string())
                    .collect();
                let state = match &r.mismatch {
                    None => "bit-exact",
                    Some(_) => "see the mismatch above",
                };
                outln!("  logits from the engine: [{}] ({state})", got.join(", "))?;
            }
            if r.mismatch.is_some() && failed.is_none() {
                failed = Some(what);
            }
        }
    }
    match failed {
        None => Ok(()),
        Some(w) => Err(Error::Mismatch(format!("end-to-end run differs: {w}"))),
    }
}

pub fn run(args: &VerifyArgs) -> Result<()> {
    let blocks = if args.all_blocks {
        let dirs = args
            .golden
            .iter()
            .map(|d| crate::golden::GoldenDir::open(d))
            .collect::<Result<Vec<_>>>()?;
        crate::verify::cases::all_blocks(&dirs)?
    } else {
        args.blocks.clone()
    };
    if args.end_to_end {
        return end_to_end(args);
    }
    let opts = VerifyOptions {
        rtl: args.rtl.clone(),
        golden: args.golden.clone(),
        build: args.build.clone(),
        blocks,
        seeds: args.seeds.clone(),
        stall: args.stall,
        fst: args.fst.clone(),
    };
    let report = verify(&opts, |p| match p {
        Progress::Building { harnesses, dir } => {
            let names: Vec<&str> = harnesses.iter().map(|h| h.name()).collect();
            errln!(
                "Verilator harnesses {} in {}",
                names.join(", "),
                dir.display()
            );
            // The builds went elsewhere when --build (as an absolute path) is not Make-safe.
            let moved = |b: &&std::path::Path| {
                std::path::absolute(b).map_or(true, |abs| !dir.starts_with(abs))
            };
            if let Some(b) = args.build.as_deref().filter(moved) {
                errln!(
                    "  (--build {} holds characters GNU Make cannot build in; its builds go here)",
                    b.display()
                );
            }
        }
        Progress::Built {
            harness,
            compiled,
            seconds,
        } => {
            let what = if compiled { "compiled" } else { "up to date" };
            errln!("  {:<8} {what} ({seconds:.1} s)", harness.name());
        }
        Progress::Case(r) => case_line(r),
        Progress::Skipped(name, why) => {
            errln!("  {name:<48} {:<8} not runnable: {why}", "-");
        }
    })?;
    let md = report.markdown();
    if let Some(p) = &args.report {
        let tmp = p.with_extension("md.tmp");
        std::fs::write(&tmp, &md).map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, p).map_err(|e| Error::io(p, e))?;
    }
    outln!("{}", report.summary())?;
    outln!("{}", report.elements_line())?;
    if report.ok(args.allow_unsupported) {
        Ok(())
    } else if report.failed() > 0 {
        Err(Error::Mismatch(format!(
            "{} case(s) differ from the golden vectors (first: {})",
            report.failed(),
            report
                .results
                .iter()
                .find_map(|r| match &r.outcome {
                    Outcome::Fail(w) => Some(format!("{}: {w}", r.case.name)),
                    _ => None,
                })
                .unwrap_or_default()
        )))
    } else if report.passed() == 0 && report.not_run() == 0 {
        Err(Error::Mismatch("no case ran".into()))
    } else {
        let fix = report
            .gen_command_for_all()
            .map_or_else(String::new, |cmd| format!(": the design `{cmd}` runs them"));
        Err(Error::Mismatch(format!(
            "{} case(s) could not run on {} (see above){fix} (--allow-unsupported accepts the gap)",
            report.not_run(),
            report.rtl.config,
        )))
    }
}

/// The progress line of one case.
fn case_line(r: &CaseResult) {
    let status = match &r.outcome {
        // A matmul's count is the array model's (job_cycles), an A x V case's the shift
        // unit's (av_cycles).
        Outcome::Pass { cycles: Some(c) } if r.case.harness == Harness::ShiftAv => {
            format!("bit-exact, {c} cycles without stalls (A x V model {c})")
        }
        Outcome::Pass { cycles: Some(c) } => {
            format!("bit-exact, {c} cycles without stalls (model {c})")
        }
        Outcome::Pass { cycles: None } => "bit-exact".into(),
        Outcome::Unsupported(why) => format!("not runnable: {why}"),
        Outcome::Fail(why) => format!("FAIL: {why}"),
    };
    let elements = match (&r.outcome, r.elements) {
        (Outcome::Pass { .. }, Some(e)) => format!(", {e} elements"),
        _ => String::new(),
    };
    errln!(
        "  {:<48} {:<8} {status}{elements} ({:.1} s)",
        r.case.name,
        r.case.harness.name(),
        r.seconds
    );
}
