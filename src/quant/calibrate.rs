//! The RepQ-ViT calibration flow (paper Algorithm 1; REFERENCE.md section 1 "Calibration flow").
//!
//! 1. Every weight (each Linear, the heads, the patch-embedding convolution) gets an asymmetric
//!    per-output-channel quantizer (percentile/MSE initialisation) and is fake-quantized. The
//!    reference initialises weight quantizers lazily in the first forward pass; the result is the
//!    same because a weight quantizer depends on the weight only.
//! 2. One forward pass over all calibration images as one batch. At every activation site, in
//!    forward order, the site's quantizer is initialised from the tensor it sees and then
//!    fake-quantizes that tensor in place, so each quantizer is calibrated on inputs that already
//!    went through the quantized layers before it:
//!    * the image entering the patch embedding: 8 bits, per tensor;
//!    * qkv and fc1 inputs (post-LayerNorm X', Y'): per channel ([`PostLnMode::LayerWise`]: per
//!      tensor);
//!    * q, k, v, proj, fc2 and head inputs: per tensor;
//!    * post-Softmax attention: log-sqrt2 ([`PostSoftmaxMode::Log2`]: log2).
//! 3. [`PostLnMode::Reparam`]: for every norm1 -> qkv and norm2 -> fc1 pair (Swin: and every
//!    PatchMerging downsample.norm -> downsample.reduction, REFERENCE.md section 5), the channel-wise
//!    (s, z) become the layer-wise (s~, z~) by Eq. 13-17 ([`reparameterize_with`]); the final norm
//!    before the head is not reparameterized. The changed layers' weight quantizers are initialised
//!    again on the new weights; nothing else is (the reference's second forward pass
//!    re-initialises only those, and they need no activation statistics, so no pass is run).
//! 4. [`PostSoftmaxMode::Reparam`]: each log-sqrt2 quantizer becomes its log2-with-parity form
//!    (Eq. 18-20), whose values are the log-sqrt2 values.

use std::collections::BTreeMap;

use rayon::prelude::*;

use super::config::{PATCH_INPUT_BITS, PostLnMode, PostSoftmaxMode, QuantConfig, ZTilde};
use super::layers::{WeightLayer, ln_pair_mut, ln_pairs, site_name_in, sites_of};
use super::model::{
    ActQuantizer, CalibrationInfo, PostLnReparam, QuantizedModel, QuantizedWeight,
    fake_quant_weights,
};
use super::quantizer::{Granularity, LogBase, UniformQuantizer, round_half_even};
use super::reparam::reparameterize_with;
use super::tails::init_uniform_per_tensor;
use crate::error::{Error, Result};
use crate::model::{ActivationHook, Model, Network, Site};

/// Quantizes `model` with RepQ-ViT, calibrating on `images` (`[batch, C, H, W]`, normalized, all
/// used as one batch as the reference does). Shows a progress bar on stderr when it is a terminal.
pub fn calibrate(
    model: &Model,
    images: &[f32],
    batch: usize,
    config: QuantConfig,
    calibration: CalibrationInfo,
) -> Result<QuantizedModel> {
    config.validate()?;
    if batch == 0 {
        return Err(Error::Invalid(
            "calibration needs at least one image".into(),
        ));
    }
    if config.post_ln == PostLnMode::Reparam
        && let Network::Swin(s) = &model.net
        && let Some(i) = s.config.padded_stage()
    {
        let st = &s.config.stages[i];
        return Err(Error::Unsupported {
            source_name: model.source.display().to_string(),
            what: format!(
                "the LayerNorm reparameterization of a Swin whose stage {i} grid {}x{} is \
                 zero-padded to whole {}x{} windows (the reparameterized norm1 changes what the \
                 padding tokens mean, so the float model would change)",
                st.resolution[0], st.resolution[1], st.window[0], st.window[1]
            ),
            hint: Some(
                "use --post-ln channel-wise or layer-wise, or an input size whose stage grids \
                 are whole windows"
                    .into(),
            ),
        });
    }
    let sites = sites_of(&model.net);
    let bar = crate::progress::bar(sites.len() + 2, "calibrate", "steps");

    // Step 1: weights.
    let mut weights = init_weights(&model.net, &WeightLayer::all_of(&model.net), config.wbits)?;
    let calib_net = fake_quant_weights(&model.net, &weights)?;
    bar.inc(1);

    // Step 2: one forward pass, lazy initialisation in forward order.
    let mut hook = CalibHook {
        config,
        activations: BTreeMap::new(),
        bar: &bar,
        error: None,
    };
    calib_net.forward_with(images, batch, &mut hook)?;
    drop(calib_net);
    if let Some(e) = hook.error {
        return Err(e);
    }
    let mut activations = hook.activations;
    for site in &sites {
        if !activations.contains_key(site) {
            return Err(Error::Invalid(format!(
                "calibration: the forward pass never reached {}",
                site_name_in(&model.net, *site)
            )));
        }
    }

    // Step 3: LayerNorm reparameterization and re-initialisation of the changed weights.
    let mut net = model.net.clone();
    let mut ln_reparams = BTreeMap::new();
    if config.post_ln == PostLnMode::Reparam {
        let mut changed = Vec::new();
        for (site, layer) in ln_pairs(&net) {
            let Some(ActQuantizer::Uniform(q)) = activations.get(&site) else {
                unreachable!("post-LN sites are uniform");
            };
            let (s, z) = (q.scales().to_vec(), q.zero_points().to_vec());
            let s_tilde = mean(&s);
            let z_tilde = match config.z_tilde {
                ZTilde::Mean => mean(&z),
                ZTilde::Round => round_half_even(mean(&z)) + 0.0,
            };
            let (ln, next) = ln_pair_mut(&mut net, layer).ok_or_else(|| {
                Error::Invalid(format!(
                    "the model has no layer {}",
                    layer.name_in(&model.net)
                ))
            })?;
            let rep = reparameterize_with(ln, next, &s, &z, s_tilde, z_tilde);
            let layer_wise = UniformQuantizer::from_parts(
                config.abits,
                Granularity::PerTensor,
                vec![rep.s_tilde],
                vec![rep.z_tilde],
            )?;
            let channel_wise = match activations.insert(site, ActQuantizer::Uniform(layer_wise)) {
                Some(ActQuantizer::Uniform(q)) => q,
                _ => unreachable!("post-LN sites are uniform"),
            };
            ln_reparams.insert(
                site,
                PostLnReparam {
                    channel_wise,
                    reparam: rep,
                },
            );
            changed.push(layer);
        }
        // A qkv layer without a bias got one (Eq. 17).
        match &mut net {
            Network::Vit(vit) => {
                vit.config.qkv_bias = vit.blocks.iter().all(|b| b.qkv.bias.is_some());
            }
            Network::Swin(swin) => {
                swin.config.qkv_bias = swin
                    .layers
                    .iter()
                    .flat_map(|l| &l.blocks)
                    .all(|b| b.attn.qkv.bias.is_some());
            }
        }
        weights.extend(init_weights(&net, &changed, config.wbits)?);
    }

    // Step 4: post-Softmax reparameterization.
    if config.post_softmax == PostSoftmaxMode::Reparam {
        for site in sites.iter().filter(|s| matches!(s, Site::AttnProbs(_))) {
            if let Some(ActQuantizer::Log(q)) = activations.get(site) {
                let r = q.reparam()?;
                activations.insert(*site, ActQuantizer::Log2Reparam(r));
            }
        }
    }
    bar.inc(1);
    bar.finish_and_clear();

    let reparameterized = Model {
        name: model.name.clone(),
        source: model.source.clone(),
        net,
        preprocess: model.preprocess.clone(),
        labels: model.labels.clone(),
    };
    QuantizedModel::new(
        config,
        reparameterized,
        weights,
        activations,
        ln_reparams,
        calibration,
    )
}

