//! `repq-hw report` through the binary on the embedded model: a W4A4 artifact of `repq-hw
//! quantize` with the design `repq-hw gen --model` makes for it. The page has every section and
//! every figure as inline SVG with data in each series, it is self-contained, and its numbers
//! agree with the commands that compute them on their own (`eval`, `eval --integer`, `perf`) and
//! with what the figures are for (the reparameterization narrows the channel ranges, log-sqrt2
//! beats log2 on the post-Softmax values). Bad input is a one-line error with a non-zero exit and
//! leaves no report.

use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_repq-hw");

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn ok(args: &[&str]) -> String {
    let o = run(args);
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// The text between `start` and the next `end` after it.
fn between<'a>(s: &'a str, start: &str, end: &str) -> &'a str {
    let a = s.find(start).unwrap_or_else(|| panic!("no {start}")) + start.len();
    let b = s[a..]
        .find(end)
        .unwrap_or_else(|| panic!("no {end} after {start}"))
        + a;
    &s[a..b]
}

/// The cells of every row of the first table after `anchor`, header row dropped.
fn table_rows(html: &str, anchor: &str) -> Vec<Vec<String>> {
    let table = between(&html[html.find(anchor).unwrap()..], "<table>", "</table>");
    table
        .split("</tr>")
        .skip(1)
        .filter(|r| r.contains("<td"))
        .map(|r| {
            r.split("<td")
                .skip(1)
                .map(|c| {
                    let c = &c[c.find('>').unwrap() + 1..];
                    c[..c.find("</td>").unwrap()].to_string()
                })
                .collect()
        })
        .collect()
}

/// `top-1 X%  top-5 Y%` of the line of `eval` output that ends with `(kind)`.
fn eval_line(out: &str, kind: &str) -> (String, String) {
    let line = out
        .lines()
        .find(|l| l.ends_with(&format!("({kind})")))
        .unwrap_or_else(|| panic!("no {kind} in {out}"));
    let top1 = between(line, "top-1 ", "%").to_string();
    let top5 = between(line, "top-5 ", "%").to_string();
    (top1, top5)
}

fn count(s: &str, what: &str) -> usize {
    s.matches(what).count()
}

