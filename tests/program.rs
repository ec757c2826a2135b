//! The layer program (docs/layer-program.md): the reference executor, reading only the image,
//! gives the integer model's logits bit for bit (the embedded model at W8A8, W6A6 and W4A4 on
//! held-out images, and a distilled model with two heads); malformed images are errors, never
//! panics.

use std::path::PathBuf;

use repq_hw::data::EvalTransform;
use repq_hw::demo;
use repq_hw::intsim::IntModel;
use repq_hw::model::{Model, Preprocess, VisionTransformer, VitConfig};
use repq_hw::program::{Program, execute};
use repq_hw::quant::calibrate::calibrate;
use repq_hw::quant::config::QuantConfig;
use repq_hw::quant::model::CalibrationInfo;

#[test]
fn the_program_runs_the_embedded_model_bit_for_bit() {
    let split = demo::test_split().unwrap();
    for (wbits, abits) in [(8, 8), (6, 6), (4, 4)] {
        let q = demo::quantized(QuantConfig::new(wbits, abits).unwrap()).unwrap();
        let int = IntModel::lower(&q, 32).unwrap();
        let prog = Program::from_model(&int).unwrap();
        let tf = EvalTransform::new(&q.model.preprocess, q.vit_config().unwrap().img_size).unwrap();
        let images = 6;
        let batch = split.batch(0..images, &tf).unwrap();
        let codes = int.quantize_input(&batch.data);
        let want = int.forward_codes(&codes, images).unwrap();
        let n = int.input_len();
        let classes = want.len() / images;
        for i in 0..images {
            let got = execute(&prog.image, &codes[i * n..(i + 1) * n]).unwrap();
            assert_eq!(
                got,
                want[i * classes..(i + 1) * classes],
                "W{wbits}A{abits} image {i}"
            );
        }
        // 2 + 6 blocks x 7 + norm + head + end.
        assert_eq!(prog.descriptors.len(), 2 + 6 * 7 + 3, "W{wbits}A{abits}");
    }
}

/// A small distilled model (two classifier heads, two prefix tokens) and 8 synthetic images.
fn distilled() -> (IntModel, Vec<f32>) {
    let cfg = VitConfig {
        img_size: [16, 16],
        patch_size: [8, 8],
        in_chans: 3,
        embed_dim: 32,
        depth: 2,
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
        net: repq_hw::model::Network::Vit(VisionTransformer::random(cfg, 3)),
        preprocess: Preprocess {
            mean: vec![0.5; 3],
            std: vec![0.5; 3],
            crop_pct: 1.0,
        },
        labels: None,
    };
    let n = 8;
    let images: Vec<f32> = (0..n * 3 * 16 * 16)
        .map(|i| ((i * 7919 % 1000) as f32 / 500.0) - 1.0)
        .collect();
    let info = CalibrationInfo {
        source: "synthetic".into(),
        count: n,
        seed: None,
    };
    let q = calibrate(&model, &images, n, QuantConfig::new(8, 8).unwrap(), info).unwrap();
    (IntModel::lower(&q, 32).unwrap(), images)
}

#[test]
fn the_program_runs_a_distilled_model() {
    let (int, images) = distilled();
    let prog = Program::from_model(&int).unwrap();
    let per = int.input_len();
    let n = images.len() / per;
    let codes = int.quantize_input(&images);
    let want = int.forward_codes(&codes, n).unwrap();
    for i in 0..n {
        let got = execute(&prog.image, &codes[i * per..(i + 1) * per]).unwrap();
        assert_eq!(got, want[i * 5..(i + 1) * 5], "image {i}");
    }
    // 2 + 2 blocks x 7 + 2 x (norm + head) + average + end.
    assert_eq!(prog.descriptors.len(), 2 + 2 * 7 + 4 + 2);
}

