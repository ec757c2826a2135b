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

// ---------------------------------------------------------------------------------------------
// RepQ-ViT on Swin (REFERENCE.md section 5).

use repq_hw::model::{ActivationHook, Site};
use repq_hw::quant::{
    ActQuantizer, CalibrationInfo, PostLnMode, PostSoftmaxMode, QuantConfig, QuantizedModel,
    WeightLayer, calibrate,
};

/// The fixture's timm inputs (standard normal images) and their count.
fn io_images(name: &str) -> (Vec<f32>, usize) {
    let mut io = TensorFile::read(&fixture(&format!("{name}_io.safetensors"))).unwrap();
    let shape = io.shape("input").unwrap().to_vec();
    (io.take("input", &shape).unwrap(), shape[0])
}

/// `n` calibration images: the fixture's inputs, each also mirrored and scaled, so the
/// quantizers see more than the evaluated batch.
fn calib_images(name: &str) -> (Vec<f32>, usize) {
    let (x, b) = io_images(name);
    let mut v = x.clone();
    v.extend(x.iter().rev().map(|e| 0.7 * e));
    (v, 2 * b)
}

fn quantize(model: &Model, name: &str, c: QuantConfig) -> QuantizedModel {
    let (x, n) = calib_images(name);
    calibrate(
        model,
        &x,
        n,
        c,
        CalibrationInfo {
            source: "fixture inputs".into(),
            count: n,
            seed: None,
        },
    )
    .expect("calibrates")
}

/// max |a - b| / max |b|.
fn rel(a: &[f32], b: &[f32]) -> f32 {
    let d = a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()));
    d / b.iter().fold(0f32, |m, v| m.max(v.abs()))
}

#[test]
fn reparameterized_swin_float_model_equals_the_original() {
    // Eq. 15-17 change norm1/qkv, norm2/fc1 and downsample.norm/reduction without changing the
    // function the float model computes (on grids of whole windows: see the next test).
    let m = tiny();
    let (x, n) = io_images("tiny");
    let want = m.forward(&x, n).unwrap();
    let q = quantize(&m, "tiny", QuantConfig::new(4, 4).unwrap());
    let blocks = 2 + 2 + 6 + 2;
    assert_eq!(
        q.ln_reparams.len(),
        2 * blocks + 3,
        "norm1, norm2, three PatchMergings"
    );
    for s in 1..4 {
        assert!(q.ln_reparams.contains_key(&Site::ReductionInput(s)));
    }
    let (Network::Swin(a), Network::Swin(b)) = (&q.model.net, &m.net) else {
        panic!("not Swin")
    };
    // The parameters really changed, and the bias-free reduction got its Eq. 17 bias.
    let (da, db) = (
        a.layers[1].downsample.as_ref().unwrap(),
        b.layers[1].downsample.as_ref().unwrap(),
    );
    assert_ne!(da.norm.gamma, db.norm.gamma);
    assert!(db.reduction.bias.is_none() && da.reduction.bias.is_some());
    assert_ne!(
        a.layers[0].blocks[1].fc1.weight,
        b.layers[0].blocks[1].fc1.weight
    );
    let got = q.model.forward(&x, n).unwrap();
    let r = rel(&got, &want);
    eprintln!("reparameterized float vs float: {r:.2e} of max |logit|");
    assert!(r < 1e-4, "{r}");
}

/// Records the sites in the order the forward reaches them.
struct Order(Vec<Site>);

impl ActivationHook for Order {
    fn activation(&mut self, site: Site, _x: &mut [f32], _channels: usize) {
        if !self.0.contains(&site) {
            self.0.push(site);
        }
    }
}

#[test]
fn swin_fake_quant_follows_the_reference_and_approaches_float_with_bits() {
    let m = tiny();
    let (x, n) = io_images("tiny");
    let want = m.forward(&x, n).unwrap();
    let mut errs = Vec::new();
    for bits in [8, 6, 4] {
        let q = quantize(&m, "tiny", QuantConfig::new(bits, bits).unwrap());
        // Every site in forward order, the PatchMerging inputs included; the probabilities
        // through log-sqrt2 in its log2 form, the post-LN inputs per tensor after the reparam.
        let mut order = Order(Vec::new());
        q.forward_with(&x, n, &mut order).unwrap();
        assert_eq!(order.0, repq_hw::quant::layers::sites_of(&q.model.net));
        assert!(order.0.contains(&Site::ReductionInput(3)));
        assert!(matches!(
            q.activations[&Site::AttnProbs(11)],
            ActQuantizer::Log2Reparam(_)
        ));
        assert!(q.weights.contains_key(&WeightLayer::Reduction(2)));
        let got = q.forward(&x, n).unwrap();
        errs.push(rel(&got, &want));
    }
    eprintln!(
        "fake-quant vs float (max |diff| / max |logit|): W8A8 {:.3}, W6A6 {:.3}, W4A4 {:.3}",
        errs[0], errs[1], errs[2]
    );
    assert!(errs[0] < 0.1, "{errs:?}");
    assert!(errs[0] < errs[1] && errs[1] < errs[2], "{errs:?}");
}

