//! The compute kernels of the integer simulator, each as an AVX2 kernel and a portable one: the
//! U1 matrix product on operands packed once (at lowering for weights, per head for keys) with
//! its output stage fused ([`OutputStage`]: U2 to codes, to the residual stream with U8, to the
//! U7 table; vector requantization in [`RequantLanes`]), U6 rows ([`SoftmaxRows`]), and U3 + U4
//! rows ([`AvValues`]). Every kernel computes the exact integers of docs/arithmetic.md (the units
//! of [`crate::arith`] stay the reference); they differ only in speed, and the tests check that
//! they agree bit for bit, unit by unit and on a whole model.
//!
//! The matrix product follows the usual register-blocked scheme for `vpmaddwd` (AVX2 has no
//! 8-bit dot product that is exact for `u8 x s9`: `vpmaddubsw` saturates): the stationary operands
//! are packed in panels of [`NR`] columns, each pair of depth indices interleaved per column, so
//! one broadcast pair of activation codes times one 256-bit load gives eight columns' partial
//! sums of two products; [`MR`] activation rows share every operand load. Partial sums are i32
//! within chunks of depth short enough that no lane can overflow whatever the operands (the chunk
//! length is derived from the largest operand magnitude when packing), then added in i64.

use rayon::prelude::*;

use crate::arith::logcode::MBITS;
use crate::arith::requant::round_shift;
use crate::arith::shift_av::attention_row;
use crate::arith::softmax::{EBITS, EF, FloorDiv};
use crate::arith::{LogCode, LogCodeParams, PBITS, Requant, SQRT2_Q15, SoftmaxParams};

/// 256-bit vectors (8 i32 lanes) per panel row.
const NG: usize = 2;
/// Columns per packed panel.
pub const NR: usize = 8 * NG;
/// Activation rows per register tile.
pub const MR: usize = 6;
/// Activation rows per parallel task.
const ROW_BLOCK: usize = 32;
/// Largest activation code the matmul kernels take (`u8` codes widened to i16).
const MAX_CODE: i64 = 255;

/// Which kernels run (all give identical results; tests check it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernel {
    Portable,
    /// AVX2 (with FMA, which CPUs with AVX2 have in practice; both are checked).
    Avx2,
}

impl Kernel {
    /// The fastest kernel this CPU supports.
    pub fn detect() -> Kernel {
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
                return Kernel::Avx2;
            }
        }
        Kernel::Portable
    }

    /// Whether this CPU can run the kernel.
    pub fn available(self) -> bool {
        match self {
            Kernel::Portable => true,
            Kernel::Avx2 => Kernel::detect() == Kernel::Avx2,
        }
    }

    /// One register tile: `acc[r][c] +=` the i32 sums over depth pairs `p0..p1` (within one
    /// chunk), for the `m <= MR` rows of `a` (row stride `lda` i16) against one packed panel.
    #[inline]
    fn tile(
        self,
        m: usize,
        a: &[i16],
        lda: usize,
        panel: &[i16],
        range: (usize, usize),
        acc: &mut [[i64; NR]; MR],
    ) {
        macro_rules! dispatch {
            ($f:ident) => {
                match m {
                    1 => $f::<1>(a, lda, panel, range, acc),
                    2 => $f::<2>(a, lda, panel, range, acc),
                    3 => $f::<3>(a, lda, panel, range, acc),
                    4 => $f::<4>(a, lda, panel, range, acc),
                    5 => $f::<5>(a, lda, panel, range, acc),
                    _ => $f::<6>(a, lda, panel, range, acc),
                }
            };
        }
        debug_assert!((1..=MR).contains(&m));
        match self {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `Kernel::Avx2` only runs when `available()` (the public entry points
            // assert it), so the CPU has AVX2.
            Kernel::Avx2 => unsafe { dispatch!(tile_avx2) },
            _ => dispatch!(tile_portable),
        }
    }
}

/// Stationary operands `w[k][c]` packed for the matmul kernels: panels of [`NR`] columns (the last
/// one padded with zero columns), depth padded to even with a zero.
#[derive(Clone, PartialEq, Eq)]
pub struct PackedOperands {
    cols: usize,
    depth: usize,
    pairs: usize,
    /// Depth pairs per i32 chunk: `2 * 255 * max|w| * chunk_pairs <= i32::MAX`.
    chunk_pairs: usize,
    data: Vec<i16>,
}

impl std::fmt::Debug for PackedOperands {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PackedOperands")
            .field("cols", &self.cols)
            .field("depth", &self.depth)
            .field("chunk_pairs", &self.chunk_pairs)
            .finish_non_exhaustive()
    }
}

impl PackedOperands {
    /// Packs operands stored one row per output column: `w[c * depth + k]` is `w[k][c]`.
    pub fn from_rows(w: &[i16], cols: usize, depth: usize) -> Self {
        assert_eq!(w.len(), cols * depth, "operand size");
        let pairs = depth.div_ceil(2);
        let panel_len = pairs * 2 * NR;
        let mut data = vec![0i16; cols.div_ceil(NR) * panel_len];
        for (c, row) in w.chunks_exact(depth.max(1)).take(cols).enumerate() {
            let base = (c / NR) * panel_len + 2 * (c % NR);
            for (k, &v) in row.iter().enumerate() {
                data[base + (k / 2) * 2 * NR + (k & 1)] = v;
            }
        }
        let max_w = w.iter().map(|&v| i64::from(v).abs()).max().unwrap_or(0);
        // One i32 lane sums two products per pair, each at most 255 * max|w| in magnitude.
        let chunk_pairs = if max_w == 0 {
            pairs.max(1)
        } else {
            (i64::from(i32::MAX) / (2 * MAX_CODE * max_w)) as usize
        };
        PackedOperands {
            cols,
            depth,
            pairs,
            chunk_pairs: chunk_pairs.max(1),
            data,
        }
    }

