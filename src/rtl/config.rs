//! What `repq-hw gen` accepts, and its validation into a [`Design`]: every parameter is checked
//! (and every derived width computed) before a single file is rendered or written.

use std::fmt;
use std::str::FromStr;

use num_bigint::{BigInt, BigUint};

use super::bound;

/// Largest array side accepted by `--pe`.
pub const MAX_PE_SIDE: u32 = 256;
/// Code widths the generator supports for `--wbits` and `--abits` (4 and 8 as the issue asks, and
/// 6 for the paper's W6/A6).
pub const SUPPORTED_BITS: [u32; 3] = [4, 6, 8];
/// docs/arithmetic.md: `accbits <= 32`.
pub const MAX_ACC_BITS: u32 = 32;
/// Width of the M, K, N size inputs of the control interface (each at most 65535).
pub const DIM_BITS: u32 = 16;
/// Default depth of the accumulator buffer, i.e. rows per M tile: one DeiT image (197 tokens) fits.
pub const DEFAULT_M_TILE: u32 = 256;
/// Accepted range of `--m-tile`.
pub const M_TILE_RANGE: (u32, u32) = (2, 16384);
/// Accepted range of `--clock-mhz`.
pub const CLOCK_RANGE_MHZ: (f64, f64) = (1.0, 1000.0);
/// Latency of one requantization unit (U2), in cycles.
pub const REQUANT_LATENCY: u32 = 10;
/// Latency of the log2 code unit (U3), in cycles.
pub const LOGCODE_LATENCY: u32 = 3;
/// Latency of the attention x V unit (U4), from the last key of a row to its output.
pub const SHIFT_AV_LATENCY: u32 = 5;
/// Fraction bits the attention x V unit accepts (`F` of U4 is at most 16).
pub const AV_MAX_F: u32 = 16;
/// Width of the `C_INT` input of the log2 code unit (signed).
pub const LOGCODE_CINT_BITS: u32 = 16;
/// Widest output lane `--out-bits` accepts: the requantization unit's s32 output (docs/arithmetic.md,
/// U2: residual-stream increments and raw accumulators are s32).
pub const MAX_OUT_BITS: u32 = 32;

/// The demo model's architecture, which sets the default accumulator requirement: a ViT of width
/// 96 with an MLP hidden width of 384 and 50 tokens (fc2 has the largest depth, K = 384).
pub const DEMO_EMBED_DIM: u64 = 96;
pub const DEMO_MLP_HIDDEN: u64 = 384;
pub const DEMO_TOKENS: u64 = 50;

/// Everything `repq-hw gen` rejects, each naming the option at fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GenError {
    /// `--pe` is not of the form `ROWSxCOLS`.
    PeFormat { given: String },
    /// A side of `--pe` is not a decimal number.
    PeNumber {
        given: String,
        side: Side,
        part: String,
    },
    /// A side of `--pe` is zero.
    PeZero { given: String, side: Side },
    /// A side of `--pe` is larger than [`MAX_PE_SIDE`].
    PeTooLarge {
        given: String,
        side: Side,
        value: u64,
    },
    /// `--wbits` or `--abits` not in [`SUPPORTED_BITS`].
    Width { option: &'static str, given: u32 },
    /// `--acc-bits` narrower than the requirement.
    AccTooNarrow {
        given: u32,
        required: u32,
        what: String,
    },
    /// `--acc-bits` wider than 32.
    AccTooWide { given: u32 },
    /// The requirement itself needs more than 32 bits.
    RequirementTooWide { required: u32, what: String },
    /// `--target` not one of [`Target::ALL`].
    Target { given: String },
    /// `--clock-mhz` out of [`CLOCK_RANGE_MHZ`] or not a number.
    Clock { given: String },
    /// `--m-tile` out of [`M_TILE_RANGE`].
    MTile { given: u32 },
    /// `--requant-lanes` not a divisor of the column count.
    RequantLanes { given: u32, cols: u32 },
    /// `--out-bits` neither `abits` nor in `abits + 1 ..= 32`.
    OutBits { given: u32, abits: u32 },
    /// `--out` names no directory (`/`, `..`), or an existing path this tool did not write.
    Out { path: String, reason: String },
}

