//! Seed inputs for the fuzz targets, and the fixed context some harnesses need. Seeds are valid
//! inputs that the fuzzer then mutates, built by the writers of this crate, or, for the formats
//! it does not write (PyTorch files, timm's `config.json`), taken from the test fixtures made by
//! timm and PyTorch (`tools/make_checkpoint_fixtures.py`); a few are invalid on purpose (a
//! truncated file, a flipped bit, a config.json that does not fit the checkpoint).
//!
//! `tests/fuzz_corpus.rs` replays these seeds and writes them into `fuzz/corpus/` on request
//! (docs/fuzzing.md); the committed corpus is these seeds plus what the fuzzers added.

use std::io::Cursor;
use std::path::Path;
use std::sync::OnceLock;

use image::{DynamicImage, ImageFormat};
use safetensors::Dtype;

use super::{GOLDEN_SEPARATOR, Target};
use crate::data::Rgb8Image;
use crate::golden::{GoldenFile, Manifest};
use crate::model::{Model, Preprocess, VisionTransformer, VitConfig, checkpoint};
use crate::quant::{
    CalibrationInfo, PostLnMode, PostSoftmaxMode, QuantConfig, QuantizedModel, calibrate,
};
use crate::verify::RtlInfo;

/// The architecture of the small models behind the seeds: 8x8 RGB input, 4x4 patches (4 patch
/// tokens), D = 8, one block, 2 heads.
pub fn small_config(distilled: bool) -> VitConfig {
    VitConfig {
        img_size: [8, 8],
        patch_size: [4, 4],
        in_chans: 3,
        embed_dim: 8,
        depth: 1,
        num_heads: 2,
        mlp_hidden: 16,
        num_classes: 3,
        qkv_bias: true,
        distilled,
        ln_eps: 1e-6,
    }
}

/// The safetensors bytes of the [`small_config`] model (seed 1) that the sidecar harness applies
/// every sidecar to. D = 8 is not a multiple of 64, so it loads only with `num_heads` given.
pub fn small_checkpoint() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| {
        let vit = VisionTransformer::random(small_config(false), 1);
        checkpoint::to_safetensors(&vit).expect("serializes")
    })
}

/// The design description `verify` would read for a 4x4 W8A8 array with signed 32-bit output
/// lanes (so that every model-mode case is listed, none skipped).
pub fn rtl_info() -> RtlInfo {
    RtlInfo {
        config: "4x4_w8a8".into(),
        pe_rows: 4,
        pe_cols: 4,
        abits: 8,
        wbits: 8,
        acc_bits: 32,
        m_tile: 8,
        requant_lanes: 4,
        out_lane_bits: 32,
        out_signed: true,
        command: String::new(),
        output_latency: 0,
    }
}

/// The named seeds of `target`.
pub fn seeds(target: Target) -> Vec<(String, Vec<u8>)> {
    match target {
        Target::Checkpoint => checkpoint_seeds(),
        Target::Pth => pth_seeds(),
        Target::Sidecar => sidecar_seeds(),
        Target::ConfigJson => config_json_seeds(),
        Target::Artifact => artifact_seeds(),
        Target::Golden => golden_seeds(),
        Target::Image => image_seeds(),
    }
}

/// A model's tensors re-encoded in `dtype` (F32, F16 or BF16).
fn safetensors_as(vit: &VisionTransformer, dtype: Dtype) -> Vec<u8> {
    let f32_bytes = checkpoint::to_safetensors(vit).expect("serializes");
    let st = safetensors::SafeTensors::deserialize(&f32_bytes).expect("parses");
    let tensors: Vec<(String, Vec<usize>, Vec<u8>)> = st
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            let data = view
                .data()
                .chunks_exact(4)
                .flat_map(|c| {
                    let x = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                    match dtype {
                        Dtype::F16 => half::f16::from_f32(x).to_le_bytes().to_vec(),
                        Dtype::BF16 => half::bf16::from_f32(x).to_le_bytes().to_vec(),
                        _ => x.to_le_bytes().to_vec(),
                    }
                })
                .collect();
            (name, view.shape().to_vec(), data)
        })
        .collect();
    let views = tensors.iter().map(|(n, s, d)| {
        (
            n.clone(),
            safetensors::tensor::TensorView::new(dtype, s.clone(), d).expect("view"),
        )
    });
    safetensors::serialize(views, None).expect("serializes")
}

