//! U7: GELU between fc1 and fc2 as one U2 requantization to a 16-bit fixed-point value `h` and a
//! 65,536-entry table from `h` to the fc2 input code (docs/arithmetic.md, U7), and the table's
//! step form that the generated unit `repq_gelu` holds ([`GeluSteps`]).

use super::requant::{Requant, round_half_even};
use crate::error::{Error, Result};

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

/// Entries of a table over the `s16` index `h`.
pub const TABLE_LEN: usize = 1 << HBITS;
/// The padding of a step list: no index `h` is above it, so it never counts.
pub const STEP_PAD: i16 = i16::MAX;

/// A table over `h` in `-2^15 .. 2^15 - 1` as its steps (docs/arithmetic.md, U7 "In hardware"):
///
/// `T[h] = base + #{j : up[j] < h} - #{j : down[j] < h}`
///
/// where `up` lists, in ascending order, every index `t` after which the table rises by one code
/// (`t` repeated for a rise of several codes) and `down` every index after which it falls, each
/// padded with [`STEP_PAD`] to `2^bits - 1` entries. This is what the table-load stream of
/// `repq_gelu` carries and what its lanes search.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GeluSteps {
    /// Code width (`2^bits - 1` entries per list).
    pub bits: u32,
    /// `T[-2^15]`.
    pub base: u8,
    /// Rise positions, ascending, padded: `2^bits - 1` entries.
    pub up: Vec<i16>,
    /// Fall positions, ascending, padded: `2^bits - 1` entries.
    pub down: Vec<i16>,
}

impl GeluSteps {
    /// The steps of `table` (65,536 codes of `bits` bits, entry `h + 2^15` for index `h`).
    ///
    /// Errors: a table of another length, a code above `2^bits - 1`, or a table whose total rise or
    /// total fall is more than `2^bits - 1` codes (not the shape of a GELU table: those fall to
    /// their minimum and rise after it, so each direction spans at most the code range). `what`
    /// names the table in the error.
    pub fn new(table: &[u8], bits: u32, what: &str) -> Result<Self> {
        let bad = |reason: String| Error::Invalid(format!("{what}: {reason}"));
        if table.len() != TABLE_LEN {
            return Err(bad(format!(
                "the GELU table has {} entries, expected {TABLE_LEN}",
                table.len()
            )));
        }
        if !(1..=8).contains(&bits) {
            return Err(bad(format!("code width {bits} is outside 1..=8 bits")));
        }
        let cap = (1usize << bits) - 1;
        if let Some(i) = table.iter().position(|&c| usize::from(c) > cap) {
            return Err(bad(format!(
                "entry {i} is {}, more than a {bits}-bit code",
                table[i]
            )));
        }
        let (mut up, mut down) = (Vec::new(), Vec::new());
        for (i, w) in table.windows(2).enumerate() {
            let t = (i as i32 - (1 << (HBITS - 1))) as i16;
            let (a, b) = (i32::from(w[0]), i32::from(w[1]));
            let list = if b > a { &mut up } else { &mut down };
            for _ in 0..(b - a).unsigned_abs() {
                list.push(t);
            }
        }
        for (name, list) in [("rise", &mut up), ("fall", &mut down)] {
            if list.len() > cap {
                return Err(bad(format!(
                    "the table's total {name} is {} codes, more than the {cap} steps a \
                     {bits}-bit repq_gelu holds per direction",
                    list.len()
                )));
            }
            list.resize(cap, STEP_PAD);
        }
        Ok(GeluSteps {
            bits,
            base: table[0],
            up,
            down,
        })
    }

    /// The code of index `h`, by the search each lane of `repq_gelu` does: per list, `bits` steps
    /// of binary lifting (`p += 2^k` while the entry `p + 2^k` is below `h`), giving the count of
    /// entries below `h`.
    pub fn lookup(&self, h: i16) -> u8 {
        let count = |list: &[i16]| {
            let mut p = 0usize;
            for k in (0..self.bits).rev() {
                if list[p + (1 << k) - 1] < h {
                    p += 1 << k;
                }
            }
            p as i32
        };
        (i32::from(self.base) + count(&self.up) - count(&self.down)) as u8
    }

    /// The table-load stream of `repq_gelu`: `base`, then `up`, then `down`, one value per beat
    /// (`2^(bits+1) - 1` beats, each an `s16`).
    pub fn load_words(&self) -> Vec<i16> {
        let mut v = Vec::with_capacity(self.up.len() * 2 + 1);
        v.push(i16::from(self.base));
        v.extend(&self.up);
        v.extend(&self.down);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every index of tables over widths, output scales and zero points (including tiny scales,
    /// where one index step spans several codes): the steps give the table exactly, and a GELU
    /// table always fits.
    #[test]
    fn steps_reproduce_gelu_tables_at_every_index() {
        let mut n = 0;
        for bits in [2u32, 4, 6, 8] {
            let top = f64::from((1u32 << bits) - 1);
            for s_out in [1e-4, 2e-3, 0.01, 0.03, 0.05, 0.2, 1.0] {
                for z in [0.0, 1.0, (top / 8.0).round(), (top / 2.0).round(), top] {
                    let s_h = h_scale(s_out, z, bits);
                    let t = gelu_table(s_h, s_out, z, bits);
                    let st = GeluSteps::new(&t, bits, "test").unwrap();
                    assert_eq!(st.up.len(), (1 << bits) - 1);
                    assert_eq!(st.load_words().len(), (2 << bits) - 1);
                    for (i, &want) in t.iter().enumerate() {
                        let h = (i as i32 - 32768) as i16;
                        assert_eq!(st.lookup(h), want, "bits {bits} s {s_out} z {z} h {h}");
                    }
                    n += 1;
                }
            }
        }
        assert_eq!(n, 4 * 7 * 5);
    }

    #[test]
    fn steps_of_arbitrary_tables_and_their_limits() {
        // A jump of several codes at once repeats the position.
        let mut t = vec![3u8; TABLE_LEN];
        for v in &mut t[40000..] {
            *v = 7;
        }
        for v in &mut t[50000..] {
            *v = 2;
        }
        let st = GeluSteps::new(&t, 4, "t").unwrap();
        assert_eq!(st.base, 3);
        assert_eq!(&st.up[..5], &[7231, 7231, 7231, 7231, STEP_PAD]);
        assert_eq!(
            &st.down[..6],
            &[17231, 17231, 17231, 17231, 17231, STEP_PAD]
        );
        for h in [-32768i32, 7231, 7232, 17231, 17232, 32767] {
            assert_eq!(st.lookup(h as i16), t[(h + 32768) as usize], "{h}");
        }
        // A saw tooth rises more than 15 codes in total: refused, naming the table.
        let saw: Vec<u8> = (0..TABLE_LEN).map(|i| ((i / 100) % 2) as u8).collect();
        let e = GeluSteps::new(&saw, 4, "blocks.3.mlp.gelu").unwrap_err();
        assert!(e.to_string().contains("blocks.3.mlp.gelu"), "{e}");
        assert!(e.to_string().contains("total rise"), "{e}");
        assert!(GeluSteps::new(&t[1..], 4, "t").is_err());
        assert!(GeluSteps::new(&t, 2, "t").is_err());
    }

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
