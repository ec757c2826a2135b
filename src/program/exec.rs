//! The reference executor of a layer program: what the accelerator's sequencer does, in software.
//! It reads only the image (never the model it came from) and runs every descriptor with the units
//! of `src/arith` (docs/arithmetic.md), so "the program's logits equal the integer model's" shows
//! that the image carries every constant, in the documented layout.

use super::format::{Blob, Buffer, Descriptor, Header, Mode, Op, Reader, blob_bytes};
use crate::arith::gelu::{GeluSteps, HBITS};
use crate::arith::layernorm::LayerNormParams;
use crate::arith::shift_av::attention_row;
use crate::arith::{LogCode, LogCodeParams, Requant, SoftmaxParams, matmul_acc, residual_add};
use crate::error::{Error, Result};

fn bad(reason: String) -> Error {
    Error::Invalid(format!("layer program: {reason}"))
}

/// The buffers of one image's run.
struct State {
    x: Vec<i32>,
    norm: Vec<u8>,
    qkv: Vec<u8>,
    proj_in: Vec<u8>,
    hidden: Vec<u8>,
    logits: Vec<i32>,
}

/// Logits (`s32`, 16 fraction bits; `classes` values) of the program `image` on the input codes
/// `input` (`[C, H, W]`, u8).
///
/// Errors: an image that is not a layer program of this version, a descriptor whose operation,
/// buffer, size or blob is outside what the header declares, constants outside their types, or
/// input codes of the wrong count. Never panics on a malformed image.
pub fn execute(image: &[u8], input: &[u8]) -> Result<Vec<i32>> {
    let h = Header::read(image)?;
    if input.len() != h.input_codes as usize {
        return Err(bad(format!(
            "{} input codes given, the program takes {}",
            input.len(),
            h.input_codes
        )));
    }
    let (t, d, m) = (h.tokens as usize, h.dim as usize, h.hidden as usize);
    let heads_out = usize::from(h.heads_out).max(1);
    let classes = h.classes as usize;
    let sizes = [t, d, m, classes, h.heads as usize];
    if sizes.iter().any(|&v| v == 0 || v > 1 << 20) || heads_out > 2 {
        return Err(bad(format!(
            "header sizes out of range (tokens {t}, width {d}, hidden {m}, classes {classes}, \
             heads {}, classifier heads {heads_out})",
            h.heads
        )));
    }
    let exp2: Vec<u32> = words(image, h.exp2, 4, "EXP2")?
        .chunks_exact(4)
        .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")))
        .collect();
    if exp2.len() != 1 << crate::arith::softmax::EF {
        return Err(bad(format!(
            "EXP2 has {} entries, U6 takes {}",
            exp2.len(),
            1 << crate::arith::softmax::EF
        )));
    }
    let mut s = State {
        x: vec![0; t * d],
        norm: vec![0; t * d],
        qkv: vec![0; t * 3 * d],
        proj_in: vec![0; t * d],
        hidden: vec![0; t * m],
        logits: vec![0; heads_out * classes],
    };
    let abits = u32::from(h.abits);
    for i in 0..h.descriptors as usize {
        let dsc = Descriptor::read(image, i)?;
        let what = format!("descriptor {i}");
        match dsc.op()? {
            Op::LoadResidual => {
                let v = i32s(image, dsc.a, t * d, &what)?;
                s.x.copy_from_slice(&v);
            }
            Op::PatchEmbed => patch_embed(image, &dsc, input, &mut s, &what)?,
            Op::LayerNorm => layer_norm(image, &dsc, &mut s, abits, &what)?,
            Op::Linear => linear(image, &dsc, &mut s, abits, &what)?,
            Op::Attention => attention(image, &dsc, &mut s, &exp2, abits, &what)?,
            Op::AverageHeads => {
                if heads_out != 2 || dsc.n as usize != classes {
                    return Err(bad(format!(
                        "{what}: average of heads in a single-head program"
                    )));
                }
                let (a, b) = s.logits.split_at_mut(classes);
                for (x, &y) in a.iter_mut().zip(b.iter()) {
                    *x = ((i64::from(*x) + i64::from(y) + 1) >> 1) as i32;
                }
            }
            Op::End => {
                if dsc.n as usize != classes {
                    return Err(bad(format!(
                        "{what}: end of {} classes, header {classes}",
                        dsc.n
                    )));
                }
                return Ok(s.logits[..classes].to_vec());
            }
        }
    }
    Err(bad("the program has no End descriptor".into()))
}

