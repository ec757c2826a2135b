//! Golden vectors (docs/golden-vectors.md): every input, parameter and output of the integer
//! datapath as `$readmemh` hex files with a `manifest.toml`, for one image through a quantized
//! model ([`export`]) or as random unit-test vectors ([`random`]); and the reader that parses them
//! back ([`dir::GoldenDir`], [`hex::parse`]).
//!
//! * the element file format, its writer and nom parser ([`hex`]);
//! * the `manifest.toml` schema ([`manifest`]);
//! * atomic directory writing, the overwrite guard, reading back ([`dir`]);
//! * one image through an [`IntModel`](crate::intsim::IntModel) ([`export`]);
//! * a random matmul with requantization and the U3/U4 unit vectors ([`random`]), and those of
//!   the A x V requantization, GELU and the residual addition ([`random_units`]).

pub mod dir;
pub mod export;
pub mod hex;
pub mod manifest;
pub mod random;
pub mod random_pool;
pub mod random_units;
pub mod swin;
mod writer;

use std::collections::BTreeMap;

pub use dir::{GoldenDir, check_target, write_dir};
pub use manifest::{FileEntry, Manifest};

/// One element file to write: its manifest entry and its elements.
#[derive(Clone, Debug, PartialEq)]
pub struct GoldenFile {
    pub entry: FileEntry,
    pub data: Vec<i128>,
}

/// Whether a file holds values computed for these inputs or constants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Activation,
    Parameter,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Activation => "activation",
            Kind::Parameter => "parameter",
        }
    }
}

impl GoldenFile {
    /// A file `DIR/NAME.hex` of tensor `name`.
    pub fn new<T: Copy + Into<i128>>(
        kind: Kind,
        dir: &str,
        name: &str,
        shape: &[usize],
        (bits, signed): (u32, bool),
        data: &[T],
        description: impl Into<String>,
    ) -> GoldenFile {
        GoldenFile {
            entry: FileEntry {
                path: format!("{dir}/{name}.hex"),
                name: name.to_string(),
                kind: kind.as_str().into(),
                shape: shape.to_vec(),
                bits,
                signed,
                digits: hex::digits(bits),
                elements: shape.iter().product(),
                order: manifest::ROW_MAJOR.into(),
                scale: None,
                zero_point: None,
                channel_scales: None,
                description: description.into(),
            },
            data: data.iter().map(|&v| v.into()).collect(),
        }
    }

    /// With the real value of one LSB.
    pub fn scale(mut self, s: f64) -> Self {
        self.entry.scale = Some(s);
        self
    }

    /// With the real zero point.
    pub fn zero_point(mut self, z: f64) -> Self {
        self.entry.zero_point = Some(z);
        self
    }

    /// With per-channel scales along the last axis.
    pub fn channel_scales(mut self, s: Vec<f64>) -> Self {
        self.entry.channel_scales = Some(s);
        self
    }
}

/// `sN`.
pub const fn signed(bits: u32) -> (u32, bool) {
    (bits, true)
}

/// `uN`.
pub const fn unsigned(bits: u32) -> (u32, bool) {
    (bits, false)
}

/// One argument as a POSIX shell word: as is when it is made of safe characters only, otherwise
/// in single quotes.
pub fn shell_quote(arg: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "_-./:=@%+,".contains(c);
    if !arg.is_empty() && arg.chars().all(safe) {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', "'\\''"))
    }
}

/// The manifest fields every directory has, for a command line `args` (without the program name,
/// which is written as `repq-hw` so that the manifest does not depend on where the binary is).
pub fn manifest_header(mode: &str, args: &[String]) -> Manifest {
    let argv: Vec<String> = std::iter::once("repq-hw".to_string())
        .chain(args.iter().cloned())
        .collect();
    Manifest {
        format: manifest::FORMAT.into(),
        format_version: manifest::FORMAT_VERSION,
        repq_hw_version: env!("CARGO_PKG_VERSION").into(),
        command: argv
            .iter()
            .map(|a| shell_quote(a))
            .collect::<Vec<_>>()
            .join(" "),
        argv,
        mode: mode.into(),
        constants: BTreeMap::new(),
        model: None,
        image: None,
        random: None,
        files: Vec::new(),
    }
}

/// The fixed constants of docs/arithmetic.md that every directory records.
pub fn datapath_constants() -> BTreeMap<String, i64> {
    use crate::arith::{gelu, layernorm, logcode, softmax};
    [
        ("PBITS", i64::from(logcode::PBITS)),
        ("MBITS", i64::from(logcode::MBITS)),
        ("SQRT2_Q15", crate::arith::SQRT2_Q15),
        ("EF", i64::from(softmax::EF)),
        ("EBITS", i64::from(softmax::EBITS)),
        ("LNF", i64::from(layernorm::LNF)),
        ("GF", i64::from(layernorm::GF)),
        ("HBITS", i64::from(gelu::HBITS)),
        (
            "RESIDUAL_FRAC_BITS",
            i64::from(crate::intsim::RESIDUAL_FRAC_BITS),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quoting() {
        assert_eq!(shell_quote("--out"), "--out");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
