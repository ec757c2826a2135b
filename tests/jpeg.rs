//! JPEG decoding against Pillow, pixel for pixel: every JPEG of tests/fixtures/jpeg (written by
//! Pillow, tools/make_jpeg_fixtures.py: 4:2:0, 4:2:2, 4:4:4, low quality, progressive,
//! optimized Huffman tables, restart markers, grayscale, CMYK, RGB without the YCbCr transform)
//! decodes to exactly the bytes of Pillow's `Image.open(path).convert('RGB')`.

use std::path::{Path, PathBuf};

use repq_hw::data::open_rgb;
use safetensors::{Dtype, SafeTensors};

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/jpeg")
}

/// Decodes every `<stem>.jpg` in `dir` that `decoded.safetensors` holds and compares; returns the
/// number of files and a list of mismatches (stem, differing values, max |diff|).
fn compare_dir(dir: &Path) -> (usize, Vec<(String, usize, u8)>) {
    let bytes = std::fs::read(dir.join("decoded.safetensors")).expect("decoded.safetensors");
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let mut bad = Vec::new();
    let mut names: Vec<String> = st.names().into_iter().map(str::to_string).collect();
    names.sort();
    for stem in &names {
        let t = st.tensor(stem).unwrap();
        assert_eq!(t.dtype(), Dtype::U8, "{stem}");
        let &[h, w, 3] = t.shape() else {
            panic!("{stem}: shape {:?}", t.shape())
        };
        let path = dir.join(format!("{stem}.jpg"));
        let ours = open_rgb(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((ours.width(), ours.height()), (w, h), "{stem}");
        let diffs: Vec<u8> = ours
            .as_bytes()
            .iter()
            .zip(t.data())
            .map(|(a, b)| a.abs_diff(*b))
            .collect();
        let n = diffs.iter().filter(|&&d| d > 0).count();
        if n > 0 {
            bad.push((stem.clone(), n, *diffs.iter().max().unwrap()));
        }
    }
    (names.len(), bad)
}

#[test]
fn every_committed_jpeg_decodes_exactly_as_pillow() {
    let (n, bad) = compare_dir(&fixture_dir());
    assert_eq!(n, 11, "fixture count");
    assert!(bad.is_empty(), "differ from Pillow: {bad:?}");
}

/// The committed layouts are what the test says they are (so a regenerated fixture set cannot
/// silently lose one): SOF markers (baseline/progressive), component counts and sampling
/// factors, restart markers.
#[test]
fn the_fixtures_cover_the_layouts() {
    fn frame(path: &Path) -> (u8, Vec<(u8, u8)>, bool) {
        let b = std::fs::read(path).unwrap();
        let mut i = 2;
        let mut sof = None;
        let mut restart = false;
        while i + 4 <= b.len() {
            assert_eq!(b[i], 0xFF, "{}: marker walk", path.display());
            let m = b[i + 1];
            let len = usize::from(u16::from_be_bytes([b[i + 2], b[i + 3]]));
            if matches!(m, 0xC0..=0xC2) {
                let n = usize::from(b[i + 9]);
                let comps = (0..n)
                    .map(|k| {
                        let f = b[i + 11 + 3 * k];
                        (f >> 4, f & 15)
                    })
                    .collect();
                sof = Some((m, comps));
            }
            if m == 0xDD {
                restart = true;
            }
            if m == 0xDA {
                break;
            }
            i += 2 + len;
        }
        let (m, comps) = sof.expect("SOF");
        (m, comps, restart)
    }
    let d = fixture_dir();
    let f = |s: &str| frame(&d.join(format!("{s}.jpg")));
    assert_eq!(f("q90_420"), (0xC0, vec![(2, 2), (1, 1), (1, 1)], false));
    assert_eq!(f("q75_422"), (0xC0, vec![(2, 1), (1, 1), (1, 1)], false));
    assert_eq!(f("q95_444"), (0xC0, vec![(1, 1), (1, 1), (1, 1)], false));
    assert_eq!(f("progressive").0, 0xC2);
    assert!(f("restart").2, "restart interval");
    assert_eq!(f("gray").1.len(), 1);
    assert_eq!(f("cmyk").1.len(), 4);
    assert_eq!(f("rgb").1, vec![(1, 1), (1, 1), (1, 1)]);
}

/// A wider sweep, not committed: `tools/make_jpeg_fixtures.py --sweep DIR --count N` writes N
/// random Pillow JPEGs (sizes 1..200, qualities 1..100, every layout, smooth and noise images);
/// run with `REPQ_JPEG_SWEEP=DIR cargo test --release --test jpeg -- --ignored`.
#[test]
#[ignore = "needs REPQ_JPEG_SWEEP=DIR made by tools/make_jpeg_fixtures.py --sweep"]
fn sweep_of_random_pillow_jpegs_decodes_exactly() {
    let dir = std::env::var("REPQ_JPEG_SWEEP").expect("REPQ_JPEG_SWEEP=DIR");
    let (n, bad) = compare_dir(Path::new(&dir));
    eprintln!("{n} JPEGs compared, {} differ", bad.len());
    assert!(n > 0);
    assert!(bad.is_empty(), "differ from Pillow: {bad:?}");
}

/// libjpeg warnings do not stop decoding, as in Pillow: junk bytes before the end-of-image
/// marker ("Corrupt JPEG data: 3 extraneous bytes before marker 0xd9") leave the pixels as they
/// are (checked with Pillow 13.0.0 when this test was written: identical pixels, no error).
#[test]
fn warnings_are_ignored_as_pillow_ignores_them() {
    let dir = std::env::temp_dir().join(format!("repq-hw-jpeg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let clean = std::fs::read(fixture_dir().join("q90_420.jpg")).unwrap();
    assert_eq!(&clean[clean.len() - 2..], b"\xFF\xD9");
    let junk = [&clean[..clean.len() - 2], b"\x00\x01\x02\xFF\xD9"].concat();
    let path = dir.join("junk.jpg");
    std::fs::write(&path, junk).unwrap();
    let ours = open_rgb(&path).expect("decodes despite the warning");
    let want = open_rgb(&fixture_dir().join("q90_420.jpg")).unwrap();
    assert!(ours == want);
    std::fs::remove_dir_all(&dir).unwrap();
}
