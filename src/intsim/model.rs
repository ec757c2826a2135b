//! The integer model: every constant of docs/arithmetic.md for one quantized ViT.

use num_bigint::BigInt;

use super::linear::IntLinear;
use crate::arith::layernorm::LayerNormParams;
use crate::arith::{LogCodeParams, Requant, SoftmaxParams};
use crate::model::VitConfig;

pub use crate::arith::widths::RESIDUAL_FRAC_BITS;

/// One transformer block in integers.
#[derive(Clone, Debug)]
pub struct IntBlock {
    /// norm1 -> qkv input codes (U5; the reparameterized gamma', beta' and s~, z~ of Eq. 13-16).
    pub ln1: LayerNormParams,
    /// qkv with requantization to the q, k, v codes (channels 0..D, D..2D, 2D..3D).
    pub qkv: IntLinear,
    /// Zero points of the q, k, v codes (`k - z_k`, `v - z_v` are operands: `z_k`, `z_v` lie in
    /// `0 ..= 2^abits - 1`).
    pub q_zero: i32,
    pub k_zero: i32,
    pub v_zero: i32,
    /// Real scales of the q, k, v codes (after the integer model's rule for keys and values).
    pub q_scale: f64,
    pub k_scale: f64,
    pub v_scale: f64,
    /// Scores to probabilities (U6).
    pub softmax: SoftmaxParams,
    /// Probabilities to log2 codes with parity (U3).
    pub logcode: LogCodeParams,
    /// `F` of U4.
    pub av_fraction_bits: u32,
    /// U4 output to the proj input codes (U2).
    pub av_requant: Requant,
    /// proj, requantized into the residual stream.
    pub proj: IntLinear,
    /// norm2 -> fc1 input codes (U5).
    pub ln2: LayerNormParams,
    /// fc1, requantized to the 16-bit GELU index `h` (U7).
    pub fc1: IntLinear,
    /// The GELU table of U7: `h + 2^15` to the fc2 input code.
    pub gelu: Vec<u8>,
    /// fc2, requantized into the residual stream.
    pub fc2: IntLinear,
}

/// A quantized ViT/DeiT as integers only.
#[derive(Clone, Debug)]
pub struct IntModel {
    pub config: VitConfig,
    pub wbits: u32,
    pub abits: u32,
    /// The accumulator width every matmul was proven to fit.
    pub acc_bits: u32,
    /// The image quantizer (the only float -> integer conversion, at the model's input).
    pub input_scale: f64,
    pub input_zero_point: i32,
    pub input_bits: u32,
    /// Patch embedding (a matmul over flattened patches), into the residual stream.
    pub patch: IntLinear,
    /// `[T, D]` residual-stream constants added after the patch embedding: position embedding,
    /// plus the cls (and dist) token in the prefix rows.
    pub pos: Vec<i32>,
    pub blocks: Vec<IntBlock>,
    /// The final norm, once per head (its output quantizer is the head's input quantizer).
    pub head_norms: Vec<LayerNormParams>,
    /// head (and head_dist), requantized to residual-stream fixed point (the logits).
    pub heads: Vec<IntLinear>,
    /// The U6 table.
    pub exp2: Vec<u32>,
    /// Quantizers the integer model widened to include 0 (weight rows, keys, values; see
    /// [`crate::quant::zero_range`]), in lowering order.
    pub widened: Vec<Widened>,
}

/// One quantizer whose range the integer model widened to include 0.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Widened {
    /// The weight row (`head row 0`) or activation site (`blocks.0.attn.k`).
    pub what: String,
    /// The authors' zero point, outside the code range.
    pub zero_point: i64,
}

/// The worst case of one accumulator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccRequirement {
    /// The layer or operation.
    pub what: String,
    /// Worst-case `|acc|`.
    pub bound: BigInt,
    /// Two's-complement bits that hold `[-bound, bound]`.
    pub bits: u32,
}
