//! U8: the residual addition `x = sat32(x + y)` (docs/arithmetic.md, U8).

/// `clamp(x + y, -2^31, 2^31 - 1)` for the residual stream `x` and a residual-kind U2 output `y`
/// (both `s32`, 16 fraction bits).
#[inline]
pub fn residual_add(x: i32, y: i32) -> i32 {
    x.saturating_add(y)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saturates_both_ways_and_is_exact_inside() {
        let (max, min) = (i32::MAX, i32::MIN);
        assert_eq!(residual_add(max, 1), max);
        assert_eq!(residual_add(max - 1, 1), max);
        assert_eq!(residual_add(min, -1), min);
        assert_eq!(residual_add(min + 1, -1), min);
        assert_eq!(residual_add(max, min), -1);
        assert_eq!(residual_add(min, min), min);
        assert_eq!(residual_add(max, max), max);
        assert_eq!(residual_add(-5, 3), -2);
        let wide = |x: i32, y: i32| (i64::from(x) + i64::from(y)).clamp(min.into(), max.into());
        for x in [min, min + 7, -1, 0, 1, max - 7, max] {
            for y in [min, -65536, -1, 0, 1, 65536, max] {
                assert_eq!(i64::from(residual_add(x, y)), wide(x, y), "{x} + {y}");
            }
        }
    }
}
