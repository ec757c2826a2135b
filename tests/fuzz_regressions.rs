//! One test per fuzzing finding (docs/fuzzing.md): the input that crashed, hung or over-allocated,
//! committed under `tests/fixtures/fuzz/TARGET/`, must now give the typed error named here.
//! `tests/fuzz_corpus.rs` replays the same files through the harnesses.

use std::path::Path;

use repq_hw::Error;
use repq_hw::data::decode_rgb;
use repq_hw::fuzzing::seeds;

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
            assert!(reason.contains("16384 pixels a side"), "{reason}");
        }
        other => panic!("expected Error::Image, got {other:?}"),
    }
    // Within the side limit but above the byte limit: 16384 x 6000 x 3 bytes = 281 MiB.
    let e = decode_rgb(&seeds::png_declaring(16384, 6000), Path::new("b.png")).unwrap_err();
    assert!(e.to_string().contains("16384x6000"), "{e}");
}
