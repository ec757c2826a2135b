//! Reading timm ViT/DeiT checkpoints from safetensors.
//!
//! Tensor names are timm's (`patch_embed.proj.weight`, `blocks.N.attn.qkv.weight`, ...). The
//! architecture is inferred from the tensor shapes; the sidecar fills in what shapes cannot tell.
//! F32, F16 and BF16 tensors load (converted to f32). Every tensor is checked for shape and for
//! finite values, and tensors this tool does not understand are an error rather than silently
//! ignored (they would mean an architecture the forward does not implement).

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use safetensors::{Dtype, SafeTensors};

use super::config::{DEFAULT_LN_EPS, Sidecar, VitConfig};
use super::vit::{Block, LayerNorm, Linear, VisionTransformer};
use crate::error::{Error, Result};

/// The tensors of one safetensors file, converted to f32, with the file's name for errors.
pub struct TensorFile {
    path: PathBuf,
    tensors: HashMap<String, (Vec<usize>, Vec<f32>)>,
}

impl TensorFile {
    /// Reads and parses a safetensors file.
    pub fn read(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Self::from_bytes(&bytes, path)
    }

    /// Parses safetensors bytes; `path` names the source in errors.
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Self> {
        let st = SafeTensors::deserialize(bytes).map_err(|e| Error::Checkpoint {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        let mut tensors = HashMap::new();
        for (name, view) in st.tensors() {
            let data = to_f32(view.dtype(), view.data()).ok_or_else(|| Error::TensorDtype {
                path: path.to_path_buf(),
                tensor: name.clone(),
                dtype: format!("{:?}", view.dtype()),
            })?;
            if let Some((index, value)) = data.iter().enumerate().find(|(_, v)| !v.is_finite()) {
                return Err(Error::NonFinite {
                    path: path.to_path_buf(),
                    tensor: name,
                    index,
                    value: *value,
                });
            }
            tensors.insert(name, (view.shape().to_vec(), data));
        }
        Ok(TensorFile {
            path: path.to_path_buf(),
            tensors,
        })
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

    fn missing(&self, name: &str) -> Error {
        Error::MissingTensor {
            path: self.path.clone(),
            tensor: name.to_string(),
        }
    }

    /// The shape of a tensor that the architecture is read from: rank `N`, every size positive
    /// (a zero size would make an empty architecture whose other sizes no data bounds).
    fn dims<const N: usize>(&self, name: &str, expected: &str) -> Result<[usize; N]> {
        let shape = self.shape(name)?;
        match <[usize; N]>::try_from(shape) {
            Ok(dims) if dims.iter().all(|&d| d > 0) => Ok(dims),
            _ => Err(self.shape_error(name, &format!("{expected}, every size positive"))),
        }
    }

    fn shape_error(&self, name: &str, expected: &str) -> Error {
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

/// Converts little-endian tensor bytes of a supported dtype to f32.
fn to_f32(dtype: Dtype, bytes: &[u8]) -> Option<Vec<f32>> {
    match dtype {
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

/// Infers the architecture from the tensor shapes and the sidecar.
pub fn infer_config(file: &TensorFile, sidecar: &Sidecar) -> Result<VitConfig> {
    let path = file.path();
    let [embed_dim, in_chans, ph, pw] = file.dims("patch_embed.proj.weight", "[D, C, Ph, Pw]")?;
    let [one, seq_len, d] = file.dims("pos_embed", "[1, T, D]")?;
    if one != 1 {
        return Err(file.shape_error("pos_embed", "[1, T, D]"));
    }
    if d != embed_dim {
        return Err(file.shape_error("pos_embed", &format!("[1, T, {embed_dim}]")));
    }
    let distilled = file.contains("dist_token");
    let prefix = 1 + usize::from(distilled);
    if seq_len <= prefix {
        return Err(file.shape_error("pos_embed", "[1, T, D] with T above the prefix tokens"));
    }
    let num_patches = seq_len - prefix;

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

    let source = path.display().to_string();
    let bad = |field: &str, reason: String| Error::Config {
        source_name: format!("{source} (sidecar)"),
        field: field.to_string(),
        reason,
    };
    let num_heads = match sidecar.num_heads {
        Some(0) => return Err(bad("num_heads", "must be positive".into())),
        Some(h) => h,
        None if embed_dim % 64 == 0 => embed_dim / 64,
        None => {
            return Err(bad(
                "num_heads",
                format!(
                    "embed_dim {embed_dim} is not a multiple of 64: give num_heads in the sidecar"
                ),
            ));
        }
    };
    if embed_dim % num_heads != 0 {
        return Err(bad(
            "num_heads",
            format!("{num_heads} does not divide embed_dim {embed_dim}"),
        ));
    }
    let img_size = match sidecar.img_size.as_deref() {
        Some([s]) => [*s, *s],
        Some([h, w]) => [*h, *w],
        Some(other) => {
            return Err(bad(
                "img_size",
                format!("needs 1 or 2 values, got {other:?}"),
            ));
        }
        None => {
            let side = (num_patches as f64).sqrt().round() as usize;
            if side * side != num_patches {
                return Err(bad(
                    "img_size",
                    format!("{num_patches} patch tokens are not a square grid: give img_size"),
                ));
            }
            [side * ph, side * pw]
        }
    };
    if img_size[0] % ph != 0
        || img_size[1] % pw != 0
        || (img_size[0] / ph).checked_mul(img_size[1] / pw) != Some(num_patches)
    {
        return Err(bad(
            "img_size",
            format!(
                "{img_size:?} with patch {ph}x{pw} does not give the {num_patches} patch tokens of pos_embed"
            ),
        ));
    }
    let ln_eps = sidecar.layer_norm_eps.unwrap_or(DEFAULT_LN_EPS);
    if !(ln_eps.is_finite() && ln_eps > 0.0) {
        return Err(bad(
            "layer_norm_eps",
            format!("must be positive, got {ln_eps}"),
        ));
    }
    Ok(VitConfig {
        img_size,
        patch_size: [ph, pw],
        in_chans,
        embed_dim,
        depth,
        num_heads,
        mlp_hidden,
        num_classes,
        qkv_bias: depth > 0 && file.contains("blocks.0.attn.qkv.bias"),
        distilled,
        ln_eps,
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
        return Err(Error::Checkpoint {
            path: file.path().to_path_buf(),
            reason: format!(
                "tensor `{extra}` is not part of a timm ViT/DeiT this tool implements \
                 (layer scale, fc_norm, pre-norm and register tokens are not supported)"
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
