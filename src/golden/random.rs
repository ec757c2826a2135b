//! Random unit-test vectors (`repq-hw golden --random`): one `M x K x N` matmul with per-column
//! requantization (U1 + U2), probabilities through the log2 code unit (U3), and an `M x K x N`
//! attention x V through the shift unit (U4), every expected value computed by the reference
//! units of [`crate::arith`]. Deterministic per seed: one `StdRng::seed_from_u64(seed)` draws
//! everything in a fixed order (matmul, code unit, shift unit, then the units of
//! [`super::random_units`]).

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use super::manifest::RandomInfo;
use super::{GoldenFile, Kind, signed, unsigned};
use crate::arith::logcode::MBITS;
use crate::arith::{LogCode, LogCodeParams, PBITS, Requant, attention_value, matmul_acc};
use crate::error::{Error, Result};

/// Largest `M`, `K` or `N` (the 16-bit size fields of the generated hardware).
pub const MAX_DIM: usize = 65535;
/// Largest total element count of the matmul's `a`, `w`, `acc` and `out`.
pub const MAX_ELEMENTS: usize = 1 << 24;
/// Supported code widths (the reference units take 2..=8-bit codes; the generated RTL 4, 6, 8).
pub const BITS: std::ops::RangeInclusive<u32> = 2..=8;
/// Supported accumulator widths.
pub const ACC_BITS: std::ops::RangeInclusive<u32> = 8..=32;
/// Parameter sets of the code unit's vectors.
pub const LOGCODE_SETS: usize = 4;
/// Probabilities per parameter set.
pub const LOGCODE_PROBS: usize = 256;

/// What to generate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RandomSpec {
    pub seed: u64,
    /// `[M, K, N]`.
    pub shape: [usize; 3],
    pub wbits: u32,
    pub abits: u32,
    pub acc_bits: u32,
}

fn shape_error(s: &str, reason: String) -> Error {
    Error::Config {
        source_name: "command line".into(),
        field: "--shape".into(),
        reason: format!("{s:?}: {reason}"),
    }
}

/// Parses `MxKxN` (each a decimal number in `1..=MAX_DIM`).
pub fn parse_shape(s: &str) -> Result<[usize; 3]> {
    let parts: Vec<&str> = s.split(['x', 'X']).collect();
    if parts.len() != 3 {
        return Err(shape_error(
            s,
            format!(
                "expected three sizes MxKxN such as 16x64x32, found {} part{}",
                parts.len(),
                if parts.len() == 1 { "" } else { "s" }
            ),
        ));
    }
    let mut out = [0usize; 3];
    for ((o, p), what) in out.iter_mut().zip(&parts).zip(["M", "K", "N"]) {
        let p = p.trim();
        if p.is_empty() {
            return Err(shape_error(s, format!("the size {what} is missing")));
        }
        if !p.bytes().all(|b| b.is_ascii_digit()) {
            return Err(shape_error(
                s,
                format!("{what} = {p:?} is not a decimal number"),
            ));
        }
        let v: usize = p.parse().map_err(|_| {
            shape_error(s, format!("{what} = {p} is too large (at most {MAX_DIM})"))
        })?;
        if v == 0 {
            return Err(shape_error(s, format!("{what} must be at least 1")));
        }
        if v > MAX_DIM {
            return Err(shape_error(
                s,
                format!("{what} = {v} is too large (at most {MAX_DIM})"),
            ));
        }
        *o = v;
    }
    let [m, k, n] = out;
    let total = m * k + k * n + 2 * m * n;
    if total > MAX_ELEMENTS {
        return Err(shape_error(
            s,
            format!(
                "{total} matmul elements (M*K + K*N + 2*M*N) is more than the {MAX_ELEMENTS} \
                 unit-test vectors are meant for"
            ),
        ));
    }
    Ok(out)
}

