//! Reading timm Swin Transformer (v1) checkpoints: what the tensor shapes prove
//! ([`infer_shapes`]), the weights ([`build`]) and the inverse ([`to_safetensors`]).
//!
//! Names are timm's current ones (`layers.S.downsample` opening stages 1.., `head.fc`). A
//! checkpoint in the original Microsoft layout (downsample closing stages 0..n-2, `head`) is
//! renamed the way timm's `checkpoint_filter_fn` does it, with a note; the buffers
//! `relative_position_index` and `attn_mask` that old checkpoints store are dropped as timm
//! drops them (they follow from the window and the grid).

use std::collections::BTreeSet;

use safetensors::Dtype;

use super::checkpoint::TensorFile;
use super::swin::{
    PatchMerging, SwinBlock, SwinConfig, SwinLayer, SwinTransformer, WindowAttention,
};
use super::vit::{LayerNorm, Linear};
use crate::error::{Error, Result};

/// Whether the tensors are a Swin Transformer's (`layers.S.blocks.J.*`).
pub fn is_swin(file: &TensorFile) -> bool {
    file.names()
        .iter()
        .any(|n| n.starts_with("layers.") && n.contains(".blocks."))
}

/// What one stage's tensors prove.
#[derive(Clone, Debug, PartialEq)]
pub struct StageShapes {
    pub dim: usize,
    pub depth: usize,
    /// From `relative_position_bias_table` `[T, h]`.
    pub num_heads: usize,
    /// Attention width `A` from `attn.qkv.weight` `[3A, C]`, divided by the heads.
    pub head_dim: usize,
    pub mlp_hidden: usize,
    /// Rows T of the relative position bias table, `(2 Wh - 1)(2 Ww - 1)` of the effective
    /// window.
    pub table_len: usize,
}

/// What a Swin checkpoint's tensor shapes prove.
#[derive(Clone, Debug, PartialEq)]
pub struct SwinShapes {
    pub in_chans: usize,
    pub patch_size: [usize; 2],
    pub stages: Vec<StageShapes>,
    pub num_classes: usize,
    pub qkv_bias: bool,
}

