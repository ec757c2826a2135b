//! `repq-hw report [--model ARTIFACT] [--rtl DIR] --out DIR`: the quantization and hardware
//! report (see [`crate::report`]) as `DIR/report.html`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::output::{errln, outln};
use super::quantize::{CalibArgs, LoadedModel, calibration_images, describe_calibration};
use crate::data::{EvalTransform, ImageFolder};
use crate::error::{Error, Result};
use crate::intsim::IntModel;
use crate::model::Model;
use crate::quant::{QuantConfig, QuantizedModel};
use crate::report::{ImageSet, Inputs};
use crate::verify::design::RtlInfo;

#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// A quantized artifact of `repq-hw quantize`; default: the embedded demo model quantized
    /// on the fly with its embedded calibration digits (at --wbits/--abits)
    #[arg(long, value_name = "ARTIFACT")]
    pub model: Option<PathBuf>,
    /// Weight bits of the embedded model quantized on the fly (default 8, as `golden` and
    /// `gen`); with an artifact, its own width, which this must match if given
    #[arg(long, value_name = "BITS")]
    pub wbits: Option<u32>,
    /// Activation bits, as --wbits
    #[arg(long, value_name = "BITS")]
    pub abits: Option<u32>,
    /// A directory of `repq-hw gen` (for the model's widths): adds its cycle model's per-layer
    /// cycles and utilization
    #[arg(long, value_name = "DIR")]
    pub rtl: Option<PathBuf>,
    /// Where to write report.html (created if missing; an existing report.html is replaced only
    /// by a complete new one)
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Held-out images (an ImageFolder) for the accuracy and the SQNR; default: the embedded
    /// test split (embedded model only)
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Calibration images for the two distribution figures when the artifact is not of the
    /// embedded model (as `repq-hw quantize --calib`); default: the embedded calibration digits
    #[arg(long, value_name = "DIR")]
    pub calib: Option<PathBuf>,
    /// Number of calibration images drawn from --calib (default: as many as the artifact was
    /// calibrated on)
    #[arg(long, value_name = "N")]
    pub calib_count: Option<usize>,
    /// Seed of the calibration image choice (default: the artifact's)
    #[arg(long, value_name = "S")]
    pub seed: Option<u64>,
    /// Held-out images the per-layer SQNR is measured on (the first N)
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub sqnr_images: usize,
    /// The block whose post-Softmax histogram is drawn (the paper's Fig. 3: the first)
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub block: usize,
    /// Images per forward pass
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
}

fn config_error(field: &str, reason: String) -> Error {
    Error::Config {
        source_name: "repq-hw report".into(),
        field: field.into(),
        reason,
    }
}

/// The float checkpoint and its quantization: an artifact, or the embedded model quantized now.
fn load(args: &ReportArgs) -> Result<(Model, QuantizedModel)> {
    let Some(path) = &args.model else {
        let config = QuantConfig::new(args.wbits.unwrap_or(8), args.abits.unwrap_or(8))?;
        return Ok((crate::demo::model()?, crate::demo::quantized(config)?));
    };
    if !path.is_file() {
        return Err(config_error(
            "--model",
            format!(
                "{}: no such file (give a quantized artifact of `repq-hw quantize --out`, or no \
                 --model for the embedded demo model)",
                path.display()
            ),
        ));
    }
    let loaded = LoadedModel::load(Some(path)).map_err(|e| {
        config_error(
            "--model",
            format!(
                "{e} (give a quantized artifact of `repq-hw quantize --out`, or no --model for \
                 the embedded demo model)"
            ),
        )
    })?;
    let q = match loaded {
        LoadedModel::Quantized(q) => *q,
        LoadedModel::Float(m) => {
            return Err(config_error(
                "--model",
                format!(
                    "{}: a float checkpoint, not a quantized artifact; quantize it first \
                     (`repq-hw quantize --model {} --calib DIR --out Q`) and give Q",
                    path.display(),
                    m.source.display()
                ),
            ));
        }
    };
    for (flag, given, own) in [
        ("--wbits", args.wbits, q.config.wbits),
        ("--abits", args.abits, q.config.abits),
    ] {
        if given.is_some_and(|g| g != own) {
            return Err(config_error(
                flag,
                format!(
                    "{} was quantized with {flag} {own}, not {}; drop {flag} or give an artifact \
                     of that width",
                    path.display(),
                    given.unwrap_or(own)
                ),
            ));
        }
    }
    let original = if let Some(e) = crate::demo::Embedded::of_source(&q.source_checkpoint) {
        e.loaded()?.model
    } else {
        let src = Path::new(&q.source_checkpoint);
        super::model_options::load(Some(src), &Default::default())
            .map_err(|e| {
                config_error(
                    "--model",
                    format!(
                        "{}: its float checkpoint {} (the LayerNorm ranges before the \
                         reparameterization and the f32 accuracy need it) does not load: {e}",
                        path.display(),
                        src.display()
                    ),
                )
            })?
            .model
    };
    Ok((original, q))
}

