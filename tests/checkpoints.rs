//! Checkpoints as users have them (tests/fixtures/checkpoints, made by
//! tools/make_checkpoint_fixtures.py with timm 1.0.31): timm's hub layout with config.json and
//! each pretrained tag's preprocessing, PyTorch training checkpoints, wrapper prefixes, extra
//! entries, unsupported architectures, and fields nothing determines. Logits are compared with
//! timm's own pipeline (PIL decode, timm eval transform, timm forward); bound: max |diff| <=
//! 1e-4 * max |logit|, as tests/parity.rs.

use std::path::{Path, PathBuf};

use repq_hw::Error;
use repq_hw::data::{EvalTransform, open_rgb};
use repq_hw::model::checkpoint::{TensorFile, to_safetensors};
use repq_hw::model::{LoadOptions, Loaded, Model, Sidecar, VisionTransformer, VitConfig};
use safetensors::SafeTensors;
use safetensors::tensor::TensorView;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/checkpoints")
}

/// A fresh scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("repq-hw-ckpt-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn tensor(st: &SafeTensors, name: &str) -> Vec<f32> {
    f32s(
        st.tensor(name)
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .data(),
    )
}

/// (max |diff|, max |want|), asserting the parity bound.
fn assert_close(what: &str, got: &[f32], want: &[f32]) -> (f32, f32) {
    assert_eq!(got.len(), want.len(), "{what}");
    let diff = got
        .iter()
        .zip(want)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    let scale = want.iter().map(|v| v.abs()).fold(0.0, f32::max);
    eprintln!("{what}: max |diff| {diff:.3e}, max |logit| {scale:.3e}");
    assert!(scale > 0.0, "{what}");
    assert!(
        diff <= 1e-4 * scale,
        "{what}: max |diff| {diff} > 1e-4 * {scale}"
    );
    (diff, scale)
}

fn open(path: &Path, options: &LoadOptions) -> Result<Loaded, Error> {
    Model::open(path, options)
}

fn field<'a>(l: &'a Loaded, name: &str) -> &'a repq_hw::model::FieldReport {
    l.fields
        .iter()
        .find(|f| f.field == name)
        .unwrap_or_else(|| panic!("no field {name}"))
}

/// The JPEG fixtures, in the order of the rows of hub_logits.safetensors (sorted names).
fn jpegs() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/jpeg");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jpg"))
        .collect();
    v.sort();
    v
}

/// A directory holding `model.safetensors` (copied from `base`) and `config` as config.json.
fn hub_dir(name: &str, base: &str, config: &str) -> PathBuf {
    let d = scratch(name);
    std::fs::copy(
        fixtures().join(base).join("model.safetensors"),
        d.join("model.safetensors"),
    )
    .unwrap();
    std::fs::write(d.join("config.json"), config).unwrap();
    d
}

// ---------------------------------------------------------------------------------------------
// timm's hub layout

#[test]
fn config_json_gives_heads_and_preprocessing() {
    let l = open(
        &fixtures().join("hub224/model.safetensors"),
        &LoadOptions::default(),
    )
    .unwrap();
    let c = l.model.config().unwrap();
    assert_eq!((c.embed_dim, c.num_heads, c.head_dim()), (32, 4, 8));
    assert_eq!(l.model.preprocess.crop_pct, 0.9);
    assert_eq!(l.model.preprocess.mean, vec![0.5; 3]);
    assert_eq!(
        l.arch.as_deref(),
        Some("vit_base_patch16_224.augreg2_in21k_ft_in1k")
    );
    assert!(
        field(&l, "num_heads")
            .origin
            .contains("config.json model_args")
    );
    assert!(
        field(&l, "crop_pct")
            .origin
            .contains("config.json pretrained_cfg")
    );
    assert!(
        field(&l, "layer_norm_eps")
            .origin
            .contains("timm vit_base_patch16_224")
    );
    assert_eq!(l.model.name, "hub224");
}

