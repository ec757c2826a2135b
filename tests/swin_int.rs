//! Swin's integer model (docs/arithmetic.md, "Swin Transformer in integers") against independent
//! references: the fake-quant model on the parity fixture (`tests/fixtures/swin/tiny`, timm's
//! swin_tiny topology at embed_dim 16: four stages, shifted 7x7 windows on 56x56 tokens, three
//! PatchMergings), U5r against a float LayerNorm, and a shifted block's probabilities against a
//! float softmax of the same integer scores with timm's bias table and mask.

use std::path::{Path, PathBuf};

use repq_hw::arith::layernorm::residual_layer_norm_params;
use repq_hw::intsim::{CaptureAll, IntNet, IntSwin};
use repq_hw::model::checkpoint::TensorFile;
use repq_hw::model::swin::{attention_mask, relative_position_index};
use repq_hw::model::{Model, Network};
use repq_hw::quant::{CalibrationInfo, QuantConfig, QuantizedModel, calibrate};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/swin")
        .join(name)
}

fn io_images() -> (Vec<f32>, usize) {
    let mut io = TensorFile::read(&fixture("tiny_io.safetensors")).unwrap();
    let shape = io.shape("input").unwrap().to_vec();
    (io.take("input", &shape).unwrap(), shape[0])
}

fn quantize(bits: u32) -> QuantizedModel {
    let m = Model::load(&fixture("tiny/model.safetensors")).unwrap();
    let (x, b) = io_images();
    let mut v = x.clone();
    v.extend(x.iter().rev().map(|e| 0.7 * e));
    calibrate(
        &m,
        &v,
        2 * b,
        QuantConfig::new(bits, bits).unwrap(),
        CalibrationInfo {
            source: "fixture inputs".into(),
            count: 2 * b,
            seed: None,
        },
    )
    .unwrap()
}

/// max |a - b| / max |b|.
fn rel(a: &[f32], b: &[f32]) -> f32 {
    let d = a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()));
    d / b.iter().fold(0f32, |m, v| m.max(v.abs()))
}

#[test]
fn integer_swin_follows_the_fake_quant_model() {
    let (x, n) = io_images();
    let m = Model::load(&fixture("tiny/model.safetensors")).unwrap();
    let float = m.forward(&x, n).unwrap();
    let mut rows = Vec::new();
    for bits in [8, 6, 4] {
        let q = quantize(bits);
        let fq = q.forward(&x, n).unwrap();
        let int = IntNet::lower(&q, 32).unwrap();
        assert!(matches!(int, IntNet::Swin(_)));
        let got = int.forward(&x, n).unwrap();
        rows.push((bits, rel(&fq, &float), rel(&got, &float), rel(&got, &fq)));
    }
    for (bits, fq, int, d) in &rows {
        eprintln!(
            "W{bits}A{bits} (max |diff| / max |logit|): fake-quant vs float {fq:.4}, integer vs \
             float {int:.4}, integer vs fake-quant {d:.4}"
        );
    }
    // This random-weight model is sensitive (its fake-quant error at 8 bits is already a few
    // percent): the integer model must stay within the fake-quant model's own distance to the
    // float model (within 30% and 0.01), at every width.
    for (bits, fq, int, _) in &rows {
        assert!(
            *int < 1.3 * fq + 0.01,
            "W{bits}A{bits}: integer {int} vs fake-quant {fq}"
        );
    }
}

