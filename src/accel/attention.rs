//! Lowers one block's attention (every head) onto `repq_vit` (docs/accelerator.md, "Attention"):
//! `Q K^T` on the array with key operands from the key transposer and per-key biases from the
//! key sum, U6 and U3 into code rows, then U4 and the A x V requantization into the proj input
//! codes, head by head.

use super::image::{ImageBuilder, Region};
use crate::arith::Requant;
use crate::error::{Error, Result};

/// The constants of one block's attention (docs/arithmetic.md: U1 zero points, U6, U3, U4).
#[derive(Clone, Debug)]
pub struct AttnConsts {
    pub z_q: i32,
    pub z_k: i32,
    pub z_v: i32,
    /// The softmax logits' requantization of the `Q K^T` accumulators (`M0`, `n`).
    pub sm_m0: u32,
    pub sm_shift: u32,
    /// U3: `C_INT` and the thresholds `T_1, T_0, T_-1`.
    pub c_int: i32,
    pub thresholds: [u32; 3],
    /// U4's fraction bits `F`.
    pub f: u32,
    /// The A x V outputs to proj input codes (U2).
    pub av: Requant,
    /// The model's activation bits (at most the design's): U3 codes past `2^abits - 1` are the
    /// exact zero.
    pub abits: u32,
}

/// Scratch memory of one attention: the logits and the code rows of a head (`[T, T]` `s32`,
/// reused by every head).
pub struct AttnScratch {
    pub logits: Region,
    pub codes: Region,
}

fn bad(reason: String) -> Error {
    Error::Invalid(format!("accel image: attention: {reason}"))
}

impl ImageBuilder {
    /// Scratch regions for an attention over `tokens` keys.
    pub fn attn_scratch(&mut self, tokens: usize) -> AttnScratch {
        let c_ = self.design().cols as usize;
        AttnScratch {
            logits: self.region(tokens, tokens, 4, c_),
            codes: self.region(tokens, tokens, 4, c_),
        }
    }

    /// Every head of one attention: `qkv` holds the q, k, v codes (`[T, 3D]`, with at least
    /// `ceil(T / C) C` rows allocated: the key transposer reads whole groups of `C` keys), `out`
    /// receives the proj input codes `[T, D]`.
    pub fn attention(
        &mut self,
        qkv: &Region,
        heads: usize,
        k: &AttnConsts,
        s: &AttnScratch,
        out: &Region,
    ) -> Result<()> {
        let d = self.design().clone();
        let (r_, c_) = (d.rows as usize, d.cols as usize);
        let t = qkv.rows;
        let dim = qkv.cols / 3;
        let dh = dim / heads.max(1);
        if dh * heads != dim || !dh.is_multiple_of(r_) || !dh.is_multiple_of(c_) {
            return Err(bad(format!(
                "head width {dh} must divide the width {dim} and be a multiple of the array's \
                 {r_} rows and {c_} columns"
            )));
        }
        if t > 1024 || qkv.alloc_rows < t.next_multiple_of(c_) {
            return Err(bad(format!(
                "{t} tokens: at most 1024, and the qkv region needs {} rows",
                t.next_multiple_of(c_)
            )));
        }
        let rb = qkv.row_bytes as u32;
        let bpk = (dh / r_) as u32;
        let bpr = t.div_ceil(c_) as u32;
        if k.abits == 0 || k.abits > d.abits {
            return Err(bad(format!(
                "a {}-bit model does not run on a design for {}-bit activations",
                k.abits, d.abits
            )));
        }
        let av = &k.av;
        self.job(
            2,
            [
                k.z_q as u32,
                k.z_k as u32,
                k.z_v as u32,
                k.sm_m0,
                k.sm_shift | k.f << 8 | bpk << 16,
                t as u32,
                (1u32 << k.abits) - 1,
            ],
        );
        self.job(
            3,
            [
                k.c_int as u32,
                k.thresholds[0],
                k.thresholds[1],
                k.thresholds[2],
                av.m0,
                av.shift | (av.lo as u32) << 8 | (av.hi as u32) << 16,
                av.zero_point as u32,
            ],
        );
        let (lg, cd) = (&s.logits, &s.codes);
        for h in 0..heads {
            let q = qkv.addr + (h * dh) as u32;
            let kk = qkv.addr + (dim + h * dh) as u32;
            let v = qkv.addr + (2 * dim + h * dh) as u32;
            // Q K^T with the softmax's requantization: logits [T, T] s32
            self.job(0, [t as u32, dh as u32, t as u32, 0, 0, 0, 0]);
            for n0 in (0..t).step_by(c_) {
                let nr = c_.min(t - n0) as u32;
                let key0 = kk + n0 as u32 * rb;
                self.read_loops(8, key0, [bpk, nr, 1], [r_ as u32, rb, 0]);
                for k0 in (0..dh).step_by(r_) {
                    self.read_loops(9, key0 + k0 as u32, [c_ as u32, 1, 1], [rb, 0, 0]);
                    self.read_loops(2, q + k0 as u32, [t as u32, 1, 1], [rb, 0, 0]);
                }
                self.write_loops(
                    0,
                    4,
                    lg.addr + n0 as u32 * 4,
                    [t as u32, 1, 1],
                    [lg.row_bytes as u32, 0, 0],
                );
                self.sync_point();
            }
            // U6 and U3: code rows [T, T] (s32: the code, or -1 for the exact zero)
            self.job(4, [t as u32, t as u32, 0, 0, 0, 0, 0]);
            let rows = [bpr, t as u32, 1];
            self.write_loops(5, 4, cd.addr, rows, [c_ as u32 * 4, cd.row_bytes as u32, 0]);
            self.read_loops(10, lg.addr, rows, [c_ as u32 * 4, lg.row_bytes as u32, 0]);
            self.sync_point();
            // U4 and the requantization, one lane group of the head at a time
            self.job(5, [t as u32, dh as u32, 1, 0, 0, 0, 0]);
            for g in (0..dh).step_by(c_) {
                self.read_loops(11, v + g as u32, [t as u32, 1, 1], [rb, 0, 0]);
                let o = out.addr + (h * dh + g) as u32;
                self.write_loops(6, 1, o, [t as u32, 1, 1], [out.row_bytes as u32, 0, 0]);
                self.read_loops(12, cd.addr, rows, [c_ as u32 * 4, cd.row_bytes as u32, 0]);
                self.sync_point();
            }
        }
        Ok(())
    }
}
