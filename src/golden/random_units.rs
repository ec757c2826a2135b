//! Random vectors of the units after the array (`repq-hw golden --random`, drawn after the
//! matmul, code unit and shift unit vectors of [`super::random`], from the same generator): the
//! A x V requantization with heads merged, the GELU table unit on every index, the residual
//! addition with saturation both ways, and LayerNorm on hard rows. Every expected value comes from
//! [`crate::arith`].

use rand::RngExt;
use rand::rngs::StdRng;

use super::random::RandomSpec;
use super::{GoldenFile, Kind, signed, unsigned};
use crate::arith::gelu::{GeluSteps, TABLE_LEN, gelu_table, h_scale};
use crate::arith::layernorm::{LayerNormParams, eps_units};
use crate::arith::{Requant, merge_heads, residual_add};
use crate::error::Result;

/// Heads of the A x V requantization vectors.
pub const AV_HEADS: usize = 3;
/// GELU tables (each loaded, then every index looked up: the reload is part of the test).
pub const GELU_TABLES: usize = 3;
/// LayerNorm layers of the random vectors (each loaded, then its rows: the reload is tested).
pub const LN_LAYERS: usize = 3;
/// Width of the random LayerNorm rows: not a multiple of any lane count `C >= 2`.
pub const LN_DIM: usize = 37;
/// Rows per random LayerNorm layer.
pub const LN_ROWS: usize = 24;

fn file<T: Copy + Into<i128>>(
    kind: Kind,
    dir: &str,
    name: &str,
    shape: &[usize],
    ty: (u32, bool),
    data: &[T],
    what: &str,
) -> GoldenFile {
    GoldenFile::new(kind, dir, &format!("{dir}.{name}"), shape, ty, data, what)
}

/// All three units, in this order.
pub fn generate(spec: &RandomSpec, rng: &mut StdRng, files: &mut Vec<GoldenFile>) -> Result<()> {
    av_requant(spec, rng, files)?;
    gelu(spec, rng, files)?;
    residual(spec, rng, files);
    layernorm(spec, rng, files);
    softmax(rng, files);
    Ok(())
}

/// Keys per row of the short U6 vectors (`softmax.*`); the long ones have 197 and 785.
pub const SOFTMAX_KEYS: usize = 37;

