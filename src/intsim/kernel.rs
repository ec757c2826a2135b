//! The compute kernels of the integer simulator: the U1 matrix product on operands packed once
//! (at lowering for weights, per head for keys) and the U4 shift-and-add row, each as an AVX2
//! kernel and a portable one. Every kernel computes the exact integers of docs/arithmetic.md; they
//! differ only in speed, and the tests check that they agree bit for bit.
//!
//! The matrix product follows the usual register-blocked scheme for `vpmaddwd` (AVX2 has no
//! 8-bit dot product that is exact for `u8 x s9`: `vpmaddubsw` saturates): the stationary operands
//! are packed in panels of [`NR`] columns, each pair of depth indices interleaved per column, so
//! one broadcast pair of activation codes times one 256-bit load gives eight columns' partial
//! sums of two products; [`MR`] activation rows share every operand load. Partial sums are i32
//! within chunks of depth short enough that no lane can overflow whatever the operands (the chunk
//! length is derived from the largest operand magnitude when packing), then added in i64.

use rayon::prelude::*;

use crate::arith::requant::round_shift;
use crate::arith::shift_av::attention_row;
use crate::arith::{LogCode, SQRT2_Q15};

/// 256-bit vectors (8 i32 lanes) per panel row.
const NG: usize = 3;
/// Columns per packed panel.
pub const NR: usize = 8 * NG;
/// Activation rows per register tile.
pub const MR: usize = 4;
/// Activation rows per parallel task.
const ROW_BLOCK: usize = 32;
/// Largest activation code the matmul kernels take (`u8` codes widened to i16).
const MAX_CODE: i64 = 255;

/// Which kernels run (all give identical results; tests check it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernel {
    Portable,
    Avx2,
}

