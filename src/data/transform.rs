//! timm's evaluation transform (`transforms_imagenet_eval`, crop mode "center", bicubic) on an
//! [`Rgb8Image`], giving the model's CHW f32 input.
//!
//! For an input size `[H, W]` and crop ratio `p`, timm computes
//! `scale_size = (floor(H / p), floor(W / p))` and then
//!
//! * if the two are equal: torchvision `Resize(scale_size)`, the shorter side to `scale_size`
//!   and the longer to `int(scale_size * long / short)`;
//! * otherwise: timm's `ResizeKeepRatio(scale_size)`, which divides both sides by
//!   `r = min(h / scale_h, w / scale_w)` and rounds each with Python's `round` (half to even);
//!
//! both with PIL's bicubic filter ([`crate::data::resize`]), then torchvision `CenterCrop([H, W])`
//! (zero padding if the image is smaller, top/left offsets `int(round((size - crop) / 2.0))`),
//! `ToTensor` (`x.float().div(255)`) and `Normalize` (`(x - mean) / std`), all in f32 in this
//! order.
//!
//! Numbers that timm holds as Python floats (crop ratio, mean, std) reach this crate as f32 read
//! from a decimal; they are turned back into the f64 of their shortest decimal before use, so
//! `floor(224 / 0.9)` is computed on the same double Python uses, and mean/std are rounded to f32
//! from that double exactly as `torch.tensor(mean)` does.

use crate::data::resize::BicubicResize;
use crate::data::rgb::Rgb8Image;
use crate::error::{Error, Result};
use crate::model::Preprocess;

/// How the image is scaled before the center crop.
/// Largest image the resize before the center crop may produce, in pixels (2^26: 192 MiB of
/// 8-bit RGB). Only an extreme aspect ratio reaches it: the shorter side is scaled to about the
/// input size, so a 1-pixel-high panorama grows by that factor in both directions.
pub const MAX_RESIZED_PIXELS: usize = 1 << 26;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ScaleRule {
    /// torchvision `Resize(n)`: the shorter side to `n`.
    ShorterSide(usize),
    /// timm `ResizeKeepRatio([h, w])`: scale by the smaller of the two ratios.
    KeepRatio([usize; 2]),
}

/// timm's evaluation transform for one model: decode-independent, cheap to clone, `Sync`.
#[derive(Clone, Debug, PartialEq)]
pub struct EvalTransform {
    /// Model input `[H, W]` (the crop size).
    size: [usize; 2],
    rule: ScaleRule,
    mean: [f32; 3],
    std: [f32; 3],
}

/// The f64 Python would hold for a number written in decimal and read here as f32: the f32's
/// shortest round-trip decimal, parsed as f64.
fn python_float(x: f32) -> f64 {
    format!("{x}").parse().unwrap_or(f64::from(x))
}

