//! Operands the hardware can hold (issue 10, item 3): the integer model is representable in the
//! RTL's operand and field widths as soon as it is built, so nothing downstream (golden vectors,
//! `gen --model`) fails late.
//!
//! The test model is the embedded demo with one classifier row made all positive: the authors'
//! quantizer then gives that row a zero point below 0, and `code - z_w` no longer fits
//! `s{wbits+1}`.

use repq_hw::data::EvalTransform;
use repq_hw::demo;
use repq_hw::golden::export::export_image;
use repq_hw::golden::hex;
use repq_hw::intsim::IntModel;
use repq_hw::quant::config::QuantConfig;
use repq_hw::quant::model::QuantizedModel;
use repq_hw::quant::{CalibrationInfo, WeightLayer, calibrate};

/// The demo model with head row 0 made all positive (`|w| + 0.01`), quantized at `wbits`/`abits`.
fn single_sign_head(wbits: u32, abits: u32) -> QuantizedModel {
    let mut model = demo::model().unwrap();
    let k = model.vit().unwrap().head.in_features;
    for w in &mut model.vit_mut().unwrap().head.weight[..k] {
        *w = w.abs() + 0.01;
    }
    let tf = EvalTransform::new(&model.preprocess, model.config().unwrap().img_size).unwrap();
    let calib = demo::calibration_set().unwrap();
    let batch = calib.batch(0..calib.len(), &tf).unwrap();
    let info = CalibrationInfo {
        source: "embedded".into(),
        count: calib.len(),
        seed: None,
    };
    let q = calibrate(
        &model,
        &batch.data,
        calib.len(),
        QuantConfig::new(wbits, abits).unwrap(),
        info,
    )
    .unwrap();
    let z = q.weights[&WeightLayer::Head]
        .quantizer
        .rounded_zero_points()[0];
    assert!(
        z < 0,
        "the authors' quantizer gives head row 0 the zero point {z}"
    );
    q
}

/// The reported input: golden vectors of such a model failed late ("head.w element 0 = -753 does
/// not fit s9") although the integer model had been built without complaint.
#[test]
fn single_sign_weight_row_gives_golden_vectors() {
    let q = single_sign_head(8, 8);
    let int = IntModel::lower(&q, 32).unwrap();
    assert!(
        int.widened
            .iter()
            .any(|w| w.what == "head row 0" && w.zero_point < 0),
        "{:?}",
        int.widened
    );
    let tf = EvalTransform::new(&q.model.preprocess, q.vit_config().unwrap().img_size).unwrap();
    let split = demo::test_split().unwrap();
    let batch = split.batch(0..1, &tf).unwrap();
    let codes = int.quantize_input(&batch.data);
    let (files, _) = export_image(&q, &int, &codes).unwrap();
    for f in &files {
        if let Err(e) = hex::encode(&f.data, f.entry.bits, f.entry.signed) {
            panic!("{}: {e}", f.entry.name);
        }
    }
    let wmax = (1i16 << int.wbits) - 1;
    let head = &int.heads[0];
    assert!(
        head.w.iter().all(|&w| (-wmax - 1..=wmax).contains(&w)),
        "head operands outside s{}",
        int.wbits + 1
    );
}

