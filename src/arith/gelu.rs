//! U7: GELU between fc1 and fc2 as one U2 requantization to a 16-bit fixed-point value `h` and a
//! 65,536-entry table from `h` to the fc2 input code (docs/arithmetic.md, U7).

use super::requant::{Requant, round_half_even};
use crate::error::Result;

/// Bits of the table index `h` (`s16`).
pub const HBITS: u32 = 16;

/// `GELU(x) = x / 2 * (1 + erf(x / sqrt(2)))`, in f64 (libm), for building tables offline.
pub fn gelu_f64(x: f64) -> f64 {
    0.5 * x * (1.0 + libm::erf(x * std::f64::consts::FRAC_1_SQRT_2))
}

/// The real scale of `h` for an output quantizer `(s_out, z_out, bits)`: `h` covers
/// `[-H, H)` with `H = max(8, (2^bits - 1 - z_out) * s_out + s_out)`, enough for every input whose
/// GELU does not saturate the output code (below -8, GELU is within 1e-14 of 0).
pub fn h_scale(s_out: f64, z_out: f64, bits: u32) -> f64 {
    let top = (f64::from((1u32 << bits) - 1) - z_out) * s_out + s_out;
    top.max(8.0) / f64::from(1u32 << (HBITS - 1))
}

/// The table: `T[h + 2^15] = clamp(round_half_even(GELU(h * s_h) / s_out + z_out), 0, 2^bits - 1)`.
pub fn gelu_table(s_h: f64, s_out: f64, z_out: f64, bits: u32) -> Vec<u8> {
    let hi = f64::from((1u32 << bits) - 1);
    let half = 1i32 << (HBITS - 1);
    (-half..half)
        .map(|h| round_half_even(gelu_f64(f64::from(h) * s_h) / s_out + z_out).clamp(0.0, hi) as u8)
        .collect()
}

/// The requantization of fc1's accumulator of output channel `n` to `h` (`s16`, zero point 0),
/// for the real value `s_in` of one accumulator LSB.
pub fn to_h(s_in: f64, s_h: f64, what: &str) -> Result<Requant> {
    let (m0, shift) = Requant::multiplier(s_in / s_h, what)?;
    Ok(Requant {
        m0,
        shift,
        zero_point: 0,
        lo: -(1 << (HBITS - 1)),
        hi: (1 << (HBITS - 1)) - 1,
    })
}

/// The fc2 input code of one fc1 accumulator.
#[inline]
pub fn apply(requant: &Requant, table: &[u8], acc: i64) -> u8 {
    table[(requant.apply(acc) + (1 << (HBITS - 1))) as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_equals_float_gelu_then_quantizer_on_its_grid() {
        let (s_out, z_out, bits) = (0.05, 4.0, 8);
        let s_h = h_scale(s_out, z_out, bits);
        let t = gelu_table(s_h, s_out, z_out, bits);
        assert_eq!(t.len(), 65536);
        // At h = 0, GELU(0) = 0: the zero point.
        assert_eq!(t[32768], 4);
        // Far negative: 0 -> zero point; far positive saturates.
        assert_eq!(t[0], 4);
        assert_eq!(t[65535], 255);
        // GELU's minimum (-0.17 at -0.75) is 3.4 codes below the zero point -> code 1.
        assert_eq!(*t.iter().min().unwrap(), 1);
    }

    #[test]
    fn requant_then_table_tracks_float_gelu() {
        let (s_out, z_out, bits) = (0.03, 6.0, 8);
        let s_h = h_scale(s_out, z_out, bits);
        let t = gelu_table(s_h, s_out, z_out, bits);
        let s_in = 1.7e-4;
        let rq = to_h(s_in, s_h, "test").unwrap();
        let mut mismatches = 0;
        for acc in (-60_000i64..60_000).step_by(7) {
            let x = acc as f64 * s_in;
            let want = (gelu_f64(x) / s_out + z_out).round().clamp(0.0, 255.0) as u8;
            let got = apply(&rq, &t, acc);
            assert!((i32::from(got) - i32::from(want)).abs() <= 1, "{acc}");
            mismatches += usize::from(got != want);
        }
        // h has 2^-15 * 8 resolution, 60x finer than a code: only near-ties can differ.
        assert!(mismatches < 200, "{mismatches}");
    }
}
