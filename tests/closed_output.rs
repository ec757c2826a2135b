//! A closed stdout or stderr never panics (issue 10, item 1: `repq-hw info | true` used to end
//! with "failed printing to stdout: Broken pipe" and exit status 101, the status of a panic).
//!
//! Every subcommand runs through the real binary with stdout connected to a pipe whose reader is
//! already closed (every write fails with EPIPE, as under `| head -1` or `| true`), and again with
//! stderr so connected. A closed stdout ends the command quietly with status 141 (128 + SIGPIPE,
//! `repq_hw::cli::output`); a closed stderr changes nothing but the lost messages.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_repq-hw");

/// The status of a Rust panic.
const PANIC: i32 = 101;

/// Which stream gets the closed pipe.
#[derive(Clone, Copy, Debug)]
enum Closed {
    Stdout,
    Stderr,
}

/// A pipe whose reader is closed: every write to its writer fails with EPIPE.
fn closed_pipe() -> Stdio {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    Stdio::from(writer)
}

/// Runs the binary with one stream closed; the other is captured.
fn run(args: &[&str], closed: Closed) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args).stdin(Stdio::null());
    match closed {
        Closed::Stdout => cmd.stdout(closed_pipe()).stderr(Stdio::piped()),
        Closed::Stderr => cmd.stdout(Stdio::piped()).stderr(closed_pipe()),
    };
    cmd.output().expect("run repq-hw")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn scratch(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("closed_output")
        .join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/preprocess")
        .join(name)
        .to_str()
        .unwrap()
        .to_string()
}

/// A command that prints its result on stdout: with stdout closed it stops quietly with 141
/// (no panic, no error message); with stderr closed it succeeds and prints its result.
/// Returns the stdout of the run with stderr closed.
fn check_prints(args: &[&str]) -> String {
    let o = run(args, Closed::Stdout);
    let err = text(&o.stderr);
    assert!(!err.contains("panicked"), "{args:?}, stdout closed:\n{err}");
    assert_eq!(
        o.status.code(),
        Some(141),
        "{args:?}, stdout closed: expected the quiet SIGPIPE-like status 141:\n{err}"
    );
    assert!(
        !err.contains("error:"),
        "{args:?}, stdout closed: a closed stdout is not an error to report:\n{err}"
    );
    let o = run(args, Closed::Stderr);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{args:?}, stderr closed:\n{}",
        text(&o.stdout)
    );
    let out = text(&o.stdout);
    assert!(!out.is_empty(), "{args:?}, stderr closed: no output");
    out
}

/// A command that fails: with either stream closed it exits 1 (its error status), never 101.
fn check_fails(args: &[&str]) {
    for closed in [Closed::Stdout, Closed::Stderr] {
        let o = run(args, closed);
        let err = text(&o.stderr);
        assert!(
            !err.contains("panicked"),
            "{args:?}, {closed:?} closed:\n{err}"
        );
        assert_eq!(
            o.status.code(),
            Some(1),
            "{args:?}, {closed:?} closed:\n{err}"
        );
        if let Closed::Stdout = closed {
            assert!(err.contains("error: "), "{args:?}: {err}");
        }
    }
}

#[test]
fn info_perf_gen_golden_predict_survive_a_closed_stream() {
    let dir = scratch("cheap");
    let info = check_prints(&["info"]);
    assert!(info.contains("parameters   681802"), "{info}");
    check_prints(&["perf", "--pe", "4x4", "--shape", "64x64x64"]);
    check_prints(&["perf", "--pe", "16x16"]);

    let rtl = dir.join("rtl");
    let rtl = rtl.to_str().unwrap();
    check_prints(&[
        "gen", "--pe", "2x2", "--wbits", "4", "--abits", "4", "--out", rtl,
    ]);
    // The files come before the summary: the directory is complete.
    assert!(Path::new(rtl).join("files.f").is_file());

    let golden = dir.join("golden");
    let golden = golden.to_str().unwrap();
    let random = [
        "golden", "--random", "--seed", "3", "--shape", "3x4x2", "--out", golden,
    ];
    check_prints(&random);
    check_prints(&["golden", "--check", golden]);

    let logits = dir.join("logits.npy");
    let image = fixture("a_landscape.jpg");
    let args = ["predict", &image, "--logits", logits.to_str().unwrap()];
    let out = check_prints(&args);
    assert!(out.contains("a_landscape.jpg"), "{out}");
    // The logits file is written before the first line is printed.
    std::fs::remove_file(&logits).unwrap();
    let o = run(&args, Closed::Stdout);
    assert_eq!(o.status.code(), Some(141));
    assert!(logits.is_file(), "predict --logits with stdout closed");

    // Errors with a stream closed: the message is lost at worst, the status stays 1.
    check_fails(&["info", "/nonexistent/model.safetensors"]);
    check_fails(&["verify", "--rtl", "/nonexistent", "--golden", golden]);
    check_fails(&["perf", "--pe", "4x4", "--shape", "0x1"]);
}