/// Per-output-channel weight quantizers of `layers` of `net`, initialised in parallel.
fn init_weights(
    net: &Network,
    layers: &[WeightLayer],
    bits: u32,
) -> Result<BTreeMap<WeightLayer, QuantizedWeight>> {
    layers
        .par_iter()
        .map(|&layer| {
            let lin = layer.linear_in(net).ok_or_else(|| {
                Error::Invalid(format!("the model has no layer {}", layer.name_in(net)))
            })?;
            Ok((
                layer,
                QuantizedWeight::init(&lin.weight, lin.out_features, bits)?,
            ))
        })
        .collect()
}

/// The reparameterization's mean (as [`super::reparam::reparameterize`] computes it: f64 sum).
fn mean(v: &[f32]) -> f32 {
    (v.iter().map(|&x| f64::from(x)).sum::<f64>() / v.len() as f64) as f32
}

/// The quantizer a site gets in the calibration pass, initialised on `x`.
pub fn init_site(
    config: &QuantConfig,
    site: Site,
    x: &[f32],
    channels: usize,
) -> Result<ActQuantizer> {
    let a = config.abits;
    Ok(match site {
        Site::PatchInput => ActQuantizer::Uniform(init_uniform_per_tensor(x, PATCH_INPUT_BITS)?),
        Site::QkvInput(_) | Site::Fc1Input(_) | Site::ReductionInput(_) => {
            ActQuantizer::Uniform(match config.post_ln {
                PostLnMode::LayerWise => init_uniform_per_tensor(x, a)?,
                PostLnMode::ChannelWise | PostLnMode::Reparam => {
                    UniformQuantizer::init(x, a, Granularity::PerChannel { channels })?
                }
            })
        }
        Site::AttnProbs(_) => {
            let base = match config.post_softmax {
                PostSoftmaxMode::Log2 => LogBase::Two,
                PostSoftmaxMode::LogSqrt2 | PostSoftmaxMode::Reparam => LogBase::Sqrt2,
            };
            ActQuantizer::Log(super::fastlog::init_log(x, a, base)?)
        }
        Site::Query(_)
        | Site::Key(_)
        | Site::Value(_)
        | Site::ProjInput(_)
        | Site::Fc2Input(_)
        | Site::HeadInput
        | Site::HeadDistInput => ActQuantizer::Uniform(init_uniform_per_tensor(x, a)?),
    })
}

/// Initialises each site's quantizer the first time the site is seen, then fake-quantizes the
/// activation in place (the reference's calibration forward).
struct CalibHook<'a> {
    config: QuantConfig,
    activations: BTreeMap<Site, ActQuantizer>,
    bar: &'a indicatif::ProgressBar,
    error: Option<Error>,
}

impl ActivationHook for CalibHook<'_> {
    fn activation(&mut self, site: Site, x: &mut [f32], channels: usize) {
        if self.error.is_some() {
            return;
        }
        let result = match self.activations.get(&site) {
            Some(q) => q.fake_quant_in_place(x),
            None => init_site(&self.config, site, x, channels).and_then(|q| {
                q.fake_quant_in_place(x)?;
                self.activations.insert(site, q);
                self.bar.inc(1);
                Ok(())
            }),
        };
        if let Err(e) = result {
            self.error = Some(e);
        }
    }
}
