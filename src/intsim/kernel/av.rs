//! U3 + U4 rows: log2 codes of the probabilities and attention x V by shifts (portable and AVX2).

use super::*;

/// The value operands of one attention head, prepared once for U4 over all its query rows:
/// `v << F` per key and channel (`[T, D_h]`), and whether the even and odd sums provably fit
/// i32.
pub struct AvValues {
    dh: usize,
    f: u32,
    /// `v_j[c] - z_v`, as given.
    values: Vec<i32>,
    /// `(v_j[c] - z_v) << F`.
    shifted: Vec<i32>,
    /// `T * max|v << F| <= i32::MAX`: every partial sum of either accumulator fits i32.
    pub(super) narrow: bool,
}

/// Reusable per-row lists of U4: `(row offset, shifts)` of the keys with even and odd codes.
#[derive(Default)]
pub struct AvScratch {
    even: Vec<(u32, u32)>,
    odd: Vec<(u32, u32)>,
    sums: Vec<i32>,
    tags: Vec<u32>,
    codes: Vec<LogCode>,
}

/// A key's U4 tag: the shift `k = min(ceil(code / 2), 31)` (shifting an i32 by 31 or more gives
/// what 31 gives, 0 or -1), bit 8 set when the flag is clear, bit 9 the code's parity.
#[inline(always)]
fn tag(code: u32, zero: bool) -> u32 {
    ((code + 1) >> 1).min(31) | u32::from(!zero) << 8 | (code & 1) << 9
}

/// [`tag`] of `lc.code(p)` for every probability, eight lanes at a time: `e` (the leading one) from
/// the exponent of `p` as f32 (exact below 2^24), the mantissa by a left or right shift, the three
/// threshold comparisons, `raw = 2 (16 - e) + C_INT + r`, the zero flag for `p = 0` or
/// `raw >= 2^bits` ([`LogCodeParams::code`], step by step).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn logcode_tags_avx2(lc: &LogCodeParams, probs: &[u32], tags: &mut [u32]) {
    use std::arch::x86_64::*;
    assert_eq!(probs.len(), tags.len());
    let body = probs.len() / 8 * 8;
    let [t1, t0, tm1] = lc.thresholds.map(|t| _mm256_set1_epi32(t as i32));
    let (zero, one, fifteen, thirty_one) = (
        _mm256_setzero_si256(),
        _mm256_set1_epi32(1),
        _mm256_set1_epi32(MBITS as i32),
        _mm256_set1_epi32(31),
    );
    let base = _mm256_set1_epi32(2 * PBITS as i32 + 1 + lc.c_int);
    let top = _mm256_set1_epi32((1 << lc.bits) - 1);
    for i in (0..body).step_by(8) {
        // SAFETY: i + 8 <= body <= probs.len() = tags.len().
        let p = unsafe { _mm256_loadu_si256(probs.as_ptr().add(i).cast()) };
        let is_zero = _mm256_cmpeq_epi32(p, zero);
        let e = _mm256_sub_epi32(
            _mm256_srli_epi32::<23>(_mm256_castps_si256(_mm256_cvtepi32_ps(p))),
            _mm256_set1_epi32(127),
        );
        let left = _mm256_max_epi32(_mm256_sub_epi32(fifteen, e), zero);
        let right = _mm256_max_epi32(_mm256_sub_epi32(e, fifteen), zero);
        let m = _mm256_srlv_epi32(_mm256_sllv_epi32(p, left), right);
        // r = [m <= T1] + [m <= T0] + [m <= T-1] - 2 = 1 + (the three m > T as 0 / -1).
        let gt = _mm256_add_epi32(
            _mm256_add_epi32(_mm256_cmpgt_epi32(m, t1), _mm256_cmpgt_epi32(m, t0)),
            _mm256_cmpgt_epi32(m, tm1),
        );
        let raw = _mm256_add_epi32(_mm256_sub_epi32(base, _mm256_add_epi32(e, e)), gt);
        let flag = _mm256_or_si256(is_zero, _mm256_cmpgt_epi32(raw, top));
        let code = _mm256_max_epi32(raw, zero);
        let k = _mm256_min_epi32(
            _mm256_srli_epi32::<1>(_mm256_add_epi32(code, one)),
            thirty_one,
        );
        let live = _mm256_slli_epi32::<8>(_mm256_andnot_si256(flag, one));
        let odd = _mm256_slli_epi32::<9>(_mm256_and_si256(code, one));
        let t = _mm256_or_si256(k, _mm256_or_si256(live, odd));
        // SAFETY: as the load.
        unsafe { _mm256_storeu_si256(tags.as_mut_ptr().add(i).cast(), t) };
    }
    for (t, &p) in tags[body..].iter_mut().zip(&probs[body..]) {
        let c = lc.code(p);
        *t = tag(c.code, c.zero);
    }
}