/// Truncations, a wrong magic or version, and single-byte corruptions anywhere in the header and
/// descriptors give an error or (where the byte is a value the format allows) a result, never a
/// panic; the errors name the layer program.
#[test]
fn malformed_programs_are_errors() {
    let (int, _) = distilled();
    let prog = Program::from_model(&int).unwrap();
    let input = vec![7u8; int.input_len()];
    let good = execute(&prog.image, &input).unwrap();
    let err = |image: &[u8]| execute(image, &input).unwrap_err().to_string();
    assert!(err(&prog.image[..100]).contains("layer program"));
    assert!(err(&prog.image[..prog.image.len() - 1]).contains("truncated"));
    let mut bad = prog.image.clone();
    bad[0] = b'X';
    assert!(err(&bad).contains("not a layer program"));
    let mut bad = prog.image.clone();
    bad[8] = 2;
    assert!(err(&bad).contains("version 2"));
    assert!(
        execute(&prog.image, &input[1..])
            .unwrap_err()
            .to_string()
            .contains("input codes")
    );
    // Every byte of the header and the descriptors set to 0xff: an error naming the layer
    // program or (a field the operation does not use, header padding) a result; never a panic.
    // An operation code of 0xff is always an error.
    let table = 64 * (1 + prog.descriptors.len());
    let mut errors = 0;
    for i in (0..table).filter(|&i| prog.image[i] != 0xff) {
        let mut bad = prog.image.clone();
        bad[i] = 0xff;
        match execute(&bad, &input) {
            Err(e) => {
                assert!(e.to_string().starts_with("layer program"), "byte {i}: {e}");
                errors += 1;
            }
            Ok(_) => assert!(i < 64 || i % 64 != 0, "byte {i}: operation code 0xff ran"),
        }
    }
    let _ = good;
    assert!(errors > table / 4, "{errors} errors of {table} corruptions");
}

