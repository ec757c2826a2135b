//! U4: attention times V by shifts, with even/odd accumulators and one sqrt(2) multiply per
//! output (paper Eq. 19-20; docs/arithmetic.md).

use super::logcode::LogCode;
use super::requant::{Requant, round_shift};

/// `round(sqrt(2) * 2^15)`.
pub const SQRT2_Q15: i64 = 46341;

/// Largest fraction bits `F` of U4 (the hardware's `F` field and the shifter are sized for it).
pub const F_MAX: u32 = 16;

/// The exact range `[lo, hi]` of `out` (and the bound of `E` and `O`) over every input of one U4
/// output with `tokens` keys, value operands `|v_j| <= v_max` and `f` fraction bits.
///
/// An even code leaves a term unshifted (`|term| <= v_max 2^F`, reached by code 0), an odd code
/// shifts it at least once (`k >= 1`), so the odd sum times `sqrt(2)` is at most `sqrt(2) / 2` of
/// the same terms unshifted. Hence, whenever `v_max 2^F >= 2`, the extremes are all-even rows:
/// `[-T v_max 2^F, T v_max 2^F]`. (For `v_max 2^F = 1` the negative side is the all-odd row
/// `round_shift(-T * SQRT2, 15)`, since `-1 >> 1 = -1`.) Exhaustively checked against every input
/// of small units in the tests.
pub fn av_out_range(tokens: u64, v_max: u64, f: u32) -> (i128, i128) {
    let x = i128::from(v_max) << f;
    let t = i128::from(tokens);
    // Odd-code extremes: code 1 shifts once; -(x) >> 1 floors to -ceil(x / 2).
    let odd_lo = {
        let o = -t * ((x + 1) >> 1) * i128::from(SQRT2_Q15);
        (o >> 15) + ((o >> 14) & 1)
    };
    (odd_lo.min(-t * x), t * x)
}

/// `F` of U4: the largest `F <= F_MAX` for which every output, even sum and odd sum of `tokens`
/// keys fits `s{acc_bits}`, with value operands `v = V_code - z_v` of `abits`-bit codes and zero
/// points (`|v| <= 2^abits - 1`): by [`av_out_range`], the largest `F` with
/// `T * (2^abits - 1) * 2^F <= 2^(acc_bits - 1) - 1`. `None` when not even `F = 0` fits.
/// The one definition the simulator, the golden vectors and the RTL generator use.
pub fn av_fraction_bits(tokens: u64, abits: u32, acc_bits: u32) -> Option<u32> {
    let v_max = (1u64 << abits) - 1;
    let lim = (1i128 << (acc_bits - 1)) - 1;
    (0..=F_MAX).rev().find(|&f| {
        let (lo, hi) = av_out_range(tokens, v_max, f);
        lo >= -lim - 1 && hi <= lim
    })
}

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

    /// Every input of small units: the brute-force extremes of `out` equal [`av_out_range`].
    #[test]
    fn out_range_is_exact() {
        for t in 1..=3usize {
            for v_max in 1..=3i32 {
                for f in 0..=2u32 {
                    // The extremes use +-v_max; codes 0..=3 cover no shift, one and two shifts
                    // of both parities; the zero flag only removes a term.
                    let codes: Vec<LogCode> = (0..5)
                        .map(|c| LogCode {
                            code: c.min(3),
                            zero: c == 4,
                        })
                        .collect();
                    let vals: Vec<i32> = (-v_max..=v_max).collect();
                    let (mut lo, mut hi) = (i64::MAX, i64::MIN);
                    let n = (codes.len() * vals.len()).pow(t as u32);
                    for mut i in 0..n {
                        let mut cs = Vec::new();
                        let mut vs = Vec::new();
                        for _ in 0..t {
                            let j = i % (codes.len() * vals.len());
                            i /= codes.len() * vals.len();
                            cs.push(codes[j % codes.len()]);
                            vs.push(vals[j / codes.len()]);
                        }
                        let out = attention_value(&cs, &vs, f);
                        lo = lo.min(out);
                        hi = hi.max(out);
                    }
                    let want = av_out_range(t as u64, v_max as u64, f);
                    assert_eq!(
                        (i128::from(lo), i128::from(hi)),
                        want,
                        "T={t} v_max={v_max} F={f}"
                    );
                }
            }
        }
    }

    #[test]
    fn fraction_bits_fill_the_accumulator() {
        // 50 keys of 8-bit values at 28 bits: 50 * 255 * 2^13 = 104,448,000 <= 2^27 - 1.
        assert_eq!(av_fraction_bits(50, 8, 28), Some(13));
        assert_eq!(av_fraction_bits(50, 8, 10), None);
        // The 6x14x5 W2A2 unit job at 8 bits: 14 * 3 * 2^1 = 84 <= 127, 168 is not.
        assert_eq!(av_fraction_bits(14, 2, 8), Some(1));
        for (t, a, acc) in [
            (50u64, 8u32, 28u32),
            (50, 4, 19),
            (197, 8, 32),
            (1, 2, 8),
            (14, 2, 8),
        ] {
            let f = av_fraction_bits(t, a, acc).unwrap();
            let lim = (1i128 << (acc - 1)) - 1;
            let bound = |f: u32| (i128::from(t) * ((1i128 << a) - 1)) << f;
            assert!(bound(f) <= lim, "T={t} a={a} acc={acc}");
            assert!(f == F_MAX || bound(f + 1) > lim, "T={t} a={a} acc={acc}");
        }
    }

    #[test]
    fn flooring_shift_of_negative_values() {
        // -1 << 0 >> 10 = -1 (floor), 1 >> 10 = 0.
        assert_eq!(attention_value(&[c(20)], &[-1], 0), -1);
        assert_eq!(attention_value(&[c(20)], &[1], 0), 0);
        assert_eq!(attention_value(&[c(255)], &[-1], 16), -1);
    }
}
