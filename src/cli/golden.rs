//! `repq-hw golden`: golden vectors (docs/golden-vectors.md) of one image through the integer
//! model, or random unit-test vectors (`--random`), or a check that a directory reads back
//! (`--check`).

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::output::outln;
use super::quantize::{CalibArgs, LoadedModel, calibration_images, describe_calibration};
use crate::data::{EvalTransform, Rgb8Image, open_rgb};
use crate::error::{Error, Result};
use crate::golden::manifest::{ImageInfo, ModelInfo};
use crate::golden::random::{RandomSpec, parse_shape};
use crate::golden::{GoldenDir, GoldenFile, check_target, write_dir};
use crate::quant::{QuantConfig, calibrate};

#[derive(Debug, clap::Args)]
pub struct GoldenArgs {
    /// A quantized artifact of `repq-hw quantize`, or a float checkpoint to quantize on the fly
    /// (with --calib); default: the embedded demo model quantized on the fly with its embedded
    /// calibration digits
    #[arg(long, value_name = "MODEL", conflicts_with_all = ["random", "check"])]
    pub model: Option<PathBuf>,
    /// Weight bits (default 8; an artifact's own width, which this must match if given)
    #[arg(long, value_name = "BITS")]
    pub wbits: Option<u32>,
    /// Activation bits (default 8; an artifact's own width, which this must match if given)
    #[arg(long, value_name = "BITS")]
    pub abits: Option<u32>,
    /// Accumulator width (at most 32); every matmul is checked to fit. Default: the width
    /// `repq-hw gen` chooses for the same model (the embedded model's architecture bound; a
    /// quantized model's exact bound, as `gen --model`), or with --random at these widths, so
    /// that the vectors run on that design
    #[arg(long, value_name = "BITS")]
    pub acc_bits: Option<u32>,
    /// A PNG or JPEG image, through the model's eval transform
    #[arg(long, value_name = "FILE", conflicts_with_all = ["index", "random", "check"])]
    pub image: Option<PathBuf>,
    /// Image N of the embedded model's test split (default 0)
    #[arg(long, value_name = "N", conflicts_with_all = ["random", "check"])]
    pub index: Option<usize>,
    /// Calibration images (an ImageFolder) when a float checkpoint is quantized on the fly
    #[arg(long, value_name = "DIR", conflicts_with_all = ["random", "check"])]
    pub calib: Option<PathBuf>,
    /// Number of calibration images when quantizing on the fly
    #[arg(long, value_name = "N", default_value_t = 32, conflicts_with_all = ["random", "check"])]
    pub calib_count: usize,
    /// Random unit-test vectors instead of a model: a matmul with requantization, the log2 code
    /// unit and the shift attention unit
    #[arg(long, requires = "shape", conflicts_with = "check")]
    pub random: bool,
    /// With --random: the seed of every random draw; when quantizing on the fly: the seed of the
    /// calibration image choice (as `repq-hw quantize --seed`)
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub seed: u64,
    /// With --random: the matmul (and attention x V) shape MxKxN
    #[arg(long, value_name = "MxKxN", requires = "random")]
    pub shape: Option<String>,
    /// The directory to write (created; replaced only if an earlier `repq-hw golden` wrote it)
    #[arg(long, value_name = "DIR", required_unless_present = "check")]
    pub out: Option<PathBuf>,
    /// Read every file of a golden directory back and check it against its manifest
    #[arg(long, value_name = "DIR", conflicts_with = "out")]
    pub check: Option<PathBuf>,
    /// What a float checkpoint given as --model does not determine (see `repq-hw info`)
    #[command(flatten)]
    pub options: super::model_options::ModelOptions,
}

pub fn run(args: &GoldenArgs) -> Result<()> {
    if let Some(dir) = &args.check {
        let t = Instant::now();
        let g = GoldenDir::open(dir)?;
        let n = g.verify()?;
        outln!(
            "{}: {} files, {n} elements, every one readable and consistent with {} ({:.2} s)",
            dir.display(),
            g.manifest.files.len(),
            crate::golden::manifest::MANIFEST,
            t.elapsed().as_secs_f64()
        )?;
        return Ok(());
    }
    let out = args
        .out
        .as_deref()
        .ok_or_else(|| Error::Invalid("--out DIR is required".into()))?;
    // Refuse early, before any work, a directory this command did not write.
    check_target(out)?;
    let argv: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let t = Instant::now();
    let (files, what) = if args.random {
        run_random(args, &argv)?
    } else {
        run_model(args, &argv)?
    };
    let (n, bytes) = (files.0, files.1);
    outln!(
        "{what}: {n} files, {:.2} MB, written to {} in {:.2} s",
        bytes as f64 / 1e6,
        out.display(),
        t.elapsed().as_secs_f64()
    )?;
    Ok(())
}

