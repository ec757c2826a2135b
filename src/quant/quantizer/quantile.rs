//! Quantiles with `torch.quantile` semantics (linear interpolation), computed by selection.
//!
//! The percentile initialisation of every quantizer (paper Eq. 9 with `max`/`min` replaced by the
//! p and 1-p quantiles, REFERENCE.md section 1) needs a handful of quantiles of tensors of up to
//! tens of millions of elements. Sorting is not needed: each quantile is a linear interpolation
//! between two order statistics, and [`quantiles_in_place`] selects exactly those order statistics
//! with `select_nth_unstable_by(f32::total_cmp)`, each selection working only inside the partition
//! that the previous ones left around it.
//!
//! # Bit-exact torch semantics
//!
//! For `n` values sorted ascending as `v`, `torch.quantile(x, p)` (PyTorch 2.x, CPU, float32) is,
//! reproduced here bit for bit (156 quantiles of 1..6144 elements in the torch fixture, see
//! `torch_fixture.rs`; during development also 828 random cases of 2 to 2e7 elements, including
//! sizes above 2^24 where the f64 rank matters):
//!
//! * `p` is first rounded to f32 (torch wraps the Python float with `scalar_tensor(q, x.options())`),
//!   so `0.999` is `0.99900001287...`; `1 - p` is computed by the caller in f64 (Python) first;
//! * `rank = f64(p_f32) * (n - 1)`, `lo = floor(rank)`, `hi = ceil(rank)`, `w = f32(rank - lo)`;
//! * `lerp(v[lo], v[hi], w)` as ATen's vectorized CPU kernel does it, with one fused multiply-add:
//!   `fma(w, d, v[lo])` if `|w| < 0.5`, else `fma(w - 1, d, v[hi])`, where `d = v[hi] - v[lo]`.
//!
//! That is the textbook `v[lo] + frac * (v[lo+1] - v[lo])` with torch's rounding. NaN inputs are
//! not expected (tensors are checked finite upstream); they sort by `total_cmp` (positive NaN
//! last) and never cause a panic. An empty input gives NaN.

use std::cmp::Ordering;

/// The fractional order-statistic position of quantile `p` among `n` values, as torch computes it
/// (see the module documentation). `p` is clamped to `[0, 1]` (NaN counts as 0).
pub fn torch_rank(p: f64, n: usize) -> f64 {
    let p = if p >= 0.0 { p.min(1.0) } else { 0.0 };
    f64::from(p as f32) * (n.saturating_sub(1) as f64)
}

/// The two order statistics (`lo`, `hi`) and the f32 interpolation weight of quantile `p`.
fn plan(p: f64, n: usize) -> (usize, usize, f32) {
    let rank = torch_rank(p, n);
    let lo = rank.floor();
    let hi = rank.ceil();
    let last = n.saturating_sub(1);
    (
        (lo as usize).min(last),
        (hi as usize).min(last),
        (rank - lo) as f32,
    )
}

/// ATen's CPU `lerp(a, b, w)` for f32 (vectorized form, one fused multiply-add).
#[inline]
pub fn torch_lerp(a: f32, b: f32, w: f32) -> f32 {
    let d = b - a;
    if w.abs() < 0.5 {
        w.mul_add(d, a)
    } else {
        (w - 1.0).mul_add(d, b)
    }
}

/// Quantile `p` of `x` (one working copy). See [`quantiles_in_place`].
pub fn quantile(x: &[f32], p: f64) -> f32 {
    quantiles(x, &[p])[0]
}

/// Quantiles `ps` of `x`, in the order of `ps`, using one working copy of `x`.
pub fn quantiles(x: &[f32], ps: &[f64]) -> Vec<f32> {
    let mut work = x.to_vec();
    quantiles_in_place(&mut work, ps)
}

/// Quantiles `ps` of the values in `work`, in the order of `ps`. `work` is reordered (it keeps the
/// same multiset of values), never sorted: only the order statistics the quantiles interpolate
/// between are selected, each selection inside the sub-slice the earlier ones delimit.
pub fn quantiles_in_place(work: &mut [f32], ps: &[f64]) -> Vec<f32> {
    let n = work.len();
    if n == 0 {
        return vec![f32::NAN; ps.len()];
    }
    let plans: Vec<(usize, usize, f32)> = ps.iter().map(|&p| plan(p, n)).collect();
    let mut ranks: Vec<usize> = plans.iter().flat_map(|&(lo, hi, _)| [lo, hi]).collect();
    ranks.sort_unstable();
    ranks.dedup();
    let mut stats = vec![0f32; ranks.len()];
    select_order_statistics(work, &ranks, &mut stats);
    let stat = |r: usize| stats[ranks.binary_search(&r).expect("rank was selected")];
    plans
        .iter()
        .map(|&(lo, hi, w)| torch_lerp(stat(lo), stat(hi), w))
        .collect()
}

