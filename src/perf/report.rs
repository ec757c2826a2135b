//! A workload's cycles on a design: each matmul on its unit, run back to back with no overlap
//! (one job after the other, each from its start to its done).

use crate::rtl::Design;

use super::workload::{Op, Unit};
use super::{
    av_cycles, av_requant_cycles, gelu_cycles, job_cycles, layernorm_cycles, residual_cycles,
    softmax_cycles,
};

/// One matmul's figures.
#[derive(Clone, Debug, PartialEq)]
pub struct OpCycles {
    pub op: Op,
    /// Cycles of one job.
    pub cycles_each: u64,
    /// Cycles of all `count` jobs.
    pub cycles: u64,
    /// MACs (elements) over the unit's capacity in those cycles: `R * C` per cycle on the array,
    /// `C` lanes on the shift unit and the units after it.
    pub utilization: f64,
}

/// A workload's figures.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluated {
    pub ops: Vec<OpCycles>,
    pub array_cycles: u64,
    pub array_macs: u64,
    pub shift_av_cycles: u64,
    pub shift_av_macs: u64,
    /// The row and element units (`repq_layernorm`, `repq_softmax`, `repq_av_requant`,
    /// `repq_gelu`, `repq_residual`): cycles and elements.
    pub units_cycles: u64,
    pub units_elements: u64,
}

impl Evaluated {
    /// Cycles of the whole workload.
    pub fn cycles(&self) -> u64 {
        self.array_cycles + self.shift_av_cycles + self.units_cycles
    }

    /// MACs of the whole workload (the array's and the shift unit's).
    pub fn macs(&self) -> u64 {
        self.array_macs + self.shift_av_macs
    }

    /// Array utilization over the array's own cycles.
    pub fn array_utilization(&self, d: &Design) -> f64 {
        utilization(self.array_macs, array_pes(d), self.array_cycles)
    }

    /// Shift-unit lane utilization over its own cycles.
    pub fn shift_av_utilization(&self, d: &Design) -> f64 {
        utilization(self.shift_av_macs, d.cols.into(), self.shift_av_cycles)
    }
}

fn array_pes(d: &Design) -> u64 {
    u64::from(d.rows) * u64::from(d.cols)
}

/// `macs / (lanes * cycles)`, 0 without cycles.
pub fn utilization(macs: u64, lanes: u64, cycles: u64) -> f64 {
    if cycles == 0 {
        0.0
    } else {
        macs as f64 / (lanes as f64 * cycles as f64)
    }
}

/// Seconds of `cycles` at `clock_mhz`.
pub fn seconds(cycles: u64, clock_mhz: f64) -> f64 {
    cycles as f64 / (clock_mhz * 1e6)
}

