//! U6 rows of one attention layer (portable and AVX2).

use super::*;

/// U6 for the rows of one attention layer: exactly [`SoftmaxParams::apply`], with an AVX2 path
/// for rows whose integers allow it (32-bit scores, the model's `EXP2` table whose entries are
/// below 2^21, rows of at most 1024 keys, a shift `n >= 31`, with which every logit of a 32-bit
/// score fits `s32` so that the logit's clamp never acts); any other row, and the portable
/// kernel, use the unit itself.
pub struct SoftmaxRows<'a> {
    sp: SoftmaxParams,
    table: &'a [u32],
    /// The table has `2^EF` entries below 2^21 and the multiplier fits the vector code.
    table_ok: bool,
}

impl<'a> SoftmaxRows<'a> {
    pub fn new(sp: SoftmaxParams, table: &'a [u32]) -> Self {
        // The table the unit's constants come with, and constants as `Requant::multiplier` makes
        // them (`M0 < 2^31`, `n` in 1..=62), which the vector code assumes.
        let table_ok = table.len() == 1 << EF
            && table.iter().all(|&e| e < 1 << 21)
            && sp.m0 < 1 << 31
            && (31..=62).contains(&sp.shift);
        SoftmaxRows {
            sp,
            table,
            table_ok,
        }
    }

    /// Probabilities of one row of accumulators, written to `p`.
    pub fn apply(&self, kernel: Kernel, acc: &[i64], p: &mut [u32]) {
        assert_eq!(acc.len(), p.len(), "softmax row width");
        #[cfg(target_arch = "x86_64")]
        if kernel == Kernel::Avx2
            && self.table_ok
            && (4..=1024).contains(&acc.len())
            && fits_i32(acc)
        {
            assert!(kernel.available(), "{kernel:?} not supported by this CPU");
            // SAFETY: AVX2 is available (asserted).
            return unsafe { self.apply_avx2(acc, p) };
        }
        let _ = kernel;
        self.sp.apply(self.table, acc, p);
    }

    /// The unit's three passes, four keys per step: (1) `z = round_shift(acc * M0, n)` by
    /// `vpmuldq` (exact: 32-bit scores, 31-bit `M0`) and an emulated arithmetic shift, and its
    /// maximum; (2) `delta = zmax - z` (capped at 2^20, which changes nothing: every delta from
    /// 21 * 2^EF on gives `e = 0`), the table gathered at `delta mod 2^EF` and shifted right by
    /// `delta >> EF`, zero beyond EBITS, and its sum; (3) the rounded division by the sum.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn apply_avx2(&self, acc: &[i64], p: &mut [u32]) {
        use std::arch::x86_64::*;
        let n = acc.len();
        let body = n / 4 * 4;
        let m0 = _mm256_set1_epi64x(i64::from(self.sp.m0));
        let half = _mm256_set1_epi64x(1i64 << (self.sp.shift - 1));
        let count = _mm_cvtsi32_si128(self.sp.shift as i32);
        let zero = _mm256_setzero_si256();
        let ld = |i: usize| {
            // SAFETY: i + 4 <= body <= n = acc.len() at every use.
            unsafe { _mm256_loadu_si256(acc.as_ptr().add(i).cast()) }
        };
        let z4 = |i: usize| {
            let x = _mm256_add_epi64(_mm256_mul_epi32(ld(i), m0), half);
            let neg = _mm256_cmpgt_epi64(zero, x);
            _mm256_xor_si256(_mm256_srl_epi64(_mm256_xor_si256(x, neg), count), neg)
        };
        let z1 = |a: i64| round_shift(a * i64::from(self.sp.m0), self.sp.shift);
        // (1) the maximum logit.
        let mut vmax = z4(0);
        for i in (4..body).step_by(4) {
            let z = z4(i);
            vmax = _mm256_blendv_epi8(vmax, z, _mm256_cmpgt_epi64(z, vmax));
        }
        let mut lanes = [0i64; 4];
        // SAFETY: `lanes` is 32 bytes.
        unsafe { _mm256_storeu_si256(lanes.as_mut_ptr().cast(), vmax) };
        let zmax = lanes
            .into_iter()
            .chain(acc[body..].iter().map(|&a| z1(a)))
            .max()
            .unwrap_or(0);
        // (2) e = EXP2[delta mod 2^EF] >> (delta >> EF), 0 beyond EBITS.
        let vzmax = _mm256_set1_epi64x(zmax);
        let cap = _mm256_set1_epi64x(1 << 20);
        let mask = _mm256_set1_epi64x((1 << EF) - 1);
        let pick = _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6);
        let ebits = _mm_set1_epi32(EBITS as i32);
        let thirty_one = _mm_set1_epi32(31);
        let (mut vsum, mut vemax) = (_mm256_setzero_si256(), _mm_setzero_si128());
        for i in (0..body).step_by(4) {
            let delta = _mm256_sub_epi64(vzmax, z4(i));
            let delta = _mm256_blendv_epi8(delta, cap, _mm256_cmpgt_epi64(delta, cap));
            // SAFETY: every index is delta mod 2^EF < 2^EF = table.len() (`table_ok`).
            let g = unsafe {
                _mm256_i64gather_epi32::<4>(
                    self.table.as_ptr().cast(),
                    _mm256_and_si256(delta, mask),
                )
            };
            let q = _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(
                _mm256_srli_epi64::<{ EF as i32 }>(delta),
                pick,
            ));
            let e = _mm_srlv_epi32(g, _mm_min_epi32(q, thirty_one));
            let e = _mm_andnot_si128(_mm_cmpgt_epi32(q, ebits), e);
            // SAFETY: i + 4 <= body <= p.len().
            unsafe { _mm_storeu_si128(p.as_mut_ptr().add(i).cast(), e) };
            vsum = _mm256_add_epi64(vsum, _mm256_cvtepu32_epi64(e));
            vemax = _mm_max_epu32(vemax, e);
        }
        // SAFETY: `lanes` is 32 bytes.
        unsafe { _mm256_storeu_si256(lanes.as_mut_ptr().cast(), vsum) };
        let mut sum: u64 = lanes.iter().map(|&v| v as u64).sum();
        let mut elanes = [0u32; 4];
        // SAFETY: `elanes` is 16 bytes.
        unsafe { _mm_storeu_si128(elanes.as_mut_ptr().cast(), vemax) };
        let mut emax = elanes.into_iter().max().unwrap_or(0);
        for (&a, out) in acc[body..].iter().zip(&mut p[body..]) {
            let delta = zmax - z1(a);
            let q = delta >> EF;
            let shifted = self.table[(delta & ((1 << EF) - 1)) as usize] >> q.min(31);
            let e = if q > i64::from(EBITS) { 0 } else { shifted };
            *out = e;
            sum += u64::from(e);
            emax = emax.max(e);
        }
        // (3) p = floor((e 2^17 + S) / 2S), by the unit's exact integer multiply-shift divider
        // ([`FloorDiv`]) for the whole row: no floating point in the datapath.
        let d = 2 * sum;
        let div = FloorDiv::new(d, (u64::from(emax) << 17) + sum);
        for out in &mut p[..] {
            *out = div.div((u64::from(*out) << 17) + sum) as u32;
        }
    }
}
