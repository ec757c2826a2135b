//! The cases a golden directory holds for the RTL: which harness runs which tensors.
//!
//! Random mode (`repq-hw golden --random`): the matmul with requantization on `repq_top`, the
//! code unit and the shift unit. Model mode: the patch embedding, the selected blocks' qkv
//! projection, `Q K^T` per head (raw accumulators through an identity requantization),
//! probabilities to log2 codes, attention x V per head, proj, fc1 and fc2, and the classifier
//! head(s), each with the requantization of docs/arithmetic.md; and the units after the array
//! ([`unit_cases`]): both LayerNorms of each block and the final norm(s), the A x V outputs to
//! proj input codes (heads merged), the GELU table on fc1's indices, both residual additions. Not
//! covered here because the RTL has no unit for it: the softmax exponent (U6).

use crate::error::{Error, Result};
use crate::golden::GoldenDir;

use super::build::Harness;
use super::design::RtlInfo;

/// A case left out before running: (name, reason).
pub type Skipped = (String, String);

/// One run of a harness: plusargs naming golden tensors (operand syntax of `sim/golden.h`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Case {
    /// What the case checks, such as `blocks.0.attn.scores[1]`.
    pub name: String,
    pub harness: Harness,
    /// `(plusarg, operand)` pairs.
    pub args: Vec<(&'static str, String)>,
    /// `[M, K, N]`: of a `repq_top` job (its stall-free cycle count must equal
    /// [`crate::perf::job_cycles`]), or queries x keys x channels of a `repq_shift_av` case (must
    /// equal [`crate::perf::av_cycles`]); tokens x head width x heads of a `repq_av_requant` case
    /// ([`crate::perf::av_requant_cycles`]); rows x 1 x columns of a `repq_gelu` or
    /// `repq_residual` case ([`crate::perf::gelu_cycles`], [`crate::perf::residual_cycles`]);
    /// rows (of the first layer) x 1 x channels of a `repq_layernorm` case
    /// ([`crate::perf::layernorm_cycles`]);
    /// rows x fully masked rows x keys of a `repq_softmax` case
    /// ([`crate::perf::units::softmax_cycles_with`]);
    /// `None` for cases without a cycle model.
    pub shape: Option<[usize; 3]>,
    /// The golden directory the operands are in.
    pub golden: std::path::PathBuf,
}

