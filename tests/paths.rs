//! Paths with spaces and non-ASCII characters, and where `verify` builds (issue 10, items 2
//! and 5).
//!
//! * `flow_commands_take_paths_with_spaces_and_non_ascii`: quantize, eval, predict, golden and gen
//!   with every input and output path under a directory named with a space and non-ASCII letters.
//! * `verify_paths_and_one_build_per_rtl_directory`: `verify` with RTL, golden vectors, report
//!   and build directory so named (it used to fail with "repq_params.h: No such file or
//!   directory": the include path went through Verilator's makefile, and GNU Make cannot build in
//!   a directory with a space). Two RTL directories verified in turn with the default build
//!   directory each keep their own build: the second round compiles nothing (it used to start
//!   over at every switch, minutes per build). Skipped with a notice without Verilator.

mod rtl_common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::SystemTime;

use image::{GrayImage, ImageFormat};
use safetensors::SafeTensors;

const BIN: &str = env!("CARGO_BIN_EXE_repq-hw");

/// A scratch directory whose name holds spaces and non-ASCII letters.
fn scratch(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("paths")
        .join(format!("{name} mit Leerzeichen ü é ß"));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Runs the binary with `XDG_CACHE_HOME` set to `cache` (the default verify build directories).
fn repq(args: &[&str], cache: &Path) -> Output {
    Command::new(BIN)
        .args(args)
        .env("XDG_CACHE_HOME", cache)
        .output()
        .unwrap()
}

/// Runs the binary, asserting success; returns stdout + stderr.
fn repq_ok(args: &[&str], cache: &Path) -> String {
    let o = repq(args, cache);
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    );
    assert!(o.status.success(), "repq-hw {args:?} failed:\n{out}\n{err}");
    out + &err
}

/// The first `n` digits of the embedded test split as an ImageFolder `dir/<label>/<i>.png`.
fn write_digits(dir: &Path, n: usize) -> Vec<PathBuf> {
    let bytes = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo/digits_test.safetensors"),
    )
    .unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let images = st.tensor("images").unwrap().data();
    let labels = st.tensor("labels").unwrap().data();
    let mut files = Vec::new();
    for i in 0..n {
        let class = dir.join(format!("{} ziffer", labels[i]));
        std::fs::create_dir_all(&class).unwrap();
        let p = class.join(format!("bild {i:03} ä.png"));
        GrayImage::from_raw(8, 8, images[i * 64..(i + 1) * 64].to_vec())
            .unwrap()
            .save_with_format(&p, ImageFormat::Png)
            .unwrap();
        files.push(p);
    }
    files
}

#[test]
fn flow_commands_take_paths_with_spaces_and_non_ascii() {
    let root = scratch("flow");
    let cache = root.join("cache");
    let data = root.join("daten ö");
    let _ = std::fs::remove_dir_all(&data);
    // All ten classes occur in the first 60 digits (ImageFolder classes are the folder names).
    let images = write_digits(&data, 60);

    let q = root.join("quantisiert ü.safetensors");
    let out = repq_ok(
        &[
            "quantize",
            "--wbits",
            "8",
            "--abits",
            "8",
            "--calib",
            s(&data),
            "--calib-count",
            "8",
            "--data",
            s(&data),
            "--out",
            s(&q),
        ],
        &cache,
    );
    assert!(out.contains("60 images"), "{out}");
    assert!(q.is_file());
    let out = repq_ok(
        &["eval", "--model", s(&q), "--data", s(&data), "--integer"],
        &cache,
    );
    assert!(out.contains("60 images") && out.contains("top-1"), "{out}");

    let logits = root.join("logits ä.npy");
    let out = repq_ok(
        &[
            "predict",
            "--model",
            s(&q),
            "--logits",
            s(&logits),
            s(&images[0]),
        ],
        &cache,
    );
    assert!(out.contains("bild 000 ä.png"), "{out}");
    assert!(logits.is_file());

    let golden = root.join("golden ü");
    let out = repq_ok(
        &[
            "golden",
            "--model",
            s(&q),
            "--image",
            s(&images[1]),
            "--out",
            s(&golden),
        ],
        &cache,
    );
    assert!(out.contains(s(&golden)), "{out}");
    repq_ok(&["golden", "--check", s(&golden)], &cache);

    let rtl = root.join("mein rtl é");
    let out = repq_ok(
        &["gen", "--pe", "4x4", "--model", s(&q), "--out", s(&rtl)],
        &cache,
    );
    assert!(out.contains(s(&rtl)), "{out}");
    assert!(rtl.join("files.f").is_file() && rtl.join("repq_params.h").is_file());
}

