//! One image through the integer model, as golden files: every parameter of the
//! [`IntModel`] (in forward order, layer by layer), then every tensor of the forward pass in the
//! order [`IntModel::forward_image`] computes them, with a few tensors the capture does not hold
//! derived from it by the same reference units (the requantized outputs of layers whose result is
//! added to the residual stream or indexes a table, and the per-head operands of `Q K^T` and
//! attention x V).

use super::writer::Writer;
use super::{GoldenFile, signed, unsigned};
use crate::arith::PBITS;
use crate::arith::gelu::{GeluSteps, HBITS, h_scale};
use crate::arith::widths::act_operand_bits;
use crate::error::{Error, Result};
use crate::intsim::{CaptureAll, IntLinear, IntModel, IntTensor, RESIDUAL_FRAC_BITS};
use crate::model::Site;
use crate::quant::WeightLayer;
use crate::quant::model::{ActQuantizer, QuantizedModel};
use crate::quant::quantizer::Granularity;

/// The real value of one residual-stream LSB.
fn residual_scale() -> f64 {
    2f64.powi(-(RESIDUAL_FRAC_BITS as i32))
}

/// `(s, z)` of a per-tensor uniform activation quantizer.
fn site(q: &QuantizedModel, s: Site) -> Option<(f64, f64)> {
    match q.activations.get(&s) {
        Some(ActQuantizer::Uniform(u)) if u.granularity() == Granularity::PerTensor => {
            Some((f64::from(u.scales()[0]), f64::from(u.zero_points()[0])))
        }
        _ => None,
    }
}

/// The log-sqrt2 scale of block `i`'s attention probabilities.
fn log_scale(q: &QuantizedModel, i: usize) -> Option<f64> {
    match q.activations.get(&Site::AttnProbs(i)) {
        Some(ActQuantizer::Log(l)) => Some(f64::from(l.scale())),
        Some(ActQuantizer::Log2Reparam(r)) => Some(f64::from(r.scale())),
        _ => None,
    }
}

/// Per-output-channel weight scales of the integer model's layer (which may differ from the
/// fake-quant model's: [`crate::quant::zero_range`]).
fn weight_scales(m: &IntModel, layer: WeightLayer) -> Option<Vec<f64>> {
    let l = match layer {
        WeightLayer::PatchEmbed => &m.patch,
        WeightLayer::Qkv(i) => &m.blocks.get(i)?.qkv,
        WeightLayer::Proj(i) => &m.blocks.get(i)?.proj,
        WeightLayer::Fc1(i) => &m.blocks.get(i)?.fc1,
        WeightLayer::Fc2(i) => &m.blocks.get(i)?.fc2,
        WeightLayer::Head => m.heads.first()?,
        WeightLayer::HeadDist => m.heads.get(1)?,
        WeightLayer::Reduction(_) => return None,
    };
    Some(l.w_scales.clone()).filter(|s| s.len() == l.out_features)
}

/// Writes the golden files of one model and image.
struct Exporter<'a> {
    q: &'a QuantizedModel,
    m: &'a IntModel,
    w: Writer,
}

