//! Fuzz harnesses (docs/fuzzing.md): one per reader of untrusted input, each calling the library
//! entry point the CLI calls on that input, so that the fuzzers and the CLI run the same code.
//!
//! Used by the cargo-fuzz targets in `fuzz/` (libFuzzer, nightly Rust) and by
//! `tests/fuzz_corpus.rs`, which replays the committed corpus and every past finding on stable
//! Rust. A harness must return normally for every input: a panic, an abort, a stack overflow or
//! an allocation beyond the readers' limits is a finding. Where a reader accepts its input, the
//! harness also checks a property of the result (a round trip through the matching writer), so
//! that silently wrong output is a finding too.

use std::path::Path;

pub mod scratch;
pub mod seeds;

use crate::data::{EvalTransform, decode_rgb};
use crate::golden::{GoldenDir, dir::parse_file, hex, manifest::Manifest};
use crate::model::hub::CONFIG_JSON;
use crate::model::{LoadOptions, Loaded, Model, Network, Preprocess, Sidecar};
use crate::quant::{QuantizedModel, artifact::is_artifact_header};
use scratch::ScratchDir;

/// A reader under fuzzing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// A float checkpoint (`--model X.safetensors`): [`Model::from_bytes`].
    Checkpoint,
    /// A PyTorch checkpoint (`--model X.pth`): [`Model::open`] of the input written to a file,
    /// once for its weights and once for its EMA weights (`--ema`).
    Pth,
    /// The sidecar `X.toml` beside a checkpoint: [`Sidecar::parse`], then [`Model::from_bytes`]
    /// of a small fixed checkpoint with it ([`completed`] where it leaves fields open).
    Sidecar,
    /// timm's `config.json` beside a checkpoint: [`Model::open`] of a small fixed checkpoint with
    /// the input written beside it.
    ConfigJson,
    /// A quantized artifact (`--model X.safetensors` written by `quantize`): the detection of
    /// [`is_artifact_header`], then [`QuantizedModel::from_bytes`].
    Artifact,
    /// A golden-vector directory (`golden --check`, `verify --golden`): [`Manifest::parse`], each
    /// element file through [`parse_file`], then the cases `verify` would run.
    Golden,
    /// An image (`predict`, `eval`, `golden --image`): [`decode_rgb`], then timm's eval transform
    /// at 224x224.
    Image,
}

/// Every target, in the order of docs/fuzzing.md.
pub const TARGETS: [Target; 7] = [
    Target::Checkpoint,
    Target::Pth,
    Target::Sidecar,
    Target::ConfigJson,
    Target::Artifact,
    Target::Golden,
    Target::Image,
];

impl Target {
    /// The cargo-fuzz target name and the corpus directory name.
    pub fn name(self) -> &'static str {
        match self {
            Target::Checkpoint => "checkpoint",
            Target::Pth => "pth",
            Target::Sidecar => "sidecar",
            Target::ConfigJson => "config_json",
            Target::Artifact => "artifact",
            Target::Golden => "golden",
            Target::Image => "image",
        }
    }

    /// Runs the harness on one input.
    pub fn run(self, data: &[u8]) {
        match self {
            Target::Checkpoint => checkpoint(data),
            Target::Pth => pth(data),
            Target::Sidecar => sidecar(data),
            Target::ConfigJson => config_json(data),
            Target::Artifact => artifact(data),
            Target::Golden => golden(data),
            Target::Image => image(data),
        }
    }
}

/// Formats an error as the CLI prints it (the Display impls must not panic either).
fn report(e: &crate::Error) {
    assert!(!e.to_string().is_empty(), "an error without a message");
}

/// The fields tensor shapes cannot prove (heads, epsilon, pooling, preprocessing), as a sidecar
/// or `--num-heads 1 --layer-norm-eps 1e-6 ...` gives them: one head fits every width, so the
/// checkpoint harness reaches every shape check.
pub fn checkpoint_sidecar(chans: usize) -> Sidecar {
    let chans = chans.clamp(1, 64);
    Sidecar {
        num_heads: Some(1),
        layer_norm_eps: Some(1e-6),
        global_pool: Some("token".into()),
        mean: Some(vec![0.5; chans]),
        std: Some(vec![0.25; chans]),
        crop_pct: Some(0.875),
        crop_mode: Some("center".into()),
        interpolation: Some("bicubic".into()),
        ..Sidecar::default()
    }
}

