//! The generated sections of docs/arithmetic.md: its tables of constants, widths and `F` are
//! rendered from the constants and functions the datapath uses, so the contract cannot drift from
//! the code. A section is the text between `<!-- generated: NAME -->` and `<!-- end -->`;
//! [`render`] replaces each body with [`section`]`(NAME)`. `tests/arith_doc.rs` fails when the
//! document differs from its rendering, and rewrites it under `REPQ_BLESS_DOCS=1`.

use super::gelu::HBITS;
use super::layernorm::{DB, GF, LNF, MAX_DIM, widths as ln_widths};
use super::logcode::{MBITS, PBITS};
use super::requant::{M0_MAX, SHIFT_MAX, SHIFT_MIN};
use super::shift_av::{F_MAX, SQRT2_Q15, av_fraction_bits, av_out_range};
use super::softmax::{EBITS, EF, exp2_table};
use super::widths::{
    C_INT_BITS, EPS_BITS, F_BITS, LN_B_BITS, LN_G_BITS, M0_BITS, RESIDUAL_BITS, RESIDUAL_FRAC_BITS,
    SHIFT_BITS, ZERO_POINT_BITS, act_operand_bits, stationary_lane_bits, weight_operand_bits,
};

/// The sections the document must hold, in document order.
pub const SECTIONS: [&str; 4] = [
    "constants",
    "widths",
    "av-fraction-bits",
    "layernorm-widths",
];

const BEGIN: &str = "<!-- generated: ";
const END: &str = "<!-- end -->";

/// The body of section `name` (a Markdown table and its command line), `None` for an unknown name.
pub fn section(name: &str) -> Option<String> {
    Some(match name {
        "constants" => constants(),
        "widths" => widths(),
        "av-fraction-bits" => fraction_bits(),
        "layernorm-widths" => layernorm_widths(),
        _ => return None,
    })
}

/// `doc` with every generated section's body replaced by its rendering. Errors name an unknown or
/// unterminated section, or one of [`SECTIONS`] the document lacks.
pub fn render(doc: &str) -> Result<String, String> {
    let mut out = String::with_capacity(doc.len());
    let mut rest = doc;
    let mut seen = Vec::new();
    while let Some(start) = rest.find(BEGIN) {
        let after = &rest[start + BEGIN.len()..];
        let close = after
            .find(" -->")
            .ok_or_else(|| "a `<!-- generated: ` marker without ` -->`".to_string())?;
        let name = &after[..close];
        let body_start = start + BEGIN.len() + close + " -->".len();
        let end = rest[body_start..]
            .find(END)
            .ok_or_else(|| format!("section `{name}` has no `{END}`"))?;
        let body = section(name).ok_or_else(|| {
            format!(
                "unknown generated section `{name}` (known: {})",
                SECTIONS.join(", ")
            )
        })?;
        out.push_str(&rest[..body_start]);
        out.push('\n');
        out.push_str(&body);
        out.push_str(END);
        rest = &rest[body_start + end + END.len()..];
        seen.push(name.to_string());
    }
    out.push_str(rest);
    if let Some(missing) = SECTIONS.iter().find(|s| !seen.iter().any(|x| x == *s)) {
        return Err(format!(
            "the document lacks the generated section `{missing}`"
        ));
    }
    Ok(out)
}

/// The constants the document's prose may quote as `NAME = VALUE`, with their values.
pub fn named_constants() -> Vec<(&'static str, i64)> {
    vec![
        ("PBITS", PBITS.into()),
        ("MBITS", MBITS.into()),
        ("SQRT2", SQRT2_Q15),
        ("F_MAX", F_MAX.into()),
        ("EF", EF.into()),
        ("EBITS", EBITS.into()),
        ("LNF", LNF.into()),
        ("GF", GF.into()),
        ("DB", DB.into()),
        ("HBITS", HBITS.into()),
        ("RESIDUAL_FRAC_BITS", RESIDUAL_FRAC_BITS.into()),
    ]
}

fn table(head: &[&str], rows: &[Vec<String>]) -> String {
    let mut t = format!("| {} |\n", head.join(" | "));
    t.push_str(&format!("|{}\n", " --- |".repeat(head.len())));
    for r in rows {
        t.push_str(&format!("| {} |\n", r.join(" | ")));
    }
    t
}

fn row(cells: &[&dyn std::fmt::Display]) -> Vec<String> {
    cells.iter().map(|c| c.to_string()).collect()
}

