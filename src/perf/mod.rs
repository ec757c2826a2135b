//! Cycle model of the generated accelerator (`repq-hw perf`): how many clock cycles the RTL of
//! [`crate::rtl`] takes for a matmul job or a whole forward pass, with every stream always
//! valid and ready.
//!
//! * [`job_cycles`]: one `M x K x N` job on `repq_top` (the tiled weight-stationary array with
//!   bias and requantization), exactly as the harness `sim/top.cpp` counts it: from the cycle
//!   after the `start` pulse to the cycle `done` is high. It replays the top's scheduling rules pass by
//!   pass ([`array`]); tests/perf_rtl.rs checks it against Verilator for many shapes and
//!   configurations.
//! * [`av_cycles`]: attention x V of one head on `repq_shift_av` (U4), one beat per key and
//!   `C` value lanes ([`shift_av`]).
//! * [`vit_workload`]: the matmuls of one ViT/DeiT forward pass ([`workload`]), and
//!   [`evaluate`]: their cycles and utilization on a design, run back to back ([`report`]);
//!   [`swin_workload`]: the same for a Swin ([`swin`]).
//!
//! * [`layernorm_cycles`], [`softmax_cycles`], [`av_requant_cycles`], [`gelu_cycles`],
//!   [`residual_cycles`]: the row and element units ([`units`]): LayerNorm, softmax (the log2
//!   codes stream behind it at one beat per cycle), the `A x V` outputs into the proj input, GELU
//!   with its table load, the residual additions.
//!
//! Jobs run one after the other (no overlap between units) and the host's transfers cost
//! nothing. docs/performance.md has the model, its exactness and figures.

pub mod array;
pub mod engine;
pub mod report;
pub mod shift_av;
pub mod swin;
pub mod units;
pub mod workload;

pub use array::job_cycles;
pub use engine::{EngineCycles, engine_cycles};
pub use report::{Evaluated, OpCycles, evaluate};
pub use shift_av::av_cycles;
pub use swin::swin_workload;
pub use units::{
    av_requant_cycles, gelu_cycles, layernorm_cycles, residual_cycles, softmax_cycles,
};
pub use workload::{Op, Unit, vit_workload};
