//! Which elements share a quantization scale, and the parallel loops over those groups.
//!
//! Tensors are flat row-major `f32` slices. A [`Granularity`] says how the flat index maps to a
//! scale (paper Sec. 3.1 "application granularity"; REFERENCE.md section 1):
//!
//! * [`Granularity::PerTensor`]: one scale for everything (layer-wise activations, Eq. 7-9);
//! * [`Granularity::PerChannel`]: one scale per channel of the last dimension, the tensor viewed as
//!   `[rows, channels]` (post-LayerNorm activations before the reparameterization of Sec. 3.2:
//!   the reference quantizes `x[:, :, c]` over all batch and token positions);
//! * [`Granularity::PerRow`]: one scale per row of `[rows, cols]` (weights stored `[out, in]`, or a
//!   conv weight `[out, in, kh, kw]` with `cols = in * kh * kw`: one scale per output channel).

use rayon::prelude::*;

use crate::error::{Error, Result};

/// Elements per parallel work item in element-wise loops and error sums. Fixed, so that chunked
/// f64 sums (added in chunk order) are deterministic whatever the number of threads.
pub(crate) const CHUNK: usize = 1 << 15;

/// How quantization parameters are shared across a tensor's elements.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Granularity {
    /// One scale (and zero point) for the whole tensor.
    PerTensor,
    /// One per channel of the last dimension of a `[rows, channels]` view; element `i` belongs to
    /// channel `i % channels`.
    PerChannel { channels: usize },
    /// One per row of a `[rows, cols]` view; element `i` belongs to row `i / cols`.
    PerRow { rows: usize },
}

impl Granularity {
    /// Number of scale groups.
    pub fn groups(&self) -> usize {
        match *self {
            Granularity::PerTensor => 1,
            Granularity::PerChannel { channels } => channels,
            Granularity::PerRow { rows } => rows,
        }
    }

    /// Checks that a tensor of `len` elements can be split this way (`len > 0` unless
    /// `allow_empty`); `context` names the caller in the error.
    pub(crate) fn check(&self, len: usize, allow_empty: bool, context: &str) -> Result<()> {
        let g = self.groups();
        let err = |reason: String| {
            Err(Error::Shape {
                context: context.to_string(),
                reason,
            })
        };
        if g == 0 {
            return err(format!("{self:?} has no groups"));
        }
        if len == 0 && !allow_empty {
            return err("empty tensor".into());
        }
        if !len.is_multiple_of(g) {
            return err(format!(
                "{len} elements do not split into {g} groups ({self:?})"
            ));
        }
        Ok(())
    }
}

/// A working copy of `x` laid out group by group (`groups` contiguous runs of `len / groups`
/// values): a plain copy for per-tensor and per-row, a transpose `[channels, rows]` for
/// per-channel. The quantile selection then works in place on each run.
pub(crate) fn grouped_copy(x: &[f32], g: Granularity) -> Vec<f32> {
    match g {
        Granularity::PerTensor | Granularity::PerRow { .. } => x.to_vec(),
        Granularity::PerChannel { channels } => transpose(x, x.len() / channels, channels),
    }
}

/// Blocked parallel transpose of a row-major `[rows, cols]` matrix into `[cols, rows]`.
fn transpose(x: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    const BLOCK: usize = 16; // columns per task: one 64-byte cache line of each source row
    let mut out = vec![0f32; x.len()];
    out.par_chunks_mut(BLOCK * rows)
        .enumerate()
        .for_each(|(b, dst)| {
            let c0 = b * BLOCK;
            let width = dst.len() / rows;
            for r in 0..rows {
                let src = &x[r * cols + c0..r * cols + c0 + width];
                for (j, &v) in src.iter().enumerate() {
                    dst[j * rows + r] = v;
                }
            }
        });
    out
}