fn constants() -> String {
    let exp2 = exp2_table();
    let sqrt2 = (2f64.sqrt() * 32768.0).round() as i64;
    assert_eq!(sqrt2, SQRT2_Q15, "SQRT2 is round(sqrt(2) * 2^15)");
    let rows = [
        row(&[
            &"`PBITS`",
            &PBITS,
            &"fraction bits of a probability `p` (U6 output, U3 input)",
            &"`src/arith/logcode.rs`",
        ]),
        row(&[
            &"`MBITS`",
            &MBITS,
            &"mantissa bits of the U3 logarithm",
            &"`src/arith/logcode.rs`",
        ]),
        row(&[
            &"`SQRT2`",
            &SQRT2_Q15,
            &"`round(sqrt(2) * 2^15)`, the U4 odd-code factor",
            &"`src/arith/shift_av.rs`",
        ]),
        row(&[
            &"`F_MAX`",
            &F_MAX,
            &"largest U4 fraction bits `F`",
            &"`src/arith/shift_av.rs`",
        ]),
        row(&[
            &"`EF`",
            &EF,
            &"fraction bits of the U6 base-2 logit",
            &"`src/arith/softmax.rs`",
        ]),
        row(&[
            &"`EBITS`",
            &EBITS,
            &format!(
                "`EXP2[f] = round_half_even(2^(EBITS - f / 2^EF))`: `EXP2[0] = {}`, `EXP2[{}] = {}`",
                exp2[0],
                exp2.len() - 1,
                exp2[exp2.len() - 1]
            ),
            &"`src/arith/softmax.rs`",
        ]),
        row(&[
            &"`LNF`",
            &LNF,
            &"fraction bits of the U5 normalized value `n`",
            &"`src/arith/layernorm.rs`",
        ]),
        row(&[
            &"`GF`",
            &GF,
            &"fraction bits of the U5 constants `G` (`GF - LNF`) and `B` (`GF`)",
            &"`src/arith/layernorm.rs`",
        ]),
        row(&[
            &"`DB`",
            &DB,
            &"bits of a U5 deviation after the row shift: `t` in `[-2^DB, 2^DB - 1]` (`s18`)",
            &"`src/arith/layernorm.rs`",
        ]),
        row(&[
            &"`MAX_DIM`",
            &MAX_DIM,
            &"largest LayerNorm width `D` (`S` fits `s53`)",
            &"`src/arith/layernorm.rs`",
        ]),
        row(&[
            &"`HBITS`",
            &HBITS,
            &"bits of the U7 GELU index `h` (`s16`, table of `2^16` codes)",
            &"`src/arith/gelu.rs`",
        ]),
        row(&[
            &"`RESIDUAL_FRAC_BITS`",
            &RESIDUAL_FRAC_BITS,
            &format!("fraction bits of the `s{RESIDUAL_BITS}` residual stream and logits"),
            &"`src/arith/widths.rs`",
        ]),
        row(&[
            &"`M0_MAX`",
            &M0_MAX,
            &"largest requantization multiplier (`u31`)",
            &"`src/arith/requant.rs`",
        ]),
        row(&[
            &"`SHIFT_MIN ..= SHIFT_MAX`",
            &format!("{SHIFT_MIN} ..= {SHIFT_MAX}"),
            &"requantization shifts `n`",
            &"`src/arith/requant.rs`",
        ]),
    ];
    table(&["constant", "value", "meaning", "defined in"], &rows)
}

/// One row of the widths table: quantity, formula, and its type at `(wbits, abits, acc_bits)`.
type WidthRow = (&'static str, &'static str, fn(u32, u32, u32) -> String);

