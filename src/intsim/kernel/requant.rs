//! U2 lanes and the matmul output stages (codes, the residual with U8, the U7 table index, values).

use super::*;

/// Per-output-channel U2 constants laid out for vector code, with the vector requantization
/// and the output stages built on it (activation codes, residual add, table index).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequantLanes {
    rq: Vec<Requant>,
    m0: Vec<i64>,
    /// `2^(n-1)`.
    half: Vec<i64>,
    shift: Vec<i64>,
    zero_point: Vec<i64>,
    lo: Vec<i64>,
    hi: Vec<i64>,
    /// Every channel has the constants the vector code assumes (`M0 < 2^31`, `n` in 1..=62, as
    /// [`Requant::multiplier`] makes them); otherwise only [`Requant::apply`] runs.
    vector_ok: bool,
}

impl RequantLanes {
    pub fn new(rq: &[Requant]) -> Self {
        let lane = |f: &dyn Fn(&Requant) -> i64| rq.iter().map(f).collect();
        RequantLanes {
            rq: rq.to_vec(),
            vector_ok: rq
                .iter()
                .all(|r| r.m0 < 1 << 31 && (1..=62).contains(&r.shift)),
            m0: lane(&|r| i64::from(r.m0)),
            half: lane(&|r| 1i64 << (r.shift.clamp(1, 62) - 1)),
            shift: lane(&|r| i64::from(r.shift)),
            zero_point: lane(&|r| i64::from(r.zero_point)),
            lo: lane(&|r| i64::from(r.lo)),
            hi: lane(&|r| i64::from(r.hi)),
        }
    }

    /// `out[i] = rq[c0 + i].apply(acc[i])` ([`Requant::apply`]; the result is within the
    /// channel's i32 clamp bounds).
    #[inline(always)]
    pub fn apply(&self, kernel: Kernel, c0: usize, acc: &[i64], out: &mut [i32]) {
        assert_eq!(acc.len(), out.len(), "one output per accumulator");
        assert!(c0 + acc.len() <= self.rq.len(), "channel range");
        if let (Ok(acc), Ok(out)) = (
            <&[i64; NR]>::try_from(acc),
            <&mut [i32; NR]>::try_from(&mut *out),
        ) {
            // A full panel row: fixed-size loops.
            return self.apply_n(kernel, c0, acc, out);
        }
        let mut done = 0;
        #[cfg(target_arch = "x86_64")]
        if kernel == Kernel::Avx2 && self.vector_ok && fits_i32(acc) {
            for (acc, out) in acc.chunks_exact(4).zip(out.chunks_exact_mut(4)) {
                // SAFETY: Avx2 only runs when available (the callers assert it).
                unsafe {
                    self.apply_avx2::<4>(
                        c0 + done,
                        acc.try_into().unwrap(),
                        out.try_into().unwrap(),
                    )
                };
                done += 4;
            }
        }
        let _ = kernel;
        for (i, (&a, o)) in acc.iter().zip(out.iter_mut()).enumerate().skip(done) {
            *o = self.rq[c0 + i].apply(a);
        }
    }

    #[inline(always)]
    fn apply_n<const N: usize>(
        &self,
        kernel: Kernel,
        c0: usize,
        acc: &[i64; N],
        out: &mut [i32; N],
    ) {
        #[cfg(target_arch = "x86_64")]
        if kernel == Kernel::Avx2 && self.vector_ok && fits_i32(acc) {
            // SAFETY: Avx2 only runs when available (the callers assert it).
            return unsafe { self.apply_avx2(c0, acc, out) };
        }
        let _ = kernel;
        for (i, (&a, o)) in acc.iter().zip(out.iter_mut()).enumerate() {
            *o = self.rq[c0 + i].apply(a);
        }
    }

