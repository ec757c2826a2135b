//! Reading timm ViT/DeiT checkpoints: safetensors files and PyTorch files
//! ([`crate::model::pth`]).
//!
//! Tensor names are timm's (`patch_embed.proj.weight`, `blocks.N.attn.qkv.weight`, ...); the
//! wrapper prefixes `module.` (DataParallel), `_orig_mod.` (torch.compile) and `model.` are
//! stripped from every name, as timm's `clean_state_dict` does for the first two. What the shapes
//! prove is read off them ([`infer_shapes`]); the rest comes from [`crate::model::spec`].
//! F32, F16, BF16 and F64 tensors load (converted to f32 as `copy_` into a float32 model does);
//! entries that are not floating-point (an `epoch` counter, `num_batches_tracked`) are skipped
//! with a note. Every tensor is checked for shape and for finite values. Swin checkpoints are
//! read by [`crate::model::swin_load`]. Tensors of an architecture this tool does not implement
//! (SwinV2, LayerScale, fc_norm, register tokens, ...)
//! are an [`Error::Unsupported`] naming the architecture, and any other tensor it does not
//! understand is an error rather than silently ignored.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use safetensors::{Dtype, SafeTensors};

use super::config::VitConfig;
use super::spec::Shapes;
use super::vit::{Block, LayerNorm, Linear, VisionTransformer};
use crate::error::{Error, Result};

/// Prefixes that wrappers put in front of every state-dict key.
const WRAPPER_PREFIXES: [&str; 3] = ["module.", "_orig_mod.", "model."];

/// The float tensors of one checkpoint, converted to f32, with wrapper prefixes stripped from
/// their names, the file's name for errors, and notes on what was skipped or renamed.
pub struct TensorFile {
    path: PathBuf,
    tensors: HashMap<String, (Vec<usize>, Vec<f32>)>,
    notes: Vec<String>,
}

