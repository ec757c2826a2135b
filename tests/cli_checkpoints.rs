//! Checkpoints and data folders as a new user has them, through the real binary: a ViT whose
//! heads are not 64 wide with and without timm's config.json, wrapper prefixes, PyTorch files
//! with the model options, `eval` on a folder of JPEGs against timm's top-1 (with a hidden
//! folder inside), the class map, and `--calib` on a flat folder.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use repq_hw::model::checkpoint::to_safetensors;
use repq_hw::model::{VisionTransformer, VitConfig};
use safetensors::SafeTensors;

const BIN: &str = env!("CARGO_BIN_EXE_repq-hw");

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("run repq-hw")
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/checkpoints")
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("repq-hw-cli-ckpt-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), dst).unwrap();
        }
    }
}

/// The issue's case: a 320-wide one-block ViT with 4 heads of 80.
fn vit320() -> VisionTransformer {
    VisionTransformer::random(
        VitConfig {
            img_size: [32, 32],
            patch_size: [16, 16],
            in_chans: 3,
            embed_dim: 320,
            depth: 1,
            num_heads: 4,
            mlp_hidden: 1280,
            num_classes: 10,
            qkv_bias: true,
            distilled: false,
            ln_eps: 1e-6,
        },
        5,
    )
}

#[test]
fn a_320_wide_vit_needs_its_heads_and_reads_them_from_config_json() {
    let d = scratch("vit320");
    let ckpt = d.join("model.safetensors");
    let vit = vit320();
    std::fs::write(&ckpt, to_safetensors(&vit).unwrap()).unwrap();
    let c = ckpt.to_str().unwrap();

    // No config: an error naming the heads and how to give them; never 5 heads of 64.
    let o = run(&["info", c]);
    assert!(!o.status.success());
    assert!(
        err(&o).contains("num_heads") && err(&o).contains("--num-heads"),
        "{}",
        err(&o)
    );

    // timm's config.json (as save_config_for_hf writes it, trimmed to what matters).
    std::fs::write(
        d.join("config.json"),
        r#"{"architecture": "vit_base_patch16_224", "num_classes": 10, "num_features": 320,
            "global_pool": "token",
            "model_args": {"embed_dim": 320, "depth": 1, "num_heads": 4, "img_size": 32,
                           "num_classes": 10},
            "pretrained_cfg": {"crop_pct": 0.9, "input_size": [3, 32, 32]}}"#,
    )
    .unwrap();
    let o = run(&["info", c]);
    assert!(o.status.success(), "{}", err(&o));
    let text = out(&o);
    assert!(text.contains("320 (4 heads of 80)"), "{text}");
    assert!(text.contains("crop_pct 0.9"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("num_heads") && l.contains("config.json model_args")),
        "{text}"
    );

    // Every key under `module.`: loads, with a note.
    let bytes = std::fs::read(&ckpt).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let views: Vec<_> = st
        .tensors()
        .into_iter()
        .map(|(n, v)| (format!("module.{n}"), v))
        .collect();
    let wrapped = safetensors::serialize(views, None).unwrap();
    std::fs::write(&ckpt, wrapped).unwrap();
    let o = run(&["info", c]);
    assert!(o.status.success(), "{}", err(&o));
    assert!(out(&o).contains("4 heads of 80"), "{}", out(&o));
    assert!(
        err(&o).contains("stripped") && err(&o).contains("module."),
        "{}",
        err(&o)
    );
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn pytorch_files_take_the_model_options() {
    let p = fixtures().join("train.pth");
    let p = p.to_str().unwrap();
    let opts = [
        "--num-heads",
        "4",
        "--layer-norm-eps",
        "1e-6",
        "--global-pool",
        "token",
        "--mean",
        "0.485,0.456,0.406",
        "--std",
        "0.229,0.224,0.225",
        "--crop-pct",
        "0.875",
        "--crop-mode",
        "center",
        "--interpolation",
        "bicubic",
    ];
    let o = run(&[&["info", p][..], &opts[..]].concat());
    assert!(o.status.success(), "{}", err(&o));
    assert!(out(&o).contains("32 (4 heads of 8)"), "{}", out(&o));
    assert!(
        err(&o).contains("`state_dict`") && err(&o).contains("--ema"),
        "{}",
        err(&o)
    );
    let o = run(&[&["info", p, "--ema"][..], &opts[..]].concat());
    assert!(o.status.success(), "{}", err(&o));
    assert!(
        err(&o).contains("read the state dict `state_dict_ema`"),
        "{}",
        err(&o)
    );
    // Options with the embedded model are refused rather than ignored.
    let o = run(&["info", "--num-heads", "4"]);
    assert!(!o.status.success());
    assert!(err(&o).contains("embedded"), "{}", err(&o));
    let o = run(&["perf", "--pe", "4x4", "--num-heads", "4"]);
    assert!(!o.status.success());
    assert!(err(&o).contains("embedded"), "{}", err(&o));

    // perf and golden take the same options for a float checkpoint: without them the fields
    // are named, with them the model runs.
    let o = run(&["perf", "--pe", "4x4", "--model", p]);
    assert!(!o.status.success());
    assert!(err(&o).contains("--num-heads N"), "{}", err(&o));
    let o = run(&[&["perf", "--pe", "4x4", "--model", p][..], &opts[..]].concat());
    assert!(o.status.success(), "{}", err(&o));
    assert!(out(&o).contains("images/s"), "{}", out(&o));
    let g = scratch("golden_pth");
    let _ = std::fs::remove_dir_all(&g);
    let calib = fixtures().join("digits_jpeg");
    let image = fixtures()
        .join("digits_jpeg/3")
        .read_dir()
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let golden = [
        "golden",
        "--model",
        p,
        "--calib",
        calib.to_str().unwrap(),
        "--image",
        image.to_str().unwrap(),
        "--out",
        g.to_str().unwrap(),
    ];
    let o = run(&golden);
    assert!(!o.status.success());
    assert!(err(&o).contains("--num-heads N"), "{}", err(&o));
    let o = run(&[&golden[..], &opts[..]].concat());
    assert!(o.status.success(), "{}", err(&o));
    assert!(g.join("manifest.toml").is_file(), "{}", out(&o));
}

