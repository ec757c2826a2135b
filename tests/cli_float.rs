//! The float commands through the real binary and the embedded demo model: `info`, `eval` (the
//! embedded test split and an ImageFolder written from it), `predict --logits`, and their bad-input
//! errors. Expected values come from `assets/demo/reference.safetensors`, written by timm in
//! `tools/train_demo.py` (eval-mode logits of the test split), never from repq-hw itself.

use std::path::Path;
use std::process::{Command, Output};

use image::{GrayImage, ImageFormat};
use safetensors::SafeTensors;

const BIN: &str = env!("CARGO_BIN_EXE_repq-hw");

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("run repq-hw")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// timm's logits for the embedded test split, `[N, 10]`.
fn reference_logits() -> Vec<f32> {
    let bytes = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo/reference.safetensors"),
    )
    .unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    f32s(st.tensor("logits").unwrap().data())
}

/// The embedded test split as (label, 8x8 pixels).
fn test_digits() -> Vec<(u8, Vec<u8>)> {
    let bytes = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo/digits_test.safetensors"),
    )
    .unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let images = st.tensor("images").unwrap().data().to_vec();
    let labels = st.tensor("labels").unwrap().data().to_vec();
    labels
        .iter()
        .enumerate()
        .map(|(i, &l)| (l, images[i * 64..(i + 1) * 64].to_vec()))
        .collect()
}

fn top1_pct(logits: &[f32], labels: &[u8]) -> f64 {
    let hits = logits
        .chunks_exact(10)
        .zip(labels)
        .filter(|(row, l)| {
            let best = (0..10).fold(0, |b, j| if row[j] > row[b] { j } else { b });
            best == usize::from(**l)
        })
        .count();
    100.0 * hits as f64 / labels.len() as f64
}

#[test]
fn help_lists_every_subcommand() {
    let o = run(&["--help"]);
    assert!(o.status.success());
    let text = stdout(&o);
    for cmd in ["info", "eval", "predict", "gen"] {
        assert!(
            text.lines().any(|l| l.trim_start().starts_with(cmd)),
            "{cmd} missing from --help:\n{text}"
        );
    }
}

#[test]
fn info_describes_the_embedded_model() {
    let o = run(&["info"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    // 681,802 parameters as counted by timm (tools/train_demo.py prints the same figure).
    assert!(
        text.contains("681802") || text.contains("681,802"),
        "{text}"
    );
    assert!(text.contains("depth") || text.contains("blocks"), "{text}");
}

#[test]
fn eval_on_embedded_split_matches_timm_accuracy() {
    let digits = test_digits();
    let labels: Vec<u8> = digits.iter().map(|d| d.0).collect();
    let want = top1_pct(&reference_logits(), &labels);
    let o = run(&["eval"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.contains(&format!("top-1 {want:.2}%")),
        "expected timm's top-1 {want:.2}% in: {text}"
    );
}

#[test]
fn eval_on_imagefolder_and_predict_logits_match_timm() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("digits");
    let digits = test_digits();
    // A subset keeps the test quick: the first 60 digits, written as 8x8 grayscale PNGs.
    let n = 60;
    let mut files = Vec::new();
    for (i, (label, px)) in digits.iter().take(n).enumerate() {
        let class_dir = data.join(label.to_string());
        std::fs::create_dir_all(&class_dir).unwrap();
        let path = class_dir.join(format!("{i:05}.png"));
        GrayImage::from_raw(8, 8, px.clone())
            .unwrap()
            .save_with_format(&path, ImageFormat::Png)
            .unwrap();
        files.push(path);
    }
    // ImageFolder classes are the sorted folder names; all 10 digits occur in the first 60.
    let labels: Vec<u8> = digits.iter().take(n).map(|d| d.0).collect();
    let reference = reference_logits();
    let want = top1_pct(&reference[..n * 10], &labels);
    let o = run(&["eval", "--data", data.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains(&format!("top-1 {want:.2}%")),
        "expected {want:.2}% in {}",
        stdout(&o)
    );

    let npy = dir.path().join("logits.npy");
    let mut args = vec!["predict", "--logits", npy.to_str().unwrap()];
    let names: Vec<String> = files[..8]
        .iter()
        .map(|p| p.to_str().unwrap().to_string())
        .collect();
    args.extend(names.iter().map(String::as_str));
    let o = run(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).matches("p=").count(), 8 * 5, "{}", stdout(&o));
    let bytes = std::fs::read(&npy).unwrap();
    assert_eq!(&bytes[..6], b"\x93NUMPY");
    let header_len = usize::from(u16::from_le_bytes([bytes[8], bytes[9]]));
    let header = String::from_utf8_lossy(&bytes[10..10 + header_len]);
    assert!(
        header.contains("'<f4'") && header.contains("(8, 10)"),
        "{header}"
    );
    let got = f32s(&bytes[10 + header_len..]);
    let want = &reference[..80];
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= 1e-4 * scale,
            "logit {i}: repq-hw {g} vs timm {w}"
        );
    }
}

#[test]
fn empty_data_folder_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(&["eval", "--data", dir.path().to_str().unwrap()]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(err.contains(&dir.path().display().to_string()), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn unreadable_image_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let class = dir.path().join("3");
    std::fs::create_dir_all(&class).unwrap();
    let bad = class.join("broken.png");
    std::fs::write(&bad, b"\x89PNG\r\n\x1a\nthis is not a png").unwrap();
    for args in [
        vec!["eval", "--data", dir.path().to_str().unwrap()],
        vec!["predict", bad.to_str().unwrap()],
    ] {
        let o = run(&args);
        assert!(!o.status.success(), "{args:?} succeeded");
        let err = stderr(&o);
        assert!(err.contains("broken.png"), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn missing_model_file_is_a_clear_error() {
    for args in [
        vec!["info", "/nonexistent/model.safetensors"],
        vec![
            "eval",
            "--model",
            "/nonexistent/model.safetensors",
            "--data",
            ".",
        ],
    ] {
        let o = run(&args);
        assert!(!o.status.success());
        let err = stderr(&o);
        assert!(err.contains("/nonexistent/model.safetensors"), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}