impl EvalTransform {
    /// The transform for a model with input size `[H, W]` and preprocessing `pre` (which must
    /// hold three means and stds, since images are RGB).
    pub fn new(pre: &Preprocess, input_size: [usize; 2]) -> Result<Self> {
        let bad = |field: &str, reason: String| Error::Config {
            source_name: "preprocess".into(),
            field: field.into(),
            reason,
        };
        let [h, w] = input_size;
        if h == 0 || w == 0 {
            return Err(bad("img_size", format!("must be >= 1, got {input_size:?}")));
        }
        let three = |v: &[f32], field: &str| -> Result<[f32; 3]> {
            match v {
                [a, b, c] => Ok([*a, *b, *c].map(|x| python_float(x) as f32)),
                _ => Err(bad(
                    field,
                    format!("RGB images need 3 values, got {}", v.len()),
                )),
            }
        };
        let mean = three(&pre.mean, "mean")?;
        let std = three(&pre.std, "std")?;
        if mean.iter().any(|m| !m.is_finite()) {
            return Err(bad("mean", format!("must be finite, got {mean:?}")));
        }
        if std.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
            return Err(bad("std", format!("must be positive, got {std:?}")));
        }
        let crop_pct = python_float(pre.crop_pct);
        if !(crop_pct.is_finite() && crop_pct > 0.0) {
            return Err(bad("crop_pct", format!("must be positive, got {crop_pct}")));
        }
        let scale = |side: usize| -> Result<usize> {
            let s = (side as f64 / crop_pct).floor();
            if (1.0..=(1u64 << 31) as f64).contains(&s) {
                Ok(s as usize)
            } else {
                Err(bad(
                    "crop_pct",
                    format!("{side} / {crop_pct} gives an unusable resize target {s}"),
                ))
            }
        };
        let (sh, sw) = (scale(h)?, scale(w)?);
        let rule = if sh == sw {
            ScaleRule::ShorterSide(sh)
        } else {
            ScaleRule::KeepRatio([sh, sw])
        };
        Ok(EvalTransform {
            size: input_size,
            rule,
            mean,
            std,
        })
    }

    /// Model input `[H, W]`.
    pub fn input_size(&self) -> [usize; 2] {
        self.size
    }

    /// Number of f32 values one transformed image has: `3 * H * W`.
    pub fn output_len(&self) -> usize {
        3 * self.size[0] * self.size[1]
    }

    /// The `(width, height)` an image of `width x height` is resized to before the crop.
    pub fn resized_size(&self, width: usize, height: usize) -> Result<(usize, usize)> {
        if width == 0 || height == 0 {
            return Err(Error::Shape {
                context: "eval transform".into(),
                reason: format!("image sides must be >= 1, got {width}x{height} (WxH)"),
            });
        }
        let (nw, nh) = match self.rule {
            ScaleRule::ShorterSide(s) => {
                // torchvision `_compute_resized_output_size`; Python's int / int is the correctly
                // rounded quotient, which f64 division gives for operands below 2^53.
                let (short, long) = if width <= height {
                    (width, height)
                } else {
                    (height, width)
                };
                let new_long = ((s as f64 * long as f64) / short as f64) as usize;
                if width <= height {
                    (s, new_long)
                } else {
                    (new_long, s)
                }
            }
            ScaleRule::KeepRatio([th, tw]) => {
                let ratio = (height as f64 / th as f64).min(width as f64 / tw as f64);
                let nh = (height as f64 / ratio).round_ties_even() as usize;
                let nw = (width as f64 / ratio).round_ties_even() as usize;
                (nw, nh)
            }
        };
        if nw == 0 || nh == 0 {
            return Err(Error::Shape {
                context: "eval transform".into(),
                reason: format!("a {width}x{height} (WxH) image would be resized to {nw}x{nh}"),
            });
        }
        if nw.saturating_mul(nh) > MAX_RESIZED_PIXELS {
            let [ch, cw] = self.size;
            return Err(Error::Shape {
                context: "eval transform".into(),
                reason: format!(
                    "a {width}x{height} (WxH) image would be resized to {nw}x{nh} before the \
                     {cw}x{ch} center crop, more than {MAX_RESIZED_PIXELS} pixels; its aspect \
                     ratio is too extreme for the model's eval transform (give an image closer \
                     to {cw}x{ch})"
                ),
            });
        }
        Ok((nw, nh))
    }

    /// The uint8 part of the transform: the bicubic resize (skipped when the size does not
    /// change, as torchvision does). The result is what the center crop is taken from.
    pub fn resize(&self, img: &Rgb8Image) -> Result<Rgb8Image> {
        let (w, h) = self.resized_size(img.width(), img.height())?;
        if (w, h) == (img.width(), img.height()) {
            return Ok(img.clone());
        }
        BicubicResize::new(img.width(), img.height(), w, h)?.apply(img)
    }

    /// Transforms `img` to a CHW f32 tensor of [`output_len`](Self::output_len) values.
    pub fn apply(&self, img: &Rgb8Image) -> Result<Vec<f32>> {
        let mut out = vec![0f32; self.output_len()];
        self.apply_into(img, &mut out)?;
        Ok(out)
    }

    /// Transforms `img` into `out`, which must hold exactly [`output_len`](Self::output_len)
    /// values (CHW).
    pub fn apply_into(&self, img: &Rgb8Image, out: &mut [f32]) -> Result<()> {
        if out.len() != self.output_len() {
            return Err(Error::Shape {
                context: "eval transform".into(),
                reason: format!(
                    "output buffer holds {} values, [3, {}, {}] needs {}",
                    out.len(),
                    self.size[0],
                    self.size[1],
                    self.output_len()
                ),
            });
        }
        let resized = self.resize(img)?;
        self.crop_normalize(&resized, out);
        Ok(())
    }

    /// torchvision `CenterCrop` + `ToTensor` + `Normalize` of an already resized image.
    fn crop_normalize(&self, img: &Rgb8Image, out: &mut [f32]) {
        let [ch, cw] = self.size;
        let (pad_top, top) = crop_origin(img.height(), ch);
        let (pad_left, left) = crop_origin(img.width(), cw);
        // Source coordinate of output (y, x) is (top + y - pad_top, left + x - pad_left) in the
        // unpadded image, zero where that falls outside it.
        let plane = ch * cw;
        for y in 0..ch {
            let sy = (top + y).checked_sub(pad_top).filter(|&v| v < img.height());
            let row = sy.and_then(|sy| img.row(sy));
            for x in 0..cw {
                let sx = (left + x)
                    .checked_sub(pad_left)
                    .filter(|&v| v < img.width());
                let px = match (row, sx) {
                    (Some(r), Some(sx)) => [r[sx * 3], r[sx * 3 + 1], r[sx * 3 + 2]],
                    _ => [0, 0, 0],
                };
                for c in 0..3 {
                    let v = f32::from(px[c]) / 255.0;
                    out[c * plane + y * cw + x] = (v - self.mean[c]) / self.std[c];
                }
            }
        }
    }
}

