//! Log-domain quantizers of post-Softmax activations (paper Eq. 10-11 and 18-20).
//!
//! # log-sqrt2 (the reference code's `LogSqrt2Quantizer`)
//!
//! * code: `q_raw = round(-2 * log2(x / s))` (round half to even); an element with
//!   `q_raw >= 2^b` (including `x = 0`, where the log is `-inf`) becomes an **exact zero**;
//!   otherwise `q = clamp(q_raw, 0, 2^b - 1)`. So there are `2^b` non-zero levels plus zero.
//! * value: `x_hat = 2^(-ceil(q/2)) * odd(q) * s`, evaluated left to right in f32 exactly as the
//!   reference does, with `odd(q) = f32(sqrt(2) - 1) * (q mod 2) + 1` ([`ODD_FACTOR`] for odd q).
//!   This is `s * sqrt(2)^(-q)`.
//! * `s` = `quantile(x, p)` for the p in [`PERCENTILES`] with the lowest mean squared error; one
//!   `s` per tensor.
//!
//! # log2 (Eq. 10-11; the paper's ablation, Table 4)
//!
//! `q_raw = round(-log2(x / s))`, the same exact-zero and clamp rules, `x_hat = 2^(-q) * s`, the
//! same initialisation.
//!
//! # The reparameterized log2-with-parity form (Eq. 18-20)
//!
//! [`Log2Reparam`] is what the hardware sees: the code of Eq. 18,
//! `clip(round(-2 log2(A / s)), 0, 2^b - 1)`, which *is* the log-sqrt2 code, split into a right
//! shift `ceil(q/2) = -floor(-q/2)` and a parity bit, and the two per-parity scales of Eq. 20,
//! `s~ = s * (1(q odd) * (sqrt(2) - 1) + 1)`, i.e. `s~_even = s`, `s~_odd = s * sqrt(2)`. Then
//! `x_hat = s~[parity] * 2^(-shift)` (Eq. 19). The exact zero is an explicit variant,
//! [`ShiftCode::Zero`], never a reserved shift.
//!
//! Bit-exactness with the log-sqrt2 values: `s~_odd` is kept as the exact real product
//! `s * ODD_FACTOR` (it fits an f64: 24 x 24 significant bits) and `s~ * 2^(-shift)` is rounded to
//! f32 once. The reference rounds `2^(-k) * ODD_FACTOR` first, which is exact while that product is
//! a normal f32 (`k <= 126`), so both are the single rounding of the same real number and agree to
//! the bit for every code at `b <= 7` and for every code but the two odd codes 253 and 255
//! (`k = 127, 128`) at `b = 8`. There the reference's intermediate is subnormal and loses one or two
//! bits of `ODD_FACTOR`; the results are subnormal (below `1.2e-38 * s`) and differ by at most one
//! unit of the subnormal spacing (`2^-149`) for `s <= 1`. The tests check all of this exhaustively.
//!
//! Inputs are probabilities (`x >= 0`). A negative or NaN input has no logarithm; it becomes the
//! exact zero (the reference would produce NaN).

use rayon::prelude::*;

use super::granularity::par_sum;
use super::num::{pow2, round_half_even};
use super::quantile::quantiles;
use super::search::{PERCENTILES, pick_best};
use super::uniform::check_bits;
use crate::error::{Error, Result};

/// The reference's odd-code factor `(x_quant % 2) * (sqrt(2) - 1) + 1` for odd codes, in f32:
/// `f32(sqrt(2) - 1) + 1 = 1.41421354` (bits `0x3fb504f3`, which is also `f32(sqrt(2))`).
pub const ODD_FACTOR: f32 = (std::f64::consts::SQRT_2 - 1.0) as f32 + 1.0;

/// Base of the logarithmic grid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LogBase {
    /// Levels `s * sqrt(2)^-q` (the reference quantizer of post-Softmax activations).
    Sqrt2,
    /// Levels `s * 2^-q` (Eq. 10-11).
    Two,
}

/// One element of a log-quantized tensor: a level `q` in `0..2^b`, or the exact zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LogCode {
    Zero,
    Level(u8),
}

