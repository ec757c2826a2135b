//! The quantized model: reparameterized float parameters, per-layer weight quantizers with their
//! integer codes, and one activation quantizer per site; its fake-quant forward.

use std::collections::BTreeMap;

use rayon::prelude::*;

use super::config::QuantConfig;
use super::fastlog::LogThresholds;
use super::layers::{WeightLayer, is_post_ln, site_name_in, sites_of};
use super::quantizer::{
    Granularity, Log2Reparam, LogBase, LogCode, LogQuantizer, ShiftCode, UniformQuantizer,
};
use super::reparam::LnReparam;
use crate::error::{Error, Result};
use crate::model::{ActivationHook, Model, Network, Site, VisionTransformer, VitConfig};

/// The quantizer of one activation site.
#[derive(Clone, Debug, PartialEq)]
pub enum ActQuantizer {
    /// Asymmetric uniform (Eq. 7-9), per tensor or per channel of the last dimension.
    Uniform(UniformQuantizer),
    /// log2 or log-sqrt2 (post-Softmax).
    Log(LogQuantizer),
    /// log-sqrt2 in its log2-with-parity form (Eq. 18-20): what the hardware runs.
    Log2Reparam(Log2Reparam),
}

impl ActQuantizer {
    /// Bit width of the codes.
    pub fn bits(&self) -> u32 {
        match self {
            ActQuantizer::Uniform(q) => q.bits(),
            ActQuantizer::Log(q) => q.bits(),
            ActQuantizer::Log2Reparam(q) => q.bits(),
        }
    }

    /// Name of the kind, as in the artifact (`uniform`, `log2`, `log-sqrt2`, `log2-reparam`).
    pub fn kind(&self) -> &'static str {
        match self {
            ActQuantizer::Uniform(_) => "uniform",
            ActQuantizer::Log(q) if q.base() == LogBase::Two => "log2",
            ActQuantizer::Log(_) => "log-sqrt2",
            ActQuantizer::Log2Reparam(_) => "log2-reparam",
        }
    }

    /// Quantize then dequantize `x` in place. A per-channel quantizer needs `x.len()` to be a
    /// multiple of its channel count.
    pub fn fake_quant_in_place(&self, x: &mut [f32]) -> Result<()> {
        match self {
            ActQuantizer::Uniform(q) => q.fake_quant_in_place(x),
            ActQuantizer::Log(q) => {
                super::fastlog::fake_quant_log(q, x);
                Ok(())
            }
            ActQuantizer::Log2Reparam(r) => {
                super::fastlog::fake_quant_reparam(r, x);
                Ok(())
            }
        }
    }
}

/// The dequantized value of every log-sqrt2 code `q` through the reparameterized form:
/// `s~[q odd] * 2^-ceil(q/2)` (Eq. 19-20), index = `q`.
pub fn log2_reparam_levels(r: &Log2Reparam) -> Vec<f32> {
    (0..1u32 << r.bits())
        .map(|q| r.dequantize(ShiftCode::from_log_code(LogCode::Level(q as u8))))
        .collect()
}

/// Fake quantization through the reparameterized log2 form: the Eq. 18 code (shift and parity),
/// then the Eq. 19-20 value, in parallel, one logarithm per element ([`super::fastlog`] computes
/// the same without logarithms).
pub fn reparam_fake_quant_direct(r: &Log2Reparam, x: &mut [f32]) {
    let table = log2_reparam_levels(r);
    x.par_chunks_mut(1 << 15).for_each(|c| {
        for v in c {
            *v = match r.code(*v) {
                ShiftCode::Zero => 0.0,
                ShiftCode::Level { shift, odd } => table[usize::from(2 * shift - u8::from(odd))],
            };
        }
    });
}

/// A weight quantized per output channel: the quantizer and the integer codes (`[out, in]`
/// row-major, the convolution's `[D, C, Ph, Pw]` flattened the same way).
#[derive(Clone, Debug, PartialEq)]
pub struct QuantizedWeight {
    /// Asymmetric uniform, [`Granularity::PerRow`] over the output channels, integer zero points.
    pub quantizer: UniformQuantizer,
    /// Codes `q` of Eq. 7, `0..2^wbits`.
    pub codes: Vec<u8>,
}

impl QuantizedWeight {
    /// Initialises the quantizer on `weight` (`rows` output channels) and quantizes it.
    pub fn init(weight: &[f32], rows: usize, bits: u32) -> Result<Self> {
        let quantizer = UniformQuantizer::init(weight, bits, Granularity::PerRow { rows })?;
        let codes = quantizer.quantize_codes(weight)?;
        Ok(QuantizedWeight { quantizer, codes })
    }

