//! The float model: timm ViT/DeiT and Swin Transformer checkpoints, their architecture, and an
//! f32 forward equal to timm's.

pub mod checkpoint;
pub mod config;
pub mod forward;
pub mod hub;
pub mod ops;
pub mod pth;
pub mod random;
pub mod spec;
pub mod swin;
pub mod swin_forward;
pub mod swin_load;
pub mod swin_spec;
pub mod timm_table;
pub mod vit;

use std::path::{Path, PathBuf};

pub use config::{Preprocess, Sidecar, VitConfig};
pub use forward::{ActivationHook, NoHook, Site};
pub use spec::FieldReport;
pub use swin::{SwinConfig, SwinTransformer};
pub use vit::{Block, LayerNorm, Linear, VisionTransformer};

use crate::error::Result;
use checkpoint::TensorFile;
use spec::Layer;

/// The network of a loaded model: one of the architectures this tool implements.
#[derive(Clone, Debug, PartialEq)]
pub enum Network {
    /// A ViT or DeiT (class token, global attention).
    Vit(VisionTransformer),
    /// A Swin Transformer v1 (windowed attention, hierarchical stages, average pooling).
    Swin(SwinTransformer),
}

impl Network {
    /// Logits `[batch, num_classes]` for normalized images `[batch, C, H, W]`.
    pub fn forward(&self, images: &[f32], batch: usize) -> Result<Vec<f32>> {
        self.forward_with(images, batch, &mut NoHook)
    }

    /// The forward pass with `hook` called at every [`Site`], in forward order.
    pub fn forward_with(
        &self,
        images: &[f32],
        batch: usize,
        hook: &mut dyn ActivationHook,
    ) -> Result<Vec<f32>> {
        match self {
            Network::Vit(v) => v.forward_with(images, batch, hook),
            Network::Swin(s) => s.forward_with(images, batch, hook),
        }
    }

    /// Input `[H, W]` in pixels.
    pub fn img_size(&self) -> [usize; 2] {
        match self {
            Network::Vit(v) => v.config.img_size,
            Network::Swin(s) => s.config.img_size,
        }
    }

    /// Input channels.
    pub fn in_chans(&self) -> usize {
        match self {
            Network::Vit(v) => v.config.in_chans,
            Network::Swin(s) => s.config.in_chans,
        }
    }

    /// Classifier outputs.
    pub fn num_classes(&self) -> usize {
        match self {
            Network::Vit(v) => v.config.num_classes,
            Network::Swin(s) => s.config.num_classes,
        }
    }

    /// Number of parameters, as timm counts them.
    pub fn num_params(&self) -> usize {
        match self {
            Network::Vit(v) => v.num_params(),
            Network::Swin(s) => s.num_params(),
        }
    }

    /// The family's name for messages (`ViT/DeiT`, `Swin`).
    pub fn family(&self) -> &'static str {
        match self {
            Network::Vit(_) => "ViT/DeiT",
            Network::Swin(_) => "Swin",
        }
    }

    /// Safetensors bytes with timm's names (f32).
    pub fn to_safetensors(&self) -> Result<Vec<u8>> {
        match self {
            Network::Vit(v) => checkpoint::to_safetensors(v),
            Network::Swin(s) => swin_load::to_safetensors(s),
        }
    }
}

/// A loaded model: the network, how to preprocess its inputs, and its class names.
#[derive(Clone, Debug)]
pub struct Model {
    /// A short name for reports (sidecar `name`, else the file stem).
    pub name: String,
    /// Where it came from (a path, or `<embedded>`).
    pub source: PathBuf,
    pub net: Network,
    pub preprocess: Preprocess,
    /// Class names in output order, if the sidecar gives them.
    pub labels: Option<Vec<String>>,
}

/// How to load a checkpoint beyond the file itself: the command line's model options.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LoadOptions {
    /// Fields given on the command line (`--arch`, `--num-heads`, ...), overriding every file.
    pub overrides: Sidecar,
    /// Read the EMA weights of a PyTorch training checkpoint.
    pub ema: bool,
    /// Do not read a `config.json` beside the checkpoint.
    pub no_config_json: bool,
}

/// A loaded model with the account of how it was put together.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub model: Model,
    /// The timm name the model's fields came from, if any.
    pub arch: Option<String>,
    /// Every field with its value and origin (for `info`).
    pub fields: Vec<FieldReport>,
    /// What was skipped or renamed while reading (one line each, for stderr).
    pub notes: Vec<String>,
    /// The config.json and sidecar that were read.
    pub read: Vec<PathBuf>,
}

impl Model {
    /// Loads a checkpoint (safetensors or PyTorch) with the `config.json` and sidecar
    /// `MODEL.toml` beside it, if present.
    pub fn load(path: &Path) -> Result<Self> {
        Ok(Self::open(path, &LoadOptions::default())?.model)
    }

    /// Loads a checkpoint (safetensors or PyTorch) with what is beside it and the
    /// command-line `options`, keeping the account of where each field came from.
    pub fn open(path: &Path, options: &LoadOptions) -> Result<Loaded> {
        let file = TensorFile::open(path, options.ema)?;
        let mut layers = Vec::new();
        let mut read = Vec::new();
        if !options.no_config_json
            && let Some(cfg) = hub::beside(path)
        {
            layers.extend(hub::read(&cfg)?);
            read.push(cfg);
        }
        let sidecar = Sidecar::beside(path)?;
        let sidecar_hint = path.with_extension("toml").display().to_string();
        if let Some((s, p)) = &sidecar {
            let origin = format!("sidecar {}", p.display());
            layers.extend(s.layers(&|_| origin.clone(), &p.display().to_string())?);
            read.push(p.clone());
        }
        layers.extend(options.overrides.layers(&cli_origin, "command line")?);
        let name = sidecar
            .as_ref()
            .and_then(|(s, _)| s.name.clone())
            .unwrap_or_else(|| default_name(path));
        let mut loaded = Self::assemble(file, layers, path, &sidecar_hint, name)?;
        loaded.read = read;
        Ok(loaded)
    }

