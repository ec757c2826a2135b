//! Cycles of one `M x K x N` job on `repq_top`, derived from the top's scheduling.
//!
//! # The schedule
//!
//! The job is cut into M tiles of `TM` rows (`mr = min(TM, M - m0)`), N tiles of `C` columns and
//! K tiles of `R` depth indices; one *pass* is one K tile of one `(m0, n0)` tile, and passes run
//! in the order `m0, n0, k0` (innermost). Cycle 0 is the cycle after the `start` pulse (the
//! sizes are latched then); the three walkers run from cycle 1. With every stream always
//! valid/ready, and `A = R + C + 2` ([`Design::array_latency`]), `G = C / U`
//! ([`Design::requant_groups`]):
//!
//! * **Weights** (double-buffered, bank = pass parity): loading pass `q` takes `R` cycles (rows
//!   beyond `kr` are zero rows, a cycle each) and starts at
//!   `W_q = max(W_{q-1} + R, L_{q-2} + A + 1)`, `W_0 = 1`, where `L_q` is the cycle pass `q`'s
//!   last row is issued: its bank is free once pass `q - 2` has left the array. Pass `q` may
//!   issue from `W_q + R` (stall rule (a)).
//! * **Parameters** (double-buffered per `(m0, n0)` tile `t`): loading takes `C` cycles and
//!   starts at `P_t = max(P_{t-1} + C, E_{t-2} + A + g + 1)`, `P_0 = 1`, where `E_t` is the last
//!   issue of tile `t` and `g = G` when `G > 1` (the held row is fed in `G` groups), else 0: the
//!   bank is released when that row's last group enters requantization. The tile's first pass
//!   may issue from `P_t + C`.
//! * **Issue**, one activation row per cycle, in order: the first row of pass `q` at
//!   `S_q >= L_{q-1} + 1`; a pass after the first of its tile re-reads the partial sums its
//!   predecessor writes back `A` cycles after issue, so its row `i` waits for row `i` of the
//!   previous pass: `S_q >= S_{q-1} + A + 1` (stall rule (b); that pass issued back to back, so
//!   the first row binds); rows of the last K tile are `G` cycles apart when requantization
//!   is shared (`G > 1`), also across tiles (a cool-down counter), so the first such row waits
//!   `G` cycles after the previous tile's last one. Every other row follows the one before it
//!   immediately: `L_q = S_q + (mr - 1)` (`(mr - 1) G` for the last K tile).
//! * **Output credits** (stall rule (c)) never bind here: a last-K-tile row returns its credit
//!   [`Design::output_latency`] `+ 1` cycles after its issue, and the FIFO depth is larger than
//!   that latency.
//! * The job ends when the last row (the last tile's last pass) leaves the output FIFO,
//!   [`Design::output_latency`] cycles after its issue; `done` is high in the next cycle, so
//!   `cycles = L_last + output_latency + 1`.
//!
//! Nothing else depends on the data or on `kr`, `nr`: every tile with the same `mr` behaves
//! alike, so after a few tiles the schedule repeats (with period 1 or 2 tiles: the weight bank
//! parity) and the model skips ahead over the periodic part, exactly.
//!
//! [`Design::array_latency`]: crate::rtl::Design::array_latency
//! [`Design::requant_groups`]: crate::rtl::Design::requant_groups
//! [`Design::output_latency`]: crate::rtl::Design::output_latency

use crate::rtl::Design;

/// The constants of the schedule for one design.
#[derive(Clone, Copy, Debug)]
struct Consts {
    r: i64,
    c: i64,
    /// Array latency A.
    a: i64,
    /// Cycles per output row in requantization, C / U.
    g: i64,
    /// Cycles from a tile's last issue to the release of its parameter bank, minus one.
    release: i64,
}

impl Consts {
    fn of(d: &Design) -> Self {
        let g = i64::from(d.requant_groups());
        let a = i64::from(d.array_latency());
        Consts {
            r: d.rows.into(),
            c: d.cols.into(),
            a,
            g,
            release: a + if g > 1 { g } else { 0 },
        }
    }
}

/// The scheduler's state between passes (absolute cycles; `None` where the event has not
/// happened yet, which never constrains anything).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct State {
    /// W of the previous pass (`1 - R` before the first).
    w_prev: i64,
    /// L of the previous pass and of the one before it.
    l1: Option<i64>,
    l2: Option<i64>,
    /// S of the previous pass.
    s_prev: i64,
    /// P of the previous tile (`1 - C` before the first) and of the current one.
    p_prev: i64,
    p_cur: i64,
    /// E of the previous tile and of the one before it.
    e1: Option<i64>,
    e2: Option<i64>,
    /// The last issue of the previous last-K-tile pass (the requantization cool-down).
    lastk: Option<i64>,
}

