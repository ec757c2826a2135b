//! The generated files in the tools they name: every target of the generated FuseSoC `.core` run
//! by FuseSoC 2.4 / Edalize 0.6 (lint and sim of the committed rtl/ core; Yosys synthesis of a
//! generic core; Yosys + nextpnr-ecp5 + ecppack and Yosys + nextpnr-ice40 + icepack of the
//! wrapped FPGA cores to a bitstream; the UltraScale+ core's Vivado invocation, with a stand-in
//! for Vivado, which is not installable here), the SDC read by OpenSTA with every input delay
//! applied, core names unique per configuration, and a timescale in every Verilog file.
//!
//! `make test` installs the tools (`make deps`: Debian packages and a PyPI virtual environment
//! whose bin/ it puts on PATH); a test whose tool is missing is skipped with a notice.

mod rtl_common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use repq_hw::rtl::{self, GenConfig, PeShape, Target};
use rtl_common::*;

fn cfg(pe: &str, w: u32, a: u32, m_tile: u32, target: Target) -> GenConfig {
    let mut c = GenConfig::new(pe.parse::<PeShape>().unwrap());
    c.wbits = w;
    c.abits = a;
    c.m_tile = m_tile;
    c.target = target;
    c
}

fn file(c: &GenConfig, name: &str) -> String {
    rtl::render_all(&c.validate().unwrap())
        .into_iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("no {name}"))
        .contents
}

/// The `name:` line of a rendered `.core` file.
fn core_name(core: &str) -> String {
    core.lines()
        .find_map(|l| l.strip_prefix("name: "))
        .expect("a name line")
        .to_string()
}

#[test]
fn core_names_differ_for_every_configuration() {
    let base = cfg("4x4", 8, 8, 64, Target::Generic);
    let mut variants = vec![base.clone()];
    let mut push = |f: &dyn Fn(&mut GenConfig)| {
        let mut c = base.clone();
        f(&mut c);
        variants.push(c);
    };
    push(&|c| c.pe = "4x2".parse().unwrap());
    push(&|c| c.wbits = 4);
    push(&|c| c.abits = 6);
    push(&|c| c.acc_bits = Some(32));
    push(&|c| c.m_tile = 128);
    push(&|c| c.requant_lanes = Some(2));
    push(&|c| c.out_bits = Some(16));
    push(&|c| c.clock_mhz = Some(62.5));
    for t in [Target::UltraScalePlus, Target::Ecp5, Target::Ice40] {
        push(&|c| c.target = t);
    }
    push(&|c| {
        c.requirement = Some(rtl::AccRequirement::exact(
            "a model",
            96,
            197,
            (-1000).into(),
            1000.into(),
        ))
    });
    push(&|c| {
        c.requirement = Some(rtl::AccRequirement::exact(
            "a model",
            96,
            50,
            (-1000).into(),
            1000.into(),
        ))
    });
    let mut names = BTreeSet::new();
    for c in &variants {
        let name = core_name(&file(c, "repq_top.core"));
        assert_eq!(name, rtl::core_vlnv(&c.validate().unwrap()));
        assert!(
            name.split(':').all(|p| !p.is_empty()
                && p.chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || "_.".contains(ch))),
            "{name}: not a VLNV FuseSoC accepts"
        );
        assert!(
            names.insert(name.clone()),
            "{name} given to two configurations"
        );
    }
    assert_eq!(
        core_name(&file(&base, "repq_top.core")),
        "repq_hw:rtl:repq_top_4x4_w8a8_acc28_tm64_u4_generic_200mhz:0.1.0"
    );
}

#[test]
fn every_generated_verilog_file_has_a_timescale() {
    for c in configs() {
        for f in rtl::render_all(&c.validate().unwrap()) {
            if f.name.ends_with(".v") {
                let ts = f.contents.find("`timescale 1ns / 1ps\n");
                let module = f.contents.find("\nmodule ");
                assert!(
                    ts.is_some() && ts < module,
                    "{}: no `timescale before the module",
                    f.name
                );
            }
        }
    }
}

/// The input ports of the generated `repq_top`, from its port list.
fn top_inputs(top_v: &str) -> BTreeSet<String> {
    top_v
        .lines()
        .filter_map(|l| l.trim().strip_prefix("input  wire"))
        .map(|rest| {
            let name = rest.trim().trim_end_matches(',');
            name.rsplit(' ').next().unwrap().to_string()
        })
        .collect()
}

