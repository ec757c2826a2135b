//! Per-layer quantization error: the signal-to-quantization-noise ratio of the fake-quant model
//! and of the bit-accurate integer model against the f32 model, at every quantized activation
//! (the input of every quantized layer, in forward order) and at the logits.
//!
//! `SQNR = 10 log10(sum x^2 / sum (x - x_q)^2)` over all elements of all images, where `x` is the
//! f32 activation and `x_q` the quantized model's: the fake-quant activation after its quantizer,
//! or the integer model's codes dequantized with their real scale and zero point (docs/arithmetic.md;
//! the scales golden vectors record). The f32 reference is the reparameterized float model: the
//! same function as the checkpoint (Eq. 16), whose post-LayerNorm activations are the ones the
//! layer-wise quantizers act on.

use std::collections::BTreeMap;

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::intsim::{Capture, IntModel, IntTensor, RESIDUAL_FRAC_BITS};
use crate::model::{ActivationHook, Site};
use crate::quant::model::log2_reparam_levels;
use crate::quant::quantizer::Granularity;
use crate::quant::{ActQuantizer, QuantizedModel, all_sites, site_name};

/// `10 log10(signal / noise)` of `(signal, noise)` sums; infinite when the noise is 0.
pub fn sqnr_db((signal, noise): (f64, f64)) -> f64 {
    10.0 * (signal / noise).log10()
}

/// Where the error is measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Point {
    /// An activation site, quantized before the layer that consumes it.
    Site(Site),
    /// The logits (the integer model's in residual-stream fixed point).
    Logits,
}

impl Point {
    /// The artifact's site name, or `logits`.
    pub fn name(&self) -> String {
        match self {
            Point::Site(s) => site_name(*s),
            Point::Logits => "logits".into(),
        }
    }
}

/// Squared sums of one point over every image.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Sums {
    /// `sum x^2` of the f32 activation.
    pub signal: f64,
    /// `sum (x - fake_quant)^2`.
    pub fake_quant: f64,
    /// `sum (x - integer)^2`.
    pub integer: f64,
    /// `sum fake_quant^2` and `sum (fake_quant - integer)^2`: how far the integer model is from
    /// the fake-quant model it implements.
    pub fq_signal: f64,
    pub int_vs_fq: f64,
    pub elements: u64,
}

impl Sums {
    fn add(&mut self, o: &Sums) {
        self.signal += o.signal;
        self.fake_quant += o.fake_quant;
        self.integer += o.integer;
        self.fq_signal += o.fq_signal;
        self.int_vs_fq += o.int_vs_fq;
        self.elements += o.elements;
    }

    fn of(x: &[f32], fq: &[f32], int: &[f32]) -> Sums {
        let mut s = Sums {
            elements: x.len() as u64,
            ..Sums::default()
        };
        for ((&a, &b), &c) in x.iter().zip(fq).zip(int) {
            let (a, b, c) = (f64::from(a), f64::from(b), f64::from(c));
            s.signal += a * a;
            s.fake_quant += (a - b) * (a - b);
            s.integer += (a - c) * (a - c);
            s.fq_signal += b * b;
            s.int_vs_fq += (b - c) * (b - c);
        }
        s
    }

    /// SQNR of the fake-quant model against f32, dB.
    pub fn fake_quant_db(&self) -> f64 {
        sqnr_db((self.signal, self.fake_quant))
    }

    /// SQNR of the integer model against f32, dB.
    pub fn integer_db(&self) -> f64 {
        sqnr_db((self.signal, self.integer))
    }

    /// SQNR of the integer model against the fake-quant model, dB.
    pub fn integer_vs_fake_quant_db(&self) -> f64 {
        sqnr_db((self.fq_signal, self.int_vs_fq))
    }
}

/// The error at every point, in forward order.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerSqnr {
    pub rows: Vec<(Point, Sums)>,
    /// Images measured.
    pub images: usize,
}

/// Keeps a copy of every activation.
#[derive(Default)]
struct Record(BTreeMap<Site, Vec<f32>>);