fn checkpoint_seeds() -> Vec<(String, Vec<u8>)> {
    // Loadable without a sidecar: D a multiple of 64. Depth 0 keeps the file small.
    let shallow = VitConfig {
        img_size: [2, 2],
        patch_size: [1, 1],
        in_chans: 1,
        embed_dim: 64,
        depth: 0,
        num_heads: 1,
        mlp_hidden: 256,
        num_classes: 2,
        qkv_bias: false,
        distilled: true,
        ln_eps: 1e-6,
    };
    let deep = VitConfig {
        img_size: [1, 1],
        depth: 1,
        mlp_hidden: 1,
        qkv_bias: true,
        distilled: false,
        ..shallow.clone()
    };
    vec![
        (
            "shallow-distilled-f32".into(),
            safetensors_as(&VisionTransformer::random(shallow.clone(), 2), Dtype::F32),
        ),
        (
            "shallow-distilled-f16".into(),
            safetensors_as(&VisionTransformer::random(shallow, 3), Dtype::F16),
        ),
        (
            "one-block-bf16".into(),
            safetensors_as(&VisionTransformer::random(deep, 4), Dtype::BF16),
        ),
        ("small-needs-sidecar".into(), small_checkpoint().to_vec()),
    ]
}

fn sidecar_seeds() -> Vec<(String, Vec<u8>)> {
    [
        ("heads", "num_heads = 2\n"),
        (
            "full",
            "name = \"small\"\nnum_heads = 4\nimg_size = [8, 8]\nlayer_norm_eps = 1e-5\n\
             mean = [0.5, 0.5, 0.5]\nstd = [0.25, 0.25, 0.25]\ncrop_pct = 0.9\n\
             interpolation = \"bicubic\"\nlabels = [\"a\", \"b\", \"c\"]\n",
        ),
        (
            "single-values",
            "num_heads = 1\nimg_size = [8]\ncrop_pct = 1.0\n",
        ),
        ("demo", include_str!("../../assets/demo/deit_digits.toml")),
    ]
    .into_iter()
    .map(|(n, t)| (n.to_string(), t.as_bytes().to_vec()))
    .collect()
}

/// The PyTorch fixtures: a timm-train checkpoint (`state_dict` and `state_dict_ema`, float16,
/// keys under `module.`), the DeiT repository's layout (`model` and `model_ema`, bfloat16, keys
/// under `_orig_mod.`) and a bare state dict (float32, with an int64 tensor and a Python int);
/// see tests/fixtures/checkpoints/README.md. The linker drops them from the `repq-hw` binary,
/// which never calls [`seeds`].
const TRAIN_PTH: &[u8] = include_bytes!("../../tests/fixtures/checkpoints/train.pth");
const DEIT_PTH: &[u8] = include_bytes!("../../tests/fixtures/checkpoints/deit.pth");
const PLAIN_PT: &[u8] = include_bytes!("../../tests/fixtures/checkpoints/plain.pt");

