//! Golden vectors (docs/golden-vectors.md): the demo model's vectors for one image read back
//! through the nom parser equal the integer simulator's capture exactly; re-runs are byte for byte
//! identical; random-mode vectors equal the reference units; every bad input (bad digit, wrong
//! element count, wrong width, unknown manifest version, a directory not written by golden, an
//! image the transform cannot handle, a bad --shape) is a clear error and leaves nothing behind.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

use image::{GrayImage, ImageFormat};
use repq_hw::arith::gelu::GeluSteps;
use repq_hw::arith::{LogCode, LogCodeParams, Requant, attention_value, matmul_acc, residual_add};
use repq_hw::data::EvalTransform;
use repq_hw::demo;
use repq_hw::golden::export::export_image;
use repq_hw::golden::{GoldenDir, GoldenFile, Kind, manifest_header, unsigned, write_dir};
use repq_hw::intsim::{CaptureAll, IntModel};
use repq_hw::model::{Model, Preprocess, VisionTransformer, VitConfig};
use repq_hw::quant::calibrate::calibrate;
use repq_hw::quant::config::QuantConfig;
use repq_hw::quant::model::{CalibrationInfo, QuantizedModel};

const BIN: &str = env!("CARGO_BIN_EXE_repq-hw");

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("run repq-hw")
}

fn ok(args: &[&str]) -> String {
    let o = run(args);
    assert!(
        o.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn fails(args: &[&str]) -> String {
    let o = run(args);
    assert!(!o.status.success(), "{args:?} should fail");
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn quantized(wbits: u32, abits: u32) -> QuantizedModel {
    demo::quantized(QuantConfig::new(wbits, abits).unwrap()).unwrap()
}

/// Every file of a directory (relative path -> bytes).
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        for e in fs::read_dir(dir.join(&rel)).unwrap() {
            let e = e.unwrap();
            let r = rel.join(e.file_name());
            if e.file_type().unwrap().is_dir() {
                stack.push(r);
            } else {
                out.insert(r, fs::read(e.path()).unwrap());
            }
        }
    }
    out
}

/// The siblings of `dir` a write may leave behind (temporary or old directories).
fn leftovers(dir: &Path) -> Vec<String> {
    let name = dir.file_name().unwrap().to_str().unwrap().to_string();
    fs::read_dir(dir.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&format!(".{name}.")))
        .collect()
}

fn to_i128<T: Copy + Into<i64>>(v: &[T]) -> Vec<i128> {
    v.iter().map(|&x| i128::from(x.into())).collect()
}