    /// Builds a model from safetensors bytes and a sidecar (the only source of the fields the
    /// shapes do not prove); `source` names the checkpoint in errors.
    pub fn from_bytes(
        bytes: &[u8],
        source: &Path,
        sidecar: &Sidecar,
        sidecar_path: Option<&Path>,
    ) -> Result<Self> {
        Ok(Self::from_bytes_loaded(bytes, source, sidecar, sidecar_path)?.model)
    }

    /// [`Model::from_bytes`], keeping the account of where each field came from.
    pub fn from_bytes_loaded(
        bytes: &[u8],
        source: &Path,
        sidecar: &Sidecar,
        sidecar_path: Option<&Path>,
    ) -> Result<Loaded> {
        let file = TensorFile::from_bytes(bytes, source)?;
        let sidecar_name = sidecar_path.unwrap_or(source).display().to_string();
        let origin = format!("sidecar {sidecar_name}");
        let layers = sidecar.layers(&|_| origin.clone(), &sidecar_name)?;
        let name = sidecar.name.clone().unwrap_or_else(|| default_name(source));
        let hint = source.with_extension("toml").display().to_string();
        let mut loaded = Self::assemble(file, layers, source, &hint, name)?;
        loaded.read = sidecar_path.map(Path::to_path_buf).into_iter().collect();
        Ok(loaded)
    }

    fn assemble(
        mut file: TensorFile,
        layers: Vec<Layer>,
        source: &Path,
        sidecar_hint: &str,
        name: String,
    ) -> Result<Loaded> {
        let mut merged = Layer::default();
        for l in layers {
            merged.overlay(l);
        }
        if swin_load::is_swin(&file) {
            swin_load::normalize_names(&mut file);
            let shapes = swin_load::infer_shapes(&file)?;
            let r =
                swin_spec::resolve(merged, &shapes, &source.display().to_string(), sidecar_hint)?;
            let notes = file.notes().to_vec();
            let swin = swin_load::build(file, r.config)?;
            return Ok(Loaded {
                model: Model {
                    name,
                    source: source.to_path_buf(),
                    net: Network::Swin(swin),
                    preprocess: r.preprocess,
                    labels: r.labels,
                },
                arch: r.arch,
                fields: r.fields,
                notes,
                read: Vec::new(),
            });
        }
        let shapes = checkpoint::infer_shapes(&file)?;
        let resolved = spec::resolve(merged, &shapes, &source.display().to_string(), sidecar_hint)?;
        let notes = file.notes().to_vec();
        let vit = checkpoint::build(file, resolved.config)?;
        Ok(Loaded {
            model: Model {
                name,
                source: source.to_path_buf(),
                net: Network::Vit(vit),
                preprocess: resolved.preprocess,
                labels: resolved.labels,
            },
            arch: resolved.arch,
            fields: resolved.fields,
            notes,
            read: Vec::new(),
        })
    }

    /// The ViT/DeiT network, if the model is one.
    pub fn vit(&self) -> Option<&VisionTransformer> {
        match &self.net {
            Network::Vit(v) => Some(v),
            Network::Swin(_) => None,
        }
    }

    /// Mutable access to the ViT/DeiT network, if the model is one.
    pub fn vit_mut(&mut self) -> Option<&mut VisionTransformer> {
        match &mut self.net {
            Network::Vit(v) => Some(v),
            Network::Swin(_) => None,
        }
    }

    /// The Swin network, if the model is one.
    pub fn swin(&self) -> Option<&SwinTransformer> {
        match &self.net {
            Network::Swin(s) => Some(s),
            Network::Vit(_) => None,
        }
    }

    /// The ViT/DeiT architecture, if the model is one.
    pub fn config(&self) -> Option<&VitConfig> {
        self.vit().map(|v| &v.config)
    }

    /// Input `[H, W]` in pixels.
    pub fn img_size(&self) -> [usize; 2] {
        self.net.img_size()
    }

    /// Classifier outputs.
    pub fn num_classes(&self) -> usize {
        self.net.num_classes()
    }

    /// Logits `[batch, num_classes]` of the float network for normalized images.
    pub fn forward(&self, images: &[f32], batch: usize) -> Result<Vec<f32>> {
        self.net.forward(images, batch)
    }
}

/// The origin of a command-line field: its option.
fn cli_origin(field: &str) -> String {
    match field {
        "layer_norm_eps" => "--layer-norm-eps".into(),
        f => format!("--{}", f.replace('_', "-")),
    }
}

/// The file stem, or the directory's name for timm's hub file names (`model.safetensors`,
/// `pytorch_model.bin`), which say nothing.
fn default_name(path: &Path) -> String {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".into());
    if matches!(stem.as_str(), "model" | "pytorch_model")
        && let Some(dir) = path.canonicalize().ok().and_then(|p| {
            p.parent()
                .and_then(|d| d.file_name())
                .map(|d| d.to_string_lossy().into_owned())
        })
    {
        return dir;
    }
    stem
}
