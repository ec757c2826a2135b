//! `repq-hw ablate [--model M] [--data DIR] [--wbits 4 --abits 4]`: the paper's ablation
//! Tables 3 (post-LayerNorm quantizers) and 4 (post-Softmax quantizers), plus full precision.

use std::path::PathBuf;

use super::ModelArg;
use super::output::outln;
use super::quantize::{CalibArgs, EvalSet, calibration_images, describe_calibration};
use crate::data::EvalTransform;
use crate::error::{Error, Result};
use crate::quant::{PostLnMode, PostSoftmaxMode, QuantConfig, ZTilde, calibrate};

#[derive(Debug, clap::Args)]
pub struct AblateArgs {
    #[command(flatten)]
    pub model: ModelArg,
    #[command(flatten)]
    pub calib: CalibArgs,
    /// Weight bit width (2..=8)
    #[arg(long, default_value_t = 4, value_name = "BITS")]
    pub wbits: u32,
    /// Activation bit width (2..=8)
    #[arg(long, default_value_t = 4, value_name = "BITS")]
    pub abits: u32,
    /// Layer-wise zero point of the reparameterized post-LN quantizer (see `quantize --help`)
    #[arg(long, value_enum, default_value_t = ZTilde::Mean)]
    pub z_tilde: ZTilde,
    /// An ImageFolder to evaluate on; default: the embedded test split (embedded model only)
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Images per forward pass in the evaluation
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
}

/// A forward pass: images, batch size -> logits.
type Forward<'a> = &'a dyn Fn(&[f32], usize) -> Result<Vec<f32>>;

/// One evaluated configuration.
struct Row {
    top1: f64,
    logits: Vec<f32>,
}

pub fn run(args: &AblateArgs) -> Result<()> {
    if args.batch_size == 0 {
        return Err(Error::Invalid("--batch-size must be at least 1".into()));
    }
    let base = QuantConfig::new(args.wbits, args.abits)?.with_z_tilde(args.z_tilde);
    let model = args.model.load()?;
    let classes = model.num_classes();
    let transform = EvalTransform::new(&model.preprocess, model.img_size())?;
    let set = EvalSet::open(args.data.as_deref(), args.model.is_embedded())?.ok_or_else(|| {
        Error::Invalid(format!(
            "--model {}: give --data DIR (only the embedded model has a built-in test split)",
            model.source.display()
        ))
    })?;
    set.check_classes(classes)?;
    let (images, n, info) = calibration_images(&model, &transform, &args.calib)?;

    let eval = |what: &str, forward: Forward<'_>| -> Result<Row> {
        let mut logits = Vec::new();
        let acc = set.evaluate(&transform, args.batch_size, classes, what, |x, b| {
            let l = forward(x, b)?;
            logits.extend_from_slice(&l);
            Ok(l)
        })?;
        Ok(Row {
            top1: acc.top1_pct(),
            logits,
        })
    };
    let fp = eval("f32", &|x, b| model.forward(x, b))?;
    let run = |post_ln: PostLnMode, post_softmax: PostSoftmaxMode| -> Result<Row> {
        let c = base.with_post_ln(post_ln).with_post_softmax(post_softmax);
        let q = calibrate(&model, &images, n, c, info.clone())?;
        eval(&c.label(), &|x, b| q.forward(x, b))
    };
    let layer_wise = run(PostLnMode::LayerWise, PostSoftmaxMode::Reparam)?;
    let channel_wise = run(PostLnMode::ChannelWise, PostSoftmaxMode::Reparam)?;
    let reparam = run(PostLnMode::Reparam, PostSoftmaxMode::Reparam)?;
    let log2 = run(PostLnMode::Reparam, PostSoftmaxMode::Log2)?;
    let log_sqrt2 = run(PostLnMode::Reparam, PostSoftmaxMode::LogSqrt2)?;

    let bits = format!("W{}/A{}", args.wbits, args.abits);
    outln!(
        "{}: {} on {} ({} images); calibration: {n} images ({}); z~ {}",
        model.name,
        bits,
        set.describe(),
        fp.logits.len() / classes,
        describe_calibration(&info),
        args.z_tilde
    )?;
    outln!()?;
    outln!("Table 3. Quantizers ({bits}) for post-LayerNorm activations (post-Softmax: reparam)")?;
    print_table(
        &fp,
        classes,
        &[
            ("Full-Precision", "-", &fp),
            ("Layer-Wise Quant.", "yes", &layer_wise),
            ("Channel-Wise Quant.", "no", &channel_wise),
            ("Scale Reparam", "yes", &reparam),
        ],
    )?;
    outln!()?;
    outln!("Table 4. Quantizers ({bits}) for post-Softmax activations (post-LayerNorm: reparam)")?;
    print_table(
        &fp,
        classes,
        &[
            ("Full-Precision", "-", &fp),
            ("Log2 Quant.", "yes", &log2),
            ("Log-sqrt2 Quant.", "no", &log_sqrt2),
            ("Scale Reparam", "yes", &reparam),
        ],
    )?;
    outln!()?;
    let same = log_sqrt2
        .logits
        .iter()
        .zip(&reparam.logits)
        .all(|(a, b)| a.to_bits() == b.to_bits());
    outln!(
        "log-sqrt2 vs scale reparam logits: {}",
        if same {
            "bit-identical".to_string()
        } else {
            let max = log_sqrt2
                .logits
                .iter()
                .zip(&reparam.logits)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            format!("differ (max |difference| {max:e})")
        }
    )?;
    Ok(())
}

/// Prints one table. Beside top-1, two finer measures of how far each quantized model is from the
/// float one on the same images (top-1 moves in steps of one image, which on a small test set
/// hides the differences the tables are about): how often its top-1 class is the float model's,
/// and the mean squared error of its logits against the float logits.
fn print_table(fp: &Row, classes: usize, rows: &[(&str, &str, &Row)]) -> Result<()> {
    outln!(
        "| Method              | Hardware | Top-1 (%) | Agrees with FP (%) | Logit MSE vs FP |"
    )?;
    outln!(
        "| ------------------- | -------- | --------- | ------------------ | --------------- |"
    )?;
    for (m, h, r) in rows {
        let (agree, mse) = distance(fp, r, classes);
        outln!(
            "| {m:<19} | {h:<8} | {:>9.2} | {agree:>18.2} | {mse:>15.5} |",
            r.top1
        )?;
    }
    Ok(())
}

/// (top-1 agreement in percent, mean squared logit difference) of `r` against `fp`.
fn distance(fp: &Row, r: &Row, classes: usize) -> (f64, f64) {
    let argmax = |row: &[f32]| crate::eval::top_k(row, 1)[0].0;
    let n = fp.logits.len() / classes;
    let agree = fp
        .logits
        .chunks_exact(classes)
        .zip(r.logits.chunks_exact(classes))
        .filter(|(a, b)| argmax(a) == argmax(b))
        .count();
    let mse = fp
        .logits
        .iter()
        .zip(&r.logits)
        .map(|(a, b)| f64::from(a - b).powi(2))
        .sum::<f64>()
        / fp.logits.len().max(1) as f64;
    (100.0 * agree as f64 / n.max(1) as f64, mse)
}