/// Exports `codes` of `q` into `dir`, reads every file back and checks it against a fresh capture
/// and the integer model's parameters.
fn round_trip(q: &QuantizedModel, int: &IntModel, codes: &[u8], dir: &Path) {
    let t = Instant::now();
    let (files, logits) = export_image(q, int, codes).unwrap();
    write_dir(dir, manifest_header("model", &["test".into()]), &files).unwrap();
    eprintln!(
        "{}: {} files exported in {:.3} s",
        dir.display(),
        files.len(),
        t.elapsed().as_secs_f64()
    );
    let g = GoldenDir::open(dir).unwrap();
    g.verify().unwrap();
    // Every captured tensor, exactly, with the capture's element type.
    let mut cap = CaptureAll::default();
    let again = int.forward_image(codes, &mut cap);
    assert_eq!(again, logits);
    for (name, t) in &cap.tensors {
        let e = g
            .manifest
            .entry(name)
            .unwrap_or_else(|| panic!("{name} missing"));
        assert_eq!(
            (&e.shape, e.bits, e.signed, e.kind.as_str()),
            (&t.shape, t.bits, t.signed, "activation"),
            "{name}"
        );
        assert_eq!(g.read(e).unwrap(), to_i128(&t.data), "{name}");
    }
    // Parameters: the integer model's constants.
    let k = int.patch.in_features;
    let n = int.patch.out_features;
    let w = g.tensor("patch_embed.proj.w").unwrap();
    for o in 0..n {
        for i in 0..k {
            assert_eq!(w[i * n + o], i128::from(int.patch.w[o * k + i]));
        }
    }
    assert_eq!(g.tensor("softmax.exp2").unwrap(), to_i128(&int.exp2));
    assert_eq!(g.tensor("embed.pos").unwrap(), to_i128(&int.pos));
    for (i, b) in int.blocks.iter().enumerate() {
        let t = |s: &str| g.tensor(&format!("blocks.{i}.{s}")).unwrap();
        assert_eq!(t("mlp.gelu"), to_i128(&b.gelu));
        // The step form repq_gelu loads reproduces the table at every index.
        let words = t("mlp.gelu_steps");
        let n = words.len() / 2;
        let st = GeluSteps {
            bits: int.abits,
            base: words[0] as u8,
            up: words[1..=n].iter().map(|&w| w as i16).collect(),
            down: words[n + 1..].iter().map(|&w| w as i16).collect(),
        };
        for (h, &code) in b.gelu.iter().enumerate() {
            assert_eq!(
                st.lookup((h as i32 - 32768) as i16),
                code,
                "block {i}, index {h}"
            );
        }
        assert_eq!(t("attn.qkv.bias"), to_i128(&b.qkv.bias));
        assert_eq!(
            t("mlp.fc1.m0"),
            to_i128(&b.fc1.requant.iter().map(|r| r.m0).collect::<Vec<_>>())
        );
        assert_eq!(
            t("mlp.fc2.shift"),
            to_i128(&b.fc2.requant.iter().map(|r| r.shift).collect::<Vec<_>>())
        );
        assert_eq!(t("attn.logcode.thresholds"), to_i128(&b.logcode.thresholds));
        assert_eq!(t("norm1.g"), to_i128(&b.ln1.g));
        assert_eq!(t("norm2.b"), to_i128(&b.ln2.b));
        assert_eq!(t("norm1.eps_q"), vec![b.ln1.eps_q as i128]);
        assert_eq!(t("attn.av.f"), vec![i128::from(b.av_fraction_bits)]);
        // Derived tensors agree with the captured ones through the reference units: Q K^T from
        // the exported per-head operands equals the captured scores.
        let cfg = &int.config;
        let (h, tk, dh) = (cfg.num_heads, cfg.seq_len(), cfg.head_dim());
        let (qc, kop, kb, sc) = (
            t("attn.q"),
            t("attn.k_operand"),
            t("attn.k_bias"),
            t("attn.scores"),
        );
        for head in 0..h {
            let a: Vec<u8> = qc[head * tk * dh..(head + 1) * tk * dh]
                .iter()
                .map(|&v| v as u8)
                .collect();
            let w: Vec<i32> = kop[head * dh * tk..(head + 1) * dh * tk]
                .iter()
                .map(|&v| v as i32)
                .collect();
            let bias: Vec<i64> = kb[head * tk..(head + 1) * tk]
                .iter()
                .map(|&v| v as i64)
                .collect();
            let acc = matmul_acc(&a, &w, &bias, tk, dh);
            assert_eq!(to_i128(&acc), sc[head * tk * tk..(head + 1) * tk * tk]);
        }
        // A x V from the exported codes and value operands equals the captured av.
        let (codes, vop, av) = (t("attn.codes"), t("attn.v_operand"), t("attn.av"));
        let f = b.av_fraction_bits;
        for head in 0..h {
            for qi in 0..tk {
                let row: Vec<LogCode> = (0..tk)
                    .map(|j| {
                        let c = codes[(head * tk + qi) * tk + j];
                        LogCode {
                            code: c.max(0) as u32,
                            zero: c < 0,
                        }
                    })
                    .collect();
                for c in 0..dh {
                    let v: Vec<i32> = (0..tk)
                        .map(|j| vop[(head * tk + j) * dh + c] as i32)
                        .collect();
                    assert_eq!(
                        i128::from(attention_value(&row, &v, f)),
                        av[(head * tk + qi) * dh + c]
                    );
                }
            }
        }
        // The GELU table indexed by fc1.output gives fc2.input.
        let (hidx, g2) = (t("mlp.fc1.output"), t("mlp.fc2.input"));
        for (x, y) in hidx.iter().zip(&g2) {
            assert_eq!(i128::from(b.gelu[(*x + 32768) as usize]), *y);
        }
    }
}

