//! U6: integer softmax, from the `Q K^T` accumulators of one query row to the probabilities `p`
//! (`u17`, value `p / 2^16`) that the log2 code unit U3 takes (docs/arithmetic.md, U6).
//!
//! The scores go to a base-2 fixed-point logit with [`EF`] fraction bits by one U2-style multiply
//! (`M = s_q * s_k / sqrt(D_h) * log2(e) * 2^EF`, the `1/sqrt(D_h)` of paper Eq. 4 included); the
//! row maximum is subtracted; `2^-delta` is a table of the fractional part shifted right by the
//! integer part; one rounded division per element normalizes.

use super::requant::{Requant, round_half_even, round_shift};
use super::rowdiv::RowDiv;
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

/// Longest row the hardware takes: `S <= T_MAX 2^EBITS` fits `u33`, `d = 2S` the row divider's
/// `u34` ([`DW`]).
pub const T_MAX: usize = 4096;
/// Bits of the additive score bias `b` (`s16`, logit units: `EF` fraction bits).
pub const BIAS_BITS: u32 = 16;
/// `delta` saturates here, `(EBITS + 1) 2^EF`: every `delta` from `20 2^EF + 1` on gives `e = 0`.
pub const DELTA_SAT: i64 = (EBITS as i64 + 1) << EF;
/// Quotient width of the normalizing division (`p` is `u17`).
pub const QW: u32 = 17;
/// Divisor width of the normalizing division: `d = 2S < 2^34`.
pub const DW: u32 = 34;

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

    /// The base-2 logit of one `Q K^T` accumulator: U2 with `z_o = 0` and the `s32` clamp,
    /// `z = clamp(round_shift(acc * M0, n), -2^31, 2^31 - 1)` (`|acc| < 2^32`).
    #[inline]
    pub fn logit(&self, acc: i64) -> i32 {
        round_shift(acc * i64::from(self.m0), self.shift).clamp(i32::MIN.into(), i32::MAX.into())
            as i32
    }

    /// Probabilities of one row of accumulators, written to `p`: the logits ([`Self::logit`]),
    /// then [`probabilities`] without bias or mask (a ViT's attention).
    pub fn apply(&self, table: &[u32], acc: &[i64], p: &mut [u32]) {
        assert_eq!(acc.len(), p.len(), "softmax row width");
        let z: Vec<i32> = acc.iter().map(|&a| self.logit(a)).collect();
        probabilities(table, &z, None, None, p);
    }
}

/// An additive score bias in logit units: `round_half_even(bias * log2(e) * 2^EF)` per element
/// (`bias` in the natural-log units of the scores, such as Swin's relative position bias).
///
/// # Errors
/// [`crate::error::Error::Invalid`] naming `what`, the index and the value when an element is not
/// finite or its logit-unit value is beyond `s16`.
pub fn bias_to_logit_units(bias: &[f32], what: &str) -> Result<Vec<i16>> {
    bias.iter()
        .enumerate()
        .map(|(i, &x)| {
            let v =
                round_half_even(f64::from(x) * std::f64::consts::LOG2_E * f64::from(1u32 << EF));
            if !v.is_finite() || v < f64::from(i16::MIN) || v > f64::from(i16::MAX) {
                return Err(crate::error::Error::Invalid(format!(
                    "{what}[{i}] = {x}: the softmax bias {v} (log2(e) 2^{EF} units) is beyond s16; \
                     the U6 bias input takes -32768 .. 32767"
                )));
            }
            Ok(v as i16)
        })
        .collect()
}

