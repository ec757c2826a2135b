//! `repq-hw perf` through the binary: one job's figures equal the library's, a model's forward
//! pass lists every matmul (embedded model, float checkpoint, quantized artifact), and bad input
//! is a clear error naming the option and value with a non-zero exit.

use std::path::Path;
use std::process::{Command, Output};

use repq_hw::model::VitConfig;
use repq_hw::model::vit::VisionTransformer;
use repq_hw::perf::job_cycles;
use repq_hw::quant::QuantConfig;
use repq_hw::rtl::{GenConfig, PeShape};

fn repq_hw(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_repq-hw"))
        .arg("perf")
        .args(args)
        .output()
        .unwrap()
}

fn ok(args: &[&str]) -> String {
    let o = repq_hw(args);
    assert!(
        o.status.success(),
        "perf {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

#[test]
fn one_job_reports_the_model_figures() {
    let out = ok(&["--pe", "16x16", "--shape", "197x384x1152"]);
    let d = GenConfig::new(PeShape { rows: 16, cols: 16 })
        .validate()
        .unwrap();
    let cycles = job_cycles(&d, 197, 384, 1152);
    assert!(out.contains(&format!("cycles       {cycles} ")), "{out}");
    assert!(
        out.contains("tiles        1 M x 72 N x 24 K = 1728 passes"),
        "{out}"
    );
    assert!(out.contains("MACs         87146496"), "{out}");
    let util = 87146496.0 / (256.0 * cycles as f64) * 100.0;
    assert!(out.contains(&format!("utilization  {util:.1}%")), "{out}");
    assert!(out.contains("at 200 MHz"), "{out}");

    // The design options change the figures as they change the RTL; the clock only the time.
    let out = ok(&[
        "--pe",
        "4x8",
        "--requant-lanes",
        "2",
        "--m-tile",
        "32",
        "--wbits",
        "4",
        "--abits",
        "4",
        "--shape",
        "50x32x50",
        "--clock-mhz",
        "100",
    ]);
    let d = GenConfig {
        wbits: 4,
        abits: 4,
        m_tile: 32,
        requant_lanes: Some(2),
        ..GenConfig::new(PeShape { rows: 4, cols: 8 })
    }
    .validate()
    .unwrap();
    let cycles = job_cycles(&d, 50, 32, 50);
    assert!(out.contains(&format!("cycles       {cycles} ")), "{out}");
    let us = cycles as f64 / 100.0;
    assert!(out.contains(&format!("{us:.3} us at 100 MHz")), "{out}");
}

fn check_model_report(out: &str, cfg: &VitConfig, heads: &[&str]) {
    // The unit table; the engine's section after it has its own tests below.
    let out = out.split("\nengine (").next().unwrap();
    let lines: Vec<&str> = out.lines().collect();
    let rows = |name: &str| lines.iter().filter(|l| l.starts_with(name)).count();
    assert_eq!(rows("patch_embed "), 1, "{out}");
    for i in 0..cfg.depth {
        for op in [
            "attn.qkv",
            "attn.q@k^T",
            "attn.a@v",
            "attn.proj.input",
            "attn.proj",
            "residual1",
            "mlp.fc1",
            "mlp.gelu",
            "mlp.fc2",
            "residual2",
        ] {
            assert_eq!(rows(&format!("blocks.{i}.{op} ")), 1, "{op}: {out}");
        }
    }
    for h in heads {
        assert_eq!(rows(&format!("{h} ")), 1, "{h}: {out}");
    }
    let t = cfg.seq_len();
    let qk = format!("{t}x{}x{t}", cfg.head_dim());
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("blocks.0.attn.q@k^T") && l.contains(&qk)),
        "{out}"
    );
    assert!(out.contains("images/s"), "{out}");
    assert!(
        out.contains("repq_layernorm, repq_softmax with repq_logcode"),
        "{out}"
    );
    // The row units are in the table and in the shares of the time.
    for i in 0..cfg.depth {
        for op in ["norm1", "attn.softmax", "norm2"] {
            assert_eq!(rows(&format!("blocks.{i}.{op} ")), 1, "{op}: {out}");
        }
    }
    let shares = lines
        .iter()
        .find(|l| l.starts_with("where the time goes: "))
        .unwrap_or_else(|| panic!("{out}"));
    for unit in ["array", "shift", "norm", "smax", "gelu", "add", "avrq"] {
        assert!(shares.contains(&format!("{unit} ")), "{unit}: {shares}");
    }
}

