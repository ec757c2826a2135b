//! Extreme quantiles of large tensors in one parallel pass, bit-identical to
//! [`quantiles`](super::quantizer::quantiles) (torch semantics), and the per-tensor
//! initialisations of calibration built on them.
//!
//! The percentile initialisation needs quantiles at `p` in {0.999, 0.9999, 0.99999} and `1 - p`:
//! order statistics within the top and bottom 0.1 % of the values. [`quantiles`] finds them by
//! selection on a copy of the whole tensor, on one core. Here one parallel pass collects every
//! value at or above a threshold `hi` and at or below a threshold `lo`, where `hi` and `lo` are
//! estimated from a strided sample so that each tail holds a few times more values than the
//! deepest rank needs; the order statistics are then selected inside those small tails. If a tail
//! turns out too small (an unlucky estimate, heavy ties), the exact full selection runs instead.
//!
//! Exactness: with `H` = every value `>= hi` (total order, `f32::total_cmp`), the values outside
//! `H` are all below every value of `H`, so the `j`-th largest value overall is the `j`-th largest
//! of `H` whenever `j <= |H|`; likewise for the bottom tail. The interpolation is the same f32
//! arithmetic as [`quantiles`] ([`torch_rank`], [`torch_lerp`]).

use rayon::prelude::*;

use super::quantizer::granularity::CHUNK;
use super::quantizer::quantile::{torch_lerp, torch_rank};
use super::quantizer::search::two_sided_probabilities;
use super::quantizer::uniform::{fake_quant, scale_and_zero_point};
use super::quantizer::{Granularity, UniformQuantizer, pick_best, quantiles};
use crate::error::Result;

/// Below this many values the plain selection is used.
const MIN_LEN: usize = 1 << 16;
/// Sample size used to place the thresholds.
const SAMPLE: usize = 1 << 14;

/// `f32::total_cmp` as an integer key (same order).
#[inline(always)]
fn key(v: f32) -> i32 {
    let b = v.to_bits() as i32;
    b ^ ((((b >> 31) as u32) >> 1) as i32)
}

/// `(lo, hi, w)` of torch's interpolation for quantile `p` of `n` values.
fn plan(p: f64, n: usize) -> (usize, usize, f32) {
    let rank = torch_rank(p, n);
    let lo = rank.floor();
    let hi = rank.ceil();
    let last = n - 1;
    (
        (lo as usize).min(last),
        (hi as usize).min(last),
        (rank - lo) as f32,
    )
}

/// Quantiles `ps` of `x` (in the order of `ps`), identical to [`quantiles`]`(x, ps)`.
pub fn tail_quantiles(x: &[f32], ps: &[f64]) -> Vec<f32> {
    let n = x.len();
    if n < MIN_LEN {
        return quantiles(x, ps);
    }
    let plans: Vec<(usize, usize, f32)> = ps.iter().map(|&p| plan(p, n)).collect();
    let ranks = plans.iter().flat_map(|&(lo, hi, _)| [lo, hi]);
    // Deepest rank needed from each end: top j-th largest (j = n - r), bottom r-th smallest.
    let (mut need_top, mut need_bottom) = (0usize, 0usize);
    for r in ranks {
        if r >= n / 2 {
            need_top = need_top.max(n - r);
        } else {
            need_bottom = need_bottom.max(r + 1);
        }
    }
    // Tails worth collecting only when small.
    let limit = n / 16;
    if need_top > limit || need_bottom > limit {
        return quantiles(x, ps);
    }
    // Thresholds from a strided sample, aiming at 2x the need plus a margin.
    let stride = (n / SAMPLE).max(1);
    let mut sample: Vec<i32> = x.iter().step_by(stride).map(|&v| key(v)).collect();
    sample.sort_unstable();
    let m = sample.len();
    let pick = |want: usize| -> usize {
        // index into the sorted sample of the value with about `want` values beyond it overall
        let frac = (2 * want + 2048) as f64 / n as f64;
        ((frac * m as f64).ceil() as usize).min(m - 1)
    };
    let hi = if need_top > 0 {
        sample[m - 1 - pick(need_top)]
    } else {
        i32::MAX
    };
    let lo = if need_bottom > 0 {
        sample[pick(need_bottom)]
    } else {
        i32::MIN
    };
    let (mut top, mut bottom): (Vec<f32>, Vec<f32>) = x
        .par_chunks(CHUNK)
        .map(|c| {
            let (mut t, mut b) = (Vec::new(), Vec::new());
            for &v in c {
                let k = key(v);
                if k >= hi {
                    t.push(v);
                }
                if k <= lo {
                    b.push(v);
                }
            }
            (t, b)
        })
        .reduce(
            || (Vec::new(), Vec::new()),
            |(mut t1, mut b1), (t2, b2)| {
                t1.extend(t2);
                b1.extend(b2);
                (t1, b1)
            },
        );
    if (need_top > 0 && top.len() < need_top) || (need_bottom > 0 && bottom.len() < need_bottom) {
        return quantiles(x, ps);
    }
    top.sort_unstable_by(f32::total_cmp);
    bottom.sort_unstable_by(f32::total_cmp);
    let stat = |r: usize| -> f32 {
        if r >= n / 2 {
            // (n - r)-th largest = top[len - (n - r)]
            top[top.len() - (n - r)]
        } else {
            bottom[r]
        }
    };
    plans
        .iter()
        .map(|&(l, h, w)| torch_lerp(stat(l), stat(h), w))
        .collect()
}

