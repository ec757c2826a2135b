//! `repq-hw verify --end-to-end`: a golden directory's layers on `repq_vit`, the command-driven
//! engine, through the C driver and an AXI memory model (`sim/vit.cpp`), compared bit for bit.
//!
//! What the engine runs today (docs/accelerator.md, "Status"): the position embedding copy and
//! the patch embedding from the image's input codes (written by the driver's `repq_set_input`),
//! then, per selected block, qkv (codes), proj (residual), fc1 (GELU) and fc2 (residual), and
//! the head (values), each from its golden input, since LayerNorm and the attention chain are
//! not lowered yet. Every output tensor is compared element by element; the first mismatch is
//! named by layer, tensor, index, expected and actual value.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::accel::{AccelImage, AttnConsts, ImageBuilder, LinearOut, Region};
use crate::arith::Requant;
use crate::error::{Error, Result};
use crate::golden::manifest::ModelInfo;
use crate::golden::{GoldenDir, GoldenFile};
use crate::rtl::Design;
use crate::rtl::streams::MatmulJob;

use super::build::{Harness, build_harness_checked};

/// One output tensor to compare after the run.
#[derive(Clone, Debug)]
pub struct Check {
    /// The layer that writes it (`blocks.0.mlp.fc1`).
    pub layer: String,
    /// The golden tensor (`blocks.0.mlp.fc2.input`).
    pub tensor: String,
    pub region: Region,
    pub expected: Vec<i64>,
}

/// An image for the engine and what to compare after running it.
pub struct Plan {
    pub image: AccelImage,
    /// The image's input codes `[C, H, W]` (the driver lays them out).
    pub input: Vec<u8>,
    pub checks: Vec<Check>,
}

/// The first differing element.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    pub layer: String,
    pub tensor: String,
    /// `[row, column]`.
    pub index: [usize; 2],
    pub expected: i64,
    pub actual: i64,
}

/// A finished end-to-end run.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// Elements compared (all of them when nothing differs).
    pub compared: usize,
    pub tensors: usize,
    pub mismatch: Option<Mismatch>,
    /// The harness's summary line (status, commands, cycles, words moved).
    pub summary: String,
    /// Cycles from start to done (the engine's CYCLES register).
    pub cycles: u64,
    pub commands: u32,
    /// 8-byte words the engine read and wrote (AXI data beats).
    pub read_words: u64,
    pub write_words: u64,
    /// The STATUS register after the run (bit 3: stopped by `STOP_AFTER`).
    pub status: u32,
    /// The memory after the run, and the plan's checks (to compare a part of them).
    pub memory: Vec<u8>,
    pub checks: Vec<Check>,
}

/// Where the plan reads the model's tensors (names and layouts of docs/golden-vectors.md): a
/// golden directory, or the same files exported in memory ([`Exported`]).
pub trait Tensors {
    /// The elements of tensor `name`, row-major.
    fn values(&self, name: &str) -> Result<Vec<i128>>;
    /// The shape of tensor `name`.
    fn shape(&self, name: &str) -> Result<Vec<usize>>;
    /// The `[model]` table (architecture, widths).
    fn model(&self) -> Result<&ModelInfo>;
}

impl Tensors for GoldenDir {
    fn values(&self, name: &str) -> Result<Vec<i128>> {
        self.tensor(name)
    }
    fn shape(&self, name: &str) -> Result<Vec<usize>> {
        self.manifest
            .entry(name)
            .map(|e| e.shape.clone())
            .ok_or_else(|| Error::Dataset {
                path: self.root.clone(),
                reason: format!("golden manifest has no tensor `{name}`"),
            })
    }
    fn model(&self) -> Result<&ModelInfo> {
        self.manifest.model.as_ref().ok_or_else(|| Error::Dataset {
            path: self.root.clone(),
            reason: "--end-to-end needs model-mode golden vectors (repq-hw golden without \
                     --random)"
                .into(),
        })
    }
}

