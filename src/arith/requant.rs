//! U2: requantization by an integer multiplier and shift, rounding half up (docs/arithmetic.md).

use crate::error::{Error, Result};

/// `(x + 2^(n-1)) >> n` with an arithmetic shift: the one rounding mode of the datapath
/// (half up, toward +infinity on ties). `n` must be in 1..=62.
#[inline]
pub fn round_shift(x: i64, n: u32) -> i64 {
    debug_assert!((1..=62).contains(&n));
    // floor((x + 2^(n-1)) / 2^n) = floor(x / 2^n) + (bit n-1 of x): the same integer, without
    // the wider intermediate (the sum could overflow i64).
    (x >> n) + ((x >> (n - 1)) & 1)
}

/// Largest multiplier `M0` (`u31`, the RTL's field).
pub const M0_MAX: u32 = (1 << 31) - 1;
/// Smallest and largest right shift `n` (`u6` field; `round_shift` needs `n >= 1`, and
/// `acc * M0 + 2^(n-1)` stays below 2^63 for `n <= 62`).
pub const SHIFT_MIN: u32 = 1;
/// See [`SHIFT_MIN`].
pub const SHIFT_MAX: u32 = 62;

/// The constants of one output channel's requantization. Deserializing checks them
/// ([`Requant::check`]), so loaded constants with `lo > hi` are refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "RequantFields")]
pub struct Requant {
    /// Multiplier, `u31` (0 ..= [`M0_MAX`]). [`Requant::multiplier`] gives 0 or a value in
    /// [2^30, 2^31 - 1], except at `shift = 62`, where a multiplier below 2^-31 gives any value
    /// below 2^30.
    pub m0: u32,
    /// Right shift, [`SHIFT_MIN`]..=[`SHIFT_MAX`].
    pub shift: u32,
    /// Added after the shift (`s32`).
    pub zero_point: i32,
    /// Output clamp, inclusive, `lo <= hi` (the RTL returns `lo` when `lo > hi`,
    /// `min(max(y, lo), hi)` would give `hi`: such constants are refused, never evaluated).
    pub lo: i32,
    pub hi: i32,
}

/// [`Requant`] as read, before [`Requant::check`].
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RequantFields {
    m0: u32,
    shift: u32,
    zero_point: i32,
    lo: i32,
    hi: i32,
}

impl TryFrom<RequantFields> for Requant {
    type Error = Error;

    fn try_from(f: RequantFields) -> Result<Self> {
        let r = Requant {
            m0: f.m0,
            shift: f.shift,
            zero_point: f.zero_point,
            lo: f.lo,
            hi: f.hi,
        };
        r.check("requantization")?;
        Ok(r)
    }
}

impl Requant {
    /// Checks the fields against the ranges the RTL holds: `M0 <= 2^31 - 1`, `n` in 1..=62,
    /// `lo <= hi`. `what` names the layer or tensor in the error.
    pub fn check(&self, what: &str) -> Result<()> {
        let bad = |field: &str, reason: String| {
            Err(Error::Invalid(format!(
                "{what}: requantization {field} {reason} (docs/arithmetic.md, U2)"
            )))
        };
        if self.m0 > M0_MAX {
            return bad("m0", format!("= {} does not fit u31", self.m0));
        }
        if !(SHIFT_MIN..=SHIFT_MAX).contains(&self.shift) {
            return bad(
                "shift",
                format!("= {} is outside {SHIFT_MIN}..={SHIFT_MAX}", self.shift),
            );
        }
        if self.lo > self.hi {
            return bad(
                "bounds",
                format!(
                    "lo = {} > hi = {}: give lo <= hi (an empty clamp has no defined output)",
                    self.lo, self.hi
                ),
            );
        }
        Ok(())
    }

    /// Turns a real multiplier `m >= 0` into `(M0, n)` as docs/arithmetic.md (U2, Constants) says.
    /// `what` names the layer in the error for a multiplier of 2^30 or more.
    pub fn multiplier(m: f64, what: &str) -> Result<(u32, u32)> {
        if !(m.is_finite() && m >= 0.0) {
            return Err(Error::Invalid(format!(
                "{what}: requantization multiplier {m} is not a finite non-negative number"
            )));
        }
        if m == 0.0 {
            return Ok((0, 1));
        }
        let (f, e) = frexp(m);
        let mut m0 = round_half_even(f * 2f64.powi(31)) as i64;
        let mut n = 31 - e;
        if m0 == 1 << 31 {
            m0 = 1 << 30;
            n -= 1;
        }
        if n < 1 {
            return Err(Error::Invalid(format!(
                "{what}: requantization multiplier {m} is 2^30 or more"
            )));
        }
        if n > 62 {
            m0 = round_half_even(m * 2f64.powi(62)) as i64;
            n = 62;
        }
        Ok((m0 as u32, n as u32))
    }

