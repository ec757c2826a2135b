//! The integer forward pass: docs/arithmetic.md, operation by operation, on one image at a time
//! (images run in parallel). A [`Capture`] records every intermediate tensor for golden vectors.

use rayon::prelude::*;

use super::kernel::{
    Accumulators, AvScratch, AvValues, Codes, Kernel, OutputStage, PackedOperands, Residual,
    SoftmaxRows, Table, Values,
};
use super::linear::IntLinear;
use super::model::{IntBlock, IntModel, RESIDUAL_FRAC_BITS};
use crate::arith::LogCode;
use crate::arith::gelu;
use crate::error::{Error, Result};

/// An integer tensor with its element type, as captured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IntTensor {
    pub shape: Vec<usize>,
    /// Element width in bits.
    pub bits: u32,
    pub signed: bool,
    /// Row-major elements.
    pub data: Vec<i64>,
}

/// Receives every intermediate tensor of one image's forward pass, in order, by name.
pub trait Capture {
    fn tensor(&mut self, name: &str, t: IntTensor);
    /// Whether tensors are wanted at all (when not, the forward does not build them).
    fn enabled(&self) -> bool {
        true
    }
}

/// Hands `cap` the tensor `make` builds, if it wants tensors.
pub(super) fn put(cap: &mut dyn Capture, name: &str, make: impl FnOnce() -> IntTensor) {
    if cap.enabled() {
        cap.tensor(name, make());
    }
}

/// Captures nothing.
pub struct NoCapture;

impl Capture for NoCapture {
    fn tensor(&mut self, _name: &str, _t: IntTensor) {}
    fn enabled(&self) -> bool {
        false
    }
}

/// Captures everything, in forward order.
#[derive(Default, Debug)]
pub struct CaptureAll {
    pub tensors: Vec<(String, IntTensor)>,
}

impl Capture for CaptureAll {
    fn tensor(&mut self, name: &str, t: IntTensor) {
        self.tensors.push((name.to_string(), t));
    }
}

/// An [`IntTensor`] of `data` widened to `i64`.
pub(super) fn tensor<T: Copy + Into<i64>>(
    shape: &[usize],
    bits: u32,
    signed: bool,
    data: &[T],
) -> IntTensor {
    IntTensor {
        shape: shape.to_vec(),
        bits,
        signed,
        data: data.iter().map(|&v| v.into()).collect(),
    }
}

impl IntModel {
    /// Input codes `[C, H, W]` (u8) of one normalized image `[C, H, W]` (f32): the model's input
    /// quantizer, `clamp(round_half_even(x / s) + z, 0, 255)` as the reference quantizes it.
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

    /// Number of input codes per image.
    pub fn input_len(&self) -> usize {
        let c = &self.config;
        c.in_chans * c.img_size[0] * c.img_size[1]
    }

    /// Logits in residual-stream fixed point (`s32`, 16 fraction bits) for a batch of input codes.
    pub fn forward_codes(&self, codes: &[u8], batch: usize) -> Result<Vec<i32>> {
        self.forward_codes_with(Kernel::detect(), codes, batch)
    }

    /// [`Self::forward_codes`] with a chosen kernel (panics if the CPU lacks it); every kernel
    /// gives the same logits.
    pub fn forward_codes_with(
        &self,
        kernel: Kernel,
        codes: &[u8],
        batch: usize,
    ) -> Result<Vec<i32>> {
        let n = self.input_len();
        if codes.len() != batch * n {
            return Err(Error::Shape {
                context: "integer forward input".into(),
                reason: format!("{} codes for {batch} images of {n}", codes.len()),
            });
        }
        let per: Vec<Vec<i32>> = codes
            .par_chunks(n)
            .map(|img| self.forward_image_with(kernel, img, &mut NoCapture))
            .collect();
        Ok(per.concat())
    }

