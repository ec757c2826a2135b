//! Verification of generated RTL against golden vectors, with Verilator: the last step of the
//! flow model -> quantize -> integer simulation -> golden vectors -> RTL -> verification.
//!
//! The harnesses in `sim/` (embedded in the binary, [`sources`]) load a golden directory
//! (`repq-hw golden`, docs/golden-vectors.md) directly: they read `manifest.toml` and the hex
//! element files, pack the tensors into the ready/valid streams of the generated design in its
//! documented order, and compare every output element exactly. This module builds them against a
//! generated RTL directory ([`build`]), derives the cases from the golden directory ([`cases`]),
//! runs each case under several seeds with random stream stalls and Verilator's
//! `--x-assign unique --x-initial unique` ([`run`]), and reports ([`report`]).

pub mod build;
pub mod build_dir;
pub mod cases;
pub mod design;
pub mod report;
pub mod run;
pub mod shapes;
pub mod sources;
pub mod swin_cases;
pub mod vit;

pub use build::{
    Harness, HarnessBuild, build_harness, build_harness_checked, build_harness_with,
    verilator_available,
};
pub use build_dir::{cache_dir, default_build_dir, usable_build_dir};
pub use cases::{Case, cases_for};
pub use design::RtlInfo;
pub use report::{CaseResult, Outcome, VerifyReport};
pub use run::{Progress, VerifyOptions, verify};
