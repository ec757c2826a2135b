//! The operations of one ViT/DeiT forward pass (one image), in execution order, as the integer
//! datapath of [`crate::intsim`] runs them: which unit each runs on and its shape.

use crate::model::VitConfig;

/// The unit a matmul runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// `repq_top`: the weight-stationary array with bias and requantization.
    Array,
    /// `repq_shift_av` (U4): attention x V by shifts.
    ShiftAv,
    /// `repq_av_requant`: the A x V outputs to proj input codes, heads merged. `m x k x n` is
    /// tokens x head width x heads.
    AvRequant,
    /// `repq_gelu`: U7's table, loaded once per job. `m x k x n` is rows x 1 x columns.
    Gelu,
    /// `repq_residual`: the residual addition (U8). `m x k x n` is rows x 1 x columns.
    Residual,
    /// `repq_layernorm` (U5). `m x k x n` is rows x 1 x channels.
    LayerNorm,
    /// `repq_softmax` (U6) of one head, its probabilities streaming on through `repq_logcode`
    /// (U3, one beat per cycle, so it never slows the softmax). `m x k x n` is queries x 1 x keys.
    Softmax,
    /// `repq_avgpool`: the average pooling with the U2 to the head's input codes. `m x k x n` is
    /// tokens x 1 x channels.
    AvgPool,
}

/// One matmul, repeated `count` times with the same shape (the heads of an attention layer).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Op {
    /// Name, after the model's layers (`blocks.3.mlp.fc1`).
    pub name: String,
    pub unit: Unit,
    /// `M x K x N`: rows (tokens), depth, output columns. For [`Unit::ShiftAv`]: queries, keys,
    /// value channels `D_h`.
    pub m: u64,
    pub k: u64,
    pub n: u64,
    /// How many times it runs (heads), each a separate job.
    pub count: u64,
}

impl Op {
    pub(super) fn new(
        name: impl Into<String>,
        unit: Unit,
        m: usize,
        k: usize,
        n: usize,
        count: usize,
    ) -> Self {
        Op {
            name: name.into(),
            unit,
            m: m as u64,
            k: k as u64,
            n: n as u64,
            count: count as u64,
        }
    }

    /// Multiply-accumulates of all `count` jobs (elements for the units after the array).
    pub fn macs(&self) -> u64 {
        self.m * self.k * self.n * self.count
    }

    /// `MxKxN`.
    pub fn shape(&self) -> String {
        format!("{}x{}x{}", self.m, self.k, self.n)
    }
}

/// Every operation of one forward pass of `cfg`: `patch_embed` (patches x patch length x width),
/// per block `norm1` (`repq_layernorm`), `qkv`, `Q K^T` per head (keys as the stationary
/// operand), softmax per head (`repq_softmax`), `A x V` per head on the shift unit, its
/// requantization to the proj input (all heads, `repq_av_requant`), `proj`, the residual
/// addition, `norm2`, `fc1`, GELU (`repq_gelu`), `fc2`, the residual addition, then per
/// classifier head the final norm and the head, on the class (or distillation) token's row only.
/// The position embedding's load and the distilled heads' average are data movement, not counted.
pub fn vit_workload(cfg: &VitConfig) -> Vec<Op> {
    let (d, t, h, dh) = (cfg.embed_dim, cfg.seq_len(), cfg.num_heads, cfg.head_dim());
    let hid = cfg.mlp_hidden;
    let mut ops = vec![Op::new(
        "patch_embed",
        Unit::Array,
        cfg.num_patches(),
        cfg.patch_len(),
        d,
        1,
    )];
    for i in 0..cfg.depth {
        let p = |s: &str| format!("blocks.{i}.{s}");
        ops.push(Op::new(p("norm1"), Unit::LayerNorm, t, 1, d, 1));
        ops.push(Op::new(p("attn.qkv"), Unit::Array, t, d, 3 * d, 1));
        ops.push(Op::new(p("attn.q@k^T"), Unit::Array, t, dh, t, h));
        ops.push(Op::new(p("attn.softmax"), Unit::Softmax, t, 1, t, h));
        ops.push(Op::new(p("attn.a@v"), Unit::ShiftAv, t, t, dh, h));
        ops.push(Op::new(p("attn.proj.input"), Unit::AvRequant, t, dh, h, 1));
        ops.push(Op::new(p("attn.proj"), Unit::Array, t, d, d, 1));
        ops.push(Op::new(p("residual1"), Unit::Residual, t, 1, d, 1));
        ops.push(Op::new(p("norm2"), Unit::LayerNorm, t, 1, d, 1));
        ops.push(Op::new(p("mlp.fc1"), Unit::Array, t, d, hid, 1));
        ops.push(Op::new(p("mlp.gelu"), Unit::Gelu, t, 1, hid, 1));
        ops.push(Op::new(p("mlp.fc2"), Unit::Array, t, hid, d, 1));
        ops.push(Op::new(p("residual2"), Unit::Residual, t, 1, d, 1));
    }
    ops.push(Op::new("norm", Unit::LayerNorm, 1, 1, d, 1));
    ops.push(Op::new("head", Unit::Array, 1, d, cfg.num_classes, 1));
    if cfg.distilled {
        ops.push(Op::new("norm (dist token)", Unit::LayerNorm, 1, 1, d, 1));
        ops.push(Op::new("head_dist", Unit::Array, 1, d, cfg.num_classes, 1));
    }
    ops
}
