//! Writing float32 `.npy` files (NumPy format version 1.0), for logits that other tools compare.

use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};

/// Encodes a C-order little-endian float32 array of `shape` as `.npy` bytes.
pub fn encode_f32(shape: &[usize], data: &[f32]) -> Result<Vec<u8>> {
    let n: usize = shape.iter().product();
    if n != data.len() {
        return Err(Error::Shape {
            context: "npy".into(),
            reason: format!("shape {shape:?} holds {n} values, got {}", data.len()),
        });
    }
    let dims = match shape {
        [d] => format!("({d},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {dims}, }}");
    // Magic (6) + version (2) + header length (2) + header + '\n' is padded to a multiple of 64.
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat(unpadded.next_multiple_of(64) - unpadded));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + 4 * data.len());
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for v in data {
        out.extend_from_slice(&v.to_le_bytes());
    }
    Ok(out)
}

/// Writes a float32 `.npy` file.
pub fn write_f32(path: &Path, shape: &[usize], data: &[f32]) -> Result<()> {
    let bytes = encode_f32(shape, data)?;
    let mut f = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
    f.write_all(&bytes).map_err(|e| Error::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_aligned_and_describes_the_array() {
        let bytes = encode_f32(&[2, 3], &[0.0, 1.0, 2.0, 3.0, 4.0, 5.5]).unwrap();
        assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00");
        let hlen = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        assert_eq!((10 + hlen) % 64, 0);
        let header = std::str::from_utf8(&bytes[10..10 + hlen]).unwrap();
        assert!(header.starts_with("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"));
        assert!(header.ends_with('\n'));
        let last = &bytes[bytes.len() - 4..];
        assert_eq!(f32::from_le_bytes(last.try_into().unwrap()), 5.5);
        assert_eq!(bytes.len(), 10 + hlen + 24);
        assert!(encode_f32(&[4], &[1.0]).is_err());
    }
}
