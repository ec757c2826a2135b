//! The architecture of a Swin checkpoint, put together from what its shapes prove and what
//! timm's `config.json`, a timm name, the sidecar or the command line give
//! ([`crate::model::spec`] does the same for ViT/DeiT).
//!
//! The shapes prove the widths, depths, heads, head width, MLP width, classes, qkv bias and,
//! through each stage's `relative_position_bias_table`, the window the stage attends in. The
//! input size, the LayerNorm epsilon, the pooling and the preprocessing come from a source or
//! are an error naming them. A configured window (`model_args.window_size`) must agree with the
//! tables; without one, each stage's window is the smallest square window whose clipped size
//! (timm clips the window to the stage's grid) gives the table's row count, which determines
//! the same windows and shifts as any window that does.

use serde_json::{Map, Value};

use super::config::Preprocess;
use super::spec::{FieldReport, Given, Layer, preprocess_fields, undetermined};
use super::swin::{SwinConfig, SwinStage};
use super::swin_load::SwinShapes;
use crate::error::{Error, Result};

/// timm 1.0.31's registered SwinTransformer (v1) architectures (`timm.list_models('swin_*')`);
/// all build their norms with `nn.LayerNorm` (eps 1e-5) and pool by averaging.
pub const SWIN_V1_ARCHS: [&str; 9] = [
    "swin_base_patch4_window12_384",
    "swin_base_patch4_window7_224",
    "swin_large_patch4_window12_384",
    "swin_large_patch4_window7_224",
    "swin_s3_base_224",
    "swin_s3_small_224",
    "swin_s3_tiny_224",
    "swin_small_patch4_window7_224",
    "swin_tiny_patch4_window7_224",
];

/// `nn.LayerNorm`'s default epsilon, which every timm Swin v1 norm uses.
pub const SWIN_LN_EPS: f32 = 1e-5;

/// Whether a timm name (`ARCH`, `ARCH.TAG`, `timm/ARCH`) is of the Swin family (v1 or v2).
pub fn is_swin_name(name: &str) -> bool {
    let base = name.strip_prefix("timm/").unwrap_or(name);
    base.starts_with("swin")
}

/// What a Swin timm name fixes: the family, the LayerNorm epsilon and the pooling. `via` says
/// where the name was given. SwinV2 names are [`Error::Unsupported`].
pub fn arch_layer(name: &str, via: &str) -> Result<Layer> {
    let base = name.strip_prefix("timm/").unwrap_or(name);
    let arch = base.split('.').next().unwrap_or(base);
    if arch.starts_with("swinv2") {
        return Err(Error::Unsupported {
            source_name: via.to_string(),
            what: format!("SwinV2 (`{arch}`: cosine attention, log-spaced position MLP)"),
            hint: Some("only timm's SwinTransformer (v1, swin_*) is implemented".into()),
        });
    }
    if !SWIN_V1_ARCHS.contains(&arch) {
        return Err(Error::Config {
            source_name: via.to_string(),
            field: "architecture".into(),
            reason: format!(
                "`{arch}` is not a timm SwinTransformer (v1) architecture; known: {}",
                SWIN_V1_ARCHS.join(", ")
            ),
        });
    }
    let origin = format!("timm SwinTransformer {arch} (from {via})");
    Ok(Layer {
        arch: Given::some(base.to_string(), via),
        family: Given::some("swin".to_string(), &origin),
        ln_eps: Given::some(SWIN_LN_EPS, &format!("{origin}: nn.LayerNorm default")),
        global_pool: Given::some("avg".to_string(), &origin),
        ..Layer::default()
    })
}