/// U6 rows with the hard cases (`softmax.*` `[12, 37]`, `softmax197.*` `[3, 197]`,
/// `softmax785.*` `[2, 785]`; logits `z` s32, bias s16, mask u1, `p` u17 from
/// [`crate::arith::softmax::probabilities`]). Short rows by index: 0 random logits and bias; 1
/// ties among three values; 2 all equal; 3 one dominant score; 4 a third masked, random bias; 5
/// every key masked but one; 6 every key masked; 7 logits and bias at the ends of s32 and s16
/// (the s33 sum); 8 deltas around the saturation (20 and 21 times 2^EF, one either side); 9 the
/// largest value masked; 10 ties at the maximum, one of them masked; 11 typical attention logits.
/// Long rows: typical logits with random bias, a masked half, and (785) a dominant score.
fn softmax(rng: &mut StdRng, files: &mut Vec<GoldenFile>) {
    use crate::arith::softmax::{EF, exp2_table, probabilities};
    let table = exp2_table();
    let t = SOFTMAX_KEYS;
    let sat = 20i32 << EF;
    let mut rows: Vec<(Vec<i32>, Vec<i16>, Vec<bool>)> = Vec::new();
    let rb = |rng: &mut StdRng, n: usize| (0..n).map(|_| rng.random::<i16>()).collect::<Vec<_>>();
    let none = |n: usize| vec![false; n];
    let typical = |rng: &mut StdRng, n: usize| {
        (0..n)
            .map(|_| rng.random_range(-6000..6000))
            .collect::<Vec<i32>>()
    };
    for kind in 0..12 {
        let zero_b = vec![0i16; t];
        let row = match kind {
            0 => ((0..t).map(|_| rng.random()).collect(), rb(rng, t), none(t)),
            1 => {
                let v = [rng.random_range(-9000..9000), 100, -2048];
                (
                    (0..t).map(|_| v[rng.random_range(0..3)]).collect(),
                    zero_b,
                    none(t),
                )
            }
            2 => (vec![rng.random_range(-99999..99999); t], zero_b, none(t)),
            3 => {
                let mut z = typical(rng, t);
                z[rng.random_range(0..t)] = 1 << 20;
                (z, zero_b, none(t))
            }
            4 => (
                typical(rng, t),
                rb(rng, t),
                (0..t).map(|_| rng.random_range(0..3) == 0).collect(),
            ),
            5 => {
                let mut m = vec![true; t];
                m[rng.random_range(0..t)] = false;
                ((0..t).map(|_| rng.random()).collect(), rb(rng, t), m)
            }
            6 => (
                (0..t).map(|_| rng.random()).collect(),
                rb(rng, t),
                vec![true; t],
            ),
            7 => {
                let z = (0..t)
                    .map(|j| match j % 4 {
                        0 => i32::MAX,
                        1 => i32::MIN,
                        2 => i32::MAX - rng.random_range(0..40000),
                        _ => rng.random(),
                    })
                    .collect();
                let b = (0..t)
                    .map(|j| {
                        if j % 3 == 0 {
                            i16::MAX
                        } else if j % 3 == 1 {
                            i16::MIN
                        } else {
                            rng.random()
                        }
                    })
                    .collect();
                (z, b, none(t))
            }
            8 => {
                let top = rng.random_range(-99999..99999);
                let offs = [
                    0,
                    sat - 1,
                    sat,
                    sat + 1,
                    sat + 1024,
                    sat + 1023,
                    sat + 1025,
                    1,
                    1023,
                    1024,
                ];
                (
                    (0..t).map(|j| top - offs[j % offs.len()]).collect(),
                    zero_b,
                    none(t),
                )
            }
            9 => {
                let mut z = typical(rng, t);
                let mut m = none(t);
                let k = rng.random_range(0..t);
                z[k] = 50000;
                m[k] = true;
                (z, zero_b, m)
            }
            10 => {
                let mut z = typical(rng, t);
                for j in [2, 9, 30] {
                    z[j] = 7000;
                }
                let mut m = none(t);
                m[9] = true;
                (z, zero_b, m)
            }
            _ => (typical(rng, t), zero_b, none(t)),
        };
        rows.push(row);
    }
    let mut put = |name: &str, rows: &[(Vec<i32>, Vec<i16>, Vec<bool>)]| {
        let n = rows[0].0.len();
        let mut p = vec![0u32; n];
        let (mut z, mut b, mut m, mut out) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (zr, br, mr) in rows {
            probabilities(&table, zr, Some(br), Some(mr), &mut p);
            z.extend_from_slice(zr);
            b.extend_from_slice(br);
            m.extend(mr.iter().map(|&x| u8::from(x)));
            out.extend_from_slice(&p);
        }
        let shape = [rows.len(), n];
        let what = "U6 rows with bias and mask (arith::softmax::probabilities)";
        files.push(file(
            Kind::Activation,
            name,
            "z",
            &shape,
            signed(32),
            &z,
            what,
        ));
        files.push(file(
            Kind::Activation,
            name,
            "bias",
            &shape,
            signed(16),
            &b,
            what,
        ));
        files.push(file(
            Kind::Activation,
            name,
            "mask",
            &shape,
            unsigned(1),
            &m,
            what,
        ));
        files.push(file(
            Kind::Activation,
            name,
            "p",
            &shape,
            unsigned(17),
            &out,
            what,
        ));
    };
    put("softmax", &rows);
    for (name, n) in [("softmax197", 197usize), ("softmax785", 785)] {
        let mut long = vec![(typical(rng, n), rb(rng, n), none(n))];
        let half: Vec<bool> = (0..n).map(|j| j % 2 == 1).collect();
        long.push((typical(rng, n), vec![0; n], half));
        if n == 197 {
            long.push((typical(rng, n), vec![0; n], none(n)));
        } else {
            long[0].0[n - 1] = 1 << 16;
        }
        put(name, &long);
    }
}

