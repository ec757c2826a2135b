//! Lowering: a [`QuantizedModel`] (real scales, fake-quant) to the integer constants of
//! docs/arithmetic.md. This is the only place where floating point meets the integer model, and it
//! runs once, offline.

use num_bigint::BigInt;

use super::linear::{IntLinear, signed_bits};
use super::model::{AccRequirement, IntBlock, IntModel, RESIDUAL_FRAC_BITS, Widened};
use crate::arith::gelu::{gelu_table, h_scale, to_h};
use crate::arith::requant::round_half_even;
use crate::arith::shift_av::av_out_range;
use crate::arith::{LogCodeParams, Requant, SoftmaxParams, exp2_table, layer_norm_params};
use crate::error::{Error, Result};
use crate::model::{LayerNorm, Linear, Site};
use crate::quant::config::{PostLnMode, PostSoftmaxMode};
use crate::quant::layers::{WeightLayer, site_name};
use crate::quant::model::{ActQuantizer, QuantizedModel};
use crate::quant::quantizer::Granularity;
use crate::quant::zero_range::{include_zero, integer_weight};

fn unsupported(what: String) -> Error {
    Error::Invalid(format!("integer model: {what}"))
}

/// `(s, z)` of a per-tensor uniform activation quantizer.
pub(super) fn per_tensor(q: &QuantizedModel, site: Site) -> Result<(f64, f64, u32)> {
    match q.activations.get(&site) {
        Some(ActQuantizer::Uniform(u)) if u.granularity() == Granularity::PerTensor => Ok((
            f64::from(u.scales()[0]),
            f64::from(u.zero_points()[0]),
            u.bits(),
        )),
        Some(ActQuantizer::Uniform(_)) => Err(unsupported(format!(
            "{} is quantized per channel; the integer datapath needs one scale per tensor \
             (quantize with --post-ln reparam or layer-wise)",
            site_name(site)
        ))),
        Some(other) => Err(unsupported(format!(
            "{} has a {} quantizer, expected uniform",
            site_name(site),
            other.kind()
        ))),
        None => Err(unsupported(format!("no quantizer for {}", site_name(site)))),
    }
}

/// A zero point that must be an integer (it is subtracted from codes at run time).
pub(super) fn integer_zero_point(z: f64, site: Site) -> Result<i32> {
    if z.fract() != 0.0 || z.abs() > 1e6 {
        return Err(unsupported(format!(
            "{} has the fractional zero point {z}; only LayerNorm outputs may",
            site_name(site)
        )));
    }
    Ok(z as i32)
}

/// The integer layer for `layer`, whose input codes have scale `s_a` and zero point `z_a` (may be
/// fractional: it only enters the folded bias), with output requantization given by `out(n, s_in)`
/// for channel `n` and the real value `s_in` of one accumulator LSB. The weight is quantized by
/// the integer model's rule ([`integer_weight`]: rows whose range does not hold 0 are widened);
/// widened rows are added to `widened`.
#[allow(clippy::too_many_arguments)]
pub(super) fn lower_linear(
    q: &QuantizedModel,
    layer: WeightLayer,
    linear: &Linear,
    s_a: f64,
    z_a: f64,
    a_bits: u32,
    out: &dyn Fn(usize, f64) -> Result<Requant>,
    widened: &mut Vec<Widened>,
) -> Result<IntLinear> {
    let qw = q
        .weights
        .get(&layer)
        .ok_or_else(|| unsupported(format!("no weight quantizer for {}", layer.name())))?;
    let (k, n_out) = (linear.in_features, linear.out_features);
    if qw.codes.len() != k * n_out || qw.quantizer.scales().len() != n_out {
        return Err(unsupported(format!(
            "{}: weight codes or zero points do not fit [{n_out}, {k}]",
            layer.name()
        )));
    }
    let iw = integer_weight(qw, &linear.weight, &layer.name())?;
    let mut w = Vec::with_capacity(k * n_out);
    let mut bias = Vec::with_capacity(n_out);
    let mut requant = Vec::with_capacity(n_out);
    for n in 0..n_out {
        let row = &iw.codes[n * k..(n + 1) * k];
        w.extend(row.iter().map(|&c| i16::from(c) - iw.zero_points[n] as i16));
        let wsum: i64 = w[n * k..].iter().map(|&v| i64::from(v)).sum();
        let s_in = s_a * f64::from(iw.scales[n]);
        let b = linear.bias.as_ref().map_or(0.0, |b| f64::from(b[n]));
        let folded = round_half_even(b / s_in - z_a * wsum as f64);
        if !folded.is_finite() || folded.abs() > 2f64.powi(62) {
            return Err(unsupported(format!(
                "{} channel {n}: folded bias {folded} out of range",
                layer.name()
            )));
        }
        bias.push(folded as i64);
        requant.push(out(n, s_in)?);
    }
    widened.extend(iw.widened.iter().map(|&(row, z)| Widened {
        what: format!("{} row {row}", layer.name()),
        zero_point: z,
    }));
    let mut l = IntLinear::new(layer.name(), k, n_out, w, bias, (1 << a_bits) - 1, requant);
    l.w_scales = iw.scales.iter().map(|&s| f64::from(s)).collect();
    Ok(l)
}

