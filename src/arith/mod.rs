//! The integer units of the datapath, exactly as `docs/arithmetic.md` defines them (U1-U8). These
//! functions are the single definition shared by the integer simulator, the golden vectors and the
//! RTL tests: the generated Verilog must equal them bit for bit.

pub mod gelu;
pub mod layernorm;
pub mod logcode;
pub mod matmul;
pub mod pool;
pub mod requant;
pub mod residual;
pub mod rowdiv;
pub mod shift_av;
pub mod softmax;
pub mod spec;
pub mod widths;
pub mod window;

pub use layernorm::{LayerNormParams, layer_norm_params};
pub use logcode::{LogCode, LogCodeParams, PBITS};
pub use matmul::matmul_acc;
pub use requant::{Requant, round_shift};
pub use residual::residual_add;
pub use shift_av::{SQRT2_Q15, attention_value, merge_heads};
pub use softmax::{SoftmaxParams, exp2_table};
