//! RepQ-ViT quantization of the embedded demo model: the LayerNorm reparameterization (Eq. 13-17)
//! preserves the float model and, with an integer z~, the codes; the softmax reparameterization
//! (Eq. 18-20) equals log-sqrt2 on real attention maps; calibration runs in forward order; the
//! placement of every quantizer; accuracy; the artifact round trip and its errors.

use std::collections::BTreeMap;
use std::path::Path;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use rayon::prelude::*;
use repq_hw::Error;
use repq_hw::cli::quantize::{CalibArgs, calibration_images, choose};
use repq_hw::data::EvalTransform;
use repq_hw::demo::DigitSet;
use repq_hw::eval::Accuracy;
use repq_hw::model::{ActivationHook, Model, NoHook, Site, VisionTransformer};
use repq_hw::quant::calibrate::init_site;
use repq_hw::quant::fastlog::LogThresholds;
use repq_hw::quant::quantizer::{
    Granularity, Log2Reparam, LogBase, LogCode, LogQuantizer, ShiftCode,
};
use repq_hw::quant::{
    ActQuantizer, PostLnMode, PostSoftmaxMode, QuantConfig, QuantizedModel, WeightLayer, ZTilde,
    all_sites, calibrate, is_artifact, site_name,
};
use safetensors::{Dtype, SafeTensors};

struct Demo {
    model: Model,
    transform: EvalTransform,
    calib: Vec<f32>,
    n: usize,
    info: repq_hw::quant::CalibrationInfo,
    test: DigitSet,
}

fn demo() -> Demo {
    let model = repq_hw::demo::model().unwrap();
    let transform =
        EvalTransform::new(&model.preprocess, model.config().unwrap().img_size).unwrap();
    let args = CalibArgs {
        calib: None,
        calib_count: 32,
        seed: 0,
    };
    let (calib, n, info) = calibration_images(&model, &transform, &args).unwrap();
    assert_eq!(n, 32);
    let test = repq_hw::demo::test_split().unwrap();
    Demo {
        model,
        transform,
        calib,
        n,
        info,
        test,
    }
}

impl Demo {
    fn quantize(&self, c: QuantConfig) -> QuantizedModel {
        calibrate(&self.model, &self.calib, self.n, c, self.info.clone()).unwrap()
    }

    /// The first `count` test images as one batch.
    fn images(&self, count: usize) -> Vec<f32> {
        self.test.batch(0..count, &self.transform).unwrap().data
    }

    fn accuracy(&self, forward: impl Fn(&[f32], usize) -> repq_hw::Result<Vec<f32>>) -> Accuracy {
        let mut acc = Accuracy::default();
        for b in self.test.batches(&self.transform, 60) {
            let b = b.unwrap();
            acc.add(&forward(&b.data, b.len()).unwrap(), 10, &b.labels);
        }
        acc
    }
}

/// Captures the activations at the given sites.
struct Capture {
    sites: Vec<Site>,
    data: BTreeMap<Site, Vec<f32>>,
}

impl ActivationHook for Capture {
    fn activation(&mut self, site: Site, x: &mut [f32], _channels: usize) {
        if self.sites.contains(&site) {
            self.data.insert(site, x.to_vec());
        }
    }
}

fn capture(
    vit: &VisionTransformer,
    images: &[f32],
    n: usize,
    sites: &[Site],
) -> BTreeMap<Site, Vec<f32>> {
    let mut c = Capture {
        sites: sites.to_vec(),
        data: BTreeMap::new(),
    };
    vit.forward_with(images, n, &mut c).unwrap();
    c.data
}

fn w4a4() -> QuantConfig {
    QuantConfig::new(4, 4).unwrap()
}