    /// Dequantized logits (`x * 2^-16`) for normalized float images `[B, C, H, W]`.
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
        let (d, t) = (cfg.embed_dim, cfg.seq_len());
        let prefix = cfg.num_prefix_tokens();
        let np = cfg.num_patches();
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
        let mut work = Work::default();
        let mut x = self.pos.clone();
        // Patch rows of the residual stream: pos + requantized patch embedding (U2, U8).
        self.linear(
            kernel,
            &self.patch,
            &patches,
            np,
            &mut work.a16,
            cap,
            "patch_embed.acc",
            &mut x[prefix * d..(prefix + np) * d],
            &Residual(&self.patch.lanes),
        );
        put(cap, "embed", || tensor(&[t, d], 32, true, &x));
        for (i, blk) in self.blocks.iter().enumerate() {
            self.block(kernel, i, blk, &mut x, &mut work, cap);
        }
        let mut logits: Option<Vec<i32>> = None;
        for (h, (ln, head)) in self.head_norms.iter().zip(&self.heads).enumerate() {
            let tag = if h == 0 { "head" } else { "head_dist" };
            let mut codes = vec![0u8; d];
            ln.apply(&x[h * d..(h + 1) * d], &mut codes);
            put(cap, &format!("{tag}.input"), || {
                tensor(&[1, d], self.abits, false, &codes)
            });
            let mut out = vec![0i32; head.out_features];
            self.linear(
                kernel,
                head,
                &codes,
                1,
                &mut work.a16,
                cap,
                &format!("{tag}.acc"),
                &mut out,
                &Values(&head.lanes),
            );
            logits = Some(match logits {
                // Distilled DeiT: the two heads averaged, rounding half up (U8).
                Some(first) => first
                    .iter()
                    .zip(&out)
                    .map(|(&a, &b)| ((i64::from(a) + i64::from(b) + 1) >> 1) as i32)
                    .collect(),
                None => out,
            });
        }
        let logits = logits.unwrap_or_default();
        put(cap, "logits", || {
            tensor(&[1, logits.len()], 32, true, &logits)
        });
        logits
    }

    fn capture_acc(&self, cap: &mut dyn Capture, name: &str, shape: &[usize], acc: &[i64]) {
        put(cap, name, || tensor(shape, self.acc_bits, true, acc));
    }

    /// A linear layer (U1) and its output stage `epi` ([`IntLinear::run`]). When
    /// capturing, the accumulators `[rows, out]` are reported as `acc_name` before the output
    /// stage runs on them; otherwise the output stage is fused into the matmul. Same integers
    /// either way.
    #[allow(clippy::too_many_arguments)]
    fn linear<T: Send>(
        &self,
        kernel: Kernel,
        l: &IntLinear,
        a: &[u8],
        rows: usize,
        a16: &mut Vec<i16>,
        cap: &mut dyn Capture,
        acc_name: &str,
        out: &mut [T],
        epi: &impl OutputStage<T>,
    ) {
        let n = l.out_features;
        assert_eq!(out.len(), rows * n, "{}: output size", l.name);
        if cap.enabled() {
            let mut acc = vec![0i64; rows * n];
            l.run(kernel, a, rows, a16, &mut acc, &Accumulators);
            self.capture_acc(cap, acc_name, &[rows, n], &acc);
            for (v, o) in acc.chunks_exact(n).zip(out.chunks_exact_mut(n)) {
                epi.apply(kernel, 0, v, o);
            }
        } else {
            l.run(kernel, a, rows, a16, out, epi);
        }
    }

    fn block(
        &self,
        kernel: Kernel,
        i: usize,
        b: &IntBlock,
        x: &mut [i32],
        w: &mut Work,
        cap: &mut dyn Capture,
    ) {
        let cfg = &self.config;
        let (d, t, h, dh) = (cfg.embed_dim, cfg.seq_len(), cfg.num_heads, cfg.head_dim());
        let ab = self.abits;
        let p = |s: &str| format!("blocks.{i}.{s}");

        // norm1 -> qkv input codes (U5).
        w.xn.resize(t * d, 0);
        for (row, out) in x.chunks_exact(d).zip(w.xn.chunks_exact_mut(d)) {
            b.ln1.apply(row, out);
        }
        put(cap, &p("attn.qkv.input"), || {
            tensor(&[t, d], ab, false, &w.xn)
        });
        w.qkv.resize(t * 3 * d, 0);
        self.linear(
            kernel,
            &b.qkv,
            &w.xn,
            t,
            &mut w.a16,
            cap,
            &p("attn.qkv.acc"),
            &mut w.qkv,
            &Codes(&b.qkv.lanes),
        );
        put(cap, &p("attn.qkv.output"), || {
            tensor(&[t, 3 * d], ab, false, &w.qkv)
        });

        // Per head: scores (U1 with key operands), softmax (U6), log2 codes (U3), A x V (U4),
        // requantization to the proj input codes (U2).
        let keep = cap.enabled();
        let qkv = &w.qkv;
        let heads: Vec<HeadResult> = (0..h)
            .into_par_iter()
            .map(|head| self.attention_head(kernel, b, qkv, head, keep))
            .collect();
        w.merged.resize(t * d, 0);
        let mut scores_all = Vec::new();
        let mut probs_all = Vec::new();
        let mut logits_all = Vec::new();
        let mut codes_all = Vec::new();
        let mut av_all = Vec::new();
        for (head, r) in heads.into_iter().enumerate() {
            for (dst, src) in w.merged.chunks_exact_mut(d).zip(r.out.chunks_exact(dh)) {
                dst[head * dh..(head + 1) * dh].copy_from_slice(src);
            }
            if keep {
                scores_all.extend(r.scores);
                probs_all.extend(r.probs);
                logits_all.extend(r.logits);
                codes_all.extend(r.codes);
                av_all.extend(r.av);
            }
        }
        self.capture_acc(cap, &p("attn.scores"), &[h, t, t], &scores_all);
        // The U6 logits z (U2 of the scores with z_o = 0 and the s32 clamp).
        put(cap, &p("attn.logits"), || {
            tensor(&[h, t, t], 32, true, &logits_all)
        });
        put(cap, &p("attn.probs"), || {
            tensor(&[h, t, t], crate::arith::PBITS + 1, false, &probs_all)
        });
        // Log2 codes; the exact zero is written as -1 (an abits+1-bit signed field).
        put(cap, &p("attn.codes"), || {
            tensor(&[h, t, t], ab + 1, true, &codes_all)
        });
        self.capture_acc(cap, &p("attn.av"), &[h, t, dh], &av_all);
        put(cap, &p("attn.proj.input"), || {
            tensor(&[t, d], ab, false, &w.merged)
        });

        // proj, requantized and added to the residual stream (U2, U8).
        self.linear(
            kernel,
            &b.proj,
            &w.merged,
            t,
            &mut w.a16,
            cap,
            &p("attn.proj.acc"),
            x,
            &Residual(&b.proj.lanes),
        );
        put(cap, &p("residual1"), || tensor(&[t, d], 32, true, x));

        // norm2 -> fc1 -> GELU table -> fc2 -> residual.
        w.xn.resize(t * d, 0);
        for (row, out) in x.chunks_exact(d).zip(w.xn.chunks_exact_mut(d)) {
            b.ln2.apply(row, out);
        }
        put(cap, &p("mlp.fc1.input"), || {
            tensor(&[t, d], ab, false, &w.xn)
        });
        let hid = b.fc1.out_features;
        w.hidden.resize(t * hid, 0);
        self.linear(
            kernel,
            &b.fc1,
            &w.xn,
            t,
            &mut w.a16,
            cap,
            &p("mlp.fc1.acc"),
            &mut w.hidden,
            &Table {
                lanes: &b.fc1.lanes,
                table: &b.gelu,
                offset: 1 << (gelu::HBITS - 1),
            },
        );
        put(cap, &p("mlp.fc2.input"), || {
            tensor(&[t, hid], ab, false, &w.hidden)
        });
        self.linear(
            kernel,
            &b.fc2,
            &w.hidden,
            t,
            &mut w.a16,
            cap,
            &p("mlp.fc2.acc"),
            x,
            &Residual(&b.fc2.lanes),
        );
        put(cap, &p("residual2"), || tensor(&[t, d], 32, true, x));
    }
}