/// A log-sqrt2 or log2 quantizer with one scale per tensor.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LogQuantizer {
    base: LogBase,
    bits: u32,
    scale: f32,
}

/// The raw (unclamped) code: `round(-2 log2(x/s))` or `round(-log2(x/s))`, in f32.
#[inline(always)]
fn raw_code(base: LogBase, x: f32, s: f32) -> f32 {
    let l = (x / s).log2();
    match base {
        // The reference: torch.round(-1 * (x / delta).log2() * 2).
        LogBase::Sqrt2 => round_half_even(-l * 2.0),
        LogBase::Two => round_half_even(-l),
    }
}

/// Code from a raw code: zero if `raw >= 2^b` (or NaN), else `max(raw, 0)`.
#[inline(always)]
fn clip(raw: f32, levels: f32) -> Option<usize> {
    if raw < levels {
        Some(raw.max(0.0) as usize)
    } else {
        None
    }
}

/// The value of level `q`, evaluated as the reference does.
fn level_value(base: LogBase, q: u32, s: f32) -> f32 {
    match base {
        LogBase::Sqrt2 => {
            let odd = if q % 2 == 1 { ODD_FACTOR } else { 1.0 };
            pow2(-(q.div_ceil(2) as i32)) * odd * s
        }
        LogBase::Two => pow2(-(q as i32)) * s,
    }
}

fn level_table(base: LogBase, bits: u32, s: f32) -> Vec<f32> {
    (0..1u32 << bits).map(|q| level_value(base, q, s)).collect()
}

#[inline(always)]
fn fake_quant_with(base: LogBase, x: f32, s: f32, table: &[f32]) -> f32 {
    match clip(raw_code(base, x, s), table.len() as f32) {
        Some(q) => table[q],
        None => 0.0,
    }
}

impl LogQuantizer {
    /// A quantizer with a known scale (positive, finite).
    pub fn new(base: LogBase, bits: u32, scale: f32) -> Result<Self> {
        check_bits(bits, "LogQuantizer::new")?;
        if !(scale > 0.0 && scale.is_finite()) {
            return Err(Error::Invalid(format!(
                "LogQuantizer::new: scale {scale} must be positive and finite"
            )));
        }
        Ok(LogQuantizer { base, bits, scale })
    }

    /// Percentile/MSE initialisation: `s = quantile(x, p)` for p in [`PERCENTILES`], lowest mean
    /// squared error of `x - x_hat` over the tensor, ties keep the first; one working copy for the
    /// quantiles, the three errors summed in one parallel pass without a dequantized copy.
    ///
    /// A candidate that is not positive (more than a fraction `1 - p` of the values are zero) is
    /// replaced by `max(x)`, the reference's starting value, or 1 if that is not positive either.
    /// If every candidate's error is NaN (not possible with finite inputs) the result is that same
    /// fallback, as in the reference.
    pub fn init(x: &[f32], bits: u32, base: LogBase) -> Result<Self> {
        check_bits(bits, "LogQuantizer::init")?;
        if x.is_empty() {
            return Err(Error::Shape {
                context: "LogQuantizer::init".into(),
                reason: "empty tensor".into(),
            });
        }
        let q = quantiles(x, &PERCENTILES);
        let cands = scale_candidates(x, &q);
        let tables = cands.map(|s| level_table(base, bits, s));
        let sse = par_sum::<3, _>(x, |v, acc| {
            for ((a, &s), t) in acc.iter_mut().zip(&cands).zip(&tables) {
                let e = f64::from(v - fake_quant_with(base, v, s, t));
                *a += e * e;
            }
        });
        let scale = if sse.iter().all(|s| s.is_nan()) {
            max_or_one(x)
        } else {
            cands[pick_best(&sse)]
        };
        Ok(LogQuantizer { base, bits, scale })
    }

    pub fn base(&self) -> LogBase {
        self.base
    }

    pub fn bits(&self) -> u32 {
        self.bits
    }

    /// The scale `s` (the largest level).
    pub fn scale(&self) -> f32 {
        self.scale
    }

    /// Code of one value.
    #[inline]
    pub fn code(&self, x: f32) -> LogCode {
        match clip(
            raw_code(self.base, x, self.scale),
            (1u32 << self.bits) as f32,
        ) {
            Some(q) => LogCode::Level(q as u8),
            None => LogCode::Zero,
        }
    }

