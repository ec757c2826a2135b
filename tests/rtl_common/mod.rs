//! Helpers shared by the tests/rtl_*.rs integration tests: generation into scratch directories,
//! tool detection, and Verilator builds of the sim/ testbenches.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use repq_hw::rtl::streams::{MatmulJob, beat_hex};
use repq_hw::rtl::{self, GenConfig, PeShape, Target};

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

/// Writes `contents` to `path` unless it already holds exactly that.
pub fn write_if_changed(path: &Path, contents: &str) {
    if std::fs::read_to_string(path).ok().as_deref() != Some(contents) {
        std::fs::write(path, contents).unwrap();
    }
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
        eprintln!("NOTICE: {tool} is not installed; skipping its checks (CI installs it)");
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

/// The sim/ directory of the crate.
pub fn sim_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sim")
}

/// Builds `sim/<tb>.cpp` against the generated sources in `src_dir` with top `top` and
/// parameter overrides, in `build_dir`; returns the executable.
pub fn verilator_build(
    src_dir: &Path,
    top: &str,
    params: &[(&str, u64)],
    tb: &str,
    build_dir: &Path,
) -> PathBuf {
    verilator_build_cpp(
        src_dir,
        top,
        params,
        &sim_dir().join(format!("{tb}.cpp")),
        build_dir,
    )
}

/// [`verilator_build`] with a testbench at any path (it may include sim/tb.h).
pub fn verilator_build_cpp(
    src_dir: &Path,
    top: &str,
    params: &[(&str, u64)],
    tb_cpp: &Path,
    build_dir: &Path,
) -> PathBuf {
    let tb = tb_cpp.file_stem().unwrap().to_string_lossy().into_owned();
    std::fs::create_dir_all(build_dir).unwrap();
    let mut cmd = Command::new("verilator");
    cmd.current_dir(build_dir)
        .args([
            "--cc",
            "--exe",
            "--build",
            "-j",
            "2",
            "--x-assign",
            "unique",
        ])
        .args(["--x-initial", "unique", "--top-module", top])
        .args(["-CFLAGS", &format!("-O1 -I{}", sim_dir().display())])
        .args(["--Mdir", "obj", "-o", "tb"]);
    for (k, v) in params {
        cmd.arg(format!("-G{k}={v}"));
    }
    for f in rtl::SOURCES {
        cmd.arg(src_dir.join(f));
    }
    cmd.arg(tb_cpp);
    run(&mut cmd, &format!("verilator build of {tb}"));
    build_dir.join("obj").join("tb")
}

/// Runs a testbench executable with plusargs; returns its stdout.
pub fn run_tb(exe: &Path, args: &[String]) -> String {
    run(Command::new(exe).args(args), &format!("{exe:?}"))
}

/// Writes one job of `sim/tb_top.cpp` into `dir` (job.txt, act.hex, wgt.hex, prm.hex, out.hex:
/// the streams in contract order and the expected output beats, only where they changed);
/// returns the number of output beats.
pub fn write_top_job(dir: &Path, design: &rtl::Design, job: &MatmulJob) -> usize {
    let s = job
        .streams(design)
        .unwrap_or_else(|e| panic!("{dir:?}: {e}"));
    std::fs::create_dir_all(dir).unwrap();
    let hex = |beats: &[Vec<u32>], bits: u32| {
        beats
            .iter()
            .map(|b| beat_hex(b, bits) + "\n")
            .collect::<String>()
    };
    write_if_changed(
        &dir.join("job.txt"),
        &format!("{} {} {}\n", job.m, job.k, job.n),
    );
    write_if_changed(&dir.join("act.hex"), &hex(&s.act, design.act_bits()));
    write_if_changed(&dir.join("wgt.hex"), &hex(&s.wgt, design.wgt_bits()));
    write_if_changed(&dir.join("prm.hex"), &hex(&s.prm, design.param_bits()));
    write_if_changed(&dir.join("out.hex"), &hex(&s.out, design.out_bits()));
    s.out.len()
}

/// The stall-free cycle count `sim/tb_top.cpp` reports ("N cycles without stalls").
pub fn tb_top_cycles(log: &str) -> Option<u64> {
    let end = log.find(" cycles without stalls")?;
    let start = log[..end]
        .rfind(|c: char| !c.is_ascii_digit())
        .map_or(0, |i| i + 1);
    log[start..end].parse().ok()
}
