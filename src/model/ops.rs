//! The f32 kernels of the forward pass: matrix products on a real GEMM (the `gemm` crate, which
//! uses AVX2/AVX-512 and rayon), LayerNorm, GELU and softmax, each parallel over rows.

use rayon::prelude::*;

use super::vit::{LayerNorm, Linear};

/// Rows per rayon task for the row-wise kernels.
const ROW_CHUNK: usize = 16;

/// A read-only strided matrix view. The constructor checks that every element it addresses lies
/// inside `data`, which is what makes the unsafe GEMM call in [`matmul`] sound.
#[derive(Clone, Copy)]
pub struct MatRef<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
}

impl<'a> MatRef<'a> {
    /// A view of `rows x cols` elements at `data[r * row_stride + c * col_stride]`.
    ///
    /// # Panics
    /// If the view reaches past the end of `data` (a programming error, never user input).
    pub fn new(
        data: &'a [f32],
        rows: usize,
        cols: usize,
        row_stride: usize,
        col_stride: usize,
    ) -> Self {
        if rows > 0 && cols > 0 {
            let last = (rows - 1) * row_stride + (cols - 1) * col_stride;
            assert!(last < data.len(), "MatRef out of bounds");
        }
        MatRef {
            data,
            rows,
            cols,
            row_stride,
            col_stride,
        }
    }

    /// A contiguous row-major `rows x cols` matrix.
    pub fn row_major(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Self::new(data, rows, cols, cols, 1)
    }

    /// The transpose of a contiguous row-major `rows x cols` matrix (so `cols x rows`).
    pub fn transposed(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Self::new(data, cols, rows, 1, cols)
    }
}

