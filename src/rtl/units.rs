//! The standalone units after the array (docs/arithmetic.md U5, U7, U8 and the A x V
//! requantization): `repq_layernorm`, `repq_gelu`, `repq_residual`, `repq_av_requant`. Their parameters derived
//! from a [`Design`], their latencies, and the widths their stream lanes take so that they chain
//! to `repq_top` and `repq_shift_av` without adapters.

use super::config::{Design, REQUANT_LATENCY};

/// Cycles from an accepted `repq_residual` beat to its output beat.
pub const RESIDUAL_LATENCY: u32 = 1;
/// Depth of `repq_av_requant`'s output FIFO (and its credit limit).
pub const AV_REQUANT_FIFO: u32 = 16;
/// Requantization lanes of `repq_av_requant` by default: one (4 hard multipliers instead of
/// `4 C`); `repq_shift_av` delivers one beat per key count, far below what one lane takes.
pub const AV_REQUANT_LANES: u32 = 1;

/// Cycles `repq_rowdiv_recip` is busy per divisor: one restoring step per reciprocal bit,
/// `QW + 3`.
pub fn rowdiv_recip_cycles(qw: u32) -> u32 {
    qw + 3
}
/// Registers of `repq_rowdiv_lane`: a numerator taken in cycle `c` gives its quotient in cycle
/// `c + ROWDIV_LATENCY`.
pub const ROWDIV_LATENCY: u32 = 5;
/// Normalize lanes `U` of `repq_layernorm` by default (a divisor of `C`): one, as for
/// `repq_av_requant` (9 hard multipliers in all instead of `8 C + 1`); a row then takes about
/// `2 D` cycles ([`layernorm_row_cycles`]).
pub const LN_LANES: u32 = 1;
/// `repq_layernorm`'s row buffer capacity by default, channels: ViT-Base's `D = 768` and the
/// embedded model's 96 fit (`MAXD`).
pub const LN_MAX_DIM: u32 = 1024;
/// Cycles of a `repq_layernorm` row besides its beats and groups: 4 (row shift), 5 (squares
/// pipeline), 34 (square root), 21 (reciprocal and its hand-over), 8 (normalize pipeline).
pub const LN_ROW_OVERHEAD: u32 = 72;

/// Exponent/divide lanes of `repq_softmax` by default (`EX_LANES`, a divisor of `C`): one, as
/// for `repq_av_requant` (one EXP2 ROM and one row-divider lane, 6 hard multipliers at 17 x 34).
pub const SOFTMAX_LANES: u32 = 1;
/// `repq_softmax`'s row buffer by default (`ROWMAX`): rows of up to 1024 keys (ViT-B at 448 x 448
/// has 785); at most `arith::softmax::T_MAX`.
pub const SOFTMAX_ROWMAX: u32 = 1024;
/// `repq_softmax`'s fixed cycles per row besides the three passes (stall-free): two for the EXP
/// pipeline and the decision, 21 for the reciprocal (`QW + 3` and the hand-over), two for the
/// DIV read, one to the next row.
pub const SOFTMAX_ROW_OVERHEAD: u32 = 26;
/// The same for a row whose every key is masked (no reciprocal).
pub const SOFTMAX_ZERO_ROW_OVERHEAD: u32 = 5;

/// Bits of `repq_avgpool`'s `tokens` port (`TW`): pools of up to `2^16 - 1` tokens (Swin-B's
/// last stage has 49 at 224 x 224, 144 at 384 x 384); the sums are `s{32 + TW}`.
pub const POOL_TOKEN_BITS: u32 = 16;
/// The cycle (counted from the one after the start pulse) from which `repq_avgpool`'s divide
/// pass may start: its reciprocal of `2T` (`QW + 3 = 35` steps) runs from the start pulse.
pub const POOL_RECIP_CYCLES: u64 = 36;
/// Cycles of each `repq_avgpool` output beat besides its `C` issue cycles: the read of its sums,
/// [`ROWDIV_LATENCY`], `REQUANT_LATENCY` and the output register.
pub const POOL_BEAT_OVERHEAD: u64 = 17;

/// Stall-free cycles of one `repq_avgpool` job of `tokens` rows of `dim` channels on `cols`
/// lanes, from the cycle after its start pulse to the cycle after its last beat was taken:
/// `max(2 T B + 1, 36) + B (C + 17)`, `B = ceil(D / C)`: two cycles per input beat, the cycle of
/// the last write, then the divide pass.
pub fn avgpool_cycles(cols: u32, tokens: u64, dim: u64) -> u64 {
    let beats = dim.div_ceil(u64::from(cols));
    (2 * tokens * beats + 1).max(POOL_RECIP_CYCLES) + beats * (u64::from(cols) + POOL_BEAT_OVERHEAD)
}

