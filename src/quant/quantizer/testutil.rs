//! Deterministic test data.

use rand::{RngExt, SeedableRng, rngs::StdRng};

/// Standard normal samples (Box-Muller).
pub(crate) fn gaussian(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            let u: f64 = rng.random_range(f64::MIN_POSITIVE..1.0);
            let v: f64 = rng.random_range(0.0..1.0);
            ((-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()) as f32
        })
        .collect()
}

/// Gaussian values with about 0.2% outliers of 5-30 sigma, like transformer activations.
pub(crate) fn gaussian_with_outliers(n: usize, seed: u64) -> Vec<f32> {
    let mut x = gaussian(n, seed);
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed);
    for v in &mut x {
        if rng.random_range(0.0..1.0) < 0.002 {
            let m: f32 = rng.random_range(5.0..30.0);
            *v = if *v < 0.0 { -m } else { m };
        }
    }
    x
}

/// `rows` softmax rows of length `len` from scores with a few large entries.
pub(crate) fn softmax_rows(rows: usize, len: usize, seed: u64) -> Vec<f32> {
    let g = gaussian(rows * len, seed);
    let mut out = Vec::with_capacity(rows * len);
    for r in 0..rows {
        let s: Vec<f64> = g[r * len..(r + 1) * len]
            .iter()
            .enumerate()
            .map(|(i, &v)| f64::from(v) * 2.0 + if (i * 7 + r) % 31 == 0 { 6.0 } else { 0.0 })
            .collect();
        let m = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let e: Vec<f64> = s.iter().map(|v| (v - m).exp()).collect();
        let sum: f64 = e.iter().sum();
        out.extend(e.iter().map(|v| (v / sum) as f32));
    }
    out
}

/// Fisher-Yates shuffle.
pub(crate) fn shuffle(x: &mut [f32], seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    for i in (1..x.len()).rev() {
        let j = rng.random_range(0..=i);
        x.swap(i, j);
    }
}