impl AvValues {
    /// `values[j * dh + c] = V_code[j][c] - z_v` (`|v| < 2^14`), `F = f <= 16`.
    pub fn new(values: Vec<i32>, dh: usize, f: u32) -> Self {
        assert!(f <= 16, "F = {f} > 16");
        assert!(
            dh > 0 && values.len().is_multiple_of(dh),
            "one value row per key"
        );
        assert!(
            values.iter().all(|v| v.unsigned_abs() < 1 << 14),
            "|v| >= 2^14"
        );
        let shifted: Vec<i32> = values.iter().map(|&v| v << f).collect();
        let max = values
            .iter()
            .map(|v| u64::from(v.unsigned_abs()) << f)
            .max();
        let keys = (values.len() / dh) as u64;
        let narrow = keys
            .checked_mul(max.unwrap_or(0))
            .is_some_and(|b| b <= i32::MAX as u64)
            && u32::try_from(values.len()).is_ok();
        AvValues {
            dh,
            f,
            values,
            shifted,
            narrow,
        }
    }

    /// U4 for one query row: exactly [`attention_row`] (`out[c] = E + round_shift(O * SQRT2,
    /// 15)`), for the codes of that row (one per key).
    pub fn row(&self, kernel: Kernel, codes: &[LogCode], s: &mut AvScratch, out: &mut [i64]) {
        assert!(kernel.available(), "{kernel:?} not supported by this CPU");
        let dh = self.dh;
        assert_eq!(out.len(), dh, "one output per channel");
        assert_eq!(self.values.len(), codes.len() * dh, "one code per key");
        if !self.narrow {
            attention_row(codes, &self.values, self.f, out);
            return;
        }
        self.row_tagged(kernel, codes.iter().map(|c| tag(c.code, c.zero)), s, out);
    }

    /// U3 then U4 for one query row from its probabilities (`p <= 2^16`): exactly [`Self::row`]
    /// of the codes `lc.code(p)` ([`LogCodeParams::code`]), with the codes computed eight at a
    /// time by the AVX2 kernel.
    pub fn row_from_probs(
        &self,
        kernel: Kernel,
        lc: &LogCodeParams,
        probs: &[u32],
        s: &mut AvScratch,
        out: &mut [i64],
    ) {
        assert!(kernel.available(), "{kernel:?} not supported by this CPU");
        assert_eq!(out.len(), self.dh, "one output per channel");
        assert_eq!(
            self.values.len(),
            probs.len() * self.dh,
            "one probability per key"
        );
        #[cfg(target_arch = "x86_64")]
        if kernel == Kernel::Avx2
            && self.narrow
            && lc.bits < 31
            && probs.iter().fold(true, |ok, &p| ok & (p < 1 << 24))
        {
            let mut tags = std::mem::take(&mut s.tags);
            tags.resize(probs.len(), 0);
            // SAFETY: AVX2 is available (asserted).
            unsafe { logcode_tags_avx2(lc, probs, &mut tags) };
            self.row_tagged(kernel, tags.iter().copied(), s, out);
            s.tags = tags;
            return;
        }
        let mut codes = std::mem::take(&mut s.codes);
        codes.clear();
        codes.extend(probs.iter().map(|&p| lc.code(p)));
        self.row(kernel, &codes, s, out);
        s.codes = codes;
    }

