//! An 8-bit RGB image: the one pixel type every later step (resize, crop, normalize) works on,
//! the equivalent of a PIL image in mode "RGB".

use crate::error::{Error, Result};

/// An 8-bit RGB image, rows top to bottom, pixels interleaved `R, G, B` (like a `uint8`
/// `[height, width, 3]` array of `np.asarray(pil_image)`). Width and height are at least 1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rgb8Image {
    width: usize,
    height: usize,
    data: Vec<u8>,
}

impl Rgb8Image {
    /// Wraps interleaved RGB bytes; `data.len()` must be `width * height * 3`, both sides >= 1.
    pub fn new(width: usize, height: usize, data: Vec<u8>) -> Result<Self> {
        check_dims(width, height, 3, data.len(), "Rgb8Image::new")?;
        Ok(Rgb8Image {
            width,
            height,
            data,
        })
    }

    /// A black image (all zeros).
    pub fn black(width: usize, height: usize) -> Result<Self> {
        let n = pixel_count(width, height, "Rgb8Image::black")?;
        Self::new(width, height, vec![0; n * 3])
    }

    /// An RGB image from 8-bit grayscale pixels, replicated to three channels (PIL's
    /// `convert('RGB')` of a mode "L" image). Used for the embedded demo digits.
    pub fn from_gray(width: usize, height: usize, pixels: &[u8]) -> Result<Self> {
        check_dims(width, height, 1, pixels.len(), "Rgb8Image::from_gray")?;
        let data = pixels.iter().flat_map(|&v| [v, v, v]).collect();
        Ok(Rgb8Image {
            width,
            height,
            data,
        })
    }

    /// An RGB image from raw 8-bit pixels with `channels` = 1 (grayscale, replicated) or 3 (RGB).
    pub fn from_raw(width: usize, height: usize, channels: usize, pixels: &[u8]) -> Result<Self> {
        match channels {
            1 => Self::from_gray(width, height, pixels),
            3 => Self::new(width, height, pixels.to_vec()),
            _ => Err(Error::Shape {
                context: "Rgb8Image::from_raw".into(),
                reason: format!("channels must be 1 (gray) or 3 (RGB), got {channels}"),
            }),
        }
    }

    pub fn width(&self) -> usize {
        self.width
    }

    pub fn height(&self) -> usize {
        self.height
    }

    /// The interleaved `[height, width, 3]` bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.data
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.data
    }

    /// One row of `width * 3` bytes; `None` if `y` is out of range.
    pub fn row(&self, y: usize) -> Option<&[u8]> {
        let stride = self.width * 3;
        self.data.get(y * stride..(y + 1) * stride)
    }

    /// The pixel at column `x`, row `y`; `None` if out of range.
    pub fn pixel(&self, x: usize, y: usize) -> Option<[u8; 3]> {
        if x >= self.width || y >= self.height {
            return None;
        }
        let i = (y * self.width + x) * 3;
        Some([self.data[i], self.data[i + 1], self.data[i + 2]])
    }
}

/// `width * height`, failing on a zero side or an overflowing product.
fn pixel_count(width: usize, height: usize, context: &str) -> Result<usize> {
    if width == 0 || height == 0 {
        return Err(Error::Shape {
            context: context.into(),
            reason: format!("image sides must be >= 1, got {width}x{height} (WxH)"),
        });
    }
    width.checked_mul(height).ok_or_else(|| Error::Shape {
        context: context.into(),
        reason: format!("image {width}x{height} (WxH) is too large"),
    })
}

fn check_dims(
    width: usize,
    height: usize,
    channels: usize,
    len: usize,
    context: &str,
) -> Result<()> {
    let n = pixel_count(width, height, context)?;
    if n.checked_mul(channels) != Some(len) {
        return Err(Error::Shape {
            context: context.into(),
            reason: format!(
                "{width}x{height} (WxH) with {channels} channel(s) needs {} bytes, got {len}",
                n.saturating_mul(channels)
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gray_is_replicated() {
        let img = Rgb8Image::from_gray(2, 1, &[7, 200]).unwrap();
        assert_eq!(img.as_bytes(), &[7, 7, 7, 200, 200, 200]);
        assert_eq!(img.pixel(1, 0), Some([200, 200, 200]));
        assert_eq!(img.pixel(2, 0), None);
    }

    #[test]
    fn wrong_lengths_are_errors() {
        assert!(Rgb8Image::new(2, 2, vec![0; 11]).is_err());
        assert!(Rgb8Image::from_gray(0, 3, &[]).is_err());
        assert!(Rgb8Image::from_raw(1, 1, 4, &[0; 4]).is_err());
        assert!(Rgb8Image::new(usize::MAX, 2, vec![]).is_err());
    }
}
