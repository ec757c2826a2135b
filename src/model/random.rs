//! Randomly initialised models for benchmarks and tests (timm-like scales: weights N(0, 0.02),
//! small biases, LayerNorm gamma near 1), reproducible from a seed.

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use super::config::{DEFAULT_LN_EPS, VitConfig};
use super::vit::{Block, LayerNorm, Linear, VisionTransformer};

/// The architecture of timm's `deit_small_patch16_224`.
pub fn deit_small_config() -> VitConfig {
    VitConfig {
        img_size: [224, 224],
        patch_size: [16, 16],
        in_chans: 3,
        embed_dim: 384,
        depth: 12,
        num_heads: 6,
        mlp_hidden: 1536,
        num_classes: 1000,
        qkv_bias: true,
        distilled: false,
        ln_eps: DEFAULT_LN_EPS,
    }
}

struct Gauss(StdRng);

impl Gauss {
    /// A standard normal sample (Box-Muller).
    fn sample(&mut self) -> f32 {
        let u1: f64 = self.0.random::<f64>().max(f64::MIN_POSITIVE);
        let u2: f64 = self.0.random::<f64>();
        ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
    }

    fn vec(&mut self, n: usize, mean: f32, std: f32) -> Vec<f32> {
        (0..n).map(|_| mean + std * self.sample()).collect()
    }

    fn linear(&mut self, out: usize, inp: usize, bias: bool) -> Linear {
        Linear {
            out_features: out,
            in_features: inp,
            weight: self.vec(out * inp, 0.0, 0.02),
            bias: bias.then(|| self.vec(out, 0.0, 0.02)),
        }
    }

    fn norm(&mut self, d: usize, eps: f32) -> LayerNorm {
        LayerNorm {
            gamma: self.vec(d, 1.0, 0.1),
            beta: self.vec(d, 0.0, 0.05),
            eps,
        }
    }
}

impl VisionTransformer {
    /// A model of architecture `config` with random weights drawn from `seed`.
    pub fn random(config: VitConfig, seed: u64) -> Self {
        let mut g = Gauss(StdRng::seed_from_u64(seed));
        let d = config.embed_dim;
        let eps = config.ln_eps;
        let blocks = (0..config.depth)
            .map(|_| Block {
                norm1: g.norm(d, eps),
                qkv: g.linear(3 * d, d, config.qkv_bias),
                proj: g.linear(d, d, true),
                norm2: g.norm(d, eps),
                fc1: g.linear(config.mlp_hidden, d, true),
                fc2: g.linear(d, config.mlp_hidden, true),
            })
            .collect();
        VisionTransformer {
            patch_embed: g.linear(d, config.patch_len(), true),
            cls_token: g.vec(d, 0.0, 0.02),
            dist_token: config.distilled.then(|| g.vec(d, 0.0, 0.02)),
            pos_embed: g.vec(config.seq_len() * d, 0.0, 0.02),
            blocks,
            norm: g.norm(d, eps),
            head: g.linear(config.num_classes, d, true),
            head_dist: config
                .distilled
                .then(|| g.linear(config.num_classes, d, true)),
            config,
        }
    }
}