#[test]
fn demo_image_round_trips_exactly() {
    let q = quantized(8, 8);
    let int = IntModel::lower(&q, 32).unwrap();
    let tf = EvalTransform::new(&q.model.preprocess, q.vit_config().unwrap().img_size).unwrap();
    let split = demo::test_split().unwrap();
    let x = split.batch(7..8, &tf).unwrap();
    let codes = int.quantize_input(&x.data);
    let tmp = tempfile::tempdir().unwrap();
    round_trip(&q, &int, &codes, &tmp.path().join("w8a8"));
    // The residual stream after patch embedding: patch_embed.output + embed.pos = embed.
    let g = GoldenDir::open(&tmp.path().join("w8a8")).unwrap();
    let (pe, pos, embed) = (
        g.tensor("patch_embed.output").unwrap(),
        g.tensor("embed.pos").unwrap(),
        g.tensor("embed").unwrap(),
    );
    let d = int.config.embed_dim;
    for (j, e) in embed.iter().enumerate() {
        let want = if j < d {
            pos[j]
        } else {
            (pos[j] + pe[j - d]).clamp(i32::MIN.into(), i32::MAX.into())
        };
        assert_eq!(*e, want);
    }
    // Scales: the input codes carry the image quantizer, accumulators their per-channel scales.
    let e = g.manifest.entry("input").unwrap();
    assert_eq!(e.scale, Some(int.input_scale));
    assert_eq!(e.zero_point, Some(f64::from(int.input_zero_point)));
    let e = g.manifest.entry("blocks.0.attn.qkv.acc").unwrap();
    assert_eq!(e.channel_scales.as_ref().map(Vec::len), Some(3 * d));
    assert_eq!(
        g.manifest.entry("blocks.0.residual1").unwrap().scale,
        Some(2f64.powi(-16))
    );

    // W4A4: narrower types, same exactness.
    let q4 = quantized(4, 4);
    let int4 = IntModel::lower(&q4, 32).unwrap();
    round_trip(&q4, &int4, &codes, &tmp.path().join("w4a4"));
    let g4 = GoldenDir::open(&tmp.path().join("w4a4")).unwrap();
    let w = g4.manifest.entry("blocks.0.attn.qkv.w").unwrap();
    assert_eq!((w.bits, w.signed, w.digits), (5, true, 2));
    let c = g4.manifest.entry("blocks.0.attn.codes").unwrap();
    assert_eq!((c.bits, c.signed), (5, true));
    let lo = g4.manifest.entry("blocks.0.attn.qkv.lo").unwrap();
    assert_eq!((lo.bits, lo.signed), (4, false));
    let lo = g4.manifest.entry("blocks.0.mlp.fc1.lo").unwrap();
    assert_eq!((lo.bits, lo.signed), (16, true));
    let lo = g4.manifest.entry("blocks.0.mlp.fc2.lo").unwrap();
    assert_eq!((lo.bits, lo.signed), (32, true));
}

/// A distilled model (two heads, two prefix tokens) exercises the head_dist path.
#[test]
fn distilled_random_model_round_trips() {
    let cfg = VitConfig {
        img_size: [16, 16],
        patch_size: [8, 8],
        in_chans: 3,
        embed_dim: 32,
        depth: 1,
        num_heads: 2,
        mlp_hidden: 64,
        num_classes: 5,
        qkv_bias: true,
        distilled: true,
        ln_eps: 1e-6,
    };
    let model = Model {
        name: "tiny-distilled".into(),
        source: PathBuf::from("tiny.safetensors"),
        net: repq_hw::model::Network::Vit(VisionTransformer::random(cfg.clone(), 3)),
        preprocess: Preprocess {
            mean: vec![0.5; 3],
            std: vec![0.5; 3],
            crop_pct: 1.0,
        },
        labels: None,
    };
    let n = 8;
    let per = 3 * 16 * 16;
    let images: Vec<f32> = (0..n * per)
        .map(|i| ((i * 7919 % 1000) as f32 / 500.0) - 1.0)
        .collect();
    let q = calibrate(
        &model,
        &images,
        n,
        QuantConfig::new(8, 8).unwrap(),
        CalibrationInfo {
            source: "synthetic".into(),
            count: n,
            seed: None,
        },
    )
    .unwrap();
    let int = IntModel::lower(&q, 32).unwrap();
    let codes = int.quantize_input(&images[..per]);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("distilled");
    round_trip(&q, &int, &codes, &dir);
    let g = GoldenDir::open(&dir).unwrap();
    let (h0, h1, logits) = (
        g.tensor("head.output").unwrap(),
        g.tensor("head_dist.output").unwrap(),
        g.tensor("logits").unwrap(),
    );
    for ((a, b), l) in h0.iter().zip(&h1).zip(&logits) {
        assert_eq!((a + b + 1) >> 1, *l);
    }
    assert!(g.manifest.entry("head_dist.norm.g").is_some());
}

#[test]
fn cli_export_is_fast_and_byte_identical_on_rerun() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("g");
    let t = Instant::now();
    let log = ok(&["golden", "--index", "5", "--out", p(&out)]);
    let first_secs = t.elapsed().as_secs_f64();
    eprintln!("{log}first export (quantizing on the fly): {first_secs:.2} s");
    assert!(log.contains("written to"), "{log}");
    let a = snapshot(&out);
    let bytes: usize = a.values().map(Vec::len).sum();
    eprintln!("{} files, {bytes} bytes", a.len());
    fs::rename(&out, tmp.path().join("first")).unwrap();
    ok(&["golden", "--index", "5", "--out", p(&out)]);
    // Over the earlier directory, which it replaces.
    ok(&["golden", "--index", "5", "--out", p(&out)]);
    let b = snapshot(&out);
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (k, v) in &a {
        assert!(b[k] == *v, "{} differs between runs", k.display());
    }
    assert!(leftovers(&out).is_empty(), "{:?}", leftovers(&out));
    let manifest = String::from_utf8(a[Path::new("manifest.toml")].clone()).unwrap();
    assert!(manifest.contains(&format!(
        "command = \"repq-hw golden --index 5 --out {}\"",
        out.display()
    )));
    assert!(manifest.contains(&format!(
        "repq_hw_version = \"{}\"",
        env!("CARGO_PKG_VERSION")
    )));
    // A different image differs; --check reads every file back.
    ok(&["golden", "--index", "6", "--out", p(&out)]);
    assert_ne!(
        snapshot(&out)[Path::new("activations/input.hex")],
        a[Path::new("activations/input.hex")]
    );
    let log = ok(&["golden", "--check", p(&out)]);
    assert!(log.contains("every one readable"), "{log}");
}