    /// Output columns.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Depth (activation codes per row).
    pub fn depth(&self) -> usize {
        self.depth
    }

    /// Row stride (in i16) of the widened activations the kernels take.
    pub fn stride(&self) -> usize {
        2 * self.pairs
    }

    /// Activation codes `[rows, depth]` widened to i16 rows of [`Self::stride`] (zero padded).
    pub(crate) fn widen(&self, a: &[u8], rows: usize, out: &mut Vec<i16>) {
        assert_eq!(a.len(), rows * self.depth, "activation size");
        let s = self.stride();
        out.clear();
        out.resize(rows * s, 0);
        if self.depth == 0 {
            return;
        }
        for (src, dst) in a.chunks_exact(self.depth).zip(out.chunks_exact_mut(s)) {
            for (d, &v) in dst.iter_mut().zip(src) {
                *d = i16::from(v);
            }
        }
    }

    /// The accumulators `acc[r][c] = bias[c] + sum_k a[r][k] * w[k][c]` (exact), handed to the
    /// output stage a row segment at a time: `epi.apply(kernel, c0, &acc[r][c0..c0 + n], &mut
    /// out[r * cols + c0..][..n])` (`n <= NR`), every accumulator exactly once. `a16` holds
    /// `rows` widened activation rows ([`Self::widen`]; codes 0..=255, padding zero). Blocks of
    /// [`ROW_BLOCK`] rows run on rayon.
    pub(crate) fn matmul<T: Send>(
        &self,
        kernel: Kernel,
        a16: &[i16],
        rows: usize,
        bias: &[i64],
        out: &mut [T],
        epi: &impl OutputStage<T>,
    ) {
        assert!(kernel.available(), "{kernel:?} not supported by this CPU");
        let (cols, lda) = (self.cols, self.stride());
        assert_eq!(a16.len(), rows * lda, "widened activation size");
        assert_eq!(out.len(), rows * cols, "output size");
        assert_eq!(bias.len(), cols, "bias size");
        debug_assert!(a16.iter().all(|&v| (0..=MAX_CODE as i16).contains(&v)));
        if rows == 0 || cols == 0 {
            return;
        }
        if lda == 0 {
            for o in out.chunks_exact_mut(cols) {
                epi.apply(kernel, 0, bias, o);
            }
            return;
        }
        let run = |(a, o): (&[i16], &mut [T])| self.row_block(kernel, a, bias, o, epi);
        if rows > ROW_BLOCK {
            a16.par_chunks(ROW_BLOCK * lda)
                .zip(out.par_chunks_mut(ROW_BLOCK * cols))
                .for_each(run);
        } else {
            a16.chunks(ROW_BLOCK * lda)
                .zip(out.chunks_mut(ROW_BLOCK * cols))
                .for_each(run);
        }
    }