/// `plain.pt` with one bit flipped in its pickle: `cls_token`'s shape (1, 1, 32) becomes
/// (1, 1, 96), more elements than its 32-float storage holds. The pickle's ZIP entry gets the
/// CRC-32 of its new bytes, else the ZIP reader refuses the file before the pickle is read.
pub fn pth_shape_bitflip() -> Vec<u8> {
    let mut bytes = PLAIN_PT.to_vec();
    let u16_at = |b: &[u8], i: usize| usize::from(u16::from_le_bytes([b[i], b[i + 1]]));
    let u32_at = |b: &[u8], i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    // The first entry is `plain/data.pkl`: its bytes follow its local header's name and extra
    // field; its size is in its central-directory entry, which the end record points to.
    let start = 30 + u16_at(&bytes, 26) + u16_at(&bytes, 28);
    let end_record = bytes
        .windows(4)
        .rposition(|w| w == b"PK\x05\x06")
        .expect("a ZIP end record");
    let central = u32_at(&bytes, end_record + 16) as usize;
    let pickle = start..start + u32_at(&bytes, central + 20) as usize;
    let old_crc = crc32(&bytes[pickle.clone()]);
    // BININT1 0 (storage offset), then the shape: BININT1 1, BININT1 1, BININT1 32, TUPLE3.
    let shape = b"K\x00K\x01K\x01K\x20\x87";
    let at = bytes[pickle.clone()]
        .windows(shape.len())
        .position(|w| w == shape)
        .expect("plain.pt stores cls_token of shape (1, 1, 32)");
    bytes[pickle.start + at + shape.len() - 2] ^= 0x40;
    let (old, new) = (old_crc.to_le_bytes(), crc32(&bytes[pickle]).to_le_bytes());
    // torch.save writes the CRC after the data (a data descriptor) and in the central directory.
    let places: Vec<usize> = (0..bytes.len() - 3)
        .filter(|&i| bytes[i..i + 4] == old)
        .collect();
    assert_eq!(places.len(), 2, "the pickle's CRC-32 is stored twice");
    for i in places {
        bytes[i..i + 4].copy_from_slice(&new);
    }
    bytes
}

/// Names end in the extension timm uses, except the invalid ones, whose names say what is wrong.
fn pth_seeds() -> Vec<(String, Vec<u8>)> {
    vec![
        ("train.pth".into(), TRAIN_PTH.to_vec()),
        ("deit.pth".into(), DEIT_PTH.to_vec()),
        ("plain.pt".into(), PLAIN_PT.to_vec()),
        // An interrupted download: the ZIP archive has lost its central directory.
        (
            "train-truncated".into(),
            TRAIN_PTH[..TRAIN_PTH.len() / 2].to_vec(),
        ),
        ("plain-shape-bitflip".into(), pth_shape_bitflip()),
    ]
}

/// timm's config.json of the hub fixtures (`timm.models.push_to_hf_hub`'s `save_config_for_hf`,
/// see tools/make_checkpoint_fixtures.py): a tagged architecture, `model_args` and
/// `pretrained_cfg`.
const HUB224_CONFIG: &str = include_str!("../../tests/fixtures/checkpoints/hub224/config.json");
const HUB384_CONFIG: &str = include_str!("../../tests/fixtures/checkpoints/hub384/config.json");

/// The config.json of the 320-wide ViT in tests/cli_checkpoints.rs (no tag, `img_size` as one
/// number, a `pretrained_cfg` with two fields).
const VIT320_CONFIG: &str = r#"{"architecture": "vit_base_patch16_224", "num_classes": 10, "num_features": 320,
    "global_pool": "token",
    "model_args": {"embed_dim": 320, "depth": 1, "num_heads": 4, "img_size": 32,
                   "num_classes": 10},
    "pretrained_cfg": {"crop_pct": 0.9, "input_size": [3, 32, 32]}}"#;

/// timm's legacy single-dict layout: no `pretrained_cfg`, the preprocessing at the root and the
/// class names as `labels`. Its sizes are [`small_config`]'s, so it fits the small checkpoint.
const LEGACY_CONFIG: &str = r#"{
  "architecture": "deit_tiny_patch16_224",
  "num_classes": 3,
  "num_features": 8,
  "global_pool": "token",
  "model_args": {"embed_dim": 8, "depth": 1, "num_heads": 2, "patch_size": 4, "img_size": 8,
                 "mlp_ratio": 2.0},
  "input_size": [3, 8, 8],
  "interpolation": "bicubic",
  "crop_pct": 0.875,
  "crop_mode": "center",
  "mean": [0.485, 0.456, 0.406],
  "std": [0.229, 0.224, 0.225],
  "labels": ["zero", "one", "two"]
}
"#;

