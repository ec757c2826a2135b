//! U4: attention times V by shifts, with even/odd accumulators and one sqrt(2) multiply per
//! output (paper Eq. 19-20; docs/arithmetic.md).

use super::logcode::LogCode;
use super::requant::{Requant, round_shift};

/// `round(sqrt(2) * 2^15)`.
pub const SQRT2_Q15: i64 = 46341;

/// One output element: `E + round_shift(O * SQRT2, 15)` over the keys, for codes `codes[j]` and
/// value operands `values[j]` (`V_code - z_v`), with `f` fraction bits.
pub fn attention_value(codes: &[LogCode], values: &[i32], f: u32) -> i64 {
    assert_eq!(codes.len(), values.len(), "one value per key");
    let (mut even, mut odd) = (0i64, 0i64);
    for (c, &v) in codes.iter().zip(values) {
        if c.zero {
            continue;
        }
        let k = (c.code + 1) >> 1;
        let shifted = i64::from(v) << f;
        let term = if k >= 63 { shifted >> 63 } else { shifted >> k };
        if c.code & 1 == 0 {
            even += term;
        } else {
            odd += term;
        }
    }
    even + round_shift(odd * SQRT2_Q15, 15)
}

/// All `out.len()` output channels of one query row at once: [`attention_value`] for each
/// channel `c` with the values `values[j * dh + c]` (`[T, D_h]`, one row per key). Same sums in the
/// same order per channel, so the result is identical; keys outermost lets the per-key shift apply
/// to a whole row of values.
pub fn attention_row(codes: &[LogCode], values: &[i32], f: u32, out: &mut [i64]) {
    let dh = out.len();
    assert_eq!(values.len(), codes.len() * dh, "one value row per key");
    // (v << f) >> k in i32: |v| < 2^14 and f <= 16 keep v << f within i32, and for any i32 x,
    // x >> min(k, 31) equals the i64 x >> k of attention_value (0 or -1 once k >= 31).
    assert!(f <= 16, "F = {f} > 16");
    let mut even = vec![0i64; dh];
    let mut odd = vec![0i64; dh];
    for (c, row) in codes.iter().zip(values.chunks_exact(dh)) {
        if c.zero {
            continue;
        }
        let k = ((c.code + 1) >> 1).min(31);
        let acc = if c.code & 1 == 0 { &mut even } else { &mut odd };
        for (a, &v) in acc.iter_mut().zip(row) {
            debug_assert!(v.unsigned_abs() < 1 << 14);
            *a += i64::from((v << f) >> k);
        }
    }
    for ((o, e), d) in out.iter_mut().zip(&even).zip(&odd) {
        *o = e + round_shift(d * SQRT2_Q15, 15);
    }
}

/// The U2 requantization of the U4 outputs into the proj input codes, heads merged
/// (docs/arithmetic.md, "A x V to proj input codes"): `av` is `[H, T, D_h]` (head, query,
/// channel), `requant` holds one constant set per head (or one for all heads), and the result is
/// `[T, H * D_h]` with head `h`'s channel `c` in column `h * D_h + c`.
pub fn merge_heads(av: &[i64], heads: usize, d_h: usize, requant: &[Requant]) -> Vec<i32> {
    assert!(heads > 0 && d_h > 0 && av.len().is_multiple_of(heads * d_h));
    assert!(
        requant.len() == 1 || requant.len() == heads,
        "one constant set, or one per head"
    );
    let t = av.len() / (heads * d_h);
    let d = heads * d_h;
    let mut out = vec![0i32; t * d];
    for (i, &x) in av.iter().enumerate() {
        let (h, row, c) = (i / (t * d_h), (i / d_h) % t, i % d_h);
        out[row * d + h * d_h + c] = requant[h % requant.len()].apply(x);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_heads_places_head_h_channel_c_at_column_h_dh_plus_c() {
        // 2 heads, 3 queries, 2 channels; identity-like requantization (M = 1/2, zero point 10).
        let r = Requant::to_codes(0.5, 10, 8, "t").unwrap();
        let av: Vec<i64> = (0..12).map(|i| 2 * i).collect();
        let out = merge_heads(&av, 2, 2, &[r]);
        // av[h][t][c] = 2 * (h * 6 + t * 2 + c) -> (h * 6 + t * 2 + c) + 10
        assert_eq!(out, vec![10, 11, 16, 17, 12, 13, 18, 19, 14, 15, 20, 21]);
        // Per-head constants.
        let r2 = Requant::to_codes(0.5, 100, 8, "t").unwrap();
        let out = merge_heads(&av, 2, 2, &[r, r2]);
        assert_eq!(&out[..4], &[10, 11, 106, 107]);
    }

    #[test]
    fn row_form_equals_per_channel_form() {
        let (t, dh, f) = (97, 5, 16);
        let codes: Vec<LogCode> = (0..t)
            .map(|j| LogCode {
                code: (j * 37 % 256) as u32,
                zero: j % 9 == 4,
            })
            .collect();
        let values: Vec<i32> = (0..t * dh).map(|i| (i as i32 * 37) % 511 - 255).collect();
        let mut out = vec![0i64; dh];
        attention_row(&codes, &values, f, &mut out);
        for c in 0..dh {
            let col: Vec<i32> = (0..t).map(|j| values[j * dh + c]).collect();
            assert_eq!(out[c], attention_value(&codes, &col, f), "channel {c}");
        }
    }

    fn c(code: u32) -> LogCode {
        LogCode { code, zero: false }
    }

    #[test]
    fn hand_case_even_odd_and_zero() {
        // F = 4: v=3 code 0 -> 48; v=-5 code 2 (shift 1) -> -80 >> 1 = -40;
        // v=7 code 1 (shift 1, odd) -> 112 >> 1 = 56; zero flag ignored.
        let codes = [
            c(0),
            c(2),
            c(1),
            LogCode {
                code: 0,
                zero: true,
            },
        ];
        let out = attention_value(&codes, &[3, -5, 7, 100], 4);
        // E = 8, O = 56: 56 * 46341 = 2595096; (2595096 + 16384) >> 15 = 79
        assert_eq!(out, 8 + 79);
    }

    #[test]
    fn flooring_shift_of_negative_values() {
        // -1 << 0 >> 10 = -1 (floor), 1 >> 10 = 0.
        assert_eq!(attention_value(&[c(20)], &[-1], 0), -1);
        assert_eq!(attention_value(&[c(20)], &[1], 0), 0);
        assert_eq!(attention_value(&[c(255)], &[-1], 16), -1);
    }
}
