//! Builds an accel image: a 64-byte header (the `repq_image_header` of
//! `templates/driver/repq_driver.h`), data regions, and the command list at the end.

use crate::error::{Error, Result};
use crate::rtl::Design;
use crate::rtl::streams::MatmulJob;
use crate::rtl::vit::{BUS_BYTES, CMD_BYTES, VitParams};

/// Magic of an accel image.
pub const MAGIC: &[u8; 8] = b"RQHWACC1";
/// Image format version (the driver refuses others).
pub const VERSION: u32 = 1;

const OP_JOB: u32 = 1;
const OP_READ: u32 = 2;
const OP_WRITE: u32 = 3;
const OP_SYNC: u32 = 4;
const OP_END: u32 = 5;
const PORT_PRM: u32 = 0;
const PORT_WGT: u32 = 1;
const PORT_ACT: u32 = 2;
const PORT_RES: u32 = 3;
const PORT_TBL: u32 = 4;
const PORT_COPY: u32 = 5;
const PORT_LN_PRM: u32 = 6;
const PORT_LN_X: u32 = 7;
const SRC_LN: u32 = 4;
const UNIT_LN: u32 = 1;
/// Bytes of a LayerNorm constant beat `{B s48, G s32}` (two words).
const LN_PRM_BYTES: u32 = 16;
const SRC_TOP: u32 = 0;
const SRC_RES: u32 = 1;
const SRC_GELU: u32 = 2;
const SRC_COPY: u32 = 3;

/// A tensor in the image: `rows` rows of `row_bytes` bytes from `addr`, each row holding
/// `cols` elements of `elem_bytes` bytes (the rest is padding).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    pub addr: u32,
    pub rows: usize,
    /// Rows the allocation holds (`>= rows`).
    pub alloc_rows: usize,
    pub cols: usize,
    pub elem_bytes: usize,
    pub row_bytes: usize,
}

impl Region {
    /// The element `(r, c)` as a signed value (codes are unsigned bytes).
    pub fn get(&self, mem: &[u8], r: usize, c: usize) -> i64 {
        let a = self.addr as usize + r * self.row_bytes + c * self.elem_bytes;
        match self.elem_bytes {
            1 => i64::from(mem[a]),
            _ => i64::from(i32::from_le_bytes([
                mem[a],
                mem[a + 1],
                mem[a + 2],
                mem[a + 3],
            ])),
        }
    }
}

/// Where a linear layer's outputs go.
#[derive(Clone, Copy, Debug)]
pub enum LinearOut {
    /// Codes (the low byte of each output lane).
    Codes(Region),
    /// `s32` values.
    Values(Region),
    /// U8 into the residual stream `x` (`s32` rows; the layer's rows start at `x`'s row 0).
    Residual(Region),
    /// U7: the GELU table (steps, `region` codes); the table blob is in the image.
    Gelu { out: Region, table: u32, beats: u32 },
}

/// A finished image.
#[derive(Clone, Debug)]
pub struct AccelImage {
    pub bytes: Vec<u8>,
    /// Commands, and the index of the last command of each named step (for `STOP_AFTER`).
    pub commands: u32,
    pub steps: Vec<(String, u32)>,
}

impl AccelImage {
    /// The command list of an image (or of the memory after a run: the engine never writes it),
    /// as `u32` words; empty when the header is not one of this version.
    pub fn command_words(bytes: &[u8]) -> Vec<[u32; 8]> {
        let word = |at: usize| {
            bytes
                .get(at..at + 4)
                .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        };
        if bytes.len() < 64 || &bytes[..8] != MAGIC || word(8) != VERSION {
            return Vec::new();
        }
        let (prog, n) = (word(16) as usize, word(20) as usize);
        (0..n)
            .map(|i| std::array::from_fn(|j| word(prog + i * CMD_BYTES as usize + j * 4)))
            .collect()
    }
}

/// Builds an image for one design.
pub struct ImageBuilder {
    d: Design,
    v: VitParams,
    mem: Vec<u8>,
    cmds: Vec<[u32; 8]>,
    steps: Vec<(String, u32)>,
    /// Driver fields: input address, rows, row bytes, C, H, W, Ph, Pw; logits address, classes.
    pub input: [u32; 8],
    pub logits: [u32; 2],
}

fn bad(reason: String) -> Error {
    Error::Invalid(format!("accel image: {reason}"))
}