    /// Value of a code (`0.0` for [`LogCode::Zero`]).
    pub fn dequantize(&self, c: LogCode) -> f32 {
        match c {
            LogCode::Zero => 0.0,
            LogCode::Level(q) => level_value(self.base, u32::from(q), self.scale),
        }
    }

    /// The `2^b` level values, index = code.
    pub fn levels(&self) -> Vec<f32> {
        level_table(self.base, self.bits, self.scale)
    }

    /// Fake quantization of one value.
    pub fn fake_quant_value(&self, x: f32) -> f32 {
        self.dequantize(self.code(x))
    }

    /// Quantize then dequantize in place (the fake-quant forward), in parallel.
    pub fn fake_quant_in_place(&self, x: &mut [f32]) {
        let table = self.levels();
        let (base, s) = (self.base, self.scale);
        x.par_chunks_mut(super::granularity::CHUNK).for_each(|c| {
            for v in c {
                *v = fake_quant_with(base, *v, s, &table);
            }
        });
    }

    /// Codes of a tensor.
    pub fn quantize_codes(&self, x: &[f32]) -> Vec<LogCode> {
        x.par_iter().map(|&v| self.code(v)).collect()
    }

    /// Values of codes.
    pub fn dequantize_codes(&self, codes: &[LogCode]) -> Vec<f32> {
        let table = self.levels();
        codes
            .par_iter()
            .map(|c| match c {
                LogCode::Zero => 0.0,
                LogCode::Level(q) => table[usize::from(*q)],
            })
            .collect()
    }

    /// The reparameterized log2-with-parity form (Eq. 18-20) of a log-sqrt2 quantizer.
    pub fn reparam(&self) -> Result<Log2Reparam> {
        if self.base != LogBase::Sqrt2 {
            return Err(Error::Invalid(
                "LogQuantizer::reparam: only a log-sqrt2 quantizer has the Eq. 18-20 form".into(),
            ));
        }
        Log2Reparam::new(self.bits, self.scale)
    }
}

/// A code of the reparameterized quantizer: the exact zero, or a right shift `ceil(q/2)` and the
/// parity of `q` (Eq. 19: `x_hat = s~[odd] * 2^-shift`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ShiftCode {
    Zero,
    Level { shift: u8, odd: bool },
}

impl ShiftCode {
    /// Splits a log-sqrt2 code `q` into `(ceil(q/2), q odd)`.
    pub fn from_log_code(c: LogCode) -> Self {
        match c {
            LogCode::Zero => ShiftCode::Zero,
            LogCode::Level(q) => ShiftCode::Level {
                shift: q.div_ceil(2),
                odd: q % 2 == 1,
            },
        }
    }

    /// The log-sqrt2 code `q = 2 * shift - odd`.
    pub fn to_log_code(self) -> LogCode {
        match self {
            ShiftCode::Zero => LogCode::Zero,
            ShiftCode::Level { shift, odd } => LogCode::Level(2 * shift - u8::from(odd)),
        }
    }
}

/// The three candidate scales from the quantiles `q` of `x`: each positive finite quantile, else
/// the maximum of `x` (or 1 when that is not positive and finite either).
pub(crate) fn scale_candidates(x: &[f32], q: &[f32]) -> [f32; 3] {
    [q[0], q[1], q[2]].map(|s| {
        if s > 0.0 && s.is_finite() {
            s
        } else {
            max_or_one(x)
        }
    })
}

/// The maximum of `x` if it is positive and finite, else 1: the scale when no quantile serves.
pub(crate) fn max_or_one(x: &[f32]) -> f32 {
    let m = x.par_iter().copied().reduce(|| f32::NEG_INFINITY, f32::max);
    if m > 0.0 && m.is_finite() { m } else { 1.0 }
}

/// The log-sqrt2 quantizer in its log2-with-parity form (Eq. 18-20).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Log2Reparam {
    bits: u32,
    scale: f32,
}