/// OpenSTA's SDC reader has the commands the generated SDC uses, and the input delay names every
/// input of repq_top but the clock (no tool needed: the command and port lists).
#[test]
fn sdc_uses_only_opensta_commands_and_names_every_input() {
    for c in [
        cfg("16x16", 8, 8, 256, Target::Generic),
        GenConfig {
            out_bits: Some(32),
            ..cfg("3x5", 4, 8, 16, Target::Generic)
        },
    ] {
        let sdc = file(&c, "repq_top.sdc");
        let allowed = ["create_clock", "set_input_delay", "set_output_delay"];
        let in_brackets = ["get_ports", "all_outputs"];
        for l in sdc
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        {
            let cmd = l.split_whitespace().next().unwrap();
            assert!(allowed.contains(&cmd), "SDC command `{cmd}` in `{l}`");
            for part in l.split('[').skip(1) {
                let inner = part
                    .split_whitespace()
                    .next()
                    .unwrap()
                    .trim_end_matches(']');
                assert!(
                    in_brackets.contains(&inner),
                    "SDC command `{inner}` in `{l}`"
                );
            }
        }
        let line = sdc
            .lines()
            .find(|l| l.starts_with("set_input_delay"))
            .unwrap();
        let list = &line[line.find("get_ports {").unwrap() + 11..line.rfind('}').unwrap()];
        let named: BTreeSet<&str> = list.split_whitespace().collect();
        let mut inputs = top_inputs(&file(&c, "repq_top.v"));
        assert!(inputs.remove("clk"), "{inputs:?}");
        assert_eq!(inputs.len(), 12, "{inputs:?}");
        assert_eq!(
            named,
            inputs.iter().map(String::as_str).collect::<BTreeSet<_>>()
        );
    }
}

/// OpenSTA reads the generated SDC against repq_top's ports (a port-only netlist from Yosys)
/// without an error, and applies an input delay to every input bit but the clock and an output
/// delay to every output bit (its write_sdc lists them).
#[test]
fn opensta_reads_the_sdc_and_constrains_every_port() {
    if !have("sta") || !have("yosys") {
        return;
    }
    let dir = scratch("flows_sta");
    for (name, c) in [
        ("16x16", GenConfig::new(PeShape { rows: 16, cols: 16 })),
        (
            "3x5_o32",
            GenConfig {
                out_bits: Some(32),
                ..cfg("3x5", 4, 8, 16, Target::Generic)
            },
        ),
    ] {
        let rtl_dir = dir.join(name);
        generate(&c, &rtl_dir);
        run(
            Command::new("yosys").current_dir(&rtl_dir).args([
                "-q",
                "-p",
                &format!(
                    "read_verilog {}; hierarchy -top repq_top; blackbox repq_top; \
                     write_verilog -noattr -blackboxes -selected ports.v",
                    rtl::SOURCES.join(" ")
                ),
            ]),
            "yosys port-only netlist",
        );
        let ports = std::fs::read_to_string(rtl_dir.join("ports.v")).unwrap();
        let bits = |dir: &str| -> u32 {
            ports
                .lines()
                .filter_map(|l| l.trim().strip_prefix(&format!("{dir} ")))
                .map(|rest| match rest.trim().strip_prefix('[') {
                    Some(r) => {
                        let (hi, lo) = r.split_once(']').unwrap().0.split_once(':').unwrap();
                        hi.parse::<u32>().unwrap() - lo.parse::<u32>().unwrap() + 1
                    }
                    None => 1,
                })
                .sum()
        };
        std::fs::write(
            rtl_dir.join("sta.tcl"),
            "read_verilog ports.v\nlink_design repq_top\nread_sdc repq_top.sdc\n\
             write_sdc applied.sdc\nexit\n",
        )
        .unwrap();
        let out = Command::new("sta")
            .current_dir(&rtl_dir)
            .args(["-no_splash", "-exit", "sta.tcl"])
            .output()
            .unwrap();
        let log = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && !log.contains("Error") && !log.contains("Warning"),
            "{name}: OpenSTA:\n{log}"
        );
        let applied = std::fs::read_to_string(rtl_dir.join("applied.sdc")).unwrap();
        let count = |cmd: &str| applied.lines().filter(|l| l.starts_with(cmd)).count() as u32;
        assert_eq!(count("create_clock"), 1, "{name}:\n{applied}");
        assert_eq!(count("set_input_delay"), bits("input") - 1, "{name}");
        assert_eq!(count("set_output_delay"), bits("output"), "{name}");
        assert!(
            !applied
                .lines()
                .any(|l| l.starts_with("set_input_delay") && l.contains("get_ports {clk}")),
            "{name}: an input delay on the clock"
        );
    }
}