impl ImageBuilder {
    /// An empty image for `d`; an error when `repq_vit` is not generated for its array shape.
    pub fn new(d: &Design) -> Result<ImageBuilder> {
        let v = VitParams::new(d).ok_or_else(|| {
            bad(format!(
                "the end-to-end engine needs rows and columns that are powers of two >= 8, \
                 32-bit output lanes and 8-bit activation lanes (the input codes are 8-bit); \
                 this design is {}x{} with {}-bit output and {}-bit activation lanes: generate \
                 it with `repq-hw gen --pe RxC` (W8A8 runs W4A4 and W6A6 models too)",
                d.rows, d.cols, d.obits, d.abits
            ))
        })?;
        Ok(ImageBuilder {
            d: d.clone(),
            v,
            mem: vec![0; 64],
            cmds: Vec::new(),
            steps: Vec::new(),
            input: [0; 8],
            logits: [0; 2],
        })
    }

    /// The design's beat sizes.
    pub fn params(&self) -> &VitParams {
        &self.v
    }

    /// The design the image is for.
    pub fn design(&self) -> &Design {
        &self.d
    }

    /// A `JOB` of `unit` with command words 1 ..= 7.
    pub(crate) fn job(&mut self, unit: u32, w: [u32; 7]) {
        self.cmd([OP_JOB | unit << 8, w[0], w[1], w[2], w[3], w[4], w[5], w[6]]);
    }

    /// A `READ` into `port` over the address loops `n`, `s`.
    pub(crate) fn read_loops(&mut self, port: u32, base: u32, n: [u32; 3], s: [u32; 3]) {
        self.xfer(OP_READ, port, 0, base, n, s);
    }

    /// A `WRITE` from `src` with `eb` bytes per lane over the address loops `n`, `s`.
    pub(crate) fn write_loops(&mut self, src: u32, eb: u32, base: u32, n: [u32; 3], s: [u32; 3]) {
        self.xfer(OP_WRITE, src, eb, base, n, s);
    }

    /// A `SYNC`.
    pub(crate) fn sync_point(&mut self) {
        self.sync();
    }

    /// A zero-filled block of `bytes`, aligned to `align` (a power of two).
    pub fn alloc(&mut self, bytes: usize, align: usize) -> u32 {
        let at = self.mem.len().next_multiple_of(align.max(64));
        self.mem.resize(at + bytes, 0);
        at as u32
    }

    /// A region of `rows x cols` elements of `elem_bytes`, rows padded to `pad` elements.
    pub fn region(&mut self, rows: usize, cols: usize, elem_bytes: usize, pad: usize) -> Region {
        self.region_rows(rows, rows, cols, elem_bytes, pad)
    }

    /// [`ImageBuilder::region`] with `alloc_rows >= rows` rows of memory.
    pub fn region_rows(
        &mut self,
        rows: usize,
        alloc_rows: usize,
        cols: usize,
        elem_bytes: usize,
        pad: usize,
    ) -> Region {
        let row_bytes = cols.next_multiple_of(pad) * elem_bytes;
        let addr = self.alloc(alloc_rows.max(rows) * row_bytes, 64);
        Region {
            addr,
            rows,
            alloc_rows: alloc_rows.max(rows),
            cols,
            elem_bytes,
            row_bytes,
        }
    }

    /// Writes `values` (row-major `rows x cols`) into `r`.
    pub fn fill(&mut self, r: &Region, values: &[i64]) {
        for (i, &v) in values.iter().enumerate() {
            let a = r.addr as usize + (i / r.cols) * r.row_bytes + (i % r.cols) * r.elem_bytes;
            let b = (v as i32).to_le_bytes();
            self.mem[a..a + r.elem_bytes].copy_from_slice(&b[..r.elem_bytes]);
        }
    }

    /// Appends raw bytes (aligned to 64) and returns their address.
    pub fn blob(&mut self, bytes: &[u8]) -> u32 {
        let at = self.alloc(bytes.len(), 64);
        self.mem[at as usize..at as usize + bytes.len()].copy_from_slice(bytes);
        at
    }

    /// A GELU table in `repq_gelu`'s load order (`B, U[1..N], D[1..N]`, one `s16` per word),
    /// for the design's `N = 2^ABITS - 1`. A table of a narrower model (`N' < N`) is padded
    /// with 32767 in both lists, which no index exceeds: the same table.
    pub fn gelu_table(&mut self, steps: &[i64]) -> Result<(u32, u32)> {
        let n = (1usize << self.d.abits) - 1;
        if steps.len() % 2 != 1 || steps.len() > 2 * n + 1 {
            return Err(bad(format!(
                "GELU table of {} steps; the design's repq_gelu loads {} (B and two lists of {n})",
                steps.len(),
                2 * n + 1
            )));
        }
        let m = (steps.len() - 1) / 2;
        let mut full = Vec::with_capacity(2 * n + 1);
        full.push(steps[0]);
        for list in [&steps[1..1 + m], &steps[1 + m..]] {
            full.extend_from_slice(list);
            full.extend(std::iter::repeat_n(32767, n - m));
        }
        let mut b = vec![0u8; full.len() * BUS_BYTES as usize];
        for (i, &s) in full.iter().enumerate() {
            b[i * 8..i * 8 + 2].copy_from_slice(&(s as i16).to_le_bytes());
        }
        Ok((self.blob(&b), full.len() as u32))
    }

