//! The cycle model of `repq_vit`, the command-driven engine (docs/accelerator.md): the cycles of
//! a command list on a memory with a fixed read latency and no back-pressure (the harness's
//! `+latency=L` mode, `repq-hw verify --end-to-end --stall-free L`), found by replaying the
//! sequencer and the two DMA channels of `repq_vit.v`, `repq_vit_rd.v` and `repq_vit_wr.v` beat
//! by beat.
//!
//! Cycle `c` is the clock period before rising edge `c + 1`; a register written in cycle `c` is
//! seen in cycle `c + 1`. Cycle 0 is the one in which the fetch of command 0 issues its read
//! address. The memory answers an address in cycle `a` with its first word in cycle `a + L`, one
//! word per cycle, bursts in order; write addresses and words are always accepted, and the write
//! response comes the cycle after a burst's last word.
//!
//! Replayed from the RTL: command fetch, `JOB` and `WRITE` issue, `SYNC` on the write channel,
//! the read channel's bursts (one per beat, at most 4 beats requested and not taken), the write
//! channel's bursts (a beat taken only after the previous burst's address and words were
//! accepted), the copy FIFO and the residual unit between the two channels. The units are
//! modelled by when they take read beats and offer write beats ([`Pace`], and the `WRITE`
//! sources): the row units (LayerNorm, softmax) row by row, the key sum, the A x V feeder key by
//! key, `repq_top`'s and `repq_gelu`'s output latencies; every other port takes a beat as soon as
//! the read FIFO offers it, and a `JOB` finds its unit idle (the compiler's `SYNC`s see to
//! that). docs/performance.md ("The engine") lists the rules and the runs they were checked on
//! (`tests/vit_e2e.rs` requires equality with Verilator's count and every fetch cycle).

use crate::error::{Error, Result};
use crate::rtl::Design;
use crate::rtl::config::SHIFT_AV_LATENCY;
use crate::rtl::units::{
    AV_REQUANT_LANES, LN_LANES, LN_ROW_OVERHEAD, ROWDIV_LATENCY, SOFTMAX_LANES,
    SOFTMAX_ROW_OVERHEAD, av_requant_latency, gelu_latency,
};
use crate::rtl::vit::VitParams;

const OP_JOB: u32 = 1;
const OP_READ: u32 = 2;
const OP_WRITE: u32 = 3;
const OP_SYNC: u32 = 4;
const OP_END: u32 = 5;
const PORT_PRM: u32 = 0;
const PORT_WGT: u32 = 1;
const PORT_ACT: u32 = 2;
const PORT_RES: u32 = 3;
const PORT_TBL: u32 = 4;
const PORT_COPY: u32 = 5;
const PORT_LN_PRM: u32 = 6;
const PORT_LN_X: u32 = 7;
const PORT_KSUM: u32 = 8;
const PORT_KT: u32 = 9;
const PORT_SMZ: u32 = 10;
const PORT_V: u32 = 11;
const PORT_CODE: u32 = 12;
const PORT_LAST: u32 = 12;
const SRC_TOP: u32 = 0;
const SRC_RES: u32 = 1;
const SRC_GELU: u32 = 2;
const SRC_COPY: u32 = 3;
const UNIT_LN: u32 = 1;
const UNIT_ATT_A: u32 = 2;
const UNIT_SM: u32 = 4;
const UNIT_AVR: u32 = 5;
/// `repq_logcode`'s pipeline stages (behind `repq_softmax`).
const LOGCODE_STAGES: u64 = 3;
const SRC_LAST: u32 = 6;
/// Beats the read channel requests ahead of its consumer (`repq_vit_rd`'s `FIFO_DEPTH`).
const RD_AHEAD: usize = 4;
/// The copy FIFO of `repq_vit_wsel`.
const COPY_DEPTH: usize = 4;

