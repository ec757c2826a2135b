//! What the verifier needs to know about a generated design, read from its
//! `repq_params.json` (src/rtl/driver.rs writes it).

use std::path::Path;

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::rtl::{AccRequirement, Design, GenConfig, PeShape};

/// The configuration of a generated RTL directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RtlInfo {
    /// The configuration tag, such as `16x16_w8a8`.
    pub config: String,
    pub pe_rows: u32,
    pub pe_cols: u32,
    pub abits: u32,
    pub wbits: u32,
    pub acc_bits: u32,
    pub m_tile: u32,
    pub requant_lanes: u32,
    /// Bits of one output lane of `repq_top` and whether it is signed (unsigned codes by default).
    pub out_lane_bits: u32,
    pub out_signed: bool,
    /// The `repq-hw gen` command that generated the design.
    pub command: String,
    /// Cycles from an accepted activation beat to its output row in the FIFO.
    pub output_latency: u32,
}

#[derive(Deserialize)]
struct Json {
    config: String,
    command: String,
    pe_rows: u32,
    pe_cols: u32,
    abits: u32,
    wbits: u32,
    acc_bits: u32,
    m_tile: u32,
    requant_lanes: u32,
    streams: Streams,
    latency: Latency,
}

/// The `requirement` object of `repq_params.json`: what the accumulator was sized for (the
/// embedded architecture's worst case, or a quantized artifact's with `gen --model`).
#[derive(Deserialize)]
struct RequirementJson {
    source: String,
    max_k: u64,
    max_tokens: u64,
    acc_min: String,
    acc_max: String,
}

#[derive(Deserialize)]
struct Latency {
    output: u32,
}

#[derive(Deserialize)]
struct Streams {
    out: Lanes,
}

#[derive(Deserialize)]
struct Lanes {
    lane_bits: u32,
    lane_signed: bool,
}

#[derive(Deserialize)]
struct RequirementOnly {
    requirement: RequirementJson,
}

/// The accumulator requirement recorded in `dir/repq_params.json`.
fn read_requirement(dir: &Path) -> Result<AccRequirement> {
    let path = dir.join("repq_params.json");
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    let bad = |reason: String| Error::Toml {
        path: path.clone(),
        reason,
    };
    let j: RequirementOnly = serde_json::from_str(&text)
        .map_err(|e| bad(format!("not a repq_params.json of `repq-hw gen`: {e}")))?;
    let r = j.requirement;
    let bound = |field: &str, v: &str| {
        v.parse::<num_bigint::BigInt>()
            .map_err(|e| bad(format!("requirement.{field} `{v}` is not an integer: {e}")))
    };
    Ok(AccRequirement::exact(
        r.source.clone(),
        r.max_k,
        r.max_tokens,
        bound("acc_min", &r.acc_min)?,
        bound("acc_max", &r.acc_max)?,
    ))
}

