//! The operations of one Swin forward pass (one image), in execution order, as the integer
//! datapath of `intsim::swin` runs them (docs/arithmetic.md, "Swin Transformer in integers"):
//! the ViT's units per window instead of per image, PatchMerging's norm and reduction, the U5r
//! norms on `repq_layernorm` and the average pooling on `repq_avgpool`.

use super::workload::{Op, Unit};
use crate::model::SwinConfig;

/// Every operation of one forward pass of `cfg`: `patch_embed` (patches x patch length x width)
/// and its norm (U5r); per stage its PatchMerging (`downsample.norm` over `4C` channels and
/// `downsample.reduction`) from stage 1 on; per block `norm1`, `qkv` over every token, per window
/// and head `Q K^T` (`N x D_h x N`), the softmax with bias and mask, `A x V` on the shift unit,
/// per window the requantization to the proj input (`repq_av_requant`, `N` tokens), then `proj`,
/// the residual addition, `norm2`, `fc1`, GELU, `fc2` and the residual addition over every token;
/// then the final norm (U5r) over the last stage's `T` tokens, the pooling (`T x 1 x C`) and the
/// head on the pooled row. Window partition, shift and reverse, and the 2x2 gather, are data
/// movement, not counted.
pub fn swin_workload(cfg: &SwinConfig) -> Vec<Op> {
    let [gh, gw] = cfg.grid();
    let e = cfg.embed_dim();
    let mut ops = vec![
        Op::new("patch_embed", Unit::Array, gh * gw, cfg.patch_len(), e, 1),
        Op::new("patch_embed.norm", Unit::LayerNorm, gh * gw, 1, e, 1),
    ];
    let (mut prev, mut b) = (e, 0);
    for (s, st) in cfg.stages.iter().enumerate() {
        let t = st.resolution[0] * st.resolution[1];
        if s > 0 {
            let p = |x: &str| format!("layers.{s}.downsample.{x}");
            ops.push(Op::new(p("norm"), Unit::LayerNorm, t, 1, 4 * prev, 1));
            ops.push(Op::new(p("reduction"), Unit::Array, t, 4 * prev, st.dim, 1));
        }
        let (d, a, h, dh, hid) = (
            st.dim,
            st.attn_dim(),
            st.num_heads,
            st.head_dim,
            st.mlp_hidden,
        );
        let n = st.window_area();
        let nw = t / n;
        for _ in 0..st.depth {
            let p = |x: &str| format!("blocks.{b}.{x}");
            ops.push(Op::new(p("norm1"), Unit::LayerNorm, t, 1, d, 1));
            ops.push(Op::new(p("attn.qkv"), Unit::Array, t, d, 3 * a, 1));
            ops.push(Op::new(p("attn.q@k^T"), Unit::Array, n, dh, n, nw * h));
            ops.push(Op::new(p("attn.softmax"), Unit::Softmax, n, 1, n, nw * h));
            ops.push(Op::new(p("attn.a@v"), Unit::ShiftAv, n, n, dh, nw * h));
            ops.push(Op::new(p("attn.proj.input"), Unit::AvRequant, n, dh, h, nw));
            ops.push(Op::new(p("attn.proj"), Unit::Array, t, a, d, 1));
            ops.push(Op::new(p("residual1"), Unit::Residual, t, 1, d, 1));
            ops.push(Op::new(p("norm2"), Unit::LayerNorm, t, 1, d, 1));
            ops.push(Op::new(p("mlp.fc1"), Unit::Array, t, d, hid, 1));
            ops.push(Op::new(p("mlp.gelu"), Unit::Gelu, t, 1, hid, 1));
            ops.push(Op::new(p("mlp.fc2"), Unit::Array, t, hid, d, 1));
            ops.push(Op::new(p("residual2"), Unit::Residual, t, 1, d, 1));
            b += 1;
        }
        prev = st.dim;
    }
    let last = cfg.stages.last().map_or([1, 1], |s| s.resolution);
    let (t, f) = (last[0] * last[1], cfg.num_features());
    ops.push(Op::new("norm", Unit::LayerNorm, t, 1, f, 1));
    ops.push(Op::new("pool", Unit::AvgPool, t, 1, f, 1));
    ops.push(Op::new("head", Unit::Array, 1, f, cfg.num_classes, 1));
    ops
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::Embedded;
    use crate::perf::Unit;

    /// On the embedded Swin: every token is a query of every head once per block (the windows
    /// tile the grid), the pooling and the final norm see the last stage's grid, and the
    /// PatchMerging norm sees four times the previous width.
    #[test]
    fn swin_digits_windows_cover_every_token_once_per_head() {
        let m = Embedded::SwinDigits.loaded().unwrap().model;
        let cfg = &m.swin().unwrap().config;
        let ops = swin_workload(cfg);
        let mut b = 0;
        for st in &cfg.stages {
            let t = (st.resolution[0] * st.resolution[1]) as u64;
            for _ in 0..st.depth {
                for op in ["attn.q@k^T", "attn.softmax", "attn.a@v"] {
                    let o = ops
                        .iter()
                        .find(|o| o.name == format!("blocks.{b}.{op}"))
                        .unwrap();
                    assert_eq!(o.m * o.count, t * st.num_heads as u64, "{}", o.name);
                }
                b += 1;
            }
        }
        assert_eq!(b, cfg.depth());
        let last = cfg.stages.last().unwrap();
        let t = (last.resolution[0] * last.resolution[1]) as u64;
        let pool = ops.iter().find(|o| o.unit == Unit::AvgPool).unwrap();
        assert_eq!((pool.m, pool.n), (t, last.dim as u64));
        let merge = ops
            .iter()
            .find(|o| o.name == "layers.1.downsample.norm")
            .unwrap();
        assert_eq!(merge.n, 4 * cfg.stages[0].dim as u64);
    }
}