impl TensorFile {
    /// Reads a safetensors file or a PyTorch file (told apart by content); `ema` picks the EMA
    /// weights of a PyTorch training checkpoint.
    pub fn open(path: &Path, ema: bool) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        if super::pth::looks_like_pytorch(&bytes) {
            drop(bytes);
            let (raw, notes) = super::pth::read(path, ema)?;
            return Self::from_raw(raw, notes, path);
        }
        if ema {
            return Err(Error::Config {
                source_name: path.display().to_string(),
                field: "--ema".into(),
                reason: "a safetensors file holds one set of weights; --ema applies to PyTorch \
                 training checkpoints"
                    .into(),
            });
        }
        Self::from_bytes(&bytes, path)
    }

    /// Reads and parses a safetensors file.
    pub fn read(path: &Path) -> Result<Self> {
        Self::open(path, false)
    }

    /// Parses safetensors bytes; `path` names the source in errors.
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Self> {
        let st = SafeTensors::deserialize(bytes).map_err(|e| Error::Checkpoint {
            path: path.to_path_buf(),
            reason: format!("not a valid safetensors file: {e}"),
        })?;
        let raw = st
            .tensors()
            .into_iter()
            .map(|(name, view)| {
                (
                    name,
                    view.dtype(),
                    view.shape().to_vec(),
                    view.data().to_vec(),
                )
            })
            .collect();
        Self::from_raw(raw, Vec::new(), path)
    }

    /// Converts stored tensors: floats to f32 (checked finite), other dtypes skipped with a
    /// note, wrapper prefixes stripped.
    fn from_raw(
        raw: Vec<super::pth::RawTensor>,
        mut notes: Vec<String>,
        path: &Path,
    ) -> Result<Self> {
        let mut tensors = HashMap::new();
        let mut skipped = Vec::new();
        let mut stripped: BTreeSet<String> = BTreeSet::new();
        for (stored, dtype, shape, bytes) in raw {
            let data = match dtype {
                Dtype::F32 | Dtype::F16 | Dtype::BF16 | Dtype::F64 => to_f32(dtype, &bytes)
                    .ok_or_else(|| Error::TensorDtype {
                        path: path.to_path_buf(),
                        tensor: stored.clone(),
                        dtype: format!("{dtype:?}"),
                    })?,
                Dtype::BOOL
                | Dtype::U8
                | Dtype::I8
                | Dtype::U16
                | Dtype::I16
                | Dtype::U32
                | Dtype::I32
                | Dtype::U64
                | Dtype::I64 => {
                    skipped.push(format!("`{stored}` ({dtype:?} {shape:?})"));
                    continue;
                }
                other => {
                    return Err(Error::TensorDtype {
                        path: path.to_path_buf(),
                        tensor: stored,
                        dtype: format!("{other:?}"),
                    });
                }
            };
            if let Some((index, value)) = data.iter().enumerate().find(|(_, v)| !v.is_finite()) {
                return Err(Error::NonFinite {
                    path: path.to_path_buf(),
                    tensor: stored,
                    index,
                    value: *value,
                });
            }
            let name = strip_wrappers(&stored, &mut stripped);
            if tensors.contains_key(&name) {
                return Err(Error::Checkpoint {
                    path: path.to_path_buf(),
                    reason: format!(
                        "two tensors are named `{name}` once the wrapper prefixes {} are stripped",
                        WRAPPER_PREFIXES.join(", ")
                    ),
                });
            }
            tensors.insert(name, (shape, data));
        }
        if !skipped.is_empty() {
            skipped.sort();
            notes.push(format!(
                "{}: skipped entries that are not floating-point tensors: {}",
                path.display(),
                skipped.join(", ")
            ));
        }
        if !stripped.is_empty() {
            notes.push(format!(
                "{}: stripped the wrapper prefixes {} from the tensor names",
                path.display(),
                stripped.into_iter().collect::<Vec<_>>().join(", ")
            ));
        }
        Ok(TensorFile {
            path: path.to_path_buf(),
            tensors,
            notes,
        })
    }

    /// What was skipped or renamed while reading, one line each.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Names of all tensors, sorted.
    pub fn names(&self) -> BTreeSet<&str> {
        self.tensors.keys().map(String::as_str).collect()
    }

    pub fn contains(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    /// Shape of a tensor, or a missing-tensor error.
    pub fn shape(&self, name: &str) -> Result<&[usize]> {
        self.tensors
            .get(name)
            .map(|(s, _)| s.as_slice())
            .ok_or_else(|| self.missing(name))
    }

    /// Takes a tensor whose shape must equal `expected` exactly.
    pub fn take(&mut self, name: &str, expected: &[usize]) -> Result<Vec<f32>> {
        let (shape, data) = self
            .tensors
            .remove(name)
            .ok_or_else(|| self.missing(name))?;
        if shape != expected {
            return Err(Error::TensorShape {
                path: self.path.clone(),
                tensor: name.to_string(),
                found: shape,
                expected: format!("{expected:?}"),
            });
        }
        Ok(data)
    }

    /// Takes a tensor if present (shape checked as in [`Self::take`]).
    pub fn take_opt(&mut self, name: &str, expected: &[usize]) -> Result<Option<Vec<f32>>> {
        if self.contains(name) {
            self.take(name, expected).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Renames a tensor (no-op if absent).
    pub(super) fn rename(&mut self, from: &str, to: String) {
        if let Some(t) = self.tensors.remove(from) {
            self.tensors.insert(to, t);
        }
    }

    /// Drops a tensor; whether it was there.
    pub(super) fn remove(&mut self, name: &str) -> bool {
        self.tensors.remove(name).is_some()
    }

    /// Adds a line to [`Self::notes`].
    pub(super) fn note(&mut self, line: String) {
        self.notes.push(line);
    }

    fn missing(&self, name: &str) -> Error {
        Error::MissingTensor {
            path: self.path.clone(),
            tensor: name.to_string(),
        }
    }

    /// The shape of a tensor that the architecture is read from: rank `N`, every size positive
    /// (a zero size would make an empty architecture whose other sizes no data bounds).
    pub(super) fn dims<const N: usize>(&self, name: &str, expected: &str) -> Result<[usize; N]> {
        let shape = self.shape(name)?;
        match <[usize; N]>::try_from(shape) {
            Ok(dims) if dims.iter().all(|&d| d > 0) => Ok(dims),
            _ => Err(self.shape_error(name, &format!("{expected}, every size positive"))),
        }
    }

    pub(super) fn shape_error(&self, name: &str, expected: &str) -> Error {
        Error::TensorShape {
            path: self.path.clone(),
            tensor: name.to_string(),
            found: self
                .tensors
                .get(name)
                .map(|t| t.0.clone())
                .unwrap_or_default(),
            expected: expected.to_string(),
        }
    }
}

/// `name` without the wrapper prefixes (repeatedly, in any order); records what it stripped.
fn strip_wrappers(name: &str, stripped: &mut BTreeSet<String>) -> String {
    let mut n = name;
    while let Some(p) = WRAPPER_PREFIXES.iter().find(|p| n.starts_with(**p)) {
        stripped.insert(format!("`{p}`"));
        n = &n[p.len()..];
    }
    n.to_string()
}

/// Converts little-endian tensor bytes of a supported dtype to f32 (F64 rounded to nearest).
fn to_f32(dtype: Dtype, bytes: &[u8]) -> Option<Vec<f32>> {
    match dtype {
        Dtype::F64 => Some(
            bytes
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])) as f32)
                .collect(),
        ),
        Dtype::F32 => Some(
            bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        ),
        Dtype::F16 => Some(
            bytes
                .chunks_exact(2)
                .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
        ),
        Dtype::BF16 => Some(
            bytes
                .chunks_exact(2)
                .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
        ),
        _ => None,
    }
}

