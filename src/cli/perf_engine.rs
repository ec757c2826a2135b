//! The engine section of `repq-hw perf --model M`: the model lowered to `repq_vit`'s command
//! list from its shapes ([`crate::verify::shapes`]) and counted by the engine's cycle model
//! ([`crate::perf::engine`]) on a stall-free memory: per layer, where the time goes, the bytes
//! moved and the images per second.

use std::fmt::Write as _;

use crate::accel::AccelImage;
use crate::error::Result;
use crate::model::VitConfig;
use crate::perf::{self, EngineCycles, report};
use crate::rtl::Design;
use crate::rtl::vit::VitParams;

/// The engine's figures for one forward pass of `cfg` on `d`, memory read latency `latency`
/// cycles; a one-line reason instead when the engine cannot run it.
pub fn engine_report(d: &Design, cfg: &VitConfig, latency: u32) -> Result<String> {
    let mut s = String::from("\n");
    let head = "engine (repq_vit, `repq-hw program`'s command list)";
    if VitParams::new(d).is_none() {
        let _ = writeln!(
            s,
            "{head}: not generated for this design (it needs rows and columns that are powers \
             of two >= 8, 32-bit output lanes and 8-bit activation lanes)"
        );
        return Ok(s);
    }
    if cfg.distilled {
        let _ = writeln!(
            s,
            "{head}: a distilled model (two classifier heads) is not lowered to the engine yet"
        );
        return Ok(s);
    }
    let shapes = crate::verify::shapes::Shapes::new(cfg, d.wbits, d.abits);
    let image = match crate::verify::vit::plan(&shapes, d) {
        Ok(p) => p.image,
        Err(e) => {
            let _ = writeln!(s, "{head}: not lowered: {e}");
            return Ok(s);
        }
    };
    let cmds = AccelImage::command_words(&image.bytes);
    let e = perf::engine_cycles(d, &cmds, latency)?;
    let gbs = 8.0 * d.clock_mhz * 1e-3;
    let _ = writeln!(
        s,
        "{head}: {} commands, memory 64-bit AXI at {} MHz ({gbs:.2} GB/s each way), read \
         latency {latency} cycles, no back-pressure (`verify --end-to-end --stall-free \
         {latency}` runs the same memory; the model equals Verilator's count there)",
        e.commands, d.clock_mhz
    );
    let _ = writeln!(s, "{:<22}  {:>12}  {:>7}", "step", "cycles", "share");
    let total = e.cycles.max(1) as f64;
    let mut from = 0usize;
    let mut rows: Vec<(String, u64)> = Vec::new();
    let mut rest = 0u64;
    for (name, last) in &image.steps {
        let to = *last as usize + 1;
        let c = e.fetch_at[to] - e.fetch_at[from];
        from = to;
        if name.starts_with("blocks.") && !name.starts_with("blocks.0.") {
            if rest == 0 {
                rows.push((format!("blocks 1 .. {}", cfg.depth - 1), 0));
            }
            rest += c;
            if let Some(r) = rows.iter_mut().find(|r| r.0.starts_with("blocks 1 ")) {
                r.1 = rest;
            }
            continue;
        }
        rows.push((name.clone(), c));
    }
    for (name, c) in rows {
        let _ = writeln!(s, "{name:<22}  {c:>12}  {:>6.1}%", 100.0 * c as f64 / total);
    }
    let _ = writeln!(s, "{}", where_it_goes(&e));
    let secs = report::seconds(e.cycles, d.clock_mhz);
    let (rd, wr) = (e.read_words as f64 * 8.0, e.write_words as f64 * 8.0);
    let _ = writeln!(
        s,
        "memory       {:.2} MB read ({:.2} MB of it commands), {:.2} MB written per image; \
         {:.3} GB/s read on average ({:.1}% of the bus)",
        rd * 1e-6,
        e.commands as f64 * 32e-6,
        wr * 1e-6,
        rd / secs.max(1e-12) * 1e-9,
        100.0 * rd / secs.max(1e-12) * 1e-9 / gbs
    );
    let macs = perf::evaluate(d, &perf::vit_workload(cfg)).array_macs;
    let pes = u64::from(d.rows) * u64::from(d.cols);
    let _ = writeln!(
        s,
        "engine total {} cycles = {} per image at {} MHz = {:.2} images/s; array utilization \
         {:.2}% ({macs} MACs / ({pes} PEs x cycles))",
        e.cycles,
        fmt_time(secs),
        d.clock_mhz,
        if secs > 0.0 { 1.0 / secs } else { 0.0 },
        100.0 * report::utilization(macs, pes, e.cycles)
    );
    Ok(s)
}

/// `where the time goes (engine): command overhead 40.1%, ...`.
fn where_it_goes(e: &EngineCycles) -> String {
    let total = e.cycles.max(1) as f64;
    let p = |c: u64| format!("{:.1}%", 100.0 * c as f64 / total);
    format!(
        "where the time goes (engine): reads as fast as the memory {}, waiting for a unit to \
         take read beats {}, write channel draining at SYNC {}, command fetch and issue {}",
        p(e.read_memory),
        p(e.read_units),
        p(e.write_wait),
        p(e.overhead)
    )
}

fn fmt_time(seconds: f64) -> String {
    if seconds >= 1.0 {
        format!("{seconds:.3} s")
    } else {
        format!("{:.3} ms", seconds * 1e3)
    }
}
