//! Typed errors of the library. Every variant names what was wrong (file, tensor, field, value),
//! so that the binary can print it and exit non-zero instead of panicking.

use std::path::PathBuf;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong when reading user input or running the flow.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O failure on a named file.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A checkpoint file that cannot be read (truncated, corrupt header, not safetensors or a
    /// PyTorch file, ...).
    #[error("{path}: cannot read the checkpoint: {reason}")]
    Checkpoint { path: PathBuf, reason: String },

    /// A model this tool does not implement (yet), named: never reported as a corrupt file.
    #[error("{source_name}: {what} is not supported{}", hint.as_deref().map(|h| format!("; {h}")).unwrap_or_default())]
    Unsupported {
        source_name: String,
        what: String,
        hint: Option<String>,
    },

    /// Fields of the model that nothing determines (not the tensor shapes, a timm config.json,
    /// the timm name table, the sidecar or the command line): never guessed.
    #[error("{source_name}: {} not determined: give {}", fields.join(", "), options)]
    Undetermined {
        source_name: String,
        /// The open fields, by their sidecar names (`num_heads`, `crop_pct`, ...).
        fields: Vec<String>,
        /// How to give them, in one phrase.
        options: String,
    },

    /// A tensor the architecture needs is not in the checkpoint.
    #[error("{path}: missing tensor `{tensor}`")]
    MissingTensor { path: PathBuf, tensor: String },

    /// A tensor with a shape that does not fit the architecture.
    #[error("{path}: tensor `{tensor}` has shape {found:?}, expected {expected}")]
    TensorShape {
        path: PathBuf,
        tensor: String,
        found: Vec<usize>,
        expected: String,
    },

    /// A tensor stored in a dtype this tool does not read.
    #[error("{path}: tensor `{tensor}` has dtype {dtype}; only F32, F16 and BF16 are supported")]
    TensorDtype {
        path: PathBuf,
        tensor: String,
        dtype: String,
    },

    /// A tensor holding NaN or infinite values.
    #[error("{path}: tensor `{tensor}` holds a non-finite value ({value}) at flat index {index}")]
    NonFinite {
        path: PathBuf,
        tensor: String,
        index: usize,
        value: f32,
    },

    /// A configuration field (sidecar TOML, CLI option) with a bad value.
    #[error("{source_name}: field `{field}`: {reason}")]
    Config {
        source_name: String,
        field: String,
        reason: String,
    },

    /// A TOML file that does not parse.
    #[error("{path}: {reason}")]
    Toml { path: PathBuf, reason: String },

    /// An image that cannot be decoded.
    #[error("{path}: cannot decode image: {reason}")]
    Image { path: PathBuf, reason: String },

    /// A data set directory that cannot be used.
    #[error("{path}: {reason}")]
    Dataset { path: PathBuf, reason: String },

    /// A tensor passed to a computation with the wrong shape (a bug or a bad input file).
    #[error("shape mismatch in {context}: {reason}")]
    Shape { context: String, reason: String },

    /// A quantized-model artifact (`repq-hw quantize --out`) with a missing, malformed or
    /// inconsistent field (metadata entry or tensor).
    #[error("{path}: quantized artifact: field `{field}`: {reason}")]
    Artifact {
        path: PathBuf,
        field: String,
        reason: String,
    },

    /// An external tool (Verilator, the C++ compiler) that is missing or failed.
    #[error("{tool}: {reason}")]
    Tool { tool: String, reason: String },

    /// The generated RTL and the golden vectors disagree (or the RTL broke a stream protocol).
    #[error("verification failed: {0}")]
    Mismatch(String),

    /// The reader of stdout went away (a closed pipe, `repq-hw info | head -1`): the command
    /// stops; the binary exits quietly with status 141 (`cli::output`).
    #[error("stdout was closed by its reader")]
    StdoutClosed,

    /// Writing the command's output to stdout failed for another reason (a full disk).
    #[error("writing to stdout: {0}; check where stdout goes (a full disk?)")]
    Stdout(#[source] std::io::Error),

    /// Anything else that a user asked for and this tool cannot do.
    #[error("{0}")]
    Invalid(String),
}

impl Error {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