/// `repq-hw program`: the embedded model at W4A4 and an artifact give images the executor runs
/// like the integer model; a float checkpoint and contradicting widths are one-line errors.
#[test]
fn the_program_command_writes_a_runnable_image() {
    let bin = env!("CARGO_BIN_EXE_repq-hw");
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| std::process::Command::new(bin).args(args).output().unwrap();
    let p = dir.path().join("w4a4.bin");
    let o = run(&[
        "program",
        "--wbits",
        "4",
        "--abits",
        "4",
        "--out",
        p.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("W4A4") && out.contains("47 descriptors"),
        "{out}"
    );
    let image = std::fs::read(p.join("program.bin")).unwrap();
    let listing = std::fs::read_to_string(p.join("program.txt")).unwrap();
    assert_eq!(listing.lines().count(), 1 + 47);
    assert!(listing.contains("blocks.5.mlp.fc1"), "{listing}");
    assert!(p.join("repq_program.h").is_file());
    let q = demo::quantized(QuantConfig::new(4, 4).unwrap()).unwrap();
    let acc = repq_hw::rtl::config::default_acc_bits(4, 4).unwrap();
    let int = IntModel::lower(&q, acc).unwrap();
    assert_eq!(image, Program::from_model(&int).unwrap().image);
    let input = vec![100u8; int.input_len()];
    assert_eq!(
        execute(&image, &input).unwrap(),
        int.forward_codes(&input, 1).unwrap()
    );

    let x = dir.path().join("x.bin");
    let art = dir.path().join("q.safetensors");
    q.save(&art).unwrap();
    let bad = run(&[
        "program",
        "--model",
        art.to_str().unwrap(),
        "--wbits",
        "8",
        "--out",
        x.to_str().unwrap(),
    ]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("quantized artifact (W4A4)"));
    let float = run(&[
        "program",
        "--model",
        "tests/fixtures/checkpoints/hub224/model.safetensors",
        "--out",
        x.to_str().unwrap(),
    ]);
    assert!(!float.status.success());
    let stderr = String::from_utf8_lossy(&float.stderr);
    assert!(
        stderr.contains("a float checkpoint; quantize it first"),
        "{stderr}"
    );
    assert!(!x.join("program.bin").exists());
}

/// The C header overlays the image: a C program that walks the descriptors through its structs
/// prints exactly the fields the Rust reader decodes (compiled by the C compiler CI installs).
#[test]
fn the_c_header_reads_the_image() {
    let (int, _) = distilled();
    let prog = Program::from_model(&int).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("program.bin"), &prog.image).unwrap();
    std::fs::write(
        dir.path().join("repq_program.h"),
        repq_hw::program::emit::C_HEADER,
    )
    .unwrap();
    let c = dir.path().join("walk.c");
    std::fs::write(
        &c,
        r#"#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "repq_program.h"
int main(int argc, char **argv) {
    if (argc != 2) return 2;
    FILE *f = fopen(argv[1], "rb");
    if (!f) return 3;
    static uint8_t image[1 << 24];
    size_t n = fread(image, 1, sizeof image, f);
    const struct repq_prog_header *h = (const void *)image;
    if (memcmp(h->magic, REPQ_PROG_MAGIC, 8) || h->version != REPQ_PROG_VERSION || h->image_bytes != n) return 1;
    printf("T%u D%u H%u M%u C%u in%u heads%u exp2 %u\n", h->tokens, h->dim, h->heads, h->hidden,
           h->classes, h->input_codes, h->heads_out, h->exp2.bytes / 4);
    for (uint32_t i = 0; i < h->descriptors; i++) {
        const struct repq_prog_desc *d = repq_prog_descriptor(image, i);
        printf("%u %u %u %u %u %u %u %u %u %u %u %u %u %u %u %u %u %u %u\n", d->op, d->mode, d->src,
               d->dst, d->rows, d->k, d->n, d->src_row, d->dst_row, d->aux, d->aux2, d->a.offset,
               d->a.bytes, d->b.offset, d->b.bytes, d->c.offset, d->c.bytes, d->d.offset, d->d.bytes);
        if (d->op == REPQ_OP_ATTENTION) {
            const struct repq_attention_consts *a = (const void *)(image + d->a.offset);
            printf("attn %d %d %d %u %u\n", a->q_zero, a->k_zero, a->v_zero, a->softmax_m0, a->av.m0);
        }
    }
    return 0;
}
"#,
    )
    .unwrap();
    let exe = dir.path().join("walk");
    let cc = std::process::Command::new("g++")
        .args(["-x", "c", "-std=c11", "-Wall", "-Wextra", "-Werror", "-o"])
        .arg(&exe)
        .arg(&c)
        .output()
        .expect("g++ (CI installs it)");
    assert!(
        cc.status.success(),
        "{}",
        String::from_utf8_lossy(&cc.stderr)
    );
    let o = std::process::Command::new(&exe)
        .arg(dir.path().join("program.bin"))
        .output()
        .unwrap();
    assert!(o.status.success());
    let mut want = format!(
        "T{} D{} H{} M{} C{} in{} heads{} exp2 1024\n",
        int.config.seq_len(),
        int.config.embed_dim,
        int.config.num_heads,
        int.config.mlp_hidden,
        int.config.num_classes,
        int.input_len(),
        int.heads.len()
    );
    for (i, d) in prog.descriptors.iter().enumerate() {
        let r = repq_hw::program::format::Descriptor::read(&prog.image, i).unwrap();
        assert_eq!(&r, d);
        want += &format!(
            "{} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {}\n",
            d.op,
            d.mode,
            d.src,
            d.dst,
            d.rows,
            d.k,
            d.n,
            d.src_row,
            d.dst_row,
            d.aux,
            d.aux2,
            d.a.offset,
            d.a.bytes,
            d.b.offset,
            d.b.bytes,
            d.c.offset,
            d.c.bytes,
            d.d.offset,
            d.d.bytes
        );
        if d.op == 5 {
            let blk = &int.blocks[prog.names[i]
                .trim_start_matches("blocks.")
                .split('.')
                .next()
                .unwrap()
                .parse::<usize>()
                .unwrap()];
            want += &format!(
                "attn {} {} {} {} {}\n",
                blk.q_zero, blk.k_zero, blk.v_zero, blk.softmax.m0, blk.av_requant.m0
            );
        }
    }
    assert_eq!(String::from_utf8_lossy(&o.stdout), want);
}