#[test]
fn the_scale_on_q_comes_before_its_quantizer() {
    // REFERENCE section 5: the per-tensor q quantizer sees q * D_h^-1/2. With the scale applied
    // after the product (the ViT order) the quantizer would see q itself, whose range is
    // sqrt(D_h) = 4 times wider here.
    struct Q(Vec<f32>);
    impl ActivationHook for Q {
        fn activation(&mut self, site: Site, x: &mut [f32], _c: usize) {
            if site == Site::Query(0) {
                self.0 = x.to_vec();
            }
        }
    }
    let m = odd();
    let (x, n) = io_images("odd");
    let mut hook = Q(Vec::new());
    m.net.forward_with(&x, n, &mut hook).unwrap();
    let Network::Swin(s) = &m.net else { panic!() };
    let blk = &s.layers[0].blocks[0];
    let patches_q: f32 = hook.0.iter().fold(0f32, |a, v| a.max(v.abs()));
    // The unscaled q of the same tokens: the qkv output's first A channels.
    let w = &blk.attn.qkv;
    let a = s.config.stages[0].attn_dim();
    let mut unscaled = 0f32;
    let mut cap = Vec::new();
    struct In<'a>(&'a mut Vec<f32>);
    impl ActivationHook for In<'_> {
        fn activation(&mut self, site: Site, x: &mut [f32], _c: usize) {
            if site == Site::QkvInput(0) {
                *self.0 = x.to_vec();
            }
        }
    }
    m.net.forward_with(&x, n, &mut In(&mut cap)).unwrap();
    let c = w.in_features;
    for row in cap.chunks_exact(c) {
        for o in 0..a {
            let v: f32 = row.iter().zip(w.row(o)).map(|(p, q)| p * q).sum();
            unscaled = unscaled.max(v.abs());
        }
    }
    let ratio = unscaled / patches_q;
    assert!((ratio - 8f32.sqrt()).abs() < 1e-3, "{ratio}");
}

#[test]
fn a_swin_artifact_round_trips_and_the_vit_integer_model_refuses_it() {
    let m = tiny();
    let q = quantize(
        &m,
        "tiny",
        QuantConfig::new(6, 6)
            .unwrap()
            .with_post_ln(PostLnMode::Reparam)
            .with_post_softmax(PostSoftmaxMode::Reparam),
    );
    let bytes = q.to_bytes().unwrap();
    let back = QuantizedModel::from_bytes(&bytes, Path::new("tiny_w6a6.safetensors")).unwrap();
    let (x, n) = io_images("tiny");
    let a = q.forward(&x, n).unwrap();
    let b = back.forward(&x, n).unwrap();
    assert!(a.iter().zip(&b).all(|(u, v)| u.to_bits() == v.to_bits()));
    // The artifact names Swin's layers as timm does.
    let text = String::from_utf8_lossy(&bytes[..4096.min(bytes.len())]).into_owned()
        + &String::from_utf8_lossy(&bytes);
    assert!(text.contains("quant.weight.layers.2.downsample.reduction.codes"));
    assert!(text.contains("layers.2.blocks.5.attn.probs"));
    // The ViT integer model refuses, naming what is missing (no panic); Swin's is IntSwin.
    for e in [
        repq_hw::intsim::IntModel::lower(&back, 32)
            .map(|_| ())
            .unwrap_err(),
        back.vit_config().map(|_| ()).unwrap_err(),
    ] {
        let msg = e.to_string();
        assert!(matches!(e, Error::Unsupported { .. }), "{msg}");
        assert!(
            msg.contains("Swin") && msg.contains("ViT/DeiT only for now"),
            "{msg}"
        );
    }
}

#[test]
fn padded_swin_grids_refuse_the_ln_reparameterization_but_quantize_channel_wise() {
    // odd's stage grids 20x28, 10x14 and 5x7 are zero-padded to whole 5x5 windows. Reparameterizing
    // norm1 would turn those zeros into other values (measured: 4.8% of max |logit| on the
    // float model), so the reparam is refused, naming the stage; the channel-wise and
    // layer-wise quantizers, which leave the model as it is, work.
    let m = odd();
    let (x, n) = calib_images("odd");
    let info = CalibrationInfo {
        source: "fixture inputs".into(),
        count: n,
        seed: None,
    };
    let e = calibrate(&m, &x, n, QuantConfig::new(4, 4).unwrap(), info.clone()).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, Error::Unsupported { .. }), "{msg}");
    assert!(
        msg.contains("stage 0") && msg.contains("--post-ln"),
        "{msg}"
    );
    for mode in [PostLnMode::ChannelWise, PostLnMode::LayerWise] {
        let c = QuantConfig::new(8, 8).unwrap().with_post_ln(mode);
        let q = calibrate(&m, &x, n, c, info.clone()).unwrap();
        let (xi, ni) = io_images("odd");
        let r = rel(&q.forward(&xi, ni).unwrap(), &m.forward(&xi, ni).unwrap());
        eprintln!("odd W8A8 {mode:?}: {r:.3} of max |logit|");
        assert!(r < 0.2, "{mode:?}: {r}");
    }
}