fn fusesoc(cores: &Path, build: &Path, target: &str, vlnv: &str, setup_only: bool) -> String {
    let mut cmd = Command::new("fusesoc");
    cmd.arg("--cores-root").arg(cores).arg("run");
    if setup_only {
        cmd.arg("--setup");
    }
    cmd.arg("--build-root")
        .arg(build)
        .args(["--target", target, vlnv]);
    let out = run(&mut cmd, &format!("fusesoc run --target {target} {vlnv}"));
    eprintln!("{target}: {out}");
    out
}

/// The work directory FuseSoC builds a target in.
fn work_dir(build: &Path, target: &str) -> PathBuf {
    let sub = std::fs::read_dir(build)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_dir())
        .expect("a core directory in the build root");
    std::fs::read_dir(&sub)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(&format!("{target}-"))
        })
        .unwrap_or_else(|| panic!("no {target}-* in {sub:?}"))
}

fn rtl_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("rtl")
}

/// The committed rtl/ core (the default 16x16 w8a8 design): its lint target and its sim target,
/// which builds the testbench and runs one job in the single-threaded stream order to PASS.
#[test]
fn fusesoc_lint_and_sim_of_the_committed_core() {
    if !have("fusesoc") || !have("verilator") {
        return;
    }
    let vlnv = core_name(&std::fs::read_to_string(rtl_dir().join("repq_top.core")).unwrap());
    let build = scratch("flows_fusesoc_rtl");
    let _ = std::fs::remove_dir_all(&build);
    fusesoc(&rtl_dir(), &build, "lint", &vlnv, false);
    let out = fusesoc(&rtl_dir(), &build, "sim", &vlnv, false);
    assert!(
        out.contains("PASS repq_top 16x16_w8a8_o32: 259 x 33 x 17 job, 4403 output elements equal"),
        "{out}"
    );
}

/// `--target generic`: the synth target runs Yosys's technology-independent synthesis.
#[test]
fn fusesoc_synth_generic_runs_yosys() {
    if !have("fusesoc") || !have("yosys") {
        return;
    }
    let c = GenConfig {
        requant_lanes: Some(1),
        ..cfg("2x2", 4, 8, 4, Target::Generic)
    };
    let dir = scratch("flows_generic");
    let _ = std::fs::remove_dir_all(&dir);
    generate(&c, &dir.join("rtl"));
    let vlnv = rtl::core_vlnv(&c.validate().unwrap());
    fusesoc(&dir.join("rtl"), &dir.join("build"), "synth", &vlnv, false);
    let stat =
        std::fs::read_to_string(work_dir(&dir.join("build"), "synth").join("repq_top_stat.txt"))
            .unwrap();
    assert!(stat.contains("=== repq_top ==="), "{stat}");
    assert!(stat.contains("$_DFF"), "{stat}");
}

