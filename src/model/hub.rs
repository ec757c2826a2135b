//! timm's hub layout: the `config.json` that sits beside `model.safetensors` (or
//! `pytorch_model.bin`) in a timm model repository, read as timm reads it
//! (`timm.models._hub._parse_model_cfg`, timm 1.0.31).
//!
//! The file holds `architecture` (a timm model name), `num_classes`, `num_features`,
//! `global_pool`, optionally `model_args` (keyword arguments timm passes to the architecture,
//! overriding its defaults), `pretrained_cfg` (the evaluation preprocessing and more) and
//! `label_names`. A legacy file without `pretrained_cfg` is itself the pretrained config.
//!
//! timm builds the pretrained config from the file's dict alone (`PretrainedCfg(**cfg)`), so a
//! preprocessing field the file leaves out takes timm's `PretrainedCfg` default (bicubic,
//! crop_pct 0.875, crop mode "center", ImageNet mean and std), and this module does the same,
//! saying so in the field's origin. The input size is the exception: it must match the
//! checkpoint's position embedding, so only an explicit `input_size` (or `model_args.img_size`)
//! is taken, never the default 224.
//!
//! `model_args` keys that do not change the evaluation forward (dropout rates, weight init)
//! are ignored; keys that select a feature this tool does not implement are
//! [`Error::Unsupported`]; keys it does not know are an error naming them.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::model::config::{DEFAULT_CROP_PCT, IMAGENET_MEAN, IMAGENET_STD};
use crate::model::spec::{Given, Layer};
use crate::model::{swin_spec, timm_table};

/// The file name timm's hub layout uses.
pub const CONFIG_JSON: &str = "config.json";

/// `model_args` keys that only matter for training (dropout, init) and so are ignored.
const TRAINING_ONLY_ARGS: [&str; 9] = [
    "drop_rate",
    "pos_drop_rate",
    "patch_drop_rate",
    "proj_drop_rate",
    "attn_drop_rate",
    "drop_path_rate",
    "weight_init",
    "fix_init",
    "dynamic_img_pad",
];

/// The `config.json` in `checkpoint`'s directory, if there is one.
pub fn beside(checkpoint: &Path) -> Option<PathBuf> {
    let dir = checkpoint.parent()?;
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let p = dir.join(CONFIG_JSON);
    p.is_file().then_some(p)
}

/// Reads a timm `config.json`: the timm table's entry for its architecture, then the file's
/// own fields (later overriding earlier).
pub fn read(path: &Path) -> Result<Vec<Layer>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    parse(&text, path)
}

