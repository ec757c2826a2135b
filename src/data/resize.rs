//! Pillow's `Image.resize(size, Image.BICUBIC)` for 8-bit RGB images, bit for bit.
//!
//! This follows Pillow's `libImaging/Resample.c` operation by operation:
//!
//! * the bicubic kernel with `a = -0.5` and support 2, evaluated in f64 with Pillow's exact
//!   expression order;
//! * `precompute_coeffs`: `scale = in / out`, `filterscale = max(scale, 1)` (antialiasing when
//!   downscaling widens the kernel by the scale factor), `center = (x + 0.5) * scale`, taps from
//!   `(int)(center - support + 0.5)` to `(int)(center + support + 0.5)` clipped to the image,
//!   weights `filter((i - center + 0.5) / filterscale)` divided by their sum;
//! * `normalize_coeffs_8bpc`: weights to fixed point with `PRECISION_BITS = 32 - 8 - 2 = 22`,
//!   rounding half away from zero;
//! * each output sample accumulates in `i32` from `1 << 21` and is clipped with `>> 22` to
//!   `0..=255`;
//! * two separable passes, each rounding to 8 bits, in Pillow 13's order: normally the
//!   horizontal pass first, into a temporary image holding only the rows the vertical pass
//!   reads, then the vertical pass; but when the height shrinks by more than twice as many
//!   pixels as the width, the vertical pass first and then the horizontal one. (Pillow before
//!   this heuristic always ran the horizontal pass first; for those sizes its output differs by
//!   a level here and there.) A pass whose dimension does not change is skipped.
//!
//! The weights are computed once per `(input size, output size)` in [`BicubicResize::new`] and can
//! be reused for any number of images of that size.

use crate::data::rgb::Rgb8Image;
use crate::error::{Error, Result};

/// Fixed-point fraction bits of the weights (Pillow's `PRECISION_BITS`).
const PRECISION_BITS: u32 = 32 - 8 - 2;
/// Half a unit in the last place: the rounding offset every accumulator starts from.
const ROUND_INIT: i32 = 1 << (PRECISION_BITS - 1);
/// Support of Pillow's bicubic filter.
const BICUBIC_SUPPORT: f64 = 2.0;

/// Pillow's `bicubic_filter` (Keys' cubic convolution with `a = -0.5`), same expression order.
fn bicubic_filter(x: f64) -> f64 {
    const A: f64 = -0.5;
    let x = if x < 0.0 { -x } else { x };
    if x < 1.0 {
        return ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0;
    }
    if x < 2.0 {
        return (((x - 5.0) * x + 8.0) * x - 4.0) * A;
    }
    0.0
}

/// Pillow's `clip8`: drop the fraction bits (arithmetic shift) and clamp to a byte.
#[inline]
fn clip8(acc: i32) -> u8 {
    (acc >> PRECISION_BITS).clamp(0, 255) as u8
}

/// The fixed-point bicubic weights for resampling one axis from `in_size` to `out_size` samples.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AxisCoeffs {
    in_size: usize,
    out_size: usize,
    /// Weights stored per output sample (Pillow's `ksize`); unused tails are zero.
    ksize: usize,
    /// Per output sample: first input index and number of taps.
    bounds: Vec<(usize, usize)>,
    /// `out_size * ksize` weights in Q22 fixed point.
    weights: Vec<i32>,
}

