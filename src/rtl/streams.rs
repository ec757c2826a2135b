//! The stream contract of `repq_top` as code: packs a matmul job into the beats of its four
//! streams in the order the hardware consumes them, and computes the expected output beats with
//! the reference units of [`crate::arith`] (U1 [`matmul_acc`], U2 [`Requant::apply`]). Golden
//! vectors and testbenches use this; a driver follows the same order.

use crate::arith::{Requant, matmul_acc};
use crate::error::{Error, Result};

use super::bound;
use super::config::Design;

/// A packed beat: 32-bit words, least significant first (bit `i` is bit `i % 32` of word `i / 32`).
pub type Beat = Vec<u32>;

/// One matmul job: `out[m][n] = requant[n].apply(bias[n] + sum_k a[m][k] * w[k][n])` (U1 then
/// U2). The clamp bounds `lo`, `hi` of each column are i32 and must lie in the design's output
/// lane range ([`Design::out_range`]): activation codes on a default design, signed values (GELU
/// index, residual increments, raw accumulators) on one generated with `--out-bits`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MatmulJob {
    pub m: usize,
    pub k: usize,
    pub n: usize,
    /// Activation codes, `[m][k]` row-major.
    pub a: Vec<u8>,
    /// Bits of the activation codes this layer takes (`u{a_bits}`, at most the design's lanes):
    /// the model's code bits, or the image codes' 8 for the patch embedding. The accumulator
    /// range is proven for every input of this width.
    pub a_bits: u32,
    /// Stationary operands (`w_code - z_w`), `[k][n]` row-major.
    pub w: Vec<i32>,
    /// Per-column bias (zero points folded in), `[n]`.
    pub bias: Vec<i64>,
    /// Per-column requantization (M0, shift, zero point, i32 lo/hi), `[n]`.
    pub requant: Vec<Requant>,
}

/// The beats of the four streams of one job, each in stream order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Streams {
    pub act: Vec<Beat>,
    pub wgt: Vec<Beat>,
    pub prm: Vec<Beat>,
    /// Expected output beats.
    pub out: Vec<Beat>,
}

/// Sets bits `lsb .. lsb + width` of `beat` to the low `width` bits of `value` (`width <= 64`).
pub fn put_bits(beat: &mut [u32], lsb: u32, width: u32, value: u64) {
    for i in 0..width {
        let b = (lsb + i) as usize;
        let bit = ((value >> i) & 1) as u32;
        beat[b / 32] = (beat[b / 32] & !(1 << (b % 32))) | (bit << (b % 32));
    }
}

/// Reads bits `lsb .. lsb + width` of `beat`, zero-extended.
pub fn get_bits(beat: &[u32], lsb: u32, width: u32) -> u64 {
    (0..width).fold(0u64, |v, i| {
        let b = (lsb + i) as usize;
        v | (u64::from((beat[b / 32] >> (b % 32)) & 1) << i)
    })
}

/// A zero beat of `bits` bits.
pub fn zero_beat(bits: u32) -> Beat {
    vec![0; bits.div_ceil(32) as usize]
}

/// The beat as hexadecimal, most significant digit first, `ceil(bits / 4)` digits (the format of
/// `$readmemh` and of the testbenches' vector files).
pub fn beat_hex(beat: &[u32], bits: u32) -> String {
    let digits = bits.div_ceil(4);
    (0..digits)
        .rev()
        .map(|d| {
            let v = get_bits(beat, d * 4, 4.min(bits - d * 4));
            char::from_digit(v as u32, 16).unwrap()
        })
        .collect()
}

fn fits_signed(v: i64, bits: u32) -> bool {
    let lim = 1i64 << (bits - 1);
    (-lim..lim).contains(&v)
}