/// Which side of the `--pe` shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Rows,
    Cols,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Rows => "row",
            Side::Cols => "column",
        })
    }
}

impl GenError {
    /// The command-line option at fault.
    pub fn option(&self) -> &'static str {
        match self {
            GenError::PeFormat { .. }
            | GenError::PeNumber { .. }
            | GenError::PeZero { .. }
            | GenError::PeTooLarge { .. } => "--pe",
            GenError::Width { option, .. } => option,
            GenError::AccTooNarrow { .. }
            | GenError::AccTooWide { .. }
            | GenError::RequirementTooWide { .. } => "--acc-bits",
            GenError::Target { .. } => "--target",
            GenError::Clock { .. } => "--clock-mhz",
            GenError::MTile { .. } => "--m-tile",
            GenError::RequantLanes { .. } => "--requant-lanes",
            GenError::OutBits { .. } => "--out-bits",
            GenError::Out { .. } => "--out",
        }
    }

    /// What is wrong, without the option name.
    pub fn reason(&self) -> String {
        match self {
            GenError::PeFormat { given } => {
                format!("`{given}` is not of the form ROWSxCOLS (such as 16x16)")
            }
            GenError::PeNumber { given, side, part } if part.is_empty() => {
                format!(
                    "`{given}`: the {side} count is missing (expected ROWSxCOLS, such as 16x16)"
                )
            }
            GenError::PeNumber { given, side, part } => {
                format!("`{given}`: the {side} count `{part}` is not a number")
            }
            GenError::PeZero { given, side } => {
                format!("`{given}`: the {side} count must be at least 1")
            }
            GenError::PeTooLarge { given, side, value } => format!(
                "`{given}`: the {side} count {value} is more than the largest supported, {MAX_PE_SIDE}"
            ),
            GenError::Width { given, .. } => format!(
                "{given} bits is not a supported code width (supported: {})",
                SUPPORTED_BITS.map(|b| b.to_string()).join(", ")
            ),
            GenError::AccTooNarrow {
                given,
                required,
                what,
            } => format!(
                "{given} bits is narrower than required: {what} needs {required} bits \
                 (give --acc-bits {required} or more, or omit it)"
            ),
            GenError::AccTooWide { given } => format!(
                "{given} bits is more than {MAX_ACC_BITS} (docs/arithmetic.md: accbits <= 32)"
            ),
            GenError::RequirementTooWide { required, what } => format!(
                "{what} needs a {required}-bit accumulator, more than the {MAX_ACC_BITS} bits \
                 docs/arithmetic.md allows"
            ),
            GenError::Target { given } => format!(
                "`{given}` is not a known target (expected one of: {})",
                Target::ALL.map(|t| t.name()).join(", ")
            ),
            GenError::Clock { given } => format!(
                "`{given}` MHz is not a clock between {} and {} MHz",
                CLOCK_RANGE_MHZ.0, CLOCK_RANGE_MHZ.1
            ),
            GenError::MTile { given } => format!(
                "{given} rows is not between {} and {}",
                M_TILE_RANGE.0, M_TILE_RANGE.1
            ),
            GenError::RequantLanes { given, cols } => format!(
                "{given} lanes do not divide the {cols} columns of the array (give a divisor of {cols})"
            ),
            GenError::OutBits { given, abits } => format!(
                "{given} bits is not a supported output lane width: give {abits} (the default, \
                 unsigned u{abits} codes) or {} ..= {MAX_OUT_BITS} (signed lanes)",
                abits + 1
            ),
            GenError::Out { path, reason } => format!("`{path}`: {reason}"),
        }
    }
}

impl fmt::Display for GenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.option(), self.reason())
    }
}

impl std::error::Error for GenError {}

impl From<GenError> for crate::Error {
    fn from(e: GenError) -> Self {
        crate::Error::Config {
            source_name: "repq-hw gen".into(),
            field: e.option().into(),
            reason: e.reason(),
        }
    }
}

/// The array shape `ROWSxCOLS`: rows are the depth (K) lanes, columns the output (N) lanes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeShape {
    pub rows: u32,
    pub cols: u32,
}

impl FromStr for PeShape {
    type Err = GenError;

