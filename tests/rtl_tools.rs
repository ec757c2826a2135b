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
    let wrap = format!("{}.v", rtl::SYNTH_WRAP);
    for (tag, dir) in generated_dirs("lint") {
        // The units, repq_layernorm as U5r (RESID = 1, a separate elaboration), and repq_top
        // inside the place-and-route wrapper of the FPGA synth targets.
        let resid = "repq_layernorm -GRESID=1";
        for top in tops().into_iter().chain([resid, rtl::SYNTH_WRAP]) {
            let extra: &[&str] = if top == rtl::SYNTH_WRAP {
                &[&wrap]
            } else if top == resid {
                &["-GRESID=1"]
            } else {
                &[]
            };
            let top = top.split(' ').next().unwrap_or(top);
            let out = Command::new("verilator")
                .current_dir(&dir)
                .args(["--lint-only", "-Wall", "repq_lint.vlt", "-f", "files.f"])
                .args(extra)
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
/// stream code (the golden-vector side of the contract) does, at the default (unsigned code
/// lanes) and with `--out-bits` 16 and 32 (signed lo/hi fields and output lanes; at 32 the
/// raw-accumulator requantization).
#[test]
fn c_header_compiles_and_packs_like_the_stream_code() {
    use repq_hw::arith::Requant;
    use repq_hw::rtl::streams::raw_accumulator_requant;
    if !have("cc") {
        return;
    }
    let r = Requant {
        m0: 1_234_567_890,
        shift: 37,
        zero_point: -77,
        lo: 3,
        hi: 250,
    };
    let gelu = Requant {
        m0: 1_234_567_890,
        shift: 22,
        zero_point: 0,
        lo: -32768,
        hi: 32767,
    };
    c_header_case("cheader", None, r, "3u", "250u");
    c_header_case("cheader_o16", Some(16), gelu, "-32768", "32767");
    c_header_case(
        "cheader_o32",
        Some(32),
        raw_accumulator_requant(),
        "(-2147483647 - 1)",
        "2147483647",
    );
}

fn c_header_case(
    name: &str,
    out_bits: Option<u32>,
    r: repq_hw::arith::Requant,
    lo_c: &str,
    hi_c: &str,
) {
    use repq_hw::rtl::streams::{MatmulJob, beat_hex};
    let c = rtl::GenConfig {
        wbits: 4,
        abits: 8,
        out_bits,
        ..rtl::GenConfig::new("5x3".parse().unwrap())
    };
    let d = c.validate().unwrap();
    let dir = scratch(name);
    generate(&c, &dir.join("gen"));
    // One column, one row: the beats are easy to state in C.
    let job = MatmulJob {
        m: 1,
        k: 5,
        n: 3,
        a: vec![255, 0, 17, 128, 1],
        a_bits: d.abits,
        w: vec![-15, 15, 0, 7, -1, 3, 2, -8, 1, 0, 0, 0, 15, -15, 9],
        bias: vec![-5000, 0, 777],
        requant: vec![r, r, r],
    };
    let s = job.streams(&d).unwrap();
    let words: Vec<String> = s.out[0].iter().map(|w| format!("0x{w:08x}u")).collect();
    let prog = format!(
        r#"
#include <stdio.h>
#include "repq_params.h"
#if REPQ_OUT_SIGNED
typedef int32_t out_t;
#else
typedef uint8_t out_t;
#endif
static void show(const uint32_t *w, unsigned bits) {{
    int d;
    for (d = (int)((bits + 3) / 4) - 1; d >= 0; d--) printf("%x", (unsigned)repq_get_bits(w, (unsigned)d * 4, (bits - (unsigned)d * 4) < 4 ? bits - (unsigned)d * 4 : 4));
    printf("\n");
}}
int main(void) {{
    uint32_t p[REPQ_PRM_BEAT_WORDS], a[REPQ_ACT_BEAT_WORDS], w[REPQ_WGT_BEAT_WORDS];
    const uint32_t o[REPQ_OUT_BEAT_WORDS] = {{ {words} }};
    out_t values[REPQ_PE_COLS];
    const uint8_t codes[5] = {{255, 0, 17, 128, 1}};
    const int16_t ops[3] = {{-15, 15, 0}};
    unsigned c;
    repq_pack_prm(p, -5000, {m0}u, {shift}u, {zp}, {lo_c}, {hi_c});
    repq_pack_act(a, codes);
    repq_pack_wgt(w, ops);
    repq_unpack_out(o, values);
    show(p, REPQ_PRM_BEAT_BITS);
    show(a, REPQ_ACT_BEAT_BITS);
    show(w, REPQ_WGT_BEAT_BITS);
    for (c = 0; c < REPQ_PE_COLS; c++) printf("%ld ", (long)values[c]);
    printf("\n%u %d\n", (unsigned)REPQ_OUT_LANE_BITS, REPQ_OUT_SIGNED);
    return 0;
}}
"#,
        words = words.join(", "),
        m0 = r.m0,
        shift = r.shift,
        zp = r.zero_point,
    );
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
    assert_eq!(lines[0], beat_hex(&s.prm[0], d.param_bits()), "{name}");
    assert_eq!(lines[1], beat_hex(&s.act[0], d.act_bits()), "{name}");
    assert_eq!(lines[2], beat_hex(&s.wgt[0], d.wgt_bits()), "{name}");
    let expected: Vec<String> = job.expected().iter().map(|v| v.to_string()).collect();
    assert_eq!(lines[3].trim_end(), expected.join(" "), "{name}");
    assert_eq!(
        lines[4],
        format!("{} {}", d.out_lane_bits(), u8::from(d.out_signed())),
        "{name}"
    );
    if out_bits == Some(32) {
        // y = acc: the raw accumulators, negative ones included.
        assert!(job.expected().iter().any(|&v| v < -255), "{name}: {out}");
    }
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

/// The output lane entries of the JSON and the C header agree with the design, at the default and
/// with `--out-bits`.
#[test]
fn json_and_c_header_agree_on_output_lanes() {
    for out_bits in [None, Some(8), Some(9), Some(16), Some(32)] {
        let d = rtl::GenConfig {
            out_bits,
            ..rtl::GenConfig::new("4x8".parse().unwrap())
        }
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
        let lane = u64::from(d.out_lane_bits());
        assert_eq!(lane, u64::from(out_bits.unwrap_or(8)));
        assert_eq!(define("REPQ_OUT_LANE_BITS"), lane);
        assert_eq!(define("REPQ_OUT_SIGNED"), u64::from(d.out_signed()));
        assert_eq!(j["streams"]["out"]["lane_bits"], lane);
        assert_eq!(j["streams"]["out"]["lane_signed"], d.out_signed());
        assert_eq!(j["streams"]["out"]["lanes"], 8);
        assert_eq!(
            j["streams"]["out"]["beat_bits"],
            define("REPQ_OUT_BEAT_BITS")
        );
        assert_eq!(define("REPQ_OUT_BEAT_BITS"), 8 * lane);
        assert_eq!(define("REPQ_PRM_LO_BITS"), lane);
        assert_eq!(define("REPQ_PRM_HI_BITS"), lane);
        assert_eq!(define("REPQ_PRM_HI_LSB"), define("REPQ_PRM_LO_LSB") + lane);
        assert_eq!(define("REPQ_PRM_BEAT_BITS"), u64::from(d.param_bits()));
        for f in j["streams"]["prm"]["fields"].as_array().unwrap() {
            if f["name"] == "lo" || f["name"] == "hi" {
                assert_eq!(f["signed"], d.out_signed());
                assert_eq!(f["bits"], lane);
            }
        }
    }
}
