//! U6: integer softmax, from the `Q K^T` accumulators of one query row to the probabilities `p`
//! (`u17`, value `p / 2^16`) that the log2 code unit U3 takes (docs/arithmetic.md, U6).
//!
//! The scores go to a base-2 fixed-point logit with [`EF`] fraction bits by one U2-style multiply
//! (`M = s_q * s_k / sqrt(D_h) * log2(e) * 2^EF`, the `1/sqrt(D_h)` of paper Eq. 4 included); the
//! row maximum is subtracted; `2^-delta` is a table of the fractional part shifted right by the
//! integer part; one rounded division per element normalizes.

use super::requant::{Requant, round_half_even, round_shift};
use crate::error::Result;

/// Fraction bits of the base-2 logit.
pub const EF: u32 = 10;
/// Fraction bits of the table `EXP2[f] = round(2^(EBITS - f / 2^EF))`.
pub const EBITS: u32 = 20;

/// The table of `2^(EBITS - f / 2^EF)` for `f` in `0 .. 2^EF`, rounded half to even (computed
/// with libm's `exp2`, the same on every platform). `EXP2[0] = 2^EBITS`.
pub fn exp2_table() -> Vec<u32> {
    (0..1u32 << EF)
        .map(|f| {
            round_half_even(libm::exp2(
                f64::from(EBITS) - f64::from(f) / f64::from(1u32 << EF),
            )) as u32
        })
        .collect()
}

/// Per-layer constants: the logit multiplier `(M0, n)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SoftmaxParams {
    pub m0: u32,
    pub shift: u32,
}

impl SoftmaxParams {
    /// For score scale `s_q * s_k / sqrt(D_h)` (the real value of one accumulator LSB).
    pub fn from_score_scale(score_scale: f64, what: &str) -> Result<Self> {
        let m = score_scale * std::f64::consts::LOG2_E * f64::from(1u32 << EF);
        let (m0, shift) = Requant::multiplier(m, what)?;
        Ok(SoftmaxParams { m0, shift })
    }

    /// Probabilities of one row of accumulators, written to `p`:
    /// `z_j = round_shift(acc_j * M0, n)`, `delta_j = max z - z_j`,
    /// `e_j = EXP2[delta_j mod 2^EF] >> (delta_j >> EF)` (a flooring shift: 0 for shifts above EBITS),
    /// `p_j = floor((e_j * 2^17 + S) / (2 S))` with `S = sum e_j`.
    pub fn apply(&self, table: &[u32], acc: &[i64], p: &mut [u32]) {
        assert_eq!(acc.len(), p.len(), "softmax row width");
        if acc.is_empty() {
            return;
        }
        let mask = (1i64 << EF) - 1;
        let z = |a: i64| round_shift(a * i64::from(self.m0), self.shift);
        let zmax = acc.iter().map(|&a| z(a)).max().unwrap_or(0);
        let (mut sum, mut emax) = (0u64, 0u32);
        for (&a, out) in acc.iter().zip(p.iter_mut()) {
            let delta = zmax - z(a);
            let q = delta >> EF;
            // Table entries are below 2^(EBITS + 1): any larger shift floors to 0. (A select, not
            // a branch: which elements lie far below the maximum is data dependent.)
            let shifted = table[(delta & mask) as usize] >> q.min(31);
            let e = if q > i64::from(EBITS) { 0 } else { shifted };
            *out = e;
            sum += u64::from(e);
            emax = emax.max(e);
        }
        // sum >= EXP2[0] = 2^EBITS > 0: the maximum element contributes it.
        let div = FloorDiv::new(2 * sum, (u64::from(emax) << 17) + sum);
        for out in p.iter_mut() {
            *out = div.div((u64::from(*out) << 17) + sum) as u32;
        }
    }
}

/// `floor(x / d)` for one divisor and many numerators: a multiply and a shift instead of a
/// division where the numerators are below 2^[`FloorDiv::N`] (Granlund and Montgomery 1994,
/// Theorem 4.2: with `2^(l-1) < d <= 2^l` and `m = ceil(2^(N+l) / d)`, `floor(x * m / 2^(N+l))`
/// equals `floor(x / d)` for every `0 <= x < 2^N`), else the division itself.
#[derive(Clone, Copy, Debug)]
pub struct FloorDiv {
    d: u64,
    /// `m`, or 0 when the numerators may be too large (then `x / d` is computed).
    m: u128,
    shift: u32,
}

