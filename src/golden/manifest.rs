//! `manifest.toml` of a golden-vector directory (docs/golden-vectors.md): where the vectors came
//! from, the datapath constants, and one `[[file]]` entry per element file with its tensor name,
//! shape, element type, order and real scale.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path};

use serde::{Deserialize, Serialize};

use super::hex;
use crate::error::{Error, Result};

/// The `format` value of every manifest.
pub const FORMAT: &str = "repq-hw-golden";
/// The manifest layout this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// The file name of the manifest inside the directory.
pub const MANIFEST: &str = "manifest.toml";
/// The one element order of this format version.
pub const ROW_MAJOR: &str = "row-major";

/// The whole manifest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// [`FORMAT_VERSION`].
    pub format_version: u32,
    /// `CARGO_PKG_VERSION` of the repq-hw that wrote the directory.
    pub repq_hw_version: String,
    /// The command line, shell-quoted, program name written as `repq-hw`.
    pub command: String,
    /// The same as a list of arguments.
    pub argv: Vec<String>,
    /// `model` (one image through a quantized model), `random` (`repq-hw golden --random`
    /// unit-test vectors) or `unit` (vectors a test wrote for one harness, any tensors).
    pub mode: String,
    /// Named integer constants of the datapath (docs/arithmetic.md).
    pub constants: BTreeMap<String, i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<ModelInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub random: Option<RandomInfo>,
    /// Every element file, in the order they were produced (parameters, then the forward pass).
    #[serde(rename = "file", default)]
    pub files: Vec<FileEntry>,
}

/// The quantized model of a `model` directory.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelInfo {
    pub name: String,
    /// The float checkpoint that was quantized (a path, or the embedded model's name).
    pub checkpoint: String,
    /// The artifact given with `--model`, or `calibrated on the fly (...)`.
    pub quantized: String,
    pub wbits: u32,
    pub abits: u32,
    pub acc_bits: u32,
    pub post_ln: String,
    pub post_softmax: String,
    pub z_tilde: String,
    pub img_size: [usize; 2],
    pub in_chans: usize,
    pub patch_size: [usize; 2],
    pub embed_dim: usize,
    pub depth: usize,
    pub num_heads: usize,
    pub mlp_hidden: usize,
    pub tokens: usize,
    pub prefix_tokens: usize,
    pub num_classes: usize,
    /// The image quantizer: real image value `input_scale * (code - input_zero_point)`.
    pub input_scale: f64,
    pub input_zero_point: i64,
    pub input_bits: u32,
}

/// The image of a `model` directory.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageInfo {
    /// `embedded test split` or the file given with `--image`.
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<usize>,
    /// `[width, height]` of the decoded image before the eval transform.
    pub original_size: [usize; 2],
    /// The integer model's top-1 class.
    pub predicted: usize,
}

/// The parameters of a `random` directory.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RandomInfo {
    pub seed: u64,
    /// `[M, K, N]`.
    pub shape: [usize; 3],
    pub wbits: u32,
    pub abits: u32,
    pub acc_bits: u32,
    /// `F` of the shift attention unit's vectors.
    pub av_fraction_bits: u32,
    /// The real log-sqrt2 scale `s` behind each parameter set of the code unit's vectors.
    pub logcode_scales: Vec<f64>,
}

/// One element file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// Relative to the directory, `/`-separated.
    pub path: String,
    /// Tensor name (`blocks.0.attn.qkv.acc`, `blocks.0.attn.qkv.w`, `matmul.out`).
    pub name: String,
    /// `activation` (computed for this image or these inputs) or `parameter` (a constant of the
    /// model or the unit).
    pub kind: String,
    pub shape: Vec<usize>,
    /// Element width in bits (1..=64).
    pub bits: u32,
    /// Two's complement when true.
    pub signed: bool,
    /// `ceil(bits / 4)`: the digits on every line.
    pub digits: usize,
    /// The product of `shape`: the number of lines.
    pub elements: usize,
    /// Always [`ROW_MAJOR`]: the last index varies fastest.
    pub order: String,
    /// The real value of one LSB, when the tensor has one scale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<f64>,
    /// The real zero point (code of real 0), when the tensor has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zero_point: Option<f64>,
    /// Per-channel scales along the last axis (one per index of `shape[-1]`), when the real value
    /// of an element depends on its column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_scales: Option<Vec<f64>>,
    /// What the elements are.
    pub description: String,
}

impl FileEntry {
    pub fn layout(&self) -> hex::Layout {
        hex::Layout {
            shape: self.shape.clone(),
            bits: self.bits,
            signed: self.signed,
        }
    }

    /// `s9`, `u17`.
    pub fn type_name(&self) -> String {
        hex::type_name(self.bits, self.signed)
    }
}

