//! The binary layout of a layer program (docs/layer-program.md): a 64-byte header, 64-byte
//! descriptors, and 64-byte aligned parameter blobs, all little-endian. This file is the one
//! definition of every offset; the emitter ([`super::emit`]), the reference executor
//! ([`super::exec`]) and the C header (`templates/driver/repq_program.h`) follow it.

use crate::arith::Requant;
use crate::error::{Error, Result};

/// The first 8 bytes of every image.
pub const MAGIC: [u8; 8] = *b"RQHWPROG";
/// Format version; a reader refuses any other.
pub const VERSION: u32 = 1;
/// Bytes of the header and of each descriptor; blobs start on this alignment.
pub const ALIGN: usize = 64;
/// Bytes of one requantization record: `m0 u32, shift u32, zero_point i32, lo i32, hi i32`.
pub const REQUANT_BYTES: usize = 20;

/// Operations, one descriptor each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Op {
    /// `X <- blob d` (`[T, D]` s32): position embedding plus the prefix tokens.
    LoadResidual = 1,
    /// Patch embedding: im2col of the input codes, U1, U2 to the residual kind, U8 into `X`
    /// rows `dst_row ..`.
    PatchEmbed = 2,
    /// U5 on `rows` rows of `X` from `src_row`, codes to `dst`.
    LayerNorm = 3,
    /// U1 + U2 on `rows` rows of `src`; the output stage is the descriptor's [`Mode`].
    Linear = 4,
    /// Every head of one block: `Q K^T` (U1), U6, U3, U4, U2 to the proj input codes, heads
    /// merged, from `QKV` to `dst`.
    Attention = 5,
    /// Distilled DeiT: `LOGITS[0][c] = (LOGITS[0][c] + LOGITS[1][c] + 1) >> 1`.
    AverageHeads = 6,
    /// The end of the program: `LOGITS[0]` (`n` values, s32) is the result.
    End = 7,
}

impl Op {
    fn from_u8(v: u8) -> Option<Op> {
        Some(match v {
            1 => Op::LoadResidual,
            2 => Op::PatchEmbed,
            3 => Op::LayerNorm,
            4 => Op::Linear,
            5 => Op::Attention,
            6 => Op::AverageHeads,
            7 => Op::End,
            _ => return None,
        })
    }
}

/// The output stage of a [`Op::Linear`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Mode {
    /// U2 to `u{abits}` codes, written to `dst`.
    Codes = 0,
    /// U2 to the residual kind, U8 into `X` (`dst` is `X`).
    Residual = 1,
    /// U2 to the GELU index, U7 by the steps in blob `d`, codes written to `dst`.
    Gelu = 2,
    /// U2 to s32 values (the logits), written to `LOGITS` row `dst_row`.
    Values = 3,
}

impl Mode {
    fn from_u8(v: u8) -> Option<Mode> {
        Some(match v {
            0 => Mode::Codes,
            1 => Mode::Residual,
            2 => Mode::Gelu,
            3 => Mode::Values,
            _ => return None,
        })
    }
}

/// On-chip buffers (and the two external regions) a descriptor names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Buffer {
    /// The image's input codes `[C, H, W]`, u8, in external memory.
    Input = 0,
    /// The residual stream `[T, D]`, s32.
    X = 1,
    /// LayerNorm output codes `[T, D]`.
    Norm = 2,
    /// q, k, v codes `[T, 3D]`.
    Qkv = 3,
    /// proj input codes `[T, D]`.
    ProjIn = 4,
    /// MLP hidden codes `[T, M]`.
    Hidden = 5,
    /// Logits, one s32 row per classifier head.
    Logits = 6,
}

impl Buffer {
    fn from_u8(v: u8) -> Option<Buffer> {
        Some(match v {
            0 => Buffer::Input,
            1 => Buffer::X,
            2 => Buffer::Norm,
            3 => Buffer::Qkv,
            4 => Buffer::ProjIn,
            5 => Buffer::Hidden,
            6 => Buffer::Logits,
            _ => return None,
        })
    }
}

/// A blob: byte offset into the image and length.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Blob {
    pub offset: u32,
    pub bytes: u32,
}

