//! The asymmetric uniform quantizer (paper Eq. 7-9), as the authors' reference code runs it.
//!
//! * Quantization (Eq. 7): `q = clamp(round(x / s) + z, 0, 2^b - 1)`, rounding half to even
//!   (`torch.round`) applied to `x / s` *before* the zero point is added.
//! * Dequantization (Eq. 8): `x_hat = (q - z) * s`.
//! * Scale and zero point (Eq. 9): `s = (max - min) / (2^b - 1)`, `z = round(-min / s)`, where
//!   `max`/`min` are the `p` and `1 - p` quantiles of the values for the `p` in
//!   [`PERCENTILES`](super::PERCENTILES) with the lowest mean squared error of `x - x_hat`
//!   (the plain min/max is never tried). `z` is not clamped to the code range.
//!
//! Everything is computed in f32 like torch (`x / s` is one f32 division, so results match the
//! reference bit for bit; see the torch fixture test). Zero points are stored as f32: they are
//! integers after [`UniformQuantizer::init`], but the per-tensor `z~ = E[z]` of the LayerNorm
//! reparameterization (Sec. 3.2) is fractional in the reference code;
//! [`UniformQuantizer::with_rounded_zero_points`] rounds it for an integer datapath.
//!
//! # Degenerate ranges
//!
//! A candidate whose range is empty (`max == min`, e.g. a constant channel, so Eq. 9 would divide
//! by zero and the reference would produce NaN) is replaced by the range widened to include zero,
//! `[min(v, 0), max(v, 0)]`: a constant `v > 0` is then the top code with `z = 0`, a constant
//! `v < 0` the bottom code with `z = 2^b - 1`; both are reproduced to within an ulp. An all-zero
//! group (nothing to widen) gets `s = DEGENERATE_SCALE` (`2^-23`) and `z = 0`, which represents it
//! exactly; the tiny scale barely moves `E[s]` in the reparameterization. No scale is ever zero,
//! negative or non-finite, and no zero point is non-finite.

use rayon::prelude::*;

use super::granularity::{self, Granularity};
use super::num::round_half_even;
use super::quantile::quantiles_in_place;
use super::search::{pick_best, two_sided_probabilities};
use crate::error::{Error, Result};

/// Scale used when a group's values are all zero (any positive scale represents them exactly).
pub const DEGENERATE_SCALE: f32 = f32::EPSILON;

/// Smallest and largest supported bit width.
pub const MIN_BITS: u32 = 2;
/// See [`MIN_BITS`].
pub const MAX_BITS: u32 = 8;

pub(crate) fn check_bits(bits: u32, context: &str) -> Result<()> {
    if (MIN_BITS..=MAX_BITS).contains(&bits) {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "{context}: {bits} bits is outside the supported {MIN_BITS}..={MAX_BITS}"
        )))
    }
}

/// Asymmetric uniform quantizer with per-tensor, per-channel or per-row `(scale, zero point)`.
#[derive(Clone, Debug, PartialEq)]
pub struct UniformQuantizer {
    bits: u32,
    granularity: Granularity,
    scales: Vec<f32>,
    zero_points: Vec<f32>,
}

/// Eq. 9 for one candidate range, with the degenerate-range rule of the module documentation.
/// Returns `(s, z)`.
pub fn scale_and_zero_point(max: f32, min: f32, bits: u32) -> (f32, f32) {
    let qmax = ((1u32 << bits) - 1) as f32;
    let s = (max - min) / qmax;
    let z = round_half_even(-min / s);
    if s > 0.0 && s.is_finite() && z.is_finite() {
        // `+ 0.0` turns a -0.0 zero point (from min = 0) into +0.0; the value is the same.
        return (s, z + 0.0);
    }
    let (lo, hi) = (min.min(0.0), max.max(0.0));
    let s = (hi - lo) / qmax;
    if s > 0.0 && s.is_finite() {
        let z = round_half_even(-lo / s);
        if z.is_finite() {
            return (s, z + 0.0);
        }
    }
    (DEGENERATE_SCALE, 0.0)
}

