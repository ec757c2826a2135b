//! The quantized-model artifact: one safetensors file (format `repq-hw-quantized`, version 1),
//! documented in `docs/quantized-format.md`.
//!
//! It holds the reparameterized float model under timm's tensor names, the integer weight codes
//! with their per-output-channel scales and zero points, and every activation quantizer. Loading
//! it gives back a [`QuantizedModel`] whose fake-quant forward is bit-identical to the one that
//! was saved. The bytes are deterministic (sorted header, no hash-map order).

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::Path;

use safetensors::{Dtype, SafeTensors};
use serde::{Deserialize, Serialize};

use super::config::{PATCH_INPUT_BITS, PostLnMode, PostSoftmaxMode, QuantConfig, ZTilde};
use super::layers::{WeightLayer, is_post_ln, parse_site_in, site_name_in, sites_of};
use super::model::{ActQuantizer, CalibrationInfo, QuantizedModel, QuantizedWeight};
use super::quantizer::{Granularity, Log2Reparam, LogBase, LogQuantizer, UniformQuantizer};
use crate::error::{Error, Result};
use crate::model::{Model, Network, Sidecar, Site, SwinConfig, VitConfig};

/// Value of the `format` metadata entry.
pub const FORMAT: &str = "repq-hw-quantized";
/// Value of the `version` metadata entry this build reads and writes.
pub const VERSION: &str = "1";
/// Prefix of every tensor that is not a timm float parameter.
pub const QUANT_PREFIX: &str = "quant.";

/// One activation quantizer as described in the `activations` metadata entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SiteEntry {
    /// `uniform`, `log2`, `log-sqrt2` or `log2-reparam`.
    kind: String,
    bits: u32,
    /// `per-tensor` or `per-channel` (uniform only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    granularity: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CalibrationEntry {
    source: String,
    count: usize,
    #[serde(default)]
    seed: Option<u64>,
}

/// An owned tensor to write.
struct Tensor {
    dtype: Dtype,
    shape: Vec<usize>,
    data: Vec<u8>,
}

fn f32_tensor(shape: Vec<usize>, v: &[f32]) -> Tensor {
    Tensor {
        dtype: Dtype::F32,
        shape,
        data: v.iter().flat_map(|x| x.to_le_bytes()).collect(),
    }
}

fn dtype_name(d: Dtype) -> &'static str {
    match d {
        Dtype::F32 => "F32",
        Dtype::U8 => "U8",
        _ => unreachable!("the artifact writes F32 and U8 only"),
    }
}

/// Serializes tensors and metadata as safetensors with a deterministic header (keys sorted,
/// tensors laid out by name).
fn write_safetensors(
    tensors: &BTreeMap<String, Tensor>,
    metadata: &BTreeMap<String, String>,
) -> Vec<u8> {
    // Largest alignment first, then by name (F32 before U8), as safetensors itself lays out.
    let mut order: Vec<(&String, &Tensor)> = tensors.iter().collect();
    order.sort_by_key(|(n, t)| (t.dtype != Dtype::F32, n.as_str()));
    let mut header = serde_json::Map::new();
    header.insert(
        "__metadata__".into(),
        serde_json::to_value(metadata).expect("string map"),
    );
    let mut offset = 0usize;
    for (name, t) in &order {
        header.insert(
            (*name).clone(),
            serde_json::json!({
                "dtype": dtype_name(t.dtype),
                "shape": t.shape,
                "data_offsets": [offset, offset + t.data.len()],
            }),
        );
        offset += t.data.len();
    }
    // serde_json's Map is a BTreeMap (no preserve_order feature): keys come out sorted.
    let mut text = serde_json::to_string(&header).expect("json").into_bytes();
    text.resize(text.len().next_multiple_of(8), b' ');
    let mut out = Vec::with_capacity(8 + text.len() + offset);
    out.extend((text.len() as u64).to_le_bytes());
    out.extend(text);
    for (_, t) in order {
        out.extend(&t.data);
    }
    out
}

