//! The command line on a Swin checkpoint: `info`, `eval` of the float model, `quantize`, `eval`
//! and `predict` of the fake-quant artifact, `ablate`, the integer simulator, golden vectors and
//! `gen --model` on a Swin artifact, and `perf` refusing Swin with an error (not a panic).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use image::{GrayImage, ImageFormat};
use safetensors::SafeTensors;

const BIN: &str = env!("CARGO_BIN_EXE_repq-hw");

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("run repq-hw")
}

fn ok(args: &[&str]) -> String {
    let o = run(args);
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{args:?}: {e}");
    assert!(!e.contains("panicked"), "{e}");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn fails(args: &[&str]) -> String {
    let o = run(args);
    assert!(!o.status.success(), "{args:?} succeeded");
    let e = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(!e.contains("panicked"), "{e}");
    e
}

/// The first `n` test digits as an ImageFolder of 8x8 PNGs (10 classes, like the fixture's
/// head).
fn digits_folder(dir: &Path, n: usize) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let bytes = std::fs::read(root.join("assets/demo/digits_test.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let images = st.tensor("images").unwrap().data().to_vec();
    let labels = st.tensor("labels").unwrap().data().to_vec();
    let out = dir.join("digits");
    for i in 0..n {
        let class = out.join(labels[i].to_string());
        std::fs::create_dir_all(&class).unwrap();
        GrayImage::from_raw(8, 8, images[i * 64..(i + 1) * 64].to_vec())
            .unwrap()
            .save_with_format(class.join(format!("{i:05}.png")), ImageFormat::Png)
            .unwrap();
    }
    out
}

#[test]
fn swin_float_fake_quant_integer_and_golden_through_the_binary() {
    let tiny =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/swin/tiny/model.safetensors");
    let tiny = tiny.to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = digits_folder(dir.path(), 40);
    let data = data.to_str().unwrap();

    let info = ok(&["info", tiny]);
    assert!(
        info.contains("Swin Transformer") && info.contains("shift 3x3"),
        "{info}"
    );
    let fp = ok(&["eval", "--model", tiny, "--data", data]);
    assert!(fp.contains("top-1") && fp.contains("f32"), "{fp}");

    let art = dir.path().join("tiny_w8a8.safetensors");
    let art = art.to_str().unwrap();
    ok(&[
        "quantize",
        "--model",
        tiny,
        "--calib",
        data,
        "--calib-count",
        "16",
        "--wbits",
        "8",
        "--abits",
        "8",
        "--out",
        art,
    ]);
    let fq = ok(&["eval", "--model", art, "--data", data]);
    assert!(fq.contains("W8A8 fake-quant"), "{fq}");
    let img = std::fs::read_dir(Path::new(data).join("0"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let p = ok(&["predict", "--model", art, img.to_str().unwrap()]);
    assert!(p.contains("1. class"), "{p}");

    // The integer simulator runs a Swin (docs/arithmetic.md, "Swin Transformer in integers").
    let int = ok(&["eval", "--model", art, "--data", data, "--integer"]);
    assert!(
        int.contains("W8A8 fake-quant") && int.contains("W8A8 integer, s32 accumulators"),
        "{int}"
    );
    // Golden vectors (mode swin) and an RTL design sized for it.
    let g = dir.path().join("g");
    ok(&[
        "golden",
        "--model",
        art,
        "--image",
        img.to_str().unwrap(),
        "--out",
        g.to_str().unwrap(),
    ]);
    let manifest = std::fs::read_to_string(g.join("manifest.toml")).unwrap();
    assert!(manifest.contains("mode = \"swin\""), "{manifest}");
    assert!(manifest.contains("name = \"blocks.1.attn.rel_pos_bias\""));
    let rtl = dir.path().join("rtl");
    ok(&[
        "gen",
        "--pe",
        "4x4",
        "--model",
        art,
        "--out",
        rtl.to_str().unwrap(),
    ]);
    assert!(rtl.join("repq_top.v").exists());
    // perf counts a Swin's forward; the layer program, the engine image and the report are
    // ViT/DeiT only: an error naming Swin and what does run it, not a panic.
    let perf = ok(&["perf", "--pe", "4x4", "--model", art]);
    assert!(perf.contains("images/s") && perf.contains("pool"), "{perf}");
    for args in [
        vec!["program", "--model", art, "--out"],
        vec!["program", "--pe", "8x8", "--model", art, "--out"],
        vec!["report", "--model", art, "--out"],
    ] {
        let out = dir.path().join("refused");
        let mut a = args.clone();
        a.push(out.to_str().unwrap());
        let e = fails(&a);
        assert!(
            e.contains("Swin") && e.contains("ViT/DeiT") && e.contains("perf and verify"),
            "{args:?}: {e}"
        );
        assert!(!out.exists(), "{args:?} wrote {}", out.display());
    }

    let ab = ok(&[
        "ablate",
        "--model",
        tiny,
        "--calib",
        data,
        "--calib-count",
        "16",
        "--data",
        data,
        "--wbits",
        "6",
        "--abits",
        "6",
    ]);
    assert!(
        ab.contains("Table 3") && ab.contains("Scale Reparam"),
        "{ab}"
    );
}
