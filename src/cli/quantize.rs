//! `repq-hw quantize [--model M] [--calib DIR] [--calib-count 32] [--seed S] --wbits 4 --abits 4
//! --out FILE`: RepQ-ViT post-training quantization to a quantized-model artifact.

use std::path::{Path, PathBuf};
use std::time::Instant;

use rand::SeedableRng;
use rand::rngs::StdRng;

use super::ModelArg;
use super::output::{errln, outln};
use crate::data::{EvalTransform, ImageFolder, transform_files};
use crate::demo::DigitSet;
use crate::error::{Error, Result};
use crate::eval::{Accuracy, evaluate};
use crate::model::Model;
use crate::quant::{
    CalibrationInfo, PostLnMode, PostSoftmaxMode, QuantConfig, QuantizedModel, ZTilde, calibrate,
    is_artifact,
};

/// Where the calibration images come from.
#[derive(Debug, Clone, clap::Args)]
pub struct CalibArgs {
    /// A folder of images (flat, or an ImageFolder; labels are not used) to draw the calibration
    /// images from; default (embedded model only): the embedded 32 calibration digits
    #[arg(long, value_name = "DIR")]
    pub calib: Option<PathBuf>,
    /// Number of calibration images, all used in one batch (the paper uses 32)
    #[arg(long, default_value_t = 32, value_name = "N")]
    pub calib_count: usize,
    /// Seed of the deterministic choice of the calibration images
    #[arg(long, default_value_t = 0, value_name = "S")]
    pub seed: u64,
}

/// Bit widths and quantizer modes.
#[derive(Debug, Clone, clap::Args)]
pub struct QuantArgs {
    /// Weight bit width (2..=8)
    #[arg(long, default_value_t = 4, value_name = "BITS")]
    pub wbits: u32,
    /// Activation bit width (2..=8; the input image is always 8 bits)
    #[arg(long, default_value_t = 4, value_name = "BITS")]
    pub abits: u32,
    /// Post-LayerNorm (qkv and fc1 input) quantizer
    #[arg(long, value_enum, default_value_t = PostLnMode::Reparam)]
    pub post_ln: PostLnMode,
    /// Post-Softmax (attention probability) quantizer
    #[arg(long, value_enum, default_value_t = PostSoftmaxMode::Reparam)]
    pub post_softmax: PostSoftmaxMode,
    /// Layer-wise zero point after the LayerNorm reparameterization: `mean` keeps E[z] fractional
    /// as the reference code does; `round` rounds it first (exact in codes; integer datapaths)
    #[arg(long, value_enum, default_value_t = ZTilde::Mean)]
    pub z_tilde: ZTilde,
}

impl QuantArgs {
    pub fn config(&self) -> Result<QuantConfig> {
        let c = QuantConfig {
            wbits: self.wbits,
            abits: self.abits,
            post_ln: self.post_ln,
            post_softmax: self.post_softmax,
            z_tilde: self.z_tilde,
        };
        c.validate()?;
        Ok(c)
    }
}

#[derive(Debug, clap::Args)]
pub struct QuantizeArgs {
    #[command(flatten)]
    pub model: ModelArg,
    #[command(flatten)]
    pub calib: CalibArgs,
    #[command(flatten)]
    pub quant: QuantArgs,
    /// Where to write the quantized-model artifact (.safetensors, docs/quantized-format.md)
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// An ImageFolder to report the fake-quant top-1 on; default: the embedded test split when
    /// the model is the embedded one
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Images per forward pass in the evaluation
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
}