/// What the unit templates render besides the [`Design`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnitParams {
    /// `repq_residual`'s increment lanes `s{YBITS}`: `repq_top`'s signed output lanes, or 32.
    pub residual_ybits: u32,
    /// `repq_gelu`'s index lanes `s{IBITS}`: `repq_top`'s signed output lanes, or 16.
    pub gelu_ibits: u32,
    /// `repq_gelu`'s latency, `abits + 2`.
    pub gelu_latency: u32,
    /// `repq_gelu`'s table-load beats, `2^(abits+1) - 1`.
    pub gelu_load_beats: u32,
    /// `repq_av_requant`'s requantization lanes and cycles per beat.
    pub av_requant_lanes: u32,
    pub av_groups: u32,
    /// `repq_av_requant`'s latency (input beat accepted to output beat valid).
    pub av_latency: u32,
    /// `repq_layernorm`'s normalize lanes `U`, groups per beat `C / U`, row buffer capacity
    /// `MAXD`, bits of its `dim` port (`MAXD` rounded up to whole beats, plus `U`, fits), and
    /// per-row overhead ([`LN_ROW_OVERHEAD`]).
    pub ln_lanes: u32,
    pub ln_groups: u32,
    pub ln_max_dim: u32,
    pub ln_dim_bits: u32,
    pub ln_row_overhead: u32,
    /// `repq_softmax`'s exponent/divide lanes and row buffer length.
    pub softmax_lanes: u32,
    pub softmax_rowmax: u32,
    /// `repq_avgpool`'s token counter bits `TW` ([`POOL_TOKEN_BITS`]).
    pub pool_token_bits: u32,
}

impl UnitParams {
    pub fn new(d: &Design) -> Self {
        let lanes = AV_REQUANT_LANES;
        UnitParams {
            residual_ybits: if d.out_signed() { d.obits } else { 32 },
            gelu_ibits: if d.out_signed() { d.obits } else { 16 },
            gelu_latency: gelu_latency(d.abits),
            gelu_load_beats: gelu_load_beats(d.abits),
            av_requant_lanes: lanes,
            av_groups: d.cols / lanes,
            av_latency: av_requant_latency(d.cols / lanes),
            ln_lanes: LN_LANES,
            ln_groups: d.cols / LN_LANES,
            ln_max_dim: LN_MAX_DIM,
            ln_dim_bits: ln_dim_bits(LN_MAX_DIM, d.cols),
            ln_row_overhead: LN_ROW_OVERHEAD,
            softmax_lanes: SOFTMAX_LANES,
            softmax_rowmax: SOFTMAX_ROWMAX,
            pool_token_bits: POOL_TOKEN_BITS,
        }
    }
}

/// `repq_gelu`'s pipeline depth: one input register, `abits` search steps, one sum.
pub fn gelu_latency(abits: u32) -> u32 {
    abits + 2
}

/// `repq_gelu`'s table-load beats: `B`, then `2^abits - 1` rises and as many falls.
pub fn gelu_load_beats(abits: u32) -> u32 {
    (2 << abits) - 1
}

/// `repq_av_requant`'s latency with `groups = C / RQ_LANES` cycles per beat: the group register,
/// `groups - 1` more groups, [`REQUANT_LATENCY`], and the FIFO's write and registered read.
pub fn av_requant_latency(groups: u32) -> u32 {
    1 + (groups - 1) + REQUANT_LATENCY + 2
}

/// Bits of `repq_layernorm`'s `dim` port and channel counters for a row buffer of `max_dim`
/// channels and `C = cols` lanes: every channel index of a whole number of beats, plus one more
/// group, fits.
pub fn ln_dim_bits(max_dim: u32, cols: u32) -> u32 {
    let top = max_dim.div_ceil(cols) * cols + cols;
    32 - top.leading_zeros()
}

/// Cycles of one `repq_layernorm` row of `dim` channels with `lanes` normalize lanes, every
/// stream always valid and ready: `B` beats in, the squares and normalize passes of `B C / U`
/// cycles each, and [`LN_ROW_OVERHEAD`] (`B = ceil(D / C)`).
pub fn layernorm_row_cycles(cols: u32, lanes: u32, dim: u64) -> u64 {
    let beats = dim.div_ceil(u64::from(cols));
    let groups = u64::from(cols / lanes);
    beats + 2 * beats * groups + u64::from(LN_ROW_OVERHEAD)
}