/// Requantization to the residual stream (`s32`, [`RESIDUAL_FRAC_BITS`] fraction bits).
pub(super) fn to_residual(s_in: f64, what: &str) -> Result<Requant> {
    let (m0, shift) = Requant::multiplier(s_in * f64::from(1u32 << RESIDUAL_FRAC_BITS), what)?;
    Ok(Requant {
        m0,
        shift,
        zero_point: 0,
        lo: i32::MIN,
        hi: i32::MAX,
    })
}

/// `sat32(round_half_even((a + b) * 2^RESIDUAL_FRAC_BITS))` for binary32 `a`, `b`, with the
/// exact real sum (no rounding before the one to fixed point): the f64 sum `s` and its exact
/// error `e` (Knuth's TwoSum) decide a tie of `s` the way `s + e` lies.
pub fn residual_fixed_sum(a: f32, b: f32) -> i32 {
    let (a, b) = (f64::from(a), f64::from(b));
    let s = a + b;
    let bb = s - a;
    let e = (a - (s - bb)) + (b - bb);
    let v = s * f64::from(1u32 << RESIDUAL_FRAC_BITS);
    let fl = v.floor();
    // A tie point (k + 1/2) 2^-16 is a binary64 value, and `s` is the correctly rounded sum, so
    // `s` and `a + b` are on the same side of every tie except when `s` is the tie itself.
    let r = if v - fl == 0.5 && e != 0.0 {
        if e > 0.0 { fl + 1.0 } else { fl }
    } else {
        round_half_even(v)
    };
    r.clamp(f64::from(i32::MIN), f64::from(i32::MAX)) as i32
}

pub(super) fn ln_params(
    ln: &LayerNorm,
    s_out: f64,
    z_out: f64,
    bits: u32,
    what: &str,
) -> Result<crate::arith::layernorm::LayerNormParams> {
    layer_norm_params(
        &ln.gamma,
        &ln.beta,
        ln.eps,
        RESIDUAL_FRAC_BITS,
        s_out,
        z_out,
        bits,
        what,
    )
}

/// `(s, z)` of the key or value quantizer for the integer model ([`include_zero`]), recording a
/// widened one.
fn operand_quantizer(
    s: f64,
    z: i32,
    bits: u32,
    site: Site,
    widened: &mut Vec<Widened>,
) -> (f64, i32) {
    let (s2, z2) = include_zero(s as f32, i64::from(z), bits);
    if z2 == z {
        return (s, z);
    }
    widened.push(Widened {
        what: site_name(site),
        zero_point: i64::from(z),
    });
    (f64::from(s2), z2)
}

/// `F` of U4 ([`crate::arith::shift_av::av_fraction_bits`], the same function the RTL generator
/// and the golden vectors use, so the simulator and the hardware agree on `F`).
pub fn av_fraction_bits(tokens: usize, abits: u32, acc_bits: u32) -> Result<u32> {
    crate::arith::shift_av::av_fraction_bits(tokens as u64, abits, acc_bits).ok_or_else(|| {
        Error::Invalid(format!(
            "accumulator too narrow: attention x V over {tokens} tokens at {abits} bits does not \
             fit {acc_bits} bits even with F = 0"
        ))
    })
}