/// Parses the text of a timm `config.json`; `path` names it in errors and origins.
pub fn parse(text: &str, path: &Path) -> Result<Vec<Layer>> {
    let name = path.display().to_string();
    let bad = |field: &str, reason: String| Error::Config {
        source_name: name.clone(),
        field: field.into(),
        reason,
    };
    let root: Value = serde_json::from_str(text).map_err(|e| Error::Toml {
        path: path.to_path_buf(),
        reason: format!("not valid JSON: {e}"),
    })?;
    let Value::Object(mut cfg) = root else {
        return Err(bad("(root)", "expected a JSON object".into()));
    };
    // Legacy single-dict layout: the whole file is the pretrained config.
    let mut pretrained = match cfg.remove("pretrained_cfg") {
        Some(Value::Object(p)) => p,
        Some(other) => {
            return Err(bad(
                "pretrained_cfg",
                format!("expected an object, got {other}"),
            ));
        }
        None => {
            let mut p = cfg.clone();
            if let Some(l) = p.remove("labels") {
                p.insert("label_names".into(), l);
            }
            p
        }
    };
    let Some(Value::String(arch)) = cfg.get("architecture") else {
        return Err(bad(
            "architecture",
            "missing: not a timm config.json (a Hugging Face transformers checkpoint is not a \
             timm one); move the file away or pass --no-config-json"
                .into(),
        ));
    };
    let tag = pretrained.get("tag").and_then(Value::as_str);
    let full = match tag {
        Some(t) if !t.is_empty() => format!("{arch}.{t}"),
        _ => arch.clone(),
    };
    let mut layers = Vec::new();
    let via = format!("{name} architecture");
    let swin = swin_spec::is_swin_name(arch);
    if swin {
        layers.push(swin_spec::arch_layer(&full, &via)?);
    } else {
        match timm_table::lookup(&full, &via) {
            Ok(n) => layers.push(Layer::from_timm(&n, &via)),
            // A tag the table does not know (a user's fine-tune): the architecture alone.
            Err(Error::Config { .. }) if tag.is_some() => {
                layers.push(Layer::from_timm(&timm_table::lookup(arch, &via)?, &via))
            }
            Err(e) => return Err(e),
        }
    }

    let mut l = Layer::default();
    let origin = |what: &str| format!("{name} {what}");
    if let Some(n) = cfg.get("num_classes") {
        l.num_classes = Some(Given::new(
            as_usize(n, "num_classes", &bad)?,
            origin("num_classes"),
        ));
    }
    if let Some(n) = cfg.get("num_features") {
        let n = Some(Given::new(
            as_usize(n, "num_features", &bad)?,
            origin("num_features"),
        ));
        // ViT: the token width; Swin: the last stage's width.
        if swin {
            l.num_features = n;
        } else {
            l.embed_dim = n;
        }
    }
    if let Some(Value::String(p)) = cfg.get("global_pool") {
        l.global_pool = Some(Given::new(p.clone(), origin("global_pool")));
    }
    if let Some(args) = cfg.get("model_args") {
        let Value::Object(args) = args else {
            return Err(bad("model_args", format!("expected an object, got {args}")));
        };
        if swin {
            swin_spec::model_args(args, &mut l, &origin("model_args"), &name)?;
        } else {
            model_args(args, &mut l, &origin("model_args"), &name)?;
        }
    }

    // A width changed by model_args keeps the architecture's MLP ratio (timm passes
    // `mlp_ratio` only when the architecture or model_args set it).
    if let (Some(d), None, Some(t)) = (&l.embed_dim, &l.mlp_hidden, layers.last())
        && let (Some(td), Some(tm)) = (&t.embed_dim, &t.mlp_hidden)
        && d.value != td.value
    {
        let ratio = tm.value as f64 / td.value as f64;
        l.mlp_hidden = Some(Given::new(
            (d.value as f64 * ratio) as usize,
            format!("{} with the architecture's mlp ratio {ratio}", d.origin),
        ));
    }

    // pretrained_cfg, with timm's PretrainedCfg defaults for what it leaves out.
    let pre = origin("pretrained_cfg");
    let dflt = format!("{pre} (absent: timm's PretrainedCfg default)");
    let floats = |key: &str, v: Option<Value>| -> Result<Option<Vec<f32>>> {
        v.map(|v| {
            serde_json::from_value::<Vec<f32>>(v)
                .map_err(|e| bad(&format!("pretrained_cfg.{key}"), e.to_string()))
        })
        .transpose()
    };
    l.mean = Some(match floats("mean", pretrained.remove("mean"))? {
        Some(v) => Given::new(v, pre.clone()),
        None => Given::new(IMAGENET_MEAN.to_vec(), dflt.clone()),
    });
    l.std = Some(match floats("std", pretrained.remove("std"))? {
        Some(v) => Given::new(v, pre.clone()),
        None => Given::new(IMAGENET_STD.to_vec(), dflt.clone()),
    });
    l.crop_pct = Some(match pretrained.remove("crop_pct") {
        Some(v) => Given::new(
            v.as_f64()
                .ok_or_else(|| bad("pretrained_cfg.crop_pct", format!("not a number: {v}")))?
                as f32,
            pre.clone(),
        ),
        None => Given::new(DEFAULT_CROP_PCT, dflt.clone()),
    });
    for (key, default, slot) in [
        ("crop_mode", "center", &mut l.crop_mode),
        ("interpolation", "bicubic", &mut l.interpolation),
    ] {
        *slot = Some(match pretrained.remove(key) {
            Some(Value::String(s)) => Given::new(s, pre.clone()),
            Some(v) => {
                return Err(bad(
                    &format!("pretrained_cfg.{key}"),
                    format!("not a string: {v}"),
                ));
            }
            None => Given::new(default.to_string(), dflt.clone()),
        });
    }
    if let Some(v) = pretrained.remove("input_size") {
        let s: Vec<usize> = serde_json::from_value(v)
            .map_err(|e| bad("pretrained_cfg.input_size", e.to_string()))?;
        let &[ch, h, w] = s.as_slice() else {
            return Err(bad(
                "pretrained_cfg.input_size",
                format!("expected [C, H, W], got {s:?}"),
            ));
        };
        l.img_size = Some(Given::new([h, w], pre.clone()));
        l.in_chans = Some(Given::new(ch, pre.clone()));
    }
    let labels = cfg
        .remove("label_names")
        .or_else(|| pretrained.remove("label_names"));
    if let Some(v) = labels {
        let names: Vec<String> =
            serde_json::from_value(v).map_err(|e| bad("label_names", e.to_string()))?;
        l.labels = Some(Given::new(names, origin("label_names")));
    }
    layers.push(l);
    Ok(layers)
}

