//! PyTorch checkpoints (`.pth`, `.pt`, `.bin`, as `torch.save` writes them) read by the
//! `pytorch-reader` crate, which parses the pickle without executing any of it.
//!
//! The state dict is found as timm's `load_state_dict` finds it (timm 1.0.31,
//! `timm/models/_helpers.py`): a dict root holding `state_dict_ema` or `model_ema` (only when
//! EMA weights are asked for), else `state_dict`, else `model`, is a training checkpoint and the
//! state dict is that entry; any other root is the state dict itself. Everything else in the file
//! (epoch, args, optimizer, the other weights) is skipped, and the skipped entries are listed in
//! one note. Entries of the state dict that are not floating-point tensors (an integer
//! `num_batches_tracked`, a Python number) are skipped the same way.

use std::path::Path;

use pytorch_reader::{DType, PickleValue, PytorchReader};
use safetensors::Dtype;

use crate::error::{Error, Result};

/// A tensor as stored: name, dtype, shape, little-endian bytes.
pub type RawTensor = (String, Dtype, Vec<usize>, Vec<u8>);

/// Whether `bytes` (a whole file) look like a PyTorch file rather than safetensors: a ZIP
/// archive (PyTorch 1.6 and later), a pickle stream (0.1.10 to 1.5, or a plain pickle) or a TAR
/// archive (older still). A safetensors file (a little-endian header length that fits the file,
/// then the header's `{`) is never taken for one, even when its length's low byte is 0x80, the
/// pickle `PROTO` opcode.
pub fn looks_like_pytorch(bytes: &[u8]) -> bool {
    let safetensors = bytes.len() > 8
        && bytes[8] == b'{'
        && bytes[..8]
            .try_into()
            .map(u64::from_le_bytes)
            .is_ok_and(|n| n <= (bytes.len() - 8) as u64);
    !safetensors
        && (bytes.starts_with(b"PK\x03\x04")
            || bytes.first() == Some(&0x80)
            || bytes.get(257..262) == Some(b"ustar"))
}

/// Reads the state dict of a PyTorch checkpoint: its tensors, and notes on what was skipped.
/// `ema` picks `state_dict_ema` / `model_ema` (an error if the file has neither).
pub fn read(path: &Path, ema: bool) -> Result<(Vec<RawTensor>, Vec<String>)> {
    let fail = |reason: String| Error::Checkpoint {
        path: path.to_path_buf(),
        reason: format!("PyTorch file: {reason}"),
    };
    let root = PytorchReader::read_pickle_data(path, None).map_err(|e| fail(e.to_string()))?;
    let mut notes = Vec::new();
    let (key, state) = match &root {
        PickleValue::Dict(d) => {
            let order: &[&str] = if ema {
                &["state_dict_ema", "model_ema", "state_dict", "model"]
            } else {
                &["state_dict", "model"]
            };
            let key = order
                .iter()
                .find(|k| matches!(d.get(**k), Some(PickleValue::Dict(_))))
                .copied();
            if ema && !matches!(key, Some("state_dict_ema" | "model_ema")) {
                return Err(Error::Config {
                    source_name: path.display().to_string(),
                    field: "--ema".into(),
                    reason: format!(
                        "the file holds no EMA weights (no `state_dict_ema` or `model_ema`; \
                         top-level entries: {})",
                        describe_entries(d, None)
                    ),
                });
            }
            if let Some(k) = key {
                let skipped = describe_entries(d, Some(k));
                notes.push(format!(
                    "{}: read the state dict `{k}`{}",
                    path.display(),
                    if skipped.is_empty() {
                        String::new()
                    } else {
                        format!("; skipped {skipped}")
                    }
                ));
                (Some(k), d.get(k))
            } else {
                (None, Some(&root))
            }
        }
        _ => (None, None),
    };
    if let Some(PickleValue::Dict(sd)) = state {
        let mut others: Vec<String> = sd
            .iter()
            .filter(|(_, v)| !is_tensor(v))
            .map(|(k, v)| format!("`{k}` ({})", type_name(v)))
            .collect();
        others.sort();
        if !others.is_empty() {
            notes.push(format!(
                "{}: skipped non-tensor entries of the state dict: {}",
                path.display(),
                others.join(", ")
            ));
        }
    }
    let reader = match key {
        Some(k) => PytorchReader::with_top_level_key(path, k),
        None => PytorchReader::new(path),
    }
    .map_err(|e| fail(e.to_string()))?;
    let mut tensors = Vec::new();
    let mut names: Vec<String> = reader.keys();
    names.sort();
    let mut map = reader.into_tensors();
    for name in names {
        let Some(t) = map.remove(&name) else { continue };
        let dtype = match t.dtype() {
            DType::F64 => Dtype::F64,
            DType::F32 => Dtype::F32,
            DType::F16 => Dtype::F16,
            DType::BF16 => Dtype::BF16,
            DType::I64 => Dtype::I64,
            DType::I32 => Dtype::I32,
            DType::I16 => Dtype::I16,
            DType::I8 => Dtype::I8,
            DType::U64 => Dtype::U64,
            DType::U32 => Dtype::U32,
            DType::U16 => Dtype::U16,
            DType::U8 => Dtype::U8,
            DType::Bool => Dtype::BOOL,
        };
        let shape = t.shape().to_vec();
        let bytes = t.read().map_err(|e| fail(e.to_string()))?;
        tensors.push((name, dtype, shape, bytes));
    }
    Ok((tensors, notes))
}

fn is_tensor(v: &PickleValue) -> bool {
    matches!(v, PickleValue::Unsupported(t) if t == "torch.Tensor" || t.ends_with("Parameter"))
}

fn type_name(v: &PickleValue) -> String {
    match v {
        PickleValue::None => "None".into(),
        PickleValue::Bool(_) => "bool".into(),
        PickleValue::Int(_) => "int".into(),
        PickleValue::Float(_) => "float".into(),
        PickleValue::String(_) => "str".into(),
        PickleValue::List(_) => "list".into(),
        PickleValue::Dict(_) => "dict".into(),
        PickleValue::Bytes(_) => "bytes".into(),
        PickleValue::Unsupported(t) => t.clone(),
    }
}

/// `a (int), b (dict), ...` for every entry but `except`, sorted by name.
fn describe_entries(
    d: &std::collections::HashMap<String, PickleValue>,
    except: Option<&str>,
) -> String {
    let mut v: Vec<String> = d
        .iter()
        .filter(|(k, _)| Some(k.as_str()) != except)
        .map(|(k, v)| {
            let what = match (k.as_str(), v) {
                ("state_dict_ema" | "model_ema", PickleValue::Dict(_)) => {
                    "dict, EMA weights: --ema reads them".to_string()
                }
                _ => type_name(v),
            };
            format!("`{k}` ({what})")
        })
        .collect();
    v.sort();
    v.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_told_apart_by_content() {
        assert!(looks_like_pytorch(b"PK\x03\x04rest of a zip"));
        assert!(looks_like_pytorch(b"\x80\x02}q\x00."));
        let mut tar = vec![0u8; 300];
        tar[257..262].copy_from_slice(b"ustar");
        assert!(looks_like_pytorch(&tar));
        // A safetensors header of 128 bytes: its first byte is 0x80 too.
        let mut st = 128u64.to_le_bytes().to_vec();
        st.push(b'{');
        st.extend(std::iter::repeat_n(b' ', 126));
        st.push(b'}');
        assert_eq!(st[0], 0x80);
        assert!(!looks_like_pytorch(&st));
    }
}
