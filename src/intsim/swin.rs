//! The integer model of a Swin Transformer (docs/arithmetic.md, "Swin Transformer in integers"):
//! the ViT's units, with the patch norm and final norm into the residual stream (U5r), windows
//! with the relative position bias and shift mask at U6, PatchMerging and average pooling. This
//! file holds the constants and their lowering from a quantized Swin; the forward pass is
//! [`super::swin_forward`].

use num_bigint::BigInt;

use super::check::{Checker, Output};
use super::linear::{IntLinear, signed_bits};
use super::lower::{
    BlockParts, av_fraction_bits, check_modes, integer_zero_point, ln_params, lower_block,
    lower_linear, per_tensor, to_residual,
};
use super::model::{AccRequirement, IntBlock, RESIDUAL_FRAC_BITS, Widened};
use crate::arith::layernorm::{LayerNormParams, residual_layer_norm_params};
use crate::arith::shift_av::av_out_range;
use crate::arith::softmax::bias_to_logit_units;
use crate::arith::window::{shift_mask, window_sources};
use crate::arith::{Requant, exp2_table};
use crate::error::{Error, Result};
use crate::model::swin::relative_position_index;
use crate::model::{Site, SwinConfig};
use crate::quant::WeightLayer;
use crate::quant::model::QuantizedModel;

/// One Swin block in integers: the ViT block's constants and the geometry of its windows.
#[derive(Clone, Debug)]
pub struct IntSwinBlock {
    pub block: IntBlock,
    /// Stage of the block and its index within the stage.
    pub stage: usize,
    pub index: usize,
    /// Token width `C`, heads, head width `D_h`.
    pub dim: usize,
    pub heads: usize,
    pub head_dim: usize,
    /// Token grid `[H, W]`, window `[Wh, Ww]`, cyclic shift `[Sh, Sw]` (0 for even blocks).
    pub grid: [usize; 2],
    pub window: [usize; 2],
    pub shift: [usize; 2],
    /// The relative position bias in logit units, `[heads, N, N]` (`s16`, U6's bias input).
    pub rel_bias: Vec<i16>,
    /// The shift mask `[windows, N, N]` (U6's mask input); `None` without shift.
    pub mask: Option<Vec<bool>>,
    /// The grid token of every window row ([`crate::arith::window::window_source`]).
    pub sources: Vec<usize>,
}

impl IntSwinBlock {
    /// Tokens per window `N`.
    pub fn window_area(&self) -> usize {
        self.window[0] * self.window[1]
    }

    /// Windows of the grid.
    pub fn windows(&self) -> usize {
        (self.grid[0] / self.window[0]) * (self.grid[1] / self.window[1])
    }
}

/// A PatchMerging in integers: 2x2 gather, U5 over `4C` into the reduction's input codes, the
/// reduction (U1) into the residual stream (U2).
#[derive(Clone, Debug)]
pub struct IntMerge {
    /// The grid `[H, W]` and width `C` before merging.
    pub grid: [usize; 2],
    pub dim: usize,
    pub norm: LayerNormParams,
    pub reduction: IntLinear,
}

/// A quantized Swin Transformer as integers only.
#[derive(Clone, Debug)]
pub struct IntSwin {
    pub config: SwinConfig,
    pub wbits: u32,
    pub abits: u32,
    pub acc_bits: u32,
    /// The image quantizer (the only float -> integer conversion).
    pub input_scale: f64,
    pub input_zero_point: i32,
    pub input_bits: u32,
    /// Patch embedding into the residual stream, then its norm (U5r).
    pub patch: IntLinear,
    pub patch_norm: LayerNormParams,
    /// The PatchMerging opening each stage (`None` for stage 0).
    pub merges: Vec<Option<IntMerge>>,
    /// Every block, in forward order (global index).
    pub blocks: Vec<IntSwinBlock>,
    /// The final norm (U5r), the pooled mean's requantization to head input codes, the head.
    pub final_norm: LayerNormParams,
    pub pool_requant: Requant,
    pub head: IntLinear,
    /// The U6 table.
    pub exp2: Vec<u32>,
    /// Quantizers widened to include 0.
    pub widened: Vec<Widened>,
}

fn swin_error(what: String) -> Error {
    Error::Invalid(format!("integer model: {what}"))
}