/// A x V outputs of [`AV_HEADS`] heads of `M` queries and `N` channels (`[H, M, N]`, `s{acc}`):
/// element `i` by `i % 7`: 0 the largest, 1 the smallest accumulator, 2 zero, 3 a value next to a
/// rounding tie of its head's shift, 4 on head 2 a small odd `a` whose product is one below a tie,
/// others random at a typical scale. Per head a multiplier, zero point and (head 1) a narrowed
/// clamp; head 2 has `n = 30` and the `M0` that puts `a * M0` at `2^29 - 1` modulo `2^30` (a
/// product one below a rounding tie, whose code is small enough not to clamp).
fn av_requant(spec: &RandomSpec, rng: &mut StdRng, files: &mut Vec<GoldenFile>) -> Result<()> {
    let [m, _, n] = spec.shape;
    let (h, abits, acc_bits) = (AV_HEADS, spec.abits, spec.acc_bits);
    let amax = (1i32 << abits) - 1;
    let lim = (1i64 << (acc_bits - 1)) - 1;
    let typical = (lim >> 4).max(1);
    let mut requant = Vec::with_capacity(h);
    // a * M0 = 2^29 - 1 (mod 2^30) with M0 in [2^30, 2^31): M0 = 2^30 + (2^29 - 1) / a mod 2^30.
    let a = 2 * rng.random_range(0..=(amax / 4).max(0)) as i64 + 1;
    let inv = inverse_mod_2_30(a);
    let m0_tie = (1i64 << 30) + ((((1i64 << 29) - 1) * inv) & ((1 << 30) - 1));
    for head in 0..h {
        let mult = f64::from(amax) / (4.0 * typical as f64) * rng.random_range(0.5..2.0);
        let mut r = Requant::to_codes(mult, rng.random_range(0..=amax), abits, "random A x V")?;
        if head == 1 {
            r.lo = rng.random_range(0..=amax / 2);
            r.hi = rng.random_range(r.lo..=amax);
        }
        if head == 2 {
            r.m0 = m0_tie as u32;
            r.shift = 30;
            r.zero_point = 0;
        }
        requant.push(r);
    }
    let av: Vec<i64> = (0..h * m * n)
        .map(|i| match i % 7 {
            0 => lim,
            1 => -lim - 1,
            2 => 0,
            4 if i / (m * n) == 2 => a,
            3 => {
                // acc * M0 lands next to (k + 1/2) 2^n: acc = round((k + 1/2) 2^n / M0) + {-1, 0, 1}.
                let r = requant[i / (m * n)];
                let k = rng.random_range(-64..64) as f64 + 0.5;
                let x = (k * 2f64.powi(r.shift as i32) / f64::from(r.m0.max(1))).round() as i64;
                (x + rng.random_range(-1..=1)).clamp(-lim - 1, lim)
            }
            _ => rng.random_range(-typical..=typical),
        })
        .collect();
    let out = merge_heads(&av, h, n, &requant);
    let (p, act) = (Kind::Parameter, Kind::Activation);
    let d = "av_requant";
    let per = |f: fn(&Requant) -> i64| requant.iter().map(f).collect::<Vec<i64>>();
    files.push(file(
        act,
        d,
        "av",
        &[h, m, n],
        signed(acc_bits),
        &av,
        "attention x V outputs [head, query, channel] (U4 output, the unit's input)",
    ));
    for (name, ty, vals, what) in [
        (
            "m0",
            unsigned(31),
            per(|r| r.m0.into()),
            "multiplier M0 per head (U2)",
        ),
        (
            "shift",
            unsigned(6),
            per(|r| r.shift.into()),
            "shift n per head (U2)",
        ),
        (
            "zero_point",
            signed(32),
            per(|r| r.zero_point.into()),
            "output zero point per head (U2)",
        ),
        (
            "lo",
            unsigned(abits),
            per(|r| r.lo.into()),
            "lower clamp per head (U2)",
        ),
        (
            "hi",
            unsigned(abits),
            per(|r| r.hi.into()),
            "upper clamp per head (U2)",
        ),
    ] {
        files.push(file(p, d, name, &[h], ty, &vals, what));
    }
    files.push(file(
        act,
        d,
        "out",
        &[m, h * n],
        unsigned(abits),
        &out,
        "proj input codes, heads merged: column h * N + c is head h's channel c (arith::merge_heads)",
    ));
    Ok(())
}