#[test]
fn w4a4_artifact_report_has_every_section_and_agrees_with_the_tools() {
    let tmp = tempfile::tempdir().unwrap();
    let q = tmp.path().join("q.safetensors");
    let rtl = tmp.path().join("rtl");
    let out = tmp.path().join("report");
    ok(&["quantize", "--wbits", "4", "--abits", "4", "--out", p(&q)]);
    ok(&[
        "gen",
        "--pe",
        "8x8",
        "--wbits",
        "4",
        "--abits",
        "4",
        "--model",
        p(&q),
        "--out",
        p(&rtl),
    ]);
    let said = ok(&[
        "report",
        "--model",
        p(&q),
        "--rtl",
        p(&rtl),
        "--out",
        p(&out),
    ]);
    let page = out.join("report.html");
    assert!(said.contains(p(&page)), "{said}");
    let html = std::fs::read_to_string(&page).unwrap();
    let names: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["report.html"], "no temporary file is left");

    // Self-contained: no script, stylesheet, image or font fetched; SVG's namespace only.
    for bad in ["<script", "<link", "<img", "@import", "url(", "@font-face"] {
        assert!(!html.contains(bad), "{bad}");
    }
    assert_eq!(
        count(&html, "http"),
        count(&html, "xmlns=\"http://www.w3.org/2000/svg\""),
        "the only address is SVG's namespace"
    );

    // Every section once, each with its figure as inline SVG.
    for id in ["accuracy", "layernorm", "softmax", "sqnr", "hardware"] {
        assert_eq!(count(&html, &format!("<section id=\"{id}\">")), 1, "{id}");
    }
    let fig = |id: &str| between(&html, &format!("<figure id=\"fig-{id}\">"), "<figcaption>");
    for id in ["layernorm", "softmax", "sqnr", "hardware"] {
        let f = fig(id);
        assert!(
            f.trim_start().starts_with("<svg") && f.trim_end().ends_with("</svg>"),
            "{id}"
        );
    }
    assert_eq!(count(&html, "<svg"), 4);

    // No empty series. Fig. 2: 12 LayerNorms (6 blocks x norm1, norm2) x 96 channels, a range
    // bar before (blue) and after (orange) each.
    let f = fig("layernorm");
    assert!(
        count(f, "stroke=\"#1F77B4\" stroke-width=\"3\"") >= 12 * 96,
        "before bars"
    );
    assert!(
        count(f, "stroke=\"#FF7F0E\" stroke-width=\"3\"") >= 12 * 96,
        "after bars"
    );
    // Fig. 3: histogram bars, and both quantizers' levels.
    let f = fig("softmax");
    assert!(count(f, "fill=\"#787878\"") >= 10, "histogram bars");
    assert!(
        count(f, "stroke=\"#2CA02C\" stroke-width=\"2\"") >= 8,
        "log-sqrt2 levels"
    );
    assert!(
        count(f, "stroke=\"#D62728\" stroke-width=\"2\"") >= 8,
        "log2 levels"
    );
    // SQNR: a point of each series at each of the 51 points, but for the integer model against
    // the fake-quant one at the image, where the two are equal (an infinite SQNR is not drawn).
    let f = fig("sqnr");
    for (color, points) in [("#1F77B4", 51), ("#FF7F0E", 51), ("#2CA02C", 50)] {
        assert_eq!(
            count(f, &format!("fill=\"{color}\" stroke=\"none\"")),
            points,
            "{color}"
        );
    }

    // Accuracy: the same numbers as `eval` and `eval --integer`.
    let acc = table_rows(&html, "<section id=\"accuracy\">");
    assert_eq!(acc.len(), 3);
    let f32_eval = eval_line(&ok(&["eval"]), "f32");
    let q_eval = ok(&["eval", "--model", p(&q), "--integer"]);
    let want = [
        ("f32", f32_eval),
        ("W4A4 fake-quant", eval_line(&q_eval, "W4A4 fake-quant")),
        (
            "W4A4 integer, s32 accumulators",
            eval_line(&q_eval, "W4A4 integer, s32 accumulators"),
        ),
    ];
    for (row, (kind, (top1, top5))) in acc.iter().zip(want) {
        assert_eq!(row[..4], [kind.to_string(), top1, top5, "360".into()]);
    }

    // Fig. 2's table: the reparameterization narrows the spread of channel widths everywhere.
    let ln = table_rows(&html, "<section id=\"layernorm\">");
    assert_eq!(ln.len(), 12);
    for row in &ln {
        let before: f64 = row[8].parse().unwrap();
        let after: f64 = row[9].parse().unwrap();
        assert!(after < before && after >= 1.0, "{row:?}");
    }

    // Fig. 3's table: the paper's case for log-sqrt2 holds on these values.
    let sm = table_rows(&html, "<section id=\"softmax\">");
    let db = |r: &Vec<String>| r[3].parse::<f64>().unwrap();
    assert_eq!(
        (sm[0][0].as_str(), sm[1][0].as_str()),
        ("log-sqrt2", "log2")
    );
    assert!(db(&sm[0]) > db(&sm[1]) && db(&sm[1]) > 0.0, "{sm:?}");

    // SQNR: every quantized activation and the logits, finite and plausible for W4A4; the 8-bit
    // image the same in both models; the integer model within 1.5 dB of the fake-quant one.
    let sq = table_rows(&html, "<section id=\"sqnr\">");
    assert_eq!(sq.len(), 1 + 6 * 8 + 1 + 1);
    assert_eq!(sq[0][1], "patch_embed.proj.input");
    assert_eq!(sq[50][1], "logits");
    for row in &sq {
        let fq: f64 = row[4].parse().unwrap();
        let int: f64 = row[5].parse().unwrap();
        assert!(
            (5.0..70.0).contains(&fq) && (5.0..70.0).contains(&int),
            "{row:?}"
        );
        assert!((fq - int).abs() < 1.5, "{row:?}");
    }
    assert_eq!(sq[0][4], sq[0][5]);
    assert_eq!(sq[0][6], "inf (exact)");

    // Hardware: the cycle model's total, as `repq-hw perf` gives it for the same array.
    let hw = table_rows(&html, "<section id=\"hardware\">");
    let perf = ok(&[
        "perf",
        "--pe",
        "8x8",
        "--wbits",
        "4",
        "--abits",
        "4",
        "--model",
        p(&q),
    ]);
    let total: u64 = between(&perf, "total        ", " cycles").parse().unwrap();
    let sum: u64 = hw.iter().map(|r| r[6].parse::<u64>().unwrap()).sum();
    assert_eq!(sum, total);
    assert!(html.contains(&format!("Total {total} cycles")));
    assert_eq!(
        hw.len(),
        // Besides the blocks: patch_embed, the final norm and the head.
        perf.lines().filter(|l| l.starts_with("blocks.")).count() + 3
    );
}

#[test]
fn without_model_the_embedded_model_is_quantized_at_the_given_widths() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("r");
    ok(&[
        "report",
        "--wbits",
        "6",
        "--abits",
        "6",
        "--sqnr-images",
        "8",
        "--out",
        p(&out),
    ]);
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("<h1>repq-hw report: deit-digits, W6A6</h1>"));
    assert!(html.contains("quantized now (no --model)"));
    assert_eq!(count(&html, "<svg"), 3, "no design, no hardware figure");
    assert!(html.contains("No design given: run with <code>--rtl DIR</code>"));
    assert!(html.contains("over the first 8 held-out images"));
    let acc = table_rows(&html, "<section id=\"accuracy\">");
    assert_eq!(acc[2][0], "W6A6 integer, s32 accumulators");
}