/// A config.json text with every size the tensors of [`small_checkpoint`] prove set to
/// [`small_config`]'s (`model_args`, `num_classes`, `num_features`, `input_size`), keeping the
/// rest (architecture, tag, heads, preprocessing), so that it loads with that checkpoint.
pub fn config_for_small_checkpoint(text: &str) -> String {
    use serde_json::{Value, json};
    let c = small_config(false);
    let [h, w] = c.img_size;
    let mut v: Value = serde_json::from_str(text).expect("valid JSON");
    let root = v.as_object_mut().expect("a JSON object");
    root.insert("num_classes".into(), json!(c.num_classes));
    root.insert("num_features".into(), json!(c.embed_dim));
    let args = root
        .entry("model_args")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .expect("model_args is an object");
    for (k, x) in [
        ("embed_dim", json!(c.embed_dim)),
        ("depth", json!(c.depth)),
        ("num_classes", json!(c.num_classes)),
        ("in_chans", json!(c.in_chans)),
        ("patch_size", json!(c.patch_size)),
        ("img_size", json!([h, w])),
        ("mlp_ratio", json!(c.mlp_hidden as f64 / c.embed_dim as f64)),
    ] {
        args.insert(k.into(), x);
    }
    if let Some(pre) = root
        .get_mut("pretrained_cfg")
        .and_then(Value::as_object_mut)
    {
        if pre.contains_key("input_size") {
            pre.insert("input_size".into(), json!([c.in_chans, h, w]));
        }
        if pre.contains_key("num_classes") {
            pre.insert("num_classes".into(), json!(c.num_classes));
        }
    }
    serde_json::to_string_pretty(&v).expect("serializes") + "\n"
}

/// Each text as is (the fixtures' sizes: refused by the small checkpoint's shapes) and fitted
/// to the small checkpoint by [`config_for_small_checkpoint`] (`-small`: loads).
fn config_json_seeds() -> Vec<(String, Vec<u8>)> {
    let mut seeds = Vec::new();
    for (name, text) in [
        ("hub224", HUB224_CONFIG),
        ("hub384", HUB384_CONFIG),
        ("vit320", VIT320_CONFIG),
    ] {
        seeds.push((format!("{name}-as-is"), text.as_bytes().to_vec()));
        seeds.push((
            format!("{name}-small"),
            config_for_small_checkpoint(text).into_bytes(),
        ));
    }
    seeds.push(("legacy-small".into(), LEGACY_CONFIG.as_bytes().to_vec()));
    seeds
}

/// The [`small_config`] model (seed `seed`) calibrated on 4 random normalized images.
fn small_quantized(distilled: bool, config: QuantConfig, seed: u64) -> QuantizedModel {
    let cfg = small_config(distilled);
    let vit = VisionTransformer::random(cfg.clone(), seed);
    let model = Model {
        name: "small".into(),
        source: "small.safetensors".into(),
        net: crate::model::Network::Vit(vit),
        preprocess: Preprocess::default(),
        labels: None,
    };
    let n = 4;
    let len = n * cfg.in_chans * cfg.img_size[0] * cfg.img_size[1];
    // A fixed, non-constant input: a few periods of a sawtooth in [-2, 2].
    let images: Vec<f32> = (0..len)
        .map(|i| ((i * 37) % 101) as f32 / 25.0 - 2.0)
        .collect();
    let info = CalibrationInfo {
        source: "fuzz seed".into(),
        count: n,
        seed: Some(seed),
    };
    calibrate(&model, &images, n, config, info).expect("the small model calibrates")
}

fn artifact_seeds() -> Vec<(String, Vec<u8>)> {
    let w8a8 = QuantConfig::new(8, 8).expect("valid");
    let w4a4 = QuantConfig::new(4, 4).expect("valid");
    let variants = [
        ("w8a8-reparam", false, w8a8),
        (
            "w4a4-distilled-log2",
            true,
            w4a4.with_post_softmax(PostSoftmaxMode::Log2),
        ),
        (
            "w4a4-channelwise-logsqrt2",
            false,
            w4a4.with_post_ln(PostLnMode::ChannelWise)
                .with_post_softmax(PostSoftmaxMode::LogSqrt2),
        ),
    ];
    variants
        .into_iter()
        .enumerate()
        .map(|(i, (name, distilled, config))| {
            let q = small_quantized(distilled, config, 10 + i as u64);
            (name.to_string(), q.to_bytes().expect("serializes"))
        })
        .collect()
}

