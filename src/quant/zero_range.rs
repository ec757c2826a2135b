//! The integer model's rule for quantizers whose range does not hold 0 (docs/arithmetic.md,
//! "Operands the hardware holds"): a deviation from the authors' quantizer, applied only when the
//! integer model is built; the fake-quant model keeps the authors' quantizer.
//!
//! The authors' zero point `z = round(-min / s)` is not clamped to the code range, so a group of
//! a single sign (a weight row of positive weights, a key tensor that is never negative) gets
//! `z < 0` or `z > 2^b - 1`. Its operands `code - z` then reach `2^b - 1 - z`, more than the
//! `s{b+1}` operand lanes of the hardware hold. Such a quantizer covers `[-z s, (2^b - 1 - z) s]`,
//! an interval of one sign; the integer model widens it to include 0:
//!
//! * `z < 0`: `s' = s (2^b - 1 - z) / (2^b - 1)`, `z' = 0` (covers `[0, (2^b - 1 - z) s]`);
//! * `z > 2^b - 1`: `s' = s z / (2^b - 1)`, `z' = 2^b - 1` (covers `[-z s, 0]`).
//!
//! Every group with `0 <= z <= 2^b - 1` is left exactly as it is. The new range contains the old
//! one, so nothing is clipped that was not clipped before; the cost is a coarser step for that
//! group only.

use super::model::QuantizedWeight;
use super::quantizer::{Granularity, UniformQuantizer};
use crate::error::{Error, Result};

/// `(s', z')` of the module rule for one group with scale `s`, integer zero point `z` and `bits`
/// bits; `(s, z)` itself when `0 <= z <= 2^bits - 1`. `z` is an `i64` and the arithmetic is f64:
/// a nearly constant weight row has a tiny scale and a zero point far outside `i32`.
pub fn include_zero(s: f32, z: i64, bits: u32) -> (f32, i32) {
    let qmax = (1i64 << bits) - 1;
    let widen = |num: f64| (f64::from(s) * num / qmax as f64) as f32;
    if z < 0 {
        (widen(qmax as f64 - z as f64), 0)
    } else if z > qmax {
        (widen(z as f64), qmax as i32)
    } else {
        (s, z as i32)
    }
}

/// A weight quantized for the integer model: per-row scales, integer zero points in
/// `0 ..= 2^bits - 1`, and codes.
#[derive(Clone, Debug, PartialEq)]
pub struct IntegerWeight {
    pub scales: Vec<f32>,
    pub zero_points: Vec<i32>,
    /// Codes `[rows, in]`, row-major.
    pub codes: Vec<u8>,
    /// Rows whose quantizer the module rule widened: `(row, authors' z)`.
    pub widened: Vec<(usize, i64)>,
}

