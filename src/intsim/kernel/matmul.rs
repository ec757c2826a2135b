//! U1 on packed operands: the packing and the register tiles (portable and AVX2).

use super::*;

/// Stationary operands `w[k][c]` packed for the matmul kernels: panels of [`NR`] columns (the last
/// one padded with zero columns), depth padded to even with a zero.
#[derive(Clone, PartialEq, Eq)]
pub struct PackedOperands {
    cols: usize,
    depth: usize,
    pairs: usize,
    /// Depth pairs per i32 chunk: `2 * 255 * max|w| * chunk_pairs <= i32::MAX`.
    pub(super) chunk_pairs: usize,
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
pub(super) fn tile_portable<const M: usize>(
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
pub(super) unsafe fn tile_avx2<const M: usize>(
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