impl RandomSpec {
    /// Checks the widths and that the accumulator holds every product sum of the shape.
    pub fn check(&self) -> Result<()> {
        let bad = |field: &str, reason: String| Error::Config {
            source_name: "command line".into(),
            field: field.into(),
            reason,
        };
        for (field, v) in [("--wbits", self.wbits), ("--abits", self.abits)] {
            if !BITS.contains(&v) {
                return Err(bad(
                    field,
                    format!(
                        "{v} is not supported: {}..={} bits (the generated RTL takes 4, 6 or 8)",
                        BITS.start(),
                        BITS.end()
                    ),
                ));
            }
        }
        if !ACC_BITS.contains(&self.acc_bits) {
            return Err(bad(
                "--acc-bits",
                format!(
                    "{} is outside {}..={}",
                    self.acc_bits,
                    ACC_BITS.start(),
                    ACC_BITS.end()
                ),
            ));
        }
        let [_, k, _] = self.shape;
        let span = self.product_span();
        let lim = 1i128 << (self.acc_bits - 1);
        if span >= lim {
            return Err(bad(
                "--shape",
                format!(
                    "K = {k}: a sum of K products of u{} codes and s{} operands reaches {span}, \
                     which does not fit s{} accumulators",
                    self.abits,
                    self.wbits + 1,
                    self.acc_bits
                ),
            ));
        }
        if crate::arith::shift_av::av_fraction_bits(k as u64, self.abits, self.acc_bits).is_none() {
            return Err(bad(
                "--shape",
                format!(
                    "K = {k} keys of u{} codes overflow the s{} attention x V accumulator even \
                     with F = 0",
                    self.abits, self.acc_bits
                ),
            ));
        }
        Ok(())
    }

    /// `K * amax * wmax`: the largest `|sum_k a w|`.
    fn product_span(&self) -> i128 {
        let amax = (1i128 << self.abits) - 1;
        let wmax = (1i128 << self.wbits) - 1;
        self.shape[1] as i128 * amax * wmax
    }
}

/// The vectors and what the manifest records about them.
pub fn generate(spec: &RandomSpec) -> Result<(Vec<GoldenFile>, RandomInfo)> {
    spec.check()?;
    let mut rng = StdRng::seed_from_u64(spec.seed);
    let mut files = Vec::new();
    matmul(spec, &mut rng, &mut files)?;
    let scales = logcode(spec, &mut rng, &mut files);
    let f = shift_av(spec, &mut rng, &mut files)?;
    super::random_units::generate(spec, &mut rng, &mut files)?;
    super::random_pool::generate(spec, &mut rng, &mut files);
    let info = RandomInfo {
        seed: spec.seed,
        shape: spec.shape,
        wbits: spec.wbits,
        abits: spec.abits,
        acc_bits: spec.acc_bits,
        av_fraction_bits: f,
        logcode_scales: scales,
    };
    Ok((files, info))
}

/// `(files, directory)`: where [`push`] adds a file.
type Out<'a> = (&'a mut Vec<GoldenFile>, &'a str);

fn push<T: Copy + Into<i128>>(
    (files, dir): Out<'_>,
    kind: Kind,
    name: &str,
    shape: &[usize],
    ty: (u32, bool),
    data: &[T],
    what: &str,
) {
    files.push(GoldenFile::new(
        kind,
        dir,
        &format!("{dir}.{name}"),
        shape,
        ty,
        data,
        what,
    ));
}

