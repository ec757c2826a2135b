//! U1: the integer matrix product with bias (docs/arithmetic.md).

/// `acc[m][n] = bias[n] + sum_k a[m][k] * w[k][n]` for activation codes `a` (`[rows, depth]`,
/// row-major), stationary operands `w` (`[depth, cols]`, row-major) and `bias` (`[cols]`).
/// Exact in i64; callers check the accumulator bound separately.
pub fn matmul_acc(a: &[u8], w: &[i32], bias: &[i64], rows: usize, depth: usize) -> Vec<i64> {
    let cols = bias.len();
    assert_eq!(a.len(), rows * depth, "activation size");
    assert_eq!(w.len(), depth * cols, "stationary operand size");
    let mut acc = Vec::with_capacity(rows * cols);
    for r in 0..rows {
        let ar = &a[r * depth..(r + 1) * depth];
        acc.extend((0..cols).map(|c| {
            bias[c]
                + ar.iter()
                    .enumerate()
                    .map(|(k, &x)| i64::from(x) * i64::from(w[k * cols + c]))
                    .sum::<i64>()
        }));
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_product_by_hand() {
        // a = [[1, 2], [3, 0]], w = [[1, -1, 2], [-3, 4, 0]], bias = [10, 20, 30]
        let acc = matmul_acc(&[1, 2, 3, 0], &[1, -1, 2, -3, 4, 0], &[10, 20, 30], 2, 2);
        assert_eq!(
            acc,
            vec![10 + 1 - 6, 20 - 1 + 8, 30 + 2, 10 + 3, 20 - 3, 30 + 6]
        );
    }
}
