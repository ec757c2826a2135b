//! Scale reparameterization of post-LayerNorm activations (paper Sec. 3.2, Eq. 13-17).
//!
//! The channel-wise quantizer of X' (scales `s`, zero points `z`, one per channel) becomes the
//! layer-wise quantizer (`s~ = E[s]`, `z~ = E[z]`) by changing the LayerNorm's affine factors
//! (Eq. 15) and compensating in the next linear layer's weights and bias (Eq. 17).

use crate::model::{LayerNorm, Linear};

/// What the reparameterization did: the layer-wise quantizer it produced and the variation
/// factors (paper Algorithm 1, lines 3-4).
#[derive(Clone, Debug, PartialEq)]
pub struct LnReparam {
    /// `s~ = E[s]`.
    pub s_tilde: f32,
    /// `z~ = E[z]` (fractional, as the reference code leaves it).
    pub z_tilde: f32,
    /// `r1 = s / s~`.
    pub r1: Vec<f32>,
    /// `r2 = z - z~`.
    pub r2: Vec<f32>,
}

/// Reparameterizes `ln` and the linear layer `next` that consumes its output, given the
/// channel-wise scales `s` and zero points `z` of that layer's input quantizer.
///
/// * Eq. 15: `gamma~ = gamma / r1`, `beta~ = (beta + s * r2) / r1`;
/// * Eq. 17: `W~[:, d] = r1[d] * W[:, d]` (input channel d), `b~ = b - (s * r2) W`; a layer
///   without a bias gets one.
///
/// The float function is unchanged: `LN~(x) W~ + b~ = LN(x) W + b` (Eq. 16).
pub fn reparameterize(ln: &mut LayerNorm, next: &mut Linear, s: &[f32], z: &[f32]) -> LnReparam {
    let s_tilde = mean(s);
    let z_tilde = mean(z);
    reparameterize_with(ln, next, s, z, s_tilde, z_tilde)
}

/// [`reparameterize`] with a given target `(s~, z~)` instead of the means. Eq. 13-17 hold for any
/// choice; the paper takes `z~` in Z, e.g. `round(E[z])`, which makes `r2 = z - z~` integer, so the
/// layer-wise codes of the reparameterized X' equal the channel-wise codes of X' exactly.
pub fn reparameterize_with(
    ln: &mut LayerNorm,
    next: &mut Linear,
    s: &[f32],
    z: &[f32],
    s_tilde: f32,
    z_tilde: f32,
) -> LnReparam {
    let d = ln.gamma.len();
    assert_eq!(s.len(), d, "one scale per channel");
    assert_eq!(z.len(), d, "one zero point per channel");
    assert_eq!(
        next.in_features, d,
        "next layer consumes the LayerNorm output"
    );
    assert!(s_tilde > 0.0 && s_tilde.is_finite(), "s~ must be positive");

    let r1: Vec<f32> = s.iter().map(|&v| v / s_tilde).collect();
    let r2: Vec<f32> = z.iter().map(|&v| v - z_tilde).collect();
    let shift: Vec<f32> = s.iter().zip(&r2).map(|(a, b)| a * b).collect(); // s * r2

    // Eq. 17, bias first (it uses the original W): b~[o] = b[o] - sum_d shift[d] * W[o][d].
    let mut bias = next
        .bias
        .take()
        .unwrap_or_else(|| vec![0.0; next.out_features]);
    for (o, b) in bias.iter_mut().enumerate() {
        let dot: f64 = next
            .row(o)
            .iter()
            .zip(&shift)
            .map(|(&w, &t)| f64::from(w) * f64::from(t))
            .sum();
        *b = (f64::from(*b) - dot) as f32;
    }
    next.bias = Some(bias);
    for row in next.weight.chunks_exact_mut(d) {
        for (w, r) in row.iter_mut().zip(&r1) {
            *w *= r;
        }
    }

    // Eq. 15.
    for ((g, b), (r, t)) in ln
        .gamma
        .iter_mut()
        .zip(ln.beta.iter_mut())
        .zip(r1.iter().zip(&shift))
    {
        *g /= r;
        *b = (*b + t) / r;
    }
    LnReparam {
        s_tilde,
        z_tilde,
        r1,
        r2,
    }
}