    /// Four channels per step: `acc * M0` by `vpmuldq` (exact for 32-bit `acc` and 31-bit `M0`),
    /// `+ 2^(n-1)` (no overflow: the product is below 2^62 in magnitude), an arithmetic right
    /// shift by `n` per lane (AVX2 has only the logical one: `~(~x >> n)` for negative `x`),
    /// `+ z_o`, clamp. `N` is a multiple of 4 and every `acc` fits 32 bits.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn apply_avx2<const N: usize>(&self, c0: usize, acc: &[i64; N], out: &mut [i32; N]) {
        use std::arch::x86_64::*;
        assert!(N.is_multiple_of(4) && c0 + N <= self.m0.len());
        let ld = |v: &[i64], i: usize| {
            // SAFETY: i + 4 <= v.len() for every use below (c0 + N <= len).
            unsafe { _mm256_loadu_si256(v.as_ptr().add(i).cast()) }
        };
        let pick = _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6);
        let zero = _mm256_setzero_si256();
        for i in (0..N).step_by(4) {
            let c = c0 + i;
            let x = _mm256_add_epi64(
                _mm256_mul_epi32(ld(acc, i), ld(&self.m0, c)),
                ld(&self.half, c),
            );
            let neg = _mm256_cmpgt_epi64(zero, x);
            let y = _mm256_xor_si256(
                _mm256_srlv_epi64(_mm256_xor_si256(x, neg), ld(&self.shift, c)),
                neg,
            );
            let y = _mm256_add_epi64(y, ld(&self.zero_point, c));
            let lo = ld(&self.lo, c);
            let y = _mm256_blendv_epi8(lo, y, _mm256_cmpgt_epi64(y, lo));
            let hi = ld(&self.hi, c);
            let y = _mm256_blendv_epi8(hi, y, _mm256_cmpgt_epi64(hi, y));
            let packed = _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(y, pick));
            // SAFETY: i + 4 <= N.
            unsafe { _mm_storeu_si128(out.as_mut_ptr().add(i).cast(), packed) };
        }
    }

    /// `out[i] = f(rq[c0 + i].apply(acc[i]), &mut out[i])`, [`NR`] channels at a time.
    #[inline(always)]
    fn stage<T>(
        &self,
        kernel: Kernel,
        c0: usize,
        acc: &[i64],
        out: &mut [T],
        f: impl Fn(i32, &mut T),
    ) {
        let mut y = [0i32; NR];
        for (i, (acc, out)) in acc.chunks(NR).zip(out.chunks_mut(NR)).enumerate() {
            let y = &mut y[..acc.len()];
            self.apply(kernel, c0 + i * NR, acc, y);
            for (&y, o) in y.iter().zip(out) {
                f(y, o);
            }
        }
    }

    /// Activation codes (the clamp bounds of every channel lie within `0..=255`).
    #[inline(always)]
    pub fn codes(&self, kernel: Kernel, c0: usize, acc: &[i64], out: &mut [u8]) {
        self.stage(kernel, c0, acc, out, |y, o| *o = y as u8);
    }

    /// The residual add (U8): `x = sat32(x + y)`.
    #[inline(always)]
    pub fn residual(&self, kernel: Kernel, c0: usize, acc: &[i64], x: &mut [i32]) {
        self.stage(kernel, c0, acc, x, |y, o| *o = o.saturating_add(y));
    }

    /// A table indexed by `y + offset` (the U7 GELU table).
    #[inline(always)]
    pub fn table(
        &self,
        kernel: Kernel,
        c0: usize,
        acc: &[i64],
        table: &[u8],
        offset: i32,
        out: &mut [u8],
    ) {
        self.stage(kernel, c0, acc, out, |y, o| {
            *o = table[(y + offset) as usize]
        });
    }

    /// Plain `s32` outputs.
    #[inline(always)]
    pub fn values(&self, kernel: Kernel, c0: usize, acc: &[i64], out: &mut [i32]) {
        self.stage(kernel, c0, acc, out, |y, o| *o = y);
    }
}

/// Whether every accumulator fits 32 bits (the vector requantization's domain).
#[inline(always)]
pub(super) fn fits_i32(acc: &[i64]) -> bool {
    acc.iter()
        .fold(true, |ok, &a| ok & (a == i64::from(a as i32)))
}

/// What a matmul does with its accumulators, one row segment at a time: `acc` holds the
/// accumulators of channels `c0..c0 + acc.len()` of one row, `out` the matching outputs. The
/// implementations are inlined into the kernel's row loop (compiled for its instruction set).
pub trait OutputStage<T>: Sync {
    fn apply(&self, kernel: Kernel, c0: usize, acc: &[i64], out: &mut [T]);
}

/// The accumulators themselves.
pub struct Accumulators;

impl OutputStage<i64> for Accumulators {
    #[inline(always)]
    fn apply(&self, _: Kernel, _: usize, acc: &[i64], out: &mut [i64]) {
        out.copy_from_slice(acc);
    }
}

/// U2 to activation codes.
pub struct Codes<'a>(pub &'a RequantLanes);

impl OutputStage<u8> for Codes<'_> {
    #[inline(always)]
    fn apply(&self, kernel: Kernel, c0: usize, acc: &[i64], out: &mut [u8]) {
        self.0.codes(kernel, c0, acc, out);
    }
}

/// U2 to the residual stream and the residual add (U8).
pub struct Residual<'a>(pub &'a RequantLanes);

impl OutputStage<i32> for Residual<'_> {
    #[inline(always)]
    fn apply(&self, kernel: Kernel, c0: usize, acc: &[i64], out: &mut [i32]) {
        self.0.residual(kernel, c0, acc, out);
    }
}

/// U2 to `s32` values.
pub struct Values<'a>(pub &'a RequantLanes);

impl OutputStage<i32> for Values<'_> {
    #[inline(always)]
    fn apply(&self, kernel: Kernel, c0: usize, acc: &[i64], out: &mut [i32]) {
        self.0.values(kernel, c0, acc, out);
    }
}

/// U2 to a table index, then the table (U7): `table[y + offset]`.
pub struct Table<'a> {
    pub lanes: &'a RequantLanes,
    pub table: &'a [u8],
    pub offset: i32,
}

impl OutputStage<u8> for Table<'_> {
    #[inline(always)]
    fn apply(&self, kernel: Kernel, c0: usize, acc: &[i64], out: &mut [u8]) {
        self.lanes
            .table(kernel, c0, acc, self.table, self.offset, out);
    }
}
