//! Generated mutation sets for generated Verilog, as mutant schemata: every mutant of a set is
//! compiled into one Verilator model and selected at run time with `+mutant=ID` (0: none), so a
//! whole set costs one build. Operators, applied to every statement of the module bodies:
//!
//! * `const`: every sized literal (`8'hff`) off by one LSB, up and down (a 1-bit literal flipped),
//!   and every sized `localparam` value (the value constants of the templates: `ONE`, `FULL`,
//!   `SQRT2`, ...) plus and minus one;
//! * `bound`: every relational operator inside parentheses moved by one (`<` to `<=`, `>` to `>=`
//!   and back): clamp bounds and limits off by one;
//! * `branch`: every `if` condition and every `?:` condition inverted;
//! * `round`: named rounding addends dropped (given per file: the generator cannot tell them).
//!
//! Lines of the port list, `localparam integer` / `parameter` / `genvar` / `integer` / `for`
//! lines, instance parameter lists and generate blocks (widths and structure, not arithmetic),
//! and the `*unused*` lint sinks are left alone.

/// One mutant: where and what.
#[derive(Clone, Debug)]
pub struct Mutant {
    pub id: u32,
    pub file: String,
    /// 1-based line in the generated file.
    pub line: usize,
    pub kind: &'static str,
    /// What changes, such as `32'h7fffffff -> 32'h80000000`.
    pub what: String,
    /// The generated line it changes (trimmed).
    pub code: String,
}

/// The schematized files and their mutants.
#[derive(Clone, Debug, Default)]
pub struct Schemata {
    /// (file name, schematized text).
    pub files: Vec<(String, String)>,
    pub mutants: Vec<Mutant>,
}

/// A rounding addend to drop: (file, text that identifies the line, the addend, its replacement).
pub type Rounding<'a> = (&'a str, &'a str, &'a str, &'a str);

const SEL: &str = "mut_sel";

struct Ctx<'a> {
    file: &'a str,
    line: usize,
    code: String,
    next: u32,
    mutants: Vec<Mutant>,
}

impl Ctx<'_> {
    fn add(&mut self, kind: &'static str, what: String) -> u32 {
        let id = self.next;
        self.next += 1;
        self.mutants.push(Mutant {
            id,
            file: self.file.to_string(),
            line: self.line,
            kind,
            what,
            code: self.code.clone(),
        });
        id
    }
}

/// Schematizes `files` (name, generated text); mutant ids start at 1.
pub fn schematize(files: &[(&str, &str)], rounding: &[Rounding]) -> Schemata {
    let mut out = Schemata::default();
    let mut next = 1;
    for (name, text) in files {
        let mut ctx = Ctx {
            file: name,
            line: 0,
            code: String::new(),
            next,
            mutants: Vec::new(),
        };
        let mut lines = Vec::new();
        let mut in_body = false;
        for (i, line) in text.lines().enumerate() {
            ctx.line = i + 1;
            let trimmed = line.trim();
            ctx.code = trimmed.to_string();
            if trimmed.starts_with("module ") {
                in_body = false;
                lines.push(line.to_string());
                continue;
            }
            if !in_body {
                lines.push(line.to_string());
                if trimmed == ");" {
                    in_body = true;
                    lines.push(format!(
                        "    integer {SEL};\n    initial begin\n        if (!$value$plusargs(\"mutant=%d\", {SEL})) {SEL} = 0;\n    end"
                    ));
                }
                continue;
            }
            lines.push(mutate_line(line, name, rounding, &mut ctx));
        }
        next = ctx.next;
        out.mutants.extend(ctx.mutants);
        // The operators change widths in places (a sized literal in an unsized context): not
        // what the mutants are about.
        let mut t = String::from(
            "/* verilator lint_off WIDTH */\n/* verilator lint_off CMPCONST */\n\
             /* verilator lint_off UNSIGNED */\n",
        );
        t.push_str(&lines.join("\n"));
        t.push('\n');
        out.files
            .push((name.to_string(), t.replace("?@", "?").replace(":@", ":")));
    }
    out
}

fn mutate_line(line: &str, file: &str, rounding: &[Rounding], ctx: &mut Ctx) -> String {
    let (code, comment) = match line.find("//") {
        Some(i) => (&line[..i], &line[i..]),
        None => (line, ""),
    };
    let t = code.trim_start();
    // Generate constructs (named blocks) are structure, not arithmetic.
    let skip = t.is_empty()
        || [
            "localparam integer",
            "parameter",
            "genvar",
            "integer",
            "for (",
            "`",
        ]
        .iter()
        .any(|p| t.starts_with(p))
        || code.contains("#(")
        || code.contains("begin :")
        || code.contains("unused");
    if skip {
        return line.to_string();
    }
    if let Some(m) = sized_localparam(code, ctx) {
        return format!("{m}{comment}");
    }
    let mut s = literals(code, ctx);
    for (f, line_has, addend, to) in rounding {
        if *f == file && code.contains(line_has) {
            let id = ctx.add("round", format!("rounding addend `{addend}` -> `{to}`"));
            s = s.replacen(addend, &format!("(({SEL} == {id}) ?@ {to} :@ {addend})"), 1);
        }
    }
    s = bounds(&s, ctx);
    s = ifs(&s, ctx);
    s = ternaries(&s, ctx);
    format!("{s}{comment}")
}

