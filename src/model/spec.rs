//! What a model is, put together from every source that says something about it, each field
//! with where its value came from.
//!
//! Sources, later ones overriding earlier ones field by field:
//!
//! 1. timm's `config.json` beside the checkpoint ([`crate::model::hub`]): first the timm name
//!    table's entry for its `architecture` (and `pretrained_cfg.tag`), then the file's own
//!    fields (`model_args`, `num_classes`, `global_pool`, `pretrained_cfg`, `label_names`);
//! 2. the sidecar `MODEL.toml`: the table entry of its `arch`, then its fields;
//! 3. the command line: the table entry of `--arch NAME[.TAG]`, then the individual options.
//!
//! The checkpoint's tensor shapes are facts rather than a source: a field they fix (width,
//! depth, MLP width, patch size, classes, qkv bias, distillation token) that a source gives
//! differently is an error (the checkpoint is not that architecture). A field no source gives
//! and the shapes cannot prove (heads, LayerNorm epsilon, pooling, input size of a non-square
//! patch grid, mean, std, crop ratio, crop mode, interpolation) is an error naming the field and
//! the option that gives it ([`Error::Undetermined`]): nothing is guessed.

use crate::error::{Error, Result};
use crate::model::config::{Preprocess, VitConfig};
use crate::model::timm_table::TimmName;

/// A value and where it came from (`"--num-heads"`, `"config.json model_args"`, ...).
#[derive(Clone, Debug, PartialEq)]
pub struct Given<T> {
    pub value: T,
    pub origin: String,
}

impl<T> Given<T> {
    pub fn new(value: T, origin: impl Into<String>) -> Self {
        Given {
            value,
            origin: origin.into(),
        }
    }

    /// `Some(Given)`, for filling a [`Layer`] field.
    pub fn some(value: T, origin: &str) -> Option<Self> {
        Some(Given::new(value, origin))
    }
}

