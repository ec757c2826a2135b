//! `repq-hw perf`: cycles, utilization and throughput of the generated accelerator for one
//! matmul job or one forward pass of a model (see [`crate::perf`]).

use std::fmt::Write as _;
use std::path::Path;

use super::output::out;
use crate::error::{Error, Result};
use crate::model::{SwinConfig, VitConfig};
use crate::perf::{self, Unit, report};
use crate::rtl::{Design, GenConfig, PeShape, config::DEFAULT_M_TILE};

#[derive(Debug, clap::Args)]
pub struct PerfArgs {
    /// Array shape ROWSxCOLS, as for `repq-hw gen`
    #[arg(long, value_name = "RxC", allow_hyphen_values = true)]
    pub pe: String,
    /// Weight code bits (4, 6 or 8), as for `repq-hw gen`
    #[arg(long, value_name = "BITS", default_value_t = 8)]
    pub wbits: u32,
    /// Activation code bits (4, 6 or 8), as for `repq-hw gen`
    #[arg(long, value_name = "BITS", default_value_t = 8)]
    pub abits: u32,
    /// Accumulator bits, as for `repq-hw gen` (checked; they do not change the timing)
    #[arg(long, value_name = "N")]
    pub acc_bits: Option<u32>,
    /// Rows per M tile (the accumulator buffer depth)
    #[arg(long, value_name = "ROWS", default_value_t = DEFAULT_M_TILE)]
    pub m_tile: u32,
    /// Requantization lanes (a divisor of the column count; default: one per column)
    #[arg(long, value_name = "LANES")]
    pub requant_lanes: Option<u32>,
    /// One matmul job M x K x N (each 1 to 65535): rows, depth, output columns
    #[arg(
        long,
        value_name = "MxKxN",
        allow_hyphen_values = true,
        conflicts_with = "model"
    )]
    pub shape: Option<String>,
    /// Every matmul of one forward pass of this model: a float checkpoint (.safetensors), a
    /// quantized artifact (`repq-hw quantize --out`), `demo` (the embedded demo model, also the
    /// default without --shape) or `deit-s` (timm's deit_small_patch16_224 architecture)
    #[arg(long, value_name = "MODEL")]
    pub model: Option<String>,
    /// Read latency in cycles of the memory the engine figures assume (AR to first R word; no
    /// back-pressure, 64-bit AXI at the clock), 1 to 64
    #[arg(long, value_name = "CYCLES", default_value_t = 16,
          value_parser = clap::value_parser!(u32).range(1..=64))]
    pub mem_latency: u32,
    /// Clock in MHz for times and images/s (default 200)
    #[arg(long, value_name = "F", allow_hyphen_values = true)]
    pub clock_mhz: Option<f64>,
    /// What a float checkpoint given as --model does not determine (see `repq-hw info`)
    #[command(flatten)]
    pub options: super::model_options::ModelOptions,
}

/// Largest size of the control interface (`m_rows`, `k_depth`, `n_cols` are 16 bits).
const MAX_DIM: u64 = (1 << crate::rtl::config::DIM_BITS) - 1;

fn config_error(field: &str, reason: String) -> Error {
    Error::Config {
        source_name: "repq-hw perf".into(),
        field: field.into(),
        reason,
    }
}

/// `MxKxN` as three sizes, each 1 ..= 65535.
pub fn parse_shape(s: &str) -> Result<[u64; 3]> {
    let bad = |reason: String| config_error("--shape", format!("`{s}`: {reason}"));
    let parts: Vec<&str> = s.split(['x', 'X']).collect();
    if parts.len() != 3 {
        return Err(bad("not of the form MxKxN (such as 197x384x1152)".into()));
    }
    let mut dims = [0u64; 3];
    for ((dim, part), name) in dims.iter_mut().zip(&parts).zip(["M", "K", "N"]) {
        let part = part.trim();
        if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad(format!("{name} `{part}` is not a number")));
        }
        let v = part.parse::<u64>().unwrap_or(u64::MAX);
        if v == 0 {
            return Err(bad(format!("{name} must be at least 1")));
        }
        if v > MAX_DIM {
            return Err(bad(format!(
                "{name} = {v} is more than {MAX_DIM}, the largest size of the 16-bit control \
                 interface (split the job)"
            )));
        }
        *dim = v;
    }
    Ok(dims)
}

impl PerfArgs {
    /// The design the options describe (checked as `repq-hw gen` checks them).
    pub fn design(&self) -> Result<Design> {
        let pe: PeShape = self.pe.parse().map_err(Error::from)?;
        let cfg = GenConfig {
            wbits: self.wbits,
            abits: self.abits,
            acc_bits: self.acc_bits,
            m_tile: self.m_tile,
            requant_lanes: self.requant_lanes,
            clock_mhz: self.clock_mhz,
            // `repq-hw gen`'s default lanes; they set the engine's parameter beat size.
            out_bits: Some(32),
            ..GenConfig::new(pe)
        };
        let d = cfg.validate().map_err(|e| Error::Config {
            source_name: "repq-hw perf".into(),
            field: e.option().into(),
            reason: e.reason(),
        })?;
        Ok(d)
    }
}

