//! The generated Verilog with the three tools CI installs: Verilator `--lint-only -Wall` with zero
//! warnings on every configuration (waivers only in repq_lint.vlt), and parsing/elaboration by
//! Icarus Verilog 11 (`-g2005`) and Yosys 0.23. A tool that is not installed is skipped with a
//! notice.

mod rtl_common;

use std::process::Command;

use repq_hw::rtl::{self, SOURCES, TOP, UNIT_TOPS};
use rtl_common::*;

fn generated_dirs(name: &str) -> Vec<(String, std::path::PathBuf)> {
    configs()
        .iter()
        .map(|c| {
            let d = c.validate().unwrap();
            let dir = scratch(name).join(d.tag());
            generate(c, &dir);
            (d.tag(), dir)
        })
        .collect()
}

fn tops() -> Vec<&'static str> {
    std::iter::once(TOP).chain(UNIT_TOPS).collect()
}

#[test]
fn verilator_lint_wall_is_clean_on_every_configuration() {
    if !have("verilator") {
        return;
    }
    for (tag, dir) in generated_dirs("lint") {
        for top in tops() {
            let out = Command::new("verilator")
                .current_dir(&dir)
                .args(["--lint-only", "-Wall", "repq_lint.vlt", "-f", "files.f"])
                .args(["--top-module", top])
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stderr);
            assert!(
                out.status.success() && !text.contains("%Warning") && !text.contains("%Error"),
                "{tag} {top}: verilator -Wall is not clean:\n{text}"
            );
        }
    }
}

/// The requantization unit at accumulator widths the configurations above do not reach.
#[test]
fn verilator_lint_wall_is_clean_on_requant_widths() {
    if !have("verilator") {
        return;
    }
    let dir = scratch("lint").join("requant_widths");
    generate(&rtl::GenConfig::new("4x4".parse().unwrap()), &dir);
    for (acc, obits) in [(10, 4), (14, 8), (16, 8), (17, 8), (32, 32)] {
        let out = Command::new("verilator")
            .current_dir(&dir)
            .args(["--lint-only", "-Wall", "repq_lint.vlt", "-f", "files.f"])
            .args(["--top-module", "repq_requant"])
            .arg(format!("-GACC={acc}"))
            .arg(format!("-GOBITS={obits}"))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && !text.contains("%Warning"),
            "repq_requant ACC={acc} OBITS={obits}:\n{text}"
        );
    }
}

#[test]
fn waiver_file_has_a_reason_for_every_waiver() {
    let d = rtl::GenConfig::new("16x16".parse().unwrap())
        .validate()
        .unwrap();
    let files = rtl::render_all(&d);
    let vlt = &files
        .iter()
        .find(|f| f.name == "repq_lint.vlt")
        .unwrap()
        .contents;
    let lines: Vec<&str> = vlt.lines().collect();
    for (i, l) in lines.iter().enumerate() {
        if l.trim_start().starts_with("lint_off") {
            assert!(
                i > 0 && lines[i - 1].trim_start().starts_with("//"),
                "waiver without a reason comment: {l}"
            );
        }
    }
}

#[test]
fn icarus_parses_and_elaborates_every_configuration() {
    if !have("iverilog") {
        return;
    }
    for (tag, dir) in generated_dirs("icarus") {
        for top in tops() {
            let out = Command::new("iverilog")
                .current_dir(&dir)
                .args([
                    "-g2005",
                    "-Wall",
                    "-o",
                    "/dev/null",
                    "-s",
                    top,
                    "-c",
                    "files.f",
                ])
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stderr);
            assert!(
                out.status.success() && text.trim().is_empty(),
                "{tag} {top}: iverilog -g2005:\n{text}"
            );
        }
    }
}

