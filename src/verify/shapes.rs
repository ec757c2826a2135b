//! The tensors [`super::vit::plan`] reads, made from a model's architecture alone: zeros of the
//! shapes of docs/golden-vectors.md (a requantization shift of 1, the smallest the array
//! accepts). The engine's cycles depend on shapes and sizes only, so `repq-hw perf` lowers a
//! model it has no weights or golden directory for (DeiT-S) with these and runs the cycle model
//! ([`crate::perf::engine`]) on the command list.

use crate::error::{Error, Result};
use crate::golden::manifest::ModelInfo;
use crate::model::VitConfig;

use super::vit::Tensors;

/// Zero tensors of a ViT architecture, for [`super::vit::plan`].
pub struct Shapes {
    info: ModelInfo,
}

impl Shapes {
    /// The tensors of `cfg` quantized to `wbits` / `abits` (the GELU table's length follows
    /// `abits`).
    pub fn new(cfg: &VitConfig, wbits: u32, abits: u32) -> Shapes {
        Shapes {
            info: ModelInfo {
                name: "shapes only".into(),
                checkpoint: String::new(),
                quantized: String::new(),
                wbits,
                abits,
                acc_bits: 32,
                post_ln: String::new(),
                post_softmax: String::new(),
                z_tilde: String::new(),
                img_size: cfg.img_size,
                in_chans: cfg.in_chans,
                patch_size: cfg.patch_size,
                embed_dim: cfg.embed_dim,
                depth: cfg.depth,
                num_heads: cfg.num_heads,
                mlp_hidden: cfg.mlp_hidden,
                tokens: cfg.seq_len(),
                prefix_tokens: cfg.num_prefix_tokens(),
                num_classes: cfg.num_classes,
                input_scale: 1.0,
                input_zero_point: 0,
                input_bits: 8,
            },
        }
    }

    /// `[K, N]` of linear layer `layer`.
    fn linear(&self, layer: &str) -> Option<[usize; 2]> {
        let m = &self.info;
        let (d, h) = (m.embed_dim, m.mlp_hidden);
        let kp = m.in_chans * m.patch_size[0] * m.patch_size[1];
        Some(match layer {
            "patch_embed.proj" => [kp, d],
            "head" => [d, m.num_classes],
            l if l.ends_with(".attn.qkv") => [d, 3 * d],
            l if l.ends_with(".attn.proj") => [d, d],
            l if l.ends_with(".mlp.fc1") => [d, h],
            l if l.ends_with(".mlp.fc2") => [h, d],
            _ => return None,
        })
    }
}

impl Tensors for Shapes {
    fn values(&self, name: &str) -> Result<Vec<i128>> {
        let n = self.shape(name)?.iter().product();
        let fill = if name.ends_with(".shift") { 1 } else { 0 };
        Ok(vec![fill; n])
    }

    fn shape(&self, name: &str) -> Result<Vec<usize>> {
        let m = &self.info;
        let (t, d) = (m.tokens, m.embed_dim);
        let patches = (m.img_size[0] / m.patch_size[0]) * (m.img_size[1] / m.patch_size[1]);
        let kp = m.in_chans * m.patch_size[0] * m.patch_size[1];
        let (layer, field) = name.rsplit_once('.').unwrap_or(("", name));
        if let Some([k, n]) = self.linear(layer) {
            return Ok(match field {
                "w" => vec![k, n],
                "input" if layer == "patch_embed.proj" => vec![patches, k],
                "input" => vec![if layer == "head" { 1 } else { t }, k],
                "output" => vec![t, n],
                _ => vec![n],
            });
        }
        let shape = match (layer, field) {
            ("", "input") => vec![m.in_chans, m.img_size[0], m.img_size[1]],
            ("", "logits") => vec![1, m.num_classes],
            ("", "embed") | ("embed", "pos") => vec![t, d],
            ("patch_embed", "input") => vec![patches, kp],
            ("head", "input") => vec![1, d],
            (_, "g" | "b") => vec![d],
            (_, "eps_q" | "lo" | "hi") => vec![1],
            (_, "residual1" | "residual2") => vec![t, d],
            (_, "logits" | "codes") => vec![m.num_heads, t, t],
            (_, "thresholds") => vec![3],
            (_, "gelu_steps") => vec![2 * ((1usize << m.abits) - 1) + 1],
            (l, "input") if l.ends_with(".fc2") => vec![t, m.mlp_hidden],
            (_, "input") => vec![t, d],
            (_, "q_zero" | "k_zero" | "v_zero" | "m0" | "shift" | "c_int" | "f" | "zero_point") => {
                vec![1]
            }
            _ => {
                return Err(Error::Invalid(format!(
                    "shape-only tensors: no rule for `{name}`; add one to verify::shapes"
                )));
            }
        };
        Ok(shape)
    }

    fn model(&self) -> Result<&ModelInfo> {
        Ok(&self.info)
    }
}