macro_rules! layer_fields {
    ($( $(#[$doc:meta])* $name:ident : $ty:ty ),* $(,)?) => {
        /// What one source says about the model; every field optional.
        #[derive(Clone, Debug, Default, PartialEq)]
        pub struct Layer {
            $( $(#[$doc])* pub $name: Option<Given<$ty>>, )*
        }

        impl Layer {
            /// Fields `upper` gives replace this layer's.
            pub fn overlay(&mut self, upper: Layer) {
                $( if upper.$name.is_some() { self.$name = upper.$name; } )*
            }
        }
    };
}

layer_fields! {
    /// timm architecture name (with tag), for reports.
    arch: String,
    /// Features of the architecture this tool does not implement, in words.
    unsupported: String,
    /// The model family a timm name or config.json names: `"vit"` or `"swin"`.
    family: String,
    /// Swin: the configured window `[h, w]`, one for every stage or one per stage.
    window_size: Vec<[usize; 2]>,
    /// Swin: blocks per stage.
    depths: Vec<usize>,
    /// Swin: attention heads per stage.
    stage_heads: Vec<usize>,
    /// Width of the features entering the head (Swin: the last stage's width).
    num_features: usize,
    num_heads: usize,
    embed_dim: usize,
    depth: usize,
    mlp_hidden: usize,
    patch_size: [usize; 2],
    in_chans: usize,
    qkv_bias: bool,
    class_token: bool,
    distilled: bool,
    num_classes: usize,
    /// Model input `[H, W]`.
    img_size: [usize; 2],
    ln_eps: f32,
    global_pool: String,
    mean: Vec<f32>,
    std: Vec<f32>,
    crop_pct: f32,
    crop_mode: String,
    interpolation: String,
    labels: Vec<String>,
}

impl Layer {
    /// What a timm model name fixes: the architecture's fields and, when the name has a
    /// pretrained tag (or a default one), that tag's input size and preprocessing. `via` says
    /// where the name was given (`--arch`, `config.json architecture`, ...). The tag's class
    /// count is not taken: a fine-tuned head is normal.
    pub fn from_timm(name: &TimmName, via: &str) -> Layer {
        let a = name.arch;
        let origin = format!("timm {} (from {via})", name.full_name());
        let mut l = Layer {
            arch: Some(Given::new(name.full_name(), via.to_string())),
            family: Given::some("vit".to_string(), &origin),
            unsupported: a.unsupported.clone().map(|u| Given::new(u, origin.clone())),
            num_heads: a.num_heads.and_then(|v| Given::some(v, &origin)),
            embed_dim: Given::some(a.embed_dim, &origin),
            depth: Given::some(a.depth, &origin),
            mlp_hidden: a.mlp_hidden.and_then(|v| Given::some(v, &origin)),
            patch_size: Given::some(a.patch_size, &origin),
            in_chans: a.in_chans.and_then(|v| Given::some(v, &origin)),
            qkv_bias: a.qkv_bias.and_then(|v| Given::some(v, &origin)),
            class_token: Given::some(a.class_token, &origin),
            distilled: Given::some(a.distilled, &origin),
            img_size: Given::some(a.img_size, &origin),
            ln_eps: a.ln_eps.and_then(|v| Given::some(v, &origin)),
            global_pool: Given::some(a.global_pool.clone(), &origin),
            ..Layer::default()
        };
        if let Some((_, t)) = name.tag {
            l.img_size = Given::some([t.input_size[1], t.input_size[2]], &origin);
            l.mean = Given::some(t.mean.clone(), &origin);
            l.std = Given::some(t.std.clone(), &origin);
            l.crop_pct = Given::some(t.crop_pct, &origin);
            l.crop_mode = Given::some(t.crop_mode.clone(), &origin);
            l.interpolation = Given::some(t.interpolation.clone(), &origin);
        }
        l
    }
}

/// What the checkpoint's tensors prove, each with the tensor that proves it.
#[derive(Clone, Debug, PartialEq)]
pub struct Shapes {
    pub embed_dim: usize,
    pub in_chans: usize,
    pub patch_size: [usize; 2],
    pub depth: usize,
    pub mlp_hidden: usize,
    pub num_classes: usize,
    pub qkv_bias: bool,
    pub distilled: bool,
    /// Patch tokens in `pos_embed` (after the prefix tokens).
    pub num_patches: usize,
}

/// One line of `info`: a field, its value, where it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldReport {
    pub field: String,
    pub value: String,
    pub origin: String,
}

/// The model's architecture, preprocessing and labels, every field determined.
#[derive(Clone, Debug, PartialEq)]
pub struct Resolved {
    pub config: VitConfig,
    pub preprocess: Preprocess,
    pub labels: Option<Vec<String>>,
    /// The timm name the fields came from, if any.
    pub arch: Option<String>,
    /// Every field with its value and origin, in a fixed order.
    pub fields: Vec<FieldReport>,
}

/// The command-line option (and sidecar key) that gives each field that shapes cannot prove.
const OPEN_FIELD_OPTIONS: [(&str, &str); 9] = [
    ("num_heads", "--num-heads N"),
    ("layer_norm_eps", "--layer-norm-eps EPS"),
    ("global_pool", "--global-pool token"),
    ("img_size", "--img-size H[,W]"),
    ("mean", "--mean R,G,B"),
    ("std", "--std R,G,B"),
    ("crop_pct", "--crop-pct P"),
    ("crop_mode", "--crop-mode center"),
    ("interpolation", "--interpolation bicubic"),
];

/// Puts the merged sources and the shapes together. `source` names the checkpoint in errors;
/// `sidecar_hint` is the sidecar file a user could write (for the error message).
pub fn resolve(
    merged: Layer,
    shapes: &Shapes,
    source: &str,
    sidecar_hint: &str,
) -> Result<Resolved> {
    let m = merged;
    if let Some(u) = &m.unsupported {
        return Err(Error::Unsupported {
            source_name: source.to_string(),
            what: u.value.clone(),
            hint: Some(format!("as {}", u.origin)),
        });
    }
    if let Some(f) = &m.family
        && f.value != "vit"
    {
        return Err(Error::Config {
            source_name: source.to_string(),
            field: "architecture".into(),
            reason: format!(
                "{} names a {} model, but the tensors are a ViT/DeiT (`pos_embed`, `blocks.N`): \
                 the checkpoint is not that architecture",
                f.origin, f.value
            ),
        });
    }
    let mut fields = Vec::new();
    let mut report = |field: &str, value: String, origin: &str| {
        fields.push(FieldReport {
            field: field.into(),
            value,
            origin: origin.into(),
        })
    };
    let mismatch =
        |field: &str, origin: &str, given: String, found: String, tensor: &str| Error::Config {
            source_name: source.to_string(),
            field: field.into(),
            reason: format!(
                "{origin} gives {given}, but tensor `{tensor}` shows {found}: the checkpoint is \
                 not that architecture"
            ),
        };
    let bad = |field: &str, origin: &str, reason: String| Error::Config {
        source_name: format!("{source} ({origin})"),
        field: field.into(),
        reason,
    };

    // Fields the shapes prove: a source may only agree.
    macro_rules! proven {
        ($field:ident, $name:literal, $tensor:literal) => {{
            let found = shapes.$field;
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
            report(
                $name,
                format!("{found:?}"),
                concat!("shapes (", $tensor, ")"),
            );
        }};
    }
    proven!(embed_dim, "embed_dim", "patch_embed.proj.weight");
    proven!(in_chans, "in_chans", "patch_embed.proj.weight");
    proven!(patch_size, "patch_size", "patch_embed.proj.weight");
    proven!(depth, "depth", "blocks.N");
    proven!(mlp_hidden, "mlp_hidden", "blocks.0.mlp.fc1.weight");
    proven!(num_classes, "num_classes", "head.weight");
    proven!(qkv_bias, "qkv_bias", "blocks.0.attn.qkv.bias");
    proven!(distilled, "distilled", "dist_token");
    if let Some(g) = &m.class_token
        && !g.value
    {
        return Err(mismatch(
            "class_token",
            &g.origin,
            "false".into(),
            "a class token".into(),
            "cls_token",
        ));
    }

    let mut open = Vec::new();
    let d = shapes.embed_dim;
    let num_heads = match &m.num_heads {
        Some(g) if g.value == 0 || !d.is_multiple_of(g.value) => {
            return Err(bad(
                "num_heads",
                &g.origin,
                format!("{} heads do not divide the width {d}", g.value),
            ));
        }
        Some(g) => {
            report(
                "num_heads",
                format!("{} (head width {})", g.value, d / g.value),
                &g.origin,
            );
            g.value
        }
        None => {
            open.push("num_heads");
            0
        }
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
            report("layer_norm_eps", format!("{:e}", g.value), &g.origin);
            g.value
        }
        None => {
            open.push("layer_norm_eps");
            0.0
        }
    };
    match &m.global_pool {
        Some(g) if g.value != "token" => {
            return Err(Error::Unsupported {
                source_name: source.to_string(),
                what: format!("global_pool `{}` (from {})", g.value, g.origin),
                hint: Some("only the class token ('token') is implemented".into()),
            });
        }
        Some(g) => report("global_pool", "token".into(), &g.origin),
        None => open.push("global_pool"),
    }
    let [ph, pw] = shapes.patch_size;
    let n = shapes.num_patches;
    let img_size = match &m.img_size {
        Some(g) => {
            let [h, w] = g.value;
            // A checked product: a wrapped one could equal n for an absurd size (a fuzz finding).
            if h == 0
                || w == 0
                || h % ph != 0
                || w % pw != 0
                || (h / ph).checked_mul(w / pw) != Some(n)
            {
                return Err(mismatch(
                    "img_size",
                    &g.origin,
                    format!("{h}x{w} (with {ph}x{pw} patches)"),
                    format!("{n} patch tokens"),
                    "pos_embed",
                ));
            }
            report("img_size", format!("{h}x{w}"), &g.origin);
            g.value
        }
        None => {
            let side = (n as f64).sqrt().round() as usize;
            if side * side == n {
                let v = [side * ph, side * pw];
                report(
                    "img_size",
                    format!("{}x{}", v[0], v[1]),
                    &format!("shapes (pos_embed: {n} patch tokens, a {side}x{side} grid)"),
                );
                v
            } else {
                open.push("img_size");
                [0, 0]
            }
        }
    };
    let c = shapes.in_chans;
    let (preprocess, labels) =
        preprocess_fields(&m, c, shapes.num_classes, source, &mut fields, &mut open)?;
    if !open.is_empty() {
        return Err(undetermined(&open, source, sidecar_hint, false));
    }
    let config = VitConfig {
        img_size,
        patch_size: shapes.patch_size,
        in_chans: c,
        embed_dim: d,
        depth: shapes.depth,
        num_heads,
        mlp_hidden: shapes.mlp_hidden,
        num_classes: shapes.num_classes,
        qkv_bias: shapes.qkv_bias,
        distilled: shapes.distilled,
        ln_eps,
    };
    Ok(Resolved {
        config,
        preprocess,
        labels,
        arch: m.arch.map(|a| a.value),
        fields,
    })
}

/// The preprocessing fields (mean, std, crop ratio, crop mode, filter) and the labels, shared by
/// every architecture: each is reported to `fields` or, when no source gives it, pushed to
/// `open`. `in_chans` and `num_classes` are what the shapes prove.
pub(super) fn preprocess_fields(
    m: &Layer,
    in_chans: usize,
    num_classes: usize,
    source: &str,
    fields: &mut Vec<FieldReport>,
    open: &mut Vec<&'static str>,
) -> Result<(Preprocess, Option<Vec<String>>)> {
    let c = in_chans;
    let mut report = |field: &str, value: String, origin: &str| {
        fields.push(FieldReport {
            field: field.into(),
            value,
            origin: origin.into(),
        })
    };
    let bad = |field: &str, origin: &str, reason: String| Error::Config {
        source_name: format!("{source} ({origin})"),
        field: field.into(),
        reason,
    };
    let mut channel_values = |field: &str, v: &Option<Given<Vec<f32>>>, positive: bool| match v {
        Some(g)
            if g.value.len() != c
                || g.value
                    .iter()
                    .any(|x| !x.is_finite() || (positive && *x <= 0.0)) =>
        {
            Err(bad(
                field,
                &g.origin,
                format!(
                    "needs {c} finite{} values, got {:?}",
                    if positive { " positive" } else { "" },
                    g.value
                ),
            ))
        }
        Some(g) => {
            report(field, format!("{:?}", g.value), &g.origin);
            Ok(g.value.clone())
        }
        None => {
            open.push(if positive { "std" } else { "mean" });
            Ok(Vec::new())
        }
    };
    let mean = channel_values("mean", &m.mean, false)?;
    let std = channel_values("std", &m.std, true)?;
    let crop_pct = match &m.crop_pct {
        Some(g) if !(g.value > 0.0 && g.value <= 1.0) => {
            return Err(bad(
                "crop_pct",
                &g.origin,
                format!("must be in (0, 1], got {}", g.value),
            ));
        }
        Some(g) => {
            report("crop_pct", format!("{}", g.value), &g.origin);
            g.value
        }
        None => {
            open.push("crop_pct");
            0.0
        }
    };
    for (field, v, only) in [
        ("crop_mode", &m.crop_mode, "center"),
        ("interpolation", &m.interpolation, "bicubic"),
    ] {
        match v {
            Some(g) if g.value != only => {
                return Err(bad(
                    field,
                    &g.origin,
                    format!("only \"{only}\" is implemented, got {:?}", g.value),
                ));
            }
            Some(g) => report(field, only.into(), &g.origin),
            None => open.push(field),
        }
    }
    let labels = match &m.labels {
        Some(g) if g.value.len() != num_classes => {
            return Err(bad(
                "labels",
                &g.origin,
                format!(
                    "{} names for a head of {} classes",
                    g.value.len(),
                    num_classes
                ),
            ));
        }
        Some(g) => {
            report("labels", format!("{} names", g.value.len()), &g.origin);
            Some(g.value.clone())
        }
        None => {
            report(
                "labels",
                "none".into(),
                "not given (classes are shown by index)",
            );
            None
        }
    };
    Ok((
        Preprocess {
            mean,
            std,
            crop_pct,
        },
        labels,
    ))
}

/// The error for fields no source gave: each with the option that gives it (`swin`: the
/// options as a Swin model takes them).
pub(super) fn undetermined(open: &[&str], source: &str, sidecar_hint: &str, swin: bool) -> Error {
    let opts: Vec<&str> = open
        .iter()
        .filter_map(|f| OPEN_FIELD_OPTIONS.iter().find(|(n, _)| n == f))
        .map(|(_, o)| match *o {
            "--global-pool token" if swin => "--global-pool avg",
            "--img-size H[,W]" if swin => "--img-size H[,W] (Swin: required)",
            o => o,
        })
        .collect();
    Error::Undetermined {
        source_name: source.to_string(),
        fields: open.iter().map(|s| s.to_string()).collect(),
        options: format!(
            "{} on the command line, or --arch NAME[.TAG] naming the timm model, or the same \
             fields in a sidecar {sidecar_hint} or a timm config.json beside the checkpoint",
            opts.join(" ")
        ),
    }
}