#[test]
fn reparameterized_float_model_equals_the_original() {
    // Issue item 5(a): the float model with the new gamma, beta, W, b (no quantization) computes
    // the same function, on real inputs (the test digits), for both choices of z~.
    let d = demo();
    let images = d.images(120);
    let want = d.model.vit().unwrap().forward(&images, 120).unwrap();
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
    for z in [ZTilde::Mean, ZTilde::Round] {
        let q = d.quantize(w4a4().with_z_tilde(z));
        let rep = q.model.vit().unwrap();
        assert_eq!(q.ln_reparams.len(), 2 * rep.config.depth);
        // The parameters really changed (otherwise the test proves nothing).
        let changed = rep
            .blocks
            .iter()
            .zip(&d.model.vit().unwrap().blocks)
            .all(|(a, b)| a.norm1.gamma != b.norm1.gamma && a.fc1.weight != b.fc1.weight);
        assert!(changed);
        let got = rep.forward(&images, 120).unwrap();
        let max = got
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        eprintln!("z~ {z}: max |logit difference| {max:e} (logit scale {scale})");
        assert!(max <= 2e-5 * scale, "{max} vs scale {scale}");

        // X~' = (X' + s * r2) / r1 channel by channel (Eq. 15), at the first block's qkv input
        // (same LayerNorm input in both models).
        let a = capture(d.model.vit().unwrap(), &images, 120, &[Site::QkvInput(0)]);
        let b = capture(rep, &images, 120, &[Site::QkvInput(0)]);
        let r = &q.ln_reparams[&Site::QkvInput(0)];
        let s = r.channel_wise.scales();
        let dim = s.len();
        for (i, (x, y)) in a[&Site::QkvInput(0)]
            .iter()
            .zip(&b[&Site::QkvInput(0)])
            .enumerate()
        {
            let c = i % dim;
            let expect = (x + s[c] * r.reparam.r2[c]) / r.reparam.r1[c];
            assert!(
                (expect - y).abs() <= 1e-5 * (1.0 + expect.abs()),
                "element {i}: {expect} vs {y}"
            );
        }
    }
}

/// `(mismatches, total, mismatches not at a rounding tie or clamp edge)` between the channel-wise
/// codes of X' and the layer-wise codes of the reparameterized X~'.
fn code_mismatches(x: &[f32], y: &[f32], q: &QuantizedModel, site: Site) -> (usize, usize, usize) {
    let r = &q.ln_reparams[&site];
    let cw = &r.channel_wise;
    let ActQuantizer::Uniform(lw) = &q.activations[&site] else {
        panic!("layer-wise uniform expected")
    };
    let a = cw.quantize_codes(x).unwrap();
    let b = lw.quantize_codes(y).unwrap();
    let dim = cw.scales().len();
    let qmax = cw.qmax() as f32;
    let mut bad = (0, a.len(), 0);
    for (i, (ca, cb)) in a.iter().zip(&b).enumerate() {
        if ca != cb {
            bad.0 += 1;
            let c = i % dim;
            let v = x[i] / cw.scales()[c];
            let tie = (v - v.floor() - 0.5).abs() < 1e-3;
            let unclamped = v.round() + cw.zero_points()[c];
            let edge = (unclamped + 0.5 < 0.0 && unclamped > -1.5)
                || (unclamped - 0.5 > qmax && unclamped < qmax + 1.5);
            if !(tie || edge) || ca.abs_diff(*cb) > 1 {
                bad.2 += 1;
            }
        }
    }
    bad
}