/// The requantization `y = acc` (`m0 = 2^30`, shift 30, zero point 0: `(acc 2^30 + 2^29) >> 30`
/// is `acc` for every integer) clamped to the design's signed output lanes.
pub(super) fn identity_requant(rtl: &RtlInfo) -> Option<[(&'static str, String); 5]> {
    if !rtl.out_signed {
        return None;
    }
    let b = rtl.out_lane_bits;
    Some([
        ("m0", "#1073741824".into()),
        ("shift", "#30".into()),
        ("zero_point", "#0".into()),
        ("lo", format!("#{}", -(1i64 << (b - 1)))),
        ("hi", format!("#{}", (1i64 << (b - 1)) - 1)),
    ])
}

/// The shape of tensor `name`, which must have rank `N` (`what` names the axes in the error).
/// The U3 unit's `max_code` operand: the golden vectors' `2^abits - 1` as a constant (codes past
/// it are the exact zero, so a design of wider lanes runs a narrower model's codes). Empty (the
/// harness then takes the design's own `2^ABITS - 1`) for vectors that name no width.
pub(super) fn max_code(g: &GoldenDir) -> String {
    g.manifest
        .abits()
        .map_or_else(String::new, |a| format!("#{}", (1u64 << a) - 1))
}

pub(super) fn dims<const N: usize>(g: &GoldenDir, name: &str, what: &str) -> Result<[usize; N]> {
    let shape = &g
        .manifest
        .entry(name)
        .ok_or_else(|| Error::Dataset {
            path: g.root.clone(),
            reason: format!("golden manifest has no tensor `{name}`"),
        })?
        .shape;
    <[usize; N]>::try_from(shape.as_slice()).map_err(|_| Error::Dataset {
        path: g.root.clone(),
        reason: format!("golden tensor `{name}` has shape {shape:?}, expected {what}"),
    })
}

/// A linear layer: parameters `P.*`, activations `A.input` / `A.output`.
pub(super) fn linear(g: &GoldenDir, p: &str, a: &str) -> Result<Case> {
    let input = dims::<2>(g, &format!("{a}.input"), "[rows, in]")?;
    let w = dims::<2>(g, &format!("{p}.w"), "[in, out]")?;
    let mut args = vec![
        ("a", format!("{a}.input")),
        ("w", format!("{p}.w")),
        ("out", format!("{a}.output")),
    ];
    for f in ["bias", "m0", "shift", "zero_point", "lo", "hi"] {
        args.push((f, format!("{p}.{f}")));
    }
    Ok(Case {
        name: format!("{a} (linear)"),
        harness: Harness::Top,
        args,
        shape: Some([input[0], input[1], w[1]]),
        golden: g.root.clone(),
    })
}

/// The A x V outputs of every head of `attn` (`blocks.i.attn`) to the proj input codes.
fn av_requant_case(g: &GoldenDir, attn: &str) -> Result<Case> {
    let av = dims::<3>(g, &format!("{attn}.av"), "[head, query, channel]")?;
    let mut args = vec![
        ("av", format!("{attn}.av")),
        ("out", format!("{attn}.proj.input")),
    ];
    for f in ["m0", "shift", "zero_point", "lo", "hi"] {
        args.push((f, format!("{attn}.av.{f}")));
    }
    Ok(Case {
        name: format!("{attn}.proj.input (A x V requantized, heads merged)"),
        harness: Harness::AvRequant,
        args,
        shape: Some([av[1], av[2], av[0]]),
        golden: g.root.clone(),
    })
}

/// `out = sat32(x + y)`.
pub(super) fn residual_case(g: &GoldenDir, x: &str, y: &str, out: &str) -> Result<Case> {
    let o = dims::<2>(g, out, "[tokens, channels]")?;
    Ok(Case {
        name: format!("{out} (residual add)"),
        harness: Harness::Residual,
        args: vec![("x", x.into()), ("y", y.into()), ("out", out.into())],
        shape: Some([o[0], 1, o[1]]),
        golden: g.root.clone(),
    })
}

/// LayerNorm `norm` (its constants `norm.*`) of the residual rows `x` to the codes `out`.
pub(super) fn layernorm_case(g: &GoldenDir, norm: &str, x: &str, out: &str) -> Result<Case> {
    let gd = dims::<1>(g, &format!("{norm}.g"), "[channels]")?;
    let o = &g
        .manifest
        .entry(out)
        .ok_or_else(|| Error::Dataset {
            path: g.root.clone(),
            reason: format!("golden manifest has no tensor `{out}`"),
        })?
        .shape;
    let rows = o.iter().product::<usize>() / gd[0].max(1);
    let mut args = vec![("x", x.to_string()), ("out", out.to_string())];
    for f in ["g", "b", "eps_q", "lo", "hi"] {
        args.push((f, format!("{norm}.{f}")));
    }
    Ok(Case {
        name: format!("{out} ({norm}, LayerNorm)"),
        harness: Harness::LayerNorm,
        args,
        shape: Some([rows, 1, gd[0]]),
        golden: g.root.clone(),
    })
}

/// The random LayerNorm layers `dir.*` ([`crate::golden::random_units`]).
fn random_layernorm_case(g: &GoldenDir, dir: &str, what: &str) -> Result<Case> {
    let x = dims::<3>(g, &format!("{dir}.x"), "[layers, rows, channels]")?;
    let mut args = vec![("x", format!("{dir}.x")), ("out", format!("{dir}.out"))];
    for f in ["g", "b", "eps_q", "lo", "hi"] {
        args.push((f, format!("{dir}.{f}")));
    }
    Ok(Case {
        name: format!("{dir} ({what})"),
        harness: Harness::LayerNorm,
        args,
        shape: Some([x[1], 1, x[2]]),
        golden: g.root.clone(),
    })
}

/// fc1's indices through block `blk`'s GELU table.
/// The second half of a transformer block, the same for ViT/DeiT and Swin: norm2 (U5) into the
/// fc1 input codes, fc1, GELU, fc2 and the residual addition into `{blk}.residual2`.
pub(super) fn mlp_half_cases(g: &GoldenDir, blk: &str) -> Result<Vec<Case>> {
    Ok(vec![
        layernorm_case(
            g,
            &format!("{blk}.norm2"),
            &format!("{blk}.residual1"),
            &format!("{blk}.mlp.fc1.input"),
        )?,
        linear(g, &format!("{blk}.mlp.fc1"), &format!("{blk}.mlp.fc1"))?,
        gelu_case(g, blk)?,
        linear(g, &format!("{blk}.mlp.fc2"), &format!("{blk}.mlp.fc2"))?,
        residual_case(
            g,
            &format!("{blk}.residual1"),
            &format!("{blk}.mlp.fc2.output"),
            &format!("{blk}.residual2"),
        )?,
    ])
}

fn gelu_case(g: &GoldenDir, blk: &str) -> Result<Case> {
    let o = dims::<2>(g, &format!("{blk}.mlp.fc2.input"), "[tokens, hidden]")?;
    Ok(Case {
        name: format!("{blk}.mlp.fc2.input (GELU table)"),
        harness: Harness::Gelu,
        args: vec![
            ("steps", format!("{blk}.mlp.gelu_steps")),
            ("h", format!("{blk}.mlp.fc1.output")),
            ("out", format!("{blk}.mlp.fc2.input")),
        ],
        shape: Some([o[0], 1, o[1]]),
        golden: g.root.clone(),
    })
}

/// The random U6 rows `{p}.z`, `.bias`, `.mask`, `.p` (`[rows, keys]`), `masked` of them fully
/// masked.
fn softmax_case(g: &GoldenDir, p: &str, name: &str, masked: usize) -> Result<Case> {
    let z = dims::<2>(g, &format!("{p}.z"), "[rows, keys]")?;
    Ok(Case {
        name: name.into(),
        harness: Harness::Softmax,
        args: ["z", "bias", "mask", "p"]
            .into_iter()
            .map(|a| (a, format!("{p}.{a}")))
            .collect(),
        shape: Some([z[0], masked, z[1]]),
        golden: g.root.clone(),
    })
}

/// The units after the array on random vectors (`golden --random`).
pub fn random_unit_cases(g: &GoldenDir) -> Result<Vec<Case>> {
    let av = dims::<3>(g, "av_requant.av", "[head, query, channel]")?;
    let mut args = vec![
        ("av", "av_requant.av".to_string()),
        ("out", "av_requant.out".into()),
    ];
    for f in ["m0", "shift", "zero_point", "lo", "hi"] {
        args.push((f, format!("av_requant.{f}")));
    }
    let h = dims::<1>(g, "gelu.h", "[index]")?;
    let r = dims::<2>(g, "residual.out", "[rows, channels]")?;
    let mut layernorm = Vec::new();
    if g.manifest.entry("layernorm.x").is_some() {
        layernorm.push(random_layernorm_case(
            g,
            "layernorm",
            "three layers: constant, full-scale, outlier and tiny rows; E = 0 and E = 2^64 - 1",
        )?);
        layernorm.push(random_layernorm_case(g, "layernorm1", "D = 1")?);
    }
    let mut cases = vec![
        Case {
            name: "av_requant".into(),
            harness: Harness::AvRequant,
            args,
            shape: Some([av[1], av[2], av[0]]),
            golden: g.root.clone(),
        },
        Case {
            name: "gelu (every index, three tables)".into(),
            harness: Harness::Gelu,
            args: vec![
                ("steps", "gelu.steps".into()),
                ("h", "gelu.h".into()),
                ("out", "gelu.out".into()),
            ],
            shape: Some([1, 1, h[0]]),
            golden: g.root.clone(),
        },
        softmax_case(
            g,
            "softmax",
            "softmax (ties, equal rows, dominant, bias, masks)",
            1,
        )?,
        softmax_case(g, "softmax197", "softmax (rows of 197 keys)", 0)?,
        softmax_case(g, "softmax785", "softmax (rows of 785 keys)", 0)?,
        Case {
            name: "residual (saturation both ways)".into(),
            harness: Harness::Residual,
            args: vec![
                ("x", "residual.x".into()),
                ("y", "residual.y".into()),
                ("out", "residual.out".into()),
            ],
            shape: Some([r[0], 1, r[1]]),
            golden: g.root.clone(),
        },
    ];
    cases.extend(layernorm);
    cases.extend(super::swin_cases::random_pool_cases(g)?);
    Ok(cases)
}

/// Checks that tensor `name` has one slice per head of the `[model]` table.
fn heads_match(g: &GoldenDir, heads: usize, name: &str, found: usize) -> Result<()> {
    if found == heads {
        return Ok(());
    }
    Err(Error::Dataset {
        path: g.root.clone(),
        reason: format!(
            "golden tensor `{name}` holds {found} heads but the [model] table says num_heads = \
             {heads}"
        ),
    })
}

/// The blocks `verify --all-blocks` selects: every block of the deepest model among `dirs`.
/// Each block has files of its own, so a `depth` above the number of files in its manifest is an
/// error (not a list of that many blocks).
pub fn all_blocks(dirs: &[GoldenDir]) -> Result<Vec<usize>> {
    let mut depth = 0;
    for g in dirs {
        if let Some(m) = &g.manifest.model {
            if m.depth > g.manifest.files.len() {
                return Err(Error::Dataset {
                    path: g.root.clone(),
                    reason: format!(
                        "the [model] table says depth = {} but the manifest lists only {} files",
                        m.depth,
                        g.manifest.files.len()
                    ),
                });
            }
            depth = depth.max(m.depth);
        }
    }
    Ok((0..depth).collect())
}

/// The cases of a golden directory; `blocks` selects the transformer blocks (model mode).
/// Cases the design cannot run (scores on unsigned output lanes) come back in the second list
/// with the reason.
pub fn cases_for(
    g: &GoldenDir,
    rtl: &RtlInfo,
    blocks: &[usize],
) -> Result<(Vec<Case>, Vec<Skipped>)> {
    let mut cases = Vec::new();
    let mut skipped = Vec::new();
    match g.manifest.mode.as_str() {
        "random" => {
            let shape = g
                .manifest
                .random
                .as_ref()
                .map(|r| r.shape)
                .unwrap_or_default();
            let mut args = vec![("a", "matmul.a".to_string()), ("w", "matmul.w".into())];
            for f in ["bias", "m0", "shift", "zero_point", "lo", "hi"] {
                args.push((f, format!("matmul.{f}")));
            }
            args.push(("out", "matmul.out".into()));
            cases.push(Case {
                name: "matmul".into(),
                harness: Harness::Top,
                args,
                shape: Some(shape),
                golden: g.root.clone(),
            });
            cases.push(Case {
                name: "logcode".into(),
                harness: Harness::LogCode,
                args: vec![
                    ("p", "logcode.p".into()),
                    ("c_int", "logcode.c_int".into()),
                    ("thresholds", "logcode.thresholds".into()),
                    ("max_code", max_code(g)),
                    ("code", "logcode.code".into()),
                    ("zero", "logcode.zero".into()),
                ],
                shape: None,
                golden: g.root.clone(),
            });
            let code = dims::<2>(g, "shift_av.code", "[M, K]")?;
            let v = dims::<2>(g, "shift_av.v", "[K, N]")?;
            cases.push(Case {
                name: "shift_av".into(),
                harness: Harness::ShiftAv,
                args: vec![
                    ("code", "shift_av.code".into()),
                    ("zero", "shift_av.zero".into()),
                    ("v", "shift_av.v".into()),
                    ("f", "shift_av.f".into()),
                    ("out", "shift_av.out".into()),
                ],
                shape: Some([code[0], code[1], v[1]]),
                golden: g.root.clone(),
            });
            cases.extend(random_unit_cases(g)?);
        }
        "model" => {
            let model = g.manifest.model.as_ref().ok_or_else(|| Error::Dataset {
                path: g.root.clone(),
                reason: "model-mode manifest without a [model] table".into(),
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
            cases.push(linear(g, "patch_embed.proj", "patch_embed")?);
            for &b in blocks {
                let blk = format!("blocks.{b}");
                let attn = format!("{blk}.attn");
                let before = if b == 0 {
                    "embed".to_string()
                } else {
                    format!("blocks.{}.residual2", b - 1)
                };
                cases.push(layernorm_case(
                    g,
                    &format!("{blk}.norm1"),
                    &before,
                    &format!("{attn}.qkv.input"),
                )?);
                cases.push(linear(g, &format!("{attn}.qkv"), &format!("{attn}.qkv"))?);
                let q = dims::<3>(g, &format!("{attn}.q"), "[heads, T, D_h]")?;
                let k = dims::<3>(g, &format!("{attn}.k_operand"), "[heads, D_h, T]")?;
                heads_match(g, model.num_heads, &format!("{attn}.q"), q[0])?;
                heads_match(g, model.num_heads, &format!("{attn}.k_operand"), k[0])?;
                for h in 0..model.num_heads {
                    let name = format!("{attn}.scores[{h}] (Q K^T)");
                    let Some(ident) = identity_requant(rtl) else {
                        skipped.push((
                            name,
                            format!(
                                "raw accumulators need signed output lanes (generate with --out-bits {})",
                                rtl.acc_bits.max(32)
                            ),
                        ));
                        continue;
                    };
                    let mut args = vec![
                        ("a", format!("{attn}.q[{h}]")),
                        ("w", format!("{attn}.k_operand[{h}]")),
                        ("bias", format!("{attn}.k_bias[{h}]")),
                        ("out", format!("{attn}.scores[{h}]")),
                    ];
                    args.extend(ident);
                    cases.push(Case {
                        name,
                        harness: Harness::Top,
                        args,
                        shape: Some([q[1], q[2], k[2]]),
                        golden: g.root.clone(),
                    });
                }
                // Q K^T with the softmax's requantization (z_o = 0, s32 clamp) gives the logits.
                for h in 0..model.num_heads {
                    let name = format!("{attn}.logits[{h}] (Q K^T, softmax requantization)");
                    if !(rtl.out_signed && rtl.out_lane_bits == 32) {
                        skipped.push((
                            name,
                            "the s32 logits need s32 output lanes (generate with --out-bits 32)"
                                .into(),
                        ));
                        continue;
                    }
                    cases.push(Case {
                        name,
                        harness: Harness::Top,
                        args: vec![
                            ("a", format!("{attn}.q[{h}]")),
                            ("w", format!("{attn}.k_operand[{h}]")),
                            ("bias", format!("{attn}.k_bias[{h}]")),
                            ("m0", format!("{attn}.softmax.m0")),
                            ("shift", format!("{attn}.softmax.shift")),
                            ("zero_point", "#0".into()),
                            ("lo", "#-2147483648".into()),
                            ("hi", "#2147483647".into()),
                            ("out", format!("{attn}.logits[{h}]")),
                        ],
                        shape: Some([q[1], q[2], k[2]]),
                        golden: g.root.clone(),
                    });
                }
                let lg = dims::<3>(g, &format!("{attn}.logits"), "[heads, T, T]")?;
                cases.push(Case {
                    name: format!("{attn}.probs (softmax)"),
                    harness: Harness::Softmax,
                    args: vec![
                        ("z", format!("{attn}.logits")),
                        ("p", format!("{attn}.probs")),
                    ],
                    shape: Some([lg[0] * lg[1], 0, lg[2]]),
                    golden: g.root.clone(),
                });
                cases.push(Case {
                    name: format!("{attn}.codes (log2 codes of the probabilities)"),
                    harness: Harness::LogCode,
                    args: vec![
                        ("p", format!("{attn}.probs")),
                        ("c_int", format!("{attn}.logcode.c_int")),
                        ("thresholds", format!("{attn}.logcode.thresholds")),
                        ("max_code", max_code(g)),
                        ("codes", format!("{attn}.codes")),
                    ],
                    shape: None,
                    golden: g.root.clone(),
                });
                let codes = dims::<3>(g, &format!("{attn}.codes"), "[heads, T, T]")?;
                let v = dims::<3>(g, &format!("{attn}.v_operand"), "[heads, T, D_h]")?;
                heads_match(g, model.num_heads, &format!("{attn}.codes"), codes[0])?;
                heads_match(g, model.num_heads, &format!("{attn}.v_operand"), v[0])?;
                for h in 0..model.num_heads {
                    cases.push(Case {
                        name: format!("{attn}.av[{h}] (attention x V)"),
                        harness: Harness::ShiftAv,
                        args: vec![
                            ("codes", format!("{attn}.codes[{h}]")),
                            ("v", format!("{attn}.v_operand[{h}]")),
                            ("f", format!("{attn}.av.f")),
                            ("out", format!("{attn}.av[{h}]")),
                        ],
                        shape: Some([codes[1], codes[2], v[2]]),
                        golden: g.root.clone(),
                    });
                }
                cases.push(av_requant_case(g, &attn)?);
                cases.push(linear(g, &format!("{attn}.proj"), &format!("{attn}.proj"))?);
                cases.push(residual_case(
                    g,
                    &before,
                    &format!("{attn}.proj.output"),
                    &format!("{blk}.residual1"),
                )?);
                cases.extend(mlp_half_cases(g, &blk)?);
            }
            // The final norm(s) on the prefix rows (cls, dist) of the last block's output.
            let last = format!("blocks.{}.residual2", model.depth.saturating_sub(1));
            for (row, tag) in ["head", "head_dist"].into_iter().enumerate() {
                let norm = format!("{tag}.norm");
                if g.manifest.entry(&format!("{norm}.g")).is_some()
                    && g.manifest.entry(&last).is_some()
                {
                    cases.push(layernorm_case(
                        g,
                        &norm,
                        &format!("{last}[{row}]"),
                        &format!("{tag}.input"),
                    )?);
                }
            }
            cases.push(linear(g, "head", "head")?);
            if g.manifest.entry("head_dist.w").is_some() {
                cases.push(linear(g, "head_dist", "head_dist")?);
            }
        }
        "swin" => {
            let (c, s) = super::swin_cases::swin_cases(g, rtl, blocks)?;
            cases.extend(c);
            skipped.extend(s);
        }
        "unit" => {
            return Err(Error::Dataset {
                path: g.root.clone(),
                reason: "unit-mode golden vectors (written by a test for one harness) name no \
                         cases; run the harness on them directly"
                    .into(),
            });
        }
        other => {
            return Err(Error::Dataset {
                path: g.root.clone(),
                reason: format!("unknown golden mode `{other}`"),
            });
        }
    }
    Ok((cases, skipped))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::golden::manifest_header;

    #[test]
    fn unit_mode_is_a_valid_manifest_without_cases() {
        let m = manifest_header("unit", &["(test)".into(), "t".into()]);
        m.check(std::path::Path::new("manifest.toml")).unwrap();
        let mut bad = m.clone();
        bad.mode = "bogus".into();
        assert!(bad.check(std::path::Path::new("manifest.toml")).is_err());
        let g = GoldenDir {
            root: "g".into(),
            manifest: m,
        };
        let rtl = RtlInfo {
            config: "4x4_w8a8".into(),
            pe_rows: 4,
            pe_cols: 4,
            abits: 8,
            wbits: 8,
            acc_bits: 32,
            m_tile: 8,
            requant_lanes: 4,
            out_lane_bits: 8,
            out_signed: false,
            command: String::new(),
            output_latency: 0,
        };
        let e = cases_for(&g, &rtl, &[0]).unwrap_err();
        assert!(
            e.to_string().contains("run the harness on them directly"),
            "{e}"
        );
    }
}