#[test]
fn the_embedded_model_is_the_default() {
    let a = ok(&["--pe", "16x16"]);
    let b = ok(&["--pe", "16x16", "--model", "demo"]);
    assert_eq!(a, b);
    let cfg = repq_hw::demo::model().unwrap().config().unwrap().clone();
    check_model_report(&a, &cfg, &["head"]);
    assert!(a.contains("model deit-digits"), "{a}");
}

#[test]
fn checkpoints_and_artifacts_are_read() {
    let dir = tempfile::tempdir().unwrap();
    // A distilled float checkpoint: two heads, and a sidecar with the head count.
    let cfg = VitConfig {
        img_size: [32, 32],
        patch_size: [8, 8],
        in_chans: 3,
        embed_dim: 48,
        depth: 2,
        num_heads: 4,
        mlp_hidden: 96,
        num_classes: 7,
        qkv_bias: true,
        distilled: true,
        ln_eps: 1e-6,
    };
    let ckpt = dir.path().join("tiny.safetensors");
    std::fs::write(
        &ckpt,
        repq_hw::model::checkpoint::to_safetensors(&VisionTransformer::random(cfg.clone(), 7))
            .unwrap(),
    )
    .unwrap();
    // What the shapes cannot tell (model::spec): heads, epsilon, pooling, preprocessing.
    std::fs::write(
        dir.path().join("tiny.toml"),
        "num_heads = 4\nlayer_norm_eps = 1e-6\nglobal_pool = \"token\"\nmean = [0.5, 0.5, 0.5]\n\
         std = [0.5, 0.5, 0.5]\ncrop_pct = 1.0\ncrop_mode = \"center\"\n\
         interpolation = \"bicubic\"\n",
    )
    .unwrap();
    let out = ok(&["--pe", "8x8", "--model", ckpt.to_str().unwrap()]);
    check_model_report(&out, &cfg, &["head", "head_dist"]);
    assert!(out.contains("18 tokens, width 48, 4 heads of 12"), "{out}");

    // A quantized artifact of the demo model: the same architecture as the demo's.
    let art = dir.path().join("w8a8.safetensors");
    repq_hw::demo::quantized(QuantConfig::new(8, 8).unwrap())
        .unwrap()
        .save(&art)
        .unwrap();
    let q = ok(&["--pe", "16x16", "--model", art.to_str().unwrap()]);
    let demo = ok(&["--pe", "16x16"]);
    let body = |s: &str| s.lines().skip(2).map(String::from).collect::<Vec<_>>();
    assert_eq!(body(&q), body(&demo));
}