    fn from_str(s: &str) -> Result<Self, GenError> {
        let given = s.to_string();
        let Some((r, c)) = s.split_once(['x', 'X']) else {
            return Err(GenError::PeFormat { given });
        };
        // Neither side a number (`sixteen`, `axb`, `x`): the whole thing is not a shape.
        let numeric = |p: &str| {
            let p = p.trim();
            !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())
        };
        if !numeric(r) && !numeric(c) {
            return Err(GenError::PeFormat { given });
        }
        let side = |part: &str, side: Side| -> Result<u32, GenError> {
            let part = part.trim();
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(GenError::PeNumber {
                    given: given.clone(),
                    side,
                    part: part.into(),
                });
            }
            // All digits: only overflow can fail, and that is "too large".
            let value = part.parse::<u64>().unwrap_or(u64::MAX);
            if value == 0 {
                return Err(GenError::PeZero {
                    given: given.clone(),
                    side,
                });
            }
            if value > u64::from(MAX_PE_SIDE) {
                return Err(GenError::PeTooLarge {
                    given: given.clone(),
                    side,
                    value,
                });
            }
            Ok(value as u32)
        };
        Ok(PeShape {
            rows: side(r, Side::Rows)?,
            cols: side(c, Side::Cols)?,
        })
    }
}

impl fmt::Display for PeShape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}", self.rows, self.cols)
    }
}

/// The implementation target: it selects the constraint file format and the default clock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Target {
    /// Any flow: SDC constraints.
    #[default]
    Generic,
    /// Xilinx UltraScale+: XDC.
    UltraScalePlus,
    /// Lattice ECP5: LPF.
    Ecp5,
    /// Lattice iCE40: PCF.
    Ice40,
}

impl Target {
    pub const ALL: [Target; 4] = [
        Target::Generic,
        Target::UltraScalePlus,
        Target::Ecp5,
        Target::Ice40,
    ];

    /// The `--target` name.
    pub fn name(self) -> &'static str {
        match self {
            Target::Generic => "generic",
            Target::UltraScalePlus => "xcup",
            Target::Ecp5 => "ecp5",
            Target::Ice40 => "ice40",
        }
    }

    /// A human-readable description.
    pub fn description(self) -> &'static str {
        match self {
            Target::Generic => "generic (SDC constraints)",
            Target::UltraScalePlus => "Xilinx UltraScale+ (XDC constraints)",
            Target::Ecp5 => "Lattice ECP5 (LPF constraints)",
            Target::Ice40 => "Lattice iCE40 (PCF constraints)",
        }
    }

    /// The constraint file's extension.
    pub fn constraint_ext(self) -> &'static str {
        match self {
            Target::Generic => "sdc",
            Target::UltraScalePlus => "xdc",
            Target::Ecp5 => "lpf",
            Target::Ice40 => "pcf",
        }
    }

    /// The clock when `--clock-mhz` is not given: a goal for the family. ECP5 and iCE40 are what
    /// nextpnr reaches on the largest arrays that fit (docs/synthesis.md: 75.7 MHz for 12x12 w8a8
    /// on an LFE5UM-85F; 31.2 MHz for 4x3 w4a4 on an iCE40 UP5K, 65.1 MHz for 4x4 on an HX8K);
    /// UltraScale+ is not measured (Yosys does not time it; Vivado is not in this flow).
    pub fn default_clock_mhz(self) -> f64 {
        match self {
            Target::Generic => 200.0,
            Target::UltraScalePlus => 300.0,
            Target::Ecp5 => 75.0,
            Target::Ice40 => 24.0,
        }
    }
}

impl FromStr for Target {
    type Err = GenError;

    fn from_str(s: &str) -> Result<Self, GenError> {
        match s.to_ascii_lowercase().as_str() {
            "generic" | "sdc" | "asic" => Ok(Target::Generic),
            "xcup" | "ultrascale+" | "ultrascaleplus" | "xilinx" => Ok(Target::UltraScalePlus),
            "ecp5" => Ok(Target::Ecp5),
            "ice40" => Ok(Target::Ice40),
            _ => Err(GenError::Target { given: s.into() }),
        }
    }
}

