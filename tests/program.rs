//! The layer program (docs/layer-program.md): the reference executor, reading only the image,
//! gives the integer model's logits bit for bit (the embedded model at W8A8, W6A6 and W4A4 on
//! held-out images, and a distilled model with two heads); malformed images are errors, never
//! panics.

use std::path::PathBuf;

use repq_hw::data::EvalTransform;
use repq_hw::demo;
use repq_hw::intsim::IntModel;
use repq_hw::model::{Model, Preprocess, VisionTransformer, VitConfig};
use repq_hw::program::{Program, execute};
use repq_hw::quant::calibrate::calibrate;
use repq_hw::quant::config::QuantConfig;
use repq_hw::quant::model::CalibrationInfo;

#[test]
fn the_program_runs_the_embedded_model_bit_for_bit() {
    let split = demo::test_split().unwrap();
    for (wbits, abits) in [(8, 8), (6, 6), (4, 4)] {
        let q = demo::quantized(QuantConfig::new(wbits, abits).unwrap()).unwrap();
        let int = IntModel::lower(&q, 32).unwrap();
        let prog = Program::from_model(&int).unwrap();
        let tf = EvalTransform::new(&q.model.preprocess, q.vit_config().img_size).unwrap();
        let images = 6;
        let batch = split.batch(0..images, &tf).unwrap();
        let codes = int.quantize_input(&batch.data);
        let want = int.forward_codes(&codes, images).unwrap();
        let n = int.input_len();
        let classes = want.len() / images;
        for i in 0..images {
            let got = execute(&prog.image, &codes[i * n..(i + 1) * n]).unwrap();
            assert_eq!(
                got,
                want[i * classes..(i + 1) * classes],
                "W{wbits}A{abits} image {i}"
            );
        }
        // 2 + 6 blocks x 7 + norm + head + end.
        assert_eq!(prog.descriptors.len(), 2 + 6 * 7 + 3, "W{wbits}A{abits}");
    }
}

/// A small distilled model (two classifier heads, two prefix tokens) and 8 synthetic images.
fn distilled() -> (IntModel, Vec<f32>) {
    let cfg = VitConfig {
        img_size: [16, 16],
        patch_size: [8, 8],
        in_chans: 3,
        embed_dim: 32,
        depth: 2,
        num_heads: 2,
        mlp_hidden: 64,
        num_classes: 5,
        qkv_bias: true,
        distilled: true,
        ln_eps: 1e-6,
    };
    let model = Model {
        name: "tiny-distilled".into(),
        source: PathBuf::from("tiny.safetensors"),
        vit: VisionTransformer::random(cfg, 3),
        preprocess: Preprocess {
            mean: vec![0.5; 3],
            std: vec![0.5; 3],
            crop_pct: 1.0,
        },
        labels: None,
    };
    let n = 8;
    let images: Vec<f32> = (0..n * 3 * 16 * 16)
        .map(|i| ((i * 7919 % 1000) as f32 / 500.0) - 1.0)
        .collect();
    let info = CalibrationInfo {
        source: "synthetic".into(),
        count: n,
        seed: None,
    };
    let q = calibrate(&model, &images, n, QuantConfig::new(8, 8).unwrap(), info).unwrap();
    (IntModel::lower(&q, 32).unwrap(), images)
}

#[test]
fn the_program_runs_a_distilled_model() {
    let (int, images) = distilled();
    let prog = Program::from_model(&int).unwrap();
    let per = int.input_len();
    let n = images.len() / per;
    let codes = int.quantize_input(&images);
    let want = int.forward_codes(&codes, n).unwrap();
    for i in 0..n {
        let got = execute(&prog.image, &codes[i * per..(i + 1) * per]).unwrap();
        assert_eq!(got, want[i * 5..(i + 1) * 5], "image {i}");
    }
    // 2 + 2 blocks x 7 + 2 x (norm + head) + average + end.
    assert_eq!(prog.descriptors.len(), 2 + 2 * 7 + 4 + 2);
}