    /// One block of rows with the chosen kernel. The AVX2 entry compiles the whole block (tile
    /// kernel, accumulator conversion and the inlined output stage) for AVX2.
    fn row_block<T>(
        &self,
        kernel: Kernel,
        a: &[i16],
        bias: &[i64],
        out: &mut [T],
        epi: &impl OutputStage<T>,
    ) {
        match kernel {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: Avx2 only runs when available (`matmul` asserts it).
            Kernel::Avx2 => unsafe { self.row_block_avx2(a, bias, out, epi) },
            _ => self.row_block_body(kernel, a, bias, out, epi),
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn row_block_avx2<T>(
        &self,
        a: &[i16],
        bias: &[i64],
        out: &mut [T],
        epi: &impl OutputStage<T>,
    ) {
        self.row_block_body(Kernel::Avx2, a, bias, out, epi)
    }

    /// One block of rows: panels outermost (each panel stays in cache for all the block's rows),
    /// register tiles of [`MR`] rows inside.
    #[inline(always)]
    fn row_block_body<T>(
        &self,
        kernel: Kernel,
        a: &[i16],
        bias: &[i64],
        out: &mut [T],
        epi: &impl OutputStage<T>,
    ) {
        let (cols, lda) = (self.cols, self.stride());
        let rows = a.len() / lda;
        let panel_len = self.pairs * 2 * NR;
        for (p, panel) in self.data.chunks_exact(panel_len).enumerate() {
            let c0 = p * NR;
            let nc = (cols - c0).min(NR);
            let mut bias_pad = [0i64; NR];
            bias_pad[..nc].copy_from_slice(&bias[c0..c0 + nc]);
            let mut r0 = 0;
            while r0 < rows {
                let m = (rows - r0).min(MR);
                let a = &a[r0 * lda..(r0 + m) * lda];
                // acc[r][c] = bias[c] + the tile's sums, chunk by chunk (one chunk, always, for
                // 8-bit operands below depth 16k).
                let mut acc = [bias_pad; MR];
                let mut p0 = 0;
                while p0 < self.pairs {
                    let p1 = (p0 + self.chunk_pairs).min(self.pairs);
                    kernel.tile(m, a, lda, panel, (p0, p1), &mut acc);
                    p0 = p1;
                }
                for (r, acc) in acc.iter().take(m).enumerate() {
                    let orow = &mut out[(r0 + r) * cols + c0..(r0 + r) * cols + c0 + nc];
                    epi.apply(kernel, c0, &acc[..nc], orow);
                }
                r0 += m;
            }
        }
    }
}

/// The portable tile: `acc[r][c] +=` the sum over pairs `p0..p1` of `a[r][2p] * w[2p][c] +
/// a[r][2p+1] * w[2p+1][c]`, summed in i32 (the caller keeps the range within one chunk).
fn tile_portable<const M: usize>(
    a: &[i16],
    lda: usize,
    panel: &[i16],
    (p0, p1): (usize, usize),
    out: &mut [[i64; NR]; MR],
) {
    assert!(a.len() >= (M - 1) * lda + 2 * p1 && panel.len() >= p1 * 2 * NR);
    let mut acc = [[0i32; NR]; M];
    for p in p0..p1 {
        let w = &panel[p * 2 * NR..(p + 1) * 2 * NR];
        for (r, acc_r) in acc.iter_mut().enumerate() {
            let a0 = i32::from(a[r * lda + 2 * p]);
            let a1 = i32::from(a[r * lda + 2 * p + 1]);
            for (s, wc) in acc_r.iter_mut().zip(w.chunks_exact(2)) {
                *s += a0 * i32::from(wc[0]) + a1 * i32::from(wc[1]);
            }
        }
    }
    for (o, s) in out.iter_mut().zip(&acc) {
        for (o, &s) in o.iter_mut().zip(s) {
            *o += i64::from(s);
        }
    }
}

/// AVX2 tile, the same sums: per depth pair, [`NG`] operand vectors and `M` broadcast activation
/// pairs, `M * NG` `vpmaddwd` into i32 accumulators that live in registers.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn tile_avx2<const M: usize>(
    a: &[i16],
    lda: usize,
    panel: &[i16],
    (p0, p1): (usize, usize),
    out: &mut [[i64; NR]; MR],
) {
    use std::arch::x86_64::*;
    assert!(a.len() >= (M - 1) * lda + 2 * p1 && panel.len() >= p1 * 2 * NR);
    let mut acc = [[_mm256_setzero_si256(); NG]; M];
    // SAFETY: p < p1: the panel holds 2 * NR i16 per pair and every row `r < M` holds 2 * p1 i16
    // from r * lda (both asserted above).
    unsafe {
        let mut w = panel.as_ptr().add(p0 * 2 * NR);
        let mut ap = a.as_ptr().add(2 * p0);
        for _ in p0..p1 {
            let wv: [__m256i; NG] =
                std::array::from_fn(|g| _mm256_loadu_si256(w.add(16 * g).cast()));
            for (r, acc_r) in acc.iter_mut().enumerate() {
                let av = _mm256_set1_epi32(ap.add(r * lda).cast::<i32>().read_unaligned());
                for (s, &w) in acc_r.iter_mut().zip(&wv) {
                    *s = _mm256_add_epi32(*s, _mm256_madd_epi16(av, w));
                }
            }
            w = w.add(2 * NR);
            ap = ap.add(2);
        }
        // Sign-extend the i32 sums and add them to the i64 accumulators, four lanes at a time.
        for (out, acc_r) in out.iter_mut().zip(&acc) {
            for (g, v) in acc_r.iter().enumerate() {
                let halves = [
                    _mm256_castsi256_si128(*v),
                    _mm256_extracti128_si256::<1>(*v),
                ];
                for (h, half) in halves.into_iter().enumerate() {
                    let o = out.as_mut_ptr().add(8 * g + 4 * h).cast::<__m256i>();
                    _mm256_storeu_si256(
                        o,
                        _mm256_add_epi64(_mm256_loadu_si256(o), _mm256_cvtepi32_epi64(half)),
                    );
                }
            }
        }
    }
}

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
fn fits_i32(acc: &[i64]) -> bool {
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

/// U6 for the rows of one attention layer: exactly [`SoftmaxParams::apply`], with an AVX2 path
/// for rows whose integers allow it (32-bit scores, the model's `EXP2` table whose entries are
/// below 2^21, rows of at most 1024 keys, a shift `n >= 31`, with which every logit of a 32-bit
/// score fits `s32` so that the logit's clamp never acts); any other row, and the portable
/// kernel, use the unit itself.
pub struct SoftmaxRows<'a> {
    sp: SoftmaxParams,
    table: &'a [u32],
    /// The table has `2^EF` entries below 2^21 and the multiplier fits the vector code.
    table_ok: bool,
}

impl<'a> SoftmaxRows<'a> {
    pub fn new(sp: SoftmaxParams, table: &'a [u32]) -> Self {
        // The table the unit's constants come with, and constants as `Requant::multiplier` makes
        // them (`M0 < 2^31`, `n` in 1..=62), which the vector code assumes.
        let table_ok = table.len() == 1 << EF
            && table.iter().all(|&e| e < 1 << 21)
            && sp.m0 < 1 << 31
            && (31..=62).contains(&sp.shift);
        SoftmaxRows {
            sp,
            table,
            table_ok,
        }
    }

    /// Probabilities of one row of accumulators, written to `p`.
    pub fn apply(&self, kernel: Kernel, acc: &[i64], p: &mut [u32]) {
        assert_eq!(acc.len(), p.len(), "softmax row width");
        #[cfg(target_arch = "x86_64")]
        if kernel == Kernel::Avx2
            && self.table_ok
            && (4..=1024).contains(&acc.len())
            && fits_i32(acc)
        {
            assert!(kernel.available(), "{kernel:?} not supported by this CPU");
            // SAFETY: AVX2 is available (asserted).
            return unsafe { self.apply_avx2(acc, p) };
        }
        let _ = kernel;
        self.sp.apply(self.table, acc, p);
    }