/// Writes the directory; returns (file count, bytes).
fn write(
    out: &Path,
    manifest: crate::golden::Manifest,
    files: &[GoldenFile],
) -> Result<(usize, u64)> {
    write_dir(out, manifest, files)?;
    let bytes: u64 = files
        .iter()
        .map(|f| (f.entry.digits as u64 + 1) * f.entry.elements as u64)
        .sum::<u64>()
        + std::fs::metadata(out.join(crate::golden::manifest::MANIFEST))
            .map(|m| m.len())
            .unwrap_or(0);
    Ok((files.len() + 1, bytes))
}

/// `repq-hw gen`'s default accumulator width at these widths (an error names the bad width).
fn default_design_acc_bits(wbits: u32, abits: u32) -> Result<u32> {
    crate::rtl::config::default_acc_bits(wbits, abits).map_err(|e| Error::Config {
        source_name: "repq-hw golden".into(),
        field: e.option().into(),
        reason: e.reason(),
    })
}

fn run_random(args: &GoldenArgs, argv: &[String]) -> Result<((usize, u64), String)> {
    let out = args.out.as_deref().expect("checked");
    let shape = parse_shape(args.shape.as_deref().unwrap_or(""))?;
    let spec = RandomSpec {
        seed: args.seed,
        shape,
        wbits: args.wbits.unwrap_or(8),
        abits: args.abits.unwrap_or(8),
        acc_bits: match args.acc_bits {
            Some(b) => b,
            None => default_design_acc_bits(args.wbits.unwrap_or(8), args.abits.unwrap_or(8))?,
        },
    };
    let (files, info) = crate::golden::random::generate(&spec)?;
    let mut manifest = crate::golden::manifest_header("random", argv);
    manifest.constants = crate::golden::datapath_constants();
    manifest.random = Some(info);
    let w = write(out, manifest, &files)?;
    let [m, k, n] = shape;
    Ok((
        w,
        format!(
            "random vectors W{}A{} {m}x{k}x{n}, seed {}",
            spec.wbits, spec.abits, spec.seed
        ),
    ))
}

/// The decoded `--image`, checked to be something the eval transform can produce.
fn load_image(path: &Path, transform: &EvalTransform) -> Result<Rgb8Image> {
    let img = open_rgb(path)?;
    // Refused here, before the model runs, rather than when the transform is applied.
    transform
        .resized_size(img.width(), img.height())
        .map_err(|e| Error::Invalid(format!("--image {}: {e}", path.display())))?;
    Ok(img)
}

/// The `[model]` table of golden vectors of `q` lowered to `int` (`quantized`: where the
/// quantized model came from).
pub(crate) fn model_info(
    q: &crate::quant::QuantizedModel,
    int: &crate::intsim::IntModel,
    quantized: String,
) -> Result<ModelInfo> {
    let cfg = q.vit_config()?;
    Ok(ModelInfo {
        name: q.model.name.clone(),
        checkpoint: q.source_checkpoint.clone(),
        quantized,
        wbits: int.wbits,
        abits: int.abits,
        acc_bits: int.acc_bits,
        post_ln: q.config.post_ln.to_string(),
        post_softmax: q.config.post_softmax.to_string(),
        z_tilde: q.config.z_tilde.to_string(),
        img_size: cfg.img_size,
        in_chans: cfg.in_chans,
        patch_size: cfg.patch_size,
        embed_dim: cfg.embed_dim,
        depth: cfg.depth,
        num_heads: cfg.num_heads,
        mlp_hidden: cfg.mlp_hidden,
        tokens: cfg.seq_len(),
        prefix_tokens: cfg.num_prefix_tokens(),
        num_classes: cfg.num_classes,
        input_scale: int.input_scale,
        input_zero_point: i64::from(int.input_zero_point),
        input_bits: int.input_bits,
    })
}