fn as_usize(v: &Value, field: &str, bad: &dyn Fn(&str, String) -> Error) -> Result<usize> {
    v.as_u64()
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| bad(field, format!("expected a non-negative integer, got {v}")))
}

/// An `int` or `[h, w]` (timm's `to_2tuple`).
fn pair(v: &Value, field: &str, bad: &dyn Fn(&str, String) -> Error) -> Result<[usize; 2]> {
    if let Some(n) = v.as_u64() {
        let n = n as usize;
        return Ok([n, n]);
    }
    let s: Vec<usize> = serde_json::from_value(v.clone()).map_err(|e| bad(field, e.to_string()))?;
    match s.as_slice() {
        [n] => Ok([*n, *n]),
        [h, w] => Ok([*h, *w]),
        _ => Err(bad(field, format!("expected N or [H, W], got {v}"))),
    }
}

/// Applies timm `VisionTransformer` keyword arguments.
fn model_args(args: &Map<String, Value>, l: &mut Layer, origin: &str, name: &str) -> Result<()> {
    let bad = |field: &str, reason: String| Error::Config {
        source_name: name.to_string(),
        field: format!("model_args.{field}"),
        reason,
    };
    let mut unsupported = Vec::new();
    let mut embed_dim = None;
    let mut mlp_ratio = None;
    for (key, v) in args {
        let flag = || v.as_bool().unwrap_or(!v.is_null());
        match key.as_str() {
            "num_heads" => l.num_heads = Given::some(as_usize(v, key, &bad)?, origin),
            "embed_dim" => {
                let d = as_usize(v, key, &bad)?;
                embed_dim = Some(d);
                l.embed_dim = Given::some(d, origin);
            }
            "depth" => l.depth = Given::some(as_usize(v, key, &bad)?, origin),
            "mlp_ratio" => {
                mlp_ratio = Some(
                    v.as_f64()
                        .ok_or_else(|| bad(key, format!("not a number: {v}")))?,
                )
            }
            "patch_size" => l.patch_size = Given::some(pair(v, key, &bad)?, origin),
            "img_size" => l.img_size = Given::some(pair(v, key, &bad)?, origin),
            "in_chans" => l.in_chans = Given::some(as_usize(v, key, &bad)?, origin),
            "num_classes" => l.num_classes = Given::some(as_usize(v, key, &bad)?, origin),
            "qkv_bias" => l.qkv_bias = Given::some(flag(), origin),
            "class_token" => l.class_token = Given::some(flag(), origin),
            "global_pool" => {
                let p = v
                    .as_str()
                    .ok_or_else(|| bad(key, format!("not a string: {v}")))?;
                l.global_pool = Given::some(p.to_string(), origin);
            }
            // The shapes tell whether projections have biases.
            "proj_bias" => {}
            "init_values" if !v.is_null() => {
                unsupported.push("LayerScale (init_values)".to_string())
            }
            "reg_tokens" if v.as_u64() != Some(0) => {
                unsupported.push(format!("{v} register tokens"))
            }
            "no_embed_class" | "qk_norm" | "pre_norm" | "dynamic_img_size" | "fc_norm"
            | "scale_attn_norm" | "scale_mlp_norm"
                if flag() =>
            {
                unsupported.push(key.clone())
            }
            "final_norm" if !flag() => unsupported.push("final_norm false".into()),
            "pos_embed" if v.as_str() != Some("learn") => {
                unsupported.push(format!("pos_embed {v}"))
            }
            "init_values" | "reg_tokens" | "no_embed_class" | "qk_norm" | "pre_norm"
            | "dynamic_img_size" | "fc_norm" | "scale_attn_norm" | "scale_mlp_norm"
            | "final_norm" | "pos_embed" => {}
            k if TRAINING_ONLY_ARGS.contains(&k) => {}
            "norm_layer" | "act_layer" | "embed_layer" | "block_fn" | "mlp_layer"
            | "attn_layer" | "embed_norm_layer" => unsupported.push(format!("{key} {v}")),
            _ => {
                return Err(bad(
                    key,
                    format!(
                        "{v} is not a VisionTransformer argument this tool understands; remove \
                         it if it does not change the model, else the model is not supported"
                    ),
                ));
            }
        }
    }
    if let Some(r) = mlp_ratio {
        // timm: Mlp(hidden_features=int(dim * mlp_ratio)); the width may come from the table.
        let d = embed_dim.or(l.embed_dim.as_ref().map(|g| g.value));
        if let Some(d) = d {
            l.mlp_hidden = Given::some((d as f64 * r) as usize, origin);
        }
    }
    if !unsupported.is_empty() {
        l.unsupported = Given::some(unsupported.join(", "), origin);
    }
    Ok(())
}