    /// The dequantized weight `(q - z) * s` (equal to fake-quantizing the float weight).
    pub fn dequantize(&self) -> Result<Vec<f32>> {
        self.quantizer.dequantize_codes(&self.codes)
    }
}

/// One LayerNorm reparameterization (Sec. 3.2): the channel-wise quantizer calibrated on X' and
/// what Eq. 13-17 turned it into.
#[derive(Clone, Debug, PartialEq)]
pub struct PostLnReparam {
    /// The channel-wise quantizer of the calibration pass (scales `s`, zero points `z`).
    pub channel_wise: UniformQuantizer,
    /// `s~`, `z~`, `r1`, `r2`.
    pub reparam: LnReparam,
}

/// Where the calibration images came from (recorded in the artifact).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CalibrationInfo {
    /// `embedded`, an ImageFolder path, or a description.
    pub source: String,
    /// Number of calibration images (all in one batch).
    pub count: usize,
    /// Seed of the image choice, when images were drawn from a larger set.
    pub seed: Option<u64>,
}

/// A RepQ-ViT quantized model.
#[derive(Clone, Debug)]
pub struct QuantizedModel {
    pub config: QuantConfig,
    /// The float model after the LayerNorm reparameterization (new gamma, beta of norm1/norm2
    /// (Swin: and downsample.norm) and W, b of qkv/fc1 (Swin: and downsample.reduction) when
    /// `post_ln` is `reparam`), unquantized weights, with its name, preprocessing and labels.
    pub model: Model,
    /// Per-output-channel weight quantizers and codes of every quantized layer.
    pub weights: BTreeMap<WeightLayer, QuantizedWeight>,
    /// One quantizer per activation site.
    pub activations: BTreeMap<Site, ActQuantizer>,
    /// The LayerNorm reparameterizations applied (keyed by `QkvInput(i)` / `Fc1Input(i)` /
    /// `ReductionInput(s)`); empty
    /// unless `post_ln` is `reparam`, and not stored in the artifact.
    pub ln_reparams: BTreeMap<Site, PostLnReparam>,
    pub calibration: CalibrationInfo,
    /// The float checkpoint that was quantized (a path, or the embedded model's name); after
    /// [`load`](Self::load) `model.source` is the artifact, this stays the original.
    pub source_checkpoint: String,
    /// `model.net` with every quantized weight replaced by its dequantized codes.
    fake: Network,
    /// Code thresholds of the log quantizers ([`super::fastlog`]), with the quantizer each was
    /// built for (used only while `activations` still holds that quantizer).
    log_tables: BTreeMap<Site, (ActQuantizer, LogThresholds)>,
}

impl QuantizedModel {
    /// Assembles a quantized model and checks that every layer and site has its quantizer, with
    /// the right shapes.
    pub fn new(
        config: QuantConfig,
        model: Model,
        weights: BTreeMap<WeightLayer, QuantizedWeight>,
        activations: BTreeMap<Site, ActQuantizer>,
        ln_reparams: BTreeMap<Site, PostLnReparam>,
        calibration: CalibrationInfo,
    ) -> Result<Self> {
        let fake = fake_quant_weights(&model.net, &weights)?;
        let mut q = QuantizedModel {
            source_checkpoint: model.source.display().to_string(),
            config,
            model,
            weights,
            activations,
            ln_reparams,
            calibration,
            fake,
            log_tables: BTreeMap::new(),
        };
        q.check()?;
        q.log_tables = q
            .activations
            .iter()
            .filter_map(|(site, a)| {
                let t = match a {
                    ActQuantizer::Log(l) => LogThresholds::of(l),
                    ActQuantizer::Log2Reparam(r) => LogThresholds::of_reparam(r),
                    ActQuantizer::Uniform(_) => None,
                }?;
                Some((*site, (a.clone(), t)))
            })
            .collect();
        Ok(q)
    }

    fn check(&self) -> Result<()> {
        let net = &self.model.net;
        let bad = |what: String| Error::Invalid(format!("quantized model: {what}"));
        for site in sites_of(net) {
            let q = self
                .activations
                .get(&site)
                .ok_or_else(|| bad(format!("no quantizer for {}", site_name_in(net, site))))?;
            if let ActQuantizer::Uniform(u) = q
                && let Granularity::PerChannel { channels } = u.granularity()
                && !is_post_ln(site)
            {
                return Err(bad(format!(
                    "{} is per channel ({channels}); only the post-LayerNorm sites may be",
                    site_name_in(net, site)
                )));
            }
        }
        for layer in WeightLayer::all_of(net) {
            if !self.weights.contains_key(&layer) {
                return Err(bad(format!(
                    "no weight quantizer for {}",
                    layer.name_in(net)
                )));
            }
        }
        Ok(())
    }