/// The blob's bytes, which must be a whole number of `unit`-byte words.
fn words<'a>(image: &'a [u8], blob: Blob, unit: usize, what: &str) -> Result<&'a [u8]> {
    if !(blob.bytes as usize).is_multiple_of(unit) {
        return Err(bad(format!("{what}: blob of {} bytes", blob.bytes)));
    }
    blob_bytes(image, blob, blob.bytes as usize, what)
}

fn i32s(image: &[u8], blob: Blob, n: usize, what: &str) -> Result<Vec<i32>> {
    Ok(blob_bytes(image, blob, 4 * n, what)?
        .chunks_exact(4)
        .map(|b| i32::from_le_bytes(b.try_into().expect("4 bytes")))
        .collect())
}

/// Weights `[K, N]` (i16), biases `[N]` and requantization records `[N]` of a linear descriptor.
fn linear_params(
    image: &[u8],
    dsc: &Descriptor,
    what: &str,
) -> Result<(Vec<i32>, Vec<i64>, Vec<Requant>)> {
    let (k, n) = (dsc.k as usize, dsc.n as usize);
    if k == 0 || n == 0 || k > 1 << 20 || n > 1 << 20 {
        return Err(bad(format!("{what}: K = {k}, N = {n}")));
    }
    let w = blob_bytes(image, dsc.a, 2 * k * n, &format!("{what} weights"))?
        .chunks_exact(2)
        .map(|b| i32::from(i16::from_le_bytes([b[0], b[1]])))
        .collect();
    let bias = i32s(image, dsc.b, n, &format!("{what} biases"))?
        .into_iter()
        .map(i64::from)
        .collect();
    let bytes = blob_bytes(image, dsc.c, 20 * n, &format!("{what} requantization"))?;
    let mut r = Reader::new(bytes);
    let rq = (0..n)
        .map(|c| r.requant(&format!("{what} channel {c}")))
        .collect::<Result<_>>()?;
    Ok((w, bias, rq))
}

/// Rows `row0 .. row0 + rows` of a `[_, width]` buffer of `len` elements, checked.
fn rows_in(
    len: usize,
    width: usize,
    row0: usize,
    rows: usize,
    what: &str,
) -> Result<std::ops::Range<usize>> {
    let (start, end) = (row0 * width, (row0 + rows) * width);
    if rows == 0 || end > len {
        return Err(bad(format!(
            "{what}: rows {row0}..{} of width {width} outside a buffer of {len} elements",
            row0 + rows
        )));
    }
    Ok(start..end)
}

fn patch_embed(
    image: &[u8],
    dsc: &Descriptor,
    input: &[u8],
    s: &mut State,
    what: &str,
) -> Result<()> {
    let (c, ph, pw) = (
        (dsc.aux & 0xff) as usize,
        (dsc.aux >> 8 & 0xff) as usize,
        (dsc.aux >> 16 & 0xff) as usize,
    );
    let (np, gw) = (dsc.rows as usize, dsc.aux2 as usize);
    if c * ph * pw != dsc.k as usize || gw == 0 || np % gw != 0 {
        return Err(bad(format!(
            "{what}: patch geometry C {c}, {ph}x{pw} px, grid width {gw} does not give K = {} \
             for {np} patches",
            dsc.k
        )));
    }
    let (gh, iw) = (np / gw, gw * pw);
    if c * gh * ph * iw != input.len() {
        return Err(bad(format!(
            "{what}: a {gh}x{gw} grid of {ph}x{pw} patches over {c} channels is not the {} input codes",
            input.len()
        )));
    }
    // im2col: patch rows in raster order, (channel, row, column) within a row.
    let mut a = Vec::with_capacity(np * dsc.k as usize);
    for py in 0..gh {
        for px in 0..gw {
            for ch in 0..c {
                for ky in 0..ph {
                    let src = (ch * gh * ph + py * ph + ky) * iw + px * pw;
                    a.extend_from_slice(&input[src..src + pw]);
                }
            }
        }
    }
    let (w, bias, rq) = linear_params(image, dsc, what)?;
    let acc = matmul_acc(&a, &w, &bias, np, dsc.k as usize);
    let d = dsc.n as usize;
    let range = rows_in(s.x.len(), d, dsc.dst_row as usize, np, what)?;
    for (i, (x, &v)) in s.x[range].iter_mut().zip(&acc).enumerate() {
        *x = residual_add(*x, rq[i % d].apply(v));
    }
    Ok(())
}

