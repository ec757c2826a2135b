//! The fuzz harnesses of `repq_hw::fuzzing` on stable Rust (docs/fuzzing.md): every seed, every
//! committed corpus input (`fuzz/corpus/TARGET/`) and every past finding
//! (`tests/fixtures/fuzz/TARGET/`) replayed, then a short deterministic mutation run. The
//! libFuzzer runs themselves need nightly and are not part of the test suite.
//!
//! `cargo test --release --test fuzz_corpus -- --ignored write_seeds` (re)writes the seeds into
//! `fuzz/corpus/`.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use repq_hw::fuzzing::{TARGETS, Target, seeds};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn corpus_dir(t: Target) -> PathBuf {
    root().join("fuzz/corpus").join(t.name())
}

fn findings_dir(t: Target) -> PathBuf {
    root().join("tests/fixtures/fuzz").join(t.name())
}

/// The input files of a directory, sorted by name.
fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = rd
        .map(|e| e.expect("readable directory").path())
        .filter(|p| seeds::is_input(p))
        .collect();
    v.sort();
    v
}

/// Runs `t` on `data`; the panic message if it panicked.
fn run(t: Target, data: &[u8]) -> Option<String> {
    catch_unwind(AssertUnwindSafe(|| t.run(data)))
        .err()
        .map(|p| {
            p.downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "a panic".into())
        })
}