#[test]
fn integer_z_tilde_gives_identical_codes() {
    // Issue item 5(b): with an integer z~ (r2 integer), the layer-wise codes of the
    // reparameterized X' equal the channel-wise codes of X', at every qkv and fc1 input, on the
    // test digits. The two float models differ by rounding only, so a code may differ where
    // X'/s sits within 1e-3 of a rounding tie; nowhere else.
    let d = demo();
    let images = d.images(100);
    let q = d.quantize(w4a4().with_z_tilde(ZTilde::Round));
    let depth = d.model.config().unwrap().depth;
    let sites: Vec<Site> = (0..depth)
        .flat_map(|i| [Site::QkvInput(i), Site::Fc1Input(i)])
        .collect();
    let a = capture(d.model.vit().unwrap(), &images, 100, &sites);
    let b = capture(q.model.vit().unwrap(), &images, 100, &sites);
    let (mut bad, mut total) = (0, 0);
    for &site in &sites {
        let lw = &q.ln_reparams[&site].reparam;
        assert_eq!(lw.z_tilde, lw.z_tilde.round(), "z~ must be an integer");
        let (m, t, off) = code_mismatches(&a[&site], &b[&site], &q, site);
        assert_eq!(
            off,
            0,
            "{}: {m} mismatches, {off} away from ties",
            site_name(site)
        );
        bad += m;
        total += t;
    }
    eprintln!("integer z~: {bad} of {total} codes differ, all at rounding ties");
    assert!(bad * 10_000 <= total, "{bad} of {total}");

    // With the reference's fractional z~ the layer-wise quantizer is not exact: codes of
    // round(X~'/s~) + z~ no longer line up with the channel-wise ones.
    let qm = d.quantize(w4a4());
    let b = capture(qm.model.vit().unwrap(), &images, 100, &[Site::QkvInput(0)]);
    let r = &qm.ln_reparams[&Site::QkvInput(0)];
    let ActQuantizer::Uniform(lw) = &qm.activations[&Site::QkvInput(0)] else {
        panic!()
    };
    assert_ne!(lw.zero_points()[0], lw.zero_points()[0].round());
    let mut y = b[&Site::QkvInput(0)].clone();
    lw.fake_quant_in_place(&mut y).unwrap();
    let mut x = a[&Site::QkvInput(0)].clone();
    r.channel_wise.fake_quant_in_place(&mut x).unwrap();
    // Map the channel-wise dequantized X' through Eq. 15 and compare.
    let s = r.channel_wise.scales();
    let dim = s.len();
    let differ = x
        .iter()
        .zip(&y)
        .enumerate()
        .filter(|(i, (xv, yv))| {
            let c = i % dim;
            let mapped = (*xv + s[c] * r.reparam.r2[c]) / r.reparam.r1[c];
            (mapped - *yv).abs() > 1e-3 * r.reparam.s_tilde
        })
        .count();
    eprintln!("fractional z~: {differ} of {} values differ", x.len());
    assert!(differ > x.len() / 100);
}

#[test]
fn calibration_initialises_each_site_in_forward_order_on_quantized_inputs() {
    // Without the post-LN reparameterization (which changes weights after calibration), the
    // final quantized model's forward over the calibration batch shows every site exactly the
    // tensor its quantizer was initialised on: re-initialising each site on that tensor must give
    // the stored quantizer back.
    let d = demo();
    for c in [
        w4a4()
            .with_post_ln(PostLnMode::ChannelWise)
            .with_post_softmax(PostSoftmaxMode::LogSqrt2),
        QuantConfig::new(6, 6)
            .unwrap()
            .with_post_ln(PostLnMode::LayerWise)
            .with_post_softmax(PostSoftmaxMode::Log2),
    ] {
        let q = d.quantize(c);
        struct Check<'a> {
            q: &'a QuantizedModel,
            config: QuantConfig,
            seen: Vec<Site>,
        }
        impl ActivationHook for Check<'_> {
            fn activation(&mut self, site: Site, x: &mut [f32], channels: usize) {
                let fresh = init_site(&self.config, site, x, channels).unwrap();
                let stored = &self.q.activations[&site];
                assert_eq!(&fresh, stored, "{}", site_name(site));
                stored.fake_quant_in_place(x).unwrap();
                self.seen.push(site);
            }
        }
        let mut check = Check {
            q: &q,
            config: c,
            seen: Vec::new(),
        };
        q.fake_quant_vit()
            .unwrap()
            .forward_with(&d.calib, d.n, &mut check)
            .unwrap();
        assert_eq!(
            check.seen,
            all_sites(d.model.config().unwrap()),
            "forward order"
        );
    }
}