/// U5r: the integer LayerNorm into the residual stream against float LayerNorm times 2^16, within
/// U5's bound (|n - n*| <= 1.3 LSB measured, times |gamma| sqrt(D)) plus the output's rounding.
#[test]
fn residual_layer_norm_matches_float_layer_norm() {
    let mut s = 0x9e3779b97f4a7c15u64;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f64 / (1u64 << 53) as f64
    };
    for d in [16usize, 48, 96] {
        let gamma: Vec<f32> = (0..d).map(|_| (0.2 + 2.0 * next()) as f32).collect();
        let beta: Vec<f32> = (0..d).map(|_| (next() - 0.5) as f32).collect();
        let p = residual_layer_norm_params(&gamma, &beta, 1e-5, 16, "t").unwrap();
        let gmax = gamma.iter().fold(0f64, |m, &g| m.max(f64::from(g)));
        let bound = 1.5 * gmax * (d as f64).sqrt() + 2.0;
        let mut worst = 0f64;
        for scale in [1.0, 30.0, 500.0] {
            for _ in 0..50 {
                let x: Vec<i32> = (0..d)
                    .map(|_| ((next() - 0.5) * scale * 65536.0) as i32)
                    .collect();
                let mut y = vec![0i32; d];
                p.apply_residual(&x, &mut y);
                let xf: Vec<f64> = x.iter().map(|&v| f64::from(v) / 65536.0).collect();
                let mean = xf.iter().sum::<f64>() / d as f64;
                let var = xf.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / d as f64;
                for c in 0..d {
                    let want = ((xf[c] - mean) / (var + 1e-5).sqrt() * f64::from(gamma[c])
                        + f64::from(beta[c]))
                        * 65536.0;
                    worst = worst.max((f64::from(y[c]) - want).abs());
                }
            }
        }
        eprintln!("U5r D = {d}: max |y - y*| = {worst:.2} LSB of 2^-16 (bound {bound:.1})");
        assert!(worst <= bound, "D = {d}: {worst} > {bound}");
    }
}

/// A shifted block: its probabilities equal a float softmax of the same integer scores (times
/// the score scale), plus timm's relative position bias (the float table through timm's index)
/// and timm's -100 mask (the float model's own mask function), within U6's bound; the masked
/// keys are exactly 0.
#[test]
fn shifted_block_probabilities_follow_timms_bias_and_mask() {
    let q = quantize(8);
    let int = IntSwin::lower(&q, 32).unwrap();
    let Network::Swin(swin) = &q.model.net else {
        panic!()
    };
    let (x, _) = io_images();
    let codes = int.quantize_input(&x[..int.input_len()]);
    let mut cap = CaptureAll::default();
    int.forward_image(&codes, &mut cap);
    let get = |name: &str| {
        &cap.tensors
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("{name}"))
            .1
    };
    // Block 1 (stage 0, shift 3 on 56x56 tokens, 64 windows) and block 3 (stage 1).
    let mut masked_keys = 0usize;
    for gi in [1usize, 3] {
        let sb = &int.blocks[gi];
        assert_eq!(sb.shift, [3, 3]);
        let (n, h, nw) = (sb.window_area(), sb.heads, sb.windows());
        let scores = get(&format!("blocks.{gi}.attn.scores"));
        let probs = get(&format!("blocks.{gi}.attn.probs"));
        assert_eq!(scores.shape, vec![nw, h, n, n]);
        let b = &sb.block;
        // Swin's q codes already carry D_h^-1/2 (timm scales q before its quantizer).
        let s = b.q_scale * b.k_scale;
        let table = &swin.layers[sb.stage].blocks[sb.index].attn.rel_bias_table;
        let index = relative_position_index(sb.window);
        let mask = attention_mask(sb.grid, sb.window, sb.shift);
        let mut worst = 0f64;
        for w in 0..nw {
            for hd in 0..h {
                for i in 0..n {
                    let base = ((w * h + hd) * n + i) * n;
                    let logits: Vec<f64> = (0..n)
                        .map(|j| {
                            scores.data[base + j] as f64 * s
                                + f64::from(table[index[i * n + j] * h + hd])
                                + f64::from(mask[(w * n + i) * n + j])
                        })
                        .collect();
                    let m = logits.iter().fold(f64::MIN, |a, &v| a.max(v));
                    let sum: f64 = logits.iter().map(|v| (v - m).exp()).sum();
                    for j in 0..n {
                        let want = (logits[j] - m).exp() / sum * 65536.0;
                        let got = probs.data[base + j] as f64;
                        if mask[(w * n + i) * n + j] != 0.0 {
                            assert_eq!(got, 0.0, "masked key");
                            masked_keys += 1;
                        }
                        worst = worst.max((got - want).abs());
                    }
                }
            }
        }
        eprintln!("block {gi}: max |p - p_float| = {worst:.1} LSB of 2^-16");
        assert!(worst <= 66.0, "block {gi}: {worst}");
    }
    assert!(masked_keys > 0);
}

