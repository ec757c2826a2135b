//! The weights and architecture of a timm Swin Transformer (v1, `timm.models.swin_transformer`),
//! in the layout the forward pass uses.
//!
//! Swin is hierarchical: a patch embedding with its own LayerNorm, then stages of blocks that
//! attend within windows of the token grid (every second block on a cyclically shifted grid,
//! with a mask between tokens the shift made neighbours), each stage after the first opened by
//! a PatchMerging that halves the grid and widens the tokens; then a final LayerNorm, average
//! pooling over the grid and the head. The names follow timm's current source (timm 1.0.31):
//! `layers.S.downsample` sits at the START of stages 1.., and the head is `head.fc`.

use serde::{Deserialize, Serialize};

use super::vit::{LayerNorm, Linear};

/// One stage of a Swin Transformer, as timm builds it for a given input size.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SwinStage {
    /// Token width C of the stage (after its PatchMerging, if any).
    pub dim: usize,
    /// Number of blocks.
    pub depth: usize,
    /// Attention heads h.
    pub num_heads: usize,
    /// Per-head width D_h (timm's `head_dim`, by default `dim / num_heads`).
    pub head_dim: usize,
    /// Hidden width of the MLP (`int(dim * mlp_ratio)`).
    pub mlp_hidden: usize,
    /// timm's `input_resolution` of the blocks `[H, W]`: the patch grid floor-divided by
    /// `2^S`.
    pub resolution: [usize; 2],
    /// The window `[Wh, Ww]` the blocks attend in: the configured window, clipped to the
    /// resolution per axis (timm's `_calc_window_shift`).
    pub window: [usize; 2],
    /// The cyclic shift of the odd blocks `[Sh, Sw]`: half the configured window, 0 along an
    /// axis whose resolution fits in one window.
    pub shift: [usize; 2],
}

impl SwinStage {
    /// Width of the attention (`num_heads * head_dim`), the width of q, k, v and of the
    /// projection's input.
    pub fn attn_dim(&self) -> usize {
        self.num_heads * self.head_dim
    }

    /// Tokens per window `Wh * Ww`.
    pub fn window_area(&self) -> usize {
        self.window[0] * self.window[1]
    }

    /// Entries of the relative position bias table, `(2 Wh - 1) (2 Ww - 1)`.
    pub fn table_len(&self) -> usize {
        (2 * self.window[0] - 1) * (2 * self.window[1] - 1)
    }

    /// The shift of block `j` of the stage: none for even blocks, [`Self::shift`] for odd.
    pub fn block_shift(&self, j: usize) -> [usize; 2] {
        if j.is_multiple_of(2) {
            [0, 0]
        } else {
            self.shift
        }
    }
}

/// The architecture of a Swin Transformer at one input size.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SwinConfig {
    /// Input image height and width in pixels.
    pub img_size: [usize; 2],
    /// Patch height and width in pixels.
    pub patch_size: [usize; 2],
    /// Input channels (3 for RGB).
    pub in_chans: usize,
    pub stages: Vec<SwinStage>,
    /// Classifier outputs.
    pub num_classes: usize,
    /// Whether the qkv projections have a bias.
    pub qkv_bias: bool,
    /// LayerNorm epsilon (timm's Swin: `nn.LayerNorm`'s 1e-5).
    pub ln_eps: f32,
}

impl SwinConfig {
    /// Patches along height and width.
    pub fn grid(&self) -> [usize; 2] {
        [
            self.img_size[0] / self.patch_size[0],
            self.img_size[1] / self.patch_size[1],
        ]
    }

    /// Token width of the patch embedding (the first stage's width).
    pub fn embed_dim(&self) -> usize {
        self.stages[0].dim
    }

    /// Width of the pooled features entering the head (the last stage's width).
    pub fn num_features(&self) -> usize {
        self.stages.last().map_or(0, |s| s.dim)
    }

    /// Total number of blocks over all stages.
    pub fn depth(&self) -> usize {
        self.stages.iter().map(|s| s.depth).sum()
    }

    /// `(stage, block within the stage)` of every block, in forward order; the position in
    /// this list is the block's global index (the index activation sites use).
    pub fn blocks(&self) -> Vec<(usize, usize)> {
        self.stages
            .iter()
            .enumerate()
            .flat_map(|(s, st)| (0..st.depth).map(move |j| (s, j)))
            .collect()
    }

    /// Length of one flattened patch, `in_chans * patch_h * patch_w`.
    pub fn patch_len(&self) -> usize {
        self.in_chans * self.patch_size[0] * self.patch_size[1]
    }