    /// The ViT/DeiT architecture, which the integer model, golden vectors and RTL need.
    ///
    /// # Errors
    /// [`Error::Unsupported`] for a Swin model (its integer model is `intsim::IntSwin`).
    pub fn vit_config(&self) -> Result<&VitConfig> {
        self.model
            .config()
            .ok_or_else(|| self.integer_unsupported())
    }

    /// The error every integer-model path gives for an architecture it does not implement.
    pub fn integer_unsupported(&self) -> Error {
        Error::Unsupported {
            source_name: self.model.source.display().to_string(),
            what: format!(
                "a {} network on this command's ViT/DeiT integer path (program's layer program \
                 and engine image, report's integer sections)",
                self.model.net.family()
            ),
            hint: Some(
                "Swin runs through eval, predict, quantize, ablate, eval --integer, golden, gen \
                 --model, perf and verify; the end-to-end engine and the report are ViT/DeiT only \
                 for now"
                    .into(),
            ),
        }
    }

    /// The ViT/DeiT the fake-quant forward runs (`None` for Swin: [`Self::fake_quant_net`]).
    pub fn fake_quant_vit(&self) -> Option<&VisionTransformer> {
        match &self.fake {
            Network::Vit(v) => Some(v),
            Network::Swin(_) => None,
        }
    }

    /// The model the fake-quant forward runs: the reparameterized float model with dequantized
    /// weights (activations are quantized by the hook).
    pub fn fake_quant_net(&self) -> &Network {
        &self.fake
    }

    /// Fake-quant logits `[batch, classes]` for normalized images `[batch, C, H, W]`.
    pub fn forward(&self, images: &[f32], batch: usize) -> Result<Vec<f32>> {
        self.forward_with(images, batch, &mut crate::model::NoHook)
    }

    /// The fake-quant forward; `observer` sees every activation after it was quantized.
    pub fn forward_with(
        &self,
        images: &[f32],
        batch: usize,
        observer: &mut dyn ActivationHook,
    ) -> Result<Vec<f32>> {
        let mut hook = ApplyHook {
            activations: &self.activations,
            log_tables: &self.log_tables,
            observer,
            error: None,
        };
        let logits = self.fake.forward_with(images, batch, &mut hook)?;
        match hook.error {
            Some(e) => Err(e),
            None => Ok(logits),
        }
    }

    /// A one-line description, e.g. `W4A4 fake-quant`.
    pub fn describe(&self) -> String {
        format!("{} fake-quant", self.config.label())
    }
}

/// `net` with the weight of every layer in `weights` replaced by its dequantized codes.
pub(crate) fn fake_quant_weights(
    net: &Network,
    weights: &BTreeMap<WeightLayer, QuantizedWeight>,
) -> Result<Network> {
    let mut fake = net.clone();
    let deq: Vec<(WeightLayer, Vec<f32>)> = weights
        .par_iter()
        .map(|(l, w)| Ok((*l, w.dequantize()?)))
        .collect::<Result<_>>()?;
    for (layer, w) in deq {
        let name = layer.name_in(&fake);
        let lin = layer
            .linear_in_mut(&mut fake)
            .ok_or_else(|| Error::Invalid(format!("the model has no layer {name}")))?;
        if lin.weight.len() != w.len() {
            return Err(Error::Shape {
                context: format!("weight codes of {name}"),
                reason: format!("{} codes for {} weights", w.len(), lin.weight.len()),
            });
        }
        lin.weight = w;
    }
    Ok(fake)
}

/// Applies the stored quantizers; remembers the first error (the hook cannot return one).
struct ApplyHook<'a> {
    activations: &'a BTreeMap<Site, ActQuantizer>,
    log_tables: &'a BTreeMap<Site, (ActQuantizer, LogThresholds)>,
    observer: &'a mut dyn ActivationHook,
    error: Option<Error>,
}

impl ActivationHook for ApplyHook<'_> {
    fn activation(&mut self, site: Site, x: &mut [f32], channels: usize) {
        if self.error.is_some() {
            return;
        }
        match self.activations.get(&site) {
            Some(q) => {
                if let Some((built_for, t)) = self.log_tables.get(&site)
                    && built_for == q
                {
                    t.fake_quant_in_place(x);
                } else if let Err(e) = q.fake_quant_in_place(x) {
                    self.error = Some(e);
                    return;
                }
            }
            None => {
                self.error = Some(Error::Invalid(format!(
                    "quantized model: no quantizer for {}",
                    super::layers::site_name(site)
                )));
                return;
            }
        }
        self.observer.activation(site, x, channels);
    }
}