impl MatmulJob {
    /// Checks sizes and value ranges against the design (codes, operand and bias widths, the
    /// accumulator bound of every column, requantization constants, clamp bounds within the
    /// output lanes).
    pub fn check(&self, d: &Design) -> Result<()> {
        let bad = |what: String| Err(Error::Invalid(format!("matmul job: {what}")));
        let max_dim = (1usize << d.dim_bits) - 1;
        if [self.m, self.k, self.n]
            .iter()
            .any(|&x| x == 0 || x > max_dim)
        {
            return bad(format!(
                "sizes {}x{}x{} must each be in 1 ..= {max_dim}",
                self.m, self.k, self.n
            ));
        }
        if self.a.len() != self.m * self.k
            || self.w.len() != self.k * self.n
            || self.bias.len() != self.n
            || self.requant.len() != self.n
        {
            return bad("tensor lengths do not match M, K, N".into());
        }
        if !(1..=d.abits).contains(&self.a_bits) {
            return bad(format!(
                "{}-bit activation codes on u{} activation lanes",
                self.a_bits, d.abits
            ));
        }
        let amax = (1u32 << self.a_bits) - 1;
        if let Some(x) = self.a.iter().find(|&&x| u32::from(x) > amax) {
            return bad(format!("activation code {x} does not fit u{}", self.a_bits));
        }
        if let Some(x) = self.w.iter().find(|&&x| !fits_signed(x.into(), d.wob)) {
            return bad(format!("operand {x} does not fit s{}", d.wob));
        }
        for n in 0..self.n {
            let (lo, hi) = bound::column_range(
                self.bias[n],
                (0..self.k).map(|k| self.w[k * self.n + n]),
                self.a_bits,
            );
            if bound::signed_bits(&lo, &hi) > d.acc_bits {
                return bad(format!(
                    "column {n}: accumulator range {lo} .. {hi} does not fit s{}",
                    d.acc_bits
                ));
            }
            let r = &self.requant[n];
            let (omin, omax) = d.out_range();
            if !(1..=62).contains(&r.shift)
                || r.m0 >= 1 << 31
                || i64::from(r.lo) < omin
                || r.lo > r.hi
                || i64::from(r.hi) > omax
            {
                return bad(format!(
                    "column {n}: requantization {r:?} outside m0 < 2^31, shift 1..62, \
                     {omin} <= lo <= hi <= {omax}"
                ));
            }
        }
        Ok(())
    }

    /// `out[m][n]` by the reference units (signed; within [`Design::out_range`] once
    /// [`MatmulJob::check`] passed).
    pub fn expected(&self) -> Vec<i32> {
        let acc = matmul_acc(&self.a, &self.w, &self.bias, self.m, self.k);
        acc.iter()
            .enumerate()
            .map(|(i, &x)| self.requant[i % self.n].apply(x))
            .collect()
    }

    /// The job's beats in stream order (see [`super::driver::STREAM_ORDER`]).
    pub fn streams(&self, d: &Design) -> Result<Streams> {
        self.check(d)?;
        let (r_, c_, tm) = (d.rows as usize, d.cols as usize, d.m_tile as usize);
        let out = self.expected();
        let fields = d.param_fields();
        let mut s = Streams::default();
        for m0 in (0..self.m).step_by(tm) {
            let mr = tm.min(self.m - m0);
            for n0 in (0..self.n).step_by(c_) {
                let nr = c_.min(self.n - n0);
                for n in n0..n0 + nr {
                    let r = &self.requant[n];
                    // Signed fields as two's complement; put_bits keeps each field's low bits.
                    let vals = [
                        self.bias[n] as u64,
                        u64::from(r.m0),
                        u64::from(r.shift),
                        i64::from(r.zero_point) as u64,
                        i64::from(r.lo) as u64,
                        i64::from(r.hi) as u64,
                    ];
                    let mut b = zero_beat(d.param_bits());
                    for (f, v) in fields.iter().zip(vals) {
                        put_bits(&mut b, f.lsb, f.bits, v);
                    }
                    s.prm.push(b);
                }
                for k0 in (0..self.k).step_by(r_) {
                    let kr = r_.min(self.k - k0);
                    for k in k0..k0 + kr {
                        let mut b = zero_beat(d.wgt_bits());
                        for c in 0..nr {
                            let v = self.w[k * self.n + n0 + c];
                            put_bits(&mut b, c as u32 * d.wob, d.wob, i64::from(v) as u64);
                        }
                        s.wgt.push(b);
                    }
                    for m in m0..m0 + mr {
                        let mut b = zero_beat(d.act_bits());
                        for r in 0..kr {
                            let v = self.a[m * self.k + k0 + r];
                            put_bits(&mut b, r as u32 * d.abits, d.abits, u64::from(v));
                        }
                        s.act.push(b);
                    }
                }
                // Output lanes: u{abits} codes, or two's complement s{B} with --out-bits B.
                let ob = d.out_lane_bits();
                for m in m0..m0 + mr {
                    let mut b = zero_beat(d.out_bits());
                    for c in 0..nr {
                        let v = out[m * self.n + n0 + c];
                        put_bits(&mut b, c as u32 * ob, ob, i64::from(v) as u64);
                    }
                    s.out.push(b);
                }
            }
        }
        Ok(s)
    }
}

/// The requantization that passes an accumulator through unchanged (docs/arithmetic.md, U2:
/// `round_shift(acc * 2^30, 30) = acc`, no clamp in s32): how raw `Q K^T` scores leave an array
/// generated with `--out-bits 32`.
pub fn raw_accumulator_requant() -> Requant {
    Requant {
        m0: 1 << 30,
        shift: 30,
        zero_point: 0,
        lo: i32::MIN,
        hi: i32::MAX,
    }
}

