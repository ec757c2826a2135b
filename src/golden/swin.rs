//! One image through a Swin's integer model ([`IntSwin`]) as golden files (manifest mode
//! `swin`): every constant the verify cases read, under the ViT export's names where the unit is
//! the same (`blocks.i.norm1.*`, `blocks.i.attn.qkv.*`, ...), the relative position bias
//! `blocks.i.attn.rel_pos_bias` `[heads, N, N]` (`s16`) and the shift mask `blocks.i.attn.mask`
//! `[windows, N, N]` (`u1`); then every tensor of the forward pass, and the operands the RTL
//! cases take derived from them: per window and head the `Q K^T` operands, the bias and mask
//! expanded to the softmax's rows, and the projection output moved back to token order.

use super::writer::Writer;
use super::{GoldenFile, signed, unsigned};
use crate::arith::gelu::{GeluSteps, HBITS};
use crate::arith::widths::act_operand_bits;
use crate::arith::{PBITS, softmax::EBITS};
use crate::error::{Error, Result};
use crate::golden::manifest::ModelInfo;
use crate::intsim::{CaptureAll, IntSwin, IntTensor, RESIDUAL_FRAC_BITS};
use crate::quant::model::QuantizedModel;

/// The `[model]` table of a `swin` directory: stage 0's width, heads and MLP width, every block
/// counted in `depth`, the largest window in `tokens`, no prefix tokens. `quantized` says where
/// the artifact came from.
pub fn swin_model_info(q: &QuantizedModel, m: &IntSwin, quantized: String) -> ModelInfo {
    let cfg = &m.config;
    let s0 = &cfg.stages[0];
    ModelInfo {
        name: q.model.name.clone(),
        checkpoint: q.source_checkpoint.clone(),
        quantized,
        wbits: m.wbits,
        abits: m.abits,
        acc_bits: m.acc_bits,
        post_ln: q.config.post_ln.to_string(),
        post_softmax: q.config.post_softmax.to_string(),
        z_tilde: q.config.z_tilde.to_string(),
        img_size: cfg.img_size,
        in_chans: cfg.in_chans,
        patch_size: cfg.patch_size,
        embed_dim: s0.dim,
        depth: cfg.depth(),
        num_heads: s0.num_heads,
        mlp_hidden: s0.mlp_hidden,
        tokens: m.blocks.iter().map(|b| b.window_area()).max().unwrap_or(0),
        prefix_tokens: 0,
        num_classes: cfg.num_classes,
        input_scale: m.input_scale,
        input_zero_point: i64::from(m.input_zero_point),
        input_bits: m.input_bits,
    }
}

/// The golden files of one image (`codes`: its input codes, [`IntSwin::quantize_input`]) and the
/// integer logits.
pub fn export_swin_image(m: &IntSwin, codes: &[u8]) -> Result<(Vec<GoldenFile>, Vec<i32>)> {
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
    m.check_representable()?;
    let mut cap = CaptureAll::default();
    let logits = m.forward_image(codes, &mut cap);
    let mut w = Writer {
        wbits: m.wbits,
        abits: m.abits,
        acc_bits: m.acc_bits,
        files: Vec::new(),
    };
    parameters(m, &mut w)?;
    activations(m, cap, &mut w);
    Ok((w.files, logits))
}