#[test]
fn without_config_the_open_fields_are_an_error_naming_them() {
    let d = scratch("bare");
    let ckpt = d.join("model.safetensors");
    std::fs::copy(fixtures().join("hub224/model.safetensors"), &ckpt).unwrap();
    let err = open(&ckpt, &LoadOptions::default()).unwrap_err();
    let msg = err.to_string();
    match &err {
        Error::Undetermined { fields, .. } => {
            assert_eq!(fields[0], "num_heads");
            for f in ["layer_norm_eps", "global_pool", "mean", "std", "crop_pct"] {
                assert!(fields.iter().any(|x| x == f), "{f} in {fields:?}");
            }
        }
        other => panic!("expected Undetermined, got {other}"),
    }
    assert!(
        msg.contains("--num-heads") && msg.contains("--arch"),
        "{msg}"
    );
    // The options give them; a wrong head count is refused by name.
    let cli = "num_heads = 4\nlayer_norm_eps = 1e-6\nglobal_pool = \"token\"\n\
               mean = [0.5, 0.5, 0.5]\nstd = [0.5, 0.5, 0.5]\ncrop_pct = 0.9\n\
               crop_mode = \"center\"\ninterpolation = \"bicubic\"\n";
    let mut o = LoadOptions {
        overrides: Sidecar::parse(cli, Path::new("cli")).unwrap(),
        ..LoadOptions::default()
    };
    let l = open(&ckpt, &o).unwrap();
    assert_eq!(l.model.config().unwrap().num_heads, 4);
    assert_eq!(field(&l, "num_heads").origin, "--num-heads");
    o.overrides.num_heads = Some(5);
    let err = open(&ckpt, &o).unwrap_err();
    assert!(
        matches!(&err, Error::Config { field, .. } if field == "num_heads"),
        "{err}"
    );
    // A timm name whose shapes differ from the checkpoint's is refused, naming the field.
    o.overrides = Sidecar {
        arch: Some("vit_base_patch16_224".into()),
        ..Sidecar::default()
    };
    let err = open(&ckpt, &o).unwrap_err();
    assert!(
        matches!(&err, Error::Config { field, .. } if field == "embed_dim"),
        "{err}"
    );
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn sidecar_and_options_override_config_json() {
    let src = fixtures().join("hub224");
    let config = std::fs::read_to_string(src.join("config.json")).unwrap();
    let d = hub_dir("override", "hub224", &config);
    let ckpt = d.join("model.safetensors");
    std::fs::write(d.join("model.toml"), "crop_pct = 1.0\nname = \"mine\"\n").unwrap();
    let l = open(&ckpt, &LoadOptions::default()).unwrap();
    assert_eq!(l.model.preprocess.crop_pct, 1.0);
    assert!(field(&l, "crop_pct").origin.contains("model.toml"));
    assert_eq!(l.model.name, "mine");
    let mut o = LoadOptions::default();
    o.overrides.crop_pct = Some(0.95);
    o.overrides.mean = Some(vec![0.4, 0.4, 0.4]);
    let l = open(&ckpt, &o).unwrap();
    assert_eq!(l.model.preprocess.crop_pct, 0.95);
    assert_eq!(field(&l, "crop_pct").origin, "--crop-pct");
    assert_eq!(l.model.preprocess.mean, vec![0.4; 3]);
    assert_eq!(l.model.preprocess.std, vec![0.5; 3]);
    o.no_config_json = true;
    o.overrides = Sidecar::default();
    let err = open(&ckpt, &o).unwrap_err();
    assert!(matches!(err, Error::Undetermined { .. }), "{err}");
    std::fs::remove_dir_all(&d).unwrap();
}

/// Every preprocessing that the supported timm tags use (crop_pct 0.9 / 1.0, ImageNet / 0.5 /
/// CLIP statistics, 224 / 384), end to end from the JPEG files: decode, transform, forward.
#[test]
fn each_tags_preprocessing_matches_timm_end_to_end() {
    let tags: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("tags.json")).unwrap())
            .unwrap();
    let bytes = std::fs::read(fixtures().join("hub_logits.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let images: Vec<_> = jpegs().iter().map(|p| open_rgb(p).unwrap()).collect();
    assert_eq!(images.len(), 11);
    assert_eq!(tags.len(), 5);
    for (variant, text) in &tags {
        let text = text.as_str().unwrap();
        let base = if text.contains("\"img_size\": [\n      384") {
            "hub384"
        } else {
            "hub224"
        };
        let d = hub_dir(&format!("tag-{variant}"), base, text);
        let m = Model::load(&d.join("model.safetensors")).unwrap();
        let t = EvalTransform::new(&m.preprocess, m.config().unwrap().img_size).unwrap();
        let mut x = Vec::new();
        for img in &images {
            x.extend(t.apply(img).unwrap());
        }
        let got = m.vit().unwrap().forward(&x, images.len()).unwrap();
        assert_close(&format!("tag {variant}"), &got, &tensor(&st, variant));
        std::fs::remove_dir_all(&d).unwrap();
    }
}

#[test]
fn a_tag_with_an_unimplemented_filter_is_refused_by_name() {
    let mut cfg: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("hub224/config.json")).unwrap(),
    )
    .unwrap();
    cfg["pretrained_cfg"]["interpolation"] = "bilinear".into();
    let d = hub_dir("bilinear", "hub224", &cfg.to_string());
    let err = Model::load(&d.join("model.safetensors")).unwrap_err();
    assert!(
        matches!(&err, Error::Config { field, .. } if field == "interpolation"),
        "{err}"
    );
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn config_json_pretrained_cfg_gaps_take_timms_dataclass_defaults() {
    // timm builds PretrainedCfg(**pretrained_cfg): absent fields take its defaults.
    let mut cfg: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("hub224/config.json")).unwrap(),
    )
    .unwrap();
    cfg["pretrained_cfg"] = serde_json::json!({"crop_pct": 0.95});
    let d = hub_dir("gaps", "hub224", &cfg.to_string());
    let l = open(&d.join("model.safetensors"), &LoadOptions::default()).unwrap();
    assert_eq!(l.model.preprocess.crop_pct, 0.95);
    assert_eq!(l.model.preprocess.mean, vec![0.485, 0.456, 0.406]);
    assert!(field(&l, "mean").origin.contains("PretrainedCfg default"));
    // The input size is never the default 224: here it comes from model_args.img_size.
    assert!(field(&l, "img_size").origin.contains("model_args"));
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn config_json_model_args_that_change_the_model_are_checked() {
    let base: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("hub224/config.json")).unwrap(),
    )
    .unwrap();
    let case = |name: &str, edit: &dyn Fn(&mut serde_json::Value)| {
        let mut cfg = base.clone();
        edit(&mut cfg);
        let d = hub_dir(name, "hub224", &cfg.to_string());
        let r = Model::load(&d.join("model.safetensors"));
        std::fs::remove_dir_all(&d).unwrap();
        r.unwrap_err()
    };
    let e = case("ls", &|c| c["model_args"]["init_values"] = 1e-5.into());
    assert!(
        matches!(e, Error::Unsupported { .. }) && e.to_string().contains("LayerScale"),
        "{e}"
    );
    let e = case("unknown", &|c| c["model_args"]["frobnicate"] = true.into());
    assert!(e.to_string().contains("model_args.frobnicate"), "{e}");
    // A Swin config.json beside ViT tensors: the tensors decide the family, the file disagrees.
    let e = case("swin", &|c| {
        c["architecture"] = "swin_tiny_patch4_window7_224".into();
        c.as_object_mut().unwrap().remove("model_args");
    });
    assert!(
        matches!(e, Error::Config { .. }) && e.to_string().contains("swin model"),
        "{e}"
    );
    let e = case("swinv2", &|c| {
        c["architecture"] = "swinv2_tiny_window8_256".into()
    });
    assert!(
        matches!(e, Error::Unsupported { .. }) && e.to_string().contains("SwinV2"),
        "{e}"
    );
    let e = case("dinov2", &|c| {
        c["architecture"] = "vit_base_patch14_dinov2".into()
    });
    assert!(
        matches!(e, Error::Unsupported { .. }) && e.to_string().contains("LayerScale"),
        "{e}"
    );
    // model_args are the keyword arguments timm builds the model with (num_classes included).
    let e = case("classes", &|c| c["model_args"]["num_classes"] = 1000.into());
    assert!(
        matches!(&e, Error::Config { field, .. } if field == "num_classes"),
        "{e}"
    );
    let e = case("hf", &|c| {
        c.as_object_mut().unwrap().remove("architecture");
    });
    assert!(e.to_string().contains("architecture"), "{e}");
}

