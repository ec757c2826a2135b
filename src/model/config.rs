//! Architecture of a timm ViT/DeiT and its evaluation preprocessing.
//!
//! Most of the architecture is read off the checkpoint's tensor shapes (see
//! [`crate::model::checkpoint`]); what shapes cannot tell (number of heads, LayerNorm epsilon,
//! pooling, normalization mean/std, crop ratio, ...) comes from timm's `config.json`, the timm
//! name table, the TOML sidecar or the command line (see [`crate::model::spec`]), never from a
//! default.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::spec::{Given, Layer};
use crate::model::timm_table;

/// timm's `IMAGENET_DEFAULT_MEAN`.
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
/// timm's `IMAGENET_DEFAULT_STD`.
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];
/// timm's `DEFAULT_CROP_PCT`.
pub const DEFAULT_CROP_PCT: f32 = 0.875;
/// timm's ViT builds its LayerNorms with `eps=1e-6`.
pub const DEFAULT_LN_EPS: f32 = 1e-6;

/// The architecture of a (possibly distilled) ViT/DeiT.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VitConfig {
    /// Input image height and width in pixels.
    pub img_size: [usize; 2],
    /// Patch height and width in pixels.
    pub patch_size: [usize; 2],
    /// Input channels (3 for RGB).
    pub in_chans: usize,
    /// Token width D.
    pub embed_dim: usize,
    /// Number of transformer blocks L.
    pub depth: usize,
    /// Number of attention heads h (D = h * D_h).
    pub num_heads: usize,
    /// Hidden width D_f of the MLP.
    pub mlp_hidden: usize,
    /// Classifier outputs.
    pub num_classes: usize,
    /// Whether the qkv projection has a bias.
    pub qkv_bias: bool,
    /// Whether a distillation token and `head_dist` are present (DeiT distilled).
    pub distilled: bool,
    /// LayerNorm epsilon.
    pub ln_eps: f32,
}

impl VitConfig {
    /// Patches along height and width.
    pub fn grid(&self) -> [usize; 2] {
        [
            self.img_size[0] / self.patch_size[0],
            self.img_size[1] / self.patch_size[1],
        ]
    }

    /// Number of patch tokens N.
    pub fn num_patches(&self) -> usize {
        let [gh, gw] = self.grid();
        gh * gw
    }

    /// Tokens before the patch tokens: the class token, and the distillation token if any.
    pub fn num_prefix_tokens(&self) -> usize {
        1 + usize::from(self.distilled)
    }

    /// Total sequence length T = prefix + N.
    pub fn seq_len(&self) -> usize {
        self.num_prefix_tokens() + self.num_patches()
    }

    /// Per-head width D_h.
    pub fn head_dim(&self) -> usize {
        self.embed_dim / self.num_heads
    }

    /// Length of one flattened patch, `in_chans * patch_h * patch_w`.
    pub fn patch_len(&self) -> usize {
        self.in_chans * self.patch_size[0] * self.patch_size[1]
    }
}

/// How `eval` and `predict` turn an image into the model's input (timm's eval transform).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Preprocess {
    /// Per-channel mean subtracted after scaling pixels to [0, 1].
    pub mean: Vec<f32>,
    /// Per-channel standard deviation divided by.
    pub std: Vec<f32>,
    /// The shorter side is resized to `size / crop_pct` before the center crop.
    pub crop_pct: f32,
}

impl Default for Preprocess {
    fn default() -> Self {
        Preprocess {
            mean: IMAGENET_MEAN.to_vec(),
            std: IMAGENET_STD.to_vec(),
            crop_pct: DEFAULT_CROP_PCT,
        }
    }
}

