//! The f32 forward pass of a timm ViT/DeiT (paper Eq. 1-6), equal to timm's `model(x)` in eval
//! mode, with a hook at every activation the quantizer acts on.
//!
//! The hook sees each activation tensor whole (every image of the batch), in forward order; this is
//! what calibration (lazy initialisation in forward order) and fake quantization need. With
//! [`NoHook`] the forward is the plain float model.

use rayon::prelude::*;

use super::ops::{self, MatRef};
use super::vit::VisionTransformer;
use crate::error::{Error, Result};

/// A place in the forward where an activation may be quantized (REFERENCE "What is quantized").
///
/// Block indices count blocks in forward order over the whole model (for Swin, over all stages;
/// `SwinConfig::blocks` maps them to `layers.S.blocks.J`). Swin's attention sites hold every
/// window of the batch: `[B*nW, h, N, D_h]` and `[B*nW, h, N, N]` with `N` tokens per window,
/// the qkv and proj inputs `[B*nW*N, C]` including the zero padding of partial windows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Site {
    /// The normalized image entering the patch embedding, `[B, C, H, W]`.
    PatchInput,
    /// Post-LayerNorm activation X' entering `blocks.i.attn.qkv`, `[B*T, D]`.
    QkvInput(usize),
    /// Queries of block i, `[B, h, T, D_h]`.
    Query(usize),
    /// Keys of block i, `[B, h, T, D_h]`.
    Key(usize),
    /// Values of block i, `[B, h, T, D_h]`.
    Value(usize),
    /// Post-softmax attention probabilities A of block i, `[B, h, T, T]`.
    AttnProbs(usize),
    /// Attention output entering `blocks.i.attn.proj`, `[B*T, D]`.
    ProjInput(usize),
    /// Post-LayerNorm activation Y' entering `blocks.i.mlp.fc1`, `[B*T, D]`.
    Fc1Input(usize),
    /// Post-GELU activation entering `blocks.i.mlp.fc2`, `[B*T, D_f]`.
    Fc2Input(usize),
    /// Swin: the normalized 2x2 concatenation entering `layers.s.downsample.reduction`,
    /// `[B*H/2*W/2, 4C]` (stage s >= 1).
    ReductionInput(usize),
    /// The class token after the final norm (Swin: the average-pooled features after the
    /// final norm), entering `head`, `[B, D]`.
    HeadInput,
    /// The distillation token after the final norm, entering `head_dist`, `[B, D]`.
    HeadDistInput,
}

/// Sees (and may change) every quantizable activation during a forward pass.
pub trait ActivationHook {
    /// `x` is the whole activation at `site`; `channels` is the size of its last dimension.
    fn activation(&mut self, site: Site, x: &mut [f32], channels: usize);
}

/// The float model: leaves every activation untouched.
pub struct NoHook;

impl ActivationHook for NoHook {
    fn activation(&mut self, _site: Site, _x: &mut [f32], _channels: usize) {}
}

impl VisionTransformer {
    /// Logits `[batch, num_classes]` for normalized images `[batch, C, H, W]`.
    pub fn forward(&self, images: &[f32], batch: usize) -> Result<Vec<f32>> {
        self.forward_with(images, batch, &mut NoHook)
    }