/// Where the cycles of a command list go.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EngineCycles {
    /// The engine's `CYCLES` register at the end: from the cycle after the start write to the
    /// cycle after `END`.
    pub cycles: u64,
    /// The cycle (counted as the module doc says) each command's fetch issues its address.
    pub fetch_at: Vec<u64>,
    /// Where the cycles go; the four add up to `cycles`. `overhead`: the fixed `L + 9` cycles
    /// of every command (`S_FETCH`; `L + 6` in `S_FETCH_WAIT`: the address, `L`, 4 words, 2
    /// through the read FIFO; `EXEC`; `COMPLETE`). `read_memory`: `READ` transfers as long as the memory makes them (every port
    /// taking each beat at once); `read_units`: what a port's unit adds to them by taking beats
    /// more slowly. `write_wait`: `SYNC` (and a `WRITE` finding the channel busy) waiting for
    /// the write channel to drain.
    pub overhead: u64,
    pub read_memory: u64,
    pub read_units: u64,
    pub write_wait: u64,
    /// 8-byte words read (commands included) and written.
    pub read_words: u64,
    pub write_words: u64,
    pub commands: u64,
}

/// The write transfer in progress: when its next beat can be taken.
#[derive(Clone, Debug)]
struct Writer {
    src: u32,
    words: u64,
    beats: u64,
    /// Beats taken so far, and the cycle the last was taken.
    taken: u64,
    last_take: Option<u64>,
    /// The first cycle a beat can be taken (the cycle after the `WRITE` left `EXEC`).
    from: u64,
    /// Take cycles of the beats taken so far (the copy FIFO's credits need the last few).
    takes: Vec<u64>,
    /// The cycles the source offers its next beats, where a unit paces them (LayerNorm,
    /// softmax, A x V); other sources offer a beat as soon as the channel can take it.
    offers: std::collections::VecDeque<u64>,
}

impl Writer {
    /// Takes the next beat, offered from cycle `valid`; returns the take cycle.
    fn take(&mut self, valid: u64) -> u64 {
        let mut t = valid.max(self.from);
        if let Some(l) = self.last_take {
            t = t.max(l + self.words + 1);
        }
        self.last_take = Some(t);
        self.taken += 1;
        self.takes.push(t);
        t
    }

    /// The first cycle the channel is idle (`busy` low) once every beat was taken: the last
    /// burst's words go out in the `words` cycles after its take, its response the cycle after.
    fn idle_from(&mut self) -> u64 {
        while self.taken < self.beats {
            let o = self.offers.pop_front().unwrap_or(0);
            self.take(o);
        }
        match self.last_take {
            Some(t) => t + self.words + 2,
            None => self.from,
        }
    }
}

fn field(c: &[u32; 8]) -> (u32, u32, u32) {
    (c[0] & 0xff, (c[0] >> 8) & 0xff, (c[0] >> 16) & 0xff)
}

fn beats(c: &[u32; 8]) -> u64 {
    u64::from(c[2] & 0xffff) * u64::from(c[2] >> 16) * u64::from(c[3] & 0xffff)
}

fn bad(i: usize, what: &str) -> Error {
    Error::Invalid(format!(
        "engine cycle model: command {i} {what}; the list must come from the accel compiler \
         (`repq-hw program`)"
    ))
}

