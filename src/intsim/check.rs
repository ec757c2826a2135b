//! The integer model against the operand and field widths of the hardware (docs/arithmetic.md,
//! "Operands the hardware holds"), checked once when the model is built, so that nothing
//! downstream (the simulator, golden vectors, `gen --model`, the RTL) meets a value its field
//! cannot hold.

use super::linear::IntLinear;
use super::model::{IntBlock, IntModel};
use crate::arith::gelu::HBITS;
use crate::arith::layernorm::LayerNormParams;
use crate::arith::logcode::PBITS;
use crate::arith::requant::{M0_MAX, SHIFT_MAX, SHIFT_MIN};
use crate::arith::shift_av::{F_MAX, av_fraction_bits};
use crate::arith::softmax::EBITS;
use crate::arith::widths::{
    C_INT_BITS, LN_B_BITS, LN_G_BITS, RESIDUAL_BITS, act_operand_bits, weight_operand_bits,
};
use crate::arith::{Requant, SoftmaxParams};
use crate::error::{Error, Result};

/// `[-2^(bits-1), 2^(bits-1) - 1]`.
pub fn signed_range(bits: u32) -> (i64, i64) {
    (-(1i64 << (bits - 1)), (1i64 << (bits - 1)) - 1)
}

/// `[0, 2^bits - 1]`.
pub fn unsigned_range(bits: u32) -> (i64, i64) {
    (0, (1i64 << bits) - 1)
}

/// The type name of a range, `s9` / `u8`.
fn type_name(signed: bool, bits: u32) -> String {
    format!("{}{bits}", if signed { 's' } else { 'u' })
}

fn bad(what: String) -> Error {
    Error::Invalid(format!(
        "integer model: {what} (docs/arithmetic.md, \"Operands the hardware holds\"; the \
         lowering should have made it representable: please report this with the model)"
    ))
}

/// The first element of `values` outside `s{bits}` / `u{bits}`.
fn fits<T: Copy + Into<i64>>(
    values: &[T],
    signed: bool,
    bits: u32,
    tensor: &str,
    field: &str,
) -> Result<()> {
    let (lo, hi) = if signed {
        signed_range(bits)
    } else {
        unsigned_range(bits)
    };
    match values
        .iter()
        .map(|&v| v.into())
        .enumerate()
        .find(|(_, v)| !(lo..=hi).contains(v))
    {
        None => Ok(()),
        Some((i, v)) => Err(bad(format!(
            "{tensor} {field}[{i}] = {v} does not fit {}",
            type_name(signed, bits)
        ))),
    }
}

/// The output kind of a requantization: codes, the GELU index, or the residual stream.
#[derive(Clone, Copy, Debug)]
pub(super) enum Output {
    Codes(u32),
    GeluIndex,
    Residual,
}

impl Output {
    fn range(self) -> (i64, i64) {
        match self {
            Output::Codes(bits) => unsigned_range(bits),
            Output::GeluIndex => signed_range(HBITS),
            Output::Residual => signed_range(RESIDUAL_BITS),
        }
    }
}

pub(super) fn requant(r: &Requant, out: Output, what: &str) -> Result<()> {
    r.check(what)?;
    let (lo, hi) = out.range();
    if i64::from(r.lo) < lo || i64::from(r.hi) > hi {
        return Err(bad(format!(
            "{what}: clamp bounds {} ..= {} outside the output range {lo} ..= {hi}",
            r.lo, r.hi
        )));
    }
    Ok(())
}

fn softmax(p: &SoftmaxParams, what: &str) -> Result<()> {
    if p.m0 > M0_MAX || !(SHIFT_MIN..=SHIFT_MAX).contains(&p.shift) {
        return Err(bad(format!(
            "{what}: logit multiplier M0 = {}, shift = {} outside u31, {SHIFT_MIN}..={SHIFT_MAX}",
            p.m0, p.shift
        )));
    }
    Ok(())
}

