//! The RTL cases of a Swin golden directory (`repq-hw golden` of a Swin, manifest mode `swin`):
//! the units of the ViT cases on Swin's windows. Per selected block: norm1, qkv, `Q K^T` with the
//! softmax's requantization per window and head (the logits), the softmax of every row with the
//! relative position bias and (shifted blocks) the mask, the log2 codes, attention x V per window
//! and head, its requantization per window, proj, the residual add of the proj output moved back
//! to token order, norm2, fc1, the GELU table, fc2, the second residual add. Always: the patch
//! embedding, the patch norm (U5r on `repq_layernorm` built with `RESID = 1`), every
//! PatchMerging (its norm and reduction), the final norm (U5r), the average pooling with the U2
//! to the head's input codes (`repq_avgpool`) and the head.

use super::build::Harness;
use super::cases::{
    Case, Skipped, dims, identity_requant, layernorm_case, linear, mlp_half_cases, residual_case,
};
use super::design::RtlInfo;
use crate::error::{Error, Result};
use crate::golden::GoldenDir;

/// The residual stream a block reads: the last of `embed`, a PatchMerging's output or a block's
/// `residual2` written before the block's `norm1.output` (files are in forward order).
fn block_input(g: &GoldenDir, b: usize) -> Result<String> {
    residual_before(g, &format!("blocks.{b}.norm1.output"))
}

/// The residual stream written last before tensor `stop`.
fn residual_before(g: &GoldenDir, stop: &str) -> Result<String> {
    let mut last = None;
    for f in &g.manifest.files {
        if f.name == stop {
            return last.ok_or_else(|| missing(g, "embed"));
        }
        if f.name == "embed"
            || (f.name.starts_with("layers.") && f.name.ends_with(".downsample.reduction.output"))
            || (f.name.starts_with("blocks.") && f.name.ends_with(".residual2"))
        {
            last = Some(f.name.clone());
        }
    }
    Err(missing(g, stop))
}

/// U5r: LayerNorm `norm` of the residual rows `x` into the residual-stream values `out`.
fn residual_norm_case(g: &GoldenDir, norm: &str, x: &str, out: &str) -> Result<Case> {
    let mut c = layernorm_case(g, norm, x, out)?;
    c.name = format!("{out} ({norm}, LayerNorm into the residual stream, U5r)");
    c.harness = Harness::LayerNormResid;
    Ok(c)
}

/// The final norm's rows `norm.output` `[T, D]` pooled to `pool` and requantized (`head.pool.*`)
/// to the head's input codes `head.input`.
fn pool_case(g: &GoldenDir) -> Result<Case> {
    let x = dims::<2>(g, "norm.output", "[tokens, channels]")?;
    let mut args = vec![
        ("x", "norm.output".to_string()),
        ("avg", "pool".into()),
        ("code", "head.input".into()),
    ];
    for f in ["m0", "shift", "zero_point", "lo", "hi"] {
        args.push((f, format!("head.pool.{f}")));
    }
    Ok(Case {
        name: "pool, head.input (average pool, U2 to the head's input codes)".into(),
        harness: Harness::AvgPool,
        args,
        shape: Some([x[0], 1, x[1]]),
        golden: g.root.clone(),
    })
}

fn missing(g: &GoldenDir, name: &str) -> Error {
    Error::Dataset {
        path: g.root.clone(),
        reason: format!("golden manifest has no tensor `{name}`"),
    }
}

