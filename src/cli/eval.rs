//! `repq-hw eval [--model M] [--data DIR]`: top-1/top-5 accuracy.

use std::path::PathBuf;

use super::ModelArg;
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
}

pub fn run(args: &EvalArgs) -> Result<()> {
    if args.batch_size == 0 {
        return Err(Error::Invalid("--batch-size must be at least 1".into()));
    }
    // A float checkpoint, or a quantized artifact of `repq-hw quantize` (fake-quant forward).
    let loaded = super::quantize::LoadedModel::load(args.model.model.as_deref())?;
    let model = loaded.model();
    let kind = loaded.kind();
    let cfg = model.config();
    let transform = EvalTransform::new(&model.preprocess, cfg.img_size)?;
    let classes = cfg.num_classes;
    let forward = |x: &[f32], b: usize| loaded.forward(x, b);
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
            let acc = evaluate(batches, folder.len(), classes, &kind, forward)?;
            (acc, dir.display().to_string())
        }
        (None, _) if loaded.is_embedded() => {
            let split = crate::demo::test_split()?;
            let batches = split.batches(&transform, args.batch_size);
            let acc = evaluate(batches, split.len(), classes, &kind, forward)?;
            (acc, "embedded test split".to_string())
        }
        (None, m) => {
            return Err(Error::Invalid(format!(
                "--model {}: give --data DIR (only the embedded model has a built-in test split)",
                m.as_deref().unwrap_or(model.source.as_path()).display()
            )));
        }
    };
    println!(
        "{}: {} images of {what}: top-1 {:.2}%  top-5 {:.2}%  ({kind})",
        model.name,
        acc.total,
        acc.top1_pct(),
        acc.top5_pct()
    );
    Ok(())
}