#[test]
fn every_quantizer_is_where_the_reference_puts_it() {
    let d = demo();
    let cfg = d.model.config().unwrap().clone();
    for (w, a) in [(4u32, 4u32), (6, 6), (8, 8), (4, 8)] {
        let c = QuantConfig::new(w, a).unwrap();
        let q = d.quantize(c);
        for site in all_sites(&cfg) {
            let qz = &q.activations[&site];
            match (site, qz) {
                (Site::PatchInput, ActQuantizer::Uniform(u)) => {
                    assert_eq!((u.bits(), u.granularity()), (8, Granularity::PerTensor));
                }
                (Site::AttnProbs(_), ActQuantizer::Log2Reparam(r)) => assert_eq!(r.bits(), a),
                (_, ActQuantizer::Uniform(u)) => {
                    assert_eq!((u.bits(), u.granularity()), (a, Granularity::PerTensor));
                }
                (s, other) => panic!("{}: {other:?}", site_name(s)),
            }
        }
        let fake = q.fake_quant_vit().unwrap();
        for layer in WeightLayer::all(&cfg) {
            let w8 = &q.weights[&layer];
            let lin = layer.linear(q.model.vit().unwrap()).unwrap();
            assert_eq!(
                (w8.quantizer.bits(), w8.quantizer.granularity()),
                (
                    w,
                    Granularity::PerRow {
                        rows: lin.out_features
                    }
                ),
                "{}",
                layer.name()
            );
            assert!(
                w8.codes
                    .iter()
                    .all(|&c| u32::from(c) <= w8.quantizer.qmax())
            );
            assert!(w8.quantizer.has_integer_zero_points());
            // The forward uses exactly the dequantized codes, which are the fake-quantized W'.
            let mut fq = lin.weight.clone();
            w8.quantizer.fake_quant_in_place(&mut fq).unwrap();
            assert_eq!(layer.linear(fake).unwrap().weight, fq, "{}", layer.name());
        }
        assert!(q.weights.contains_key(&WeightLayer::Head));
        assert!(q.weights.contains_key(&WeightLayer::PatchEmbed));
    }
    // The ablation modes.
    let q = d.quantize(
        w4a4()
            .with_post_ln(PostLnMode::ChannelWise)
            .with_post_softmax(PostSoftmaxMode::Log2),
    );
    let ActQuantizer::Uniform(u) = &q.activations[&Site::Fc1Input(2)] else {
        panic!()
    };
    assert_eq!(
        u.granularity(),
        Granularity::PerChannel {
            channels: cfg.embed_dim
        }
    );
    assert!(q.ln_reparams.is_empty());
    assert_eq!(
        q.model.vit().unwrap(),
        d.model.vit().unwrap(),
        "no reparameterization"
    );
    let ActQuantizer::Log(l) = &q.activations[&Site::AttnProbs(0)] else {
        panic!()
    };
    assert_eq!(l.base(), LogBase::Two);
}

#[test]
fn accuracy_w8a8_within_one_point_of_full_precision() {
    let d = demo();
    let fp = d
        .accuracy(|x, b| d.model.vit().unwrap().forward(x, b))
        .top1_pct();
    let mut report = format!("FP {fp:.2}");
    for (bits, max_drop) in [(8u32, 1.0f64), (6, 3.0), (4, 10.0)] {
        let q = d.quantize(QuantConfig::new(bits, bits).unwrap());
        let t = d.accuracy(|x, b| q.forward(x, b)).top1_pct();
        report += &format!(", W{bits}A{bits} {t:.2}");
        assert!(fp - t <= max_drop, "W{bits}A{bits}: {t} vs FP {fp}");
    }
    eprintln!("embedded test split top-1: {report}");
}

#[test]
fn log_sqrt2_and_its_reparameterization_give_bit_identical_logits() {
    let d = demo();
    for bits in [3u32, 4, 8] {
        let c = QuantConfig::new(bits, bits).unwrap();
        let a = d.quantize(c.with_post_softmax(PostSoftmaxMode::LogSqrt2));
        let b = d.quantize(c.with_post_softmax(PostSoftmaxMode::Reparam));
        for i in 0..d.model.config().unwrap().depth {
            let (ActQuantizer::Log(l), ActQuantizer::Log2Reparam(r)) = (
                &a.activations[&Site::AttnProbs(i)],
                &b.activations[&Site::AttnProbs(i)],
            ) else {
                panic!()
            };
            assert_eq!(l.scale(), r.scale());
        }
        let images = d.images(360);
        let la = a.forward(&images, 360).unwrap();
        let lb = b.forward(&images, 360).unwrap();
        assert!(la.iter().zip(&lb).all(|(x, y)| x.to_bits() == y.to_bits()));
    }
}

