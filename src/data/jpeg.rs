//! JPEG decoding by libjpeg-turbo, as Pillow decodes it, so that pixels are bit-exact with
//! `Image.open(path).convert('RGB')`.
//!
//! Pillow decodes JPEGs with libjpeg-turbo's defaults: the accurate integer IDCT (ISLOW) and
//! "fancy" (triangular) chroma upsampling. This module calls the same library, built from the
//! source that the `turbojpeg-sys` crate vendors (libjpeg-turbo 3.1.0; Pillow 13.0.0, the
//! release tools/requirements.txt pins, ships 3.2.0: their decoders give identical pixels on every
//! JPEG of tests/fixtures/jpeg, see tests/jpeg.rs), through its TurboJPEG API with the same
//! defaults. What Pillow then does per JPEG layout, and so what this module does:
//!
//! * 3 components (YCbCr, or RGB when the file says so): libjpeg's RGB output as is;
//! * 1 component: the gray value replicated to R, G and B (`convert('RGB')` of mode `L`);
//! * 4 components (CMYK, or YCCK which libjpeg turns into CMYK): Pillow opens them as mode
//!   `CMYK` with raw mode `CMYK;I` (Adobe's inverted polarity, assumed for every file) and
//!   `convert('RGB')` computes `R = nk - round(C * nk / 255)` per channel, with
//!   `nk = 255 - K`, where the rounded quotient is Pillow's exact `MULDIV255`;
//! * sample precision other than 8 bits, or a component count other than 1, 3 or 4: refused,
//!   as Pillow refuses them.
//!
//! Warnings that libjpeg emits while decoding (for example extraneous bytes before a marker)
//! are ignored, as Pillow ignores them; errors are returned. Truncated files are refused
//! before decoding by [`super::decode`] (Pillow raises "image file is truncated").
//! Headers beyond the limits every decoder here shares ([`super::decode::check_size`]: sides
//! and decoded bytes) are refused before any pixel buffer is allocated.

use std::ffi::CStr;
use std::os::raw::c_int;

use turbojpeg_sys as tj;

use crate::data::rgb::Rgb8Image;

/// A TurboJPEG decompressor handle, destroyed on drop.
struct Handle(tj::tjhandle);

impl Handle {
    fn new() -> Result<Self, String> {
        // SAFETY: tj3Init has no preconditions; a null result is checked.
        let ptr = unsafe { tj::tj3Init(tj::TJINIT_TJINIT_DECOMPRESS as c_int) };
        if ptr.is_null() {
            return Err("libjpeg-turbo could not create a decompressor".into());
        }
        Ok(Handle(ptr))
    }

    fn get(&self, param: tj::TJPARAM) -> c_int {
        // SAFETY: the handle is valid for the lifetime of self.
        unsafe { tj::tj3Get(self.0, param as c_int) }
    }

    fn set(&self, param: tj::TJPARAM, value: c_int) -> Result<(), String> {
        // SAFETY: the handle is valid for the lifetime of self.
        if unsafe { tj::tj3Set(self.0, param as c_int, value) } != 0 {
            return Err(self.message());
        }
        Ok(())
    }

    /// The message of the last error or warning.
    fn message(&self) -> String {
        // SAFETY: tj3GetErrorStr returns a NUL-terminated string owned by the handle (or a
        // static one), valid until the next call on the handle.
        let msg = unsafe { CStr::from_ptr(tj::tj3GetErrorStr(self.0)) };
        msg.to_string_lossy().into_owned()
    }

    /// Whether the last failure was only a warning (the operation completed).
    fn last_was_warning(&self) -> bool {
        // SAFETY: the handle is valid.
        unsafe { tj::tj3GetErrorCode(self.0) == tj::TJERR_TJERR_WARNING as c_int }
    }

    /// Turns a TurboJPEG return code into a result, accepting warnings.
    fn check(&self, ret: c_int) -> Result<(), String> {
        if ret == 0 || self.last_was_warning() {
            Ok(())
        } else {
            Err(self.message())
        }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: the handle came from tj3Init and is destroyed once.
        unsafe { tj::tj3Destroy(self.0) }
    }
}