/// Applies `f(group, value)` to every element in parallel, `group` per the granularity.
pub(crate) fn for_each_mut<F>(x: &mut [f32], g: Granularity, f: F)
where
    F: Fn(usize, &mut f32) + Sync,
{
    match g {
        Granularity::PerTensor => x
            .par_chunks_mut(CHUNK)
            .for_each(|c| c.iter_mut().for_each(|v| f(0, v))),
        Granularity::PerChannel { channels } => {
            let rows_per_task = (CHUNK / channels).max(1);
            x.par_chunks_mut(rows_per_task * channels).for_each(|c| {
                for row in c.chunks_mut(channels) {
                    for (ch, v) in row.iter_mut().enumerate() {
                        f(ch, v);
                    }
                }
            })
        }
        Granularity::PerRow { rows } => {
            let cols = x.len() / rows;
            x.par_chunks_mut(cols.max(1))
                .enumerate()
                .for_each(|(r, c)| c.iter_mut().for_each(|v| f(r, v)))
        }
    }
}

/// `out[i] = f(group(i), x[i])` in parallel.
pub(crate) fn map_into<T, F>(x: &[f32], out: &mut [T], g: Granularity, f: F)
where
    T: Send,
    F: Fn(usize, f32) -> T + Sync,
{
    debug_assert_eq!(x.len(), out.len());
    match g {
        Granularity::PerTensor => out
            .par_chunks_mut(CHUNK)
            .zip(x.par_chunks(CHUNK))
            .for_each(|(o, c)| o.iter_mut().zip(c).for_each(|(o, &v)| *o = f(0, v))),
        Granularity::PerChannel { channels } => {
            let step = (CHUNK / channels).max(1) * channels;
            out.par_chunks_mut(step)
                .zip(x.par_chunks(step))
                .for_each(|(o, c)| {
                    for (i, (o, &v)) in o.iter_mut().zip(c).enumerate() {
                        *o = f(i % channels, v);
                    }
                })
        }
        Granularity::PerRow { rows } => {
            let cols = (x.len() / rows).max(1);
            out.par_chunks_mut(cols)
                .zip(x.par_chunks(cols))
                .enumerate()
                .for_each(|(r, (o, c))| o.iter_mut().zip(c).for_each(|(o, &v)| *o = f(r, v)))
        }
    }
}

/// Sums `f(v)` (an array of `N` f64 partial sums) over `x` in parallel, chunk sums added in chunk
/// order so the result does not depend on scheduling.
pub(crate) fn par_sum<const N: usize, F>(x: &[f32], f: F) -> [f64; N]
where
    F: Fn(f32, &mut [f64; N]) + Sync,
{
    let parts: Vec<[f64; N]> = x
        .par_chunks(CHUNK)
        .map(|c| {
            let mut acc = [0f64; N];
            for &v in c {
                f(v, &mut acc);
            }
            acc
        })
        .collect();
    let mut total = [0f64; N];
    for p in parts {
        for (t, v) in total.iter_mut().zip(p) {
            *t += v;
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transpose_and_groups() {
        let x: Vec<f32> = (0..3 * 5).map(|i| i as f32).collect(); // [3 rows, 5 channels]
        let t = grouped_copy(&x, Granularity::PerChannel { channels: 5 });
        // channel 1 = x[1], x[6], x[11]
        assert_eq!(&t[3..6], &[1.0, 6.0, 11.0]);
        let big: Vec<f32> = (0..37 * 41).map(|i| i as f32).collect();
        let t = grouped_copy(&big, Granularity::PerChannel { channels: 41 });
        for c in 0..41 {
            for r in 0..37 {
                assert_eq!(t[c * 37 + r], big[r * 41 + c]);
            }
        }
        let mut y = x.clone();
        for_each_mut(&mut y, Granularity::PerChannel { channels: 5 }, |c, v| {
            *v = c as f32
        });
        assert_eq!(&y[5..10], &[0.0, 1.0, 2.0, 3.0, 4.0]);
        for_each_mut(&mut y, Granularity::PerRow { rows: 3 }, |r, v| {
            *v = r as f32
        });
        assert_eq!(&y[5..10], &[1.0; 5]);
        assert!(
            Granularity::PerRow { rows: 4 }
                .check(15, false, "t")
                .is_err()
        );
        assert!(Granularity::PerTensor.check(0, false, "t").is_err());
        assert!(
            Granularity::PerChannel { channels: 0 }
                .check(5, true, "t")
                .is_err()
        );
    }
}
