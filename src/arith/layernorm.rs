//! U5: integer LayerNorm from the residual stream straight to activation codes
//! (docs/arithmetic.md, U5). With the reparameterized affine factors of paper Eq. 13-15 folded
//! into the per-channel constants `G` and `B`, the output is the per-tensor code `round(LN'(x) /
//! s~ + z~)` of Eq. 16 without any floating point at run time.

/// Fraction bits of the normalized value `n~ = d * 2^LNF / r`.
pub const LNF: u32 = 16;
/// Fraction bits of the affine constants `G` and `B`.
pub const GF: u32 = 24;

use crate::error::{Error, Result};

/// Bits of a deviation magnitude after the row shift: `t[c] = (D x[c] - S) >> k` lies in
/// `[-2^DB, 2^DB - 1]` (`s{DB+1}`), so the squares are `s18 x s18` products. `DB = LNF + 1`: one
/// LSB of `t` moves `n` by at most one LSB, the order of `n`'s own rounding.
pub const DB: u32 = LNF + 1;

/// Largest width `D` the unit is defined for: `S` fits `s53`, and every intermediate of the
/// simulator's fast path fits 64 bits (`Q < D 2^(2 DB) <= 2^55`).
pub const MAX_DIM: usize = 1 << 21;

/// `ceil(log2(v))` for `v >= 1`.
fn ceil_log2(v: u128) -> u32 {
    128 - (v - 1).leading_zeros()
}

/// Bits of `v` (`bitlen(0) = 0`): `2^(l-1) <= v < 2^l`.
fn bitlen(v: u128) -> u32 {
    128 - v.leading_zeros()
}

/// The widths of U5's intermediates for width `D` on an `s32` residual stream, each the smallest
/// type that holds every value any token can produce (docs/arithmetic.md, U5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Widths {
    /// `S = sum x`: `s{32 + ceil(log2 D)}` (`|S| <= D 2^31`).
    pub sum: u32,
    /// `M = max |D x[c] - S|`: `u{bitlen((D - 1)(2^32 - 1))}` (at least `u1`).
    pub m: u32,
    /// Largest row shift `k = max(0, bitlen(M) - DB)`.
    pub k_max: u32,
    /// `Q = sum t^2 < D 2^(2 DB)`: `u{2 DB + ceil(log2 D)}`.
    pub q: u32,
    /// `Q + E_k` (`E_k < 2^64`): `u{max(q, 64) + 1}`.
    pub radicand: u32,
    /// `r = isqrt(Q + E_k)`: `u{ceil(radicand / 2)}`.
    pub r: u32,
}

/// [`Widths`] for width `D` (`D >= 1`).
pub fn widths(d: usize) -> Widths {
    let d = d.max(1) as u128;
    let l = ceil_log2(d);
    let m = bitlen((d - 1) * ((1u128 << 32) - 1)).max(1);
    let q = 2 * DB + l;
    let radicand = q.max(64) + 1;
    Widths {
        sum: 32 + l,
        m,
        k_max: m.saturating_sub(DB),
        q,
        radicand,
        r: radicand.div_ceil(2),
    }
}

/// The row shift `k = max(0, bitlen(M) - DB)` for `M = max_c |D x[c] - S|`.
pub fn row_shift(m: u128) -> u32 {
    bitlen(m).saturating_sub(DB)
}

/// `E_k`: `E` in the units of the shifted squares, `E` for `k = 0`, else `(E + 2^(2k-1)) >> 2k`
/// (half up; 0 once `2k >= 66`, since `E < 2^64`).
pub fn eps_shifted(e: u64, k: u32) -> u64 {
    match k {
        0 => e,
        33.. => 0,
        _ => ((u128::from(e) + (1u128 << (2 * k - 1))) >> (2 * k)) as u64,
    }
}

/// The per-row quantities of U5 (docs/arithmetic.md, U5, "row step"): computed once per token
/// from its statistics `S`, `xmin`, `xmax`, and its squares `Q`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RowStep {
    /// `S = sum x`.
    pub sum: i64,
    /// Row shift `k`, 0 ..= [`Widths::k_max`].
    pub k: u32,
    /// `Q = sum t^2`.
    pub q: u64,
    /// `E_k` ([`eps_shifted`]).
    pub eps_k: u64,
    /// `r = isqrt(Q + E_k)`, below `2^33`.
    pub r: u64,
}