/// Buffers one image's forward pass reuses from layer to layer.
#[derive(Default)]
struct Work {
    /// Activation codes widened for the matmul kernels.
    a16: Vec<i16>,
    /// LayerNorm output codes `[T, D]`.
    xn: Vec<u8>,
    /// q, k, v codes `[T, 3D]`.
    qkv: Vec<u8>,
    /// proj input codes `[T, D]`.
    merged: Vec<u8>,
    /// fc2 input codes `[T, hidden]`.
    hidden: Vec<u8>,
}

/// One head's attention; the intermediates only when they are to be captured.
struct HeadResult {
    scores: Vec<i64>,
    logits: Vec<i64>,
    probs: Vec<i64>,
    codes: Vec<i64>,
    av: Vec<i64>,
    /// Proj input codes `[T, D_h]`.
    out: Vec<u8>,
}

/// Query rows whose scores are computed together (one block of scores stays in cache).
const QUERY_BLOCK: usize = 16;

impl IntModel {
    /// Scores (U1 with key operands), softmax (U6), log2 codes (U3), A x V (U4) and the
    /// requantization to the proj input codes (U2), for head `head` of the qkv codes `[T, 3D]`.
    /// With `keep`, every intermediate is returned for capture.
    fn attention_head(
        &self,
        kernel: Kernel,
        b: &IntBlock,
        qkv: &[u8],
        head: usize,
        keep: bool,
    ) -> HeadResult {
        let cfg = &self.config;
        let (d, t, dh) = (cfg.embed_dim, cfg.seq_len(), cfg.head_dim());
        // Channels of q, k or v (which = 0, 1, 2) of this head, for token `tok`.
        let cols = |which: usize, tok: usize| {
            let s = tok * 3 * d + which * d + head * dh;
            &qkv[s..s + dh]
        };
        // Key operands w[c][j] = k[j][c] - z_k (stored per key), packed as the matmul's
        // stationary operand, and the per-key bias -z_q * sum_c w[c][j]; query codes widened
        // for the kernel; value operands v[j][c] - z_v, one row per key.
        let mut kop = Vec::with_capacity(t * dh);
        let mut qcodes = Vec::with_capacity(t * dh);
        let mut vop = Vec::with_capacity(t * dh);
        for j in 0..t {
            kop.extend(cols(1, j).iter().map(|&v| (i32::from(v) - b.k_zero) as i16));
            qcodes.extend_from_slice(cols(0, j));
            vop.extend(cols(2, j).iter().map(|&v| i32::from(v) - b.v_zero));
        }
        let kbias: Vec<i64> = kop
            .chunks_exact(dh)
            .map(|row| -i64::from(b.q_zero) * row.iter().map(|&v| i64::from(v)).sum::<i64>())
            .collect();
        let keys = PackedOperands::from_rows(&kop, t, dh);
        let mut q16 = Vec::new();
        keys.widen(&qcodes, t, &mut q16);
        let values = AvValues::new(vop, dh, b.av_fraction_bits);
        let cap = |n: usize| if keep { n } else { 0 };
        let mut r = HeadResult {
            scores: Vec::with_capacity(cap(t * t)),
            logits: Vec::with_capacity(cap(t * t)),
            probs: Vec::with_capacity(cap(t * t)),
            codes: Vec::with_capacity(cap(t * t)),
            av: Vec::with_capacity(cap(t * dh)),
            out: Vec::with_capacity(t * dh),
        };
        let mut scores = vec![0i64; QUERY_BLOCK * t];
        let mut probs = vec![0u32; t];
        let mut codes = vec![
            LogCode {
                code: 0,
                zero: true
            };
            t
        ];
        let mut av = vec![0i64; dh];
        let mut scratch = AvScratch::default();
        let softmax = SoftmaxRows::new(b.softmax, &self.exp2);
        let stride = keys.stride();
        for q0 in (0..t).step_by(QUERY_BLOCK) {
            let rows = (t - q0).min(QUERY_BLOCK);
            let block = &mut scores[..rows * t];
            keys.matmul(
                kernel,
                &q16[q0 * stride..(q0 + rows) * stride],
                rows,
                &kbias,
                block,
                &Accumulators,
            );
            for srow in block.chunks_exact(t) {
                softmax.apply(kernel, srow, &mut probs);
                if keep {
                    for (c, &pj) in codes.iter_mut().zip(&probs) {
                        *c = b.logcode.code(pj);
                    }
                    values.row(kernel, &codes, &mut scratch, &mut av);
                } else {
                    // The same codes, computed inside U4 (vectorized) and not kept.
                    values.row_from_probs(kernel, &b.logcode, &probs, &mut scratch, &mut av);
                }
                r.out
                    .extend(av.iter().map(|&out| b.av_requant.apply(out) as u8));
                if keep {
                    r.av.extend_from_slice(&av);
                    r.scores.extend_from_slice(srow);
                    r.logits
                        .extend(srow.iter().map(|&a| i64::from(b.softmax.logit(a))));
                    r.probs.extend(probs.iter().map(|&v| i64::from(v)));
                    r.codes.extend(
                        codes
                            .iter()
                            .map(|c| if c.zero { -1 } else { i64::from(c.code) }),
                    );
                }
            }
        }
        r
    }
}

