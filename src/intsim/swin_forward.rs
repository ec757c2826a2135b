//! The integer forward pass of a Swin Transformer (docs/arithmetic.md, "Swin Transformer in
//! integers"), one image at a time, with every intermediate tensor reported to a [`Capture`] under
//! the names the golden vectors use (`blocks.i.*` with the global block index).

use rayon::prelude::*;

use super::forward::{Capture, NoCapture, im2col, put, tensor};
use super::kernel::{
    Accumulators, AvScratch, AvValues, Codes, Kernel, PackedOperands, Residual, Table,
};
use super::linear::IntLinear;
use super::model::RESIDUAL_FRAC_BITS;
use super::swin::{IntSwin, IntSwinBlock};
use crate::arith::gelu;
use crate::arith::pool::avg_pool;
use crate::arith::softmax::probabilities;
use crate::arith::window::merge_2x2;
use crate::arith::{LogCode, PBITS, residual_add};
use crate::error::{Error, Result};

/// One window and head's attention: the proj input codes `[N, D_h]` and, when kept, the
/// intermediates.
#[derive(Default)]
struct WindowHead {
    scores: Vec<i64>,
    logits: Vec<i64>,
    probs: Vec<i64>,
    codes: Vec<i64>,
    av: Vec<i64>,
    out: Vec<u8>,
}

impl IntSwin {
    /// Input codes `[C, H, W]` of one normalized image: the model's input quantizer.
    pub fn quantize_input(&self, image: &[f32]) -> Vec<u8> {
        let qmax = f64::from((1u32 << self.input_bits) - 1);
        image
            .iter()
            .map(|&x| {
                (crate::arith::requant::round_half_even(f64::from(x) / self.input_scale)
                    + f64::from(self.input_zero_point))
                .clamp(0.0, qmax) as u8
            })
            .collect()
    }

    /// Input codes per image.
    pub fn input_len(&self) -> usize {
        let c = &self.config;
        c.in_chans * c.img_size[0] * c.img_size[1]
    }

    /// Logits (`s32`, 16 fraction bits) for a batch of input codes.
    pub fn forward_codes(&self, codes: &[u8], batch: usize) -> Result<Vec<i32>> {
        let n = self.input_len();
        if codes.len() != batch * n {
            return Err(Error::Shape {
                context: "integer forward input".into(),
                reason: format!("{} codes for {batch} images of {n}", codes.len()),
            });
        }
        let kernel = Kernel::detect();
        let per: Vec<Vec<i32>> = codes
            .par_chunks(n)
            .map(|img| self.forward_image_with(kernel, img, &mut NoCapture))
            .collect();
        Ok(per.concat())
    }

    /// Dequantized logits for normalized float images `[B, C, H, W]`.
    pub fn forward(&self, images: &[f32], batch: usize) -> Result<Vec<f32>> {
        let codes = self.quantize_input(images);
        let fixed = self.forward_codes(&codes, batch)?;
        let scale = 2f32.powi(-(RESIDUAL_FRAC_BITS as i32));
        Ok(fixed.iter().map(|&v| v as f32 * scale).collect())
    }

    /// One image's forward pass from its input codes `[C, H, W]`, reporting every tensor.
    pub fn forward_image(&self, codes: &[u8], cap: &mut dyn Capture) -> Vec<i32> {
        self.forward_image_with(Kernel::detect(), codes, cap)
    }

