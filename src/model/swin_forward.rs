//! The f32 forward pass of a timm Swin Transformer, equal to timm's `model(x)` in eval mode with
//! the unfused attention (`q * scale`, `q @ k^T`, relative position bias, shift mask, softmax),
//! with the same activation hook as the ViT forward ([`super::forward`]).
//!
//! Layout is timm's NHWC: the residual stream is `[B, H, W, C]` row-major. A block normalizes,
//! rolls the grid by minus the shift, zero-pads it to whole windows (bottom and right), cuts it
//! into windows (row-major window order, row-major tokens inside), attends within each window,
//! and puts the result back (cropping the padding, rolling back) before the residual add.

use rayon::prelude::*;

use super::forward::{
    ActivationHook, NoHook, Site, add_in_place, im2col, merge_heads, split_heads,
};
use super::ops::{self, MatRef};
use super::swin::{SwinTransformer, attention_mask, relative_position_index};
use crate::error::{Error, Result};

impl SwinTransformer {
    /// Logits `[batch, num_classes]` for normalized images `[batch, C, H, W]`.
    pub fn forward(&self, images: &[f32], batch: usize) -> Result<Vec<f32>> {
        self.forward_with(images, batch, &mut NoHook)
    }

    /// The forward pass with `hook` called at every [`Site`], in forward order.
    ///
    /// # Errors
    /// [`Error::Shape`] if `images` is not `batch` images of the configured size.
    pub fn forward_with(
        &self,
        images: &[f32],
        batch: usize,
        hook: &mut dyn ActivationHook,
    ) -> Result<Vec<f32>> {
        let cfg = &self.config;
        let [ih, iw] = cfg.img_size;
        let expected = batch * cfg.in_chans * ih * iw;
        if images.len() != expected {
            return Err(Error::Shape {
                context: "forward input".into(),
                reason: format!(
                    "{} values for batch {batch} of [{}, {ih}, {iw}] images ({expected} expected)",
                    images.len(),
                    cfg.in_chans
                ),
            });
        }
        let mut img = images.to_vec();
        hook.activation(Site::PatchInput, &mut img, iw);
        let patches = im2col(&img, batch, cfg.in_chans, cfg.img_size, cfg.patch_size);
        let mut grid = cfg.grid();
        let rows = batch * grid[0] * grid[1];
        let emb = ops::linear(&patches, rows, &self.patch_embed);
        let mut x = ops::layer_norm(&emb, &self.patch_norm);

        let mut gi = 0;
        for (s, layer) in self.layers.iter().enumerate() {
            if let Some(ds) = &layer.downsample {
                let c = x.len() / (batch * grid[0] * grid[1]);
                let mut merged = ops::layer_norm(&merge_2x2(&x, batch, grid, c), &ds.norm);
                grid = [grid[0] / 2, grid[1] / 2];
                hook.activation(Site::ReductionInput(s), &mut merged, 4 * c);
                x = ops::linear(&merged, batch * grid[0] * grid[1], &ds.reduction);
            }
            for j in 0..layer.blocks.len() {
                self.attention_residual(gi, s, j, &mut x, batch, grid, hook);
                self.mlp_residual(gi, s, j, &mut x, hook);
                gi += 1;
            }
        }

        let c = cfg.num_features();
        let xn = ops::layer_norm(&x, &self.norm);
        let tokens = grid[0] * grid[1];
        let mut pooled = vec![0.0f32; batch * c];
        for (b, out) in pooled.chunks_exact_mut(c).enumerate() {
            let mut acc = vec![0.0f64; c];
            for t in xn[b * tokens * c..(b + 1) * tokens * c].chunks_exact(c) {
                for (a, &v) in acc.iter_mut().zip(t) {
                    *a += f64::from(v);
                }
            }
            for (o, a) in out.iter_mut().zip(&acc) {
                *o = (a / tokens as f64) as f32;
            }
        }
        hook.activation(Site::HeadInput, &mut pooled, c);
        Ok(ops::linear(&pooled, batch, &self.head))
    }

