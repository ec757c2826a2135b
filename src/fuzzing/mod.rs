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

pub mod seeds;

use crate::data::{EvalTransform, decode_rgb};
use crate::golden::{GoldenDir, dir::parse_file, hex, manifest::Manifest};
use crate::model::{Model, Preprocess, Sidecar};
use crate::quant::{QuantizedModel, artifact::is_artifact_header};

/// A reader under fuzzing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// A float checkpoint (`--model X.safetensors`): [`Model::from_bytes`].
    Checkpoint,
    /// The sidecar `X.toml` beside a checkpoint: [`Sidecar::parse`], then [`Model::from_bytes`]
    /// of a small fixed checkpoint with it.
    Sidecar,
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
pub const TARGETS: [Target; 5] = [
    Target::Checkpoint,
    Target::Sidecar,
    Target::Artifact,
    Target::Golden,
    Target::Image,
];

impl Target {
    /// The cargo-fuzz target name and the corpus directory name.
    pub fn name(self) -> &'static str {
        match self {
            Target::Checkpoint => "checkpoint",
            Target::Sidecar => "sidecar",
            Target::Artifact => "artifact",
            Target::Golden => "golden",
            Target::Image => "image",
        }
    }

    /// Runs the harness on one input.
    pub fn run(self, data: &[u8]) {
        match self {
            Target::Checkpoint => checkpoint(data),
            Target::Sidecar => sidecar(data),
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
    let model = match Model::from_bytes(data, path, &sidecar, None) {
        Ok(m) => m,
        Err(e) => return report(&e),
    };
    let bytes =
        crate::model::checkpoint::to_safetensors(&model.vit).expect("a loaded model serializes");
    let again = Model::from_bytes(&bytes, path, &sidecar, None).expect("a serialized model loads");
    assert_eq!(again.vit, model.vit, "checkpoint round trip");
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

/// A sidecar's TOML text, applied to a small fixed checkpoint as [`Model::load`] does.
pub fn sidecar(data: &[u8]) {
    // `Sidecar::beside` reads the file with `read_to_string`: other bytes are an I/O error.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("fuzz.toml");
    let sidecar = match Sidecar::parse(text, path) {
        Ok(s) => s,
        Err(e) => return report(&e),
    };
    let ckpt = seeds::small_checkpoint();
    match Model::from_bytes(ckpt, Path::new("fuzz.safetensors"), &sidecar, Some(path)) {
        Ok(m) => {
            // What `predict` does next with the preprocessing the sidecar gave.
            if let Err(e) = EvalTransform::new(&m.preprocess, m.config().img_size) {
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