impl IntSwin {
    /// Lowers a quantized Swin to integers, checking every accumulator against `acc_bits`.
    ///
    /// # Errors
    /// As [`super::IntModel::lower`], and for a stage whose grid is not whole windows (timm
    /// pads it) or a PatchMerging on an odd grid, naming the stage.
    pub fn lower(q: &QuantizedModel, acc_bits: u32) -> Result<IntSwin> {
        check_modes(q, acc_bits)?;
        let swin = q.model.swin().ok_or_else(|| q.integer_unsupported())?;
        let cfg = swin.config.clone();
        let abits = q.config.abits;
        let mut widened = Vec::new();
        let (s_img, z_img, img_bits) = per_tensor(q, Site::PatchInput)?;
        let patch = lower_linear(
            q,
            WeightLayer::PatchEmbed,
            &swin.patch_embed,
            s_img,
            z_img,
            img_bits,
            &|_, s| to_residual(s, "patch_embed.proj"),
            &mut widened,
        )?;
        let patch_norm = residual_layer_norm_params(
            &swin.patch_norm.gamma,
            &swin.patch_norm.beta,
            swin.patch_norm.eps,
            RESIDUAL_FRAC_BITS,
            "patch_embed.norm",
        )?;
        let exp2 = exp2_table();
        let mut grid = cfg.grid();
        let mut merges = Vec::new();
        let mut blocks = Vec::new();
        let mut gi = 0;
        for (s, (st, layer)) in cfg.stages.iter().zip(&swin.layers).enumerate() {
            match &layer.downsample {
                None => merges.push(None),
                Some(ds) => {
                    if grid[0] % 2 != 0 || grid[1] % 2 != 0 {
                        return Err(swin_error(format!(
                            "layers.{s}.downsample merges 2x2 tokens of an odd {}x{} grid \
                             (timm pads it; the integer model does not)",
                            grid[0], grid[1]
                        )));
                    }
                    let dim = ds.norm.gamma.len() / 4;
                    let (s_r, z_r, _) = per_tensor(q, Site::ReductionInput(s))?;
                    let norm = ln_params(
                        &ds.norm,
                        s_r,
                        z_r,
                        abits,
                        &format!("layers.{s}.downsample.norm"),
                    )?;
                    let name = format!("layers.{s}.downsample.reduction");
                    let reduction = lower_linear(
                        q,
                        WeightLayer::Reduction(s),
                        &ds.reduction,
                        s_r,
                        z_r,
                        abits,
                        &|_, v| to_residual(v, &name),
                        &mut widened,
                    )?;
                    merges.push(Some(IntMerge {
                        grid,
                        dim,
                        norm,
                        reduction,
                    }));
                    grid = [grid[0] / 2, grid[1] / 2];
                }
            }
            if grid != st.resolution {
                return Err(swin_error(format!(
                    "stage {s}: grid {grid:?} but the configuration says {:?}",
                    st.resolution
                )));
            }
            if grid[0] % st.window[0] != 0 || grid[1] % st.window[1] != 0 {
                return Err(swin_error(format!(
                    "stage {s}: the {}x{} grid is not whole {}x{} windows (timm zero-pads it; \
                     the integer model does not)",
                    grid[0], grid[1], st.window[0], st.window[1]
                )));
            }
            let n = st.window_area();
            let f_av = av_fraction_bits(n, abits, acc_bits)?;
            let index = relative_position_index(st.window);
            for (j, blk) in layer.blocks.iter().enumerate() {
                let parts = BlockParts {
                    norm1: &blk.norm1,
                    qkv: &blk.attn.qkv,
                    proj: &blk.attn.proj,
                    norm2: &blk.norm2,
                    fc1: &blk.fc1,
                    fc2: &blk.fc2,
                    q_prescaled: true,
                };
                let block = lower_block(
                    q,
                    gi,
                    &parts,
                    st.attn_dim(),
                    st.head_dim,
                    f_av,
                    &mut widened,
                )?;
                let h = st.num_heads;
                let table = &blk.attn.rel_bias_table;
                if table.len() != st.table_len() * h {
                    return Err(swin_error(format!(
                        "layers.{s}.blocks.{j}.attn.relative_position_bias_table has {} values, \
                         not {} x {h}",
                        table.len(),
                        st.table_len()
                    )));
                }
                let expanded: Vec<f32> = (0..h)
                    .flat_map(|hd| index.iter().map(move |&i| table[i * h + hd]))
                    .collect();
                let rel_bias = bias_to_logit_units(
                    &expanded,
                    &format!(
                        "layers.{s}.blocks.{j}.attn.relative_position_bias [head, query, key]"
                    ),
                )?;
                let shift = st.block_shift(j);
                blocks.push(IntSwinBlock {
                    block,
                    stage: s,
                    index: j,
                    dim: st.dim,
                    heads: h,
                    head_dim: st.head_dim,
                    grid,
                    window: st.window,
                    shift,
                    rel_bias,
                    mask: shift_mask(grid, st.window, shift),
                    sources: window_sources(grid, st.window, shift),
                });
                gi += 1;
            }
        }
        let final_norm = residual_layer_norm_params(
            &swin.norm.gamma,
            &swin.norm.beta,
            swin.norm.eps,
            RESIDUAL_FRAC_BITS,
            "norm",
        )?;
        let (s_h, z_h, _) = per_tensor(q, Site::HeadInput)?;
        let zh = integer_zero_point(z_h, Site::HeadInput)?;
        let pool_requant = Requant::to_codes(
            2f64.powi(-(RESIDUAL_FRAC_BITS as i32)) / s_h,
            zh,
            abits,
            "head input (average pool)",
        )?;
        let head = lower_linear(
            q,
            WeightLayer::Head,
            &swin.head,
            s_h,
            z_h,
            abits,
            &|_, s| to_residual(s, "head.fc"),
            &mut widened,
        )?;
        let model = IntSwin {
            config: cfg,
            wbits: q.config.wbits,
            abits,
            acc_bits,
            input_scale: s_img,
            input_zero_point: integer_zero_point(z_img, Site::PatchInput)?,
            input_bits: img_bits,
            patch,
            patch_norm,
            merges,
            blocks,
            final_norm,
            pool_requant,
            head,
            exp2,
            widened,
        };
        model.check_accumulators()?;
        model.check_representable()?;
        Ok(model)
    }

