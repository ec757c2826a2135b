//! Decoding PNG and JPEG files to 8-bit RGB the way PIL's `Image.open(p).convert('RGB')` does.
//!
//! The format is recognized from the content, not the extension (as PIL does). What PIL's
//! `convert('RGB')` does per PNG/JPEG pixel layout, and so what this module does:
//!
//! * 8-bit gray (and 1/2/4-bit gray, scaled to 0..=255): the value replicated to R, G, B;
//! * palette: looked up (a `tRNS` transparency is ignored);
//! * gray + alpha, RGBA, RGB with `tRNS`: alpha is dropped, the colour under it kept as is
//!   (no compositing onto a background);
//! * 16-bit RGB, RGBA and gray + alpha: the high byte of each sample (PIL reads them as
//!   "RGB"/"RGBA" with raw mode `;16B`);
//! * 16-bit gray: PIL opens it as mode `I;16` and `convert('RGB')` *clamps* each value to
//!   `0..=255` (so almost every pixel becomes 255); this is reproduced, surprising as it is;
//! * JPEG: decoded by libjpeg-turbo as PIL decodes it, bit-exact, gray, CMYK and YCCK included
//!   (see [`crate::data::jpeg`]). A JPEG whose markers do not reach the end-of-image marker is
//!   rejected as truncated, as PIL does (libjpeg alone would fill in the missing part).
//!
//! Empty, truncated, corrupt or unsupported files give [`Error::Image`] naming the file; a file
//! that cannot be read at all gives [`Error::Io`]. So does a header declaring more than
//! [`MAX_SIDE`] pixels a side or [`MAX_DECODED_BYTES`] decoded, before anything is allocated for
//! the pixels.

use std::io::Cursor;
use std::path::Path;

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader};

use crate::data::rgb::Rgb8Image;
use crate::error::{Error, Result};

/// Largest width or height [`decode_rgb`] accepts, in pixels (2^20: far beyond any photograph,
/// while a strip of 1 x 100000 pixels still decodes, to be refused by the eval transform with a
/// message about its aspect ratio).
pub const MAX_SIDE: u32 = 1 << 20;

/// Largest decoded image [`decode_rgb`] accepts, in bytes at the decoder's pixel layout (3 bytes a
/// pixel for 8-bit RGB, 8 for 16-bit RGBA): 256 MiB, about 89 million 8-bit RGB pixels (PIL's
/// `MAX_IMAGE_PIXELS` is 89,478,485). It bounds what a file's header can make the decoder
/// allocate, whatever the file's own size.
pub const MAX_DECODED_BYTES: u64 = 256 << 20;

/// The `image` crate's limits for [`decode_rgb`]: [`MAX_DECODED_BYTES`] for every allocation of
/// the decoder (the sides are checked by [`check_size`] with a message of our own).
fn decode_limits() -> image::Limits {
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(MAX_DECODED_BYTES);
    limits
}

/// Refuses, before any pixel is decoded, a header that declares more than [`MAX_SIDE`] a side or
/// [`MAX_DECODED_BYTES`] in all.
pub(crate) fn check_size(
    (width, height): (u32, u32),
    bytes: u64,
) -> std::result::Result<(), String> {
    if width > MAX_SIDE || height > MAX_SIDE || bytes > MAX_DECODED_BYTES {
        return Err(format!(
            "the header declares {width}x{height} (WxH) pixels, {bytes} bytes decoded; the limits \
             are {MAX_SIDE} pixels a side and {MAX_DECODED_BYTES} bytes decoded (a corrupt \
             header, or downscale the image first)"
        ));
    }
    Ok(())
}

/// Reads and decodes a PNG or JPEG file to RGB (PIL's `Image.open(path).convert('RGB')`).
pub fn open_rgb(path: &Path) -> Result<Rgb8Image> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    decode_rgb(&bytes, path)
}