/// Only what every format version has: read first, so that another version gets a clear error
/// instead of a field-by-field complaint.
#[derive(Deserialize)]
struct Header {
    format: Option<String>,
    format_version: Option<toml::Value>,
}

fn bad(path: &Path, reason: String) -> Error {
    Error::Toml {
        path: path.to_path_buf(),
        reason,
    }
}

impl Manifest {
    /// The activation code bits the vectors were written for (the model's, or the random
    /// vectors'); `None` for a directory of neither.
    pub fn abits(&self) -> Option<u32> {
        match (&self.model, &self.random) {
            (Some(m), _) => Some(m.abits),
            (_, Some(r)) => Some(r.abits),
            _ => None,
        }
    }

    /// The TOML text.
    pub fn to_toml(&self) -> Result<String> {
        toml::to_string(self).map_err(|e| Error::Invalid(format!("manifest: {e}")))
    }

    /// Parses and checks a manifest; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Manifest> {
        let header: Header = toml::from_str(text).map_err(|e| bad(path, e.to_string()))?;
        match header.format.as_deref() {
            Some(FORMAT) => {}
            Some(other) => {
                return Err(bad(
                    path,
                    format!("format {other:?} is not a golden-vector manifest ({FORMAT:?})"),
                ));
            }
            None => {
                return Err(bad(
                    path,
                    format!("no `format` field (expected {FORMAT:?})"),
                ));
            }
        }
        match header.format_version {
            Some(toml::Value::Integer(v)) if v == i64::from(FORMAT_VERSION) => {}
            Some(v) => {
                return Err(bad(
                    path,
                    format!(
                        "unknown format_version {v}: this repq-hw ({}) reads version \
                         {FORMAT_VERSION}",
                        env!("CARGO_PKG_VERSION")
                    ),
                ));
            }
            None => return Err(bad(path, "no `format_version` field".into())),
        }
        let m: Manifest = toml::from_str(text).map_err(|e| bad(path, e.to_string()))?;
        m.check(path)?;
        Ok(m)
    }

    /// Checks every entry: a safe relative path, unique, a supported width, the digit and element
    /// counts consistent with the width and shape.
    pub fn check(&self, path: &Path) -> Result<()> {
        if !matches!(self.mode.as_str(), "model" | "swin" | "random" | "unit") {
            return Err(bad(
                path,
                format!(
                    "mode {:?}: expected \"model\", \"swin\", \"random\" or \"unit\"",
                    self.mode
                ),
            ));
        }
        let mut seen = BTreeSet::new();
        for f in &self.files {
            let e = |reason: String| bad(path, format!("file {:?}: {reason}", f.path));
            let rel = Path::new(&f.path);
            if f.path.is_empty()
                || f.path.contains('\\')
                || !rel.components().all(|c| matches!(c, Component::Normal(_)))
            {
                return Err(e("must be a relative path inside the directory".into()));
            }
            if f.path == MANIFEST {
                return Err(e("is the manifest itself".into()));
            }
            if !seen.insert(f.path.as_str()) {
                return Err(e("listed twice".into()));
            }
            if !(1..=hex::MAX_BITS).contains(&f.bits) {
                return Err(e(format!(
                    "bits = {} outside 1..={}",
                    f.bits,
                    hex::MAX_BITS
                )));
            }
            if f.digits != hex::digits(f.bits) {
                return Err(e(format!(
                    "digits = {} but a {}-bit element has {}",
                    f.digits,
                    f.bits,
                    hex::digits(f.bits)
                )));
            }
            let n = f
                .shape
                .iter()
                .try_fold(1usize, |a, &d| a.checked_mul(d))
                .ok_or_else(|| e(format!("shape {:?} overflows", f.shape)))?;
            if f.elements != n {
                return Err(e(format!(
                    "elements = {} but shape {:?} has {n}",
                    f.elements, f.shape
                )));
            }
            if f.order != ROW_MAJOR {
                return Err(e(format!(
                    "order {:?}: only {ROW_MAJOR:?} is defined",
                    f.order
                )));
            }
            if !matches!(f.kind.as_str(), "activation" | "parameter") {
                return Err(e(format!(
                    "kind {:?}: expected \"activation\" or \"parameter\"",
                    f.kind
                )));
            }
            if let Some(cs) = &f.channel_scales
                && Some(&cs.len()) != f.shape.last()
            {
                return Err(e(format!(
                    "{} channel_scales for a last axis of {:?}",
                    cs.len(),
                    f.shape.last()
                )));
            }
        }
        Ok(())
    }

    /// The entry of tensor `name`.
    pub fn entry(&self, name: &str) -> Option<&FileEntry> {
        self.files.iter().find(|f| f.name == name)
    }
}