// ---------------------------------------------------------------------------------------------
// Key prefixes and extra entries in safetensors

/// hub224's tensors under new names, plus extra tensors, written beside its config.json.
fn rewritten(
    name: &str,
    rename: &dyn Fn(&str) -> String,
    extra: &[(&str, safetensors::Dtype, Vec<u8>)],
) -> PathBuf {
    let src = fixtures().join("hub224");
    let bytes = std::fs::read(src.join("model.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let mut views: Vec<(String, TensorView<'_>)> = st
        .tensors()
        .into_iter()
        .map(|(n, v)| (rename(&n), v))
        .collect();
    for (n, dtype, data) in extra {
        views.push((
            n.to_string(),
            TensorView::new(*dtype, vec![], data).unwrap(),
        ));
    }
    let d = hub_dir(
        name,
        "hub224",
        &std::fs::read_to_string(src.join("config.json")).unwrap(),
    );
    std::fs::write(
        d.join("model.safetensors"),
        safetensors::serialize(views, None).unwrap(),
    )
    .unwrap();
    d.join("model.safetensors")
}

#[test]
fn wrapper_prefixes_are_stripped_and_said() {
    let plain = Model::load(&fixtures().join("hub224/model.safetensors")).unwrap();
    for prefix in ["module.", "model.", "_orig_mod.", "_orig_mod.module."] {
        let p = rewritten(&format!("prefix{prefix}"), &|n| format!("{prefix}{n}"), &[]);
        let l = open(&p, &LoadOptions::default()).unwrap();
        assert_eq!(l.model.vit().unwrap(), plain.vit().unwrap(), "{prefix}");
        // Every wrapper of the prefix is named in the note ("_orig_mod.module." is two).
        let wrappers: Vec<String> = prefix
            .split_inclusive('.')
            .map(|w| format!("`{w}`"))
            .collect();
        assert!(
            l.notes
                .iter()
                .any(|n| n.contains("stripped the wrapper prefixes")
                    && wrappers.iter().all(|w| n.contains(w.as_str()))),
            "{prefix}: {:?}",
            l.notes
        );
        std::fs::remove_dir_all(p.parent().unwrap()).unwrap();
    }
    // A prefix that is no wrapper's is named in the error.
    let p = rewritten("prefix-other", &|n| format!("backbone.{n}"), &[]);
    let err = Model::load(&p).unwrap_err();
    assert!(err.to_string().contains("`backbone.`"), "{err}");
    std::fs::remove_dir_all(p.parent().unwrap()).unwrap();
}

#[test]
fn non_float_entries_are_skipped_with_a_note() {
    let epoch = 7i64.to_le_bytes().to_vec();
    let p = rewritten(
        "epoch",
        &|n| n.to_string(),
        &[("epoch", safetensors::Dtype::I64, epoch)],
    );
    let l = open(&p, &LoadOptions::default()).unwrap();
    assert!(
        l.notes.iter().any(|n| n.contains("`epoch`")),
        "{:?}",
        l.notes
    );
    std::fs::remove_dir_all(p.parent().unwrap()).unwrap();
}

// ---------------------------------------------------------------------------------------------
// PyTorch files

fn small_options(ema: bool) -> LoadOptions {
    LoadOptions {
        overrides: Sidecar::parse(
            &std::fs::read_to_string(fixtures().join("small.toml")).unwrap(),
            &fixtures().join("small.toml"),
        )
        .unwrap(),
        ema,
        no_config_json: false,
    }
}

#[test]
fn pytorch_checkpoints_match_timm() {
    let bytes = std::fs::read(fixtures().join("pth_io.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let x = tensor(&st, "input");
    for (file, ema, key) in [
        ("train.pth", false, "train"),
        ("train.pth", true, "train_ema"),
        ("deit.pth", false, "deit"),
        ("deit.pth", true, "deit_ema"),
        ("plain.pt", false, "plain"),
    ] {
        let l = open(&fixtures().join(file), &small_options(ema)).unwrap();
        let got = l.model.vit().unwrap().forward(&x, 2).unwrap();
        assert_close(
            &format!("{file} ({key})"),
            &got,
            &tensor(&st, &format!("{key}.logits")),
        );
        let notes = l.notes.join("\n");
        eprintln!("{notes}");
        assert!(notes.contains("stripped"), "{notes}");
    }
}

#[test]
fn pytorch_notes_say_what_was_skipped() {
    let l = open(&fixtures().join("train.pth"), &small_options(false)).unwrap();
    let notes = l.notes.join("\n");
    for what in [
        "`state_dict`",
        "`epoch` (int)",
        "`optimizer` (dict)",
        "`args` (",
        "--ema",
    ] {
        assert!(notes.contains(what), "{what} in {notes}");
    }
    let l = open(&fixtures().join("plain.pt"), &small_options(false)).unwrap();
    let notes = l.notes.join("\n");
    assert!(notes.contains("`epoch` (int)"), "{notes}");
    assert!(notes.contains("num_batches_tracked"), "{notes}");
    // --ema where there are no EMA weights, and on safetensors, is an error naming --ema.
    for p in [
        fixtures().join("plain.pt"),
        fixtures().join("hub224/model.safetensors"),
    ] {
        let err = open(&p, &small_options(true)).unwrap_err();
        assert!(
            matches!(&err, Error::Config { field, .. } if field == "--ema"),
            "{err}"
        );
    }
}

#[test]
fn a_corrupt_pytorch_file_is_a_checkpoint_error() {
    let d = scratch("corrupt-pth");
    let good = std::fs::read(fixtures().join("train.pth")).unwrap();
    let p = d.join("cut.pth");
    std::fs::write(&p, &good[..good.len() / 2]).unwrap();
    let err = open(&p, &small_options(false)).unwrap_err();
    assert!(matches!(err, Error::Checkpoint { .. }), "{err}");
    assert!(err.to_string().contains("cut.pth"), "{err}");
    std::fs::remove_dir_all(&d).unwrap();
}

// ---------------------------------------------------------------------------------------------
// Architectures not supported yet are named, never reported as a corrupt file

fn tiny() -> VitConfig {
    VitConfig {
        img_size: [16, 16],
        patch_size: [8, 8],
        in_chans: 3,
        embed_dim: 16,
        depth: 1,
        num_heads: 2,
        mlp_hidden: 32,
        num_classes: 3,
        qkv_bias: true,
        distilled: false,
        ln_eps: 1e-6,
    }
}

fn with_tensors(add: &[(&str, Vec<usize>)], drop: &[&str]) -> Result<Model, Error> {
    let bytes = to_safetensors(&VisionTransformer::random(tiny(), 3)).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let data: Vec<Vec<u8>> = add
        .iter()
        .map(|(_, s)| vec![0u8; 4 * s.iter().product::<usize>()])
        .collect();
    let mut views: Vec<(String, TensorView<'_>)> = st
        .tensors()
        .into_iter()
        .filter(|(n, _)| !drop.contains(&n.as_str()))
        .collect();
    for ((n, s), d) in add.iter().zip(&data) {
        views.push((
            n.to_string(),
            TensorView::new(safetensors::Dtype::F32, s.clone(), d).unwrap(),
        ));
    }
    let sidecar = Sidecar::parse(
        "num_heads = 2\nlayer_norm_eps = 1e-6\nglobal_pool = \"token\"\nmean = [0.5, 0.5, 0.5]\n\
         std = [0.5, 0.5, 0.5]\ncrop_pct = 0.9\ncrop_mode = \"center\"\n\
         interpolation = \"bicubic\"\n",
        Path::new("t.toml"),
    )
    .unwrap();
    Model::from_bytes(
        &safetensors::serialize(views, None).unwrap(),
        Path::new("variant.safetensors"),
        &sidecar,
        None,
    )
}

#[test]
fn unsupported_architectures_are_named() {
    assert!(with_tensors(&[], &[]).is_ok());
    type Case<'a> = (&'a [(&'a str, Vec<usize>)], &'a [&'a str], &'a str);
    let cases: [Case<'_>; 6] = [
        (
            &[("layers.0.blocks.0.attn.logit_scale", vec![3, 1, 1])],
            &["pos_embed", "cls_token"],
            "SwinV2",
        ),
        (&[("blocks.0.ls1.gamma", vec![16])], &[], "LayerScale"),
        (&[("fc_norm.weight", vec![16])], &[], "fc_norm"),
        (&[("reg_token", vec![1, 4, 16])], &[], "register tokens"),
        (&[], &["cls_token"], "class token"),
        (&[("norm_pre.weight", vec![16])], &[], "pre-norm"),
    ];
    for (add, drop, name) in cases {
        let err = with_tensors(add, drop).unwrap_err();
        assert!(matches!(err, Error::Unsupported { .. }), "{name}: {err}");
        let msg = err.to_string();
        assert!(msg.contains(name), "{name}: {msg}");
        assert!(
            !msg.contains("safetensors file") && !msg.contains("missing tensor"),
            "{msg}"
        );
    }
}

#[test]
fn tensor_file_reads_both_formats() {
    let st = TensorFile::read(&fixtures().join("hub224/model.safetensors")).unwrap();
    let pt = TensorFile::read(&fixtures().join("plain.pt")).unwrap();
    assert!(st.contains("blocks.0.attn.qkv.weight"));
    assert!(pt.contains("blocks.1.attn.qkv.weight"));
    assert!(!pt.contains("epoch"));
}

/// The demo model on its test digits saved as JPEGs, read as an ImageFolder: every logit as
/// timm's pipeline gives it (PIL decode, timm eval transform, timm forward), rows in the
/// folder's order.
#[test]
fn jpeg_image_folder_logits_match_timm() {
    let folder = repq_hw::data::ImageFolder::open(fixtures().join("digits_jpeg")).unwrap();
    assert_eq!(folder.len(), 360);
    let model = repq_hw::demo::model().unwrap();
    let t = EvalTransform::new(&model.preprocess, model.config().unwrap().img_size).unwrap();
    let mut got = Vec::new();
    for b in folder.batches(&t, 64) {
        let b = b.unwrap();
        got.extend(model.vit().unwrap().forward(&b.data, b.len()).unwrap());
    }
    let bytes = std::fs::read(fixtures().join("digits_jpeg_logits.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    assert_close("digits_jpeg", &got, &tensor(&st, "logits"));
    let labels: Vec<usize> = folder.samples().iter().map(|s| s.label).collect();
    let want: Vec<usize> = st
        .tensor("labels")
        .unwrap()
        .data()
        .iter()
        .map(|&l| l as usize)
        .collect();
    assert_eq!(labels, want);
}