/// A float checkpoint with the fields shapes cannot prove given ([`checkpoint_sidecar`]), as
/// `repq-hw info --model X.safetensors` loads it. A model that loads must serialize and load back
/// to the same model.
pub fn checkpoint(data: &[u8]) {
    let path = Path::new("fuzz.safetensors");
    let sidecar = checkpoint_sidecar(input_channels(data));
    match Model::from_bytes(data, path, &sidecar, None) {
        Ok(m) => assert_round_trip(&m.net, &sidecar),
        Err(e) => report(&e),
    }
}

/// A loaded model, written as safetensors and loaded back with the same `sidecar`, must be the
/// same model.
fn assert_round_trip(net: &Network, sidecar: &Sidecar) {
    let bytes = net.to_safetensors().expect("a loaded model serializes");
    let again = Model::from_bytes(&bytes, Path::new("fuzz.safetensors"), sidecar, None)
        .expect("a serialized model loads");
    assert_eq!(&again.net, net, "checkpoint round trip");
}

/// The command-line options the PyTorch harness loads with: the fields shapes cannot prove
/// ([`checkpoint_sidecar`] for 3 input channels, as every seed has), `--no-config-json`, and
/// `--ema` as asked.
pub fn pth_options(ema: bool) -> LoadOptions {
    LoadOptions {
        overrides: checkpoint_sidecar(3),
        ema,
        no_config_json: true,
    }
}

/// What the PyTorch harness loads: the input written to `fuzz.pth` in a fresh directory and
/// opened as `repq-hw info X.pth --num-heads 1 ...` opens it ([`pth_options`]), once for its
/// weights (`state_dict`, `model` or the root) and once with `--ema`, in that order.
pub fn pth_loaded(data: &[u8]) -> [crate::Result<Loaded>; 2] {
    let dir = ScratchDir::new("pth");
    let path = dir.write("fuzz.pth", data);
    [false, true].map(|ema| Model::open(&path, &pth_options(ema)))
}

/// A PyTorch checkpoint: [`pth_loaded`]. A model that loads must serialize to safetensors and
/// load back to the same model.
pub fn pth(data: &[u8]) {
    for r in pth_loaded(data) {
        match r {
            Ok(loaded) => assert_round_trip(&loaded.model.net, &pth_options(false).overrides),
            Err(e) => report(&e),
        }
    }
}

/// `s` with every field it leaves open taken from [`checkpoint_sidecar`], so a sidecar that gives
/// only some fields still reaches the model checks.
pub fn completed(s: Sidecar, chans: usize) -> Sidecar {
    let base = checkpoint_sidecar(chans);
    Sidecar {
        num_heads: s.num_heads.or(base.num_heads),
        layer_norm_eps: s.layer_norm_eps.or(base.layer_norm_eps),
        global_pool: s.global_pool.or(base.global_pool),
        mean: s.mean.or(base.mean),
        std: s.std.or(base.std),
        crop_pct: s.crop_pct.or(base.crop_pct),
        crop_mode: s.crop_mode.or(base.crop_mode),
        interpolation: s.interpolation.or(base.interpolation),
        ..s
    }
}

/// The input channels the checkpoint's patch embedding declares (3 when it cannot be read).
pub fn input_channels(data: &[u8]) -> usize {
    safetensors::SafeTensors::deserialize(data)
        .ok()
        .and_then(|st| {
            st.tensor("patch_embed.proj.weight")
                .ok()
                .map(|t| t.shape().to_vec())
        })
        .and_then(|s| s.get(1).copied())
        .unwrap_or(3)
}

/// The model the sidecar harness builds: the sidecar's TOML text applied to
/// [`seeds::small_checkpoint`] as [`Model::load`] applies it, with the fields it leaves open
/// [`completed`] as the command line would give them (`--num-heads 1 ...`), so that a sidecar
/// giving only some fields still reaches the model checks. `None` for bytes that are not UTF-8:
/// `Sidecar::beside` reads the file with `read_to_string`, so those are an I/O error.
pub fn sidecar_model(data: &[u8]) -> Option<crate::Result<Model>> {
    let text = std::str::from_utf8(data).ok()?;
    let path = Path::new("fuzz.toml");
    Some(Sidecar::parse(text, path).and_then(|s| {
        let ckpt = seeds::small_checkpoint();
        let s = completed(s, input_channels(ckpt));
        Model::from_bytes(ckpt, Path::new("fuzz.safetensors"), &s, Some(path))
    }))
}

/// A sidecar's TOML text: [`sidecar_model`], then the eval transform `predict` builds from the
/// preprocessing the sidecar gave.
pub fn sidecar(data: &[u8]) {
    match sidecar_model(data) {
        Some(Ok(m)) => {
            if let Err(e) = EvalTransform::new(&m.preprocess, m.img_size()) {
                report(&e);
            }
        }
        Some(Err(e)) => report(&e),
        None => {}
    }
}

