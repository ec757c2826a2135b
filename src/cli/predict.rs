//! `repq-hw predict [--model M] IMAGE...`: top-5 classes per image, raw logits to .npy.

use std::path::PathBuf;

use rayon::prelude::*;

use super::ModelArg;
use super::output::{errln, outln};
use crate::data::{EvalTransform, open_rgb};
use crate::error::{Error, Result};
use crate::eval::{probabilities, top_k};

#[derive(Debug, clap::Args)]
pub struct PredictArgs {
    #[command(flatten)]
    pub model: ModelArg,
    /// Images to classify (PNG or JPEG)
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<PathBuf>,
    /// Also save the raw logits as float32 .npy, one row per image in argument order
    #[arg(long, value_name = "FILE.npy")]
    pub logits: Option<PathBuf>,
    /// How many classes to print per image
    #[arg(long, default_value_t = 5)]
    pub top: usize,
    /// With a quantized artifact: run the bit-accurate integer model and report its dequantized
    /// logits (default for an artifact: the fake-quant forward)
    #[arg(long)]
    pub integer: bool,
}

pub fn run(args: &PredictArgs) -> Result<()> {
    if let Some(path) = &args.logits
        && path.extension().and_then(|e| e.to_str()) != Some("npy")
    {
        return Err(Error::Invalid(format!(
            "--logits {}: the file name must end in .npy",
            path.display()
        )));
    }
    // A float checkpoint, or a quantized artifact of `repq-hw quantize` (fake-quant forward).
    let loaded =
        super::quantize::LoadedModel::load_with(args.model.model.as_deref(), &args.model.options)?;
    let model = loaded.model();
    let transform = EvalTransform::new(&model.preprocess, model.img_size())?;
    let inputs: Vec<Vec<f32>> = args
        .images
        .par_iter()
        .map(|p| transform.apply(&open_rgb(p)?))
        .collect::<Result<_>>()?;
    let batch = inputs.len();
    let flat: Vec<f32> = inputs.into_iter().flatten().collect();
    let logits = match (&loaded, args.integer) {
        (super::quantize::LoadedModel::Quantized(q), true) => {
            crate::intsim::IntModel::lower(q, 32)?.forward(&flat, batch)?
        }
        (super::quantize::LoadedModel::Float(m), true) => {
            return Err(Error::Invalid(format!(
                "--integer: {} is a float model; give a quantized artifact of `repq-hw quantize` \
                 as --model",
                m.source.display()
            )));
        }
        _ => loaded.forward(&flat, batch)?,
    };
    let k = model.num_classes();
    // The file first: a closed stdout ends the command at the first line printed.
    if let Some(path) = &args.logits {
        crate::npy::write_f32(path, &[batch, k], &logits)?;
        errln!("logits [{batch}, {k}] written to {}", path.display());
    }
    for (path, row) in args.images.iter().zip(logits.chunks_exact(k)) {
        outln!("{}", path.display())?;
        let probs = probabilities(row);
        for (rank, (class, _)) in top_k(row, args.top.min(k)).into_iter().enumerate() {
            let name = model
                .labels
                .as_ref()
                .map_or_else(|| format!("class {class}"), |l| l[class].clone());
            outln!(
                "  {}. {name:<24} p={:.4} (index {class})",
                rank + 1,
                probs[class]
            )?;
        }
    }
    Ok(())
}