/// Tensor-name patterns (matched in `.NAME`, so a leading dot is a name-part boundary) of
/// architectures this tool does not implement, with their names.
const UNSUPPORTED_TENSORS: [(&str, &str); 14] = [
    (
        ".logit_scale",
        "SwinV2 (cosine attention with a learned logit_scale)",
    ),
    (
        ".cpb_mlp.",
        "SwinV2 (log-spaced continuous position bias MLP cpb_mlp)",
    ),
    (".ls1.", "LayerScale (DeiT III, DINOv2, ...)"),
    (".gamma_1", "LayerScale (DeiT III, CaiT, ...)"),
    (".reg_token", "register tokens"),
    (".fc_norm.", "average pooling with fc_norm"),
    (".norm_pre.", "pre-norm (norm_pre, CLIP-style ViT)"),
    (".attn_pool.", "attention pooling (MAP head)"),
    (".attn.q_norm.", "qk_norm"),
    (".attn.q_bias", "BEiT-style attention (separate q/v biases)"),
    (".patch_embed.backbone.", "hybrid ViT (CNN backbone)"),
    (".mlp.fc1_g.", "gated MLP (SwiGLU)"),
    (".mlp.w12.", "gated MLP (SwiGLU)"),
    (".rope.", "rotary position embedding"),
];

/// Names the architecture if the tensors belong to one this tool does not implement (Swin v1 is
/// implemented in [`super::swin_load`] and is routed there before this check).
pub fn detect_unsupported(file: &TensorFile) -> Result<()> {
    let path = file.path().display().to_string();
    let unsupported = |what: String| Error::Unsupported {
        source_name: path.clone(),
        what,
        hint: None,
    };
    for name in file.names() {
        let dotted = format!(".{name}");
        if let Some((_, what)) = UNSUPPORTED_TENSORS
            .iter()
            .find(|(pat, _)| dotted.contains(pat))
        {
            return Err(unsupported(format!("{what} (tensor `{name}`)")));
        }
    }
    if file.contains("pos_embed") && !file.contains("cls_token") {
        return Err(unsupported(
            "a ViT without a class token (global average pooling; no tensor `cls_token`)".into(),
        ));
    }
    if !file.contains("patch_embed.proj.weight") {
        let names: Vec<&str> = file.names().into_iter().take(4).collect();
        let hint = common_prefix(&file.names());
        return Err(Error::Unsupported {
            source_name: path.clone(),
            what: format!(
                "a checkpoint without `patch_embed.proj.weight` (not a timm ViT/DeiT state dict; \
                 first tensors: {})",
                names.join(", ")
            ),
            hint: hint.map(|p| {
                format!(
                    "every tensor name starts with `{p}`: a wrapper prefix this tool does not \
                     strip (it strips {})",
                    WRAPPER_PREFIXES.join(", ")
                )
            }),
        });
    }
    Ok(())
}