#[test]
fn eq18_20_on_real_attention_maps() {
    // Issue item 4: the log2-with-parity codes (Eq. 18) and values (Eq. 19-20) against the
    // log-sqrt2 quantizer on every attention probability of the float demo model over the test
    // split (360 x 6 blocks x 3 heads x 50 x 50 = 16.2 million values), at 4 and 8 bits, with
    // the calibrated scales and random ones; and exhaustively over all codes.
    let d = demo();
    let depth = d.model.config().unwrap().depth;
    let sites: Vec<Site> = (0..depth).map(Site::AttnProbs).collect();
    let images = d.images(360);
    let maps = capture(d.model.vit().unwrap(), &images, 360, &sites);
    let all: Vec<f32> = maps.values().flatten().copied().collect();
    eprintln!("{} attention probabilities", all.len());
    let mut rng = StdRng::seed_from_u64(7);
    for bits in [4u32, 8] {
        let q = d.quantize(QuantConfig::new(bits, bits).unwrap());
        let mut scales: Vec<f32> = sites
            .iter()
            .map(|s| match &q.activations[s] {
                ActQuantizer::Log2Reparam(r) => r.scale(),
                other => panic!("{other:?}"),
            })
            .collect();
        scales.extend((0..3).map(|_| rng.random_range(0.02f32..1.0)));
        for s in scales {
            let l = LogQuantizer::new(LogBase::Sqrt2, bits, s).unwrap();
            let r = Log2Reparam::new(bits, s).unwrap();
            // Every code: the reparameterized value equals the log-sqrt2 value.
            for c in 0..(1u32 << bits) {
                let lc = LogCode::Level(c as u8);
                let (a, b) = (l.dequantize(lc), r.dequantize(ShiftCode::from_log_code(lc)));
                let ShiftCode::Level { shift, .. } = ShiftCode::from_log_code(lc) else {
                    unreachable!()
                };
                if shift < 127 {
                    assert_eq!(a.to_bits(), b.to_bits(), "{bits} bits s {s} code {c}");
                } else {
                    // The subnormal corner documented in quantizer/log.rs (8 bits, codes 253, 255).
                    assert!(a.to_bits().abs_diff(b.to_bits()) <= 2 && a < 1.2e-38 * s.max(1.0));
                }
            }
            // Every real attention probability: codes and values.
            let t = LogThresholds::of_reparam(&r).expect("thresholds");
            let t_direct = LogThresholds::of(&l).expect("thresholds");
            let bad = all
                .par_iter()
                .filter(|&&x| {
                    let rc = r.code(x);
                    let lc = l.code(x);
                    rc != ShiftCode::from_log_code(lc)
                        || r.dequantize(rc).to_bits() != l.dequantize(lc).to_bits()
                        || t.fake_quant(x).to_bits() != l.fake_quant_value(x).to_bits()
                        || t_direct.fake_quant(x).to_bits() != l.fake_quant_value(x).to_bits()
                })
                .count();
            assert_eq!(bad, 0, "{bits} bits, s {s}");
        }
    }
}

fn bytes_of(q: &QuantizedModel) -> Vec<u8> {
    q.to_bytes().unwrap()
}

