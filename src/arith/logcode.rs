//! U3: softmax probability to log2 code with parity (paper Eq. 18-20; docs/arithmetic.md).

/// Fraction bits of the probability input: `p / 2^16` is the probability.
pub const PBITS: u32 = 16;
/// Mantissa bits of the logarithm.
pub const MBITS: u32 = 15;

/// Per-layer constants of the code unit, derived offline from the log-sqrt2 scale `s`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LogCodeParams {
    /// Code width (the activation bits).
    pub bits: u32,
    /// `floor(2 * log2(s))`.
    pub c_int: i32,
    /// `[T_1, T_0, T_-1]`, `floor(2^((C_frac - j + 0.5) / 2) * 2^15)`.
    pub thresholds: [u32; 3],
}

/// A log2 attention code: `code` in 0..2^bits, or the exact zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogCode {
    pub code: u32,
    pub zero: bool,
}

impl LogCodeParams {
    /// The constants for scale `s > 0` at `bits` bits.
    pub fn from_scale(s: f64, bits: u32) -> Self {
        let c = 2.0 * s.log2();
        let c_int = c.floor();
        let c_frac = c - c_int;
        let t = |j: f64| (2f64.powf((c_frac - j + 0.5) / 2.0) * f64::from(1u32 << MBITS)).floor();
        LogCodeParams {
            bits,
            c_int: c_int as i32,
            thresholds: [t(1.0) as u32, t(0.0) as u32, t(-1.0) as u32],
        }
    }

    /// The code of probability `p` (`p / 2^16`, at most 2^16).
    pub fn code(&self, p: u32) -> LogCode {
        const ZERO: LogCode = LogCode {
            code: 0,
            zero: true,
        };
        if p == 0 {
            return ZERO;
        }
        let e = 31 - p.leading_zeros();
        let m = if e <= MBITS {
            p << (MBITS - e)
        } else {
            p >> (e - MBITS)
        };
        let [t1, t0, tm1] = self.thresholds;
        let r = i32::from(m <= t1) + i32::from(m <= t0) + i32::from(m <= tm1) - 2;
        let raw = 2 * (PBITS as i32 - e as i32) + self.c_int + r;
        if raw >= 1 << self.bits {
            ZERO
        } else {
            LogCode {
                code: raw.max(0) as u32,
                zero: false,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The real-valued log-sqrt2 quantizer (REFERENCE section 1) on p / 2^16.
    fn real_code(p: u32, s: f64, bits: u32) -> LogCode {
        let x = f64::from(p) / 65536.0;
        let raw = (-2.0 * (x / s).log2()).round_ties_even();
        if raw >= f64::from(1u32 << bits) || p == 0 {
            LogCode {
                code: 0,
                zero: true,
            }
        } else {
            LogCode {
                code: raw.max(0.0) as u32,
                zero: false,
            }
        }
    }

    #[test]
    fn exhaustive_sweep_matches_the_real_quantizer_except_near_thresholds() {
        for bits in [4, 8] {
            for &s in &[1.0, 0.731, 0.5, 0.25, 0.061_3, 1.3] {
                let params = LogCodeParams::from_scale(s, bits);
                let mut differ = 0;
                for p in 0..=65536u32 {
                    let got = params.code(p);
                    let want = real_code(p, s, bits);
                    if got != want {
                        // Only within a mantissa LSB of a rounding point: check by perturbing p.
                        let lo = real_code(p.saturating_sub(1), s, bits);
                        let hi = real_code(p + 1, s, bits);
                        assert!(
                            lo != want || hi != want,
                            "p={p} s={s} bits={bits}: {got:?} vs {want:?}"
                        );
                        assert!(got.code.abs_diff(want.code) <= 1);
                        differ += 1;
                    }
                }
                assert!(differ <= 16, "s={s} bits={bits}: {differ} codes differ");
            }
        }
    }

    #[test]
    fn hand_cases_at_unit_scale() {
        let p = LogCodeParams::from_scale(1.0, 4);
        assert_eq!((p.c_int, p.thresholds), (0, [27554, 38967, 55108]));
        assert_eq!(
            p.code(65536),
            LogCode {
                code: 0,
                zero: false
            }
        ); // 1.0 -> 0
        assert_eq!(
            p.code(32768),
            LogCode {
                code: 2,
                zero: false
            }
        ); // 0.5 -> 2
        assert_eq!(
            p.code(46341),
            LogCode {
                code: 1,
                zero: false
            }
        ); // 1/sqrt2 -> 1
        assert_eq!(
            p.code(256),
            LogCode {
                code: 0,
                zero: true
            }
        ); // 2^-8 -> 16 >= 16
        assert_eq!(
            p.code(257),
            LogCode {
                code: 0,
                zero: true
            }
        ); // 15.99 rounds to 16
        assert_eq!(
            p.code(400),
            LogCode {
                code: 15,
                zero: false
            }
        ); // 15.36 -> 15
        assert_eq!(
            p.code(0),
            LogCode {
                code: 0,
                zero: true
            }
        );
    }
}