/// The cycles `d`'s engine takes for the command list `cmds` (32-byte commands as `u32` words,
/// ending with `END`) on the stall-free memory with read latency `latency` (>= 1) cycles.
/// Errors: a design without the engine, latency 0, a command the engine would refuse, no `END`.
pub fn engine_cycles(d: &Design, cmds: &[[u32; 8]], latency: u32) -> Result<EngineCycles> {
    let v = VitParams::new(d).ok_or_else(|| {
        Error::Invalid(format!(
            "engine cycle model: a {}x{} design with {}-bit output lanes has no repq_vit; use \
             rows and columns that are powers of two >= 8 and 32-bit output lanes",
            d.rows, d.cols, d.obits
        ))
    })?;
    if latency == 0 {
        return Err(Error::Invalid(
            "engine cycle model: read latency 0; the memory answers an address at the earliest              in the next cycle, give 1 or more"
                .into(),
        ));
    }
    let l = u64::from(latency);
    let port_words = |p: u32| -> u64 {
        u64::from(match p {
            PORT_PRM => v.prm_words,
            PORT_WGT => v.wgt_words,
            PORT_ACT | PORT_KSUM | PORT_KT => v.act_words,
            PORT_TBL => 1,
            PORT_LN_PRM => 2,
            PORT_V => v.code_words,
            _ => v.res_words,
        })
    };
    let cols = u64::from(d.cols);
    // Unit state set by JOBs: LayerNorm's D, the attention's tokens, the softmax row length.
    let (mut ln_dim, mut tokens, mut sm_row_len) = (1u64, 1u64, 1u64);
    // The cycles the last `READ` into repq_top's s_act handed over its rows.
    let mut act_pops: Vec<u64> = Vec::new();
    // The cycle from which repq_top's current weight bank is loaded (its first row can go in).
    let mut wgt_loaded = 0u64;
    let mut out = EngineCycles::default();
    let mut writer: Option<Writer> = None;
    // The fetch of command `i` issues its address in cycle `a`.
    let mut a = 0u64;
    for (i, c) in cmds.iter().enumerate() {
        out.fetch_at.push(a);
        out.commands += 1;
        out.read_words += 4;
        // S_FETCH is cycle a - 1; the 4 words arrive in a + L .. a + L + 3, the beat leaves the
        // read FIFO in a + L + 5 and the command is in EXEC from a + L + 6.
        let x = a + l + 6;
        out.overhead += l + 9;
        let (op, port, eb) = field(c);
        // The cycle the command leaves EXEC or READ_WAIT (COMPLETE follows, then S_FETCH).
        let done = match op {
            OP_JOB => {
                if port > UNIT_AVR {
                    return Err(bad(i, "starts a unit the engine does not have"));
                }
                match port {
                    UNIT_LN => ln_dim = u64::from(c[1]),
                    UNIT_ATT_A => tokens = u64::from(c[6]),
                    UNIT_SM => sm_row_len = u64::from(c[1]),
                    _ => {}
                }
                x
            }
            OP_WRITE => {
                if port > SRC_LAST || (eb != 1 && eb != 4) {
                    return Err(bad(i, "is a WRITE the engine refuses"));
                }
                let free = writer.as_mut().map_or(x, |w| w.idle_from().max(x));
                out.write_wait += free - x;
                let words = u64::from(if eb == 4 { v.res_words } else { v.code_words });
                let n = beats(c);
                out.write_words += n * words;
                writer = Some(Writer {
                    src: port,
                    words,
                    beats: n,
                    taken: 0,
                    last_take: None,
                    from: free + 1,
                    takes: Vec::new(),
                    offers: Default::default(),
                });
                if port == SRC_TOP {
                    // repq_top's output rows of the N tile: a row of the last K tile is issued
                    // the cycle it is taken (the array never makes the engine's reads wait, the
                    // module doc says when) and leaves output_latency cycles later.
                    if let Some(w) = writer.as_mut() {
                        let o = u64::from(d.output_latency());
                        w.offers.extend(act_pops.iter().map(|p| p + o));
                    }
                }
                if port == SRC_GELU {
                    // repq_gelu starts on repq_top's outputs once the channel is busy; its first
                    // code leaves its pipeline gelu_latency cycles later.
                    if let Some(w) = writer.as_mut() {
                        w.offers
                            .push_back(free + 1 + u64::from(gelu_latency(d.abits)));
                    }
                }
                free
            }
            OP_SYNC => {
                let free = writer.as_mut().map_or(x, |w| w.idle_from().max(x));
                out.write_wait += free - x;
                free
            }
            OP_READ => {
                if port > PORT_LAST {
                    return Err(bad(i, "reads into a port the engine does not have"));
                }
                let n = beats(c);
                let w = port_words(port);
                out.read_words += n * w;
                let coupled = writer.as_ref().map(|w| w.src);
                let pace = match (port, coupled) {
                    (PORT_COPY, Some(SRC_COPY)) => Pace::Copy,
                    (PORT_RES, Some(SRC_RES)) => Pace::Residual,
                    (PORT_LN_X, _) => {
                        let b = ln_dim.div_ceil(cols);
                        let g = cols / u64::from(LN_LANES);
                        Pace::Rows {
                            per_row: u64::from(c[2] & 0xffff),
                            gap: 2 * b * g + u64::from(LN_ROW_OVERHEAD) + 1,
                            // The next row is taken the cycle after the last codes left.
                            out: 2 * b * g + u64::from(LN_ROW_OVERHEAD),
                            g,
                        }
                    }
                    (PORT_SMZ, _) => {
                        let b = sm_row_len.div_ceil(cols);
                        let g = cols / u64::from(SOFTMAX_LANES);
                        Pace::Rows {
                            per_row: u64::from(c[2] & 0xffff),
                            gap: 2 * b * g + u64::from(SOFTMAX_ROW_OVERHEAD) + 1,
                            // The next row is taken once DIV has read the buffer; the last
                            // beat is then still in the divider and repq_logcode.
                            out: 2 * b * g
                                + u64::from(SOFTMAX_ROW_OVERHEAD)
                                + u64::from(ROWDIV_LATENCY)
                                + LOGCODE_STAGES,
                            g,
                        }
                    }
                    (PORT_ACT, _) => Pace::Act { from: wgt_loaded },
                    (PORT_KSUM, _) => Pace::KeySum {
                        per_key: u64::from(c[2] & 0xffff),
                    },
                    (PORT_CODE, _) => Pace::Keys {
                        tokens,
                        c: cols,
                        out: u64::from(SHIFT_AV_LATENCY)
                            + u64::from(av_requant_latency(d.cols / AV_REQUANT_LANES)),
                    },
                    _ => Pace::Free,
                };
                let (end, pops) = read(x, n, w, l, pace, writer.as_mut());
                match port {
                    PORT_ACT => act_pops = pops,
                    // repq_top's weight walk: the beats as they come, then a zero row per cycle
                    // up to R; the bank is ready the cycle after.
                    PORT_WGT => wgt_loaded = end + u64::from(d.rows).saturating_sub(n) + 1,
                    // the key transposer hands its R weight beats over one per cycle once it
                    // holds its C keys.
                    PORT_KT => wgt_loaded = end + u64::from(d.rows) + 1,
                    _ => {}
                }
                let memory = match pace {
                    Pace::Free => end,
                    _ => read(x, n, w, l, Pace::Free, None).0,
                };
                out.read_memory += memory - x + 1;
                out.read_units += end - memory;
                // busy falls the cycle after the last pop; READ_WAIT sees it then.
                end + 1
            }
            OP_END => {
                // EXEC in x, DONE in x + 1, IDLE from x + 2: CYCLES counts x + 3 cycles from
                // the start write's cycle (cycle -2).
                out.cycles = x + 3;
                return Ok(out);
            }
            _ => return Err(bad(i, "has an op the engine refuses")),
        };
        // COMPLETE in done + 1, S_FETCH in done + 2, the next address in done + 3.
        a = done + 3;
    }
    Err(Error::Invalid(
        "engine cycle model: the command list has no END; finish it with the accel compiler".into(),
    ))
}