fn replay_dir(dir: fn(Target) -> PathBuf, min_per_target: usize) {
    let mut failures = Vec::new();
    for t in TARGETS {
        let files = inputs(&dir(t));
        assert!(
            files.len() >= min_per_target,
            "{}: {} inputs, expected at least {min_per_target}",
            dir(t).display(),
            files.len()
        );
        for f in files {
            let data = std::fs::read(&f).expect("readable input");
            if let Some(msg) = run(t, &data) {
                failures.push(format!("{} {}: {msg}", t.name(), f.display()));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn seeds_replay() {
    let mut failures = Vec::new();
    for t in TARGETS {
        for (name, data) in seeds::seeds(t) {
            if let Some(msg) = run(t, &data) {
                failures.push(format!("{} seed {name}: {msg}", t.name()));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The seeds must reach past the first checks: the valid ones load.
#[test]
fn valid_seeds_are_accepted() {
    use repq_hw::data::EvalTransform;
    use repq_hw::model::{Model, Sidecar};
    use repq_hw::quant::QuantizedModel;
    let p = Path::new("seed");
    for (name, data) in seeds::seeds(Target::Checkpoint) {
        // Without the fields shapes cannot prove, no checkpoint loads (never a silent guess);
        // with them (one head fits every width), every seed does.
        let r = Model::from_bytes(&data, p, &Sidecar::default(), None);
        assert!(
            r.is_err(),
            "{name}: loaded without heads, epsilon and preprocessing"
        );
        let r = Model::from_bytes(
            &data,
            p,
            &repq_hw::fuzzing::checkpoint_sidecar(repq_hw::fuzzing::input_channels(&data)),
            None,
        );
        assert!(r.is_ok(), "{name}: {r:?}");
    }
    // The PyTorch harness's models: every file loads; the EMA weights load where the file has
    // them, and are other weights; the broken files are refused.
    for (name, data) in seeds::seeds(Target::Pth) {
        let [plain, ema] = repq_hw::fuzzing::pth_loaded(&data);
        if name.contains("truncated") || name.contains("bitflip") {
            // Refused by the ZIP reader (no end record) or, past the CRC, by the tensor reader.
            let why = if name.contains("truncated") {
                "Could not find EOCD"
            } else {
                "needs 96 elements"
            };
            for r in [plain, ema] {
                let e = r.expect_err(&name).to_string();
                assert!(e.contains(why), "{name}: {e}");
            }
            continue;
        }
        let plain = plain.unwrap_or_else(|e| panic!("{name}: {e}"));
        // tools/make_checkpoint_fixtures.py: 32 wide, 2 blocks, 5 classes, 32x32 input.
        let c = plain.model.config().unwrap();
        assert_eq!(
            (c.embed_dim, c.depth, c.num_classes, c.img_size),
            (32, 2, 5, [32, 32]),
            "{name}"
        );
        match ema {
            Ok(ema) => {
                assert_ne!(name, "plain.pt", "a bare state dict has no EMA weights");
                assert_ne!(
                    ema.model.vit().unwrap(),
                    plain.model.vit().unwrap(),
                    "{name}: EMA weights"
                );
            }
            Err(e) => {
                assert_eq!(name, "plain.pt", "{name}: {e}");
                assert!(e.to_string().contains("no EMA weights"), "{e}");
            }
        }
    }
    // The sidecar harness's model: every sidecar but the demo's loads, also those that give only
    // some fields (the harness completes them).
    for (name, data) in seeds::seeds(Target::Sidecar) {
        let r = repq_hw::fuzzing::sidecar_model(&data).expect("UTF-8");
        // The demo's sidecar names 10 labels for a 3-class head, and 3 heads for D = 8.
        assert_eq!(r.is_ok(), name != "demo", "{name}: {:?}", r.err());
    }
    // The config.json harness's models: the fixtures' own texts name other sizes than the small
    // checkpoint's and are refused; fitted to it, every one loads with its heads from
    // config.json.
    for (name, data) in seeds::seeds(Target::ConfigJson) {
        let r = repq_hw::fuzzing::config_json_loaded(&data);
        if name.ends_with("-as-is") {
            let e = r.expect_err(&name).to_string();
            assert!(e.contains("not that architecture"), "{name}: {e}");
            continue;
        }
        let l = r.unwrap_or_else(|e| panic!("{name}: {e}"));
        let heads = l.fields.iter().find(|f| f.field == "num_heads").unwrap();
        assert!(heads.origin.contains("config.json"), "{name}: {heads:?}");
        let m = &l.model;
        EvalTransform::new(&m.preprocess, m.config().unwrap().img_size)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    for (name, data) in seeds::seeds(Target::Artifact) {
        assert!(
            repq_hw::quant::artifact::is_artifact_header(&data[..]),
            "{name}"
        );
        QuantizedModel::from_bytes(&data, p).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    for (name, data) in seeds::seeds(Target::Golden) {
        let text = data.split(|&b| b == 0).next().unwrap();
        let m = repq_hw::golden::Manifest::parse(std::str::from_utf8(text).unwrap(), p)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let files: Vec<&[u8]> = data.split(|&b| b == 0).skip(1).collect();
        // Every file is there but the large ones and those past the size budget (a file is its
        // elements in fixed-width hex, one per line), listed last; so the seed stays small.
        for entry in m
            .files
            .get(files.len()..)
            .expect("no more files than entries")
        {
            let body = entry.elements * (entry.bits.div_ceil(4) as usize + 1);
            assert!(
                entry.elements > seeds::GOLDEN_SEED_MAX_ELEMENTS
                    || data.len() + 1 + body > seeds::GOLDEN_SEED_MAX_BYTES,
                "{name}: {} left out",
                entry.path
            );
        }
        assert!(data.len() < 64 << 10, "{name}: {} bytes", data.len());
        let g = repq_hw::golden::GoldenDir {
            root: p.to_path_buf(),
            manifest: m.clone(),
        };
        let (cases, _) = repq_hw::verify::cases_for(&g, &seeds::rtl_info(), &[])
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(
            cases.iter().any(|c| c.name.starts_with("gelu")),
            "{name}: the cases of the files left out are listed"
        );
        for (entry, bytes) in m.files.iter().zip(files) {
            repq_hw::golden::dir::parse_file(entry, bytes, p)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
    for (name, data) in seeds::seeds(Target::Image) {
        let r = repq_hw::data::decode_rgb(&data, p);
        assert_eq!(r.is_ok(), !name.starts_with("declares-"), "{name}: {r:?}");
    }
}

/// The committed corpus holds every current seed byte for byte, so that a fuzzer started from
/// `fuzz/corpus/` starts from what `seeds::seeds` makes today, not from an older writer's output.
#[test]
fn committed_corpus_holds_current_seeds() {
    let mut stale = Vec::new();
    for t in TARGETS {
        for (name, data) in seeds::seeds(t) {
            let path = corpus_dir(t).join(format!("seed-{name}"));
            match std::fs::read(&path) {
                Ok(bytes) if bytes == data => {}
                Ok(_) => stale.push(format!("{} differs", path.display())),
                Err(e) => stale.push(format!("{}: {e}", path.display())),
            }
        }
    }
    assert!(
        stale.is_empty(),
        "the committed corpus is stale; run \
         `cargo test --release --test fuzz_corpus -- --ignored write_seeds`:\n{}",
        stale.join("\n")
    );
}

#[test]
fn committed_corpus_replays() {
    replay_dir(corpus_dir, 3);
}

#[test]
fn past_findings_replay() {
    replay_dir(findings_dir, 0);
}

/// One random mutation of `data`: libFuzzer's simplest moves (flip a bit, set a byte to an
/// interesting value, insert or erase a run, copy a run, truncate).
fn mutate(rng: &mut StdRng, data: &mut Vec<u8>) {
    const INTERESTING: [u8; 8] = [0, 1, 0x7f, 0x80, 0xff, b'0', b'9', b'"'];
    let n = data.len();
    match rng.random_range(0..6u32) {
        0 if n > 0 => {
            let i = rng.random_range(0..n);
            data[i] ^= 1 << rng.random_range(0..8u32);
        }
        1 if n > 0 => {
            let i = rng.random_range(0..n);
            data[i] = INTERESTING[rng.random_range(0..INTERESTING.len())];
        }
        2 => {
            let i = rng.random_range(0..=n);
            let len = rng.random_range(1..=8usize);
            let b = INTERESTING[rng.random_range(0..INTERESTING.len())];
            data.splice(i..i, std::iter::repeat_n(b, len));
        }
        3 if n > 0 => {
            let i = rng.random_range(0..n);
            let len = rng.random_range(1..=(n - i).min(16));
            data.drain(i..i + len);
        }
        4 if n > 1 => {
            let from = rng.random_range(0..n);
            let len = rng.random_range(1..=(n - from).min(16));
            let to = rng.random_range(0..=n);
            let run: Vec<u8> = data[from..from + len].to_vec();
            data.splice(to..to, run);
        }
        _ if n > 0 => data.truncate(rng.random_range(0..n)),
        _ => data.push(rng.random()),
    }
}

/// A short deterministic mutation run from the seeds, a few seconds per target: a smoke test of
/// the harnesses on inputs nobody wrote, not a substitute for the libFuzzer runs.
#[test]
fn short_mutation_run() {
    const BUDGET: Duration = Duration::from_secs(3);
    let mut failures = Vec::new();
    for t in TARGETS {
        let mut rng = StdRng::seed_from_u64(0x5EED);
        let seeds = seeds::seeds(t);
        let start = Instant::now();
        let mut execs = 0u32;
        while start.elapsed() < BUDGET && execs < 2000 {
            let (name, seed) = &seeds[rng.random_range(0..seeds.len())];
            let mut data = seed.clone();
            for _ in 0..rng.random_range(1..=4u32) {
                mutate(&mut rng, &mut data);
            }
            if let Some(msg) = run(t, &data) {
                let path = std::env::temp_dir().join(format!("repq-fuzz-{}-{execs}", t.name()));
                let _ = std::fs::write(&path, &data);
                failures.push(format!(
                    "{}: mutant {execs} of seed {name} (saved to {}): {msg}",
                    t.name(),
                    path.display()
                ));
            }
            execs += 1;
        }
        assert!(execs > 10, "{}: only {execs} runs in {BUDGET:?}", t.name());
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Writes the seeds into `fuzz/corpus/TARGET/seed-NAME`, and a model-mode golden directory made
/// by the `repq-hw golden` binary from the first artifact and image seeds (its manifest and first
/// two files).
#[test]
#[ignore = "writes into fuzz/corpus; run by hand (docs/fuzzing.md)"]
fn write_seeds() {
    for t in TARGETS {
        let dir = corpus_dir(t);
        std::fs::create_dir_all(&dir).unwrap();
        for (name, data) in seeds::seeds(t) {
            std::fs::write(dir.join(format!("seed-{name}")), data).unwrap();
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("small.safetensors"),
        &seeds::seeds(Target::Artifact)[0].1,
    )
    .unwrap();
    std::fs::write(tmp.path().join("x.png"), &seeds::seeds(Target::Image)[0].1).unwrap();
    // Relative paths, so that the manifest does not name the temporary directory.
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_repq-hw"))
        .current_dir(tmp.path())
        .args(["golden", "--model", "small.safetensors", "--image", "x.png"])
        .args(["--out", "golden"])
        .status()
        .unwrap();
    let out = tmp.path().join("golden");
    assert!(status.success());
    let text = std::fs::read_to_string(out.join("manifest.toml")).unwrap();
    let m = repq_hw::golden::Manifest::parse(&text, &out).unwrap();
    // The manifest and its first two files: the whole directory (250 KB) would slow the fuzzer
    // down to a few runs a second, and the hex files are covered by the random-mode seeds.
    let bodies: Vec<Vec<u8>> = m
        .files
        .iter()
        .take(2)
        .map(|f| std::fs::read(out.join(&f.path)).unwrap())
        .collect();
    let refs: Vec<&[u8]> = bodies.iter().map(Vec::as_slice).collect();
    std::fs::write(
        corpus_dir(Target::Golden).join("seed-model-small"),
        seeds::pack_golden(&text, &refs),
    )
    .unwrap();
}