impl ActivationHook for Record {
    fn activation(&mut self, site: Site, x: &mut [f32], _channels: usize) {
        self.0.insert(site, x.to_vec());
    }
}

/// Keeps the integer tensors the report dequantizes.
#[derive(Default)]
struct Keep(BTreeMap<String, IntTensor>);

impl Capture for Keep {
    fn tensor(&mut self, name: &str, t: IntTensor) {
        let op = name
            .strip_prefix("blocks.")
            .and_then(|r| r.split_once('.'))
            .map_or(name, |(_, op)| op);
        if matches!(
            op,
            "input"
                | "attn.qkv.input"
                | "attn.qkv.output"
                | "attn.codes"
                | "attn.proj.input"
                | "mlp.fc1.input"
                | "mlp.fc2.input"
                | "head.input"
                | "head_dist.input"
        ) {
            self.0.insert(name.to_string(), t);
        }
    }
}

/// The integer model's values at `site` for one image, in the f32 model's layout.
fn int_values(q: &QuantizedModel, m: &IntModel, site: Site, cap: &Keep) -> Result<Vec<f32>> {
    let cfg = &m.config;
    let (t, d, h, dh) = (cfg.seq_len(), cfg.embed_dim, cfg.num_heads, cfg.head_dim());
    let get = |name: String| {
        cap.0.get(&name).ok_or_else(|| {
            Error::Invalid(format!("report: the integer model did not produce {name}"))
        })
    };
    let uniform = |t: &IntTensor| -> Result<Vec<f32>> {
        match q.activations.get(&site) {
            Some(ActQuantizer::Uniform(u)) if u.granularity() == Granularity::PerTensor => {
                let (s, z) = (f64::from(u.scales()[0]), f64::from(u.zero_points()[0]));
                Ok(t.data
                    .iter()
                    .map(|&c| ((c as f64 - z) * s) as f32)
                    .collect())
            }
            _ => Err(Error::Invalid(format!(
                "report: {} has no per-tensor uniform quantizer",
                site_name(site)
            ))),
        }
    };
    Ok(match site {
        Site::PatchInput => {
            let (s, z) = (m.input_scale, f64::from(m.input_zero_point));
            let t = get("input".into())?;
            t.data
                .iter()
                .map(|&c| ((c as f64 - z) * s) as f32)
                .collect()
        }
        Site::QkvInput(i) => uniform(get(format!("blocks.{i}.attn.qkv.input"))?)?,
        Site::ProjInput(i) => uniform(get(format!("blocks.{i}.attn.proj.input"))?)?,
        Site::Fc1Input(i) => uniform(get(format!("blocks.{i}.mlp.fc1.input"))?)?,
        Site::Fc2Input(i) => uniform(get(format!("blocks.{i}.mlp.fc2.input"))?)?,
        Site::HeadInput => uniform(get("head.input".into())?)?,
        Site::HeadDistInput => uniform(get("head_dist.input".into())?)?,
        Site::ReductionInput(_) => return Err(q.integer_unsupported()),
        Site::Query(i) | Site::Key(i) | Site::Value(i) => {
            let b = &m.blocks[i];
            let (which, s, z) = match site {
                Site::Query(_) => (0, b.q_scale, b.q_zero),
                Site::Key(_) => (1, b.k_scale, b.k_zero),
                _ => (2, b.v_scale, b.v_zero),
            };
            let qkv = get(format!("blocks.{i}.attn.qkv.output"))?;
            // [T, 3D] codes to the f32 model's [h, T, D_h].
            let mut out = Vec::with_capacity(h * t * dh);
            for head in 0..h {
                for tok in 0..t {
                    let row = tok * 3 * d + which * d + head * dh;
                    out.extend(
                        qkv.data[row..row + dh]
                            .iter()
                            .map(|&c| ((c - i64::from(z)) as f64 * s) as f32),
                    );
                }
            }
            out
        }
        Site::AttnProbs(i) => {
            let levels = match q.activations.get(&site) {
                Some(ActQuantizer::Log2Reparam(r)) => log2_reparam_levels(r),
                Some(ActQuantizer::Log(l)) => l.levels(),
                _ => {
                    return Err(Error::Invalid(format!(
                        "report: {} has no log quantizer",
                        site_name(site)
                    )));
                }
            };
            let codes = get(format!("blocks.{i}.attn.codes"))?;
            codes
                .data
                .iter()
                .map(|&c| if c < 0 { 0.0 } else { levels[c as usize] })
                .collect()
        }
    })
}

