//! The command line's model options: what a checkpoint's shapes cannot tell, given by a timm
//! name (`--arch NAME[.TAG]`) or field by field, overriding `config.json` and the sidecar
//! (see `crate::model::spec`); and how to read the checkpoint (`--ema`, `--no-config-json`).

use std::path::Path;

use super::output::errln;
use crate::error::{Error, Result};
use crate::model::{LoadOptions, Loaded, Model, Sidecar};

/// Model options shared by every command that loads a float checkpoint.
#[derive(Debug, Clone, Default, PartialEq, clap::Args)]
pub struct ModelOptions {
    /// timm model name NAME or NAME.TAG (e.g. deit_small_patch16_224.fb_in1k): its heads,
    /// LayerNorm epsilon and pooling, and the tag's preprocessing (default tag: timm's first)
    #[arg(long, value_name = "NAME[.TAG]")]
    pub arch: Option<String>,
    /// Attention heads (the head width is the token width / heads; Swin reads its heads off
    /// relative_position_bias_table)
    #[arg(long, value_name = "N")]
    pub num_heads: Option<usize>,
    /// Input size: one side, or H,W (ViT/DeiT default: read off pos_embed when its grid is
    /// square; Swin: required unless a config.json gives it)
    #[arg(long, value_name = "H[,W]", value_delimiter = ',')]
    pub img_size: Option<Vec<usize>>,
    /// LayerNorm epsilon (timm's ViT/DeiT: 1e-6, Swin: 1e-5)
    #[arg(long, value_name = "EPS")]
    pub layer_norm_eps: Option<f32>,
    /// Pooling before the head (`token`, the class token, for ViT/DeiT; `avg` for Swin)
    #[arg(long, value_name = "POOL")]
    pub global_pool: Option<String>,
    /// Normalization mean per channel
    #[arg(
        long,
        value_name = "R,G,B",
        value_delimiter = ',',
        allow_hyphen_values = true
    )]
    pub mean: Option<Vec<f32>>,
    /// Normalization std per channel
    #[arg(long, value_name = "R,G,B", value_delimiter = ',')]
    pub std: Option<Vec<f32>>,
    /// Crop ratio: the shorter side is resized to size / crop_pct before the center crop
    #[arg(long, value_name = "P")]
    pub crop_pct: Option<f32>,
    /// timm crop mode (only `center` is implemented)
    #[arg(long, value_name = "MODE")]
    pub crop_mode: Option<String>,
    /// Resampling filter (only `bicubic` is implemented)
    #[arg(long, value_name = "FILTER")]
    pub interpolation: Option<String>,
    /// Read the EMA weights (`state_dict_ema` / `model_ema`) of a PyTorch training checkpoint
    #[arg(long)]
    pub ema: bool,
    /// Ignore a timm config.json beside the checkpoint
    #[arg(long)]
    pub no_config_json: bool,
}

impl ModelOptions {
    /// Whether no option is given.
    pub fn is_empty(&self) -> bool {
        *self == ModelOptions::default()
    }

    /// As library load options.
    pub fn load_options(&self) -> LoadOptions {
        LoadOptions {
            overrides: Sidecar {
                name: None,
                arch: self.arch.clone(),
                num_heads: self.num_heads,
                img_size: self.img_size.clone(),
                layer_norm_eps: self.layer_norm_eps,
                global_pool: self.global_pool.clone(),
                mean: self.mean.clone(),
                std: self.std.clone(),
                crop_pct: self.crop_pct,
                crop_mode: self.crop_mode.clone(),
                interpolation: self.interpolation.clone(),
                labels: None,
            },
            ema: self.ema,
            no_config_json: self.no_config_json,
        }
    }

    /// An error if options are given for something they do not apply to (`what`).
    pub fn refuse_for(&self, what: &str) -> Result<()> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(Error::Invalid(format!(
                "the model options (--arch, --num-heads, --ema, ...) apply to a float checkpoint \
                 given as the model, not to {what}"
            )))
        }
    }
}

/// Loads a checkpoint with `options` (or an embedded model: `deit-digits` when `path` is `None`,
/// or the one `path` names, [`crate::demo::Embedded::named`]), and
/// prints what was skipped or renamed while reading it to stderr, one line each.
pub fn load(path: Option<&Path>, options: &ModelOptions) -> Result<Loaded> {
    let embedded = match path {
        None => Some(crate::demo::Embedded::DeitDigits),
        Some(p) => crate::demo::Embedded::named(p),
    };
    let loaded = match (path, embedded) {
        (_, Some(e)) => {
            options.refuse_for(&format!("the embedded model {}", e.name()))?;
            e.loaded()?
        }
        (Some(p), None) => Model::open(p, &options.load_options())?,
        (None, None) => unreachable!("no path is the embedded default"),
    };
    for note in &loaded.notes {
        errln!("note: {note}");
    }
    Ok(loaded)
}
