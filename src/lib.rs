//! repq-hw: RepQ-ViT post-training quantization of vision transformers, a bit-accurate integer
//! simulator, golden vectors, and generated Verilog verified against that simulator.
//!
//! The module tree follows the data: [`model`] (checkpoints and the f32 forward) ->
//! [`data`] (images and preprocessing) -> quantization -> integer simulation -> golden vectors ->
//! RTL -> verification, and [`report`], which looks at all of them.

pub mod accel;
pub mod arith;
pub mod cli;
pub mod data;
pub mod demo;
pub mod error;
pub mod eval;
#[doc(hidden)]
pub mod fuzzing;
pub mod golden;
pub mod intsim;
pub mod model;
pub mod npy;
pub mod perf;
pub mod program;
pub mod progress;
pub mod quant;
pub mod report;
pub mod rtl;
pub mod tensor;
pub mod verify;

pub use error::{Error, Result};