/// The build directory `verify` names in its log ("Verilator harnesses ... in DIR").
fn build_dir_of(log: &str) -> PathBuf {
    let line = log
        .lines()
        .find(|l| l.starts_with("Verilator harnesses "))
        .unwrap_or_else(|| panic!("no build directory in:\n{log}"));
    PathBuf::from(line.split_once(" in ").unwrap().1)
}

/// Modification time of every harness executable under `dir`.
fn executables(dir: &Path) -> BTreeMap<PathBuf, SystemTime> {
    let mut found = BTreeMap::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let exe = e.unwrap().path().join("obj").join("harness");
        if let Ok(m) = std::fs::metadata(&exe) {
            found.insert(exe, m.modified().unwrap());
        }
    }
    found
}

#[test]
fn verify_paths_and_one_build_per_rtl_directory() {
    if !rtl_common::have("verilator") {
        return;
    }
    let root = scratch("verify");
    // The cache itself must be Make-safe: derived build directories go there.
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("paths-cache");
    let gen_args = [
        "gen",
        "--pe",
        "2x2",
        "--wbits",
        "4",
        "--abits",
        "4",
        "--acc-bits",
        "20",
        "--m-tile",
        "4",
    ];
    let rtl_a = root.join("my rtl ä");
    let rtl_b = root.join("zweites rtl ö");
    for (rtl, clock) in [(&rtl_a, "200"), (&rtl_b, "100")] {
        let mut args = gen_args.to_vec();
        args.extend(["--clock-mhz", clock, "--out", s(rtl)]);
        repq_ok(&args, &cache);
    }
    let golden = root.join("golden vectors ü");
    repq_ok(
        &[
            "golden",
            "--random",
            "--seed",
            "7",
            "--shape",
            "5x3x3",
            "--wbits",
            "4",
            "--abits",
            "4",
            "--acc-bits",
            "20",
            "--out",
            s(&golden),
        ],
        &cache,
    );
    let report = root.join("bericht é.md");
    let verify = |rtl: &Path, build: Option<&Path>| {
        let mut args = vec![
            "verify",
            "--rtl",
            s(rtl),
            "--golden",
            s(&golden),
            "--seeds",
            "1",
            "--report",
            s(&report),
        ];
        if let Some(b) = build {
            args.extend(["--build", s(b)]);
        }
        let log = repq_ok(&args, &cache);
        assert!(
            log.contains("15 of 15 cases bit-exact, 0 failed, 0 not runnable"),
            "{rtl:?}:\n{log}"
        );
        assert!(
            std::fs::read_to_string(&report)
                .unwrap()
                .contains("bit-exact")
        );
        log
    };

    // Round 1: each RTL directory gets its own default build directory in the cache.
    let log_a = verify(&rtl_a, None);
    let log_b = verify(&rtl_b, None);
    let (dir_a, dir_b) = (build_dir_of(&log_a), build_dir_of(&log_b));
    assert_ne!(dir_a, dir_b, "two RTL directories share a build");
    for d in [&dir_a, &dir_b] {
        assert!(d.starts_with(cache.join("repq-hw/verify")), "{d:?}");
    }
    let exes = [executables(&dir_a), executables(&dir_b)];
    // One per harness: top, logcode, shift_av, av_requant, gelu, residual, layernorm, softmax,
    // layernorm_resid (U5r), avgpool.
    assert_eq!(exes[0].len(), 10, "{:?}", exes[0]);
    assert_eq!(exes[1].len(), 10, "{:?}", exes[1]);

    // Round 2, alternating again: nothing is compiled, no executable is rewritten.
    for (rtl, dir, before) in [(&rtl_a, &dir_a, &exes[0]), (&rtl_b, &dir_b, &exes[1])] {
        let log = verify(rtl, None);
        assert_eq!(&build_dir_of(&log), dir);
        assert!(
            log.contains("(build ") && log.contains(": 0 compiled, 10 up to date;"),
            "{rtl:?} was rebuilt:\n{log}"
        );
        assert_eq!(&executables(dir), before, "{rtl:?}: executables rewritten");
    }

    // An explicit build directory with a space and non-ASCII letters: built in a Make-safe
    // directory derived from it.
    let build = root.join("bau verzeichnis ß");
    let log = verify(&rtl_a, Some(&build));
    let dir = build_dir_of(&log);
    assert!(dir.starts_with(cache.join("repq-hw/verify")), "{dir:?}");
    assert_ne!(dir, dir_a);
    assert!(
        log.contains("holds characters GNU Make cannot build in"),
        "{log}"
    );
    let log = verify(&rtl_a, Some(&build));
    assert!(log.contains(": 0 compiled, 10 up to date;"), "{log}");
}
