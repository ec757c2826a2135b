//! The Verilator regression (issue 6): generated RTL against golden vectors of the integer
//! simulator, bit for bit, through the binary exactly as a user runs it: `repq-hw gen`,
//! `repq-hw golden`, `repq-hw verify`.
//!
//! * `matrix`: every configuration of testbenches/matrix.toml with random vectors under several
//!   data seeds and verify seeds (stalls, X seeds, mid-run reset).
//! * `real_layers_all_blocks_w8a8_on_defaults`: the embedded model on a real test image through
//!   the default design (`gen --pe 16x16`, `golden`, no other option): patch embedding, every
//!   block's qkv, Q K^T per head, probabilities to log2 codes, attention x V per head, its
//!   requantization into the proj input (heads merged), proj, the residual add, fc1, GELU, fc2,
//!   the residual add, both LayerNorms of every block, the final norm and the head.
//! * `mutations_are_caught`: broken generated files (requantization rounding, the sqrt(2)
//!   constant) and a corrupted golden element must fail, naming the tensor and index.
//!
//! Skipped with a notice when Verilator is not installed; `make test` installs it and fails
//! without it (REPQ_REQUIRE_TOOLS, see rtl_common::have).

mod rtl_common;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;

const BIN: &str = env!("CARGO_BIN_EXE_repq-hw");

