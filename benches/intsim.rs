//! The bit-accurate integer forward beside the f32 forward, in the same run: a DeiT-S-shaped model
//! (random weights) quantized at W8A8 (calibrated on 8 random images), batch 8. The integer
//! forward runs with the fastest kernels the CPU has (`Kernel::detect`) and with the portable
//! ones; both use rayon over the images, as the f32 forward uses it inside its GEMMs.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use repq_hw::intsim::{IntModel, Kernel};
use repq_hw::model::random::deit_small_config;
use repq_hw::model::{Model, Preprocess, VisionTransformer};
use repq_hw::quant::{CalibrationInfo, QuantConfig, calibrate};

fn integer_vs_f32(c: &mut Criterion) {
    let vit = VisionTransformer::random(deit_small_config(), 0);
    let model = Model {
        name: "deit_s_random".into(),
        source: "random".into(),
        net: repq_hw::model::Network::Vit(vit),
        preprocess: Preprocess::default(),
        labels: None,
    };
    let batch = 8;
    let mut rng = StdRng::seed_from_u64(1);
    let images: Vec<f32> = (0..batch * 3 * 224 * 224)
        .map(|_| rng.random_range(-2.0f32..2.5))
        .collect();
    let info = CalibrationInfo {
        source: "random".into(),
        count: batch,
        seed: Some(1),
    };
    let q = calibrate(
        &model,
        &images,
        batch,
        QuantConfig::new(8, 8).unwrap(),
        info,
    )
    .expect("calibrate");
    let int = IntModel::lower(&q, 32).expect("lower");
    let codes = int.quantize_input(&images);
    let mut group = c.benchmark_group("deit_s_batch8");
    group.sample_size(10);
    group.throughput(Throughput::Elements(batch as u64));
    group.bench_function("f32_forward", |b| {
        b.iter(|| {
            model
                .vit()
                .unwrap()
                .forward(&images, batch)
                .expect("forward")
        })
    });
    group.bench_function("integer_w8a8_forward", |b| {
        b.iter(|| int.forward_codes(&codes, batch).expect("forward"))
    });
    // The same integers without SIMD kernels (the portable path the AVX2 one is tested against).
    group.bench_function("integer_w8a8_forward_portable", |b| {
        b.iter(|| {
            int.forward_codes_with(Kernel::Portable, &codes, batch)
                .expect("forward")
        })
    });
    group.finish();
}

criterion_group!(benches, integer_vs_f32);
criterion_main!(benches);
