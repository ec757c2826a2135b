//! The layer program (docs/layer-program.md): an integer model as the memory image a driver
//! loads into the accelerator, one descriptor per operation with the parameter blobs it reads,
//! and the reference executor that runs such an image with the units of `src/arith`.
//!
//! Data flow: `intsim` -> `program` (this module reads an [`crate::intsim::IntModel`], nothing
//! downstream).

pub mod emit;
pub mod exec;
pub mod format;

pub use emit::Program;
pub use exec::execute;