impl FloorDiv {
    /// Numerator bits the multiply covers (`m < 2^(N+1) + 1`, so `x * m < 2^(2N+1)` fits u128).
    pub const N: u32 = 40;

    /// For divisor `d > 0` and numerators at most `x_max`.
    pub fn new(d: u64, x_max: u64) -> Self {
        assert!(d > 0, "division by zero");
        if x_max >= 1 << Self::N {
            return FloorDiv { d, m: 0, shift: 0 };
        }
        let l = 64 - (d - 1).leading_zeros(); // ceil(log2 d): 2^(l-1) < d <= 2^l
        let shift = Self::N + l;
        let m = (1u128 << shift).div_ceil(u128::from(d));
        FloorDiv { d, m, shift }
    }

    /// `floor(x / d)` (x at most the `x_max` given).
    #[inline]
    pub fn div(&self, x: u64) -> u64 {
        if self.m == 0 {
            x / self.d
        } else {
            debug_assert!(x < 1 << Self::N);
            ((u128::from(x) * self.m) >> self.shift) as u64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{RngExt, SeedableRng};

    #[test]
    fn floor_div_is_exact() {
        let mut v = 0x853c_49e6_748f_ea9bu64;
        let mut next = move || {
            v ^= v << 13;
            v ^= v >> 7;
            v ^= v << 17;
            v
        };
        let top = (1u64 << FloorDiv::N) - 1;
        let divisors: Vec<u64> = (1..300u64)
            .chain((0..63).flat_map(|b| [(1u64 << b) - 1, 1 << b, (1 << b) + 1]))
            .chain((0..2000).map(|_| next() >> (next() % 64)))
            .collect();
        for d in divisors {
            let d = d.max(1);
            let f = FloorDiv::new(d, top);
            let edges = [0, 1, d - 1, d, d + 1, top, top - 1, top / d * d];
            let below = (top / d * d).saturating_sub(1);
            let xs: Vec<u64> = edges
                .into_iter()
                .chain([below])
                .chain((0..50).map(|_| next() & top))
                .collect();
            for x in xs {
                let x = x.min(top);
                assert_eq!(f.div(x), x / d, "{x} / {d}");
            }
            // Beyond 2^N: the division itself.
            let g = FloorDiv::new(d, u64::MAX);
            assert_eq!(g.div(u64::MAX), u64::MAX / d);
        }
    }

    #[test]
    fn table_endpoints() {
        let t = exp2_table();
        assert_eq!(t.len(), 1024);
        assert_eq!(t[0], 1 << 20);
        assert_eq!(t[512], 741_455); // round(2^19.5)
        assert!(t.windows(2).all(|w| w[0] > w[1]));
    }

    #[test]
    fn matches_float_softmax_within_table_precision() {
        let table = exp2_table();
        let mut rng = StdRng::seed_from_u64(3);
        let scale = 0.0123f64;
        let sp = SoftmaxParams::from_score_scale(scale, "test").unwrap();
        let mut worst = 0f64;
        for _ in 0..300 {
            let t = rng.random_range(1..200);
            let spread = rng.random_range(1.0f64..2000.0);
            let acc: Vec<i64> = (0..t)
                .map(|_| (rng.random_range(-1.0f64..1.0) * spread) as i64)
                .collect();
            let mut p = vec![0u32; t];
            sp.apply(&table, &acc, &mut p);
            let max = acc.iter().copied().max().unwrap() as f64;
            let e: Vec<f64> = acc
                .iter()
                .map(|&a| ((a as f64 - max) * scale).exp())
                .collect();
            let s: f64 = e.iter().sum();
            for (pi, ei) in p.iter().zip(&e) {
                let want = ei / s * 65536.0;
                worst = worst.max((f64::from(*pi) - want).abs());
            }
        }
        // logit rounding (2^-11 in log2) and the table give < 0.1% relative, plus 0.5 LSB.
        assert!(worst < 66.0, "worst |p - p_float| = {worst} LSB of 2^-16");
        assert!(worst > 0.0);
    }

    #[test]
    fn one_dominant_score_gives_probability_one() {
        let table = exp2_table();
        let sp = SoftmaxParams::from_score_scale(1.0, "test").unwrap();
        let mut p = [0u32; 3];
        sp.apply(&table, &[1000, 0, -5], &mut p);
        assert_eq!(p, [65536, 0, 0]);
        sp.apply(&table, &[7, 7, 7], &mut p);
        assert_eq!(p, [21845, 21845, 21845]);
    }
}