/// Packs a golden directory into one input of the golden harness.
pub fn pack_golden(manifest_toml: &str, files: &[&[u8]]) -> Vec<u8> {
    let mut out = manifest_toml.as_bytes().to_vec();
    for f in files {
        out.push(GOLDEN_SEPARATOR);
        out.extend_from_slice(f);
    }
    out
}

/// The packed input of a manifest and its files, as `repq-hw golden` writes them, except that
/// the files of more than `max_elements` elements, and those that would take the input past
/// `max_bytes`, are listed last in the manifest and left out of the input (missing).
pub fn pack_golden_files(
    mut manifest: Manifest,
    files: &[GoldenFile],
    max_elements: usize,
    max_bytes: usize,
) -> Vec<u8> {
    let encode = |f: &GoldenFile| {
        crate::golden::hex::encode(&f.data, f.entry.bits, f.entry.signed).expect("fits")
    };
    // The manifest lists the same entries whatever the order, so its length is known now.
    manifest.files = files.iter().map(|f| f.entry.clone()).collect();
    let mut len = manifest.to_toml().expect("manifest serializes").len();
    let (mut kept, mut bodies, mut left_out) = (Vec::new(), Vec::new(), Vec::new());
    for f in files {
        let body = (f.entry.elements <= max_elements).then(|| encode(f));
        match body {
            Some(b) if len + 1 + b.len() <= max_bytes => {
                len += 1 + b.len();
                kept.push(f);
                bodies.push(b);
            }
            _ => left_out.push(f),
        }
    }
    manifest.files = kept
        .iter()
        .chain(&left_out)
        .map(|f| f.entry.clone())
        .collect();
    let text = manifest.to_toml().expect("manifest serializes");
    let refs: Vec<&[u8]> = bodies.iter().map(|b| b.as_bytes()).collect();
    pack_golden(&text, &refs)
}

/// Files of more elements than this are listed in a golden seed's manifest but left out of the
/// seed: the GELU unit's tables sweep all 2^16 inputs (1.5 MB of hex per random directory), and
/// an input that large slows the fuzzer down to a few runs a second.
pub const GOLDEN_SEED_MAX_ELEMENTS: usize = 4096;

/// A golden seed's size at most, bytes: the files (in manifest order) that would take it past
/// this are left out too (listed, missing), so new random cases never grow the seeds.
pub const GOLDEN_SEED_MAX_BYTES: usize = 48 << 10;

/// Random-mode directories as `repq-hw golden --random` writes them, with the files over
/// [`GOLDEN_SEED_MAX_ELEMENTS`] moved to the end of the manifest and left out (missing), so
/// that every other file is parsed and `verify` still lists every case.
fn golden_seeds() -> Vec<(String, Vec<u8>)> {
    use crate::golden::random::{RandomSpec, generate};
    [([2, 3, 2], 8, 8, 32), ([1, 2, 3], 4, 6, 16)]
        .into_iter()
        .map(|(shape, wbits, abits, acc_bits)| {
            let spec = RandomSpec {
                seed: 7,
                shape,
                wbits,
                abits,
                acc_bits,
            };
            let (files, info) = generate(&spec).expect("generates");
            let mut m = crate::golden::manifest_header("random", &["golden".into()]);
            m.constants = crate::golden::datapath_constants();
            m.random = Some(info);
            let [a, b, c] = shape;
            (
                format!("random-w{wbits}a{abits}-{a}x{b}x{c}"),
                pack_golden_files(m, &files, GOLDEN_SEED_MAX_ELEMENTS, GOLDEN_SEED_MAX_BYTES),
            )
        })
        .collect()
}

/// CRC-32 (ISO-HDLC, as PNG chunks use) of `bytes`.
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xEDB8_8320 & (crc & 1).wrapping_neg());
        }
    }
    !crc
}