/// A requantization that is the identity on codes already in range: handy for tests.
pub fn identity_requant(bits: u32) -> Requant {
    Requant {
        m0: 1 << 30,
        shift: 30,
        zero_point: 0,
        lo: 0,
        hi: (1 << bits) - 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_round_trip_and_hex() {
        let mut b = zero_beat(40);
        put_bits(&mut b, 3, 9, 0x1ff);
        put_bits(&mut b, 30, 8, 0xa5);
        assert_eq!(get_bits(&b, 3, 9), 0x1ff);
        assert_eq!(get_bits(&b, 30, 8), 0xa5);
        assert_eq!(beat_hex(&b, 40), "2940000ff8");
        assert_eq!(beat_hex(&[0x5], 3), "5");
    }

    #[test]
    fn raw_accumulator_requant_is_the_identity_on_s32() {
        let r = raw_accumulator_requant();
        for acc in [
            i64::from(i32::MIN),
            -1,
            0,
            1,
            12_345_678,
            i64::from(i32::MAX),
        ] {
            assert_eq!(i64::from(r.apply(acc)), acc);
        }
    }

    /// A W4A4 model's layer on a design of 8-bit lanes sized for that model (`gen --model`): its
    /// accumulator range is proven for its 4-bit codes, not for the lanes' 8 bits (the engine's
    /// compiler refused fc2 of the embedded W4A4 model on its own 18-bit design before).
    #[test]
    fn the_accumulator_range_is_the_layers_codes_not_the_lanes() {
        use crate::rtl::{GenConfig, PeShape};
        let c = GenConfig {
            wbits: 4,
            abits: 8,
            acc_bits: Some(18),
            out_bits: Some(32),
            ..GenConfig::new(PeShape { rows: 2, cols: 2 })
        };
        let d = GenConfig {
            requirement: Some(crate::rtl::AccRequirement::exact(
                "test",
                384,
                50,
                (-100_000).into(),
                100_000.into(),
            )),
            ..c
        }
        .validate()
        .unwrap();
        // K = 384 operands of 7: |acc| <= 384 * 15 * 7 = 40,320 at 4 bits, 685,440 at 8.
        let mut job = MatmulJob {
            m: 1,
            k: 384,
            n: 1,
            a: vec![15; 384],
            a_bits: 4,
            w: vec![7; 384],
            bias: vec![0],
            requant: vec![raw_accumulator_requant()],
        };
        assert!(job.streams(&d).is_ok());
        job.a_bits = 8;
        let e = job.streams(&d).unwrap_err().to_string();
        assert!(e.contains("does not fit s18"), "{e}");
        job.a_bits = 4;
        job.a[3] = 16;
        let e = job.streams(&d).unwrap_err().to_string();
        assert!(e.contains("activation code 16 does not fit u4"), "{e}");
    }

    /// With `--out-bits`, lo/hi are packed as signed s{B} fields and the outputs as s{B} lanes;
    /// a clamp outside the lane range is refused.
    #[test]
    fn signed_lanes_pack_lo_hi_and_outputs_in_twos_complement() {
        use crate::rtl::{GenConfig, PeShape};
        let mut c = GenConfig::new(PeShape { rows: 2, cols: 3 });
        c.out_bits = Some(16);
        let d = c.validate().unwrap();
        let gelu = Requant {
            m0: 1 << 30,
            shift: 30,
            zero_point: -5,
            lo: -32768,
            hi: 32767,
        };
        let mut job = MatmulJob {
            m: 1,
            k: 2,
            n: 2,
            a: vec![255, 1],
            a_bits: 8,
            w: vec![-256, 3, 1, -2],
            bias: vec![-40_000, 100],
            requant: vec![gelu, raw_accumulator_requant()],
        };
        // Column 1's raw requantization does not fit s16 lanes.
        assert!(job.streams(&d).is_err());
        job.requant[1].lo = -100;
        job.requant[1].hi = 32767;
        let s = job.streams(&d).unwrap();
        let f = d.param_fields();
        let (lo, hi) = (&f[4], &f[5]);
        assert!(lo.signed && hi.signed && lo.bits == 16 && hi.lsb == lo.lsb + 16);
        assert_eq!(get_bits(&s.prm[0], lo.lsb, 16), 0x8000);
        assert_eq!(get_bits(&s.prm[0], hi.lsb, 16), 0x7fff);
        assert_eq!(get_bits(&s.prm[1], lo.lsb, 16), 0xff9c);
        assert_eq!(d.param_bits(), 28 + 69 + 32);
        // acc0 = -40000 + 255 * -256 + 1 = -105279 -> clamped to -32768; acc1 = 100 + 765 - 2.
        assert_eq!(job.expected(), vec![-32768, 863]);
        assert_eq!(d.out_bits(), 48);
        assert_eq!(s.out.len(), 1);
        assert_eq!(get_bits(&s.out[0], 0, 16), 0x8000);
        assert_eq!(get_bits(&s.out[0], 16, 16), 863);
        assert_eq!(get_bits(&s.out[0], 32, 16), 0);
    }
}
