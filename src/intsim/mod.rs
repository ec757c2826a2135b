//! The bit-accurate integer simulator: the quantized model of [`crate::quant`] lowered to the
//! integer constants of `docs/arithmetic.md` ([`lower`]), checked against the operand and field
//! widths of the hardware once ([`check`]), and run with integers only ([`forward`]).
//! This is the definition the generated RTL and the golden vectors are checked against.

pub mod check;
pub mod forward;
pub mod kernel;
pub mod linear;
pub mod lower;
pub mod model;
pub mod net;
pub mod swin;
pub mod swin_forward;

pub use forward::{Capture, CaptureAll, IntTensor, NoCapture};
pub use kernel::Kernel;
pub use linear::{IntLinear, signed_bits};
pub use model::{AccRequirement, IntBlock, IntModel, RESIDUAL_FRAC_BITS, Widened};
pub use net::IntNet;
pub use swin::{IntMerge, IntSwin, IntSwinBlock};