/// The accumulator width and the quantizer modes the integer datapath implements.
pub(super) fn check_modes(q: &QuantizedModel, acc_bits: u32) -> Result<()> {
    if !(8..=32).contains(&acc_bits) {
        return Err(unsupported(format!(
            "accumulator width {acc_bits} outside 8..=32"
        )));
    }
    if q.config.post_ln == PostLnMode::ChannelWise {
        return Err(unsupported(
            "post-LayerNorm activations are quantized channel-wise (ablation mode); the \
             integer datapath needs the reparameterized (or layer-wise) quantizer"
                .into(),
        ));
    }
    if q.config.post_softmax == PostSoftmaxMode::Log2 {
        return Err(unsupported(
            "post-Softmax quantizer is plain log2 (ablation mode); the integer datapath \
             implements log-sqrt2 / its reparameterized form"
                .into(),
        ));
    }
    Ok(())
}

/// The float layers of one transformer block (ViT or Swin).
pub(super) struct BlockParts<'a> {
    pub norm1: &'a LayerNorm,
    pub qkv: &'a Linear,
    pub proj: &'a Linear,
    pub norm2: &'a LayerNorm,
    pub fc1: &'a Linear,
    pub fc2: &'a Linear,
    /// Whether the model scales q by `D_h^-1/2` before q's quantizer (Swin, timm's order, REFERENCE
    /// section 5): the factor is then part of qkv's requantization of the q channels and not of
    /// the softmax multiplier. A ViT scales after the product (`false`).
    pub q_prescaled: bool,
}

/// Block `i` (global index) in integers: `a` the attention width (q, k, v each), `dh` the head
/// width, `f_av` the U4 fraction bits.
pub(super) fn lower_block(
    q: &QuantizedModel,
    i: usize,
    blk: &BlockParts<'_>,
    d: usize,
    dh: usize,
    f_av: u32,
    widened: &mut Vec<Widened>,
) -> Result<IntBlock> {
    let abits = q.config.abits;
    let (s_x, z_x, _) = per_tensor(q, Site::QkvInput(i))?;
    let ln1 = ln_params(blk.norm1, s_x, z_x, abits, &format!("blocks.{i}.norm1"))?;
    let (s_q, z_q, _) = per_tensor(q, Site::Query(i))?;
    let (s_k, z_k, _) = per_tensor(q, Site::Key(i))?;
    let (s_v, z_v, _) = per_tensor(q, Site::Value(i))?;
    let zq = integer_zero_point(z_q, Site::Query(i))?;
    // Keys and values become operands `code - z` (s{abits+1}): their ranges hold 0.
    let (s_k, zk) = operand_quantizer(
        s_k,
        integer_zero_point(z_k, Site::Key(i))?,
        abits,
        Site::Key(i),
        widened,
    );
    let (s_v, zv) = operand_quantizer(
        s_v,
        integer_zero_point(z_v, Site::Value(i))?,
        abits,
        Site::Value(i),
        widened,
    );
    // The float model's D_h^-1/2 (binary32, as it multiplies q) where it scales q before the
    // quantizer; else the softmax multiplier carries the exact 1 / sqrt(D_h).
    let (q_factor, score_factor) = if blk.q_prescaled {
        (f64::from((dh as f32).powf(-0.5)), 1.0)
    } else {
        (1.0, 1.0 / (dh as f64).sqrt())
    };
    let qkv_name = format!("blocks.{i}.attn.qkv");
    let qkv = lower_linear(
        q,
        WeightLayer::Qkv(i),
        blk.qkv,
        s_x,
        z_x,
        abits,
        &|n, s_in| {
            let (s_o, z_o, f) = match n / d {
                0 => (s_q, zq, q_factor),
                1 => (s_k, zk, 1.0),
                _ => (s_v, zv, 1.0),
            };
            Requant::to_codes(s_in * f / s_o, z_o, abits, &qkv_name)
        },
        widened,
    )?;
    let s_log = match q.activations.get(&Site::AttnProbs(i)) {
        Some(ActQuantizer::Log(l)) => f64::from(l.scale()),
        Some(ActQuantizer::Log2Reparam(r)) => f64::from(r.scale()),
        _ => {
            return Err(unsupported(format!(
                "{} has no log-sqrt2 quantizer",
                site_name(Site::AttnProbs(i))
            )));
        }
    };
    let softmax = SoftmaxParams::from_score_scale(
        s_q * s_k * score_factor,
        &format!("blocks.{i}.attn softmax"),
    )?;
    let logcode = LogCodeParams::from_scale(s_log, abits);
    let (s_p, z_p, _) = per_tensor(q, Site::ProjInput(i))?;
    let zp = integer_zero_point(z_p, Site::ProjInput(i))?;
    let av_requant = Requant::to_codes(
        s_log * s_v * 2f64.powi(-(f_av as i32)) / s_p,
        zp,
        abits,
        &format!("blocks.{i}.attn A x V"),
    )?;
    let proj_name = format!("blocks.{i}.attn.proj");
    let proj = lower_linear(
        q,
        WeightLayer::Proj(i),
        blk.proj,
        s_p,
        f64::from(zp),
        abits,
        &|_, s| to_residual(s, &proj_name),
        widened,
    )?;
    let (s_y, z_y, _) = per_tensor(q, Site::Fc1Input(i))?;
    let ln2 = ln_params(blk.norm2, s_y, z_y, abits, &format!("blocks.{i}.norm2"))?;
    let (s_g, z_g, _) = per_tensor(q, Site::Fc2Input(i))?;
    let zg = integer_zero_point(z_g, Site::Fc2Input(i))?;
    let s_h = h_scale(s_g, f64::from(zg), abits);
    let fc1_name = format!("blocks.{i}.mlp.fc1");
    let fc1 = lower_linear(
        q,
        WeightLayer::Fc1(i),
        blk.fc1,
        s_y,
        z_y,
        abits,
        &|_, s| to_h(s, s_h, &fc1_name),
        widened,
    )?;
    let gelu = gelu_table(s_h, s_g, f64::from(zg), abits);
    let fc2_name = format!("blocks.{i}.mlp.fc2");
    let fc2 = lower_linear(
        q,
        WeightLayer::Fc2(i),
        blk.fc2,
        s_g,
        f64::from(zg),
        abits,
        &|_, s| to_residual(s, &fc2_name),
        widened,
    )?;
    Ok(IntBlock {
        ln1,
        qkv,
        q_zero: zq,
        k_zero: zk,
        v_zero: zv,
        q_scale: s_q,
        k_scale: s_k,
        v_scale: s_v,
        softmax,
        logcode,
        av_fraction_bits: f_av,
        av_requant,
        proj,
        ln2,
        fc1,
        gelu,
        fc2,
    })
}

