//! The `repq-hw` command line: one module per subcommand, each a thin layer over the library.

pub mod ablate;
mod eval;
mod generate;
mod golden;
mod info;
pub mod model_options;
pub mod output;
mod perf;
mod perf_engine;
mod predict;
mod program;
pub mod quantize;
mod report;
mod verify;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::error::Result;
use crate::model::Model;

/// RepQ-ViT post-training quantization of vision transformers, a bit-accurate integer simulator,
/// golden vectors, and Verilog proven equal to the simulator.
#[derive(Debug, Parser)]
#[command(name = "repq-hw", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print a model's architecture, preprocessing and parameter count
    Info(info::InfoArgs),
    /// Top-1/top-5 accuracy on an ImageFolder directory (default: the embedded model's test split)
    Eval(eval::EvalArgs),
    /// Top-5 classes of each image, optionally saving the raw logits as .npy
    Predict(predict::PredictArgs),
    /// Generate Verilog: a weight-stationary int4/int8 systolic array with requantization,
    /// log2-softmax and shift-based attention units, constraints, driver header and FuseSoC core
    Gen(generate::GenArgs),
    /// RepQ-ViT post-training quantization: calibrate, reparameterize, write a quantized-model
    /// artifact (docs/quantized-format.md) and report its fake-quant top-1
    Quantize(quantize::QuantizeArgs),
    /// The paper's ablation Tables 3 (post-LayerNorm quantizers) and 4 (post-Softmax quantizers)
    Ablate(ablate::AblateArgs),
    /// Golden vectors: every input, parameter and output of the integer datapath for one image
    /// (or random unit-test vectors) as $readmemh hex files with a manifest.toml
    Golden(golden::GoldenArgs),
    /// Verify generated RTL against golden vectors with Verilator, bit for bit: every output
    /// element, random stream stalls, a reset in mid-run, unique X initialization
    Verify(verify::VerifyArgs),
    /// Cycle model of the generated accelerator: cycles, utilization and time of one matmul job
    /// (--shape) or of every matmul of a model's forward pass (--model), with images/s
    Perf(perf::PerfArgs),
    /// The layer program of a quantized model: the memory image (descriptors, weights and every
    /// constant) a driver loads into the accelerator (docs/layer-program.md)
    Program(program::ProgramArgs),
    /// The quantization and hardware report as one self-contained HTML page: post-LayerNorm
    /// channel ranges and the post-Softmax histogram (paper Figs. 2, 3), per-layer SQNR,
    /// accuracy, and with --rtl the per-layer cycles of the design
    Report(report::ReportArgs),
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Info(args) => info::run(&args),
        Command::Eval(args) => eval::run(&args),
        Command::Predict(args) => predict::run(&args),
        Command::Gen(args) => generate::run(&args),
        Command::Quantize(args) => quantize::run(&args),
        Command::Ablate(args) => ablate::run(&args),
        Command::Golden(args) => golden::run(&args),
        Command::Verify(args) => verify::run(&args),
        Command::Perf(args) => perf::run(&args),
        Command::Program(args) => program::run(&args),
        Command::Report(args) => report::run(&args),
    }
}

/// The model a command works on: the given checkpoint, or the embedded demo model.
#[derive(Debug, Clone, clap::Args)]
pub struct ModelArg {
    /// A timm ViT/DeiT or Swin checkpoint: .safetensors or a PyTorch .pth/.pt/.bin, with timm's
    /// config.json and/or a MODEL.toml sidecar beside it; or `deit-digits` / `swin-digits`, the
    /// embedded models; default: deit-digits
    #[arg(long, value_name = "MODEL")]
    pub model: Option<PathBuf>,
    #[command(flatten)]
    pub options: model_options::ModelOptions,
}

impl ModelArg {
    /// Whether the model is an embedded one (none given, or `deit-digits` / `swin-digits`).
    pub fn is_embedded(&self) -> bool {
        self.model
            .as_deref()
            .is_none_or(|p| crate::demo::Embedded::named(p).is_some())
    }

    pub fn load(&self) -> Result<Model> {
        Ok(model_options::load(self.model.as_deref(), &self.options)?.model)
    }
}