/// What the accumulator must hold, and the sizes the model runs through the hardware. The default
/// is [`AccRequirement::demo_architecture`]; a model-derived requirement (from the model's actual
/// integer weights, see [`bound::column_range`]) plugs in through [`AccRequirement::exact`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccRequirement {
    /// What the requirement was derived from (printed in the generated files).
    pub source: String,
    /// The largest matmul depth K.
    pub max_k: u64,
    /// The largest token count T (the sum length of the attention x V unit).
    pub max_tokens: u64,
    /// The smallest and largest accumulator value, exact.
    pub acc_min: BigInt,
    pub acc_max: BigInt,
}

impl AccRequirement {
    /// The worst case for depth `max_k` at these code widths with a bias of magnitude at most
    /// `bias_bound` ([`bound::acc_worst_case`]).
    pub fn worst_case(
        source: impl Into<String>,
        max_k: u64,
        max_tokens: u64,
        abits: u32,
        wbits: u32,
        bias_bound: &BigUint,
    ) -> Self {
        let b = BigInt::from(bound::acc_worst_case(max_k, abits, wbits, bias_bound));
        AccRequirement {
            source: source.into(),
            max_k,
            max_tokens,
            acc_min: -b.clone(),
            acc_max: b,
        }
    }

    /// An exact range, for instance the union of [`bound::column_range`] over a model's layers.
    pub fn exact(
        source: impl Into<String>,
        max_k: u64,
        max_tokens: u64,
        acc_min: BigInt,
        acc_max: BigInt,
    ) -> Self {
        AccRequirement {
            source: source.into(),
            max_k,
            max_tokens,
            acc_min,
            acc_max,
        }
    }

    /// The default without `--model`: the demo ViT's architecture (K = 384 for fc2, 50 tokens)
    /// from the code ranges alone. The bias is bounded by `2 * K * amax * wmax`: the folded
    /// zero-point term `z_a * sum_k w` (at most `K * amax * wmax`) plus a rounded real bias of at
    /// most the same magnitude. The total is `3 * K * (2^abits - 1) * (2^wbits - 1)`.
    pub fn demo_architecture(abits: u32, wbits: u32) -> Self {
        let k = DEMO_MLP_HIDDEN;
        let bias = BigUint::from(2u32) * bound::product_bound(k, abits, wbits);
        Self::worst_case(
            format!(
                "the demo ViT architecture (width {DEMO_EMBED_DIM}, MLP {DEMO_MLP_HIDDEN}, \
                 {DEMO_TOKENS} tokens), worst case for K = {k}: |acc| <= 3 * K * (2^{abits} - 1) \
                 * (2^{wbits} - 1)"
            ),
            k,
            DEMO_TOKENS,
            abits,
            wbits,
            &bias,
        )
    }

    /// The accumulator bits this requirement needs.
    pub fn bits(&self) -> u32 {
        bound::signed_bits(&self.acc_min, &self.acc_max)
    }
}

/// The options of `repq-hw gen`, before validation.
#[derive(Clone, Debug, PartialEq)]
pub struct GenConfig {
    pub pe: PeShape,
    /// Weight code bits (the stationary operand lanes are `max(wbits, abits) + 1` bits: see
    /// [`Design::wob`]).
    pub wbits: u32,
    /// Activation code bits.
    pub abits: u32,
    /// Accumulator bits; `None`: exactly what [`GenConfig::requirement`] needs.
    pub acc_bits: Option<u32>,
    /// Rows per M tile (depth of the accumulator buffer).
    pub m_tile: u32,
    pub target: Target,
    /// Clock goal; `None`: [`Target::default_clock_mhz`].
    pub clock_mhz: Option<f64>,
    /// The accumulator requirement; `None`: [`AccRequirement::demo_architecture`] at these widths.
    pub requirement: Option<AccRequirement>,
    /// The `--model` argument as given, recorded in the generated files' command line.
    pub model: Option<String>,
    /// Requantization lanes U (divides the column count); `None`: one per column. Fewer lanes
    /// share the (large) requantization units: an output row then takes C / U cycles.
    pub requant_lanes: Option<u32>,
    /// Output lane bits B; `None` or `abits`: unsigned u{abits} codes (lo/hi u{abits}). B in
    /// `abits + 1 ..= 32`: signed s{B} lanes and s{B} lo/hi, for the wider requantization targets
    /// of docs/arithmetic.md, U2 (GELU index s16, residual s32, raw Q K^T accumulators).
    pub out_bits: Option<u32>,
}

