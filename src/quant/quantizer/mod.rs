//! The quantizers of RepQ-ViT (paper Sec. 3.1 and 3.3) in floating point, as the authors'
//! reference code simulates them (REFERENCE.md section 1): quantize, then dequantize.
//!
//! * [`UniformQuantizer`] (Eq. 7-9): asymmetric uniform, per tensor, per channel or per row, with
//!   the reference's percentile / mean-squared-error initialisation ([`search`]).
//! * [`SymmetricQuantizer`]: signed symmetric uniform for weights (a documented deviation).
//! * [`LogQuantizer`] (Eq. 10-11 and the log-sqrt2 quantizer of Sec. 3.3) and its reparameterized
//!   log2-with-parity form [`Log2Reparam`] (Eq. 18-20).
//! * [`quantile`](mod@quantile): `torch.quantile` semantics by selection, used by all initialisations.
//!
//! Inputs are flat row-major f32 slices; a [`Granularity`] says which elements share a scale.
//! Inputs are expected finite (checked upstream); non-finite values never cause a panic.

pub mod granularity;
pub mod log;
pub mod num;
pub mod quantile;
pub mod search;
pub mod symmetric;
pub mod uniform;

#[cfg(test)]
mod testutil;
#[cfg(test)]
mod timing;
#[cfg(test)]
mod torch_fixture;

pub use granularity::Granularity;
pub use log::{Log2Reparam, LogBase, LogCode, LogQuantizer, ODD_FACTOR, ShiftCode};
pub use num::round_half_even;
pub use quantile::{quantile, quantiles, quantiles_in_place};
pub use search::{PERCENTILES, pick_best};
pub use symmetric::SymmetricQuantizer;
pub use uniform::{DEGENERATE_SCALE, UniformQuantizer};
