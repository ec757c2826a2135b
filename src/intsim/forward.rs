//! The integer forward pass: docs/arithmetic.md, operation by operation, on one image at a time
//! (images run in parallel). A [`Capture`] records every intermediate tensor for golden vectors.

use rayon::prelude::*;

use super::model::{IntBlock, IntModel, RESIDUAL_FRAC_BITS};
use crate::arith::LogCode;
use crate::arith::gelu;
use crate::arith::shift_av::attention_row;
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
fn put(cap: &mut dyn Capture, name: &str, make: impl FnOnce() -> IntTensor) {
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

fn tensor<T: Copy + Into<i64>>(shape: &[usize], bits: u32, signed: bool, data: &[T]) -> IntTensor {
    IntTensor {
        shape: shape.to_vec(),
        bits,
        signed,
        data: data.iter().map(|&v| v.into()).collect(),
    }
}

/// The residual add (U8): saturating `s32` addition of a requantized layer output.
fn residual_add(x: &mut [i32], y: &[i32]) {
    for (a, &b) in x.iter_mut().zip(y) {
        *a = a.saturating_add(b);
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
        let n = self.input_len();
        if codes.len() != batch * n {
            return Err(Error::Shape {
                context: "integer forward input".into(),
                reason: format!("{} codes for {batch} images of {n}", codes.len()),
            });
        }
        let per: Vec<Vec<i32>> = codes
            .par_chunks(n)
            .map(|img| self.forward_image(img, &mut NoCapture))
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
        let patches = im2col(codes, cfg);
        let plen = cfg.patch_len();
        put(cap, "patch_embed.input", || {
            tensor(&[np, plen], 8, false, &patches)
        });
        let acc = self.patch.accumulate(&patches, np);
        self.capture_acc(cap, "patch_embed.acc", &[np, d], &acc);
        let mut x = self.pos.clone();
        for (row, acc_row) in acc.chunks_exact(d).enumerate() {
            let dst = &mut x[(prefix + row) * d..(prefix + row + 1) * d];
            for (n, (v, &a)) in dst.iter_mut().zip(acc_row).enumerate() {
                *v = v.saturating_add(self.patch.requant[n].apply(a));
            }
        }
        put(cap, "embed", || tensor(&[t, d], 32, true, &x));
        for (i, blk) in self.blocks.iter().enumerate() {
            self.block(i, blk, &mut x, cap);
        }
        let mut logits: Option<Vec<i32>> = None;
        for (h, (ln, head)) in self.head_norms.iter().zip(&self.heads).enumerate() {
            let tag = if h == 0 { "head" } else { "head_dist" };
            let mut codes = vec![0u8; d];
            ln.apply(&x[h * d..(h + 1) * d], &mut codes);
            put(cap, &format!("{tag}.input"), || {
                tensor(&[1, d], self.abits, false, &codes)
            });
            let acc = head.accumulate(&codes, 1);
            self.capture_acc(cap, &format!("{tag}.acc"), &[1, head.out_features], &acc);
            let out: Vec<i32> = acc
                .iter()
                .enumerate()
                .map(|(n, &a)| head.requant[n].apply(a))
                .collect();
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

    fn block(&self, i: usize, b: &IntBlock, x: &mut [i32], cap: &mut dyn Capture) {
        let cfg = &self.config;
        let (d, t, h, dh) = (cfg.embed_dim, cfg.seq_len(), cfg.num_heads, cfg.head_dim());
        let ab = self.abits;
        let p = |s: &str| format!("blocks.{i}.{s}");

        // norm1 -> qkv input codes (U5).
        let mut xn = vec![0u8; t * d];
        for (row, out) in x.chunks_exact(d).zip(xn.chunks_exact_mut(d)) {
            b.ln1.apply(row, out);
        }
        put(cap, &p("attn.qkv.input"), || {
            tensor(&[t, d], ab, false, &xn)
        });
        let acc = b.qkv.accumulate(&xn, t);
        self.capture_acc(cap, &p("attn.qkv.acc"), &[t, 3 * d], &acc);
        let qkv: Vec<u8> = acc
            .iter()
            .enumerate()
            .map(|(j, &a)| b.qkv.requant[j % (3 * d)].apply(a) as u8)
            .collect();
        put(cap, &p("attn.qkv.output"), || {
            tensor(&[t, 3 * d], ab, false, &qkv)
        });

        // Per head: scores (U1 with key operands), softmax (U6), log2 codes (U3), A x V (U4),
        // requantization to the proj input codes (U2).
        let heads: Vec<HeadResult> = (0..h)
            .into_par_iter()
            .map(|head| self.attention_head(b, &qkv, head))
            .collect();
        let mut merged = vec![0u8; t * d];
        let mut scores_all = Vec::with_capacity(h * t * t);
        let mut probs_all = Vec::with_capacity(h * t * t);
        let mut codes_all = Vec::with_capacity(h * t * t);
        let mut av_all = Vec::with_capacity(h * t * dh);
        for (head, r) in heads.into_iter().enumerate() {
            for qi in 0..t {
                merged[qi * d + head * dh..qi * d + (head + 1) * dh]
                    .copy_from_slice(&r.out[qi * dh..(qi + 1) * dh]);
            }
            scores_all.extend(r.scores);
            probs_all.extend(r.probs);
            codes_all.extend(r.codes);
            av_all.extend(r.av);
        }
        self.capture_acc(cap, &p("attn.scores"), &[h, t, t], &scores_all);
        put(cap, &p("attn.probs"), || {
            tensor(&[h, t, t], crate::arith::PBITS + 1, false, &probs_all)
        });
        // Log2 codes; the exact zero is written as -1 (an abits+1-bit signed field).
        put(cap, &p("attn.codes"), || {
            tensor(&[h, t, t], ab + 1, true, &codes_all)
        });
        self.capture_acc(cap, &p("attn.av"), &[h, t, dh], &av_all);
        put(cap, &p("attn.proj.input"), || {
            tensor(&[t, d], ab, false, &merged)
        });

        let acc = b.proj.accumulate(&merged, t);
        self.capture_acc(cap, &p("attn.proj.acc"), &[t, d], &acc);
        let y: Vec<i32> = acc
            .iter()
            .enumerate()
            .map(|(j, &a)| b.proj.requant[j % d].apply(a))
            .collect();
        residual_add(x, &y);
        put(cap, &p("residual1"), || tensor(&[t, d], 32, true, x));

        // norm2 -> fc1 -> GELU table -> fc2 -> residual.
        let mut yn = vec![0u8; t * d];
        for (row, out) in x.chunks_exact(d).zip(yn.chunks_exact_mut(d)) {
            b.ln2.apply(row, out);
        }
        put(cap, &p("mlp.fc1.input"), || tensor(&[t, d], ab, false, &yn));
        let hid = b.fc1.out_features;
        let acc = b.fc1.accumulate(&yn, t);
        self.capture_acc(cap, &p("mlp.fc1.acc"), &[t, hid], &acc);
        let g: Vec<u8> = acc
            .iter()
            .enumerate()
            .map(|(j, &a)| gelu::apply(&b.fc1.requant[j % hid], &b.gelu, a))
            .collect();
        put(cap, &p("mlp.fc2.input"), || {
            tensor(&[t, hid], ab, false, &g)
        });
        let acc = b.fc2.accumulate(&g, t);
        self.capture_acc(cap, &p("mlp.fc2.acc"), &[t, d], &acc);
        let y: Vec<i32> = acc
            .iter()
            .enumerate()
            .map(|(j, &a)| b.fc2.requant[j % d].apply(a))
            .collect();
        residual_add(x, &y);
        put(cap, &p("residual2"), || tensor(&[t, d], 32, true, x));
    }
}

/// One head's attention, every intermediate kept for capture.
struct HeadResult {
    scores: Vec<i64>,
    probs: Vec<i64>,
    codes: Vec<i64>,
    av: Vec<i64>,
    /// Proj input codes `[T, D_h]`.
    out: Vec<u8>,
}

impl IntModel {
    /// Scores (U1 with key operands), softmax (U6), log2 codes (U3), A x V (U4) and the
    /// requantization to the proj input codes (U2), for head `head` of the qkv codes `[T, 3D]`.
    fn attention_head(&self, b: &IntBlock, qkv: &[u8], head: usize) -> HeadResult {
        let cfg = &self.config;
        let (d, t, dh) = (cfg.embed_dim, cfg.seq_len(), cfg.head_dim());
        let col = |which: usize, tok: usize, c: usize| {
            i32::from(qkv[tok * 3 * d + which * d + head * dh + c])
        };
        let q: Vec<i16> = (0..t * dh).map(|i| col(0, i / dh, i % dh) as i16).collect();
        // Key operands w[c][j] = k[j][c] - z_k (stored per key) and the per-key bias
        // -z_q * sum_c w[c][j].
        let kop: Vec<i16> = (0..t * dh)
            .map(|i| (col(1, i / dh, i % dh) - b.k_zero) as i16)
            .collect();
        let kbias: Vec<i64> = (0..t)
            .map(|j| {
                -i64::from(b.q_zero)
                    * kop[j * dh..(j + 1) * dh]
                        .iter()
                        .map(|&v| i64::from(v))
                        .sum::<i64>()
            })
            .collect();
        // Value operands v[j][c] - z_v, one row per key.
        let vop: Vec<i32> = (0..t * dh)
            .map(|i| col(2, i / dh, i % dh) - b.v_zero)
            .collect();
        let kernel = super::linear::Kernel::detect();
        let mut av = vec![0i64; dh];
        let mut r = HeadResult {
            scores: Vec::with_capacity(t * t),
            probs: Vec::with_capacity(t * t),
            codes: Vec::with_capacity(t * t),
            av: Vec::with_capacity(t * dh),
            out: Vec::with_capacity(t * dh),
        };
        let mut scores = vec![0i64; t];
        let mut probs = vec![0u32; t];
        let mut codes = vec![
            LogCode {
                code: 0,
                zero: true
            };
            t
        ];
        for qi in 0..t {
            let qrow = &q[qi * dh..(qi + 1) * dh];
            for (j4, s4) in scores.chunks_mut(4).enumerate() {
                let key = |i: usize| {
                    let j = (4 * j4 + i).min(t - 1);
                    &kop[j * dh..(j + 1) * dh]
                };
                let dots = kernel.dot4([key(0), key(1), key(2), key(3)], qrow);
                for (i, s) in s4.iter_mut().enumerate() {
                    *s = kbias[4 * j4 + i] + dots[i];
                }
            }
            b.softmax.apply(&self.exp2, &scores, &mut probs);
            for (c, &pj) in codes.iter_mut().zip(&probs) {
                *c = b.logcode.code(pj);
            }
            attention_row(&codes, &vop, b.av_fraction_bits, &mut av);
            for &out in &av {
                r.av.push(out);
                r.out.push(b.av_requant.apply(out) as u8);
            }
            r.scores.extend_from_slice(&scores);
            r.probs.extend(probs.iter().map(|&v| i64::from(v)));
            r.codes.extend(
                codes
                    .iter()
                    .map(|c| if c.zero { -1 } else { i64::from(c.code) }),
            );
        }
        r
    }
}

/// Patches of input codes `[C, H, W]` as rows `[N, C * Ph * Pw]` in (channel, row, column) order.
fn im2col(codes: &[u8], cfg: &crate::model::VitConfig) -> Vec<u8> {
    let [ih, iw] = cfg.img_size;
    let [ph, pw] = cfg.patch_size;
    let [gh, gw] = cfg.grid();
    let mut out = Vec::with_capacity(gh * gw * cfg.patch_len());
    for py in 0..gh {
        for px in 0..gw {
            for ch in 0..cfg.in_chans {
                for ky in 0..ph {
                    let src = (ch * ih + py * ph + ky) * iw + px * pw;
                    out.extend_from_slice(&codes[src..src + pw]);
                }
            }
        }
    }
    out
}
