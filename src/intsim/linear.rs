//! An integer linear layer (docs/arithmetic.md U1 + U2): activation codes times stationary
//! operands `w = W_code - z_w` with the zero points folded into the bias, and the per-output-channel
//! requantization constants.

use num_bigint::BigInt;
use rayon::prelude::*;

use crate::arith::Requant;

/// One quantized linear layer in integers.
#[derive(Clone, Debug, PartialEq)]
pub struct IntLinear {
    /// timm's module name, for messages and golden vectors.
    pub name: String,
    pub in_features: usize,
    pub out_features: usize,
    /// Stationary operands `W_code[n][k] - z_w[n]`, stored `[out, in]` (one row per output
    /// channel), each in `s{wbits+1}`.
    pub w: Vec<i16>,
    /// Folded bias per output channel (`s{accbits}`): `round_half_even(b / (s_a s_w) - z_a sum_k w)`.
    pub bias: Vec<i64>,
    /// Largest activation code (`2^abits - 1`).
    pub a_max: u32,
    /// Requantization of each output channel.
    pub requant: Vec<Requant>,
}

/// Products are summed in i32 over chunks this long: `255 * 256 * 2^14 < 2^31`, so no chunk can
/// overflow whatever the weights; chunk sums are added in i64. The result is the exact sum.
const CHUNK: usize = 1 << 14;

/// Exact dot products of four activation rows with one operand row, portable code (the compiler
/// vectorizes it for the baseline target).
#[inline(always)]
fn dot4_generic(a: [&[i16]; 4], w: &[i16]) -> [i64; 4] {
    let mut total = [0i64; 4];
    let mut start = 0;
    while start < w.len() {
        let end = (start + CHUNK).min(w.len());
        for r in 0..4 {
            let s: i32 = a[r][start..end]
                .iter()
                .zip(&w[start..end])
                .map(|(&x, &y)| i32::from(x) * i32::from(y))
                .sum();
            total[r] += i64::from(s);
        }
        start = end;
    }
    total
}

/// AVX2 (`vpmaddwd`): four rows against one operand row, 16 products per instruction, summed in
/// i32 lanes within each [`CHUNK`] (exact, as the portable kernel), then in i64.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn dot4_avx2(a: [&[i16]; 4], w: &[i16]) -> [i64; 4] {
    use std::arch::x86_64::*;
    let len = w.len();
    for row in a {
        assert!(row.len() >= len);
    }
    let mut total = [0i64; 4];
    let mut start = 0;
    while start < len {
        let end = (start + CHUNK).min(len);
        let vec_end = start + (end - start) / 16 * 16;
        let mut acc = [_mm256_setzero_si256(); 4];
        let mut k = start;
        while k < vec_end {
            // SAFETY: k + 16 <= vec_end <= len <= every row's length (asserted above).
            unsafe {
                let wv = _mm256_loadu_si256(w.as_ptr().add(k) as *const __m256i);
                for r in 0..4 {
                    let av = _mm256_loadu_si256(a[r].as_ptr().add(k) as *const __m256i);
                    acc[r] = _mm256_add_epi32(acc[r], _mm256_madd_epi16(av, wv));
                }
            }
            k += 16;
        }
        for r in 0..4 {
            let mut lanes = [0i32; 8];
            // SAFETY: `lanes` is 32 bytes.
            unsafe { _mm256_storeu_si256(lanes.as_mut_ptr() as *mut __m256i, acc[r]) };
            let mut s: i32 = lanes.iter().sum();
            for kk in vec_end..end {
                s += i32::from(a[r][kk]) * i32::from(w[kk]);
            }
            total[r] += i64::from(s);
        }
        start = end;
    }
    total
}

/// Which dot-product kernel runs (all give identical results; tests check it).
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

    #[inline]
    pub fn dot4(self, a: [&[i16]; 4], w: &[i16]) -> [i64; 4] {
        match self {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `Kernel::Avx2` is only used when `available()` (the CPU has AVX2).
            Kernel::Avx2 => unsafe { dot4_avx2(a, w) },
            _ => dot4_generic(a, w),
        }
    }
}

impl IntLinear {
    /// Accumulators `[rows, out]` for codes `a` (`[rows, in]`), with the fastest kernel.
    pub fn accumulate(&self, a: &[u8], rows: usize) -> Vec<i64> {
        self.accumulate_with(Kernel::detect(), a, rows)
    }

    /// Accumulators with a chosen kernel (panics if the CPU lacks it).
    pub fn accumulate_with(&self, kernel: Kernel, a: &[u8], rows: usize) -> Vec<i64> {
        assert!(kernel.available(), "{kernel:?} not supported by this CPU");
        let (k, n_out) = (self.in_features, self.out_features);
        assert_eq!(a.len(), rows * k, "{}: input size", self.name);
        let a16: Vec<i16> = a.iter().map(|&v| i16::from(v)).collect();
        let mut acc = vec![0i64; rows * n_out];
        // Four rows at a time share each operand row; groups of four rows run in parallel.
        acc.par_chunks_mut(4 * n_out)
            .zip(a16.par_chunks(4 * k))
            .for_each(|(out, rows4)| {
                let r = rows4.len() / k;
                let row = |i: usize| &rows4[i.min(r - 1) * k..(i.min(r - 1) + 1) * k];
                let a4 = [row(0), row(1), row(2), row(3)];
                for n in 0..n_out {
                    let s = kernel.dot4(a4, &self.w[n * k..(n + 1) * k]);
                    for i in 0..r {
                        out[i * n_out + n] = self.bias[n] + s[i];
                    }
                }
            });
        acc
    }