impl IntModel {
    /// Lowers `q` to integers, checking that every accumulator fits `acc_bits` (at most 32).
    pub fn lower(q: &QuantizedModel, acc_bits: u32) -> Result<IntModel> {
        check_modes(q, acc_bits)?;
        let cfg = q.vit_config()?.clone();
        let vit = q.model.vit().ok_or_else(|| q.integer_unsupported())?;
        let abits = q.config.abits;
        let (t, d, dh) = (cfg.seq_len(), cfg.embed_dim, cfg.head_dim());

        let mut widened = Vec::new();
        // Patch embedding: 8-bit image codes -> residual stream.
        let (s_img, z_img, img_bits) = per_tensor(q, Site::PatchInput)?;
        let patch = lower_linear(
            q,
            WeightLayer::PatchEmbed,
            &vit.patch_embed,
            s_img,
            z_img,
            img_bits,
            &|_, s| to_residual(s, "patch_embed.proj"),
            &mut widened,
        )?;
        let mut prefix = vec![vit.cls_token.clone()];
        if let Some(dist) = &vit.dist_token {
            prefix.push(dist.clone());
        }
        // Prefix tokens with their position embedding, and the patch tokens' position embedding.
        let mut pos = Vec::with_capacity(t * d);
        for j in 0..t {
            let p = &vit.pos_embed[j * d..(j + 1) * d];
            match prefix.get(j) {
                Some(tok) => pos.extend(p.iter().zip(tok).map(|(&a, &b)| residual_fixed_sum(a, b))),
                None => pos.extend(p.iter().map(|&a| residual_fixed_sum(a, 0.0))),
            }
        }

        let table = exp2_table();
        let f_av = av_fraction_bits(t, abits, acc_bits)?;
        let mut blocks = Vec::with_capacity(cfg.depth);
        for (i, blk) in vit.blocks.iter().enumerate() {
            let parts = BlockParts {
                norm1: &blk.norm1,
                qkv: &blk.qkv,
                proj: &blk.proj,
                norm2: &blk.norm2,
                fc1: &blk.fc1,
                fc2: &blk.fc2,
                q_prescaled: false,
            };
            blocks.push(lower_block(q, i, &parts, d, dh, f_av, &mut widened)?);
        }

        let mut heads = Vec::new();
        let mut head_norms = Vec::new();
        let head_sites = [
            (Site::HeadInput, WeightLayer::Head, Some(&vit.head)),
            (
                Site::HeadDistInput,
                WeightLayer::HeadDist,
                vit.head_dist.as_ref(),
            ),
        ];
        for (site, layer, linear) in head_sites {
            let Some(linear) = linear else { continue };
            let (s_h, z_h, _) = per_tensor(q, site)?;
            let norm_name = format!("{} norm", layer.name());
            head_norms.push(ln_params(&vit.norm, s_h, z_h, abits, &norm_name)?);
            heads.push(lower_linear(
                q,
                layer,
                linear,
                s_h,
                z_h,
                abits,
                &|_, s| to_residual(s, &layer.name()),
                &mut widened,
            )?);
        }

        let model = IntModel {
            config: cfg,
            wbits: q.config.wbits,
            abits,
            acc_bits,
            input_scale: s_img,
            input_zero_point: integer_zero_point(z_img, Site::PatchInput)?,
            input_bits: img_bits,
            patch,
            pos,
            blocks,
            head_norms,
            heads,
            exp2: table,
            widened,
        };
        // Accumulator width first: a narrow --acc-bits also makes biases unrepresentable, and
        // "accumulator too narrow" names the option to change.
        model.check_accumulators()?;
        model.check_representable()?;
        Ok(model)
    }