/// The architecture `perf` counts: a ViT/DeiT or a Swin.
enum Arch {
    Vit(VitConfig),
    Swin(SwinConfig),
}

/// The architecture of `--model`: `demo` or nothing is the embedded model.
fn model_config(
    model: Option<&str>,
    options: &super::model_options::ModelOptions,
) -> Result<(String, Arch)> {
    let m = match model {
        Some("deit-s") => {
            options.refuse_for("the DeiT-S architecture")?;
            let cfg = crate::model::random::deit_small_config();
            return Ok((
                "deit-s (timm deit_small_patch16_224, shapes only)".into(),
                Arch::Vit(cfg),
            ));
        }
        None | Some("demo") => {
            options.refuse_for("the embedded demo model")?;
            crate::demo::model()?
        }
        Some(p) => {
            let path = Path::new(p);
            if !path.is_file() && crate::demo::Embedded::named(path).is_none() {
                return Err(config_error(
                    "--model",
                    format!(
                        "`{p}`: no such file (give a .safetensors checkpoint, a quantized \
                         artifact, or `demo`)"
                    ),
                ));
            }
            match super::quantize::LoadedModel::load_with(Some(path), options)? {
                super::quantize::LoadedModel::Float(m) => m,
                super::quantize::LoadedModel::Quantized(q) => q.model,
            }
        }
    };
    let arch = match (m.config(), m.swin()) {
        (Some(c), _) => Arch::Vit(c.clone()),
        (None, Some(s)) => Arch::Swin(s.config.clone()),
        (None, None) => {
            return Err(crate::error::Error::Unsupported {
                source_name: m.source.display().to_string(),
                what: format!("the accelerator model of a {} network", m.net.family()),
                hint: Some("perf models the ViT/DeiT and Swin datapaths only".into()),
            });
        }
    };
    Ok((format!("{} ({})", m.name, m.source.display()), arch))
}

pub fn run(args: &PerfArgs) -> Result<()> {
    let d = args.design()?;
    let shape = args.shape.as_deref().map(parse_shape).transpose()?;
    let text = match shape {
        Some([m, k, n]) => job_report(&d, m, k, n),
        None => {
            let (name, arch) = model_config(args.model.as_deref(), &args.options)?;
            match arch {
                Arch::Vit(cfg) => {
                    let mut t = model_report(&d, &name, &cfg);
                    t.push_str(&super::perf_engine::engine_report(
                        &d,
                        &cfg,
                        args.mem_latency,
                    )?);
                    t
                }
                Arch::Swin(cfg) => swin_report(&d, &name, &cfg),
            }
        }
    };
    out!("{text}")?;
    Ok(())
}

fn header(d: &Design) -> String {
    format!(
        "repq-hw perf: {}x{} weight-stationary array, w{}a{}, M tile {} rows, {} requantization \
         lanes, {} MHz\n",
        d.rows, d.cols, d.wbits, d.abits, d.m_tile, d.requant_lanes, d.clock_mhz
    )
}

/// A time in the largest unit that keeps it above 1.
fn time(seconds: f64) -> String {
    if seconds >= 1.0 {
        format!("{seconds:.3} s")
    } else if seconds >= 1e-3 {
        format!("{:.3} ms", seconds * 1e3)
    } else {
        format!("{:.3} us", seconds * 1e6)
    }
}

fn pct(u: f64) -> String {
    format!("{:.1}%", 100.0 * u)
}

/// The report for one job.
pub fn job_report(d: &Design, m: u64, k: u64, n: u64) -> String {
    let cycles = perf::job_cycles(d, m, k, n);
    let macs = m * k * n;
    let pes = u64::from(d.rows) * u64::from(d.cols);
    let tiles = [
        m.div_ceil(d.m_tile.into()),
        n.div_ceil(d.cols.into()),
        k.div_ceil(d.rows.into()),
    ];
    let mut s = header(d);
    let _ = writeln!(s, "job          {m}x{k}x{n} (M x K x N)");
    let _ = writeln!(
        s,
        "tiles        {} M x {} N x {} K = {} passes",
        tiles[0],
        tiles[1],
        tiles[2],
        tiles.iter().product::<u64>()
    );
    let _ = writeln!(
        s,
        "cycles       {cycles} (start to done, every stream always valid/ready)"
    );
    let _ = writeln!(s, "MACs         {macs}");
    let _ = writeln!(
        s,
        "utilization  {} (M*K*N / (R*C*cycles), R*C = {pes})",
        pct(report::utilization(macs, pes, cycles))
    );
    let _ = writeln!(
        s,
        "time         {} at {} MHz",
        time(report::seconds(cycles, d.clock_mhz)),
        d.clock_mhz
    );
    s
}