    /// Codes of `bits` bits with zero point `zero_point`, for a real multiplier `m`.
    pub fn to_codes(m: f64, zero_point: i32, bits: u32, what: &str) -> Result<Self> {
        let (m0, shift) = Self::multiplier(m, what)?;
        Ok(Requant {
            m0,
            shift,
            zero_point,
            lo: 0,
            hi: (1 << bits) - 1,
        })
    }

    /// `clamp(round_shift(acc * M0, n) + z_o, lo, hi)`.
    #[inline]
    pub fn apply(&self, acc: i64) -> i32 {
        let y = round_shift(acc * i64::from(self.m0), self.shift) + i64::from(self.zero_point);
        y.clamp(i64::from(self.lo), i64::from(self.hi)) as i32
    }
}

/// `x = f * 2^e` with `f` in [0.5, 1), for finite positive `x`.
fn frexp(x: f64) -> (f64, i32) {
    let mut e = x.log2().floor() as i32 + 1;
    let mut f = x / 2f64.powi(e);
    // Correct the rare off-by-one of log2 near powers of two.
    if f >= 1.0 {
        f /= 2.0;
        e += 1;
    } else if f < 0.5 {
        f *= 2.0;
        e -= 1;
    }
    (f, e)
}

/// Round half to even, as numpy/torch round.
pub fn round_half_even(x: f64) -> f64 {
    let r = x.round();
    if (x - x.trunc()).abs() == 0.5 && r % 2.0 != 0.0 {
        r - x.signum()
    } else {
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_shift_rounds_half_up() {
        assert_eq!(round_shift(5, 1), 3); // 2.5 -> 3
        assert_eq!(round_shift(-5, 1), -2); // -2.5 -> -2 (half up, not away from zero)
        assert_eq!(round_shift(7, 2), 2); // 1.75 -> 2
        assert_eq!(round_shift(-7, 2), -2); // -1.75 -> -2
        assert_eq!(round_shift(-6, 2), -1); // -1.5 -> -1
        assert_eq!(round_shift(6, 2), 2); // 1.5 -> 2
        assert_eq!(round_shift(i64::MAX >> 1, 62), 1);
    }

    #[test]
    fn round_shift_equals_the_wide_definition() {
        let wide = |x: i64, n: u32| ((i128::from(x) + (1i128 << (n - 1))) >> n) as i64;
        let mut v = 0x2545_f491_4f6c_dd1du64;
        for n in 1..=62 {
            for x in [i64::MIN, i64::MIN + 1, -1, 0, 1, i64::MAX, i64::MAX - 1] {
                assert_eq!(round_shift(x, n), wide(x, n), "{x} >> {n}");
            }
            for _ in 0..2000 {
                v ^= v << 13;
                v ^= v >> 7;
                v ^= v << 17;
                let x = (v as i64) >> (v % 64);
                assert_eq!(round_shift(x, n), wide(x, n), "{x} >> {n}");
                let y = x & !((1i64 << (n - 1)) - 1) | (1i64 << (n - 1)); // ties
                assert_eq!(round_shift(y, n), wide(y, n), "{y} >> {n}");
            }
        }
    }

    #[test]
    fn multiplier_reconstructs_the_real_value() {
        for &m in &[
            1e-9,
            3.7e-5,
            0.000_123,
            0.25,
            0.5,
            0.999_999_999_9,
            1.0,
            1.5,
            1234.5678,
        ] {
            let (m0, n) = Requant::multiplier(m, "t").unwrap();
            assert!((1u32 << 30..=u32::MAX >> 1).contains(&m0), "{m}: m0 {m0}");
            let back = f64::from(m0) / 2f64.powi(n as i32);
            assert!((back - m).abs() <= m * 2f64.powi(-30), "{m} -> {back}");
        }
        // Rounding to 2^31 is renormalized.
        let (m0, n) = Requant::multiplier(1.0 - 1e-12, "t").unwrap();
        assert_eq!((m0, n), (1 << 30, 30));
        assert_eq!(Requant::multiplier(0.0, "t").unwrap(), (0, 1));
        // Tiny multipliers keep the shift at 62.
        let (m0, n) = Requant::multiplier(2f64.powi(-40), "t").unwrap();
        assert_eq!((m0, n), (1 << 22, 62));
        assert!(Requant::multiplier(2f64.powi(30), "layer x").is_err());
        assert!(Requant::multiplier(f64::NAN, "t").is_err());
    }

    #[test]
    fn loading_checks_the_fields() {
        let ok = r#"{"m0": 1073741824, "shift": 30, "zero_point": 0, "lo": 0, "hi": 255}"#;
        let r: Requant = serde_json::from_str(ok).unwrap();
        assert_eq!((r.lo, r.hi), (0, 255));
        for (text, want) in [
            (
                r#"{"m0": 1073741824, "shift": 30, "zero_point": 0, "lo": 7, "hi": 6}"#,
                "lo = 7 > hi = 6",
            ),
            (
                r#"{"m0": 1073741824, "shift": 0, "zero_point": 0, "lo": 0, "hi": 6}"#,
                "shift = 0",
            ),
        ] {
            let e = serde_json::from_str::<Requant>(text)
                .unwrap_err()
                .to_string();
            assert!(e.contains(want), "{text}: {e}");
        }
        let wide = Requant { m0: 1 << 31, ..r };
        assert!(wide.check("x").unwrap_err().to_string().contains("u31"));
    }

    /// gemmlowp's two-step requantization (`SaturatingRoundingDoublingHighMul`, then
    /// `RoundingDivideByPOT` by `n - 31`), for `n >= 31`.
    fn gemmlowp(acc: i32, m0: i32, n: u32) -> i64 {
        let ab = i64::from(acc) * i64::from(m0);
        let nudge = if ab >= 0 { 1 << 30 } else { 1 - (1 << 30) };
        // C++ integer division truncates toward zero, as Rust's `/` does.
        let high = (ab + nudge) / (1i64 << 31);
        let e = n - 31;
        if e == 0 {
            return high;
        }
        let mask = (1i64 << e) - 1;
        let rem = high & mask;
        let threshold = (mask >> 1) + i64::from(high < 0);
        (high >> e) + i64::from(rem > threshold)
    }

    /// The document's statement: single rounding and gemmlowp differ by at most one LSB, on
    /// negative ties and wherever gemmlowp's first rounding (of the doubled high product) moves
    /// the value across a tie of the second.
    #[test]
    fn differs_from_gemmlowp_by_at_most_one() {
        // A positive non-tie: 1 * M0 / 2^32 = 0.45 rounds to 0 here; gemmlowp first rounds
        // 0.9 to 1, then 1 / 2 = 0.5 away from zero to 1.
        let m0 = 1_932_735_283;
        assert_eq!(round_shift(i64::from(m0), 32), 0);
        assert_eq!(gemmlowp(1, m0, 32), 1);
        // A negative tie: -2 * 2^30 / 2^32 = -0.5 rounds up to 0 here; gemmlowp's first step is
        // exact (-1) and its second rounds -1 / 2 away from zero to -1.
        assert_eq!(round_shift(-(1i64 << 31), 32), 0);
        assert_eq!(gemmlowp(-2, 1 << 30, 32), -1);
        let mut v = 0x9e37_79b9_7f4a_7c15u64;
        let mut differ = 0;
        for _ in 0..200_000 {
            v ^= v << 13;
            v ^= v >> 7;
            v ^= v << 17;
            let acc = (v as i32) >> (v >> 59);
            let m0 = (1 << 30) | ((v >> 32) as i32 & ((1 << 30) - 1));
            let n = 31 + (v >> 40) as u32 % 20;
            let ours = round_shift(i64::from(acc) * i64::from(m0), n);
            let theirs = gemmlowp(acc, m0, n);
            assert!((ours - theirs).abs() <= 1, "{acc} {m0} {n}");
            differ += usize::from(ours != theirs);
        }
        assert!(differ > 0);
    }

    #[test]
    fn apply_clamps_and_adds_zero_point() {
        let r = Requant::to_codes(0.5, 3, 4, "t").unwrap();
        assert_eq!(r.apply(0), 3);
        assert_eq!(r.apply(1), 4); // 0.5 -> 1 (half up)
        assert_eq!(r.apply(-1), 3); // -0.5 -> 0
        assert_eq!(r.apply(100), 15);
        assert_eq!(r.apply(-100), 0);
    }

    #[test]
    fn round_half_even_matches_numpy() {
        assert_eq!(round_half_even(2.5), 2.0);
        assert_eq!(round_half_even(3.5), 4.0);
        assert_eq!(round_half_even(-2.5), -2.0);
        assert_eq!(round_half_even(-0.5), 0.0);
        assert_eq!(round_half_even(1.2), 1.0);
    }
}