fn scratch(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("regression")
        .join(name);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs the binary; returns (success, stdout, stderr).
fn repq(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(BIN).args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn repq_ok(args: &[&str]) -> String {
    let (ok, stdout, stderr) = repq(args);
    assert!(ok, "repq-hw {args:?} failed:\n{stdout}\n{stderr}");
    stdout + &stderr
}

#[derive(Deserialize)]
struct Matrix {
    verify_seeds: Vec<u64>,
    config: Vec<MatrixConfig>,
}

#[derive(Deserialize)]
struct MatrixConfig {
    name: String,
    #[serde(rename = "gen")]
    gen_args: Vec<String>,
    golden: Vec<String>,
    shapes: Vec<String>,
    data_seeds: Vec<u64>,
}

fn matrix() -> Matrix {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("testbenches/matrix.toml");
    toml::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap_or_else(|e| panic!("{p:?}: {e}"))
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// gen + golden for every shape and data seed + one verify over all of them.
fn run_config(c: &MatrixConfig, verify_seeds: &[u64]) {
    let dir = scratch(&c.name);
    let rtl = dir.join("rtl");
    let mut gen_cmd: Vec<&str> = vec!["gen"];
    gen_cmd.extend(c.gen_args.iter().map(String::as_str));
    gen_cmd.extend(["--out", s(&rtl)]);
    repq_ok(&gen_cmd);
    let mut verify = vec![
        "verify".to_string(),
        "--rtl".into(),
        s(&rtl).into(),
        "--build".into(),
        s(&dir.join("build")).into(),
        "--seeds".into(),
        verify_seeds
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(","),
    ];
    let mut runs = 0;
    for shape in &c.shapes {
        for seed in &c.data_seeds {
            let g = dir.join(format!("golden_{shape}_s{seed}"));
            let seed = seed.to_string();
            let mut args: Vec<&str> = vec!["golden", "--random", "--seed", &seed, "--shape", shape];
            args.extend(c.golden.iter().map(String::as_str));
            args.extend(["--out", s(&g)]);
            repq_ok(&args);
            verify.extend(["--golden".into(), s(&g).into()]);
            runs += 1;
        }
    }
    let args: Vec<&str> = verify.iter().map(String::as_str).collect();
    let log = repq_ok(&args);
    eprintln!("{}:\n{log}", c.name);
    // matmul, logcode, shift_av, and the units after the array: av_requant, gelu, residual,
    // layernorm (two cases: D = 37 and D = 1), and softmax (short rows with the hard cases, rows
    // of 197 and of 785 keys); Swin's U5r (layernorm_r) and pooling (T = 6, 1 and 197).
    let want = format!(
        "{n} of {n} cases bit-exact, 0 failed, 0 not runnable",
        n = 15 * runs
    );
    assert!(log.contains(&want), "{}: expected `{want}`:\n{log}", c.name);
    // Checked against the model with "(model ": the matmul, av_requant, gelu, residual, both
    // layernorm cases, the three softmax cases, the U5r case and the three pooling cases
    // (shift_av's line says "(A x V model").
    assert_eq!(
        log.matches("cycles without stalls (model ").count(),
        13 * runs,
        "{}: every matmul's and unit's cycle count must be checked against the model:\n{log}",
        c.name
    );
    assert!(
        log.contains("elements compared per unit: repq_top"),
        "{log}"
    );
}

#[test]
fn matrix_of_arrays_widths_shapes_and_seeds() {
    if !rtl_common::have("verilator") {
        return;
    }
    let m = matrix();
    assert!(m.config.len() >= 5);
    for c in &m.config {
        run_config(c, &m.verify_seeds);
    }
}

/// The embedded demo model at W8A8 on test image 0 through the default 16x16 design (`gen --pe
/// 16x16`: the demo architecture's accumulator width, s32 output lanes for the residual stream,
/// the GELU index and the raw attention scores) and the default golden vectors.
#[test]
fn real_layers_all_blocks_w8a8_on_defaults() {
    if !rtl_common::have("verilator") {
        return;
    }
    let dir = scratch("real_w8a8");
    let (rtl, golden) = (dir.join("rtl"), dir.join("golden"));
    // Defaults only (issue 11, item 5): the default design runs every case of the default
    // golden vectors.
    repq_ok(&["gen", "--pe", "16x16", "--out", s(&rtl)]);
    repq_ok(&["golden", "--out", s(&golden)]);
    let log = repq_ok(&[
        "verify",
        "--rtl",
        s(&rtl),
        "--golden",
        s(&golden),
        "--build",
        s(&dir.join("build")),
        "--all-blocks",
    ]);
    eprintln!("{log}");
    // patch_embed, the final norm and head, and per block (6): norm1, qkv, 3 heads of scores,
    // 3 heads of logits (Q K^T with the softmax's requantization), the softmax, codes, 3 heads of
    // A x V, their requantization into the proj input (heads merged), proj, the residual add,
    // norm2, fc1, GELU, fc2, the residual add: 3 + 6 * 21 = 129.
    assert!(
        log.contains("129 of 129 cases bit-exact, 0 failed, 0 not runnable"),
        "{log}"
    );
    for t in [
        "blocks.0.attn.qkv",
        "blocks.0.attn.scores[2]",
        "blocks.0.attn.codes",
        "blocks.0.attn.av[1]",
        "blocks.0.attn.proj.input (A x V requantized, heads merged)",
        "blocks.0.residual1 (residual add)",
        "blocks.0.mlp.fc1",
        "blocks.0.mlp.fc2.input (GELU table)",
        "blocks.0.residual2 (residual add)",
        "blocks.5.attn.scores[2] (Q K^T)",
        "blocks.5.residual2 (residual add)",
        "blocks.0.attn.qkv.input (blocks.0.norm1, LayerNorm)",
        "blocks.5.mlp.fc1.input (blocks.5.norm2, LayerNorm)",
        "head.input (head.norm, LayerNorm)",
    ] {
        assert!(log.contains(t), "{t} missing:\n{log}");
    }
    // Element counts per unit (T = 50, D = 96, MLP 384, 6 blocks).
    for u in [
        "repq_av_requant 28800 elements (6 cases)",
        "repq_gelu 115200 elements (6 cases)",
        "repq_residual 57600 elements (12 cases)",
        "repq_shift_av 28800 elements (18 cases)",
        "repq_logcode 45000 elements (6 cases)",
        "repq_layernorm 57696 elements (13 cases)",
        "repq_softmax 45000 elements (6 cases)",
    ] {
        assert!(log.contains(u), "{u} missing:\n{log}");
    }
}

/// W4A8 (issue 10, item 4): the embedded model quantized at W4A8 through a 4x4 W4A8 design. Keys
/// minus their zero point are s9 operands, so the stationary operand lanes are
/// s(max(wbits, abits) + 1) = s9 and every case runs, the Q K^T scores of each head included.
#[test]
fn real_layers_block0_w4a8() {
    if !rtl_common::have("verilator") {
        return;
    }
    let dir = scratch("real_w4a8");
    let (rtl, golden) = (dir.join("rtl"), dir.join("golden"));
    repq_ok(&[
        "gen",
        "--pe",
        "4x4",
        "--wbits",
        "4",
        "--abits",
        "8",
        "--acc-bits",
        "32",
        "--out-bits",
        "32",
        "--m-tile",
        "64",
        "--out",
        s(&rtl),
    ]);
    let params = std::fs::read_to_string(rtl.join("repq_params.h")).unwrap();
    assert!(
        params.contains("#define REPQ_W_OPERAND_BITS 9u"),
        "{params}"
    );
    repq_ok(&[
        "golden",
        "--wbits",
        "4",
        "--abits",
        "8",
        "--index",
        "0",
        "--out",
        s(&golden),
    ]);
    let log = repq_ok(&[
        "verify",
        "--rtl",
        s(&rtl),
        "--golden",
        s(&golden),
        "--build",
        s(&dir.join("build")),
        "--blocks",
        "0",
        "--seeds",
        "1",
    ]);
    eprintln!("{log}");
    assert!(
        log.contains("24 of 24 cases bit-exact, 0 failed, 0 not runnable"),
        "{log}"
    );
    for h in 0..3 {
        let t = format!("blocks.0.attn.scores[{h}] (Q K^T)");
        assert!(log.contains(&t), "{t} missing:\n{log}");
    }
}

/// Issue 11, item 5 for a user's W4A4 artifact: `gen --model Q` with no other option makes a
/// design that runs every case of `golden --model Q`. Before, the design took the artifact's
/// 4-bit activation lanes, the patch embedding's 8-bit image codes did not fit them (23 of 24,
/// patch_embed not runnable), and the advice (`--abits 8`) was refused by `gen --model`. Now the
/// lanes are 8 bits (w4a8) and the log2-code and GELU units take the model's 4-bit codes at run
/// time; an explicit `--abits 4` is the narrower design the advice widens.
#[test]
fn a_w4a4_artifact_runs_every_case_on_its_gen_model_design() {
    if !rtl_common::have("verilator") {
        return;
    }
    let dir = scratch("gen_model_w4a4");
    let (q, rtl, golden) = (dir.join("q4"), dir.join("rtl"), dir.join("golden"));
    repq_ok(&["quantize", "--wbits", "4", "--abits", "4", "--out", s(&q)]);
    let gen_log = repq_ok(&["gen", "--pe", "4x4", "--model", s(&q), "--out", s(&rtl)]);
    assert!(
        gen_log.contains("4x4 weight-stationary array, w4a8"),
        "{gen_log}"
    );
    // The advice's widths, given explicitly, are the same design; narrower lanes than the
    // model's codes are refused with the field named.
    let again = dir.join("rtl_abits8");
    repq_ok(&[
        "gen",
        "--pe",
        "4x4",
        "--model",
        s(&q),
        "--abits",
        "8",
        "--out",
        s(&again),
    ]);
    let config = |d: &Path| {
        let j: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(d.join("repq_params.json")).unwrap())
                .unwrap();
        (j["config"].clone(), j["acc_bits"].clone())
    };
    assert_eq!(config(&rtl), config(&again));
    let (ok, _, err) = repq(&[
        "gen",
        "--pe",
        "4x4",
        "--model",
        s(&q),
        "--abits",
        "3",
        "--out",
        s(&dir.join("x")),
    ]);
    assert!(
        !ok && err.contains("--abits") && err.contains("A4 codes"),
        "{err}"
    );
    repq_ok(&["golden", "--model", s(&q), "--out", s(&golden)]);
    let log = repq_ok(&[
        "verify",
        "--rtl",
        s(&rtl),
        "--golden",
        s(&golden),
        "--build",
        s(&dir.join("build")),
        "--seeds",
        "1",
    ]);
    eprintln!("{log}");
    assert!(
        log.contains("24 of 24 cases bit-exact, 0 failed, 0 not runnable"),
        "{log}"
    );
    for t in [
        "patch_embed (linear)",
        "blocks.0.attn.codes (log2 codes of the probabilities)",
        "blocks.0.mlp.fc2.input (GELU table)",
    ] {
        let line = log
            .lines()
            .find(|l| l.contains(t))
            .unwrap_or_else(|| panic!("{t}:\n{log}"));
        assert!(line.contains("bit-exact"), "{line}");
    }
}

/// A broken generated file or a corrupted expected value fails the regression and says where.
#[test]
fn mutations_are_caught() {
    if !rtl_common::have("verilator") {
        return;
    }
    let dir = scratch("mutations");
    let rtl = dir.join("rtl");
    let golden = dir.join("golden");
    repq_ok(&[
        "gen",
        "--pe",
        "4x4",
        "--wbits",
        "4",
        "--abits",
        "4",
        "--acc-bits",
        "20",
        "--m-tile",
        "8",
        "--out",
        s(&rtl),
    ]);
    repq_ok(&[
        "golden",
        "--random",
        "--seed",
        "11",
        "--shape",
        "13x10x7",
        "--wbits",
        "4",
        "--abits",
        "4",
        "--acc-bits",
        "20",
        "--out",
        s(&golden),
    ]);
    let verify = |rtl: &Path, golden: &Path, build: &str| {
        repq(&[
            "verify",
            "--rtl",
            s(rtl),
            "--golden",
            s(golden),
            "--build",
            s(&dir.join(build)),
            "--seeds",
            "1",
        ])
    };
    // The unmutated design passes.
    let (ok, out, err) = verify(&rtl, &golden, "build");
    assert!(ok, "{out}\n{err}");

    // Mutants of generated files: (file, original text, mutated text, the case that must fail).
    let mutants = [
        (
            "repq_requant.v",
            "wire [UW:0] zp_c = { {(UW-32){zp8[31]}}, zp8, q8_t[0] };",
            "wire [UW:0] zp_c = { {(UW-32){zp8[31]}}, zp8, 1'b0 };",
            "matmul",
        ),
        (
            "repq_shift_av.v",
            "localparam signed [PW-1:0] SQRT2 = 46341;",
            "localparam signed [PW-1:0] SQRT2 = 46340;",
            "shift_av",
        ),
    ];
    for (i, (file, from, to, case)) in mutants.iter().enumerate() {
        let m = dir.join(format!("rtl_mutant{i}"));
        std::fs::create_dir_all(&m).unwrap();
        for e in std::fs::read_dir(&rtl).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), m.join(e.file_name())).unwrap();
        }
        let text = std::fs::read_to_string(m.join(file)).unwrap();
        assert_eq!(
            text.matches(from).count(),
            1,
            "{file}: mutation site `{from}`"
        );
        std::fs::write(m.join(file), text.replace(from, to)).unwrap();
        let (ok, out, err) = verify(&m, &golden, &format!("build_mutant{i}"));
        eprintln!("mutant {i} ({file}):\n{out}\n{err}");
        assert!(!ok, "mutant {i} of {file} passed the regression");
        assert!(
            err.lines()
                .any(|l| l.contains(&format!(" {case} ")) && l.contains("FAIL: seed 1: MISMATCH")),
            "mutant {i}: the {case} case must report the mismatch:\n{err}"
        );
    }

    // A corrupted expected element: the report names the tensor and the first bad index.
    let bad = dir.join("golden_corrupt");
    let _ = std::fs::remove_dir_all(&bad);
    std::fs::create_dir_all(bad.join("matmul")).unwrap();
    copy_tree(&golden, &bad);
    let f = bad.join("matmul/matmul.out.hex");
    let mut lines: Vec<String> = std::fs::read_to_string(&f)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    // Element [2, 5] of the 13 x 7 output.
    let v = u8::from_str_radix(&lines[2 * 7 + 5], 16).unwrap();
    lines[2 * 7 + 5] = format!("{:x}", (v + 1) % 16);
    std::fs::write(&f, lines.join("\n") + "\n").unwrap();
    let (ok, out, err) = verify(&rtl, &bad, "build");
    assert!(!ok, "a corrupted golden element passed:\n{out}\n{err}");
    assert!(
        err.contains("tensor matmul.out u4 [13, 7], first mismatch at index [2, 5]: expected"),
        "{err}"
    );
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let t = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &t);
        } else {
            std::fs::copy(e.path(), &t).unwrap();
        }
    }
}