/// Decodes JPEG bytes to 8-bit RGB exactly as Pillow's `Image.open(f).convert('RGB')`.
/// Errors are libjpeg-turbo's messages (or this module's, for what Pillow refuses).
pub fn decode(bytes: &[u8]) -> Result<Rgb8Image, String> {
    let h = Handle::new()?;
    let len = bytes.len() as tj::size_t;
    // SAFETY: bytes is a valid slice of `len` bytes for the duration of the call.
    h.check(unsafe { tj::tj3DecompressHeader(h.0, bytes.as_ptr(), len) })?;
    let width = usize::try_from(h.get(tj::TJPARAM_TJPARAM_JPEGWIDTH)).unwrap_or(0);
    let height = usize::try_from(h.get(tj::TJPARAM_TJPARAM_JPEGHEIGHT)).unwrap_or(0);
    let precision = h.get(tj::TJPARAM_TJPARAM_PRECISION);
    let colorspace = h.get(tj::TJPARAM_TJPARAM_COLORSPACE);
    if precision != 8 {
        return Err(format!(
            "cannot handle {precision}-bit samples (only 8-bit JPEGs)"
        ));
    }
    if width == 0 || height == 0 {
        return Err(format!("invalid size {width}x{height}"));
    }
    let side = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    // Decoded to 8-bit RGB: 3 bytes a pixel.
    let decoded = 3 * width as u64 * height as u64;
    super::decode::check_size((side(width), side(height)), decoded)?;
    h.set(
        tj::TJPARAM_TJPARAM_MAXPIXELS,
        c_int::try_from(super::decode::MAX_DECODED_BYTES / 3).unwrap_or(c_int::MAX),
    )?;
    // Pillow's defaults: accurate IDCT, smooth upsampling (also TurboJPEG's defaults; set so
    // that a change of those defaults cannot change the pixels silently).
    h.set(tj::TJPARAM_TJPARAM_FASTDCT, 0)?;
    h.set(tj::TJPARAM_TJPARAM_FASTUPSAMPLE, 0)?;
    let (format, channels) = match colorspace as tj::TJCS {
        tj::TJCS_TJCS_GRAY => (tj::TJPF_TJPF_GRAY, 1),
        tj::TJCS_TJCS_RGB | tj::TJCS_TJCS_YCbCr => (tj::TJPF_TJPF_RGB, 3),
        tj::TJCS_TJCS_CMYK | tj::TJCS_TJCS_YCCK => (tj::TJPF_TJPF_CMYK, 4),
        other => return Err(format!("unsupported JPEG colour space {other}")),
    };
    let mut out = vec![0u8; width * height * channels];
    // SAFETY: `out` holds width * height * channels bytes, the size tj3Decompress8 writes for
    // this pixel format with pitch 0 (= width * channels); `bytes` is valid for `len` bytes.
    let ret = unsafe {
        tj::tj3Decompress8(
            h.0,
            bytes.as_ptr(),
            len,
            out.as_mut_ptr(),
            0,
            format as c_int,
        )
    };
    h.check(ret)?;
    let rgb = match channels {
        1 => out.into_iter().flat_map(|v| [v; 3]).collect(),
        3 => out,
        _ => out
            .chunks_exact(4)
            .flat_map(|p| cmyk_inverted_to_rgb([p[0], p[1], p[2], p[3]]))
            .collect(),
    };
    Rgb8Image::new(width, height, rgb).map_err(|e| e.to_string())
}

/// Pillow's `convert('RGB')` of a CMYK JPEG pixel as libjpeg returns it (Adobe polarity, i.e.
/// inverted; Pillow's raw mode `CMYK;I`).
///
/// With `C = 255 - c` (and likewise M, Y, K) Pillow computes per channel
/// `nk - MULDIV255(C, nk)` where `nk = 255 - K = k` and `MULDIV255(a, b)` is `a * b / 255`
/// rounded to nearest: `t = a * b + 128; ((t >> 8) + t) >> 8`, exact for `a, b <= 255`.
pub fn cmyk_inverted_to_rgb(px: [u8; 4]) -> [u8; 3] {
    let nk = u32::from(px[3]);
    let channel = |raw: u8| {
        let c = 255 - u32::from(raw);
        let t = c * nk + 128;
        (nk - (((t >> 8) + t) >> 8)) as u8
    };
    [channel(px[0]), channel(px[1]), channel(px[2])]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cmyk_conversion_matches_the_rounded_quotient() {
        // MULDIV255 is round(a * b / 255) for all 8-bit operands; check the whole table.
        for c in 0..=255u32 {
            for k in 0..=255u32 {
                let want = k - (((255 - c) * k) as f64 / 255.0).round() as u32;
                let got = cmyk_inverted_to_rgb([c as u8, 0, 255, k as u8]);
                assert_eq!(u32::from(got[0]), want, "c {c} k {k}");
                assert_eq!(u32::from(got[2]), k, "no ink: k {k}");
            }
        }
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(decode(b"").is_err());
        assert!(decode(b"\xFF\xD8\xFF\xD9").is_err());
        assert!(decode(b"not a jpeg at all").is_err());
    }
}
