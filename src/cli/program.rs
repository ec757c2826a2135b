//! `repq-hw program`: the layer program of a quantized model (docs/layer-program.md), the memory
//! image a driver loads into the accelerator.

use std::path::{Path, PathBuf};

use super::output::outln;
use super::quantize::LoadedModel;
use crate::error::{Error, Result};
use crate::intsim::IntModel;
use crate::program::Program;
use crate::quant::config::QuantConfig;

#[derive(Debug, clap::Args)]
pub struct ProgramArgs {
    /// A quantized artifact (`repq-hw quantize --out`); default: the embedded model, quantized
    /// here at --wbits/--abits
    #[arg(long, value_name = "MODEL")]
    pub model: Option<PathBuf>,
    /// Weight code bits of the embedded model (4, 6 or 8; default 8)
    #[arg(long, value_name = "BITS")]
    pub wbits: Option<u32>,
    /// Activation code bits of the embedded model (4, 6 or 8; default 8)
    #[arg(long, value_name = "BITS")]
    pub abits: Option<u32>,
    /// Accumulator bits the program's constants are proven for; default: what `repq-hw gen`
    /// chooses for the same model (as `repq-hw golden`)
    #[arg(long, value_name = "N")]
    pub acc_bits: Option<u32>,
    /// Output directory: program.bin (the image), program.txt (its descriptors, one per line) and
    /// repq_program.h (the format's C header); created if missing, those files replaced
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

pub fn run(args: &ProgramArgs) -> Result<()> {
    let (q, embedded) = match LoadedModel::load(args.model.as_deref())? {
        LoadedModel::Quantized(q) => {
            if args.wbits.is_some() || args.abits.is_some() {
                return Err(Error::Invalid(format!(
                    "--wbits/--abits: {} is a quantized artifact (W{}A{}); leave them out",
                    args.model.as_deref().unwrap_or(Path::new("")).display(),
                    q.config.wbits,
                    q.config.abits
                )));
            }
            (*q, false)
        }
        LoadedModel::Float(_) if args.model.is_some() => {
            return Err(Error::Invalid(format!(
                "--model {}: a float checkpoint; quantize it first (`repq-hw quantize --model \
                 {} --out Q`) and give --model Q",
                args.model.as_deref().unwrap_or(Path::new("")).display(),
                args.model.as_deref().unwrap_or(Path::new("")).display()
            )));
        }
        LoadedModel::Float(_) => {
            let config = QuantConfig::new(args.wbits.unwrap_or(8), args.abits.unwrap_or(8))?;
            (crate::demo::quantized(config)?, true)
        }
    };
    let source = args.model.as_deref().map_or_else(
        || "the embedded model".to_string(),
        |p| p.display().to_string(),
    );
    let acc_bits = match args.acc_bits {
        Some(b) => b,
        None if embedded => crate::rtl::config::default_acc_bits(q.config.wbits, q.config.abits)
            .map_err(|e| Error::Config {
                source_name: "repq-hw program".into(),
                field: e.option().into(),
                reason: e.reason(),
            })?,
        None => super::generate::quantized_acc_bits(&q, &source)?,
    };
    let int = IntModel::lower(&q, acc_bits)?;
    let prog = Program::from_model(&int)?;
    let dir = &args.out;
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    // Each file through a temporary name, the image last: a directory with program.bin holds
    // the listing and header of that image.
    for (name, bytes) in [
        ("program.txt", prog.listing().into_bytes()),
        (
            "repq_program.h",
            crate::program::emit::C_HEADER.as_bytes().to_vec(),
        ),
        ("program.bin", prog.image.clone()),
    ] {
        let (path, tmp) = (dir.join(name), dir.join(format!(".{name}.tmp")));
        std::fs::write(&tmp, &bytes).map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))?;
    }
    outln!(
        "repq-hw program: {} (W{}A{}, s{} accumulators): {} descriptors, {} bytes, written to {}/program.bin",
        source,
        int.wbits,
        int.abits,
        int.acc_bits,
        prog.descriptors.len(),
        prog.image.len(),
        args.out.display()
    )?;
    Ok(())
}