/// timm's top-1 on the JPEG folder (tools/make_checkpoint_fixtures.py: PIL decode, timm's eval
/// transform, the demo model in timm).
fn timm_top1_pct() -> f64 {
    let bytes = std::fs::read(fixtures().join("digits_jpeg_logits.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let logits: Vec<f32> = st
        .tensor("logits")
        .unwrap()
        .data()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let labels = st.tensor("labels").unwrap().data().to_vec();
    let hits = logits
        .chunks_exact(10)
        .zip(&labels)
        .filter(|(row, l)| {
            let best = (0..10).fold(0, |b, j| if row[j] > row[b] { j } else { b });
            best == usize::from(**l)
        })
        .count();
    100.0 * hits as f64 / labels.len() as f64
}

#[test]
fn eval_on_a_jpeg_folder_matches_timm_and_ignores_hidden_folders() {
    let want = timm_top1_pct();
    let d = scratch("digits");
    let data = d.join("digits");
    copy_tree(&fixtures().join("digits_jpeg"), &data);
    // A notebook's checkpoint folder with copies of images: never a class.
    let hidden = data.join(".ipynb_checkpoints");
    std::fs::create_dir_all(hidden.join("x")).unwrap();
    for (i, e) in std::fs::read_dir(data.join("3"))
        .unwrap()
        .take(5)
        .enumerate()
    {
        std::fs::copy(e.unwrap().path(), hidden.join(format!("x/{i}.jpg"))).unwrap();
    }
    // ... nor walked into inside a class.
    std::fs::create_dir_all(data.join("5/.cache")).unwrap();
    let seven = std::fs::read_dir(data.join("7"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    std::fs::copy(seven.path(), data.join("5/.cache/a.jpg")).unwrap();
    let o = run(&["eval", "--data", data.to_str().unwrap()]);
    assert!(o.status.success(), "{}", err(&o));
    let text = out(&o);
    eprintln!("{text}timm: top-1 {want:.2}%");
    assert!(
        text.contains(&format!("top-1 {want:.2}%")),
        "timm {want:.2}%: {text}"
    );
    assert!(err(&o).contains(".ipynb_checkpoints"), "{}", err(&o));
    assert!(err(&o).contains(".cache"), "{}", err(&o));
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn eval_prints_the_class_map_when_it_is_not_the_models() {
    let d = scratch("classmap");
    for c in ["3", "7"] {
        copy_tree(&fixtures().join("digits_jpeg").join(c), &d.join(c));
    }
    let o = run(&["eval", "--data", d.to_str().unwrap()]);
    assert!(o.status.success(), "{}", err(&o));
    let e = err(&o);
    assert!(
        e.contains("2 class folders for a model of 10 classes"),
        "{e}"
    );
    assert!(e.contains("0  3  (model label 0: 0)"), "{e}");
    assert!(e.contains("1  7  (model label 1: 1)"), "{e}");
    // The demo's own class folders (0..9 = its labels): nothing to say.
    let o = run(&[
        "eval",
        "--data",
        fixtures().join("digits_jpeg").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", err(&o));
    assert!(out(&o).contains("top-1"), "{}", out(&o));
    assert!(!err(&o).contains("class folders"), "{}", err(&o));
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn calibration_accepts_a_flat_folder_of_images() {
    let d = scratch("flat");
    let flat = d.join("calib");
    std::fs::create_dir_all(&flat).unwrap();
    for c in ["1", "4"] {
        for e in std::fs::read_dir(fixtures().join("digits_jpeg").join(c))
            .unwrap()
            .take(5)
        {
            let e = e.unwrap();
            std::fs::copy(
                e.path(),
                flat.join(format!("{c}_{}", e.file_name().to_string_lossy())),
            )
            .unwrap();
        }
    }
    let art = d.join("q.safetensors");
    let o = run(&[
        "quantize",
        "--calib",
        flat.to_str().unwrap(),
        "--calib-count",
        "8",
        "--wbits",
        "8",
        "--abits",
        "8",
        "--out",
        art.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", err(&o));
    assert!(art.exists());
    std::fs::remove_dir_all(&d).unwrap();
}
