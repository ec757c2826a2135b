//! Image decoding, Pillow's bicubic resize and timm's eval transform against the committed
//! fixture `tests/fixtures/preprocess/preprocess.safetensors` (made by
//! `tools/make_preprocess_fixtures.py` with timm 1.0.31, torchvision 0.29.2, Pillow 13.0.0), plus
//! bad inputs and ImageFolder data sets.

use std::path::{Path, PathBuf};

use repq_hw::Error;
use repq_hw::data::{EvalTransform, ImageFolder, Rgb8Image, open_rgb, resize_bicubic};
use repq_hw::model::Preprocess;
use repq_hw::model::config::{IMAGENET_MEAN, IMAGENET_STD};
use safetensors::{Dtype, SafeTensors};

const STEMS: [(&str, &str); 5] = [
    ("a_landscape", "jpg"),
    ("b_portrait", "png"),
    ("c_gray", "png"),
    ("d_rgba", "png"),
    ("e_tiny", "png"),
];

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/preprocess")
}

fn fixture_bytes() -> Vec<u8> {
    let path = fixture_dir().join("preprocess.safetensors");
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `S.decoded` as an image.
fn decoded(st: &SafeTensors, stem: &str) -> Rgb8Image {
    let t = st.tensor(&format!("{stem}.decoded")).unwrap();
    assert_eq!(t.dtype(), Dtype::U8);
    let &[h, w, 3] = t.shape() else {
        panic!("{stem}.decoded has shape {:?}", t.shape())
    };
    Rgb8Image::new(w, h, t.data().to_vec()).unwrap()
}

fn f32_tensor(st: &SafeTensors, name: &str) -> (Vec<usize>, Vec<f32>) {
    let t = st.tensor(name).unwrap();
    assert_eq!(t.dtype(), Dtype::F32, "{name}");
    let data = t
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    (t.shape().to_vec(), data)
}

/// The three transforms of the fixture: (tensor suffix, preprocessing, input size [H, W]).
fn transforms() -> Vec<(&'static str, Preprocess, [usize; 2])> {
    let imagenet = |crop_pct| Preprocess {
        mean: IMAGENET_MEAN.to_vec(),
        std: IMAGENET_STD.to_vec(),
        crop_pct,
    };
    vec![
        // deit_tiny_patch16_224's pretrained config: crop_pct 0.9 (shorter side to 248).
        ("deit", imagenet(0.9), [224, 224]),
        (
            "small",
            Preprocess {
                mean: vec![0.5; 3],
                std: vec![0.5; 3],
                crop_pct: 1.0,
            },
            [28, 28],
        ),
        ("wide", imagenet(0.9), [48, 80]),
    ]
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// A fresh, empty scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("repq-hw-preprocess-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

// ---------------------------------------------------------------------------------------------
// (a) decoding

#[test]
fn png_decoding_equals_pil_exactly() {
    let bytes = fixture_bytes();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    for (stem, ext) in STEMS.iter().filter(|(_, e)| *e == "png") {
        let ours = open_rgb(&fixture_dir().join(format!("{stem}.{ext}"))).unwrap();
        let pil = decoded(&st, stem);
        assert_eq!(
            (ours.width(), ours.height()),
            (pil.width(), pil.height()),
            "{stem}"
        );
        assert!(
            ours == pil,
            "{stem}: decoded pixels differ from PIL's convert('RGB')"
        );
    }
}

/// JPEGs are decoded by libjpeg-turbo as PIL decodes them (see tests/jpeg.rs for every JPEG
/// layout): the fixture's photo-like 4:2:0 JPEG decodes to PIL's pixels exactly.
#[test]
fn jpeg_decoding_equals_pil_exactly() {
    let bytes = fixture_bytes();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let ours = open_rgb(&fixture_dir().join("a_landscape.jpg")).unwrap();
    let pil = decoded(&st, "a_landscape");
    assert_eq!((ours.width(), ours.height()), (pil.width(), pil.height()));
    let differing = ours
        .as_bytes()
        .iter()
        .zip(pil.as_bytes())
        .filter(|(a, b)| a != b)
        .count();
    assert_eq!(differing, 0, "{differing} values differ from PIL's");
}

// ---------------------------------------------------------------------------------------------
// (b) the eval transform: passes only if the bicubic resize is bit-exact

#[test]
fn eval_transform_matches_timm() {
    let bytes = fixture_bytes();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    for (stem, _) in STEMS {
        let img = decoded(&st, stem);
        for (suffix, pre, size) in transforms() {
            let name = format!("{stem}.{suffix}");
            let (shape, want) = f32_tensor(&st, &name);
            assert_eq!(shape, vec![3, size[0], size[1]], "{name}");
            let t = EvalTransform::new(&pre, size).unwrap();
            let got = t.apply(&img).unwrap();
            let d = max_abs_diff(&got, &want);
            assert!(d <= 1e-6, "{name}: max |diff| {d:e}");
        }
    }
}

/// The deterministic test picture shared with the Python snippet below: a gradient plus xorshift
/// noise, so both clipping and smooth areas are exercised.
fn test_picture(w: usize, h: usize, seed: u32) -> Rgb8Image {
    let mut s = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    let mut data = Vec::with_capacity(w * h * 3);
    for y in 0..h {
        for x in 0..w {
            for c in 0..3 {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                data.push(((x * 7 + y * 5 + c * 50 + (s >> 27) as usize) % 256) as u8);
            }
        }
    }
    Rgb8Image::new(w, h, data).unwrap()
}

fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Pillow 13's `Image.resize((ow, oh), Image.BICUBIC)` of `test_picture(w, h, i)` for case `i`,
/// as an FNV-1a-64 hash of the output bytes. The fixture's own sizes all take the
/// horizontal-first path; these also cover Pillow 13's vertical-first order (height shrinking by
/// more than twice the width's change), 1-pixel sides and unchanged sides. Computed with:
///
/// ```python
/// M = 0xffffffff
/// def gen(w, h, seed):  # same as test_picture
///     s = (seed * 2654435761 + 1) & M; out = bytearray()
///     for y in range(h):
///         for x in range(w):
///             for c in range(3):
///                 s ^= (s << 13) & M; s ^= s >> 17; s ^= (s << 5) & M
///                 out.append(((x * 7 + y * 5 + c * 50) + (s >> 27)) % 256)
///     return np.frombuffer(bytes(out), np.uint8).reshape(h, w, 3)
/// r = np.asarray(Image.fromarray(gen(w, h, i)).resize((ow, oh), Image.BICUBIC))
/// # FNV-1a 64 of r.tobytes()
/// ```
#[test]
fn bicubic_resize_matches_pillow_hashes() {
    let cases: [(usize, usize, usize, usize, u64); 11] = [
        (30, 90, 28, 20, 0xb45d18df7aa5fe7f),      // vertical first
        (17, 200, 20, 30, 0x9d623469f2ccf201),     // vertical first, width grows
        (300, 1000, 248, 826, 0xac5657588c6b41ab), // vertical first
        (90, 30, 20, 28, 0x8fc63adada6a551d),      // horizontal first
        (40, 41, 35, 9, 0xb6ce04a64c670c96),       // vertical first
        (500, 375, 330, 248, 0xd2b06ae3a2543de7),  // horizontal first, a 500x375 photo to 248
        (7, 5, 13, 11, 0x265cc7d17644a98b),        // upscale
        (1, 9, 5, 1, 0xbf3f88690915f101),          // 1-pixel sides
        (64, 1, 3, 3, 0xd22c8fd4e50c8ae2),         // 1-pixel height, grows
        (33, 33, 33, 7, 0xf84274422203e07b),       // width unchanged
        (12, 50, 31, 50, 0x0f4b44f031ffcfad),      // height unchanged
    ];
    for (i, (w, h, ow, oh, want)) in cases.into_iter().enumerate() {
        let out = resize_bicubic(&test_picture(w, h, i as u32), ow, oh).unwrap();
        assert_eq!((out.width(), out.height()), (ow, oh));
        let got = fnv1a64(out.as_bytes());
        assert_eq!(
            got, want,
            "{w}x{h} -> {ow}x{oh}: {got:#018x} != Pillow's {want:#018x}"
        );
    }
}

/// File to model input in one go, PNG and JPEG (both decoded exactly as PIL decodes them).
#[test]
fn image_file_to_model_input_matches_timm() {
    let bytes = fixture_bytes();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let (_, pre, size) = transforms().remove(0);
    let t = EvalTransform::new(&pre, size).unwrap();
    for (stem, ext) in STEMS {
        let img = open_rgb(&fixture_dir().join(format!("{stem}.{ext}"))).unwrap();
        let (_, want) = f32_tensor(&st, &format!("{stem}.deit"));
        let d = max_abs_diff(&t.apply(&img).unwrap(), &want);
        assert!(d <= 1e-6, "{stem}: max |diff| {d:e}");
    }
}

/// The resize sizes timm picked (the fixture script prints them): shorter side to 248 for deit,
/// ResizeKeepRatio towards (53, 88) for the wide input.
#[test]
fn resize_targets_match_the_fixture_script() {
    let all = transforms();
    let deit = EvalTransform::new(&all[0].1, all[0].2).unwrap();
    let wide = EvalTransform::new(&all[2].1, all[2].2).unwrap();
    assert_eq!(deit.resized_size(320, 240).unwrap(), (330, 248));
    assert_eq!(deit.resized_size(131, 197).unwrap(), (248, 372));
    assert_eq!(deit.resized_size(8, 8).unwrap(), (248, 248));
    // 320x240: r = min(240/53, 320/88) = 3.636..., (round(66.0), round(88.0)).
    assert_eq!(wide.resized_size(320, 240).unwrap(), (88, 66));
    // 131x197: r = min(197/53, 131/88) = 1.4886..., (round(132.3), round(88.0)).
    assert_eq!(wide.resized_size(131, 197).unwrap(), (88, 132));
}

// ---------------------------------------------------------------------------------------------
// (c) bad inputs

fn assert_image_error(result: repq_hw::Result<Rgb8Image>, file: &Path) {
    match result {
        Err(e @ Error::Image { .. }) => {
            let Error::Image { path, .. } = &e else {
                unreachable!()
            };
            assert_eq!(path, file);
            assert!(e.to_string().contains(&file.display().to_string()), "{e}");
        }
        other => panic!("{}: expected Error::Image, got {other:?}", file.display()),
    }
}

#[test]
fn bad_image_files_are_image_errors_naming_the_file() {
    let dir = scratch("bad-images");
    let empty = dir.join("empty.png");
    std::fs::write(&empty, b"").unwrap();
    assert_image_error(open_rgb(&empty), &empty);

    let png = std::fs::read(fixture_dir().join("b_portrait.png")).unwrap();
    let truncated = dir.join("truncated.png");
    std::fs::write(&truncated, &png[..png.len() / 2]).unwrap();
    assert_image_error(open_rgb(&truncated), &truncated);

    // libjpeg alone would decode this (filling in gray); PIL says "image file is truncated".
    let jpg = std::fs::read(fixture_dir().join("a_landscape.jpg")).unwrap();
    let truncated_jpg = dir.join("truncated.jpg");
    std::fs::write(&truncated_jpg, &jpg[..jpg.len() - 2]).unwrap();
    assert_image_error(open_rgb(&truncated_jpg), &truncated_jpg);
    let with_trailer = dir.join("trailer.jpg");
    std::fs::write(&with_trailer, [&jpg[..], b"trailing bytes"].concat()).unwrap();
    assert!(
        open_rgb(&with_trailer).is_ok(),
        "bytes after EOI are ignored, as in PIL"
    );

    let text = dir.join("notes.jpg");
    std::fs::write(&text, "this is not a JPEG\n").unwrap();
    assert_image_error(open_rgb(&text), &text);

    let missing = dir.join("missing.png");
    assert!(matches!(open_rgb(&missing), Err(Error::Io { path, .. }) if path == missing));
    std::fs::remove_dir_all(&dir).unwrap();
}

fn assert_dataset_error(result: repq_hw::Result<ImageFolder>, at: &Path) {
    match result {
        Err(e @ Error::Dataset { .. }) => {
            let Error::Dataset { path, .. } = &e else {
                unreachable!()
            };
            assert_eq!(path, at, "{e}");
        }
        other => panic!("{}: expected Error::Dataset, got {other:?}", at.display()),
    }
}

fn write_png(path: &Path, w: u32, h: u32, seed: u8) {
    let data: Vec<u8> = (0..w * h * 3)
        .map(|i| (i as u8).wrapping_mul(37).wrapping_add(seed))
        .collect();
    image::RgbImage::from_raw(w, h, data)
        .unwrap()
        .save(path)
        .unwrap();
}

#[test]
fn unusable_image_folders_are_dataset_errors_naming_the_folder() {
    let dir = scratch("bad-folders");

    let missing = dir.join("does-not-exist");
    assert_dataset_error(ImageFolder::open(&missing), &missing);

    let flat = dir.join("flat");
    std::fs::create_dir(&flat).unwrap();
    assert_dataset_error(ImageFolder::open(&flat), &flat); // empty folder
    write_png(&flat.join("a.png"), 4, 4, 1);
    assert_dataset_error(ImageFolder::open(&flat), &flat); // images but no class folders

    let empty_class = dir.join("empty-class");
    std::fs::create_dir_all(empty_class.join("cat")).unwrap();
    std::fs::create_dir_all(empty_class.join("dog")).unwrap();
    write_png(&empty_class.join("dog/a.png"), 4, 4, 1);
    std::fs::write(empty_class.join("cat/readme.txt"), "no images here").unwrap();
    assert_dataset_error(ImageFolder::open(&empty_class), &empty_class.join("cat"));

    let bmp = dir.join("bmp");
    std::fs::create_dir_all(bmp.join("cat")).unwrap();
    write_png(&bmp.join("cat/a.png"), 4, 4, 1);
    std::fs::write(bmp.join("cat/b.bmp"), "BM").unwrap();
    assert_dataset_error(ImageFolder::open(&bmp), &bmp.join("cat/b.bmp"));

    std::fs::remove_dir_all(&dir).unwrap();
}

// ---------------------------------------------------------------------------------------------
// (d) ImageFolder round trip

#[test]
fn image_folder_round_trip() {
    let root = scratch("round-trip");
    for d in ["dog", "cat/a/b", "cat/a-x", "Zebra"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    write_png(&root.join("dog/b.png"), 9, 7, 1);
    write_png(&root.join("dog/a.PNG"), 5, 12, 2);
    let jpeg = image::RgbImage::from_raw(6, 6, vec![128; 108]).unwrap();
    jpeg.save(root.join("dog/c.jpeg")).unwrap();
    std::fs::write(root.join("dog/notes.txt"), "ignored").unwrap();
    write_png(&root.join("cat/a/1.png"), 3, 3, 3);
    write_png(&root.join("cat/a/b/2.png"), 3, 4, 4);
    write_png(&root.join("cat/a-x/3.png"), 4, 3, 5);
    write_png(&root.join("Zebra/z.png"), 8, 8, 6);
    write_png(&root.join("stray.png"), 8, 8, 7); // files in the root are not a class

    let folder = ImageFolder::open(&root).unwrap();
    // Byte order, as Python's sorted(): upper case first.
    assert_eq!(folder.classes(), &["Zebra", "cat", "dog"]);
    let rel: Vec<(String, usize)> = folder
        .samples()
        .iter()
        .map(|s| {
            let r = s.path.strip_prefix(&root).unwrap();
            (r.to_string_lossy().into_owned(), s.label)
        })
        .collect();
    // Inside a class: sorted(os.walk()) orders directories by path string ("cat/a" <
    // "cat/a-x" < "cat/a/b" since '-' < '/'), then files by name ("a.PNG" < "b.png").
    let want: Vec<(String, usize)> = [
        ("Zebra/z.png", 0),
        ("cat/a/1.png", 1),
        ("cat/a-x/3.png", 1),
        ("cat/a/b/2.png", 1),
        ("dog/a.PNG", 2),
        ("dog/b.png", 2),
        ("dog/c.jpeg", 2),
    ]
    .iter()
    .map(|(p, l)| (p.to_string(), *l))
    .collect();
    assert_eq!(rel, want);
    assert_eq!(folder.len(), 7);

    let t = EvalTransform::new(
        &Preprocess {
            mean: vec![0.5; 3],
            std: vec![0.25; 3],
            crop_pct: 0.875,
        },
        [8, 8],
    )
    .unwrap();
    let batches = folder.batches(&t, 3);
    assert_eq!(batches.len(), 3);
    let mut labels = vec![];
    let mut seen = 0;
    for batch in batches {
        let batch = batch.unwrap();
        assert_eq!(batch.start, seen);
        assert_eq!(batch.shape, [batch.len(), 3, 8, 8]);
        assert_eq!(batch.data.len(), batch.len() * 3 * 64);
        for (i, one) in batch.data.chunks(3 * 64).enumerate() {
            let sample = &folder.samples()[seen + i];
            let single = t.apply(&open_rgb(&sample.path).unwrap()).unwrap();
            assert_eq!(one, &single[..], "{}", sample.path.display());
        }
        seen += batch.len();
        labels.extend(batch.labels);
    }
    assert_eq!(seen, 7);
    assert_eq!(labels, vec![0, 1, 1, 1, 2, 2, 2]);

    // A corrupt image surfaces as that file's error, and iteration stops there.
    std::fs::write(root.join("cat/a-x/3.png"), b"\x89PNG\r\n\x1a\nbroken").unwrap();
    let mut batches = folder.batches(&t, 4);
    match batches.next() {
        Some(Err(Error::Image { path, .. })) => assert_eq!(path, root.join("cat/a-x/3.png")),
        other => panic!("expected the corrupt file's Error::Image, got {other:?}"),
    }
    assert!(batches.next().is_none());
    std::fs::remove_dir_all(&root).unwrap();
}