/// [`UniformQuantizer::init`] with [`Granularity::PerTensor`], with the same result (the same
/// candidates from the same quantiles, the same chunked f64 error sums, the same choice), using
/// [`tail_quantiles`] instead of a full selection on a copy.
pub fn init_uniform_per_tensor(x: &[f32], bits: u32) -> Result<UniformQuantizer> {
    if x.len() < MIN_LEN || !(2..=8).contains(&bits) {
        return UniformQuantizer::init(x, bits, Granularity::PerTensor);
    }
    let qmax = ((1u32 << bits) - 1) as f32;
    let q = tail_quantiles(x, &two_sided_probabilities());
    let cands = [0, 1, 2].map(|i| scale_and_zero_point(q[2 * i], q[2 * i + 1], bits));
    let sse = sse3(x, &cands, qmax);
    let (s, z) = cands[pick_best(&sse)];
    UniformQuantizer::from_parts(bits, Granularity::PerTensor, vec![s], vec![z])
}

/// The three candidates' sums of squared errors, added in exactly the order of
/// `UniformQuantizer::init` (chunks of `CHUNK` values summed in order, each chunk sequentially),
/// so the sums are bit-identical; the squared errors of each block of 64 values are computed
/// first (a loop the compiler vectorizes), then added one by one.
fn sse3(x: &[f32], cands: &[(f32, f32); 3], qmax: f32) -> [f64; 3] {
    const BLOCK: usize = 64;
    let parts: Vec<[f64; 3]> = x
        .par_chunks(CHUNK)
        .map(|c| {
            let mut acc = [0f64; 3];
            let mut sq = [[0f64; BLOCK]; 3];
            for blk in c.chunks(BLOCK) {
                for (buf, &(s, z)) in sq.iter_mut().zip(cands) {
                    for (b, &v) in buf.iter_mut().zip(blk) {
                        let e = f64::from(v - fake_quant(v, s, z, qmax));
                        *b = e * e;
                    }
                }
                for (a, buf) in acc.iter_mut().zip(&sq) {
                    for &e2 in &buf[..blk.len()] {
                        *a += e2;
                    }
                }
            }
            acc
        })
        .collect();
    let mut total = [0f64; 3];
    for p in parts {
        for (t, v) in total.iter_mut().zip(p) {
            *t += v;
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{RngExt, SeedableRng};

    fn data(n: usize, kind: u32, seed: u64) -> Vec<f32> {
        let mut rng = StdRng::seed_from_u64(seed);
        (0..n)
            .map(|_| {
                let v: f32 = rng.random_range(-1.0f32..1.0);
                match kind {
                    0 => v,
                    1 => v * v * v * 40.0,        // heavy tails
                    2 => (v * 3.0).round(),       // 7 distinct values: massive ties
                    3 => 0.25,                    // constant
                    _ => (v * 1e4).round() / 7.0, // many ties
                }
            })
            .collect()
    }

    #[test]
    fn equals_full_selection() {
        let two = two_sided_probabilities();
        let ps: Vec<f64> = two
            .iter()
            .copied()
            .chain([0.5, 0.0, 1.0, 0.9, 0.01])
            .collect();
        for &n in &[1000usize, MIN_LEN, 100_003, 1 << 20] {
            for kind in 0..5 {
                let x = data(n, kind, n as u64 + u64::from(kind));
                for set in [&two[..], &ps[..]] {
                    let a = quantiles(&x, set);
                    let b = tail_quantiles(&x, set);
                    let same = a.iter().zip(&b).all(|(p, q)| p.to_bits() == q.to_bits());
                    assert!(same, "n {n} kind {kind}: {a:?} vs {b:?}");
                }
            }
        }
        // NaN and infinities sort by total order in both.
        let mut x = data(200_000, 1, 5);
        x[10] = f32::NAN;
        x[20] = f32::INFINITY;
        x[30] = f32::NEG_INFINITY;
        x[40] = -f32::NAN;
        let a = quantiles(&x, &two);
        let b = tail_quantiles(&x, &two);
        assert!(a.iter().zip(&b).all(|(p, q)| p.to_bits() == q.to_bits()));
    }

    #[test]
    fn per_tensor_init_equals_the_quantizer_init() {
        for kind in [0, 1, 2, 4] {
            let x = data(300_001, kind, 9);
            for bits in 2..=8 {
                let a = UniformQuantizer::init(&x, bits, Granularity::PerTensor).unwrap();
                let b = init_uniform_per_tensor(&x, bits).unwrap();
                assert_eq!(a, b, "kind {kind} bits {bits}");
            }
        }
        assert!(init_uniform_per_tensor(&[], 4).is_err());
        assert!(init_uniform_per_tensor(&data(100_000, 0, 1), 9).is_err());
    }
}
