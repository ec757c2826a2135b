//! Accumulator bounds, exact in big integers (docs/arithmetic.md, U1 and U4).
//!
//! The array accumulates `bias[n] + sum_k a[m][k] * w[k][n]` in `s{acc}` two's complement and never
//! wraps: the generator refuses an accumulator narrower than the bound computed here. Two entry
//! points serve the two situations:
//!
//! * [`acc_worst_case`] / [`acc_bits_required`] bound any model of a given depth `K` from the code
//!   ranges alone (used when no model is given), and
//! * [`column_range`] gives the exact range of one output column from its actual integer weights
//!   and bias, for a model-derived requirement.
//!
//! Partial sums are covered too: every term `a * w` has the sign of `w` (activation codes are
//! non-negative), so every prefix sum of a column lies between `bias + amax * sum(min(w, 0))` and
//! `bias + amax * sum(max(w, 0))`, the same interval as the final sum, whatever order the array
//! adds the terms in.

use num_bigint::{BigInt, BigUint};

/// Largest activation code, `2^abits - 1`.
pub fn max_code(bits: u32) -> BigUint {
    (BigUint::from(1u32) << bits) - 1u32
}

/// `K * (2^abits - 1) * (2^wbits - 1)`: the largest `|sum_k a * w|` for `K` terms of a
/// `u{abits}` code times an `s{wbits+1}` operand `w_code - z_w` (both in `0 .. 2^b - 1`, so
/// `|w| <= 2^wbits - 1`).
pub fn product_bound(k: u64, abits: u32, wbits: u32) -> BigUint {
    BigUint::from(k) * max_code(abits) * max_code(wbits)
}

/// Largest `|acc|` (final and partial sums) for depth `k` and a bias of magnitude at most
/// `bias_bound`: `bias_bound + K * (2^abits - 1) * (2^wbits - 1)`.
pub fn acc_worst_case(k: u64, abits: u32, wbits: u32, bias_bound: &BigUint) -> BigUint {
    bias_bound + product_bound(k, abits, wbits)
}

/// The smallest `N` such that every integer in `[lo, hi]` fits `s{N}`
/// (`-2^(N-1) <= lo` and `hi <= 2^(N-1) - 1`).
pub fn signed_bits(lo: &BigInt, hi: &BigInt) -> u32 {
    let zero = BigInt::from(0);
    let pos = if *hi > zero { hi.magnitude().bits() } else { 0 };
    let neg = if *lo < zero {
        (-lo - 1i32).magnitude().bits()
    } else {
        0
    };
    1 + pos.max(neg) as u32
}

/// Accumulator bits for depth `k`, code widths `abits`/`wbits` and bias magnitude `bias_bound`:
/// the signed width of `[-B, B]` with `B` = [`acc_worst_case`].
pub fn acc_bits_required(k: u64, abits: u32, wbits: u32, bias_bound: &BigUint) -> u32 {
    let b = BigInt::from(acc_worst_case(k, abits, wbits, bias_bound));
    signed_bits(&-b.clone(), &b)
}

/// The exact range of one output column over every possible activation code row: the column's
/// integer `bias` plus `(2^abits - 1) * sum(min(w, 0))` .. `(2^abits - 1) * sum(max(w, 0))`. It also
/// bounds every partial sum (see the module documentation). Feed the union over all columns and
/// layers to [`signed_bits`].
pub fn column_range(
    bias: i64,
    w_col: impl IntoIterator<Item = i32>,
    abits: u32,
) -> (BigInt, BigInt) {
    let (mut neg, mut pos) = (BigInt::from(0), BigInt::from(0));
    for w in w_col {
        if w < 0 {
            neg += w;
        } else {
            pos += w;
        }
    }
    let amax = BigInt::from(max_code(abits));
    (
        BigInt::from(bias) + &amax * neg,
        BigInt::from(bias) + &amax * pos,
    )
}

/// `SQRT2 = 46341` of U4 as the exact bound test uses it.
const SQRT2_Q15: u64 = 46341;