impl Kernel {
    /// The fastest kernel this CPU supports.
    pub fn detect() -> Kernel {
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("avx2") {
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

    /// One register tile: `tile[r][c] += sum_k a[r][k] * w[k][c]` for the `m <= MR` rows of `a`
    /// (row stride `lda` i16) against one packed panel.
    #[inline]
    fn tile(self, m: usize, a: &[i16], lda: usize, panel: &Panel, tile: &mut [[i64; NR]; MR]) {
        macro_rules! dispatch {
            ($f:ident) => {
                match m {
                    1 => $f::<1>(a, lda, panel, tile),
                    2 => $f::<2>(a, lda, panel, tile),
                    3 => $f::<3>(a, lda, panel, tile),
                    _ => $f::<4>(a, lda, panel, tile),
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

/// One packed panel as the tile kernels see it.
struct Panel<'a> {
    /// `[pairs][NR][2]`: for depth pair `p` and column `c`, `w[2p][c], w[2p + 1][c]`.
    data: &'a [i16],
    pairs: usize,
    /// Depth pairs per i32 chunk.
    chunk: usize,
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
    pub fn widen(&self, a: &[u8], rows: usize, out: &mut Vec<i16>) {
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

    /// `epi(c, bias[c] + sum_k a[r][k] * w[k][c], &mut out[r * cols + c])` for every row `r` and
    /// column `c`, where `a16` holds `rows` widened activation rows ([`Self::widen`]; codes
    /// 0..=255, padding zero). The sums are exact. With `parallel`, blocks of rows run on rayon.
    pub fn matmul<T: Send>(
        &self,
        kernel: Kernel,
        a16: &[i16],
        rows: usize,
        bias: &[i64],
        out: &mut [T],
        parallel: bool,
        epi: &(impl Fn(usize, i64, &mut T) + Sync),
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
            for (j, o) in out.iter_mut().enumerate() {
                epi(j % cols, bias[j % cols], o);
            }
            return;
        }
        let run = |(a, o): (&[i16], &mut [T])| self.row_block(kernel, a, bias, o, epi);
        if parallel && rows > ROW_BLOCK {
            a16.par_chunks(ROW_BLOCK * lda)
                .zip(out.par_chunks_mut(ROW_BLOCK * cols))
                .for_each(run);
        } else {
            a16.chunks(ROW_BLOCK * lda)
                .zip(out.chunks_mut(ROW_BLOCK * cols))
                .for_each(run);
        }
    }

    /// One block of rows: panels outermost (each panel stays in cache for all the block's rows),
    /// register tiles of [`MR`] rows inside.
    fn row_block<T>(
        &self,
        kernel: Kernel,
        a: &[i16],
        bias: &[i64],
        out: &mut [T],
        epi: &impl Fn(usize, i64, &mut T),
    ) {
        let (cols, lda) = (self.cols, self.stride());
        let rows = a.len() / lda;
        let panel_len = self.pairs * 2 * NR;
        for (p, data) in self.data.chunks_exact(panel_len).enumerate() {
            let panel = Panel {
                data,
                pairs: self.pairs,
                chunk: self.chunk_pairs,
            };
            let c0 = p * NR;
            let nc = (cols - c0).min(NR);
            let mut r0 = 0;
            while r0 < rows {
                let m = (rows - r0).min(MR);
                let mut tile = [[0i64; NR]; MR];
                kernel.tile(m, &a[r0 * lda..(r0 + m) * lda], lda, &panel, &mut tile);
                for (r, sums) in tile.iter().take(m).enumerate() {
                    let orow = &mut out[(r0 + r) * cols + c0..(r0 + r) * cols + c0 + nc];
                    for (c, (o, &s)) in orow.iter_mut().zip(sums).enumerate() {
                        epi(c0 + c, bias[c0 + c] + s, o);
                    }
                }
                r0 += m;
            }
        }
    }
}

/// The portable tile: the same chunked i32 sums as the AVX2 kernel, in scalar code.
fn tile_portable<const M: usize>(a: &[i16], lda: usize, panel: &Panel, tile: &mut [[i64; NR]; MR]) {
    assert!(a.len() >= (M - 1) * lda + 2 * panel.pairs);
    let mut p0 = 0;
    while p0 < panel.pairs {
        let p1 = (p0 + panel.chunk).min(panel.pairs);
        let mut acc = [[0i32; NR]; M];
        for p in p0..p1 {
            let w = &panel.data[p * 2 * NR..(p + 1) * 2 * NR];
            for (r, acc_r) in acc.iter_mut().enumerate() {
                let a0 = i32::from(a[r * lda + 2 * p]);
                let a1 = i32::from(a[r * lda + 2 * p + 1]);
                for (s, wc) in acc_r.iter_mut().zip(w.chunks_exact(2)) {
                    *s += a0 * i32::from(wc[0]) + a1 * i32::from(wc[1]);
                }
            }
        }
        for (t, s) in tile.iter_mut().zip(&acc) {
            for (t, &s) in t.iter_mut().zip(s) {
                *t += i64::from(s);
            }
        }
        p0 = p1;
    }
}

/// AVX2 tile: per depth pair, [`NG`] operand vectors and `M` broadcast activation pairs,
/// `M * NG` `vpmaddwd` into i32 accumulators that live in registers.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn tile_avx2<const M: usize>(
    a: &[i16],
    lda: usize,
    panel: &Panel,
    tile: &mut [[i64; NR]; MR],
) {
    use std::arch::x86_64::*;
    let pairs = panel.pairs;
    assert!(a.len() >= (M - 1) * lda + 2 * pairs);
    assert!(panel.data.len() >= pairs * 2 * NR);
    let (ap, wp) = (a.as_ptr(), panel.data.as_ptr());
    let mut p0 = 0;
    while p0 < pairs {
        let p1 = (p0 + panel.chunk).min(pairs);
        let mut acc = [[_mm256_setzero_si256(); NG]; M];
        for p in p0..p1 {
            // SAFETY: p < pairs: the panel holds 2 * NR i16 per pair and every row `r < M` holds
            // 2 * pairs i16 from r * lda (both asserted above).
            unsafe {
                let w = wp.add(p * 2 * NR);
                let wv: [__m256i; NG] =
                    std::array::from_fn(|g| _mm256_loadu_si256(w.add(16 * g).cast()));
                for (r, acc_r) in acc.iter_mut().enumerate() {
                    let pair = ap.add(r * lda + 2 * p).cast::<i32>().read_unaligned();
                    let av = _mm256_set1_epi32(pair);
                    for (s, &w) in acc_r.iter_mut().zip(&wv) {
                        *s = _mm256_add_epi32(*s, _mm256_madd_epi16(av, w));
                    }
                }
            }
        }
        for (t, acc_r) in tile.iter_mut().zip(&acc) {
            for (g, &v) in acc_r.iter().enumerate() {
                let mut lanes = [0i32; 8];
                // SAFETY: `lanes` is 32 bytes.
                unsafe { _mm256_storeu_si256(lanes.as_mut_ptr().cast(), v) };
                for (t, &l) in t[8 * g..8 * g + 8].iter_mut().zip(&lanes) {
                    *t += i64::from(l);
                }
            }
        }
        p0 = p1;
    }
}

/// The value operands of one attention head, prepared once for U4 over all its query rows:
/// `v << F` per key and channel (`[T, D_h]`), and whether the even and odd sums provably fit i32.
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

/// Reusable per-row lists of U4: `(row offset, shift)` of the keys with even and odd codes.
#[derive(Default)]
pub struct AvScratch {
    even: Vec<(u32, u32)>,
    odd: Vec<(u32, u32)>,
    sums: Vec<i32>,
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
        let max = shifted.iter().map(|v| u64::from(v.unsigned_abs())).max();
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
        s.even.clear();
        s.odd.clear();
        for (j, c) in codes.iter().enumerate() {
            if c.zero {
                continue;
            }
            // Shifting an i32 by 31 or more gives what 31 gives (0 or -1).
            let k = ((c.code + 1) >> 1).min(31);
            let list = if c.code & 1 == 0 {
                &mut s.even
            } else {
                &mut s.odd
            };
            // `narrow` implies values.len() fits u32.
            list.push(((j * dh) as u32, k));
        }
        s.sums.clear();
        s.sums.resize(2 * dh, 0);
        let (even, odd) = s.sums.split_at_mut(dh);
        self.sum_list(kernel, &s.even, even);
        self.sum_list(kernel, &s.odd, odd);
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

    fn run(
        k: Kernel,
        p: &PackedOperands,
        a: &[u8],
        rows: usize,
        bias: &[i64],
        par: bool,
    ) -> Vec<i64> {
        let mut a16 = Vec::new();
        p.widen(a, rows, &mut a16);
        let mut out = vec![0i64; rows * p.cols()];
        p.matmul(k, &a16, rows, bias, &mut out, par, &|_, v, o| *o = v);
        out
    }

    /// Every kernel equals the exact reference on edge shapes: rows not a multiple of MR (nor of
    /// the row block), columns not a multiple of NR, odd depths, extreme operands (which force
    /// several i32 chunks), zero-size cases.
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
                    for par in [false, true] {
                        assert_eq!(
                            run(k, &p, &a, rows, &bias, par),
                            want,
                            "{k:?} rows {rows} cols {cols} depth {depth} max|w| {max_w}"
                        );
                    }
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
            assert_eq!(run(k, &p, &a, rows, &bias, true), want, "{k:?}");
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
                let bound = t as i64 * (values.iter().map(|v| v.abs()).max().unwrap() as i64) << f;
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