fn parameters(m: &IntSwin, w: &mut Writer) -> Result<()> {
    let abits = m.abits;
    w.linear(&m.patch, Some(m.input_scale));
    w.layer_norm("patch_embed.norm", &m.patch_norm);
    w.param(
        "softmax.exp2",
        &[m.exp2.len()],
        unsigned(EBITS + 1),
        &m.exp2,
        "EXP2[f] = round(2^(EBITS - f / 2^EF)), the softmax exponent table (U6)",
    );
    for (s, merge) in m.merges.iter().enumerate() {
        if let Some(mg) = merge {
            w.layer_norm(&format!("layers.{s}.downsample.norm"), &mg.norm);
            w.linear(&mg.reduction, None);
        }
    }
    for (i, sb) in m.blocks.iter().enumerate() {
        let b = &sb.block;
        let p = |s: &str| format!("blocks.{i}.{s}");
        let n = sb.window_area();
        w.layer_norm(&p("norm1"), &b.ln1);
        w.linear(&b.qkv, None);
        for (what, z) in [("q", b.q_zero), ("k", b.k_zero), ("v", b.v_zero)] {
            w.param(
                &p(&format!("attn.{what}_zero")),
                &[1],
                signed(32),
                &[z],
                format!("block {i}: zero point of the {what} codes"),
            );
        }
        w.param(
            &p("attn.rel_pos_bias"),
            &[sb.heads, n, n],
            signed(16),
            &sb.rel_bias,
            "relative position bias [head, query, key] in logit units, \
             round_half_even(table[index] log2(e) 2^EF): the U6 bias input (Swin)",
        );
        if let Some(mask) = &sb.mask {
            let bits: Vec<u8> = mask.iter().map(|&v| u8::from(v)).collect();
            w.param(
                &p("attn.mask"),
                &[sb.windows(), n, n],
                unsigned(1),
                &bits,
                format!(
                    "shift mask [window, query, key] of the block shifted by {:?}: 1 where the \
                     two tokens lie in different regions (the U6 mask input)",
                    sb.shift
                ),
            );
        }
        w.param(
            &p("attn.softmax.m0"),
            &[1],
            unsigned(31),
            &[b.softmax.m0],
            "logit multiplier M0 of the softmax (U6)",
        );
        w.param(
            &p("attn.softmax.shift"),
            &[1],
            unsigned(6),
            &[b.softmax.shift],
            "logit shift n of the softmax (U6)",
        );
        w.param(
            &p("attn.logcode.c_int"),
            &[1],
            signed(16),
            &[b.logcode.c_int],
            "C_INT = floor(2 log2 s) of the log2 code unit (U3)",
        );
        w.param(
            &p("attn.logcode.thresholds"),
            &[3],
            unsigned(PBITS + 1),
            &b.logcode.thresholds,
            "mantissa thresholds [T_1, T_0, T_-1] of the log2 code unit (U3)",
        );
        w.param(
            &p("attn.av.f"),
            &[1],
            unsigned(5),
            &[b.av_fraction_bits],
            "fraction bits F of the shift attention unit (U4)",
        );
        w.requant(
            &p("attn.av"),
            std::slice::from_ref(&b.av_requant),
            &p("attn A x V"),
        );
        w.linear(&b.proj, None);
        w.layer_norm(&p("norm2"), &b.ln2);
        w.linear(&b.fc1, None);
        let steps = GeluSteps::new(&b.gelu, abits, &p("mlp.gelu"))?;
        w.param(
            &p("mlp.gelu_steps"),
            &[steps.load_words().len()],
            signed(16),
            &steps.load_words(),
            "the GELU table as repq_gelu loads it (U7 in hardware, GeluSteps::load_words)",
        );
        w.linear(&b.fc2, None);
    }
    w.layer_norm("norm", &m.final_norm);
    w.requant(
        "head.pool",
        std::slice::from_ref(&m.pool_requant),
        "average pool to head input codes",
    );
    w.linear(&m.head, None);
    Ok(())
}

