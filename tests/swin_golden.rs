//! Swin golden vectors (manifest mode `swin`) and their RTL cases: the relative position bias and
//! the shift mask as the manifest names them, against timm's table and mask computed here
//! independently; and (with Verilator) a shifted block of the embedded swin-digits model at W4A4
//! bit for bit on the generated RTL.

use std::path::{Path, PathBuf};
use std::process::Command;

use repq_hw::golden::swin::{export_swin_image, swin_model_info};
use repq_hw::golden::{GoldenDir, manifest_header, write_dir};
use repq_hw::intsim::IntSwin;
use repq_hw::model::checkpoint::TensorFile;
use repq_hw::model::swin::{attention_mask, relative_position_index};
use repq_hw::model::{Model, Network};
use repq_hw::quant::{CalibrationInfo, QuantConfig, calibrate};
use repq_hw::verify::{Harness, RtlInfo, cases_for};

const BIN: &str = env!("CARGO_BIN_EXE_repq-hw");

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/swin")
        .join(name)
}

fn read_hex(root: &Path, g: &GoldenDir, name: &str) -> Vec<i64> {
    let e = g.manifest.entry(name).unwrap_or_else(|| panic!("{name}"));
    let text = std::fs::read_to_string(root.join(&e.path)).unwrap();
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with("//"))
        .map(|l| {
            let v = i64::from_str_radix(l.trim(), 16).unwrap();
            if e.signed && v >= 1 << (e.bits - 1) {
                v - (1 << e.bits)
            } else {
                v
            }
        })
        .collect()
}