pub fn run(args: &QuantizeArgs) -> Result<()> {
    let config = args.quant.config()?;
    if args.batch_size == 0 {
        return Err(Error::Invalid("--batch-size must be at least 1".into()));
    }
    let model = args.model.load()?;
    let transform = EvalTransform::new(&model.preprocess, model.img_size())?;
    let eval_set = EvalSet::open(args.data.as_deref(), args.model.is_embedded())?;
    let (images, n, info) = calibration_images(&model, &transform, &args.calib)?;
    errln!(
        "{}: calibrating {} on {n} images ({})",
        model.name,
        config.label(),
        describe_calibration(&info)
    );
    let t = Instant::now();
    let q = calibrate(&model, &images, n, config, info)?;
    drop(images);
    let secs = t.elapsed().as_secs_f64();
    q.save(&args.out)?;
    outln!(
        "{}: {} calibrated in {secs:.2} s, written to {}",
        model.name,
        config.label(),
        args.out.display()
    )?;
    if let Some(set) = eval_set {
        let classes = model.num_classes();
        set.check_classes(classes)?;
        let what = q.describe();
        let acc = set.evaluate(&transform, args.batch_size, classes, &what, |x, b| {
            q.forward(x, b)
        })?;
        outln!(
            "{}: {} images of {}: top-1 {:.2}%  top-5 {:.2}%  ({what})",
            model.name,
            acc.total,
            set.describe(),
            acc.top1_pct(),
            acc.top5_pct()
        )?;
    }
    Ok(())
}

pub(crate) fn describe_calibration(info: &CalibrationInfo) -> String {
    match info.seed {
        Some(s) => format!("{}, seed {s}", info.source),
        None => info.source.clone(),
    }
}

/// Says on stderr which hidden folders of a data set were not read.
pub(crate) fn report_skipped(skipped: &[PathBuf]) {
    if !skipped.is_empty() {
        let names: Vec<String> = skipped.iter().map(|p| p.display().to_string()).collect();
        errln!("note: skipped hidden folders: {}", names.join(", "));
    }
}

/// The calibration batch `[n, 3, H, W]`: `--calib-count` images chosen from `--calib DIR` (or the
/// embedded calibration digits) by a seeded draw without replacement, in data-set order.
pub fn calibration_images(
    model: &Model,
    transform: &EvalTransform,
    calib: &CalibArgs,
) -> Result<(Vec<f32>, usize, CalibrationInfo)> {
    let count = calib.calib_count;
    if count == 0 {
        return Err(Error::Config {
            source_name: "command line".into(),
            field: "--calib-count".into(),
            reason: "must be at least 1".into(),
        });
    }
    let too_many = |available: usize, what: &str| Error::Config {
        source_name: "command line".into(),
        field: "--calib-count".into(),
        reason: format!("{count} images asked for, but {what} holds only {available}"),
    };
    match &calib.calib {
        Some(dir) => {
            // Calibration is unlabeled: a flat folder of images or an ImageFolder.
            let mut skipped = Vec::new();
            let images = crate::data::list_images(dir, &mut skipped)?;
            report_skipped(&skipped);
            if count > images.len() {
                return Err(too_many(images.len(), &dir.display().to_string()));
            }
            let idx = choose(images.len(), count, calib.seed);
            let paths: Vec<&Path> = idx.iter().map(|&i| images[i].as_path()).collect();
            let data = transform_files(&paths, transform)?;
            let info = CalibrationInfo {
                source: dir.display().to_string(),
                count,
                seed: Some(calib.seed),
            };
            Ok((data, count, info))
        }
        None if crate::demo::Embedded::of_source(&model.source.display().to_string()).is_some() => {
            let set = crate::demo::calibration_set()?;
            if count > set.len() {
                return Err(too_many(set.len(), "the embedded calibration set"));
            }
            let idx = choose(set.len(), count, calib.seed);
            let mut data = Vec::with_capacity(count * transform.output_len());
            for i in idx {
                data.extend(set.batch(i..i + 1, transform)?.data);
            }
            let info = CalibrationInfo {
                source: "embedded calibration digits".into(),
                count,
                seed: (count < set.len()).then_some(calib.seed),
            };
            Ok((data, count, info))
        }
        None => Err(Error::Config {
            source_name: "command line".into(),
            field: "--calib".into(),
            reason: format!(
                "{}: give --calib DIR (an ImageFolder of training images); only the embedded model has built-in calibration images",
                model.source.display()
            ),
        }),
    }
}

/// `count` distinct indices of `0..n`, drawn with `StdRng::seed_from_u64(seed)`, ascending.
pub fn choose(n: usize, count: usize, seed: u64) -> Vec<usize> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut idx = rand::seq::index::sample(&mut rng, n, count).into_vec();
    idx.sort_unstable();
    idx
}

/// An evaluation set: an ImageFolder or the embedded test split.
pub(crate) enum EvalSet {
    Embedded(DigitSet),
    Folder(ImageFolder, PathBuf),
}

