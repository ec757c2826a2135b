//! U5: integer LayerNorm from the residual stream straight to activation codes
//! (docs/arithmetic.md, U5). With the reparameterized affine factors of paper Eq. 13-15 folded
//! into the per-channel constants `G` and `B`, the output is the per-tensor code `round(LN'(x) /
//! s~ + z~)` of Eq. 16 without any floating point at run time.

/// Fraction bits of the normalized value `n~ = d * 2^LNF / r`.
pub const LNF: u32 = 16;
/// Fraction bits of the affine constants `G` and `B`.
pub const GF: u32 = 24;

use crate::error::{Error, Result};

/// Largest width `D` the unit is defined for: `Q + E` (below `D^3 2^64 + 2^64`) fits `u128`.
pub const MAX_DIM: usize = 1 << 21;

/// `ceil(log2(v))` for `v >= 1`.
fn ceil_log2(v: u128) -> u32 {
    128 - (v - 1).leading_zeros()
}

/// Two's-complement or unsigned widths of the intermediates of U5 for width `D` on an `s32`
/// residual stream: `(S, d, Q)` as `(s{..}, s{..}, u{..})`. `|S| <= D 2^31`,
/// `|d| = |sum_j (x_c - x_j)| <= (D - 1)(2^32 - 1)`, `Q = sum d^2 <= D ((D - 1)(2^32 - 1))^2`.
pub fn intermediate_bits(d: usize) -> (u32, u32, u32) {
    let d = d.max(1) as u128;
    let s = 32 + ceil_log2(d);
    let dmax = (d - 1) * ((1u128 << 32) - 1);
    let dev = if dmax == 0 {
        1
    } else {
        1 + (128 - dmax.leading_zeros())
    };
    // d^2 * D in bits: at most 2 * bits(dmax) + ceil(log2 D).
    let q = if dmax == 0 {
        1
    } else {
        2 * (128 - dmax.leading_zeros()) + ceil_log2(d)
    };
    (s, dev, q)
}

/// `E = round_half_up(eps * D^3 * 2^(2 r_frac))`, the epsilon in the units of `Q`, computed
/// exactly from the binary32 `eps` (its exact value `m 2^e`, no intermediate rounding) for a
/// residual stream with `r_frac` fraction bits. `None` for a negative or non-finite `eps`, a
/// width above [`MAX_DIM`], or an `E` that does not fit `u64`.
pub fn eps_units(eps: f32, d: usize, r_frac: u32) -> Option<u64> {
    if !(eps.is_finite() && eps >= 0.0) || d > MAX_DIM {
        return None;
    }
    if eps == 0.0 {
        return Some(0);
    }
    let bits = eps.to_bits();
    let exp = ((bits >> 23) & 0xff) as i32;
    let frac = bits & 0x7f_ffff;
    // eps = m * 2^e exactly (subnormals: no hidden bit, exponent -149).
    let (m, e) = if exp == 0 {
        (frac, -149)
    } else {
        (frac | 0x80_0000, exp - 150)
    };
    let d = d as u128;
    let p = u128::from(m) * d * d * d; // < 2^24 * 2^63
    let k = e + 2 * r_frac as i32;
    let v = if k >= 0 {
        if k >= 64 || p.leading_zeros() < k as u32 {
            return None;
        }
        p << k
    } else if -k >= 127 {
        0
    } else {
        (p + (1u128 << (-k - 1))) >> -k
    };
    u64::try_from(v).ok()
}

/// Constants of one LayerNorm (whole channel vector), derived offline.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LayerNormParams {
    /// `E` ([`eps_units`]): the epsilon in the units of `Q`, `u64`.
    pub eps_q: u64,
    /// `G[c] = round(gamma[c] * sqrt(D) / s_out * 2^(GF - LNF))`.
    pub g: Vec<i64>,
    /// `B[c] = round((beta[c] / s_out + z_out) * 2^GF)`.
    pub b: Vec<i64>,
    /// Output code range.
    pub lo: i32,
    pub hi: i32,
}

/// `floor(sqrt(v))` for any `u128`, exactly (Newton's method on integers).
pub fn isqrt(v: u128) -> u128 {
    if v < 2 {
        return v;
    }
    // Start above the root: 2^ceil(bits / 2).
    let bits = 128 - v.leading_zeros();
    let mut x = 1u128 << bits.div_ceil(2);
    loop {
        let y = (x + v / x) >> 1;
        if y >= x {
            return x;
        }
        x = y;
    }
}

