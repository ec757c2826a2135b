//! The layer program of an integer model: one descriptor per operation, in the order
//! `IntModel::forward_image` runs them, and the parameter blobs they point to
//! (docs/layer-program.md).

use super::format::{ALIGN, Blob, Buffer, Descriptor, Header, Mode, Op, REQUANT_BYTES, Writer};
use crate::arith::Requant;
use crate::arith::gelu::GeluSteps;
use crate::arith::layernorm::LayerNormParams;
use crate::error::{Error, Result};
use crate::intsim::{IntLinear, IntModel};

/// A layer program: the memory image a driver loads (header, descriptors, blobs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Program {
    /// The whole image, little-endian (docs/layer-program.md).
    pub image: Vec<u8>,
    /// The descriptors, as written (for listings).
    pub descriptors: Vec<Descriptor>,
    /// What each descriptor computes, in timm's names (`blocks.0.attn.qkv`).
    pub names: Vec<String>,
}

/// The C header of the format (the same for every model): `templates/driver/repq_program.h`.
pub const C_HEADER: &str = include_str!("../../templates/driver/repq_program.h");

/// Blobs appended after the descriptors; offsets are relative to the image start once the
/// descriptor area's size is known.
#[derive(Default)]
struct Blobs {
    bytes: Vec<u8>,
}

impl Blobs {
    /// Appends `write`'s bytes on a fresh [`ALIGN`] boundary; the blob's offset is relative to the
    /// blob area.
    fn add(&mut self, write: impl FnOnce(&mut Writer)) -> Blob {
        let mut w = Writer(std::mem::take(&mut self.bytes));
        w.align();
        let offset = w.0.len();
        write(&mut w);
        let bytes = w.0.len() - offset;
        self.bytes = w.0;
        Blob {
            offset: offset as u32,
            bytes: bytes as u32,
        }
    }

    fn weights(&mut self, l: &IntLinear) -> Blob {
        // [K, N]: the stationary layout of the array (rows are the depth lanes).
        self.add(|w| {
            for k in 0..l.in_features {
                for n in 0..l.out_features {
                    w.u16(l.w[n * l.in_features + k] as u16);
                }
            }
        })
    }

    fn bias(&mut self, l: &IntLinear) -> Blob {
        // Biases are proven to fit the accumulator (at most s32) by IntModel::lower.
        self.add(|w| l.bias.iter().for_each(|&b| w.i32(b as i32)))
    }

    fn requants(&mut self, r: &[Requant]) -> Blob {
        self.add(|w| r.iter().for_each(|q| w.requant(q)))
    }

    fn layer_norm(&mut self, ln: &LayerNormParams) -> Blob {
        self.add(|w| {
            w.u64(ln.eps_q);
            w.i32(ln.lo);
            w.i32(ln.hi);
            ln.g.iter().for_each(|&g| w.i64(g));
            ln.b.iter().for_each(|&b| w.i64(b));
        })
    }
}

/// Descriptors and blobs under construction.
struct Builder {
    descriptors: Vec<Descriptor>,
    names: Vec<String>,
    blobs: Blobs,
}

impl Builder {
    fn push(&mut self, name: impl Into<String>, d: Descriptor) {
        self.names.push(name.into());
        self.descriptors.push(d);
    }

    fn linear(
        &mut self,
        l: &IntLinear,
        src: Buffer,
        dst: Buffer,
        rows: usize,
        mode: Mode,
    ) -> Descriptor {
        Descriptor {
            op: Op::Linear as u8,
            mode: mode as u8,
            src: src as u8,
            dst: dst as u8,
            rows: rows as u32,
            k: l.in_features as u32,
            n: l.out_features as u32,
            a: self.blobs.weights(l),
            b: self.blobs.bias(l),
            c: self.blobs.requants(&l.requant),
            ..Descriptor::default()
        }
    }