/// Diagnostic: the fraction of activation codes where the integer model and the fake-quant model
/// differ, site by site (`cargo test --release --test swin_int -- --ignored --nocapture`).
#[test]
#[ignore]
fn code_agreement_by_site() {
    use repq_hw::model::{ActivationHook, Site};
    use repq_hw::quant::ActQuantizer;
    struct Rec(Vec<(Site, Vec<f32>)>);
    impl ActivationHook for Rec {
        fn activation(&mut self, site: Site, x: &mut [f32], _c: usize) {
            self.0.push((site, x.to_vec()));
        }
    }
    for bits in [8u32, 4] {
        let q = quantize(bits);
        let int = IntSwin::lower(&q, 32).unwrap();
        let (x, _) = io_images();
        let img = &x[..int.input_len()];
        let mut rec = Rec(Vec::new());
        q.forward_with(img, 1, &mut rec).unwrap();
        let mut cap = CaptureAll::default();
        int.forward_image(&int.quantize_input(img), &mut cap);
        let get = |name: &str| cap.tensors.iter().find(|(n, _)| n == name).map(|t| &t.1);
        for (site, vals) in &rec.0 {
            if let Site::Query(i) | Site::Key(i) | Site::Value(i) | Site::AttnProbs(i) = *site
                && i < 2
            {
                let sb = &int.blocks[i];
                let (n, h, dh) = (sb.window_area(), sb.heads, sb.head_dim);
                let a = h * dh;
                let which = match site {
                    Site::Query(_) => 0,
                    Site::Key(_) => 1,
                    Site::Value(_) => 2,
                    _ => 3,
                };
                let mut worst = 0f64;
                if which < 3 {
                    let Some(ActQuantizer::Uniform(u)) = q.activations.get(site) else {
                        continue;
                    };
                    let (s, z) = (u.scales()[0], u.zero_points()[0]);
                    let t = get(&format!("blocks.{i}.attn.qkv.output")).unwrap();
                    for (k, v) in vals.iter().enumerate() {
                        let (bw, hd, r, c) =
                            (k / (h * n * dh), (k / (n * dh)) % h, (k / dh) % n, k % dh);
                        let code = t.data[(bw * n + r) * 3 * a + which * a + hd * dh + c];
                        worst = worst.max(((v / s + z).round() as i64 - code).abs() as f64);
                    }
                } else {
                    let s = match q.activations.get(site) {
                        Some(ActQuantizer::Log2Reparam(r)) => f64::from(r.scale()),
                        Some(ActQuantizer::Log(l)) => f64::from(l.scale()),
                        _ => continue,
                    };
                    let t = get(&format!("blocks.{i}.attn.codes")).unwrap();
                    let mut n_diff = 0;
                    for (v, &c) in vals.iter().zip(&t.data) {
                        let deq = if c < 0 {
                            0.0
                        } else {
                            s * 2f64.powf(-(c as f64) / 2.0)
                        };
                        let e = (f64::from(*v) - deq).abs();
                        if e > 1e-6 {
                            n_diff += 1;
                        }
                        worst = worst.max(e);
                    }
                    eprintln!("  {n_diff} of {} log codes differ", vals.len());
                }
                eprintln!("W{bits}A{bits} {site:?}: worst {worst}");
            }
            let name = match site {
                Site::QkvInput(i) => format!("blocks.{i}.attn.qkv.input"),
                Site::ProjInput(i) => format!("blocks.{i}.attn.proj.input"),
                Site::Fc1Input(i) => format!("blocks.{i}.mlp.fc1.input"),
                Site::Fc2Input(i) => format!("blocks.{i}.mlp.fc2.input"),
                Site::ReductionInput(s) => format!("layers.{s}.downsample.reduction.input"),
                Site::HeadInput => "head.input".into(),
                _ => continue,
            };
            let Some(ActQuantizer::Uniform(u)) = q.activations.get(site) else {
                continue;
            };
            if u.scales().len() != 1 {
                continue;
            }
            let (s, z) = (u.scales()[0], u.zero_points()[0]);
            let t = get(&name).unwrap();
            let (mut diff, mut worst) = (0usize, 0i64);
            for (v, &c) in vals.iter().zip(&t.data) {
                let want = (v / s + z).round() as i64;
                if want != c {
                    diff += 1;
                    worst = worst.max((want - c).abs());
                }
            }
            eprintln!(
                "W{bits}A{bits} {name}: {diff} of {} codes differ (max {worst})",
                vals.len()
            );
        }
    }
}