/// U1 + U2: codes, operands, bias and requantization per column; accumulators and outputs.
/// Every fifth row (from row 1) is all-maximum codes, every fifth (from row 3) all zero; operands
/// include `+-(2^wbits - 1)` regularly; columns 5 and 6 of every 7 carry a bias that drives the
/// accumulator to the edge of its range; one column in four has a narrowed clamp.
fn matmul(spec: &RandomSpec, rng: &mut StdRng, files: &mut Vec<GoldenFile>) -> Result<()> {
    let [m, k, n] = spec.shape;
    let (abits, wbits, acc_bits) = (spec.abits, spec.wbits, spec.acc_bits);
    let amax = (1u32 << abits) - 1;
    let wmax = (1i32 << wbits) - 1;
    let a: Vec<u8> = (0..m * k)
        .map(|i| match (i / k) % 5 {
            1 => amax as u8,
            3 => 0,
            _ => rng.random_range(0..=amax) as u8,
        })
        .collect();
    let w: Vec<i32> = (0..k * n)
        .map(|i| match i % 11 {
            0 => wmax,
            1 => -wmax,
            _ => rng.random_range(-wmax..=wmax),
        })
        .collect();
    // Accumulators stay within +-(2^(acc-1) - 1): the bias takes what the products leave.
    let lim = (1i64 << (acc_bits - 1)) - 1;
    let col_range = |c: usize| -> (i64, i64) {
        (0..k).fold((0i64, 0i64), |(lo, hi), kk| {
            let p = i64::from(amax) * i64::from(w[kk * n + c]);
            (lo + p.min(0), hi + p.max(0))
        })
    };
    let std = ((k as f64).sqrt() * f64::from(amax) * f64::from(wmax) / 3.0).max(1.0);
    let bias: Vec<i64> = (0..n)
        .map(|c| {
            let (lo, hi) = col_range(c);
            let typical = (std as i64).min(lim - hi).min(lim + lo).max(0);
            match c % 7 {
                5 => lim - hi,
                6 => -lim - lo,
                _ => rng.random_range(-typical..=typical),
            }
        })
        .collect();
    let mut requant = Vec::with_capacity(n);
    for _ in 0..n {
        let mult = f64::from(amax) / (4.0 * std) * rng.random_range(0.5..2.0);
        let zp = rng.random_range(0..=amax as i32);
        let mut r = Requant::to_codes(mult, zp, abits, "random matmul")?;
        if rng.random_range(0..4) == 0 {
            r.lo = rng.random_range(0..=amax as i32 / 2);
            r.hi = rng.random_range(r.lo..=amax as i32);
        }
        requant.push(r);
    }
    let acc = matmul_acc(&a, &w, &bias, m, k);
    let out: Vec<i32> = acc
        .iter()
        .enumerate()
        .map(|(i, &x)| requant[i % n].apply(x))
        .collect();
    let (p, act) = (Kind::Parameter, Kind::Activation);
    let d = "matmul";
    let ab = unsigned(abits);
    push(
        (&mut *files, d),
        act,
        "a",
        &[m, k],
        ab,
        &a,
        "activation codes a[m][k] (U1)",
    );
    push(
        (&mut *files, d),
        p,
        "w",
        &[k, n],
        signed(wbits + 1),
        &w,
        "stationary operands w[k][n] (U1)",
    );
    push(
        (&mut *files, d),
        p,
        "bias",
        &[n],
        signed(acc_bits),
        &bias,
        "bias per column (U1)",
    );
    let col = |f: fn(&Requant) -> i32| requant.iter().map(f).collect::<Vec<i32>>();
    let m0: Vec<u32> = requant.iter().map(|r| r.m0).collect();
    let shift: Vec<u32> = requant.iter().map(|r| r.shift).collect();
    push(
        (&mut *files, d),
        p,
        "m0",
        &[n],
        unsigned(31),
        &m0,
        "multiplier M0 per column (U2)",
    );
    push(
        (&mut *files, d),
        p,
        "shift",
        &[n],
        unsigned(6),
        &shift,
        "right shift n per column (U2)",
    );
    push(
        (&mut *files, d),
        p,
        "zero_point",
        &[n],
        signed(32),
        &col(|r| r.zero_point),
        "output zero point per column (U2)",
    );
    push(
        (&mut *files, d),
        p,
        "lo",
        &[n],
        ab,
        &col(|r| r.lo),
        "lower clamp per column (U2)",
    );
    push(
        (&mut *files, d),
        p,
        "hi",
        &[n],
        ab,
        &col(|r| r.hi),
        "upper clamp per column (U2)",
    );
    push(
        (&mut *files, d),
        act,
        "acc",
        &[m, n],
        signed(acc_bits),
        &acc,
        "accumulators acc[m][n] = bias[n] + sum_k a[m][k] w[k][n] (U1)",
    );
    push(
        (&mut *files, d),
        act,
        "out",
        &[m, n],
        ab,
        &out,
        "requantized outputs out[m][n] (U2)",
    );
    Ok(())
}

/// The probabilities whose mantissa lies at or next to one of `params`' thresholds, for every
/// exponent, plus 0, 1, 2^16 and the powers of two.
fn special_probabilities(params: &LogCodeParams) -> Vec<u32> {
    let mut v = vec![0u32, 1, 65535, 65536];
    v.extend((0..=PBITS).map(|e| 1u32 << e));
    for e in 0..MBITS + 1 {
        let (lo, hi) = (1u32 << e, (2u32 << e) - 1);
        for &t in &params.thresholds {
            let p0 = t >> (MBITS - e);
            for p in [p0.saturating_sub(1), p0, p0 + 1] {
                if (lo..=hi).contains(&p) {
                    v.push(p);
                }
            }
        }
    }
    v.sort_unstable();
    v.dedup();
    v
}