/// Golden files of one image in memory (`golden::export::export_image`) with their model table.
pub struct Exported {
    pub files: Vec<GoldenFile>,
    pub model: ModelInfo,
}

impl Exported {
    fn file(&self, name: &str) -> Result<&GoldenFile> {
        self.files
            .iter()
            .find(|f| f.entry.name == name)
            .ok_or_else(|| Error::Invalid(format!("accel image: the model has no tensor `{name}`")))
    }
}

impl Tensors for Exported {
    fn values(&self, name: &str) -> Result<Vec<i128>> {
        Ok(self.file(name)?.data.clone())
    }
    fn shape(&self, name: &str) -> Result<Vec<usize>> {
        Ok(self.file(name)?.entry.shape.clone())
    }
    fn model(&self) -> Result<&ModelInfo> {
        Ok(&self.model)
    }
}

fn ints(g: &dyn Tensors, name: &str) -> Result<Vec<i64>> {
    Ok(g.values(name)?.into_iter().map(|v| v as i64).collect())
}

fn shape(g: &dyn Tensors, name: &str) -> Result<Vec<usize>> {
    g.shape(name)
}

/// The matmul job of linear layer `p` on golden input `input` (`[M, K]` codes of `a_bits` bits).
fn job(g: &dyn Tensors, p: &str, input: &str, a_bits: u32) -> Result<MatmulJob> {
    let ws = shape(g, &format!("{p}.w"))?;
    let is = shape(g, input)?;
    let (k, n) = (ws[0], ws[1]);
    let m = is.iter().product::<usize>() / k.max(1);
    let col = |f: &str| ints(g, &format!("{p}.{f}"));
    let (m0, shift, zp, lo, hi) = (
        col("m0")?,
        col("shift")?,
        col("zero_point")?,
        col("lo")?,
        col("hi")?,
    );
    Ok(MatmulJob {
        m,
        k,
        n,
        a: ints(g, input)?.into_iter().map(|v| v as u8).collect(),
        a_bits,
        w: ints(g, &format!("{p}.w"))?
            .into_iter()
            .map(|v| v as i32)
            .collect(),
        bias: col("bias")?,
        requant: (0..n)
            .map(|i| Requant {
                m0: m0[i] as u32,
                shift: shift[i] as u32,
                zero_point: zp[i] as i32,
                lo: lo[i] as i32,
                hi: hi[i] as i32,
            })
            .collect(),
    })
}

/// `r` with the layer it lowers named in its error.
fn named(layer: &str, r: Result<()>) -> Result<()> {
    r.map_err(|e| Error::Invalid(format!("{layer}: {e}")))
}

/// Compares `region` with the whole golden tensor `tensor` after the run.
fn add_check(
    checks: &mut Vec<Check>,
    g: &dyn Tensors,
    layer: &str,
    tensor: &str,
    region: Region,
) -> Result<()> {
    checks.push(Check {
        layer: layer.into(),
        tensor: tensor.into(),
        region,
        expected: ints(g, tensor)?,
    });
    Ok(())
}