/// Applies timm `SwinTransformer` keyword arguments from a `config.json`'s `model_args`.
pub fn model_args(
    args: &Map<String, Value>,
    l: &mut Layer,
    origin: &str,
    name: &str,
) -> Result<()> {
    let bad = |field: &str, reason: String| Error::Config {
        source_name: name.to_string(),
        field: format!("model_args.{field}"),
        reason,
    };
    let usize_of = |v: &Value, key: &str| -> Result<usize> {
        v.as_u64()
            .map(|n| n as usize)
            .ok_or_else(|| bad(key, format!("expected a non-negative integer, got {v}")))
    };
    let list = |v: &Value, key: &str| -> Result<Vec<usize>> {
        serde_json::from_value(v.clone()).map_err(|e| bad(key, e.to_string()))
    };
    let pair = |v: &Value, key: &str| -> Result<[usize; 2]> {
        if let Some(n) = v.as_u64() {
            return Ok([n as usize; 2]);
        }
        match list(v, key)?.as_slice() {
            [h, w] => Ok([*h, *w]),
            _ => Err(bad(key, format!("expected N or [H, W], got {v}"))),
        }
    };
    for (key, v) in args {
        match key.as_str() {
            "img_size" => l.img_size = Given::some(pair(v, key)?, origin),
            "patch_size" => l.patch_size = Given::some(pair(v, key)?, origin),
            "in_chans" => l.in_chans = Given::some(usize_of(v, key)?, origin),
            "num_classes" => l.num_classes = Given::some(usize_of(v, key)?, origin),
            "embed_dim" => l.embed_dim = Given::some(usize_of(v, key)?, origin),
            "depths" => l.depths = Given::some(list(v, key)?, origin),
            "num_heads" => l.stage_heads = Given::some(list(v, key)?, origin),
            "qkv_bias" => l.qkv_bias = Given::some(v.as_bool().unwrap_or(true), origin),
            "window_size" => {
                // timm: an int, an (h, w) pair for every stage, or one entry per stage.
                let w = if v.is_u64() {
                    vec![pair(v, key)?]
                } else {
                    let items: Vec<Value> =
                        serde_json::from_value(v.clone()).map_err(|e| bad(key, e.to_string()))?;
                    if items.len() == 2 && items.iter().all(Value::is_u64) {
                        vec![pair(v, key)?]
                    } else {
                        items
                            .iter()
                            .map(|i| pair(i, key))
                            .collect::<Result<Vec<_>>>()?
                    }
                };
                l.window_size = Given::some(w, origin);
            }
            "global_pool" => {
                let p = v
                    .as_str()
                    .ok_or_else(|| bad(key, format!("not a string: {v}")))?;
                l.global_pool = Given::some(p.to_string(), origin);
            }
            // Shapes prove the MLP and head widths; a fixed input size is what this tool runs.
            "mlp_ratio" | "head_dim" | "strict_img_size" => {}
            "drop_rate" | "proj_drop_rate" | "attn_drop_rate" | "drop_path_rate"
            | "weight_init" => {}
            "always_partition" if v.as_bool() == Some(true) => {
                l.unsupported = Given::some("always_partition".to_string(), origin)
            }
            "always_partition" => {}
            "norm_layer" | "embed_layer" | "act_layer" => {
                l.unsupported = Given::some(format!("{key} {v}"), origin)
            }
            _ => {
                return Err(bad(
                    key,
                    format!(
                        "{v} is not a SwinTransformer argument this tool understands; remove it \
                         if it does not change the model, else the model is not supported"
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// The model's architecture, preprocessing and labels, every field determined.
#[derive(Clone, Debug, PartialEq)]
pub struct SwinResolved {
    pub config: SwinConfig,
    pub preprocess: Preprocess,
    pub labels: Option<Vec<String>>,
    pub arch: Option<String>,
    pub fields: Vec<FieldReport>,
}

/// Puts the merged sources and the shapes together; `source` names the checkpoint in errors,
/// `sidecar_hint` the sidecar a user could write.
pub fn resolve(
    m: Layer,
    shapes: &SwinShapes,
    source: &str,
    sidecar_hint: &str,
) -> Result<SwinResolved> {
    if let Some(u) = &m.unsupported {
        return Err(Error::Unsupported {
            source_name: source.to_string(),
            what: u.value.clone(),
            hint: Some(format!("as {}", u.origin)),
        });
    }
    let mismatch =
        |field: &str, origin: &str, given: String, found: String, tensor: &str| Error::Config {
            source_name: source.to_string(),
            field: field.into(),
            reason: format!(
                "{origin} gives {given}, but tensor `{tensor}` shows {found}: the checkpoint is \
                 not that architecture"
            ),
        };
    if let Some(f) = &m.family
        && f.value != "swin"
    {
        return Err(Error::Config {
            source_name: source.to_string(),
            field: "architecture".into(),
            reason: format!(
                "{} names a {} model, but the tensors are a Swin Transformer (`layers.S.blocks.J`)",
                f.origin, f.value
            ),
        });
    }
    let mut fields = Vec::new();
    let st = &shapes.stages;
    let depths: Vec<usize> = st.iter().map(|s| s.depth).collect();
    let heads: Vec<usize> = st.iter().map(|s| s.num_heads).collect();
    let dims: Vec<usize> = st.iter().map(|s| s.dim).collect();
    macro_rules! agree {
        ($field:ident, $name:literal, $found:expr, $tensor:literal) => {{
            let found = $found;
            if let Some(g) = &m.$field
                && g.value != found
            {
                return Err(mismatch(
                    $name,
                    &g.origin,
                    format!("{:?}", g.value),
                    format!("{found:?}"),
                    $tensor,
                ));
            }
        }};
    }
    agree!(embed_dim, "embed_dim", dims[0], "patch_embed.proj.weight");
    agree!(
        in_chans,
        "in_chans",
        shapes.in_chans,
        "patch_embed.proj.weight"
    );
    agree!(
        patch_size,
        "patch_size",
        shapes.patch_size,
        "patch_embed.proj.weight"
    );
    agree!(depths, "depths", depths.clone(), "layers.S.blocks.J");
    agree!(
        stage_heads,
        "num_heads",
        heads.clone(),
        "layers.S.blocks.0.attn.relative_position_bias_table"
    );
    agree!(
        num_classes,
        "num_classes",
        shapes.num_classes,
        "head.fc.weight"
    );
    agree!(
        num_features,
        "num_features",
        *dims.last().unwrap_or(&0),
        "norm.weight"
    );
    agree!(
        qkv_bias,
        "qkv_bias",
        shapes.qkv_bias,
        "layers.0.blocks.0.attn.qkv.bias"
    );
    if let Some(g) = &m.num_heads
        && heads.iter().any(|&h| h != g.value)
    {
        return Err(mismatch(
            "num_heads",
            &g.origin,
            g.value.to_string(),
            format!("{heads:?} heads per stage"),
            "layers.S.blocks.0.attn.relative_position_bias_table",
        ));
    }
    let proven = "shapes (patch_embed.proj.weight, layers.S.*, head.fc.weight)";
    rep(
        &mut fields,
        "family",
        "Swin Transformer (v1)".into(),
        "shapes (layers.S.blocks.J)",
    );
    rep(&mut fields, "stage widths", format!("{dims:?}"), proven);
    rep(&mut fields, "depths", format!("{depths:?}"), proven);
    rep(
        &mut fields,
        "num_heads",
        format!(
            "{heads:?} (head width {:?})",
            st.iter().map(|s| s.head_dim).collect::<Vec<_>>()
        ),
        "shapes (relative_position_bias_table, attn.qkv.weight)",
    );
    rep(
        &mut fields,
        "mlp_hidden",
        format!("{:?}", st.iter().map(|s| s.mlp_hidden).collect::<Vec<_>>()),
        "shapes (mlp.fc1.weight)",
    );
    rep(
        &mut fields,
        "patch_size",
        format!("{:?}", shapes.patch_size),
        proven,
    );
    rep(&mut fields, "in_chans", shapes.in_chans.to_string(), proven);
    rep(
        &mut fields,
        "num_classes",
        shapes.num_classes.to_string(),
        proven,
    );
    rep(&mut fields, "qkv_bias", shapes.qkv_bias.to_string(), proven);

    let mut open: Vec<&'static str> = Vec::new();
    let bad = |field: &str, origin: &str, reason: String| Error::Config {
        source_name: format!("{source} ({origin})"),
        field: field.into(),
        reason,
    };
    let ln_eps = match &m.ln_eps {
        Some(g) if !(g.value.is_finite() && g.value > 0.0) => {
            return Err(bad(
                "layer_norm_eps",
                &g.origin,
                format!("must be positive, got {}", g.value),
            ));
        }
        Some(g) => {
            rep(
                &mut fields,
                "layer_norm_eps",
                format!("{:e}", g.value),
                &g.origin,
            );
            g.value
        }
        None => {
            open.push("layer_norm_eps");
            0.0
        }
    };
    match &m.global_pool {
        Some(g) if g.value != "avg" => {
            return Err(Error::Unsupported {
                source_name: source.to_string(),
                what: format!(
                    "global_pool `{}` for a Swin model (from {})",
                    g.value, g.origin
                ),
                hint: Some("timm's Swin classifier averages the tokens ('avg')".into()),
            });
        }
        Some(g) => rep(&mut fields, "global_pool", "avg".into(), &g.origin),
        None => open.push("global_pool"),
    }
    let [ph, pw] = shapes.patch_size;
    let img_size = match &m.img_size {
        Some(g) => {
            let [h, w] = g.value;
            if h == 0 || w == 0 || h % ph != 0 || w % pw != 0 {
                return Err(bad(
                    "img_size",
                    &g.origin,
                    format!("{h}x{w} is not a whole number of {ph}x{pw} patches"),
                ));
            }
            rep(&mut fields, "img_size", format!("{h}x{w}"), &g.origin);
            Some(g.value)
        }
        None => {
            open.push("img_size");
            None
        }
    };
    let (preprocess, labels) = preprocess_fields(
        &m,
        shapes.in_chans,
        shapes.num_classes,
        source,
        &mut fields,
        &mut open,
    )?;
    if !open.is_empty() {
        return Err(undetermined(&open, source, sidecar_hint, true));
    }
    let img_size = img_size.unwrap_or_default();
    let grid = [img_size[0] / ph, img_size[1] / pw];

    if let Some(g) = &m.window_size
        && g.value.len() != 1
        && g.value.len() != st.len()
    {
        return Err(bad(
            "window_size",
            &g.origin,
            format!("{} windows for {} stages", g.value.len(), st.len()),
        ));
    }
    let mut stages = Vec::with_capacity(st.len());
    let mut windows_report = Vec::new();
    for (s, sh) in st.iter().enumerate() {
        let res = [grid[0] >> s, grid[1] >> s];
        if s > 0 {
            let prev = [grid[0] >> (s - 1), grid[1] >> (s - 1)];
            if prev[0] % 2 != 0 || prev[1] % 2 != 0 || res.contains(&0) {
                return Err(Error::Unsupported {
                    source_name: source.to_string(),
                    what: format!(
                        "a {}x{} token grid entering layers.{s}.downsample (img_size {}x{}): \
                         PatchMerging of an odd or empty grid",
                        prev[0], prev[1], img_size[0], img_size[1]
                    ),
                    hint: Some(format!(
                        "give an img_size whose patch grid halves {} times",
                        st.len() - 1
                    )),
                });
            }
        }
        let table = format!("layers.{s}.blocks.0.attn.relative_position_bias_table");
        let clip = |t: [usize; 2]| [res[0].min(t[0]), res[1].min(t[1])];
        let rows = |e: [usize; 2]| (2 * e[0] - 1) * (2 * e[1] - 1);
        let (target, origin) = match &m.window_size {
            Some(g) => {
                let t = g.value[if g.value.len() == 1 { 0 } else { s }];
                if t.contains(&0) || rows(clip(t)) != sh.table_len {
                    return Err(mismatch(
                        "window_size",
                        &g.origin,
                        format!(
                            "{}x{} (clipped to the {}x{} grid)",
                            t[0], t[1], res[0], res[1]
                        ),
                        format!("{} rows", sh.table_len),
                        "layers.S.blocks.0.attn.relative_position_bias_table",
                    ));
                }
                (t, g.origin.clone())
            }
            None => {
                let t = (1..=res[0].max(res[1]))
                    .map(|t| [t, t])
                    .find(|&t| rows(clip(t)) == sh.table_len)
                    .ok_or_else(|| Error::Config {
                        source_name: source.to_string(),
                        field: "window_size".into(),
                        reason: format!(
                            "tensor `{table}` has {} rows, which no square window on the {}x{} \
                             grid gives; give model_args.window_size in a config.json",
                            sh.table_len, res[0], res[1]
                        ),
                    })?;
                (t, format!("shapes ({table})"))
            }
        };
        let window = clip(target);
        let shift = [0, 1].map(|a| {
            if res[a] <= window[a] {
                0
            } else {
                target[a] / 2
            }
        });
        windows_report.push((s, window, shift, origin));
        stages.push(SwinStage {
            dim: sh.dim,
            depth: sh.depth,
            num_heads: sh.num_heads,
            head_dim: sh.head_dim,
            mlp_hidden: sh.mlp_hidden,
            resolution: res,
            window,
            shift,
        });
    }
    for (s, w, sh, origin) in windows_report {
        rep(
            &mut fields,
            &format!("window {s}"),
            format!(
                "{}x{} on the {}x{} grid, shift {}x{}",
                w[0], w[1], stages[s].resolution[0], stages[s].resolution[1], sh[0], sh[1]
            ),
            &origin,
        );
    }
    Ok(SwinResolved {
        config: SwinConfig {
            img_size,
            patch_size: shapes.patch_size,
            in_chans: shapes.in_chans,
            stages,
            num_classes: shapes.num_classes,
            qkv_bias: shapes.qkv_bias,
            ln_eps,
        },
        preprocess,
        labels,
        arch: m.arch.map(|a| a.value),
        fields,
    })
}

fn rep(fields: &mut Vec<FieldReport>, field: &str, value: String, origin: &str) {
    fields.push(FieldReport {
        field: field.into(),
        value,
        origin: origin.into(),
    });
}
