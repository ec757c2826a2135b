//! The distributions behind the report's two paper figures, gathered by forward-pass hooks on
//! the float model: the per-channel ranges of every reparameterized post-LayerNorm activation
//! before and after the reparameterization (paper Fig. 2, Sec. 3.2), and the post-Softmax
//! distribution of one block against the log2 and log-sqrt2 quantizers' levels (paper Fig. 3,
//! Sec. 3.3).

use std::collections::BTreeMap;

use super::sqnr::sqnr_db;
use crate::error::{Error, Result};
use crate::model::{ActivationHook, Model, Site, VisionTransformer};
use crate::quant::quantizer::{Granularity, LogBase, LogQuantizer};
use crate::quant::{ActQuantizer, PostLnMode, QuantizedModel, site_name};

/// Per-channel minimum and maximum of an activation `[rows, channels]`.
#[derive(Clone, Debug, PartialEq)]
pub struct ChannelRanges {
    pub min: Vec<f32>,
    pub max: Vec<f32>,
}

impl ChannelRanges {
    /// The ranges of `x` (`[rows, channels]`, row-major).
    pub fn of(x: &[f32], channels: usize) -> Self {
        let mut min = vec![f32::INFINITY; channels];
        let mut max = vec![f32::NEG_INFINITY; channels];
        for row in x.chunks_exact(channels) {
            for ((lo, hi), &v) in min.iter_mut().zip(max.iter_mut()).zip(row) {
                *lo = lo.min(v);
                *hi = hi.max(v);
            }
        }
        ChannelRanges { min, max }
    }

    /// `max - min` of each channel.
    pub fn widths(&self) -> Vec<f32> {
        self.min.iter().zip(&self.max).map(|(a, b)| b - a).collect()
    }

    /// Smallest, mean and largest channel width (the paper quotes these for Fig. 2: 3.94, 7.11
    /// and 22.2 on DeiT-S).
    pub fn width_summary(&self) -> [f64; 3] {
        let w = self.widths();
        let lo = w.iter().copied().fold(f32::INFINITY, f32::min);
        let hi = w.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mean = w.iter().map(|&v| f64::from(v)).sum::<f64>() / w.len().max(1) as f64;
        [f64::from(lo), mean, f64::from(hi)]
    }
}

/// One post-LayerNorm activation (the input of `blocks.i.attn.qkv` or `blocks.i.mlp.fc1`).
#[derive(Clone, Debug, PartialEq)]
pub struct LnRanges {
    /// The LayerNorm, by timm's name (`blocks.0.norm1`).
    pub norm: String,
    /// The layer it feeds (`blocks.0.attn.qkv`).
    pub consumer: String,
    /// X' of the original float model.
    pub before: ChannelRanges,
    /// X~' = (X' + s r2) / r1 of the reparameterized float model (Eq. 15); `None` when the
    /// artifact was not reparameterized (`--post-ln` other than `reparam`).
    pub after: Option<ChannelRanges>,
    /// The real range `[(0 - z) s, (2^b - 1 - z) s]` of the layer-wise quantizer the artifact
    /// applies to this activation, when it is layer-wise.
    pub layer_wise: Option<(f32, f32)>,
}

/// Bins of the linear histogram over `[0, 1]`.
pub const LINEAR_BINS: usize = 50;
/// Bins per octave of the log2 histogram.
pub const LOG2_BINS_PER_OCTAVE: usize = 4;

/// One quantizer of the post-Softmax activations, as drawn in the figure.
#[derive(Clone, Debug, PartialEq)]
pub struct LevelSet {
    pub base: LogBase,
    /// The scale `s` (the largest level).
    pub scale: f32,
    /// The `2^b` nonzero levels, largest first.
    pub levels: Vec<f32>,
    /// Where the quantizer comes from: the artifact, or initialised here on these activations.
    pub source: String,
    /// SQNR in dB of this quantizer's fake quantization of the activations.
    pub sqnr_db: f64,
    /// Fraction of the activations above `s`, which the quantizer clips to `s`.
    pub above_scale: f64,
}

