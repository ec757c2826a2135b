//! Accumulator bounds, exact in big integers (docs/arithmetic.md, U1; U4's is
//! [`crate::arith::shift_av::av_fraction_bits`]).
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

/// `F` of the attention x V unit (U4), the one definition in [`crate::arith::shift_av`].
pub use crate::arith::shift_av::av_fraction_bits;

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
}