/// Patches of input codes `[C, H, W]` as rows `[N, C Ph Pw]` in (channel, row, column) order
/// (docs/arithmetic.md, im2col); shared by the ViT and Swin forwards.
pub(super) fn im2col(codes: &[u8], chans: usize, img: [usize; 2], patch: [usize; 2]) -> Vec<u8> {
    let [ih, iw] = img;
    let [ph, pw] = patch;
    let (gh, gw) = (ih / ph, iw / pw);
    let mut out = Vec::with_capacity(gh * gw * chans * ph * pw);
    for py in 0..gh {
        for px in 0..gw {
            for ch in 0..chans {
                for ky in 0..ph {
                    let src = (ch * ih + py * ph + ky) * iw + px * pw;
                    out.extend_from_slice(&codes[src..src + pw]);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::EvalTransform;
    use crate::quant::config::QuantConfig;

    /// The embedded demo model through every kernel: the fused (uncaptured) logits, every
    /// captured tensor and the captured logits are identical across kernels, and the captured
    /// path agrees with the fused one.
    #[test]
    fn every_kernel_gives_the_same_model_outputs() {
        for (wbits, abits) in [(8, 8), (4, 4)] {
            let q = crate::demo::quantized(QuantConfig::new(wbits, abits).unwrap()).unwrap();
            let int = IntModel::lower(&q, 32).unwrap();
            let tf = EvalTransform::new(&q.model.preprocess, q.model.img_size()).unwrap();
            let split = crate::demo::test_split().unwrap();
            let images = 3;
            let batch = split.batch(0..images, &tf).unwrap();
            let codes = int.quantize_input(&batch.data);
            let want = int
                .forward_codes_with(Kernel::Portable, &codes, images)
                .unwrap();
            let (n, classes) = (int.input_len(), want.len() / images);
            let mut want_cap = CaptureAll::default();
            let logits = int.forward_image_with(Kernel::Portable, &codes[n..2 * n], &mut want_cap);
            assert_eq!(logits, want[classes..2 * classes]);
            for kernel in [Kernel::Avx2].into_iter().filter(|k| k.available()) {
                let got = int.forward_codes_with(kernel, &codes, images).unwrap();
                assert_eq!(got, want, "W{wbits}A{abits} {kernel:?}");
                let mut cap = CaptureAll::default();
                let logits = int.forward_image_with(kernel, &codes[n..2 * n], &mut cap);
                assert_eq!(logits, want[classes..2 * classes], "{kernel:?}");
                assert_eq!(cap.tensors.len(), want_cap.tensors.len());
                for ((name, t), (want_name, w)) in cap.tensors.iter().zip(&want_cap.tensors) {
                    assert_eq!(name, want_name);
                    assert!(t == w, "W{wbits}A{abits} {kernel:?}: {name} differs");
                }
            }
        }
    }
}