    /// The forward pass with `hook` called at every [`Site`], in forward order.
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
        let mut x = self.embed(images, batch, hook);
        for (i, _) in self.blocks.iter().enumerate() {
            self.attention_residual(i, &mut x, batch, hook);
            self.mlp_residual(i, &mut x, batch, hook);
        }
        Ok(self.classify(&x, batch, hook))
    }

    /// Patch embedding, prefix tokens and position embedding: `[B*T, D]`.
    fn embed(&self, images: &[f32], batch: usize, hook: &mut dyn ActivationHook) -> Vec<f32> {
        let cfg = &self.config;
        let d = cfg.embed_dim;
        let mut img = images.to_vec();
        hook.activation(Site::PatchInput, &mut img, cfg.img_size[1]);
        let patches = im2col(&img, batch, cfg.in_chans, cfg.img_size, cfg.patch_size);
        let n = cfg.num_patches();
        let emb = ops::linear(&patches, batch * n, &self.patch_embed);

        let t = cfg.seq_len();
        let prefix = cfg.num_prefix_tokens();
        let mut x = vec![0.0f32; batch * t * d];
        x.par_chunks_mut(t * d).enumerate().for_each(|(b, seq)| {
            seq[..d].copy_from_slice(&self.cls_token);
            if let Some(dist) = &self.dist_token {
                seq[d..2 * d].copy_from_slice(dist);
            }
            seq[prefix * d..].copy_from_slice(&emb[b * n * d..(b + 1) * n * d]);
            for (v, p) in seq.iter_mut().zip(&self.pos_embed) {
                *v += p;
            }
        });
        x
    }

    /// `x += MSA(LayerNorm(x))` for block `i` (paper Eq. 1, 3-5).
    fn attention_residual(
        &self,
        i: usize,
        x: &mut [f32],
        batch: usize,
        hook: &mut dyn ActivationHook,
    ) {
        let cfg = &self.config;
        let blk = &self.blocks[i];
        let (d, t, h, dh) = (cfg.embed_dim, cfg.seq_len(), cfg.num_heads, cfg.head_dim());
        let rows = batch * t;

        let mut xn = ops::layer_norm(x, &blk.norm1);
        hook.activation(Site::QkvInput(i), &mut xn, d);
        let qkv = ops::linear(&xn, rows, &blk.qkv);

        let [mut q, mut k, mut v] = split_heads(&qkv, batch, t, h, dh);
        hook.activation(Site::Query(i), &mut q, dh);
        hook.activation(Site::Key(i), &mut k, dh);
        hook.activation(Site::Value(i), &mut v, dh);

        // Scores Q K^T, then the 1/sqrt(D_h) scale (applied after the product, as the quantized
        // model does), then softmax: A = Softmax(Q K^T / sqrt(D_h)) (Eq. 4).
        let scale = (dh as f32).powf(-0.5);
        let mut attn = vec![0.0f32; batch * h * t * t];
        attn.par_chunks_mut(t * t).enumerate().for_each(|(bh, s)| {
            let qs = &q[bh * t * dh..(bh + 1) * t * dh];
            let ks = &k[bh * t * dh..(bh + 1) * t * dh];
            ops::matmul(
                s,
                MatRef::row_major(qs, t, dh),
                MatRef::transposed(ks, t, dh),
                false,
            );
            for row in s.chunks_exact_mut(t) {
                for v in row.iter_mut() {
                    *v *= scale;
                }
                ops::softmax_row(row);
            }
        });
        hook.activation(Site::AttnProbs(i), &mut attn, t);

        // A V per head, then heads concatenated back to [B*T, D].
        let mut o = vec![0.0f32; batch * h * t * dh];
        o.par_chunks_mut(t * dh).enumerate().for_each(|(bh, out)| {
            ops::matmul(
                out,
                MatRef::row_major(&attn[bh * t * t..(bh + 1) * t * t], t, t),
                MatRef::row_major(&v[bh * t * dh..(bh + 1) * t * dh], t, dh),
                false,
            );
        });
        let mut merged = merge_heads(&o, batch, t, h, dh);
        hook.activation(Site::ProjInput(i), &mut merged, d);
        let y = ops::linear(&merged, rows, &blk.proj);
        add_in_place(x, &y);
    }

    /// `x += MLP(LayerNorm(x))` for block `i` (paper Eq. 2, 6).
    fn mlp_residual(&self, i: usize, x: &mut [f32], batch: usize, hook: &mut dyn ActivationHook) {
        let cfg = &self.config;
        let blk = &self.blocks[i];
        let rows = batch * cfg.seq_len();
        let mut xn = ops::layer_norm(x, &blk.norm2);
        hook.activation(Site::Fc1Input(i), &mut xn, cfg.embed_dim);
        let mut a = ops::linear(&xn, rows, &blk.fc1);
        ops::gelu_in_place(&mut a);
        hook.activation(Site::Fc2Input(i), &mut a, cfg.mlp_hidden);
        let y = ops::linear(&a, rows, &blk.fc2);
        add_in_place(x, &y);
    }

    /// Final norm on the prefix tokens and the head(s); distilled models average both heads.
    fn classify(&self, x: &[f32], batch: usize, hook: &mut dyn ActivationHook) -> Vec<f32> {
        let cfg = &self.config;
        let (d, t) = (cfg.embed_dim, cfg.seq_len());
        let token = |j: usize| -> Vec<f32> {
            let rows: Vec<f32> = (0..batch)
                .flat_map(|b| x[(b * t + j) * d..(b * t + j + 1) * d].iter().copied())
                .collect();
            ops::layer_norm(&rows, &self.norm)
        };
        let mut cls = token(0);
        hook.activation(Site::HeadInput, &mut cls, d);
        let mut logits = ops::linear(&cls, batch, &self.head);
        if let Some(head_dist) = &self.head_dist {
            let mut dist = token(1);
            hook.activation(Site::HeadDistInput, &mut dist, d);
            let second = ops::linear(&dist, batch, head_dist);
            for (a, b) in logits.iter_mut().zip(&second) {
                *a = (*a + b) / 2.0;
            }
        }
        logits
    }
}

