//! What the verifier needs to know about a generated design, read from its
//! `repq_params.json` (src/rtl/driver.rs writes it).

use std::path::Path;

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::rtl::{Design, GenConfig, PeShape};

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

    /// The design these parameters describe, for the cycle model ([`crate::perf`]); an error if
    /// its latency disagrees with the JSON's (a design from another version of this tool).
    pub fn design(&self, dir: &Path) -> Result<Design> {
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
        let d = c
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
