//! Verilator builds of the harnesses against a generated RTL directory.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Error, Result};

use super::build_dir::usable_build_dir;
use super::sources::{mirror_dir, write_sources};

/// The harnesses of `sim/`: one for the top level, one per standalone unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Harness {
    /// `repq_top`: tiled matmul with requantization (U1 + U2), `sim/top.cpp`.
    Top,
    /// `repq_logcode`: softmax probability to log2 code (U3), `sim/logcode.cpp`.
    LogCode,
    /// `repq_shift_av`: attention x V by shifts (U4), `sim/shift_av.cpp`.
    ShiftAv,
    /// `repq_requant`: the standalone requantization unit (U2), `sim/requant.cpp`. No golden
    /// directory of `repq-hw golden` has cases for it ([`super::cases_for`] never names it); unit
    /// tests build it, often with `-G` overrides of `LANES`, `ACC` and `OBITS`
    /// ([`build_harness_with`]).
    Requant,
    /// `repq_av_requant`: A x V outputs to proj input codes, heads merged, `sim/av_requant.cpp`.
    AvRequant,
    /// `repq_gelu`: U7's table as steps, `sim/gelu.cpp`.
    Gelu,
    /// `repq_residual`: the residual addition (U8), `sim/residual.cpp`.
    Residual,
    /// `repq_rowdiv`: the row divider of U5 and U6, `sim/rowdiv.cpp`. Like [`Harness::Requant`],
    /// only unit tests build it (`-G` overrides of `QW`, `DW`).
    RowDiv,
    /// `repq_layernorm`: LayerNorm to codes (U5), `sim/layernorm.cpp`.
    LayerNorm,
    /// `repq_softmax`: U6 with bias and mask, `sim/softmax.cpp`.
    Softmax,
    /// `repq_layernorm` built with `RESID = 1`: U5r, a LayerNorm into the `s32` residual stream
    /// (Swin's patch and final norms), `sim/layernorm.cpp` ([`Harness::params`]).
    LayerNormResid,
    /// `repq_avgpool`: average pooling and the U2 to the head's input codes, `sim/avgpool.cpp`.
    AvgPool,
    /// `repq_vit`: the end-to-end engine with the C driver and an AXI memory model,
    /// `sim/vit.cpp` (not in [`Harness::ALL`]: only `verify --end-to-end` builds it).
    Vit,
}

impl Harness {
    /// Every harness, in build order.
    pub const ALL: [Harness; 12] = [
        Harness::Top,
        Harness::LogCode,
        Harness::ShiftAv,
        Harness::Requant,
        Harness::AvRequant,
        Harness::Gelu,
        Harness::Residual,
        Harness::RowDiv,
        Harness::LayerNorm,
        Harness::Softmax,
        Harness::LayerNormResid,
        Harness::AvgPool,
    ];

    /// The parameter overrides every build of this harness has ([`build_harness_checked`] adds
    /// them before the caller's).
    pub fn params(self) -> &'static [(&'static str, i64)] {
        match self {
            Harness::LayerNormResid => &[("RESID", 1)],
            _ => &[],
        }
    }

    /// The Verilog module under test.
    pub fn module(self) -> &'static str {
        match self {
            Harness::Top => "repq_top",
            Harness::LogCode => "repq_logcode",
            Harness::ShiftAv => "repq_shift_av",
            Harness::Requant => "repq_requant",
            Harness::AvRequant => "repq_av_requant",
            Harness::Gelu => "repq_gelu",
            Harness::Residual => "repq_residual",
            Harness::RowDiv => "repq_rowdiv",
            Harness::LayerNorm => "repq_layernorm",
            Harness::Softmax => "repq_softmax",
            Harness::LayerNormResid => "repq_layernorm",
            Harness::AvgPool => "repq_avgpool",
            Harness::Vit => "repq_vit",
        }
    }

    /// The harness source in `sim/`.
    pub fn source(self) -> &'static str {
        match self {
            Harness::Top => "top.cpp",
            Harness::LogCode => "logcode.cpp",
            Harness::ShiftAv => "shift_av.cpp",
            Harness::Requant => "requant.cpp",
            Harness::AvRequant => "av_requant.cpp",
            Harness::Gelu => "gelu.cpp",
            Harness::Residual => "residual.cpp",
            Harness::RowDiv => "rowdiv.cpp",
            Harness::LayerNorm => "layernorm.cpp",
            Harness::Softmax => "softmax.cpp",
            Harness::LayerNormResid => "layernorm.cpp",
            Harness::AvgPool => "avgpool.cpp",
            Harness::Vit => "vit.cpp",
        }
    }

    /// A short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Harness::Top => "top",
            Harness::LogCode => "logcode",
            Harness::ShiftAv => "shift_av",
            Harness::Requant => "requant",
            Harness::AvRequant => "av_requant",
            Harness::Gelu => "gelu",
            Harness::Residual => "residual",
            Harness::RowDiv => "rowdiv",
            Harness::LayerNorm => "layernorm",
            Harness::Softmax => "softmax",
            Harness::LayerNormResid => "layernorm_resid",
            Harness::AvgPool => "avgpool",
            Harness::Vit => "vit",
        }
    }
}