/// The order statistics `ranks` (ascending, distinct, each `< v.len()`) of `v` into `out`.
///
/// Recursive multi-selection: select one rank, then recurse into the left and right partitions
/// with the ranks that fall there. The rank selected first is the one that leaves the smaller
/// "largest remaining sub-problem", so the typical percentile pattern (a few ranks near each end)
/// costs two passes over the data rather than one per rank.
fn select_order_statistics(v: &mut [f32], ranks: &[usize], out: &mut [f32]) {
    debug_assert_eq!(ranks.len(), out.len());
    if ranks.is_empty() {
        return;
    }
    let m = v.len();
    let last = ranks.len() - 1;
    let cost = |i: usize| {
        let left = if i > 0 { ranks[i] } else { 0 };
        let right = if i < last { m - ranks[i] - 1 } else { 0 };
        left.max(right)
    };
    let pick = (0..ranks.len())
        .min_by_key(|&i| cost(i))
        .expect("non-empty");
    let k = ranks[pick];
    let (left, nth, right) = v.select_nth_unstable_by(k, cmp);
    out[pick] = *nth;
    let (out_left, out_rest) = out.split_at_mut(pick);
    select_order_statistics(left, &ranks[..pick], out_left);
    let right_ranks: Vec<usize> = ranks[pick + 1..].iter().map(|&r| r - k - 1).collect();
    select_order_statistics(right, &right_ranks, &mut out_rest[1..]);
}

#[inline]
fn cmp(a: &f32, b: &f32) -> Ordering {
    a.total_cmp(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng, rngs::StdRng};

    /// Naive reference: full sort, same rank/lerp arithmetic.
    fn naive(x: &[f32], p: f64) -> f32 {
        let mut s = x.to_vec();
        s.sort_by(f32::total_cmp);
        let (lo, hi, w) = plan(p, s.len());
        torch_lerp(s[lo], s[hi], w)
    }

    #[test]
    fn small_cases_by_hand() {
        // n = 5, v = [1, 2, 3, 4, 10]: p = 0.5 -> rank 2 -> 3.
        let x = [10.0, 1.0, 4.0, 3.0, 2.0];
        assert_eq!(quantile(&x, 0.5), 3.0);
        assert_eq!(quantile(&x, 0.0), 1.0);
        assert_eq!(quantile(&x, 1.0), 10.0);
        // p = 0.9 -> f32(0.9) = 0.89999997615814; rank = 3.5999999046 -> lo 3, hi 4,
        // w = f32(0.5999999046) >= 0.5 -> fma(w - 1, 10 - 4, 10) = 10 - 0.4000000954 * 6
        // = 7.5999994277 -> f32 7.5999994.
        assert_eq!(quantile(&x, 0.9), 7.5999994);
        // p = 0.25 -> rank exactly 1 -> 2.
        assert_eq!(quantile(&x, 0.25), 2.0);
        // p = 0.1 -> f32(0.1) = 0.10000000149; rank 0.40000000596 -> w = 0.4 (f32) < 0.5
        // -> fma(0.4, 2 - 1, 1) = 1.4 (f32 of 1.40000000596 = 1.4).
        assert_eq!(quantile(&x, 0.1), 1.4);
        // One element: every quantile is that element.
        assert_eq!(quantile(&[7.0], 0.999), 7.0);
        assert!(quantile(&[], 0.5).is_nan());
    }

    #[test]
    fn torch_rank_rounds_p_to_f32() {
        // f32(0.999) = 0.999000012874603; n - 1 = 49999 -> 49949.00164 (not 49949.001).
        let r = torch_rank(0.999, 50_000);
        assert_eq!(r, f64::from(0.999f32) * 49_999.0);
        assert!((r - 49_949.001_643).abs() < 1e-3);
    }

    #[test]
    fn multi_selection_matches_full_sort() {
        let mut rng = StdRng::seed_from_u64(1);
        let ps = [
            0.999,
            1.0 - 0.999,
            0.9999,
            1.0 - 0.9999,
            0.99999,
            1.0 - 0.99999,
            0.5,
            0.0,
            1.0,
        ];
        for &n in &[1usize, 2, 3, 7, 10, 100, 1001, 4096, 100_003] {
            for dup in [false, true] {
                let x: Vec<f32> = (0..n)
                    .map(|_| {
                        let v: f32 = rng.random_range(-3.0..3.0);
                        if dup { (v * 2.0).round() } else { v * v * v }
                    })
                    .collect();
                let got = quantiles(&x, &ps);
                for (&p, &g) in ps.iter().zip(&got) {
                    let want = naive(&x, p);
                    assert_eq!(g.to_bits(), want.to_bits(), "n {n} p {p}: {g} vs {want}");
                }
            }
        }
    }

    #[test]
    fn nan_does_not_panic() {
        let x = [1.0, f32::NAN, 3.0, -f32::NAN, 2.0];
        let q = quantiles(&x, &[0.0, 0.5, 1.0, 0.999]);
        assert_eq!(q.len(), 4);
        // total_cmp: -NaN < 1 < 2 < 3 < +NaN; the median is 2.
        assert_eq!(q[1], 2.0);
    }
}