/// Decodes the bytes of a PNG or JPEG file to RGB; `path` only names the source in errors.
pub fn decode_rgb(bytes: &[u8], path: &Path) -> Result<Rgb8Image> {
    let fail = |reason: String| Error::Image {
        path: path.to_path_buf(),
        reason,
    };
    if bytes.is_empty() {
        return Err(fail("the file is empty".into()));
    }
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| fail(e.to_string()))?;
    let format = match reader.format() {
        Some(f @ (ImageFormat::Png | ImageFormat::Jpeg)) => f,
        Some(other) => {
            return Err(fail(format!(
                "{other:?} images are not supported (only PNG and JPEG)"
            )));
        }
        None => return Err(fail("not a PNG or JPEG file (unrecognized content)".into())),
    };
    if format == ImageFormat::Jpeg && !jpeg_is_complete(bytes) {
        // libjpeg would fill in the missing part; PIL raises "image file is truncated".
        return Err(fail("truncated JPEG (no end-of-image marker)".into()));
    }
    if format == ImageFormat::Jpeg {
        return crate::data::jpeg::decode(bytes).map_err(fail);
    }
    let mut reader = reader;
    reader.limits(decode_limits());
    let decoder = reader.into_decoder().map_err(|e| fail(e.to_string()))?;
    check_size(decoder.dimensions(), decoder.total_bytes()).map_err(fail)?;
    let decoded = DynamicImage::from_decoder(decoder).map_err(|e| fail(e.to_string()))?;
    let gray16_clamps = format == ImageFormat::Png && png_is_16bit_gray(bytes);
    to_rgb8(decoded, gray16_clamps).map_err(fail)
}

/// Whether a JPEG's marker structure reaches the end-of-image marker (`FF D9`): walks the marker
/// segments from SOI, skipping each segment by its length and each scan's entropy-coded data
/// (where `FF` is followed only by a stuffed `00` or a restart marker). Bytes after EOI are
/// ignored, as libjpeg does.
fn jpeg_is_complete(bytes: &[u8]) -> bool {
    if bytes.len() < 4 || bytes[0] != 0xFF || bytes[1] != 0xD8 {
        return false;
    }
    let mut i = 2;
    loop {
        // Markers may be preceded by any number of 0xFF fill bytes.
        if bytes.get(i) != Some(&0xFF) {
            return false;
        }
        while bytes.get(i) == Some(&0xFF) {
            i += 1;
        }
        let Some(&marker) = bytes.get(i) else {
            return false;
        };
        i += 1;
        match marker {
            0xD9 => return true,
            // Standalone markers without a length: TEM, RSTn.
            0x01 | 0xD0..=0xD7 => continue,
            _ => {}
        }
        let Some(len) = bytes
            .get(i..i + 2)
            .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
        else {
            return false;
        };
        if len < 2 {
            return false;
        }
        i += len;
        if i > bytes.len() {
            return false;
        }
        if marker == 0xDA {
            // Entropy-coded data runs to the next marker other than a stuffed byte or RSTn.
            loop {
                match bytes.get(i) {
                    None => return false,
                    Some(0xFF) => match bytes.get(i + 1) {
                        None => return false,
                        Some(0x00 | 0xD0..=0xD7) => i += 2,
                        Some(0xFF) => i += 1,
                        Some(_) => break,
                    },
                    Some(_) => i += 1,
                }
            }
        }
    }
}

/// Whether a PNG's IHDR declares 16-bit grayscale without alpha (colour type 0), which PIL opens
/// as mode `I;16` even when a `tRNS` chunk makes the `image` crate report gray + alpha.
fn png_is_16bit_gray(bytes: &[u8]) -> bool {
    bytes.len() > 25 && &bytes[12..16] == b"IHDR" && bytes[24] == 16 && bytes[25] == 0
}