/// The same model through the command line: `quantize` writes the artifact, `golden --model`
/// writes the vectors (it failed with "does not fit s9" before), `gen --model` sizes an array.
#[test]
fn golden_and_gen_accept_the_artifact() {
    let dir = tempfile::tempdir().unwrap();
    let artifact = dir.path().join("single_sign.safetensors");
    single_sign_head(8, 8).save(&artifact).unwrap();
    let bin = env!("CARGO_BIN_EXE_repq-hw");
    for args in [
        vec![
            "golden",
            "--model",
            "ARTIFACT",
            "--index",
            "0",
            "--out",
            "OUT/golden",
        ],
        vec![
            "gen", "--pe", "4x4", "--model", "ARTIFACT", "--out", "OUT/rtl",
        ],
    ] {
        let args: Vec<String> = args
            .iter()
            .map(|a| match a.strip_prefix("OUT/") {
                _ if *a == "ARTIFACT" => artifact.display().to_string(),
                Some(sub) => dir.path().join(sub).display().to_string(),
                None => a.to_string(),
            })
            .collect();
        let out = std::process::Command::new(bin)
            .args(&args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "repq-hw {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(dir.path().join("golden/params/head.w.hex").exists());
}

/// Keys and values are operands too: a key quantizer whose zero point lies below the code range
/// is widened to include 0 in the integer model (the fake-quant model keeps it).
#[test]
fn key_quantizer_outside_the_code_range_is_widened() {
    use repq_hw::model::Site;
    use repq_hw::quant::ActQuantizer;
    use repq_hw::quant::quantizer::{Granularity, UniformQuantizer};
    let mut q = demo::quantized(QuantConfig::new(8, 8).unwrap()).unwrap();
    let s = match &q.activations[&Site::Key(0)] {
        ActQuantizer::Uniform(u) => u.scales()[0],
        other => panic!("{}", other.kind()),
    };
    q.activations.insert(
        Site::Key(0),
        ActQuantizer::Uniform(
            UniformQuantizer::from_parts(8, Granularity::PerTensor, vec![s], vec![-40.0]).unwrap(),
        ),
    );
    let int = IntModel::lower(&q, 32).unwrap();
    let b = &int.blocks[0];
    assert_eq!(b.k_zero, 0);
    assert!((b.k_scale / f64::from(s) - 295.0 / 255.0).abs() < 1e-6);
    assert!(
        int.widened
            .iter()
            .any(|w| w.what == "blocks.0.attn.k" && w.zero_point == -40),
        "{:?}",
        int.widened
    );
}

/// Top-1 (percent) of fake-quant logits or integer logits on the embedded test split.
fn top1(q: &QuantizedModel, int: Option<&IntModel>) -> f64 {
    let tf = EvalTransform::new(&q.model.preprocess, q.vit_config().unwrap().img_size).unwrap();
    let split = demo::test_split().unwrap();
    let n = split.len();
    let batch = split.batch(0..n, &tf).unwrap();
    let logits = match int {
        Some(m) => m.forward(&batch.data, n).unwrap(),
        None => q.forward(&batch.data, n).unwrap(),
    };
    let k = q.vit_config().unwrap().num_classes;
    let right = logits
        .chunks_exact(k)
        .zip(split.labels())
        .filter(|(row, l)| (0..k).fold(0, |b, j| if row[j] > row[b] { j } else { b }) == **l)
        .count();
    100.0 * right as f64 / n as f64
}

/// `q` with every weight quantized by the integer model's rule, as a fake-quant model: the
/// rule's own cost, separated from the other integer deviations.
fn with_integer_weights(q: &QuantizedModel) -> QuantizedModel {
    use repq_hw::quant::QuantizedWeight;
    use repq_hw::quant::quantizer::{Granularity, UniformQuantizer};
    use repq_hw::quant::zero_range::integer_weight;
    let mut weights = q.weights.clone();
    for (layer, w) in weights.iter_mut() {
        let lin = layer.linear(q.model.vit().unwrap()).unwrap();
        let iw = integer_weight(w, &lin.weight, &layer.name()).unwrap();
        let rows = iw.scales.len();
        *w = QuantizedWeight {
            quantizer: UniformQuantizer::from_parts(
                w.quantizer.bits(),
                Granularity::PerRow { rows },
                iw.scales,
                iw.zero_points.iter().map(|&z| z as f32).collect(),
            )
            .unwrap(),
            codes: iw.codes,
        };
    }
    QuantizedModel::new(
        q.config,
        q.model.clone(),
        weights,
        q.activations.clone(),
        q.ln_reparams.clone(),
        q.calibration.clone(),
    )
    .unwrap()
}

/// The measured cost of the rule (docs/arithmetic.md, deviation table), a measurement rather than
/// a check (a minute on two cores):
/// `cargo test --release --test representable -- --ignored --nocapture rule_cost`. On the embedded demo no
/// quantizer has a zero point outside its code range at W8A8, W6A6 or W4A4, so the rule changes
/// nothing there; on the single-sign test model it widens head row 0, and the fake-quant model
/// with the widened row is compared with the authors' quantizer.
#[test]
#[ignore = "measurement for docs/arithmetic.md; run with --ignored --nocapture"]
fn rule_cost() {
    for bits in [8u32, 6, 4] {
        let q = demo::quantized(QuantConfig::new(bits, bits).unwrap()).unwrap();
        let int = IntModel::lower(&q, 32).unwrap();
        assert!(int.widened.is_empty(), "W{bits}A{bits}: {:?}", int.widened);
        println!(
            "demo W{bits}A{bits}: 0 quantizers widened; fake-quant {:.2}%, integer {:.2}%",
            top1(&q, None),
            top1(&q, Some(&int))
        );
        let q = single_sign_head(bits, bits);
        let int = IntModel::lower(&q, 32).unwrap();
        let widened: Vec<String> = int
            .widened
            .iter()
            .map(|w| format!("{} (z = {})", w.what, w.zero_point))
            .collect();
        let (authors, rule) = (top1(&q, None), top1(&with_integer_weights(&q), None));
        println!(
            "single-sign head W{bits}A{bits}: widened {}; fake-quant {authors:.2}% (authors' \
             quantizer), {rule:.2}% (rule), integer {:.2}%",
            widened.join(", "),
            top1(&q, Some(&int))
        );
        assert!(!int.widened.is_empty());
    }
}