fn max_opt(x: i64, y: Option<i64>) -> i64 {
    y.map_or(x, |y| x.max(y))
}

impl State {
    fn initial(k: &Consts) -> Self {
        State {
            w_prev: 1 - k.r,
            l1: None,
            l2: None,
            s_prev: 0,
            p_prev: 1 - k.c,
            p_cur: 0,
            e1: None,
            e2: None,
            lastk: None,
        }
    }

    /// Every time moved by `d` cycles.
    fn shifted(&self, d: i64) -> Self {
        let o = |x: Option<i64>| x.map(|v| v + d);
        State {
            w_prev: self.w_prev + d,
            l1: o(self.l1),
            l2: o(self.l2),
            s_prev: self.s_prev + d,
            p_prev: self.p_prev + d,
            p_cur: self.p_cur + d,
            e1: o(self.e1),
            e2: o(self.e2),
            lastk: o(self.lastk),
        }
    }

    /// The state relative to its previous weight load, and that reference.
    fn normalized(&self) -> (Self, i64) {
        (self.shifted(-self.w_prev), self.w_prev)
    }

    /// One pass of `mr` rows: the first of its tile and/or the last (K) of its tile.
    fn pass(&mut self, k: &Consts, mr: i64, first: bool, last: bool) {
        if first {
            self.p_cur = max_opt(self.p_prev + k.c, self.e2.map(|e| e + k.release + 1));
        }
        let w = max_opt(self.w_prev + k.r, self.l2.map(|l| l + k.a + 1));
        let mut s = max_opt(w + k.r, self.l1.map(|l| l + 1));
        if first {
            s = s.max(self.p_cur + k.c);
        } else {
            s = s.max(self.s_prev + k.a + 1);
        }
        let stride = if last { k.g } else { 1 };
        if last && k.g > 1 {
            s = max_opt(s, self.lastk.map(|l| l + k.g));
        }
        let l = s + (mr - 1) * stride;
        self.w_prev = w;
        self.l2 = self.l1;
        self.l1 = Some(l);
        self.s_prev = s;
        if last {
            self.lastk = Some(l);
            self.e2 = self.e1;
            self.e1 = Some(l);
            self.p_prev = self.p_cur;
        }
    }

    /// One `(m0, n0)` tile: `kt` passes of `mr` rows.
    fn tile(&mut self, k: &Consts, mr: i64, kt: u64) {
        for i in 0..kt {
            self.pass(k, mr, i == 0, i + 1 == kt);
        }
    }
}

/// Longest period (in tiles) looked for when skipping ahead.
const MAX_PERIOD: usize = 4;

/// Applies `step` to `state` `n` times. Once the state repeats up to a shift in time (the steps
/// are shift-invariant: only differences of times matter), the remaining whole periods are
/// skipped by shifting the state.
fn repeat(state: &mut State, n: u64, mut step: impl FnMut(&mut State)) {
    let mut history: Vec<(State, i64)> = Vec::with_capacity(MAX_PERIOD);
    let mut done = 0u64;
    let mut skipped = false;
    while done < n {
        step(state);
        done += 1;
        if skipped {
            continue;
        }
        let (norm, base) = state.normalized();
        if let Some(p) = (1..=history.len()).find(|&p| history[history.len() - p].0 == norm) {
            let (_, then) = history[history.len() - p];
            let periods = (n - done) / p as u64;
            *state = state.shifted((base - then) * periods as i64);
            done += periods * p as u64;
            skipped = true;
            continue;
        }
        if history.len() == MAX_PERIOD {
            history.remove(0);
        }
        history.push((norm, base));
    }
}