fn mean(v: &[f32]) -> f32 {
    (v.iter().map(|&x| f64::from(x)).sum::<f64>() / v.len() as f64) as f32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ops;

    fn setup() -> (LayerNorm, Linear, Vec<f32>, Vec<f32>, Vec<f32>) {
        let d = 8;
        let ln = LayerNorm {
            gamma: (0..d).map(|i| 0.5 + 0.3 * i as f32).collect(),
            beta: (0..d).map(|i| (i as f32 - 3.0) * 0.2).collect(),
            eps: 1e-6,
        };
        let next = Linear {
            out_features: 5,
            in_features: d,
            weight: (0..5 * d)
                .map(|i| ((i * 37 % 17) as f32 - 8.0) / 10.0)
                .collect(),
            bias: None,
        };
        let s: Vec<f32> = (0..d).map(|i| 0.01 + 0.02 * i as f32).collect();
        let z: Vec<f32> = (0..d).map(|i| (3 + i % 5) as f32).collect();
        let x: Vec<f32> = (0..4 * d)
            .map(|i| ((i * 13 % 29) as f32 - 14.0) / 3.0)
            .collect();
        (ln, next, s, z, x)
    }

    #[test]
    fn reparameterized_float_model_equals_the_original() {
        let (mut ln, mut next, s, z, x) = setup();
        let before = ops::linear(&ops::layer_norm(&x, &ln), 4, &next);
        let rep = reparameterize(&mut ln, &mut next, &s, &z);
        let after = ops::linear(&ops::layer_norm(&x, &ln), 4, &next);
        for (a, b) in before.iter().zip(&after) {
            assert!((a - b).abs() <= 1e-5 * a.abs().max(1.0), "{a} vs {b}");
        }
        assert!((rep.s_tilde - s.iter().sum::<f32>() / 8.0).abs() < 1e-7);
        assert!(
            rep.r1
                .iter()
                .zip(&s)
                .all(|(r, v)| (r * rep.s_tilde - v).abs() < 1e-7)
        );
        assert!(next.bias.is_some(), "a layer without bias gets one");
    }

    #[test]
    fn eq15_and_eq17_by_hand_for_one_channel() {
        let mut ln = LayerNorm {
            gamma: vec![2.0, 1.0],
            beta: vec![1.0, 0.0],
            eps: 1e-6,
        };
        let mut next = Linear {
            out_features: 1,
            in_features: 2,
            weight: vec![3.0, 5.0],
            bias: Some(vec![0.5]),
        };
        // s = [0.1, 0.3] -> s~ = 0.2, r1 = [0.5, 1.5]; z = [4, 2] -> z~ = 3, r2 = [1, -1].
        let rep = reparameterize(&mut ln, &mut next, &[0.1, 0.3], &[4.0, 2.0]);
        assert!((rep.s_tilde - 0.2).abs() < 1e-7);
        assert!((rep.z_tilde - 3.0).abs() < 1e-7);
        // gamma~ = [2 / 0.5, 1 / 1.5]; beta~ = [(1 + 0.1) / 0.5, (0 - 0.3) / 1.5]
        assert!((ln.gamma[0] - 4.0).abs() < 1e-6 && (ln.gamma[1] - 2.0 / 3.0).abs() < 1e-6);
        assert!((ln.beta[0] - 2.2).abs() < 1e-6 && (ln.beta[1] + 0.2).abs() < 1e-6);
        // W~ = [3 * 0.5, 5 * 1.5]; b~ = 0.5 - (0.1 * 3 + (-0.3) * 5) = 0.5 - (0.3 - 1.5) = 1.7
        assert!((next.weight[0] - 1.5).abs() < 1e-6 && (next.weight[1] - 7.5).abs() < 1e-6);
        assert!((next.bias.as_ref().unwrap()[0] - 1.7).abs() < 1e-6);
    }
}
