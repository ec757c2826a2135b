//! The compute kernels of the integer simulator, each as an AVX2 kernel and a portable one: the
//! U1 matrix product on operands packed once (at lowering for weights, per head for keys) with
//! its output stage fused ([`OutputStage`]: U2 to codes, to the residual stream with U8, to the
//! U7 table; vector requantization in [`RequantLanes`]), U6 rows ([`SoftmaxRows`]), and U3 + U4
//! rows ([`AvValues`]). Every kernel computes the exact integers of docs/arithmetic.md (the units
//! of [`crate::arith`] stay the reference); they differ only in speed, and the tests check that
//! they agree bit for bit, unit by unit and on a whole model.
//!
//! The matrix product follows the usual register-blocked scheme for `vpmaddwd` (AVX2 has no
//! 8-bit dot product that is exact for `u8 x s9`: `vpmaddubsw` saturates): the stationary operands
//! are packed in panels of [`NR`] columns, each pair of depth indices interleaved per column, so
//! one broadcast pair of activation codes times one 256-bit load gives eight columns' partial
//! sums of two products; [`MR`] activation rows share every operand load. Partial sums are i32
//! within chunks of depth short enough that no lane can overflow whatever the operands (the chunk
//! length is derived from the largest operand magnitude when packing), then added in i64.

use rayon::prelude::*;

use crate::arith::logcode::MBITS;
use crate::arith::requant::round_shift;
use crate::arith::shift_av::attention_row;
use crate::arith::softmax::{EBITS, EF, FloorDiv};
use crate::arith::{LogCode, LogCodeParams, PBITS, Requant, SQRT2_Q15, SoftmaxParams};

/// 256-bit vectors (8 i32 lanes) per panel row.
const NG: usize = 2;
/// Columns per packed panel.
pub const NR: usize = 8 * NG;
/// Activation rows per register tile.
pub const MR: usize = 6;
/// Activation rows per parallel task.
const ROW_BLOCK: usize = 32;
/// Largest activation code the matmul kernels take (`u8` codes widened to i16).
const MAX_CODE: i64 = 255;

/// Which kernels run (all give identical results; tests check it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernel {
    Portable,
    /// AVX2 (with FMA, which CPUs with AVX2 have in practice; both are checked).
    Avx2,
}

impl Kernel {
    /// The fastest kernel this CPU supports.
    pub fn detect() -> Kernel {
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
                return Kernel::Avx2;
            }
        }
        Kernel::Portable
    }

    /// Whether this CPU can run the kernel.
    pub fn available(self) -> bool {
        match self {
            Kernel::Portable => true,
            Kernel::Avx2 => Kernel::detect() == Kernel::Avx2,
        }
    }

    /// One register tile: `acc[r][c] +=` the i32 sums over depth pairs `p0..p1` (within one
    /// chunk), for the `m <= MR` rows of `a` (row stride `lda` i16) against one packed panel.
    #[inline]
    fn tile(
        self,
        m: usize,
        a: &[i16],
        lda: usize,
        panel: &[i16],
        range: (usize, usize),
        acc: &mut [[i64; NR]; MR],
    ) {
        macro_rules! dispatch {
            ($f:ident) => {
                match m {
                    1 => $f::<1>(a, lda, panel, range, acc),
                    2 => $f::<2>(a, lda, panel, range, acc),
                    3 => $f::<3>(a, lda, panel, range, acc),
                    4 => $f::<4>(a, lda, panel, range, acc),
                    5 => $f::<5>(a, lda, panel, range, acc),
                    _ => $f::<6>(a, lda, panel, range, acc),
                }
            };
        }
        debug_assert!((1..=MR).contains(&m));
        match self {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `Kernel::Avx2` only runs when `available()` (the public entry points
            // assert it), so the CPU has AVX2.
            Kernel::Avx2 => unsafe { dispatch!(tile_avx2) },
            _ => dispatch!(tile_portable),
        }
    }
}

mod av;
mod matmul;
mod requant;
mod softmax;
#[cfg(test)]
mod tests;

pub use av::{AvScratch, AvValues};
pub use matmul::PackedOperands;
#[cfg(target_arch = "x86_64")]
use matmul::tile_avx2;
use matmul::tile_portable;
use requant::fits_i32;
pub use requant::{Accumulators, Codes, OutputStage, RequantLanes, Residual, Table, Values};
pub use softmax::SoftmaxRows;
