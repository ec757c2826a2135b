//! Swin Transformer (v1): the f32 forward against timm's on the same weights and inputs
//! (fixtures by tools/make_swin_parity_fixtures.py; bound max |logit difference| <= 1e-4 *
//! max |logit|), the architecture read off shapes and config.json, and SwinV2 refused by name.

use std::path::{Path, PathBuf};

use repq_hw::error::Error;
use repq_hw::model::checkpoint::TensorFile;
use repq_hw::model::{Model, Network, Sidecar};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/swin")
        .join(name)
}

fn tiny() -> Model {
    Model::load(&fixture("tiny/model.safetensors")).expect("tiny loads")
}

fn odd() -> Model {
    Model::load(&fixture("odd/odd.pth")).expect("odd loads")
}

/// (max |diff|, max |timm logit|) of the model's logits on the fixture's inputs.
fn compare(model: &Model, io: &str) -> (f32, f32) {
    let mut io = TensorFile::read(&fixture(io)).expect("io fixture");
    let in_shape = io.shape("input").unwrap().to_vec();
    let input = io.take("input", &in_shape).unwrap();
    let out_shape = io.shape("logits").unwrap().to_vec();
    let want = io.take("logits", &out_shape).unwrap();
    let batch = in_shape[0];
    assert!(batch >= 2, "parity needs batch >= 2");
    assert_eq!(out_shape, vec![batch, model.num_classes()]);
    let got = model.forward(&input, batch).expect("forward");
    let diff = got
        .iter()
        .zip(&want)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    let scale = want.iter().map(|v| v.abs()).fold(0.0f32, f32::max);
    (diff, scale)
}