impl Log2Reparam {
    /// From the log-sqrt2 scale `s` (positive, finite) and the code width.
    pub fn new(bits: u32, scale: f32) -> Result<Self> {
        LogQuantizer::new(LogBase::Sqrt2, bits, scale)?;
        Ok(Log2Reparam { bits, scale })
    }

    pub fn bits(&self) -> u32 {
        self.bits
    }

    /// The log-sqrt2 scale `s`.
    pub fn scale(&self) -> f32 {
        self.scale
    }

    /// Largest shift, `ceil((2^b - 1) / 2) = 2^(b-1)`.
    pub fn max_shift(&self) -> u8 {
        1u8 << (self.bits - 1)
    }

    /// Eq. 20, exact: `[s, s * ODD_FACTOR]` (even codes, odd codes) as f64 (the product of two f32
    /// is exact in f64).
    pub fn scale_tilde_exact(&self) -> [f64; 2] {
        let s = f64::from(self.scale);
        [s, s * f64::from(ODD_FACTOR)]
    }

    /// Eq. 20 rounded to f32, for export: `[s, f32(s * sqrt(2))]`.
    pub fn scale_tilde(&self) -> [f32; 2] {
        self.scale_tilde_exact().map(|v| v as f32)
    }

    /// Eq. 18: `clip(round(-2 * log2(x / s)), 0, 2^b - 1)`, the exact zero for `raw >= 2^b`,
    /// split into shift and parity.
    #[inline]
    pub fn code(&self, x: f32) -> ShiftCode {
        let raw = round_half_even(-2.0 * (x / self.scale).log2());
        // zero for raw >= 2^b (and NaN), else max(raw, 0)
        let Some(q) = clip(raw, (1u32 << self.bits) as f32) else {
            return ShiftCode::Zero;
        };
        let q = q as u8;
        ShiftCode::Level {
            shift: q.div_ceil(2),
            odd: q & 1 == 1,
        }
    }

    /// Eq. 19 with the scale of Eq. 20: `s~[odd] * 2^(-shift)`, the exact product rounded to f32
    /// once (see the module documentation for the equality with the log-sqrt2 values).
    pub fn dequantize(&self, c: ShiftCode) -> f32 {
        match c {
            ShiftCode::Zero => 0.0,
            ShiftCode::Level { shift, odd } => {
                let s = self.scale_tilde_exact()[usize::from(odd)];
                (s * 2f64.powi(-i32::from(shift))) as f32
            }
        }
    }

    /// Codes of a tensor.
    pub fn quantize_codes(&self, x: &[f32]) -> Vec<ShiftCode> {
        x.par_iter().map(|&v| self.code(v)).collect()
    }