/// An artifact of a checkpoint file (not the embedded model) needs its calibration and held-out
/// images named, and then reports as `eval --data` does.
#[test]
fn an_artifact_of_a_checkpoint_file_with_image_folders() {
    let tmp = tempfile::tempdir().unwrap();
    let model = repq_hw::demo::model().unwrap();
    let ckpt = tmp.path().join("digits.safetensors");
    std::fs::write(
        &ckpt,
        repq_hw::model::checkpoint::to_safetensors(model.vit().unwrap()).unwrap(),
    )
    .unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::copy(
        root.join("assets/demo/deit_digits.toml"),
        tmp.path().join("digits.toml"),
    )
    .unwrap();
    let data = root.join("tests/fixtures/checkpoints/digits_jpeg");
    let q = tmp.path().join("q.safetensors");
    let out = tmp.path().join("r");
    let (c, d) = (p(&ckpt), p(&data));
    ok(&[
        "quantize",
        "--model",
        c,
        "--calib",
        d,
        "--calib-count",
        "16",
        "--seed",
        "3",
        "--wbits",
        "4",
        "--abits",
        "4",
        "--out",
        p(&q),
    ]);
    let e = run(&["report", "--model", p(&q), "--data", d, "--out", p(&out)]);
    let err = String::from_utf8(e.stderr).unwrap();
    assert!(
        !e.status.success() && err.contains("give --calib DIR"),
        "{err}"
    );
    let e = run(&["report", "--model", p(&q), "--calib", d, "--out", p(&out)]);
    let err = String::from_utf8(e.stderr).unwrap();
    assert!(
        !e.status.success() && err.contains("give --data DIR"),
        "{err}"
    );
    assert!(!out.exists());

    ok(&[
        "report",
        "--model",
        p(&q),
        "--calib",
        d,
        "--data",
        d,
        "--sqnr-images",
        "16",
        "--out",
        p(&out),
    ]);
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    // The artifact's own choice of 16 calibration images (seed 3).
    assert!(
        html.contains("digits_jpeg, seed 3 (16 images)"),
        "calibration set"
    );
    let acc = table_rows(&html, "<section id=\"accuracy\">");
    let f32_eval = eval_line(&ok(&["eval", "--model", c, "--data", d]), "f32");
    let q_eval = ok(&["eval", "--model", p(&q), "--data", d, "--integer"]);
    let want = [
        f32_eval,
        eval_line(&q_eval, "W4A4 fake-quant"),
        eval_line(&q_eval, "W4A4 integer, s32 accumulators"),
    ];
    for (row, (top1, top5)) in acc.iter().zip(want) {
        assert_eq!(row[1..4], [top1, top5, "360".into()], "{row:?}");
    }
}

#[test]
fn bad_input_is_one_line_naming_the_file_and_leaves_no_report() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("report");
    std::fs::create_dir(&out).unwrap();
    let page = out.join("report.html");
    std::fs::write(&page, "an earlier report").unwrap();
    let fails = |args: &[&str], names: &str, says: &str| {
        let o = run(args);
        let err = String::from_utf8(o.stderr).unwrap();
        assert!(!o.status.success(), "{args:?}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.starts_with("error: ") && err.contains(names) && err.contains(says),
            "{err}"
        );
        assert_eq!(std::fs::read_to_string(&page).unwrap(), "an earlier report");
        assert_eq!(
            std::fs::read_dir(&out).unwrap().count(),
            1,
            "no temporary file"
        );
    };
    let missing = tmp.path().join("missing.safetensors");
    fails(
        &["report", "--model", p(&missing), "--out", p(&out)],
        p(&missing),
        "no such file (give a quantized artifact",
    );
    let garbage = tmp.path().join("garbage.safetensors");
    std::fs::write(&garbage, b"not a model").unwrap();
    fails(
        &["report", "--model", p(&garbage), "--out", p(&out)],
        p(&garbage),
        "(give a quantized artifact",
    );
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    fails(
        &["report", "--rtl", p(&empty), "--out", p(&out)],
        p(&empty),
        "no repq_params.json; run `repq-hw gen`",
    );
    // The committed design is w8a8; a W4A4 model needs its own.
    let committed = Path::new(env!("CARGO_MANIFEST_DIR")).join("rtl");
    fails(
        &[
            "report",
            "--wbits",
            "4",
            "--abits",
            "4",
            "--rtl",
            p(&committed),
            "--out",
            p(&out),
        ],
        p(&committed),
        "give the RTL `repq-hw gen --wbits 4 --abits 4`",
    );
    fails(
        &["report", "--block", "6", "--out", p(&out)],
        "--block",
        "the model has blocks 0 to 5",
    );
}