/// Cycles `repq_top` of design `d` takes for an `m x k x n` job with every stream always
/// valid/ready: from the cycle after the `start` pulse to the cycle `done` is high, as the
/// `repq_top` harness `sim/top.cpp` counts it ("N cycles without stalls"). Exact for every size
/// the top accepts (1 ..= 65535 each; checked against Verilator in tests/perf_rtl.rs and by
/// `repq-hw verify`); 0 when a size is 0 (the top then completes at once, `done` is high in the
/// first cycle). The sizes are not limited to the control interface's 16 bits here, so a larger
/// job is modelled as if the inputs were wide enough.
pub fn job_cycles(d: &Design, m: u64, k: u64, n: u64) -> u64 {
    if m == 0 || k == 0 || n == 0 {
        return 0;
    }
    let c = Consts::of(d);
    let tm = u64::from(d.m_tile);
    let kt = k.div_ceil(u64::from(d.rows));
    let nt = n.div_ceil(u64::from(d.cols));
    let (full_m, rest_m) = (m / tm, m % tm);
    let mut s = State::initial(&c);
    // The tile order is m0, n0: all tiles of the full M tiles first, then those of the partial
    // one. Timing depends on mr only.
    repeat(&mut s, full_m * nt, |st| st.tile(&c, tm as i64, kt));
    repeat(&mut s, if rest_m > 0 { nt } else { 0 }, |st| {
        st.tile(&c, rest_m as i64, kt)
    });
    let last = s.l1.expect("at least one pass");
    (last + i64::from(d.output_latency()) + 1) as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtl::{GenConfig, PeShape};

    fn design(r: u32, c: u32, tm: u32, lanes: Option<u32>) -> Design {
        GenConfig {
            m_tile: tm,
            requant_lanes: lanes,
            ..GenConfig::new(PeShape { rows: r, cols: c })
        }
        .validate()
        .unwrap()
    }

    /// The same job, simulated pass by pass without skipping.
    fn plain(d: &Design, m: u64, k: u64, n: u64) -> u64 {
        let c = Consts::of(d);
        let tm = u64::from(d.m_tile);
        let kt = k.div_ceil(u64::from(d.rows));
        let mut s = State::initial(&c);
        for m0 in (0..m).step_by(tm as usize) {
            for _ in 0..n.div_ceil(u64::from(d.cols)) {
                s.tile(&c, (m - m0).min(tm) as i64, kt);
            }
        }
        (s.l1.unwrap() + i64::from(d.output_latency()) + 1) as u64
    }

    #[test]
    fn one_pass_is_load_then_rows_then_latency() {
        let d = design(16, 16, 256, None);
        // Weights and parameters take 16 cycles from cycle 1; rows from cycle 17.
        assert_eq!(
            job_cycles(&d, 1, 16, 16),
            17 + u64::from(d.output_latency()) + 1
        );
        assert_eq!(
            job_cycles(&d, 100, 3, 2),
            17 + 99 + u64::from(d.output_latency()) + 1
        );
        assert_eq!(job_cycles(&d, 0, 3, 2), 0);
    }

    #[test]
    fn skipping_ahead_is_exact() {
        for (r, c, tm, lanes) in [
            (16, 16, 256, None),
            (4, 4, 8, None),
            (3, 5, 4, Some(1)),
            (4, 8, 32, Some(2)),
            (1, 1, 2, None),
            (8, 8, 64, Some(4)),
        ] {
            let d = design(r, c, tm, lanes);
            for &(m, k, n) in &[
                (1, 1, 1),
                (1, 384, 1000),
                (197, 64, 197),
                (197, 384, 1152),
                (300, 50, 70),
                (7, 33, 129),
                (64, 17, 5),
                (513, 9, 40),
            ] {
                assert_eq!(
                    job_cycles(&d, m, k, n),
                    plain(&d, m, k, n),
                    "{r}x{c} tm {tm} lanes {lanes:?}: {m}x{k}x{n}"
                );
            }
        }
    }

    /// The stall-free closed form of docs/performance.md: with one requantization lane per column,
    /// passes of at least `A + R` rows and tiles of at least `A + C` rows, every row follows the
    /// one before it from the first (cycle `max(R, C) + 1`) to the last.
    #[test]
    fn long_passes_run_back_to_back() {
        let mut checked = 0;
        for (r, c, tm) in [(16, 16, 256), (4, 8, 32), (8, 4, 64), (3, 5, 16)] {
            let d = design(r, c, tm, None);
            let a = u64::from(d.array_latency());
            for &(m, k, n) in &[
                (197u64, 384u64, 1152u64),
                (300, 50, 70),
                (513, 9, 40),
                (64, 1, 3),
                (100, 40, 33),
                (256, 64, 64),
                (1000, 30, 30),
            ] {
                let (r, c, tm) = (u64::from(r), u64::from(c), u64::from(tm));
                let kt = k.div_ceil(r);
                let rows = [tm.min(m), m % tm];
                if rows
                    .iter()
                    .any(|&mr| mr > 0 && (mr < a + r || kt * mr < a + c))
                {
                    continue;
                }
                let want = r.max(c) + m * n.div_ceil(c) * kt + u64::from(d.output_latency()) + 1;
                assert_eq!(job_cycles(&d, m, k, n), want, "{r}x{c}: {m}x{k}x{n}");
                checked += 1;
            }
        }
        assert!(checked >= 10, "{checked}");
    }

    #[test]
    fn huge_jobs_are_quick() {
        let d = design(1, 1, 2, None);
        let big = job_cycles(&d, 65535, 65535, 65535);
        // At least one cycle per row per pass.
        assert!(big >= 65535 * 65535 * 65535);
    }
}