/// torchvision's center crop along one axis of length `len` to `crop`: the zero padding added
/// before it (`(crop - len) // 2` when `crop > len`) and the crop offset into the padded axis
/// (`int(round((padded - crop) / 2.0))`, Python rounding half to even).
fn crop_origin(len: usize, crop: usize) -> (usize, usize) {
    let (pad_before, padded) = if crop > len {
        (
            (crop - len) / 2,
            len + (crop - len) / 2 + (crop - len).div_ceil(2),
        )
    } else {
        (0, len)
    };
    let offset = ((padded - crop) as f64 / 2.0).round_ties_even() as usize;
    (pad_before, offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pre(crop_pct: f32) -> Preprocess {
        Preprocess {
            mean: vec![0.5; 3],
            std: vec![0.5; 3],
            crop_pct,
        }
    }

    #[test]
    fn resize_targets_follow_timm() {
        // deit: 224 / 0.9 = 248.9 -> 248; 500x375 (WxH) -> shorter side 248, long int(330.67).
        let t = EvalTransform::new(&pre(0.9), [224, 224]).unwrap();
        assert_eq!(t.resized_size(500, 375).unwrap(), (330, 248));
        assert_eq!(t.resized_size(375, 500).unwrap(), (248, 330));
        let t = EvalTransform::new(&pre(0.875), [224, 224]).unwrap();
        assert_eq!(t.resized_size(256, 256).unwrap(), (256, 256));
        // Non-square: (floor(48/0.9), floor(80/0.9)) = (53, 88); 320x240 -> r = min(240/53,
        // 320/88) = 3.636 -> (88, 66).
        let t = EvalTransform::new(&pre(0.9), [48, 80]).unwrap();
        assert_eq!(t.resized_size(320, 240).unwrap(), (88, 66));
    }

    #[test]
    fn crop_offsets_round_half_to_even() {
        assert_eq!(crop_origin(10, 10), (0, 0));
        assert_eq!(crop_origin(11, 10), (0, 0)); // round(0.5) = 0
        assert_eq!(crop_origin(13, 10), (0, 2)); // round(1.5) = 2
        assert_eq!(crop_origin(15, 10), (0, 2)); // round(2.5) = 2
        assert_eq!(crop_origin(7, 10), (1, 0)); // pad 1 before, 2 after
    }

    #[test]
    fn normalizes_in_f32_and_pads_with_zero() {
        // crop_pct 1, size 2: no resize; values are ((p / 255) - 0.5) / 0.5 in f32.
        let t = EvalTransform::new(&pre(1.0), [2, 2]).unwrap();
        let img = Rgb8Image::from_gray(2, 2, &[0, 255, 51, 255]).unwrap();
        let out = t.apply(&img).unwrap();
        assert_eq!(&out[..4], &[-1.0, 1.0, (0.2f32 - 0.5) / 0.5, 1.0]);
        assert!(t.apply_into(&img, &mut [0.0; 3]).is_err());
        // crop_pct 2: floor(2 / 2) = 1, the 2x2 checkerboard shrinks to one pixel of 128; the 2x2
        // crop then pads with zeros after it (left/top padding (2 - 1) // 2 = 0).
        let t = EvalTransform::new(&pre(2.0), [2, 2]).unwrap();
        let img = Rgb8Image::from_gray(2, 2, &[0, 255, 255, 0]).unwrap();
        let out = t.apply(&img).unwrap();
        let v = (128.0f32 / 255.0 - 0.5) / 0.5;
        assert_eq!(&out[..4], &[v, -1.0, -1.0, -1.0]);
    }

    #[test]
    fn bad_preprocess_is_an_error() {
        let mut p = pre(0.9);
        p.mean = vec![0.5];
        assert!(EvalTransform::new(&p, [4, 4]).is_err());
        assert!(EvalTransform::new(&pre(0.0), [4, 4]).is_err());
        assert!(EvalTransform::new(&pre(0.9), [0, 4]).is_err());
    }
}
