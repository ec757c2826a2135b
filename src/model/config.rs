//! Architecture of a timm ViT/DeiT and its evaluation preprocessing.
//!
//! Most of the architecture is read off the checkpoint's tensor shapes (see
//! [`crate::model::checkpoint`]); what shapes cannot tell (number of heads, LayerNorm epsilon,
//! normalization mean/std, crop ratio) comes from an optional TOML sidecar whose defaults are timm's
//! defaults for DeiT.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

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

/// The optional sidecar `MODEL.toml` next to `MODEL.safetensors`. Every field is optional.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sidecar {
    /// A name to show (defaults to the file stem).
    pub name: Option<String>,
    /// Attention heads; default `embed_dim / 64` as in every timm ViT/DeiT.
    pub num_heads: Option<usize>,
    /// Input size `[H, W]` or a single side; default read off `pos_embed` (square grid).
    pub img_size: Option<Vec<usize>>,
    /// LayerNorm epsilon; default 1e-6.
    pub layer_norm_eps: Option<f32>,
    /// Normalization mean; default ImageNet's.
    pub mean: Option<Vec<f32>>,
    /// Normalization std; default ImageNet's.
    pub std: Option<Vec<f32>>,
    /// Crop ratio; default 0.875.
    pub crop_pct: Option<f32>,
    /// Resampling filter; only "bicubic" (timm's default) is implemented.
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

    /// The preprocessing this sidecar asks for, validated against `in_chans`.
    pub fn preprocess(&self, in_chans: usize, source: &str) -> Result<Preprocess> {
        let d = Preprocess::default();
        let expand = |v: &[f32]| -> Vec<f32> {
            if v.len() == in_chans {
                v.to_vec()
            } else {
                vec![v[0]; in_chans]
            }
        };
        let mean = self.mean.clone().unwrap_or_else(|| expand(&d.mean));
        let std = self.std.clone().unwrap_or_else(|| expand(&d.std));
        let crop_pct = self.crop_pct.unwrap_or(d.crop_pct);
        let bad = |field: &str, reason: String| Error::Config {
            source_name: source.to_string(),
            field: field.to_string(),
            reason,
        };
        if mean.len() != in_chans || mean.iter().any(|m| !m.is_finite()) {
            return Err(bad(
                "mean",
                format!("needs {in_chans} finite values, got {mean:?}"),
            ));
        }
        if std.len() != in_chans || std.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
            return Err(bad(
                "std",
                format!("needs {in_chans} positive values, got {std:?}"),
            ));
        }
        if !(crop_pct > 0.0 && crop_pct <= 1.0) {
            return Err(bad(
                "crop_pct",
                format!("must be in (0, 1], got {crop_pct}"),
            ));
        }
        if let Some(interp) = &self.interpolation
            && interp != "bicubic"
        {
            return Err(bad(
                "interpolation",
                format!("only \"bicubic\" is implemented, got {interp:?}"),
            ));
        }
        Ok(Preprocess {
            mean,
            std,
            crop_pct,
        })
    }
}