    /// Every accumulator's worst case (exact, from the integer weights and the code ranges).
    pub fn requirements(&self) -> Vec<AccRequirement> {
        let mut v = Vec::new();
        let mut push = |what: String, bound: BigInt| {
            v.push(AccRequirement {
                bits: signed_bits(&bound),
                what,
                bound,
            });
        };
        push(self.patch.name.clone(), self.patch.acc_bound());
        let amax = BigInt::from((1u32 << self.abits) - 1);
        let dh = self.config.head_dim();
        let t = self.config.seq_len();
        for (i, b) in self.blocks.iter().enumerate() {
            push(b.qkv.name.clone(), b.qkv.acc_bound());
            // Q K^T: |sum_d (q - z_q)(k - z_k)| <= D_h * max|q - z_q| * max|k - z_k|.
            let dev = |z: i32| BigInt::from(z).max(&amax - BigInt::from(z));
            push(
                format!("blocks.{i}.attn q@k^T"),
                BigInt::from(dh) * dev(b.q_zero) * dev(b.k_zero),
            );
            // A x V (U4): the exact range of the outputs for |v - z_v| <= max|v - z_v|.
            let vmax = u64::try_from(dev(b.v_zero)).unwrap_or(u64::MAX);
            let (lo, hi) = av_out_range(t as u64, vmax, b.av_fraction_bits);
            push(format!("blocks.{i}.attn A@V"), BigInt::from(hi.max(-lo)));
            push(b.proj.name.clone(), b.proj.acc_bound());
            push(b.fc1.name.clone(), b.fc1.acc_bound());
            push(b.fc2.name.clone(), b.fc2.acc_bound());
        }
        for h in &self.heads {
            push(h.name.clone(), h.acc_bound());
        }
        v
    }

    /// The widest requirement.
    pub fn required_acc_bits(&self) -> AccRequirement {
        self.requirements()
            .into_iter()
            .max_by_key(|r| r.bits)
            .expect("a model has layers")
    }

    fn check_accumulators(&self) -> Result<()> {
        for r in self.requirements() {
            if r.bits > self.acc_bits {
                return Err(Error::Invalid(format!(
                    "accumulator too narrow: {} needs {} bits (worst case |acc| = {}), {} given",
                    r.what, r.bits, r.bound, self.acc_bits
                )));
            }
        }
        Ok(())
    }
}
