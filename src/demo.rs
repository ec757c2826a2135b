//! The embedded demo models, trained on scikit-learn's handwritten digits: a small DeiT
//! (`deit-digits`, by `tools/train_demo.py`, the default of every command that takes a model) and
//! a small Swin (`swin-digits`, by `tools/train_swin_digits.py`, whose first stage has four
//! shifted 7x7 windows on 14x14 tokens), with their shared held-out test split and calibration
//! digits (see `assets/demo/README.md`). `--model deit-digits` / `--model swin-digits` name them.

use std::path::Path;

use safetensors::{Dtype, SafeTensors};

use crate::data::{Batch, EvalTransform, Rgb8Image};
use crate::error::{Error, Result};
use crate::model::{Model, Sidecar};
use crate::quant::{CalibrationInfo, QuantConfig, QuantizedModel, calibrate};

const CHECKPOINT: &[u8] = include_bytes!("../assets/demo/deit_digits.safetensors");
const SIDECAR: &str = include_str!("../assets/demo/deit_digits.toml");
const TEST_SPLIT: &[u8] = include_bytes!("../assets/demo/digits_test.safetensors");
const CALIB_SET: &[u8] = include_bytes!("../assets/demo/digits_calib.safetensors");

const SWIN_CHECKPOINT: &[u8] = include_bytes!("../assets/demo/swin_digits.safetensors");
const SWIN_SIDECAR: &str = include_str!("../assets/demo/swin_digits.toml");

/// Name shown for the embedded files in messages.
pub const SOURCE: &str = "<embedded>/deit_digits.safetensors";
/// Name shown for the embedded Swin's files in messages.
pub const SWIN_SOURCE: &str = "<embedded>/swin_digits.safetensors";

/// The embedded models, by the name `--model` takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Embedded {
    /// `deit-digits`: the default model.
    DeitDigits,
    /// `swin-digits`.
    SwinDigits,
}

impl Embedded {
    /// The name `--model` takes.
    pub fn name(self) -> &'static str {
        match self {
            Embedded::DeitDigits => "deit-digits",
            Embedded::SwinDigits => "swin-digits",
        }
    }

    /// The embedded model `path` names (`deit-digits`, `swin-digits`), unless a file or
    /// directory of that name exists (a path always means the file).
    pub fn named(path: &Path) -> Option<Embedded> {
        let e = match path.to_str()? {
            "deit-digits" => Embedded::DeitDigits,
            "swin-digits" => Embedded::SwinDigits,
            _ => return None,
        };
        (!path.exists()).then_some(e)
    }

    /// The embedded model a checkpoint source (a model's `source`, an artifact's
    /// `source_checkpoint`) is.
    pub fn of_source(source: &str) -> Option<Embedded> {
        match source {
            SOURCE => Some(Embedded::DeitDigits),
            SWIN_SOURCE => Some(Embedded::SwinDigits),
            _ => None,
        }
    }

    /// The model with the account of where each field came from.
    pub fn loaded(self) -> Result<crate::model::Loaded> {
        let (bytes, source, sidecar_text, sidecar) = match self {
            Embedded::DeitDigits => (CHECKPOINT, SOURCE, SIDECAR, "<embedded>/deit_digits.toml"),
            Embedded::SwinDigits => (
                SWIN_CHECKPOINT,
                SWIN_SOURCE,
                SWIN_SIDECAR,
                "<embedded>/swin_digits.toml",
            ),
        };
        let parsed = Sidecar::parse(sidecar_text, Path::new(sidecar))?;
        Model::from_bytes_loaded(bytes, Path::new(source), &parsed, Some(Path::new(sidecar)))
    }

    /// The model quantized with RepQ-ViT at `config`, calibrated on the 32 embedded calibration
    /// digits in one batch, in their stored order.
    pub fn quantized(self, config: QuantConfig) -> Result<QuantizedModel> {
        quantize_embedded(self.loaded()?.model, config)
    }
}

/// Side of the raw digit images (8x8 grayscale).
pub const DIGIT_SIDE: usize = 8;

/// The embedded demo model.
pub fn model() -> Result<Model> {
    Ok(loaded()?.model)
}