impl Exporter<'_> {
    fn parameters(&mut self) -> Result<()> {
        let m = self.m;
        let q = self.q;
        let cfg = &m.config;
        let (t, d, dh) = (cfg.seq_len(), cfg.embed_dim, cfg.head_dim());
        let abits = m.abits;
        // Every value below fits its element type: the integer model was checked when it was
        // built (IntModel::check_representable); checked again here for models built otherwise.
        m.check_representable()?;
        let s_img = Some(m.input_scale);
        self.w.linear(&m.patch, s_img);
        self.w
            .param(
                "embed.pos",
                &[t, d],
                signed(32),
                &m.pos,
                "position embedding (plus the class/distillation token in the prefix rows), \
             residual-stream fixed point, added to the patch embedding outputs (U8)",
            )
            .entry
            .scale = Some(residual_scale());
        self.w.param(
            "softmax.exp2",
            &[m.exp2.len()],
            unsigned(crate::arith::softmax::EBITS + 1),
            &m.exp2,
            "EXP2[f] = round(2^(EBITS - f / 2^EF)), the softmax exponent table (U6)",
        );
        for (i, b) in m.blocks.iter().enumerate() {
            let p = |s: &str| format!("blocks.{i}.{s}");
            self.w.layer_norm(&p("norm1"), &b.ln1);
            self.w
                .linear(&b.qkv, site(q, Site::QkvInput(i)).map(|x| x.0));
            for (what, z) in [("q", b.q_zero), ("k", b.k_zero), ("v", b.v_zero)] {
                self.w.param(
                    &p(&format!("attn.{what}_zero")),
                    &[1],
                    signed(32),
                    &[z],
                    format!("block {i}: zero point of the {what} codes"),
                );
            }
            self.w.param(
                &p("attn.softmax.m0"),
                &[1],
                unsigned(31),
                &[b.softmax.m0],
                "logit multiplier M0 of the softmax (U6)",
            );
            self.w.param(
                &p("attn.softmax.shift"),
                &[1],
                unsigned(6),
                &[b.softmax.shift],
                "logit shift n of the softmax (U6)",
            );
            self.w.param(
                &p("attn.logcode.c_int"),
                &[1],
                signed(16),
                &[b.logcode.c_int],
                "C_INT = floor(2 log2 s) of the log2 code unit (U3)",
            );
            self.w.param(
                &p("attn.logcode.thresholds"),
                &[3],
                unsigned(PBITS + 1),
                &b.logcode.thresholds,
                "mantissa thresholds [T_1, T_0, T_-1] of the log2 code unit (U3)",
            );
            self.w.param(
                &p("attn.av.f"),
                &[1],
                unsigned(5),
                &[b.av_fraction_bits],
                "fraction bits F of the shift attention unit (U4)",
            );
            self.w.requant(
                &p("attn.av"),
                std::slice::from_ref(&b.av_requant),
                &p("attn A x V"),
            );
            self.w
                .linear(&b.proj, site(q, Site::ProjInput(i)).map(|x| x.0));
            self.w.layer_norm(&p("norm2"), &b.ln2);
            self.w
                .linear(&b.fc1, site(q, Site::Fc1Input(i)).map(|x| x.0));
            self.w.param(
                &p("mlp.gelu"),
                &[b.gelu.len()],
                unsigned(abits),
                &b.gelu,
                "GELU table: entry h + 2^15 is the fc2 input code of fc1 output h (U7)",
            );
            let steps = GeluSteps::new(&b.gelu, abits, &p("mlp.gelu"))?;
            self.w.param(
                &p("mlp.gelu_steps"),
                &[steps.load_words().len()],
                signed(16),
                &steps.load_words(),
                "the GELU table as repq_gelu loads it: T[-2^15], the rise positions, the fall \
                 positions (U7 in hardware, GeluSteps::load_words)",
            );
            self.w
                .linear(&b.fc2, site(q, Site::Fc2Input(i)).map(|x| x.0));
        }
        let heads = [
            ("head", WeightLayer::Head, Site::HeadInput),
            ("head_dist", WeightLayer::HeadDist, Site::HeadDistInput),
        ];
        for ((ln, lin), (tag, _, s)) in m.head_norms.iter().zip(&m.heads).zip(heads) {
            self.w.layer_norm(&format!("{tag}.norm"), ln);
            self.w.linear(lin, site(q, s).map(|x| x.0));
        }
        let _ = dh;
        Ok(())
    }

    /// The capture of one image, with scales and the derived tensors.
    fn activations(&mut self, cap: CaptureAll) -> Result<()> {
        let m = self.m;
        let cfg = &m.config;
        let (t, d, h, dh) = (cfg.seq_len(), cfg.embed_dim, cfg.num_heads, cfg.head_dim());
        let abits = m.abits;
        let q = self.q;
        let rs = residual_scale();
        for (name, tensor) in cap.tensors {
            let IntTensor {
                shape,
                bits,
                signed: sg,
                data,
            } = tensor;
            let (block, op) = match name.strip_prefix("blocks.") {
                Some(rest) => {
                    let (i, op) = rest.split_once('.').unwrap_or((rest, ""));
                    (i.parse::<usize>().ok(), op.to_string())
                }
                None => (None, name.clone()),
            };
            let blk = block.map(|i| &m.blocks[i]);
            let what = describe(&op);
            let f = self.w.act(&name, &shape, (bits, sg), &data, what);
            // Real scales.
            let with = |f: &mut GoldenFile, sz: Option<(f64, f64)>| {
                if let Some((s, z)) = sz {
                    f.entry.scale = Some(s);
                    f.entry.zero_point = Some(z);
                }
            };
            let chan = |layer: WeightLayer, sa: Option<f64>| -> Option<Vec<f64>> {
                let ws = weight_scales(m, layer)?;
                let sa = sa?;
                Some(ws.iter().map(|s| s * sa).collect())
            };
            match (block, op.as_str()) {
                (None, "input" | "patch_embed.input") => {
                    f.entry.scale = Some(m.input_scale);
                    f.entry.zero_point = Some(f64::from(m.input_zero_point));
                }
                (None, "patch_embed.acc") => {
                    f.entry.channel_scales = chan(WeightLayer::PatchEmbed, Some(m.input_scale));
                }
                (None, "embed" | "logits") => f.entry.scale = Some(rs),
                (None, "head.input") => with(f, site(q, Site::HeadInput)),
                (None, "head_dist.input") => with(f, site(q, Site::HeadDistInput)),
                (None, "head.acc") => {
                    f.entry.channel_scales =
                        chan(WeightLayer::Head, site(q, Site::HeadInput).map(|x| x.0));
                }
                (None, "head_dist.acc") => {
                    f.entry.channel_scales = chan(
                        WeightLayer::HeadDist,
                        site(q, Site::HeadDistInput).map(|x| x.0),
                    );
                }
                (Some(i), "attn.qkv.input") => with(f, site(q, Site::QkvInput(i))),
                (Some(i), "attn.qkv.acc") => {
                    f.entry.channel_scales =
                        chan(WeightLayer::Qkv(i), site(q, Site::QkvInput(i)).map(|x| x.0));
                }
                (Some(_), "attn.qkv.output") => {
                    let b = blk.expect("block");
                    let s = [b.q_scale, b.k_scale, b.v_scale];
                    f.entry.channel_scales = Some((0..3 * d).map(|c| s[c / d]).collect());
                }
                (Some(_), "attn.scores") => {
                    let b = blk.expect("block");
                    f.entry.scale = Some(b.q_scale * b.k_scale);
                }
                (Some(_), "attn.logits") => {
                    // base-2 logit with EF fraction bits: z 2^-EF = scores * scale * log2(e)
                    f.entry.scale = Some(2f64.powi(-(crate::arith::softmax::EF as i32)));
                }
                (Some(_), "attn.probs") => f.entry.scale = Some(2f64.powi(-(PBITS as i32))),
                (Some(i), "attn.codes") => f.entry.scale = log_scale(q, i),
                (Some(i), "attn.av") => {
                    let b = blk.expect("block");
                    f.entry.scale = log_scale(q, i)
                        .map(|s| s * b.v_scale * 2f64.powi(-(b.av_fraction_bits as i32)));
                }
                (Some(i), "attn.proj.input") => with(f, site(q, Site::ProjInput(i))),
                (Some(i), "attn.proj.acc") => {
                    f.entry.channel_scales = chan(
                        WeightLayer::Proj(i),
                        site(q, Site::ProjInput(i)).map(|x| x.0),
                    );
                }
                (Some(_), "residual1" | "residual2") => f.entry.scale = Some(rs),
                (Some(i), "mlp.fc1.input") => with(f, site(q, Site::Fc1Input(i))),
                (Some(i), "mlp.fc1.acc") => {
                    f.entry.channel_scales =
                        chan(WeightLayer::Fc1(i), site(q, Site::Fc1Input(i)).map(|x| x.0));
                }
                (Some(i), "mlp.fc2.input") => with(f, site(q, Site::Fc2Input(i))),
                (Some(i), "mlp.fc2.acc") => {
                    f.entry.channel_scales =
                        chan(WeightLayer::Fc2(i), site(q, Site::Fc2Input(i)).map(|x| x.0));
                }
                _ => {}
            }
            // Derived tensors, right after what they are computed from.
            let requant_rows = |l: &IntLinear| -> Vec<i32> {
                data.iter()
                    .enumerate()
                    .map(|(j, &a)| l.requant[j % l.out_features].apply(a))
                    .collect()
            };
            match (blk, op.as_str()) {
                (None, "patch_embed.acc") => {
                    let y = requant_rows(&m.patch);
                    self.w
                        .act(
                            "patch_embed.output",
                            &shape,
                            signed(32),
                            &y,
                            "patch embedding requantized to residual-stream fixed point (U2), \
                         before embed.pos is added",
                        )
                        .entry
                        .scale = Some(rs);
                }
                (None, tag @ ("head.acc" | "head_dist.acc")) => {
                    let hi = usize::from(tag.starts_with("head_dist"));
                    let y = requant_rows(&m.heads[hi]);
                    let name = format!("{}.output", tag.trim_end_matches(".acc"));
                    self.w
                        .act(
                            &name,
                            &shape,
                            signed(32),
                            &y,
                            "head requantized to residual-stream fixed point (U2)",
                        )
                        .entry
                        .scale = Some(rs);
                }
                (Some(b), "attn.qkv.output") => {
                    let i = block.expect("block");
                    let col = |which: usize, tok: usize, c: usize, head: usize| {
                        data[tok * 3 * d + which * d + head * dh + c]
                    };
                    let mut qc = Vec::with_capacity(h * t * dh);
                    let mut kop = Vec::with_capacity(h * dh * t);
                    let mut kbias = Vec::with_capacity(h * t);
                    let mut vop = Vec::with_capacity(h * t * dh);
                    for head in 0..h {
                        for tok in 0..t {
                            for c in 0..dh {
                                qc.push(col(0, tok, c, head));
                                vop.push(col(2, tok, c, head) - i64::from(b.v_zero));
                            }
                        }
                        for c in 0..dh {
                            for tok in 0..t {
                                kop.push(col(1, tok, c, head) - i64::from(b.k_zero));
                            }
                        }
                        for tok in 0..t {
                            let s: i64 = (0..dh)
                                .map(|c| col(1, tok, c, head) - i64::from(b.k_zero))
                                .sum();
                            kbias.push(-i64::from(b.q_zero) * s);
                        }
                    }
                    let sq = Some((b.q_scale, f64::from(b.q_zero)));
                    let sk = Some((b.k_scale, f64::from(b.k_zero)));
                    let sv = Some((b.v_scale, f64::from(b.v_zero)));
                    let p = |s: &str| format!("blocks.{i}.attn.{s}");
                    with(
                        self.w.act(
                            &p("q"),
                            &[h, t, dh],
                            unsigned(abits),
                            &qc,
                            "query codes per head q[h][i][c], the activations of Q K^T (U1)",
                        ),
                        sq,
                    );
                    self.w
                        .act(
                            &p("k_operand"),
                            &[h, dh, t],
                            signed(act_operand_bits(abits)),
                            &kop,
                            "key operands per head w[h][c][j] = k[j][c] - z_k, the stationary \
                         operand of Q K^T (U1)",
                        )
                        .entry
                        .scale = sk.map(|x| x.0);
                    self.w
                        .act(
                            &p("k_bias"),
                            &[h, t],
                            signed(m.acc_bits),
                            &kbias,
                            "per-key bias of Q K^T per head: -z_q * sum_c w[h][c][j] (U1)",
                        )
                        .entry
                        .scale = sq.zip(sk).map(|(a, b)| a.0 * b.0);
                    self.w
                        .act(
                            &p("v_operand"),
                            &[h, t, dh],
                            signed(act_operand_bits(abits)),
                            &vop,
                            "value operands per head v[h][j][c] = V_code[j][c] - z_v (U4)",
                        )
                        .entry
                        .scale = sv.map(|x| x.0);
                }
                (Some(b), "attn.proj.acc" | "mlp.fc2.acc") => {
                    let l = if op.starts_with("attn") {
                        &b.proj
                    } else {
                        &b.fc2
                    };
                    let y = requant_rows(l);
                    let name = format!("{}.output", name.trim_end_matches(".acc"));
                    self.w
                        .act(
                            &name,
                            &shape,
                            signed(32),
                            &y,
                            "requantized to residual-stream fixed point (U2), before the \
                         residual addition",
                        )
                        .entry
                        .scale = Some(rs);
                }
                (Some(b), "mlp.fc1.acc") => {
                    let y = requant_rows(&b.fc1);
                    let i = block.expect("block");
                    let s_h = site(q, Site::Fc2Input(i)).map(|(s, z)| h_scale(s, z, abits));
                    let name = format!("blocks.{i}.mlp.fc1.output");
                    self.w.act(
                        &name,
                        &shape,
                        signed(HBITS),
                        &y,
                        "fc1 requantized to the GELU table index h (U2, U7); mlp.gelu[h + 2^15] \
                         is the fc2 input",
                    )
                    .entry
                    .scale = s_h;
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// What a captured tensor is, from its name without the block prefix.
fn describe(op: &str) -> String {
    match op {
        "input" => "input image codes [C, H, W] (the model's 8-bit input quantizer)".into(),
        "patch_embed.input" => {
            "patches as rows [N, C * Ph * Pw], (channel, row, column) order within a patch".into()
        }
        "embed" => "patch embedding plus embed.pos: the residual stream entering block 0".into(),
        "attn.scores" => "Q K^T accumulators per head [h, query, key] (U1)".into(),
        "attn.logits" => {
            "softmax logits z per head [h, query, key], s32, base 2 with EF fraction bits (U6 input)"
                .into()
        }
        "attn.probs" => "softmax probabilities p / 2^16 per head [h, query, key] (U6)".into(),
        "attn.codes" => {
            "log2 codes per head [h, query, key] (U3); -1 is the exact zero (zero flag)".into()
        }
        "attn.av" => "attention x V outputs per head [h, query, channel] (U4)".into(),
        "residual1" => "residual stream after the attention branch (U8)".into(),
        "residual2" => "residual stream after the MLP branch (U8)".into(),
        "logits" => "logits, residual-stream fixed point (heads averaged when distilled)".into(),
        _ if op.ends_with(".input") => format!(
            "{} input codes [rows, in] (U5 LayerNorm or U2 output)",
            op.trim_end_matches(".input")
        ),
        _ if op.ends_with(".acc") => format!(
            "{} accumulators [rows, out] = bias + codes x operands (U1)",
            op.trim_end_matches(".acc")
        ),
        _ if op.ends_with(".output") => format!("{op} codes (U2)"),
        _ => op.to_string(),
    }
}

/// The golden files of one image: `codes` are its input codes (`IntModel::quantize_input`).
/// Returns the files (parameters first, then the forward pass) and the integer logits.
pub fn export_image(
    q: &QuantizedModel,
    m: &IntModel,
    codes: &[u8],
) -> Result<(Vec<GoldenFile>, Vec<i32>)> {
    if codes.len() != m.input_len() {
        return Err(Error::Shape {
            context: "golden vectors".into(),
            reason: format!(
                "{} input codes, the model takes {}",
                codes.len(),
                m.input_len()
            ),
        });
    }
    let mut cap = CaptureAll::default();
    let logits = m.forward_image(codes, &mut cap);
    let mut e = Exporter {
        q,
        m,
        w: Writer {
            wbits: m.wbits,
            abits: m.abits,
            acc_bits: m.acc_bits,
            files: Vec::new(),
        },
    };
    e.parameters()?;
    e.activations(cap)?;
    Ok((e.w.files, logits))
}
