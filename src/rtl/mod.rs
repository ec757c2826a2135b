//! The Verilog generator behind `repq-hw gen` (docs/arithmetic.md units U1-U4 in RTL).
//!
//! [`GenConfig`] holds the options; [`GenConfig::validate`] checks all of them and resolves the
//! derived parameters into a [`Design`] before anything is rendered; [`render_all`] renders the
//! askama templates of `templates/` in memory; [`generate`] writes them atomically into a
//! directory. Nothing is written unless every check passed.
//!
//! # The hardware
//!
//! * `repq_top`: a tiled `M x K x N` matmul with bias and requantization on an `R x C`
//!   **weight-stationary** systolic array (`templates/rtl/repq_array.v`).
//!   Weight-stationary because on FPGAs the partial sums can run down the DSP cascades
//!   (DSP48E2 PCOUT -> PCIN) without fabric routing, each weight tile is loaded once and reused
//!   for all M rows (tokens), and only one activation row and one partial-sum row cross the array
//!   edge per cycle. Weights are double-buffered inside the PEs; per-column parameters (bias, M0,
//!   shift, zero point, clamp) are double-buffered per tile; partial sums of all but the last K
//!   tile go to an accumulator buffer of `m_tile` rows; rows of the last K tile are requantized
//!   by `requant_lanes` lanes (one per column by default; fewer lanes are shared, an output row
//!   then takes `cols / requant_lanes` cycles) and leave through an output FIFO, as u{abits} codes
//!   or, with `out_bits` B (`--out-bits`), as signed s{B} values (docs/arithmetic.md, U2: GELU
//!   index, residual increments, raw `Q K^T` accumulators).
//! * Three sequencers walk the same tile loop nest (`repq_walk`): the weight loader, the
//!   parameter loader and the activation issue; bank flags, a lag counter (accumulator-buffer
//!   read-after-write) and output credits keep them consistent under any stream stalls.
//! * Standalone units: `repq_requant` (U2), `repq_logcode` (U3), `repq_shift_av` (U4), and after
//!   them ([`units`]) `repq_av_requant` (U4 outputs to proj input codes, heads merged), `repq_gelu`
//!   (U7's table) and `repq_residual` (U8).
//!
//! The stream order of `repq_top` (the driver contract) is stated in the generated `repq_top.v`,
//! `repq_params.h` and `repq_params.json`, and implemented by [`streams`] (which also computes the
//! expected output beats with the reference units of [`crate::arith`]). The accumulator bound
//! lives in [`bound`]; a model-derived requirement plugs into [`GenConfig::requirement`] as an
//! [`AccRequirement`].

pub mod bound;
pub mod budget;
pub mod config;
pub mod driver;
pub mod render;
pub mod streams;
pub mod units;
pub mod vit;
pub mod write;

use std::path::{Path, PathBuf};

pub use config::{AccRequirement, Design, Field, GenConfig, GenError, PeShape, Side, Target};
pub use render::{
    GeneratedFile, SOURCES, SYNTH_WRAP, TESTBENCH, TOP, TOP_INPUTS, UNIT_TOPS, VIT_SOURCES,
    XILINX_PART, core_vlnv, render_all,
};

use crate::error::Result;

/// What [`generate`] wrote.
#[derive(Clone, Debug)]
pub struct GenReport {
    /// The output directory.
    pub dir: PathBuf,
    /// The file names written into it, in order.
    pub files: Vec<String>,
    /// The validated design.
    pub design: Design,
}

/// Validates `cfg`, renders every file and writes them into `out` (replacing an earlier
/// `repq-hw gen` output there). On any error nothing is left under `out`'s name.
pub fn generate(cfg: &GenConfig, out: &Path) -> Result<GenReport> {
    let design = cfg.validate()?;
    write::check_out(out)?;
    let files = render_all(&design);
    write::write_dir(out, &files)?;
    Ok(GenReport {
        dir: out.to_path_buf(),
        files: files.into_iter().map(|f| f.name).collect(),
        design,
    })
}