/// `dst[m, n] = lhs[m, k] @ rhs[k, n]` with `dst` contiguous row-major (overwritten).
/// `parallel` lets the GEMM split the product over rayon's threads; pass `false` when the caller
/// already runs many small products in parallel.
///
/// # Panics
/// If the shapes do not agree (a programming error).
pub fn matmul(dst: &mut [f32], lhs: MatRef<'_>, rhs: MatRef<'_>, parallel: bool) {
    let (m, k, n) = (lhs.rows, lhs.cols, rhs.cols);
    assert_eq!(rhs.rows, k, "matmul inner dimensions");
    assert_eq!(dst.len(), m * n, "matmul destination size");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        dst.fill(0.0);
        return;
    }
    let parallelism = if parallel && m * n * k >= 1 << 18 {
        gemm::Parallelism::Rayon(0)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: MatRef::new checked that every addressed element of lhs and rhs is in bounds, and
    // dst is a contiguous m x n buffer of exactly m * n elements (asserted above). read_dst is
    // false, so dst is only written.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            false,
            lhs.data.as_ptr(),
            lhs.col_stride as isize,
            lhs.row_stride as isize,
            rhs.data.as_ptr(),
            rhs.col_stride as isize,
            rhs.row_stride as isize,
            0.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// `y = x W^T + b` for `x` of shape `[rows, in_features]`, returning `[rows, out_features]`.
pub fn linear(x: &[f32], rows: usize, layer: &Linear) -> Vec<f32> {
    let (k, n) = (layer.in_features, layer.out_features);
    assert_eq!(x.len(), rows * k, "linear input size");
    let mut y = vec![0.0f32; rows * n];
    matmul(
        &mut y,
        MatRef::row_major(x, rows, k),
        MatRef::transposed(&layer.weight, n, k),
        true,
    );
    if let Some(bias) = &layer.bias {
        y.par_chunks_mut(n * ROW_CHUNK).for_each(|chunk| {
            for row in chunk.chunks_exact_mut(n) {
                for (v, b) in row.iter_mut().zip(bias) {
                    *v += b;
                }
            }
        });
    }
    y
}

/// LayerNorm over rows of width `gamma.len()` (paper Eq. 12), biased variance like PyTorch.
pub fn layer_norm(x: &[f32], ln: &LayerNorm) -> Vec<f32> {
    let d = ln.gamma.len();
    let mut y = vec![0.0f32; x.len()];
    y.par_chunks_mut(d * ROW_CHUNK)
        .zip(x.par_chunks(d * ROW_CHUNK))
        .for_each(|(ys, xs)| {
            for (yr, xr) in ys.chunks_exact_mut(d).zip(xs.chunks_exact(d)) {
                let mean = xr.iter().map(|&v| f64::from(v)).sum::<f64>() / d as f64;
                let var = xr
                    .iter()
                    .map(|&v| {
                        let c = f64::from(v) - mean;
                        c * c
                    })
                    .sum::<f64>()
                    / d as f64;
                let inv = 1.0 / (var + f64::from(ln.eps)).sqrt();
                for (((o, &v), &g), &b) in yr.iter_mut().zip(xr).zip(&ln.gamma).zip(&ln.beta) {
                    *o = ((f64::from(v) - mean) * inv) as f32 * g + b;
                }
            }
        });
    y
}

/// The error function in f32 (libm's `erff`, within about one ulp), so GELU agrees with
/// PyTorch's exact-erf `nn.GELU()`.
#[inline]
pub fn erf(x: f32) -> f32 {
    libm::erff(x)
}

/// GELU with the exact (erf) form, as `nn.GELU()`: `x / 2 * (1 + erf(x / sqrt(2)))`.
pub fn gelu_in_place(x: &mut [f32]) {
    x.par_chunks_mut(4096).for_each(|chunk| {
        for v in chunk {
            *v = 0.5 * *v * (1.0 + erf(*v * std::f32::consts::FRAC_1_SQRT_2));
        }
    });
}

/// Softmax over each row of width `width`, in place (max-subtracted, as PyTorch).
pub fn softmax_rows_in_place(x: &mut [f32], width: usize) {
    x.par_chunks_mut(width * ROW_CHUNK).for_each(|chunk| {
        for row in chunk.chunks_exact_mut(width) {
            softmax_row(row);
        }
    });
}

/// Softmax of one row, in place.
pub fn softmax_row(row: &mut [f32]) {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0f32;
    for v in row.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    let inv = 1.0 / sum;
    for v in row.iter_mut() {
        *v *= inv;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum();
            }
        }
        c
    }

    #[test]
    fn matmul_matches_naive_product() {
        let (m, k, n) = (37, 53, 29);
        let a: Vec<f32> = (0..m * k)
            .map(|i| ((i * 7 % 13) as f32 - 6.0) / 5.0)
            .collect();
        let b: Vec<f32> = (0..k * n)
            .map(|i| ((i * 5 % 11) as f32 - 5.0) / 3.0)
            .collect();
        let mut c = vec![0.0; m * n];
        matmul(
            &mut c,
            MatRef::row_major(&a, m, k),
            MatRef::row_major(&b, k, n),
            true,
        );
        let want = naive(&a, &b, m, k, n);
        for (x, y) in c.iter().zip(&want) {
            assert!((x - y).abs() <= 1e-4 * y.abs().max(1.0), "{x} vs {y}");
        }
        // The transposed view of b^T (stored n x k) gives the same product.
        let mut bt = vec![0.0; n * k];
        for p in 0..k {
            for j in 0..n {
                bt[j * k + p] = b[p * n + j];
            }
        }
        let mut c2 = vec![0.0; m * n];
        matmul(
            &mut c2,
            MatRef::row_major(&a, m, k),
            MatRef::transposed(&bt, n, k),
            false,
        );
        for (x, y) in c2.iter().zip(&want) {
            assert!((x - y).abs() <= 1e-4 * y.abs().max(1.0));
        }
    }

    #[test]
    fn erf_matches_libm_to_2e7() {
        let mut worst = 0.0f64;
        for i in -60_000..=60_000 {
            let x = i as f32 / 10_000.0;
            let err = (f64::from(erf(x)) - libm::erf(f64::from(x))).abs();
            worst = worst.max(err);
        }
        assert!(worst < 2e-7, "worst erf error {worst}");
    }

    #[test]
    fn softmax_rows_sum_to_one_and_keep_order() {
        let mut x = vec![1.0, 2.0, 3.0, -1000.0, 0.0, 1000.0];
        softmax_rows_in_place(&mut x, 3);
        assert!((x[0] + x[1] + x[2] - 1.0).abs() < 1e-6);
        assert!(x[0] < x[1] && x[1] < x[2]);
        assert_eq!(x[5], 1.0);
        assert_eq!(x[3], 0.0);
    }

    #[test]
    fn layer_norm_normalizes_then_applies_affine() {
        let ln = LayerNorm {
            gamma: vec![2.0, 2.0, 2.0, 2.0],
            beta: vec![1.0, 1.0, 1.0, 1.0],
            eps: 0.0,
        };
        let y = layer_norm(&[1.0, 2.0, 3.0, 4.0], &ln);
        // mean 2.5, var 1.25: (x - 2.5) / sqrt(1.25) * 2 + 1
        for (v, x) in y.iter().zip([1.0f32, 2.0, 3.0, 4.0]) {
            let want = (x - 2.5) / 1.25f32.sqrt() * 2.0 + 1.0;
            assert!((v - want).abs() < 1e-6);
        }
    }
}