/// `verify --fst DIR` writes one FST waveform per case.
#[test]
fn fst_waveforms_on_request() {
    if !rtl_common::have("verilator") {
        return;
    }
    let dir = scratch("fst");
    let (rtl, golden, waves) = (dir.join("rtl"), dir.join("golden"), dir.join("waves"));
    repq_ok(&[
        "gen",
        "--pe",
        "2x3",
        "--wbits",
        "4",
        "--abits",
        "4",
        "--acc-bits",
        "20",
        "--m-tile",
        "4",
        "--out",
        s(&rtl),
    ]);
    repq_ok(&[
        "golden",
        "--random",
        "--seed",
        "5",
        "--shape",
        "5x4x4",
        "--wbits",
        "4",
        "--abits",
        "4",
        "--acc-bits",
        "20",
        "--out",
        s(&golden),
    ]);
    let _ = std::fs::remove_dir_all(&waves);
    let log = repq_ok(&[
        "verify",
        "--rtl",
        s(&rtl),
        "--golden",
        s(&golden),
        "--build",
        s(&dir.join("build")),
        "--seeds",
        "3",
        "--fst",
        s(&waves),
    ]);
    assert!(log.contains("15 of 15 cases bit-exact"), "{log}");
    for case in [
        "matmul",
        "logcode",
        "shift_av",
        "av_requant",
        "gelu",
        "residual",
    ] {
        let f = waves.join(format!("{case}.fst"));
        let len = std::fs::metadata(&f)
            .unwrap_or_else(|e| panic!("{f:?}: {e}"))
            .len();
        assert!(len > 1000, "{f:?} holds only {len} bytes");
    }
}