/// The report for one forward pass of a ViT/DeiT.
pub fn model_report(d: &Design, name: &str, cfg: &VitConfig) -> String {
    let about = format!(
        "model {name}: {} tokens, width {}, {} heads of {}, MLP {}, {} blocks",
        cfg.seq_len(),
        cfg.embed_dim,
        cfg.num_heads,
        cfg.head_dim(),
        cfg.mlp_hidden,
        cfg.depth
    );
    ops_report(d, &about, &perf::vit_workload(cfg))
}

/// The report for one forward pass of a Swin.
pub fn swin_report(d: &Design, name: &str, cfg: &SwinConfig) -> String {
    let stages: Vec<String> = cfg
        .stages
        .iter()
        .map(|st| {
            format!(
                "{}x{} tokens of {} in windows of {}x{}, {} heads, {} blocks",
                st.resolution[0],
                st.resolution[1],
                st.dim,
                st.window[0],
                st.window[1],
                st.num_heads,
                st.depth
            )
        })
        .collect();
    let about = format!("model {name} (Swin): {}", stages.join("; "));
    ops_report(d, &about, &perf::swin_workload(cfg))
}

/// The table and totals of `ops` run back to back on `d`, under the line `about`.
fn ops_report(d: &Design, about: &str, ops: &[perf::Op]) -> String {
    let e = perf::evaluate(d, ops);
    let mut s = header(d);
    let _ = writeln!(s, "{about}");
    let w = ops.iter().map(|o| o.name.len()).max().unwrap_or(0).max(6);
    let _ = writeln!(
        s,
        "{:<w$}  {:<5}  {:>5}  {:>16}  {:>12}  {:>12}  {:>6}",
        "operation", "unit", "jobs", "MxKxN", "cycles/job", "cycles", "util"
    );
    for r in &e.ops {
        let unit = unit_name(r.op.unit);
        let _ = writeln!(
            s,
            "{:<w$}  {:<5}  {:>5}  {:>16}  {:>12}  {:>12}  {:>6}",
            r.op.name,
            unit,
            r.op.count,
            r.op.shape(),
            r.cycles_each,
            r.cycles,
            pct(r.utilization)
        );
    }
    let total = e.cycles();
    let secs = report::seconds(total, d.clock_mhz);
    let _ = writeln!(
        s,
        "array        {} cycles, {} MACs, utilization {}",
        e.array_cycles,
        e.array_macs,
        pct(e.array_utilization(d))
    );
    let _ = writeln!(
        s,
        "shift unit   {} cycles, {} MACs (A x V), lane utilization {} of {} lanes",
        e.shift_av_cycles,
        e.shift_av_macs,
        pct(e.shift_av_utilization(d)),
        d.cols
    );
    let _ = writeln!(
        s,
        "row units    {} cycles, {} elements (LayerNorm, softmax, A x V requantization, GELU, residual additions, average pool)",
        e.units_cycles, e.units_elements
    );
    let _ = writeln!(
        s,
        "total        {total} cycles, {} MACs, {} per image at {} MHz = {:.1} images/s",
        e.macs(),
        time(secs),
        d.clock_mhz,
        if secs > 0.0 { 1.0 / secs } else { 0.0 }
    );
    let _ = writeln!(s, "where the time goes: {}", time_by_unit(&e));
    let _ = writeln!(
        s,
        "note: cycles count every unit of the forward: the array (repq_top), the shift unit \
         (repq_shift_av) and the row units (repq_layernorm, repq_softmax with repq_logcode \
         streaming behind it, repq_av_requant, repq_gelu with its table load, repq_residual, \
         repq_avgpool), each job run back to back from start to done, no overlap; data movement \
         (the position-embedding load, Swin's window partition, shift and 2x2 gather) and \
         memory or host transfers are not counted"
    );
    s
}

/// Each unit's share of the cycles, largest first: `array 24.3%, norm 28.2%, ...`.
fn time_by_unit(e: &perf::Evaluated) -> String {
    let mut by: Vec<(&str, u64)> = Vec::new();
    for r in &e.ops {
        let name = unit_name(r.op.unit);
        match by.iter_mut().find(|(n, _)| *n == name) {
            Some((_, c)) => *c += r.cycles,
            None => by.push((name, r.cycles)),
        }
    }
    by.sort_by_key(|&(_, c)| std::cmp::Reverse(c));
    let total = e.cycles().max(1) as f64;
    by.iter()
        .map(|(n, c)| format!("{n} {:.1}%", 100.0 * *c as f64 / total))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The unit column of the per-layer table.
fn unit_name(u: Unit) -> &'static str {
    match u {
        Unit::Array => "array",
        Unit::ShiftAv => "shift",
        Unit::AvRequant => "avrq",
        Unit::Gelu => "gelu",
        Unit::Residual => "add",
        Unit::LayerNorm => "norm",
        Unit::Softmax => "smax",
        Unit::AvgPool => "pool",
    }
}