/// The inverse of an odd `a` modulo `2^30` (Newton's iteration, each step doubling the bits).
fn inverse_mod_2_30(a: i64) -> i64 {
    let mask = (1i64 << 30) - 1;
    let mut x = a & mask; // correct to 3 bits for odd a
    for _ in 0..5 {
        x = x.wrapping_mul((2 - a.wrapping_mul(x)) & mask) & mask;
    }
    x
}

/// [`GELU_TABLES`] tables of `abits`-bit codes, their table-load words, and every index through
/// each: a typical output quantizer (scale 10^-3 .. 10^-0.5, zero point in the lower quarter);
/// zero point 0 (GELU's dip clamps to code 0, so the table rises through every code: a full list
/// of `2^abits - 1` rises); zero point `2^abits - 1` with a scale below `0.17 / 2^abits` (the dip
/// falls through every code and the table rises back: both lists full).
fn gelu(spec: &RandomSpec, rng: &mut StdRng, files: &mut Vec<GoldenFile>) -> Result<()> {
    let abits = spec.abits;
    let top = f64::from((1u32 << abits) - 1);
    let (mut tables, mut words, mut out) = (Vec::new(), Vec::new(), Vec::new());
    let mut scales = Vec::new();
    for s in 0..GELU_TABLES {
        let (s_out, z) = match s {
            0 => (
                10f64.powf(rng.random_range(-3.0..-0.5)),
                rng.random_range(0.0..=(top + 1.0) / 4.0).round(),
            ),
            1 => (10f64.powf(rng.random_range(-3.0..-0.5)), 0.0),
            _ => (0.17 / (top + 1.0) * rng.random_range(0.1..0.9), top),
        };
        let t = gelu_table(h_scale(s_out, z, abits), s_out, z, abits);
        let st = GeluSteps::new(&t, abits, &format!("random GELU table {s}"))?;
        words.extend(st.load_words());
        out.extend((0..TABLE_LEN).map(|i| st.lookup((i as i32 - 32768) as i16)));
        tables.extend(t);
        scales.push(format!("s_out = {s_out:e}, z_out = {z}"));
    }
    let h: Vec<i32> = (-32768..32768).collect();
    let (p, act) = (Kind::Parameter, Kind::Activation);
    let d = "gelu";
    let sets = GELU_TABLES;
    let load = words.len() / sets;
    files.push(file(
        p,
        d,
        "table",
        &[sets, TABLE_LEN],
        unsigned(abits),
        &tables,
        &format!("GELU tables T[h + 2^15] (U7) for {}", scales.join("; ")),
    ));
    files.push(file(
        p,
        d,
        "steps",
        &[sets, load],
        signed(16),
        &words,
        "the tables' load words for repq_gelu: T[-2^15], the rise positions, the fall positions \
         (GeluSteps::load_words)",
    ));
    files.push(file(
        act,
        d,
        "h",
        &[TABLE_LEN],
        signed(16),
        &h,
        "every index h = -2^15 .. 2^15 - 1 (U7 input)",
    ));
    files.push(file(
        act,
        d,
        "out",
        &[sets, TABLE_LEN],
        unsigned(abits),
        &out,
        "T[h] per table for every index (U7)",
    ));
    Ok(())
}