/// Bad input to `verify`: a clear error naming the problem, a non-zero exit, no panic.
#[test]
fn verify_bad_input() {
    let dir = scratch("verify_bad");
    let rtl = dir.join("rtl");
    let golden = dir.join("golden_a8");
    repq_ok(&[
        "gen",
        "--pe",
        "2x2",
        "--wbits",
        "4",
        "--abits",
        "4",
        "--out",
        s(&rtl),
    ]);
    repq_ok(&[
        "golden",
        "--random",
        "--seed",
        "1",
        "--shape",
        "2x2x2",
        "--out",
        s(&golden),
    ]);
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                "--rtl".into(),
                s(&dir).into(),
                "--golden".into(),
                s(&golden).into(),
            ],
            "not a generated RTL directory",
        ),
        (
            vec![
                "--rtl".into(),
                s(&rtl).into(),
                "--golden".into(),
                s(&rtl).into(),
            ],
            "manifest.toml",
        ),
        (
            vec![
                "--rtl".into(),
                s(&rtl).into(),
                "--golden".into(),
                s(&golden).into(),
            ],
            "8-bit activations but the design",
        ),
        (
            vec![
                "--rtl".into(),
                s(&rtl).into(),
                "--golden".into(),
                s(&golden).into(),
                "--stall".into(),
                "95".into(),
            ],
            "--stall",
        ),
    ];
    for (args, want) in cases {
        let mut a: Vec<&str> = vec!["verify"];
        a.extend(args.iter().map(String::as_str));
        let (ok, out, err) = repq(&a);
        assert!(!ok, "{a:?} succeeded:\n{out}");
        assert!(err.contains(want), "{a:?}: expected `{want}` in:\n{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    // A model-mode golden directory with a block the model does not have.
    let gm = dir.join("golden_model");
    repq_ok(&["golden", "--wbits", "4", "--abits", "4", "--out", s(&gm)]);
    let (ok, _, err) = repq(&[
        "verify",
        "--rtl",
        s(&rtl),
        "--golden",
        s(&gm),
        "--blocks",
        "9",
    ]);
    assert!(!ok && err.contains("block 9 does not exist"), "{err}");
}

/// A design too narrow for the golden vectors (the default 19-bit accumulators at W4A4, code
/// output lanes, against random vectors made for 24-bit accumulators): the console lists the cases it
/// cannot run, the error names a complete `repq-hw gen` command, and the design that command
/// generates runs every case.
#[test]
fn not_runnable_cases_name_the_gen_command_that_runs_them() {
    if !rtl_common::have("verilator") {
        return;
    }
    let dir = scratch("suggested_gen");
    let (narrow, golden) = (dir.join("narrow"), dir.join("golden"));
    let w4a4 = ["--wbits", "4", "--abits", "4"];
    let mut gen_args = vec!["gen", "--pe", "2x2"];
    gen_args.extend(w4a4);
    gen_args.extend(["--out-bits", "4", "--out", s(&narrow)]);
    repq_ok(&gen_args);
    let mut golden_args = vec!["golden", "--random", "--seed", "3", "--shape", "5x6x3"];
    golden_args.extend(w4a4);
    golden_args.extend(["--acc-bits", "24", "--out", s(&golden)]);
    repq_ok(&golden_args);
    let verify = |rtl: &Path, build: &str| {
        repq(&[
            "verify",
            "--rtl",
            s(rtl),
            "--golden",
            s(&golden),
            "--build",
            s(&dir.join(build)),
            "--seeds",
            "1",
        ])
    };
    let (ok, _, err) = verify(&narrow, "build_narrow");
    assert!(!ok, "{err}");
    assert!(err.contains("not runnable"), "{err}");
    let cmd = err
        .split('`')
        .find(|p| p.starts_with("repq-hw gen "))
        .unwrap_or_else(|| panic!("no gen command in:\n{err}"))
        .to_string();
    assert!(
        cmd.contains("--acc-bits 24") && cmd.ends_with("--out <DIR>"),
        "{cmd}"
    );
    // The suggested command, run as given (with a directory for <DIR>).
    let wide = dir.join("wide");
    let args: Vec<String> = cmd
        .split(' ')
        .skip(1)
        .map(|a| {
            if a == "<DIR>" {
                s(&wide).to_string()
            } else {
                a.to_string()
            }
        })
        .collect();
    repq_ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let (ok, out, err) = verify(&wide, "build_wide");
    assert!(ok, "{out}\n{err}");
    assert!(
        out.contains("15 of 15 cases bit-exact, 0 failed, 0 not runnable"),
        "{out}"
    );
}