    /// Values of codes.
    pub fn dequantize_codes(&self, codes: &[ShiftCode]) -> Vec<f32> {
        codes.par_iter().map(|&c| self.dequantize(c)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::quantizer::testutil::{shuffle, softmax_rows};

    fn lv(q: u8) -> LogCode {
        LogCode::Level(q)
    }

    #[test]
    fn odd_factor_is_the_reference_constant() {
        assert_eq!(ODD_FACTOR.to_bits(), 0x3fb5_04f3);
        assert_eq!(ODD_FACTOR, std::f32::consts::SQRT_2);
    }

    #[test]
    fn log_sqrt2_by_hand() {
        // s = 1, 4 bits (codes 0..15, zero for raw >= 16).
        let q = LogQuantizer::new(LogBase::Sqrt2, 4, 1.0).unwrap();
        // 1 -> -2 log2 1 = 0 -> code 0 -> 2^0 * 1 * 1 = 1
        assert_eq!(q.code(1.0), lv(0));
        // 0.5 -> -2 * -1 = 2 -> code 2 -> 2^-1 = 0.5
        assert_eq!(q.code(0.5), lv(2));
        assert_eq!(q.fake_quant_value(0.5), 0.5);
        // 0.7 -> -2 log2 0.7 = 1.029 -> 1 -> 2^-1 * 1.41421354 = 0.70710677
        assert_eq!(q.code(0.7), lv(1));
        assert_eq!(q.fake_quant_value(0.7), 0.707_106_77);
        // 0.6 -> 1.474 -> 1; 0.59 -> 1.522 -> 2
        assert_eq!(q.code(0.6), lv(1));
        assert_eq!(q.code(0.59), lv(2));
        // x > s: 3 -> -3.17 -> -3 -> clamp 0 -> x_hat = s = 1
        assert_eq!(q.code(3.0), lv(0));
        assert_eq!(q.fake_quant_value(3.0), 1.0);
        // 2^-7 -> 14 -> 2^-7; 2^-7.5 ~ 0.0055243 -> 15 -> 2^-8 * sqrt2
        assert_eq!(q.code(2f32.powi(-7)), lv(14));
        assert_eq!(q.code(0.005_524_3), lv(15));
        assert_eq!(q.fake_quant_value(0.005_524_3), 2f32.powi(-8) * ODD_FACTOR);
        // 2^-8 -> raw 16 >= 16 -> exact zero; 0 -> log2 = -inf -> raw +inf -> zero
        assert_eq!(q.code(2f32.powi(-8)), LogCode::Zero);
        assert_eq!(q.code(0.0), LogCode::Zero);
        assert_eq!(q.fake_quant_value(0.0).to_bits(), 0);
        // just above the zero boundary: 2^-7.75 = 0.00464534 -> raw 15.5 in exact arithmetic.
        // 0.0046454 -> 15.49998 -> 15 (level 2^-8 sqrt2); 0.0046453 -> 15.50004 -> 16 -> zero
        assert_eq!(q.code(0.004_645_4), lv(15));
        assert_eq!(q.code(0.004_645_3), LogCode::Zero);
        // invalid inputs: negative / NaN -> exact zero, never NaN
        assert_eq!(q.code(-0.1), LogCode::Zero);
        assert_eq!(q.fake_quant_value(f32::NAN), 0.0);
        // +inf -> log2 inf -> raw -inf -> code 0 -> s
        assert_eq!(q.code(f32::INFINITY), lv(0));

        // 2 bits, s = 0.25: levels 0.25, 0.1767767, 0.125, 0.0883883; 0.05 -> -2 log2 0.2 = 4.64
        // -> 5 >= 4 -> zero; 0.07 -> -2 log2 0.28 = 3.67 -> 4 -> zero; 0.08 -> 3.29 -> 3.
        let q2 = LogQuantizer::new(LogBase::Sqrt2, 2, 0.25).unwrap();
        assert_eq!(
            q2.levels(),
            vec![
                0.25,
                0.25 * 0.5 * ODD_FACTOR,
                0.125,
                0.25 * 0.25 * ODD_FACTOR
            ]
        );
        assert_eq!(
            q2.quantize_codes(&[0.05, 0.07, 0.08, 0.2, 1.0]),
            vec![LogCode::Zero, LogCode::Zero, lv(3), lv(1), lv(0)]
        );
    }

    #[test]
    fn log2_by_hand() {
        // s = 1, 3 bits (codes 0..7, zero for raw >= 8).
        let q = LogQuantizer::new(LogBase::Two, 3, 1.0).unwrap();
        // 0.3 -> -log2 0.3 = 1.737 -> 2 -> 0.25
        assert_eq!((q.code(0.3), q.fake_quant_value(0.3)), (lv(2), 0.25));
        // 0.75 -> 0.415 -> 0 -> 1;  0.7 -> 0.515 -> 1 -> 0.5 (the coarse interval of Sec. 3.3)
        assert_eq!(q.fake_quant_value(0.75), 1.0);
        assert_eq!(q.fake_quant_value(0.7), 0.5);
        // 0.006 -> 7.38 -> 7 -> 2^-7;  0.004 -> 7.97 -> 8 -> zero;  2^-7.5 boundary
        assert_eq!(q.fake_quant_value(0.006), 2f32.powi(-7));
        assert_eq!(q.code(0.004), LogCode::Zero);
        assert_eq!(q.code(0.0), LogCode::Zero);
        // above s: clamp to 0 -> s
        assert_eq!(q.fake_quant_value(5.0), 1.0);
        // 8 bits: level 255 = 2^-255 underflows to +0 in f32 (still a non-zero *code*).
        let q8 = LogQuantizer::new(LogBase::Two, 8, 1.0).unwrap();
        assert_eq!(q8.dequantize(lv(255)), 0.0);
        assert_eq!(q8.dequantize(lv(149)), f32::from_bits(1));
    }

    /// The crafted tensor (n = 100001, shuffled): 99899 x 0.004, 3 x 0.25, 96 x 0.5, 3 x 1.
    fn crafted() -> Vec<f32> {
        let mut v = Vec::new();
        for (value, count) in [(0.004f32, 99_899), (0.25, 3), (0.5, 96), (1.0, 3)] {
            v.extend(std::iter::repeat_n(value, count));
        }
        assert_eq!(v.len(), 100_001);
        shuffle(&mut v, 11);
        v
    }

    #[test]
    fn init_picks_the_middle_candidate() {
        // Quantile ranks as in uniform.rs: p = 0.999 -> v[99900..=99901] = 0.25,
        // 0.9999 -> v[99989..=99990] = 0.5, 0.99999 -> v[99998..=99999] = 1. At 4 bits:
        //  s = 0.25: 0.004 -> -2 log2(0.016) = 11.93 -> 12 -> 0.25 * 2^-6 = 2^-8 (err 9.375e-5);
        //            0.5 -> clamp 0 -> 0.25 (err 0.25, x96); 1 -> 0.25 (err 0.75, x3)
        //            SSE = 99899 * 8.79e-9 + 96 * 0.0625 + 3 * 0.5625 = 0.00088 + 6 + 1.6875 = 7.69
        //  s = 0.5:  0.004 -> -2 log2(0.008) = 13.93 -> 14 -> 0.5 * 2^-7 = 2^-8 (same error);
        //            0.25, 0.5 exact; 1 -> 0.5 (err 0.5, x3)
        //            SSE = 0.00088 + 0.75 = 0.75088
        //  s = 1:    0.004 -> -2 log2(0.004) = 15.93 -> 16 >= 16 -> zero (err 0.004, x99899);
        //            0.25, 0.5, 1 exact.  SSE = 99899 * 1.6e-5 = 1.598
        // -> s = 0.5.
        let x = crafted();
        let q = LogQuantizer::init(&x, 4, LogBase::Sqrt2).unwrap();
        assert_eq!(q.scale(), 0.5);
        let mut y = x.clone();
        q.fake_quant_in_place(&mut y);
        let sse: f64 = x
            .iter()
            .zip(&y)
            .map(|(a, b)| f64::from(a - b).powi(2))
            .sum();
        assert!((sse - 0.750_88).abs() < 1e-4, "{sse}");
        // The same tensor at 8 bits: no zeros any more (0.004 -> code 14 with s = 0.5 and code 16
        // with s = 1, both exactly 2^-8), so s = 1 (SSE 99899 * (0.004 - 2^-8)^2 only) wins.
        let q8 = LogQuantizer::init(&x, 8, LogBase::Sqrt2).unwrap();
        assert_eq!(q8.scale(), 1.0);
    }

    /// Independent naive init: full sort, f64 interpolation, dequantized copies.
    fn naive_init(x: &[f32], bits: u32, base: LogBase) -> f32 {
        let mut s = x.to_vec();
        s.sort_by(f32::total_cmp);
        let mut best = (f64::INFINITY, 0.0f32);
        for p in PERCENTILES {
            let pos = f64::from(p as f32) * (s.len() - 1) as f64;
            let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
            let d = (f64::from(s[lo]) + (pos - lo as f64) * f64::from(s[hi] - s[lo])) as f32;
            let deq: Vec<f32> = x
                .iter()
                .map(|&v| {
                    let l = (v / d).log2();
                    let raw = match base {
                        LogBase::Sqrt2 => (-2.0 * l).round_ties_even(),
                        LogBase::Two => (-l).round_ties_even(),
                    };
                    if raw >= (1 << bits) as f32 {
                        return 0.0;
                    }
                    let q = raw.clamp(0.0, ((1 << bits) - 1) as f32) as i32;
                    match base {
                        LogBase::Sqrt2 => {
                            let odd = if q % 2 == 1 { 2f64.sqrt() } else { 1.0 };
                            (2f64.powi(-((q + 1) / 2)) * odd * f64::from(d)) as f32
                        }
                        LogBase::Two => (2f64.powi(-q) * f64::from(d)) as f32,
                    }
                })
                .collect();
            let mse: f64 = x
                .iter()
                .zip(&deq)
                .map(|(a, b)| f64::from(a - b).powi(2))
                .sum::<f64>()
                / x.len() as f64;
            if mse < best.0 {
                best = (mse, d);
            }
        }
        best.1
    }

    #[test]
    fn init_matches_a_naive_search() {
        for (seed, bits) in [(1u64, 4u32), (2, 3), (3, 6), (4, 8)] {
            let x = softmax_rows(300, 197, seed);
            for base in [LogBase::Sqrt2, LogBase::Two] {
                let q = LogQuantizer::init(&x, bits, base).unwrap();
                let d = naive_init(&x, bits, base);
                assert!(
                    (q.scale() - d).abs() <= 1e-6 * d,
                    "{bits} {base:?}: {} vs {d}",
                    q.scale()
                );
            }
        }
        // Mostly zeros: every candidate quantile is 0 -> fallback max(x).
        let mut x = vec![0.0f32; 10_000];
        x[17] = 0.3;
        let q = LogQuantizer::init(&x, 4, LogBase::Sqrt2).unwrap();
        assert_eq!(q.scale(), 0.3);
        let q = LogQuantizer::init(&[0.0; 100], 4, LogBase::Sqrt2).unwrap();
        assert_eq!(q.scale(), 1.0);
        assert!(LogQuantizer::init(&[], 4, LogBase::Sqrt2).is_err());
        assert!(LogQuantizer::new(LogBase::Sqrt2, 4, 0.0).is_err());
    }

    /// Scales for the exhaustive tests: round numbers, awkward mantissas, tiny and large.
    fn scales() -> Vec<f32> {
        vec![
            1.0,
            0.5,
            0.3,
            1.0 / 3.0,
            0.123_456_79,
            0.999_999_94,
            0.707_106_77,
            1e-3,
            7.7e-5,
            2.0,
            std::f32::consts::PI,
            1e-20,
            3.0 * f32::MIN_POSITIVE,
            f32::from_bits(0x3f7f_fffe),
            f32::from_bits(0x3e80_0001),
            0.017_453_292,
        ]
    }

    #[test]
    fn reparam_dequant_equals_log_sqrt2_bit_for_bit() {
        let mut checked = 0;
        let mut tail = (0, 0); // (extreme codes compared, of which differing)
        for bits in 2..=8u32 {
            for s in scales() {
                let q = LogQuantizer::new(LogBase::Sqrt2, bits, s).unwrap();
                let r = q.reparam().unwrap();
                assert_eq!(r.max_shift(), 1 << (bits - 1));
                assert_eq!(r.scale_tilde()[0], s);
                for code in 0..(1u32 << bits) {
                    let c = LogCode::Level(code as u8);
                    let sc = ShiftCode::from_log_code(c);
                    assert_eq!(sc.to_log_code(), c);
                    let (a, b) = (q.dequantize(c), r.dequantize(sc));
                    let ShiftCode::Level { shift, odd } = sc else {
                        unreachable!()
                    };
                    assert_eq!(u32::from(shift), code.div_ceil(2));
                    assert_eq!(odd, code % 2 == 1);
                    if odd && shift >= 127 {
                        // The reference's 2^-shift * ODD_FACTOR is subnormal (module docs).
                        let bound = 1.0 + (s as f64 * 2f64.powi(126 - i32::from(shift))).ceil();
                        let ulps = (i64::from(a.to_bits()) - i64::from(b.to_bits())).abs();
                        assert!(
                            ulps as f64 <= bound,
                            "{bits} bits s {s:e} code {code}: {a:e} vs {b:e}"
                        );
                        tail.0 += 1;
                        tail.1 += usize::from(ulps != 0);
                    } else {
                        assert_eq!(
                            a.to_bits(),
                            b.to_bits(),
                            "{bits} bits s {s:e} code {code}: {a:e} vs {b:e}"
                        );
                        checked += 1;
                    }
                }
                assert_eq!(r.dequantize(ShiftCode::Zero).to_bits(), 0);
            }
        }
        // Every code at 2..7 bits and all but codes 253, 255 at 8 bits, for 16 scales.
        assert_eq!(checked, 16 * ((4 + 8 + 16 + 32 + 64 + 128) + 254));
        eprintln!(
            "extreme odd codes (8 bits, shift >= 127): {} compared, {} differ by <= 1 subnormal ulp",
            tail.0, tail.1
        );
    }

    /// Codes of the reparameterized quantizer vs the log-sqrt2 codes: every f32 in
    /// `[s * 2^-dense_octaves, s)`, every `step`-th f32 from 0 to `1e4 * s` (subnormals, the zero
    /// boundary, values above `s`), and the specials. Also the dequantized values.
    fn sweep_codes(bits: u32, s: f32, dense_octaves: i32, step: usize) {
        let q = LogQuantizer::new(LogBase::Sqrt2, bits, s).unwrap();
        let r = q.reparam().unwrap();
        let differs = |b: u32| {
            let x = f32::from_bits(b);
            ShiftCode::from_log_code(q.code(x)) != r.code(x)
        };
        let lo = (s * 2f32.powi(-dense_octaves)).to_bits();
        let bad = (lo..s.to_bits())
            .into_par_iter()
            .filter(|&b| differs(b))
            .count();
        assert_eq!(bad, 0, "{bits} bits s {s}: dense");
        let specials = [
            0u32,
            0x8000_0000,
            0x7f80_0000,
            0xff80_0000,
            0x7fc0_0000,
            (-0.5f32).to_bits(),
        ];
        let bad = (0..(s * 1e4).to_bits())
            .into_par_iter()
            .step_by(step)
            .chain(specials)
            .filter(|&b| differs(b))
            .count();
        assert_eq!(bad, 0, "{bits} bits s {s}: sparse");
        // The values: dequantized reparam code = log-sqrt2 fake quantization (these inputs reach
        // codes up to ~180, below the subnormal corner of the module docs).
        for k in 0..2000 {
            let x = s * (k as f32 / 1000.0).powi(9);
            let (a, b) = (q.fake_quant_value(x), r.dequantize(r.code(x)));
            assert_eq!(a.to_bits(), b.to_bits(), "{x:e}");
        }
    }

    #[test]
    fn reparam_codes_equal_log_sqrt2_codes_on_a_dense_sweep() {
        // ~8.4M dense + ~9M sparse inputs per case.
        for bits in [2u32, 4, 8] {
            for s in [1.0f32, 0.123_456_79, 1e-3] {
                sweep_codes(bits, s, 1, 127);
            }
        }
    }

    /// Every f32 from 0 to 1e4 s (about 1.1e9 inputs per case, 6 cases; about 3 minutes).
    #[test]
    #[ignore]
    fn reparam_codes_equal_log_sqrt2_codes_everywhere() {
        for bits in [4u32, 8] {
            for s in [1.0f32, 0.3, 2.0] {
                sweep_codes(bits, s, 20, 1);
            }
        }
    }

    #[test]
    fn fake_quant_paths_agree() {
        let x = softmax_rows(64, 50, 3);
        for base in [LogBase::Sqrt2, LogBase::Two] {
            let q = LogQuantizer::init(&x, 4, base).unwrap();
            let mut y = x.clone();
            q.fake_quant_in_place(&mut y);
            let codes = q.quantize_codes(&x);
            assert_eq!(q.dequantize_codes(&codes), y);
            for (a, b) in x.iter().zip(&y) {
                assert_eq!(q.fake_quant_value(*a), *b);
            }
        }
        let r = LogQuantizer::init(&x, 4, LogBase::Sqrt2)
            .unwrap()
            .reparam()
            .unwrap();
        let codes = r.quantize_codes(&x);
        let q = LogQuantizer::new(LogBase::Sqrt2, 4, r.scale()).unwrap();
        assert_eq!(
            r.dequantize_codes(&codes),
            q.dequantize_codes(&q.quantize_codes(&x))
        );
        assert!(
            LogQuantizer::new(LogBase::Two, 4, 1.0)
                .unwrap()
                .reparam()
                .is_err()
        );
    }
}
