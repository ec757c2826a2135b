//! The float model: timm ViT/DeiT checkpoints, their architecture, and an f32 forward equal to
//! timm's.

pub mod checkpoint;
pub mod config;
pub mod forward;
pub mod ops;
pub mod random;
pub mod vit;

use std::path::{Path, PathBuf};

pub use config::{Preprocess, Sidecar, VitConfig};
pub use forward::{ActivationHook, NoHook, Site};
pub use vit::{Block, LayerNorm, Linear, VisionTransformer};

use crate::error::{Error, Result};

/// A loaded model: the network, how to preprocess its inputs, and its class names.
#[derive(Clone, Debug)]
pub struct Model {
    /// A short name for reports (sidecar `name`, else the file stem).
    pub name: String,
    /// Where it came from (a path, or `<embedded>`).
    pub source: PathBuf,
    pub vit: VisionTransformer,
    pub preprocess: Preprocess,
    /// Class names in output order, if the sidecar gives them.
    pub labels: Option<Vec<String>>,
}

impl Model {
    /// Loads `MODEL.safetensors` and the optional sidecar `MODEL.toml` beside it.
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let sidecar = Sidecar::beside(path)?;
        let (sidecar, sidecar_path) = match sidecar {
            Some((s, p)) => (s, Some(p)),
            None => (Sidecar::default(), None),
        };
        Self::from_bytes(&bytes, path, &sidecar, sidecar_path.as_deref())
    }

    /// Builds a model from safetensors bytes and a sidecar; `source` names the checkpoint in errors.
    pub fn from_bytes(
        bytes: &[u8],
        source: &Path,
        sidecar: &Sidecar,
        sidecar_path: Option<&Path>,
    ) -> Result<Self> {
        let file = checkpoint::TensorFile::from_bytes(bytes, source)?;
        let config = checkpoint::infer_config(&file, sidecar)?;
        let sidecar_name = sidecar_path.unwrap_or(source).display().to_string();
        let preprocess = sidecar.preprocess(config.in_chans, &sidecar_name)?;
        if let Some(labels) = &sidecar.labels
            && labels.len() != config.num_classes
        {
            return Err(Error::Config {
                source_name: sidecar_name,
                field: "labels".into(),
                reason: format!(
                    "{} names for a head of {} classes",
                    labels.len(),
                    config.num_classes
                ),
            });
        }
        let vit = checkpoint::build(file, config)?;
        let name = sidecar.name.clone().unwrap_or_else(|| {
            source
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "model".into())
        });
        Ok(Model {
            name,
            source: source.to_path_buf(),
            vit,
            preprocess,
            labels: sidecar.labels.clone(),
        })
    }

    /// The architecture.
    pub fn config(&self) -> &VitConfig {
        &self.vit.config
    }
}
