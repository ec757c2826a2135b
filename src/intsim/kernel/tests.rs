//! The kernels against the units of `crate::arith`, bit for bit.

use super::*;

/// Exact reference: `bias[c] + sum_k a[r][k] * w[c][k]` in i64, one product at a time.
fn reference(a: &[u8], w: &[i16], bias: &[i64], rows: usize, depth: usize) -> Vec<i64> {
    let cols = bias.len();
    let mut out = Vec::with_capacity(rows * cols);
    for r in 0..rows {
        for c in 0..cols {
            let s: i64 = (0..depth)
                .map(|k| i64::from(a[r * depth + k]) * i64::from(w[c * depth + k]))
                .sum();
            out.push(bias[c] + s);
        }
    }
    out
}

fn kernels() -> Vec<Kernel> {
    [Kernel::Portable, Kernel::Avx2]
        .into_iter()
        .filter(|k| k.available())
        .collect()
}

fn run(k: Kernel, p: &PackedOperands, a: &[u8], rows: usize, bias: &[i64]) -> Vec<i64> {
    let mut a16 = Vec::new();
    p.widen(a, rows, &mut a16);
    let mut out = vec![0i64; rows * p.cols()];
    p.matmul(k, &a16, rows, bias, &mut out, &Accumulators);
    out
}

/// Every kernel equals the exact reference on edge shapes: rows not a multiple of MR (nor of
/// the row block; more rows than one block run in parallel), columns not a multiple of NR,
/// odd depths, extreme operands (which force several i32 chunks), zero-size cases.
#[test]
fn kernels_agree_exactly_on_edge_shapes() {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for &(rows, cols, depth) in &[
        (1, 1, 1),
        (3, 5, 2),
        (4, 24, 64),
        (5, 25, 65),
        (7, 23, 3),
        (9, 49, 385),
        (33, 48, 17),
        (70, 97, 64),
        (2, 0, 5),
        (0, 3, 5),
        (3, 4, 0),
    ] {
        for max_w in [1i64, 255, 256, 32767] {
            let w: Vec<i16> = (0..cols * depth)
                .map(|_| {
                    let v = (next() % (2 * max_w as u64 + 1)) as i64 - max_w;
                    // Some runs of the extreme values, which stress the chunk bound.
                    if next() % 4 == 0 {
                        max_w as i16
                    } else {
                        v as i16
                    }
                })
                .collect();
            let a: Vec<u8> = (0..rows * depth)
                .map(|_| if next() % 3 == 0 { 255 } else { next() as u8 })
                .collect();
            let bias: Vec<i64> = (0..cols).map(|_| next() as i64 >> 20).collect();
            let want = reference(&a, &w, &bias, rows, depth);
            let p = PackedOperands::from_rows(&w, cols, depth);
            for k in kernels() {
                assert_eq!(
                    run(k, &p, &a, rows, &bias),
                    want,
                    "{k:?} rows {rows} cols {cols} depth {depth} max|w| {max_w}"
                );
            }
        }
    }
}

#[test]
fn long_depth_uses_several_chunks_exactly() {
    // 255 * 32767 * 2 per pair: 128 pairs per chunk, so 5001 depth is 20 chunks, and every
    // product at its extreme.
    let (rows, cols, depth) = (5, 26, 5001);
    let w: Vec<i16> = (0..cols * depth)
        .map(|i| if i % 5 == 0 { -32767 } else { 32767 })
        .collect();
    let a = vec![255u8; rows * depth];
    let bias: Vec<i64> = (0..cols as i64).collect();
    let p = PackedOperands::from_rows(&w, cols, depth);
    assert!(p.chunk_pairs < depth / 2 / 10);
    let want = reference(&a, &w, &bias, rows, depth);
    for k in kernels() {
        assert_eq!(run(k, &p, &a, rows, &bias), want, "{k:?}");
    }
}

