//! Symmetric signed uniform quantizer for weights: a deviation from the reference code, offered
//! because an integer datapath may prefer weights without zero points.
//!
//! The reference code quantizes weights with the asymmetric quantizer of Eq. 7-9
//! ([`UniformQuantizer`](super::UniformQuantizer)). This variant fixes `z = 0` and uses the
//! narrow signed code range `[-(2^(b-1) - 1), 2^(b-1) - 1]` (e.g. -7..7 at 4 bits, -127..127 at 8):
//!
//! * `q = clamp(round(x / s), -Q, Q)` with `Q = 2^(b-1) - 1`, rounding half to even;
//! * `x_hat = q * s`;
//! * `s = max(|quantile(x, p)|, |quantile(x, 1 - p)|) / Q`, `p` chosen by the same percentile / MSE
//!   search as Eq. 9 (ties keep the first `p`).
//!
//! Usually per output row ([`Granularity::PerRow`]), but every granularity works. A group whose
//! candidate magnitude is zero (all-zero row) gets [`DEGENERATE_SCALE`].

use rayon::prelude::*;

use super::granularity::{self, Granularity};
use super::num::round_half_even;
use super::quantile::quantiles_in_place;
use super::search::{pick_best, two_sided_probabilities};
use super::uniform::{DEGENERATE_SCALE, check_bits};
use crate::error::{Error, Result};

/// Symmetric signed quantizer: scales only, zero point 0, narrow code range.
#[derive(Clone, Debug, PartialEq)]
pub struct SymmetricQuantizer {
    bits: u32,
    granularity: Granularity,
    scales: Vec<f32>,
}

/// Fake quantization of one value with scale `s` and largest code magnitude `qmax`.
#[inline(always)]
pub fn fake_quant_symmetric(x: f32, s: f32, qmax: f32) -> f32 {
    round_half_even(x / s).max(-qmax).min(qmax) * s
}

/// The scale of one candidate: `max(|hi|, |lo|) / Q`, or the degenerate scale.
fn candidate_scale(hi: f32, lo: f32, qmax: f32) -> f32 {
    let s = hi.abs().max(lo.abs()) / qmax;
    if s > 0.0 && s.is_finite() {
        s
    } else {
        DEGENERATE_SCALE
    }
}

fn candidates(q: &[f32], qmax: f32) -> [f32; 3] {
    [0, 1, 2].map(|i| candidate_scale(q[2 * i], q[2 * i + 1], qmax))
}

#[inline(always)]
fn accumulate(v: f32, cands: &[f32; 3], qmax: f32, acc: &mut [f64; 3]) {
    for (a, &s) in acc.iter_mut().zip(cands) {
        let e = f64::from(v - fake_quant_symmetric(v, s, qmax));
        *a += e * e;
    }
}

impl SymmetricQuantizer {
    /// Percentile/MSE initialisation, one search per group, groups in parallel.
    pub fn init(x: &[f32], bits: u32, granularity: Granularity) -> Result<Self> {
        check_bits(bits, "SymmetricQuantizer::init")?;
        granularity.check(x.len(), false, "SymmetricQuantizer::init")?;
        let qmax = ((1u32 << (bits - 1)) - 1) as f32;
        let ps = two_sided_probabilities();
        let mut work = granularity::grouped_copy(x, granularity);
        let scales: Vec<f32> = match granularity {
            Granularity::PerTensor => {
                let q = quantiles_in_place(&mut work, &ps);
                drop(work);
                let cands = candidates(&q, qmax);
                let sse =
                    granularity::par_sum::<3, _>(x, |v, acc| accumulate(v, &cands, qmax, acc));
                vec![cands[pick_best(&sse)]]
            }
            _ => {
                let len = x.len() / granularity.groups();
                work.par_chunks_mut(len)
                    .map(|group| {
                        let cands = candidates(&quantiles_in_place(group, &ps), qmax);
                        let mut sse = [0f64; 3];
                        for &v in group.iter() {
                            accumulate(v, &cands, qmax, &mut sse);
                        }
                        cands[pick_best(&sse)]
                    })
                    .collect()
            }
        };
        Ok(SymmetricQuantizer {
            bits,
            granularity,
            scales,
        })
    }

