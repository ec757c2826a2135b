//! The memory budget of a model on `repq_vit` (docs/accelerator.md, "Memory budget"; issue 13,
//! item 2): the activation buffers one forward pass keeps between layers, each target device's
//! block RAM, and the engine's own limits (its on-chip row buffers and M tile), each stated
//! with its numbers.
//!
//! The engine keeps every activation in external memory (the buffers below spill there by
//! design; their sizes say what on-chip residency would take), so what can refuse a model is
//! only the engine's on-chip row buffers and its tiling, which [`engine_limits`] checks.

use super::config::{Design, Target};
use super::units::{LN_MAX_DIM, SOFTMAX_ROWMAX};
use crate::model::VitConfig;

/// The block RAM of the device a target's constraints name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Device {
    /// The part (`repq_top.xdc` / `.lpf` / `.pcf`, the `.core` file's synth target).
    pub part: &'static str,
    /// What the block RAM is made of.
    pub blocks: &'static str,
    /// Block RAM in bytes (data bits / 8, parity bits excluded for Xilinx; ECP5 EBR counted at 18
    /// Kb as the vendor sheet gives it).
    pub block_ram_bytes: u64,
}

impl Target {
    /// The device whose block RAM bounds the design; `None` for the generic target.
    pub fn device(&self) -> Option<Device> {
        match self {
            Target::Generic => None,
            // Zynq UltraScale+ ZU9EG: 912 RAMB36E2 of 36 Kb, no UltraRAM.
            Target::UltraScalePlus => Some(Device {
                part: "XCZU9EG",
                blocks: "912 RAMB36E2 x 36 Kb",
                block_ram_bytes: 912 * 36 * 1024 / 8,
            }),
            // LFE5UM-85F: 208 EBR (DP16KD) of 18 Kb.
            Target::Ecp5 => Some(Device {
                part: "LFE5UM-85F",
                blocks: "208 DP16KD x 18 Kb",
                block_ram_bytes: 208 * 18 * 1024 / 8,
            }),
            // iCE40 UP5K: 30 EBR of 4 Kb (its 4 SPRAM of 256 Kb are single-port, not counted).
            Target::Ice40 => Some(Device {
                part: "iCE40UP5K",
                blocks: "30 SB_RAM40_4K x 4 Kb",
                block_ram_bytes: 30 * 4 * 1024 / 8,
            }),
        }
    }
}

/// One activation buffer of a forward pass.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Buffer {
    pub name: &'static str,
    /// Its layout, e.g. `s32 [197, 384]`.
    pub layout: String,
    pub bytes: u64,
}

/// The activation buffers a forward pass of `cfg` keeps between layers, at the engine's element
/// sizes (docs/accelerator.md, "Memory": codes one byte, the residual stream `s32`, code rows
/// of the attention `s32` per key): the residual stream `X` `[T, D]`, the LayerNorm output
/// codes `[T, D]`, qkv codes `[T, 3D]`, one head's log2 code rows `[T, T]`, the attention output
/// codes `[T, D]` and the MLP hidden codes `[T, H]`. Largest first is not implied; the order is
/// the forward's.
pub fn activation_buffers(cfg: &VitConfig) -> Vec<Buffer> {
    let (t, d, h) = (
        cfg.seq_len() as u64,
        cfg.embed_dim as u64,
        cfg.mlp_hidden as u64,
    );
    let buf = |name, ty: &str, bytes_per: u64, rows: u64, cols: u64| Buffer {
        name,
        layout: format!("{ty} [{rows}, {cols}]"),
        bytes: bytes_per * rows * cols,
    };
    vec![
        buf("residual stream X", "s32", 4, t, d),
        buf("LayerNorm output codes", "u8", 1, t, d),
        buf("qkv codes", "u8", 1, t, 3 * d),
        buf("log2 code rows of one head", "s32", 4, t, t),
        buf("attention output codes (proj input)", "u8", 1, t, d),
        buf("MLP hidden codes (fc2 input)", "u8", 1, t, h),
    ]
}