fn layer_norm(image: &[u8], dsc: &Descriptor, s: &mut State, abits: u32, what: &str) -> Result<()> {
    let d = dsc.k as usize;
    let bytes = blob_bytes(
        image,
        dsc.a,
        16 + 16 * d,
        &format!("{what} LayerNorm constants"),
    )?;
    let mut r = Reader::new(bytes);
    let eps_q = r.u64()?;
    let (lo, hi) = (r.i32()?, r.i32()?);
    if !(0 <= lo && lo <= hi && hi < 1 << abits) {
        return Err(bad(format!(
            "{what}: LayerNorm clamp [{lo}, {hi}] outside u{abits}"
        )));
    }
    let g = (0..d).map(|_| r.i64()).collect::<Result<Vec<_>>>()?;
    let b = (0..d).map(|_| r.i64()).collect::<Result<Vec<_>>>()?;
    let ln = LayerNormParams {
        eps_q,
        g,
        b,
        lo,
        hi,
    };
    let rows = dsc.rows as usize;
    let src = rows_in(s.x.len(), d, dsc.src_row as usize, rows, what)?;
    let dst = rows_in(s.norm.len(), d, 0, rows, what)?;
    for (x, y) in s.x[src]
        .chunks_exact(d)
        .zip(s.norm[dst].chunks_exact_mut(d))
    {
        ln.apply(x, y);
    }
    Ok(())
}

fn linear(image: &[u8], dsc: &Descriptor, s: &mut State, abits: u32, what: &str) -> Result<()> {
    let (rows, k, n) = (dsc.rows as usize, dsc.k as usize, dsc.n as usize);
    let (w, bias, rq) = linear_params(image, dsc, what)?;
    let a = {
        let buf = codes(s, dsc.src()?, what)?;
        let r = rows_in(buf.len(), k, dsc.src_row as usize, rows, what)?;
        buf[r].to_vec()
    };
    let acc = matmul_acc(&a, &w, &bias, rows, k);
    let y = |i: usize| rq[i % n].apply(acc[i]);
    match dsc.mode()? {
        Mode::Codes => {
            let buf = codes(s, dsc.dst()?, what)?;
            let r = rows_in(buf.len(), n, dsc.dst_row as usize, rows, what)?;
            for (i, o) in buf[r].iter_mut().enumerate() {
                *o = code(y(i), abits, what)?;
            }
        }
        Mode::Gelu => {
            let bits = abits;
            let words = blob_bytes(
                image,
                dsc.d,
                2 * ((2 << bits) - 1),
                &format!("{what} GELU steps"),
            )?;
            let v: Vec<i16> = words
                .chunks_exact(2)
                .map(|b| i16::from_le_bytes([b[0], b[1]]))
                .collect();
            let half = (1usize << bits) - 1;
            let steps = GeluSteps {
                bits,
                base: code(i32::from(v[0]), abits, what)?,
                up: v[1..=half].to_vec(),
                down: v[half + 1..].to_vec(),
            };
            let buf = codes(s, dsc.dst()?, what)?;
            let r = rows_in(buf.len(), n, dsc.dst_row as usize, rows, what)?;
            let (lo, hi) = (-(1 << (HBITS - 1)), (1 << (HBITS - 1)) - 1);
            for (i, o) in buf[r].iter_mut().enumerate() {
                let idx = y(i);
                if !(lo..=hi).contains(&idx) {
                    return Err(bad(format!("{what}: GELU index {idx} outside s{HBITS}")));
                }
                *o = steps.lookup(idx as i16);
            }
        }
        Mode::Residual => {
            if dsc.dst()? != Buffer::X {
                return Err(bad(format!("{what}: a residual output must go to X")));
            }
            let r = rows_in(s.x.len(), n, dsc.dst_row as usize, rows, what)?;
            for (i, x) in s.x[r].iter_mut().enumerate() {
                *x = residual_add(*x, y(i));
            }
        }
        Mode::Values => {
            if dsc.dst()? != Buffer::Logits || rows != 1 {
                return Err(bad(format!("{what}: values go to one row of LOGITS")));
            }
            let r = rows_in(s.logits.len(), n, dsc.dst_row as usize, 1, what)?;
            for (i, o) in s.logits[r].iter_mut().enumerate() {
                *o = y(i);
            }
        }
    }
    Ok(())
}

