//! The percentile search shared by all quantizers (REFERENCE.md section 1, "Initialisation").
//!
//! The paper's Eq. 9 sets the range from `min(x)` and `max(x)`; the authors' code instead tries
//! three clipped ranges, the `p` and `1 - p` quantiles for p in [`PERCENTILES`], and keeps the one
//! whose fake-quantized tensor has the lowest mean squared error. The plain min/max is never a
//! candidate.

/// The percentiles the reference code tries, in its order (ties keep the earliest).
pub const PERCENTILES: [f64; 3] = [0.999, 0.9999, 0.99999];

/// `[p0, 1 - p0, p1, 1 - p1, p2, 1 - p2]`, with `1 - p` computed in f64 as Python does before
/// torch rounds it to f32 (`1.0 - 0.999 = 0.0010000000000000009`).
pub(crate) fn two_sided_probabilities() -> [f64; 6] {
    let [a, b, c] = PERCENTILES;
    [a, 1.0 - a, b, 1.0 - b, c, 1.0 - c]
}

/// Index of the lowest score; ties keep the first (strict `<`, as the reference's
/// `if score < best_score`); NaN never wins; if every score is NaN, 0.
///
/// The reference starts from `best_score = 1e10` and would fail (no candidate chosen) if every
/// mean squared error were at least 1e10; here the smallest one is taken in that case.
pub fn pick_best(scores: &[f64]) -> usize {
    let mut best = 0;
    let mut best_score = f64::INFINITY;
    for (i, &s) in scores.iter().enumerate() {
        if s < best_score {
            best = i;
            best_score = s;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_keep_first_and_nan_never_wins() {
        assert_eq!(pick_best(&[5.0, 5.0, 7.0]), 0);
        assert_eq!(pick_best(&[6.0, 5.0, 5.0]), 1);
        assert_eq!(pick_best(&[f64::NAN, 3.0, 3.0]), 1);
        assert_eq!(pick_best(&[f64::NAN, f64::NAN, f64::NAN]), 0);
        assert_eq!(pick_best(&[f64::INFINITY, 1e300, 1e300]), 1);
        assert_eq!(two_sided_probabilities()[1], 0.0010000000000000009);
    }
}