/// `--target ecp5` and `--target ice40`: the synth target places and routes repq_top inside the
/// generated wrapper and packs a bitstream (nextpnr meets the clock goal of the constraint file).
#[test]
fn fusesoc_synth_ecp5_and_ice40_make_bitstreams() {
    if !have("fusesoc") || !have("yosys") {
        return;
    }
    for (target, tools, clock, ext) in [
        (Target::Ecp5, ["nextpnr-ecp5", "ecppack"], 40.0, "bit"),
        (Target::Ice40, ["nextpnr-ice40", "icepack"], 24.0, "bin"),
    ] {
        if !tools.iter().all(|t| tool_on_path(t)) {
            assert!(
                std::env::var_os("REPQ_REQUIRE_TOOLS").is_none(),
                "{tools:?} not on PATH but REPQ_REQUIRE_TOOLS is set (`make test` installs them)"
            );
            eprintln!(
                "NOTICE: {tools:?} not installed; skipping the {} synth target",
                target.name()
            );
            continue;
        }
        let c = GenConfig {
            requant_lanes: Some(1),
            clock_mhz: Some(clock),
            ..cfg("1x1", 4, 4, 2, target)
        };
        let dir = scratch(&format!("flows_{}", target.name()));
        let _ = std::fs::remove_dir_all(&dir);
        generate(&c, &dir.join("rtl"));
        let vlnv = rtl::core_vlnv(&c.validate().unwrap());
        fusesoc(&dir.join("rtl"), &dir.join("build"), "synth", &vlnv, false);
        let work = work_dir(&dir.join("build"), "synth");
        let bitstreams: Vec<_> = std::fs::read_dir(&work)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == ext))
            .collect();
        assert_eq!(bitstreams.len(), 1, "{}: {work:?}", target.name());
        assert!(std::fs::metadata(&bitstreams[0]).unwrap().len() > 1000);
        let log = std::fs::read_to_string(work.join("next.log")).unwrap();
        assert!(log.contains("PASS at"), "{}: timing:\n{log}", target.name());
    }
}

fn tool_on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
}

/// `--target xcup`: the synth target stops after out-of-context synthesis. Vivado is not
/// installable here, so a stand-in `vivado` records how Edalize calls it: the project script
/// (which sources repq_vivado_ooc.tcl, setting `-mode out_of_context`) and the synthesis and
/// netlist scripts, never the implementation/bitstream script.
#[test]
fn fusesoc_synth_xcup_stops_after_out_of_context_synthesis() {
    if !have("fusesoc") {
        return;
    }
    let c = cfg("2x2", 4, 4, 4, Target::UltraScalePlus);
    let dir = scratch("flows_xcup");
    let _ = std::fs::remove_dir_all(&dir);
    generate(&c, &dir.join("rtl"));
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let log = dir.join("vivado.log");
    let stub = bin.join("vivado");
    std::fs::write(
        &stub,
        format!(
            "#!/bin/sh\necho \"$*\" >> '{}'\nfor a in \"$@\"; do case \"$a\" in\n  \
             *_synth.tcl|*_netlist.tcl|*_run.tcl|*_pgm.tcl) ;;\n  \
             *.tcl) touch \"${{a%.tcl}}.xpr\" ;;\n  \
             *.xpr) touch \"${{a%.xpr}}.v\" \"${{a%.xpr}}.edn\" ;;\nesac; done\n",
            log.display()
        ),
    )
    .unwrap();
    run(Command::new("chmod").arg("+x").arg(&stub), "chmod");
    let vlnv = rtl::core_vlnv(&c.validate().unwrap());
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("fusesoc")
        .env("PATH", path)
        .arg("--cores-root")
        .arg(dir.join("rtl"))
        .arg("run")
        .arg("--build-root")
        .arg(dir.join("build"))
        .args(["--target", "synth", &vlnv])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let calls = std::fs::read_to_string(&log).unwrap();
    let calls: Vec<&str> = calls.lines().collect();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert!(
        calls[0].ends_with(".tcl") && !calls[0].contains("_synth.tcl"),
        "{calls:?}"
    );
    assert!(
        calls[1].contains("_synth.tcl") && calls[1].contains("_netlist.tcl"),
        "{calls:?}"
    );
    assert!(!calls.iter().any(|c| c.contains("_run.tcl")), "{calls:?}");
    let work = work_dir(&dir.join("build"), "synth");
    let project = std::fs::read_dir(&work)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            let n = p.file_name().unwrap().to_string_lossy().into_owned();
            n.ends_with(".tcl")
                && !["_synth", "_netlist", "_run", "_pgm"]
                    .iter()
                    .any(|s| n.ends_with(&format!("{s}.tcl")))
        })
        .expect("the project script");
    let project = std::fs::read_to_string(project).unwrap();
    assert!(project.contains("repq_vivado_ooc.tcl}"), "{project}");
    assert!(project.contains("read_xdc {"), "{project}");
    let ooc = file(&c, "repq_vivado_ooc.tcl");
    assert!(ooc.contains("-value {-mode out_of_context} -objects [get_runs synth_1]"));
}
