//! Random vectors of Swin's units after the last stage (`repq-hw golden --random`, drawn after
//! [`super::random_units`] from the same generator): U5r, a LayerNorm into the `s32` residual
//! stream, on hard rows and signed clamps, and the average pooling with the U2 to the head's input
//! codes on full-scale sums, ties and single tokens. Every expected value comes from
//! [`crate::arith`].

use rand::RngExt;
use rand::rngs::StdRng;

use super::random::RandomSpec;
use super::random_units::LN_DIM;
use super::{GoldenFile, Kind, signed, unsigned};
use crate::arith::Requant;
use crate::arith::layernorm::{LayerNormParams, eps_units};
use crate::arith::pool::avg_pool;

/// U5r layers of the random vectors (`layernorm_r.*`), [`LN_DIM`] channels each.
pub const LNR_LAYERS: usize = 4;
/// Rows per U5r layer.
pub const LNR_ROWS: usize = 12;
/// The pooling directories: (name, jobs, tokens `T`), each job [`LN_DIM`] channels (not a
/// multiple of any lane count `C >= 2`).
pub const POOLS: [(&str, usize, usize); 3] = [
    ("avgpool", 3, 6),
    ("avgpool1", 1, 1),
    ("avgpool197", 1, 197),
];

fn file<T: Copy + Into<i128>>(
    kind: Kind,
    dir: &str,
    name: &str,
    shape: &[usize],
    ty: (u32, bool),
    data: &[T],
    what: &str,
) -> GoldenFile {
    GoldenFile::new(kind, dir, &format!("{dir}.{name}"), shape, ty, data, what)
}

/// Both units, in this order.
pub fn generate(spec: &RandomSpec, rng: &mut StdRng, files: &mut Vec<GoldenFile>) {
    layernorm_r(rng, files);
    for (dir, jobs, tokens) in POOLS {
        pool(spec, rng, files, dir, jobs, tokens);
    }
}

