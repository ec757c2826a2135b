//! f32 forward throughput on a DeiT-S-shaped model (random weights), batch 8.
//! Compare with `tools/bench_pytorch.py` on the same machine.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use repq_hw::model::VisionTransformer;
use repq_hw::model::random::deit_small_config;

fn forward_deit_s(c: &mut Criterion) {
    let model = VisionTransformer::random(deit_small_config(), 0);
    let batch = 8;
    let input: Vec<f32> = (0..batch * 3 * 224 * 224)
        .map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0)
        .collect();
    let mut group = c.benchmark_group("f32_forward");
    group.sample_size(10);
    group.throughput(Throughput::Elements(batch as u64));
    group.bench_function("deit_s_batch8", |b| {
        b.iter(|| model.forward(&input, batch).expect("forward"))
    });
    group.finish();
}

criterion_group!(benches, forward_deit_s);
criterion_main!(benches);
