//! `repq-hw eval [--model M] [--data DIR]`: top-1/top-5 accuracy.

use std::path::PathBuf;

use super::ModelArg;
use super::output::{errln, outln};
use crate::data::{EvalTransform, ImageFolder};
use crate::error::{Error, Result};
use crate::eval::{Accuracy, evaluate};

#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    #[command(flatten)]
    pub model: ModelArg,
    /// An ImageFolder directory (one subfolder of JPEG/PNG images per class, classes in sorted
    /// order); default: the embedded model's held-out test split
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Images per forward pass
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// Also run the bit-accurate integer model (docs/arithmetic.md) of a quantized artifact and
    /// print its top-1 beside the fake-quant top-1
    #[arg(long)]
    pub integer: bool,
    /// Accumulator width of the integer model (at most 32); every matmul is checked to fit
    #[arg(long, value_name = "BITS", default_value_t = 32, requires = "integer")]
    pub acc_bits: u32,
}

/// A forward pass: normalized images `[B, C, H, W]` and `B` to logits.
type ForwardFn<'a> = dyn Fn(&[f32], usize) -> Result<Vec<f32>> + Sync + 'a;

pub fn run(args: &EvalArgs) -> Result<()> {
    if args.batch_size == 0 {
        return Err(Error::Invalid("--batch-size must be at least 1".into()));
    }
    // A float checkpoint, or a quantized artifact of `repq-hw quantize` (fake-quant forward).
    let loaded =
        super::quantize::LoadedModel::load_with(args.model.model.as_deref(), &args.model.options)?;
    let model = loaded.model();
    let kind = loaded.kind();
    let transform = EvalTransform::new(&model.preprocess, model.img_size())?;
    let classes = model.num_classes();
    let integer = match (&loaded, args.integer) {
        (super::quantize::LoadedModel::Quantized(q), true) => {
            Some(crate::intsim::IntNet::lower(q, args.acc_bits)?)
        }
        (super::quantize::LoadedModel::Float(m), true) => {
            return Err(Error::Invalid(format!(
                "--integer: {} is a float model; give a quantized artifact of `repq-hw quantize` \
                 as --model",
                m.source.display()
            )));
        }
        _ => None,
    };
    if let Some(int) = integer.as_ref().filter(|i| !i.widened().is_empty()) {
        let list: Vec<String> = int
            .widened()
            .iter()
            .map(|w| format!("{} (zero point {})", w.what, w.zero_point))
            .collect();
        errln!(
            "note: the integer model widened {} quantizer(s) to include 0 (docs/arithmetic.md, \
             operand rule): {}",
            list.len(),
            list.join(", ")
        );
    }
    let mut runs: Vec<(String, Box<ForwardFn<'_>>)> = vec![(
        kind.clone(),
        Box::new(|x: &[f32], b: usize| loaded.forward(x, b)),
    )];
    if let Some(int) = &integer {
        runs.push((
            {
                let (w, a, acc) = int.widths();
                format!("W{w}A{a} integer, s{acc} accumulators")
            },
            Box::new(move |x: &[f32], b: usize| int.forward(x, b)),
        ));
    }
    if let Some(dir) = &args.data {
        // Said once, before the runs: what was skipped, and the class map if it is not the
        // model's.
        let folder = ImageFolder::open(dir)?;
        super::quantize::report_skipped(folder.skipped());
        if let Some(note) = folder.class_map_note(classes, model.labels.as_deref()) {
            errln!("note: {note}");
        }
    }
    for (kind, forward) in &runs {
        run_one(args, &loaded, &transform, classes, kind, forward)?;
    }
    Ok(())
}

fn run_one(
    args: &EvalArgs,
    loaded: &super::quantize::LoadedModel,
    transform: &EvalTransform,
    classes: usize,
    kind: &str,
    forward: &ForwardFn<'_>,
) -> Result<()> {
    let model = loaded.model();
    let transform = transform.clone();
    let forward = |x: &[f32], b: usize| forward(x, b);
    let (acc, what): (Accuracy, String) = match (&args.data, &args.model.model) {
        (Some(dir), _) => {
            let folder = ImageFolder::open(dir)?;
            if folder.classes().len() > classes {
                return Err(Error::Dataset {
                    path: dir.clone(),
                    reason: format!(
                        "{} class folders but the model has {classes} outputs",
                        folder.classes().len()
                    ),
                });
            }
            let batches = folder.batches(&transform, args.batch_size);
            let acc = evaluate(batches, folder.len(), classes, kind, forward)?;
            (acc, dir.display().to_string())
        }
        (None, _) if loaded.is_embedded() => {
            let split = crate::demo::test_split()?;
            let batches = split.batches(&transform, args.batch_size);
            let acc = evaluate(batches, split.len(), classes, kind, forward)?;
            (acc, "embedded test split".to_string())
        }
        (None, m) => {
            return Err(Error::Invalid(format!(
                "--model {}: give --data DIR (only the embedded model has a built-in test split)",
                m.as_deref().unwrap_or(model.source.as_path()).display()
            )));
        }
    };
    outln!(
        "{}: {} images of {what}: top-1 {:.2}%  top-5 {:.2}%  ({kind})",
        model.name,
        acc.total,
        acc.top1_pct(),
        acc.top5_pct()
    )?;
    Ok(())
}