fn run_model(args: &GoldenArgs, argv: &[String]) -> Result<((usize, u64), String)> {
    let out = args.out.as_deref().expect("checked");
    let loaded = LoadedModel::load_with(args.model.as_deref(), &args.options)?;
    let embedded = loaded.is_embedded();
    let (q, quantized) = match loaded {
        LoadedModel::Quantized(q) => {
            for (opt, given, has) in [
                ("--wbits", args.wbits, q.config.wbits),
                ("--abits", args.abits, q.config.abits),
            ] {
                if let Some(g) = given
                    && g != has
                {
                    return Err(Error::Invalid(format!(
                        "{opt} {g}: the artifact {} was quantized with {opt} {has}",
                        args.model.as_deref().unwrap_or(Path::new("")).display()
                    )));
                }
            }
            if args.calib.is_some() {
                return Err(Error::Invalid(
                    "--calib: the model is already a quantized artifact".into(),
                ));
            }
            let what = args
                .model
                .as_deref()
                .map_or_else(String::new, |p| p.display().to_string());
            (*q, what)
        }
        LoadedModel::Float(model) => {
            let config = QuantConfig::new(args.wbits.unwrap_or(8), args.abits.unwrap_or(8))?;
            let transform = EvalTransform::new(&model.preprocess, model.img_size())?;
            let calib = CalibArgs {
                calib: args.calib.clone(),
                calib_count: args.calib_count,
                seed: args.seed,
            };
            let (images, n, info) = calibration_images(&model, &transform, &calib)?;
            let what = format!(
                "calibrated on the fly ({} images: {})",
                n,
                describe_calibration(&info)
            );
            (calibrate(&model, &images, n, config, info)?, what)
        }
    };
    // Without --acc-bits: the width `repq-hw gen` chooses for this model (without --model for
    // the embedded model, with --model for an artifact or a checkpoint quantized here), so that
    // the vectors, attention x V's fraction bits F among them, run on that design.
    let acc_bits = match args.acc_bits {
        Some(b) => b,
        None if args.model.is_none() => default_design_acc_bits(q.config.wbits, q.config.abits)?,
        None => super::generate::quantized_acc_bits(&q, &quantized)?,
    };
    let int = crate::intsim::IntNet::lower(&q, acc_bits)?;
    let transform = EvalTransform::new(&q.model.preprocess, q.model.img_size())?;
    let (img, mut image) = match &args.image {
        Some(path) => {
            let img = load_image(path, &transform)?;
            let info = ImageInfo {
                source: path.display().to_string(),
                index: None,
                label: None,
                original_size: [img.width(), img.height()],
                predicted: 0,
            };
            (img, info)
        }
        None => {
            let i = args.index.unwrap_or(0);
            if !embedded {
                return Err(Error::Invalid(format!(
                    "--index {i}: only the embedded model has a built-in test split; give \
                     --image FILE for {}",
                    q.source_checkpoint
                )));
            }
            let split = crate::demo::test_split()?;
            if i >= split.len() {
                return Err(Error::Invalid(format!(
                    "--index {i}: the embedded test split has {} images (0..={})",
                    split.len(),
                    split.len() - 1
                )));
            }
            let img = split.image(i)?;
            let info = ImageInfo {
                source: "embedded test split".into(),
                index: Some(i),
                label: Some(split.labels()[i]),
                original_size: [img.width(), img.height()],
                predicted: 0,
            };
            (img, info)
        }
    };
    let x = transform.apply(&img).map_err(|e| match &args.image {
        Some(p) => Error::Invalid(format!("--image {}: {e}", p.display())),
        None => e,
    })?;
    let (files, logits, mode, info) = match &int {
        crate::intsim::IntNet::Vit(int) => {
            let codes = int.quantize_input(&x);
            let (files, logits) = crate::golden::export::export_image(&q, int, &codes)?;
            let info = model_info(&q, int, quantized)?;
            (files, logits, "model", info)
        }
        crate::intsim::IntNet::Swin(int) => {
            let codes = int.quantize_input(&x);
            let (files, logits) = crate::golden::swin::export_swin_image(int, &codes)?;
            let info = crate::golden::swin::swin_model_info(&q, int, quantized);
            (files, logits, "swin", info)
        }
    };
    image.predicted = (0..logits.len()).fold(0, |b, j| if logits[j] > logits[b] { j } else { b });
    let mut manifest = crate::golden::manifest_header(mode, argv);
    manifest.constants = crate::golden::datapath_constants();
    manifest.model = Some(info);
    let (wb, ab) = (q.config.wbits, q.config.abits);
    let label = image
        .label
        .map_or_else(String::new, |l| format!(", label {l}"));
    let what = format!(
        "{} W{}A{} golden vectors of {}{} (integer top-1: class {}{label})",
        q.model.name,
        wb,
        ab,
        image.source,
        image.index.map_or_else(String::new, |i| format!(" #{i}")),
        image.predicted
    );
    manifest.image = Some(image);
    let w = write(out, manifest, &files)?;
    Ok((w, what))
}
