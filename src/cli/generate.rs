//! `repq-hw gen` (this file is generate.rs: `gen` is a reserved word in edition 2024): the Verilog generator (see [`crate::rtl`]).

use std::path::PathBuf;

use super::output::outln;
use crate::error::{Error, Result};
use crate::rtl::{self, GenConfig, PeShape, Target, config::DEFAULT_M_TILE};

#[derive(Debug, clap::Args)]
pub struct GenArgs {
    /// Array shape ROWSxCOLS: rows are the depth (K) lanes, columns the output (N) lanes, each
    /// 1 to 256
    #[arg(long, value_name = "RxC", allow_hyphen_values = true)]
    pub pe: String,
    /// Weight code bits (4, 6 or 8); the stationary operand lanes are max(wbits, abits) + 1 bits.
    /// Default: the --model artifact's, else 8
    #[arg(long, value_name = "BITS")]
    pub wbits: Option<u32>,
    /// Activation lane bits (4, 6 or 8). Default 8; with --model, the widest codes its matmuls
    /// take (the patch embedding's 8-bit image codes, so 8 for A4 and A6 models too: U3 and GELU
    /// take the model's narrower codes at run time)
    #[arg(long, value_name = "BITS")]
    pub abits: Option<u32>,
    /// Accumulator bits (at most 32); default: exactly what the model needs (without --model:
    /// the worst case of the embedded demo model's architecture)
    #[arg(long, value_name = "N")]
    pub acc_bits: Option<u32>,
    /// A quantized artifact (`repq-hw quantize --out`) whose integer weights set the accumulator
    /// requirement exactly
    #[arg(long, value_name = "MODEL")]
    pub model: Option<PathBuf>,
    /// Rows per M tile: the depth of the on-chip accumulator buffer
    #[arg(long, value_name = "ROWS", default_value_t = DEFAULT_M_TILE)]
    pub m_tile: u32,
    /// Requantization lanes (a divisor of the column count; default: one per column). Fewer
    /// lanes share the requantization units, the largest part of a small array: an output row then
    /// takes COLS / LANES cycles
    #[arg(long, value_name = "LANES")]
    pub requant_lanes: Option<u32>,
    /// Output lane bits B of m_out. ABITS+1 to 32: signed lanes and signed clamp bounds; the
    /// default 32 holds every requantization target of the model (residual s32, GELU index s16,
    /// codes, raw Q K^T accumulators), so the design runs every case of `repq-hw golden`.
    /// B = ABITS: unsigned code lanes only (a smaller output path; the residual, GELU-index and
    /// Q K^T cases then cannot run)
    #[arg(long, value_name = "B", default_value_t = rtl::config::DEFAULT_OUT_BITS)]
    pub out_bits: u32,
    /// Implementation target: generic (SDC), xcup (Xilinx UltraScale+, XDC), ecp5 (LPF), ice40
    /// (PCF)
    #[arg(long, value_name = "NAME", default_value = "generic")]
    pub target: String,
    /// Clock goal in MHz written into the constraints; default: 200 generic, 300 xcup, 75 ecp5,
    /// 24 ice40
    #[arg(long, value_name = "F")]
    pub clock_mhz: Option<f64>,
    /// Output directory (created, or replaced if an earlier `repq-hw gen` wrote it)
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

impl GenArgs {
    /// The generator configuration these options describe (every value checked by
    /// [`GenConfig::validate`] before anything is written), and the `--model` artifact, loaded
    /// once.
    pub fn config(&self) -> Result<(GenConfig, Option<crate::quant::QuantizedModel>)> {
        let pe: PeShape = self.pe.parse().map_err(Error::from)?;
        let target: Target = self.target.parse().map_err(Error::from)?;
        // With --model: the exact worst case of the quantized model's own integer weights and
        // code ranges (every linear layer and Q K^T; A x V is sized by its fraction bits F).
        let (wbits, abits, requirement, q) = match &self.model {
            None => (self.wbits.unwrap_or(8), self.abits.unwrap_or(8), None, None),
            Some(m) => {
                let (w, a, r, q) = model_requirement(m, self.wbits, self.abits)?;
                (w, a, Some(r), Some(q))
            }
        };
        let c = GenConfig {
            wbits,
            abits,
            acc_bits: self.acc_bits,
            m_tile: self.m_tile,
            target,
            clock_mhz: self.clock_mhz,
            requant_lanes: self.requant_lanes,
            out_bits: Some(self.out_bits),
            requirement,
            model: self.model.as_ref().map(|m| m.display().to_string()),
            ..GenConfig::new(pe)
        };
        Ok((c, q))
    }
}

/// The widths and accumulator requirement of a quantized artifact (`repq-hw quantize --out`):
/// `(wbits, abits, requirement, the artifact)`. The lanes default to [`model_lane_bits`]; given (`--wbits` /
/// `--abits`), they must hold the model's codes (at least its own widths).
fn model_requirement(
    path: &std::path::Path,
    wbits: Option<u32>,
    abits: Option<u32>,
) -> Result<(u32, u32, rtl::AccRequirement, crate::quant::QuantizedModel)> {
    let bad = |field: &str, reason: String| Error::Config {
        source_name: path.display().to_string(),
        field: field.into(),
        reason,
    };
    let q = match super::quantize::LoadedModel::load(Some(path))? {
        super::quantize::LoadedModel::Quantized(q) => q,
        super::quantize::LoadedModel::Float(_) => {
            return Err(bad(
                "--model",
                "a float checkpoint; give a quantized artifact of `repq-hw quantize` (its integer \
                 weights set the accumulator width)"
                    .into(),
            ));
        }
    };
    let source = path.display().to_string();
    let (w, a) = model_lane_bits(&q);
    let (model_w, model_a) = (q.config.wbits, q.config.abits);
    let wbits = wbits.unwrap_or(w);
    let abits = abits.unwrap_or(a);
    if wbits < model_w {
        return Err(bad(
            "--wbits",
            format!(
                "{wbits}-bit weight lanes cannot hold the W{model_w} weights of this model (give \
                 --wbits {model_w} or more, or leave it out)"
            ),
        ));
    }
    if abits < model_a {
        return Err(bad(
            "--abits",
            format!(
                "{abits}-bit activation lanes cannot hold the A{model_a} codes of this model (give \
                 --abits {a}, or leave it out)"
            ),
        ));
    }
    let r = quantized_requirement(&q, &source)?;
    Ok((wbits, abits, r, *q))
}

/// The lane widths `(wbits, abits)` `gen --model` gives a quantized model by default: its weight
/// bits, and activation lanes wide enough for every matmul input of its forward: its code bits,
/// or the patch embedding's image codes when those are wider (a W4A4 model's patch embedding
/// takes 8-bit image codes, so its design has 8-bit activation lanes; U3 and U7 take the model's
/// narrower codes at run time).
pub fn model_lane_bits(q: &crate::quant::QuantizedModel) -> (u32, u32) {
    let image_bits = crate::quant::config::PATCH_INPUT_BITS;
    (q.config.wbits, q.config.abits.max(image_bits))
}

/// The exact accumulator requirement of a quantized model's integer weights and code ranges
/// (every linear layer and Q K^T; A x V is sized by its fraction bits F), as `gen --model` sizes
/// the array; `source` names the model in the generated files.
pub fn quantized_requirement(
    q: &crate::quant::QuantizedModel,
    source: &str,
) -> Result<rtl::AccRequirement> {
    // Requirements, the deepest matmul (K) and the keys of the attention (T).
    let (reqs, max_k, keys) = match crate::intsim::IntNet::lower(q, 32)? {
        crate::intsim::IntNet::Vit(int) => {
            let cfg = &int.config;
            let k = cfg.mlp_hidden.max(cfg.embed_dim).max(cfg.patch_len());
            (int.requirements(), k, cfg.seq_len())
        }
        crate::intsim::IntNet::Swin(int) => {
            let cfg = &int.config;
            let k = cfg
                .stages
                .iter()
                .map(|s| s.mlp_hidden.max(s.dim).max(s.attn_dim()))
                .chain(int.merges.iter().flatten().map(|m| 4 * m.dim))
                .fold(cfg.patch_len(), usize::max);
            let t = int
                .blocks
                .iter()
                .map(|b| b.window_area())
                .max()
                .unwrap_or(1);
            (int.requirements(), k, t)
        }
    };
    let fixed: Vec<_> = reqs
        .into_iter()
        .filter(|r| !r.what.ends_with("A@V"))
        .collect();
    let widest = fixed
        .iter()
        .max_by_key(|r| r.bound.clone())
        .ok_or_else(|| Error::Invalid(format!("{source}: the model has no matmul")))?;
    let bound = fixed
        .iter()
        .map(|r| r.bound.clone())
        .max()
        .unwrap_or_default();
    Ok(rtl::AccRequirement::exact(
        format!(
            "{} ({source}), exact worst case of its integer weights and code ranges, widest {}: |acc| <= {}",
            q.model.name, widest.what, widest.bound
        ),
        max_k as u64,
        keys as u64,
        -bound.clone(),
        bound,
    ))
}

/// The accumulator width `gen --model` chooses for a quantized model (its exact requirement, at
/// least the PE product's width): `golden`'s default for that model, so that its vectors (the
/// A x V fraction bits F among them) run on that design.
pub fn quantized_acc_bits(q: &crate::quant::QuantizedModel, source: &str) -> Result<u32> {
    let (wbits, abits) = model_lane_bits(q);
    let c = GenConfig {
        wbits,
        abits,
        requirement: Some(quantized_requirement(q, source)?),
        ..GenConfig::new(PeShape { rows: 1, cols: 1 })
    };
    c.validate().map(|d| d.acc_bits).map_err(|e| Error::Config {
        source_name: source.into(),
        field: e.option().into(),
        reason: e.reason(),
    })
}

pub fn run(args: &GenArgs) -> Result<()> {
    let (cfg, q) = args.config()?;
    let report = rtl::generate(&cfg, &args.out)?;
    let d = &report.design;
    outln!(
        "repq-hw gen: wrote {} files to {}",
        report.files.len(),
        report.dir.display()
    )?;
    let model_bits = d.requirement.bits();
    let why = if d.acc_bits_required > model_bits {
        format!(
            "the array's u{} x s{} products need {}; {} needs {model_bits}",
            d.abits, d.wob, d.acc_bits_required, d.requirement.source
        )
    } else {
        d.requirement.source.clone()
    };
    outln!(
        "  {}x{} weight-stationary array, w{}a{}, s{} accumulators ({} required: {why})",
        d.rows,
        d.cols,
        d.wbits,
        d.abits,
        d.acc_bits,
        d.acc_bits_required,
    )?;
    outln!(
        "  M tile {} rows, {} requantization lanes, output FIFO {} rows, target {} at {} MHz, top {}",
        d.m_tile,
        d.requant_lanes,
        d.fifo_depth,
        d.target.description(),
        d.clock_mhz,
        rtl::TOP
    )?;
    if d.out_signed() {
        outln!(
            "  output lanes s{} (signed; lo/hi s{} in the parameter beat)",
            d.out_lane_bits(),
            d.out_lane_bits()
        )?;
    }
    if rtl::vit::VitParams::new(d).is_none() {
        outln!(
            "  {VIT} (the end-to-end engine) not generated: it needs rows and columns that are \
             powers of two of at least 8, 32-bit output lanes and 8-bit activation lanes \
             (e.g. gen --pe 8x8); per-unit verification is unaffected"
        )?;
    } else if let Some(q) = &q {
        engine_budget(d, q)?;
    }
    for f in &report.files {
        outln!("  {}", f)?;
    }
    Ok(())
}

/// With `--model`: whether the design's `repq_vit` runs the model end to end (the engine's
/// limits, with their numbers) and the model's activation buffers against the target's block
/// RAM (docs/accelerator.md, "Memory budget").
fn engine_budget(d: &rtl::Design, q: &crate::quant::QuantizedModel) -> Result<()> {
    use crate::rtl::budget;
    let Some(cfg) = q.model.config() else {
        outln!(
            "  {VIT}: does not run {} end to end (Swin is not lowered to the engine yet); \
             per-unit verification is unaffected",
            q.model.name
        )?;
        return Ok(());
    };
    let why = budget::engine_limits(d, cfg);
    if why.is_empty() {
        outln!(
            "  {VIT}: runs {} end to end (verify --end-to-end, program --pe)",
            q.model.name
        )?;
    } else {
        outln!(
            "  {VIT}: does not run {} end to end: {}; per-unit verification is unaffected",
            q.model.name,
            why.join("; ")
        )?;
    }
    let peak = budget::peak_live_bytes(cfg);
    let device = d.target.device().map_or_else(String::new, |dev| {
        format!(
            " ({:.1}% of the {}'s {} KiB block RAM, {})",
            100.0 * peak as f64 / dev.block_ram_bytes as f64,
            dev.part,
            dev.block_ram_bytes / 1024,
            dev.blocks
        )
    });
    outln!("  activation buffers, all in external memory (peak live {peak} B{device}):")?;
    for b in budget::activation_buffers(cfg) {
        outln!("    {:<38} {:<16} {:>10} B", b.name, b.layout, b.bytes)?;
    }
    Ok(())
}

const VIT: &str = rtl::vit::VIT_TOP;