/// Output lane bits of `repq-hw gen` without `--out-bits`: signed s32 lanes, which hold every
/// requantization target of the integer model (docs/arithmetic.md, U2: the residual stream s32,
/// the GELU index s16, activation codes, raw Q K^T accumulators), so that the default design
/// runs every case of `repq-hw golden`. `--out-bits ABITS` gives unsigned code lanes instead.
pub const DEFAULT_OUT_BITS: u32 = 32;

/// The accumulator width `repq-hw gen` chooses at these widths without `--acc-bits` and
/// `--model`: the worst case of the embedded demo model's architecture
/// ([`AccRequirement::demo_architecture`]), at least the PE product's width. `repq-hw golden
/// --random` uses it as its default, so that its vectors run on the default design.
///
/// # Errors
/// [`GenError`] for widths `repq-hw gen` refuses.
pub fn default_acc_bits(wbits: u32, abits: u32) -> Result<u32, GenError> {
    let c = GenConfig {
        wbits,
        abits,
        ..GenConfig::new(PeShape { rows: 1, cols: 1 })
    };
    c.validate().map(|d| d.acc_bits)
}

impl GenConfig {
    /// Defaults for everything but the array shape: w8a8, default target, demo requirement.
    pub fn new(pe: PeShape) -> Self {
        GenConfig {
            pe,
            wbits: 8,
            abits: 8,
            acc_bits: None,
            m_tile: DEFAULT_M_TILE,
            target: Target::Generic,
            clock_mhz: None,
            requirement: None,
            model: None,
            requant_lanes: None,
            out_bits: None,
        }
    }