#[test]
fn artifact_round_trip_gives_identical_logits() {
    let d = demo();
    let dir = tempfile::tempdir().unwrap();
    let images = d.images(360);
    for c in [
        w4a4(),
        QuantConfig::new(8, 8).unwrap().with_z_tilde(ZTilde::Round),
        QuantConfig::new(6, 4)
            .unwrap()
            .with_post_ln(PostLnMode::ChannelWise)
            .with_post_softmax(PostSoftmaxMode::Log2),
        QuantConfig::new(3, 5)
            .unwrap()
            .with_post_ln(PostLnMode::LayerWise)
            .with_post_softmax(PostSoftmaxMode::LogSqrt2),
    ] {
        let q = d.quantize(c);
        let path = dir
            .path()
            .join(format!("{}.safetensors", c.label().replace(' ', "_")));
        q.save(&path).unwrap();
        assert!(is_artifact(&path).unwrap());
        let back = QuantizedModel::load(&path).unwrap();
        assert_eq!(back.config, c);
        assert_eq!(back.activations, q.activations);
        assert_eq!(back.weights, q.weights);
        assert_eq!(back.model.preprocess, q.model.preprocess);
        assert_eq!(back.model.labels, q.model.labels);
        assert_eq!(back.model.name, q.model.name);
        assert_eq!(back.source_checkpoint, repq_hw::demo::SOURCE);
        let a = q.forward(&images, 360).unwrap();
        let b = back.forward(&images, 360).unwrap();
        assert!(
            a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()),
            "{}",
            c.label()
        );
        // Deterministic bytes, and a loaded artifact saves to the same bytes.
        assert_eq!(bytes_of(&q), std::fs::read(&path).unwrap());
        assert_eq!(bytes_of(&back), bytes_of(&q));
    }
    // Calibration itself is deterministic.
    assert_eq!(bytes_of(&d.quantize(w4a4())), bytes_of(&d.quantize(w4a4())));
    // A float checkpoint is not an artifact.
    let float = dir.path().join("float.safetensors");
    std::fs::write(
        &float,
        repq_hw::model::checkpoint::to_safetensors(d.model.vit().unwrap()).unwrap(),
    )
    .unwrap();
    assert!(!is_artifact(&float).unwrap());
}

/// Rewrites artifact bytes: `edit` may change the metadata and the tensors.
fn tamper(
    bytes: &[u8],
    edit: impl FnOnce(
        &mut std::collections::HashMap<String, String>,
        &mut BTreeMap<String, (Dtype, Vec<usize>, Vec<u8>)>,
    ),
) -> Vec<u8> {
    let st = SafeTensors::deserialize(bytes).unwrap();
    let (_, meta) = SafeTensors::read_metadata(bytes).unwrap();
    let mut meta = meta.metadata().clone().unwrap();
    let mut tensors: BTreeMap<String, (Dtype, Vec<usize>, Vec<u8>)> = st
        .tensors()
        .into_iter()
        .map(|(n, v)| (n, (v.dtype(), v.shape().to_vec(), v.data().to_vec())))
        .collect();
    edit(&mut meta, &mut tensors);
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = tensors
        .iter()
        .map(|(n, (d, s, b))| {
            (
                n.clone(),
                safetensors::tensor::TensorView::new(*d, s.clone(), b).unwrap(),
            )
        })
        .collect();
    safetensors::serialize(views, Some(meta)).unwrap()
}

fn load_err(bytes: &[u8]) -> (String, String) {
    let path = Path::new("/data/w4a4.safetensors");
    match QuantizedModel::from_bytes(bytes, path) {
        Ok(_) => panic!("loaded"),
        Err(Error::Artifact { path: p, field, .. }) => {
            let e = QuantizedModel::from_bytes(bytes, path)
                .err()
                .unwrap()
                .to_string();
            assert_eq!(p, path);
            assert!(e.contains("/data/w4a4.safetensors"), "{e}");
            (field, e)
        }
        Err(other) => ("<other>".into(), other.to_string()),
    }
}

/// Artifacts written before the sidecar held `global_pool` and `crop_mode` still load, with
/// the pooling and crop every artifact of that time had.
#[test]
fn artifacts_without_pooling_and_crop_in_the_sidecar_load() {
    let d = demo();
    let q = d.quantize(w4a4());
    let old = tamper(&bytes_of(&q), |m, _| {
        let mut side: serde_json::Value = serde_json::from_str(&m["sidecar"]).unwrap();
        let obj = side.as_object_mut().unwrap();
        assert!(obj.remove("global_pool").is_some() && obj.remove("crop_mode").is_some());
        m.insert("sidecar".into(), side.to_string());
    });
    let back = QuantizedModel::from_bytes(&old, Path::new("old.safetensors")).unwrap();
    assert_eq!(back.model.preprocess, q.model.preprocess);
    assert_eq!(bytes_of(&back), bytes_of(&q));
}