    fn cmd(&mut self, w: [u32; 8]) {
        self.cmds.push(w);
    }

    /// Names the commands emitted since the last step (they end at the current last command).
    pub fn step(&mut self, name: impl Into<String>) {
        self.steps.push((name.into(), self.cmds.len() as u32 - 1));
    }

    #[allow(clippy::too_many_arguments)]
    fn xfer(&mut self, op: u32, port: u32, eb: u32, base: u32, n: [u32; 3], s: [u32; 3]) {
        self.cmd([
            op | port << 8 | eb << 16,
            base,
            n[0] | n[1] << 16,
            n[2],
            s[0],
            s[1],
            s[2],
            0,
        ]);
    }

    fn read(&mut self, port: u32, base: u32, beats: u32, stride: u32) {
        self.xfer(OP_READ, port, 0, base, [beats, 1, 1], [stride, 0, 0]);
    }

    fn write(&mut self, src: u32, eb: u32, base: u32, beats: u32, stride: u32) {
        self.xfer(OP_WRITE, src, eb, base, [beats, 1, 1], [stride, 0, 0]);
    }

    fn sync(&mut self) {
        self.cmd([OP_SYNC, 0, 0, 0, 0, 0, 0, 0]);
    }

    /// U5 on the rows of `x` (`s32`, whole rows of `D = x.cols` channels) to codes in `out`:
    /// `eps` (`E`), the per-channel `g` (s32) and `b` (s48), the clamp `lo ..= hi`.
    #[allow(clippy::too_many_arguments)]
    pub fn layer_norm(
        &mut self,
        x: &Region,
        eps: u64,
        g: &[i64],
        b: &[i64],
        lo: u32,
        hi: u32,
        out: &Region,
    ) -> Result<()> {
        let dim = x.cols;
        let c_ = self.d.cols as usize;
        if g.len() != dim || b.len() != dim || out.rows != x.rows || out.cols != dim {
            return Err(bad(format!(
                "LayerNorm of {dim} channels with {} gains, {} biases, {}x{} output",
                g.len(),
                b.len(),
                out.rows,
                out.cols
            )));
        }
        if x.elem_bytes != 4 || out.elem_bytes != 1 || !x.row_bytes.is_multiple_of(c_ * 4) {
            return Err(bad("LayerNorm regions: s32 rows in, code rows out".into()));
        }
        let mut prm = vec![0u8; dim * LN_PRM_BYTES as usize];
        for c in 0..dim {
            let at = c * LN_PRM_BYTES as usize;
            prm[at..at + 4].copy_from_slice(&(g[c] as i32).to_le_bytes());
            prm[at + 4..at + 10].copy_from_slice(&b[c].to_le_bytes()[..6]);
        }
        let prm = self.blob(&prm);
        let bpr = dim.div_ceil(c_) as u32;
        let rows = x.rows as u32;
        self.cmd([
            OP_JOB | UNIT_LN << 8,
            dim as u32,
            0,
            0,
            eps as u32,
            (eps >> 32) as u32,
            lo | hi << 16,
            0,
        ]);
        self.read(PORT_LN_PRM, prm, dim as u32, LN_PRM_BYTES);
        let cb = c_ as u32;
        self.xfer(
            OP_WRITE,
            SRC_LN,
            1,
            out.addr,
            [bpr, rows, 1],
            [cb, out.row_bytes as u32, 0],
        );
        self.xfer(
            OP_READ,
            PORT_LN_X,
            0,
            x.addr,
            [bpr, rows, 1],
            [cb * 4, x.row_bytes as u32, 0],
        );
        self.sync();
        Ok(())
    }

    /// Copies `rows` rows of `s32` values from `from` to `to` (same layout) through the copy path.
    pub fn copy(&mut self, from: &Region, to: &Region) -> Result<()> {
        if from.row_bytes != to.row_bytes || from.elem_bytes != 4 || from.rows != to.rows {
            return Err(bad("copy between regions of different layouts".into()));
        }
        let beat = self.v.res_words * BUS_BYTES;
        let beats = (from.rows * from.row_bytes) as u32 / beat;
        self.write(SRC_COPY, 4, to.addr, beats, beat);
        self.read(PORT_COPY, from.addr, beats, beat);
        self.sync();
        Ok(())
    }