/// `M x N` residual additions: element `i` by `i % 8`: 0 overflow upward, 1 downward (both
/// saturate), 2 and 3 sums exactly at `2^31 - 1` and `-2^31` (no saturation), 4 both operands at
/// the same extreme, others random (residual-sized `x`, any `y`).
fn residual(spec: &RandomSpec, rng: &mut StdRng, files: &mut Vec<GoldenFile>) {
    let [m, _, n] = spec.shape;
    let (max, min) = (i64::from(i32::MAX), i64::from(i32::MIN));
    let (mut x, mut y) = (Vec::with_capacity(m * n), Vec::with_capacity(m * n));
    for i in 0..m * n {
        let r = rng.random_range(0..1i64 << 20);
        let s = rng.random_range(0..1i64 << 20);
        let (a, b) = match i % 8 {
            0 => (max - r, r + 1 + s),
            1 => (min + r, -(r + 1 + s)),
            2 => (max - r, r),
            3 => (min + r, -r),
            4 => {
                if i % 16 == 4 {
                    (max, max)
                } else {
                    (min, min)
                }
            }
            _ => (
                rng.random_range(-(1i64 << 26)..1i64 << 26),
                rng.random_range(min..=max),
            ),
        };
        x.push(a as i32);
        y.push(b as i32);
    }
    let out: Vec<i32> = x
        .iter()
        .zip(&y)
        .map(|(&a, &b)| residual_add(a, b))
        .collect();
    let act = Kind::Activation;
    let d = "residual";
    for (name, data, what) in [
        (
            "x",
            &x,
            "residual stream x (s32, 16 fraction bits) (U8 input)",
        ),
        (
            "y",
            &y,
            "increments y, a residual-kind U2 output (U8 input)",
        ),
        ("out", &out, "sat32(x + y) (U8)"),
    ] {
        files.push(file(act, d, name, &[m, n], signed(32), data, what));
    }
}

