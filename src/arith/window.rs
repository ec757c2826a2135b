//! Swin's token movement between the integer units: window partition with the cyclic shift and
//! its reverse, the shift mask, and PatchMerging's 2x2 gather (docs/arithmetic.md, "Swin
//! Transformer in integers"). No arithmetic happens here; these are the index maps the simulator,
//! the golden vectors and a driver share.

/// The grid token held by window row `r` of a `[H, W]` grid cut into `[Wh, Ww]` windows after a
/// cyclic shift of `[Sh, Sw]`: `((wy Wh + ty + Sh) mod H) W + ((wx Ww + tx + Sw) mod W)` with
/// `r = w N + t`, `w = wy (W / Ww) + wx`, `t = ty Ww + tx`. The grid must be whole windows
/// (checked by the caller); a bijection of `0 .. H W`.
pub fn window_source(r: usize, grid: [usize; 2], window: [usize; 2], shift: [usize; 2]) -> usize {
    let [h, w] = grid;
    let [wh, ww] = window;
    let (n, nw) = (wh * ww, w / ww);
    let (win, t) = (r / n, r % n);
    let (y, x) = ((win / nw) * wh + t / ww, (win % nw) * ww + t % ww);
    ((y + shift[0]) % h) * w + (x + shift[1]) % w
}

/// [`window_source`] for every window row, `[H W]`.
pub fn window_sources(grid: [usize; 2], window: [usize; 2], shift: [usize; 2]) -> Vec<usize> {
    (0..grid[0] * grid[1])
        .map(|r| window_source(r, grid, window, shift))
        .collect()
}

/// The shift mask `[windows, N, N]`: `true` where tokens `a` and `b` of a window lie in
/// different regions of the rolled grid (per axis `[0, H - Wh)`, `[H - Wh, H - Sh)`,
/// `[H - Sh, H)`; one region along an axis with shift 0). `None` for a block without shift.
pub fn shift_mask(grid: [usize; 2], window: [usize; 2], shift: [usize; 2]) -> Option<Vec<bool>> {
    if shift == [0, 0] {
        return None;
    }
    let region = |pos: usize, len: usize, win: usize, sh: usize| -> usize {
        if sh == 0 || pos < len - win {
            0
        } else if pos < len - sh {
            1
        } else {
            2
        }
    };
    let [h, w] = grid;
    let [wh, ww] = window;
    let (n, nw, windows) = (wh * ww, w / ww, (h / wh) * (w / ww));
    let mut m = Vec::with_capacity(windows * n * n);
    for win in 0..windows {
        let id = |t: usize| {
            let (y, x) = ((win / nw) * wh + t / ww, (win % nw) * ww + t % ww);
            region(y, h, wh, shift[0]) * 3 + region(x, w, ww, shift[1])
        };
        for a in 0..n {
            for b in 0..n {
                m.push(id(a) != id(b));
            }
        }
    }
    Some(m)
}

/// PatchMerging's gather: `x` `[H W, C]` (`H`, `W` even) to `[H/2 W/2, 4C]`, token `(i, j)` the
/// concatenation of `x(2i, 2j)`, `x(2i+1, 2j)`, `x(2i, 2j+1)`, `x(2i+1, 2j+1)`.
pub fn merge_2x2<T: Copy>(x: &[T], grid: [usize; 2], c: usize) -> Vec<T> {
    let [h, w] = grid;
    assert_eq!(x.len(), h * w * c, "merge_2x2 input");
    let mut out = Vec::with_capacity(x.len());
    for i in 0..h / 2 {
        for j in 0..w / 2 {
            for (dh, dw) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                let s = ((2 * i + dh) * w + 2 * j + dw) * c;
                out.extend_from_slice(&x[s..s + c]);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::swin::attention_mask;

    #[test]
    fn window_sources_are_a_bijection_and_roll_by_the_shift() {
        for (grid, window, shift) in [
            ([14, 14], [7, 7], [3, 3]),
            ([8, 12], [4, 4], [2, 2]),
            ([6, 6], [3, 2], [1, 0]),
            ([7, 7], [7, 7], [0, 0]),
        ] {
            let src = window_sources(grid, window, shift);
            let mut seen = vec![false; src.len()];
            for &s in &src {
                assert!(!seen[s]);
                seen[s] = true;
            }
            // Window row 0, token 0 is the grid token (Sh, Sw).
            assert_eq!(src[0], shift[0] * grid[1] + shift[1]);
        }
    }

    /// Against the float model's mask (timm's slices, written independently with Python's
    /// slice semantics in `model::swin`): the same pairs are masked.
    #[test]
    fn shift_mask_equals_the_float_models_mask() {
        for (grid, window, shift) in [
            ([14, 14], [7, 7], [3, 3]),
            ([8, 8], [4, 4], [2, 2]),
            ([4, 4], [2, 2], [1, 1]),
            ([6, 4], [3, 2], [1, 0]),
            ([4, 6], [2, 3], [0, 1]),
        ] {
            let m = shift_mask(grid, window, shift).unwrap();
            let f = attention_mask(grid, window, shift);
            assert_eq!(m.len(), f.len());
            for (a, b) in m.iter().zip(&f) {
                assert_eq!(*a, *b != 0.0, "{grid:?} {window:?} {shift:?}");
            }
            // Every token sees itself: no row is entirely masked.
            let n = window[0] * window[1];
            for (i, row) in m.chunks_exact(n).enumerate() {
                assert!(!row[i % n]);
            }
        }
        assert!(shift_mask([14, 14], [7, 7], [0, 0]).is_none());
    }

    #[test]
    fn merge_2x2_orders_the_neighbours_as_timm() {
        // 4x4 grid, one channel, value = grid index.
        let x: Vec<i32> = (0..16).collect();
        let m = merge_2x2(&x, [4, 4], 1);
        assert_eq!(&m[..4], &[0, 4, 1, 5]);
        assert_eq!(&m[12..], &[10, 14, 11, 15]);
    }
}
