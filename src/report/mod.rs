//! The quantization and hardware report (`repq-hw report`): one self-contained HTML page with
//! what quantization engineers and hardware engineers look at rather than read. The paper's
//! Figure 2 (post-LayerNorm channel ranges, before and after the scale reparameterization) and
//! Figure 3 (post-Softmax distribution against the log2 and log-sqrt2 levels), the per-layer
//! SQNR of the fake-quant and the integer model, the accuracy of the three models, and with a
//! generated design the cycle model's per-layer cycles and utilization.
//!
//! * [`stats`]: the distributions of Figures 2 and 3;
//! * [`sqnr`]: the per-layer error;
//! * [`figures`]: the figures as SVG (plotters);
//! * [`html`]: the page, written whole or not at all.

pub mod figures;
pub mod html;
pub mod sqnr;
pub mod stats;

use std::path::PathBuf;

use crate::data::Batch;
use crate::error::Result;
use crate::eval::{Accuracy, evaluate};
use crate::intsim::IntModel;
use crate::model::Model;
use crate::perf::{Evaluated, evaluate as perf_evaluate, vit_workload};
use crate::quant::QuantizedModel;
use crate::rtl::Design;

pub use html::{REPORT_FILE, render, write};
pub use sqnr::LayerSqnr;
pub use stats::{ChannelRanges, LnRanges, SoftmaxHistogram};

/// Batches of `n` images, from the first image on.
pub type BatchesFn<'a> = dyn Fn(usize) -> Box<dyn Iterator<Item = Result<Batch>> + 'a> + 'a;

/// A labelled image set (a test split or an ImageFolder).
pub struct ImageSet<'a> {
    /// What it is, for the page (`embedded test split`, a path).
    pub what: String,
    /// Number of images.
    pub len: usize,
    /// Its images, `n` at a time.
    pub batches: Box<BatchesFn<'a>>,
}

/// A forward pass: normalized images `[B, C, H, W]` and `B` to logits `[B, classes]`.
type ForwardFn<'a> = dyn Fn(&[f32], usize) -> Result<Vec<f32>> + 'a;

/// What the report is made from.
pub struct Inputs<'a> {
    /// The float checkpoint that was quantized (Fig. 2 "before", the f32 accuracy).
    pub original: &'a Model,
    pub quantized: &'a QuantizedModel,
    /// The integer model lowered from `quantized`.
    pub integer: &'a IntModel,
    /// Calibration images `[calib_count, C, H, W]`, normalized (Figures 2 and 3), and what they
    /// are.
    pub calib: &'a [f32],
    pub calib_count: usize,
    pub calib_what: String,
    /// Held-out images: accuracy over all of them, SQNR over the first `sqnr_images`.
    pub eval: ImageSet<'a>,
    pub sqnr_images: usize,
    /// Images per forward pass.
    pub batch_size: usize,
    /// The block whose post-Softmax histogram is drawn.
    pub block: usize,
    /// A generated design and where it was read from, for the hardware section.
    pub rtl: Option<(PathBuf, Design)>,
    /// Lines of the page's header table: (what, value).
    pub facts: Vec<(String, String)>,
}

/// One row of the accuracy table.
#[derive(Clone, Debug, PartialEq)]
pub struct AccuracyRow {
    /// `f32`, `W4A4 fake-quant`, `W4A4 integer, s32 accumulators` (as `repq-hw eval` prints).
    pub model: String,
    pub accuracy: Accuracy,
}

/// The hardware section: a design's cycle model over one forward pass.
#[derive(Clone, Debug)]
pub struct Hardware {
    pub rtl: PathBuf,
    pub design: Design,
    pub evaluated: Evaluated,
}

/// Everything on the page.
#[derive(Clone, Debug)]
pub struct Report {
    /// The model's name and quantization (`deit-digits, W4A4`).
    pub title: String,
    pub facts: Vec<(String, String)>,
    pub accuracy: Vec<AccuracyRow>,
    pub eval_what: String,
    pub layernorms: Vec<LnRanges>,
    pub softmax: SoftmaxHistogram,
    pub calib_what: String,
    pub sqnr: LayerSqnr,
    pub hardware: Option<Hardware>,
}

/// Computes every section of the report.
///
/// Errors: a forward-pass error, a `block` the model does not have, an image set that fails to
/// load, or an empty held-out set.
pub fn build(inputs: Inputs<'_>) -> Result<Report> {
    let q = inputs.quantized;
    let int = inputs.integer;
    let cfg = q.vit_config()?;
    let (layernorms, softmax) = stats::collect(
        inputs.original,
        q,
        inputs.calib,
        inputs.calib_count,
        inputs.block,
    )?;

    let sqnr_n = inputs.sqnr_images.min(inputs.eval.len);
    let first = match (inputs.eval.batches)(sqnr_n).next() {
        Some(b) => b?,
        None => {
            return Err(crate::Error::Invalid(format!(
                "report: {} holds no image",
                inputs.eval.what
            )));
        }
    };
    let sqnr = sqnr::measure(q, int, &first.data, first.len(), inputs.batch_size)?;
    drop(first);

    let classes = cfg.num_classes;
    let bs = inputs.batch_size.max(1);
    let run = |what: String, f: &ForwardFn<'_>| -> Result<AccuracyRow> {
        let accuracy = evaluate(
            (inputs.eval.batches)(bs),
            inputs.eval.len,
            classes,
            &what,
            f,
        )?;
        Ok(AccuracyRow {
            model: what,
            accuracy,
        })
    };
    let accuracy = vec![
        run("f32".into(), &|x, b| vit(inputs.original, q)?.forward(x, b))?,
        run(q.describe(), &|x, b| q.forward(x, b))?,
        run(
            format!(
                "W{}A{} integer, s{} accumulators",
                int.wbits, int.abits, int.acc_bits
            ),
            &|x, b| int.forward(x, b),
        )?,
    ];

    let hardware = inputs.rtl.map(|(rtl, design)| {
        let evaluated = perf_evaluate(&design, &vit_workload(cfg));
        Hardware {
            rtl,
            design,
            evaluated,
        }
    });
    Ok(Report {
        title: format!("{}, {}", q.model.name, q.config.label()),
        facts: inputs.facts,
        accuracy,
        eval_what: format!("{} ({} images)", inputs.eval.what, inputs.eval.len),
        layernorms,
        softmax,
        calib_what: format!("{} ({} images)", inputs.calib_what, inputs.calib_count),
        sqnr,
        hardware,
    })
}

/// The ViT/DeiT network of `model` (the report's integer sections need the integer model, which
/// Swin does not have yet): the artifact's error naming the architecture otherwise.
fn vit<'a>(
    model: &'a crate::model::Model,
    q: &crate::quant::QuantizedModel,
) -> Result<&'a crate::model::VisionTransformer> {
    model.vit().ok_or_else(|| q.integer_unsupported())
}
