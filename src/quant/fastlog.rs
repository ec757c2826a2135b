//! The log2 / log-sqrt2 quantizers without a logarithm per element, bit-identical to
//! [`LogQuantizer`] (which computes `round(-2 * log2(x / s))`, as the reference code does).
//!
//! The raw code depends on `y = x / s` only and is a non-increasing step function of `y`: it is
//! `k` or less exactly when `y >= t_k`. The thresholds `t_k` (one per code boundary, `2^b` of them)
//! are found once per scale by bisection over the f32 bit patterns, evaluating the very same f32
//! expression the reference uses; each element then costs one division and a binary search over
//! the thresholds instead of a `log2f` call, which makes the calibration of the post-Softmax
//! quantizers (three candidate scales, 7.5 million probabilities per DeiT-S block) several times
//! faster.
//!
//! Exactness does not rest on trusting `log2f` to be monotone: around every threshold a window of
//! [`WINDOW`] f32 values on each side is evaluated directly and must agree with the threshold,
//! the thresholds must be non-increasing, and otherwise [`LogThresholds::new`] returns `None` and
//! callers use the direct computation. Outside the window the exact logarithm is more than
//! 40 units in the last place of `log2f`'s result away from the rounding boundary (see
//! [`WINDOW`]), far beyond `log2f`'s error (below one unit), so no element there can fall on the
//! other side. Tests compare codes and initialisations with [`LogQuantizer`] on dense sweeps and on
//! real attention maps.

use rayon::prelude::*;

use super::quantizer::granularity::{CHUNK, par_sum};
use super::quantizer::{
    Log2Reparam, LogBase, LogQuantizer, PERCENTILES, pick_best, round_half_even,
};
use crate::error::Result;

/// f32 values checked directly on each side of every threshold. Moving `n` values (units in the
/// last place) in `y` moves `log2(y)` by at least `n * 2^-24 / ln 2`; at a boundary `|log2 y|`
/// is at most `2^7` (codes up to 255 on the log-sqrt2 grid), where one unit of `log2f`'s result
/// is `2^-17`, so 256 values move it by more than 40 such units.
pub const WINDOW: u32 = 256;

/// Bit pattern of +infinity (the largest positive f32 pattern).
const INF_BITS: u32 = 0x7f80_0000;

/// The raw code of the reference, `round(-2 log2 y)` or `round(-log2 y)`, in f32.
#[inline]
fn raw(base: LogBase, y: f32) -> f32 {
    let l = y.log2();
    match base {
        LogBase::Sqrt2 => round_half_even(-l * 2.0),
        LogBase::Two => round_half_even(-l),
    }
}

/// The code thresholds of one log quantizer and the value of every code.
#[derive(Clone, Debug)]
pub struct LogThresholds {
    scale: f32,
    /// `t[k]` = smallest positive f32 `y` with `raw(y) <= k`; non-increasing in `k`.
    t: Vec<f32>,
    /// `t` followed by [`SPAN`] zeros.
    padded: Vec<f32>,
    /// Per exponent bucket of `y`: the range `lo..hi` of thresholds inside the bucket.
    buckets: [(u16, u16); 256],
    /// Value of each code `0..2^b`, then `0.0` for the exact zero (index `2^b`).
    values: Vec<f32>,
}

/// Thresholds compared per element when a bucket holds at most this many (an octave of `y`
/// holds at most three log-sqrt2 boundaries, two log2 ones; only subnormal `y` need more).
const SPAN: usize = 4;

impl LogThresholds {
    /// Thresholds for a scale `s` (positive, finite) and the code values `levels` (`2^bits` of
    /// them). `None` if the direct computation does not behave as a monotone step function near
    /// a threshold (then use the direct computation).
    pub fn new(base: LogBase, bits: u32, s: f32, levels: &[f32]) -> Option<Self> {
        let n = 1usize << bits;
        debug_assert_eq!(levels.len(), n);
        if !(s > 0.0 && s.is_finite()) {
            return None;
        }
        let mut t = Vec::with_capacity(n);
        for k in 0..n {
            let kf = k as f32;
            let p = |b: u32| raw(base, f32::from_bits(b)) <= kf;
            // Smallest pattern in [1, INF_BITS] with p true (p(inf) holds: raw(inf) = -inf).
            let (mut lo, mut hi) = (1u32, INF_BITS);
            if p(lo) {
                hi = lo;
            }
            while lo < hi {
                let mid = lo + (hi - lo) / 2;
                if p(mid) {
                    hi = mid;
                } else {
                    lo = mid + 1;
                }
            }
            // The window around the threshold must agree.
            let from = hi.saturating_sub(WINDOW).max(1);
            let to = hi.saturating_add(WINDOW).min(INF_BITS);
            if (from..=to).any(|b| p(b) != (b >= hi)) {
                return None;
            }
            let th = f32::from_bits(hi);
            if t.last().is_some_and(|&prev: &f32| th > prev) {
                return None;
            }
            t.push(th);
        }
        let mut values = levels.to_vec();
        values.push(0.0);
        // Per exponent bucket of y (bit patterns b << 23 ..= (b + 1) << 23 - 1): the thresholds
        // above the whole bucket (all k < lo have y < t_k) and below it (all k >= hi have
        // y >= t_k). Only t_lo .. t_hi need a comparison.
        let mut buckets = [(0u16, 0u16); 256];
        for (b, e) in buckets.iter_mut().enumerate() {
            let b = b as u32;
            let min = f32::from_bits((b << 23).max(1));
            let max = f32::from_bits(((b + 1) << 23).wrapping_sub(1).min(INF_BITS));
            let lo = t.partition_point(|&tk| max < tk);
            let hi = t.partition_point(|&tk| min < tk);
            *e = (lo as u16, hi as u16);
        }
        let mut padded = t.clone();
        padded.extend([0.0; SPAN]);
        Some(LogThresholds {
            scale: s,
            t,
            padded,
            buckets,
            values,
        })
    }