/// Fake quantization of one value (Eq. 7 then Eq. 8), exactly the reference's f32 operations.
#[inline(always)]
pub fn fake_quant(x: f32, s: f32, z: f32, qmax: f32) -> f32 {
    let q = (round_half_even(x / s) + z).max(0.0).min(qmax);
    (q - z) * s
}

/// Sum of squared errors of the three candidates over `values` (sequential, f64).
fn sse3(values: &[f32], cands: &[(f32, f32); 3], qmax: f32) -> [f64; 3] {
    let mut acc = [0f64; 3];
    for &v in values {
        accumulate(v, cands, qmax, &mut acc);
    }
    acc
}

#[inline(always)]
fn accumulate(v: f32, cands: &[(f32, f32); 3], qmax: f32, acc: &mut [f64; 3]) {
    for (a, &(s, z)) in acc.iter_mut().zip(cands) {
        // The reference: (x - x_hat).abs().pow(2).mean(); the difference is an f32, as there.
        let e = f64::from(v - fake_quant(v, s, z, qmax));
        *a += e * e;
    }
}

/// The three candidates from the six quantiles `[max0, min0, max1, min1, max2, min2]`.
fn candidates(q: &[f32], bits: u32) -> [(f32, f32); 3] {
    [0, 1, 2].map(|i| scale_and_zero_point(q[2 * i], q[2 * i + 1], bits))
}

impl UniformQuantizer {
    /// Percentile/MSE initialisation (module documentation) on `x`, a flat row-major tensor split
    /// into groups by `granularity`. Each group runs its own search over its own values; groups
    /// are searched in parallel. Uses one working copy of `x`; the error of each candidate is
    /// accumulated without materializing a dequantized tensor.
    pub fn init(x: &[f32], bits: u32, granularity: Granularity) -> Result<Self> {
        check_bits(bits, "UniformQuantizer::init")?;
        granularity.check(x.len(), false, "UniformQuantizer::init")?;
        let qmax = ((1u32 << bits) - 1) as f32;
        let ps = two_sided_probabilities();
        let mut work = granularity::grouped_copy(x, granularity);
        let chosen: Vec<(f32, f32)> = match granularity {
            Granularity::PerTensor => {
                let q = quantiles_in_place(&mut work, &ps);
                drop(work);
                let cands = candidates(&q, bits);
                let sse =
                    granularity::par_sum::<3, _>(x, |v, acc| accumulate(v, &cands, qmax, acc));
                vec![cands[pick_best(&sse)]]
            }
            _ => {
                let len = x.len() / granularity.groups();
                work.par_chunks_mut(len)
                    .map(|group| {
                        let q = quantiles_in_place(group, &ps);
                        let cands = candidates(&q, bits);
                        cands[pick_best(&sse3(group, &cands, qmax))]
                    })
                    .collect()
            }
        };
        let (scales, zero_points) = chosen.into_iter().unzip();
        Ok(UniformQuantizer {
            bits,
            granularity,
            scales,
            zero_points,
        })
    }

    /// A quantizer from known parameters (e.g. the reparameterized `s~`, `z~` of Sec. 3.2): one
    /// scale and zero point per group, scales positive and finite, zero points finite (they may be
    /// fractional).
    pub fn from_parts(
        bits: u32,
        granularity: Granularity,
        scales: Vec<f32>,
        zero_points: Vec<f32>,
    ) -> Result<Self> {
        check_bits(bits, "UniformQuantizer::from_parts")?;
        let g = granularity.groups();
        if g == 0 || scales.len() != g || zero_points.len() != g {
            return Err(Error::Shape {
                context: "UniformQuantizer::from_parts".into(),
                reason: format!(
                    "{granularity:?} needs {g} scales and zero points, got {} and {}",
                    scales.len(),
                    zero_points.len()
                ),
            });
        }
        if let Some((i, s)) = scales
            .iter()
            .enumerate()
            .find(|(_, s)| !(**s > 0.0 && s.is_finite()))
        {
            return Err(Error::Invalid(format!(
                "UniformQuantizer::from_parts: scale {i} is {s}, must be positive and finite"
            )));
        }
        if let Some((i, z)) = zero_points.iter().enumerate().find(|(_, z)| !z.is_finite()) {
            return Err(Error::Invalid(format!(
                "UniformQuantizer::from_parts: zero point {i} is {z}"
            )));
        }
        Ok(UniformQuantizer {
            bits,
            granularity,
            scales,
            zero_points,
        })
    }