    /// Worst-case `|acc|` over every possible activation code vector (exact, big integers):
    /// per channel `max(bias + a_max * sum(w > 0), -(bias + a_max * sum(w < 0)))`.
    pub fn acc_bound(&self) -> BigInt {
        let k = self.in_features;
        (0..self.out_features)
            .map(|n| {
                let row = &self.w[n * k..(n + 1) * k];
                let pos: i64 = row.iter().filter(|&&v| v > 0).map(|&v| i64::from(v)).sum();
                let neg: i64 = row.iter().filter(|&&v| v < 0).map(|&v| i64::from(v)).sum();
                let b = BigInt::from(self.bias[n]);
                let a = BigInt::from(self.a_max);
                let hi = &b + &a * BigInt::from(pos);
                let lo = &b + &a * BigInt::from(neg);
                hi.max(-lo)
            })
            .max()
            .unwrap_or_default()
    }
}

/// Bits of the two's-complement accumulator that holds every value in `[-bound, bound]`.
pub fn signed_bits(bound: &BigInt) -> u32 {
    // bound <= 2^(b-1) - 1  <=>  bits(bound) <= b - 1.
    bound.bits() as u32 + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(w: Vec<i16>, bias: Vec<i64>, k: usize) -> IntLinear {
        let out = bias.len();
        IntLinear {
            name: "t".into(),
            in_features: k,
            out_features: out,
            w,
            bias,
            a_max: 15,
            requant: vec![],
        }
    }

    #[test]
    fn accumulate_equals_reference_matmul() {
        // Against arith::matmul_acc (U1), which takes the operand as [depth, cols].
        let (k, n, rows) = (37, 5, 4);
        let w: Vec<i16> = (0..k * n).map(|i| ((i * 7919) % 31) as i16 - 15).collect();
        let bias: Vec<i64> = (0..n as i64).map(|i| i * 100 - 200).collect();
        let a: Vec<u8> = (0..rows * k).map(|i| ((i * 31) % 16) as u8).collect();
        let l = layer(w.clone(), bias.clone(), k);
        let mut wt = vec![0i32; k * n];
        for o in 0..n {
            for i in 0..k {
                wt[i * n + o] = i32::from(w[o * k + i]);
            }
        }
        assert_eq!(
            l.accumulate(&a, rows),
            crate::arith::matmul_acc(&a, &wt, &bias, rows, k)
        );
    }

    #[test]
    fn every_kernel_gives_the_same_exact_result() {
        let (k, n, rows) = (70_001, 3, 7);
        let w: Vec<i16> = (0..k * n)
            .map(|i| if i % 3 == 0 { 256 } else { -256 })
            .collect();
        let a: Vec<u8> = (0..rows * k).map(|i| (i % 7 * 40) as u8 + 15).collect();
        let l = layer(w, vec![1, -2, 3], k);
        let want = l.accumulate_with(Kernel::Portable, &a, rows);
        // Exact reference in i64, one product at a time.
        for r in 0..rows {
            for o in 0..n {
                let e: i64 = (0..k)
                    .map(|i| i64::from(a[r * k + i]) * i64::from(l.w[o * k + i]))
                    .sum::<i64>()
                    + l.bias[o];
                assert_eq!(want[r * n + o], e);
            }
        }
        for kernel in [Kernel::Avx2] {
            if kernel.available() {
                assert_eq!(l.accumulate_with(kernel, &a, rows), want, "{kernel:?}");
            }
        }
    }

    #[test]
    fn bound_is_reached_by_a_crafted_layer() {
        // One channel of all +16 weights and bias 2^30 - 1 - 15*16*k: the all-15 input reaches
        // exactly 2^30 - 1, which needs 31 bits; one more in the bias needs 32.
        let k = 1000;
        let bias = (1i64 << 30) - 1 - 15 * 16 * k as i64;
        let l = layer(vec![16; k], vec![bias], k);
        assert_eq!(l.acc_bound(), BigInt::from((1i64 << 30) - 1));
        assert_eq!(signed_bits(&l.acc_bound()), 31);
        let acc = l.accumulate(&vec![15u8; k], 1);
        assert_eq!(acc[0], (1i64 << 30) - 1);
        let l2 = layer(vec![16; k], vec![bias + 1], k);
        assert_eq!(signed_bits(&l2.acc_bound()), 32);
        // Negative side: all -16 weights.
        let l3 = layer(vec![-16; k], vec![0], k);
        assert_eq!(l3.acc_bound(), BigInt::from(15 * 16 * k as i64));
    }
}