/// The dotted prefix every name shares (`foo.` of `foo.a`, `foo.b`), if any.
fn common_prefix(names: &BTreeSet<&str>) -> Option<String> {
    let first = names.iter().next()?;
    let (head, _) = first.split_once('.')?;
    let p = format!("{head}.");
    (names.len() > 1 && names.iter().all(|n| n.starts_with(&p))).then_some(p)
}

/// What the tensor shapes prove about the architecture.
pub fn infer_shapes(file: &TensorFile) -> Result<Shapes> {
    detect_unsupported(file)?;
    let pe = file.shape("patch_embed.proj.weight")?;
    let &[embed_dim, in_chans, ph, pw] = pe else {
        return Err(file.shape_error("patch_embed.proj.weight", "[D, C, Ph, Pw]"));
    };
    if [embed_dim, in_chans, ph, pw].contains(&0) {
        return Err(file.shape_error(
            "patch_embed.proj.weight",
            "[D, C, Ph, Pw] with every size positive",
        ));
    }
    let pos = file.shape("pos_embed")?;
    let &[1, seq_len, d] = pos else {
        return Err(file.shape_error("pos_embed", "[1, T, D]"));
    };
    if d != embed_dim {
        return Err(file.shape_error("pos_embed", &format!("[1, T, {embed_dim}]")));
    }
    let distilled = file.contains("dist_token");
    let prefix = 1 + usize::from(distilled);
    if seq_len <= prefix {
        return Err(file.shape_error("pos_embed", "[1, T, D] with T above the prefix tokens"));
    }
    let depth = block_count(file)?;
    let mlp_hidden = if depth > 0 {
        file.dims::<2>("blocks.0.mlp.fc1.weight", "[D_f, D]")?[0]
    } else {
        4 * embed_dim
    };
    let [num_classes, hd] = file.dims("head.weight", "[classes, D]")?;
    if hd != embed_dim {
        return Err(file.shape_error("head.weight", &format!("[classes, {embed_dim}]")));
    }
    Ok(Shapes {
        embed_dim,
        in_chans,
        patch_size: [ph, pw],
        depth,
        mlp_hidden,
        num_classes,
        qkv_bias: depth > 0 && file.contains("blocks.0.attn.qkv.bias"),
        distilled,
        num_patches: seq_len - prefix,
    })
}

/// Counts `blocks.N.` prefixes and checks they run 0..depth without gaps.
fn block_count(file: &TensorFile) -> Result<usize> {
    let mut ids = BTreeSet::new();
    for name in file.names() {
        if let Some(rest) = name.strip_prefix("blocks.") {
            let id = rest.split('.').next().unwrap_or("");
            let n: usize = id.parse().map_err(|_| Error::Checkpoint {
                path: file.path().to_path_buf(),
                reason: format!("tensor `{name}` has a non-numeric block index"),
            })?;
            ids.insert(n);
        }
    }
    for (expected, &id) in ids.iter().enumerate() {
        if id != expected {
            return Err(Error::MissingTensor {
                path: file.path().to_path_buf(),
                tensor: format!("blocks.{expected}.* (blocks run to {})", ids.len()),
            });
        }
    }
    Ok(ids.len())
}

