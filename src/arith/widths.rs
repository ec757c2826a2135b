//! The widths of the datapath's operands and fields, one definition for the integer model's
//! checks, the golden vectors and the document's tables (docs/arithmetic.md, "Operands the
//! hardware holds").

/// Bits of the `M0` field (`u31`).
pub const M0_BITS: u32 = 31;
/// Bits of the requantization shift field (`u6`, values 1..=62).
pub const SHIFT_BITS: u32 = 6;
/// Bits of the requantization zero point field (`s32`).
pub const ZERO_POINT_BITS: u32 = 32;
/// Bits of the residual stream and the logits (`s32`).
pub const RESIDUAL_BITS: u32 = 32;
/// Fraction bits of the residual stream (`s32`, real value `x * 2^-16`), docs/arithmetic.md U8.
pub const RESIDUAL_FRAC_BITS: u32 = 16;
/// Bits of the U4 fraction-bits field `F` (`u5`, values 0..=[`super::shift_av::F_MAX`]).
pub const F_BITS: u32 = 5;
/// Bits of the U3 constant `C_INT` (`s16`).
pub const C_INT_BITS: u32 = 16;
/// Bits of the U5 epsilon constant `E` (`u64`).
pub const EPS_BITS: u32 = 64;
/// Bits of the U5 affine factor `G` (`s32`): `n G` is an `s18 x s32` product.
pub const LN_G_BITS: u32 = 32;
/// Bits of the U5 affine offset `B` (`s48`): `n G + B + 2^(GF-1)` fits `s50`.
pub const LN_B_BITS: u32 = 48;

/// A weight operand `W_code - z_w` of `wbits`-bit codes and a zero point in the code range:
/// `s{wbits+1}` (`|w| <= 2^wbits - 1`).
pub fn weight_operand_bits(wbits: u32) -> u32 {
    wbits + 1
}

/// A key or value operand `code - z` of `abits`-bit codes: `s{abits+1}`.
pub fn act_operand_bits(abits: u32) -> u32 {
    abits + 1
}

/// A stationary lane of the array, which holds weight operands (linear layers) and key operands
/// (`Q K^T`): `s{max(wbits, abits) + 1}`, so `Q K^T` runs on any `W`/`A` pair (W4A8 included).
pub fn stationary_lane_bits(wbits: u32, abits: u32) -> u32 {
    weight_operand_bits(wbits).max(act_operand_bits(abits))
}