    /// [`Self::forward_image`] with a chosen kernel (panics if the CPU lacks it).
    pub fn forward_image_with(
        &self,
        kernel: Kernel,
        codes: &[u8],
        cap: &mut dyn Capture,
    ) -> Vec<i32> {
        assert!(kernel.available(), "{kernel:?} not supported by this CPU");
        let cfg = &self.config;
        let [gh, gw] = cfg.grid();
        let np = gh * gw;
        let c0 = cfg.embed_dim();
        put(cap, "input", || {
            tensor(
                &[cfg.in_chans, cfg.img_size[0], cfg.img_size[1]],
                8,
                false,
                codes,
            )
        });
        let patches = im2col(codes, cfg.in_chans, cfg.img_size, cfg.patch_size);
        let plen = cfg.patch_len();
        put(cap, "patch_embed.input", || {
            tensor(&[np, plen], 8, false, &patches)
        });
        let mut a16 = Vec::new();
        let mut e = vec![0i32; np * c0];
        linear(
            kernel,
            &self.patch,
            &patches,
            np,
            &mut a16,
            cap,
            "patch_embed.acc",
            self.acc_bits,
            &mut e,
            &Residual(&self.patch.lanes),
        );
        put(cap, "patch_embed.output", || {
            tensor(&[np, c0], 32, true, &e)
        });
        // The patch norm (U5r) gives the residual stream.
        let mut x = vec![0i32; np * c0];
        for (row, out) in e.chunks_exact(c0).zip(x.chunks_exact_mut(c0)) {
            self.patch_norm.apply_residual(row, out);
        }
        put(cap, "embed", || tensor(&[np, c0], 32, true, &x));

        let mut gi = 0;
        for (s, merge) in self.merges.iter().enumerate() {
            if let Some(m) = merge {
                let gathered = merge_2x2(&x, m.grid, m.dim);
                let rows = gathered.len() / (4 * m.dim);
                let p = format!("layers.{s}.downsample");
                put(cap, &format!("{p}.input"), || {
                    tensor(&[rows, 4 * m.dim], 32, true, &gathered)
                });
                let mut codes = vec![0u8; rows * 4 * m.dim];
                for (row, out) in gathered
                    .chunks_exact(4 * m.dim)
                    .zip(codes.chunks_exact_mut(4 * m.dim))
                {
                    m.norm.apply(row, out);
                }
                put(cap, &format!("{p}.reduction.input"), || {
                    tensor(&[rows, 4 * m.dim], self.abits, false, &codes)
                });
                let c = m.reduction.out_features;
                x = vec![0i32; rows * c];
                linear(
                    kernel,
                    &m.reduction,
                    &codes,
                    rows,
                    &mut a16,
                    cap,
                    &format!("{p}.reduction.acc"),
                    self.acc_bits,
                    &mut x,
                    &Residual(&m.reduction.lanes),
                );
                put(cap, &format!("{p}.reduction.output"), || {
                    tensor(&[rows, c], 32, true, &x)
                });
            }
            while gi < self.blocks.len() && self.blocks[gi].stage == s {
                self.block(kernel, gi, &mut x, &mut a16, cap);
                gi += 1;
            }
        }

        // Final norm (U5r), average pooling, head input codes (U2), head.
        let c = cfg.num_features();
        let t = x.len() / c;
        let mut y = vec![0i32; x.len()];
        for (row, out) in x.chunks_exact(c).zip(y.chunks_exact_mut(c)) {
            self.final_norm.apply_residual(row, out);
        }
        put(cap, "norm.output", || tensor(&[t, c], 32, true, &y));
        let mut pooled = vec![0i32; c];
        avg_pool(&y, t, &mut pooled);
        put(cap, "pool", || tensor(&[1, c], 32, true, &pooled));
        let head_in: Vec<u8> = pooled
            .iter()
            .map(|&v| self.pool_requant.apply(i64::from(v)) as u8)
            .collect();
        put(cap, "head.input", || {
            tensor(&[1, c], self.abits, false, &head_in)
        });
        let mut logits = vec![0i32; self.head.out_features];
        let mut acc = vec![0i64; self.head.out_features];
        self.head
            .run(kernel, &head_in, 1, &mut a16, &mut acc, &Accumulators);
        put(cap, "head.acc", || {
            tensor(&[1, acc.len()], self.acc_bits, true, &acc)
        });
        for (o, (&a, r)) in logits.iter_mut().zip(acc.iter().zip(&self.head.requant)) {
            *o = r.apply(a);
        }
        put(cap, "logits", || {
            tensor(&[1, logits.len()], 32, true, &logits)
        });
        logits
    }