/// The post-Softmax activations A of one block (paper Fig. 3).
#[derive(Clone, Debug, PartialEq)]
pub struct SoftmaxHistogram {
    pub block: usize,
    /// Elements counted (images x heads x queries x keys).
    pub count: usize,
    /// Counts over `[0, 1]` in [`LINEAR_BINS`] equal bins.
    pub linear: Vec<u64>,
    /// `log2(a)` of the elements above 0, binned from `log2_lo` in steps of
    /// `1 / LOG2_BINS_PER_OCTAVE` up to 0.
    pub log2: Vec<u64>,
    pub log2_lo: f64,
    /// Elements that are exactly 0 (not in the log2 histogram).
    pub zeros: usize,
    /// Fraction of the elements below 0.3 (the paper: 99.2% on DeiT-S).
    pub below_0_3: f64,
    pub log_sqrt2: LevelSet,
    pub log2_quantizer: LevelSet,
}

/// Keeps the ranges of the post-LayerNorm sites and a copy of one block's post-Softmax activations.
struct StatsHook {
    ranges: BTreeMap<Site, ChannelRanges>,
    probs_block: usize,
    probs: Option<Vec<f32>>,
}

impl ActivationHook for StatsHook {
    fn activation(&mut self, site: Site, x: &mut [f32], channels: usize) {
        match site {
            Site::QkvInput(_) | Site::Fc1Input(_) => {
                self.ranges.insert(site, ChannelRanges::of(x, channels));
            }
            Site::AttnProbs(i) if i == self.probs_block => self.probs = Some(x.to_vec()),
            _ => {}
        }
    }
}

fn run_hook(
    vit: &VisionTransformer,
    images: &[f32],
    batch: usize,
    block: usize,
) -> Result<StatsHook> {
    let mut hook = StatsHook {
        ranges: BTreeMap::new(),
        probs_block: block,
        probs: None,
    };
    vit.forward_with(images, batch, &mut hook)?;
    Ok(hook)
}

/// The real range of a per-tensor uniform quantizer.
fn layer_wise_range(q: &QuantizedModel, site: Site) -> Option<(f32, f32)> {
    match q.activations.get(&site) {
        Some(ActQuantizer::Uniform(u)) if u.granularity() == Granularity::PerTensor => {
            let (s, z) = (u.scales()[0], u.zero_points()[0]);
            Some(((0.0 - z) * s, (u.qmax() as f32 - z) * s))
        }
        _ => None,
    }
}

/// Figures 2 and 3 of `images` (`[batch, C, H, W]`, normalized): the post-LayerNorm ranges of
/// `original` (the float checkpoint) and of the quantized model's reparameterized float model,
/// and the post-Softmax histogram of `block`.
///
/// Errors: `block` past the model's depth, or a forward-pass error.
pub fn collect(
    original: &Model,
    q: &QuantizedModel,
    images: &[f32],
    batch: usize,
    block: usize,
) -> Result<(Vec<LnRanges>, SoftmaxHistogram)> {
    let depth = q.vit_config()?.depth;
    if block >= depth {
        return Err(Error::Config {
            source_name: "repq-hw report".into(),
            field: "--block".into(),
            reason: format!(
                "block {block} does not exist: the model has blocks 0 to {}",
                depth - 1
            ),
        });
    }
    let before = run_hook(super::vit(original, q)?, images, batch, block)?;
    let after = run_hook(super::vit(&q.model, q)?, images, batch, block)?;
    let reparameterized = q.config.post_ln == PostLnMode::Reparam;
    let mut lns = Vec::new();
    for i in 0..depth {
        for (site, norm) in [(Site::QkvInput(i), "norm1"), (Site::Fc1Input(i), "norm2")] {
            let Some(b) = before.ranges.get(&site) else {
                return Err(Error::Invalid(format!(
                    "report: the forward pass never reached {}",
                    site_name(site)
                )));
            };
            lns.push(LnRanges {
                norm: format!("blocks.{i}.{norm}"),
                consumer: site_name(site).trim_end_matches(".input").to_string(),
                before: b.clone(),
                after: reparameterized
                    .then(|| after.ranges.get(&site).cloned())
                    .flatten(),
                layer_wise: layer_wise_range(q, site),
            });
        }
    }
    let probs = after.probs.ok_or_else(|| {
        Error::Invalid(format!(
            "report: the forward pass never reached the softmax of block {block}"
        ))
    })?;
    let hist = softmax_histogram(q, block, &probs)?;
    Ok((lns, hist))
}