    fn layer_norm(&mut self, ln: &LayerNormParams, rows: usize, src_row: usize) -> Descriptor {
        Descriptor {
            op: Op::LayerNorm as u8,
            src: Buffer::X as u8,
            dst: Buffer::Norm as u8,
            rows: rows as u32,
            k: ln.dim() as u32,
            src_row: src_row as u32,
            a: self.blobs.layer_norm(ln),
            ..Descriptor::default()
        }
    }
}

impl Program {
    /// The program of `m`: the residual constants, the patch embedding, per block norm1, qkv,
    /// attention, proj (+ residual), norm2, fc1 (+ GELU), fc2 (+ residual), then per classifier
    /// head its norm on its prefix row and the head, the distilled average, and the end.
    ///
    /// Errors: a GELU table that has no step form (never for a lowered model), or an image
    /// beyond 4 GiB (offsets are u32).
    pub fn from_model(m: &IntModel) -> Result<Program> {
        let cfg = &m.config;
        let (t, d) = (cfg.seq_len(), cfg.embed_dim);
        let prefix = cfg.num_prefix_tokens();
        let [_, gw] = cfg.grid();
        let mut b = Builder {
            descriptors: Vec::new(),
            names: Vec::new(),
            blobs: Blobs::default(),
        };
        let exp2 = b.blobs.add(|w| m.exp2.iter().for_each(|&e| w.u32(e)));

        let pos = b.blobs.add(|w| m.pos.iter().for_each(|&v| w.i32(v)));
        b.push(
            "pos_embed + cls_token",
            Descriptor {
                op: Op::LoadResidual as u8,
                dst: Buffer::X as u8,
                rows: t as u32,
                n: d as u32,
                a: pos,
                ..Descriptor::default()
            },
        );
        let mut patch = b.linear(
            &m.patch,
            Buffer::Input,
            Buffer::X,
            cfg.num_patches(),
            Mode::Residual,
        );
        patch.op = Op::PatchEmbed as u8;
        patch.dst_row = prefix as u32;
        patch.aux = cfg.in_chans as u32
            | (cfg.patch_size[0] as u32) << 8
            | (cfg.patch_size[1] as u32) << 16;
        patch.aux2 = gw as u32;
        b.push("patch_embed", patch);

        for (i, blk) in m.blocks.iter().enumerate() {
            let ln1 = b.layer_norm(&blk.ln1, t, 0);
            b.push(format!("blocks.{i}.norm1"), ln1);
            let qkv = b.linear(&blk.qkv, Buffer::Norm, Buffer::Qkv, t, Mode::Codes);
            b.push(format!("blocks.{i}.attn.qkv"), qkv);
            let consts = b.blobs.add(|w| {
                w.i32(blk.q_zero);
                w.i32(blk.k_zero);
                w.i32(blk.v_zero);
                w.u32(blk.softmax.m0);
                w.u32(blk.softmax.shift);
                w.i32(blk.logcode.c_int);
                blk.logcode.thresholds.iter().for_each(|&v| w.u32(v));
                w.u32(blk.av_fraction_bits);
                w.requant(&blk.av_requant);
            });
            b.push(
                format!("blocks.{i}.attn"),
                Descriptor {
                    op: Op::Attention as u8,
                    src: Buffer::Qkv as u8,
                    dst: Buffer::ProjIn as u8,
                    rows: t as u32,
                    k: cfg.head_dim() as u32,
                    n: cfg.num_heads as u32,
                    a: consts,
                    ..Descriptor::default()
                },
            );
            let proj = b.linear(&blk.proj, Buffer::ProjIn, Buffer::X, t, Mode::Residual);
            b.push(format!("blocks.{i}.attn.proj"), proj);
            let ln2 = b.layer_norm(&blk.ln2, t, 0);
            b.push(format!("blocks.{i}.norm2"), ln2);
            let mut fc1 = b.linear(&blk.fc1, Buffer::Norm, Buffer::Hidden, t, Mode::Gelu);
            let steps = GeluSteps::new(&blk.gelu, m.abits, &format!("blocks.{i}.mlp GELU table"))?;
            fc1.d = b
                .blobs
                .add(|w| steps.load_words().iter().for_each(|&v| w.u16(v as u16)));
            b.push(format!("blocks.{i}.mlp.fc1"), fc1);
            let fc2 = b.linear(&blk.fc2, Buffer::Hidden, Buffer::X, t, Mode::Residual);
            b.push(format!("blocks.{i}.mlp.fc2"), fc2);
        }
        for (h, (ln, head)) in m.head_norms.iter().zip(&m.heads).enumerate() {
            let tag = if h == 0 { "head" } else { "head_dist" };
            let norm = b.layer_norm(ln, 1, h);
            b.push(format!("{tag} norm"), norm);
            let mut out = b.linear(head, Buffer::Norm, Buffer::Logits, 1, Mode::Values);
            out.dst_row = h as u32;
            b.push(tag, out);
        }
        let classes = m.heads.first().map_or(0, |h| h.out_features) as u32;
        if m.heads.len() == 2 {
            b.push(
                "head + head_dist",
                Descriptor {
                    op: Op::AverageHeads as u8,
                    n: classes,
                    ..Descriptor::default()
                },
            );
        }
        b.push(
            "end",
            Descriptor {
                op: Op::End as u8,
                n: classes,
                ..Descriptor::default()
            },
        );

        // Blob offsets become image offsets: header, descriptors, then the blob area.
        let base = ALIGN * (1 + b.descriptors.len());
        let total = base + b.blobs.bytes.len();
        let total32 = u32::try_from(total).map_err(|_| {
            Error::Invalid(format!(
                "{}: the layer program would be {total} bytes, beyond the 4 GiB its u32 offsets address",
                cfg_name(m)
            ))
        })?;
        let shift = |bl: Blob| {
            if bl.bytes == 0 {
                bl
            } else {
                Blob {
                    offset: bl.offset + base as u32,
                    bytes: bl.bytes,
                }
            }
        };
        for dsc in &mut b.descriptors {
            dsc.a = shift(dsc.a);
            dsc.b = shift(dsc.b);
            dsc.c = shift(dsc.c);
            dsc.d = shift(dsc.d);
        }
        let header = Header {
            descriptors: b.descriptors.len() as u32,
            image_bytes: total32,
            wbits: m.wbits as u8,
            abits: m.abits as u8,
            acc_bits: m.acc_bits as u8,
            heads_out: m.heads.len() as u8,
            tokens: t as u32,
            dim: d as u32,
            heads: cfg.num_heads as u32,
            hidden: cfg.mlp_hidden as u32,
            classes,
            input_codes: m.input_len() as u32,
            exp2: shift(exp2),
        };
        let mut w = Writer(Vec::with_capacity(total));
        header.write(&mut w);
        for dsc in &b.descriptors {
            dsc.write(&mut w);
        }
        debug_assert_eq!(w.0.len(), base);
        w.0.extend_from_slice(&b.blobs.bytes);
        debug_assert_eq!(REQUANT_BYTES, 20);
        Ok(Program {
            image: w.0,
            descriptors: b.descriptors,
            names: b.names,
        })
    }
}

impl Program {
    /// One line per descriptor: index, name, operation, buffers, sizes and blob bytes.
    pub fn listing(&self) -> String {
        let mut s = String::from(
            "#   name                        op  mode src dst  rows     K     N  blob bytes a/b/c/d\n",
        );
        for (i, (d, name)) in self.descriptors.iter().zip(&self.names).enumerate() {
            s += &format!(
                "{i:<3} {name:<27} {:>3} {:>5} {:>3} {:>3} {:>5} {:>5} {:>5}  {}/{}/{}/{}\n",
                d.op,
                d.mode,
                d.src,
                d.dst,
                d.rows,
                d.k,
                d.n,
                d.a.bytes,
                d.b.bytes,
                d.c.bytes,
                d.d.bytes
            );
        }
        s
    }
}

fn cfg_name(m: &IntModel) -> String {
    format!(
        "W{}A{} model of width {}",
        m.wbits, m.abits, m.config.embed_dim
    )
}