/// What the config.json harness loads: the input written as timm's `config.json` beside
/// [`seeds::small_checkpoint`], saved as `model.safetensors` in a fresh directory, and the
/// checkpoint opened as `repq-hw info DIR/model.safetensors` opens it (no options).
pub fn config_json_loaded(data: &[u8]) -> crate::Result<Loaded> {
    let dir = ScratchDir::new("config-json");
    dir.write(CONFIG_JSON, data);
    let ckpt = dir.write("model.safetensors", seeds::small_checkpoint());
    Model::open(&ckpt, &LoadOptions::default())
}

/// A timm `config.json`: [`config_json_loaded`], then the eval transform `predict` builds from
/// the model. A model that loads must name the config.json beside it as the one file it read.
pub fn config_json(data: &[u8]) {
    match config_json_loaded(data) {
        Ok(loaded) => {
            let beside = loaded.model.source.with_file_name(CONFIG_JSON);
            assert_eq!(loaded.read, [beside], "the files read");
            let m = &loaded.model;
            if let Err(e) = EvalTransform::new(&m.preprocess, m.img_size()) {
                report(&e);
            }
        }
        Err(e) => report(&e),
    }
}

/// A quantized artifact: detected by its header as `LoadedModel::load` does, then loaded (also
/// when the detection says no: the loader must reject a float checkpoint cleanly). An artifact
/// that loads must write back the same bytes.
pub fn artifact(data: &[u8]) {
    let detected = is_artifact_header(data);
    let path = Path::new("fuzz.safetensors");
    match QuantizedModel::from_bytes(data, path) {
        Ok(q) => {
            assert!(
                detected,
                "a loadable artifact that is_artifact does not recognize"
            );
            let bytes = q.to_bytes().expect("a loaded artifact serializes");
            let again = QuantizedModel::from_bytes(&bytes, path).expect("its bytes load");
            assert_eq!(
                again.to_bytes().expect("serializes"),
                bytes,
                "artifact round trip"
            );
        }
        Err(e) => report(&e),
    }
}

/// Separates the manifest and the element files in a golden-directory input.
pub const GOLDEN_SEPARATOR: u8 = 0;

/// A golden-vector directory packed into one input: `manifest.toml`, then the element files in
/// manifest order, each preceded by [`GOLDEN_SEPARATOR`] (a file with no bytes left is missing).
/// Runs what `golden --check` runs (manifest, then every file), then the case list of
/// `verify --all-blocks`. Every file that parses must encode back to its own text.
pub fn golden(data: &[u8]) {
    let mut parts = data.split(|&b| b == GOLDEN_SEPARATOR);
    let Ok(text) = std::str::from_utf8(parts.next().unwrap_or_default()) else {
        return;
    };
    let root = Path::new("fuzz-golden");
    let manifest = match Manifest::parse(text, &root.join("manifest.toml")) {
        Ok(m) => m,
        Err(e) => return report(&e),
    };
    for entry in &manifest.files {
        let Some(bytes) = parts.next() else {
            break;
        };
        match parse_file(entry, bytes, &root.join(&entry.path)) {
            Ok(values) => {
                let back = hex::encode(&values, entry.bits, entry.signed)
                    .expect("parsed values fit their type");
                assert!(
                    back.as_bytes().eq_ignore_ascii_case(bytes),
                    "hex round trip of {}",
                    entry.path
                );
            }
            Err(e) => report(&e),
        }
    }
    let g = GoldenDir {
        root: root.to_path_buf(),
        manifest,
    };
    let cases = crate::verify::cases::all_blocks(std::slice::from_ref(&g))
        .and_then(|blocks| crate::verify::cases_for(&g, &seeds::rtl_info(), &blocks));
    if let Err(e) = cases {
        report(&e);
    }
}

/// An image file, decoded and put through timm's default eval transform at 224x224, as
/// `predict` does.
pub fn image(data: &[u8]) {
    let path = Path::new("fuzz.png");
    let img = match decode_rgb(data, path) {
        Ok(img) => img,
        Err(e) => return report(&e),
    };
    assert_eq!(img.as_bytes().len(), 3 * img.width() * img.height());
    let transform = EvalTransform::new(&Preprocess::default(), [224, 224]).expect("default");
    match transform.apply(&img) {
        Ok(x) => assert_eq!(x.len(), transform.output_len()),
        Err(e) => report(&e),
    }
}