impl RtlInfo {
    /// Reads `dir/repq_params.json`.
    pub fn read(dir: &Path) -> Result<RtlInfo> {
        let path = dir.join("repq_params.json");
        let text = std::fs::read_to_string(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::Dataset {
                path: dir.to_path_buf(),
                reason: "not a generated RTL directory (no repq_params.json; run `repq-hw gen`)"
                    .into(),
            },
            _ => Error::io(&path, e),
        })?;
        let j: Json = serde_json::from_str(&text).map_err(|e| Error::Toml {
            path: path.clone(),
            reason: format!("not a repq_params.json of `repq-hw gen`: {e}"),
        })?;
        Ok(RtlInfo {
            config: j.config,
            pe_rows: j.pe_rows,
            pe_cols: j.pe_cols,
            abits: j.abits,
            wbits: j.wbits,
            acc_bits: j.acc_bits,
            m_tile: j.m_tile,
            requant_lanes: j.requant_lanes,
            out_lane_bits: j.streams.out.lane_bits,
            out_signed: j.streams.out.lane_signed,
            command: j.command,
            output_latency: j.latency.output,
        })
    }

    /// The complete `repq-hw gen` command of this design with s`out_bits` output lanes and
    /// `abits`-bit activation lanes where given, and an accumulator of at least `min_acc_bits`
    /// bits (more if the new lanes need more); `--model` stays as it was given.
    pub fn command_with(
        &self,
        dir: &Path,
        out_bits: Option<u32>,
        abits: Option<u32>,
        min_acc_bits: u32,
    ) -> Result<String> {
        let mut c = self.config(dir)?;
        let architecture_sized =
            c.requirement == Some(AccRequirement::demo_architecture(c.abits, c.wbits));
        if let Some(b) = out_bits {
            c.out_bits = Some(b);
        }
        if let Some(a) = abits {
            c.abits = a;
            if architecture_sized {
                c.requirement = None; // the architecture's worst case at the new lanes
            }
        }
        let mut tokens = self.command.split(' ');
        c.model = tokens
            .position(|t| t == "--model")
            .and_then(|_| tokens.next())
            .map(str::to_string);
        c.acc_bits = None;
        let invalid = |e: crate::rtl::GenError| Error::Invalid(format!("{}: {e}", dir.display()));
        let needed = c.validate().map_err(invalid)?.acc_bits;
        c.acc_bits = Some(needed.max(min_acc_bits));
        Ok(c.validate().map_err(invalid)?.command)
    }

    /// The generator configuration of this design (its own accumulator requirement).
    fn config(&self, dir: &Path) -> Result<GenConfig> {
        let mut c = GenConfig::new(PeShape {
            rows: self.pe_rows,
            cols: self.pe_cols,
        });
        c.wbits = self.wbits;
        c.abits = self.abits;
        c.acc_bits = Some(self.acc_bits);
        c.m_tile = self.m_tile;
        c.requant_lanes = Some(self.requant_lanes);
        c.out_bits = Some(self.out_lane_bits);
        // The design's own requirement: a `gen --model` design may be narrower than the
        // embedded architecture's worst case.
        c.requirement = Some(read_requirement(dir)?);
        Ok(c)
    }

    /// The design these parameters describe, for the cycle model ([`crate::perf`]); an error if
    /// its latency disagrees with the JSON's (a design from another version of this tool).
    pub fn design(&self, dir: &Path) -> Result<Design> {
        let d = self
            .config(dir)?
            .validate()
            .map_err(|e| Error::Invalid(format!("{}: {e}", dir.display())))?;
        if d.output_latency() != self.output_latency {
            return Err(Error::Invalid(format!(
                "{}: repq_params.json states an output latency of {} cycles, this repq-hw's design \
                 of {} has {}: regenerate the RTL with this version",
                dir.display(),
                self.output_latency,
                self.config,
                d.output_latency()
            )));
        }
        Ok(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use num_bigint::BigInt;

    /// A design sized by a quantized model's exact requirement (narrower than the embedded
    /// architecture's 28 bits at w8a8, as `gen --model` makes it) reads back as itself.
    #[test]
    fn a_model_sized_design_reads_back() {
        let c = GenConfig {
            requirement: Some(AccRequirement::exact(
                "a model",
                384,
                50,
                BigInt::from(-3_000_000),
                BigInt::from(3_000_000),
            )),
            out_bits: Some(32),
            ..GenConfig::new(PeShape { rows: 4, cols: 4 })
        };
        let d = c.validate().unwrap();
        assert!(d.acc_bits < 28, "{}", d.acc_bits);
        let dir = std::env::temp_dir().join(format!("repq-design-{}", std::process::id()));
        crate::rtl::generate(&c, &dir).unwrap();
        let info = RtlInfo::read(&dir).unwrap();
        let back = info.design(&dir).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(back.acc_bits, d.acc_bits);
        assert_eq!(back.av_fraction_bits, d.av_fraction_bits);
        assert_eq!(back.requirement, d.requirement);
    }

    /// The command that widens a model-sized w4a4 design's activation lanes to 8 bits keeps
    /// `--model` and the model's requirement, and raises the accumulator to what the wider
    /// products need (the narrower design's 16 bits are too few for u8 x s9).
    #[test]
    fn widening_the_lanes_keeps_the_model_and_raises_the_accumulator() {
        let requirement = AccRequirement::exact(
            "a W4A4 model",
            384,
            50,
            BigInt::from(-28_255),
            BigInt::from(28_255),
        );
        let c = GenConfig {
            wbits: 4,
            abits: 4,
            requirement: Some(requirement.clone()),
            model: Some("q4".into()),
            out_bits: Some(32),
            ..GenConfig::new(PeShape { rows: 4, cols: 4 })
        };
        let d = c.validate().unwrap();
        assert_eq!(d.acc_bits, 16);
        let dir = std::env::temp_dir().join(format!("repq-widen-{}", std::process::id()));
        crate::rtl::generate(&c, &dir).unwrap();
        let info = RtlInfo::read(&dir).unwrap();
        let cmd = info.command_with(&dir, None, Some(8), d.acc_bits).unwrap();
        let wide = GenConfig {
            abits: 8,
            ..c.clone()
        }
        .validate()
        .unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(cmd, wide.command);
        assert!(wide.acc_bits > 16, "{}", wide.acc_bits);
        assert!(
            cmd.contains("--abits 8") && cmd.contains("--model q4"),
            "{cmd}"
        );
        assert!(
            cmd.contains(&format!("--acc-bits {}", wide.acc_bits)),
            "{cmd}"
        );
    }
}