    /// The first stage whose grid is not a whole number of windows (timm zero-pads it before
    /// the attention, and the padding tokens take part in it).
    pub fn padded_stage(&self) -> Option<usize> {
        self.stages
            .iter()
            .position(|s| s.resolution[0] % s.window[0] != 0 || s.resolution[1] % s.window[1] != 0)
    }
}

/// The window attention of one block.
#[derive(Clone, Debug, PartialEq)]
pub struct WindowAttention {
    /// `[3A, C]`: rows 0..A give q, A..2A k, 2A..3A v; within each, head-major.
    pub qkv: Linear,
    /// `[C, A]`.
    pub proj: Linear,
    /// `relative_position_bias_table`, `[(2 Wh - 1)(2 Ww - 1), h]` row-major.
    pub rel_bias_table: Vec<f32>,
}

/// One Swin block: `x += proj(W-MSA(norm1(x)))`, `x += fc2(GELU(fc1(norm2(x))))`.
#[derive(Clone, Debug, PartialEq)]
pub struct SwinBlock {
    pub norm1: LayerNorm,
    pub attn: WindowAttention,
    pub norm2: LayerNorm,
    pub fc1: Linear,
    pub fc2: Linear,
}

impl SwinBlock {
    pub fn num_params(&self) -> usize {
        self.norm1.num_params()
            + self.attn.qkv.num_params()
            + self.attn.proj.num_params()
            + self.attn.rel_bias_table.len()
            + self.norm2.num_params()
            + self.fc1.num_params()
            + self.fc2.num_params()
    }
}

/// PatchMerging: 2x2 neighbouring tokens concatenated (4C), normalized, then a bias-free
/// linear map to the next stage's width.
#[derive(Clone, Debug, PartialEq)]
pub struct PatchMerging {
    /// LayerNorm over the 4C concatenation.
    pub norm: LayerNorm,
    /// `[C_out, 4C]`, no bias (timm's `reduction`).
    pub reduction: Linear,
}

/// The blocks of one stage and the PatchMerging that opens it (stages 1..).
#[derive(Clone, Debug, PartialEq)]
pub struct SwinLayer {
    pub downsample: Option<PatchMerging>,
    pub blocks: Vec<SwinBlock>,
}

/// A timm Swin Transformer classifier.
#[derive(Clone, Debug, PartialEq)]
pub struct SwinTransformer {
    pub config: SwinConfig,
    /// The patch-embedding convolution as a linear map over flattened patches: `[C, in*Ph*Pw]`.
    pub patch_embed: Linear,
    /// The patch embedding's LayerNorm (`patch_embed.norm`).
    pub patch_norm: LayerNorm,
    pub layers: Vec<SwinLayer>,
    /// The final LayerNorm, before pooling.
    pub norm: LayerNorm,
    /// `head.fc`.
    pub head: Linear,
}

impl SwinTransformer {
    /// Number of parameters, as timm counts them.
    pub fn num_params(&self) -> usize {
        self.patch_embed.num_params()
            + self.patch_norm.num_params()
            + self
                .layers
                .iter()
                .map(|l| {
                    l.downsample
                        .as_ref()
                        .map_or(0, |d| d.norm.num_params() + d.reduction.num_params())
                        + l.blocks.iter().map(SwinBlock::num_params).sum::<usize>()
                })
                .sum::<usize>()
            + self.norm.num_params()
            + self.head.num_params()
    }

    /// The block with global index `i` (see [`SwinConfig::blocks`]).
    pub fn block(&self, i: usize) -> Option<&SwinBlock> {
        let (s, j) = *self.config.blocks().get(i)?;
        self.layers.get(s)?.blocks.get(j)
    }

    /// Mutable access to the block with global index `i`.
    pub fn block_mut(&mut self, i: usize) -> Option<&mut SwinBlock> {
        let (s, j) = *self.config.blocks().get(i)?;
        self.layers.get_mut(s)?.blocks.get_mut(j)
    }

    /// timm's name of the block with global index `i` (`layers.S.blocks.J`).
    pub fn block_name(&self, i: usize) -> String {
        block_name(&self.config, i)
    }
}

/// timm's name of the block with global index `i` of `config` (`layers.S.blocks.J`).
pub fn block_name(config: &SwinConfig, i: usize) -> String {
    match config.blocks().get(i) {
        Some((s, j)) => format!("layers.{s}.blocks.{j}"),
        None => format!("blocks[{i}]"),
    }
}

