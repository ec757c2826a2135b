//! Images in, model inputs out: decoding, timm's evaluation transform, ImageFolder data sets.
//!
//! * [`rgb`]: the 8-bit RGB image type ([`Rgb8Image`]);
//! * [`decode`]: PNG/JPEG files to RGB like PIL's `Image.open(p).convert('RGB')`;
//! * [`jpeg`]: JPEG decoding by libjpeg-turbo, bit-exact with Pillow;
//! * [`resize`]: Pillow's bicubic `Image.resize`, bit-exact;
//! * [`transform`]: timm's eval transform (resize, center crop, to-tensor, normalize);
//! * [`imagefolder`]: torchvision-style ImageFolder data sets, decoded in parallel batches.

pub mod decode;
pub mod imagefolder;
pub mod jpeg;
pub mod resize;
pub mod rgb;
pub mod transform;

pub use decode::{decode_rgb, open_rgb};
pub use imagefolder::{Batch, Batches, ImageFolder, Sample, list_images, transform_files};
pub use resize::{AxisCoeffs, BicubicResize, resize_bicubic};
pub use rgb::Rgb8Image;
pub use transform::EvalTransform;