impl RowStep {
    /// The row step of token `x` (`1 <= len <= MAX_DIM`) with epsilon constant `E`.
    pub fn new(x: &[i32], eps_q: u64) -> RowStep {
        assert!((1..=MAX_DIM).contains(&x.len()), "LayerNorm width");
        let dn = x.len() as i64;
        let sum: i64 = x.iter().map(|&v| i64::from(v)).sum();
        let (mut xmin, mut xmax) = (i32::MAX, i32::MIN);
        for &v in x {
            xmin = xmin.min(v);
            xmax = xmax.max(v);
        }
        // |D x| <= 2^52: every term fits i64; both differences are >= 0.
        let m = (dn * i64::from(xmax) - sum).max(sum - dn * i64::from(xmin)) as u64;
        let k = row_shift(u128::from(m));
        let q: u64 = x
            .iter()
            .map(|&v| {
                let t = (dn * i64::from(v) - sum) >> k;
                (t * t) as u64
            })
            .sum();
        let eps_k = eps_shifted(eps_q, k);
        let r = isqrt(u128::from(q) + u128::from(eps_k)) as u64;
        RowStep {
            sum,
            k,
            q,
            eps_k,
            r,
        }
    }

    /// `t = (D x - S) >> k` of one value `x` of the row of width `d`.
    pub fn deviation(&self, d: usize, x: i32) -> i32 {
        ((d as i64 * i64::from(x) - self.sum) >> self.k) as i32
    }
}