    /// Thresholds of a [`LogQuantizer`] (its own level values).
    pub fn of(q: &LogQuantizer) -> Option<Self> {
        Self::new(q.base(), q.bits(), q.scale(), &q.levels())
    }

    /// Thresholds of the reparameterized quantizer (Eq. 18 codes, Eq. 19-20 values).
    pub fn of_reparam(r: &Log2Reparam) -> Option<Self> {
        Self::new(
            LogBase::Sqrt2,
            r.bits(),
            r.scale(),
            &super::model::log2_reparam_levels(r),
        )
    }

    /// Index of the code of `x` (`0..2^b`), or `2^b` for the exact zero.
    #[inline]
    pub fn index(&self, x: f32) -> usize {
        let y = x / self.scale;
        #[allow(clippy::neg_cmp_op_on_partial_ord)] // NaN must take this branch
        if !(y > 0.0) {
            // zero, negative, NaN: the reference's log2 gives -inf or NaN -> the exact zero.
            return self.t.len();
        }
        let (lo, hi) = self.buckets[(y.to_bits() >> 23) as usize];
        let (lo, hi) = (usize::from(lo), usize::from(hi));
        if hi - lo <= SPAN {
            // Branch-free: thresholds past `hi` (or the zero padding) are <= y and count 0.
            let w = &self.padded[lo..lo + SPAN];
            lo + w.iter().map(|&tk| usize::from(y < tk)).sum::<usize>()
        } else {
            lo + self.t[lo..hi].partition_point(|&tk| y < tk)
        }
    }

    /// The fake-quantized value of `x`.
    #[inline]
    pub fn fake_quant(&self, x: f32) -> f32 {
        self.values[self.index(x)]
    }

    /// Fake quantization in place, in parallel.
    pub fn fake_quant_in_place(&self, x: &mut [f32]) {
        x.par_chunks_mut(CHUNK).for_each(|c| {
            for v in c {
                *v = self.fake_quant(*v);
            }
        });
    }
}

/// Fake quantization of `x` by `q`, through the thresholds when they could be built.
pub fn fake_quant_log(q: &LogQuantizer, x: &mut [f32]) {
    match LogThresholds::of(q) {
        Some(t) => t.fake_quant_in_place(x),
        None => q.fake_quant_in_place(x),
    }
}

/// Fake quantization of `x` by the reparameterized quantizer `r`.
pub fn fake_quant_reparam(r: &Log2Reparam, x: &mut [f32]) {
    match LogThresholds::of_reparam(r) {
        Some(t) => t.fake_quant_in_place(x),
        None => super::model::reparam_fake_quant_direct(r, x),
    }
}