/// The vector requantization equals [`Requant::apply`] on every lane: shifts 1..=62, zero
/// and extreme multipliers, accumulators at and beyond the 32-bit range (scalar fallback),
/// code, `s16` and `s32` clamps, and segment lengths that leave a scalar tail.
#[test]
fn requant_lanes_equal_the_reference_unit() {
    let mut v = 0x0123_4567_89ab_cdefu64;
    let mut next = move || {
        v ^= v << 13;
        v ^= v >> 7;
        v ^= v << 17;
        v
    };
    let rq: Vec<Requant> = (0..200)
        .map(|i| {
            let shift = 1 + (i % 62) as u32;
            let m0 = match i % 5 {
                0 => 0,
                1 => 1 << 30,
                2 => u32::MAX >> 1,
                _ => (1 << 30) + (next() as u32 >> 2),
            };
            let (lo, hi) = match i % 3 {
                0 => (0, 255),
                1 => (-(1 << 15), (1 << 15) - 1),
                _ => (i32::MIN, i32::MAX),
            };
            let zero_point = (next() % 300) as i32 - 20;
            Requant {
                m0,
                shift,
                zero_point,
                lo,
                hi,
            }
        })
        .collect();
    let lanes = RequantLanes::new(&rq);
    for round in 0..400 {
        let len = 1 + (next() % 40) as usize;
        let c0 = (next() as usize) % (rq.len() - len);
        let acc: Vec<i64> = (0..len)
            .map(|_| match next() % 8 {
                0 => i64::from(i32::MIN),
                1 => i64::from(i32::MAX),
                2 => 0,
                3 => -1,
                _ => (next() as i64) >> (33 + next() % 30),
            })
            .collect();
        // Some segments with an accumulator beyond 32 bits.
        let mut acc = acc;
        if round % 7 == 0 {
            acc[0] = 1 << 32;
        }
        let want: Vec<i32> = acc
            .iter()
            .enumerate()
            .map(|(i, &a)| rq[c0 + i].apply(a))
            .collect();
        for k in kernels() {
            let mut got = vec![0i32; len];
            lanes.apply(k, c0, &acc, &mut got);
            assert_eq!(got, want, "{k:?} c0 {c0}");
        }
    }
}

/// The vector softmax equals [`SoftmaxParams::apply`]: rows of every length around the
/// vector width, scores from flat to far apart (e = 0 beyond EBITS), extreme multipliers,
/// rows that leave the vector path (scores beyond 32 bits).
#[test]
fn softmax_rows_equal_the_reference_unit() {
    let table = crate::arith::exp2_table();
    let mut v = 0xdead_beef_1234_5678u64;
    let mut next = move || {
        v ^= v << 13;
        v ^= v >> 7;
        v ^= v << 17;
        v
    };
    for (m0, shift) in [
        (1u32 << 30, 1),
        (1 << 30, 40),
        (u32::MAX >> 1, 62),
        (1_500_000_000, 33),
        (1 << 30, 20),
    ] {
        let sp = SoftmaxParams { m0, shift };
        let rows = SoftmaxRows::new(sp, &table);
        for len in [1usize, 3, 4, 5, 7, 8, 9, 16, 197, 1024, 1025] {
            for (spread, beyond) in [
                (0i64, false),
                (3, false),
                (1000, false),
                (1 << 20, false),
                ((1 << 31) - 1, false),
                (1000, true),
            ] {
                let mut acc: Vec<i64> = (0..len)
                    .map(|_| {
                        if spread == 0 {
                            0
                        } else {
                            (next() % (2 * spread as u64)) as i64 - spread
                        }
                    })
                    .collect();
                if beyond {
                    // One score beyond 32 bits: the row takes the unit's own path.
                    acc[len / 2] = 1 << 31;
                }
                let mut want = vec![0u32; len];
                sp.apply(&table, &acc, &mut want);
                for k in kernels() {
                    let mut got = vec![0u32; len];
                    rows.apply(k, &acc, &mut got);
                    assert_eq!(
                        got, want,
                        "{k:?} m0 {m0} n {shift} len {len} spread {spread}"
                    );
                }
            }
        }
    }
}