/// The bytes of the largest set of buffers live at once: the residual stream with the MLP hidden
/// codes (fc1 to fc2), or with qkv and one head's code rows (the attention).
pub fn peak_live_bytes(cfg: &VitConfig) -> u64 {
    let b = activation_buffers(cfg);
    let by = |n: &str| b.iter().find(|x| x.name == n).map_or(0, |x| x.bytes);
    let x = by("residual stream X");
    let mlp = x + by("MLP hidden codes (fc2 input)");
    let attn = x
        + by("qkv codes")
        + by("log2 code rows of one head")
        + by("attention output codes (proj input)");
    mlp.max(attn)
}

/// What keeps the engine of `d` from running `cfg` end to end, one reason per limit with its
/// numbers (empty: it runs). The limits are the engine's, not the device's: the LayerNorm row
/// buffer (`LN_MAX_DIM` channels), the softmax row and A x V value buffers (`SOFTMAX_ROWMAX`
/// keys), one M tile of `m_tile` token rows per layer, and head widths in whole beats of the
/// array's rows and columns.
pub fn engine_limits(d: &Design, cfg: &VitConfig) -> Vec<String> {
    let (t, dim) = (cfg.seq_len(), cfg.embed_dim);
    let dh = dim / cfg.num_heads.max(1);
    let mut why = Vec::new();
    if dim > LN_MAX_DIM as usize {
        why.push(format!(
            "width {dim} exceeds the LayerNorm row buffer of {LN_MAX_DIM} channels"
        ));
    }
    if t > SOFTMAX_ROWMAX as usize {
        why.push(format!(
            "{t} tokens exceed the softmax row and value buffers of {SOFTMAX_ROWMAX} keys"
        ));
    }
    if t > d.m_tile as usize {
        why.push(format!(
            "{t} tokens exceed the M tile of {} rows (give gen --m-tile {} or more)",
            d.m_tile,
            t.next_power_of_two()
        ));
    }
    if !dh.is_multiple_of(d.rows as usize) || !dh.is_multiple_of(d.cols as usize) {
        why.push(format!(
            "head width {dh} is not a multiple of the array's {} rows and {} columns",
            d.rows, d.cols
        ));
    }
    if cfg.distilled {
        why.push("the distillation head (two classifiers) is not lowered yet".into());
    }
    why
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::random::deit_small_config;
    use crate::rtl::{GenConfig, PeShape};

    /// The issue's DeiT-S figures: the s32 residual stream about 300 KB, the MLP hidden layer
    /// about 300 KB, qkv about 230 KB.
    #[test]
    fn deit_small_buffers_are_the_issues_figures() {
        let b = activation_buffers(&deit_small_config());
        let by = |n: &str| b.iter().find(|x| x.name == n).unwrap().bytes;
        assert_eq!(by("residual stream X"), 197 * 384 * 4); // 302,592
        assert_eq!(by("MLP hidden codes (fc2 input)"), 197 * 1536); // 302,592
        assert_eq!(by("qkv codes"), 197 * 1152); // 226,944
        assert_eq!(by("log2 code rows of one head"), 197 * 197 * 4);
        assert_eq!(
            peak_live_bytes(&deit_small_config()),
            302_592 + 226_944 + 155_236 + 75_648
        );
    }

    #[test]
    fn device_block_ram() {
        assert_eq!(
            Target::UltraScalePlus.device().unwrap().block_ram_bytes,
            4_202_496
        );
        assert_eq!(Target::Ecp5.device().unwrap().block_ram_bytes, 479_232);
        assert_eq!(Target::Generic.device(), None);
    }

    #[test]
    fn engine_limits_name_their_numbers() {
        let d = |pe: u32, m_tile: u32| {
            GenConfig {
                m_tile,
                ..GenConfig::new(PeShape { rows: pe, cols: pe })
            }
            .validate()
            .unwrap()
        };
        let s = deit_small_config();
        assert!(engine_limits(&d(16, 256), &s).is_empty());
        let why = engine_limits(&d(128, 128), &s);
        assert_eq!(why.len(), 2, "{why:?}");
        assert!(why[0].contains("197 tokens exceed the M tile of 128 rows"));
        assert!(why[1].contains("head width 64"));
        let wide = VitConfig {
            embed_dim: 1280,
            num_heads: 16,
            ..s
        };
        assert!(engine_limits(&d(16, 256), &wide)[0].contains("width 1280 exceeds"));
    }
}
