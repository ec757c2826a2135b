//! RepQ-ViT post-training quantization (paper Sec. 3): the quantizers, calibration, and the scale
//! reparameterizations of post-LayerNorm and post-Softmax activations.
//!
//! * [`quantizer`]: the uniform, log2, log-sqrt2 and reparameterized log2 quantizers (Eq. 7-11,
//!   18-20) with the reference code's percentile/MSE initialisation;
//! * [`reparam`]: the LayerNorm scale reparameterization (Eq. 13-17);
//! * [`calibrate`]: the calibration flow (Algorithm 1) producing a [`QuantizedModel`];
//! * [`model`]: the quantized model and its fake-quant forward;
//! * [`artifact`]: the versioned safetensors file `repq-hw quantize` writes
//!   (docs/quantized-format.md);
//! * [`config`]: bit widths and the ablation modes of the paper's Tables 3 and 4;
//! * [`zero_range`]: the integer model's rule for quantizers whose range does not hold 0.
pub mod artifact;
pub mod calibrate;
pub mod config;
pub mod fastlog;
pub mod layers;
pub mod model;
pub mod quantizer;
pub mod reparam;
pub mod tails;
pub mod zero_range;

pub use artifact::is_artifact;
pub use calibrate::calibrate;
pub use config::{PostLnMode, PostSoftmaxMode, QuantConfig, ZTilde};
pub use layers::{WeightLayer, all_sites, parse_site, site_name};
pub use model::{ActQuantizer, CalibrationInfo, PostLnReparam, QuantizedModel, QuantizedWeight};