/// [`LNR_LAYERS`] U5r layers: 0 `E` of `eps = 1e-5` and the whole `s32` range (U5r's own
/// clamp, which real constants never reach); 1 `E = 0` (a constant row has `r = 0`) and a clamp
/// around 0; 2 `E = 2^64 - 1` and a clamp of negative values only; 3 a clamp of positive values
/// only. `G` typical of `gamma sqrt(D) 2^24` (`2^20 .. 2^30`, both signs), `B` of `beta 2^40`;
/// channels 0 and 1 the extremes of `s32` and `s48`. Rows: constant (0, `2^31 - 1`, `-2^31`:
/// zero variance), `-2^31` / `2^31 - 1` alternating, an outlier channel at either extreme,
/// deviations of a few LSB, then typical rows over six decades of scale.
fn layernorm_r(rng: &mut StdRng, files: &mut Vec<GoldenFile>) {
    let d = LN_DIM;
    let (min, max) = (i32::MIN, i32::MAX);
    let typical = |rng: &mut StdRng, scale: f64| -> Vec<i32> {
        (0..d)
            .map(|_| (rng.random_range(-1.0f64..1.0) * scale * 65536.0) as i32)
            .collect()
    };
    let eps = eps_units(1e-5, d, 16).unwrap_or(0);
    let around = rng.random_range(1i32 << 16..1 << 22);
    let neg_hi = -rng.random_range(1i32 << 8..1 << 14);
    let pos_lo = rng.random_range(1i32 << 8..1 << 14);
    let clamps = [
        (eps, min, max),
        (0, -around, around),
        (u64::MAX, -(1 << 23), neg_hi),
        (eps, pos_lo, 1 << 22),
    ];
    let (mut xs, mut out, mut g, mut b, mut eq, mut lo, mut hi) =
        (vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
    for (eps_q, l, h) in clamps {
        let p = LayerNormParams {
            eps_q,
            g: (0..d)
                .map(|c| match c {
                    0 => i64::from(max),
                    1 => i64::from(min),
                    _ => rng.random_range(1i64 << 20..1 << 30) * [1, -1][c % 2],
                })
                .collect(),
            b: (0..d)
                .map(|c| match c {
                    0 => -(1i64 << 47),
                    1 => (1i64 << 47) - 1,
                    _ => rng.random_range(-1i64 << 41..1 << 41),
                })
                .collect(),
            lo: l,
            hi: h,
        };
        let mut rows = vec![
            vec![0; d],
            vec![max; d],
            vec![min; d],
            (0..d).map(|c| [min, max][c % 2]).collect(),
        ];
        for v in [max, min] {
            let mut r = typical(rng, 2.0);
            r[rng.random_range(0..d)] = v;
            rows.push(r);
        }
        let base = rng.random_range(-1i32 << 20..1 << 20);
        rows.push((0..d).map(|_| base + rng.random_range(-3..=3)).collect());
        while rows.len() < LNR_ROWS {
            let scale = 10f64.powf(rng.random_range(-2.0..4.0));
            rows.push(typical(rng, scale));
        }
        for row in rows {
            let mut y = vec![0i32; d];
            p.apply_residual(&row, &mut y);
            xs.extend(row);
            out.extend(y);
        }
        g.extend(p.g);
        b.extend(p.b);
        eq.push(eps_q);
        lo.push(l);
        hi.push(h);
    }
    let (n, dir) = (LNR_LAYERS, "layernorm_r");
    let (p, act) = (Kind::Parameter, Kind::Activation);
    files.extend([
        file(
            p,
            dir,
            "eps_q",
            &[n],
            unsigned(64),
            &eq,
            "epsilon E per layer (U5r)",
        ),
        file(
            p,
            dir,
            "g",
            &[n, d],
            signed(32),
            &g,
            "affine factor G (U5r)",
        ),
        file(
            p,
            dir,
            "b",
            &[n, d],
            signed(48),
            &b,
            "affine offset B (U5r)",
        ),
        file(
            p,
            dir,
            "lo",
            &[n],
            signed(32),
            &lo,
            "lower output clamp (U5r, s32)",
        ),
        file(
            p,
            dir,
            "hi",
            &[n],
            signed(32),
            &hi,
            "upper output clamp (U5r, s32)",
        ),
        file(
            act,
            dir,
            "x",
            &[n, LNR_ROWS, d],
            signed(32),
            &xs,
            "residual-stream rows per layer (U5r input): constant, full-scale, outlier, tiny and \
             typical rows",
        ),
        file(
            act,
            dir,
            "out",
            &[n, LNR_ROWS, d],
            signed(32),
            &out,
            "residual-stream values per layer (U5r)",
        ),
    ]);
}

/// `jobs` pooling jobs of `tokens` rows and [`LN_DIM`] channels with their head input U2. Channel
/// `c` by `c mod 8`: 0 every row `2^31 - 1`, 1 every row `-2^31`, 2 the two alternating, 3 and 4
/// a sum that is a tie `S = T m + T / 2` (for an even `T`) of either sign, 5 full-scale random,
/// 6 typical (`|y| < 2^18`), 7 a single 1. U2: job 0 a typical multiplier (shift 36 .. 44, the
/// full code range), job 1 shift 1 (every code clamped) and a narrowed range, job 2 shift 62.
fn pool(
    spec: &RandomSpec,
    rng: &mut StdRng,
    files: &mut Vec<GoldenFile>,
    dir: &str,
    jobs: usize,
    t: usize,
) {
    let (d, top) = (LN_DIM, (1i32 << spec.abits) - 1);
    let (mut xs, mut avg, mut code) = (vec![], vec![], vec![]);
    let (mut m0, mut sh, mut zp, mut lo, mut hi) = (vec![], vec![], vec![], vec![], vec![]);
    for j in 0..jobs {
        let mut x = vec![0i32; t * d];
        for c in 0..d {
            let tie = (rng.random_range(0..1i64 << 20) * t as i64 + t as i64 / 2) as i32;
            for r in 0..t {
                x[r * d + c] = match c % 8 {
                    0 => i32::MAX,
                    1 => i32::MIN,
                    2 => [i32::MIN, i32::MAX][r % 2],
                    3 if r == 0 => tie,
                    4 if r == 0 => -tie,
                    5 => rng.random(),
                    6 => rng.random_range(-1 << 18..1 << 18),
                    7 if r == 0 => 1,
                    _ => 0,
                };
            }
        }
        let mut a = vec![0i32; d];
        avg_pool(&x, t, &mut a);
        let narrow = rng.random_range(0..=top / 2);
        let rq = Requant {
            m0: rng.random_range(1u32 << 30..1 << 31),
            shift: [rng.random_range(36..=44), 1, 62][j % 3],
            zero_point: rng.random_range(0..=top),
            lo: if j % 3 == 1 { narrow } else { 0 },
            hi: if j % 3 == 1 {
                rng.random_range(narrow..=top)
            } else {
                top
            },
        };
        code.extend(a.iter().map(|&v| rq.apply(i64::from(v))));
        xs.extend(x);
        avg.extend(a);
        m0.push(rq.m0);
        sh.push(rq.shift);
        zp.push(rq.zero_point);
        lo.push(rq.lo);
        hi.push(rq.hi);
    }
    let (p, act) = (Kind::Parameter, Kind::Activation);
    files.extend([
        file(
            p,
            dir,
            "m0",
            &[jobs],
            unsigned(31),
            &m0,
            "head input U2 multiplier per job",
        ),
        file(
            p,
            dir,
            "shift",
            &[jobs],
            unsigned(6),
            &sh,
            "head input U2 shift per job",
        ),
        file(
            p,
            dir,
            "zero_point",
            &[jobs],
            signed(32),
            &zp,
            "head input zero point per job",
        ),
        file(
            p,
            dir,
            "lo",
            &[jobs],
            signed(32),
            &lo,
            "head input lower clamp per job",
        ),
        file(
            p,
            dir,
            "hi",
            &[jobs],
            signed(32),
            &hi,
            "head input upper clamp per job",
        ),
        file(
            act,
            dir,
            "x",
            &[jobs, t, d],
            signed(32),
            &xs,
            "rows per job (U5r output): full-scale, alternating, tie, random and single values",
        ),
        file(
            act,
            dir,
            "avg",
            &[jobs, d],
            signed(32),
            &avg,
            "floor((2 S + T) / 2T) per job and channel (average pooling)",
        ),
        file(
            act,
            dir,
            "code",
            &[jobs, d],
            unsigned(spec.abits),
            &code,
            "the head's input codes (U2 of the average)",
        ),
    ]);
}