/// A code buffer.
fn codes<'a>(s: &'a mut State, b: Buffer, what: &str) -> Result<&'a mut Vec<u8>> {
    Ok(match b {
        Buffer::Norm => &mut s.norm,
        Buffer::Qkv => &mut s.qkv,
        Buffer::ProjIn => &mut s.proj_in,
        Buffer::Hidden => &mut s.hidden,
        other => return Err(bad(format!("{what}: {other:?} is not a code buffer"))),
    })
}

/// `v` as an `abits`-bit code (a requantization's clamp keeps it there; checked anyway).
fn code(v: i32, abits: u32, what: &str) -> Result<u8> {
    if (0..1 << abits).contains(&v) {
        Ok(v as u8)
    } else {
        Err(bad(format!(
            "{what}: {v} is not a u{abits} code (clamp bounds outside the code range)"
        )))
    }
}

fn attention(
    image: &[u8],
    dsc: &Descriptor,
    s: &mut State,
    exp2: &[u32],
    abits: u32,
    what: &str,
) -> Result<()> {
    let (t, dh, heads) = (dsc.rows as usize, dsc.k as usize, dsc.n as usize);
    let d = dh * heads;
    if t * 3 * d != s.qkv.len() || t * d != s.proj_in.len() {
        return Err(bad(format!(
            "{what}: {t} tokens x {heads} heads of {dh} do not match the buffers"
        )));
    }
    let bytes = blob_bytes(image, dsc.a, 60, &format!("{what} attention constants"))?;
    let mut r = Reader::new(bytes);
    let (zq, zk, zv) = (r.i32()?, r.i32()?, r.i32()?);
    let softmax = SoftmaxParams {
        m0: r.u32()?,
        shift: r.u32()?,
    };
    Requant {
        m0: softmax.m0,
        shift: softmax.shift,
        zero_point: 0,
        lo: 0,
        hi: 0,
    }
    .check(&format!("{what} softmax multiplier"))
    .map_err(|e| bad(e.to_string()))?;
    let c_int = r.i32()?;
    let thresholds = [r.u32()?, r.u32()?, r.u32()?];
    let logcode = LogCodeParams {
        bits: abits,
        c_int,
        thresholds,
    };
    let f = r.u32()?;
    if f > crate::arith::shift_av::F_MAX {
        return Err(bad(format!(
            "{what}: U4 fraction bits {f} above the maximum"
        )));
    }
    let rq = r.requant(&format!("{what} A x V requantization"))?;
    let col = |tok: usize, which: usize, h: usize| tok * 3 * d + which * d + h * dh;
    let mut probs = vec![0u32; t];
    let mut lc = vec![
        LogCode {
            code: 0,
            zero: true
        };
        t
    ];
    let mut out = vec![0i64; dh];
    for h in 0..heads {
        // Key operands as the stationary matrix [D_h, T]; per-key bias -z_q * sum_c (k - z_k).
        let mut kw = vec![0i32; dh * t];
        let mut kb = vec![0i64; t];
        let mut vals = vec![0i32; t * dh];
        for j in 0..t {
            for c in 0..dh {
                let kop = i32::from(s.qkv[col(j, 1, h) + c]) - zk;
                kw[c * t + j] = kop;
                kb[j] -= i64::from(zq) * i64::from(kop);
                vals[j * dh + c] = i32::from(s.qkv[col(j, 2, h) + c]) - zv;
            }
        }
        let q: Vec<u8> = (0..t)
            .flat_map(|i| s.qkv[col(i, 0, h)..col(i, 0, h) + dh].to_vec())
            .collect();
        let scores = matmul_acc(&q, &kw, &kb, t, dh);
        for (i, row) in scores.chunks_exact(t).enumerate() {
            softmax.apply(exp2, row, &mut probs);
            for (c, &p) in lc.iter_mut().zip(&probs) {
                *c = logcode.code(p);
            }
            attention_row(&lc, &vals, f, &mut out);
            for (c, &o) in out.iter().enumerate() {
                let v = rq.apply(o);
                s.proj_in[i * d + h * dh + c] = code(v, abits, what)?;
            }
        }
    }
    Ok(())
}