impl AxisCoeffs {
    /// Pillow's `precompute_coeffs` + `normalize_coeffs_8bpc` for the bicubic filter over the
    /// whole input (no box).
    pub fn bicubic(in_size: usize, out_size: usize) -> Result<Self> {
        let bad = |reason: String| Error::Shape {
            context: "bicubic resize".into(),
            reason,
        };
        if in_size == 0 || out_size == 0 {
            return Err(bad(format!(
                "sizes must be >= 1, got {in_size} -> {out_size}"
            )));
        }
        if in_size > i32::MAX as usize || out_size > i32::MAX as usize {
            return Err(bad(format!("size {in_size} -> {out_size} is too large")));
        }
        // Pillow passes the box as C floats: `(double)(in1 - in0) / outSize` with in0 = 0.
        let scale = f64::from(in_size as f32) / out_size as f64;
        let filterscale = if scale < 1.0 { 1.0 } else { scale };
        let support = BICUBIC_SUPPORT * filterscale;
        let ksize = (support.ceil() as usize) * 2 + 1;
        let total = out_size
            .checked_mul(ksize)
            .filter(|&n| n <= (i32::MAX as usize) / 8)
            .ok_or_else(|| {
                bad(format!(
                    "size {in_size} -> {out_size} needs too many weights"
                ))
            })?;

        let mut bounds = Vec::with_capacity(out_size);
        let mut weights = vec![0i32; total];
        let mut k = vec![0f64; ksize];
        let ss = 1.0 / filterscale;
        for (xx, wrow) in weights.chunks_exact_mut(ksize).enumerate() {
            let center = 0.0 + (xx as f64 + 0.5) * scale;
            // `(int)` in C truncates towards zero, as `as` does.
            let xmin = ((center - support + 0.5) as i64).max(0);
            let xmax = ((center + support + 0.5) as i64).min(in_size as i64);
            let taps = (xmax - xmin).max(0) as usize;
            let xmin = xmin as usize;
            let mut ww = 0.0;
            for (x, kx) in k.iter_mut().take(taps).enumerate() {
                let w = bicubic_filter(((x + xmin) as f64 - center + 0.5) * ss);
                *kx = w;
                ww += w;
            }
            for (kx, out) in k.iter().take(taps).zip(wrow.iter_mut()) {
                let kx = if ww != 0.0 { kx / ww } else { *kx };
                let scaled = kx * f64::from(1u32 << PRECISION_BITS);
                *out = if kx < 0.0 {
                    (-0.5 + scaled) as i32
                } else {
                    (0.5 + scaled) as i32
                };
            }
            bounds.push((xmin, taps));
        }
        Ok(AxisCoeffs {
            in_size,
            out_size,
            ksize,
            bounds,
            weights,
        })
    }

    pub fn in_size(&self) -> usize {
        self.in_size
    }

    pub fn out_size(&self) -> usize {
        self.out_size
    }

    /// First input index and the Q22 weights of output sample `i`.
    fn taps(&self, i: usize) -> (usize, &[i32]) {
        let (start, n) = self.bounds[i];
        (start, &self.weights[i * self.ksize..i * self.ksize + n])
    }
}

/// A planned bicubic resize from one image size to another, reusable for every image of the
/// input size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BicubicResize {
    in_size: (usize, usize),
    out_size: (usize, usize),
    /// `None` when the width does not change (Pillow skips the pass).
    horizontal: Option<AxisCoeffs>,
    /// Always computed: when the horizontal pass runs first, its bounds tell which rows that pass
    /// must produce.
    vertical: AxisCoeffs,
}

impl BicubicResize {
    /// Plans resizing `in_width x in_height` images to `out_width x out_height`.
    pub fn new(
        in_width: usize,
        in_height: usize,
        out_width: usize,
        out_height: usize,
    ) -> Result<Self> {
        let horizontal = if in_width != out_width {
            Some(AxisCoeffs::bicubic(in_width, out_width)?)
        } else if in_width == 0 {
            return Err(Error::Shape {
                context: "bicubic resize".into(),
                reason: "width must be >= 1".into(),
            });
        } else {
            None
        };
        Ok(BicubicResize {
            in_size: (in_width, in_height),
            out_size: (out_width, out_height),
            horizontal,
            vertical: AxisCoeffs::bicubic(in_height, out_height)?,
        })
    }

    /// Output `(width, height)`.
    pub fn out_size(&self) -> (usize, usize) {
        self.out_size
    }

