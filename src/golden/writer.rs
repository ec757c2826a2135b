//! The golden-file writer shared by the model exports ([`super::export`] for ViT/DeiT,
//! [`super::swin`] for Swin): parameters and activations with their element types, and the
//! constants of a linear layer, a requantization and a LayerNorm under the names the verify cases
//! read (`NAME.w`, `.bias`, `.m0`, `.shift`, `.zero_point`, `.lo`, `.hi`; `NAME.g`, `.b`,
//! `.eps_q`).

use super::{GoldenFile, Kind, signed, unsigned};
use crate::arith::Requant;
use crate::arith::layernorm::LayerNormParams;
use crate::arith::widths::weight_operand_bits;
use crate::intsim::IntLinear;

pub(super) const PARAMS: &str = "params";
pub(super) const ACTS: &str = "activations";

/// The narrowest of `u{abits}`, `s16`, `s32` that holds every clamp bound.
pub(super) fn clamp_type(r: &[Requant], abits: u32) -> (u32, bool) {
    let fits = |lo: i64, hi: i64| {
        r.iter()
            .all(|x| lo <= i64::from(x.lo) && i64::from(x.hi) <= hi)
    };
    if fits(0, (1 << abits) - 1) {
        unsigned(abits)
    } else if fits(-(1 << 15), (1 << 15) - 1) {
        signed(16)
    } else {
        signed(32)
    }
}

/// Golden files being written for a model of `wbits`/`abits` with `acc_bits` accumulators.
pub(super) struct Writer {
    pub wbits: u32,
    pub abits: u32,
    pub acc_bits: u32,
    pub files: Vec<GoldenFile>,
}

impl Writer {
    pub(super) fn param<T: Copy + Into<i128>>(
        &mut self,
        name: &str,
        shape: &[usize],
        ty: (u32, bool),
        data: &[T],
        what: impl Into<String>,
    ) -> &mut GoldenFile {
        self.push(Kind::Parameter, PARAMS, name, shape, ty, data, what)
    }

    pub(super) fn act<T: Copy + Into<i128>>(
        &mut self,
        name: &str,
        shape: &[usize],
        ty: (u32, bool),
        data: &[T],
        what: impl Into<String>,
    ) -> &mut GoldenFile {
        self.push(Kind::Activation, ACTS, name, shape, ty, data, what)
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn push<T: Copy + Into<i128>>(
        &mut self,
        kind: Kind,
        dir: &str,
        name: &str,
        shape: &[usize],
        ty: (u32, bool),
        data: &[T],
        what: impl Into<String>,
    ) -> &mut GoldenFile {
        self.files
            .push(GoldenFile::new(kind, dir, name, shape, ty, data, what));
        self.files.last_mut().expect("just pushed")
    }

    pub(super) fn requant(&mut self, name: &str, r: &[Requant], what: &str) {
        let n = [r.len()];
        let m0: Vec<u32> = r.iter().map(|x| x.m0).collect();
        let shift: Vec<u32> = r.iter().map(|x| x.shift).collect();
        let zp: Vec<i32> = r.iter().map(|x| x.zero_point).collect();
        let lo: Vec<i32> = r.iter().map(|x| x.lo).collect();
        let hi: Vec<i32> = r.iter().map(|x| x.hi).collect();
        let ct = clamp_type(r, self.abits);
        self.param(
            &format!("{name}.m0"),
            &n,
            unsigned(31),
            &m0,
            format!("{what}: requantization multiplier M0 per output channel (U2)"),
        );
        self.param(
            &format!("{name}.shift"),
            &n,
            unsigned(6),
            &shift,
            format!("{what}: requantization right shift n per output channel (U2)"),
        );
        self.param(
            &format!("{name}.zero_point"),
            &n,
            signed(32),
            &zp,
            format!("{what}: output zero point added after the shift (U2)"),
        );
        self.param(
            &format!("{name}.lo"),
            &n,
            ct,
            &lo,
            format!("{what}: lower clamp bound (U2)"),
        );
        self.param(
            &format!("{name}.hi"),
            &n,
            ct,
            &hi,
            format!("{what}: upper clamp bound (U2)"),
        );
    }

    pub(super) fn linear(&mut self, l: &IntLinear, s_a: Option<f64>) {
        let (k, n) = (l.in_features, l.out_features);
        let mut w = vec![0i16; k * n];
        for o in 0..n {
            for i in 0..k {
                w[i * n + o] = l.w[o * k + i];
            }
        }
        let ws = Some(l.w_scales.clone()).filter(|s| s.len() == l.out_features);
        let wbits = self.wbits;
        let f = self.param(
            &format!("{}.w", l.name),
            &[k, n],
            signed(weight_operand_bits(wbits)),
            &w,
            format!(
                "{}: stationary operands w[k][n] = W_code[n][k] - z_w[n] (U1)",
                l.name
            ),
        );
        f.entry.channel_scales = ws.clone();
        let acc_bits = self.acc_bits;
        let f = self.param(
            &format!("{}.bias", l.name),
            &[n],
            signed(acc_bits),
            &l.bias,
            format!(
                "{}: folded bias per output channel, zero points included (U1)",
                l.name
            ),
        );
        f.entry.channel_scales = ws
            .zip(s_a)
            .map(|(ws, sa)| ws.iter().map(|s| s * sa).collect());
        self.requant(&l.name, &l.requant, &l.name);
    }

    pub(super) fn layer_norm(&mut self, name: &str, ln: &LayerNormParams) {
        let eps = ln.eps_q;
        // Codes (U5), or the s32 residual stream (U5r: the Swin patch and final norms).
        let out_ty = if ln.lo < 0 {
            signed(32)
        } else {
            unsigned(self.abits)
        };
        self.param(
            &format!("{name}.eps_q"),
            &[1],
            unsigned(64),
            &[eps],
            format!("{name}: epsilon E in the units of Q (U5)"),
        );
        self.param(
            &format!("{name}.g"),
            &[ln.dim()],
            signed(crate::arith::widths::LN_G_BITS),
            &ln.g,
            format!("{name}: affine factor G per channel, GF - LNF fraction bits (U5)"),
        );
        self.param(
            &format!("{name}.b"),
            &[ln.dim()],
            signed(crate::arith::widths::LN_B_BITS),
            &ln.b,
            format!(
                "{name}: affine offset B per channel (zero point included), GF fraction bits (U5)"
            ),
        );
        self.param(
            &format!("{name}.lo"),
            &[1],
            out_ty,
            &[ln.lo],
            format!("{name}: lower output clamp (U5)"),
        );
        self.param(
            &format!("{name}.hi"),
            &[1],
            out_ty,
            &[ln.hi],
            format!("{name}: upper output clamp (U5)"),
        );
    }
}