#[test]
fn cli_artifact_and_image_inputs() {
    let tmp = tempfile::tempdir().unwrap();
    // A W4A4 artifact, exported by path; its widths win and a contradicting --wbits is refused.
    let art = tmp.path().join("w4a4.safetensors");
    ok(&["quantize", "--wbits", "4", "--abits", "4", "--out", p(&art)]);
    let out = tmp.path().join("art");
    let t = Instant::now();
    ok(&[
        "golden",
        "--model",
        p(&art),
        "--index",
        "0",
        "--out",
        p(&out),
    ]);
    eprintln!("artifact export: {:.2} s", t.elapsed().as_secs_f64());
    let g = GoldenDir::open(&out).unwrap();
    let m = g.manifest.model.as_ref().unwrap();
    assert_eq!((m.wbits, m.abits), (4, 4));
    assert_eq!(m.quantized, art.display().to_string());
    // Without --acc-bits, the accumulator width (and so attention x V's F) of the design
    // `gen --model` makes for the same artifact, which then runs the vectors.
    let rtl = tmp.path().join("rtl");
    ok(&["gen", "--pe", "2x2", "--model", p(&art), "--out", p(&rtl)]);
    let params: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(rtl.join("repq_params.json")).unwrap()).unwrap();
    assert_eq!(params["acc_bits"], u64::from(m.acc_bits), "{params}");
    assert!(m.acc_bits < 32, "{}", m.acc_bits);
    let e = fails(&[
        "golden",
        "--model",
        p(&art),
        "--wbits",
        "8",
        "--out",
        p(&tmp.path().join("x")),
    ]);
    assert!(e.contains("--wbits 8") && e.contains("--wbits 4"), "{e}");
    assert!(!tmp.path().join("x").exists());

    // Images of other sizes go through the eval transform (bicubic resize, center crop).
    for (w, h) in [(8u32, 8u32), (1, 1), (30, 20), (5, 64)] {
        let img = tmp.path().join(format!("img{w}x{h}.png"));
        GrayImage::from_fn(w, h, |x, y| image::Luma([((x * 37 + y * 11) % 256) as u8]))
            .save_with_format(&img, ImageFormat::Png)
            .unwrap();
        let out = tmp.path().join(format!("img{w}x{h}"));
        ok(&["golden", "--image", p(&img), "--out", p(&out)]);
        let g = GoldenDir::open(&out).unwrap();
        assert_eq!(
            g.manifest.image.as_ref().unwrap().original_size,
            [w as usize, h as usize]
        );
        assert_eq!(g.tensor("input").unwrap().len(), 3 * 28 * 28);
    }
    // The embedded digit 0 as a PNG gives the same vectors as --index 0 (but for the manifest).
    let split = demo::test_split().unwrap();
    let d0 = split.image(0).unwrap();
    let img = tmp.path().join("digit0.png");
    image::RgbImage::from_raw(8, 8, d0.as_bytes().to_vec())
        .unwrap()
        .save_with_format(&img, ImageFormat::Png)
        .unwrap();
    let (a, b) = (tmp.path().join("by_file"), tmp.path().join("by_index"));
    ok(&["golden", "--image", p(&img), "--out", p(&a)]);
    ok(&["golden", "--index", "0", "--out", p(&b)]);
    let (sa, sb) = (snapshot(&a), snapshot(&b));
    for (k, v) in &sa {
        if k != Path::new("manifest.toml") {
            assert!(sb[k] == *v, "{}", k.display());
        }
    }
}