/// Renames the original Microsoft layout to timm's and drops the derived buffers, noting both.
pub fn normalize_names(file: &mut TensorFile) {
    let names: Vec<String> = file.names().into_iter().map(str::to_string).collect();
    let mut dropped = BTreeSet::new();
    for n in &names {
        for buffer in ["relative_position_index", "attn_mask"] {
            if n.ends_with(&format!(".{buffer}")) && file.remove(n) {
                dropped.insert(buffer);
            }
        }
    }
    if !dropped.is_empty() {
        let path = file.path().display().to_string();
        file.note(format!(
            "{path}: dropped the buffers {} (they follow from the window and grid, as timm \
             drops them)",
            dropped.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    if file.contains("head.weight") && !file.contains("head.fc.weight") {
        for n in &names {
            if let Some(rest) = n.strip_prefix("layers.")
                && let Some((s, tail)) = rest.split_once('.')
                && tail.starts_with("downsample.")
                && let Ok(s) = s.parse::<usize>()
            {
                file.rename(n, format!("layers.{}.{tail}", s + 1));
            }
        }
        for p in ["weight", "bias"] {
            file.rename(&format!("head.{p}"), format!("head.fc.{p}"));
        }
        let path = file.path().display().to_string();
        file.note(format!(
            "{path}: the original Swin layout (downsample at the end of a stage, `head`): renamed \
             to timm's (`layers.S+1.downsample`, `head.fc`) as timm's checkpoint_filter_fn does"
        ));
    }
}

/// Counts `PREFIX.N.` indices and checks they run 0..n without gaps.
fn count(file: &TensorFile, prefix: &str) -> Result<usize> {
    let mut ids = BTreeSet::new();
    for name in file.names() {
        if let Some(rest) = name.strip_prefix(prefix) {
            let id = rest.split('.').next().unwrap_or("");
            let n: usize = id.parse().map_err(|_| Error::Checkpoint {
                path: file.path().to_path_buf(),
                reason: format!("tensor `{name}` has a non-numeric index after `{prefix}`"),
            })?;
            ids.insert(n);
        }
    }
    for (expected, &id) in ids.iter().enumerate() {
        if id != expected {
            return Err(Error::MissingTensor {
                path: file.path().to_path_buf(),
                tensor: format!("{prefix}{expected}.* (indices run to {})", ids.len()),
            });
        }
    }
    Ok(ids.len())
}

/// What the tensor shapes prove about the architecture.
pub fn infer_shapes(file: &TensorFile) -> Result<SwinShapes> {
    super::checkpoint::detect_unsupported(file)?;
    let [c0, in_chans, ph, pw] = file.dims::<4>("patch_embed.proj.weight", "[C, in, Ph, Pw]")?;
    let num_stages = count(file, "layers.")?;
    let mut stages = Vec::with_capacity(num_stages);
    let mut dim = c0;
    for s in 0..num_stages {
        if s > 0 {
            let name = format!("layers.{s}.downsample.reduction.weight");
            let [out, inp] = file.dims::<2>(&name, "[C_out, 4C]")?;
            if inp != 4 * dim {
                return Err(file.shape_error(&name, &format!("[C_out, {}]", 4 * dim)));
            }
            dim = out;
        }
        let depth = count(file, &format!("layers.{s}.blocks."))?;
        if depth == 0 {
            return Err(Error::MissingTensor {
                path: file.path().to_path_buf(),
                tensor: format!("layers.{s}.blocks.0.* (a stage without blocks)"),
            });
        }
        let p = format!("layers.{s}.blocks.0.");
        let table = format!("{p}attn.relative_position_bias_table");
        let [table_len, num_heads] = file.dims::<2>(&table, "[(2Wh-1)(2Ww-1), heads]")?;
        let qkv = format!("{p}attn.qkv.weight");
        let [three_a, qin] = file.dims::<2>(&qkv, "[3A, C]")?;
        if qin != dim || !three_a.is_multiple_of(3 * num_heads) {
            return Err(file.shape_error(
                &qkv,
                &format!("[3 * {num_heads} heads * head width, {dim}]"),
            ));
        }
        let [mlp_hidden, _] = file.dims::<2>(&format!("{p}mlp.fc1.weight"), "[hidden, C]")?;
        stages.push(StageShapes {
            dim,
            depth,
            num_heads,
            head_dim: three_a / (3 * num_heads),
            mlp_hidden,
            table_len,
        });
    }
    if stages.is_empty() {
        return Err(Error::MissingTensor {
            path: file.path().to_path_buf(),
            tensor: "layers.0.blocks.0.*".into(),
        });
    }
    let [num_classes, hd] = file.dims::<2>("head.fc.weight", "[classes, C]")?;
    if hd != dim {
        return Err(file.shape_error("head.fc.weight", &format!("[classes, {dim}]")));
    }
    Ok(SwinShapes {
        in_chans,
        patch_size: [ph, pw],
        stages,
        num_classes,
        qkv_bias: file.contains("layers.0.blocks.0.attn.qkv.bias"),
    })
}

/// Builds the model from a parsed file and its resolved architecture.
///
/// # Errors
/// A missing tensor, a tensor of another shape than `config` implies, or a tensor no Swin v1
/// has (named, with the hint that it is not implemented).
pub fn build(mut file: TensorFile, config: SwinConfig) -> Result<SwinTransformer> {
    let c0 = config.embed_dim();
    let [ph, pw] = config.patch_size;
    let eps = config.ln_eps;
    let patch_embed = Linear {
        out_features: c0,
        in_features: config.patch_len(),
        weight: file.take("patch_embed.proj.weight", &[c0, config.in_chans, ph, pw])?,
        bias: file.take_opt("patch_embed.proj.bias", &[c0])?,
    };
    let patch_norm = layer_norm(&mut file, "patch_embed.norm", c0, eps)?;
    let mut layers = Vec::with_capacity(config.stages.len());
    let mut prev = c0;
    for (s, st) in config.stages.iter().enumerate() {
        let c = st.dim;
        let downsample = if s > 0 {
            let p = format!("layers.{s}.downsample");
            Some(PatchMerging {
                norm: layer_norm(&mut file, &format!("{p}.norm"), 4 * prev, eps)?,
                reduction: Linear {
                    out_features: c,
                    in_features: 4 * prev,
                    weight: file.take(&format!("{p}.reduction.weight"), &[c, 4 * prev])?,
                    // timm's reduction has no bias; the LayerNorm reparameterization (Eq. 17)
                    // gives the quantized model's one.
                    bias: file.take_opt(&format!("{p}.reduction.bias"), &[c])?,
                },
            })
        } else {
            None
        };
        let a = st.attn_dim();
        let mut blocks = Vec::with_capacity(st.depth);
        for j in 0..st.depth {
            let p = format!("layers.{s}.blocks.{j}.");
            let qkv_bias = if config.qkv_bias {
                Some(file.take(&format!("{p}attn.qkv.bias"), &[3 * a])?)
            } else {
                None
            };
            blocks.push(SwinBlock {
                norm1: layer_norm(&mut file, &format!("{p}norm1"), c, eps)?,
                attn: WindowAttention {
                    qkv: Linear {
                        out_features: 3 * a,
                        in_features: c,
                        weight: file.take(&format!("{p}attn.qkv.weight"), &[3 * a, c])?,
                        bias: qkv_bias,
                    },
                    proj: linear(&mut file, &format!("{p}attn.proj"), c, a)?,
                    rel_bias_table: file.take(
                        &format!("{p}attn.relative_position_bias_table"),
                        &[st.table_len(), st.num_heads],
                    )?,
                },
                norm2: layer_norm(&mut file, &format!("{p}norm2"), c, eps)?,
                fc1: linear(&mut file, &format!("{p}mlp.fc1"), st.mlp_hidden, c)?,
                fc2: linear(&mut file, &format!("{p}mlp.fc2"), c, st.mlp_hidden)?,
            });
        }
        layers.push(SwinLayer { downsample, blocks });
        prev = c;
    }
    let norm = layer_norm(&mut file, "norm", prev, eps)?;
    let head = linear(&mut file, "head.fc", config.num_classes, prev)?;
    if let Some(extra) = file.names().into_iter().next() {
        return Err(Error::Unsupported {
            source_name: file.path().display().to_string(),
            what: format!("tensor `{extra}`, not part of a timm Swin Transformer (v1)"),
            hint: Some("only timm's SwinTransformer is implemented".into()),
        });
    }
    Ok(SwinTransformer {
        config,
        patch_embed,
        patch_norm,
        layers,
        norm,
        head,
    })
}

fn linear(file: &mut TensorFile, prefix: &str, out: usize, inp: usize) -> Result<Linear> {
    Ok(Linear {
        out_features: out,
        in_features: inp,
        weight: file.take(&format!("{prefix}.weight"), &[out, inp])?,
        bias: file.take_opt(&format!("{prefix}.bias"), &[out])?,
    })
}

fn layer_norm(file: &mut TensorFile, prefix: &str, d: usize, eps: f32) -> Result<LayerNorm> {
    Ok(LayerNorm {
        gamma: file.take(&format!("{prefix}.weight"), &[d])?,
        beta: file.take(&format!("{prefix}.bias"), &[d])?,
        eps,
    })
}

/// Serializes a Swin model to safetensors bytes (f32, timm's current tensor names): the inverse
/// of [`build`].
pub fn to_safetensors(m: &SwinTransformer) -> Result<Vec<u8>> {
    let c = &m.config;
    let mut t: Vec<(String, Vec<usize>, &[f32])> = Vec::new();
    fn lin<'a>(t: &mut Vec<(String, Vec<usize>, &'a [f32])>, name: &str, l: &'a Linear) {
        t.push((
            format!("{name}.weight"),
            vec![l.out_features, l.in_features],
            &l.weight,
        ));
        if let Some(b) = &l.bias {
            t.push((format!("{name}.bias"), vec![l.out_features], b));
        }
    }
    fn ln<'a>(t: &mut Vec<(String, Vec<usize>, &'a [f32])>, name: &str, n: &'a LayerNorm) {
        t.push((format!("{name}.weight"), vec![n.gamma.len()], &n.gamma));
        t.push((format!("{name}.bias"), vec![n.beta.len()], &n.beta));
    }
    let [ph, pw] = c.patch_size;
    t.push((
        "patch_embed.proj.weight".into(),
        vec![c.embed_dim(), c.in_chans, ph, pw],
        &m.patch_embed.weight,
    ));
    if let Some(b) = &m.patch_embed.bias {
        t.push(("patch_embed.proj.bias".into(), vec![c.embed_dim()], b));
    }
    ln(&mut t, "patch_embed.norm", &m.patch_norm);
    for (s, layer) in m.layers.iter().enumerate() {
        if let Some(d) = &layer.downsample {
            ln(&mut t, &format!("layers.{s}.downsample.norm"), &d.norm);
            lin(
                &mut t,
                &format!("layers.{s}.downsample.reduction"),
                &d.reduction,
            );
        }
        let st = &c.stages[s];
        for (j, b) in layer.blocks.iter().enumerate() {
            let p = format!("layers.{s}.blocks.{j}.");
            ln(&mut t, &format!("{p}norm1"), &b.norm1);
            lin(&mut t, &format!("{p}attn.qkv"), &b.attn.qkv);
            lin(&mut t, &format!("{p}attn.proj"), &b.attn.proj);
            t.push((
                format!("{p}attn.relative_position_bias_table"),
                vec![st.table_len(), st.num_heads],
                &b.attn.rel_bias_table,
            ));
            ln(&mut t, &format!("{p}norm2"), &b.norm2);
            lin(&mut t, &format!("{p}mlp.fc1"), &b.fc1);
            lin(&mut t, &format!("{p}mlp.fc2"), &b.fc2);
        }
    }
    ln(&mut t, "norm", &m.norm);
    lin(&mut t, "head.fc", &m.head);
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = t
        .into_iter()
        .map(|(n, s, v)| (n, s, v.iter().flat_map(|x| x.to_le_bytes()).collect()))
        .collect();
    let views = bytes
        .iter()
        .map(|(n, s, b)| {
            safetensors::tensor::TensorView::new(Dtype::F32, s.clone(), b)
                .map(|v| (n.clone(), v))
                .map_err(|e| Error::Invalid(format!("tensor `{n}`: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    safetensors::serialize(views, None).map_err(|e| Error::Invalid(e.to_string()))
}