impl IntModel {
    /// Checks every operand and constant against its field (docs/arithmetic.md, "Operands the
    /// hardware holds"): weight operands `s{wbits+1}`, key and value zero points in the code range
    /// (so `k - z_k`, `v - z_v` fit `s{abits+1}`), biases `s{acc_bits}`, every requantization's
    /// `M0` (`u31`), shift (1..=62) and clamp bounds (`lo <= hi` within its output type), the
    /// softmax, log2-code, U4 and LayerNorm constants, the GELU and exponent tables. Errors name
    /// the tensor, field, index and value. [`IntModel::lower`] calls it; a model assembled any
    /// other way should too.
    pub fn check_representable(&self) -> Result<()> {
        let (w, a, acc) = (self.wbits, self.abits, self.acc_bits);
        if !(2..=8).contains(&w) || !(2..=8).contains(&a) || !(8..=32).contains(&acc) {
            return Err(bad(format!(
                "widths W{w}A{a} with {acc}-bit accumulators outside W2..8, A2..8, 8..=32"
            )));
        }
        let (t, d) = (self.config.seq_len(), self.config.embed_dim);
        if self.pos.len() != t * d {
            return Err(bad(format!(
                "embed.pos has {} values, not T * D = {}",
                self.pos.len(),
                t * d
            )));
        }
        let c = Checker {
            wbits: w,
            abits: a,
            acc_bits: acc,
        };
        c.linear(&self.patch, self.input_bits, Output::Residual)?;
        for (i, b) in self.blocks.iter().enumerate() {
            c.block(i, b, d, t)?;
        }
        for (ln, h) in self.head_norms.iter().zip(&self.heads) {
            c.layer_norm(ln, d, false, &format!("{} norm", h.name))?;
            c.linear(h, a, Output::Residual)?;
        }
        exp2_table(&self.exp2)
    }
}

/// The U6 table's entries fit `u{EBITS+1}`.
pub(super) fn exp2_table(t: &[u32]) -> Result<()> {
    fits(t, false, EBITS + 1, "softmax.exp2", "entry")
}

/// The widths a model's fields are checked against.
pub(super) struct Checker {
    pub wbits: u32,
    pub abits: u32,
    pub acc_bits: u32,
}

impl Checker {
    /// A linear layer whose inputs are `in_bits`-bit codes.
    pub(super) fn linear(&self, l: &IntLinear, in_bits: u32, out: Output) -> Result<()> {
        let name = &l.name;
        if l.w.len() != l.in_features * l.out_features
            || l.bias.len() != l.out_features
            || l.requant.len() != l.out_features
        {
            return Err(bad(format!(
                "{name}: operand, bias or requantization count"
            )));
        }
        if l.a_max != (1 << in_bits) - 1 {
            return Err(bad(format!(
                "{name}: largest input code {} for {in_bits}-bit inputs",
                l.a_max
            )));
        }
        // Stored [out, in]: row n is output channel n.
        let wob = weight_operand_bits(self.wbits);
        let (wlo, whi) = signed_range(wob);
        if let Some((i, v)) =
            l.w.iter()
                .enumerate()
                .find(|(_, v)| !(wlo..=whi).contains(&i64::from(**v)))
        {
            let (n, k) = (i / l.in_features, i % l.in_features);
            return Err(bad(format!(
                "{name}.w operand w[{k}][{n}] = {v} does not fit s{wob}"
            )));
        }
        fits(&l.bias, true, self.acc_bits, name, "bias")?;
        for (n, r) in l.requant.iter().enumerate() {
            requant(r, out, &format!("{name} channel {n}"))?;
        }
        Ok(())
    }

    /// A LayerNorm of width `d` into codes, or (`residual`) into the `s32` residual stream
    /// (U5r).
    pub(super) fn layer_norm(
        &self,
        ln: &LayerNormParams,
        d: usize,
        residual: bool,
        what: &str,
    ) -> Result<()> {
        if ln.g.len() != d || ln.b.len() != d {
            return Err(bad(format!(
                "{what}: {} G and {} B constants for width {d}",
                ln.g.len(),
                ln.b.len()
            )));
        }
        // G and B come from the float affine factors and the output scale, so a model can put them
        // beyond the hardware's fields: the error names the cause, not a lowering bug.
        for (field, values, bits, cause) in [
            ("G", &ln.g, LN_G_BITS, "gamma[c] sqrt(D) / s_out"),
            ("B", &ln.b, LN_B_BITS, "beta[c] / s_out + z_out"),
        ] {
            let (lo, hi) = signed_range(bits);
            if let Some((c, v)) = values
                .iter()
                .enumerate()
                .find(|(_, v)| !(lo..=hi).contains(*v))
            {
                return Err(Error::Invalid(format!(
                    "integer model: {what} {field}[{c}] = {v} does not fit s{bits} (U5, \
                     docs/arithmetic.md): {cause} is too large for channel {c}; the norm's output \
                     quantizer is too fine for its affine factors"
                )));
            }
        }
        let (lo, hi) = if residual {
            signed_range(RESIDUAL_BITS)
        } else {
            unsigned_range(self.abits)
        };
        if !(lo <= i64::from(ln.lo) && ln.lo <= ln.hi && i64::from(ln.hi) <= hi) {
            return Err(bad(format!(
                "{what}: output clamp {} ..= {} not within 0 ..= {hi}",
                ln.lo, ln.hi
            )));
        }
        Ok(())
    }