    pub fn bits(&self) -> u32 {
        self.bits
    }

    pub fn granularity(&self) -> Granularity {
        self.granularity
    }

    /// One scale per group.
    pub fn scales(&self) -> &[f32] {
        &self.scales
    }

    /// One zero point per group (integer-valued after `init`; possibly fractional after
    /// [`from_parts`](Self::from_parts)).
    pub fn zero_points(&self) -> &[f32] {
        &self.zero_points
    }

    /// Largest code, `2^b - 1`.
    pub fn qmax(&self) -> u32 {
        (1 << self.bits) - 1
    }

    /// Whether every zero point is an integer (required by [`quantize_codes`](Self::quantize_codes)).
    pub fn has_integer_zero_points(&self) -> bool {
        self.zero_points.iter().all(|&z| z == round_half_even(z))
    }

    /// The zero points rounded half to even (`torch.round`) to integers.
    pub fn rounded_zero_points(&self) -> Vec<i32> {
        self.zero_points
            .iter()
            .map(|&z| round_half_even(z) as i32)
            .collect()
    }

    /// The same quantizer with its zero points rounded half to even (for the integer datapath).
    pub fn with_rounded_zero_points(mut self) -> Self {
        for z in &mut self.zero_points {
            *z = round_half_even(*z) + 0.0;
        }
        self
    }

    /// Fake quantization of one value belonging to `group`.
    #[inline]
    pub fn fake_quant_value(&self, group: usize, x: f32) -> f32 {
        fake_quant(
            x,
            self.scales[group],
            self.zero_points[group],
            self.qmax() as f32,
        )
    }

    /// Quantize then dequantize `x` in place (the fake-quant forward), in parallel. With a
    /// fractional zero point this is what the reference computes (`clamp(round(x/s) + z)` then
    /// `- z`), which has one more level than `2^b`.
    pub fn fake_quant_in_place(&self, x: &mut [f32]) -> Result<()> {
        self.granularity
            .check(x.len(), true, "UniformQuantizer::fake_quant_in_place")?;
        let qmax = self.qmax() as f32;
        let (s, z) = (&self.scales, &self.zero_points);
        granularity::for_each_mut(x, self.granularity, |g, v| {
            *v = fake_quant(*v, s[g], z[g], qmax)
        });
        Ok(())
    }

    /// The codes `q` of Eq. 7. Fails if a zero point is fractional (round it first).
    pub fn quantize_codes(&self, x: &[f32]) -> Result<Vec<u8>> {
        self.granularity
            .check(x.len(), true, "UniformQuantizer::quantize_codes")?;
        if !self.has_integer_zero_points() {
            return Err(Error::Invalid(
                "UniformQuantizer::quantize_codes: fractional zero point; use with_rounded_zero_points()"
                    .into(),
            ));
        }
        let qmax = self.qmax() as f32;
        let (s, z) = (&self.scales, &self.zero_points);
        let mut out = vec![0u8; x.len()];
        granularity::map_into(x, &mut out, self.granularity, |g, v| {
            (round_half_even(v / s[g]) + z[g]).max(0.0).min(qmax) as u8
        });
        Ok(out)
    }