/// (arguments after `perf`, text expected on stderr)
#[test]
fn bad_input_is_a_clear_error() {
    let garbage = Path::new(env!("CARGO_TARGET_TMPDIR")).join("perf_garbage.safetensors");
    std::fs::write(&garbage, b"not a checkpoint").unwrap();
    let garbage = garbage.to_str().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (
            &["--pe", "0x16", "--shape", "4x4x4"],
            "field `--pe`: `0x16`: the row count must be at least 1",
        ),
        (&["--pe", "16"], "`16` is not of the form ROWSxCOLS"),
        (
            &["--pe", "16x16", "--shape", "0x5x5"],
            "field `--shape`: `0x5x5`: M must be at least 1",
        ),
        (
            &["--pe", "16x16", "--shape", "5x5x0"],
            "field `--shape`: `5x5x0`: N must be at least 1",
        ),
        (
            &["--pe", "16x16", "--shape", "5x5"],
            "field `--shape`: `5x5`: not of the form MxKxN",
        ),
        (
            &["--pe", "16x16", "--shape", "5xfivex5"],
            "field `--shape`: `5xfivex5`: K `five` is not a number",
        ),
        (
            &["--pe", "16x16", "--shape", "-5x5x5"],
            "M `-5` is not a number",
        ),
        (
            &["--pe", "16x16", "--shape", "70000x5x5"],
            "M = 70000 is more than 65535",
        ),
        (
            &["--pe", "16x16", "--model", "no_such_model.safetensors"],
            "field `--model`: `no_such_model.safetensors`: no such file",
        ),
        (&["--pe", "16x16", "--model", garbage], garbage),
        (
            &["--pe", "16x16", "--clock-mhz", "0"],
            "field `--clock-mhz`: `0` MHz is not a clock between 1 and 1000 MHz",
        ),
        (
            &["--pe", "16x16", "--clock-mhz", "-200"],
            "field `--clock-mhz`: `-200` MHz is not a clock",
        ),
        (
            &["--pe", "16x16", "--clock-mhz", "fast"],
            "invalid value 'fast' for '--clock-mhz <F>'",
        ),
        (
            &["--pe", "16x16", "--requant-lanes", "3"],
            "field `--requant-lanes`: 3 lanes do not divide the 16 columns",
        ),
        (
            &["--pe", "16x16", "--m-tile", "1"],
            "field `--m-tile`: 1 rows is not between",
        ),
        (
            &["--pe", "16x16", "--wbits", "5"],
            "field `--wbits`: 5 bits is not a supported code width",
        ),
        (
            &["--pe", "16x16", "--shape", "4x4x4", "--model", "demo"],
            "cannot be used with",
        ),
        (
            &["--shape", "4x4x4"],
            "the following required arguments were not provided",
        ),
    ];
    for (args, text) in cases {
        let o = repq_hw(args);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(
            !o.status.success() && o.status.code().is_some(),
            "perf {args:?} exited with {}",
            o.status
        );
        assert!(
            stderr.contains(text),
            "perf {args:?}: stderr does not contain {text:?}:\n{stderr}"
        );
        assert!(o.stdout.is_empty(), "perf {args:?} printed to stdout");
    }
}

/// The engine section: the demo on 8x8 at read latency 8 is the count Verilator measures for
/// image 1 on the stall-free memory (tests/vit_e2e.rs runs that comparison).
#[test]
fn engine_figures_of_the_demo_are_the_stall_free_count() {
    let out = ok(&["--pe", "8x8", "--model", "demo", "--mem-latency", "8"]);
    assert!(out.contains("engine total 3105011 cycles"), "{out}");
    assert!(out.contains("25004 commands"), "{out}");
    assert!(out.contains("1.60 GB/s each way"), "{out}");
    for step in [
        "embed.pos ",
        "patch_embed ",
        "blocks.0.attn ",
        "blocks 1 .. 5 ",
        "head ",
    ] {
        assert!(out.lines().any(|l| l.starts_with(step)), "{step}: {out}");
    }
    let shares = out
        .lines()
        .find(|l| l.starts_with("where the time goes (engine): "))
        .unwrap_or_else(|| panic!("{out}"));
    let sum: f64 = shares
        .split('%')
        .filter_map(|p| p.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()))
        .sum();
    assert!((sum - 100.0).abs() < 0.3, "{shares}");
    assert!(out.contains("8.58 MB read"), "{out}");
}

#[test]
fn engine_figures_of_deit_s_and_designs_without_the_engine() {
    let out = ok(&["--pe", "16x16", "--model", "deit-s"]);
    assert!(out.contains("model deit-s"), "{out}");
    assert!(out.contains("blocks 1 .. 11 "), "{out}");
    assert!(out.contains("engine total 131919705 cycles"), "{out}");
    let out = ok(&["--pe", "4x4", "--model", "demo"]);
    assert!(out.contains("not generated for this design"), "{out}");
}