/// A PNG whose IHDR declares `width x height` 8-bit RGB pixels, with one IDAT holding the
/// deflate stream of a single pixel row: a few dozen bytes that claim any size.
pub fn png_declaring(width: u32, height: u32) -> Vec<u8> {
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend((data.len() as u32).to_be_bytes());
        let start = out.len();
        out.extend(kind);
        out.extend(data);
        let crc = crc32(&out[start..]);
        out.extend(crc.to_be_bytes());
    }
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend(width.to_be_bytes());
    ihdr.extend(height.to_be_bytes());
    ihdr.extend([8, 2, 0, 0, 0]); // 8 bits, truecolour, deflate, adaptive filter, no interlace
    chunk(&mut out, b"IHDR", &ihdr);
    // zlib stream of one stored block holding the row [filter 0, r, g, b].
    let row = [0u8, 10, 20, 30];
    let mut z = vec![0x78, 0x01, 0x01];
    z.extend((row.len() as u16).to_le_bytes());
    z.extend((!(row.len() as u16)).to_le_bytes());
    z.extend(row);
    let adler = {
        let (mut a, mut b) = (1u32, 0u32);
        for &x in &row {
            a = (a + u32::from(x)) % 65521;
            b = (b + a) % 65521;
        }
        (b << 16) | a
    };
    z.extend(adler.to_be_bytes());
    chunk(&mut out, b"IDAT", &z);
    chunk(&mut out, b"IEND", &[]);
    out
}

fn encode(img: DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, format).expect("encodes");
    out.into_inner()
}

fn image_seeds() -> Vec<(String, Vec<u8>)> {
    // A 5x3 gradient: small, and odd sides so that rows do not align to anything.
    let (w, h) = (5u32, 3u32);
    let rgb: Vec<u8> = (0..w * h * 3).map(|i| (i * 17 % 256) as u8).collect();
    let img = Rgb8Image::new(w as usize, h as usize, rgb.clone()).expect("sizes match");
    let rgb8 = image::RgbImage::from_raw(w, h, img.into_bytes()).expect("sizes match");
    let dynimg = DynamicImage::ImageRgb8(rgb8);
    let mut seeds = vec![
        ("rgb8.png", encode(dynimg.clone(), ImageFormat::Png)),
        (
            "rgba8.png",
            encode(
                DynamicImage::ImageRgba8(dynimg.to_rgba8()),
                ImageFormat::Png,
            ),
        ),
        (
            "gray8.png",
            encode(
                DynamicImage::ImageLuma8(dynimg.to_luma8()),
                ImageFormat::Png,
            ),
        ),
        (
            "grayalpha8.png",
            encode(
                DynamicImage::ImageLumaA8(dynimg.to_luma_alpha8()),
                ImageFormat::Png,
            ),
        ),
        (
            "gray16.png",
            encode(
                DynamicImage::ImageLuma16(dynimg.to_luma16()),
                ImageFormat::Png,
            ),
        ),
        (
            "rgb16.png",
            encode(
                DynamicImage::ImageRgb16(dynimg.to_rgb16()),
                ImageFormat::Png,
            ),
        ),
        ("rgb.jpg", encode(dynimg.clone(), ImageFormat::Jpeg)),
        (
            "gray.jpg",
            encode(
                DynamicImage::ImageLuma8(dynimg.to_luma8()),
                ImageFormat::Jpeg,
            ),
        ),
        ("declares-65535x65535.png", png_declaring(65535, 65535)),
        ("declares-4096x1.png", png_declaring(4096, 1)),
        (
            // A panorama: decodes, but the eval transform scales its 1-pixel side to 256.
            "wide-4096x1.png",
            encode(
                DynamicImage::ImageLuma8(image::GrayImage::from_pixel(4096, 1, image::Luma([9]))),
                ImageFormat::Png,
            ),
        ),
    ];
    seeds.push((
        "fixture-tiny.png",
        include_bytes!("../../tests/fixtures/preprocess/e_tiny.png").to_vec(),
    ));
    seeds.into_iter().map(|(n, b)| (n.to_string(), b)).collect()
}

/// Whether `path` names a file the replay test should run (not a README or a dotfile).
pub fn is_input(path: &Path) -> bool {
    path.is_file()
        && !path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.') || n.ends_with(".md"))
}