/// Builds the model from a parsed file and its (inferred) architecture.
pub fn build(mut file: TensorFile, config: VitConfig) -> Result<VisionTransformer> {
    let d = config.embed_dim;
    let [ph, pw] = config.patch_size;
    let c = config.in_chans;
    let t = config.seq_len();
    let eps = config.ln_eps;

    let patch_embed = Linear {
        out_features: d,
        in_features: c * ph * pw,
        weight: file.take("patch_embed.proj.weight", &[d, c, ph, pw])?,
        bias: file.take_opt("patch_embed.proj.bias", &[d])?,
    };
    let cls_token = file.take("cls_token", &[1, 1, d])?;
    let dist_token = file.take_opt("dist_token", &[1, 1, d])?;
    let pos_embed = file.take("pos_embed", &[1, t, d])?;

    let mut blocks = Vec::with_capacity(config.depth);
    for i in 0..config.depth {
        let p = format!("blocks.{i}.");
        let dh = config.mlp_hidden;
        let qkv_bias = if config.qkv_bias {
            Some(file.take(&format!("{p}attn.qkv.bias"), &[3 * d])?)
        } else {
            None
        };
        blocks.push(Block {
            norm1: layer_norm(&mut file, &format!("{p}norm1"), d, eps)?,
            qkv: Linear {
                out_features: 3 * d,
                in_features: d,
                weight: file.take(&format!("{p}attn.qkv.weight"), &[3 * d, d])?,
                bias: qkv_bias,
            },
            proj: linear(&mut file, &format!("{p}attn.proj"), d, d)?,
            norm2: layer_norm(&mut file, &format!("{p}norm2"), d, eps)?,
            fc1: linear(&mut file, &format!("{p}mlp.fc1"), dh, d)?,
            fc2: linear(&mut file, &format!("{p}mlp.fc2"), d, dh)?,
        });
    }
    let norm = layer_norm(&mut file, "norm", d, eps)?;
    let k = config.num_classes;
    let head = linear(&mut file, "head", k, d)?;
    let head_dist = if config.distilled {
        Some(linear(&mut file, "head_dist", k, d)?)
    } else {
        None
    };

    if let Some(extra) = file.names().into_iter().next() {
        return Err(Error::Unsupported {
            source_name: file.path().display().to_string(),
            what: format!("tensor `{extra}`, not part of a timm ViT/DeiT this tool implements"),
            hint: Some(
                "LayerScale, fc_norm, pre-norm, register tokens and other ViT variants are not \
                 implemented"
                    .into(),
            ),
        });
    }
    Ok(VisionTransformer {
        config,
        patch_embed,
        cls_token,
        dist_token,
        pos_embed,
        blocks,
        norm,
        head,
        head_dist,
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

/// Serializes a model to safetensors bytes (f32, timm's tensor names): the inverse of
/// [`build`], used to save reparameterized models and to make test checkpoints.
pub fn to_safetensors(vit: &VisionTransformer) -> Result<Vec<u8>> {
    let c = &vit.config;
    let d = c.embed_dim;
    let mut tensors: Vec<(String, Vec<usize>, &[f32])> = Vec::new();
    fn push_linear<'a>(t: &mut Vec<(String, Vec<usize>, &'a [f32])>, name: &str, l: &'a Linear) {
        t.push((
            format!("{name}.weight"),
            vec![l.out_features, l.in_features],
            &l.weight,
        ));
        if let Some(b) = &l.bias {
            t.push((format!("{name}.bias"), vec![l.out_features], b));
        }
    }
    fn push_norm<'a>(t: &mut Vec<(String, Vec<usize>, &'a [f32])>, name: &str, n: &'a LayerNorm) {
        t.push((format!("{name}.weight"), vec![n.gamma.len()], &n.gamma));
        t.push((format!("{name}.bias"), vec![n.beta.len()], &n.beta));
    }
    let [ph, pw] = c.patch_size;
    tensors.push((
        "patch_embed.proj.weight".into(),
        vec![d, c.in_chans, ph, pw],
        &vit.patch_embed.weight,
    ));
    if let Some(b) = &vit.patch_embed.bias {
        tensors.push(("patch_embed.proj.bias".into(), vec![d], b));
    }
    tensors.push(("cls_token".into(), vec![1, 1, d], &vit.cls_token));
    if let Some(t) = &vit.dist_token {
        tensors.push(("dist_token".into(), vec![1, 1, d], t));
    }
    tensors.push(("pos_embed".into(), vec![1, c.seq_len(), d], &vit.pos_embed));
    for (i, blk) in vit.blocks.iter().enumerate() {
        let p = format!("blocks.{i}.");
        push_norm(&mut tensors, &format!("{p}norm1"), &blk.norm1);
        push_linear(&mut tensors, &format!("{p}attn.qkv"), &blk.qkv);
        push_linear(&mut tensors, &format!("{p}attn.proj"), &blk.proj);
        push_norm(&mut tensors, &format!("{p}norm2"), &blk.norm2);
        push_linear(&mut tensors, &format!("{p}mlp.fc1"), &blk.fc1);
        push_linear(&mut tensors, &format!("{p}mlp.fc2"), &blk.fc2);
    }
    push_norm(&mut tensors, "norm", &vit.norm);
    push_linear(&mut tensors, "head", &vit.head);
    if let Some(h) = &vit.head_dist {
        push_linear(&mut tensors, "head_dist", h);
    }
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
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
