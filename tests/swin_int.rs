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
