//! An integer linear layer (docs/arithmetic.md U1 + U2): activation codes times stationary
//! operands `w = W_code - z_w` with the zero points folded into the bias, and the per-output-channel
//! requantization constants.

use num_bigint::BigInt;

pub use super::kernel::Kernel;
use super::kernel::{Accumulators, OutputStage, PackedOperands, RequantLanes};
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
    /// Real weight scale of each output channel (the integer model's, after
    /// [`crate::quant::zero_range`]); empty when not known.
    pub w_scales: Vec<f64>,
    /// `w` packed for the matmul kernels ([`IntLinear::new`] builds it; `w` is what is exported,
    /// so a layer is built once and not edited).
    pub(crate) packed: PackedOperands,
    /// `requant` laid out for the vector output stages.
    pub(crate) lanes: RequantLanes,
}

impl IntLinear {
    /// A layer from its operands `w` (`[out, in]`, one row per output channel) and constants;
    /// packs the operands for the matmul kernels once.
    pub fn new(
        name: String,
        in_features: usize,
        out_features: usize,
        w: Vec<i16>,
        bias: Vec<i64>,
        a_max: u32,
        requant: Vec<Requant>,
    ) -> Self {
        assert_eq!(w.len(), in_features * out_features, "{name}: operand size");
        assert_eq!(bias.len(), out_features, "{name}: bias size");
        let packed = PackedOperands::from_rows(&w, out_features, in_features);
        let lanes = RequantLanes::new(&requant);
        IntLinear {
            name,
            in_features,
            out_features,
            w,
            bias,
            a_max,
            requant,
            w_scales: Vec::new(),
            packed,
            lanes,
        }
    }

    /// Accumulators `[rows, out]` for codes `a` (`[rows, in]`), with the fastest kernel.
    pub fn accumulate(&self, a: &[u8], rows: usize) -> Vec<i64> {
        self.accumulate_with(Kernel::detect(), a, rows)
    }

    /// Accumulators with a chosen kernel (panics if the CPU lacks it).
    pub fn accumulate_with(&self, kernel: Kernel, a: &[u8], rows: usize) -> Vec<i64> {
        let mut out = vec![0i64; rows * self.out_features];
        self.run(kernel, a, rows, &mut Vec::new(), &mut out, &Accumulators);
        out
    }

    /// The matmul of codes `a` (`[rows, in]`) with its output stage fused, so accumulators never
    /// go to memory: `epi` gets row segments of accumulators `acc[r][n0..n0 + len]` and the
    /// matching `out[r * out_features + n0..][..len]` ([`PackedOperands::matmul`]).
    /// `a16` is scratch for the widened codes. Row blocks run in parallel.
    pub fn run<T: Send>(
        &self,
        kernel: Kernel,
        a: &[u8],
        rows: usize,
        a16: &mut Vec<i16>,
        out: &mut [T],
        epi: &impl OutputStage<T>,
    ) {
        assert_eq!(
            a.len(),
            rows * self.in_features,
            "{}: input size",
            self.name
        );
        self.packed.widen(a, rows, a16);
        self.packed.matmul(kernel, a16, rows, &self.bias, out, epi);
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
        IntLinear::new("t".into(), k, out, w, bias, 15, vec![])
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
