//! What to quantize and how: bit widths and the quantizer choices of the paper's ablations
//! (Tables 3 and 4).

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

/// Bit width of the image entering the patch embedding (REFERENCE.md section 1: 8 bits, per
/// tensor, whatever the activation bit width).
pub const PATCH_INPUT_BITS: u32 = 8;

/// Smallest supported weight / activation bit width.
pub const MIN_BITS: u32 = crate::quant::quantizer::uniform::MIN_BITS;
/// Largest supported weight / activation bit width (codes are stored as u8).
pub const MAX_BITS: u32 = crate::quant::quantizer::uniform::MAX_BITS;

/// Quantizer of the post-LayerNorm activations X' (qkv input) and Y' (fc1 input), paper Table 3.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum PostLnMode {
    /// One (s, z) per tensor from the start (hardware friendly, inaccurate).
    LayerWise,
    /// One (s, z) per channel, kept for inference (accurate, not hardware friendly).
    ChannelWise,
    /// Channel-wise during calibration, then reparameterized to per tensor (Sec. 3.2, Eq. 13-17).
    Reparam,
}

/// Quantizer of the post-Softmax attention probabilities, paper Table 4.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum PostSoftmaxMode {
    /// Plain log2 (Eq. 10-11).
    Log2,
    /// log-sqrt2 (Sec. 3.3), not bit-shift friendly.
    LogSqrt2,
    /// log-sqrt2 calibrated, then inferred as log2 codes with a parity bit (Eq. 18-20).
    Reparam,
}

/// How the layer-wise zero point `z~` of the LayerNorm reparameterization is chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum ZTilde {
    /// `z~ = E[z]`, left fractional, as the authors' reference code does (at b bits the
    /// reparameterized quantizer then has `2^b + 1` levels).
    Mean,
    /// `z~ = round(E[z])` (half to even), chosen before `r2 = z - z~` is computed, so the
    /// reparameterization is exact in codes (the paper's `z~ in Z`); what an integer datapath needs.
    Round,
}

macro_rules! names {
    ($ty:ty, $what:literal, $($v:ident => $s:literal),+) => {
        impl $ty {
            /// The name used on the command line and in the artifact metadata.
            pub fn as_str(&self) -> &'static str {
                match self { $(Self::$v => $s),+ }
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl FromStr for $ty {
            type Err = String;
            fn from_str(s: &str) -> std::result::Result<Self, String> {
                match s {
                    $($s => Ok(Self::$v),)+
                    other => Err(format!(
                        concat!("unknown ", $what, " {:?} (expected one of: {})"),
                        other,
                        [$($s),+].join(", ")
                    )),
                }
            }
        }
    };
}

names!(PostLnMode, "post-LayerNorm mode", LayerWise => "layer-wise", ChannelWise => "channel-wise", Reparam => "reparam");
names!(PostSoftmaxMode, "post-Softmax mode", Log2 => "log2", LogSqrt2 => "log-sqrt2", Reparam => "reparam");
names!(ZTilde, "z~ mode", Mean => "mean", Round => "round");

/// A quantization recipe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct QuantConfig {
    /// Weight bit width (every Linear and the patch-embedding convolution), 2..=8.
    pub wbits: u32,
    /// Activation bit width (every quantized activation but the 8-bit image), 2..=8.
    pub abits: u32,
    pub post_ln: PostLnMode,
    pub post_softmax: PostSoftmaxMode,
    pub z_tilde: ZTilde,
}

impl QuantConfig {
    /// RepQ-ViT as the reference code runs it (reparameterized post-LN and post-Softmax
    /// quantizers, fractional `z~`) at `wbits`/`abits`; fails on unsupported bit widths.
    pub fn new(wbits: u32, abits: u32) -> Result<Self> {
        let c = QuantConfig {
            wbits,
            abits,
            post_ln: PostLnMode::Reparam,
            post_softmax: PostSoftmaxMode::Reparam,
            z_tilde: ZTilde::Mean,
        };
        c.validate()?;
        Ok(c)
    }

    pub fn with_post_ln(mut self, m: PostLnMode) -> Self {
        self.post_ln = m;
        self
    }

    pub fn with_post_softmax(mut self, m: PostSoftmaxMode) -> Self {
        self.post_softmax = m;
        self
    }

    pub fn with_z_tilde(mut self, m: ZTilde) -> Self {
        self.z_tilde = m;
        self
    }

    /// Checks the bit widths (a [`Error::Config`] naming `--wbits` / `--abits`).
    pub fn validate(&self) -> Result<()> {
        for (field, bits) in [("--wbits", self.wbits), ("--abits", self.abits)] {
            if !(MIN_BITS..=MAX_BITS).contains(&bits) {
                return Err(Error::Config {
                    source_name: "quantization config".into(),
                    field: field.into(),
                    reason: format!("{bits} bits is not supported (use {MIN_BITS}..={MAX_BITS})"),
                });
            }
        }
        Ok(())
    }

    /// `W4A4`-style label, with the non-default modes appended.
    pub fn label(&self) -> String {
        let mut s = format!("W{}A{}", self.wbits, self.abits);
        if self.post_ln != PostLnMode::Reparam {
            s += &format!(" post-LN {}", self.post_ln);
        }
        if self.post_softmax != PostSoftmaxMode::Reparam {
            s += &format!(" post-softmax {}", self.post_softmax);
        }
        if self.z_tilde != ZTilde::Mean {
            s += &format!(" z~ {}", self.z_tilde);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_bits_are_checked() {
        for m in [
            PostLnMode::LayerWise,
            PostLnMode::ChannelWise,
            PostLnMode::Reparam,
        ] {
            assert_eq!(m.as_str().parse::<PostLnMode>().unwrap(), m);
        }
        for m in [
            PostSoftmaxMode::Log2,
            PostSoftmaxMode::LogSqrt2,
            PostSoftmaxMode::Reparam,
        ] {
            assert_eq!(m.as_str().parse::<PostSoftmaxMode>().unwrap(), m);
        }
        assert!("log3".parse::<PostSoftmaxMode>().is_err());
        assert!(QuantConfig::new(4, 4).is_ok());
        assert!(QuantConfig::new(2, 8).is_ok());
        let e = QuantConfig::new(9, 4).unwrap_err().to_string();
        assert!(e.contains("--wbits") && e.contains('9'), "{e}");
        let e = QuantConfig::new(4, 1).unwrap_err().to_string();
        assert!(e.contains("--abits"), "{e}");
        assert_eq!(QuantConfig::new(4, 4).unwrap().label(), "W4A4");
    }
}