    /// One linear layer: `job`'s weights, biases and requantization (its activations are not
    /// used: the engine reads them from `input`, codes rows), outputs to `out`.
    pub fn linear(&mut self, job: &MatmulJob, input: &Region, out: LinearOut) -> Result<()> {
        let d = &self.d;
        let (r_, c_) = (d.rows as usize, d.cols as usize);
        if job.m > d.m_tile as usize {
            return Err(bad(format!(
                "{} rows exceed the M tile of {} (more M tiles are not lowered yet)",
                job.m, d.m_tile
            )));
        }
        if input.elem_bytes != 1
            || input.rows != job.m
            || input.row_bytes < job.k.next_multiple_of(r_)
        {
            return Err(bad(
                "linear input is not a codes region of M rows, K padded to R".into(),
            ));
        }
        let s = job.streams(d)?;
        let (pw, ww) = (self.v.prm_words * BUS_BYTES, self.v.wgt_words * BUS_BYTES);
        let pack = |beats: &[Vec<u32>], bytes: u32| {
            let mut out = Vec::with_capacity(beats.len() * bytes as usize);
            for b in beats {
                let mut v: Vec<u8> = b.iter().flat_map(|w| w.to_le_bytes()).collect();
                v.resize(bytes as usize, 0);
                out.extend(v);
            }
            out
        };
        let prm = self.blob(&pack(&s.prm, pw));
        let wgt = self.blob(&pack(&s.wgt, ww));
        let (m, k, n) = (job.m as u32, job.k as u32, job.n as u32);
        let dst = match out {
            LinearOut::Codes(r) | LinearOut::Gelu { out: r, .. } => (r, 1u32),
            LinearOut::Values(r) | LinearOut::Residual(r) => (r, 4u32),
        };
        let (dr, eb) = dst;
        if dr.rows != job.m
            || dr.elem_bytes != eb as usize
            || dr.row_bytes < job.n.next_multiple_of(c_) * eb as usize
        {
            return Err(bad(
                "linear output region does not hold M rows of N padded to C".into(),
            ));
        }
        self.cmd([OP_JOB, m, k, n, 0, 0, 0, 0]);
        if let LinearOut::Gelu { table, beats, .. } = out {
            self.read(PORT_TBL, table, beats, BUS_BYTES);
        }
        let mut wbeat = 0u32;
        for (t, n0) in (0..job.n).step_by(c_).enumerate() {
            let nr = c_.min(job.n - n0) as u32;
            self.read(PORT_PRM, prm + (t * c_) as u32 * pw, nr, pw);
            for k0 in (0..job.k).step_by(r_) {
                let kr = r_.min(job.k - k0) as u32;
                self.read(PORT_WGT, wgt + wbeat * ww, kr, ww);
                wbeat += kr;
                self.read(PORT_ACT, input.addr + k0 as u32, m, input.row_bytes as u32);
            }
            let base = dr.addr + n0 as u32 * eb;
            let stride = dr.row_bytes as u32;
            match out {
                LinearOut::Codes(_) => self.write(SRC_TOP, 1, base, m, stride),
                LinearOut::Values(_) => self.write(SRC_TOP, 4, base, m, stride),
                LinearOut::Gelu { .. } => self.write(SRC_GELU, 1, base, m, stride),
                LinearOut::Residual(_) => {
                    self.write(SRC_RES, 4, base, m, stride);
                    self.read(PORT_RES, base, m, stride);
                }
            }
            self.sync();
        }
        Ok(())
    }

    /// The image: header, data, then the commands (ending in `END`).
    pub fn finish(mut self) -> AccelImage {
        self.cmd([OP_END, 0, 0, 0, 0, 0, 0, 0]);
        let prog = self.alloc(self.cmds.len() * CMD_BYTES as usize, 64);
        let cmds = std::mem::take(&mut self.cmds);
        for (i, c) in cmds.iter().enumerate() {
            for (j, w) in c.iter().enumerate() {
                let a = prog as usize + i * 32 + j * 4;
                self.mem[a..a + 4].copy_from_slice(&w.to_le_bytes());
            }
        }
        let total = self.mem.len() as u32;
        let mut h = Vec::with_capacity(64);
        h.extend_from_slice(MAGIC);
        let fields = [VERSION, total, prog, cmds.len() as u32];
        for f in fields.iter().chain(&self.input).chain(&self.logits) {
            h.extend_from_slice(&f.to_le_bytes());
        }
        h.resize(64, 0);
        self.mem[..64].copy_from_slice(&h);
        AccelImage {
            bytes: self.mem,
            commands: cmds.len() as u32,
            steps: self.steps,
        }
    }
}