#[test]
fn random_mode_matches_the_reference_units_and_is_deterministic() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b, c) = (
        tmp.path().join("a"),
        tmp.path().join("b"),
        tmp.path().join("c"),
    );
    let args = |seed: &str, out: &Path| {
        vec![
            "golden".to_string(),
            "--random".into(),
            "--seed".into(),
            seed.into(),
            "--shape".into(),
            "13x70x9".into(),
            "--wbits".into(),
            "4".into(),
            "--abits".into(),
            "4".into(),
            "--out".into(),
            out.display().to_string(),
        ]
    };
    let run_args = |v: Vec<String>| ok(&v.iter().map(String::as_str).collect::<Vec<_>>());
    run_args(args("7", &a));
    run_args(args("7", &b));
    run_args(args("8", &c));
    let (sa, sb, sc) = (snapshot(&a), snapshot(&b), snapshot(&c));
    for (k, v) in &sa {
        if k != Path::new("manifest.toml") {
            assert!(sb[k] == *v, "{} differs for the same seed", k.display());
        }
    }
    assert_ne!(
        sa[Path::new("matmul/matmul.a.hex")],
        sc[Path::new("matmul/matmul.a.hex")]
    );

    let g = GoldenDir::open(&a).unwrap();
    g.verify().unwrap();
    let r = g.manifest.random.as_ref().unwrap();
    // Without --acc-bits: the accumulator width of `repq-hw gen`'s default design at W4A4.
    let gen_default = repq_hw::rtl::config::default_acc_bits(4, 4).unwrap();
    assert_eq!(gen_default, 19);
    assert_eq!(
        (r.shape, r.wbits, r.abits, r.acc_bits),
        ([13, 70, 9], 4, 4, gen_default)
    );
    let t = |s: &str| g.tensor(s).unwrap();
    let (m, k, n) = (13, 70, 9);
    // U1 + U2.
    let a_: Vec<u8> = t("matmul.a").iter().map(|&v| v as u8).collect();
    let w: Vec<i32> = t("matmul.w").iter().map(|&v| v as i32).collect();
    let bias: Vec<i64> = t("matmul.bias").iter().map(|&v| v as i64).collect();
    let acc = matmul_acc(&a_, &w, &bias, m, k);
    assert_eq!(to_i128(&acc), t("matmul.acc"));
    let (m0, sh, zp, lo, hi) = (
        t("matmul.m0"),
        t("matmul.shift"),
        t("matmul.zero_point"),
        t("matmul.lo"),
        t("matmul.hi"),
    );
    let out = t("matmul.out");
    let mut saw = (false, false);
    for (i, &x) in acc.iter().enumerate() {
        let c = i % n;
        let rq = Requant {
            m0: m0[c] as u32,
            shift: sh[c] as u32,
            zero_point: zp[c] as i32,
            lo: lo[c] as i32,
            hi: hi[c] as i32,
        };
        assert_eq!(i128::from(rq.apply(x)), out[i]);
        saw.0 |= out[i] == 0;
        saw.1 |= out[i] == 15;
    }
    assert!(saw.0 && saw.1, "outputs reach both ends of the code range");
    // Some column's accumulator reaches the edge of its width (s19 here).
    assert!(acc.iter().any(|&x| x.abs() > 1 << (gen_default - 2)));
    assert!(acc.iter().all(|&x| x.abs() < 1 << (gen_default - 1)));
    // U3.
    let (c_int, thr, p, code, zero) = (
        t("logcode.c_int"),
        t("logcode.thresholds"),
        t("logcode.p"),
        t("logcode.code"),
        t("logcode.zero"),
    );
    let np = p.len() / c_int.len();
    for s in 0..c_int.len() {
        let params = LogCodeParams {
            bits: 4,
            c_int: c_int[s] as i32,
            thresholds: [
                thr[3 * s] as u32,
                thr[3 * s + 1] as u32,
                thr[3 * s + 2] as u32,
            ],
        };
        assert_eq!(
            params,
            LogCodeParams::from_scale(r.logcode_scales[s], 4),
            "set {s}"
        );
        for j in s * np..(s + 1) * np {
            let want = params.code(p[j] as u32);
            assert_eq!(
                (i128::from(want.code), i128::from(want.zero)),
                (code[j], zero[j])
            );
        }
        let ps = &p[s * np..(s + 1) * np];
        assert!(ps.contains(&0) && ps.contains(&65536));
    }
    // U4.
    let (sc, sz, sv, sf, so) = (
        t("shift_av.code"),
        t("shift_av.zero"),
        t("shift_av.v"),
        t("shift_av.f"),
        t("shift_av.out"),
    );
    assert_eq!(sf, vec![i128::from(r.av_fraction_bits)]);
    for row in 0..m {
        let codes: Vec<LogCode> = (0..k)
            .map(|j| LogCode {
                code: sc[row * k + j] as u32,
                zero: sz[row * k + j] == 1,
            })
            .collect();
        for col in 0..n {
            let v: Vec<i32> = (0..k).map(|j| sv[j * n + col] as i32).collect();
            assert_eq!(
                i128::from(attention_value(&codes, &v, r.av_fraction_bits)),
                so[row * n + col]
            );
        }
    }
    // The units after the array: A x V requantization with heads merged (per-head constants).
    let av: Vec<i64> = t("av_requant.av").iter().map(|&v| v as i64).collect();
    let heads = 3;
    let rq: Vec<Requant> = (0..heads)
        .map(|h| Requant {
            m0: t("av_requant.m0")[h] as u32,
            shift: t("av_requant.shift")[h] as u32,
            zero_point: t("av_requant.zero_point")[h] as i32,
            lo: t("av_requant.lo")[h] as i32,
            hi: t("av_requant.hi")[h] as i32,
        })
        .collect();
    // The file holds A x V head by head ([heads, T, d_h]); the unit writes token rows of the
    // proj input ([T, heads * d_h]), head h's channel c at column h * d_h + c, requantized with
    // head h's constants.
    let out = t("av_requant.out");
    assert_eq!(out.len(), av.len());
    let tokens = av.len() / (heads * n);
    let mut checked = 0;
    for (h, rq_h) in rq.iter().enumerate() {
        for row in 0..tokens {
            for c in 0..n {
                let x = av[(h * tokens + row) * n + c];
                assert_eq!(
                    out[row * heads * n + h * n + c],
                    i128::from(rq_h.apply(x)),
                    "head {h} row {row} channel {c}"
                );
                checked += 1;
            }
        }
    }
    assert_eq!(checked, out.len());
    // The inputs reach both ends of the accumulator lanes (s{acc}).
    let edge = 1i64 << (gen_default - 1);
    assert!(av.contains(&(edge - 1)) && av.contains(&-edge));
    // GELU: every index through three tables, the steps reproduce each; table 1 rises through
    // every code (a full list of rises), table 2 falls through every code and rises back.
    let (tables, steps, h, gout) = (t("gelu.table"), t("gelu.steps"), t("gelu.h"), t("gelu.out"));
    assert_eq!(h, (-32768..32768).map(i128::from).collect::<Vec<_>>());
    let l = steps.len() / 3;
    assert_eq!(l, 31);
    for s in 0..3 {
        let table: Vec<u8> = tables[s * 65536..][..65536]
            .iter()
            .map(|&v| v as u8)
            .collect();
        let st = GeluSteps::new(&table, 4, "t").unwrap();
        let words: Vec<i128> = st.load_words().iter().map(|&w| i128::from(w)).collect();
        assert_eq!(words, steps[s * l..][..l]);
        assert_eq!(gout[s * 65536..][..65536], tables[s * 65536..][..65536]);
        let full = |list: &[i16]| list.iter().all(|&x| x != i16::MAX);
        match s {
            1 => assert!(full(&st.up), "table 1 must rise through every code"),
            2 => assert!(
                full(&st.down) && full(&st.up),
                "table 2 must fall and rise through every code"
            ),
            _ => {}
        }
    }
    // Residual additions: both saturations and both exact edges occur.
    let (x, y, ro) = (t("residual.x"), t("residual.y"), t("residual.out"));
    for i in 0..x.len() {
        assert_eq!(i128::from(residual_add(x[i] as i32, y[i] as i32)), ro[i]);
    }
    let max = i128::from(i32::MAX);
    let min = i128::from(i32::MIN);
    assert!((0..x.len()).any(|i| ro[i] == max && x[i] + y[i] > max));
    assert!((0..x.len()).any(|i| ro[i] == min && x[i] + y[i] < min));
    assert!((0..x.len()).any(|i| ro[i] == max && x[i] + y[i] == max));
    assert!((0..x.len()).any(|i| ro[i] == min && x[i] + y[i] == min));
}