/// The design in `--rtl`, checked to be for the model's widths.
fn design(args: &ReportArgs, q: &QuantizedModel) -> Result<Option<(PathBuf, crate::rtl::Design)>> {
    let Some(dir) = &args.rtl else {
        return Ok(None);
    };
    let info = RtlInfo::read(dir)?;
    let d = info.design(dir)?;
    if (d.wbits, d.abits) != (q.config.wbits, q.config.abits) {
        return Err(config_error(
            "--rtl",
            format!(
                "{}: a w{}a{} design, the model is W{}A{}; give the RTL `repq-hw gen --wbits {} \
                 --abits {}` generated for it",
                dir.display(),
                d.wbits,
                d.abits,
                q.config.wbits,
                q.config.abits,
                q.config.wbits,
                q.config.abits
            ),
        ));
    }
    Ok(Some((dir.clone(), d)))
}

pub fn run(args: &ReportArgs) -> Result<()> {
    if args.batch_size == 0 || args.sqnr_images == 0 {
        return Err(config_error(
            if args.batch_size == 0 {
                "--batch-size"
            } else {
                "--sqnr-images"
            },
            "must be at least 1".into(),
        ));
    }
    if args.out.exists() && !args.out.is_dir() {
        return Err(config_error(
            "--out",
            format!(
                "{}: a file, not a directory; give a directory",
                args.out.display()
            ),
        ));
    }
    let t = Instant::now();
    let (original, q) = load(args)?;
    let rtl = design(args, &q)?;
    // As `repq-hw eval --integer` runs it (32-bit accumulators).
    let integer = IntModel::lower(&q, 32)?;
    let embedded = crate::demo::Embedded::of_source(&q.source_checkpoint).is_some();
    let transform = EvalTransform::new(&q.model.preprocess, q.vit_config()?.img_size)?;

    // Calibration images: the artifact's own choice unless told otherwise.
    if !embedded && args.calib.is_none() {
        return Err(config_error(
            "--calib",
            format!(
                "{} is not of the embedded model: give --calib DIR (the images it was calibrated \
                 on) for the distribution figures",
                q.source_checkpoint
            ),
        ));
    }
    let calib = CalibArgs {
        calib: args.calib.clone(),
        calib_count: args.calib_count.unwrap_or(q.calibration.count),
        seed: args.seed.or(q.calibration.seed).unwrap_or(0),
    };
    let (calib_images, calib_count, info) = calibration_images(&original, &transform, &calib)?;

    // Held-out images.
    let folder = match &args.data {
        Some(dir) => Some(ImageFolder::open(dir)?),
        None if embedded => None,
        None => {
            return Err(config_error(
                "--data",
                format!(
                    "{} is not of the embedded model: give --data DIR (an ImageFolder of \
                     held-out images) for the accuracy and the SQNR",
                    q.source_checkpoint
                ),
            ));
        }
    };
    let split = if folder.is_none() {
        Some(crate::demo::test_split()?)
    } else {
        None
    };
    let eval = match (&folder, &split, &args.data) {
        (Some(f), _, Some(dir)) => {
            if f.classes().len() > q.vit_config()?.num_classes {
                return Err(Error::Dataset {
                    path: dir.clone(),
                    reason: format!(
                        "{} class folders but the model has {} outputs",
                        f.classes().len(),
                        q.vit_config()?.num_classes
                    ),
                });
            }
            ImageSet {
                what: dir.display().to_string(),
                len: f.len(),
                batches: Box::new(|n| Box::new(f.batches(&transform, n))),
            }
        }
        (_, Some(s), _) => ImageSet {
            what: "embedded test split".into(),
            len: s.len(),
            batches: Box::new(|n| Box::new(s.batches(&transform, n))),
        },
        _ => unreachable!("a folder or the embedded split"),
    };

    let mut facts = vec![
        (
            "model".to_string(),
            match &args.model {
                Some(p) => format!("{} (artifact of {})", p.display(), q.source_checkpoint),
                None => format!("{} quantized now (no --model)", crate::demo::SOURCE),
            },
        ),
        ("quantization".into(), q.describe()),
        (
            "calibrated on".into(),
            format!(
                "{} images ({})",
                q.calibration.count,
                describe_calibration(&q.calibration)
            ),
        ),
        (
            "integer model".into(),
            format!(
                "W{}A{}, s{} accumulators, widened to include 0: {}",
                integer.wbits,
                integer.abits,
                integer.acc_bits,
                if integer.widened.is_empty() {
                    "none".to_string()
                } else {
                    integer
                        .widened
                        .iter()
                        .map(|w| w.what.clone())
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            ),
        ),
        (
            "made by".into(),
            format!("repq-hw {} {}", env!("CARGO_PKG_VERSION"), command_line()),
        ),
    ];
    if let Some((dir, _)) = &rtl {
        facts.push(("design".into(), dir.display().to_string()));
    }
    let report = crate::report::build(Inputs {
        original: &original,
        quantized: &q,
        integer: &integer,
        calib: &calib_images,
        calib_count,
        calib_what: describe_calibration(&info),
        eval,
        sqnr_images: args.sqnr_images,
        batch_size: args.batch_size,
        block: args.block,
        rtl,
        facts,
    })?;
    let html = crate::report::render(&report)?;
    let path = crate::report::write(&args.out, &html)?;
    errln!(
        "{}: report made in {:.2} s",
        report.title,
        t.elapsed().as_secs_f64()
    );
    outln!(
        "report written to {} ({} KB): open it in a browser",
        path.display(),
        html.len().div_ceil(1024)
    )?;
    Ok(())
}

/// `report ARGS...` as given.
fn command_line() -> String {
    let args: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    args.join(" ")
}