/// U6 from the logits of one row (docs/arithmetic.md, U6): `z` (`s32`, `T` keys, `T <= 2^25`),
/// an optional additive bias `b` (`s16`, logit units; Swin's relative position bias) and an
/// optional mask (`true`: the key is masked out; Swin's shifted windows), both of length `T`;
/// `p` (`u17`, value `p / 2^16`) of length `T`:
///
/// ```text
/// v     = z + b                                   s33
/// vmax  = max of v over the unmasked keys
/// delta = vmax - v, saturated at (EBITS + 1) 2^EF
/// e     = 0 if masked or delta = DELTA_SAT, else EXP2[delta mod 2^EF] >> (delta >> EF)   u21
/// S     = sum e                                   2^20 <= S <= T 2^20 unless every key is masked
/// p     = floor((e 2^17 + S) / (2 S))             by the row divider (arith::rowdiv), QW = 17
/// ```
///
/// A row whose every key is masked (`S = 0`) gives `p = 0` everywhere. Panics (a caller's bug)
/// when the lengths differ.
pub fn probabilities(
    table: &[u32],
    z: &[i32],
    bias: Option<&[i16]>,
    mask: Option<&[bool]>,
    p: &mut [u32],
) {
    let t = z.len();
    assert_eq!(p.len(), t, "softmax row width");
    assert!(bias.is_none_or(|b| b.len() == t), "softmax bias width");
    assert!(mask.is_none_or(|m| m.len() == t), "softmax mask width");
    let masked = |j: usize| mask.is_some_and(|m| m[j]);
    let v = |j: usize| i64::from(z[j]) + bias.map_or(0, |b| i64::from(b[j]));
    let Some(vmax) = (0..t).filter(|&j| !masked(j)).map(v).max() else {
        p.fill(0);
        return;
    };
    let frac = (1i64 << EF) - 1;
    let mut sum = 0u64;
    for (j, out) in p.iter_mut().enumerate() {
        let delta = (vmax - v(j)).min(DELTA_SAT);
        *out = if masked(j) || delta == DELTA_SAT {
            0
        } else {
            table[(delta & frac) as usize] >> (delta >> EF)
        };
        sum += u64::from(*out);
    }
    // sum >= EXP2[0] = 2^EBITS: the maximum contributes it.
    let div = RowDiv::new(2 * sum, QW);
    for out in p.iter_mut() {
        *out = div.div((u64::from(*out) << 17) + sum) as u32;
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

    /// The row divider gives `floor((e 2^17 + S) / (2 S))` on rows of every kind: random spreads,
    /// ties, one dominant score, long rows, with bias and masks.
    #[test]
    fn rowdiv_path_equals_the_floor_formula() {
        let table = exp2_table();
        let mut rng = StdRng::seed_from_u64(11);
        for _ in 0..400 {
            let t = *[1usize, 2, 7, 50, 197, 785, 4096]
                .get(rng.random_range(0..7))
                .unwrap();
            let spread = 1i32 << rng.random_range(0..31);
            let z: Vec<i32> = (0..t)
                .map(|_| rng.random_range(-spread..=spread.saturating_sub(1)))
                .collect();
            let b: Vec<i16> = (0..t).map(|_| rng.random()).collect();
            let m: Vec<bool> = (0..t).map(|_| rng.random_range(0..4) == 0).collect();
            let mut p = vec![0u32; t];
            probabilities(&table, &z, Some(&b), Some(&m), &mut p);
            let v: Vec<i64> = (0..t).map(|j| i64::from(z[j]) + i64::from(b[j])).collect();
            let Some(vmax) = (0..t).filter(|&j| !m[j]).map(|j| v[j]).max() else {
                assert!(p.iter().all(|&x| x == 0));
                continue;
            };
            let e: Vec<u64> = (0..t)
                .map(|j| {
                    let delta = vmax - v[j];
                    if m[j] || delta >> EF > i64::from(EBITS) {
                        0
                    } else {
                        u64::from(table[(delta & 1023) as usize] >> (delta >> EF))
                    }
                })
                .collect();
            let s: u64 = e.iter().sum();
            assert!(s >= 1 << EBITS && s <= (t as u64) << EBITS);
            for (pj, ej) in p.iter().zip(&e) {
                assert_eq!(u64::from(*pj), ((ej << 17) + s) / (2 * s));
            }
        }
    }

    #[test]
    fn masks_and_bias() {
        let table = exp2_table();
        let z = [3000, -200, 5000, 77, 5000];
        let mut p = [0u32; 5];
        // Entirely masked: all zero.
        probabilities(&table, &z, None, Some(&[true; 5]), &mut p);
        assert_eq!(p, [0; 5]);
        // All but one masked: that one is certain.
        probabilities(
            &table,
            &z,
            None,
            Some(&[true, true, true, false, true]),
            &mut p,
        );
        assert_eq!(p, [0, 0, 0, 65536, 0]);
        // A masked score contributes exactly nothing: the row without it.
        let mask = [false, true, false, false, true];
        probabilities(&table, &z, None, Some(&mask), &mut p);
        let mut sub = [0u32; 3];
        probabilities(&table, &[3000, 5000, 77], None, None, &mut sub);
        assert_eq!([p[0], p[2], p[3]], sub);
        assert_eq!([p[1], p[4]], [0, 0]);
        // The bias is added to the logit.
        let bias = [-32768i16, 32767, 0, -5, 12];
        probabilities(&table, &z, Some(&bias), None, &mut p);
        let zb: Vec<i32> = z
            .iter()
            .zip(&bias)
            .map(|(&a, &b)| a + i32::from(b))
            .collect();
        let mut q = [0u32; 5];
        probabilities(&table, &zb, None, None, &mut q);
        assert_eq!(p, q);
        // Extreme logits: s33 sums, saturated deltas.
        let zx = [i32::MAX, i32::MIN, i32::MAX - 1024];
        probabilities(
            &table,
            &zx,
            Some(&[32767, -32768, 32767]),
            None,
            &mut p[..3],
        );
        assert_eq!(&p[..3], &[43691, 0, 21845]);
    }

    #[test]
    fn bias_conversion_and_its_range() {
        let b = bias_to_logit_units(&[0.0, 1.0, -1.5, 22.0], "rel_pos").unwrap();
        assert_eq!(b, [0, 1477, -2216, 32501]);
        let e = bias_to_logit_units(&[0.0, 23.0], "blocks.0.rel_pos").unwrap_err();
        assert!(e.to_string().contains("blocks.0.rel_pos[1]"), "{e}");
        assert!(bias_to_logit_units(&[f32::NAN], "b").is_err());
    }

    #[test]
    fn logit_clamps_to_s32() {
        let sp = SoftmaxParams {
            m0: 1 << 30,
            shift: 1,
        };
        assert_eq!(sp.logit(1 << 20), i32::MAX);
        assert_eq!(sp.logit(-(1 << 20)), i32::MIN);
        assert_eq!(sp.logit(i64::from(i32::MAX)), i32::MAX);
        assert_eq!(sp.logit(i64::from(i32::MIN)), i32::MIN);
        assert_eq!(sp.logit(3), 3 << 29);
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