    /// Checks every option and computes the derived parameters.
    pub fn validate(&self) -> Result<Design, GenError> {
        let PeShape { rows, cols } = self.pe;
        for (side, v) in [(Side::Rows, rows), (Side::Cols, cols)] {
            if v == 0 {
                return Err(GenError::PeZero {
                    given: self.pe.to_string(),
                    side,
                });
            }
            if v > MAX_PE_SIDE {
                return Err(GenError::PeTooLarge {
                    given: self.pe.to_string(),
                    side,
                    value: v.into(),
                });
            }
        }
        for (option, given) in [("--wbits", self.wbits), ("--abits", self.abits)] {
            if !SUPPORTED_BITS.contains(&given) {
                return Err(GenError::Width { option, given });
            }
        }
        let obits = match self.out_bits {
            None => self.abits,
            Some(b) if b == self.abits || (self.abits + 1..=MAX_OUT_BITS).contains(&b) => b,
            Some(given) => {
                return Err(GenError::OutBits {
                    given,
                    abits: self.abits,
                });
            }
        };
        let requirement = self
            .requirement
            .clone()
            .unwrap_or_else(|| AccRequirement::demo_architecture(self.abits, self.wbits));
        let what = format!(
            "{} at w{}a{} (accumulator range {} .. {})",
            requirement.source, self.wbits, self.abits, requirement.acc_min, requirement.acc_max
        );
        // The stationary operand lanes carry weights minus their zero points (s{wbits+1}) and, for
        // Q K^T, keys minus theirs (s{abits+1}): they are as wide as the wider of the two.
        let wob = crate::arith::widths::stationary_lane_bits(self.wbits, self.abits);
        // The PE product u{a} x s{wob} must fit with a bit to spare (the PE sign-extends it).
        let required = requirement.bits().max(self.abits + wob + 1);
        if required > MAX_ACC_BITS {
            return Err(GenError::RequirementTooWide { required, what });
        }
        let acc_bits = match self.acc_bits {
            None => required,
            Some(given) if given > MAX_ACC_BITS => return Err(GenError::AccTooWide { given }),
            Some(given) if given < required => {
                return Err(GenError::AccTooNarrow {
                    given,
                    required,
                    what,
                });
            }
            Some(given) => given,
        };
        if !(M_TILE_RANGE.0..=M_TILE_RANGE.1).contains(&self.m_tile) {
            return Err(GenError::MTile { given: self.m_tile });
        }
        let requant_lanes = self.requant_lanes.unwrap_or(cols);
        if requant_lanes == 0 || cols % requant_lanes != 0 {
            return Err(GenError::RequantLanes {
                given: requant_lanes,
                cols,
            });
        }
        let clock_mhz = self
            .clock_mhz
            .unwrap_or_else(|| self.target.default_clock_mhz());
        if !(clock_mhz.is_finite() && (CLOCK_RANGE_MHZ.0..=CLOCK_RANGE_MHZ.1).contains(&clock_mhz))
        {
            return Err(GenError::Clock {
                given: clock_mhz.to_string(),
            });
        }
        let av_fraction_bits =
            bound::av_fraction_bits(requirement.max_tokens, self.abits, acc_bits);
        // Every option explicit (--out-bits too: the command line's default is not the
        // library's), so the command regenerates this design.
        let mut command = format!(
            "repq-hw gen --pe {} --wbits {} --abits {} --acc-bits {} --out-bits {obits}",
            self.pe, self.wbits, self.abits, acc_bits
        );
        if let Some(m) = &self.model {
            command.push_str(&format!(" --model {m}"));
        }
        command.push_str(&format!(
            " --m-tile {} --requant-lanes {} --target {} --clock-mhz {} --out <DIR>",
            self.m_tile,
            requant_lanes,
            self.target.name(),
            clock_mhz
        ));
        let groups = cols / requant_lanes;
        let output_latency =
            2 + rows + cols + if groups > 1 { groups } else { 0 } + REQUANT_LATENCY + 2;
        Ok(Design {
            rows,
            cols,
            wbits: self.wbits,
            abits: self.abits,
            wob,
            obits,
            acc_bits,
            acc_bits_required: required,
            m_tile: self.m_tile,
            dim_bits: DIM_BITS,
            // A whole M tile of output rows fits (the driver contract: a single-threaded driver
            // that feeds a tile's activations before it reads the tile's outputs never
            // deadlocks), and so does the issue-to-output latency (the array never waits for
            // room with the output always ready).
            fifo_depth: (output_latency + 2)
                .max(self.m_tile)
                .next_power_of_two()
                .max(4),
            requant_lanes,
            target: self.target,
            clock_mhz,
            av_fraction_bits,
            requirement,
            command,
            version: env!("CARGO_PKG_VERSION"),
        })
    }
}

/// A validated configuration with every derived parameter: what the templates render.
#[derive(Clone, Debug, PartialEq)]
pub struct Design {
    /// Array rows R (depth lanes) and columns C (output lanes).
    pub rows: u32,
    pub cols: u32,
    pub wbits: u32,
    pub abits: u32,
    /// Stationary operand bits, `max(wbits, abits) + 1`: weights minus their zero points
    /// (`s{wbits+1}`) for the linear layers, and keys minus the key zero point (`s{abits+1}`, the
    /// keys are activation codes) for `Q K^T`, so that every matmul of the model runs on the array
    /// whatever the two widths (W4A8: `s9` lanes).
    pub wob: u32,
    /// Output lane bits: `abits` (unsigned codes, the default) or `abits + 1 ..= 32` (signed).
    pub obits: u32,
    pub acc_bits: u32,
    /// What the requirement (and the PE product) needs; `acc_bits >= acc_bits_required`.
    pub acc_bits_required: u32,
    /// Rows per M tile, the accumulator buffer depth.
    pub m_tile: u32,
    /// Width of the M, K, N inputs.
    pub dim_bits: u32,
    /// Output FIFO depth (power of two): at least the M tile, so that every output row of an
    /// `(m0, n0)` tile fits before the driver reads any (a driver may feed the streams one at a
    /// time in the documented order), and at least the issue-to-output latency, so that with
    /// the output always ready the array never waits for it.
    pub fifo_depth: u32,
    /// Requantization lanes U (C / U cycles per output row).
    pub requant_lanes: u32,
    pub target: Target,
    pub clock_mhz: f64,
    /// U4 fraction bits `F` for the requirement's token count at this accumulator width.
    pub av_fraction_bits: Option<u32>,
    pub requirement: AccRequirement,
    /// The canonical command line that regenerates these files.
    pub command: String,
    /// The repq-hw version.
    pub version: &'static str,
}