/// Whether the U4 bound `T * 2^(abits + F) * (1 + sqrt(2))` fits `s{acc_bits}`
/// (is at most `2^(acc_bits - 1) - 1`), decided exactly: with `X = T * 2^(abits + F)` and
/// `L = 2^(acc_bits - 1)`, `X (1 + sqrt 2) < L` iff `X < L` and `2 X^2 < (L - X)^2`.
pub fn av_bound_fits(max_tokens: u64, abits: u32, f: u32, acc_bits: u32) -> bool {
    let x = BigUint::from(max_tokens) << (abits + f);
    let l = BigUint::from(1u32) << (acc_bits - 1);
    if x >= l {
        return false;
    }
    let d = &l - &x;
    BigUint::from(2u32) * &x * &x < &d * &d
}

/// The fraction bits `F` of the attention x V unit (U4): the largest `F <= 16` for which
/// [`av_bound_fits`], or `None` when not even `F = 0` fits.
pub fn av_fraction_bits(max_tokens: u64, abits: u32, acc_bits: u32) -> Option<u32> {
    (0..=16u32)
        .rev()
        .find(|&f| av_bound_fits(max_tokens, abits, f, acc_bits))
}

/// The largest `|out|` the U4 hardware can produce for `T` keys (used by tests to keep random
/// vectors inside the accumulator): `|E| + |O| <= T (2^abits) 2^F` and the `sqrt(2)` product
/// rounds up by at most one.
pub fn av_out_bound(max_tokens: u64, abits: u32, f: u32) -> BigUint {
    let x = BigUint::from(max_tokens) << (abits + f);
    ((&x * SQRT2_Q15) >> 15u32) + 1u32 + &x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_widths() {
        let b = |x: i64| BigInt::from(x);
        assert_eq!(signed_bits(&b(0), &b(0)), 1);
        assert_eq!(signed_bits(&b(-1), &b(0)), 1);
        assert_eq!(signed_bits(&b(-128), &b(127)), 8);
        assert_eq!(signed_bits(&b(-129), &b(127)), 9);
        assert_eq!(signed_bits(&b(-128), &b(128)), 9);
        assert_eq!(signed_bits(&b(5), &b(7)), 4);
        assert_eq!(signed_bits(&b(-(1 << 31)), &b((1 << 31) - 1)), 32);
    }

    #[test]
    fn demo_depth_bounds() {
        // K = 384, w8a8: 384 * 255 * 255 = 24_969_600
        assert_eq!(product_bound(384, 8, 8), BigUint::from(24_969_600u32));
        let bias = BigUint::from(2u32) * product_bound(384, 8, 8);
        assert_eq!(acc_bits_required(384, 8, 8, &bias), 28);
        let bias = BigUint::from(2u32) * product_bound(384, 4, 4);
        assert_eq!(acc_bits_required(384, 4, 4, &bias), 19);
        assert_eq!(acc_bits_required(1, 1, 1, &BigUint::from(0u32)), 2);
    }

    #[test]
    fn column_range_is_attained() {
        let (lo, hi) = column_range(-7, [3, -2, 0, 5], 4);
        assert_eq!((lo, hi), (BigInt::from(-7 - 30), BigInt::from(-7 + 120)));
    }

    #[test]
    fn av_fraction_bits_matches_the_float_bound() {
        for (t, a, acc) in [(50u64, 8u32, 28u32), (50, 4, 19), (197, 8, 32), (1, 4, 8)] {
            let f = av_fraction_bits(t, a, acc);
            let float = (0..=16u32).rev().find(|&f| {
                (t as f64) * 2f64.powi((a + f) as i32) * (1.0 + 2f64.sqrt())
                    < 2f64.powi(acc as i32 - 1)
            });
            assert_eq!(f, float, "T={t} a={a} acc={acc}");
        }
        assert_eq!(av_fraction_bits(50, 8, 28), Some(12)); // 50 * 2^20 * 2.414 = 126.6e6 < 2^27
        assert_eq!(av_fraction_bits(50, 8, 10), None);
    }
}
