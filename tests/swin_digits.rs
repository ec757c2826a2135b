//! The embedded `swin-digits` model (`--model swin-digits`): float top-1 on the 360 held-out
//! digits at least 90%, and RepQ-ViT's fake-quant model and the Swin integer simulator at W8A8,
//! W6A6 and W4A4 (`cargo test --release --test swin_digits -- --nocapture` prints the README's
//! table).

use std::path::Path;

use repq_hw::data::EvalTransform;
use repq_hw::demo::{Embedded, test_split};
use repq_hw::intsim::IntSwin;
use repq_hw::model::Network;
use repq_hw::quant::QuantConfig;

fn top1(logits: &[f32], labels: &[usize]) -> (usize, Vec<usize>) {
    let k = logits.len() / labels.len();
    let pred: Vec<usize> = logits
        .chunks_exact(k)
        .map(|r| (0..k).fold(0, |b, j| if r[j] > r[b] { j } else { b }))
        .collect();
    (
        pred.iter().zip(labels).filter(|(p, l)| p == l).count(),
        pred,
    )
}

#[test]
fn swin_digits_float_fake_quant_and_integer_accuracies() {
    let model = Embedded::SwinDigits.loaded().unwrap().model;
    assert!(matches!(model.net, Network::Swin(_)));
    assert_eq!(
        Embedded::named(Path::new("swin-digits")),
        Some(Embedded::SwinDigits)
    );
    let split = test_split().unwrap();
    let tf = EvalTransform::new(&model.preprocess, model.img_size()).unwrap();
    let batch = split.batch(0..split.len(), &tf).unwrap();
    let labels = split.labels();
    let n = labels.len();
    let pct = |c: usize| 100.0 * c as f64 / n as f64;
    let (fp, _) = top1(&model.forward(&batch.data, n).unwrap(), labels);
    eprintln!("swin-digits FP32 top-1 {:.2}%", pct(fp));
    assert!(pct(fp) >= 90.0, "{}", pct(fp));
    for bits in [8, 6, 4] {
        let q = Embedded::SwinDigits
            .quantized(QuantConfig::new(bits, bits).unwrap())
            .unwrap();
        let (fq, fq_pred) = top1(&q.forward(&batch.data, n).unwrap(), labels);
        let int = IntSwin::lower(&q, 32).unwrap();
        let (ic, int_pred) = top1(&int.forward(&batch.data, n).unwrap(), labels);
        let agree = fq_pred
            .iter()
            .zip(&int_pred)
            .filter(|(a, b)| a == b)
            .count();
        eprintln!(
            "W{bits}A{bits}: fake-quant {:.2}%, integer {:.2}%, integer agrees with fake-quant on \
             {agree} of {n}",
            pct(fq),
            pct(ic)
        );
        assert!(pct(fq) >= 90.0 && pct(ic) >= 90.0, "W{bits}A{bits}");
        // The integer deviations flip near-ties: at 8 and 6 bits a few images of 360 (measured
        // 0 and 3), at 4 bits, where one code step is 1/15 of the range, more (measured 14).
        let min = if bits == 4 { 0.95 } else { 0.98 };
        assert!(
            agree as f64 >= min * n as f64,
            "W{bits}A{bits}: {agree} of {n}"
        );
    }
}
