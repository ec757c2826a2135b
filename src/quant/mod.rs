//! RepQ-ViT post-training quantization (paper Sec. 3): the quantizers, calibration, and the scale
//! reparameterizations of post-LayerNorm and post-Softmax activations.
pub mod quantizer;
pub mod reparam;