#[test]
fn random_mode_rejects_bad_shapes_and_widths() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("r");
    for (shape, want) in [
        ("4x0x4", "K must be at least 1"),
        ("4x4", "three sizes"),
        ("4xax4", "not a decimal number"),
        ("4x4x", "N is missing"),
        ("100000x1x1", "too large"),
        ("4000x4000x4000", "more than"),
    ] {
        let e = fails(&["golden", "--random", "--shape", shape, "--out", p(&out)]);
        assert!(e.contains("--shape") && e.contains(want), "{shape}: {e}");
    }
    let e = fails(&[
        "golden",
        "--random",
        "--shape",
        "2x2x2",
        "--wbits",
        "9",
        "--out",
        p(&out),
    ]);
    assert!(
        e.contains("--wbits") && e.contains("not a supported code width"),
        "{e}"
    );
    let e = fails(&[
        "golden",
        "--random",
        "--shape",
        "2x65535x2",
        "--acc-bits",
        "16",
        "--out",
        p(&out),
    ]);
    assert!(e.contains("does not fit s16"), "{e}");
    // --shape without --random, --random without --shape: clap refuses.
    fails(&["golden", "--shape", "2x2x2", "--out", p(&out)]);
    fails(&["golden", "--random", "--out", p(&out)]);
    assert!(!out.exists() && leftovers(&out).is_empty());
}