/// `localparam [W] NAME = V;` -> a wire that is V, V + 1 or V - 1.
fn sized_localparam(code: &str, ctx: &mut Ctx) -> Option<String> {
    let t = code.trim_start();
    let rest = t.strip_prefix("localparam ")?;
    let (signed, rest) = match rest.strip_prefix("signed ") {
        Some(r) => ("signed ", r),
        None => ("", rest),
    };
    if !rest.starts_with('[') {
        return None;
    }
    let close = rest.find(']')?;
    let range = &rest[..=close];
    let (name, value) = rest[close + 1..].trim().split_once('=')?;
    let (name, value) = (name.trim(), value.trim().trim_end_matches(';').trim());
    let indent = &code[..code.len() - t.len()];
    let up = ctx.add("const", format!("{name} = {value} + 1"));
    let down = ctx.add("const", format!("{name} = {value} - 1"));
    Some(format!(
        "{indent}wire {signed}{range} {name} = ({SEL} == {up}) ? ({value}) + 1 : ({SEL} == {down}) ? ({value}) - 1 : ({value});"
    ))
}

/// Spans `[a, b)` of `s` inside square brackets.
fn bracketed(s: &str) -> Vec<(usize, usize)> {
    let mut v = Vec::new();
    let mut depth = 0;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '[' => {
                if depth == 0 {
                    start = i;
                }
                depth += 1;
            }
            ']' if depth > 0 => {
                depth -= 1;
                if depth == 0 {
                    v.push((start, i + 1));
                }
            }
            _ => {}
        }
    }
    v
}

/// Sized literals off by one.
fn literals(s: &str, ctx: &mut Ctx) -> String {
    let br = bracketed(s);
    let b = s.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    while i < b.len() {
        // a literal starts with digits, then ' and a base letter, not inside brackets
        let start_ok = b[i].is_ascii_digit()
            && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_'))
            && !br.iter().any(|&(x, y)| i >= x && i < y);
        if start_ok {
            let mut j = i;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            if j + 1 < b.len() && b[j] == b'\'' && matches!(b[j + 1], b'b' | b'd' | b'h') {
                let base = b[j + 1];
                let mut k = j + 2;
                while k < b.len() && (b[k].is_ascii_hexdigit() || b[k] == b'_') {
                    k += 1;
                }
                let width: u32 = s[i..j].parse().unwrap();
                let digits: String = s[j + 2..k].chars().filter(|&c| c != '_').collect();
                let radix = match base {
                    b'b' => 2,
                    b'd' => 10,
                    _ => 16,
                };
                if let (Ok(v), true) = (u128::from_str_radix(&digits, radix), width <= 64) {
                    let lit = &s[i..k];
                    let mask = if width == 64 {
                        u128::from(u64::MAX)
                    } else {
                        (1u128 << width) - 1
                    };
                    let fmt = |x: u128| format!("{width}'h{:x}", x & mask);
                    let rep = if width == 1 {
                        let id = ctx.add("const", format!("{lit} flipped"));
                        format!("(({SEL} == {id}) ?@ {} :@ {lit})", fmt(v ^ 1))
                    } else {
                        let up = ctx.add("const", format!("{lit} -> {}", fmt(v + 1)));
                        let down = ctx.add("const", format!("{lit} -> {}", fmt(v.wrapping_sub(1))));
                        format!(
                            "(({SEL} == {up}) ?@ {} :@ ({SEL} == {down}) ?@ {} :@ {lit})",
                            fmt(v + 1),
                            fmt(v.wrapping_sub(1) & mask)
                        )
                    };
                    out.push_str(&rep);
                    i = k;
                    continue;
                }
            }
        }
        out.push(b[i] as char);
        i += 1;
    }
    out
}