/// The embedded demo model with the account of where each field came from (for `info`).
pub fn loaded() -> Result<crate::model::Loaded> {
    Embedded::DeitDigits.loaded()
}

/// The embedded model quantized with RepQ-ViT at `config`, calibrated on the 32 embedded
/// calibration digits in one batch, in their stored order.
pub fn quantized(config: QuantConfig) -> Result<QuantizedModel> {
    quantize_embedded(model()?, config)
}

fn quantize_embedded(model: Model, config: QuantConfig) -> Result<QuantizedModel> {
    let transform = EvalTransform::new(&model.preprocess, model.img_size())?;
    let calib = calibration_set()?;
    let batch = calib.batch(0..calib.len(), &transform)?;
    let info = CalibrationInfo {
        source: "embedded".into(),
        count: calib.len(),
        seed: None,
    };
    calibrate(&model, &batch.data, calib.len(), config, info)
}

/// A set of the demo's 8x8 grayscale digits with their labels: the held-out test split, or the
/// 32 calibration digits (drawn from the training split by `tools/train_demo.py`).
#[derive(Clone, Debug)]
pub struct DigitSet {
    /// `[N, 8, 8]` raw 8-bit grayscale pixels.
    pixels: Vec<u8>,
    labels: Vec<usize>,
}

/// The embedded held-out test split (360 digits).
pub fn test_split() -> Result<DigitSet> {
    DigitSet::parse(TEST_SPLIT, Path::new("<embedded>/digits_test.safetensors"))
}

/// The embedded calibration set: 32 training digits, never from the test split.
pub fn calibration_set() -> Result<DigitSet> {
    DigitSet::parse(CALIB_SET, Path::new("<embedded>/digits_calib.safetensors"))
}

impl DigitSet {
    /// Parses a safetensors file holding `images` u8 `[N, 8, 8]` and `labels` u8 `[N]`.
    pub fn parse(bytes: &[u8], path: &Path) -> Result<DigitSet> {
        let bad = |reason: String| Error::Dataset {
            path: path.to_path_buf(),
            reason,
        };
        let st = SafeTensors::deserialize(bytes).map_err(|e| bad(e.to_string()))?;
        let images = st.tensor("images").map_err(|e| bad(e.to_string()))?;
        let labels = st.tensor("labels").map_err(|e| bad(e.to_string()))?;
        let n = labels.shape().first().copied().unwrap_or(0);
        if images.dtype() != Dtype::U8
            || labels.dtype() != Dtype::U8
            || images.shape() != [n, DIGIT_SIDE, DIGIT_SIDE]
        {
            return Err(bad("expected u8 images [N, 8, 8] and u8 labels [N]".into()));
        }
        Ok(DigitSet {
            pixels: images.data().to_vec(),
            labels: labels.data().iter().map(|&l| usize::from(l)).collect(),
        })
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    pub fn labels(&self) -> &[usize] {
        &self.labels
    }

    /// Image `i` as RGB (gray replicated, as PIL's `convert('RGB')`).
    pub fn image(&self, i: usize) -> Result<Rgb8Image> {
        let px = DIGIT_SIDE * DIGIT_SIDE;
        Rgb8Image::from_gray(DIGIT_SIDE, DIGIT_SIDE, &self.pixels[i * px..(i + 1) * px])
    }

    /// Images `range` through `transform`, as one batch.
    pub fn batch(&self, range: std::ops::Range<usize>, transform: &EvalTransform) -> Result<Batch> {
        let per = transform.output_len();
        let mut data = vec![0f32; per * range.len()];
        for (i, out) in range.clone().zip(data.chunks_exact_mut(per)) {
            transform.apply_into(&self.image(i)?, out)?;
        }
        let [h, w] = transform.input_size();
        Ok(Batch {
            data,
            shape: [range.len(), 3, h, w],
            labels: self.labels[range.clone()].to_vec(),
            start: range.start,
        })
    }

    /// All images, `batch_size` at a time.
    pub fn batches<'a>(
        &'a self,
        transform: &'a EvalTransform,
        batch_size: usize,
    ) -> impl Iterator<Item = Result<Batch>> + 'a {
        let step = batch_size.max(1);
        (0..self.len())
            .step_by(step)
            .map(move |s| self.batch(s..(s + step).min(self.len()), transform))
    }
}