    /// `x += proj(W-MSA(norm1(x)))` for block `j` of stage `s` (global index `gi`), on a grid
    /// `[H, W]`.
    #[allow(clippy::too_many_arguments)]
    fn attention_residual(
        &self,
        gi: usize,
        s: usize,
        j: usize,
        x: &mut [f32],
        batch: usize,
        grid: [usize; 2],
        hook: &mut dyn ActivationHook,
    ) {
        let st = &self.config.stages[s];
        let blk = &self.layers[s].blocks[j];
        let (c, heads, dh) = (st.dim, st.num_heads, st.head_dim);
        let [h, w] = grid;
        let [wh, ww] = st.window;
        let shift = st.block_shift(j);
        let (hp, wp) = (h.div_ceil(wh) * wh, w.div_ceil(ww) * ww);
        let (nh, nw) = (hp / wh, wp / ww);
        let (nwin, n) = (nh * nw, wh * ww);
        let rows = batch * nwin * n;

        // Row r of the windowed tensor is token (ty, tx) of window (wy, wx) of image b; it holds
        // the rolled grid's (wy*Wh + ty, wx*Ww + tx), i.e. the original grid's position shifted
        // by +shift (mod the size), or zero padding beyond the grid.
        let source = |r: usize| -> Option<usize> {
            let (b, rest) = (r / (nwin * n), r % (nwin * n));
            let (win, t) = (rest / n, rest % n);
            let (y, xx) = ((win / nw) * wh + t / ww, (win % nw) * ww + t % ww);
            (y < h && xx < w).then(|| (b * h + (y + shift[0]) % h) * w + (xx + shift[1]) % w)
        };
        let xn = ops::layer_norm(x, &blk.norm1);
        let mut win = vec![0.0f32; rows * c];
        win.par_chunks_mut(c).enumerate().for_each(|(r, dst)| {
            if let Some(p) = source(r) {
                dst.copy_from_slice(&xn[p * c..(p + 1) * c]);
            }
        });
        hook.activation(Site::QkvInput(gi), &mut win, c);
        let qkv = ops::linear(&win, rows, &blk.attn.qkv);
        let [mut q, mut k, mut v] = split_heads(&qkv, batch * nwin, n, heads, dh);
        let scale = (dh as f32).powf(-0.5);
        q.par_iter_mut().for_each(|e| *e *= scale);
        hook.activation(Site::Query(gi), &mut q, dh);
        hook.activation(Site::Key(gi), &mut k, dh);
        hook.activation(Site::Value(gi), &mut v, dh);

        // bias[head][a][b] = table[index[a][b]][head]
        let index = relative_position_index(st.window);
        let table = &blk.attn.rel_bias_table;
        let bias: Vec<f32> = (0..heads)
            .flat_map(|hd| index.iter().map(move |&i| table[i * heads + hd]))
            .collect();
        let mask = (shift != [0, 0]).then(|| attention_mask([hp, wp], st.window, shift));
        let mut attn = vec![0.0f32; batch * nwin * heads * n * n];
        attn.par_chunks_mut(n * n).enumerate().for_each(|(bh, sc)| {
            let (bw, hd) = (bh / heads, bh % heads);
            ops::matmul(
                sc,
                MatRef::row_major(&q[bh * n * dh..(bh + 1) * n * dh], n, dh),
                MatRef::transposed(&k[bh * n * dh..(bh + 1) * n * dh], n, dh),
                false,
            );
            for (e, b) in sc.iter_mut().zip(&bias[hd * n * n..(hd + 1) * n * n]) {
                *e += b;
            }
            if let Some(m) = &mask {
                let wi = bw % nwin;
                for (e, mv) in sc.iter_mut().zip(&m[wi * n * n..(wi + 1) * n * n]) {
                    *e += mv;
                }
            }
            for row in sc.chunks_exact_mut(n) {
                ops::softmax_row(row);
            }
        });
        hook.activation(Site::AttnProbs(gi), &mut attn, n);

        let mut o = vec![0.0f32; batch * nwin * heads * n * dh];
        o.par_chunks_mut(n * dh).enumerate().for_each(|(bh, out)| {
            ops::matmul(
                out,
                MatRef::row_major(&attn[bh * n * n..(bh + 1) * n * n], n, n),
                MatRef::row_major(&v[bh * n * dh..(bh + 1) * n * dh], n, dh),
                false,
            );
        });
        let mut merged = merge_heads(&o, batch * nwin, n, heads, dh);
        hook.activation(Site::ProjInput(gi), &mut merged, heads * dh);
        let y = ops::linear(&merged, rows, &blk.attn.proj);

        // Back to the grid: window row r lands where it came from; padding rows are dropped.
        let mut back = vec![0.0f32; x.len()];
        let mut dest = vec![usize::MAX; batch * h * w];
        for r in 0..rows {
            if let Some(p) = source(r) {
                dest[p] = r;
            }
        }
        back.par_chunks_mut(c).zip(&dest).for_each(|(dst, &r)| {
            dst.copy_from_slice(&y[r * c..(r + 1) * c]);
        });
        add_in_place(x, &back);
    }

    /// `x += fc2(GELU(fc1(norm2(x))))` for block `j` of stage `s` (global index `gi`).
    fn mlp_residual(
        &self,
        gi: usize,
        s: usize,
        j: usize,
        x: &mut [f32],
        hook: &mut dyn ActivationHook,
    ) {
        let st = &self.config.stages[s];
        let blk = &self.layers[s].blocks[j];
        let rows = x.len() / st.dim;
        let mut xn = ops::layer_norm(x, &blk.norm2);
        hook.activation(Site::Fc1Input(gi), &mut xn, st.dim);
        let mut a = ops::linear(&xn, rows, &blk.fc1);
        ops::gelu_in_place(&mut a);
        hook.activation(Site::Fc2Input(gi), &mut a, st.mlp_hidden);
        let y = ops::linear(&a, rows, &blk.fc2);
        add_in_place(x, &y);
    }
}

/// timm's PatchMerging gather: `[B, H, W, C]` (H, W even) to `[B, H/2, W/2, 4C]`, each output
/// token the concatenation of `x[2i + dh, 2j + dw]` in the order (dw, dh) = (0,0), (0,1),
/// (1,0), (1,1) (`reshape(B, H/2, 2, W/2, 2, C).permute(0, 1, 3, 4, 2, 5)`).
pub(super) fn merge_2x2(x: &[f32], batch: usize, grid: [usize; 2], c: usize) -> Vec<f32> {
    let [h, w] = grid;
    let (h2, w2) = (h / 2, w / 2);
    let mut out = vec![0.0f32; batch * h2 * w2 * 4 * c];
    out.par_chunks_mut(4 * c).enumerate().for_each(|(r, dst)| {
        let (b, i, j) = (r / (h2 * w2), (r / w2) % h2, r % w2);
        for dw in 0..2 {
            for dh in 0..2 {
                let src = ((b * h + 2 * i + dh) * w + 2 * j + dw) * c;
                let k = (dw * 2 + dh) * c;
                dst[k..k + c].copy_from_slice(&x[src..src + c]);
            }
        }
    });
    out
}
