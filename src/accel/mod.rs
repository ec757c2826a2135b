//! The memory image `repq_vit` runs (docs/accelerator.md): commands, parameter and weight beats
//! in the engine's DMA formats, and the tensors they read and write. [`image::ImageBuilder`]
//! lowers linear layers (U1 + U2, with the residual, GELU or plain output stages) into commands
//! for a given array shape; what is lowered so far is listed in docs/accelerator.md.

pub mod attention;
pub mod image;

pub use attention::{AttnConsts, AttnScratch};
pub use image::{AccelImage, ImageBuilder, LinearOut, Region};