    /// A quantizer from known scales (positive, finite, one per group).
    pub fn from_parts(bits: u32, granularity: Granularity, scales: Vec<f32>) -> Result<Self> {
        check_bits(bits, "SymmetricQuantizer::from_parts")?;
        if granularity.groups() == 0 || scales.len() != granularity.groups() {
            return Err(Error::Shape {
                context: "SymmetricQuantizer::from_parts".into(),
                reason: format!(
                    "{granularity:?} needs {} scales, got {}",
                    granularity.groups(),
                    scales.len()
                ),
            });
        }
        if let Some(s) = scales.iter().find(|s| !(**s > 0.0 && s.is_finite())) {
            return Err(Error::Invalid(format!(
                "SymmetricQuantizer::from_parts: scale {s} must be positive and finite"
            )));
        }
        Ok(SymmetricQuantizer {
            bits,
            granularity,
            scales,
        })
    }

    pub fn bits(&self) -> u32 {
        self.bits
    }

    pub fn granularity(&self) -> Granularity {
        self.granularity
    }

    pub fn scales(&self) -> &[f32] {
        &self.scales
    }

    /// Largest code magnitude `Q = 2^(b-1) - 1`.
    pub fn qmax(&self) -> i32 {
        (1 << (self.bits - 1)) - 1
    }

    /// Quantize then dequantize in place, in parallel.
    pub fn fake_quant_in_place(&self, x: &mut [f32]) -> Result<()> {
        self.granularity
            .check(x.len(), true, "SymmetricQuantizer::fake_quant_in_place")?;
        let qmax = self.qmax() as f32;
        let s = &self.scales;
        granularity::for_each_mut(x, self.granularity, |g, v| {
            *v = fake_quant_symmetric(*v, s[g], qmax)
        });
        Ok(())
    }

    /// Signed codes in `[-Q, Q]`.
    pub fn quantize_codes(&self, x: &[f32]) -> Result<Vec<i8>> {
        self.granularity
            .check(x.len(), true, "SymmetricQuantizer::quantize_codes")?;
        let qmax = self.qmax() as f32;
        let s = &self.scales;
        let mut out = vec![0i8; x.len()];
        granularity::map_into(x, &mut out, self.granularity, |g, v| {
            round_half_even(v / s[g]).max(-qmax).min(qmax) as i8
        });
        Ok(out)
    }