/// Writes a small random directory to corrupt.
fn small_random(dir: &Path) {
    ok(&[
        "golden",
        "--random",
        "--seed",
        "1",
        "--shape",
        "3x5x4",
        "--out",
        p(dir),
    ]);
}

fn read_error(dir: &Path, tensor: &str) -> String {
    let g = GoldenDir::open(dir).unwrap();
    g.tensor(tensor).unwrap_err().to_string()
}

#[test]
fn bad_hex_files_name_the_file_line_and_problem() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("r");
    small_random(&dir);
    let file = dir.join("matmul/matmul.w.hex"); // s9, 3 digits, 20 lines
    let good = fs::read_to_string(&file).unwrap();
    let lines: Vec<&str> = good.lines().collect();
    let with = |edit: &dyn Fn(&mut Vec<String>)| {
        let mut l: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
        edit(&mut l);
        fs::write(
            &file,
            l.iter().map(|s| format!("{s}\n")).collect::<String>(),
        )
        .unwrap();
        read_error(&dir, "matmul.w")
    };
    let check = |e: String, line: usize, what: &str| {
        assert!(
            e.contains(&format!("matmul.w.hex:{line}:")) && e.contains(what),
            "{e}"
        );
    };
    check(
        with(&|l| l[3] = "0g1".into()),
        4,
        "bad digit 'g' in column 2",
    );
    check(
        with(&|l| l[6] = "01".into()),
        7,
        "2 digits, expected 3 for a s9 element",
    );
    check(
        with(&|l| l[0] = "2ff".into()),
        1,
        "out of range for a s9 element",
    );
    check(
        with(&|l| l.truncate(19)),
        19,
        "19 elements, but the shape [5, 4] needs 20",
    );
    check(with(&|l| l.push("000".into())), 21, "21 elements");
    check(with(&|l| l[2] = "0 1".into()), 3, "bad digit ' ' (space)");
    check(with(&|l| l[9] = String::new()), 10, "0 digits");
    fs::write(&file, good.trim_end()).unwrap();
    check(
        read_error(&dir, "matmul.w"),
        20,
        "does not end with a newline",
    );
    fs::write(&file, &good).unwrap();
    // The whole directory check and the CLI report the same.
    fs::write(&file, good.replacen('\n', "\r\n", 1)).unwrap();
    let e = fails(&["golden", "--check", p(&dir)]);
    assert!(
        e.contains("matmul.w.hex:1:") && e.contains("carriage return"),
        "{e}"
    );
    fs::write(&file, &good).unwrap();
    ok(&["golden", "--check", p(&dir)]);
    // A stray file is reported.
    fs::write(dir.join("matmul/extra.hex"), "00\n").unwrap();
    let e = fails(&["golden", "--check", p(&dir)]);
    assert!(e.contains("extra.hex") && e.contains("not listed"), "{e}");
}

#[test]
fn bad_manifests_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("r");
    small_random(&dir);
    let mpath = dir.join("manifest.toml");
    let good = fs::read_to_string(&mpath).unwrap();
    let open_err = |text: String| {
        fs::write(&mpath, text).unwrap();
        GoldenDir::open(&dir).unwrap_err().to_string()
    };
    let e = open_err(good.replace("format_version = 1", "format_version = 2"));
    assert!(
        e.contains("manifest.toml") && e.contains("unknown format_version 2"),
        "{e}"
    );
    let e = open_err(good.replace("format = \"repq-hw-golden\"", "format = \"other\""));
    assert!(e.contains("not a golden-vector manifest"), "{e}");
    let e = open_err(good.replace("format_version = 1\n", ""));
    assert!(e.contains("no `format_version`"), "{e}");
    // The wrong width: 8-bit codes declared 4 bits wide (digits kept consistent) are refused
    // line by line by the parser.
    let a_entry = "path = \"matmul/matmul.a.hex\"";
    let i = good.find(a_entry).unwrap();
    let (head, tail) = good.split_at(i);
    let tail = tail
        .replacen("bits = 8", "bits = 4", 1)
        .replacen("digits = 2", "digits = 1", 1);
    fs::write(&mpath, format!("{head}{tail}")).unwrap();
    let e = read_error(&dir, "matmul.a");
    assert!(
        e.contains("matmul.a.hex:1:") && e.contains("2 digits, expected 1 for a u4 element"),
        "{e}"
    );
    // Inconsistent digits or elements, or a path outside the directory, in the manifest itself.
    let tail2 = good[i..].replacen("digits = 2", "digits = 3", 1);
    let e = open_err(format!("{head}{tail2}"));
    assert!(e.contains("digits = 3 but a 8-bit element has 2"), "{e}");
    let e = open_err(good.replace(a_entry, "path = \"../a.hex\""));
    assert!(e.contains("relative path inside the directory"), "{e}");
    let tail3 = good[i..].replacen("shape = [3, 5]", "shape = [3, 6]", 1);
    let e = open_err(format!("{head}{tail3}"));
    assert!(e.contains("shape [3, 6] has 18"), "{e}");
    let e = open_err(good.replace("order = \"row-major\"", "order = \"column-major\""));
    assert!(e.contains("only \"row-major\""), "{e}");
}