/// Lowers the golden directory's model, every block, for design `d`.
pub fn plan(g: &dyn Tensors, d: &Design) -> Result<Plan> {
    let info = g.model()?;
    let (r_, c_) = (d.rows as usize, d.cols as usize);
    let mut b = ImageBuilder::new(d)?;
    let mut checks = Vec::new();
    let (t, dim) = (info.tokens, info.embed_dim);
    let prefix = info.prefix_tokens;

    // Position embedding (with the prefix tokens) into X, then the patch embedding added to
    // its patch rows.
    let pos = b.region(t, dim, 4, c_);
    b.fill(&pos, &ints(g, "embed.pos")?);
    let x = b.region(t, dim, 4, c_);
    b.copy(&pos, &x)?;
    b.step("embed.pos");
    let pj = job(g, "patch_embed.proj", "patch_embed.input", info.input_bits)?;
    let patches = b.region(pj.m, pj.k, 1, r_);
    let [ph, pw] = info.patch_size;
    let [ih, iw] = info.img_size;
    b.input = [
        patches.addr,
        pj.m as u32,
        patches.row_bytes as u32,
        info.in_chans as u32,
        ih as u32,
        iw as u32,
        ph as u32,
        pw as u32,
    ];
    let x_patches = Region {
        addr: x.addr + (prefix * x.row_bytes) as u32,
        rows: pj.m,
        ..x
    };
    named(
        "patch_embed",
        b.linear(&pj, &patches, LinearOut::Residual(x_patches)),
    )?;
    b.step("patch_embed");

    let pad = r_.max(c_);
    // X is updated in place: after each residual addition the engine copies it to a fresh
    // region, which is compared after the run.
    let snapshot = |b: &mut ImageBuilder, x: &Region| -> Result<Region> {
        let s = b.region(x.rows, x.cols, 4, c_);
        b.copy(x, &s)?;
        Ok(s)
    };
    let s = snapshot(&mut b, &x)?;
    add_check(&mut checks, g, "patch_embed", "embed", s)?;
    let norm = |b: &mut ImageBuilder, name: &str, x: &Region| -> Result<Region> {
        let out = b.region(x.rows, x.cols, 1, pad);
        let one = |f: &str| -> Result<i64> { Ok(ints(g, &format!("{name}.{f}"))?[0]) };
        let eps = g.values(&format!("{name}.eps_q"))?[0] as u64;
        b.layer_norm(
            x,
            eps,
            &ints(g, &format!("{name}.g"))?,
            &ints(g, &format!("{name}.b"))?,
            one("lo")? as u32,
            one("hi")? as u32,
            &out,
        )?;
        b.step(name);
        Ok(out)
    };
    for i in 0..info.depth {
        let blk = format!("blocks.{i}");
        let n1 = norm(&mut b, &format!("{blk}.norm1"), &x)?;
        add_check(
            &mut checks,
            g,
            &format!("{blk}.norm1"),
            &format!("{blk}.attn.qkv.input"),
            n1,
        )?;
        let l = format!("{blk}.attn.qkv");
        let j = job(g, &l, &format!("{l}.input"), info.abits)?;
        let qkv = b.region_rows(j.m, j.m.next_multiple_of(c_), j.n, 1, pad);
        named(&l, b.linear(&j, &n1, LinearOut::Codes(qkv)))?;
        b.step(&l);
        add_check(&mut checks, g, &l, &format!("{l}.output"), qkv)?;
        // attention: every head on the engine
        let a = format!("{blk}.attn");
        let one = |f: &str| -> Result<i64> { Ok(ints(g, &format!("{a}.{f}"))?[0]) };
        let th = ints(g, &format!("{a}.logcode.thresholds"))?;
        let consts = AttnConsts {
            z_q: one("q_zero")? as i32,
            z_k: one("k_zero")? as i32,
            z_v: one("v_zero")? as i32,
            sm_m0: one("softmax.m0")? as u32,
            sm_shift: one("softmax.shift")? as u32,
            c_int: one("logcode.c_int")? as i32,
            thresholds: [th[0] as u32, th[1] as u32, th[2] as u32],
            f: one("av.f")? as u32,
            abits: info.abits,
            av: Requant {
                m0: one("av.m0")? as u32,
                shift: one("av.shift")? as u32,
                zero_point: one("av.zero_point")? as i32,
                lo: one("av.lo")? as i32,
                hi: one("av.hi")? as i32,
            },
        };
        let scratch = b.attn_scratch(t);
        let attn = b.region(t, dim, 1, pad);
        named(
            &a,
            b.attention(&qkv, info.num_heads, &consts, &scratch, &attn),
        )?;
        b.step(&a);
        let last = info.num_heads - 1;
        for (tensor, region) in [("logits", scratch.logits), ("codes", scratch.codes)] {
            let name = format!("{a}.{tensor}");
            let all = ints(g, &name)?;
            checks.push(Check {
                layer: a.clone(),
                tensor: format!("{name}[{last}]"),
                region,
                expected: all[last * t * t..(last + 1) * t * t].to_vec(),
            });
        }
        add_check(&mut checks, g, &a, &format!("{a}.proj.input"), attn)?;
        let l = format!("{blk}.attn.proj");
        let j = job(g, &l, &format!("{l}.input"), info.abits)?;
        named(&l, b.linear(&j, &attn, LinearOut::Residual(x)))?;
        b.step(&l);
        let s = snapshot(&mut b, &x)?;
        add_check(&mut checks, g, &l, &format!("{blk}.residual1"), s)?;
        let n2 = norm(&mut b, &format!("{blk}.norm2"), &x)?;
        add_check(
            &mut checks,
            g,
            &format!("{blk}.norm2"),
            &format!("{blk}.mlp.fc1.input"),
            n2,
        )?;
        let l = format!("{blk}.mlp.fc1");
        let j = job(g, &l, &format!("{l}.input"), info.abits)?;
        let h = b.region(j.m, j.n, 1, pad);
        let (table, beats) = b.gelu_table(&ints(g, &format!("{blk}.mlp.gelu_steps"))?)?;
        named(
            &l,
            b.linear(
                &j,
                &n2,
                LinearOut::Gelu {
                    out: h,
                    table,
                    beats,
                },
            ),
        )?;
        b.step(&l);
        add_check(&mut checks, g, &l, &format!("{blk}.mlp.fc2.input"), h)?;
        let l = format!("{blk}.mlp.fc2");
        let j = job(g, &l, &format!("{l}.input"), info.abits)?;
        named(&l, b.linear(&j, &h, LinearOut::Residual(x)))?;
        b.step(&l);
        let s = snapshot(&mut b, &x)?;
        add_check(&mut checks, g, &l, &format!("{blk}.residual2"), s)?;
    }
    // the head: LayerNorm of the class token row, then s32 values (the logits)
    let x0 = Region { rows: 1, ..x };
    let hn = norm(&mut b, "head.norm", &x0)?;
    add_check(&mut checks, g, "head.norm", "head.input", hn)?;
    let j = job(g, "head", "head.input", info.abits)?;
    let out = b.region(j.m, j.n, 4, c_);
    b.logits = [out.addr, j.n as u32];
    named("head", b.linear(&j, &hn, LinearOut::Values(out)))?;
    b.step("head");
    add_check(&mut checks, g, "head", "logits", out)?;
    let input = ints(g, "input")?.into_iter().map(|v| v as u8).collect();
    Ok(Plan {
        image: b.finish(),
        input,
        checks,
    })
}

