//! Cycles of the units after the array (docs/arithmetic.md U7, U8, A x V requantization), each
//! counted like [`super::av_cycles`]: from the first input beat's cycle (for `repq_av_requant`,
//! the cycle after its start pulse) to the cycle after the last output beat was taken, every
//! stream always valid and ready. The unit harnesses print these counts for their stall-free
//! runs; `repq-hw verify` and tests/perf_rtl.rs check them against these functions.

use crate::rtl::Design;
use crate::rtl::units::{
    AV_REQUANT_LANES, LN_LANES, RESIDUAL_LATENCY, ROWDIV_LATENCY, SOFTMAX_LANES,
    SOFTMAX_ROW_OVERHEAD, SOFTMAX_ZERO_ROW_OVERHEAD, av_requant_latency, gelu_latency,
    gelu_load_beats, layernorm_row_cycles, rowdiv_recip_cycles,
};

/// Beats of a `rows x cols` matrix in `repq_top`'s output order: `ceil(cols / C)` per row.
pub fn matrix_beats(d: &Design, rows: u64, cols: u64) -> u64 {
    cols.div_ceil(u64::from(d.cols)) * rows
}

/// `repq_residual` on a `rows x cols` residual stream: one beat (`C` elements) per cycle,
/// `beats + RESIDUAL_LATENCY`; 0 when a size is 0.
pub fn residual_cycles(d: &Design, rows: u64, cols: u64) -> u64 {
    if rows == 0 || cols == 0 {
        return 0;
    }
    matrix_beats(d, rows, cols) + u64::from(RESIDUAL_LATENCY)
}

/// `repq_gelu` on a `rows x cols` fc1 output, its table loaded first: `2^(abits+1) - 1` load
/// beats, then one beat (`C` indices) per cycle, then the pipeline (`abits + 2`); 0 when a size
/// is 0.
pub fn gelu_cycles(d: &Design, rows: u64, cols: u64) -> u64 {
    if rows == 0 || cols == 0 {
        return 0;
    }
    u64::from(gelu_load_beats(d.abits))
        + matrix_beats(d, rows, cols)
        + u64::from(gelu_latency(d.abits))
}

/// `repq_av_requant` with the design's requantization lanes ([`AV_REQUANT_LANES`]) on `heads`
/// heads of `tokens` x `d_h` outputs: [`av_requant_cycles_with`].
pub fn av_requant_cycles(d: &Design, tokens: u64, d_h: u64, heads: u64) -> u64 {
    av_requant_cycles_with(d, AV_REQUANT_LANES, tokens, d_h, heads)
}

/// `repq_av_requant` with `lanes` requantization lanes (a divisor of `C`): one beat per query and
/// group of `C` channels, accepted every `G = C / lanes` cycles, the last one's output
/// `G + 12` cycles after it was accepted: `(beats - 1) G + (G + 12) + 1`; 0 when a size is 0.
pub fn av_requant_cycles_with(d: &Design, lanes: u32, tokens: u64, d_h: u64, heads: u64) -> u64 {
    if tokens == 0 || d_h == 0 || heads == 0 {
        return 0;
    }
    let g = d.cols / lanes;
    let beats = heads * d_h.div_ceil(u64::from(d.cols)) * tokens;
    (beats - 1) * u64::from(g) + u64::from(av_requant_latency(g)) + 1
}

/// The standalone `repq_rowdiv` on `rows` rows of `per_row` numerators (sim/rowdiv.cpp's stream:
/// per row its divisor beat, then the numerators): per row the divisor's cycle, the reciprocal's
/// `QW + 3`, one numerator per cycle; the last quotient `ROWDIV_LATENCY` cycles after its
/// numerator, counted to the cycle after it was taken. 0 when a size is 0.
pub fn rowdiv_cycles(qw: u32, rows: u64, per_row: u64) -> u64 {
    if rows == 0 || per_row == 0 {
        return 0;
    }
    rows * (1 + u64::from(rowdiv_recip_cycles(qw)) + per_row) + u64::from(ROWDIV_LATENCY)
}

/// `repq_layernorm` with the design's normalize lanes ([`LN_LANES`]) on one layer of `rows` rows
/// of `dim` channels: [`layernorm_cycles_with`].
pub fn layernorm_cycles(d: &Design, rows: u64, dim: u64) -> u64 {
    layernorm_cycles_with(d, LN_LANES, rows, dim)
}

/// `repq_layernorm` with `lanes` normalize lanes (a divisor of `C`), counted from the cycle after
/// the start pulse: `D` constant beats, then per row
/// [`crate::rtl::units::layernorm_row_cycles`] (rows one after the other); 0 when a size is 0.
pub fn layernorm_cycles_with(d: &Design, lanes: u32, rows: u64, dim: u64) -> u64 {
    if rows == 0 || dim == 0 {
        return 0;
    }
    dim + rows * layernorm_row_cycles(d.cols, lanes, dim)
}

/// `repq_softmax` with the design's exponent lanes ([`SOFTMAX_LANES`]) on `rows` rows of `keys`
/// keys, none fully masked: [`softmax_cycles_with`].
pub fn softmax_cycles(d: &Design, rows: u64, keys: u64) -> u64 {
    softmax_cycles_with(d, SOFTMAX_LANES, rows, keys, 0)
}

/// `repq_softmax` with `lanes` exponent/divide lanes (a divisor of `C`) on `rows` rows of `keys`
/// keys, `masked_rows` of them with every key masked: per row `B` input beats (`B = ceil(keys /
/// C)`), `B G` exponent groups and `B G` divide groups (`G = C / lanes`), plus
/// [`SOFTMAX_ROW_OVERHEAD`] (the reciprocal among it; [`SOFTMAX_ZERO_ROW_OVERHEAD`] for a fully
/// masked row), and `ROWDIV_LATENCY` for the last beat; from the cycle after the start pulse to
/// the cycle after the last beat was taken. 0 when a size is 0.
pub fn softmax_cycles_with(d: &Design, lanes: u32, rows: u64, keys: u64, masked_rows: u64) -> u64 {
    if rows == 0 || keys == 0 {
        return 0;
    }
    let b = keys.div_ceil(u64::from(d.cols));
    let g = u64::from(d.cols / lanes);
    rows * (b + 2 * b * g)
        + (rows - masked_rows) * u64::from(SOFTMAX_ROW_OVERHEAD)
        + masked_rows * u64::from(SOFTMAX_ZERO_ROW_OVERHEAD)
        + u64::from(ROWDIV_LATENCY)
}