    /// The unit's three passes, four keys per step: (1) `z = round_shift(acc * M0, n)` by
    /// `vpmuldq` (exact: 32-bit scores, 31-bit `M0`) and an emulated arithmetic shift, and its
    /// maximum; (2) `delta = zmax - z` (capped at 2^20, which changes nothing: every delta from
    /// 21 * 2^EF on gives `e = 0`), the table gathered at `delta mod 2^EF` and shifted right by
    /// `delta >> EF`, zero beyond EBITS, and its sum; (3) the rounded division by the sum.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn apply_avx2(&self, acc: &[i64], p: &mut [u32]) {
        use std::arch::x86_64::*;
        let n = acc.len();
        let body = n / 4 * 4;
        let m0 = _mm256_set1_epi64x(i64::from(self.sp.m0));
        let half = _mm256_set1_epi64x(1i64 << (self.sp.shift - 1));
        let count = _mm_cvtsi32_si128(self.sp.shift as i32);
        let zero = _mm256_setzero_si256();
        let ld = |i: usize| {
            // SAFETY: i + 4 <= body <= n = acc.len() at every use.
            unsafe { _mm256_loadu_si256(acc.as_ptr().add(i).cast()) }
        };
        let z4 = |i: usize| {
            let x = _mm256_add_epi64(_mm256_mul_epi32(ld(i), m0), half);
            let neg = _mm256_cmpgt_epi64(zero, x);
            _mm256_xor_si256(_mm256_srl_epi64(_mm256_xor_si256(x, neg), count), neg)
        };
        let z1 = |a: i64| round_shift(a * i64::from(self.sp.m0), self.sp.shift);
        // (1) the maximum logit.
        let mut vmax = z4(0);
        for i in (4..body).step_by(4) {
            let z = z4(i);
            vmax = _mm256_blendv_epi8(vmax, z, _mm256_cmpgt_epi64(z, vmax));
        }
        let mut lanes = [0i64; 4];
        // SAFETY: `lanes` is 32 bytes.
        unsafe { _mm256_storeu_si256(lanes.as_mut_ptr().cast(), vmax) };
        let zmax = lanes
            .into_iter()
            .chain(acc[body..].iter().map(|&a| z1(a)))
            .max()
            .unwrap_or(0);
        // (2) e = EXP2[delta mod 2^EF] >> (delta >> EF), 0 beyond EBITS.
        let vzmax = _mm256_set1_epi64x(zmax);
        let cap = _mm256_set1_epi64x(1 << 20);
        let mask = _mm256_set1_epi64x((1 << EF) - 1);
        let pick = _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6);
        let ebits = _mm_set1_epi32(EBITS as i32);
        let thirty_one = _mm_set1_epi32(31);
        let (mut vsum, mut vemax) = (_mm256_setzero_si256(), _mm_setzero_si128());
        for i in (0..body).step_by(4) {
            let delta = _mm256_sub_epi64(vzmax, z4(i));
            let delta = _mm256_blendv_epi8(delta, cap, _mm256_cmpgt_epi64(delta, cap));
            // SAFETY: every index is delta mod 2^EF < 2^EF = table.len() (`table_ok`).
            let g = unsafe {
                _mm256_i64gather_epi32::<4>(
                    self.table.as_ptr().cast(),
                    _mm256_and_si256(delta, mask),
                )
            };
            let q = _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(
                _mm256_srli_epi64::<{ EF as i32 }>(delta),
                pick,
            ));
            let e = _mm_srlv_epi32(g, _mm_min_epi32(q, thirty_one));
            let e = _mm_andnot_si128(_mm_cmpgt_epi32(q, ebits), e);
            // SAFETY: i + 4 <= body <= p.len().
            unsafe { _mm_storeu_si128(p.as_mut_ptr().add(i).cast(), e) };
            vsum = _mm256_add_epi64(vsum, _mm256_cvtepu32_epi64(e));
            vemax = _mm_max_epu32(vemax, e);
        }
        // SAFETY: `lanes` is 32 bytes.
        unsafe { _mm256_storeu_si256(lanes.as_mut_ptr().cast(), vsum) };
        let mut sum: u64 = lanes.iter().map(|&v| v as u64).sum();
        let mut elanes = [0u32; 4];
        // SAFETY: `elanes` is 16 bytes.
        unsafe { _mm_storeu_si128(elanes.as_mut_ptr().cast(), vemax) };
        let mut emax = elanes.into_iter().max().unwrap_or(0);
        for (&a, out) in acc[body..].iter().zip(&mut p[body..]) {
            let delta = zmax - z1(a);
            let q = delta >> EF;
            let shifted = self.table[(delta & ((1 << EF) - 1)) as usize] >> q.min(31);
            let e = if q > i64::from(EBITS) { 0 } else { shifted };
            *out = e;
            sum += u64::from(e);
            emax = emax.max(e);
        }
        // (3) p = floor((e 2^17 + S) / 2S), by the unit's exact integer multiply-shift divider
        // ([`FloorDiv`]) for the whole row: no floating point in the datapath.
        let d = 2 * sum;
        let div = FloorDiv::new(d, (u64::from(emax) << 17) + sum);
        for out in &mut p[..] {
            *out = div.div((u64::from(*out) << 17) + sum) as u32;
        }
    }
}

/// The value operands of one attention head, prepared once for U4 over all its query rows:
/// `v << F` per key and channel (`[T, D_h]`), and whether the even and odd sums provably fit
/// i32.
pub struct AvValues {
    dh: usize,
    f: u32,
    /// `v_j[c] - z_v`, as given.
    values: Vec<i32>,
    /// `(v_j[c] - z_v) << F`.
    shifted: Vec<i32>,
    /// `T * max|v << F| <= i32::MAX`: every partial sum of either accumulator fits i32.
    narrow: bool,
}

/// Reusable per-row lists of U4: `(row offset, shifts)` of the keys with even and odd codes.
#[derive(Default)]
pub struct AvScratch {
    even: Vec<(u32, u32)>,
    odd: Vec<(u32, u32)>,
    sums: Vec<i32>,
    tags: Vec<u32>,
    codes: Vec<LogCode>,
}

/// A key's U4 tag: the shift `k = min(ceil(code / 2), 31)` (shifting an i32 by 31 or more gives
/// what 31 gives, 0 or -1), bit 8 set when the flag is clear, bit 9 the code's parity.
#[inline(always)]
fn tag(code: u32, zero: bool) -> u32 {
    ((code + 1) >> 1).min(31) | u32::from(!zero) << 8 | (code & 1) << 9
}

