//! The f32 forward against timm's own forward on the same weights and inputs (fixtures made by
//! tools/make_parity_fixtures.py). Bound: max |logit difference| <= 1e-4 * max |logit|.

use std::path::{Path, PathBuf};

use repq_hw::model::Model;
use repq_hw::model::checkpoint::TensorFile;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/parity")
        .join(name)
}

/// Runs the model on the fixture's inputs and returns (max |diff|, max |timm logit|).
fn compare(name: &str) -> (f32, f32) {
    let model = Model::load(&fixture(&format!("{name}.safetensors"))).expect("model loads");
    let io_path = fixture(&format!("{name}_io.safetensors"));
    let mut io = TensorFile::read(&io_path).expect("io fixture");
    let in_shape = io.shape("input").unwrap().to_vec();
    let input = io.take("input", &in_shape).unwrap();
    let out_shape = io.shape("logits").unwrap().to_vec();
    let want = io.take("logits", &out_shape).unwrap();
    let batch = in_shape[0];
    assert!(batch >= 2, "parity needs batch >= 2");
    assert_eq!(out_shape, vec![batch, model.config().unwrap().num_classes]);
    let got = model
        .vit()
        .unwrap()
        .forward(&input, batch)
        .expect("forward");
    let diff = got
        .iter()
        .zip(&want)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    let scale = want.iter().map(|v| v.abs()).fold(0.0f32, f32::max);
    (diff, scale)
}

fn assert_parity(name: &str) {
    let (diff, scale) = compare(name);
    eprintln!(
        "{name}: max |diff| {diff:.3e}, max |logit| {scale:.3e}, ratio {:.3e}",
        diff / scale
    );
    assert!(scale > 0.0);
    assert!(
        diff <= 1e-4 * scale,
        "{name}: max |diff| {diff} > 1e-4 * {scale}"
    );
}

#[test]
fn deit_tiny_f16_matches_timm() {
    assert_parity("deit_tiny");
}

#[test]
fn odd_vit_bf16_non_square_matches_timm() {
    assert_parity("vit_odd");
}

#[test]
fn distilled_deit_f32_matches_timm() {
    assert_parity("deit_distilled");
}

#[test]
fn architecture_is_inferred_from_shapes() {
    let m = Model::load(&fixture("vit_odd.safetensors")).unwrap();
    let c = m.config().unwrap();
    assert_eq!(c.img_size, [48, 80]);
    assert_eq!(c.patch_size, [8, 8]);
    assert_eq!(
        (c.embed_dim, c.depth, c.num_heads, c.mlp_hidden),
        (120, 3, 5, 360)
    );
    assert_eq!(c.num_classes, 17);
    assert!(!c.qkv_bias);
    let t = Model::load(&fixture("deit_tiny.safetensors")).unwrap();
    let c = t.config().unwrap();
    assert_eq!(
        (c.embed_dim, c.depth, c.num_heads, c.seq_len()),
        (192, 12, 3, 197)
    );
    assert_eq!(t.vit().unwrap().num_params(), 5_717_416); // timm's count for deit_tiny_patch16_224
    let d = Model::load(&fixture("deit_distilled.safetensors")).unwrap();
    assert!(d.config().unwrap().distilled);
    assert_eq!(d.config().unwrap().seq_len(), 2 + 16);
}