/// One field of a packed stream beat (LSB first).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Field {
    pub name: &'static str,
    pub lsb: u32,
    pub bits: u32,
    pub signed: bool,
}

impl Design {
    /// The parameter beat's fields, LSB first: bias, M0, shift, zero point, lo, hi (lo and hi
    /// as wide and as signed as an output lane).
    pub fn param_fields(&self) -> Vec<Field> {
        let signed = self.out_signed();
        let widths = [
            ("bias", self.acc_bits, true),
            ("m0", 31, false),
            ("shift", 6, false),
            ("zero_point", 32, true),
            ("lo", self.obits, signed),
            ("hi", self.obits, signed),
        ];
        let mut lsb = 0;
        widths
            .into_iter()
            .map(|(name, bits, signed)| {
                let f = Field {
                    name,
                    lsb,
                    bits,
                    signed,
                };
                lsb += bits;
                f
            })
            .collect()
    }

    /// Bits of one parameter beat.
    pub fn param_bits(&self) -> u32 {
        self.param_fields().iter().map(|f| f.bits).sum()
    }

    /// Bits of one activation beat (R codes).
    pub fn act_bits(&self) -> u32 {
        self.rows * self.abits
    }

    /// Bits of one weight beat (C operands).
    pub fn wgt_bits(&self) -> u32 {
        self.cols * self.wob
    }

    /// Bits of one output beat (C lanes of [`Design::out_lane_bits`]).
    pub fn out_bits(&self) -> u32 {
        self.cols * self.obits
    }

    /// Bits of one output lane: `abits` by default, B with `--out-bits B`.
    pub fn out_lane_bits(&self) -> u32 {
        self.obits
    }

    /// Whether output lanes (and the lo/hi fields) are signed: `--out-bits` wider than `abits`.
    pub fn out_signed(&self) -> bool {
        self.obits != self.abits
    }

    /// The clamp range an output lane holds, which `lo <= hi` must lie in (docs/arithmetic.md,
    /// U2): `0 ..= 2^abits - 1` for code lanes, `-2^(B-1) ..= 2^(B-1) - 1` for signed lanes.
    pub fn out_range(&self) -> (i64, i64) {
        if self.out_signed() {
            (-(1i64 << (self.obits - 1)), (1i64 << (self.obits - 1)) - 1)
        } else {
            (0, (1i64 << self.abits) - 1)
        }
    }

    /// Cycles from an activation beat's acceptance to the de-skewed accumulator row: one input
    /// register, then R + C + 1 through the skew, the array (two-stage PE multiply) and the
    /// de-skew.
    pub fn array_latency(&self) -> u32 {
        2 + self.rows + self.cols
    }

    /// Cycles from the acceptance of an activation beat of the last K tile to the cycle its
    /// output row is first valid on `m_out`: the array, then (with shared requantization) the
    /// hold register and C / U - 1 more groups, the requantization pipeline, and the FIFO's
    /// write and registered read.
    pub fn output_latency(&self) -> u32 {
        let g = self.requant_groups();
        self.array_latency() + if g > 1 { g } else { 0 } + REQUANT_LATENCY + 2
    }

    /// Cycles per output row in the requantization stage, C / U.
    pub fn requant_groups(&self) -> u32 {
        self.cols / self.requant_lanes
    }

    /// Short name of the configuration, such as `16x16_w8a8`, or `16x16_w8a8_o32` with signed
    /// output lanes.
    pub fn tag(&self) -> String {
        let mut t = format!("{}x{}_w{}a{}", self.rows, self.cols, self.wbits, self.abits);
        if self.out_signed() {
            t.push_str(&format!("_o{}", self.obits));
        }
        t
    }

    /// Clock period in ns, three decimals.
    pub fn period_ns(&self) -> String {
        format!("{:.3}", 1000.0 / self.clock_mhz)
    }

    /// The clock in MHz as given (shortest form).
    pub fn clock_mhz_str(&self) -> String {
        self.clock_mhz.to_string()
    }
}