/// [`tag`] of `lc.code(p)` for every probability, eight lanes at a time: `e` (the leading one) from
/// the exponent of `p` as f32 (exact below 2^24), the mantissa by a left or right shift, the three
/// threshold comparisons, `raw = 2 (16 - e) + C_INT + r`, the zero flag for `p = 0` or
/// `raw >= 2^bits` ([`LogCodeParams::code`], step by step).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn logcode_tags_avx2(lc: &LogCodeParams, probs: &[u32], tags: &mut [u32]) {
    use std::arch::x86_64::*;
    assert_eq!(probs.len(), tags.len());
    let body = probs.len() / 8 * 8;
    let [t1, t0, tm1] = lc.thresholds.map(|t| _mm256_set1_epi32(t as i32));
    let (zero, one, fifteen, thirty_one) = (
        _mm256_setzero_si256(),
        _mm256_set1_epi32(1),
        _mm256_set1_epi32(MBITS as i32),
        _mm256_set1_epi32(31),
    );
    let base = _mm256_set1_epi32(2 * PBITS as i32 + 1 + lc.c_int);
    let top = _mm256_set1_epi32((1 << lc.bits) - 1);
    for i in (0..body).step_by(8) {
        // SAFETY: i + 8 <= body <= probs.len() = tags.len().
        let p = unsafe { _mm256_loadu_si256(probs.as_ptr().add(i).cast()) };
        let is_zero = _mm256_cmpeq_epi32(p, zero);
        let e = _mm256_sub_epi32(
            _mm256_srli_epi32::<23>(_mm256_castps_si256(_mm256_cvtepi32_ps(p))),
            _mm256_set1_epi32(127),
        );
        let left = _mm256_max_epi32(_mm256_sub_epi32(fifteen, e), zero);
        let right = _mm256_max_epi32(_mm256_sub_epi32(e, fifteen), zero);
        let m = _mm256_srlv_epi32(_mm256_sllv_epi32(p, left), right);
        // r = [m <= T1] + [m <= T0] + [m <= T-1] - 2 = 1 + (the three m > T as 0 / -1).
        let gt = _mm256_add_epi32(
            _mm256_add_epi32(_mm256_cmpgt_epi32(m, t1), _mm256_cmpgt_epi32(m, t0)),
            _mm256_cmpgt_epi32(m, tm1),
        );
        let raw = _mm256_add_epi32(_mm256_sub_epi32(base, _mm256_add_epi32(e, e)), gt);
        let flag = _mm256_or_si256(is_zero, _mm256_cmpgt_epi32(raw, top));
        let code = _mm256_max_epi32(raw, zero);
        let k = _mm256_min_epi32(
            _mm256_srli_epi32::<1>(_mm256_add_epi32(code, one)),
            thirty_one,
        );
        let live = _mm256_slli_epi32::<8>(_mm256_andnot_si256(flag, one));
        let odd = _mm256_slli_epi32::<9>(_mm256_and_si256(code, one));
        let t = _mm256_or_si256(k, _mm256_or_si256(live, odd));
        // SAFETY: as the load.
        unsafe { _mm256_storeu_si256(tags.as_mut_ptr().add(i).cast(), t) };
    }
    for (t, &p) in tags[body..].iter_mut().zip(&probs[body..]) {
        let c = lc.code(p);
        *t = tag(c.code, c.zero);
    }
}

impl AvValues {
    /// `values[j * dh + c] = V_code[j][c] - z_v` (`|v| < 2^14`), `F = f <= 16`.
    pub fn new(values: Vec<i32>, dh: usize, f: u32) -> Self {
        assert!(f <= 16, "F = {f} > 16");
        assert!(
            dh > 0 && values.len().is_multiple_of(dh),
            "one value row per key"
        );
        assert!(
            values.iter().all(|v| v.unsigned_abs() < 1 << 14),
            "|v| >= 2^14"
        );
        let shifted: Vec<i32> = values.iter().map(|&v| v << f).collect();
        let max = values
            .iter()
            .map(|v| u64::from(v.unsigned_abs()) << f)
            .max();
        let keys = (values.len() / dh) as u64;
        let narrow = keys
            .checked_mul(max.unwrap_or(0))
            .is_some_and(|b| b <= i32::MAX as u64)
            && u32::try_from(values.len()).is_ok();
        AvValues {
            dh,
            f,
            values,
            shifted,
            narrow,
        }
    }

    /// U4 for one query row: exactly [`attention_row`] (`out[c] = E + round_shift(O * SQRT2,
    /// 15)`), for the codes of that row (one per key).
    pub fn row(&self, kernel: Kernel, codes: &[LogCode], s: &mut AvScratch, out: &mut [i64]) {
        assert!(kernel.available(), "{kernel:?} not supported by this CPU");
        let dh = self.dh;
        assert_eq!(out.len(), dh, "one output per channel");
        assert_eq!(self.values.len(), codes.len() * dh, "one code per key");
        if !self.narrow {
            attention_row(codes, &self.values, self.f, out);
            return;
        }
        self.row_tagged(kernel, codes.iter().map(|c| tag(c.code, c.zero)), s, out);
    }