/// The index of the parenthesis matching the one at `open`.
fn matching(s: &[u8], open: usize) -> Option<usize> {
    let mut depth = 0;
    for (i, &c) in s.iter().enumerate().skip(open) {
        match c {
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// Innermost parenthesized groups with one relational operator at their top level.
fn bounds(s: &str, ctx: &mut Ctx) -> String {
    let b = s.as_bytes();
    let mut groups = Vec::new();
    for (i, &c) in b.iter().enumerate() {
        if c != b'(' {
            continue;
        }
        let Some(j) = matching(b, i) else { continue };
        let inner = &s[i + 1..j];
        if inner.contains('(') || inner.contains("?@") {
            continue;
        }
        let ops = [" <= ", " >= ", " < ", " > "];
        let found: Vec<(usize, &str)> = ops
            .iter()
            .filter_map(|op| inner.find(op).map(|k| (k, *op)))
            .collect();
        // " < " also matches inside " <= "? No: " <= " has no space after "<". One operator only.
        if found.len() == 1 && inner.matches(found[0].1).count() == 1 {
            groups.push((i, j, found[0]));
        }
    }
    let mut out = s.to_string();
    for &(i, j, (k, op)) in groups.iter().rev() {
        let inner = &s[i + 1..j];
        let to = match op {
            " < " => " <= ",
            " > " => " >= ",
            " <= " => " < ",
            _ => " > ",
        };
        let mutated = format!("{}{}{}", &inner[..k], to, &inner[k + op.len()..]);
        let id = ctx.add("bound", format!("({inner}) -> ({mutated})"));
        out.replace_range(
            i..=j,
            &format!("(({SEL} == {id}) ?@ ({mutated}) :@ ({inner}))"),
        );
    }
    out
}

/// `if (C)` -> `if (sel ^ (C))`.
fn ifs(s: &str, ctx: &mut Ctx) -> String {
    let mut out = s.to_string();
    let mut from = out.len();
    while let Some(p) = out[..from].rfind("if (") {
        from = p;
        if p > 0 && (out.as_bytes()[p - 1].is_ascii_alphanumeric() || out.as_bytes()[p - 1] == b'_')
        {
            continue;
        }
        let open = p + 3;
        let Some(close) = matching(out.as_bytes(), open) else {
            continue;
        };
        let cond = out[open + 1..close].to_string();
        let id = ctx.add("branch", format!("if ({}) inverted", clean(&cond)));
        out.replace_range(open + 1..close, &format!("({SEL} == {id}) ^ ({cond})"));
    }
    out
}

/// `C ? a : b` -> `(sel ^ (C)) ? a : b`, for C a parenthesized group or a (bit-selected) name.
fn ternaries(s: &str, ctx: &mut Ctx) -> String {
    let mut out = s.to_string();
    let mut from = out.len();
    while let Some(q) = out[..from].rfind(" ? ") {
        from = q;
        let b = out.as_bytes();
        let (start, end) = (
            if b[q - 1] == b')' {
                // the group that closes here
                let mut depth = 0;
                let mut st = None;
                for i in (0..q).rev() {
                    match b[i] {
                        b')' => depth += 1,
                        b'(' => {
                            depth -= 1;
                            if depth == 0 {
                                st = Some(i);
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                match st {
                    Some(i) => i,
                    None => continue,
                }
            } else {
                let mut i = q;
                let mut depth = 0;
                while i > 0 {
                    let c = b[i - 1];
                    if c == b']' {
                        depth += 1;
                    } else if c == b'[' {
                        depth -= 1;
                    } else if depth == 0 && !(c.is_ascii_alphanumeric() || c == b'_' || c == b'.') {
                        break;
                    }
                    i -= 1;
                }
                i
            },
            q,
        );
        if start == end {
            continue;
        }
        let cond = out[start..end].to_string();
        let id = ctx.add("branch", format!("{} ? .. inverted", clean(&cond)));
        out.replace_range(start..end, &format!("(({SEL} == {id}) ^ ({cond}))"));
        from = start;
    }
    out
}

/// A condition without the schemata selectors, for the report.
fn clean(s: &str) -> String {
    s.replace("?@", "?").replace(":@", ":")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operators_find_their_sites() {
        let src = "module m (\n    input wire a\n);\n    localparam [3:0] ONE = 1;\n    always @(posedge clk) if (x < y) q <= a ? 8'h7f : b;\nendmodule\n";
        let s = schematize(&[("m.v", src)], &[]);
        let kinds: Vec<&str> = s.mutants.iter().map(|m| m.kind).collect();
        assert_eq!(
            kinds,
            [
                "const", "const", "const", "const", "bound", "branch", "branch"
            ]
        );
        let t = &s.files[0].1;
        assert!(
            t.contains("wire [3:0] ONE = (mut_sel == 1) ? (1) + 1"),
            "{t}"
        );
        assert!(t.contains("8'h80") && t.contains("8'h7e"), "{t}");
        assert!(t.contains("(x <= y)") && !t.contains("?@"), "{t}");
    }
}
