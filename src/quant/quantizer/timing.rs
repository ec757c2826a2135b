//! Initialisation time on DeiT-S-calibration-sized tensors (about 20 million elements).
//! Run with `cargo test --release --lib quantizer::timing -- --ignored --nocapture`.

use std::time::Instant;

use super::testutil::{gaussian_with_outliers, softmax_rows};
use super::{Granularity, LogBase, LogQuantizer, SymmetricQuantizer, UniformQuantizer};

fn timed<T>(what: &str, n: usize, f: impl FnOnce() -> T) -> T {
    let t = Instant::now();
    let r = f();
    eprintln!(
        "{what:58} {n:>9} elements: {:7.1} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    r
}

#[test]
#[ignore]
fn init_time_on_20m_elements() {
    eprintln!("rayon threads: {}", rayon::current_num_threads());
    let x = gaussian_with_outliers(13_000 * 1536, 1);
    let n = x.len();
    let q = timed("uniform 4-bit per tensor init", n, || {
        UniformQuantizer::init(&x, 4, Granularity::PerTensor).unwrap()
    });
    let mut y = x.clone();
    timed("uniform per tensor fake_quant_in_place", n, || {
        q.fake_quant_in_place(&mut y).unwrap()
    });
    let q = timed("uniform 4-bit channel-wise [13000, 1536] init", n, || {
        UniformQuantizer::init(&x, 4, Granularity::PerChannel { channels: 1536 }).unwrap()
    });
    timed("uniform channel-wise fake_quant_in_place", n, || {
        q.fake_quant_in_place(&mut y).unwrap()
    });
    timed("uniform 4-bit per row [13000, 1536] init", n, || {
        UniformQuantizer::init(&x, 4, Granularity::PerRow { rows: 13_000 }).unwrap()
    });
    timed("symmetric 4-bit per row [13000, 1536] init", n, || {
        SymmetricQuantizer::init(&x, 4, Granularity::PerRow { rows: 13_000 }).unwrap()
    });
    drop(y);
    drop(x);
    // [32, 6, 197, 197] is 7.45M; 20M elements = 101,523 softmax rows of 197.
    let a = softmax_rows(101_523, 197, 2);
    let n = a.len();
    let q = timed("log-sqrt2 4-bit init", n, || {
        LogQuantizer::init(&a, 4, LogBase::Sqrt2).unwrap()
    });
    let mut b = a.clone();
    timed("log-sqrt2 fake_quant_in_place", n, || {
        q.fake_quant_in_place(&mut b)
    });
    timed("log2 4-bit init", n, || {
        LogQuantizer::init(&a, 4, LogBase::Two).unwrap()
    });
}