/// The SQNR at every point over `images` (`[batch, C, H, W]`, normalized), run `batch_size`
/// images at a time.
///
/// Errors: a forward-pass error, or an integer model that does not produce a site's tensor.
pub fn measure(
    q: &QuantizedModel,
    m: &IntModel,
    images: &[f32],
    batch: usize,
    batch_size: usize,
) -> Result<LayerSqnr> {
    let sites = all_sites(q.vit_config()?);
    let mut points: Vec<Point> = sites.iter().map(|&s| Point::Site(s)).collect();
    points.push(Point::Logits);
    let mut total = vec![Sums::default(); points.len()];
    let per_image = images.len() / batch.max(1);
    let res = 2f32.powi(-(RESIDUAL_FRAC_BITS as i32));
    for start in (0..batch).step_by(batch_size.max(1)) {
        let n = batch_size.min(batch - start);
        let x = &images[start * per_image..(start + n) * per_image];
        let mut f32_acts = Record::default();
        let f32_logits = super::vit(&q.model, q)?.forward_with(x, n, &mut f32_acts)?;
        let mut fq_acts = Record::default();
        let fq_logits = q.forward_with(x, n, &mut fq_acts)?;
        let codes = m.quantize_input(x);
        let per: Vec<Vec<Sums>> = (0..n)
            .into_par_iter()
            .map(|j| -> Result<Vec<Sums>> {
                let mut cap = Keep::default();
                let logits =
                    m.forward_image(&codes[j * m.input_len()..(j + 1) * m.input_len()], &mut cap);
                let mut out = Vec::with_capacity(points.len());
                for p in &points {
                    let (r, f, int) = match p {
                        Point::Site(s) => {
                            let (r, f) = (&f32_acts.0[s], &fq_acts.0[s]);
                            let len = r.len() / n;
                            let range = j * len..(j + 1) * len;
                            (&r[range.clone()], &f[range], int_values(q, m, *s, &cap)?)
                        }
                        Point::Logits => {
                            let c = logits.len();
                            (
                                &f32_logits[j * c..(j + 1) * c],
                                &fq_logits[j * c..(j + 1) * c],
                                logits.iter().map(|&v| v as f32 * res).collect(),
                            )
                        }
                    };
                    if int.len() != r.len() {
                        return Err(Error::Shape {
                            context: format!("report: {}", p.name()),
                            reason: format!(
                                "the integer model has {} values, the f32 model {}",
                                int.len(),
                                r.len()
                            ),
                        });
                    }
                    out.push(Sums::of(r, f, &int));
                }
                Ok(out)
            })
            .collect::<Result<_>>()?;
        for img in &per {
            for (t, s) in total.iter_mut().zip(img) {
                t.add(s);
            }
        }
    }
    Ok(LayerSqnr {
        rows: points.into_iter().zip(total).collect(),
        images: batch,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqnr_of_known_noise() {
        // Signal 4 elements of 1, noise 0.1 on each: 10 log10(4 / 0.04) = 20 dB.
        let x = [1.0f32; 4];
        let y = [1.1f32; 4];
        let s = Sums::of(&x, &y, &x);
        assert!(
            (s.fake_quant_db() - 20.0).abs() < 1e-4,
            "{}",
            s.fake_quant_db()
        );
        assert!(s.integer_db().is_infinite());
        assert!(
            (s.integer_vs_fake_quant_db() - 10.0 * (4.0 * 1.21f64 / 0.04).log10()).abs() < 1e-4
        );
    }
}