/// Whether Verilator runs here.
pub fn verilator_available() -> bool {
    Command::new("verilator")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// A harness build: the executable, and whether this build compiled it (`false`: it was up to
/// date).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HarnessBuild {
    pub exe: PathBuf,
    pub compiled: bool,
}

/// Builds `harness` against the generated sources in `rtl_dir` (its `files.f`) in
/// `build_dir/<harness>[-fst]`, with `--x-assign unique --x-initial unique` (the run chooses the
/// seed) and, with `trace`, FST waveform support. Incremental: Verilator skips an identical
/// re-run and make recompiles only what changed. A `build_dir` GNU Make cannot build in (spaces,
/// non-ASCII) is replaced by one derived from it ([`super::build_dir::usable_build_dir`]).
/// Returns the executable.
pub fn build_harness(
    rtl_dir: &Path,
    harness: Harness,
    build_dir: &Path,
    trace: bool,
) -> Result<PathBuf> {
    build_harness_with(rtl_dir, harness, build_dir, trace, &[])
}

/// [`build_harness`] with parameter overrides of the module under test: every `(NAME, value)`
/// becomes `-GNAME=value` for Verilator and `-DREPQ_G_NAME=value` for the harness (which reads
/// the values it depends on, such as `LANES`, from those macros). The build goes to
/// `build_dir/<harness>[-NAMEvalue...][-fst]`, so that builds with different overrides coexist.
pub fn build_harness_with(
    rtl_dir: &Path,
    harness: Harness,
    build_dir: &Path,
    trace: bool,
    params: &[(&str, i64)],
) -> Result<PathBuf> {
    build_harness_checked(rtl_dir, harness, build_dir, trace, params).map(|b| b.exe)
}