    /// Eq. 8 on codes: `(q - z) * s`.
    pub fn dequantize_codes(&self, codes: &[u8]) -> Result<Vec<f32>> {
        self.granularity
            .check(codes.len(), true, "UniformQuantizer::dequantize_codes")?;
        let (s, z) = (&self.scales, &self.zero_points);
        let as_f32: Vec<f32> = codes.par_iter().map(|&c| f32::from(c)).collect();
        let mut out = vec![0f32; codes.len()];
        granularity::map_into(&as_f32, &mut out, self.granularity, |g, q| {
            (q - z[g]) * s[g]
        });
        Ok(out)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::quant::quantizer::quantile::torch_rank;
    use crate::quant::quantizer::search::PERCENTILES;
    use crate::quant::quantizer::testutil::{gaussian_with_outliers, shuffle};

    #[test]
    fn quantize_by_hand_with_ties() {
        // s = 0.5, z = 3, 4 bits (codes 0..15).
        let q =
            UniformQuantizer::from_parts(4, Granularity::PerTensor, vec![0.5], vec![3.0]).unwrap();
        let x = [1.25, 1.75, -0.25, -0.75, -2.0, 6.5, 0.0, 5.9];
        // 1.25/0.5 = 2.5 -> 2 (tie to even) -> q 5 -> (5-3)*0.5 = 1.0
        // 1.75/0.5 = 3.5 -> 4 (tie to even) -> q 7 -> 2.0
        // -0.25/0.5 = -0.5 -> -0 -> q 3 -> 0.0
        // -0.75/0.5 = -1.5 -> -2 -> q 1 -> -1.0
        // -2.0/0.5 = -4 -> q -1 -> clamp 0 -> (0-3)*0.5 = -1.5
        // 6.5/0.5 = 13 -> q 16 -> clamp 15 -> 6.0
        // 0 -> q 3 -> 0
        // 5.9/0.5 = 11.8 -> 12 -> q 15 -> 6.0
        assert_eq!(
            q.quantize_codes(&x).unwrap(),
            vec![5, 7, 3, 1, 0, 15, 3, 15]
        );
        let mut y = x;
        q.fake_quant_in_place(&mut y).unwrap();
        assert_eq!(y, [1.0, 2.0, 0.0, -1.0, -1.5, 6.0, 0.0, 6.0]);
        assert_eq!(
            q.dequantize_codes(&[5, 7, 3, 1, 0, 15, 3, 15]).unwrap(),
            y.to_vec()
        );

        // The zero point is added after rounding: with z = 0.5 (fractional, as E[z] can be),
        // 1.25/0.5 = 2.5 -> 2, + 0.5 = 2.5 (not round(2.5 + 0.5) = 3) -> x_hat = (2.5-0.5)*0.5 = 1.0.
        let f =
            UniformQuantizer::from_parts(4, Granularity::PerTensor, vec![0.5], vec![0.5]).unwrap();
        assert_eq!(f.fake_quant_value(0, 1.25), 1.0);
        // Clamp at the fractional top: 100/0.5 = 200 + 0.5 -> 15 -> (15 - 0.5) * 0.5 = 7.25.
        assert_eq!(f.fake_quant_value(0, 100.0), 7.25);
        assert!(f.quantize_codes(&[1.0]).is_err());
        let r = f.with_rounded_zero_points(); // round(0.5) = 0 (tie to even)
        assert_eq!(r.zero_points(), &[0.0]);
        assert_eq!(r.rounded_zero_points(), vec![0]);
    }

    #[test]
    fn eq9_candidate_by_hand() {
        // max 1.5, min -2, 3 bits: s = 3.5 / 7 = 0.5, z = round(2 / 0.5) = 4.
        assert_eq!(scale_and_zero_point(1.5, -2.0, 3), (0.5, 4.0));
        // z is not clamped: min = 1 > 0 -> z = round(-1 / s) negative.
        // max 8, min 1, 3 bits: s = 1, z = -1.
        assert_eq!(scale_and_zero_point(8.0, 1.0, 3), (1.0, -1.0));
        // z = round(-min/s) ties to even: max 2.5, min -0.5, 2 bits: s = 1, -min/s = 0.5 -> 0.
        assert_eq!(scale_and_zero_point(2.5, -0.5, 2), (1.0, 0.0));
        // ... and max 1.5, min -1.5, 2 bits: s = 1, 1.5 -> 2.
        assert_eq!(scale_and_zero_point(1.5, -1.5, 2), (1.0, 2.0));
    }

    #[test]
    fn degenerate_ranges_are_safe() {
        for bits in MIN_BITS..=MAX_BITS {
            let qmax = ((1u32 << bits) - 1) as f32;
            for v in [0.5f32, -3.0, 1e-30, -7.25e5, 0.1] {
                let (s, z) = scale_and_zero_point(v, v, bits);
                assert!(
                    s > 0.0 && s.is_finite() && z.is_finite(),
                    "{v} {bits}: {s} {z}"
                );
                let y = fake_quant(v, s, z, qmax);
                // widened range: v > 0 -> z = 0, top code; v < 0 -> z = qmax, code 0.
                assert_eq!(z, if v > 0.0 { 0.0 } else { qmax });
                assert!(
                    (y - v).abs() <= 2.0 * f32::EPSILON * v.abs(),
                    "{v} -> {y} at {bits} bits"
                );
            }
            let (s, z) = scale_and_zero_point(0.0, 0.0, bits);
            assert_eq!((s, z), (DEGENERATE_SCALE, 0.0));
            assert_eq!(fake_quant(0.0, s, z, qmax), 0.0);
            // Non-finite input never yields a non-finite scale.
            let (s, z) = scale_and_zero_point(f32::NAN, f32::NAN, bits);
            assert!(s > 0.0 && s.is_finite() && z.is_finite());
        }
        // A whole tensor / channel that is constant.
        let x = vec![0.5f32; 1000];
        let q = UniformQuantizer::init(&x, 4, Granularity::PerTensor).unwrap();
        let mut y = x.clone();
        q.fake_quant_in_place(&mut y).unwrap();
        assert!(y.iter().all(|&v| (v - 0.5).abs() <= 1e-7), "{:?}", &y[..3]);
        // [rows 50, channels 3]: channel 0 constant 0, channel 1 constant -2, channel 2 varies.
        let x: Vec<f32> = (0..150)
            .map(|i| match i % 3 {
                0 => 0.0,
                1 => -2.0,
                _ => (i as f32 * 0.37).sin(),
            })
            .collect();
        let q = UniformQuantizer::init(&x, 4, Granularity::PerChannel { channels: 3 }).unwrap();
        assert_eq!(q.scales()[0], DEGENERATE_SCALE);
        assert_eq!(q.zero_points()[..2], [0.0, 15.0]);
        let mut y = x.clone();
        q.fake_quant_in_place(&mut y).unwrap();
        assert!(y.iter().all(|v| v.is_finite()));
        for r in 0..50 {
            assert_eq!(y[3 * r], 0.0);
            assert!((y[3 * r + 1] + 2.0).abs() <= 4e-7);
        }
    }

    #[test]
    fn non_finite_inputs_do_not_panic() {
        let mut x = gaussian_with_outliers(3000, 4);
        x[5] = f32::NAN;
        x[77] = f32::INFINITY;
        x[1234] = f32::NEG_INFINITY;
        for g in [
            Granularity::PerTensor,
            Granularity::PerChannel { channels: 3 },
            Granularity::PerRow { rows: 3 },
        ] {
            let q = UniformQuantizer::init(&x, 4, g).unwrap();
            assert!(
                q.scales().iter().all(|s| *s > 0.0 && s.is_finite()),
                "{q:?}"
            );
            assert!(q.zero_points().iter().all(|z| z.is_finite()), "{q:?}");
            let mut y = x.clone();
            q.fake_quant_in_place(&mut y).unwrap();
            assert!(y.iter().all(|v| v.is_finite()));
            q.quantize_codes(&x).unwrap();
            let s = crate::quant::quantizer::SymmetricQuantizer::init(&x, 4, g).unwrap();
            assert!(s.scales().iter().all(|s| *s > 0.0 && s.is_finite()));
        }
        let nan = vec![f32::NAN; 10];
        let q = UniformQuantizer::init(&nan, 4, Granularity::PerTensor).unwrap();
        assert_eq!((q.scales()[0], q.zero_points()[0]), (DEGENERATE_SCALE, 0.0));
        let l = crate::quant::quantizer::LogQuantizer::init(
            &nan,
            4,
            crate::quant::quantizer::LogBase::Sqrt2,
        )
        .unwrap();
        assert_eq!(l.scale(), 1.0);
        let mut p = crate::quant::quantizer::testutil::softmax_rows(10, 20, 1);
        p[3] = f32::NAN;
        p[4] = f32::INFINITY;
        let l = crate::quant::quantizer::LogQuantizer::init(
            &p,
            4,
            crate::quant::quantizer::LogBase::Sqrt2,
        )
        .unwrap();
        assert!(l.scale() > 0.0 && l.scale().is_finite());
    }

    /// The crafted tensor of `init_picks_the_middle_candidate`: sorted layout (n = 100001)
    ///   v[0..=1] = -8, v[2..=10] = -4, v[11..=101] = -2, v[102..=99898] = 1,
    ///   v[99899..=99901] = 1.5, v[99902..=99990] = 3, v[99991..=100000] = 6.
    pub(crate) fn crafted() -> Vec<f32> {
        let mut v = Vec::with_capacity(100_001);
        for (value, count) in [
            (-8.0, 2),
            (-4.0, 9),
            (-2.0, 91),
            (1.0, 99_797),
            (1.5, 3),
            (3.0, 89),
            (6.0, 10),
        ] {
            v.extend(std::iter::repeat_n(value, count));
        }
        assert_eq!(v.len(), 100_001);
        v
    }

    #[test]
    fn init_picks_the_middle_candidate() {
        // Ranks (n - 1 = 100000, p rounded to f32, see quantile.rs):
        //   p = 0.999   -> 99900.0013 (v[99900] = v[99901] = 1.5); 1-p -> 100.0000047 (v[100] = v[101] = -2)
        //   p = 0.9999  -> 99989.998  (v[99989] = v[99990] = 3);   1-p -> 9.9999997  (v[9] = v[10] = -4)
        //   p = 0.99999 -> 99998.9986 (v[99998] = v[99999] = 6);   1-p -> 0.99999997 (v[0] = v[1] = -8)
        // so the quantiles are exact and, at 3 bits (codes 0..7):
        //   C1 [-2, 1.5]: s = 3.5/7 = 0.5, z = 4; C2 [-4, 3]: s = 1, z = 4; C3 [-8, 6]: s = 2, z = 4.
        // Squared errors:
        //   C1: -4 -> -2 (4 x 9 = 36), -8 -> -2 (36 x 2 = 72), 3 -> 1.5 (2.25 x 89 = 200.25),
        //       6 -> 1.5 (20.25 x 10 = 202.5); everything else exact: 510.75
        //   C2: 1.5 -> round(1.5) = 2 (0.25 x 3 = 0.75), -8 -> -4 (16 x 2 = 32), 6 -> 3 (9 x 10 = 90): 122.75
        //   C3: 1 -> round(0.5) = 0 -> 0 (1 x 99797), ...: > 99797
        // -> C2 (s = 1, z = 4).
        let n = 100_000usize + 1;
        assert!((torch_rank(0.99999, n) - 99_998.998_64).abs() < 1e-3);
        let mut x = crafted();
        shuffle(&mut x, 7);
        let q = UniformQuantizer::init(&x, 3, Granularity::PerTensor).unwrap();
        assert_eq!(
            (q.scales(), q.zero_points()),
            (&[1.0f32][..], &[4.0f32][..])
        );
        let mut y = x.clone();
        q.fake_quant_in_place(&mut y).unwrap();
        let sse: f64 = x
            .iter()
            .zip(&y)
            .map(|(a, b)| f64::from(a - b).powi(2))
            .sum();
        assert_eq!(sse, 122.75);

        // Per channel: [n rows, 2 channels], channel 1 = 2 x channel 0 (reshuffled): s = [1, 2].
        let mut x1: Vec<f32> = crafted().iter().map(|v| 2.0 * v).collect();
        shuffle(&mut x1, 8);
        let inter: Vec<f32> = x.iter().zip(&x1).flat_map(|(&a, &b)| [a, b]).collect();
        let q = UniformQuantizer::init(&inter, 3, Granularity::PerChannel { channels: 2 }).unwrap();
        assert_eq!(q.scales(), &[1.0, 2.0]);
        assert_eq!(q.zero_points(), &[4.0, 4.0]);
        // Per row: the same two groups as rows.
        let rows: Vec<f32> = x.iter().chain(&x1).copied().collect();
        let q = UniformQuantizer::init(&rows, 3, Granularity::PerRow { rows: 2 }).unwrap();
        assert_eq!(q.scales(), &[1.0, 2.0]);
    }

    /// Independent naive search: full sort, interpolation in f64, a dequantized copy per candidate.
    pub(crate) fn naive_search(values: &[f32], bits: u32) -> (f32, f32) {
        let mut s = values.to_vec();
        s.sort_by(f32::total_cmp);
        let quant = |p: f64| -> f32 {
            let pos = f64::from(p as f32) * (s.len() - 1) as f64;
            let lo = pos.floor() as usize;
            let hi = pos.ceil() as usize;
            let w = pos - lo as f64;
            (f64::from(s[lo]) + w * (f64::from(s[hi]) - f64::from(s[lo]))) as f32
        };
        let qmax = ((1u32 << bits) - 1) as f32;
        let mut best = (f64::INFINITY, (0.0, 0.0));
        for p in PERCENTILES {
            let (max, min) = (quant(p), quant(1.0 - p));
            let d = (max - min) / qmax;
            let z = (-min / d).round_ties_even();
            let deq: Vec<f32> = values
                .iter()
                .map(|&v| ((v / d).round_ties_even() + z).clamp(0.0, qmax) - z)
                .map(|q| q * d)
                .collect();
            let mse = values
                .iter()
                .zip(&deq)
                .map(|(a, b)| f64::from(a - b).powi(2))
                .sum::<f64>()
                / values.len() as f64;
            if mse < best.0 {
                best = (mse, (d, z));
            }
        }
        best.1
    }

    fn close(a: f32, b: f32) -> bool {
        (a - b).abs() <= 2e-6 * a.abs().max(b.abs())
    }

    #[test]
    fn init_matches_a_naive_search() {
        for (seed, bits) in [(1u64, 4u32), (2, 6), (3, 8), (4, 2)] {
            let x = gaussian_with_outliers(40_000, seed);
            let q = UniformQuantizer::init(&x, bits, Granularity::PerTensor).unwrap();
            let (d, z) = naive_search(&x, bits);
            assert!(
                close(q.scales()[0], d) && q.zero_points()[0] == z,
                "{bits}: {:?} vs {d} {z}",
                q
            );
            // channel-wise [2000, 20]
            let qc =
                UniformQuantizer::init(&x, bits, Granularity::PerChannel { channels: 20 }).unwrap();
            for c in 0..20 {
                let col: Vec<f32> = x.iter().skip(c).step_by(20).copied().collect();
                let (d, z) = naive_search(&col, bits);
                assert!(
                    close(qc.scales()[c], d) && qc.zero_points()[c] == z,
                    "ch {c}"
                );
            }
            let qr = UniformQuantizer::init(&x, bits, Granularity::PerRow { rows: 50 }).unwrap();
            for r in 0..50 {
                let (d, z) = naive_search(&x[r * 800..(r + 1) * 800], bits);
                assert!(
                    close(qr.scales()[r], d) && qr.zero_points()[r] == z,
                    "row {r}"
                );
            }
        }
    }

    #[test]
    fn codes_and_fake_quant_agree() {
        let x = gaussian_with_outliers(6000, 9);
        for g in [
            Granularity::PerTensor,
            Granularity::PerChannel { channels: 12 },
            Granularity::PerRow { rows: 30 },
        ] {
            let q = UniformQuantizer::init(&x, 4, g).unwrap();
            let codes = q.quantize_codes(&x).unwrap();
            assert!(codes.iter().all(|&c| c <= 15));
            let deq = q.dequantize_codes(&codes).unwrap();
            let mut y = x.clone();
            q.fake_quant_in_place(&mut y).unwrap();
            assert_eq!(deq, y);
        }
        let q = UniformQuantizer::init(&x, 4, Granularity::PerRow { rows: 30 }).unwrap();
        assert!(q.fake_quant_in_place(&mut [0.0; 7]).is_err());
        assert!(UniformQuantizer::init(&x, 9, Granularity::PerTensor).is_err());
        assert!(UniformQuantizer::init(&[], 4, Granularity::PerTensor).is_err());
        assert!(
            UniformQuantizer::from_parts(4, Granularity::PerTensor, vec![0.0], vec![0.0]).is_err()
        );
    }
}
