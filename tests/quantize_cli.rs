//! `repq-hw quantize`, `ablate`, and `eval` / `predict` on a quantized artifact, through the real
//! binary.

use std::path::{Path, PathBuf};
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

fn ok(args: &[&str]) -> String {
    let o = run(args);
    assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    stdout(&o)
}

fn fails(args: &[&str]) -> String {
    let o = run(args);
    assert!(!o.status.success(), "{args:?} succeeded: {}", stdout(&o));
    let e = stderr(&o);
    assert!(!e.contains("panicked"), "{e}");
    e
}

/// The `top-1 xx.xx%` figure of a report line.
fn top1(text: &str) -> String {
    let i = text.find("top-1 ").expect("a top-1 figure");
    text[i..].split('%').next().unwrap().to_string()
}

/// Writes the first `n` test digits as an ImageFolder of 8x8 PNGs.
fn digits_folder(dir: &Path, n: usize) -> PathBuf {
    let bytes = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo/digits_test.safetensors"),
    )
    .unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let images = st.tensor("images").unwrap().data().to_vec();
    let labels = st.tensor("labels").unwrap().data().to_vec();
    let root = dir.join("digits");
    for i in 0..n {
        let class = root.join(labels[i].to_string());
        std::fs::create_dir_all(&class).unwrap();
        GrayImage::from_raw(8, 8, images[i * 64..(i + 1) * 64].to_vec())
            .unwrap()
            .save_with_format(class.join(format!("{i:05}.png")), ImageFormat::Png)
            .unwrap();
    }
    root
}

#[test]
fn quantize_then_eval_and_predict_the_artifact() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("w8a8.safetensors");
    let o = ok(&[
        "quantize",
        "--wbits",
        "8",
        "--abits",
        "8",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        o.contains("W8A8 fake-quant") && o.contains("embedded test split"),
        "{o}"
    );
    let quantize_top1 = top1(&o);
    // eval recognises the artifact by its metadata and runs its fake-quant forward.
    let e = ok(&["eval", "--model", out.to_str().unwrap()]);
    assert!(e.contains("W8A8 fake-quant"), "{e}");
    assert_eq!(top1(&e), quantize_top1, "{o}\n{e}");
    let f = ok(&["eval"]);
    assert!(f.contains("(f32)"), "{f}");

    // predict on the artifact gives the fake-quant logits.
    let data = digits_folder(dir.path(), 12);
    let class = std::fs::read_dir(&data)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let png = std::fs::read_dir(class)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let p = ok(&[
        "predict",
        "--model",
        out.to_str().unwrap(),
        png.to_str().unwrap(),
    ]);
    assert_eq!(p.matches("p=").count(), 5, "{p}");
}

#[test]
fn quantize_a_checkpoint_with_an_imagefolder_calibration_set() {
    let dir = tempfile::tempdir().unwrap();
    // The demo model as a checkpoint file with its sidecar.
    let model = repq_hw::demo::model().unwrap();
    let ckpt = dir.path().join("digits.safetensors");
    std::fs::write(
        &ckpt,
        repq_hw::model::checkpoint::to_safetensors(model.vit().unwrap()).unwrap(),
    )
    .unwrap();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo/deit_digits.toml"),
        dir.path().join("digits.toml"),
    )
    .unwrap();
    let data = digits_folder(dir.path(), 60);
    let (c, d) = (ckpt.to_str().unwrap(), data.to_str().unwrap());
    let out = dir.path().join("q.safetensors");
    let o = ok(&[
        "quantize",
        "--model",
        c,
        "--calib",
        d,
        "--calib-count",
        "16",
        "--seed",
        "3",
        "--data",
        d,
        "--wbits",
        "6",
        "--abits",
        "6",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        o.contains("W6A6 fake-quant") && o.contains("60 images"),
        "{o}"
    );
    let e = ok(&["eval", "--model", out.to_str().unwrap(), "--data", d]);
    assert_eq!(top1(&e), top1(&o), "{o}\n{e}");
    // The calibration choice is recorded in the artifact.
    let bytes = std::fs::read(&out).unwrap();
    let (_, meta) = SafeTensors::read_metadata(&bytes).unwrap();
    let meta = meta.metadata().clone().unwrap();
    assert!(meta["calibration"].contains("\"count\":16"), "{meta:?}");
    assert!(meta["calibration"].contains("\"seed\":3"), "{meta:?}");
    assert_eq!(meta["format"], "repq-hw-quantized");
    assert_eq!(meta["version"], "1");
    // Same seed, same bytes; another seed, another choice.
    let again = dir.path().join("q2.safetensors");
    ok(&[
        "quantize",
        "--model",
        c,
        "--calib",
        d,
        "--calib-count",
        "16",
        "--seed",
        "3",
        "--wbits",
        "6",
        "--abits",
        "6",
        "--out",
        again.to_str().unwrap(),
    ]);
    assert_eq!(std::fs::read(&again).unwrap(), bytes);

    // A checkpoint without --calib, too many calibration images, and an artifact without --data.
    let e = fails(&["quantize", "--model", c, "--out", out.to_str().unwrap()]);
    assert!(e.contains("--calib"), "{e}");
    let e = fails(&[
        "quantize",
        "--model",
        c,
        "--calib",
        d,
        "--calib-count",
        "61",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(e.contains("--calib-count") && e.contains("60"), "{e}");
    let e = fails(&["eval", "--model", out.to_str().unwrap()]);
    assert!(e.contains("--data"), "{e}");
}

#[test]
fn bad_bit_widths_and_artifacts_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.safetensors");
    let o = out.to_str().unwrap();
    for (flag, v) in [
        ("--wbits", "9"),
        ("--wbits", "1"),
        ("--abits", "0"),
        ("--abits", "12"),
    ] {
        let e = fails(&["quantize", flag, v, "--out", o]);
        assert!(e.contains(flag) && e.contains(v), "{e}");
        assert!(!out.exists());
    }
    let e = fails(&["quantize", "--wbits", "four", "--out", o]);
    assert!(e.contains("--wbits"), "{e}");
    // An artifact of another version.
    ok(&["quantize", "--out", o]);
    let bytes = std::fs::read(&out).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let text = String::from_utf8_lossy(&bytes[8..8 + n]).into_owned();
    let at = text.find("\"version\":\"1\"").expect("version in header");
    let mut bad = bytes.clone();
    bad[8 + at + "\"version\":\"".len()] = b'7';
    let v7 = dir.path().join("v7.safetensors");
    std::fs::write(&v7, bad).unwrap();
    let e = fails(&["eval", "--model", v7.to_str().unwrap()]);
    assert!(
        e.contains("v7.safetensors") && e.contains("version") && e.contains("\"7\""),
        "{e}"
    );
}

#[test]
fn ablate_prints_both_tables() {
    let o = ok(&["ablate"]);
    for row in [
        "Table 3",
        "Table 4",
        "Full-Precision",
        "Layer-Wise Quant.",
        "Channel-Wise Quant.",
        "Scale Reparam",
        "Log2 Quant.",
        "Log-sqrt2 Quant.",
    ] {
        assert!(o.contains(row), "{row} missing:\n{o}");
    }
    assert!(
        o.contains("log-sqrt2 vs scale reparam logits: bit-identical"),
        "{o}"
    );
    eprintln!("{o}");
    let e = fails(&["ablate", "--wbits", "10"]);
    assert!(e.contains("--wbits"), "{e}");
}
