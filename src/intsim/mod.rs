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

pub use forward::{Capture, CaptureAll, IntTensor, NoCapture};
pub use kernel::Kernel;
pub use linear::{IntLinear, signed_bits};
pub use model::{AccRequirement, IntBlock, IntModel, RESIDUAL_FRAC_BITS, Widened};