    /// U3 then U4 for one query row from its probabilities (`p <= 2^16`): exactly [`Self::row`]
    /// of the codes `lc.code(p)` ([`LogCodeParams::code`]), with the codes computed eight at a
    /// time by the AVX2 kernel.
    pub fn row_from_probs(
        &self,
        kernel: Kernel,
        lc: &LogCodeParams,
        probs: &[u32],
        s: &mut AvScratch,
        out: &mut [i64],
    ) {
        assert!(kernel.available(), "{kernel:?} not supported by this CPU");
        assert_eq!(out.len(), self.dh, "one output per channel");
        assert_eq!(
            self.values.len(),
            probs.len() * self.dh,
            "one probability per key"
        );
        #[cfg(target_arch = "x86_64")]
        if kernel == Kernel::Avx2
            && self.narrow
            && lc.bits < 31
            && probs.iter().fold(true, |ok, &p| ok & (p < 1 << 24))
        {
            let mut tags = std::mem::take(&mut s.tags);
            tags.resize(probs.len(), 0);
            // SAFETY: AVX2 is available (asserted).
            unsafe { logcode_tags_avx2(lc, probs, &mut tags) };
            self.row_tagged(kernel, tags.iter().copied(), s, out);
            s.tags = tags;
            return;
        }
        let mut codes = std::mem::take(&mut s.codes);
        codes.clear();
        codes.extend(probs.iter().map(|&p| lc.code(p)));
        self.row(kernel, &codes, s, out);
        s.codes = codes;
    }

    /// U4 from per-key tags ([`tag`]), in key order.
    fn row_tagged(
        &self,
        kernel: Kernel,
        tags: impl ExactSizeIterator<Item = u32>,
        s: &mut AvScratch,
        out: &mut [i64],
    ) {
        let dh = self.dh;
        // Keys with the flag clear, split by code parity, without data-dependent branches (the
        // parity is as good as random): each entry is written to both lists, and only the list
        // of its parity advances.
        let t = tags.len();
        s.even.resize(t + 1, (0, 0));
        s.odd.resize(t + 1, (0, 0));
        let (mut ne, mut no) = (0, 0);
        for (j, tag) in tags.enumerate() {
            // `narrow` implies values.len() fits u32.
            let entry = ((j * dh) as u32, tag & 0xff);
            s.even[ne] = entry;
            s.odd[no] = entry;
            let live = (tag >> 8) as usize & 1;
            let odd = (tag >> 9) as usize & 1;
            ne += live & (odd ^ 1);
            no += live & odd;
        }
        s.sums.clear();
        s.sums.resize(2 * dh, 0);
        let (even, odd) = s.sums.split_at_mut(dh);
        self.sum_list(kernel, &s.even[..ne], even);
        self.sum_list(kernel, &s.odd[..no], odd);
        for ((o, &e), &d) in out.iter_mut().zip(even.iter()).zip(odd.iter()) {
            *o = i64::from(e) + round_shift(i64::from(d) * SQRT2_Q15, 15);
        }
    }

    /// `acc[c] = sum over (off, k) in list of shifted[off + c] >> k` (i32, cannot overflow).
    fn sum_list(&self, kernel: Kernel, list: &[(u32, u32)], acc: &mut [i32]) {
        let mut c0 = 0;
        #[cfg(target_arch = "x86_64")]
        if kernel == Kernel::Avx2 {
            while c0 + AV_BLOCK <= self.dh {
                // SAFETY: Avx2 is only used when available (asserted by `row`).
                unsafe { sum_list_avx2(&self.shifted, list, c0, &mut acc[c0..c0 + AV_BLOCK]) };
                c0 += AV_BLOCK;
            }
        }
        let _ = kernel;
        sum_list_portable(&self.shifted, list, c0, &mut acc[c0..]);
    }
}

/// Channels per AVX2 pass of U4 (eight vectors of accumulators in registers).
const AV_BLOCK: usize = 64;