/// The sidecar `MODEL.toml` next to a checkpoint `MODEL.safetensors` (or `.pth`), and the shape
/// of the command line's model options. Every field is optional; what it gives overrides a timm
/// `config.json` (see [`crate::model::spec`]).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sidecar {
    /// A name to show (defaults to the file stem).
    pub name: Option<String>,
    /// A timm model name `ARCH` or `ARCH.TAG` (e.g. `deit_tiny_patch16_224.fb_in1k`): its
    /// architecture fields and its tag's preprocessing, overridden by the fields below.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
    /// Attention heads h (the head width is `embed_dim / h`).
    pub num_heads: Option<usize>,
    /// Input size `[H, W]` or a single side; when absent, read off `pos_embed` if its patch
    /// grid is square.
    pub img_size: Option<Vec<usize>>,
    /// LayerNorm epsilon (timm's ViTs: 1e-6).
    pub layer_norm_eps: Option<f32>,
    /// Pooling before the head; only `"token"` (the class token) is implemented.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub global_pool: Option<String>,
    /// Normalization mean, one per channel.
    pub mean: Option<Vec<f32>>,
    /// Normalization std, one per channel.
    pub std: Option<Vec<f32>>,
    /// Crop ratio: the shorter side is resized to `size / crop_pct` before the center crop.
    pub crop_pct: Option<f32>,
    /// timm's crop mode; only `"center"` is implemented.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crop_mode: Option<String>,
    /// Resampling filter; only `"bicubic"` is implemented.
    pub interpolation: Option<String>,
    /// Class names, in output order, for `predict`.
    pub labels: Option<Vec<String>>,
}

impl Sidecar {
    /// Parses a sidecar from TOML text; `source` names it in errors.
    pub fn parse(text: &str, source: &Path) -> Result<Self> {
        toml::from_str(text).map_err(|e| Error::Toml {
            path: source.to_path_buf(),
            reason: e.to_string(),
        })
    }

    /// Reads the sidecar beside `checkpoint` (same stem, `.toml`), if there is one.
    pub fn beside(checkpoint: &Path) -> Result<Option<(Self, std::path::PathBuf)>> {
        let path = checkpoint.with_extension("toml");
        if !path.exists() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        Ok(Some((Self::parse(&text, &path)?, path)))
    }

    /// Whether no field is given.
    pub fn is_empty(&self) -> bool {
        *self == Sidecar::default()
    }

    /// What this sidecar says, as resolution layers: the timm table's entry for `arch`, then
    /// the fields. `origin(field)` names where a field came from (`"sidecar m.toml"`,
    /// `"--num-heads"`), `source` names the whole in errors.
    pub fn layers(&self, origin: &dyn Fn(&str) -> String, source: &str) -> Result<Vec<Layer>> {
        let mut layers = Vec::new();
        if let Some(a) = &self.arch {
            let via = origin("arch");
            if crate::model::swin_spec::is_swin_name(a) {
                layers.push(crate::model::swin_spec::arch_layer(a, &via)?);
            } else {
                layers.push(Layer::from_timm(&timm_table::lookup(a, &via)?, &via));
            }
        }
        let g = |field: &str| origin(field);
        let img_size = match self.img_size.as_deref() {
            None => None,
            Some([s]) => Some([*s, *s]),
            Some([h, w]) => Some([*h, *w]),
            Some(other) => {
                return Err(Error::Config {
                    source_name: source.to_string(),
                    field: "img_size".into(),
                    reason: format!("needs 1 or 2 values, got {other:?}"),
                });
            }
        };
        layers.push(Layer {
            num_heads: self.num_heads.map(|v| Given::new(v, g("num_heads"))),
            img_size: img_size.map(|v| Given::new(v, g("img_size"))),
            ln_eps: self
                .layer_norm_eps
                .map(|v| Given::new(v, g("layer_norm_eps"))),
            global_pool: self
                .global_pool
                .clone()
                .map(|v| Given::new(v, g("global_pool"))),
            mean: self.mean.clone().map(|v| Given::new(v, g("mean"))),
            std: self.std.clone().map(|v| Given::new(v, g("std"))),
            crop_pct: self.crop_pct.map(|v| Given::new(v, g("crop_pct"))),
            crop_mode: self
                .crop_mode
                .clone()
                .map(|v| Given::new(v, g("crop_mode"))),
            interpolation: self
                .interpolation
                .clone()
                .map(|v| Given::new(v, g("interpolation"))),
            labels: self.labels.clone().map(|v| Given::new(v, g("labels"))),
            ..Layer::default()
        });
        Ok(layers)
    }
}