/// Truncations, a wrong magic or version, and single-byte corruptions anywhere in the header and
/// descriptors give an error or (where the byte is a value the format allows) a result, never a
/// panic; the errors name the layer program.
#[test]
fn malformed_programs_are_errors() {
    let (int, _) = distilled();
    let prog = Program::from_model(&int).unwrap();
    let input = vec![7u8; int.input_len()];
    let good = execute(&prog.image, &input).unwrap();
    let err = |image: &[u8]| execute(image, &input).unwrap_err().to_string();
    assert!(err(&prog.image[..100]).contains("layer program"));
    assert!(err(&prog.image[..prog.image.len() - 1]).contains("truncated"));
    let mut bad = prog.image.clone();
    bad[0] = b'X';
    assert!(err(&bad).contains("not a layer program"));
    let mut bad = prog.image.clone();
    bad[8] = 2;
    assert!(err(&bad).contains("version 2"));
    assert!(
        execute(&prog.image, &input[1..])
            .unwrap_err()
            .to_string()
            .contains("input codes")
    );
    // Every byte of the header and the descriptors set to 0xff: an error naming the layer
    // program or (a field the operation does not use, header padding) a result; never a panic.
    // An operation code of 0xff is always an error.
    let table = 64 * (1 + prog.descriptors.len());
    let mut errors = 0;
    for i in (0..table).filter(|&i| prog.image[i] != 0xff) {
        let mut bad = prog.image.clone();
        bad[i] = 0xff;
        match execute(&bad, &input) {
            Err(e) => {
                assert!(e.to_string().starts_with("layer program"), "byte {i}: {e}");
                errors += 1;
            }
            Ok(_) => assert!(i < 64 || i % 64 != 0, "byte {i}: operation code 0xff ran"),
        }
    }
    let _ = good;
    assert!(errors > table / 4, "{errors} errors of {table} corruptions");
}

/// `repq-hw program`: the embedded model at W4A4 and an artifact give images the executor runs
/// like the integer model; a float checkpoint and contradicting widths are one-line errors.
#[test]
fn the_program_command_writes_a_runnable_image() {
    let bin = env!("CARGO_BIN_EXE_repq-hw");
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| std::process::Command::new(bin).args(args).output().unwrap();
    let p = dir.path().join("w4a4.bin");
    let o = run(&[
        "program",
        "--wbits",
        "4",
        "--abits",
        "4",
        "--out",
        p.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("W4A4") && out.contains("47 descriptors"),
        "{out}"
    );
    let image = std::fs::read(&p).unwrap();
    let q = demo::quantized(QuantConfig::new(4, 4).unwrap()).unwrap();
    let acc = repq_hw::rtl::config::default_acc_bits(4, 4).unwrap();
    let int = IntModel::lower(&q, acc).unwrap();
    assert_eq!(image, Program::from_model(&int).unwrap().image);
    let input = vec![100u8; int.input_len()];
    assert_eq!(
        execute(&image, &input).unwrap(),
        int.forward_codes(&input, 1).unwrap()
    );

    let x = dir.path().join("x.bin");
    let art = dir.path().join("q.safetensors");
    q.save(&art).unwrap();
    let bad = run(&[
        "program",
        "--model",
        art.to_str().unwrap(),
        "--wbits",
        "8",
        "--out",
        x.to_str().unwrap(),
    ]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("quantized artifact (W4A4)"));
    let float = run(&[
        "program",
        "--model",
        "tests/fixtures/checkpoints/hub224/model.safetensors",
        "--out",
        x.to_str().unwrap(),
    ]);
    assert!(!float.status.success());
    let stderr = String::from_utf8_lossy(&float.stderr);
    assert!(
        stderr.contains("a float checkpoint; quantize it first"),
        "{stderr}"
    );
    assert!(!x.exists());
}