/// Flattens each patch of `[B, C, H, W]` images in (channel, row, column) order, matching the
/// convolution weight layout: `[B * N, C * Ph * Pw]`, patches in row-major grid order.
pub(super) fn im2col(
    img: &[f32],
    batch: usize,
    c: usize,
    img_size: [usize; 2],
    patch_size: [usize; 2],
) -> Vec<f32> {
    let [ih, iw] = img_size;
    let [ph, pw] = patch_size;
    let (gh, gw) = (ih / ph, iw / pw);
    let plen = c * ph * pw;
    let mut out = vec![0.0f32; batch * gh * gw * plen];
    out.par_chunks_mut(plen).enumerate().for_each(|(row, p)| {
        let b = row / (gh * gw);
        let (py, px) = ((row % (gh * gw)) / gw, row % gw);
        let mut idx = 0;
        for ch in 0..c {
            for ky in 0..ph {
                let src = ((b * c + ch) * ih + py * ph + ky) * iw + px * pw;
                p[idx..idx + pw].copy_from_slice(&img[src..src + pw]);
                idx += pw;
            }
        }
    });
    out
}

/// `[B*T, 3D]` qkv rows to three `[B, h, T, D_h]` tensors (timm's reshape/permute).
pub(super) fn split_heads(
    qkv: &[f32],
    batch: usize,
    t: usize,
    h: usize,
    dh: usize,
) -> [Vec<f32>; 3] {
    let d = h * dh;
    std::array::from_fn(|which| {
        let mut out = vec![0.0f32; batch * h * t * dh];
        out.par_chunks_mut(t * dh)
            .enumerate()
            .for_each(|(bh, dst)| {
                let (b, head) = (bh / h, bh % h);
                for tok in 0..t {
                    let src = (b * t + tok) * 3 * d + which * d + head * dh;
                    dst[tok * dh..(tok + 1) * dh].copy_from_slice(&qkv[src..src + dh]);
                }
            });
        out
    })
}

/// `[B, h, T, D_h]` back to `[B*T, h*D_h]`.
pub(super) fn merge_heads(o: &[f32], batch: usize, t: usize, h: usize, dh: usize) -> Vec<f32> {
    let d = h * dh;
    let mut out = vec![0.0f32; batch * t * d];
    out.par_chunks_mut(d).enumerate().for_each(|(row, dst)| {
        let (b, tok) = (row / t, row % t);
        for head in 0..h {
            let src = ((b * h + head) * t + tok) * dh;
            dst[head * dh..(head + 1) * dh].copy_from_slice(&o[src..src + dh]);
        }
    });
    out
}

pub(super) fn add_in_place(x: &mut [f32], y: &[f32]) {
    x.par_chunks_mut(4096)
        .zip(y.par_chunks(4096))
        .for_each(|(a, b)| a.iter_mut().zip(b).for_each(|(u, v)| *u += v));
}
