//! Helpers shared by the tests/rtl_*.rs and perf_rtl.rs integration tests: generation into
//! scratch directories, tool detection, unit-mode golden directories (docs/golden-vectors.md) and
//! Verilator builds and runs of the golden-vector harnesses of sim/.
#![allow(dead_code)]

pub mod mutate;
pub mod units;

use std::path::{Path, PathBuf};
use std::process::Command;

use repq_hw::arith::Requant;
use repq_hw::golden::{GoldenFile, Kind, manifest_header, signed, unsigned, write_dir};
use repq_hw::rtl::streams::MatmulJob;
use repq_hw::rtl::{self, Design, GenConfig, PeShape, Target};
use repq_hw::verify::{Harness, build_harness_with};

/// The configurations every tool test covers: squares and non-squares (16x16, 4x4, 8x4, 4x8, 3x5,
/// 1x1, 2x7), w4a4, w6a6, w8a8 and mixed widths, shared requantization lanes, all targets, and
/// signed output lanes (`--out-bits` 16 and 32, with one and with several requantization groups).
pub fn configs() -> Vec<GenConfig> {
    let mk = |pe: &str, w: u32, a: u32, t: Target, tm: u32| {
        let mut c = GenConfig::new(pe.parse::<PeShape>().unwrap());
        c.wbits = w;
        c.abits = a;
        c.target = t;
        c.m_tile = tm;
        c
    };
    vec![
        GenConfig::new(PeShape { rows: 16, cols: 16 }),
        mk("4x4", 4, 4, Target::Ice40, 64),
        GenConfig {
            requant_lanes: Some(2),
            ..mk("8x4", 8, 8, Target::Ecp5, 256)
        },
        GenConfig {
            requant_lanes: Some(4),
            ..mk("4x8", 8, 8, Target::Ecp5, 32)
        },
        mk("16x16", 4, 4, Target::UltraScalePlus, 256),
        mk("3x5", 4, 8, Target::UltraScalePlus, 100),
        mk("1x1", 6, 6, Target::Generic, 2),
        // Two columns: repq_av_requant assembles a beat from exactly two groups.
        mk("2x2", 4, 4, Target::Generic, 8),
        GenConfig {
            requant_lanes: Some(1),
            ..mk("2x7", 8, 4, Target::Generic, 16)
        },
        GenConfig {
            out_bits: Some(32),
            acc_bits: Some(32),
            ..GenConfig::new(PeShape { rows: 16, cols: 16 })
        },
        GenConfig {
            out_bits: Some(16),
            requant_lanes: Some(2),
            ..mk("6x4", 6, 6, Target::Ecp5, 64)
        },
        GenConfig {
            out_bits: Some(32),
            requant_lanes: Some(2),
            ..mk("3x6", 4, 4, Target::Ice40, 32)
        },
    ]
}

/// A scratch directory under cargo's target directory for integration tests.
pub fn scratch(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("rtl")
        .join(name);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Generates `cfg` into `dir` (replacing it).
pub fn generate(cfg: &GenConfig, dir: &Path) -> rtl::GenReport {
    rtl::generate(cfg, dir).unwrap_or_else(|e| panic!("generate {dir:?}: {e}"))
}

/// Generates `cfg` and copies the files into `dir` only where they changed, so that make-based
/// Verilator builds stay incremental across test runs.
pub fn generate_incremental(cfg: &GenConfig, dir: &Path) -> rtl::Design {
    let design = cfg.validate().unwrap();
    std::fs::create_dir_all(dir).unwrap();
    for f in rtl::render_all(&design) {
        let p = dir.join(&f.name);
        if std::fs::read_to_string(&p).ok().as_deref() != Some(f.contents.as_str()) {
            std::fs::write(&p, &f.contents).unwrap();
        }
    }
    design
}

/// Whether `tool` runs (`tool -V` or `--version`); prints a notice when it does not.
pub fn have(tool: &str) -> bool {
    let ok = Command::new(tool)
        .arg(if tool == "iverilog" || tool == "yosys" {
            "-V"
        } else {
            "--version"
        })
        .output()
        .map(|o| o.status.success() || tool == "iverilog")
        .unwrap_or(false);
    if !ok {
        assert!(
            std::env::var_os("REPQ_REQUIRE_TOOLS").is_none(),
            "{tool} is not installed but REPQ_REQUIRE_TOOLS is set (`make test` installs it)"
        );
        eprintln!("NOTICE: {tool} is not installed; skipping its checks (`make test` installs it)");
    }
    ok
}

/// Runs a command, panicking with its output on failure; returns stdout.
pub fn run(cmd: &mut Command, what: &str) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run {cmd:?}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{cmd:?}\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    stdout
}

