//! Synthesis of generated designs.
//!
//! * `pe_multipliers_map_to_dsp_blocks` (in the normal suite, 10 to 20 s): the PE array of a
//!   4x4 w8a8 configuration through Yosys `synth_xilinx -family xcup`, `synth_ecp5` and
//!   `synth_ice40 -dsp`; every PE multiplier must land in a DSP block (DSP48E2, MULT18X18D,
//!   SB_MAC16). Skipped with a notice when yosys is not installed.
//! * `synthesize` (ignored: minutes to hours) runs scripts/synth/run.sh, Yosys for UltraScale+,
//!   ECP5 and iCE40 plus nextpnr for ECP5 and iCE40, on the designs of docs/synthesis.md:
//!
//!     cargo test --release --test rtl_synth -- --ignored --nocapture
//!
//!   Selects with REPQ_SYNTH: comma-separated `RxC:wXaY:target[:option...]` entries with options
//!   `tm=ROWS` (M tile), `u=LANES` (requantization lanes), `mhz=F` (clock goal, written into the
//!   constraint file nextpnr reads), `dev=FLAGS` (nextpnr device flags, `_` for spaces) and
//!   `nopnr` (resources only) and `noarray` (no array-only synthesis), e.g. `16x16:w8a8:xcup,4x4:w4a4:ice40:u=1:tm=16`. The default set
//!   is the closing-note table. Summaries are printed and collected in
//!   target/tmp/rtl/synth/summary.txt. The tools come from the environment run.sh reads (YOSYS,
//!   NEXTPNR_ECP5, NEXTPNR_ICE40; see docs/synthesis.md).

mod rtl_common;

use std::process::Command;

use repq_hw::rtl::{GenConfig, PeShape, Target};
use rtl_common::*;

/// The designs of docs/synthesis.md's tables.
const DEFAULT_SET: &str = "16x16:w8a8:xcup,16x16:w4a4:xcup,\
    16x16:w8a8:ecp5:nopnr,16x16:w4a4:ecp5:nopnr,\
    12x12:w8a8:ecp5:u=2:mhz=100:noarray,12x12:w4a4:ecp5:u=2:mhz=100:noarray,\
    4x3:w4a4:ice40:u=1:tm=16:mhz=40:noarray,\
    4x4:w4a4:ice40:u=1:tm=16:mhz=80:noarray:dev=--hx8k_--package_ct256";

#[test]
#[ignore = "slow: full synthesis and place-and-route (minutes per design)"]
fn synthesize() {
    let set = std::env::var("REPQ_SYNTH").unwrap_or_else(|_| DEFAULT_SET.to_string());
    let root = scratch("synth");
    let mut summaries = Vec::new();
    for entry in set.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let parts: Vec<&str> = entry.split(':').collect();
        assert!(parts.len() >= 3, "bad REPQ_SYNTH entry {entry}");
        let pe: PeShape = parts[0].parse().unwrap();
        let (w, a) = parts[1]
            .trim_start_matches('w')
            .split_once('a')
            .map(|(w, a)| (w.parse().unwrap(), a.parse().unwrap()))
            .expect("wXaY");
        let target: Target = parts[2].parse().unwrap();
        let mut c = GenConfig::new(pe);
        c.wbits = w;
        c.abits = a;
        c.target = target;
        let mut device = None;
        let mut pnr = true;
        let mut array = true;
        for opt in &parts[3..] {
            match opt.split_once('=') {
                Some(("tm", v)) => c.m_tile = v.parse().unwrap(),
                Some(("u", v)) => c.requant_lanes = Some(v.parse().unwrap()),
                Some(("mhz", v)) => c.clock_mhz = Some(v.parse().unwrap()),
                Some(("dev", v)) => device = Some(v.replace('_', " ")),
                None if *opt == "nopnr" => pnr = false,
                None if *opt == "noarray" => array = false,
                _ => panic!("bad option {opt} in {entry}"),
            }
        }
        let tag = entry.replace([':', '='], "_");
        let dir = root.join(&tag);
        generate(&c, &dir);
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/synth/run.sh");
        let mut cmd = Command::new("bash");
        cmd.arg(script)
            .arg(&dir)
            .arg(target.name())
            .arg(root.join(format!("{tag}.out")));
        if let Some(dev) = device {
            let var = if target == Target::Ecp5 {
                "ECP5_DEVICE"
            } else {
                "ICE40_DEVICE"
            };
            cmd.env(var, dev);
        }
        if !pnr {
            cmd.env("PNR", "0");
        }
        if !array {
            cmd.env("ARRAY", "0");
        }
        let t = std::time::Instant::now();
        let out = run(&mut cmd, &format!("synthesis of {entry}"));
        let line = format!("{} [{:.0} s]", out.trim(), t.elapsed().as_secs_f64());
        eprintln!("{line}");
        summaries.push(line);
    }
    std::fs::write(root.join("summary.txt"), summaries.join("\n") + "\n").unwrap();
}

/// The PE multipliers of a small array map to the DSP blocks of all three FPGA families (Debian's
/// Yosys 0.23 is enough). The whole repq_top takes minutes per target, so only the array is
/// synthesized here; scripts/synth/run.sh does the rest.
#[test]
fn pe_multipliers_map_to_dsp_blocks() {
    if !have("yosys") {
        return;
    }
    let c = GenConfig::new(PeShape { rows: 4, cols: 4 });
    let dir = scratch("synth_quick");
    generate_incremental(&c, &dir);
    let pes = 16;
    let flows = [
        (
            "synth_xilinx -family xcup -flatten -noiopad -noclkbuf",
            "DSP48E2",
        ),
        ("synth_ecp5", "MULT18X18D"),
        ("synth_ice40 -dsp", "SB_MAC16"),
    ];
    std::thread::scope(|s| {
        let runs: Vec<_> = flows
            .iter()
            .map(|&(cmd, dsp)| {
                let dir = &dir;
                s.spawn(move || {
                    let stat = format!("stat_{dsp}.txt");
                    let script = format!(
                        "read_verilog repq_delay.v repq_pe.v repq_array.v; {cmd} -top repq_array; \
                         tee -q -o {stat} stat"
                    );
                    run(
                        Command::new("yosys")
                            .current_dir(dir)
                            .args(["-q", "-p", &script]),
                        &format!("yosys {cmd}"),
                    );
                    let out = std::fs::read_to_string(dir.join(stat)).unwrap();
                    (cmd, dsp, cell_count(&out, dsp))
                })
            })
            .collect();
        for r in runs {
            let (cmd, dsp, n) = r.join().unwrap();
            assert_eq!(n, pes, "{cmd}: {n} {dsp} for {pes} PEs");
        }
    });
}

/// The count of cell type `cell` in a Yosys `stat` report (`TYPE COUNT` in 0.23, `COUNT TYPE` in
/// newer versions).
fn cell_count(stat: &str, cell: &str) -> usize {
    stat.lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            match w.as_slice() {
                [t, n] if *t == cell => n.parse::<usize>().ok(),
                [n, t] if *t == cell => n.parse::<usize>().ok(),
                _ => None,
            }
        })
        .sum()
}