/// Compares every check against the memory after the run.
pub fn compare(checks: &[Check], mem: &[u8]) -> (usize, Option<Mismatch>) {
    let mut compared = 0;
    for c in checks {
        let r = &c.region;
        for (i, &e) in c.expected.iter().enumerate() {
            let (row, col) = (i / r.cols, i % r.cols);
            let a = r.get(mem, row, col);
            compared += 1;
            if a != e {
                return (
                    compared,
                    Some(Mismatch {
                        layer: c.layer.clone(),
                        tensor: c.tensor.clone(),
                        index: [row, col],
                        expected: e,
                        actual: a,
                    }),
                );
            }
        }
    }
    (compared, None)
}

/// Options of one end-to-end run.
#[derive(Clone, Debug)]
pub struct EndToEnd {
    pub rtl: PathBuf,
    pub golden: PathBuf,
    pub build: PathBuf,
    pub seed: u64,
    pub stall: u32,
    /// The deterministic memory of the cycle model (`crate::perf::engine`): AR, AW and W always
    /// ready, a burst's first R word `L` cycles after its AR, each B one cycle after its last W
    /// word (`stall` and the seed's stall pattern are then unused); `None`: random latency and
    /// `stall` percent back-pressure.
    pub latency: Option<u32>,
    /// Write the cycle of every command fetch (command number, cycles since command 0's fetch)
    /// to this file, to localize a difference from the cycle model.
    pub trace: Option<PathBuf>,
    /// Wait for the interrupt (else the driver polls STATUS).
    pub irq: bool,
    /// `STOP_AFTER`: end the run at the first `SYNC` at or after this command (a step's last
    /// command, [`AccelImage::steps`]); the comparison then reports the first tensor not reached.
    pub stop: Option<u32>,
}

