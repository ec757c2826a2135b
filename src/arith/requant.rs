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

/// The constants of one output channel's requantization.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Requant {
    /// Multiplier, 0 or in [2^30, 2^31 - 1].
    pub m0: u32,
    /// Right shift, 1..=62.
    pub shift: u32,
    /// Added after the shift.
    pub zero_point: i32,
    /// Output clamp, inclusive.
    pub lo: i32,
    pub hi: i32,
}

impl Requant {
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