fn weight_prefix(net: &Network, layer: WeightLayer) -> String {
    format!("{QUANT_PREFIX}weight.{}", layer.name_in(net))
}

fn act_prefix(net: &Network, site: Site) -> String {
    format!("{QUANT_PREFIX}act.{}", site_name_in(net, site))
}

impl QuantizedModel {
    /// The artifact bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let net = &self.model.net;
        let mut tensors: BTreeMap<String, Tensor> = BTreeMap::new();

        // The reparameterized float model, timm names.
        let float = net.to_safetensors()?;
        let st = SafeTensors::deserialize(&float).map_err(|e| Error::Invalid(e.to_string()))?;
        for (name, view) in st.tensors() {
            tensors.insert(
                name,
                Tensor {
                    dtype: view.dtype(),
                    shape: view.shape().to_vec(),
                    data: view.data().to_vec(),
                },
            );
        }

        for (layer, w) in &self.weights {
            let lin = layer.linear_in(net).ok_or_else(|| {
                Error::Invalid(format!("the model has no layer {}", layer.name_in(net)))
            })?;
            let p = weight_prefix(net, *layer);
            let rows = lin.out_features;
            tensors.insert(
                format!("{p}.codes"),
                Tensor {
                    dtype: Dtype::U8,
                    shape: layer.weight_shape_in(net, lin),
                    data: w.codes.clone(),
                },
            );
            tensors.insert(
                format!("{p}.scale"),
                f32_tensor(vec![rows], w.quantizer.scales()),
            );
            tensors.insert(
                format!("{p}.zero_point"),
                f32_tensor(vec![rows], w.quantizer.zero_points()),
            );
        }

        let mut sites = BTreeMap::new();
        for (site, q) in &self.activations {
            let p = act_prefix(net, *site);
            let mut entry = SiteEntry {
                kind: q.kind().into(),
                bits: q.bits(),
                granularity: None,
            };
            match q {
                ActQuantizer::Uniform(u) => {
                    let n = u.scales().len();
                    entry.granularity = Some(
                        match u.granularity() {
                            Granularity::PerTensor => "per-tensor",
                            _ => "per-channel",
                        }
                        .into(),
                    );
                    tensors.insert(format!("{p}.scale"), f32_tensor(vec![n], u.scales()));
                    tensors.insert(
                        format!("{p}.zero_point"),
                        f32_tensor(vec![n], u.zero_points()),
                    );
                }
                ActQuantizer::Log(l) => {
                    tensors.insert(format!("{p}.scale"), f32_tensor(vec![1], &[l.scale()]));
                }
                ActQuantizer::Log2Reparam(r) => {
                    tensors.insert(format!("{p}.scale"), f32_tensor(vec![1], &[r.scale()]));
                    tensors.insert(
                        format!("{p}.scale_tilde"),
                        f32_tensor(vec![2], &r.scale_tilde()),
                    );
                }
            }
            sites.insert(site_name_in(net, *site), entry);
        }