/// [`LogQuantizer::init`], with the same result, computed through the thresholds: the same
/// candidate scales (quantiles), the same fallback, the same error sums (the same chunked f64
/// accumulation) and the same choice.
pub fn init_log(x: &[f32], bits: u32, base: LogBase) -> Result<LogQuantizer> {
    if x.is_empty() {
        return LogQuantizer::init(x, bits, base);
    }
    // Validates bits.
    LogQuantizer::new(base, bits, 1.0)?;
    let q = super::tails::tail_quantiles(x, &PERCENTILES);
    let cands = crate::quant::quantizer::log::scale_candidates(x, &q);
    let mut ths = Vec::with_capacity(3);
    for &s in &cands {
        let lq = LogQuantizer::new(base, bits, s)?;
        match LogThresholds::of(&lq) {
            Some(t) => ths.push(t),
            None => return LogQuantizer::init(x, bits, base),
        }
    }
    let sse = par_sum::<3, _>(x, |v, acc| {
        for (a, t) in acc.iter_mut().zip(&ths) {
            let e = f64::from(v - t.fake_quant(v));
            *a += e * e;
        }
    });
    let scale = if sse.iter().all(|s| s.is_nan()) {
        crate::quant::quantizer::log::max_or_one(x)
    } else {
        cands[pick_best(&sse)]
    };
    LogQuantizer::new(base, bits, scale)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::quantizer::{LogCode, ShiftCode};
    use rand::rngs::StdRng;
    use rand::{RngExt, SeedableRng};

    fn scales() -> Vec<f32> {
        vec![
            1.0,
            0.5,
            0.3,
            0.123_456_79,
            0.999_999_94,
            2.0,
            7.7e-5,
            1e-20,
        ]
    }

    /// Every `step`-th positive f32 from 0 up to `100 * s`, every `dense`-th f32 in `[s/4, s)`
    /// (where the first codes' thresholds lie), specials.
    fn inputs(s: f32, step: usize, dense: usize) -> Vec<f32> {
        let mut v: Vec<f32> = (0..(s * 100.0).to_bits())
            .step_by(step)
            .map(f32::from_bits)
            .collect();
        v.extend(
            ((s / 4.0).to_bits()..s.to_bits())
                .step_by(dense)
                .map(f32::from_bits),
        );
        v.extend([
            0.0,
            -0.0,
            -1.0,
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::MAX,
            f32::from_bits(1),
        ]);
        v
    }

    #[test]
    fn codes_equal_the_direct_computation() {
        codes_equal(&[2, 3, 4, 6, 8], &scales(), 4099, 61);
    }

    /// Every f32 in the two octaves below `s` (about 5 minutes).
    #[test]
    #[ignore]
    fn codes_equal_the_direct_computation_densely() {
        codes_equal(&[2, 4, 8], &scales(), 257, 1);
    }

    fn codes_equal(bit_widths: &[u32], scales: &[f32], step: usize, dense: usize) {
        for &bits in bit_widths {
            for &s in scales {
                for base in [LogBase::Sqrt2, LogBase::Two] {
                    let q = LogQuantizer::new(base, bits, s).unwrap();
                    let t = LogThresholds::of(&q).expect("thresholds");
                    let xs = inputs(s, step, dense);
                    let bad = xs
                        .par_iter()
                        .filter(|&&x| {
                            let want = match q.code(x) {
                                LogCode::Zero => 1usize << bits,
                                LogCode::Level(l) => usize::from(l),
                            };
                            t.index(x) != want
                                || t.fake_quant(x).to_bits() != q.fake_quant_value(x).to_bits()
                        })
                        .count();
                    assert_eq!(bad, 0, "{base:?} {bits} bits s {s}");
                }
                // The reparameterized form: Eq. 18 codes and Eq. 19-20 values.
                let r = Log2Reparam::new(bits, s).unwrap();
                let t = LogThresholds::of_reparam(&r).expect("thresholds");
                let bad = inputs(s, 2 * step, dense)
                    .par_iter()
                    .filter(|&&x| {
                        let want = match r.code(x) {
                            ShiftCode::Zero => 0.0,
                            c => r.dequantize(c),
                        };
                        t.fake_quant(x).to_bits() != want.to_bits()
                    })
                    .count();
                assert_eq!(bad, 0, "reparam {bits} bits s {s}");
            }
        }
    }

    fn softmax_rows(rows: usize, len: usize, seed: u64) -> Vec<f32> {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut out = Vec::with_capacity(rows * len);
        for _ in 0..rows {
            let s: Vec<f32> = (0..len).map(|_| rng.random_range(-4.0f32..4.0)).collect();
            let m = s.iter().copied().fold(f32::MIN, f32::max);
            let e: Vec<f32> = s.iter().map(|v| (v - m).exp()).collect();
            let sum: f32 = e.iter().sum();
            out.extend(e.iter().map(|v| v / sum));
        }
        out
    }

    #[test]
    fn init_equals_the_quantizer_init() {
        for (seed, len) in [(1u64, 197usize), (2, 50), (3, 12)] {
            let x = softmax_rows(2000, len, seed);
            for bits in 2..=8 {
                for base in [LogBase::Sqrt2, LogBase::Two] {
                    let a = LogQuantizer::init(&x, bits, base).unwrap();
                    let b = init_log(&x, bits, base).unwrap();
                    assert_eq!(a, b, "len {len} bits {bits} {base:?}");
                    let (mut y, mut z) = (x.clone(), x.clone());
                    a.fake_quant_in_place(&mut y);
                    fake_quant_log(&a, &mut z);
                    assert_eq!(y, z);
                }
            }
        }
        // Mostly zeros: fallback scales, as LogQuantizer::init.
        let mut x = vec![0.0f32; 100_000];
        x[17] = 0.3;
        assert_eq!(
            init_log(&x, 4, LogBase::Sqrt2).unwrap(),
            LogQuantizer::init(&x, 4, LogBase::Sqrt2).unwrap()
        );
        assert!(init_log(&[], 4, LogBase::Sqrt2).is_err());
        assert!(init_log(&x, 1, LogBase::Sqrt2).is_err());
    }
}