/// The image header (64 bytes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// Descriptors, from byte 64 on.
    pub descriptors: u32,
    /// Total image bytes.
    pub image_bytes: u32,
    pub wbits: u8,
    pub abits: u8,
    pub acc_bits: u8,
    /// Classifier heads (2 for distilled DeiT).
    pub heads_out: u8,
    /// Tokens `T`, width `D`, attention heads `H`, MLP hidden width `M`, classes.
    pub tokens: u32,
    pub dim: u32,
    pub heads: u32,
    pub hidden: u32,
    pub classes: u32,
    /// Input codes per image (`C * H * W`).
    pub input_codes: u32,
    /// The U6 table `EXP2` (`2^EF` u32 entries).
    pub exp2: Blob,
}

/// One operation (64 bytes). Fields a given [`Op`] does not use are 0.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Descriptor {
    pub op: u8,
    pub mode: u8,
    pub src: u8,
    pub dst: u8,
    pub rows: u32,
    pub k: u32,
    pub n: u32,
    pub src_row: u32,
    pub dst_row: u32,
    /// Op-specific operands: [`Op::PatchEmbed`]: `C | Ph << 8 | Pw << 16`.
    pub aux: u32,
    /// Op-specific operands: [`Op::PatchEmbed`]: the patch grid's width (patches per row).
    pub aux2: u32,
    /// Weights `[K, N]` i16, or LayerNorm constants, or attention constants, or residual
    /// constants.
    pub a: Blob,
    /// Biases `[N]` i32.
    pub b: Blob,
    /// Requantization records `[N]` (or one).
    pub c: Blob,
    /// GELU steps.
    pub d: Blob,
}

impl Descriptor {
    pub fn op(&self) -> Result<Op> {
        Op::from_u8(self.op).ok_or_else(|| bad(format!("unknown operation code {}", self.op)))
    }
    pub fn mode(&self) -> Result<Mode> {
        Mode::from_u8(self.mode).ok_or_else(|| bad(format!("unknown output mode {}", self.mode)))
    }
    pub fn src(&self) -> Result<Buffer> {
        Buffer::from_u8(self.src).ok_or_else(|| bad(format!("unknown buffer {}", self.src)))
    }
    pub fn dst(&self) -> Result<Buffer> {
        Buffer::from_u8(self.dst).ok_or_else(|| bad(format!("unknown buffer {}", self.dst)))
    }
}

fn bad(reason: String) -> Error {
    Error::Invalid(format!("layer program: {reason}"))
}

/// Little-endian writer of fixed-layout records.
pub(crate) struct Writer(pub Vec<u8>);

impl Writer {
    pub fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    pub fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub fn i32(&mut self, v: i32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub fn i64(&mut self, v: i64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub fn blob(&mut self, b: Blob) {
        self.u32(b.offset);
        self.u32(b.bytes);
    }
    pub fn requant(&mut self, r: &Requant) {
        self.u32(r.m0);
        self.u32(r.shift);
        self.i32(r.zero_point);
        self.i32(r.lo);
        self.i32(r.hi);
    }
    /// Zero bytes up to the next multiple of [`ALIGN`].
    pub fn align(&mut self) {
        let n = self.0.len().next_multiple_of(ALIGN);
        self.0.resize(n, 0);
    }
}

/// Little-endian reader over one slice; every read is bounds-checked and names what it read.
pub(crate) struct Reader<'a> {
    pub bytes: &'a [u8],
    pub at: usize,
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, at: 0 }
    }
    fn take<const N: usize>(&mut self) -> Result<[u8; N]> {
        let end = self.at.checked_add(N).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or_else(|| {
            bad(format!(
                "read of {N} bytes at offset {} runs past the end ({} bytes)",
                self.at,
                self.bytes.len()
            ))
        })?;
        let v = self.bytes[self.at..end].try_into().expect("length checked");
        self.at = end;
        Ok(v)
    }
    pub fn u8(&mut self) -> Result<u8> {
        Ok(self.take::<1>()?[0])
    }
    pub fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take()?))
    }
    pub fn i32(&mut self) -> Result<i32> {
        Ok(i32::from_le_bytes(self.take()?))
    }
    pub fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.take()?))
    }
    pub fn i64(&mut self) -> Result<i64> {
        Ok(i64::from_le_bytes(self.take()?))
    }
    pub fn blob(&mut self) -> Result<Blob> {
        Ok(Blob {
            offset: self.u32()?,
            bytes: self.u32()?,
        })
    }
    /// A requantization record, checked like every loaded constant ([`Requant::check`]).
    pub fn requant(&mut self, what: &str) -> Result<Requant> {
        let r = Requant {
            m0: self.u32()?,
            shift: self.u32()?,
            zero_point: self.i32()?,
            lo: self.i32()?,
            hi: self.i32()?,
        };
        r.check(what).map_err(|e| bad(e.to_string()))?;
        Ok(r)
    }
}

