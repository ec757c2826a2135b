//! The integer model of either architecture, for the commands that only run it (`eval
//! --integer`): a ViT/DeiT ([`IntModel`]) or a Swin ([`IntSwin`]).

use super::model::{IntModel, Widened};
use super::swin::IntSwin;
use crate::error::Result;
use crate::model::Network;
use crate::quant::model::QuantizedModel;

/// A lowered integer model.
#[derive(Clone, Debug)]
pub enum IntNet {
    Vit(Box<IntModel>),
    Swin(Box<IntSwin>),
}

impl IntNet {
    /// Lowers `q` with `acc_bits`-bit accumulators ([`IntModel::lower`], [`IntSwin::lower`]).
    pub fn lower(q: &QuantizedModel, acc_bits: u32) -> Result<IntNet> {
        Ok(match &q.model.net {
            Network::Vit(_) => IntNet::Vit(Box::new(IntModel::lower(q, acc_bits)?)),
            Network::Swin(_) => IntNet::Swin(Box::new(IntSwin::lower(q, acc_bits)?)),
        })
    }

    /// Dequantized logits for normalized images `[B, C, H, W]`.
    pub fn forward(&self, images: &[f32], batch: usize) -> Result<Vec<f32>> {
        match self {
            IntNet::Vit(m) => m.forward(images, batch),
            IntNet::Swin(m) => m.forward(images, batch),
        }
    }

    /// Quantizers widened to include 0.
    pub fn widened(&self) -> &[Widened] {
        match self {
            IntNet::Vit(m) => &m.widened,
            IntNet::Swin(m) => &m.widened,
        }
    }

    /// `(wbits, abits, acc_bits)`.
    pub fn widths(&self) -> (u32, u32, u32) {
        match self {
            IntNet::Vit(m) => (m.wbits, m.abits, m.acc_bits),
            IntNet::Swin(m) => (m.wbits, m.abits, m.acc_bits),
        }
    }
}