#[test]
fn foreign_directories_are_never_overwritten_and_failures_leave_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    // A non-empty directory without a golden manifest is refused, untouched.
    let foreign = tmp.path().join("mine");
    fs::create_dir(&foreign).unwrap();
    fs::write(foreign.join("notes.txt"), "keep me").unwrap();
    let e = fails(&["golden", "--index", "0", "--out", p(&foreign)]);
    assert!(e.contains("refusing to overwrite"), "{e}");
    assert_eq!(
        fs::read_to_string(foreign.join("notes.txt")).unwrap(),
        "keep me"
    );
    // Likewise a directory with some other manifest.toml, and a plain file.
    fs::write(foreign.join("manifest.toml"), "format = \"other\"\n").unwrap();
    let e = fails(&[
        "golden",
        "--random",
        "--shape",
        "2x2x2",
        "--out",
        p(&foreign),
    ]);
    assert!(e.contains("refusing to overwrite"), "{e}");
    let file = tmp.path().join("file");
    fs::write(&file, "x").unwrap();
    let e = fails(&["golden", "--random", "--shape", "2x2x2", "--out", p(&file)]);
    assert!(e.contains("not a directory"), "{e}");
    // An empty directory is fine.
    let empty = tmp.path().join("empty");
    fs::create_dir(&empty).unwrap();
    ok(&["golden", "--random", "--shape", "2x2x2", "--out", p(&empty)]);
    assert!(empty.join("manifest.toml").exists());

    // Errors before writing: nothing appears under the name.
    let out = tmp.path().join("never");
    let e = fails(&["golden", "--index", "100000", "--out", p(&out)]);
    assert!(
        e.contains("--index 100000") && e.contains("test split has"),
        "{e}"
    );
    assert!(!out.exists() && leftovers(&out).is_empty());
    // An error while writing (a value that does not fit its width): no directory, no temporary
    // left; an earlier golden directory there stays as it was.
    let bad = vec![
        GoldenFile::new(
            Kind::Activation,
            "x",
            "ok",
            &[2],
            unsigned(4),
            &[1u8, 2],
            "",
        ),
        GoldenFile::new(
            Kind::Activation,
            "x",
            "bad",
            &[2],
            unsigned(4),
            &[1u8, 16],
            "",
        ),
    ];
    let e = write_dir(&out, manifest_header("random", &[]), &bad).unwrap_err();
    assert!(
        e.to_string().contains("tensor bad") && e.to_string().contains("u4"),
        "{e}"
    );
    assert!(!out.exists() && leftovers(&out).is_empty());
    let before = snapshot(&empty);
    assert!(write_dir(&empty, manifest_header("random", &[]), &bad).is_err());
    assert_eq!(snapshot(&empty), before);
    assert!(leftovers(&empty).is_empty());
}

#[test]
fn images_the_transform_cannot_handle_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("g");
    // 1 x 100000: the shorter side goes to 28, the longer to 2.8 million pixels.
    let img = tmp.path().join("strip.png");
    GrayImage::new(1, 100_000)
        .save_with_format(&img, ImageFormat::Png)
        .unwrap();
    let e = fails(&["golden", "--image", p(&img), "--out", p(&out)]);
    assert!(
        e.contains("strip.png") && e.contains("1x100000") && e.contains("aspect ratio"),
        "{e}"
    );
    let txt = tmp.path().join("not_an_image.png");
    fs::write(&txt, "hello").unwrap();
    let e = fails(&["golden", "--image", p(&txt), "--out", p(&out)]);
    assert!(
        e.contains("not_an_image.png") && e.contains("cannot decode"),
        "{e}"
    );
    let e = fails(&[
        "golden",
        "--image",
        p(&tmp.path().join("missing.png")),
        "--out",
        p(&out),
    ]);
    assert!(e.contains("missing.png"), "{e}");
    assert!(!out.exists() && leftovers(&out).is_empty());
}