/// `a / b` rounded half up (toward +infinity on ties), for `b > 0`: `floor((2a + b) / 2b)`.
pub fn div_round(a: i128, b: i128) -> i128 {
    debug_assert!(b > 0);
    (2 * a + b).div_euclid(2 * b)
}

impl LayerNormParams {
    /// Channels.
    pub fn dim(&self) -> usize {
        self.g.len()
    }

    /// The codes of one token `x` (residual-stream values, `s32`), written to `out`.
    ///
    /// `S = sum x`, `d_c = D x_c - S`, `Q = sum d_c^2`, `r = isqrt(Q + E)`,
    /// `n~_c = div_round(d_c * 2^LNF, r)` (0 when `r = 0`),
    /// `y_c = clamp(round_shift(n~_c * G_c + B_c, GF), lo, hi)`.
    pub fn apply(&self, x: &[i32], out: &mut [u8]) {
        let d = self.dim();
        assert_eq!(x.len(), d, "LayerNorm width");
        assert_eq!(out.len(), d, "LayerNorm output width");
        assert_eq!(self.b.len(), d, "LayerNorm constants");
        let sum: i64 = x.iter().map(|&v| i64::from(v)).sum();
        let dn = d as i64;
        // d_c = D x_c - S fits i64 when D < 2^30 (|D x_c| and |S| below 2^61).
        if d >= 1 << 30 {
            return self.apply_wide(x, sum, out);
        }
        let dev = |v: i32| dn * i64::from(v) - sum;
        let (mut q, mut max_dev) = (0u128, 0u64);
        for &v in x {
            let a = dev(v).unsigned_abs();
            q += u128::from(a) * u128::from(a);
            max_dev = max_dev.max(a);
        }
        let r = isqrt(q + u128::from(self.eps_q));
        // The integers below in u64/i64 where they provably fit (|d| < 2^45 and r < 2^62 keep
        // 2 d 2^LNF + r below 2^63), else in i128 ([`Self::apply_wide`]); both compute the
        // formulas above exactly.
        if r == 0 || r >= 1 << 62 || max_dev >= 1 << 45 {
            return self.apply_wide(x, sum, out);
        }
        let div = FloorDivU64::new(2 * r as u64);
        let (lo, hi) = (i64::from(self.lo), i64::from(self.hi));
        for (((&v, o), &g), &b) in x.iter().zip(out.iter_mut()).zip(&self.g).zip(&self.b) {
            // n~ = div_round(d 2^LNF, r) = floor((2 d 2^LNF + r) / 2r), |n~| <= 2^LNF.
            let num = 2 * (dev(v) << LNF) + r as i64;
            // floor(-u / D) = -ceil(u / D) = -floor((u + D - 1) / D). Both signs by masks, not
            // branches: the sign of d is as good as random.
            let sign = num >> 63;
            let u = num.unsigned_abs() + ((div.d - 1) & sign as u64);
            let q = div.div(u) as i64;
            let n = (q ^ sign) - sign;
            // round_shift(n~ G + B, GF) in i64 when it cannot overflow, else in i128.
            let y = match n
                .checked_mul(g)
                .and_then(|p| p.checked_add(b))
                .and_then(|p| p.checked_add(1 << (GF - 1)))
            {
                Some(p) => (p >> GF).clamp(lo, hi),
                None => {
                    let p = i128::from(n) * i128::from(g) + i128::from(b) + (1i128 << (GF - 1));
                    (p >> GF).clamp(i128::from(lo), i128::from(hi)) as i64
                }
            };
            *o = y as u8;
        }
    }

    /// [`Self::apply`] with every intermediate in i128 (any width).
    fn apply_wide(&self, x: &[i32], sum: i64, out: &mut [u8]) {
        let dn = i128::from(self.dim() as i64);
        let dev = |v: i32| dn * i128::from(v) - i128::from(sum);
        let q: u128 = x.iter().map(|&v| dev(v).unsigned_abs().pow(2)).sum();
        let r = isqrt(q + u128::from(self.eps_q)) as i128;
        for (c, (&v, o)) in x.iter().zip(out.iter_mut()).enumerate() {
            let n: i128 = if r == 0 {
                0
            } else {
                div_round(dev(v) << LNF, r)
            };
            // round_shift in i128: n~ * G + B cannot overflow it.
            let y = (n * i128::from(self.g[c]) + i128::from(self.b[c]) + (1i128 << (GF - 1))) >> GF;
            *o = y.clamp(i128::from(self.lo), i128::from(self.hi)) as u8;
        }
    }
}