/// U3: `LOGCODE_SETS` parameter sets (the first for s = 1, the others for random scales in
/// [2^-12, 2)), each with `LOGCODE_PROBS` probabilities: the special ones, then random ones.
fn logcode(spec: &RandomSpec, rng: &mut StdRng, files: &mut Vec<GoldenFile>) -> Vec<f64> {
    let abits = spec.abits;
    let mut scales = vec![1.0f64];
    scales.extend((1..LOGCODE_SETS).map(|_| 2f64.powf(rng.random_range(-12.0..1.0))));
    let (mut c_int, mut thr, mut ps, mut codes, mut zeros) =
        (vec![], vec![], vec![], vec![], vec![]);
    for &s in &scales {
        let params = LogCodeParams::from_scale(s, abits);
        let mut p = special_probabilities(&params);
        p.truncate(LOGCODE_PROBS);
        while p.len() < LOGCODE_PROBS {
            // Half uniform, half log-uniform (small probabilities are where codes change fast).
            let x = if rng.random_range(0..2) == 0 {
                rng.random_range(0..=65536u32)
            } else {
                let e = rng.random_range(0..=15u32);
                rng.random_range(1u32 << e..2u32 << e)
            };
            p.push(x);
        }
        c_int.push(params.c_int);
        thr.extend(params.thresholds);
        for &x in &p {
            let LogCode { code, zero } = params.code(x);
            codes.push(code);
            zeros.push(u8::from(zero));
        }
        ps.extend(p);
    }
    let (sets, np) = (LOGCODE_SETS, LOGCODE_PROBS);
    let (p, act) = (Kind::Parameter, Kind::Activation);
    let d = "logcode";
    push(
        (&mut *files, d),
        p,
        "c_int",
        &[sets],
        signed(16),
        &c_int,
        "C_INT per parameter set (U3)",
    );
    push(
        (&mut *files, d),
        p,
        "thresholds",
        &[sets, 3],
        unsigned(PBITS + 1),
        &thr,
        "[T_1, T_0, T_-1] per parameter set (U3)",
    );
    push(
        (&mut *files, d),
        act,
        "p",
        &[sets, np],
        unsigned(PBITS + 1),
        &ps,
        "probabilities p / 2^16 per parameter set (U3 input)",
    );
    push(
        (&mut *files, d),
        act,
        "code",
        &[sets, np],
        unsigned(abits),
        &codes,
        "log2 codes (0 where the zero flag is set) (U3)",
    );
    push(
        (&mut *files, d),
        act,
        "zero",
        &[sets, np],
        unsigned(1),
        &zeros,
        "exact-zero flags (U3)",
    );
    scales
}

