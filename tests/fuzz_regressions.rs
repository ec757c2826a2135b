//! One test per fuzzing finding (docs/fuzzing.md): the input that crashed, hung or over-allocated,
//! committed under `tests/fixtures/fuzz/TARGET/`, must now give the typed error named here.
//! `tests/fuzz_corpus.rs` replays the same files through the harnesses.

use std::path::Path;

use repq_hw::Error;
use repq_hw::data::{EvalTransform, decode_rgb};
use repq_hw::fuzzing::seeds;
use repq_hw::golden::{self, GoldenDir, Manifest};
use repq_hw::model::{Model, Preprocess, Sidecar};
use repq_hw::verify::{cases, cases_for};

fn finding(target: &str, name: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/fuzz")
        .join(target)
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// A 72-byte PNG whose IHDR declares 65535x65535 RGB pixels (12.9 GB decoded) is refused from
/// its header, before anything is allocated for the pixels.
#[test]
fn png_declaring_65535_squared_is_refused_from_the_header() {
    let bytes = finding("image", "declares-65535x65535.png");
    assert_eq!(bytes, seeds::png_declaring(65535, 65535));
    assert!(bytes.len() < 100);
    match decode_rgb(&bytes, Path::new("bomb.png")) {
        Err(Error::Image { path, reason }) => {
            assert_eq!(path, Path::new("bomb.png"));
            assert!(reason.contains("65535x65535"), "{reason}");
            assert!(reason.contains("268435456 bytes decoded"), "{reason}");
        }
        other => panic!("expected Error::Image, got {other:?}"),
    }
    // Just above the byte limit (16384 x 5462 x 3 bytes), and just above the side limit.
    let e = decode_rgb(&seeds::png_declaring(16384, 5462), Path::new("b.png")).unwrap_err();
    assert!(e.to_string().contains("16384x5462"), "{e}");
    let e = decode_rgb(&seeds::png_declaring((1 << 20) + 1, 1), Path::new("b.png")).unwrap_err();
    assert!(e.to_string().contains("1048577x1"), "{e}");
    // Just below both: a clean error about the missing pixel data, not about limits.
    let e = decode_rgb(&seeds::png_declaring(16384, 5461), Path::new("b.png")).unwrap_err();
    assert!(!e.to_string().contains("limits"), "{e}");
}

fn checkpoint_error(name: &str) -> Error {
    let bytes = finding("checkpoint", name);
    Model::from_bytes(&bytes, Path::new(name), &Sidecar::default(), None)
        .expect_err("must be refused")
}

/// `patch_embed.proj.weight` of shape [0, 3, 4, 4] made D = 0, so the default head count
/// `D / 64` was 0 and `D % num_heads` divided by zero.
#[test]
fn zero_embed_dim_is_a_shape_error() {
    match checkpoint_error("embed-dim-zero.safetensors") {
        Error::TensorShape {
            tensor, expected, ..
        } => {
            assert_eq!(tensor, "patch_embed.proj.weight");
            assert!(expected.contains("every size positive"), "{expected}");
        }
        e => panic!("expected a shape error, got {e:?}"),
    }
}

/// A [64, 3, 0, 0] patch embedding (no data) made the patch 0x0 and `img_size % patch` divided
/// by zero.
#[test]
fn zero_patch_size_is_a_shape_error() {
    match checkpoint_error("patch-size-zero.safetensors") {
        Error::TensorShape { tensor, .. } => assert_eq!(tensor, "patch_embed.proj.weight"),
        e => panic!("expected a shape error, got {e:?}"),
    }
}

/// A rank-0 `blocks.0.mlp.fc1.weight` was indexed at [0] to read the MLP width.
#[test]
fn scalar_fc1_is_a_shape_error() {
    match checkpoint_error("scalar-fc1.safetensors") {
        Error::TensorShape {
            tensor, expected, ..
        } => {
            assert_eq!(tensor, "blocks.0.mlp.fc1.weight");
            assert!(expected.starts_with("[D_f, D]"), "{expected}");
        }
        e => panic!("expected a shape error, got {e:?}"),
    }
}

/// `img_size = [80, 3689348814741910324]` with 4x4 patches: (80 / 4) * (w / 4) = 2^64 + 4
/// overflowed (a panic with overflow checks) or wrapped to the 4 patch tokens of the checkpoint
/// (a release build accepted the absurd input size).
#[test]
fn img_size_whose_patch_count_overflows_is_refused() {
    let text = String::from_utf8(finding("sidecar", "img-size-product-wraps.toml")).unwrap();
    let sidecar = Sidecar::parse(&text, Path::new("s.toml")).unwrap();
    let ckpt = seeds::small_checkpoint();
    // Every other field given, so only img_size can be what is refused.
    let sidecar = repq_hw::fuzzing::completed(sidecar, repq_hw::fuzzing::input_channels(ckpt));
    let e = Model::from_bytes(ckpt, Path::new("m"), &sidecar, None).expect_err("must be refused");
    match e {
        Error::Config { field, reason, .. } => {
            assert_eq!(field, "img_size");
            assert!(reason.contains("3689348814741910324"), "{reason}");
        }
        e => panic!("expected a config error, got {e:?}"),
    }
}

/// The golden input split into its manifest (checked) and element files.
fn golden_dir(name: &str) -> (GoldenDir, Vec<Vec<u8>>) {
    let data = finding("golden", name);
    let mut parts = data.split(|&b| b == 0);
    let text = std::str::from_utf8(parts.next().unwrap()).unwrap();
    let manifest = Manifest::parse(text, Path::new("manifest.toml")).unwrap();
    let g = GoldenDir {
        root: name.into(),
        manifest,
    };
    (g, parts.map(<[u8]>::to_vec).collect())
}

/// A file entry of shape [10^12] made the hex parser reserve 10^12 elements (16 TB) before
/// reading the 3-byte file: an allocation failure abort.
#[test]
fn element_count_beyond_the_file_is_not_reserved() {
    let (g, files) = golden_dir("shape-1e12-unit");
    let e = golden::dir::parse_file(&g.manifest.files[0], &files[0], Path::new("a.hex"))
        .expect_err("one element for 10^12");
    let e = e.to_string();
    assert!(
        e.contains("1 elements, but the shape [1000000000000] needs 1000000000000"),
        "{e}"
    );
}

fn cases_error(name: &str) -> String {
    let (g, _) = golden_dir(name);
    cases::all_blocks(std::slice::from_ref(&g))
        .and_then(|blocks| cases_for(&g, &seeds::rtl_info(), &blocks))
        .expect_err("must be refused")
        .to_string()
}

/// A random-mode manifest whose `shift_av.code` has shape [] was indexed at [0] and [1].
#[test]
fn rank_zero_operand_is_a_dataset_error() {
    let e = cases_error("rank0-shift-av-code");
    assert!(
        e.contains("`shift_av.code` has shape [], expected [M, K]"),
        "{e}"
    );
}

/// A model-mode manifest with `num_heads = 10^18` made `verify` list one case per head: an
/// endless loop growing a vector. The heads must match the tensors' head axis.
#[test]
fn head_count_must_match_the_tensors() {
    let e = cases_error("num-heads-1e18");
    assert!(
        e.contains("holds 2 heads but the [model] table says num_heads = 1000000000000000000"),
        "{e}"
    );
}

/// A model-mode manifest with `depth = 10^18` made `verify --all-blocks` collect 10^18 block
/// numbers (a capacity overflow panic).
#[test]
fn depth_beyond_the_files_is_refused() {
    let e = cases_error("depth-1e18");
    assert!(e.contains("depth = 1000000000000000000"), "{e}");
}

/// A 140-byte PNG of 4096 x 1 pixels decodes (12 KB); the eval transform then scaled its 1-pixel
/// side to 256 and the other to 1,048,576: an 805 MB resize before the 224 x 224 crop. Such a
/// resize is refused in the transform itself (it was refused only by `golden --image`, not by
/// `predict` or `eval`).
#[test]
fn extreme_aspect_ratio_is_refused_by_the_transform() {
    let bytes = finding("image", "wide-4096x1.png");
    let img = decode_rgb(&bytes, Path::new("wide.png")).unwrap();
    assert_eq!((img.width(), img.height()), (4096, 1));
    let t = EvalTransform::new(&Preprocess::default(), [224, 224]).unwrap();
    let e = t.apply(&img).expect_err("must be refused").to_string();
    assert!(
        e.contains("resized to 1048576x256") && e.contains("aspect ratio"),
        "{e}"
    );
}