/// `floor(u / d)` for a fixed `2 <= d < 2^63` and any `u < 2^64`, integers only: the estimate
/// `q0 = floor(u * floor(2^64 / d) / 2^64)` is `floor(u / d)` or one less (the reciprocal is short
/// by less than one, so the product by less than `u / 2^64 < 1`), and one comparison of the
/// remainder corrects it.
#[derive(Clone, Copy, Debug)]
struct FloorDivU64 {
    d: u64,
    inv: u64,
}

impl FloorDivU64 {
    fn new(d: u64) -> Self {
        assert!((2..1 << 63).contains(&d));
        FloorDivU64 {
            d,
            inv: ((1u128 << 64) / u128::from(d)) as u64,
        }
    }

    #[inline]
    fn div(&self, u: u64) -> u64 {
        let q0 = ((u128::from(u) * u128::from(self.inv)) >> 64) as u64;
        // u - q0 d lies in [0, 2d), below 2^64.
        let rem = u.wrapping_sub(q0.wrapping_mul(self.d));
        q0 + u64::from(rem >= self.d)
    }
}

/// The constants for a LayerNorm with affine factors `gamma`, `beta` and epsilon `eps` on a
/// residual stream with `r_frac` fraction bits, producing codes of scale `s_out`, zero point
/// `z_out` (may be fractional, as the reparameterized z~ of Eq. 16) and `bits` bits.
///
/// Errors (naming `what`) for a width above [`MAX_DIM`], an epsilon that is negative, not finite
/// or whose `E` does not fit `u64`, and a `G` or `B` that is not finite or does not fit `s64`.
#[allow(clippy::too_many_arguments)]
pub fn layer_norm_params(
    gamma: &[f32],
    beta: &[f32],
    eps: f32,
    r_frac: u32,
    s_out: f64,
    z_out: f64,
    bits: u32,
    what: &str,
) -> Result<LayerNormParams> {
    let bad = |reason: String| Err(Error::Invalid(format!("{what}: {reason} (U5)")));
    let dim = gamma.len();
    if dim == 0 || dim > MAX_DIM || beta.len() != dim {
        return bad(format!(
            "width {dim} ({} beta values) outside 1..={MAX_DIM}",
            beta.len()
        ));
    }
    let Some(eps_q) = eps_units(eps, dim, r_frac) else {
        return bad(format!(
            "epsilon {eps} gives no u64 constant E = eps * D^3 * 2^{} (it must be finite and \
             non-negative)",
            2 * r_frac
        ));
    };
    let d = dim as f64;
    let gscale = d.sqrt() / s_out * f64::from(1u32 << (GF - LNF));
    let fixed = |v: f64, name: &str, c: usize| {
        let r = crate::arith::requant::round_half_even(v);
        if r.is_finite() && r.abs() < 2f64.powi(63) {
            Ok(r as i64)
        } else {
            Err(Error::Invalid(format!(
                "{what}: {name}[{c}] = {v} does not fit s64 (output scale {s_out} too small for \
                 the affine factors) (U5)"
            )))
        }
    };
    let g = gamma
        .iter()
        .enumerate()
        .map(|(c, &g)| fixed(f64::from(g) * gscale, "G", c))
        .collect::<Result<Vec<_>>>()?;
    let b = beta
        .iter()
        .enumerate()
        .map(|(c, &b)| {
            fixed(
                (f64::from(b) / s_out + z_out) * f64::from(1u32 << GF),
                "B",
                c,
            )
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(LayerNormParams {
        eps_q,
        g,
        b,
        lo: 0,
        hi: (1 << bits) - 1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{RngExt, SeedableRng};

    #[test]
    fn isqrt_is_exact() {
        for v in 0u128..10_000 {
            let r = isqrt(v);
            assert!(r * r <= v && (r + 1) * (r + 1) > v, "{v}");
        }
        let mut rng = StdRng::seed_from_u64(5);
        for _ in 0..10_000 {
            let v: u128 = (u128::from(rng.random::<u64>()) << 40) | u128::from(rng.random::<u32>());
            let r = isqrt(v);
            assert!(r * r <= v && (r + 1) * (r + 1) > v, "{v}");
        }
        let m = u128::MAX;
        let r = isqrt(m);
        assert_eq!(r, (1u128 << 64) - 1);
    }

    #[test]
    fn floor_div_u64_is_exact() {
        let mut v = 0x1234_5678_9abc_def1u64;
        let mut next = move || {
            v ^= v << 13;
            v ^= v >> 7;
            v ^= v << 17;
            v
        };
        let mut ds: Vec<u64> = (2..200).collect();
        ds.extend((1..63).flat_map(|b| [(1u64 << b) + 1, (1 << b) + 2, (1u64 << (b + 1)) - 1]));
        ds.extend((0..3000).map(|_| (next() >> (next() % 63 + 1)).max(2)));
        for d in ds {
            let f = FloorDivU64::new(d);
            let mut us = vec![0, 1, d - 1, d, d + 1, 2 * d - 1, u64::MAX, u64::MAX - 1];
            us.extend((1..5).map(|k| (u64::MAX / d / k) * d));
            us.extend((1..5).map(|k| ((u64::MAX / d / k) * d).saturating_sub(1)));
            us.extend((0..40).map(|_| next() >> (next() % 64)));
            for u in us {
                assert_eq!(f.div(u), u / d, "{u} / {d}");
            }
        }
    }

    /// The fast path and the all-i128 path give the same codes.
    #[test]
    fn fast_and_wide_paths_agree() {
        let mut rng = StdRng::seed_from_u64(13);
        for d in [1usize, 2, 7, 96, 384] {
            let gamma: Vec<f32> = (0..d).map(|_| rng.random_range(-3.0f32..3.0)).collect();
            let beta: Vec<f32> = (0..d).map(|_| rng.random_range(-1.0f32..1.0)).collect();
            for (s_out, z_out, bits) in [(0.031, 7.4, 4), (0.002, 120.3, 8), (1e-5, 0.0, 8)] {
                let p =
                    layer_norm_params(&gamma, &beta, 1e-6, 16, s_out, z_out, bits, "t").unwrap();
                for _ in 0..50 {
                    let scale = 10f64.powf(rng.random_range(-4.0..4.5));
                    let x: Vec<i32> = (0..d)
                        .map(|_| {
                            (rng.random_range(-1.0f64..1.0) * scale * 65536.0)
                                .clamp(-2147483648.0, 2147483647.0)
                                as i32
                        })
                        .collect();
                    let (mut fast, mut wide) = (vec![0u8; d], vec![0u8; d]);
                    p.apply(&x, &mut fast);
                    let sum = x.iter().map(|&v| i64::from(v)).sum();
                    p.apply_wide(&x, sum, &mut wide);
                    assert_eq!(fast, wide, "d {d} scale {scale}");
                }
            }
        }
    }

    /// `E` against an exact big-rational reference: `eps` as the fraction `m / 2^-e`.
    #[test]
    fn eps_units_are_exact() {
        use num_bigint::BigUint;
        let reference = |eps: f32, d: usize, r: u32| -> Option<u64> {
            let (m, e) = {
                let b = eps.to_bits();
                let (exp, frac) = ((b >> 23) & 0xff, b & 0x7f_ffff);
                if exp == 0 {
                    (frac, -149)
                } else {
                    (frac | 0x80_0000, exp as i32 - 150)
                }
            };
            let num = BigUint::from(m) * BigUint::from(d).pow(3u32);
            let k = e + 2 * r as i32;
            let v = if k >= 0 {
                num << k as u32
            } else {
                (num + (BigUint::from(1u32) << (-k - 1) as u32)) >> (-k) as u32
            };
            u64::try_from(v).ok()
        };
        for eps in [
            1e-6f32,
            1e-5,
            1e-12,
            0.1,
            1.0,
            f32::MIN_POSITIVE,
            1e-45,
            3.0e-7,
        ] {
            for d in [1usize, 96, 192, 384, 768, 1000, 4097] {
                assert_eq!(eps_units(eps, d, 16), reference(eps, d, 16), "{eps} {d}");
            }
        }
        // 1e-6 at D = 96: binary32 1e-6 is 9.99999997e-7 = 8589935 * 2^-43, times 96^3 * 2^32
        // is the integer 3,799,912,176.
        assert_eq!(eps_units(1e-6, 96, 16), Some(3_799_912_176));
        assert_eq!(eps_units(0.0, 96, 16), Some(0));
        assert_eq!(eps_units(-1e-6, 96, 16), None);
        assert_eq!(eps_units(f32::NAN, 96, 16), None);
        assert_eq!(eps_units(1.0, 1 << 20, 16), None); // 2^60 * 2^32 does not fit u64
    }

    #[test]
    fn intermediate_widths() {
        // D = 96: |S| <= 96 * 2^31 needs s39; |d| <= 95 (2^32 - 1) needs s40; Q needs u85.
        assert_eq!(intermediate_bits(96), (39, 40, 85));
        // D = 2^16: S fits s48, as the document said before it gave the formula.
        assert_eq!(intermediate_bits(1 << 16).0, 48);
        let (s, d, q) = intermediate_bits(MAX_DIM);
        assert!(s <= 64 && d <= 64 && q <= 127, "{s} {d} {q}");
        // The widths hold the extremes.
        for dim in [1usize, 2, 3, 96, 1000] {
            let (s, d, q) = intermediate_bits(dim);
            let n = dim as i128;
            assert!(n * (1i128 << 31) <= 1i128 << (s - 1));
            let dmax = (n - 1) * ((1i128 << 32) - 1);
            assert!(dmax < 1i128 << (d - 1));
            assert!((dmax as u128).pow(2) * dim as u128 <= u128::MAX >> (128 - q));
        }
    }

    #[test]
    fn bad_constants_are_refused() {
        let e = layer_norm_params(&[1.0; 4], &[0.0; 4], -1e-6, 16, 0.1, 0.0, 8, "norm")
            .unwrap_err()
            .to_string();
        assert!(e.contains("norm") && e.contains("epsilon"), "{e}");
        let e = layer_norm_params(&[1.0; 4], &[0.0; 4], 1e-6, 16, 1e-30, 0.0, 8, "norm")
            .unwrap_err()
            .to_string();
        assert!(e.contains("G[0]") && e.contains("s64"), "{e}");
    }

    #[test]
    fn div_round_is_half_up() {
        assert_eq!(div_round(5, 2), 3);
        assert_eq!(div_round(-5, 2), -2);
        assert_eq!(div_round(7, 3), 2);
        assert_eq!(div_round(-7, 3), -2);
        assert_eq!(div_round(-8, 3), -3);
        assert_eq!(div_round(0, 9), 0);
    }

    /// Against the float LayerNorm followed by the uniform quantizer: codes agree except where the
    /// float value lies within 0.01 of a rounding boundary.
    #[test]
    fn matches_float_layernorm_then_quantizer() {
        let mut rng = StdRng::seed_from_u64(11);
        let d = 96;
        let s_r = 2f64.powi(-16);
        let gamma: Vec<f32> = (0..d).map(|_| rng.random_range(0.2f32..2.0)).collect();
        let beta: Vec<f32> = (0..d).map(|_| rng.random_range(-0.5f32..0.5)).collect();
        let (s_out, z_out, bits) = (0.031, 7.4, 4);
        let p = layer_norm_params(&gamma, &beta, 1e-6, 16, s_out, z_out, bits, "t").unwrap();
        let mut checked = 0;
        for _ in 0..200 {
            let scale = rng.random_range(0.01f64..50.0);
            let x: Vec<i32> = (0..d)
                .map(|_| (rng.random_range(-1.0f64..1.0) * scale / s_r).round() as i32)
                .collect();
            let mut out = vec![0u8; d];
            p.apply(&x, &mut out);
            let xr: Vec<f64> = x.iter().map(|&v| f64::from(v) * s_r).collect();
            let mean = xr.iter().sum::<f64>() / d as f64;
            let var = xr.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / d as f64;
            for c in 0..d {
                let y =
                    (xr[c] - mean) / (var + 1e-6).sqrt() * f64::from(gamma[c]) + f64::from(beta[c]);
                let t = y / s_out + z_out;
                if (t - t.floor() - 0.5).abs() < 0.01 {
                    continue;
                }
                let want = t.round().clamp(0.0, 15.0) as u8;
                assert_eq!(out[c], want, "channel {c}: float {t}");
                checked += 1;
            }
        }
        assert!(checked > 15_000, "{checked}");
    }

    #[test]
    fn constant_token_gives_beta_codes() {
        let p =
            layer_norm_params(&[1.0; 4], &[0.1, -0.1, 0.0, 0.2], 0.0, 0, 0.1, 3.0, 4, "t").unwrap();
        let mut out = [0u8; 4];
        p.apply(&[5, 5, 5, 5], &mut out);
        assert_eq!(out, [4, 2, 3, 5]);
    }

    #[test]
    fn extreme_inputs_do_not_overflow() {
        let d = 768;
        let p =
            layer_norm_params(&vec![3.0; d], &vec![0.0; d], 1e-6, 16, 0.01, 0.0, 8, "t").unwrap();
        let mut x = vec![i32::MIN; d];
        x[0] = i32::MAX;
        let mut out = vec![0u8; d];
        p.apply(&x, &mut out);
        assert_eq!(out[0], 255);
        assert_eq!(out[1], 0);
    }
}