        let p = &self.model.preprocess;
        // The fields the shapes cannot tell, and the architecture as JSON.
        let (num_heads, ln_eps, pool, config_json) = match net {
            Network::Vit(v) => (
                Some(v.config.num_heads),
                v.config.ln_eps,
                "token",
                serde_json::to_string(&v.config).expect("serializable"),
            ),
            Network::Swin(m) => (
                None,
                m.config.ln_eps,
                "avg",
                serde_json::to_string(&m.config).expect("serializable"),
            ),
        };
        let sidecar = Sidecar {
            name: Some(self.model.name.clone()),
            num_heads,
            img_size: Some(self.model.img_size().to_vec()),
            layer_norm_eps: Some(ln_eps),
            mean: Some(p.mean.clone()),
            std: Some(p.std.clone()),
            crop_pct: Some(p.crop_pct),
            // The only pooling, crop mode and filter the float model can have (model::spec).
            arch: None,
            global_pool: Some(pool.into()),
            crop_mode: Some("center".into()),
            interpolation: Some("bicubic".into()),
            labels: self.model.labels.clone(),
        };
        let c = &self.config;
        let json = |v: &dyn erased::ToJson| v.to_json();
        let mut meta = BTreeMap::new();
        for (k, v) in [
            ("format", FORMAT.to_string()),
            ("version", VERSION.to_string()),
            ("wbits", c.wbits.to_string()),
            ("abits", c.abits.to_string()),
            ("patch_input_bits", PATCH_INPUT_BITS.to_string()),
            ("post_ln", c.post_ln.to_string()),
            ("post_softmax", c.post_softmax.to_string()),
            ("z_tilde", c.z_tilde.to_string()),
            ("source", self.model.name.clone()),
            ("source_path", self.source_checkpoint.clone()),
            ("sidecar", json(&sidecar)),
            ("config", config_json),
            (
                "calibration",
                json(&CalibrationEntry {
                    source: self.calibration.source.clone(),
                    count: self.calibration.count,
                    seed: self.calibration.seed,
                }),
            ),
            ("activations", json(&sites)),
            ("repq_hw_version", env!("CARGO_PKG_VERSION").to_string()),
        ] {
            meta.insert(k.to_string(), v);
        }
        Ok(write_safetensors(&tensors, &meta))
    }

    /// Writes the artifact to `path`.
    pub fn save(&self, path: &Path) -> Result<()> {
        let bytes = self.to_bytes()?;
        std::fs::write(path, bytes).map_err(|e| Error::io(path, e))
    }

    /// Reads an artifact written by [`save`](Self::save).
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Self::from_bytes(&bytes, path)
    }

    /// Parses artifact bytes; `path` names the file in errors.
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Self> {
        Loader::new(bytes, path)?.load()
    }
}

mod erased {
    /// JSON text of a serializable value (a tiny object-safe wrapper for the metadata table).
    pub trait ToJson {
        fn to_json(&self) -> String;
    }
    impl<T: serde::Serialize> ToJson for T {
        fn to_json(&self) -> String {
            serde_json::to_string(self).expect("serializable")
        }
    }
}

/// Whether `path` is a quantized artifact: a safetensors file whose header metadata has
/// `format = "repq-hw-quantized"` (any version). Reads only the header.
pub fn is_artifact(path: &Path) -> Result<bool> {
    let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    Ok(is_artifact_header(f))
}

/// [`is_artifact`] on any reader: reads the 8-byte header length and at most that many bytes of
/// JSON header (never more than the reader holds, so a length field claiming gigabytes costs
/// nothing), and looks for `__metadata__.format = "repq-hw-quantized"`. Anything unreadable is
/// `false` (the float checkpoint loader then reports what is wrong with the file).
pub fn is_artifact_header(reader: impl Read) -> bool {
    /// safetensors' own limit on the JSON header.
    const MAX_HEADER: u64 = 100_000_000;
    let mut reader = reader;
    let mut len = [0u8; 8];
    if reader.read_exact(&mut len).is_err() {
        return false;
    }
    let n = u64::from_le_bytes(len);
    if n > MAX_HEADER {
        return false;
    }
    let mut header = Vec::new();
    if reader.take(n).read_to_end(&mut header).is_err() || header.len() as u64 != n {
        return false;
    }
    #[derive(Deserialize)]
    struct Header {
        #[serde(rename = "__metadata__")]
        metadata: Option<HashMap<String, String>>,
    }
    serde_json::from_slice::<Header>(&header)
        .ok()
        .and_then(|h| h.metadata)
        .is_some_and(|m| m.get("format").map(String::as_str) == Some(FORMAT))
}

struct Loader<'a> {
    path: &'a Path,
    st: SafeTensors<'a>,
    meta: HashMap<String, String>,
    /// Names of the `quant.` tensors not consumed yet.
    unused: std::collections::BTreeSet<String>,
}