    /// Every accumulator's worst case (exact, from the integer weights and the code ranges).
    pub fn requirements(&self) -> Vec<AccRequirement> {
        let mut v = Vec::new();
        let mut push = |what: String, bound: BigInt| {
            v.push(AccRequirement {
                bits: signed_bits(&bound),
                what,
                bound,
            });
        };
        push(self.patch.name.clone(), self.patch.acc_bound());
        for m in self.merges.iter().flatten() {
            push(m.reduction.name.clone(), m.reduction.acc_bound());
        }
        let amax = BigInt::from((1u32 << self.abits) - 1);
        for (i, sb) in self.blocks.iter().enumerate() {
            let b = &sb.block;
            push(b.qkv.name.clone(), b.qkv.acc_bound());
            let dev = |z: i32| BigInt::from(z).max(&amax - BigInt::from(z));
            push(
                format!("blocks.{i}.attn q@k^T"),
                BigInt::from(sb.head_dim) * dev(b.q_zero) * dev(b.k_zero),
            );
            let vmax = u64::try_from(dev(b.v_zero)).unwrap_or(u64::MAX);
            let (lo, hi) = av_out_range(sb.window_area() as u64, vmax, b.av_fraction_bits);
            push(format!("blocks.{i}.attn A@V"), BigInt::from(hi.max(-lo)));
            push(b.proj.name.clone(), b.proj.acc_bound());
            push(b.fc1.name.clone(), b.fc1.acc_bound());
            push(b.fc2.name.clone(), b.fc2.acc_bound());
        }
        push(self.head.name.clone(), self.head.acc_bound());
        v
    }

    fn check_accumulators(&self) -> Result<()> {
        for r in self.requirements() {
            if r.bits > self.acc_bits {
                return Err(Error::Invalid(format!(
                    "accumulator too narrow: {} needs {} bits (worst case |acc| = {}), {} given",
                    r.what, r.bits, r.bound, self.acc_bits
                )));
            }
        }
        Ok(())
    }

    /// Every operand and constant against its field, as [`super::IntModel::check_representable`]
    /// (the relative position bias is `s16` by its type, the mask one bit).
    pub fn check_representable(&self) -> Result<()> {
        let (w, a, acc) = (self.wbits, self.abits, self.acc_bits);
        if !(2..=8).contains(&w) || !(2..=8).contains(&a) || !(8..=32).contains(&acc) {
            return Err(swin_error(format!(
                "widths W{w}A{a} with {acc}-bit accumulators outside W2..8, A2..8, 8..=32"
            )));
        }
        let c = Checker {
            wbits: w,
            abits: a,
            acc_bits: acc,
        };
        c.linear(&self.patch, self.input_bits, Output::Residual)?;
        c.layer_norm(
            &self.patch_norm,
            self.config.embed_dim(),
            true,
            "patch_embed.norm",
        )?;
        for m in self.merges.iter().flatten() {
            c.layer_norm(
                &m.norm,
                4 * m.dim,
                false,
                &format!("{} norm", m.reduction.name),
            )?;
            c.linear(&m.reduction, a, Output::Residual)?;
        }
        for (i, sb) in self.blocks.iter().enumerate() {
            c.block(i, &sb.block, sb.dim, sb.window_area())?;
            let n = sb.window_area();
            if sb.rel_bias.len() != sb.heads * n * n
                || sb
                    .mask
                    .as_ref()
                    .is_some_and(|m| m.len() != sb.windows() * n * n)
                || sb.sources.len() != sb.grid[0] * sb.grid[1]
            {
                return Err(swin_error(format!(
                    "blocks.{i}: bias, mask or window map does not fit its windows"
                )));
            }
        }
        c.layer_norm(&self.final_norm, self.config.num_features(), true, "norm")?;
        super::check::requant(
            &self.pool_requant,
            Output::Codes(a),
            "head input (average pool)",
        )?;
        c.linear(&self.head, a, Output::Residual)?;
        super::check::exp2_table(&self.exp2)
    }
}
