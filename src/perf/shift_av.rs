//! Cycles of attention x V on the shift unit `repq_shift_av` (U4).
//!
//! The unit has `C` value lanes (one per array column) and takes one beat per key: the key's
//! log2 code and the value operands of `C` channels. One output row (one query, `C` channels)
//! is a run of `keys` beats; with the output always ready the unit never stalls, so beats are
//! accepted back to back, and the last row is valid [`SHIFT_AV_LATENCY`] cycles after its last
//! beat. A head with `D_h` channels needs `ceil(D_h / C)` lane groups, each a pass over all
//! queries.

use crate::rtl::Design;
use crate::rtl::config::SHIFT_AV_LATENCY;

/// Cycles of `A x V` for one head (`queries x keys` probabilities times `keys x d_h` values) on
/// the shift unit of `d`: `ceil(d_h / C) * queries * keys` beats back to back, plus
/// [`SHIFT_AV_LATENCY`] for the last row, counted from the first beat's cycle to the cycle after
/// the last output row was taken (the convention of [`super::job_cycles`]). Exact with the input
/// always valid and the output always ready (`sim/shift_av.cpp` prints the RTL's count, which
/// `repq-hw verify` and tests/perf_rtl.rs check against this); 0 when a size is 0.
pub fn av_cycles(d: &Design, queries: u64, keys: u64, d_h: u64) -> u64 {
    if queries == 0 || keys == 0 || d_h == 0 {
        return 0;
    }
    av_beats(d, queries, keys, d_h) + u64::from(SHIFT_AV_LATENCY)
}

/// Beats of one head: one per key, per query, per group of `C` channels.
pub fn av_beats(d: &Design, queries: u64, keys: u64, d_h: u64) -> u64 {
    d_h.div_ceil(u64::from(d.cols)) * queries * keys
}