fn sum_list_portable(vals: &[i32], list: &[(u32, u32)], c0: usize, acc: &mut [i32]) {
    let w = acc.len();
    acc.fill(0);
    for &(off, k) in list {
        let row = &vals[off as usize + c0..off as usize + c0 + w];
        for (a, &v) in acc.iter_mut().zip(row) {
            *a += v >> k;
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn sum_list_avx2(vals: &[i32], list: &[(u32, u32)], c0: usize, acc: &mut [i32]) {
    use std::arch::x86_64::*;
    assert_eq!(acc.len(), AV_BLOCK);
    let mut s = [_mm256_setzero_si256(); AV_BLOCK / 8];
    for &(off, k) in list {
        let row = &vals[off as usize + c0..off as usize + c0 + AV_BLOCK];
        let count = _mm_cvtsi32_si128(k as i32);
        for (i, s) in s.iter_mut().enumerate() {
            // SAFETY: `row` holds AV_BLOCK = 8 * 8 i32.
            let v = unsafe { _mm256_loadu_si256(row.as_ptr().add(8 * i).cast()) };
            *s = _mm256_add_epi32(*s, _mm256_sra_epi32(v, count));
        }
    }
    for (i, v) in s.iter().enumerate() {
        // SAFETY: acc holds AV_BLOCK i32.
        unsafe { _mm256_storeu_si256(acc.as_mut_ptr().add(8 * i).cast(), *v) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Exact reference: `bias[c] + sum_k a[r][k] * w[c][k]` in i64, one product at a time.
    fn reference(a: &[u8], w: &[i16], bias: &[i64], rows: usize, depth: usize) -> Vec<i64> {
        let cols = bias.len();
        let mut out = Vec::with_capacity(rows * cols);
        for r in 0..rows {
            for c in 0..cols {
                let s: i64 = (0..depth)
                    .map(|k| i64::from(a[r * depth + k]) * i64::from(w[c * depth + k]))
                    .sum();
                out.push(bias[c] + s);
            }
        }
        out
    }

    fn kernels() -> Vec<Kernel> {
        [Kernel::Portable, Kernel::Avx2]
            .into_iter()
            .filter(|k| k.available())
            .collect()
    }

    fn run(k: Kernel, p: &PackedOperands, a: &[u8], rows: usize, bias: &[i64]) -> Vec<i64> {
        let mut a16 = Vec::new();
        p.widen(a, rows, &mut a16);
        let mut out = vec![0i64; rows * p.cols()];
        p.matmul(k, &a16, rows, bias, &mut out, &Accumulators);
        out
    }

    /// Every kernel equals the exact reference on edge shapes: rows not a multiple of MR (nor of
    /// the row block; more rows than one block run in parallel), columns not a multiple of NR,
    /// odd depths, extreme operands (which force several i32 chunks), zero-size cases.
    #[test]
    fn kernels_agree_exactly_on_edge_shapes() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for &(rows, cols, depth) in &[
            (1, 1, 1),
            (3, 5, 2),
            (4, 24, 64),
            (5, 25, 65),
            (7, 23, 3),
            (9, 49, 385),
            (33, 48, 17),
            (70, 97, 64),
            (2, 0, 5),
            (0, 3, 5),
            (3, 4, 0),
        ] {
            for max_w in [1i64, 255, 256, 32767] {
                let w: Vec<i16> = (0..cols * depth)
                    .map(|_| {
                        let v = (next() % (2 * max_w as u64 + 1)) as i64 - max_w;
                        // Some runs of the extreme values, which stress the chunk bound.
                        if next() % 4 == 0 {
                            max_w as i16
                        } else {
                            v as i16
                        }
                    })
                    .collect();
                let a: Vec<u8> = (0..rows * depth)
                    .map(|_| if next() % 3 == 0 { 255 } else { next() as u8 })
                    .collect();
                let bias: Vec<i64> = (0..cols).map(|_| next() as i64 >> 20).collect();
                let want = reference(&a, &w, &bias, rows, depth);
                let p = PackedOperands::from_rows(&w, cols, depth);
                for k in kernels() {
                    assert_eq!(
                        run(k, &p, &a, rows, &bias),
                        want,
                        "{k:?} rows {rows} cols {cols} depth {depth} max|w| {max_w}"
                    );
                }
            }
        }
    }

    #[test]
    fn long_depth_uses_several_chunks_exactly() {
        // 255 * 32767 * 2 per pair: 128 pairs per chunk, so 5001 depth is 20 chunks, and every
        // product at its extreme.
        let (rows, cols, depth) = (5, 26, 5001);
        let w: Vec<i16> = (0..cols * depth)
            .map(|i| if i % 5 == 0 { -32767 } else { 32767 })
            .collect();
        let a = vec![255u8; rows * depth];
        let bias: Vec<i64> = (0..cols as i64).collect();
        let p = PackedOperands::from_rows(&w, cols, depth);
        assert!(p.chunk_pairs < depth / 2 / 10);
        let want = reference(&a, &w, &bias, rows, depth);
        for k in kernels() {
            assert_eq!(run(k, &p, &a, rows, &bias), want, "{k:?}");
        }
    }

    /// The vector requantization equals [`Requant::apply`] on every lane: shifts 1..=62, zero
    /// and extreme multipliers, accumulators at and beyond the 32-bit range (scalar fallback),
    /// code, `s16` and `s32` clamps, and segment lengths that leave a scalar tail.
    #[test]
    fn requant_lanes_equal_the_reference_unit() {
        let mut v = 0x0123_4567_89ab_cdefu64;
        let mut next = move || {
            v ^= v << 13;
            v ^= v >> 7;
            v ^= v << 17;
            v
        };
        let rq: Vec<Requant> = (0..200)
            .map(|i| {
                let shift = 1 + (i % 62) as u32;
                let m0 = match i % 5 {
                    0 => 0,
                    1 => 1 << 30,
                    2 => u32::MAX >> 1,
                    _ => (1 << 30) + (next() as u32 >> 2),
                };
                let (lo, hi) = match i % 3 {
                    0 => (0, 255),
                    1 => (-(1 << 15), (1 << 15) - 1),
                    _ => (i32::MIN, i32::MAX),
                };
                let zero_point = (next() % 300) as i32 - 20;
                Requant {
                    m0,
                    shift,
                    zero_point,
                    lo,
                    hi,
                }
            })
            .collect();
        let lanes = RequantLanes::new(&rq);
        for round in 0..400 {
            let len = 1 + (next() % 40) as usize;
            let c0 = (next() as usize) % (rq.len() - len);
            let acc: Vec<i64> = (0..len)
                .map(|_| match next() % 8 {
                    0 => i64::from(i32::MIN),
                    1 => i64::from(i32::MAX),
                    2 => 0,
                    3 => -1,
                    _ => (next() as i64) >> (33 + next() % 30),
                })
                .collect();
            // Some segments with an accumulator beyond 32 bits.
            let mut acc = acc;
            if round % 7 == 0 {
                acc[0] = 1 << 32;
            }
            let want: Vec<i32> = acc
                .iter()
                .enumerate()
                .map(|(i, &a)| rq[c0 + i].apply(a))
                .collect();
            for k in kernels() {
                let mut got = vec![0i32; len];
                lanes.apply(k, c0, &acc, &mut got);
                assert_eq!(got, want, "{k:?} c0 {c0}");
            }
        }
    }

    /// The vector softmax equals [`SoftmaxParams::apply`]: rows of every length around the
    /// vector width, scores from flat to far apart (e = 0 beyond EBITS), extreme multipliers,
    /// rows that leave the vector path (scores beyond 32 bits).
    #[test]
    fn softmax_rows_equal_the_reference_unit() {
        let table = crate::arith::exp2_table();
        let mut v = 0xdead_beef_1234_5678u64;
        let mut next = move || {
            v ^= v << 13;
            v ^= v >> 7;
            v ^= v << 17;
            v
        };
        for (m0, shift) in [
            (1u32 << 30, 1),
            (1 << 30, 40),
            (u32::MAX >> 1, 62),
            (1_500_000_000, 33),
            (1 << 30, 20),
        ] {
            let sp = SoftmaxParams { m0, shift };
            let rows = SoftmaxRows::new(sp, &table);
            for len in [1usize, 3, 4, 5, 7, 8, 9, 16, 197, 1024, 1025] {
                for (spread, beyond) in [
                    (0i64, false),
                    (3, false),
                    (1000, false),
                    (1 << 20, false),
                    ((1 << 31) - 1, false),
                    (1000, true),
                ] {
                    let mut acc: Vec<i64> = (0..len)
                        .map(|_| {
                            if spread == 0 {
                                0
                            } else {
                                (next() % (2 * spread as u64)) as i64 - spread
                            }
                        })
                        .collect();
                    if beyond {
                        // One score beyond 32 bits: the row takes the unit's own path.
                        acc[len / 2] = 1 << 31;
                    }
                    let mut want = vec![0u32; len];
                    sp.apply(&table, &acc, &mut want);
                    for k in kernels() {
                        let mut got = vec![0u32; len];
                        rows.apply(k, &acc, &mut got);
                        assert_eq!(
                            got, want,
                            "{k:?} m0 {m0} n {shift} len {len} spread {spread}"
                        );
                    }
                }
            }
        }
    }

    /// U3 + U4 from probabilities equals the code unit followed by U4: every probability
    /// 0..=2^16 across rows, several scales (negative and positive C_INT) and widths, rows whose
    /// length leaves a scalar tail.
    #[test]
    fn codes_from_probabilities_equal_the_code_unit() {
        let (dh, f) = (16, 9);
        for bits in [3u32, 4, 8] {
            for scale in [1.0, 0.731, 0.25, 0.0613, 1.3, 3e-3] {
                let lc = LogCodeParams::from_scale(scale, bits);
                for t in [1usize, 7, 8, 9, 197] {
                    let values: Vec<i32> =
                        (0..t * dh).map(|i| (i as i32 * 37) % 511 - 255).collect();
                    let av = AvValues::new(values, dh, f);
                    let mut s = AvScratch::default();
                    // Probabilities spread over 0..=2^16, both ends included.
                    for start in (0..=65536u32).step_by(t.max(64) * 3 + 1) {
                        let probs: Vec<u32> =
                            (0..t as u32).map(|j| (start + j * 997) % 65537).collect();
                        let codes: Vec<LogCode> = probs.iter().map(|&p| lc.code(p)).collect();
                        let mut want = vec![0i64; dh];
                        av.row(Kernel::Portable, &codes, &mut s, &mut want);
                        for k in kernels() {
                            let mut got = vec![0i64; dh];
                            av.row_from_probs(k, &lc, &probs, &mut s, &mut got);
                            assert_eq!(got, want, "{k:?} bits {bits} scale {scale} t {t}");
                        }
                    }
                }
            }
        }
    }

    /// Constants outside what lowering produces (`M0 >= 2^31`) keep to the reference unit.
    #[test]
    fn unusual_requant_constants_take_the_reference_path() {
        let rq: Vec<Requant> = (0..NR as u32)
            .map(|i| Requant {
                m0: u32::MAX - i,
                shift: 40 + i % 8,
                zero_point: 3,
                lo: 0,
                hi: 255,
            })
            .collect();
        let lanes = RequantLanes::new(&rq);
        let acc: Vec<i64> = (0..NR as i64).map(|i| (i - 8) * 123_456_789).collect();
        let want: Vec<i32> = acc.iter().zip(&rq).map(|(&a, r)| r.apply(a)).collect();
        for k in kernels() {
            let mut got = vec![0i32; NR];
            lanes.apply(k, 0, &acc, &mut got);
            assert_eq!(got, want, "{k:?}");
        }
    }

    #[test]
    fn av_row_equals_the_reference_unit() {
        let mut seed = 7u64;
        let mut next = move || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            seed >> 33
        };
        let mut narrow_cases = 0;
        for &(t, dh, f) in &[
            (197, 64, 16),
            (197, 64, 13),
            (5, 8, 0),
            (33, 130, 7),
            (40, 3, 16),
            (1, 64, 12),
        ] {
            for bits in [4u32, 8] {
                let span = 1i64 << bits;
                let values: Vec<i32> = (0..t * dh)
                    .map(|_| (next() as i64 % (2 * span) - span) as i32)
                    .collect();
                let av = AvValues::new(values.clone(), dh, f);
                let bound =
                    (t as i64 * (values.iter().map(|v| v.abs()).max().unwrap() as i64)) << f;
                assert_eq!(av.narrow, bound <= i64::from(i32::MAX));
                narrow_cases += usize::from(av.narrow);
                let mut s = AvScratch::default();
                for _ in 0..4 {
                    let codes: Vec<LogCode> = (0..t)
                        .map(|_| LogCode {
                            code: (next() % (1 << bits)) as u32,
                            zero: next() % 7 == 0,
                        })
                        .collect();
                    let mut want = vec![0i64; dh];
                    attention_row(&codes, &values, f, &mut want);
                    for k in kernels() {
                        let mut got = vec![0i64; dh];
                        av.row(k, &codes, &mut s, &mut got);
                        assert_eq!(got, want, "{k:?} t {t} dh {dh} f {f}");
                    }
                }
            }
        }
        assert!(narrow_cases >= 8, "{narrow_cases}");
        // Too many keys for i32 sums: the i64 reference path.
        let values = vec![-(1 << 13); 70_000];
        let av = AvValues::new(values.clone(), 1, 16);
        assert!(!av.narrow);
        let codes = vec![
            LogCode {
                code: 1,
                zero: false
            };
            70_000
        ];
        let mut want = [0i64];
        attention_row(&codes, &values, 16, &mut want);
        let mut got = [0i64];
        av.row(
            Kernel::detect(),
            &codes,
            &mut AvScratch::default(),
            &mut got,
        );
        assert_eq!(got, want);
    }
}