/// U4: `M` query rows of `K` codes and zero flags against `K x N` value operands. Row patterns by
/// `row % 6`: 0 all code 0 (no shift), 1 all exact zero, 2 odd codes only, others random with a
/// tenth exact zeros; value columns 0 and 1 of every 5 are all `+(2^abits - 1)` and all
/// `-(2^abits - 1)`. `F` is the largest that fits the accumulator for `K` keys.
fn shift_av(spec: &RandomSpec, rng: &mut StdRng, files: &mut Vec<GoldenFile>) -> Result<u32> {
    let [m, k, n] = spec.shape;
    let abits = spec.abits;
    let f = crate::arith::shift_av::av_fraction_bits(k as u64, abits, spec.acc_bits)
        .ok_or_else(|| Error::Invalid("no F fits (checked before)".into()))?;
    let cmax = (1u32 << abits) - 1;
    let vmax = (1i32 << abits) - 1;
    let codes: Vec<LogCode> = (0..m * k)
        .map(|i| match (i / k) % 6 {
            0 => LogCode {
                code: 0,
                zero: false,
            },
            1 => LogCode {
                code: 0,
                zero: true,
            },
            2 => LogCode {
                code: rng.random_range(0..=cmax) | 1,
                zero: false,
            },
            _ => {
                let zero = rng.random_range(0..10) == 0;
                LogCode {
                    code: if zero { 0 } else { rng.random_range(0..=cmax) },
                    zero,
                }
            }
        })
        .collect();
    let v: Vec<i32> = (0..k * n)
        .map(|i| match (i % n) % 5 {
            0 => vmax,
            1 => -vmax,
            _ => rng.random_range(-vmax..=vmax),
        })
        .collect();
    let mut out = Vec::with_capacity(m * n);
    let mut col = vec![0i32; k];
    for row in codes.chunks_exact(k) {
        for c in 0..n {
            for (j, x) in col.iter_mut().enumerate() {
                *x = v[j * n + c];
            }
            out.push(attention_value(row, &col, f));
        }
    }
    let code: Vec<u32> = codes.iter().map(|c| c.code).collect();
    let zero: Vec<u8> = codes.iter().map(|c| u8::from(c.zero)).collect();
    let (p, act) = (Kind::Parameter, Kind::Activation);
    let d = "shift_av";
    push(
        (&mut *files, d),
        act,
        "code",
        &[m, k],
        unsigned(abits),
        &code,
        "log2 codes c[m][j] (0 where the zero flag is set) (U4 input)",
    );
    push(
        (&mut *files, d),
        act,
        "zero",
        &[m, k],
        unsigned(1),
        &zero,
        "exact-zero flags (U4 input)",
    );
    push(
        (&mut *files, d),
        act,
        "v",
        &[k, n],
        signed(abits + 1),
        &v,
        "value operands v[j][n] = V_code - z_v (U4 input)",
    );
    push(
        (&mut *files, d),
        p,
        "f",
        &[1],
        unsigned(5),
        &[f],
        "fraction bits F (U4)",
    );
    push(
        (&mut *files, d),
        act,
        "out",
        &[m, n],
        signed(spec.acc_bits),
        &out,
        "out[m][n] = E + round_shift(O * SQRT2, 15) over the K keys (U4)",
    );
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_parse_or_fail_clearly() {
        assert_eq!(parse_shape("16x64x32").unwrap(), [16, 64, 32]);
        assert_eq!(parse_shape("1X1x1").unwrap(), [1, 1, 1]);
        for (s, want) in [
            ("4x4", "three sizes"),
            ("4x4x4x4", "three sizes"),
            ("4xx8", "K is missing"),
            ("x4x8", "M is missing"),
            ("4x4x", "N is missing"),
            ("4xax8", "K = \"a\" is not a decimal number"),
            ("4x-1x8", "is not a decimal number"),
            ("4x0x8", "K must be at least 1"),
            ("70000x1x1", "too large"),
            ("99999999999999999999999x1x1", "too large"),
            ("4096x4096x4096", "more than"),
            ("", "three sizes"),
        ] {
            let e = parse_shape(s).unwrap_err().to_string();
            assert!(e.contains(want) && e.contains("--shape"), "{s}: {e}");
        }
    }

    #[test]
    fn specials_sit_at_the_thresholds() {
        let params = LogCodeParams::from_scale(1.0, 4);
        let p = special_probabilities(&params);
        assert!(p.len() <= LOGCODE_PROBS);
        for x in [0, 1, 65536, 55108 >> 15, 27554 / 2, 27554 / 2 + 1] {
            assert!(p.contains(&x), "{x}");
        }
        // Sorted by p: the exact zero, then codes 15 down to 0, each change once.
        let codes: Vec<_> = p.iter().map(|&x| params.code(x)).collect();
        assert_eq!(codes.windows(2).filter(|w| w[0] != w[1]).count(), 16);
        assert!((0..16).all(|c| codes.iter().any(|x| x.code == c && !x.zero)));
    }

    #[test]
    fn widths_and_depth_are_checked() {
        let spec = |w, a, acc, k| RandomSpec {
            seed: 0,
            shape: [2, k, 2],
            wbits: w,
            abits: a,
            acc_bits: acc,
        };
        assert!(spec(8, 8, 32, 64).check().is_ok());
        assert!(
            spec(9, 8, 32, 64)
                .check()
                .unwrap_err()
                .to_string()
                .contains("--wbits")
        );
        assert!(
            spec(8, 1, 32, 64)
                .check()
                .unwrap_err()
                .to_string()
                .contains("--abits")
        );
        assert!(
            spec(8, 8, 33, 64)
                .check()
                .unwrap_err()
                .to_string()
                .contains("--acc-bits")
        );
        let e = spec(8, 8, 16, 64).check().unwrap_err().to_string();
        assert!(e.contains("does not fit s16"), "{e}");
    }

    /// A 6x14x5 W2A2 job at 8 bits: the matmul reaches 14 * 3 * 3 = 126 and attention x V
    /// 14 * 3 * 2^F, so F = 1 (84) fits s8 and the job is accepted.
    #[test]
    fn narrow_jobs_take_the_exact_av_bound() {
        let spec = RandomSpec {
            seed: 3,
            shape: [6, 14, 5],
            wbits: 2,
            abits: 2,
            acc_bits: 8,
        };
        let (files, info) = generate(&spec).unwrap();
        assert_eq!(info.av_fraction_bits, 1);
        let out = files
            .iter()
            .find(|f| f.entry.name == "shift_av.out")
            .unwrap();
        assert!(out.data.iter().all(|&v| (-128..=127).contains(&v)));
        assert!(
            out.data.contains(&84),
            "the all-code-0 row of +3 values reaches the bound"
        );
    }
}