/// The random U5r layers and pooling jobs of `golden --random` ([`crate::golden::random_pool`]),
/// those the directory has.
pub fn random_pool_cases(g: &GoldenDir) -> Result<Vec<Case>> {
    use crate::golden::random_pool::POOLS;
    let mut cases = Vec::new();
    if g.manifest.entry("layernorm_r.x").is_some() {
        let x = dims::<3>(g, "layernorm_r.x", "[layers, rows, channels]")?;
        let mut args = vec![
            ("x", "layernorm_r.x".to_string()),
            ("out", "layernorm_r.out".into()),
        ];
        for f in ["g", "b", "eps_q", "lo", "hi"] {
            args.push((f, format!("layernorm_r.{f}")));
        }
        cases.push(Case {
            name: "layernorm_r (U5r: zero-variance, full-scale and outlier rows; signed clamps)"
                .into(),
            harness: Harness::LayerNormResid,
            args,
            shape: Some([x[1], 1, x[2]]),
            golden: g.root.clone(),
        });
    }
    for (dir, _, _) in POOLS {
        if g.manifest.entry(&format!("{dir}.x")).is_none() {
            continue;
        }
        let x = dims::<3>(g, &format!("{dir}.x"), "[jobs, tokens, channels]")?;
        let mut args: Vec<(&'static str, String)> = Vec::new();
        for f in ["x", "avg", "code", "m0", "shift", "zero_point", "lo", "hi"] {
            args.push((f, format!("{dir}.{f}")));
        }
        cases.push(Case {
            name: format!(
                "{dir} (average pool of T = {}: full-scale sums, ties; U2 to codes)",
                x[1]
            ),
            harness: Harness::AvgPool,
            args,
            shape: Some([x[1], 1, x[2]]),
            golden: g.root.clone(),
        });
    }
    Ok(cases)
}

/// The cases of a `swin` directory for the blocks `blocks` (global indices).
pub fn swin_cases(
    g: &GoldenDir,
    rtl: &RtlInfo,
    blocks: &[usize],
) -> Result<(Vec<Case>, Vec<Skipped>)> {
    let model = g.manifest.model.as_ref().ok_or_else(|| Error::Dataset {
        path: g.root.clone(),
        reason: "swin-mode manifest without a [model] table".into(),
    })?;
    for &b in blocks {
        if b >= model.depth {
            return Err(Error::Config {
                source_name: "verify".into(),
                field: "--blocks".into(),
                reason: format!("block {b} does not exist (the model has {})", model.depth),
            });
        }
    }
    let mut cases = vec![
        linear(g, "patch_embed.proj", "patch_embed")?,
        residual_norm_case(g, "patch_embed.norm", "patch_embed.output", "embed")?,
    ];
    let mut skipped: Vec<Skipped> = Vec::new();
    for f in &g.manifest.files {
        if let Some(s) = f
            .name
            .strip_prefix("layers.")
            .and_then(|r| r.strip_suffix(".downsample.reduction.input"))
        {
            let p = format!("layers.{s}.downsample");
            cases.push(layernorm_case(
                g,
                &format!("{p}.norm"),
                &format!("{p}.input"),
                &f.name,
            )?);
            let r = format!("{p}.reduction");
            cases.push(linear(g, &r, &r)?);
        }
    }
    for &b in blocks {
        let blk = format!("blocks.{b}");
        let attn = format!("{blk}.attn");
        let before = block_input(g, b)?;
        cases.push(layernorm_case(
            g,
            &format!("{blk}.norm1"),
            &before,
            &format!("{blk}.norm1.output"),
        )?);
        cases.push(linear(g, &format!("{attn}.qkv"), &format!("{attn}.qkv"))?);
        let q = dims::<3>(g, &format!("{attn}.q"), "[windows x heads, N, D_h]")?;
        let k = dims::<3>(g, &format!("{attn}.k_operand"), "[windows x heads, D_h, N]")?;
        let lg = dims::<4>(g, &format!("{attn}.logits"), "[windows, heads, N, N]")?;
        let (nw, h, n) = (lg[0], lg[1], lg[2]);
        for wh in 0..q[0] {
            let name = format!(
                "{attn}.logits[window {}, head {}] (Q K^T, softmax requantization)",
                wh / h,
                wh % h
            );
            if !(rtl.out_signed && rtl.out_lane_bits == 32) {
                skipped.push((
                    name,
                    "the s32 logits need s32 output lanes (generate with --out-bits 32)".into(),
                ));
                continue;
            }
            cases.push(Case {
                name,
                harness: Harness::Top,
                args: vec![
                    ("a", format!("{attn}.q[{wh}]")),
                    ("w", format!("{attn}.k_operand[{wh}]")),
                    ("bias", format!("{attn}.k_bias[{wh}]")),
                    ("m0", format!("{attn}.softmax.m0")),
                    ("shift", format!("{attn}.softmax.shift")),
                    ("zero_point", "#0".into()),
                    ("lo", "#-2147483648".into()),
                    ("hi", "#2147483647".into()),
                    ("out", format!("{attn}.logits_wh[{wh}]")),
                ],
                shape: Some([q[1], q[2], k[2]]),
                golden: g.root.clone(),
            });
        }
        if identity_requant(rtl).is_none() {
            skipped.push((
                format!("{attn}.scores (raw Q K^T)"),
                "covered by the logits cases (the same accumulators through the softmax's \
                 requantization); raw accumulators need signed output lanes"
                    .into(),
            ));
        }
        let masked = g.manifest.entry(&format!("{attn}.mask")).is_some();
        cases.push(Case {
            name: format!(
                "{attn}.probs (softmax with the relative position bias{})",
                if masked { " and the shift mask" } else { "" }
            ),
            harness: Harness::Softmax,
            args: vec![
                ("z", format!("{attn}.logits")),
                ("bias", format!("{attn}.score_bias")),
                ("mask", format!("{attn}.score_mask")),
                ("p", format!("{attn}.probs")),
            ],
            shape: Some([nw * h * n, 0, n]),
            golden: g.root.clone(),
        });
        cases.push(Case {
            name: format!("{attn}.codes (log2 codes of the probabilities)"),
            harness: Harness::LogCode,
            args: vec![
                ("p", format!("{attn}.probs")),
                ("c_int", format!("{attn}.logcode.c_int")),
                ("thresholds", format!("{attn}.logcode.thresholds")),
                ("max_code", super::cases::max_code(g)),
                ("codes", format!("{attn}.codes")),
            ],
            shape: None,
            golden: g.root.clone(),
        });
        let v = dims::<3>(g, &format!("{attn}.v_operand"), "[windows x heads, N, D_h]")?;
        for wh in 0..v[0] {
            cases.push(Case {
                name: format!(
                    "{attn}.av[window {}, head {}] (attention x V)",
                    wh / h,
                    wh % h
                ),
                harness: Harness::ShiftAv,
                args: vec![
                    ("codes", format!("{attn}.codes_wh[{wh}]")),
                    ("v", format!("{attn}.v_operand[{wh}]")),
                    ("f", format!("{attn}.av.f")),
                    ("out", format!("{attn}.av_wh[{wh}]")),
                ],
                shape: Some([n, n, v[2]]),
                golden: g.root.clone(),
            });
        }
        for w in 0..nw {
            let mut args = vec![
                ("av", format!("{attn}.av[{w}]")),
                ("out", format!("{attn}.proj.input_windows[{w}]")),
            ];
            for f in ["m0", "shift", "zero_point", "lo", "hi"] {
                args.push((f, format!("{attn}.av.{f}")));
            }
            cases.push(Case {
                name: format!("{attn}.proj.input[window {w}] (A x V requantized, heads merged)"),
                harness: Harness::AvRequant,
                args,
                shape: Some([n, v[2], h]),
                golden: g.root.clone(),
            });
        }
        cases.push(linear(g, &format!("{attn}.proj"), &format!("{attn}.proj"))?);
        cases.push(residual_case(
            g,
            &before,
            &format!("{attn}.proj.output_tokens"),
            &format!("{blk}.residual1"),
        )?);
        cases.extend(mlp_half_cases(g, &blk)?);
    }
    let last = residual_before(g, "norm.output")?;
    cases.push(residual_norm_case(g, "norm", &last, "norm.output")?);
    cases.push(pool_case(g)?);
    cases.push(linear(g, "head", "head")?);
    Ok((cases, skipped))
}
