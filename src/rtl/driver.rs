//! `repq_params.json`: the generated parameters for driver software (the C header's twin).

use serde::Serialize;

use super::config::{Design, Field, LOGCODE_LATENCY, REQUANT_LATENCY, SHIFT_AV_LATENCY};
use super::render::{TOP, UNIT_TOPS, constraint_file};
use super::units::{RESIDUAL_LATENCY, UnitParams};

#[derive(Serialize)]
struct Json<'a> {
    generated_by: String,
    command: &'a str,
    top: &'static str,
    units: [&'static str; UNIT_TOPS.len()],
    config: String,
    pe_rows: u32,
    pe_cols: u32,
    abits: u32,
    wbits: u32,
    w_operand_bits: u32,
    acc_bits: u32,
    acc_bits_required: u32,
    requirement: Requirement<'a>,
    m_tile: u32,
    dim_bits: u32,
    fifo_depth: u32,
    requant_lanes: u32,
    target: &'static str,
    clock_mhz: f64,
    constraints: String,
    latency: Latency,
    streams: Streams,
    stream_order: [&'static str; 9],
    files: &'a [String],
}

#[derive(Serialize)]
struct Requirement<'a> {
    source: &'a str,
    max_k: u64,
    max_tokens: u64,
    acc_min: String,
    acc_max: String,
    av_fraction_bits: Option<u32>,
}

#[derive(Serialize)]
struct Latency {
    array: u32,
    output: u32,
    requant: u32,
    logcode: u32,
    shift_av: u32,
    av_requant: u32,
    gelu: u32,
    residual: u32,
}

#[derive(Serialize)]
struct Lanes {
    port: &'static str,
    beat_bits: u32,
    lanes: u32,
    lane_bits: u32,
    lane_signed: bool,
}

#[derive(Serialize)]
struct Params {
    port: &'static str,
    beat_bits: u32,
    fields: Vec<Field>,
}

#[derive(Serialize)]
struct Streams {
    act: Lanes,
    wgt: Lanes,
    prm: Params,
    out: Lanes,
}

/// The stream order, as in the RTL header (tile bases m0, n0, k0; extents mr, nr, kr).
pub const STREAM_ORDER: [&str; 9] = [
    "for m0 in 0, TM, 2 TM, .. < M (mr = min(TM, M - m0)):",
    "  for n0 in 0, C, 2 C, .. < N (nr = min(C, N - n0)):",
    "    prm: nr beats, column n = n0 .. n0+nr-1",
    "    for k0 in 0, R, 2 R, .. < K (kr = min(R, K - k0)):",
    "      wgt: kr beats, k = k0 .. k0+kr-1, lane c = w[k][n0+c]",
    "      act: mr beats, m = m0 .. m0+mr-1, lane r = a[m][k0+r]",
    "    out: mr beats, m = m0 .. m0+mr-1, lane c = out[m][n0+c]; m_out_last on the job's last beat",
    "lanes past the matrix edge: ignored on input, zero on output",
    "streams: separate channels, or one thread one beat at a time in this order (fifo_depth >= TM: cannot deadlock)",
];

/// The JSON text (pretty, with a final newline).
pub fn json(d: &Design, files: &[String]) -> String {
    let units = UnitParams::new(d);
    let j = Json {
        generated_by: format!("repq-hw {}", d.version),
        command: &d.command,
        top: TOP,
        units: UNIT_TOPS,
        config: d.tag(),
        pe_rows: d.rows,
        pe_cols: d.cols,
        abits: d.abits,
        wbits: d.wbits,
        w_operand_bits: d.wob,
        acc_bits: d.acc_bits,
        acc_bits_required: d.acc_bits_required,
        requirement: Requirement {
            source: &d.requirement.source,
            max_k: d.requirement.max_k,
            max_tokens: d.requirement.max_tokens,
            acc_min: d.requirement.acc_min.to_string(),
            acc_max: d.requirement.acc_max.to_string(),
            av_fraction_bits: d.av_fraction_bits,
        },
        m_tile: d.m_tile,
        dim_bits: d.dim_bits,
        fifo_depth: d.fifo_depth,
        requant_lanes: d.requant_lanes,
        target: d.target.name(),
        clock_mhz: d.clock_mhz,
        constraints: constraint_file(d),
        latency: Latency {
            array: d.array_latency(),
            output: d.output_latency(),
            requant: REQUANT_LATENCY,
            logcode: LOGCODE_LATENCY,
            shift_av: SHIFT_AV_LATENCY,
            av_requant: units.av_latency,
            gelu: units.gelu_latency,
            residual: RESIDUAL_LATENCY,
        },
        streams: Streams {
            act: Lanes {
                port: "s_act",
                beat_bits: d.act_bits(),
                lanes: d.rows,
                lane_bits: d.abits,
                lane_signed: false,
            },
            wgt: Lanes {
                port: "s_wgt",
                beat_bits: d.wgt_bits(),
                lanes: d.cols,
                lane_bits: d.wob,
                lane_signed: true,
            },
            prm: Params {
                port: "s_prm",
                beat_bits: d.param_bits(),
                fields: d.param_fields(),
            },
            out: Lanes {
                port: "m_out",
                beat_bits: d.out_bits(),
                lanes: d.cols,
                lane_bits: d.out_lane_bits(),
                lane_signed: d.out_signed(),
            },
        },
        stream_order: STREAM_ORDER,
        files,
    };
    let mut s = serde_json::to_string_pretty(&j).expect("JSON of plain data");
    s.push('\n');
    s
}
