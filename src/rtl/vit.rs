//! `repq_vit`, the command-driven engine around the units (docs/accelerator.md): the beat sizes
//! of its DMA ports, which the command compiler (`crate::accel`) lays memory out for.

use super::config::Design;

/// The engine's top-level module.
pub const VIT_TOP: &str = "repq_vit";
/// Bytes of one AXI data word (the 64-bit bus).
pub const BUS_BYTES: u32 = 8;
/// Bytes of one command.
pub const CMD_BYTES: u32 = 32;

/// Words (8 bytes) per beat of each DMA port of `repq_vit` for a [`Design`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VitParams {
    /// `repq_top.s_prm`: the parameter beat, rounded up to a power of two of words.
    pub prm_words: u32,
    /// `repq_top.s_wgt`: `C` operands of `WOB` bits, rounded up to a power of two of words.
    pub wgt_words: u32,
    /// `repq_top.s_act`: `R` codes, one byte each.
    pub act_words: u32,
    /// `repq_residual.s_res`, the copy path and `s32` writes: `C` lanes of 4 bytes.
    pub res_words: u32,
    /// Code writes: `C` bytes.
    pub code_words: u32,
    /// The widest beat.
    pub max_words: u32,
}

impl VitParams {
    /// The beat sizes of `d`; `None` when the engine does not support the design: rows and
    /// columns must be powers of two of at least 8, output lanes 32 bits, and activation lanes 8
    /// bits (the patch embedding takes the 8-bit input codes; narrower models run on such a
    /// design at run time).
    pub fn new(d: &Design) -> Option<VitParams> {
        let ok = |x: u32| x >= 8 && x.is_power_of_two();
        if !ok(d.rows) || !ok(d.cols) || d.obits != 32 || d.abits != 8 {
            return None;
        }
        let words = |bits: u32| bits.div_ceil(64).next_power_of_two();
        let prm_words = words(d.param_bits());
        let wgt_words = words(d.wgt_bits());
        let act_words = d.rows / 8;
        let res_words = d.cols / 2;
        let code_words = d.cols / 8;
        let max_words = [prm_words, wgt_words, act_words, res_words]
            .into_iter()
            .max()
            .unwrap_or(1);
        if max_words > 15 {
            return None;
        }
        Some(VitParams {
            prm_words,
            wgt_words,
            act_words,
            res_words,
            code_words,
            max_words,
        })
    }
}