/// How a read port takes beats (the module doc says which are exact).
#[derive(Clone, Copy, Debug)]
enum Pace {
    /// Whenever the read FIFO offers one.
    Free,
    /// The copy FIFO in front of the write channel (`repq_vit_wsel`).
    Copy,
    /// `repq_residual`'s output register in front of the write channel.
    Residual,
    /// A row unit (`repq_layernorm`, `repq_softmax`): rows of `per_row` beats, one beat per
    /// cycle within a row, a row's first beat `gap` cycles after the previous row's last;
    /// its output beat `b` of a row offered to the write channel `out - (per_row - 1 - b) g`
    /// cycles after the row's last beat.
    Rows {
        per_row: u64,
        gap: u64,
        out: u64,
        g: u64,
    },
    /// The A x V feeder: rows of `tokens` keys in beats of `c` keys, one key per cycle into
    /// `repq_shift_av`, a new beat taken once the previous one's keys are all out; each row's
    /// output offered `out` cycles after its last key.
    Keys { tokens: u64, c: u64, out: u64 },
    /// `repq_top.s_act`: the first row once the pass's weights are all in (cycle `from`).
    Act { from: u64 },
    /// The key sum: `per_key` beats per key; after a key's last beat its parameter beat is
    /// handed to `repq_top` (taken at once) before the next beat is taken.
    KeySum { per_key: u64 },
}