/// Builds the golden-vector harness `h` of `sim/` against the generated sources in `rtl_dir`,
/// in `build_dir`, with parameter overrides of the module under test
/// ([`repq_hw::verify::build_harness_with`]); returns the executable.
pub fn build(rtl_dir: &Path, h: Harness, build_dir: &Path, params: &[(&str, i64)]) -> PathBuf {
    build_harness_with(rtl_dir, h, build_dir, false, params)
        .unwrap_or_else(|e| panic!("building the {} harness: {e}", h.name()))
}

/// A unit-mode tensor file (docs/golden-vectors.md, "Unit mode") `t/NAME.hex`.
pub fn tensor<T: Copy + Into<i128>>(
    name: &str,
    shape: &[usize],
    ty: (u32, bool),
    data: &[T],
) -> GoldenFile {
    GoldenFile::new(Kind::Activation, "t", name, shape, ty, data, "test vectors")
}

/// Writes `files` as a unit-mode golden directory `dir` (replacing an earlier one), its manifest
/// naming the test `test`.
pub fn write_golden(dir: &Path, test: &str, files: &[GoldenFile]) {
    let header = manifest_header("unit", &["(test)".into(), test.into()]);
    write_dir(dir, header, files).unwrap_or_else(|e| panic!("writing golden vectors {dir:?}: {e}"));
}

/// Runs a harness executable on the golden directory `golden` with plusargs `+KEY=VALUE`;
/// returns its stdout (a failing run panics with its report).
pub fn run_harness(exe: &Path, golden: &Path, args: &[(&str, String)]) -> String {
    let mut cmd = Command::new(exe);
    cmd.arg(format!("+golden={}", golden.display()));
    for (k, v) in args {
        cmd.arg(format!("+{k}={v}"));
    }
    run(&mut cmd, &format!("{exe:?}"))
}

/// The stall-free cycle count the top and shift_av harnesses print ("N cycles without stalls").
pub fn stall_free_cycles(log: &str) -> Option<u64> {
    let end = log.find(" cycles without stalls")?;
    let start = log[..end]
        .rfind(|c: char| !c.is_ascii_digit())
        .map_or(0, |i| i + 1);
    log[start..end].parse().ok()
}

/// The tensors of one `repq_top` job, named `PREFIX.a`, `PREFIX.w`, ..., `PREFIX.out` (the
/// expected outputs, `MatmulJob::expected`, in the design's output lane type).
pub fn top_job_files(prefix: &str, d: &Design, job: &MatmulJob) -> Vec<GoldenFile> {
    job.check(d).unwrap_or_else(|e| panic!("{prefix}: {e}"));
    let (m, k, n) = (job.m, job.k, job.n);
    let col = |f: fn(&Requant) -> i64| job.requant.iter().map(f).collect::<Vec<i64>>();
    vec![
        tensor(&format!("{prefix}.a"), &[m, k], unsigned(d.abits), &job.a),
        tensor(&format!("{prefix}.w"), &[k, n], signed(d.wob), &job.w),
        tensor(
            &format!("{prefix}.bias"),
            &[n],
            signed(d.acc_bits),
            &job.bias,
        ),
        tensor(
            &format!("{prefix}.m0"),
            &[n],
            unsigned(31),
            &col(|r| r.m0.into()),
        ),
        tensor(
            &format!("{prefix}.shift"),
            &[n],
            unsigned(6),
            &col(|r| r.shift.into()),
        ),
        tensor(
            &format!("{prefix}.zero_point"),
            &[n],
            signed(32),
            &col(|r| r.zero_point.into()),
        ),
        tensor(
            &format!("{prefix}.lo"),
            &[n],
            signed(32),
            &col(|r| r.lo.into()),
        ),
        tensor(
            &format!("{prefix}.hi"),
            &[n],
            signed(32),
            &col(|r| r.hi.into()),
        ),
        tensor(
            &format!("{prefix}.out"),
            &[m, n],
            (d.out_lane_bits(), d.out_signed()),
            &job.expected(),
        ),
    ]
}

/// The plusargs of sim/top.cpp for the tensors of [`top_job_files`].
pub fn top_job_args(prefix: &str) -> Vec<(&'static str, String)> {
    [
        "a",
        "w",
        "bias",
        "m0",
        "shift",
        "zero_point",
        "lo",
        "hi",
        "out",
    ]
    .into_iter()
    .map(|f| (f, format!("{prefix}.{f}")))
    .collect()
}