/// The quantizer of `base` for the post-Softmax activations: the artifact's when it has that
/// base, else one initialised on `probs` the way calibration initialises it.
fn level_set(q: &QuantizedModel, block: usize, base: LogBase, probs: &[f32]) -> Result<LevelSet> {
    let bits = q.config.abits;
    let own = match q.activations.get(&Site::AttnProbs(block)) {
        Some(ActQuantizer::Log(l)) if l.base() == base => Some((*l, "the artifact's")),
        Some(ActQuantizer::Log2Reparam(r)) if base == LogBase::Sqrt2 => Some((
            LogQuantizer::new(LogBase::Sqrt2, r.bits(), r.scale())?,
            "the artifact's (run as log2 with parity, Eq. 18-20: the same levels)",
        )),
        _ => None,
    };
    let (lq, source) = match own {
        Some(x) => x,
        None => (
            crate::quant::fastlog::init_log(probs, bits, base)?,
            "initialised on these activations as calibration would",
        ),
    };
    let mut fq = probs.to_vec();
    lq.fake_quant_in_place(&mut fq);
    Ok(LevelSet {
        base,
        scale: lq.scale(),
        levels: lq.levels(),
        source: source.into(),
        sqnr_db: sqnr_db(signal_and_noise(probs, &fq)),
        above_scale: probs.iter().filter(|&&p| p > lq.scale()).count() as f64
            / probs.len().max(1) as f64,
    })
}

/// `(sum x^2, sum (x - y)^2)`.
fn signal_and_noise(x: &[f32], y: &[f32]) -> (f64, f64) {
    x.iter().zip(y).fold((0.0, 0.0), |(s, n), (&a, &b)| {
        let e = f64::from(a) - f64::from(b);
        (s + f64::from(a) * f64::from(a), n + e * e)
    })
}

/// The histograms of `probs` and both quantizers' levels.
pub fn softmax_histogram(
    q: &QuantizedModel,
    block: usize,
    probs: &[f32],
) -> Result<SoftmaxHistogram> {
    let mut linear = vec![0u64; LINEAR_BINS];
    let mut zeros = 0;
    let mut below = 0usize;
    let mut lo = 0f64;
    for &p in probs {
        let bin = ((f64::from(p) * LINEAR_BINS as f64) as usize).min(LINEAR_BINS - 1);
        linear[bin] += 1;
        below += usize::from(p < 0.3);
        if p > 0.0 {
            lo = lo.min(f64::from(p).log2());
        } else {
            zeros += 1;
        }
    }
    let per = LOG2_BINS_PER_OCTAVE as f64;
    let lo = (lo * per).floor() / per;
    let bins = ((-lo * per).round() as usize).max(1);
    let mut log2 = vec![0u64; bins];
    for &p in probs.iter().filter(|&&p| p > 0.0) {
        let b = ((f64::from(p).log2() - lo) * per) as usize;
        log2[b.min(bins - 1)] += 1;
    }
    Ok(SoftmaxHistogram {
        block,
        count: probs.len(),
        linear,
        log2,
        log2_lo: lo,
        zeros,
        below_0_3: below as f64 / probs.len().max(1) as f64,
        log_sqrt2: level_set(q, block, LogBase::Sqrt2, probs)?,
        log2_quantizer: level_set(q, block, LogBase::Two, probs)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_ranges_by_hand() {
        let r = ChannelRanges::of(&[1.0, -2.0, 3.0, 0.5, 4.0, -1.0], 3);
        assert_eq!(r.min, vec![0.5, -2.0, -1.0]);
        assert_eq!(r.max, vec![1.0, 4.0, 3.0]);
        assert_eq!(r.widths(), vec![0.5, 6.0, 4.0]);
        let [lo, mean, hi] = r.width_summary();
        assert_eq!((lo, hi), (0.5, 6.0));
        assert!((mean - 3.5).abs() < 1e-12);
    }
}