fn assert_parity(name: &str, model: &Model) {
    let (diff, scale) = compare(model, &format!("{name}_io.safetensors"));
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
fn swin_tiny_topology_f16_hub_layout_matches_timm() {
    assert_parity("tiny", &tiny());
}

#[test]
fn odd_swin_bf16_pth_with_padding_and_one_axis_shift_matches_timm() {
    assert_parity("odd", &odd());
}

#[test]
fn architecture_is_read_off_shapes_and_config_json() {
    let m = tiny();
    let Network::Swin(s) = &m.net else {
        panic!("not Swin")
    };
    let c = &s.config;
    assert_eq!(c.img_size, [224, 224]);
    assert_eq!(c.patch_size, [4, 4]);
    assert_eq!(c.ln_eps, 1e-5);
    let dims: Vec<_> = c.stages.iter().map(|s| s.dim).collect();
    let depths: Vec<_> = c.stages.iter().map(|s| s.depth).collect();
    let heads: Vec<_> = c.stages.iter().map(|s| s.num_heads).collect();
    let res: Vec<_> = c.stages.iter().map(|s| s.resolution).collect();
    let shifts: Vec<_> = c.stages.iter().map(|s| s.shift).collect();
    assert_eq!(dims, [16, 32, 64, 128]);
    assert_eq!(depths, [2, 2, 6, 2]);
    assert_eq!(heads, [1, 2, 4, 8]);
    assert_eq!(res, [[56, 56], [28, 28], [14, 14], [7, 7]]);
    assert!(c.stages.iter().all(|s| s.window == [7, 7]));
    assert_eq!(shifts, [[3, 3], [3, 3], [3, 3], [0, 0]]);
    assert_eq!(m.net.num_params(), 782_456); // timm's count (the script prints it)
    assert_eq!(m.preprocess.crop_pct, 0.9);

    let m = odd();
    let Network::Swin(s) = &m.net else {
        panic!("not Swin")
    };
    let c = &s.config;
    assert_eq!(c.img_size, [40, 56]);
    assert!(!c.qkv_bias);
    let res: Vec<_> = c.stages.iter().map(|s| s.resolution).collect();
    assert_eq!(res, [[20, 28], [10, 14], [5, 7]]);
    // The last stage's 5x7 grid fits one window along H only: shifted along W alone.
    assert_eq!(c.stages[2].window, [5, 5]);
    assert_eq!(c.stages[2].shift, [0, 2]);
    assert_eq!(c.stages[0].head_dim, 8);
    assert_eq!(c.stages[0].attn_dim(), 16);
    assert_eq!(m.net.num_params(), 70_576);
}

#[test]
fn a_swin_model_round_trips_through_safetensors() {
    let m = odd();
    let bytes = m.net.to_safetensors().unwrap();
    let sidecar = Sidecar::parse(
        &std::fs::read_to_string(fixture("odd/odd.toml")).unwrap(),
        &fixture("odd/odd.toml"),
    )
    .unwrap();
    let again = Model::from_bytes(&bytes, Path::new("again.safetensors"), &sidecar, None).unwrap();
    assert_eq!(again.net, m.net);
}

/// The tiny fixture's tensors plus `extra`, as safetensors bytes.
fn tiny_with(extra: &[(&str, Vec<usize>)]) -> Vec<u8> {
    let bytes = std::fs::read(fixture("tiny/model.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let data: Vec<(String, Vec<usize>, Vec<u8>)> = extra
        .iter()
        .map(|(n, s)| {
            let len: usize = s.iter().product();
            (n.to_string(), s.clone(), vec![0u8; 4 * len])
        })
        .collect();
    let mut views: Vec<(String, safetensors::tensor::TensorView<'_>)> = st
        .tensors()
        .into_iter()
        .map(|(n, v)| (n.to_string(), v))
        .collect();
    for (n, s, d) in &data {
        views.push((
            n.clone(),
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), d).unwrap(),
        ));
    }
    safetensors::serialize(views, None).unwrap()
}

#[test]
fn swin_v2_checkpoints_are_refused_by_name() {
    let sidecar = Sidecar::parse(
        "img_size = [224]\nlayer_norm_eps = 1e-5\nglobal_pool = \"avg\"\nmean = [0.5, 0.5, 0.5]\n\
         std = [0.5, 0.5, 0.5]\ncrop_pct = 0.9\ncrop_mode = \"center\"\n\
         interpolation = \"bicubic\"\n",
        Path::new("v2.toml"),
    )
    .unwrap();
    // Before: the plain tiny tensors load with this sidecar.
    let plain = tiny_with(&[]);
    assert!(Model::from_bytes(&plain, Path::new("v1.safetensors"), &sidecar, None).is_ok());
    for (tensor, shape) in [
        ("layers.0.blocks.0.attn.logit_scale", vec![1, 1, 1]),
        ("layers.0.blocks.0.attn.cpb_mlp.0.weight", vec![512, 2]),
    ] {
        let bytes = tiny_with(&[(tensor, shape)]);
        let e = Model::from_bytes(&bytes, Path::new("v2.safetensors"), &sidecar, None)
            .expect_err("SwinV2 is refused");
        let msg = e.to_string();
        assert!(matches!(e, Error::Unsupported { .. }), "{msg}");
        assert!(msg.contains("SwinV2") && msg.contains(tensor), "{msg}");
    }
    // A config.json naming a SwinV2 architecture.
    let d = std::env::temp_dir().join(format!("repq-swinv2-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("model.safetensors"), &plain).unwrap();
    let cfg = std::fs::read_to_string(fixture("tiny/config.json"))
        .unwrap()
        .replace("swin_tiny_patch4_window7_224", "swinv2_tiny_window8_256");
    std::fs::write(d.join("config.json"), cfg).unwrap();
    let e = Model::load(&d.join("model.safetensors")).expect_err("SwinV2 config is refused");
    std::fs::remove_dir_all(&d).unwrap();
    let msg = e.to_string();
    assert!(
        matches!(e, Error::Unsupported { .. }) && msg.contains("SwinV2"),
        "{msg}"
    );
}

#[test]
fn a_config_json_disagreeing_with_the_tensors_is_an_error_naming_the_field() {
    let d = std::env::temp_dir().join(format!("repq-swin-heads-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    std::fs::copy(
        fixture("tiny/model.safetensors"),
        d.join("model.safetensors"),
    )
    .unwrap();
    let mut cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("tiny/config.json")).unwrap())
            .unwrap();
    cfg["model_args"]["num_heads"] = serde_json::json!([3, 6, 12, 24]);
    std::fs::write(d.join("config.json"), cfg.to_string()).unwrap();
    let e = Model::load(&d.join("model.safetensors")).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("num_heads") && msg.contains("relative_position_bias_table"),
        "{msg}"
    );
    cfg["model_args"]["num_heads"] = serde_json::json!([1, 2, 4, 8]);
    cfg["model_args"]["window_size"] = serde_json::json!(8);
    std::fs::write(d.join("config.json"), cfg.to_string()).unwrap();
    let e = Model::load(&d.join("model.safetensors")).unwrap_err();
    std::fs::remove_dir_all(&d).unwrap();
    assert!(e.to_string().contains("window_size"), "{e}");
}