/// [`build_harness_with`], also telling whether the executable was compiled or up to date.
///
/// The sources are copied into the build directory first (the RTL directory's files into
/// `build_dir/rtl-sources`, the harnesses into `build_dir/sim`), only where they changed, and
/// Verilator reads the copies: every path in its makefiles is inside the Make-safe build
/// directory, whatever the RTL directory is called.
///
/// # Errors
/// [`Error::Invalid`] for a bad override name, [`Error::Dataset`] when `rtl_dir` has no
/// `files.f`, [`Error::Io`] for the copies, [`Error::Tool`] when Verilator or the C++ build fails
/// (with the last 30 lines of its log).
pub fn build_harness_checked(
    rtl_dir: &Path,
    harness: Harness,
    build_dir: &Path,
    trace: bool,
    params: &[(&str, i64)],
) -> Result<HarnessBuild> {
    // The harness's own overrides first, unless the caller names the same parameter.
    let params: Vec<(&str, i64)> = harness
        .params()
        .iter()
        .copied()
        .filter(|(k, _)| !params.iter().any(|(p, _)| p == k))
        .chain(params.iter().copied())
        .collect();
    let params = params.as_slice();
    for (name, _) in params {
        if name.is_empty()
            || name.starts_with(|c: char| c.is_ascii_digit())
            || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(Error::Invalid(format!(
                "harness parameter override `{name}`: not a Verilog parameter name"
            )));
        }
    }
    let files_f = rtl_dir.join("files.f");
    if !files_f.is_file() {
        return Err(Error::Dataset {
            path: rtl_dir.to_path_buf(),
            reason: "not a generated RTL directory (no files.f; run `repq-hw gen`)".into(),
        });
    }
    let rtl_canonical = std::fs::canonicalize(rtl_dir).map_err(|e| Error::io(rtl_dir, e))?;
    let build_dir = usable_build_dir(build_dir)?;
    let sim = build_dir.join("sim");
    write_sources(&sim)?;
    let rtl = build_dir.join("rtl-sources");
    mirror_dir(&rtl_canonical, &rtl)?;
    let overrides: String = params
        .iter()
        .map(|(k, v)| format!("-{k}{}", v.to_string().replace('-', "m")))
        .collect();
    let dir = build_dir.join(format!(
        "{}{overrides}{}",
        harness.name(),
        if trace { "-fst" } else { "" }
    ));
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let mut cmd = Command::new("verilator");
    cmd.current_dir(&dir)
        .args(["--cc", "--exe", "--build", "-j", "2"])
        .args(["--x-assign", "unique", "--x-initial", "unique"])
        .args(["--top-module", harness.module()])
        .arg("-CFLAGS")
        .arg(format!(
            "-O1 -I{} -I{}{}",
            sim.display(),
            rtl.display(),
            params
                .iter()
                .map(|(k, v)| format!(" -DREPQ_G_{k}={v}"))
                .collect::<String>()
        ))
        .args(["--Mdir", "obj", "-o", "harness"]);
    for (k, v) in params {
        cmd.arg(format!("-G{k}={v}"));
    }
    if trace {
        cmd.arg("--trace-fst");
    }
    // files.f lists the engine's sources too, where the design has them.
    cmd.arg("-F").arg(rtl.join("files.f"));
    cmd.arg(sim.join(harness.source()));
    // Verilator's generated makefiles hold absolute paths: a build directory that was moved, or
    // that served other sources (another RTL directory) or options, starts over.
    let stamp = dir.join("build-command.txt");
    let command = format!("rtl {}\n{cmd:?}", rtl_canonical.display());
    if std::fs::read_to_string(&stamp).ok().as_deref() != Some(command.as_str()) {
        let obj = dir.join("obj");
        if obj.exists() {
            std::fs::remove_dir_all(&obj).map_err(|e| Error::io(&obj, e))?;
        }
    }
    let exe = dir.join("obj").join("harness");
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let before = modified(&exe);
    let out = cmd.output().map_err(|e| Error::Tool {
        tool: "verilator".into(),
        reason: format!("cannot run it ({e}); install Verilator 5 (apt-get install verilator)"),
    })?;
    if !out.status.success() {
        let log = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = log.lines().rev().take(30).collect();
        return Err(Error::Tool {
            tool: "verilator".into(),
            reason: format!(
                "building the {} harness against {} in {} failed ({}):\n{}",
                harness.name(),
                rtl_dir.display(),
                dir.display(),
                out.status,
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            ),
        });
    }
    std::fs::write(&stamp, &command).map_err(|e| Error::io(&stamp, e))?;
    let compiled = before.is_none() || modified(&exe) != before;
    Ok(HarnessBuild { exe, compiled })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameter_overrides_must_be_names() {
        for bad in ["", "1LANES", "LANES=4", "A B", "-GX"] {
            let e = build_harness_with(
                Path::new("/nonexistent"),
                Harness::Requant,
                Path::new("/nonexistent"),
                false,
                &[(bad, 1)],
            )
            .unwrap_err();
            assert!(
                e.to_string().contains("not a Verilog parameter name"),
                "{e}"
            );
        }
    }
}