/// The integer model's version of `qw`, the authors' quantization of `weight` (`[rows, in]`):
/// rows whose zero point lies outside the code range are widened by [`include_zero`] and
/// quantized again from `weight` (Eq. 7, as the authors' quantizer rounds); every other row keeps
/// its scale, zero point and codes.
pub fn integer_weight(qw: &QuantizedWeight, weight: &[f32], name: &str) -> Result<IntegerWeight> {
    let q = &qw.quantizer;
    let rows = q.scales().len();
    if !q.has_integer_zero_points() || rows == 0 || weight.len() != qw.codes.len() {
        return Err(Error::Invalid(format!(
            "integer model: {name}: weight quantizer with fractional zero points or codes that \
             do not match the weight"
        )));
    }
    let k = weight.len() / rows;
    let bits = q.bits();
    let mut out = IntegerWeight {
        scales: q.scales().to_vec(),
        zero_points: q.rounded_zero_points(),
        codes: qw.codes.clone(),
        widened: Vec::new(),
    };
    for r in 0..rows {
        // The authors' zero point, rounded half to even, without the i32 saturation.
        let z = crate::quant::quantizer::round_half_even(q.zero_points()[r]) as i64;
        let s = out.scales[r];
        let (s2, z2) = include_zero(s, z, bits);
        if i64::from(z2) == z {
            continue;
        }
        let row =
            UniformQuantizer::from_parts(bits, Granularity::PerTensor, vec![s2], vec![z2 as f32])?;
        let codes = row.quantize_codes(&weight[r * k..(r + 1) * k])?;
        out.codes[r * k..(r + 1) * k].copy_from_slice(&codes);
        out.scales[r] = s2;
        out.zero_points[r] = z2;
        out.widened.push((r, z));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widened_ranges_hold_zero_and_the_old_range() {
        for bits in 2..=8u32 {
            let qmax = (1i32 << bits) - 1;
            let qmax = i64::from(qmax);
            for z in [
                -300,
                -qmax - 1,
                -1,
                0,
                1,
                qmax,
                qmax + 1,
                2 * qmax + 7,
                -(1 << 40),
                1 << 40,
            ] {
                let s = 0.013f32;
                let (s2, z2) = include_zero(s, z, bits);
                assert!((0..=qmax).contains(&i64::from(z2)), "{bits} {z}");
                let old = (-z as f64 * f64::from(s), (qmax - z) as f64 * f64::from(s));
                let z2 = i64::from(z2);
                let new = (
                    -z2 as f64 * f64::from(s2),
                    (qmax - z2) as f64 * f64::from(s2),
                );
                let tol = 1e-6 * old.1.abs().max(old.0.abs());
                assert!(new.0 <= old.0 + tol && new.1 >= old.1 - tol, "{bits} {z}");
                assert!(new.0 <= 0.0 && new.1 >= 0.0);
                if (0..=qmax).contains(&z) {
                    assert_eq!((s2, z2), (s, z));
                }
            }
        }
    }

    /// A nearly constant row (two adjacent f32 values) at 8 bits: the authors' scale is one ulp
    /// / 255 and `-min / s` lies far outside i32; the widened row still reproduces the weights.
    #[test]
    fn a_nearly_constant_row_widens_without_overflow() {
        let (a, b) = (1000.0f32, f32::from_bits(1000.0f32.to_bits() + 1));
        let w = [a, a, b, b];
        let qw = QuantizedWeight::init(&w, 1, 8).unwrap();
        let z = crate::quant::quantizer::round_half_even(qw.quantizer.zero_points()[0]);
        assert!(f64::from(z).abs() > f64::from(i32::MAX), "{z}");
        let iw = integer_weight(&qw, &w, "t").unwrap();
        assert_eq!(iw.widened.len(), 1);
        assert_eq!(iw.zero_points[0], 0);
        assert!(iw.widened[0].1 < i64::from(i32::MIN), "{:?}", iw.widened);
        for (c, &x) in w.iter().enumerate() {
            let wq = (f32::from(iw.codes[c]) - iw.zero_points[0] as f32) * iw.scales[0];
            assert!((wq - x).abs() <= iw.scales[0] / 2.0 + 1e-3, "{wq}");
        }
    }

    #[test]
    fn only_single_sign_rows_change() {
        // Row 0 straddles zero, row 1 is all positive, row 2 all negative.
        let w = [
            -0.5f32, 0.25, 1.0, 0.0, //
            0.5, 0.75, 1.0, 0.6, //
            -1.0, -0.2, -0.4, -0.9,
        ];
        let qw = QuantizedWeight::init(&w, 3, 4).unwrap();
        let z = qw.quantizer.rounded_zero_points();
        assert!((0..=15).contains(&z[0]) && z[1] < 0 && z[2] > 15, "{z:?}");
        let iw = integer_weight(&qw, &w, "t").unwrap();
        assert_eq!(
            iw.widened.iter().map(|x| x.0).collect::<Vec<_>>(),
            vec![1, 2]
        );
        assert_eq!(iw.codes[..4], qw.codes[..4]);
        assert_eq!((iw.zero_points[1], iw.zero_points[2]), (0, 15));
        for r in 0..3 {
            for c in 0..4 {
                let wq = (f32::from(iw.codes[r * 4 + c]) - iw.zero_points[r] as f32) * iw.scales[r];
                assert!(
                    (wq - w[r * 4 + c]).abs() <= iw.scales[r] / 2.0 + 1e-4,
                    "row {r} col {c}: {wq} vs {}",
                    w[r * 4 + c]
                );
            }
        }
    }
}