impl<'a> Loader<'a> {
    fn new(bytes: &'a [u8], path: &'a Path) -> Result<Self> {
        let err = |field: &str, reason: String| Error::Artifact {
            path: path.to_path_buf(),
            field: field.into(),
            reason,
        };
        let st = SafeTensors::deserialize(bytes)
            .map_err(|e| err("header", format!("not a valid safetensors file: {e}")))?;
        let (_, header) = SafeTensors::read_metadata(bytes)
            .map_err(|e| err("header", format!("not a valid safetensors file: {e}")))?;
        let meta = header.metadata().clone().unwrap_or_default();
        match meta.get("format") {
            None => {
                return Err(err(
                    "format",
                    format!(
                        "missing: not a repq-hw quantized artifact (a float checkpoint?); expected \"{FORMAT}\""
                    ),
                ));
            }
            Some(f) if f != FORMAT => {
                return Err(err("format", format!("{f:?}, expected \"{FORMAT}\"")));
            }
            Some(_) => {}
        }
        match meta.get("version") {
            Some(v) if v == VERSION => {}
            Some(v) => {
                return Err(err(
                    "version",
                    format!(
                        "{v:?} is not supported: this repq-hw reads version \"{VERSION}\" only"
                    ),
                ));
            }
            None => return Err(err("version", "missing".into())),
        }
        let unused = st
            .names()
            .into_iter()
            .filter(|n| n.starts_with(QUANT_PREFIX))
            .map(|n| n.to_string())
            .collect();
        Ok(Loader {
            path,
            st,
            meta,
            unused,
        })
    }

    fn err(&self, field: &str, reason: impl Into<String>) -> Error {
        Error::Artifact {
            path: self.path.to_path_buf(),
            field: field.into(),
            reason: reason.into(),
        }
    }

    fn meta(&self, field: &str) -> Result<&str> {
        self.meta
            .get(field)
            .map(String::as_str)
            .ok_or_else(|| self.err(field, "missing"))
    }

    fn parse<T: std::str::FromStr>(&self, field: &str) -> Result<T>
    where
        T::Err: std::fmt::Display,
    {
        let v = self.meta(field)?;
        v.parse()
            .map_err(|e| self.err(field, format!("{v:?}: {e}")))
    }

    fn json<T: serde::de::DeserializeOwned>(&self, field: &str) -> Result<T> {
        let v = self.meta(field)?;
        serde_json::from_str(v).map_err(|e| self.err(field, format!("bad JSON: {e}")))
    }

    fn tensor(&mut self, name: &str, dtype: Dtype, shape: &[usize]) -> Result<Vec<u8>> {
        let view = self
            .st
            .tensor(name)
            .map_err(|_| self.err(name, "missing tensor"))?;
        if view.dtype() != dtype {
            return Err(self.err(
                name,
                format!("dtype {:?}, expected {:?}", view.dtype(), dtype),
            ));
        }
        if view.shape() != shape {
            return Err(self.err(
                name,
                format!("shape {:?}, expected {shape:?}", view.shape()),
            ));
        }
        self.unused.remove(name);
        Ok(view.data().to_vec())
    }

    fn f32s(&mut self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let bytes = self.tensor(name, Dtype::F32, shape)?;
        let v: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        if let Some((i, x)) = v.iter().enumerate().find(|(_, x)| !x.is_finite()) {
            return Err(self.err(name, format!("non-finite value {x} at index {i}")));
        }
        Ok(v)
    }

