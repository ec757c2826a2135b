//! The standalone units after the array (docs/arithmetic.md U7, U8 and the A x V
//! requantization): `repq_gelu`, `repq_residual`, `repq_av_requant`. Their parameters derived
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
    /// `repq_softmax`'s exponent/divide lanes and row buffer length.
    pub softmax_lanes: u32,
    pub softmax_rowmax: u32,
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
            softmax_lanes: SOFTMAX_LANES,
            softmax_rowmax: SOFTMAX_ROWMAX,
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
