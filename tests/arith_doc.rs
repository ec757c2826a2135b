//! docs/arithmetic.md against the code: its generated sections (constants, operand widths, `F` of
//! U4, LayerNorm widths) equal their rendering by `repq_hw::arith::spec`, and every source file
//! it names exists. `REPQ_BLESS_DOCS=1 cargo test --release --test arith_doc` rewrites the
//! generated sections (review the diff).

use std::path::Path;

use repq_hw::arith::spec;

fn doc_path() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/arithmetic.md")
}

#[test]
fn generated_sections_match_the_code() {
    let path = doc_path();
    let doc = std::fs::read_to_string(&path).unwrap();
    let want = spec::render(&doc).unwrap_or_else(|e| panic!("docs/arithmetic.md: {e}"));
    if std::env::var_os("REPQ_BLESS_DOCS").is_some() && want != doc {
        // Atomically: the other tests of this file read the document concurrently.
        let tmp = path.with_extension("md.bless");
        std::fs::write(&tmp, &want).unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        return;
    }
    if let Some((i, (a, b))) = doc
        .lines()
        .zip(want.lines())
        .enumerate()
        .find(|(_, (a, b))| a != b)
    {
        panic!(
            "docs/arithmetic.md differs from the code at line {}:\n  document: {a}\n  code:     {b}\n\
             regenerate with `REPQ_BLESS_DOCS=1 cargo test --release --test arith_doc` and review \
             the diff",
            i + 1
        );
    }
    assert_eq!(
        doc, want,
        "docs/arithmetic.md differs from the code in length"
    );
}

#[test]
fn named_source_files_exist() {
    let doc = std::fs::read_to_string(doc_path()).unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut named = 0;
    for part in doc.split('`').skip(1).step_by(2) {
        if (part.starts_with("src/") || part.starts_with("sim/")) && !part.contains(' ') {
            assert!(root.join(part).exists(), "docs/arithmetic.md names {part}");
            named += 1;
        }
    }
    assert!(named >= 10, "{named}");
}

/// Prose that quotes a constant (`EF = 10`, `SQRT2 = 46341`) quotes the code's value.
#[test]
fn quoted_constants_match_the_code() {
    let doc = std::fs::read_to_string(doc_path()).unwrap();
    let mut quoted = 0;
    for (name, value) in spec::named_constants() {
        for (i, _) in doc.match_indices(&format!("{name} = ")) {
            // A whole word: not the tail of a longer name.
            let before = doc[..i].chars().next_back();
            if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
                continue;
            }
            let rest = &doc[i + name.len() + 3..];
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            if digits.is_empty() {
                continue;
            }
            assert_eq!(
                digits.parse::<i64>().unwrap(),
                value,
                "docs/arithmetic.md quotes {name} = {digits}, the code has {value}"
            );
            quoted += 1;
        }
    }
    assert!(quoted >= 5, "{quoted}");
}