#[test]
fn bad_artifacts_are_clear_errors() {
    let d = demo();
    let good = bytes_of(&d.quantize(w4a4()));
    QuantizedModel::from_bytes(&good, Path::new("x")).unwrap();

    let (f, e) = load_err(&tamper(&good, |m, _| {
        m.insert("version".into(), "2".into());
    }));
    assert_eq!(f, "version", "{e}");
    assert!(e.contains("\"2\"") && e.contains("\"1\""), "{e}");

    let (f, e) = load_err(&tamper(&good, |m, _| {
        m.insert("format".into(), "something-else".into());
    }));
    assert_eq!(f, "format", "{e}");

    let (f, e) = load_err(&tamper(&good, |m, _| {
        m.remove("version");
    }));
    assert_eq!(f, "version", "{e}");
    assert!(e.contains("missing"), "{e}");

    // A float checkpoint given where an artifact is expected.
    let float = repq_hw::model::checkpoint::to_safetensors(d.model.vit().unwrap()).unwrap();
    let (f, e) = load_err(&float);
    assert_eq!(f, "format", "{e}");
    assert!(e.contains("not a repq-hw quantized artifact"), "{e}");

    let (f, e) = load_err(&tamper(&good, |m, _| {
        m.insert("wbits".into(), "12".into());
    }));
    assert!(f.contains("wbits"), "{f}: {e}");

    let codes = "quant.weight.blocks.2.mlp.fc1.codes";
    let (f, e) = load_err(&tamper(&good, |_, t| {
        t.get_mut(codes).unwrap().2[5] = 200; // above 15 at 4 bits
    }));
    assert_eq!(f, codes, "{e}");
    assert!(e.contains("exceeds 15"), "{e}");

    let (f, e) = load_err(&tamper(&good, |_, t| {
        let c = &mut t.get_mut(codes).unwrap().2[7];
        *c = if *c == 0 { 1 } else { *c - 1 };
    }));
    assert_eq!(f, codes, "{e}");
    assert!(e.contains("not the quantization"), "{e}");

    let scale = "quant.act.blocks.1.attn.probs.scale";
    let (f, e) = load_err(&tamper(&good, |_, t| {
        t.remove(scale);
    }));
    assert_eq!(f, scale, "{e}");
    assert!(e.contains("missing"), "{e}");

    let (f, e) = load_err(&tamper(&good, |_, t| {
        t.get_mut(scale).unwrap().2 = f32::NAN.to_le_bytes().to_vec();
    }));
    assert_eq!(f, scale, "{e}");

    let (f, e) = load_err(&tamper(&good, |_, t| {
        t.insert(
            "quant.act.blocks.1.attn.extra".into(),
            (Dtype::F32, vec![1], vec![0; 4]),
        );
    }));
    assert_eq!(f, "quant.act.blocks.1.attn.extra", "{e}");

    let (f, e) = load_err(&tamper(&good, |m, _| {
        let a = m["activations"].replace("log2-reparam", "log3");
        m.insert("activations".into(), a);
    }));
    assert!(f.starts_with("activations.blocks."), "{f}: {e}");

    let (f, e) = load_err(&good[..good.len() - 100]);
    assert_eq!(f, "header", "{e}");

    // The file name is in the message when loading from disk.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("v2.safetensors");
    std::fs::write(
        &p,
        tamper(&good, |m, _| {
            m.insert("version".into(), "2".into());
        }),
    )
    .unwrap();
    let e = QuantizedModel::load(&p).unwrap_err().to_string();
    assert!(e.contains("v2.safetensors") && e.contains("version"), "{e}");
}