fn widths() -> String {
    let rows: [WidthRow; 15] = [
        (
            "activation code `a` (U1 input, U2/U5/U7 output)",
            "`u{abits}`",
            |_, a, _| format!("`u{a}`"),
        ),
        (
            "weight operand `W_code - z_w`",
            "`s{wbits+1}`",
            |w, _, _| format!("`s{}`", weight_operand_bits(w)),
        ),
        (
            "key operand `k - z_k`, value operand `v - z_v`",
            "`s{abits+1}`",
            |_, a, _| format!("`s{}`", act_operand_bits(a)),
        ),
        (
            "stationary lane of the array (weights, keys)",
            "`s{max(wbits, abits)+1}`",
            |w, a, _| format!("`s{}`", stationary_lane_bits(w, a)),
        ),
        (
            "accumulator, bias; U4 `E`, `O`, `out`",
            "`s{accbits}`",
            |_, _, acc| format!("`s{acc}`"),
        ),
        ("requantization `M0`", "`u31`", |_, _, _| {
            format!("`u{M0_BITS}`")
        }),
        ("requantization shift `n`", "`u6`, 1 ..= 62", |_, _, _| {
            format!("`u{SHIFT_BITS}`")
        }),
        ("requantization zero point `z_o`", "`s32`", |_, _, _| {
            format!("`s{ZERO_POINT_BITS}`")
        }),
        ("clamp bounds `lo <= hi`", "the output's type", |_, a, _| {
            format!("`u{a}` / `s16` / `s32`")
        }),
        ("probability `p`", "`u{PBITS+1}`", |_, _, _| {
            format!("`u{}`", PBITS + 1)
        }),
        (
            "U3 constants `C_INT`; `T_j`",
            "`s16`; `u{PBITS+1}`",
            |_, _, _| format!("`s{C_INT_BITS}`; `u{}`", PBITS + 1),
        ),
        ("U4 fraction bits `F`", "`u5`, 0 ..= `F_MAX`", |_, _, _| {
            format!("`u{F_BITS}`")
        }),
        ("U6 table `EXP2`", "`u{EBITS+1}`", |_, _, _| {
            format!("`u{}`", EBITS + 1)
        }),
        (
            "GELU index `h`; GELU table entries",
            "`s{HBITS}`; `u{abits}`",
            |_, a, _| format!("`s{HBITS}`; `u{a}`"),
        ),
        (
            "U5 constants `E`; `G`; `B`",
            "`u64`; `s32`; `s48`",
            |_, _, _| format!("`u{EPS_BITS}`; `s{LN_G_BITS}`; `s{LN_B_BITS}`"),
        ),
    ];
    let configs = [(8u32, 8u32, 28u32), (4, 8, 24), (4, 4, 19)];
    let mut head = vec!["quantity".to_string(), "type".to_string()];
    head.extend(
        configs
            .iter()
            .map(|(w, a, acc)| format!("W{w}A{a}, {acc}-bit acc.")),
    );
    let head: Vec<&str> = head.iter().map(String::as_str).collect();
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|(what, formula, f)| {
            let mut r = vec![what.to_string(), formula.to_string()];
            r.extend(configs.iter().map(|&(w, a, acc)| f(w, a, acc)));
            r
        })
        .collect();
    table(&head, &body)
}

fn fraction_bits() -> String {
    let cases = [
        (50u64, 8u32, 28u32),
        (50, 8, 24),
        (50, 6, 24),
        (50, 4, 19),
        (197, 8, 32),
        (14, 2, 8),
    ];
    let rows: Vec<Vec<String>> = cases
        .iter()
        .map(|&(t, a, acc)| {
            let f = av_fraction_bits(t, a, acc);
            let bound = f.map_or("-".to_string(), |f| {
                av_out_range(t, (1 << a) - 1, f).1.to_string()
            });
            row(&[
                &t,
                &a,
                &acc,
                &f.map_or("none".to_string(), |f| f.to_string()),
                &bound,
                &((1u64 << (acc - 1)) - 1),
            ])
        })
        .collect();
    table(
        &[
            "keys `T`",
            "`abits`",
            "`accbits`",
            "`F`",
            "`T (2^abits - 1) 2^F`",
            "`2^(accbits-1) - 1`",
        ],
        &rows,
    )
}

fn layernorm_widths() -> String {
    let dims = [1usize, 64, 96, 192, 384, 768, 1024, 1 << 16, MAX_DIM];
    let rows: Vec<Vec<String>> = dims
        .iter()
        .map(|&d| {
            let w = ln_widths(d);
            row(&[
                &d,
                &format!("`s{}`", w.sum),
                &format!("`u{}`", w.m),
                &format!("0 ..= {}", w.k_max),
                &format!("`u{}`", w.q),
                &format!("`u{}`", w.radicand),
                &format!("`u{}`", w.r),
                &format!("`u{}`", w.r + 1),
            ])
        })
        .collect();
    table(
        &[
            "`D`",
            "`S`",
            "`M`",
            "`k`",
            "`Q`",
            "`Q + E_k`",
            "`r`",
            "divisor `2r`",
        ],
        &rows,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_replaces_bodies_and_checks_names() {
        let mut doc = String::from("intro\n");
        for s in SECTIONS {
            doc.push_str(&format!(
                "<!-- generated: {s} -->\nstale\n<!-- end -->\ntext\n"
            ));
        }
        let r = render(&doc).unwrap();
        assert!(!r.contains("stale"));
        assert_eq!(render(&r).unwrap(), r, "rendering is idempotent");
        let e = render("<!-- generated: nope -->x<!-- end -->").unwrap_err();
        assert!(e.contains("unknown generated section `nope`"), "{e}");
        let e = render("<!-- generated: widths -->x").unwrap_err();
        assert!(e.contains("no `<!-- end -->`"), "{e}");
        let e = render("nothing").unwrap_err();
        assert!(e.contains("lacks the generated section `constants`"), "{e}");
    }
}