/// timm's `get_relative_position_index`: for tokens `a`, `b` of a `[Wh, Ww]` window (row-major),
/// `(ya - yb + Wh - 1) (2 Ww - 1) + (xa - xb + Ww - 1)`, `[N, N]` row-major with `N = Wh Ww`.
pub fn relative_position_index(window: [usize; 2]) -> Vec<usize> {
    let [wh, ww] = window;
    let n = wh * ww;
    let mut idx = Vec::with_capacity(n * n);
    for a in 0..n {
        let (ya, xa) = (a / ww, a % ww);
        for b in 0..n {
            let (yb, xb) = (b / ww, b % ww);
            idx.push((ya + wh - 1 - yb) * (2 * ww - 1) + (xa + ww - 1 - xb));
        }
    }
    idx
}

/// timm's shifted-window attention mask for a padded grid `[Hp, Wp]`: `[nW, N, N]` row-major,
/// 0 between tokens of the same region and -100 between tokens of different regions
/// (`SwinTransformerBlock.get_attn_mask`). Regions are the slices `[0, -Wh)`, `[-Wh, -Sh)`,
/// `[-Sh, end)` of each axis with Python's slice semantics, assigned in that order, so along an
/// axis whose shift is 0 the last slice covers everything.
pub fn attention_mask(padded: [usize; 2], window: [usize; 2], shift: [usize; 2]) -> Vec<f32> {
    let [hp, wp] = padded;
    let [wh, ww] = window;
    let axis = |len: usize, win: usize, sh: usize| -> Vec<usize> {
        let mut id = vec![0usize; len];
        let slices = [
            (Some(0), Some(-(win as isize))),
            (Some(-(win as isize)), Some(-(sh as isize))),
            (Some(-(sh as isize)), None),
        ];
        for (r, (a, b)) in slices.into_iter().enumerate() {
            for i in py_slice(len, a, b) {
                id[i] = r;
            }
        }
        id
    };
    let (rows, cols) = (axis(hp, wh, shift[0]), axis(wp, ww, shift[1]));
    let (nh, nw) = (hp / wh, wp / ww);
    let n = wh * ww;
    let mut mask = vec![0.0f32; nh * nw * n * n];
    for (w, m) in mask.chunks_exact_mut(n * n).enumerate() {
        let (wy, wx) = (w / nw, w % nw);
        let region = |t: usize| rows[wy * wh + t / ww] * 3 + cols[wx * ww + t % ww];
        for a in 0..n {
            for b in 0..n {
                if region(a) != region(b) {
                    m[a * n + b] = -100.0;
                }
            }
        }
    }
    mask
}

/// The indices of Python's `seq[a:b]` on a sequence of `len` items (negative bounds count from
/// the end, `-0` is 0).
fn py_slice(len: usize, a: Option<isize>, b: Option<isize>) -> std::ops::Range<usize> {
    let n = len as isize;
    let fix = |v: isize| if v < 0 { (n + v).max(0) } else { v.min(n) };
    let start = a.map_or(0, fix);
    let stop = b.map_or(n, fix);
    start as usize..stop.max(start) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_position_index_matches_timm_for_a_2x3_window() {
        // timm: get_relative_position_index(2, 3)[0] and [5].
        let idx = relative_position_index([2, 3]);
        assert_eq!(&idx[..6], &[7, 6, 5, 2, 1, 0]);
        assert_eq!(&idx[30..36], &[14, 13, 12, 9, 8, 7]);
    }

    #[test]
    fn mask_separates_the_wrapped_regions() {
        // A 4x4 grid, window 2, shift 1: the bottom-right window holds one token of each of
        // the four corner regions, so every pair of distinct tokens there is masked.
        let m = attention_mask([4, 4], [2, 2], [1, 1]);
        let last = &m[3 * 16..4 * 16];
        for a in 0..4 {
            for b in 0..4 {
                assert_eq!(last[a * 4 + b], if a == b { 0.0 } else { -100.0 });
            }
        }
        // The top-left window is one region: no mask.
        assert!(m[..16].iter().all(|&v| v == 0.0));
        // Shift 0 along W: only the row regions split the windows.
        let m = attention_mask([4, 4], [2, 2], [1, 0]);
        assert!(m[16..32].iter().all(|&v| v == 0.0));
        assert_eq!(m[2 * 16 + 1], 0.0); // tokens (0,0), (0,1): same row
        assert_eq!(m[2 * 16 + 2], -100.0); // tokens (0,0), (1,0): rows 2 and 3 differ
    }
}
