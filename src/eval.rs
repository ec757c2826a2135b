//! Classification metrics: top-k of a logit row, and top-1/top-5 accuracy over a data set.

use crate::data::Batch;
use crate::error::Result;

/// The `k` largest entries of `row` as (index, value), largest first; ties keep the lower index.
pub fn top_k(row: &[f32], k: usize) -> Vec<(usize, f32)> {
    let mut idx: Vec<usize> = (0..row.len()).collect();
    idx.sort_by(|&a, &b| row[b].total_cmp(&row[a]).then(a.cmp(&b)));
    idx.truncate(k);
    idx.into_iter().map(|i| (i, row[i])).collect()
}

/// Softmax probabilities of one logit row (f64 accumulation).
pub fn probabilities(row: &[f32]) -> Vec<f32> {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f64> = row.iter().map(|&v| f64::from(v - max).exp()).collect();
    let sum: f64 = exps.iter().sum();
    exps.iter().map(|e| (e / sum) as f32).collect()
}

/// Running top-1 / top-5 counts.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Accuracy {
    pub total: usize,
    pub top1: usize,
    pub top5: usize,
}

impl Accuracy {
    /// Adds a batch of logits `[labels.len(), classes]`.
    pub fn add(&mut self, logits: &[f32], classes: usize, labels: &[usize]) {
        for (row, &label) in logits.chunks_exact(classes).zip(labels) {
            let top = top_k(row, 5);
            self.total += 1;
            self.top1 += usize::from(top[0].0 == label);
            self.top5 += usize::from(top.iter().any(|&(i, _)| i == label));
        }
    }

    /// Top-1 accuracy in percent.
    pub fn top1_pct(&self) -> f64 {
        100.0 * self.top1 as f64 / self.total.max(1) as f64
    }

    /// Top-5 accuracy in percent.
    pub fn top5_pct(&self) -> f64 {
        100.0 * self.top5 as f64 / self.total.max(1) as f64
    }
}

/// Runs `forward` (images `[B, C, H, W]`, batch size -> logits `[B, classes]`) over every batch
/// with a progress bar labelled `what`, and returns the accuracy.
pub fn evaluate(
    batches: impl Iterator<Item = Result<Batch>>,
    total: usize,
    classes: usize,
    what: &str,
    mut forward: impl FnMut(&[f32], usize) -> Result<Vec<f32>>,
) -> Result<Accuracy> {
    let bar = crate::progress::bar(total, what, "images");
    let mut acc = Accuracy::default();
    for batch in batches {
        let batch = batch?;
        let logits = forward(&batch.data, batch.len())?;
        acc.add(&logits, classes, &batch.labels);
        bar.inc(batch.len() as u64);
    }
    bar.finish_and_clear();
    Ok(acc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_orders_by_value_then_index() {
        let row = [0.1, 0.9, 0.5, 0.9, -1.0];
        let t = top_k(&row, 3);
        assert_eq!(t.iter().map(|p| p.0).collect::<Vec<_>>(), vec![1, 3, 2]);
    }

    #[test]
    fn accuracy_counts_top1_and_top5() {
        let logits = [
            0.0, 1.0, 2.0, 3.0, 4.0, 5.0, // label 5 -> top1
            5.0, 4.0, 3.0, 2.0, 1.0, 0.0, // label 4 -> top5 only
            5.0, 4.0, 3.0, 2.0, 1.0, 0.0, // label 5 -> neither
        ];
        let mut acc = Accuracy::default();
        acc.add(&logits, 6, &[5, 4, 5]);
        assert_eq!((acc.total, acc.top1, acc.top5), (3, 1, 2));
    }

    #[test]
    fn probabilities_sum_to_one() {
        let p = probabilities(&[1.0, 2.0, 3.0]);
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(p[2] > p[1] && p[1] > p[0]);
    }
}