    /// Block `gi` on the residual stream `x` (`[H W, C]`, token order).
    fn block(
        &self,
        kernel: Kernel,
        gi: usize,
        x: &mut [i32],
        a16: &mut Vec<i16>,
        cap: &mut dyn Capture,
    ) {
        let sb = &self.blocks[gi];
        let b = &sb.block;
        let (c, a) = (sb.dim, sb.heads * sb.head_dim);
        let t = x.len() / c;
        let (n, nwin, h, dh) = (sb.window_area(), sb.windows(), sb.heads, sb.head_dim);
        let ab = self.abits;
        let p = |s: &str| format!("blocks.{gi}.{s}");

        // norm1 per token (U5), then the window partition (data movement).
        let mut xn = vec![0u8; t * c];
        for (row, out) in x.chunks_exact(c).zip(xn.chunks_exact_mut(c)) {
            b.ln1.apply(row, out);
        }
        put(cap, &p("norm1.output"), || tensor(&[t, c], ab, false, &xn));
        let mut win = vec![0u8; t * c];
        for (dst, &src) in win.chunks_exact_mut(c).zip(&sb.sources) {
            dst.copy_from_slice(&xn[src * c..(src + 1) * c]);
        }
        put(cap, &p("attn.qkv.input"), || {
            tensor(&[t, c], ab, false, &win)
        });
        let mut qkv = vec![0u8; t * 3 * a];
        linear(
            kernel,
            &b.qkv,
            &win,
            t,
            a16,
            cap,
            &p("attn.qkv.acc"),
            self.acc_bits,
            &mut qkv,
            &Codes(&b.qkv.lanes),
        );
        put(cap, &p("attn.qkv.output"), || {
            tensor(&[t, 3 * a], ab, false, &qkv)
        });

        let keep = cap.enabled();
        let results: Vec<WindowHead> = (0..nwin * h)
            .into_par_iter()
            .map(|wh| self.window_head(kernel, sb, &qkv, wh / h, wh % h, keep))
            .collect();
        let mut merged = vec![0u8; t * a];
        for (wh, r) in results.iter().enumerate() {
            let (w, hd) = (wh / h, wh % h);
            for (i, src) in r.out.chunks_exact(dh).enumerate() {
                let row = w * n + i;
                merged[row * a + hd * dh..row * a + (hd + 1) * dh].copy_from_slice(src);
            }
        }
        if keep {
            let cat = |f: fn(&WindowHead) -> &Vec<i64>| -> Vec<i64> {
                results.iter().flat_map(|r| f(r).iter().copied()).collect()
            };
            let shape = [nwin, h, n, n];
            put(cap, &p("attn.scores"), || {
                tensor(&shape, self.acc_bits, true, &cat(|r| &r.scores))
            });
            put(cap, &p("attn.logits"), || {
                tensor(&shape, 32, true, &cat(|r| &r.logits))
            });
            put(cap, &p("attn.probs"), || {
                tensor(&shape, PBITS + 1, false, &cat(|r| &r.probs))
            });
            put(cap, &p("attn.codes"), || {
                tensor(&shape, ab + 1, true, &cat(|r| &r.codes))
            });
            put(cap, &p("attn.av"), || {
                tensor(&[nwin, h, n, dh], self.acc_bits, true, &cat(|r| &r.av))
            });
        }
        put(cap, &p("attn.proj.input"), || {
            tensor(&[t, a], ab, false, &merged)
        });
        let mut y = vec![0i32; t * c];
        linear(
            kernel,
            &b.proj,
            &merged,
            t,
            a16,
            cap,
            &p("attn.proj.acc"),
            self.acc_bits,
            &mut y,
            &Residual(&b.proj.lanes),
        );
        put(cap, &p("attn.proj.output"), || {
            tensor(&[t, c], 32, true, &y)
        });
        // Window reverse (data movement) and the residual add (U8).
        for (row, &src) in y.chunks_exact(c).zip(&sb.sources) {
            for (xv, &yv) in x[src * c..(src + 1) * c].iter_mut().zip(row) {
                *xv = residual_add(*xv, yv);
            }
        }
        put(cap, &p("residual1"), || tensor(&[t, c], 32, true, x));

        // MLP per token.
        for (row, out) in x.chunks_exact(c).zip(xn.chunks_exact_mut(c)) {
            b.ln2.apply(row, out);
        }
        put(cap, &p("mlp.fc1.input"), || tensor(&[t, c], ab, false, &xn));
        let hid = b.fc1.out_features;
        let mut hidden = vec![0u8; t * hid];
        linear(
            kernel,
            &b.fc1,
            &xn,
            t,
            a16,
            cap,
            &p("mlp.fc1.acc"),
            self.acc_bits,
            &mut hidden,
            &Table {
                lanes: &b.fc1.lanes,
                table: &b.gelu,
                offset: 1 << (gelu::HBITS - 1),
            },
        );
        put(cap, &p("mlp.fc2.input"), || {
            tensor(&[t, hid], ab, false, &hidden)
        });
        let mut y2 = vec![0i32; t * c];
        linear(
            kernel,
            &b.fc2,
            &hidden,
            t,
            a16,
            cap,
            &p("mlp.fc2.acc"),
            self.acc_bits,
            &mut y2,
            &Residual(&b.fc2.lanes),
        );
        put(cap, &p("mlp.fc2.output"), || tensor(&[t, c], 32, true, &y2));
        for (xv, &yv) in x.iter_mut().zip(&y2) {
            *xv = residual_add(*xv, yv);
        }
        put(cap, &p("residual2"), || tensor(&[t, c], 32, true, x));
    }