/// One `READ` of `n` beats of `w` words started in EXEC cycle `x`, paced by `pace`; returns the
/// cycle its last beat is taken by the port.
fn read(
    x: u64,
    n: u64,
    w: u64,
    l: u64,
    pace: Pace,
    mut wr: Option<&mut Writer>,
) -> (u64, Vec<u64>) {
    let mut pops: Vec<u64> = Vec::with_capacity(n as usize);
    let (mut last_ar, mut last_r_end, mut last_pop) = (x, 0u64, 0u64);
    // Keys: the cycle the feeder can take its next beat.
    let mut feeder_free = 0u64;
    for i in 0..n as usize {
        // An address is issued while fewer than RD_AHEAD beats are requested and not taken.
        let mut ar = last_ar + 1;
        if i >= RD_AHEAD {
            ar = ar.max(pops[i - RD_AHEAD] + 1);
        }
        last_ar = ar;
        let first = (ar + l).max(if i > 0 { last_r_end + 1 } else { 0 });
        let r_end = first + w - 1;
        last_r_end = r_end;
        // Pushed into the FIFO in r_end, offered from r_end + 2 (the FIFO's output register is
        // refilled in the cycle the previous beat is taken).
        let mut offer = r_end + 2;
        if i > 0 {
            offer = offer.max(last_pop + 1);
        }
        let pop = match (pace, wr.as_deref_mut()) {
            (Pace::Copy, Some(wr)) => {
                // The copy FIFO accepts while fewer than COPY_DEPTH beats are in it.
                let mut p = offer;
                if i >= COPY_DEPTH {
                    p = p.max(wr.takes[i - COPY_DEPTH] + 1);
                }
                // Offered to the writer two cycles after the push, once the previous left.
                let prev = wr.last_take.map_or(0, |t| t + 1);
                wr.take((p + 2).max(prev));
                p
            }
            (Pace::Residual, Some(wr)) => {
                // repq_residual's output register: a new sum enters when it is empty or being
                // taken by the writer.
                let p = offer.max(wr.last_take.unwrap_or(0));
                wr.take(p + 1);
                p
            }
            (
                Pace::Rows {
                    per_row,
                    gap,
                    out,
                    g,
                },
                wr,
            ) => {
                let b = i as u64 % per_row;
                let p = if b == 0 && i > 0 {
                    offer.max(last_pop + gap)
                } else {
                    offer
                };
                if let (true, Some(wr)) = (b == per_row - 1, wr) {
                    for k in 0..per_row {
                        wr.offers.push_back(p + out - (per_row - 1 - k) * g);
                    }
                }
                p
            }
            (Pace::Act { from }, _) if i == 0 => offer.max(from),
            (Pace::KeySum { per_key }, _) => {
                if i > 0 && (i as u64).is_multiple_of(per_key) {
                    offer.max(last_pop + 2)
                } else {
                    offer
                }
            }
            (Pace::Keys { tokens, c, out }, wr) => {
                let b = i as u64 % tokens.div_ceil(c);
                let keys = c.min(tokens - b * c);
                let p = offer.max(feeder_free);
                // Loaded in p, keys leave in p + 1 ..= p + keys, taken again from p + keys + 1.
                feeder_free = p + keys + 1;
                if let (true, Some(wr)) = (b == tokens.div_ceil(c) - 1, wr) {
                    wr.offers.push_back(p + keys + out);
                }
                p
            }
            _ => offer,
        };
        last_pop = pop;
        pops.push(pop);
    }
    (last_pop, pops)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtl::{GenConfig, PeShape};

    fn design() -> Design {
        GenConfig {
            out_bits: Some(32),
            ..GenConfig::new(PeShape { rows: 8, cols: 8 })
        }
        .validate()
        .unwrap()
    }

    const END: [u32; 8] = [OP_END, 0, 0, 0, 0, 0, 0, 0];

    fn read(port: u32, beats: u32, stride: u32) -> [u32; 8] {
        [OP_READ | port << 8, 0, beats | 1 << 16, 1, stride, 0, 0, 0]
    }

    #[test]
    fn a_job_costs_the_fixed_command_cycles() {
        let d = design();
        for l in [1, 8, 16] {
            let e = engine_cycles(&d, &[[OP_JOB, 1, 8, 8, 0, 0, 0, 0], END], l).unwrap();
            assert_eq!(e.cycles, 2 * (u64::from(l) + 9));
            assert_eq!(e.fetch_at, vec![0, u64::from(l) + 9]);
            assert_eq!(e.overhead, e.cycles);
        }
    }

    #[test]
    fn four_beats_in_flight_bound_a_long_read() {
        // Activation beats of 1 word: at L = 1 the channel streams one per cycle; at L = 16
        // four beats per L + 3 cycles (address, L, word, FIFO and its output register).
        let d = design();
        for (l, per4) in [(1u32, 4u64), (16, 19)] {
            let e = engine_cycles(&d, &[read(PORT_ACT, 400, 8), END], l).unwrap();
            let body = e.read_memory;
            assert!(
                (100 * per4..100 * per4 + 30).contains(&body),
                "L = {l}: {body} cycles for 400 beats"
            );
            assert_eq!(e.read_units, 0);
            assert_eq!(e.overhead + e.read_memory + e.write_wait, e.cycles);
            assert_eq!(e.read_words, 400 + 2 * 4);
        }
    }

    #[test]
    fn a_copy_is_paced_by_the_write_channel() {
        // s32 beats of 4 words: the write channel takes one per 5 cycles, the copy FIFO holds 4.
        let d = design();
        let n = 200u32;
        let cmds = [
            [
                OP_WRITE | SRC_COPY << 8 | 4 << 16,
                0,
                n | 1 << 16,
                1,
                32,
                0,
                0,
                0,
            ],
            read(PORT_COPY, n, 32),
            [OP_SYNC, 0, 0, 0, 0, 0, 0, 0],
            END,
        ];
        let e = engine_cycles(&d, &cmds, 1).unwrap();
        let span = e.read_memory + e.read_units + e.write_wait;
        assert!(
            (5 * u64::from(n)..5 * u64::from(n) + 40).contains(&span),
            "{e:?}"
        );
        assert!(e.read_units > 0);
        assert_eq!(e.write_words, 4 * u64::from(n));
    }

    #[test]
    fn lists_the_engine_refuses_are_errors() {
        let d = design();
        assert!(engine_cycles(&d, &[[OP_JOB, 1, 1, 1, 0, 0, 0, 0]], 8).is_err());
        assert!(engine_cycles(&d, &[[9, 0, 0, 0, 0, 0, 0, 0], END], 8).is_err());
        assert!(engine_cycles(&d, &[read(13, 1, 8), END], 8).is_err());
        assert!(engine_cycles(&d, &[[OP_JOB | 6 << 8, 1, 1, 1, 0, 0, 0, 0], END], 8).is_err());
        assert!(engine_cycles(&d, &[END], 0).is_err());
        let narrow = GenConfig::new(PeShape { rows: 4, cols: 4 })
            .validate()
            .unwrap();
        assert!(engine_cycles(&narrow, &[END], 8).is_err());
    }
}
