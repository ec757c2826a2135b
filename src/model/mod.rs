//! The float model: timm ViT/DeiT checkpoints, their architecture, and an f32 forward equal to
//! timm's.

pub mod checkpoint;
pub mod config;
pub mod vit;

pub use config::{Preprocess, Sidecar, VitConfig};
pub use vit::{Block, LayerNorm, Linear, VisionTransformer};