/// The model-mode commands that take seconds: eval, quantize (calibration notes on stderr, a
/// result line on stdout), golden through the embedded model.
#[test]
fn eval_quantize_golden_model_survive_a_closed_stream() {
    let dir = scratch("model");
    check_prints(&["eval"]);
    let q = dir.join("q.safetensors");
    let q = q.to_str().unwrap();
    check_prints(&["quantize", "--wbits", "4", "--abits", "4", "--out", q]);
    assert!(Path::new(q).is_file());
    let golden = dir.join("golden");
    check_prints(&["golden", "--model", q, "--out", golden.to_str().unwrap()]);
    let program = dir.join("program");
    check_prints(&["program", "--model", q, "--out", program.to_str().unwrap()]);
    assert!(program.join("program.bin").is_file());
}

/// clap's own output (help, version, usage errors) with a stream closed.
#[test]
fn help_and_usage_errors_survive_a_closed_stream() {
    for args in [&["--help"][..], &["--version"], &["gen", "--help"]] {
        for closed in [Closed::Stdout, Closed::Stderr] {
            let o = run(args, closed);
            let err = text(&o.stderr);
            assert!(!err.contains("panicked"), "{args:?} {closed:?}:\n{err}");
            assert_ne!(o.status.code(), Some(PANIC), "{args:?} {closed:?}");
        }
    }
    for closed in [Closed::Stdout, Closed::Stderr] {
        let o = run(&["gen", "--no-such-option"], closed);
        assert_eq!(o.status.code(), Some(2), "{closed:?}: clap's usage status");
    }
}

/// `info` ends its output with a newline (a shell prompt after it starts on its own line).
#[test]
fn info_ends_with_a_newline() {
    let o = Command::new(BIN).arg("info").output().unwrap();
    assert!(o.status.success());
    let out = text(&o.stdout);
    assert!(out.ends_with('\n'), "{out:?}");
    assert!(!out.ends_with("\n\n"), "{out:?}");
}

/// Descriptors closed outright (`>&-`, `2>&-`) rather than pipes without a reader: the standard
/// library opens /dev/null in their place, so the commands run as with output discarded.
#[test]
fn closed_descriptors_behave_like_dev_null() {
    let dir = scratch("descriptors");
    let rtl = dir.join("rtl");
    for (redirect, args) in [
        (">&-", vec!["info"]),
        ("2>&-", vec!["info"]),
        (">&- 2>&-", vec!["info"]),
        (
            ">&- 2>&-",
            vec!["gen", "--pe", "2x2", "--out", rtl.to_str().unwrap()],
        ),
        (">&- 2>&-", vec!["info", "/nonexistent/model.safetensors"]),
    ] {
        let o = Command::new("sh")
            .arg("-c")
            .arg(format!("\"$0\" \"$@\" {redirect}"))
            .arg(BIN)
            .args(&args)
            .output()
            .expect("run sh");
        let want = if args.contains(&"/nonexistent/model.safetensors") {
            1
        } else {
            0
        };
        assert_eq!(
            o.status.code(),
            Some(want),
            "{args:?} {redirect}:\n{}",
            text(&o.stderr)
        );
        assert!(!text(&o.stderr).contains("panicked"), "{args:?} {redirect}");
    }
    assert!(rtl.join("files.f").is_file());
}