/// The bytes of `blob` within `image`, which must hold `want` bytes exactly; `what` names the blob.
pub(crate) fn blob_bytes<'a>(
    image: &'a [u8],
    blob: Blob,
    want: usize,
    what: &str,
) -> Result<&'a [u8]> {
    if blob.bytes as usize != want {
        return Err(bad(format!(
            "{what}: blob of {} bytes, expected {want}",
            blob.bytes
        )));
    }
    let start = blob.offset as usize;
    image.get(start..start + want).ok_or_else(|| {
        bad(format!(
            "{what}: blob at offset {start} ({want} bytes) is outside the {}-byte image",
            image.len()
        ))
    })
}

impl Header {
    pub(crate) fn write(&self, w: &mut Writer) {
        w.0.extend_from_slice(&MAGIC);
        w.u32(VERSION);
        w.u32(self.descriptors);
        w.u32(self.image_bytes);
        w.u8(self.wbits);
        w.u8(self.abits);
        w.u8(self.acc_bits);
        w.u8(self.heads_out);
        w.u32(self.tokens);
        w.u32(self.dim);
        w.u32(self.heads);
        w.u32(self.hidden);
        w.u32(self.classes);
        w.u32(self.input_codes);
        w.blob(self.exp2);
        w.align();
    }

    /// The header of `image`: magic, version and the image length checked.
    pub fn read(image: &[u8]) -> Result<Header> {
        let mut r = Reader::new(image);
        if r.take::<8>()? != MAGIC {
            return Err(bad(
                "not a layer program (the magic bytes are not RQHWPROG)".into(),
            ));
        }
        let version = r.u32()?;
        if version != VERSION {
            return Err(bad(format!(
                "format version {version}; this repq-hw reads version {VERSION} (regenerate \
                 the program with this repq-hw)"
            )));
        }
        let h = Header {
            descriptors: r.u32()?,
            image_bytes: r.u32()?,
            wbits: r.u8()?,
            abits: r.u8()?,
            acc_bits: r.u8()?,
            heads_out: r.u8()?,
            tokens: r.u32()?,
            dim: r.u32()?,
            heads: r.u32()?,
            hidden: r.u32()?,
            classes: r.u32()?,
            input_codes: r.u32()?,
            exp2: r.blob()?,
        };
        if h.image_bytes as usize != image.len() {
            return Err(bad(format!(
                "the header gives {} bytes, the image has {} (truncated or padded?)",
                h.image_bytes,
                image.len()
            )));
        }
        Ok(h)
    }
}

impl Descriptor {
    pub(crate) fn write(&self, w: &mut Writer) {
        let start = w.0.len();
        w.u8(self.op);
        w.u8(self.mode);
        w.u8(self.src);
        w.u8(self.dst);
        for v in [
            self.rows,
            self.k,
            self.n,
            self.src_row,
            self.dst_row,
            self.aux,
            self.aux2,
        ] {
            w.u32(v);
        }
        for b in [self.a, self.b, self.c, self.d] {
            w.blob(b);
        }
        debug_assert_eq!(w.0.len() - start, ALIGN);
    }

    /// Descriptor `i` of `image`.
    pub fn read(image: &[u8], i: usize) -> Result<Descriptor> {
        let mut r = Reader::new(image);
        r.at = ALIGN * (1 + i);
        Ok(Descriptor {
            op: r.u8()?,
            mode: r.u8()?,
            src: r.u8()?,
            dst: r.u8()?,
            rows: r.u32()?,
            k: r.u32()?,
            n: r.u32()?,
            src_row: r.u32()?,
            dst_row: r.u32()?,
            aux: r.u32()?,
            aux2: r.u32()?,
            a: r.blob()?,
            b: r.blob()?,
            c: r.blob()?,
            d: r.blob()?,
        })
    }
}