    /// Block `i` of token width `d` attending over `tokens` keys.
    pub(super) fn block(&self, i: usize, b: &IntBlock, d: usize, tokens: usize) -> Result<()> {
        let a = self.abits;
        let p = |s: &str| format!("blocks.{i}.{s}");
        self.layer_norm(&b.ln1, d, false, &p("norm1"))?;
        self.layer_norm(&b.ln2, d, false, &p("norm2"))?;
        self.linear(&b.qkv, a, Output::Codes(a))?;
        let (_, amax) = unsigned_range(a);
        for (what, z) in [("k", b.k_zero), ("v", b.v_zero)] {
            if !(0..=amax).contains(&i64::from(z)) {
                return Err(bad(format!(
                    "{} zero point {z} outside 0 ..= {amax}: its operands {what} - z do not fit s{}",
                    p(&format!("attn.{what}")),
                    act_operand_bits(a)
                )));
            }
        }
        softmax(&b.softmax, &p("attn softmax"))?;
        let lc = &b.logcode;
        if lc.bits != a {
            return Err(bad(format!(
                "{}: {}-bit log2 codes, the model has {a}",
                p("attn.logcode"),
                lc.bits
            )));
        }
        fits(&[lc.c_int], true, C_INT_BITS, &p("attn.logcode"), "c_int")?;
        fits(
            &lc.thresholds,
            false,
            PBITS + 1,
            &p("attn.logcode"),
            "thresholds",
        )?;
        let f = av_fraction_bits(tokens as u64, a, self.acc_bits);
        if b.av_fraction_bits > F_MAX || Some(b.av_fraction_bits) != f {
            return Err(bad(format!(
                "{}: F = {}, the accumulator's F is {f:?}",
                p("attn.av"),
                b.av_fraction_bits
            )));
        }
        requant(&b.av_requant, Output::Codes(a), &p("attn A x V"))?;
        self.linear(&b.proj, a, Output::Residual)?;
        self.linear(&b.fc1, a, Output::GeluIndex)?;
        if b.gelu.len() != 1 << HBITS {
            return Err(bad(format!(
                "{}: {} table entries, not 2^{HBITS}",
                p("mlp.gelu"),
                b.gelu.len()
            )));
        }
        fits(&b.gelu, false, a, &p("mlp.gelu"), "entry")?;
        self.linear(&b.fc2, a, Output::Residual)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::config::QuantConfig;

    fn model() -> IntModel {
        let q = crate::demo::quantized(QuantConfig::new(4, 4).unwrap()).unwrap();
        IntModel::lower(&q, 24).unwrap()
    }

    /// Each field out of its range is refused with the tensor, field and value named.
    #[test]
    fn every_field_is_checked() {
        let m = model();
        m.check_representable().unwrap();
        type Edit = fn(&mut IntModel);
        let cases: [(Edit, &str); 13] = [
            (
                |m| m.heads[0].w[5] = 16,
                "head.w operand w[5][0] = 16 does not fit s5",
            ),
            (|m| m.heads[0].w[0] = -17, "does not fit s5"),
            (
                |m| m.blocks[0].fc1.bias[3] = 1 << 23,
                "blocks.0.mlp.fc1 bias[3] = 8388608 does not fit s24",
            ),
            (|m| m.blocks[0].k_zero = 16, "blocks.0.attn.k zero point 16"),
            (|m| m.blocks[0].v_zero = -1, "blocks.0.attn.v zero point -1"),
            (
                |m| {
                    m.blocks[0].qkv.requant[2].lo = 9;
                    m.blocks[0].qkv.requant[2].hi = 3;
                },
                "lo = 9 > hi = 3",
            ),
            (
                |m| m.blocks[0].qkv.requant[2].hi = 16,
                "clamp bounds 0 ..= 16",
            ),
            (|m| m.blocks[0].fc1.requant[0].shift = 63, "shift = 63"),
            (
                |m| m.patch.requant[0].m0 = 1 << 31,
                "m0 = 2147483648 does not fit u31",
            ),
            (
                |m| m.blocks[0].gelu[7] = 16,
                "blocks.0.mlp.gelu entry[7] = 16 does not fit u4",
            ),
            (
                |m| m.blocks[1].ln2.g[3] = 1 << 31,
                "blocks.1.norm2 G[3] = 2147483648 does not fit s32",
            ),
            (
                |m| m.blocks[0].ln1.b[5] = -(1 << 47) - 1,
                "blocks.0.norm1 B[5] = -140737488355329 does not fit s48",
            ),
            (
                |m| m.head_norms[0].g[0] = -(1 << 31) - 1,
                "head norm G[0] = -2147483649 does not fit s32",
            ),
        ];
        for (edit, want) in cases {
            let mut bad = m.clone();
            edit(&mut bad);
            let e = match bad.check_representable() {
                Ok(()) => panic!("accepted: {want}"),
                Err(e) => e.to_string(),
            };
            assert!(e.contains(want), "want {want:?}: {e}");
        }
    }
}
