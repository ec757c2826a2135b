//! The shared row divider of U5 and U6: `floor(N / d)` for one divisor `d` per row and many
//! numerators, as one reciprocal per row and per element one multiply and one exact correction
//! step (docs/arithmetic.md, "Row divider"; the RTL is `repq_rowdiv`).
//!
//! For `d >= 1`, quotient width `QW` and `0 <= N < d 2^QW`, with `l = bitlen(d)` and
//! `K = l + QW + 1`:
//!
//! ```text
//! R  = floor(2^K / d)                   u{QW+3}, once per row
//! q0 = (N R) >> K                       floor(N / d) or one less
//! q  = q0 + [N - q0 d >= d]             = floor(N / d), u{QW}
//! ```

/// One row's divisor and its reciprocal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RowDiv {
    /// The divisor `d >= 1`.
    pub d: u64,
    /// The quotient width `QW` (every quotient is below `2^QW`).
    pub qw: u32,
    /// `K = bitlen(d) + QW + 1`.
    pub k: u32,
    /// `R = floor(2^K / d)`, below `2^(QW+3)`.
    pub r: u64,
}

/// Widest divisor the model takes (`N R < 2^(2 QW + l + 3)` must fit `u128` for `QW <= 24`).
pub const DW_MAX: u32 = 48;
/// Widest quotient the model takes.
pub const QW_MAX: u32 = 24;

impl RowDiv {
    /// The reciprocal of `d` for quotients of `qw` bits, computed as the hardware does
    /// ([`reciprocal_restoring`]). Panics (a caller's bug) for `d = 0`, `d >= 2^DW_MAX` or
    /// `qw` outside `1 ..= QW_MAX`.
    pub fn new(d: u64, qw: u32) -> Self {
        assert!(
            d >= 1 && d < 1 << DW_MAX,
            "row divider: divisor {d} outside 1 .. 2^{DW_MAX}"
        );
        assert!(
            (1..=QW_MAX).contains(&qw),
            "row divider: quotient width {qw}"
        );
        let l = bitlen(d);
        let r = reciprocal_restoring(d, qw, l);
        RowDiv {
            d,
            qw,
            k: l + qw + 1,
            r,
        }
    }

    /// The first estimate `q0 = (N R) >> K`: `floor(N / d)` or one less (`N < d 2^QW`).
    #[inline]
    pub fn estimate(&self, n: u64) -> u64 {
        ((u128::from(n) * u128::from(self.r)) >> self.k) as u64
    }

    /// `floor(n / d)` for `0 <= n < d 2^QW` (debug builds check the range).
    #[inline]
    pub fn div(&self, n: u64) -> u64 {
        debug_assert!(u128::from(n) < u128::from(self.d) << self.qw);
        let q0 = self.estimate(n);
        q0 + u64::from(n - q0 * self.d >= self.d)
    }
}

/// `bitlen(d)`: `2^(l-1) <= d < 2^l` (0 for `d = 0`).
#[inline]
pub fn bitlen(d: u64) -> u32 {
    64 - d.leading_zeros()
}

/// `floor(2^(l + QW + 1) / d)` by the restoring division of `repq_rowdiv_recip`, step for step:
/// with the divisor normalized to `dn = d 2^(DW - l)` (any `DW >= l`, the result does not depend
/// on it), the partial remainder starts at `2^(DW-2)` and each of the `QW + 3` steps doubles it
/// and subtracts `dn` when it can, giving one quotient bit, most significant first.
pub fn reciprocal_restoring(d: u64, qw: u32, l: u32) -> u64 {
    let dw = DW_MAX;
    let dn = u128::from(d) << (dw - l);
    let mut p = 1u128 << (dw - 2);
    let mut r = 0u64;
    for _ in 0..qw + 3 {
        p <<= 1;
        let bit = p >= dn;
        if bit {
            p -= dn;
        }
        r = (r << 1) | u64::from(bit);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{RngExt, SeedableRng};

    #[test]
    fn reciprocal_is_the_floor_and_fits() {
        for qw in 1..=QW_MAX {
            for d in (1..2000u64).chain((1..DW_MAX).flat_map(|j| [(1 << j) - 1, 1 << j])) {
                let rd = RowDiv::new(d, qw);
                assert_eq!(
                    u128::from(rd.r),
                    (1u128 << rd.k) / u128::from(d),
                    "d {d} qw {qw}"
                );
                assert!(rd.r <= 1 << (qw + 2), "d {d} qw {qw}: R {}", rd.r);
            }
        }
    }

    #[test]
    fn exhaustive_at_small_widths() {
        for qw in 1..=6u32 {
            for d in 1..1024u64 {
                let rd = RowDiv::new(d, qw);
                for n in 0..d << qw {
                    let q0 = rd.estimate(n);
                    assert!(q0 == n / d || q0 + 1 == n / d, "q0 {q0}: {n} / {d}");
                    assert_eq!(rd.div(n), n / d, "{n} / {d} at QW {qw}");
                }
            }
        }
    }

    /// U5 and U6 use QW = 17 with d = 2r (r u33) and d = 2S (S u33): d up to u34.
    #[test]
    fn random_and_edges_at_the_real_widths() {
        let qw = 17;
        let mut rng = StdRng::seed_from_u64(0x70d1);
        let mut divisors: Vec<u64> = (1..34)
            .flat_map(|j| [(1u64 << j) - 1, 1 << j, (1 << j) + 1])
            .chain([(1 << 34) - 1, (1 << 34) - 2, 2, 3, 2 << 20])
            .collect();
        divisors
            .extend((0..3000).map(|_| rng.random_range(1..1u64 << 34) >> rng.random_range(0..34)));
        let mut checked = 0u64;
        for d in divisors {
            let d = d.max(1);
            let rd = RowDiv::new(d, qw);
            let top = (d << qw) - 1;
            let mut ns = vec![0, 1, d - 1, d, d + 1, top, top - 1, top - d, top / 2];
            // Multiples and one below: where the estimate's error shows.
            for _ in 0..40 {
                let q = rng.random_range(0..1u64 << qw);
                ns.extend([q * d, (q * d).saturating_sub(1), q * d + d - 1]);
                ns.push(rng.random_range(0..=top));
            }
            for n in ns.into_iter().filter(|&n| n <= top) {
                assert_eq!(rd.div(n), n / d, "{n} / {d}");
                checked += 1;
            }
        }
        assert!(checked > 300_000, "{checked}");
    }
}
