//! Average pooling over the tokens of a pooled model (Swin; any other average-pooled model):
//! a sum and one rounding division per channel (docs/arithmetic.md, "Average pooling").

/// `avg[c] = floor((2 S[c] + T) / (2 T))` with `S[c] = sum_t x[t][c]`: the mean of the `T` rows
/// of `x` (`[T, C]`, `s32`), rounded half up, exact for any `T >= 1` (`S` is at most
/// `s{32 + ceil(log2 T)}`; computed in i128). The result lies between the rows' minimum and
/// maximum, so it is `s32`.
pub fn avg_pool(x: &[i32], tokens: usize, out: &mut [i32]) {
    let c = out.len();
    assert!(tokens >= 1 && x.len() == tokens * c, "avg_pool shape");
    let t = tokens as i128;
    for (ch, o) in out.iter_mut().enumerate() {
        let s: i128 = (0..tokens).map(|i| i128::from(x[i * c + ch])).sum();
        *o = (2 * s + t).div_euclid(2 * t) as i32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every sum of up to 9 tokens of small values against exact rationals: the result is the
    /// nearest integer to S / T, ties up.
    #[test]
    fn avg_pool_rounds_the_mean_half_up() {
        for t in 1..=9usize {
            for s in -200i64..=200 {
                // Rows that sum to s: s - (t - 1) * q then q's.
                let q = s.div_euclid(t as i64);
                let mut x = vec![q as i32; t];
                x[0] = (s - (t as i64 - 1) * q) as i32;
                let mut out = [0i32];
                avg_pool(&x, t, &mut out);
                let exact = s as f64 / t as f64;
                let want = (exact + 0.5).floor();
                assert_eq!(f64::from(out[0]), want, "S = {s}, T = {t}");
            }
        }
        let x = vec![i32::MIN; 196];
        let mut out = [0];
        avg_pool(&x, 196, &mut out);
        assert_eq!(out[0], i32::MIN);
        let x = vec![i32::MAX; 196];
        avg_pool(&x, 196, &mut out);
        assert_eq!(out[0], i32::MAX);
    }
}