    /// U4 from per-key tags ([`tag`]), in key order.
    fn row_tagged(
        &self,
        kernel: Kernel,
        tags: impl ExactSizeIterator<Item = u32>,
        s: &mut AvScratch,
        out: &mut [i64],
    ) {
        let dh = self.dh;
        // Keys with the flag clear, split by code parity, without data-dependent branches (the
        // parity is as good as random): each entry is written to both lists, and only the list
        // of its parity advances.
        let t = tags.len();
        s.even.resize(t + 1, (0, 0));
        s.odd.resize(t + 1, (0, 0));
        let (mut ne, mut no) = (0, 0);
        for (j, tag) in tags.enumerate() {
            // `narrow` implies values.len() fits u32.
            let entry = ((j * dh) as u32, tag & 0xff);
            s.even[ne] = entry;
            s.odd[no] = entry;
            let live = (tag >> 8) as usize & 1;
            let odd = (tag >> 9) as usize & 1;
            ne += live & (odd ^ 1);
            no += live & odd;
        }
        s.sums.clear();
        s.sums.resize(2 * dh, 0);
        let (even, odd) = s.sums.split_at_mut(dh);
        self.sum_list(kernel, &s.even[..ne], even);
        self.sum_list(kernel, &s.odd[..no], odd);
        for ((o, &e), &d) in out.iter_mut().zip(even.iter()).zip(odd.iter()) {
            *o = i64::from(e) + round_shift(i64::from(d) * SQRT2_Q15, 15);
        }
    }

    /// `acc[c] = sum over (off, k) in list of shifted[off + c] >> k` (i32, cannot overflow).
    fn sum_list(&self, kernel: Kernel, list: &[(u32, u32)], acc: &mut [i32]) {
        let mut c0 = 0;
        #[cfg(target_arch = "x86_64")]
        if kernel == Kernel::Avx2 {
            while c0 + AV_BLOCK <= self.dh {
                // SAFETY: Avx2 is only used when available (asserted by `row`).
                unsafe { sum_list_avx2(&self.shifted, list, c0, &mut acc[c0..c0 + AV_BLOCK]) };
                c0 += AV_BLOCK;
            }
        }
        let _ = kernel;
        sum_list_portable(&self.shifted, list, c0, &mut acc[c0..]);
    }
}

/// Channels per AVX2 pass of U4 (eight vectors of accumulators in registers).
const AV_BLOCK: usize = 64;

fn sum_list_portable(vals: &[i32], list: &[(u32, u32)], c0: usize, acc: &mut [i32]) {
    let w = acc.len();
    acc.fill(0);
    for &(off, k) in list {
        let row = &vals[off as usize + c0..off as usize + c0 + w];
        for (a, &v) in acc.iter_mut().zip(row) {
            *a += v >> k;
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn sum_list_avx2(vals: &[i32], list: &[(u32, u32)], c0: usize, acc: &mut [i32]) {
    use std::arch::x86_64::*;
    assert_eq!(acc.len(), AV_BLOCK);
    let mut s = [_mm256_setzero_si256(); AV_BLOCK / 8];
    for &(off, k) in list {
        let row = &vals[off as usize + c0..off as usize + c0 + AV_BLOCK];
        let count = _mm_cvtsi32_si128(k as i32);
        for (i, s) in s.iter_mut().enumerate() {
            // SAFETY: `row` holds AV_BLOCK = 8 * 8 i32.
            let v = unsafe { _mm256_loadu_si256(row.as_ptr().add(8 * i).cast()) };
            *s = _mm256_add_epi32(*s, _mm256_sra_epi32(v, count));
        }
    }
    for (i, v) in s.iter().enumerate() {
        // SAFETY: acc holds AV_BLOCK i32.
        unsafe { _mm256_storeu_si256(acc.as_mut_ptr().add(8 * i).cast(), *v) };
    }
}
