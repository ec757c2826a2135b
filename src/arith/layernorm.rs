//! U5: integer LayerNorm from the residual stream straight to activation codes
//! (docs/arithmetic.md, U5). With the reparameterized affine factors of paper Eq. 13-15 folded
//! into the per-channel constants `G` and `B`, the output is the per-tensor code `round(LN'(x) /
//! s~ + z~)` of Eq. 16 without any floating point at run time.

/// Fraction bits of the normalized value `n~ = d * 2^LNF / r`.
pub const LNF: u32 = 16;
/// Fraction bits of the affine constants `G` and `B`.
pub const GF: u32 = 24;

/// Constants of one LayerNorm (whole channel vector), derived offline.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LayerNormParams {
    /// `E = round(eps * D^3 / s_r^2)`: the epsilon in the units of `Q`.
    pub eps_q: u128,
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
        let sum: i64 = x.iter().map(|&v| i64::from(v)).sum();
        let dn = d as i64;
        let dev = |v: i32| i128::from(dn * i64::from(v) - sum);
        let q: u128 = x.iter().map(|&v| dev(v).unsigned_abs().pow(2)).sum();
        let r = isqrt(q + self.eps_q) as i128;
        // The same integers in i64 where they provably fit (|d| < 2^45 and r < 2^62 keep
        // 2 d 2^LNF + r below 2^63), else in i128; both compute the formulas above exactly.
        let fits64 = r < (1 << 62) && x.iter().all(|&v| dev(v).unsigned_abs() < 1 << 45);
        for (c, (&v, o)) in x.iter().zip(out.iter_mut()).enumerate() {
            let n: i128 = if r == 0 {
                0
            } else if fits64 {
                let (a, b) = ((dev(v) as i64) << LNF, r as i64);
                i128::from((2 * a + b).div_euclid(2 * b))
            } else {
                div_round(dev(v) << LNF, r)
            };
            // round_shift in i128: n~ * G + B cannot overflow it.
            let y = (n * i128::from(self.g[c]) + i128::from(self.b[c]) + (1i128 << (GF - 1))) >> GF;
            *o = y.clamp(i128::from(self.lo), i128::from(self.hi)) as u8;
        }
    }
}

/// The constants for a LayerNorm with affine factors `gamma`, `beta` and epsilon `eps` on a
/// residual stream of scale `s_r`, producing codes of scale `s_out`, zero point `z_out` (may be
/// fractional, as the reparameterized z~ of Eq. 16) and `bits` bits.
pub fn layer_norm_params(
    gamma: &[f32],
    beta: &[f32],
    eps: f64,
    s_r: f64,
    s_out: f64,
    z_out: f64,
    bits: u32,
) -> LayerNormParams {
    let d = gamma.len() as f64;
    let eps_q = (eps * d.powi(3) / (s_r * s_r)).round();
    let gscale = d.sqrt() / s_out * f64::from(1u32 << (GF - LNF));
    LayerNormParams {
        eps_q: eps_q.clamp(0.0, 2f64.powi(100)) as u128,
        g: gamma
            .iter()
            .map(|&g| crate::arith::requant::round_half_even(f64::from(g) * gscale) as i64)
            .collect(),
        b: beta
            .iter()
            .map(|&b| {
                crate::arith::requant::round_half_even(
                    (f64::from(b) / s_out + z_out) * f64::from(1u32 << GF),
                ) as i64
            })
            .collect(),
        lo: 0,
        hi: (1 << bits) - 1,
    }
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
        let p = layer_norm_params(&gamma, &beta, 1e-6, s_r, s_out, z_out, bits);
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
        let p = layer_norm_params(&[1.0; 4], &[0.1, -0.1, 0.0, 0.2], 0.0, 1.0, 0.1, 3.0, 4);
        let mut out = [0u8; 4];
        p.apply(&[5, 5, 5, 5], &mut out);
        assert_eq!(out, [4, 2, 3, 5]);
    }

    #[test]
    fn extreme_inputs_do_not_overflow() {
        let d = 768;
        let p = layer_norm_params(
            &vec![3.0; d],
            &vec![0.0; d],
            1e-6,
            2f64.powi(-16),
            0.01,
            0.0,
            8,
        );
        let mut x = vec![i32::MIN; d];
        x[0] = i32::MAX;
        let mut out = vec![0u8; d];
        p.apply(&x, &mut out);
        assert_eq!(out[0], 255);
        assert_eq!(out[1], 0);
    }
}