/// Cycles and utilization of every op of `ops` on `d`.
pub fn evaluate(d: &Design, ops: &[Op]) -> Evaluated {
    let mut e = Evaluated {
        ops: Vec::with_capacity(ops.len()),
        array_cycles: 0,
        array_macs: 0,
        shift_av_cycles: 0,
        shift_av_macs: 0,
        units_cycles: 0,
        units_elements: 0,
    };
    for op in ops {
        let (each, lanes) = match op.unit {
            Unit::Array => (job_cycles(d, op.m, op.k, op.n), array_pes(d)),
            Unit::ShiftAv => (av_cycles(d, op.m, op.k, op.n), d.cols.into()),
            Unit::AvRequant => (av_requant_cycles(d, op.m, op.k, op.n), d.cols.into()),
            Unit::Gelu => (gelu_cycles(d, op.m, op.n), d.cols.into()),
            Unit::Residual => (residual_cycles(d, op.m, op.n), d.cols.into()),
            Unit::LayerNorm => (layernorm_cycles(d, op.m, op.n), d.cols.into()),
            Unit::Softmax => (softmax_cycles(d, op.m, op.n), d.cols.into()),
            Unit::AvgPool => (
                crate::rtl::units::avgpool_cycles(d.cols, op.m, op.n),
                d.cols.into(),
            ),
        };
        let cycles = each * op.count;
        match op.unit {
            Unit::Array => {
                e.array_cycles += cycles;
                e.array_macs += op.macs();
            }
            Unit::ShiftAv => {
                e.shift_av_cycles += cycles;
                e.shift_av_macs += op.macs();
            }
            Unit::AvRequant
            | Unit::Gelu
            | Unit::Residual
            | Unit::LayerNorm
            | Unit::Softmax
            | Unit::AvgPool => {
                e.units_cycles += cycles;
                e.units_elements += op.macs();
            }
        }
        e.ops.push(OpCycles {
            op: op.clone(),
            cycles_each: each,
            cycles,
            utilization: utilization(op.macs(), lanes, cycles),
        });
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::VitConfig;
    use crate::perf::{layernorm_cycles, softmax_cycles, vit_workload};
    use crate::rtl::{GenConfig, PeShape};

    fn deit_small() -> VitConfig {
        VitConfig {
            img_size: [224, 224],
            patch_size: [16, 16],
            in_chans: 3,
            embed_dim: 384,
            depth: 12,
            num_heads: 6,
            mlp_hidden: 1536,
            num_classes: 1000,
            qkv_bias: true,
            distilled: false,
            ln_eps: 1e-6,
        }
    }

    /// The DeiT-S figures docs/performance.md quotes (16x16 w8a8, 200 MHz): update the document
    /// when the RTL's timing changes.
    #[test]
    fn deit_small_figures_of_the_docs() {
        let d = GenConfig::new(PeShape { rows: 16, cols: 16 })
            .validate()
            .unwrap();
        let ops = vit_workload(&deit_small());
        // patch_embed; per block norm1, qkv, Q K^T, softmax, A x V, its requantization, proj,
        // the residual add, norm2, fc1, GELU, fc2, the residual add; the final norm and the head.
        assert_eq!(ops.len(), 1 + 12 * 13 + 2);
        assert_eq!(
            (ops[0].m, ops[0].k, ops[0].n, ops[0].count),
            (196, 768, 384, 1)
        );
        let head = ops.last().unwrap();
        assert_eq!((head.m, head.k, head.n), (1, 384, 1000));
        let e = evaluate(&d, &ops);
        assert_eq!(e.array_cycles, 17_362_722);
        assert_eq!(e.shift_av_cycles, 11_177_352);
        // LayerNorm of 197 rows of 384: 384 constant beats, then per row 24 beats, 2 x 24 x 16
        // normalize groups and 72 = 170,592; one softmax head of 197 rows of 197 keys: per row
        // 13 beats, 2 x 13 x 16 groups and 26, plus 5 = 89,640; the final norm on one row 1,248.
        assert_eq!(layernorm_cycles(&d, 197, 384), 170_592);
        assert_eq!(softmax_cycles(&d, 197, 197), 89_640);
        // Per block: A x V requantization 75,661, GELU 19,433, two residual additions 4,729
        // each, two LayerNorms, six softmax heads.
        assert_eq!(
            e.units_cycles,
            12 * (75_661 + 19_433 + 2 * 4_729 + 2 * 170_592 + 6 * 89_640) + 1_248
        );
        assert_eq!(e.cycles(), 40_344_234);
        assert_eq!(e.shift_av_macs, 6 * 12 * 197 * 197 * 64);
        assert_eq!(
            e.units_elements,
            12 * 197 * (384 + 1536 + 2 * 384) + 12 * 2 * 197 * 384 + 384 + 12 * 6 * 197 * 197
        );
        assert_eq!(format!("{:.1}", 1.0 / seconds(e.cycles(), 200.0)), "5.0");
        assert_eq!(format!("{:.1}%", 100.0 * e.array_utilization(&d)), "99.4%");
    }

    /// The demo model's figures of docs/performance.md.
    #[test]
    fn demo_figures_of_the_docs() {
        let d = GenConfig::new(PeShape { rows: 16, cols: 16 })
            .validate()
            .unwrap();
        let cfg = crate::demo::model().unwrap().config().unwrap().clone();
        let e = evaluate(&d, &vit_workload(&cfg));
        // Six blocks of two LayerNorms (50 rows of 96: 13,596) and three softmax heads (50 rows
        // of 50 keys: 7,905), the final norm (366), on top of the 42,816 of the other units.
        assert_eq!(layernorm_cycles(&d, 50, 96), 13_596);
        assert_eq!(softmax_cycles(&d, 50, 50), 7_905);
        assert_eq!(e.units_cycles, 42_816 + 6 * (2 * 13_596 + 3 * 7_905) + 366);
        assert_eq!(e.cycles(), 579_352);
        assert_eq!(format!("{:.1}", 1.0 / seconds(e.cycles(), 200.0)), "345.2");
    }
}