    /// Resizes `img`, which must have the planned input size.
    pub fn apply(&self, img: &Rgb8Image) -> Result<Rgb8Image> {
        let (in_w, in_h) = self.in_size;
        let (out_w, out_h) = self.out_size;
        if (img.width(), img.height()) != self.in_size {
            return Err(Error::Shape {
                context: "bicubic resize".into(),
                reason: format!(
                    "planned for {in_w}x{in_h} (WxH), got a {}x{} image",
                    img.width(),
                    img.height()
                ),
            });
        }
        let need_vertical = in_h != out_h;
        let out = match (&self.horizontal, need_vertical) {
            (None, false) => return Ok(img.clone()),
            (None, true) => vertical_pass(img.as_bytes(), in_w, &self.vertical, 0),
            (Some(h), false) => horizontal_pass(img.as_bytes(), in_w, h, 0, in_h),
            (Some(h), true) if self.horizontal_first() => {
                // Only the rows the vertical pass reads: first tap of the first output row to the
                // end of the last output row's taps.
                let first = self.vertical.bounds[0].0;
                let (last_start, last_n) = self.vertical.bounds[out_h - 1];
                let temp = horizontal_pass(img.as_bytes(), in_w, h, first, last_start + last_n);
                vertical_pass(&temp, out_w, &self.vertical, first)
            }
            (Some(h), true) => {
                let temp = vertical_pass(img.as_bytes(), in_w, &self.vertical, 0);
                horizontal_pass(&temp, in_w, h, 0, out_h)
            }
        };
        Rgb8Image::new(out_w, out_h, out)
    }

    /// Pillow 13's choice of pass order (`ImagingResampleInner`): vertical first only when the
    /// height shrinks by more than twice as many pixels as the width does (a growing width counts
    /// as a negative change); otherwise horizontal first. The order changes the result, since
    /// each pass rounds to 8 bits.
    fn horizontal_first(&self) -> bool {
        let ((in_w, in_h), (out_w, out_h)) = (self.in_size, self.out_size);
        // Sizes fit in i32 (checked in AxisCoeffs::bicubic), so i64 cannot overflow.
        let dh = in_h as i64 - out_h as i64;
        let dw = in_w as i64 - out_w as i64;
        !(dh > 0 && dh > dw * 2)
    }
}

/// Pillow's `Image.resize((width, height), Image.BICUBIC)` of an RGB image.
pub fn resize_bicubic(img: &Rgb8Image, width: usize, height: usize) -> Result<Rgb8Image> {
    BicubicResize::new(img.width(), img.height(), width, height)?.apply(img)
}

/// Resamples rows `rows_from..rows_to` of `src` (interleaved RGB, `src_w` wide) along x.
fn horizontal_pass(
    src: &[u8],
    src_w: usize,
    c: &AxisCoeffs,
    rows_from: usize,
    rows_to: usize,
) -> Vec<u8> {
    let out_w = c.out_size;
    let mut out = vec![0u8; out_w * (rows_to - rows_from) * 3];
    let src_rows = src.chunks_exact(src_w * 3).skip(rows_from);
    for (orow, srow) in out.chunks_exact_mut(out_w * 3).zip(src_rows) {
        for (xx, opix) in orow.chunks_exact_mut(3).enumerate() {
            let (xmin, k) = c.taps(xx);
            let (mut s0, mut s1, mut s2) = (ROUND_INIT, ROUND_INIT, ROUND_INIT);
            for (&w, p) in k.iter().zip(srow[xmin * 3..].chunks_exact(3)) {
                s0 = s0.wrapping_add(i32::from(p[0]).wrapping_mul(w));
                s1 = s1.wrapping_add(i32::from(p[1]).wrapping_mul(w));
                s2 = s2.wrapping_add(i32::from(p[2]).wrapping_mul(w));
            }
            opix[0] = clip8(s0);
            opix[1] = clip8(s1);
            opix[2] = clip8(s2);
        }
    }
    out
}