    fn load(mut self) -> Result<QuantizedModel> {
        let wbits: u32 = self.parse("wbits")?;
        let abits: u32 = self.parse("abits")?;
        let config = QuantConfig {
            wbits,
            abits,
            post_ln: self.parse::<PostLnMode>("post_ln")?,
            post_softmax: self.parse::<PostSoftmaxMode>("post_softmax")?,
            z_tilde: self.parse::<ZTilde>("z_tilde")?,
        };
        config
            .validate()
            .map_err(|e| self.err("wbits/abits", e.to_string()))?;
        let patch_bits: u32 = self.parse("patch_input_bits")?;
        if patch_bits != PATCH_INPUT_BITS {
            return Err(self.err(
                "patch_input_bits",
                format!("{patch_bits}, expected {PATCH_INPUT_BITS}"),
            ));
        }
        let mut sidecar: Sidecar = self.json("sidecar")?;
        // Artifacts written before the sidecar stored `global_pool` and `crop_mode` are version
        // "1" too: their float model could only be a class-token ViT with a center crop (the
        // only pooling and crop `quantize` accepted then), so these are not guesses.
        sidecar.global_pool.get_or_insert_with(|| "token".into());
        sidecar.crop_mode.get_or_insert_with(|| "center".into());
        let calibration: CalibrationEntry = self.json("calibration")?;
        let sites: BTreeMap<String, SiteEntry> = self.json("activations")?;

        // The float model: the timm-named tensors, through the checkpoint loader's checks.
        let float: Vec<(String, safetensors::tensor::TensorView<'_>)> = self
            .st
            .tensors()
            .into_iter()
            .filter(|(n, _)| !n.starts_with(QUANT_PREFIX))
            .collect();
        let float_bytes =
            safetensors::serialize(float, None).map_err(|e| self.err("header", e.to_string()))?;
        let mut model = Model::from_bytes(&float_bytes, self.path, &sidecar, None)?;
        let disagree = |stored: &dyn std::fmt::Debug, found: &dyn std::fmt::Debug| {
            self.err(
                "config",
                format!("{stored:?} disagrees with the tensors' architecture {found:?}"),
            )
        };
        match &model.net {
            Network::Vit(v) => {
                let stored: VitConfig = self.json("config")?;
                if v.config != stored {
                    return Err(disagree(&stored, &v.config));
                }
            }
            Network::Swin(m) => {
                let stored: SwinConfig = self.json("config")?;
                if m.config != stored {
                    return Err(disagree(&stored, &m.config));
                }
            }
        }
        if let Some(name) = &sidecar.name {
            model.name = name.clone();
        }
        let net = model.net.clone();

        // Weights.
        let mut weights = BTreeMap::new();
        for layer in WeightLayer::all_of(&net) {
            let p = weight_prefix(&net, layer);
            let lin = layer
                .linear_in(&net)
                .expect("every layer of the architecture exists")
                .clone();
            let rows = lin.out_features;
            let codes = self.tensor(
                &format!("{p}.codes"),
                Dtype::U8,
                &layer.weight_shape_in(&net, &lin),
            )?;
            let scales = self.f32s(&format!("{p}.scale"), &[rows])?;
            let zps = self.f32s(&format!("{p}.zero_point"), &[rows])?;
            let quantizer =
                UniformQuantizer::from_parts(wbits, Granularity::PerRow { rows }, scales, zps)
                    .map_err(|e| self.err(&format!("{p}.scale"), e.to_string()))?;
            if !quantizer.has_integer_zero_points() {
                return Err(self.err(
                    &format!("{p}.zero_point"),
                    "weight zero points must be integers",
                ));
            }
            let qmax = quantizer.qmax();
            if let Some(i) = codes.iter().position(|&c| u32::from(c) > qmax) {
                return Err(self.err(
                    &format!("{p}.codes"),
                    format!(
                        "code {} at index {i} exceeds {qmax} ({wbits} bits)",
                        codes[i]
                    ),
                ));
            }
            // The codes must be the quantization of the stored float weight.
            let expected = quantizer.quantize_codes(&lin.weight)?;
            if let Some(i) = expected.iter().zip(&codes).position(|(a, b)| a != b) {
                return Err(self.err(
                    &format!("{p}.codes"),
                    format!(
                        "code {} at index {i} is not the quantization ({}) of the float weight `{}.weight`",
                        codes[i],
                        expected[i],
                        layer.name_in(&net)
                    ),
                ));
            }
            weights.insert(layer, QuantizedWeight { quantizer, codes });
        }

        // Activations.
        let mut activations = BTreeMap::new();
        for name in sites.keys() {
            if parse_site_in(&net, name).is_none() {
                return Err(self.err("activations", format!("unknown activation site {name:?}")));
            }
        }
        for site in sites_of(&net) {
            let name = site_name_in(&net, site);
            let entry = sites
                .get(&name)
                .ok_or_else(|| self.err("activations", format!("no entry for {name:?}")))?;
            let p = act_prefix(&net, site);
            let field = format!("activations.{name}");
            let q = match entry.kind.as_str() {
                "uniform" => {
                    let n = match entry.granularity.as_deref() {
                        Some("per-tensor") => 1,
                        Some("per-channel") if is_post_ln(site) => {
                            // The width of the layer the site enters.
                            WeightLayer::all_of(&net)
                                .into_iter()
                                .find(|l| l.input_site() == site)
                                .and_then(|l| l.linear_in(&net))
                                .map_or(0, |l| l.in_features)
                        }
                        other => {
                            return Err(self.err(
                                &field,
                                format!("granularity {other:?} is not possible here"),
                            ));
                        }
                    };
                    let g = if n == 1 {
                        Granularity::PerTensor
                    } else {
                        Granularity::PerChannel { channels: n }
                    };
                    let s = self.f32s(&format!("{p}.scale"), &[n])?;
                    let z = self.f32s(&format!("{p}.zero_point"), &[n])?;
                    ActQuantizer::Uniform(
                        UniformQuantizer::from_parts(entry.bits, g, s, z)
                            .map_err(|e| self.err(&field, e.to_string()))?,
                    )
                }
                kind @ ("log2" | "log-sqrt2" | "log2-reparam") => {
                    if !matches!(site, Site::AttnProbs(_)) {
                        return Err(self.err(&field, format!("a {kind} quantizer at {name}")));
                    }
                    let s = self.f32s(&format!("{p}.scale"), &[1])?[0];
                    match kind {
                        "log2" => ActQuantizer::Log(
                            LogQuantizer::new(LogBase::Two, entry.bits, s)
                                .map_err(|e| self.err(&field, e.to_string()))?,
                        ),
                        "log-sqrt2" => ActQuantizer::Log(
                            LogQuantizer::new(LogBase::Sqrt2, entry.bits, s)
                                .map_err(|e| self.err(&field, e.to_string()))?,
                        ),
                        _ => {
                            let r = Log2Reparam::new(entry.bits, s)
                                .map_err(|e| self.err(&field, e.to_string()))?;
                            let st = self.f32s(&format!("{p}.scale_tilde"), &[2])?;
                            if st != r.scale_tilde() {
                                return Err(self.err(
                                    &format!("{p}.scale_tilde"),
                                    format!(
                                        "{st:?}, expected {:?} from the scale",
                                        r.scale_tilde()
                                    ),
                                ));
                            }
                            ActQuantizer::Log2Reparam(r)
                        }
                    }
                }
                other => return Err(self.err(&field, format!("unknown kind {other:?}"))),
            };
            activations.insert(site, q);
        }
        if let Some(extra) = self.unused.iter().next() {
            return Err(self.err(extra, "unknown tensor"));
        }
        let source_checkpoint = self.meta("source_path")?.to_string();
        let mut q = QuantizedModel::new(
            config,
            model,
            weights,
            activations,
            BTreeMap::new(),
            CalibrationInfo {
                source: calibration.source,
                count: calibration.count,
                seed: calibration.seed,
            },
        )?;
        q.source_checkpoint = source_checkpoint;
        Ok(q)
    }
}