#[test]
fn bad_bit_widths_are_clear_errors() {
    for (w, a, field) in [
        (9u32, 4u32, "--wbits"),
        (1, 4, "--wbits"),
        (4, 0, "--abits"),
        (4, 16, "--abits"),
    ] {
        let e = QuantConfig::new(w, a).unwrap_err().to_string();
        assert!(e.contains(field), "{e}");
    }
    let d = demo();
    let mut c = w4a4();
    c.abits = 9;
    let e = calibrate(&d.model, &d.calib, d.n, c, d.info.clone())
        .unwrap_err()
        .to_string();
    assert!(e.contains("--abits") && e.contains('9'), "{e}");
    for bits in 2..=8 {
        assert!(QuantConfig::new(bits, bits).is_ok());
    }
}

#[test]
fn calibration_choice_is_seeded_and_deterministic() {
    assert_eq!(choose(1000, 32, 5), choose(1000, 32, 5));
    assert_ne!(choose(1000, 32, 5), choose(1000, 32, 6));
    let c = choose(1000, 32, 5);
    assert!(c.windows(2).all(|w| w[0] < w[1]) && c.len() == 32 && c[31] < 1000);
    assert_eq!(choose(32, 32, 9), (0..32).collect::<Vec<_>>());
    let d = demo();
    let e = calibration_images(
        &d.model,
        &d.transform,
        &CalibArgs {
            calib: None,
            calib_count: 33,
            seed: 0,
        },
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("--calib-count") && e.contains("33"), "{e}");
    let _ = NoHook;
}

#[test]
fn distilled_model_without_qkv_bias_round_trips() {
    // head_dist and its input are quantized; qkv without bias gets one from Eq. 17.
    let mut config = repq_hw::model::random::deit_small_config();
    config.img_size = [16, 16];
    config.patch_size = [4, 4];
    config.embed_dim = 32;
    config.depth = 2;
    config.num_heads = 2;
    config.mlp_hidden = 64;
    config.num_classes = 5;
    config.qkv_bias = false;
    config.distilled = true;
    let vit = VisionTransformer::random(config.clone(), 3);
    assert!(vit.blocks[0].qkv.bias.is_none());
    let model = Model {
        name: "tiny".into(),
        source: "random".into(),
        net: repq_hw::model::Network::Vit(vit),
        preprocess: Default::default(),
        labels: None,
    };
    let mut rng = StdRng::seed_from_u64(4);
    let n = 8;
    let images: Vec<f32> = (0..n * 3 * 16 * 16)
        .map(|_| rng.random_range(-2.0f32..2.0))
        .collect();
    let info = repq_hw::quant::CalibrationInfo {
        source: "random".into(),
        count: n,
        seed: Some(4),
    };
    for c in [
        w4a4(),
        QuantConfig::new(8, 6)
            .unwrap()
            .with_post_ln(PostLnMode::LayerWise),
    ] {
        let q = calibrate(&model, &images, n, c, info.clone()).unwrap();
        assert!(q.weights.contains_key(&WeightLayer::HeadDist));
        assert!(q.activations.contains_key(&Site::HeadDistInput));
        let reparam = c.post_ln == PostLnMode::Reparam;
        assert_eq!(q.model.vit().unwrap().blocks[1].qkv.bias.is_some(), reparam);
        assert_eq!(q.model.vit().unwrap().config.qkv_bias, reparam);
        let back =
            QuantizedModel::from_bytes(&bytes_of(&q), Path::new("tiny.safetensors")).unwrap();
        let a = q.forward(&images, n).unwrap();
        let b = back.forward(&images, n).unwrap();
        assert!(a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()));
        // The float reparameterization keeps the function.
        let f0 = model.vit().unwrap().forward(&images, n).unwrap();
        let f1 = q.model.vit().unwrap().forward(&images, n).unwrap();
        let m = f0.iter().fold(0f32, |m, v| m.max(v.abs()));
        assert!(
            f0.iter()
                .zip(&f1)
                .all(|(x, y)| (x - y).abs() <= 1e-5 * m.max(1.0))
        );
    }
}