#[test]
fn swin_golden_vectors_hold_timms_bias_and_mask_and_name_the_rtl_cases() {
    let m = Model::load(&fixture("tiny/model.safetensors")).unwrap();
    let mut io = TensorFile::read(&fixture("tiny_io.safetensors")).unwrap();
    let shape = io.shape("input").unwrap().to_vec();
    let x = io.take("input", &shape).unwrap();
    let q = calibrate(
        &m,
        &x,
        shape[0],
        QuantConfig::new(4, 4).unwrap(),
        CalibrationInfo {
            source: "fixture inputs".into(),
            count: shape[0],
            seed: None,
        },
    )
    .unwrap();
    let int = IntSwin::lower(&q, 32).unwrap();
    let codes = int.quantize_input(&x[..int.input_len()]);
    let (files, logits) = export_swin_image(&int, &codes).unwrap();
    assert_eq!(logits, int.forward_codes(&codes, 1).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("g");
    let mut manifest = manifest_header("swin", &["test".into()]);
    manifest.model = Some(swin_model_info(&q, &int, "test".into()));
    write_dir(&root, manifest, &files).unwrap();
    let g = GoldenDir::open(&root).unwrap();
    let Network::Swin(swin) = &q.model.net else {
        panic!()
    };
    // Block 1 (stage 0, 56x56 tokens, 7x7 windows, shift 3): bias and mask.
    let n = 49;
    let table = &swin.layers[0].blocks[1].attn.rel_bias_table;
    let index = relative_position_index([7, 7]);
    let bias = read_hex(&root, &g, "blocks.1.attn.rel_pos_bias");
    assert_eq!(bias.len(), n * n, "one head in stage 0");
    for (i, &b) in bias.iter().enumerate() {
        let want =
            (f64::from(table[index[i]]) * std::f64::consts::LOG2_E * 1024.0).round_ties_even();
        assert_eq!(b as f64, want, "bias[{i}]");
    }
    let mask = read_hex(&root, &g, "blocks.1.attn.mask");
    let timm = attention_mask([56, 56], [7, 7], [3, 3]);
    assert_eq!(mask.len(), timm.len());
    assert!(
        mask.iter()
            .zip(&timm)
            .all(|(&a, &b)| (a == 1) == (b != 0.0))
    );
    assert!(mask.contains(&1));
    assert!(
        g.manifest.entry("blocks.0.attn.mask").is_none(),
        "block 0 is not shifted"
    );
    // The probabilities of masked keys are exactly 0.
    let probs = read_hex(&root, &g, "blocks.1.attn.probs");
    let sm = read_hex(&root, &g, "blocks.1.attn.score_mask");
    assert_eq!(probs.len(), sm.len());
    assert!(probs.iter().zip(&sm).all(|(&p, &mk)| mk == 0 || p == 0));
    // The cases: the shifted block's softmax takes the bias and the mask.
    let rtl = RtlInfo {
        config: "4x4_w4a4_o32".into(),
        pe_rows: 4,
        pe_cols: 4,
        abits: 4,
        wbits: 4,
        acc_bits: 32,
        m_tile: 8,
        requant_lanes: 4,
        out_lane_bits: 32,
        out_signed: true,
        command: String::new(),
        output_latency: 0,
    };
    let (cases, skipped) = cases_for(&g, &rtl, &[1]).unwrap();
    assert!(skipped.is_empty(), "{skipped:?}");
    let sm_case = cases
        .iter()
        .find(|c| c.harness == Harness::Softmax)
        .expect("softmax case");
    assert!(sm_case.name.contains("shift mask"), "{}", sm_case.name);
    let arg = |a: &str| {
        sm_case
            .args
            .iter()
            .find(|(k, _)| *k == a)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(arg("bias").as_deref(), Some("blocks.1.attn.score_bias"));
    assert_eq!(arg("mask").as_deref(), Some("blocks.1.attn.score_mask"));
    // 64 windows x 1 head: one logits case and one A x V case each.
    let logit_cases = cases
        .iter()
        .filter(|c| c.name.contains(".logits[window"))
        .count();
    assert_eq!(logit_cases, 64);
}

fn have_verilator() -> bool {
    Command::new("verilator")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// `repq-hw` with the verify build cache in the test's target directory.
fn repq_ok(args: &[&str], cache: &Path) -> String {
    let o = Command::new(BIN)
        .args(args)
        .env("XDG_CACHE_HOME", cache)
        .output()
        .unwrap();
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    );
    assert!(o.status.success(), "repq-hw {args:?} failed:\n{out}\n{err}");
    out + &err
}

/// The check on the command line: `quantize --model swin-digits --wbits 4 --abits 4`,
/// `eval --integer`, `golden` (its manifest names the relative position bias), and `verify` of
/// the shifted block 1 (and block 0), the patch and final norms (U5r) and the pooling on the
/// 4x4 design `gen --model` makes for the W4A4 artifact (w4a8: the patch embedding's 8-bit image
/// codes need 8-bit lanes), every case bit-exact under two seeds, none left out.
#[test]
fn swin_digits_w4a4_shifted_block_is_bit_exact_on_the_rtl() {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR")).join("swin_golden");
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();
    let cache = tmp.join("cache");
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let q = s(&tmp.join("q.safetensors"));
    repq_ok(
        &[
            "quantize",
            "--model",
            "swin-digits",
            "--wbits",
            "4",
            "--abits",
            "4",
            "--out",
            &q,
        ],
        &cache,
    );
    let eval = repq_ok(&["eval", "--model", &q, "--integer"], &cache);
    assert!(eval.contains("W4A4 integer"), "{eval}");
    // The report is ViT/DeiT only: a one-line refusal naming Swin (it used to look for the
    // embedded model's float checkpoint on disk and fail with "No such file").
    let o = Command::new(BIN)
        .args(["report", "--model", &q, "--out"])
        .arg(tmp.join("report"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("Swin"), "{err}");
    assert!(!err.contains("No such file"), "{err}");
    let g = s(&tmp.join("golden"));
    repq_ok(&["golden", "--model", &q, "--out", &g], &cache);
    let manifest = std::fs::read_to_string(tmp.join("golden/manifest.toml")).unwrap();
    assert!(manifest.contains("name = \"blocks.1.attn.rel_pos_bias\""));
    assert!(manifest.contains("name = \"blocks.1.attn.mask\""));
    assert!(manifest.contains("mode = \"swin\""));
    if !have_verilator() {
        eprintln!("verilator not found: the RTL half of this test did not run");
        return;
    }
    let rtl = s(&tmp.join("rtl"));
    repq_ok(
        &[
            "gen",
            "--pe",
            "4x4",
            "--model",
            &q,
            "--out-bits",
            "32",
            "--out",
            &rtl,
        ],
        &cache,
    );
    let out = repq_ok(
        &[
            "verify", "--rtl", &rtl, "--golden", &g, "--blocks", "0,1", "--seeds", "1,2",
        ],
        &cache,
    );
    let line = |needle: &str| {
        out.lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line with {needle:?}:\n{out}"))
            .to_string()
    };
    let sm =
        line("blocks.1.attn.probs (softmax with the relative position bias and the shift mask)");
    assert!(sm.contains("bit-exact"), "{sm}");
    // U5r (the patch norm on 196 tokens, the final norm on 49, 32 and 64 channels) and the
    // pooling with the head input's U2 (64 averages and 64 codes).
    for (case, elements) in [
        (
            "embed (patch_embed.norm, LayerNorm into the residual stream, U5r)",
            6272,
        ),
        (
            "norm.output (norm, LayerNorm into the residual stream, U5r)",
            3136,
        ),
        (
            "pool, head.input (average pool, U2 to the head's input codes)",
            128,
        ),
    ] {
        let l = line(case);
        assert!(
            l.contains("bit-exact") && l.contains(&format!(" {elements} elements")),
            "{l}"
        );
    }
    // The end-to-end engine runs ViT/DeiT images: a Swin directory is refused in one line
    // naming its mode (it failed on a missing `embed.pos` tensor before).
    let o = Command::new(BIN)
        .args(["verify", "--rtl", &rtl, "--golden", &g, "--end-to-end"])
        .env("XDG_CACHE_HOME", &cache)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("mode \"swin\"") && !err.contains("embed.pos"),
        "{err}"
    );
    let summary = line("cases bit-exact");
    assert!(summary.contains(" 0 failed, 0 not runnable"), "{summary}");
    let patch = line("patch_embed");
    assert!(patch.contains("bit-exact"), "{patch}");
    // `repq-hw perf` counts the same stall-free cycles for the U5r norms and the pooling as the
    // RTL took (verify prints them).
    let perf = repq_ok(
        &[
            "perf", "--pe", "4x4", "--wbits", "4", "--abits", "8", "--model", &q,
        ],
        &cache,
    );
    for (case, op) in [
        ("embed (patch_embed.norm", "patch_embed.norm "),
        ("norm.output (norm,", "norm "),
        ("pool, head.input", "pool "),
    ] {
        let rtl_cycles = line(case)
            .split(" cycles without stalls")
            .next()
            .and_then(|p| p.rsplit(' ').next())
            .unwrap_or_else(|| panic!("no stall-free count for {case}"))
            .to_string();
        let row = perf
            .lines()
            .find(|l| l.starts_with(op))
            .unwrap_or_else(|| panic!("perf has no row {op:?}:\n{perf}"));
        let cols: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(
            cols[4],
            rtl_cycles,
            "{op}: perf {row}, verify {}",
            line(case)
        );
    }
}