#[test]
fn yosys_parses_and_elaborates_every_configuration() {
    if !have("yosys") {
        return;
    }
    for (tag, dir) in generated_dirs("yosys") {
        for top in tops() {
            let script = format!(
                "read_verilog {}; hierarchy -check -top {top}; proc; check -assert",
                SOURCES.join(" ")
            );
            let out = Command::new("yosys")
                .current_dir(&dir)
                .args(["-q", "-p", &script])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{tag} {top}: yosys:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

/// The generated C header compiles cleanly as C99 and C++ and packs beats exactly as the Rust
/// stream code (the golden-vector side of the contract) does.
#[test]
fn c_header_compiles_and_packs_like_the_stream_code() {
    use repq_hw::arith::Requant;
    use repq_hw::rtl::streams::{MatmulJob, beat_hex};
    if !have("cc") {
        return;
    }
    let c = rtl::GenConfig {
        wbits: 4,
        abits: 8,
        ..rtl::GenConfig::new("5x3".parse().unwrap())
    };
    let d = c.validate().unwrap();
    let dir = scratch("cheader");
    generate(&c, &dir.join("gen"));
    // One column, one row: the beats are easy to state in C.
    let r = Requant {
        m0: 1_234_567_890,
        shift: 37,
        zero_point: -77,
        lo: 3,
        hi: 250,
    };
    let job = MatmulJob {
        m: 1,
        k: 5,
        n: 3,
        a: vec![255, 0, 17, 128, 1],
        w: vec![-15, 15, 0, 7, -1, 3, 2, -8, 1, 0, 0, 0, 15, -15, 9],
        bias: vec![-5000, 0, 777],
        requant: vec![r, r, r],
    };
    let s = job.streams(&d).unwrap();
    let prog = r#"
#include <stdio.h>
#include "repq_params.h"
static void show(const uint32_t *w, unsigned bits) {
    int d;
    for (d = (int)((bits + 3) / 4) - 1; d >= 0; d--) printf("%x", (unsigned)repq_get_bits(w, (unsigned)d * 4, (bits - (unsigned)d * 4) < 4 ? bits - (unsigned)d * 4 : 4));
    printf("\n");
}
int main(void) {
    uint32_t p[REPQ_PRM_BEAT_WORDS], a[REPQ_ACT_BEAT_WORDS], w[REPQ_WGT_BEAT_WORDS];
    const uint8_t codes[5] = {255, 0, 17, 128, 1};
    const int16_t ops[3] = {-15, 15, 0};
    repq_pack_prm(p, -5000, 1234567890u, 37u, -77, 3u, 250u);
    repq_pack_act(a, codes);
    repq_pack_wgt(w, ops);
    show(p, REPQ_PRM_BEAT_BITS);
    show(a, REPQ_ACT_BEAT_BITS);
    show(w, REPQ_WGT_BEAT_BITS);
    return 0;
}
"#;
    std::fs::write(dir.join("t.c"), prog).unwrap();
    let exe = dir.join("t");
    run(
        Command::new("cc")
            .args(["-std=c99", "-Wall", "-Wextra", "-pedantic", "-Werror", "-I"])
            .arg(dir.join("gen"))
            .arg(dir.join("t.c"))
            .arg("-o")
            .arg(&exe),
        "cc of the C header",
    );
    if have("c++") {
        run(
            Command::new("c++")
                .args([
                    "-x",
                    "c++",
                    "-std=c++17",
                    "-Wall",
                    "-Wextra",
                    "-Werror",
                    "-fsyntax-only",
                    "-I",
                ])
                .arg(dir.join("gen"))
                .arg(dir.join("t.c")),
            "c++ of the C header",
        );
    }
    let out = run(&mut Command::new(&exe), "the C program");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], beat_hex(&s.prm[0], d.param_bits()));
    assert_eq!(lines[1], beat_hex(&s.act[0], d.act_bits()));
    assert_eq!(lines[2], beat_hex(&s.wgt[0], d.wgt_bits()));
}

/// repq_params.json parses and agrees with the design and the C header.
#[test]
fn json_agrees_with_the_design_and_the_c_header() {
    let d = rtl::GenConfig::new("16x16".parse().unwrap())
        .validate()
        .unwrap();
    let files = rtl::render_all(&d);
    let get = |n: &str| files.iter().find(|f| f.name == n).unwrap().contents.clone();
    let j: serde_json::Value = serde_json::from_str(&get("repq_params.json")).unwrap();
    let h = get("repq_params.h");
    let define = |name: &str| -> u64 {
        let l = h
            .lines()
            .find(|l| l.starts_with(&format!("#define {name} ")))
            .unwrap_or_else(|| panic!("{name}"));
        l.split_whitespace()
            .nth(2)
            .unwrap()
            .trim_end_matches('u')
            .parse()
            .unwrap()
    };
    assert_eq!(j["pe_rows"], 16);
    assert_eq!(j["acc_bits"], u64::from(d.acc_bits));
    assert_eq!(define("REPQ_ACC_BITS"), u64::from(d.acc_bits));
    assert_eq!(
        j["streams"]["prm"]["beat_bits"],
        define("REPQ_PRM_BEAT_BITS")
    );
    assert_eq!(
        j["streams"]["act"]["beat_bits"],
        define("REPQ_ACT_BEAT_BITS")
    );
    assert_eq!(j["latency"]["output"], define("REPQ_OUTPUT_LATENCY"));
    for f in j["streams"]["prm"]["fields"].as_array().unwrap() {
        let name = f["name"].as_str().unwrap().to_uppercase();
        assert_eq!(f["lsb"], define(&format!("REPQ_PRM_{name}_LSB")));
        assert_eq!(f["bits"], define(&format!("REPQ_PRM_{name}_BITS")));
    }
    let listed: Vec<&str> = j["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(listed, names);
}
