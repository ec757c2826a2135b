//! The weights of a timm ViT/DeiT, in the layout the forward pass uses.

use super::config::VitConfig;

/// A fully connected layer `y = x W^T + b`, with `W` stored as timm stores it: `[out, in]`,
/// row-major (one row per output channel).
#[derive(Clone, Debug, PartialEq)]
pub struct Linear {
    pub out_features: usize,
    pub in_features: usize,
    /// `[out_features, in_features]`, row-major.
    pub weight: Vec<f32>,
    /// `[out_features]`, if the layer has a bias.
    pub bias: Option<Vec<f32>>,
}

impl Linear {
    /// Row `o` of the weight: the input weights of output channel `o`.
    pub fn row(&self, o: usize) -> &[f32] {
        &self.weight[o * self.in_features..(o + 1) * self.in_features]
    }

    /// Parameter count.
    pub fn num_params(&self) -> usize {
        self.weight.len() + self.bias.as_ref().map_or(0, Vec::len)
    }
}

/// LayerNorm over the last dimension with affine factors gamma and beta (paper Eq. 12).
#[derive(Clone, Debug, PartialEq)]
pub struct LayerNorm {
    pub gamma: Vec<f32>,
    pub beta: Vec<f32>,
    pub eps: f32,
}

impl LayerNorm {
    pub fn num_params(&self) -> usize {
        self.gamma.len() + self.beta.len()
    }
}

/// One transformer block (paper Eq. 1-6).
#[derive(Clone, Debug, PartialEq)]
pub struct Block {
    pub norm1: LayerNorm,
    /// `[3D, D]`: rows 0..D produce q, D..2D k, 2D..3D v; within each, head-major.
    pub qkv: Linear,
    pub proj: Linear,
    pub norm2: LayerNorm,
    pub fc1: Linear,
    pub fc2: Linear,
}

impl Block {
    pub fn num_params(&self) -> usize {
        self.norm1.num_params()
            + self.qkv.num_params()
            + self.proj.num_params()
            + self.norm2.num_params()
            + self.fc1.num_params()
            + self.fc2.num_params()
    }
}

/// A ViT/DeiT classifier.
#[derive(Clone, Debug, PartialEq)]
pub struct VisionTransformer {
    pub config: VitConfig,
    /// The patch-embedding convolution as a linear map over flattened patches: `[D, C*Ph*Pw]`,
    /// input order (channel, row, column) like the convolution weight `[D, C, Ph, Pw]`.
    pub patch_embed: Linear,
    /// `[D]`.
    pub cls_token: Vec<f32>,
    /// `[D]`, distilled DeiT only.
    pub dist_token: Option<Vec<f32>>,
    /// `[T, D]`, prefix tokens first.
    pub pos_embed: Vec<f32>,
    pub blocks: Vec<Block>,
    /// The final LayerNorm before the head.
    pub norm: LayerNorm,
    pub head: Linear,
    /// Distilled DeiT's second head; in evaluation the two heads' logits are averaged.
    pub head_dist: Option<Linear>,
}

impl VisionTransformer {
    /// Number of parameters, as timm counts them.
    pub fn num_params(&self) -> usize {
        self.patch_embed.num_params()
            + self.cls_token.len()
            + self.dist_token.as_ref().map_or(0, Vec::len)
            + self.pos_embed.len()
            + self.blocks.iter().map(Block::num_params).sum::<usize>()
            + self.norm.num_params()
            + self.head.num_params()
            + self.head_dist.as_ref().map_or(0, Linear::num_params)
    }
}