impl EvalSet {
    /// `--data DIR`, else the embedded test split if the model is the embedded one, else none.
    pub(crate) fn open(data: Option<&Path>, embedded_model: bool) -> Result<Option<Self>> {
        Ok(match data {
            Some(dir) => Some(EvalSet::Folder(ImageFolder::open(dir)?, dir.to_path_buf())),
            None if embedded_model => Some(EvalSet::Embedded(crate::demo::test_split()?)),
            None => None,
        })
    }

    pub(crate) fn check_classes(&self, classes: usize) -> Result<()> {
        if let EvalSet::Folder(f, dir) = self
            && f.classes().len() > classes
        {
            return Err(Error::Dataset {
                path: dir.clone(),
                reason: format!(
                    "{} class folders but the model has {classes} outputs",
                    f.classes().len()
                ),
            });
        }
        Ok(())
    }

    pub(crate) fn describe(&self) -> String {
        match self {
            EvalSet::Embedded(_) => "embedded test split".into(),
            EvalSet::Folder(_, dir) => dir.display().to_string(),
        }
    }

    pub(crate) fn evaluate(
        &self,
        transform: &EvalTransform,
        batch_size: usize,
        classes: usize,
        what: &str,
        forward: impl FnMut(&[f32], usize) -> Result<Vec<f32>>,
    ) -> Result<Accuracy> {
        match self {
            EvalSet::Embedded(s) => evaluate(
                s.batches(transform, batch_size),
                s.len(),
                classes,
                what,
                forward,
            ),
            EvalSet::Folder(f, _) => evaluate(
                f.batches(transform, batch_size),
                f.len(),
                classes,
                what,
                forward,
            ),
        }
    }
}

/// A float checkpoint or a quantized artifact (detected by its metadata), for `eval` and
/// `predict`.
#[allow(clippy::large_enum_variant)] // one value per command; boxing would change the API
pub enum LoadedModel {
    Float(Model),
    Quantized(Box<QuantizedModel>),
}

impl LoadedModel {
    /// The checkpoint or artifact at `path`, or the embedded model.
    pub fn load(path: Option<&Path>) -> Result<Self> {
        Self::load_with(path, &super::model_options::ModelOptions::default())
    }

    /// [`LoadedModel::load`] with the command line's model options (float checkpoints only).
    pub fn load_with(
        path: Option<&Path>,
        options: &super::model_options::ModelOptions,
    ) -> Result<Self> {
        match path {
            Some(p) if crate::demo::Embedded::named(p).is_none() && is_artifact(p)? => {
                options.refuse_for("a quantized artifact (it stores its own fields)")?;
                Ok(LoadedModel::Quantized(Box::new(QuantizedModel::load(p)?)))
            }
            _ => super::model_options::load(path, options).map(|l| LoadedModel::Float(l.model)),
        }
    }

    /// The float model (for a quantized artifact: its reparameterized float parameters, name and
    /// preprocessing).
    pub fn model(&self) -> &Model {
        match self {
            LoadedModel::Float(m) => m,
            LoadedModel::Quantized(q) => &q.model,
        }
    }

    /// Logits: the f32 forward, or the fake-quant forward of a quantized artifact.
    pub fn forward(&self, images: &[f32], batch: usize) -> Result<Vec<f32>> {
        match self {
            LoadedModel::Float(m) => m.forward(images, batch),
            LoadedModel::Quantized(q) => q.forward(images, batch),
        }
    }

    /// `f32`, or e.g. `W4A4 fake-quant`.
    pub fn kind(&self) -> String {
        match self {
            LoadedModel::Float(_) => "f32".into(),
            LoadedModel::Quantized(q) => q.describe(),
        }
    }

    /// Whether the model is (a quantization of) the embedded demo model, whose test split is
    /// built in.
    pub fn is_embedded(&self) -> bool {
        match self {
            LoadedModel::Float(m) => {
                crate::demo::Embedded::of_source(&m.source.display().to_string()).is_some()
            }
            LoadedModel::Quantized(q) => {
                crate::demo::Embedded::of_source(&q.source_checkpoint).is_some()
            }
        }
    }
}