fn activations(m: &IntSwin, cap: CaptureAll, w: &mut Writer) {
    let rs = 2f64.powi(-(RESIDUAL_FRAC_BITS as i32));
    let ab = m.abits;
    for (name, t) in cap.tensors {
        let IntTensor {
            shape,
            bits,
            signed: sg,
            data,
        } = t;
        let f = w.act(&name, &shape, (bits, sg), &data, describe(&name));
        if bits == 32 && sg && !name.ends_with(".logits") && !name.ends_with(".acc") {
            f.entry.scale = Some(rs);
        }
        let block = name
            .strip_prefix("blocks.")
            .and_then(|r| r.split_once('.'))
            .and_then(|(i, op)| Some((i.parse::<usize>().ok()?, op.to_string())));
        let requant_rows = |l: &crate::intsim::IntLinear| -> Vec<i32> {
            data.iter()
                .enumerate()
                .map(|(j, &a)| l.requant[j % l.out_features].apply(a))
                .collect()
        };
        if name == "head.acc" {
            let y = requant_rows(&m.head);
            w.act(
                "head.output",
                &shape,
                signed(32),
                &y,
                "head requantized (U2): the logits",
            )
            .entry
            .scale = Some(rs);
        }
        let Some((i, op)) = block else { continue };
        let sb = &m.blocks[i];
        let b = &sb.block;
        let (n, h, dh, nw) = (sb.window_area(), sb.heads, sb.head_dim, sb.windows());
        let a = h * dh;
        let p = |s: &str| format!("blocks.{i}.{s}");
        match op.as_str() {
            "attn.qkv.output" => {
                // Per window and head (index w h + head): Q K^T operands and the values.
                let col = |which: usize, row: usize, c: usize, head: usize| {
                    data[row * 3 * a + which * a + head * dh + c]
                };
                let (mut qc, mut kop, mut kbias, mut vop) =
                    (Vec::new(), Vec::new(), Vec::new(), Vec::new());
                for win in 0..nw {
                    for head in 0..h {
                        let r0 = win * n;
                        for tok in 0..n {
                            for c in 0..dh {
                                qc.push(col(0, r0 + tok, c, head));
                                vop.push(col(2, r0 + tok, c, head) - i64::from(b.v_zero));
                            }
                        }
                        for c in 0..dh {
                            for tok in 0..n {
                                kop.push(col(1, r0 + tok, c, head) - i64::from(b.k_zero));
                            }
                        }
                        for tok in 0..n {
                            let s: i64 = (0..dh)
                                .map(|c| col(1, r0 + tok, c, head) - i64::from(b.k_zero))
                                .sum();
                            kbias.push(-i64::from(b.q_zero) * s);
                        }
                    }
                }
                let wh = nw * h;
                w.act(
                    &p("attn.q"),
                    &[wh, n, dh],
                    unsigned(ab),
                    &qc,
                    "query codes per window and head [w h + head, query, channel] (U1)",
                );
                w.act(
                    &p("attn.k_operand"),
                    &[wh, dh, n],
                    signed(act_operand_bits(ab)),
                    &kop,
                    "key operands k - z_k per window and head [w h + head, channel, key] (U1)",
                );
                w.act(
                    &p("attn.k_bias"),
                    &[wh, n],
                    signed(m.acc_bits),
                    &kbias,
                    "per-key bias -z_q sum_c (k - z_k) per window and head (U1)",
                );
                w.act(
                    &p("attn.v_operand"),
                    &[wh, n, dh],
                    signed(act_operand_bits(ab)),
                    &vop,
                    "value operands v - z_v per window and head [w h + head, key, channel] (U4)",
                );
                // The U6 bias and mask of every softmax row [w, head, query] x key.
                let mut bias = Vec::with_capacity(wh * n * n);
                let mut mask = Vec::with_capacity(wh * n * n);
                for win in 0..nw {
                    for head in 0..h {
                        bias.extend_from_slice(&sb.rel_bias[head * n * n..(head + 1) * n * n]);
                        match &sb.mask {
                            Some(mk) => mask.extend(
                                mk[win * n * n..(win + 1) * n * n]
                                    .iter()
                                    .map(|&v| u8::from(v)),
                            ),
                            None => mask.extend(std::iter::repeat_n(0u8, n * n)),
                        }
                    }
                }
                w.act(
                    &p("attn.score_bias"),
                    &[nw, h, n, n],
                    signed(16),
                    &bias,
                    "rel_pos_bias expanded to every softmax row [window, head, query, key] (U6 bias)",
                );
                w.act(
                    &p("attn.score_mask"),
                    &[nw, h, n, n],
                    unsigned(1),
                    &mask,
                    "the shift mask expanded to every softmax row [window, head, query, key] (U6 \
                     mask; 0 for a block without shift)",
                );
            }
            "attn.logits" | "attn.codes" | "attn.av" => {
                // The same elements with windows and heads on one leading axis (w h + head),
                // one slice per RTL case.
                let mut s = vec![nw * h];
                s.extend_from_slice(&shape[2..]);
                w.act(
                    &format!("{name}_wh"),
                    &s,
                    (bits, sg),
                    &data,
                    format!("{name} with [window, head] as one axis w h + head"),
                );
            }
            "attn.proj.input" => {
                w.act(
                    &p("attn.proj.input_windows"),
                    &[nw, n, a],
                    unsigned(ab),
                    &data,
                    "proj input codes by window [window, query, column] (A x V requantized, \
                     heads merged)",
                );
            }
            "attn.proj.output" => {
                let c = sb.dim;
                let mut tok = vec![0i64; data.len()];
                for (r, &src) in sb.sources.iter().enumerate() {
                    tok[src * c..(src + 1) * c].copy_from_slice(&data[r * c..(r + 1) * c]);
                }
                w.act(
                    &p("attn.proj.output_tokens"),
                    &shape,
                    signed(32),
                    &tok,
                    "proj output moved back to token order (window reverse, roll back): the \
                     increment of residual1",
                )
                .entry
                .scale = Some(rs);
            }
            "mlp.fc1.acc" => {
                let y = requant_rows(&b.fc1);
                w.act(
                    &p("mlp.fc1.output"),
                    &shape,
                    signed(HBITS),
                    &y,
                    "fc1 requantized to the GELU table index h (U2, U7)",
                );
            }
            _ => {}
        }
    }
}

/// What a captured tensor is.
fn describe(name: &str) -> String {
    let op = name
        .strip_prefix("blocks.")
        .and_then(|r| r.split_once('.'))
        .map_or(name, |(_, op)| op);
    match op {
        "input" => "input image codes [C, H, W]".into(),
        "patch_embed.output" => {
            "patch embedding in the residual stream (U2), before its norm".into()
        }
        "embed" => {
            "patch norm output (U5r): the residual stream entering stage 0, token order".into()
        }
        "norm1.output" => "norm1 codes, token order (U5)".into(),
        "attn.qkv.input" => "norm1 codes in window order (partition and cyclic shift)".into(),
        "attn.scores" => "Q K^T accumulators [window, head, query, key] (U1)".into(),
        "attn.logits" => {
            "softmax logits z [window, head, query, key], s32, EF fraction bits".into()
        }
        "attn.probs" => {
            "probabilities p / 2^16 with bias and mask [window, head, query, key] (U6)".into()
        }
        "attn.codes" => "log2 codes [window, head, query, key] (U3); -1 is the exact zero".into(),
        "attn.av" => "attention x V outputs [window, head, query, channel] (U4)".into(),
        "attn.proj.output" => "proj output in the residual stream (U2), window order".into(),
        "residual1" | "residual2" => "residual stream, token order (U8)".into(),
        "norm.output" => "final norm (U5r), token order".into(),
        "pool" => "average pool floor((2 S + T) / 2T) per channel".into(),
        "logits" => "logits, residual-stream fixed point".into(),
        _ if op.ends_with(".acc") => format!("{} accumulators (U1)", op.trim_end_matches(".acc")),
        _ => op.to_string(),
    }
}