/// Builds the engine's harness, runs the plan of `o.golden` on it and compares.
pub fn run(o: &EndToEnd, d: &Design) -> Result<Outcome> {
    let g = GoldenDir::open(&o.golden)?;
    if g.manifest.mode != "model" {
        return Err(Error::Invalid(format!(
            "{}: golden vectors of mode {:?}; the end-to-end engine runs an image through a \
             ViT/DeiT (`repq-hw golden [--model Q]`; Swin is not lowered to the engine yet, \
             `repq-hw verify` without --end-to-end runs its layers)",
            o.golden.display(),
            g.manifest.mode
        )));
    }
    let p = plan(&g, d)?;
    let exe = build_harness_checked(&o.rtl, Harness::Vit, &o.build, false, &[])?.exe;
    let work = exe
        .parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| o.build.clone());
    let (img, inp, dump) = (
        work.join("image.bin"),
        work.join("input.bin"),
        work.join("memory.bin"),
    );
    std::fs::write(&img, &p.image.bytes).map_err(|e| Error::io(&img, e))?;
    std::fs::write(&inp, &p.input).map_err(|e| Error::io(&inp, e))?;
    let mut cmd = Command::new(&exe);
    if let Some(l) = o.latency {
        cmd.arg(format!("+latency={l}"));
    }
    if let Some(t) = &o.trace {
        cmd.arg(format!("+trace={}", t.display()));
    }
    let out = cmd
        .arg(format!("+image={}", img.display()))
        .arg(format!("+input={}", inp.display()))
        .arg(format!("+dump={}", dump.display()))
        .arg(format!("+seed={}", o.seed))
        .arg(format!("+stall={}", o.stall))
        .arg(format!("+irq={}", u8::from(o.irq)))
        .arg(format!("+stop={}", o.stop.unwrap_or(u32::MAX)))
        .arg(format!("+verilator+seed+{}", o.seed))
        .output()
        .map_err(|e| Error::Tool {
            tool: "vit harness".into(),
            reason: format!("cannot run {}: {e}", exe.display()),
        })?;
    let summary = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() {
        return Err(Error::Tool {
            tool: "vit harness".into(),
            reason: format!("{summary}\n{}", String::from_utf8_lossy(&out.stderr).trim()),
        });
    }
    let field = |key: &str| {
        summary
            .split_whitespace()
            .skip_while(|w| *w != key)
            .nth(1)
            .and_then(|v| v.parse::<u64>().ok())
    };
    let mem = std::fs::read(&dump).map_err(|e| Error::io(&dump, e))?;
    let (compared, mismatch) = compare(&p.checks, &mem);
    Ok(Outcome {
        compared,
        tensors: p.checks.len(),
        mismatch,
        cycles: field("cycles").unwrap_or(0),
        commands: field("commands").unwrap_or(0) as u32,
        read_words: field("read-words").unwrap_or(0),
        write_words: field("write-words").unwrap_or(0),
        status: summary
            .split_whitespace()
            .skip_while(|w| *w != "status")
            .nth(1)
            .and_then(|v| u32::from_str_radix(v, 16).ok())
            .unwrap_or(0),
        memory: mem,
        checks: p.checks,
        summary,
    })
}