/// [`LN_LAYERS`] LayerNorm layers of width [`LN_DIM`], [`LN_ROWS`] rows each, and one layer of
/// width 1 (`layernorm1.*`). Layer 0: `E` of `eps = 1e-6`, the full code range; layer 1: `E = 0`
/// (a constant row has `r = 0`), a narrowed clamp; layer 2: `E = 2^64 - 1` (large against every
/// `Q`). Constants: most channels a typical `G` (`2^14 .. 2^22`) and `B` (the zero point in
/// `GF` fraction bits plus a small offset), channel 0 and 1 the extremes of `s32` and `s48`.
/// Rows: constant (0, `2^31 - 1`, `-2^31`), `-2^31` / `2^31 - 1` alternating, the two with 0, one
/// outlier channel at either extreme in a typical row, deviations of a few LSB (`k = 0`; `E`
/// large against `Q`), one channel one LSB off, then typical rows over six decades of scale.
fn layernorm(spec: &RandomSpec, rng: &mut StdRng, files: &mut Vec<GoldenFile>) {
    let abits = spec.abits;
    let top = (1i32 << abits) - 1;
    let rows_of = |rng: &mut StdRng, d: usize| -> Vec<Vec<i32>> {
        let typical = |rng: &mut StdRng, scale: f64| -> Vec<i32> {
            (0..d)
                .map(|_| (rng.random_range(-1.0f64..1.0) * scale * 65536.0) as i32)
                .collect()
        };
        let (min, max) = (i32::MIN, i32::MAX);
        let mut rows = vec![
            vec![0; d],
            vec![max; d],
            vec![min; d],
            (0..d).map(|c| [min, max][c % 2]).collect(),
            (0..d).map(|c| [max, min, 0][c % 3]).collect(),
        ];
        for v in [max, min] {
            let mut r = typical(rng, 2.0);
            r[rng.random_range(0..d)] = v;
            rows.push(r);
        }
        let base = rng.random_range(-1i32 << 20..1 << 20);
        rows.push((0..d).map(|_| base + rng.random_range(-3..=3)).collect());
        let mut one = vec![base; d];
        one[d / 2] += 1;
        rows.push(one);
        while rows.len() < LN_ROWS {
            let scale = 10f64.powf(rng.random_range(-2.0..4.0));
            rows.push(typical(rng, scale));
        }
        rows
    };
    let params_of = |rng: &mut StdRng, d: usize, eps_q: u64, lo: i32, hi: i32| {
        let z = rng.random_range(0..=top);
        let g = (0..d)
            .map(|c| match c {
                0 if d > 1 => i64::from(i32::MAX),
                1 => i64::from(i32::MIN),
                _ => rng.random_range(1i64 << 14..1 << 22) * [1, -1][c % 2],
            })
            .collect();
        let b = (0..d)
            .map(|c| match c {
                0 if d > 1 => -(1i64 << 47),
                1 => (1i64 << 47) - 1,
                _ => (i64::from(z) << 24) + rng.random_range(-1i64 << 24..1 << 24),
            })
            .collect();
        LayerNormParams {
            eps_q,
            g,
            b,
            lo,
            hi,
        }
    };
    let d = LN_DIM;
    let narrow_lo = rng.random_range(0..=top / 2);
    let narrow_hi = rng.random_range(narrow_lo..=top);
    let layers = [
        params_of(rng, d, eps_units(1e-6, d, 16).unwrap_or(0), 0, top),
        params_of(rng, d, 0, narrow_lo, narrow_hi),
        params_of(rng, d, u64::MAX, 0, top),
    ];
    let single = params_of(rng, 1, eps_units(1e-6, 1, 16).unwrap_or(0), 0, top);
    for (dir, layers) in [
        ("layernorm", &layers[..]),
        ("layernorm1", std::slice::from_ref(&single)),
    ] {
        let dim = layers[0].dim();
        let (mut x, mut out, mut g, mut b, mut eps, mut lo, mut hi) =
            (vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
        for p in layers {
            for row in rows_of(rng, dim) {
                let mut y = vec![0u8; dim];
                p.apply(&row, &mut y);
                x.extend(row);
                out.extend(y);
            }
            g.extend(p.g.iter().copied());
            b.extend(p.b.iter().copied());
            eps.push(p.eps_q);
            lo.push(p.lo);
            hi.push(p.hi);
        }
        let n = layers.len();
        let (p, act) = (Kind::Parameter, Kind::Activation);
        files.push(file(
            p,
            dir,
            "eps_q",
            &[n],
            unsigned(64),
            &eps,
            "epsilon E per layer (U5)",
        ));
        files.push(file(
            p,
            dir,
            "g",
            &[n, dim],
            signed(32),
            &g,
            "affine factor G (U5)",
        ));
        files.push(file(
            p,
            dir,
            "b",
            &[n, dim],
            signed(48),
            &b,
            "affine offset B (U5)",
        ));
        files.push(file(
            p,
            dir,
            "lo",
            &[n],
            unsigned(abits),
            &lo,
            "lower output clamp (U5)",
        ));
        files.push(file(
            p,
            dir,
            "hi",
            &[n],
            unsigned(abits),
            &hi,
            "upper output clamp (U5)",
        ));
        files.push(file(
            act,
            dir,
            "x",
            &[n, LN_ROWS, dim],
            signed(32),
            &x,
            "residual-stream rows per layer (U5 input): constant, full-scale, outlier, tiny and \
             typical rows",
        ));
        files.push(file(
            act,
            dir,
            "out",
            &[n, LN_ROWS, dim],
            unsigned(abits),
            &out,
            "codes per layer (U5)",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_numbers_have_their_inverse_and_the_tie_product_is_one_below() {
        for a in [1i64, 3, 5, 7, 99, 127, (1 << 29) + 1] {
            let inv = inverse_mod_2_30(a);
            assert_eq!((a * inv) & ((1 << 30) - 1), 1, "{a}");
            let m0 = (1i64 << 30) + ((((1i64 << 29) - 1) * inv) & ((1 << 30) - 1));
            assert_eq!((a * m0) & ((1 << 30) - 1), (1 << 29) - 1, "{a}");
            let r = Requant {
                m0: m0 as u32,
                shift: 30,
                zero_point: 0,
                lo: 0,
                hi: i32::MAX,
            };
            // floor(a M0 / 2^30): just below the tie, so it rounds down.
            assert_eq!(i64::from(r.apply(a)), (a * m0) >> 30);
        }
    }
}