/// U3 + U4 from probabilities equals the code unit followed by U4: every probability
/// 0..=2^16 across rows, several scales (negative and positive C_INT) and widths, rows whose
/// length leaves a scalar tail.
#[test]
fn codes_from_probabilities_equal_the_code_unit() {
    let (dh, f) = (16, 9);
    for bits in [3u32, 4, 8] {
        for scale in [1.0, 0.731, 0.25, 0.0613, 1.3, 3e-3] {
            let lc = LogCodeParams::from_scale(scale, bits);
            for t in [1usize, 7, 8, 9, 197] {
                let values: Vec<i32> = (0..t * dh).map(|i| (i as i32 * 37) % 511 - 255).collect();
                let av = AvValues::new(values, dh, f);
                let mut s = AvScratch::default();
                // Probabilities spread over 0..=2^16, both ends included.
                for start in (0..=65536u32).step_by(t.max(64) * 3 + 1) {
                    let probs: Vec<u32> =
                        (0..t as u32).map(|j| (start + j * 997) % 65537).collect();
                    let codes: Vec<LogCode> = probs.iter().map(|&p| lc.code(p)).collect();
                    let mut want = vec![0i64; dh];
                    av.row(Kernel::Portable, &codes, &mut s, &mut want);
                    for k in kernels() {
                        let mut got = vec![0i64; dh];
                        av.row_from_probs(k, &lc, &probs, &mut s, &mut got);
                        assert_eq!(got, want, "{k:?} bits {bits} scale {scale} t {t}");
                    }
                }
            }
        }
    }
}

/// Constants outside what lowering produces (`M0 >= 2^31`) keep to the reference unit.
#[test]
fn unusual_requant_constants_take_the_reference_path() {
    let rq: Vec<Requant> = (0..NR as u32)
        .map(|i| Requant {
            m0: u32::MAX - i,
            shift: 40 + i % 8,
            zero_point: 3,
            lo: 0,
            hi: 255,
        })
        .collect();
    let lanes = RequantLanes::new(&rq);
    let acc: Vec<i64> = (0..NR as i64).map(|i| (i - 8) * 123_456_789).collect();
    let want: Vec<i32> = acc.iter().zip(&rq).map(|(&a, r)| r.apply(a)).collect();
    for k in kernels() {
        let mut got = vec![0i32; NR];
        lanes.apply(k, 0, &acc, &mut got);
        assert_eq!(got, want, "{k:?}");
    }
}

#[test]
fn av_row_equals_the_reference_unit() {
    let mut seed = 7u64;
    let mut next = move || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        seed >> 33
    };
    let mut narrow_cases = 0;
    for &(t, dh, f) in &[
        (197, 64, 16),
        (197, 64, 13),
        (5, 8, 0),
        (33, 130, 7),
        (40, 3, 16),
        (1, 64, 12),
    ] {
        for bits in [4u32, 8] {
            let span = 1i64 << bits;
            let values: Vec<i32> = (0..t * dh)
                .map(|_| (next() as i64 % (2 * span) - span) as i32)
                .collect();
            let av = AvValues::new(values.clone(), dh, f);
            let bound = (t as i64 * (values.iter().map(|v| v.abs()).max().unwrap() as i64)) << f;
            assert_eq!(av.narrow, bound <= i64::from(i32::MAX));
            narrow_cases += usize::from(av.narrow);
            let mut s = AvScratch::default();
            for _ in 0..4 {
                let codes: Vec<LogCode> = (0..t)
                    .map(|_| LogCode {
                        code: (next() % (1 << bits)) as u32,
                        zero: next() % 7 == 0,
                    })
                    .collect();
                let mut want = vec![0i64; dh];
                attention_row(&codes, &values, f, &mut want);
                for k in kernels() {
                    let mut got = vec![0i64; dh];
                    av.row(k, &codes, &mut s, &mut got);
                    assert_eq!(got, want, "{k:?} t {t} dh {dh} f {f}");
                }
            }
        }
    }
    assert!(narrow_cases >= 8, "{narrow_cases}");
    // Too many keys for i32 sums: the i64 reference path.
    let values = vec![-(1 << 13); 70_000];
    let av = AvValues::new(values.clone(), 1, 16);
    assert!(!av.narrow);
    let codes = vec![
        LogCode {
            code: 1,
            zero: false
        };
        70_000
    ];
    let mut want = [0i64];
    attention_row(&codes, &values, 16, &mut want);
    let mut got = [0i64];
    av.row(
        Kernel::detect(),
        &codes,
        &mut AvScratch::default(),
        &mut got,
    );
    assert_eq!(got, want);
}