/// PIL's `convert('RGB')` of what the decoder produced.
fn to_rgb8(img: DynamicImage, gray16_clamps: bool) -> std::result::Result<Rgb8Image, String> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let clamp16 = |v: u16| v.min(255) as u8;
    let high16 = |v: u16| (v >> 8) as u8;
    let data: Vec<u8> = match img {
        DynamicImage::ImageRgb8(b) => b.into_raw(),
        DynamicImage::ImageLuma8(b) => b.into_raw().into_iter().flat_map(|v| [v; 3]).collect(),
        DynamicImage::ImageLumaA8(b) => b
            .into_raw()
            .chunks_exact(2)
            .flat_map(|p| [p[0]; 3])
            .collect(),
        DynamicImage::ImageRgba8(b) => b
            .into_raw()
            .chunks_exact(4)
            .flat_map(|p| [p[0], p[1], p[2]])
            .collect(),
        DynamicImage::ImageLuma16(b) => {
            let f = if gray16_clamps { clamp16 } else { high16 };
            b.into_raw().into_iter().flat_map(|v| [f(v); 3]).collect()
        }
        DynamicImage::ImageLumaA16(b) => {
            let f = if gray16_clamps { clamp16 } else { high16 };
            b.into_raw()
                .chunks_exact(2)
                .flat_map(|p| [f(p[0]); 3])
                .collect()
        }
        DynamicImage::ImageRgb16(b) => b.into_raw().into_iter().map(high16).collect(),
        DynamicImage::ImageRgba16(b) => b
            .into_raw()
            .chunks_exact(4)
            .flat_map(|p| [high16(p[0]), high16(p[1]), high16(p[2])])
            .collect(),
        other => return Err(format!("unsupported pixel layout {:?}", other.color())),
    };
    Rgb8Image::new(w, h, data).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jpeg_completeness() {
        // SOI, APP0 (len 4), SOS (len 3) + data with a stuffed FF00 and RST0, EOI, trailing bytes.
        let ok =
            b"\xFF\xD8\xFF\xE0\x00\x04ab\xFF\xDA\x00\x03c\x12\xFF\x00\x34\xFF\xD0\x56\xFF\xD9junk";
        assert!(jpeg_is_complete(ok));
        let eoi = ok.len() - 6;
        for cut in 0..eoi {
            assert!(!jpeg_is_complete(&ok[..cut]), "cut at {cut}");
        }
        assert!(!jpeg_is_complete(b"\xFF\xD8\xFF\xE0\x00\x01"));
    }

    #[test]
    fn garbage_is_an_image_error() {
        let p = Path::new("x.png");
        for bytes in [
            &b""[..],
            b"hello world",
            b"\x89PNG\r\n\x1a\n\0\0",
            b"\xFF\xD8\xFF\xE0\0\x10",
        ] {
            match decode_rgb(bytes, p) {
                Err(Error::Image { path, .. }) => assert_eq!(path, p),
                other => panic!("expected Error::Image, got {other:?}"),
            }
        }
    }
}

#[cfg(test)]
mod limit_tests {
    use super::*;

    /// A real JPEG whose SOF header is rewritten to declare `w` x `h` pixels.
    fn jpeg_declaring(w: u16, h: u16) -> Vec<u8> {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/jpeg/q90_420.jpg");
        let mut b = std::fs::read(p).unwrap();
        // SOF0..SOF2 marker, then length (2), precision (1), height (2), width (2).
        let sof = (0..b.len() - 1)
            .find(|&i| b[i] == 0xFF && (0xC0..=0xC2).contains(&b[i + 1]))
            .unwrap();
        b[sof + 5..sof + 7].copy_from_slice(&h.to_be_bytes());
        b[sof + 7..sof + 9].copy_from_slice(&w.to_be_bytes());
        b
    }

    /// JPEGs obey the same decoded-size limit as PNGs: 10000 x 10000 RGB is 300 MB decoded,
    /// above MAX_DECODED_BYTES, and is refused from the header with the shared message.
    #[test]
    fn jpeg_header_above_the_decoded_size_limit_is_refused() {
        let err = decode_rgb(&jpeg_declaring(10_000, 10_000), Path::new("big.jpg")).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("big.jpg"), "{msg}");
        assert!(msg.contains("10000x10000 (WxH)"), "{msg}");
        assert!(msg.contains("bytes decoded"), "{msg}");
    }
}