    /// Scores (U1), softmax with the relative position bias and the shift mask (U6), log2 codes
    /// (U3), A x V (U4) and the U2 to the proj input codes, for head `hd` of window `w`.
    fn window_head(
        &self,
        kernel: Kernel,
        sb: &IntSwinBlock,
        qkv: &[u8],
        w: usize,
        hd: usize,
        keep: bool,
    ) -> WindowHead {
        let b = &sb.block;
        let (n, dh, a) = (sb.window_area(), sb.head_dim, sb.heads * sb.head_dim);
        let cols = |which: usize, i: usize| {
            let s = (w * n + i) * 3 * a + which * a + hd * dh;
            &qkv[s..s + dh]
        };
        let mut kop = Vec::with_capacity(n * dh);
        let mut qcodes = Vec::with_capacity(n * dh);
        let mut vop = Vec::with_capacity(n * dh);
        for j in 0..n {
            kop.extend(cols(1, j).iter().map(|&v| (i32::from(v) - b.k_zero) as i16));
            qcodes.extend_from_slice(cols(0, j));
            vop.extend(cols(2, j).iter().map(|&v| i32::from(v) - b.v_zero));
        }
        let kbias: Vec<i64> = kop
            .chunks_exact(dh)
            .map(|row| -i64::from(b.q_zero) * row.iter().map(|&v| i64::from(v)).sum::<i64>())
            .collect();
        let keys = PackedOperands::from_rows(&kop, n, dh);
        let mut q16 = Vec::new();
        keys.widen(&qcodes, n, &mut q16);
        let mut scores = vec![0i64; n * n];
        keys.matmul(kernel, &q16, n, &kbias, &mut scores, &Accumulators);
        let values = AvValues::new(vop, dh, b.av_fraction_bits);
        let bias = &sb.rel_bias[hd * n * n..(hd + 1) * n * n];
        let mask = sb.mask.as_ref().map(|m| &m[w * n * n..(w + 1) * n * n]);
        let mut r = WindowHead::default();
        let mut z = vec![0i32; n];
        let mut probs = vec![0u32; n];
        let mut codes = vec![
            LogCode {
                code: 0,
                zero: true
            };
            n
        ];
        let mut av = vec![0i64; dh];
        let mut scratch = AvScratch::default();
        for i in 0..n {
            let srow = &scores[i * n..(i + 1) * n];
            for (zj, &s) in z.iter_mut().zip(srow) {
                *zj = b.softmax.logit(s);
            }
            probabilities(
                &self.exp2,
                &z,
                Some(&bias[i * n..(i + 1) * n]),
                mask.map(|m| &m[i * n..(i + 1) * n]),
                &mut probs,
            );
            for (cd, &pj) in codes.iter_mut().zip(&probs) {
                *cd = b.logcode.code(pj);
            }
            values.row(kernel, &codes, &mut scratch, &mut av);
            r.out
                .extend(av.iter().map(|&o| b.av_requant.apply(o) as u8));
            if keep {
                r.scores.extend_from_slice(srow);
                r.logits.extend(z.iter().map(|&v| i64::from(v)));
                r.probs.extend(probs.iter().map(|&v| i64::from(v)));
                r.codes.extend(
                    codes
                        .iter()
                        .map(|c| if c.zero { -1 } else { i64::from(c.code) }),
                );
                r.av.extend_from_slice(&av);
            }
        }
        r
    }
}

/// A linear layer and its output stage; the accumulators are captured as `acc_name` first when
/// the capture wants tensors (same integers either way).
#[allow(clippy::too_many_arguments)]
fn linear<T: Send>(
    kernel: Kernel,
    l: &IntLinear,
    a: &[u8],
    rows: usize,
    a16: &mut Vec<i16>,
    cap: &mut dyn Capture,
    acc_name: &str,
    acc_bits: u32,
    out: &mut [T],
    epi: &impl super::kernel::OutputStage<T>,
) {
    let n = l.out_features;
    if cap.enabled() {
        let mut acc = vec![0i64; rows * n];
        l.run(kernel, a, rows, a16, &mut acc, &Accumulators);
        put(cap, acc_name, || tensor(&[rows, n], acc_bits, true, &acc));
        for (v, o) in acc.chunks_exact(n).zip(out.chunks_exact_mut(n)) {
            epi.apply(kernel, 0, v, o);
        }
    } else {
        l.run(kernel, a, rows, a16, out, epi);
    }
}
