//! Calibration time of the whole RepQ-ViT flow (weights, one calibration forward pass with lazy
//! quantizer initialisation, LayerNorm and softmax reparameterization, weight re-initialisation)
//! on a DeiT-S-shaped model (random weights) with 32 random 224x224 images at W4/A4.
//!
//! The target is at most 15 s on the 2-core development machine; the authors' PyTorch
//! code takes 134 s for the same flow there.

use criterion::{Criterion, criterion_group, criterion_main};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use repq_hw::model::random::deit_small_config;
use repq_hw::model::{Model, Preprocess, VisionTransformer};
use repq_hw::quant::{CalibrationInfo, QuantConfig, calibrate};

fn calibrate_deit_s(c: &mut Criterion) {
    let vit = VisionTransformer::random(deit_small_config(), 0);
    let model = Model {
        name: "deit_s_random".into(),
        source: "random".into(),
        net: repq_hw::model::Network::Vit(vit),
        preprocess: Preprocess::default(),
        labels: None,
    };
    let batch = 32;
    let mut rng = StdRng::seed_from_u64(1);
    let images: Vec<f32> = (0..batch * 3 * 224 * 224)
        .map(|_| rng.random_range(-2.0f32..2.5))
        .collect();
    let config = QuantConfig::new(4, 4).expect("W4A4");
    let info = CalibrationInfo {
        source: "random".into(),
        count: batch,
        seed: Some(1),
    };
    let mut group = c.benchmark_group("calibrate");
    group.sample_size(10);
    group.bench_function("deit_s_w4a4_32_images", |b| {
        b.iter(|| calibrate(&model, &images, batch, config, info.clone()).expect("calibrate"))
    });
    group.finish();
}

criterion_group!(benches, calibrate_deit_s);
criterion_main!(benches);