/// `E = round_half_up(eps * D^3 * 2^(2 r_frac))`, the epsilon in the units of `sum (D x - S)^2`,
/// computed exactly from the binary32 `eps` (its exact value `m 2^e`, no intermediate rounding)
/// for a residual stream with `r_frac` fraction bits. `None` for a negative or non-finite `eps`,
/// a width above [`MAX_DIM`], or an `E` that does not fit `u64`.
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
    /// `E` ([`eps_units`]): the epsilon in the units of `sum (D x - S)^2`, `u64`.
    pub eps_q: u64,
    /// `G[c] = round(gamma[c] * sqrt(D) / s_out * 2^(GF - LNF))`; the hardware holds `s32`
    /// ([`crate::arith::widths::LN_G_BITS`], checked by `IntModel::lower`).
    pub g: Vec<i64>,
    /// `B[c] = round((beta[c] / s_out + z_out) * 2^GF)`; the hardware holds `s48`
    /// ([`crate::arith::widths::LN_B_BITS`]).
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

    /// The codes of one token `x` (residual-stream values, `s32`), written to `out`
    /// (docs/arithmetic.md, U5):
    ///
    /// `S = sum x`, `M = max |D x - S|`, `k = max(0, bitlen(M) - DB)`, `t = (D x - S) >> k`,
    /// `Q = sum t^2`, `r = isqrt(Q + E_k)`, `n = div_round(t 2^LNF, r)` (0 when `r = 0`),
    /// `y = clamp(round_shift(n G + B, GF), lo, hi)`.
    pub fn apply(&self, x: &[i32], out: &mut [u8]) {
        self.apply_into(x, out, |y| y as u8);
    }

    /// U5r (docs/arithmetic.md, "Swin Transformer in integers"): the same equations into `s32`
    /// values, for a norm whose output is the residual stream itself (constants from
    /// [`residual_layer_norm_params`]: `s_out = 2^-16`, `z_out = 0`, `[lo, hi]` the `s32` range).
    pub fn apply_residual(&self, x: &[i32], out: &mut [i32]) {
        self.apply_into(x, out, |y| y as i32);
    }

    /// U5 with the clamped output `y` (within `[lo, hi]`) converted by `cast`.
    fn apply_into<T, F: Fn(i64) -> T>(&self, x: &[i32], out: &mut [T], cast: F) {
        let d = self.dim();
        assert_eq!(x.len(), d, "LayerNorm width");
        assert_eq!(out.len(), d, "LayerNorm output width");
        assert_eq!(self.b.len(), d, "LayerNorm constants");
        if d > MAX_DIM {
            return self.apply_wide(x, out, cast);
        }
        let row = RowStep::new(x, self.eps_q);
        let (lo, hi) = (i64::from(self.lo), i64::from(self.hi));
        // r = 0 only for a constant token with E_k = 0: every n is 0.
        let div = (row.r > 0).then(|| FloorDivU64::new(2 * row.r));
        for (((&v, o), &g), &b) in x.iter().zip(out.iter_mut()).zip(&self.g).zip(&self.b) {
            let n = match div {
                None => 0,
                Some(div) => {
                    // n = div_round(t 2^LNF, r) = floor((t 2^(LNF+1) + r) / 2r), |n| <= 2^LNF;
                    // |t| <= 2^DB and r < 2^33 keep the numerator below 2^35.
                    let num = (i64::from(row.deviation(d, v)) << (LNF + 1)) + row.r as i64;
                    // floor(-u / D) = -ceil(u / D) = -floor((u + D - 1) / D). Both signs by
                    // masks, not branches: the sign of t is as good as random.
                    let sign = num >> 63;
                    let u = num.unsigned_abs() + ((div.d - 1) & sign as u64);
                    let q = div.div(u) as i64;
                    (q ^ sign) - sign
                }
            };
            // round_shift(n G + B, GF) in i64 (always, for G in s32 and B in s48), else in i128.
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
            *o = cast(y);
        }
    }

    /// [`Self::apply`] with every intermediate in i128 and `M` as the largest `|D x - S|` (any
    /// width).
    fn apply_wide<T, F: Fn(i64) -> T>(&self, x: &[i32], out: &mut [T], cast: F) {
        let dn = self.dim() as i128;
        let sum: i128 = x.iter().map(|&v| i128::from(v)).sum();
        let dev = |v: i32| dn * i128::from(v) - sum;
        let m = x.iter().map(|&v| dev(v).unsigned_abs()).max().unwrap_or(0);
        let k = row_shift(m);
        let q: u128 = x.iter().map(|&v| (dev(v) >> k).unsigned_abs().pow(2)).sum();
        let r = isqrt(q + u128::from(eps_shifted(self.eps_q, k))) as i128;
        for (c, (&v, o)) in x.iter().zip(out.iter_mut()).enumerate() {
            let n: i128 = if r == 0 {
                0
            } else {
                div_round((dev(v) >> k) << LNF, r)
            };
            // round_shift in i128: n * G + B cannot overflow it (|n| <= 2^LNF).
            let y = (n * i128::from(self.g[c]) + i128::from(self.b[c]) + (1i128 << (GF - 1))) >> GF;
            *o = cast(y.clamp(i128::from(self.lo), i128::from(self.hi)) as i64);
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

/// U5r's constants (docs/arithmetic.md, "Swin Transformer in integers"): a LayerNorm whose output
/// is the residual stream (`r_frac` fraction bits, `s32`): `s_out = 2^-r_frac`, `z_out = 0`,
/// `[lo, hi] = [-2^31, 2^31 - 1]`. Same errors as [`layer_norm_params`].
pub fn residual_layer_norm_params(
    gamma: &[f32],
    beta: &[f32],
    eps: f32,
    r_frac: u32,
    what: &str,
) -> Result<LayerNormParams> {
    let s_out = 2f64.powi(-(r_frac as i32));
    let mut p = layer_norm_params(gamma, beta, eps, r_frac, s_out, 0.0, 8, what)?;
    p.lo = i32::MIN;
    p.hi = i32::MAX;
    Ok(p)
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

    /// U5 from its equations with big integers, written independently of [`LayerNormParams::apply`]:
    /// `k` as the smallest shift that brings `M` below `2^DB`, floor divisions by truncating
    /// division and a sign correction, `r` by `BigUint::sqrt`.
    fn reference(p: &LayerNormParams, x: &[i32]) -> Vec<u8> {
        use num_bigint::{BigInt, BigUint, Sign};
        let floor_div = |a: &BigInt, b: &BigInt| -> BigInt {
            let q = a / b;
            if (a % b).sign() == Sign::Minus {
                q - 1
            } else {
                q
            }
        };
        let pow2 = |e: u32| BigInt::from(1) << e;
        let d = BigInt::from(x.len());
        let s: BigInt = x.iter().map(|&v| BigInt::from(v)).sum();
        let dev: Vec<BigInt> = x.iter().map(|&v| &d * v - &s).collect();
        let m = dev.iter().map(|v| v.magnitude().clone()).max().unwrap();
        let mut k = 0u32;
        while (&m >> k) >= (BigUint::from(1u32) << DB) {
            k += 1;
        }
        let t: Vec<BigInt> = dev.iter().map(|v| floor_div(v, &pow2(k))).collect();
        let q: BigInt = t.iter().map(|v| v * v).sum();
        let e = BigInt::from(p.eps_q);
        let ek = if k == 0 {
            e
        } else {
            floor_div(&(e + pow2(2 * k - 1)), &pow2(2 * k))
        };
        let r = BigInt::from((q + ek).to_biguint().unwrap().sqrt());
        t.iter()
            .zip(p.g.iter().zip(&p.b))
            .map(|(t, (&g, &b))| {
                let n = if r == BigInt::from(0) {
                    BigInt::from(0)
                } else {
                    floor_div(&(t * pow2(LNF + 1) + &r), &(&r * 2))
                };
                let y = floor_div(&(n * g + b + pow2(GF - 1)), &pow2(GF));
                let y = y.clamp(BigInt::from(p.lo), BigInt::from(p.hi));
                u8::try_from(y).unwrap()
            })
            .collect()
    }

    /// `apply`, the all-i128 path and the big-integer reference give the same codes.
    fn check_row(p: &LayerNormParams, x: &[i32]) {
        let (mut fast, mut wide) = (vec![0u8; x.len()], vec![0u8; x.len()]);
        p.apply(x, &mut fast);
        p.apply_wide(x, &mut wide, |y| y as u8);
        assert_eq!(fast, wide, "fast vs wide path, row {x:?}");
        assert_eq!(fast, reference(p, x), "fast path vs reference, row {x:?}");
    }

    /// Random constants within the hardware's `G` (`s32`) and `B` (`s48`), the extremes included.
    fn hw_params(rng: &mut StdRng, d: usize, eps_q: u64, bits: u32) -> LayerNormParams {
        let g = (0..d)
            .map(|c| match c % 5 {
                0 => -(1i64 << 31),
                1 => (1 << 31) - 1,
                _ => rng.random_range(-(1i64 << 31)..1 << 31) >> rng.random_range(0..28),
            })
            .collect();
        let b = (0..d)
            .map(|c| match c % 7 {
                0 => -(1i64 << 47),
                1 => (1 << 47) - 1,
                _ => rng.random_range(-(1i64 << 47)..1 << 47) >> rng.random_range(16..40),
            })
            .collect();
        LayerNormParams {
            eps_q,
            g,
            b,
            lo: 0,
            hi: (1 << bits) - 1,
        }
    }

    /// Every row of `D = 1, 2, 3` over small values and over full-scale values (k = 0 and the
    /// largest shifts), and `D = 4` over a mixed set, at several `E`, against the reference.
    #[test]
    fn exhaustive_small_rows_match_reference() {
        let mut rng = StdRng::seed_from_u64(17);
        let small: Vec<i32> = (-4..=4).collect();
        let full = [
            i32::MIN,
            i32::MIN + 1,
            -(1 << 20) - 3,
            -1,
            0,
            1,
            (1 << 17) + 5,
            i32::MAX - 1,
            i32::MAX,
        ];
        let mut rows = 0;
        for eps_q in [0u64, 1, 3, 1 << 20, (1 << 40) + 7, u64::MAX] {
            for d in 1..=4usize {
                let p = hw_params(&mut rng, d, eps_q, 8);
                let sets: Vec<&[i32]> = if d == 4 {
                    vec![&full[..]]
                } else {
                    vec![&small[..], &full[..]]
                };
                for set in sets {
                    let n = set.len().pow(d as u32);
                    for mut i in 0..n {
                        let x: Vec<i32> = (0..d)
                            .map(|_| {
                                let v = set[i % set.len()];
                                i /= set.len();
                                v
                            })
                            .collect();
                        check_row(&p, &x);
                        rows += 1;
                    }
                }
            }
        }
        assert!(rows > 40_000, "{rows}");
    }

    /// Random rows at the model's widths over 9 decades of scale, with outliers, against the
    /// reference.
    #[test]
    fn random_rows_match_reference() {
        let mut rng = StdRng::seed_from_u64(13);
        for d in [5usize, 64, 96, 197, 384, 768] {
            for eps_q in [0u64, 3_799_912_176, u64::MAX >> 3] {
                let p = hw_params(&mut rng, d, eps_q, 8);
                for i in 0..12 {
                    let scale = 10f64.powf(rng.random_range(-4.0..4.6));
                    let mut x: Vec<i32> = (0..d)
                        .map(|_| {
                            (rng.random_range(-1.0f64..1.0) * scale * 65536.0)
                                .clamp(-2147483648.0, 2147483647.0)
                                as i32
                        })
                        .collect();
                    if i % 3 == 0 {
                        let c = rng.random_range(0..d);
                        x[c] = if i % 2 == 0 { i32::MAX } else { i32::MIN };
                    }
                    check_row(&p, &x);
                }
            }
        }
    }

    /// Edge rows: zero variance (with and without `E`), full-scale values mixed, one huge outlier
    /// channel, `D = 1`.
    #[test]
    fn edge_rows() {
        let mut rng = StdRng::seed_from_u64(19);
        for d in [1usize, 2, 3, 64, 97, 768] {
            for eps_q in [0u64, 1, 3_799_912_176, u64::MAX] {
                let p = hw_params(&mut rng, d, eps_q, 8);
                let mut rows: Vec<Vec<i32>> = [0, 1, -1, i32::MIN, i32::MAX, 12345]
                    .iter()
                    .map(|&v| vec![v; d])
                    .collect();
                rows.push((0..d).map(|c| [i32::MIN, i32::MAX][c % 2]).collect());
                rows.push((0..d).map(|c| [i32::MAX, i32::MIN][c % 2]).collect());
                rows.push((0..d).map(|c| [i32::MIN, i32::MAX, 0][c % 3]).collect());
                let mut outlier = vec![65536; d];
                outlier[d / 2] = i32::MAX;
                rows.push(outlier.clone());
                outlier[d / 2] = i32::MIN;
                rows.push(outlier);
                let mut one = vec![i32::MIN; d];
                one[d - 1] = i32::MAX;
                rows.push(one);
                for x in rows {
                    check_row(&p, &x);
                }
            }
        }
        // Zero variance and E = 0: r = 0, n = 0, the codes are B's.
        let p =
            layer_norm_params(&[1.0; 4], &[0.1, -0.1, 0.0, 0.2], 0.0, 0, 0.1, 3.0, 4, "t").unwrap();
        assert_eq!(RowStep::new(&[7; 4], 0).r, 0);
        let mut out = [0u8; 4];
        p.apply(&[7; 4], &mut out);
        assert_eq!(out, [4, 2, 3, 5]);
        // D = 1: the one deviation is 0 whatever x is.
        let p = layer_norm_params(&[2.0], &[0.3], 1e-6, 16, 0.1, 3.0, 4, "t").unwrap();
        for v in [i32::MIN, -1, 0, 1, i32::MAX] {
            p.apply(&[v], &mut out[..1]);
            assert_eq!(out[0], 6, "{v}");
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

    /// The widths hold the extremes, and the extremes reach them.
    #[test]
    fn widths_hold_the_extremes() {
        // D = 96: |S| <= 96 * 2^31 needs s39; M <= 95 (2^32 - 1) needs u39, so k <= 22.
        let w = widths(96);
        assert_eq!(
            (w.sum, w.m, w.k_max, w.q, w.radicand, w.r),
            (39, 39, 22, 41, 65, 33)
        );
        assert_eq!(widths(1 << 16).sum, 48);
        let w = widths(MAX_DIM);
        assert!(
            w.sum <= 53 && w.q <= 64 && w.radicand == 65 && w.r == 33,
            "{w:?}"
        );
        for d in [1usize, 2, 3, 64, 96, 197, 768, 1000] {
            let w = widths(d);
            // The row with the largest M: one channel at the top, the rest at the bottom.
            let mut x = vec![i32::MIN; d];
            x[0] = i32::MAX;
            let row = RowStep::new(&x, u64::MAX);
            let dn = d as i128;
            let m = (dn - 1) * ((1i128 << 32) - 1);
            assert!(m < 1i128 << w.m, "{d}");
            assert_eq!(row.k, w.k_max, "{d}");
            assert!(dn << 31 <= 1i128 << (w.sum - 1));
            for &v in &x {
                let t = row.deviation(d, v);
                assert!((-(1 << DB)..1 << DB).contains(&t), "{d} {t}");
            }
            assert!(u128::from(row.q) < 1u128 << w.q);
            assert!(u128::from(row.q) + u128::from(row.eps_k) < 1u128 << w.radicand);
            assert!(u128::from(row.r) < 1u128 << w.r);
        }
        // t reaches -2^DB: a deviation -M with M = 2^18 - 1 (k = 1).
        let x = [0, (1 << 18) - 1];
        let row = RowStep::new(&x, 0);
        assert_eq!((row.k, row.deviation(2, 0)), (1, -(1 << DB)));
    }

    #[test]
    fn eps_shift_rounds_half_up() {
        assert_eq!(eps_shifted(13, 0), 13);
        assert_eq!(eps_shifted(2, 1), 1); // 0.5 -> 1
        assert_eq!(eps_shifted(1, 1), 0); // 0.25 -> 0
        assert_eq!(eps_shifted(6, 1), 2); // 1.5 -> 2
        assert_eq!(eps_shifted(u64::MAX, 32), 1);
        assert_eq!(eps_shifted((1 << 63) - 1, 32), 0);
        assert_eq!(eps_shifted(u64::MAX, 33), 0);
        assert_eq!(eps_shifted(u64::MAX, 40), 0);
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

    /// Against the float LayerNorm followed by the uniform quantizer, at 4 and 8 bits and 9
    /// decades of input scale: the normalized value `n` is within `sqrt(D) + 3` LSB of
    /// `2^LNF (x - mean) / sqrt(D (var + eps))` on every row (the bound of docs/arithmetic.md, U5;
    /// measured: at most 2 on random rows), and the codes equal the float ones wherever the float
    /// value is farther from a rounding boundary than that error carried through `G`.
    #[test]
    fn matches_float_layernorm_then_quantizer() {
        let mut rng = StdRng::seed_from_u64(11);
        let s_r = 2f64.powi(-16);
        let (mut checked, mut worst_random, mut worst) = (0, 0f64, 0f64);
        for (d, s_out, z_out, bits) in [
            (96, 0.031, 7.4, 4),
            (64, 0.004, 121.3, 8),
            (197, 0.01, 60.0, 8),
        ] {
            let gamma: Vec<f32> = (0..d).map(|_| rng.random_range(0.2f32..2.0)).collect();
            let beta: Vec<f32> = (0..d).map(|_| rng.random_range(-0.5f32..0.5)).collect();
            let p = layer_norm_params(&gamma, &beta, 1e-6, 16, s_out, z_out, bits, "t").unwrap();
            let hi = f64::from((1u32 << bits) - 1);
            for i in 0..300 {
                let scale = 10f64.powf(rng.random_range(-2.0..4.5));
                let mut x: Vec<i32> = (0..d)
                    .map(|_| {
                        (rng.random_range(-1.0f64..1.0) * scale / s_r)
                            .round()
                            .clamp(-2147483648.0, 2147483647.0) as i32
                    })
                    .collect();
                if i % 4 == 0 {
                    x[i % d] = if i % 8 == 0 { i32::MAX } else { i32::MIN };
                }
                let mut out = vec![0u8; d];
                p.apply(&x, &mut out);
                let row = RowStep::new(&x, p.eps_q);
                let xr: Vec<f64> = x.iter().map(|&v| f64::from(v) * s_r).collect();
                let mean = xr.iter().sum::<f64>() / d as f64;
                let var = xr.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / d as f64;
                for c in 0..d {
                    let ln = (xr[c] - mean) / (var + 1e-6).sqrt();
                    let n_float = ln / (d as f64).sqrt() * f64::from(1u32 << LNF);
                    let n = div_round(i128::from(row.deviation(d, x[c])) << LNF, row.r.into());
                    let err = (n as f64 - n_float).abs();
                    assert!(
                        err <= (d as f64).sqrt() + 3.0,
                        "row {i} channel {c}: n {n} vs {n_float}"
                    );
                    worst = worst.max(err);
                    if i % 4 != 0 {
                        worst_random = worst_random.max(err);
                    }
                    let y = ln * f64::from(gamma[c]) + f64::from(beta[c]);
                    let t = y / s_out + z_out;
                    // The error of n through G, plus G's and B's own rounding.
                    let margin = (err + 0.5) * p.g[c].unsigned_abs() as f64 / 2f64.powi(GF as i32)
                        + 2f64.powi(-8);
                    if (t - t.floor() - 0.5).abs() < margin {
                        continue;
                    }
                    let want = t.round().clamp(0.0, hi) as u8;
                    assert_eq!(out[c], want, "row {i} channel {c}: float {t}");
                    checked += 1;
                }
            }
        }
        eprintln!(
            "U5 vs float: |n - n*| at most {worst_random:.3} LSB on random rows, {worst:.3} with \
             outliers; {checked} codes compared"
        );
        assert!(worst_random <= 2.0, "{worst_random}");
        assert!(checked > 100_000, "{checked}");
    }
}