    /// `q * s`.
    pub fn dequantize_codes(&self, codes: &[i8]) -> Result<Vec<f32>> {
        self.granularity
            .check(codes.len(), true, "SymmetricQuantizer::dequantize_codes")?;
        let as_f32: Vec<f32> = codes.par_iter().map(|&c| f32::from(c)).collect();
        let mut out = vec![0f32; codes.len()];
        let s = &self.scales;
        granularity::map_into(&as_f32, &mut out, self.granularity, |g, q| q * s[g]);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::quantizer::testutil::{gaussian_with_outliers, shuffle};
    use crate::quant::quantizer::uniform::tests::crafted;

    #[test]
    fn by_hand() {
        // 4 bits: Q = 7, s = 0.5.
        let q = SymmetricQuantizer::from_parts(4, Granularity::PerTensor, vec![0.5]).unwrap();
        // 1.25/0.5 = 2.5 -> 2 -> 1.0; -1.25 -> -2.5 -> -2 -> -1.0; 1.75 -> 3.5 -> 4 -> 2.0;
        // 10 -> 20 -> 7 -> 3.5; -10 -> -7 -> -3.5 (narrow range: never -8); -0.2 -> -0.4 -> -0 -> -0.0
        let x = [1.25, -1.25, 1.75, 10.0, -10.0, -0.2];
        assert_eq!(q.quantize_codes(&x).unwrap(), vec![2, -2, 4, 7, -7, 0]);
        let mut y = x;
        q.fake_quant_in_place(&mut y).unwrap();
        assert_eq!(y, [1.0, -1.0, 2.0, 3.5, -3.5, -0.0]);
        assert_eq!(
            q.dequantize_codes(&[2, -2, 4, 7, -7, 0]).unwrap(),
            vec![1.0, -1.0, 2.0, 3.5, -3.5, 0.0]
        );
        // 2 bits: ternary {-s, 0, s}.
        let t = SymmetricQuantizer::from_parts(2, Granularity::PerTensor, vec![1.0]).unwrap();
        assert_eq!(
            t.quantize_codes(&[-3.0, -0.5, 0.5, 0.6, 2.0]).unwrap(),
            vec![-1, 0, 0, 1, 1]
        );
    }

    #[test]
    fn init_by_hand_and_degenerate() {
        // The crafted tensor of uniform::tests: candidates max(|q(p)|, |q(1-p)|) = 2, 4, 8.
        // At 3 bits (Q = 3): s = 2/3, 4/3, 8/3 (f32: 0.6666667, 1.3333334, 2.6666667).
        // The bulk value 1 (99797 elements) costs (1/3)^2 = 1/9 each with s = 2/3
        // (1/0.6666667 = 1.4999999 -> 1 -> 2/3) and with s = 4/3 (0.75 -> 1 -> 4/3), but 1 each
        // with s = 8/3 (0.375 -> 0), so the largest candidate loses. The tails decide:
        //   s = 2/3, range [-2, 2]: -4 (x9) 4 each, -8 (x2) 36, 3 (x89) 1, 6 (x10) 16, 1.5 (x3)
        //     -> 2.2499998 -> 2 -> 4/3: 1/36  => 36 + 72 + 89 + 160 + 0.08 = 357.08
        //   s = 4/3, range [-4, 4]: -2 (x91) -> -1.4999999 -> -1: 4/9, -4 exact, -8 (x2) 16,
        //     1.5 (x3) 1/36, 3 (x89) -> 2.25 -> 2: 1/9, 6 (x10) -> 4: 4
        //     => 40.44 + 32 + 0.08 + 9.89 + 40 = 122.42
        // -> s = 4/3.
        let mut x = crafted();
        shuffle(&mut x, 3);
        let q = SymmetricQuantizer::init(&x, 3, Granularity::PerTensor).unwrap();
        assert_eq!(q.scales(), &[4.0f32 / 3.0]);
        let z = SymmetricQuantizer::init(&[0.0; 64], 4, Granularity::PerRow { rows: 2 }).unwrap();
        assert_eq!(z.scales(), &[DEGENERATE_SCALE; 2]);
    }

    #[test]
    fn per_row_search_matches_naive() {
        let x = gaussian_with_outliers(64 * 300, 5);
        let q = SymmetricQuantizer::init(&x, 4, Granularity::PerRow { rows: 64 }).unwrap();
        for r in 0..64 {
            let row = &x[r * 300..(r + 1) * 300];
            let mut s = row.to_vec();
            s.sort_by(f32::total_cmp);
            let quant = |p: f64| {
                let pos = f64::from(p as f32) * 299.0;
                let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
                (f64::from(s[lo]) + (pos - lo as f64) * f64::from(s[hi] - s[lo])) as f32
            };
            let mut best = (f64::INFINITY, 0.0f32);
            for p in crate::quant::quantizer::PERCENTILES {
                let sc = quant(p).abs().max(quant(1.0 - p).abs()) / 7.0;
                let mse: f64 = row
                    .iter()
                    .map(|&v| {
                        f64::from(v - (v / sc).round_ties_even().clamp(-7.0, 7.0) * sc).powi(2)
                    })
                    .sum();
                if mse < best.0 {
                    best = (mse, sc);
                }
            }
            assert!((q.scales()[r] - best.1).abs() <= 2e-6 * best.1, "row {r}");
        }
    }
}
