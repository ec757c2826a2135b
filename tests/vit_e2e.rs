//! The end-to-end engine `repq_vit` (docs/accelerator.md) on Verilator: `repq-hw verify
//! --end-to-end` runs the whole forward pass from input codes to logits, on the embedded model
//! at W8A8 and W4A4 (two images, one design generated for W8A8), a corrupted golden tensor reported as the first mismatch by layer, tensor and index,
//! the cycle model of the engine equal to Verilator's count on the stall-free memory, and the C
//! driver compiled as C99.

mod rtl_common;

use std::path::Path;
use std::process::Command;

use repq_hw::rtl::{GenConfig, PeShape};
use repq_hw::verify::vit;
use rtl_common::*;

const BIN: &str = env!("CARGO_BIN_EXE_repq-hw");

fn repq(args: &[&str]) -> std::process::Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn golden(dir: &Path, args: &[&str]) {
    let mut a = vec!["golden", "--out", dir.to_str().unwrap()];
    a.extend_from_slice(args);
    let out = repq(&a);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `repq-hw gen --pe RxC` at `wbits`/`abits` (the CLI's default 32-bit output lanes).
fn vit_config(rows: u32, cols: u32, bits: u32) -> GenConfig {
    let mut c = GenConfig::new(PeShape { rows, cols });
    c.wbits = bits;
    c.abits = bits;
    c.out_bits = Some(32);
    c
}

fn design_8x8(dir: &Path) -> repq_hw::rtl::Design {
    generate_incremental(&vit_config(8, 8, 8), dir)
}

#[test]
fn end_to_end_w8a8_and_w4a4_images_are_bit_exact() {
    if !have("verilator") {
        return;
    }
    let root = scratch("vit-e2e");
    let rtl = root.join("rtl-8x8");
    design_8x8(&rtl);
    let (g8, g4) = (root.join("g-w8a8-1"), root.join("g-w4a4-2"));
    golden(&g8, &["--index", "1"]);
    golden(&g4, &["--index", "2", "--wbits", "4", "--abits", "4"]);
    let build = root.join("build");
    let out = repq(&[
        "verify",
        "--rtl",
        rtl.to_str().unwrap(),
        "--golden",
        g8.to_str().unwrap(),
        "--golden",
        g4.to_str().unwrap(),
        "--end-to-end",
        "--irq",
        "--seeds",
        "3",
        "--build",
        build.to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Every tensor of the 6-block model: embed; per block norm1, qkv, the last head's logits
    // and log2 codes, the proj input, residual1, norm2, fc1's GELU codes, residual2; then
    // head.norm and the logits.
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(" tensors, ") && l.contains("bit-exact"))
        .collect();
    assert_eq!(lines.len(), 2, "{text}");
    for l in lines {
        assert!(l.contains("57 tensors, 380506 elements compared"), "{l}");
    }
    // And the logits the engine wrote, once per image.
    let logits = text
        .lines()
        .filter(|l| {
            l.trim_start().starts_with("logits from the engine: [") && l.ends_with("(bit-exact)")
        })
        .count();
    assert_eq!(logits, 2, "{text}");
}

#[test]
fn a_corrupted_golden_tensor_is_the_first_mismatch() {
    if !have("verilator") {
        return;
    }
    let root = scratch("vit-e2e-mismatch");
    let rtl = root.join("rtl-8x8");
    let design = design_8x8(&rtl);
    let g = root.join("golden");
    golden(&g, &["--index", "3"]);
    // blocks.1.mlp.fc2.input is fc1's GELU output: change element [7, 20].
    let f = g.join("activations/blocks.1.mlp.fc2.input.hex");
    let text = std::fs::read_to_string(&f).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let i = 7 * 384 + 20;
    let old = u8::from_str_radix(&lines[i], 16).unwrap();
    let new = old ^ 0x10;
    lines[i] = format!("{new:02x}");
    std::fs::write(&f, lines.join("\n") + "\n").unwrap();
    let o = vit::run(
        &vit::EndToEnd {
            rtl: rtl.clone(),
            golden: g,
            build: root.join("build"),
            seed: 5,
            stall: 50,
            latency: None,
            trace: None,
            irq: false,
            stop: None,
        },
        &design,
    )
    .unwrap();
    let m = o.mismatch.expect("the corrupted element must differ");
    assert_eq!(m.layer, "blocks.1.mlp.fc1");
    assert_eq!(m.tensor, "blocks.1.mlp.fc2.input");
    assert_eq!(m.index, [7, 20]);
    assert_eq!((m.expected, m.actual), (i64::from(new), i64::from(old)));
}

#[test]
fn the_c_driver_is_c99() {
    if !have("cc") {
        return;
    }
    let dir = scratch("vit-driver");
    let out = Command::new("cc")
        .args(["-std=c99", "-Wall", "-Wextra", "-pedantic", "-Werror", "-c"])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/driver/repq_driver.c"))
        .arg("-o")
        .arg(dir.join("repq_driver.o"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn repq_vit_lints_clean_where_it_is_generated() {
    if !have("verilator") {
        return;
    }
    let mut linted = 0;
    let vit = [
        vit_config(8, 8, 8),
        vit_config(16, 16, 8),
        vit_config(8, 16, 8),
        vit_config(32, 8, 8),
    ];
    for c in configs().into_iter().chain(vit) {
        let d = c.validate().unwrap();
        if repq_hw::rtl::vit::VitParams::new(&d).is_none() {
            continue;
        }
        let dir = scratch("vit-lint").join(d.tag());
        generate(&c, &dir);
        let out = Command::new("verilator")
            .current_dir(&dir)
            .args(["--lint-only", "-Wall", "repq_lint.vlt", "-f", "files.f"])
            .args(["--top-module", "repq_vit"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && !text.contains("%Warning") && !text.contains("%Error"),
            "{}: verilator -Wall on repq_vit is not clean:\n{text}",
            d.tag()
        );
        linted += 1;
    }
    assert!(
        linted >= 4,
        "only {linted} configurations generate repq_vit"
    );
}

#[test]
fn program_pe_writes_the_image_verify_runs() {
    // The accel image `repq-hw program --pe 8x8` lowers from the model is byte for byte the one
    // `verify --end-to-end` builds from a golden directory of the same model (any image: the
    // input codes are the driver's to write).
    let root = scratch("vit-program");
    let out = root.join("program");
    let o = repq(&["program", "--pe", "8x8", "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let g = root.join("golden");
    golden(&g, &["--index", "5"]);
    let design = vit_config(8, 8, 8).validate().unwrap();
    let gd = repq_hw::golden::GoldenDir::open(&g).unwrap();
    let plan = vit::plan(&gd, &design).unwrap();
    let bin = std::fs::read(out.join("accel.bin")).unwrap();
    assert_eq!(bin.len(), plan.image.bytes.len());
    assert!(
        bin == plan.image.bytes,
        "accel.bin differs from the golden directory's image"
    );
    let steps = std::fs::read_to_string(out.join("accel.txt")).unwrap();
    assert!(
        steps.contains("blocks.5.attn") && steps.contains(" head\n"),
        "{steps}"
    );
    for f in ["repq_driver.h", "repq_driver.c", "program.bin"] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
}

#[test]
fn stop_after_ends_the_run_at_a_step() {
    if !have("verilator") {
        return;
    }
    let root = scratch("vit-e2e-stop");
    let rtl = root.join("rtl-8x8");
    let design = design_8x8(&rtl);
    let g = root.join("golden");
    golden(&g, &["--index", "6"]);
    let gd = repq_hw::golden::GoldenDir::open(&g).unwrap();
    let steps = vit::plan(&gd, &design).unwrap().image.steps;
    let (_, at) = steps
        .iter()
        .find(|(name, _)| name == "blocks.0.attn.qkv")
        .cloned()
        .unwrap();
    let o = vit::run(
        &vit::EndToEnd {
            rtl,
            golden: g,
            build: root.join("build"),
            seed: 2,
            stall: 30,
            latency: None,
            trace: None,
            irq: false,
            stop: Some(at),
        },
        &design,
    )
    .unwrap();
    assert_eq!(
        o.status & 0xf,
        0xa,
        "STATUS {:08x}: done and stopped",
        o.status
    );
    assert_eq!(o.commands, at + 1);
    // embed, norm1 and qkv are in memory; the attention's logits are not (the first check
    // after the stop finds its region still zero).
    let reached = o
        .checks
        .iter()
        .position(|c| c.layer == "blocks.0.attn")
        .unwrap();
    assert_eq!(reached, 3);
    let (n, m) = vit::compare(&o.checks[..reached], &o.memory);
    assert!(m.is_none(), "{m:?}");
    assert_eq!(n, 50 * 96 + 50 * 96 + 50 * 288);
    let m = o.mismatch.expect("the run stopped before the attention");
    assert_eq!((m.layer.as_str(), m.actual), ("blocks.0.attn", 0));
}

/// The engine's cycle model (`perf::engine_cycles`) against Verilator on the stall-free memory:
/// the whole image, and every command's fetch cycle, at two read latencies.
#[test]
fn the_cycle_model_counts_the_stall_free_run_exactly() {
    if !have("verilator") {
        return;
    }
    let root = scratch("vit-e2e-cycles");
    let rtl = root.join("rtl-8x8");
    let design = design_8x8(&rtl);
    let g = root.join("golden");
    golden(&g, &["--index", "1"]);
    let cmds = repq_hw::accel::AccelImage::command_words(
        &vit::plan(&repq_hw::golden::GoldenDir::open(&g).unwrap(), &design)
            .unwrap()
            .image
            .bytes,
    );
    for latency in [8, 1] {
        let trace = root.join(format!("trace-{latency}.txt"));
        let o = vit::run(
            &vit::EndToEnd {
                rtl: rtl.clone(),
                golden: g.clone(),
                build: root.join("build"),
                seed: 1,
                stall: 0,
                latency: Some(latency),
                trace: Some(trace.clone()),
                irq: false,
                stop: None,
            },
            &design,
        )
        .unwrap();
        assert!(o.mismatch.is_none(), "{:?}", o.mismatch);
        let m = repq_hw::perf::engine_cycles(&design, &cmds, latency).unwrap();
        assert_eq!(
            m.cycles, o.cycles,
            "read latency {latency}: model vs Verilator"
        );
        assert_eq!(
            m.commands,
            u64::from(o.commands) + 1,
            "END is not counted by CMD_DONE"
        );
        let fetched: Vec<u64> = std::fs::read_to_string(&trace)
            .unwrap()
            .lines()
            .map(|l| l.split_whitespace().nth(1).unwrap().parse().unwrap())
            .collect();
        assert_eq!(fetched.len(), cmds.len());
        if let Some(i) = (0..cmds.len()).find(|&i| fetched[i] != m.fetch_at[i]) {
            panic!(
                "read latency {latency}: command {i} ({:08x}) fetched in cycle {} by Verilator, \
                 {} by the model",
                cmds[i][0], fetched[i], m.fetch_at[i]
            );
        }
        assert_eq!(m.read_words, o.read_words, "words read");
        assert_eq!(m.write_words, o.write_words, "words written");
        assert_eq!(
            m.overhead + m.read_memory + m.read_units + m.write_wait,
            m.cycles
        );
    }
}