/// Resamples `src` (interleaved RGB, `width` wide, whose row 0 is input row `row_offset`) along y.
/// Sums are order-independent in wrapping `i32`, so accumulating a whole row at a time gives
/// Pillow's per-pixel results.
fn vertical_pass(src: &[u8], width: usize, c: &AxisCoeffs, row_offset: usize) -> Vec<u8> {
    let stride = width * 3;
    let mut out = vec![0u8; stride * c.out_size];
    let mut acc = vec![0i32; stride];
    for (yy, orow) in out.chunks_exact_mut(stride).enumerate() {
        let (ymin, k) = c.taps(yy);
        acc.fill(ROUND_INIT);
        for (t, &w) in k.iter().enumerate() {
            let y = ymin + t - row_offset;
            let srow = &src[y * stride..(y + 1) * stride];
            for (a, &p) in acc.iter_mut().zip(srow) {
                *a = a.wrapping_add(i32::from(p).wrapping_mul(w));
            }
        }
        for (o, &a) in orow.iter_mut().zip(&acc) {
            *o = clip8(a);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(w: usize, h: usize, seed: u32) -> Rgb8Image {
        let mut s = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
        let data = (0..w * h * 3)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                (s >> 24) as u8
            })
            .collect();
        Rgb8Image::new(w, h, data).unwrap()
    }

    #[test]
    fn same_size_is_identity() {
        let img = noise(7, 5, 1);
        assert_eq!(resize_bicubic(&img, 7, 5).unwrap(), img);
    }

    #[test]
    fn constant_stays_constant() {
        for &(w, h) in &[(1, 1), (3, 9), (10, 10), (64, 17)] {
            let img = Rgb8Image::new(5, 4, [13u8, 128, 250].repeat(20)).unwrap();
            let out = resize_bicubic(&img, w, h).unwrap();
            assert_eq!((out.width(), out.height()), (w, h));
            assert!(
                out.as_bytes().chunks(3).all(|p| p == [13, 128, 250]),
                "{w}x{h}"
            );
        }
    }

    #[test]
    fn kernel_values() {
        assert_eq!(bicubic_filter(0.0), 1.0);
        assert_eq!(bicubic_filter(1.0), 0.0);
        assert_eq!(bicubic_filter(0.5), 0.5625);
        assert_eq!(bicubic_filter(-1.5), -0.0625);
        assert_eq!(bicubic_filter(2.0), 0.0);
    }

    /// Upscaling 2 -> 4 by hand: output centers at 0.25, 0.75, 1.25, 1.75. Output 0 sees input 0
    /// at distance 0.25 (w 0.8671875) and input 1 at 1.25 (w -0.0703125); normalized by their sum
    /// 0.796875 that is 1.08824 and -0.08824, so [0, 255] gives 255 * -0.088 < 0 -> 0. Output 1:
    /// distances 0.25 and 0.75 (w 0.8671875, 0.2265625), 255 * 0.2265625 / 1.09375 = 52.8 -> 53.
    /// Pillow 13 gives [0, 53, 202, 255] as well.
    #[test]
    fn hand_checked_upscale() {
        let c = AxisCoeffs::bicubic(2, 4).unwrap();
        let (start, k) = c.taps(0);
        assert_eq!(start, 0);
        // round(2^22 * 0.8671875 / 0.796875) and -round(2^22 * 0.0703125 / 0.796875)
        assert_eq!(k, &[4_564_390, -370_086]);
        let img = Rgb8Image::from_gray(2, 1, &[0, 255]).unwrap();
        let out = resize_bicubic(&img, 4, 1).unwrap();
        let row: Vec<u8> = out.as_bytes().chunks(3).map(|p| p[0]).collect();
        assert_eq!(row, vec![0, 53, 202, 255]);
        // 2x2 checkerboard to 1x1: all four weights equal, (0 + 255 + 255 + 0) / 4 = 127.5 -> 128.
        let img = Rgb8Image::from_gray(2, 2, &[0, 255, 255, 0]).unwrap();
        assert_eq!(
            resize_bicubic(&img, 1, 1).unwrap().as_bytes(),
            &[128, 128, 128]
        );
    }

    #[test]
    fn mismatched_input_is_an_error() {
        let plan = BicubicResize::new(4, 4, 2, 2).unwrap();
        assert!(plan.apply(&noise(5, 4, 2)).is_err());
        assert!(AxisCoeffs::bicubic(0, 3).is_err());
        assert!(AxisCoeffs::bicubic(3, 0).is_err());
    }
}
