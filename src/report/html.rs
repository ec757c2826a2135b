//! The report as one self-contained HTML page (inline SVG and CSS, no script, nothing fetched),
//! and its writing: to a temporary file beside the target, renamed over it only when complete.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::figures;
use super::sqnr::Point;
use super::{Hardware, Report};
use crate::error::{Error, Result};
use crate::model::Site;
use crate::perf::report::seconds;
use crate::quant::WeightLayer;

/// The page's file name in the output directory.
pub const REPORT_FILE: &str = "report.html";

/// The ids of the page's sections, in order (the hardware one only with a design).
pub const SECTIONS: [&str; 5] = ["accuracy", "layernorm", "softmax", "sqnr", "hardware"];

const STYLE: &str = "body{font-family:sans-serif;margin:2em auto;max-width:1140px;color:#222;\
line-height:1.4}h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ccc}\
table{border-collapse:collapse;margin:.6em 0;font-size:.85em}td,th{border:1px solid #ddd;\
padding:2px 8px;text-align:right}th{background:#f4f4f4}td.l,th.l{text-align:left}\
figure{margin:1em 0}figure svg{max-width:100%;height:auto}figcaption{font-size:.9em;color:#444}\
code{background:#f4f4f4;padding:0 3px}details{margin:.5em 0}";

/// `s` with `&`, `<`, `>` and `"` escaped.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A dB value: 2 decimals, `inf` when there is no error at all.
fn db(v: f64) -> String {
    if v.is_infinite() && v > 0.0 {
        "inf (exact)".into()
    } else {
        format!("{v:.2}")
    }
}

fn figure(id: &str, svg: &str, caption: &str) -> String {
    format!("<figure id=\"fig-{id}\">\n{svg}\n<figcaption>{caption}</figcaption>\n</figure>\n")
}

/// The layer that consumes a point's values.
fn consumer(p: &Point) -> String {
    let layer = match p {
        Point::Logits => return "(model output)".into(),
        Point::Site(s) => match *s {
            Site::PatchInput => WeightLayer::PatchEmbed,
            Site::QkvInput(i) => WeightLayer::Qkv(i),
            Site::Query(i) | Site::Key(i) => return format!("blocks.{i}.attn Q K^T"),
            Site::Value(i) | Site::AttnProbs(i) => return format!("blocks.{i}.attn A x V"),
            Site::ProjInput(i) => WeightLayer::Proj(i),
            Site::Fc1Input(i) => WeightLayer::Fc1(i),
            Site::Fc2Input(i) => WeightLayer::Fc2(i),
            Site::HeadInput => WeightLayer::Head,
            Site::HeadDistInput => WeightLayer::HeadDist,
            Site::ReductionInput(s) => WeightLayer::Reduction(s),
        },
    };
    layer.name()
}

/// The whole page.
///
/// Errors: a figure that cannot be drawn.
pub fn render(r: &Report) -> Result<String> {
    let mut h = String::new();
    let title = format!("repq-hw report: {}", r.title);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{}</h1>\n<table>\n",
        escape(&title),
        escape(&title)
    );
    for (k, v) in &r.facts {
        let _ = writeln!(
            h,
            "<tr><th class=\"l\">{}</th><td class=\"l\">{}</td></tr>",
            escape(k),
            escape(v)
        );
    }
    h.push_str("</table>\n");
    accuracy(&mut h, r);
    layernorm(&mut h, r)?;
    softmax(&mut h, r)?;
    sqnr(&mut h, r)?;
    hardware(&mut h, r.hardware.as_ref())?;
    h.push_str("</body>\n</html>\n");
    Ok(h)
}

fn accuracy(h: &mut String, r: &Report) {
    let _ = write!(
        h,
        "<section id=\"accuracy\">\n<h2>Accuracy</h2>\n<p>On {}; the same numbers as \
         <code>repq-hw eval</code> (f32) and <code>repq-hw eval --model ARTIFACT --integer</code>.\
         </p>\n<table>\n<tr><th class=\"l\">model</th><th>top-1 (%)</th><th>top-5 (%)</th>\
         <th>images</th></tr>\n",
        escape(&r.eval_what)
    );
    for a in &r.accuracy {
        let _ = writeln!(
            h,
            "<tr><td class=\"l\">{}</td><td>{:.2}</td><td>{:.2}</td><td>{}</td></tr>",
            escape(&a.model),
            a.accuracy.top1_pct(),
            a.accuracy.top5_pct(),
            a.accuracy.total
        );
    }
    h.push_str("</table>\n</section>\n");
}

/// Which channels the figure draws (the table covers all).
fn channels_note(r: &Report) -> String {
    let d = r.layernorms.first().map_or(0, |l| l.before.min.len());
    if d > figures::MAX_CHANNELS {
        format!(
            "The figure draws the first {} of the {d} channels; the table covers all.",
            figures::MAX_CHANNELS
        )
    } else {
        format!("All {d} channels are drawn.")
    }
}

fn layernorm(h: &mut String, r: &Report) -> Result<()> {
    let svg = figures::layernorm_ranges(&r.layernorms)?;
    let reparam = r.layernorms.iter().any(|l| l.after.is_some());
    let _ = write!(
        h,
        "<section id=\"layernorm\">\n<h2>Post-LayerNorm activations: channel ranges before and \
         after the reparameterization (paper Fig. 2)</h2>\n<p>Per channel, the range [min, max] \
         of the activation entering qkv and fc1 over the calibration images, {}: the checkpoint's \
         X' (blue) and {} (orange). The dashed lines are the real range of the layer-wise \
         quantizer the artifact applies to it. {}</p>\n",
        escape(&r.calib_what),
        if reparam {
            "the reparameterized model's X~' = (X' + s r2) / r1 (Eq. 15), which one layer-wise \
             quantizer (s~, z~) covers"
        } else {
            "no reparameterized model (the artifact was quantized without --post-ln reparam)"
        },
        channels_note(r)
    );
    h.push_str(&figure(
        "layernorm",
        &svg,
        "Each panel: one LayerNorm and the layer it feeds; x: channel, y: activation value.",
    ));
    h.push_str(
        "<table>\n<tr><th class=\"l\">LayerNorm</th><th class=\"l\">feeds</th>\
         <th colspan=\"3\">channel width before: min / mean / max</th>\
         <th colspan=\"3\">after: min / mean / max</th><th>max / min before</th>\
         <th>max / min after</th><th class=\"l\">layer-wise quantizer range</th></tr>\n",
    );
    for l in &r.layernorms {
        let b = l.before.width_summary();
        let a = l.after.as_ref().map(|a| a.width_summary());
        let cell3 = |v: Option<[f64; 3]>| match v {
            Some([x, y, z]) => format!("<td>{x:.3}</td><td>{y:.3}</td><td>{z:.3}</td>"),
            None => "<td colspan=\"3\">-</td>".into(),
        };
        let ratio = |v: Option<[f64; 3]>| match v {
            Some([x, _, z]) if x > 0.0 => format!("{:.2}", z / x),
            _ => "-".into(),
        };
        let _ = writeln!(
            h,
            "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td>{}{}<td>{}</td><td>{}</td>\
             <td class=\"l\">{}</td></tr>",
            escape(&l.norm),
            escape(&l.consumer),
            cell3(Some(b)),
            cell3(a),
            ratio(Some(b)),
            ratio(a),
            l.layer_wise
                .map(|(lo, hi)| format!("[{lo:.3}, {hi:.3}]"))
                .unwrap_or_else(|| "per channel".into())
        );
    }
    h.push_str("</table>\n</section>\n");
    Ok(())
}

fn softmax(h: &mut String, r: &Report) -> Result<()> {
    let s = &r.softmax;
    let svg = figures::softmax_histogram(s)?;
    let _ = write!(
        h,
        "<section id=\"softmax\">\n<h2>Post-Softmax activations of block {} against the \
         quantizers' levels (paper Fig. 3)</h2>\n<p>The attention probabilities of \
         <code>blocks.{}.attn</code> (every head, query and key) over the calibration images, {}: \
         {} values, {:.2}% of them below 0.3 (the paper: 99.2% on DeiT-S), {} exactly 0. Counts \
         on a log scale; left over [0, 1], right over log2(a). Green: the {} log-sqrt2 levels \
         s 2^(-q/2), red: the {} log2 levels s 2^-q.</p>\n",
        s.block,
        s.block,
        escape(&r.calib_what),
        s.count,
        100.0 * s.below_0_3,
        s.zeros,
        s.log_sqrt2.levels.len(),
        s.log2_quantizer.levels.len(),
    );
    h.push_str(&figure(
        "softmax",
        &svg,
        "Gray bars: histogram; green (upper half): log-sqrt2 levels; red (lower half): log2 levels.",
    ));
    h.push_str(
        "<table>\n<tr><th class=\"l\">quantizer</th><th>scale s</th><th>values above s (clipped)</th>\
         <th>SQNR on these values (dB)</th><th class=\"l\">from</th></tr>\n",
    );
    for (name, l) in [("log-sqrt2", &s.log_sqrt2), ("log2", &s.log2_quantizer)] {
        let _ = writeln!(
            h,
            "<tr><td class=\"l\">{name}</td><td>{:.5}</td><td>{:.3}%</td><td>{}</td>\
             <td class=\"l\">{}</td></tr>",
            l.scale,
            100.0 * l.above_scale,
            db(l.sqnr_db),
            escape(&l.source)
        );
    }
    h.push_str("</table>\n</section>\n");
    Ok(())
}

fn sqnr(h: &mut String, r: &Report) -> Result<()> {
    let svg = figures::sqnr(&r.sqnr)?;
    let _ = write!(
        h,
        "<section id=\"sqnr\">\n<h2>Per-layer quantization error (SQNR)</h2>\n<p>SQNR = 10 \
         log10(sum x^2 / sum (x - x_q)^2) of every quantized activation (the input of every \
         quantized layer, in forward order) and of the logits, over the first {} held-out images \
         of {}. x: the f32 activation of the reparameterized float model (the checkpoint's \
         function, Eq. 16); x_q: the fake-quant activation after its quantizer (blue), or the \
         integer model's codes dequantized with their scale and zero point (orange).</p>\n",
        r.sqnr.images,
        escape(&r.eval_what)
    );
    h.push_str(&figure(
        "sqnr",
        &svg,
        "x: quantized activation in forward order (numbered as in the table); y: SQNR in dB.",
    ));
    h.push_str(
        "<details><summary>every layer's SQNR (table)</summary>\n<table>\n<tr><th>#</th>\
         <th class=\"l\">activation</th><th class=\"l\">consumed by</th>\
         <th>elements</th><th>fake-quant vs f32 (dB)</th><th>integer vs f32 (dB)</th>\
         <th>integer vs fake-quant (dB)</th></tr>\n",
    );
    for (i, (p, s)) in r.sqnr.rows.iter().enumerate() {
        let _ = writeln!(
            h,
            "<tr><td>{i}</td><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&p.name()),
            escape(&consumer(p)),
            s.elements,
            db(s.fake_quant_db()),
            db(s.integer_db()),
            db(s.integer_vs_fake_quant_db())
        );
    }
    h.push_str("</table>\n</details>\n</section>\n");
    Ok(())
}

fn hardware(h: &mut String, hw: Option<&Hardware>) -> Result<()> {
    h.push_str("<section id=\"hardware\">\n<h2>Hardware: per-layer cycles and utilization</h2>\n");
    let Some(hw) = hw else {
        h.push_str(
            "<p>No design given: run with <code>--rtl DIR</code>, a directory of \
             <code>repq-hw gen</code>, for the cycle model of one forward pass on it.</p>\n\
             </section>\n",
        );
        return Ok(());
    };
    let d = &hw.design;
    let e = &hw.evaluated;
    let svg = figures::perf(e)?;
    let total = e.cycles();
    let secs = seconds(total, d.clock_mhz);
    let _ = write!(
        h,
        "<p>The cycle model (<code>repq-hw perf</code>, docs/performance.md) of one forward pass \
         on the design in <code>{}</code>: {}x{} weight-stationary array, w{}a{}, M tile {}, {} \
         requantization lanes, {} MHz (<code>{}</code>). Every operation runs from start to done, \
         back to back, every stream always valid and ready; LayerNorm and softmax are not in the \
         RTL and cost nothing here.</p>\n<p>Total {} cycles = {:.3} ms per image at {} MHz \
         ({:.1} images/s); array utilization {:.1}% over its {} cycles, shift unit lane \
         utilization {:.1}% over its {} cycles.</p>\n",
        escape(&hw.rtl.display().to_string()),
        d.rows,
        d.cols,
        d.wbits,
        d.abits,
        d.m_tile,
        d.requant_lanes,
        d.clock_mhz,
        escape(&d.command),
        total,
        secs * 1e3,
        d.clock_mhz,
        if secs > 0.0 { 1.0 / secs } else { 0.0 },
        100.0 * e.array_utilization(d),
        e.array_cycles,
        100.0 * e.shift_av_utilization(d),
        e.shift_av_cycles
    );
    h.push_str(&figure(
        "hardware",
        &svg,
        "Top: cycles of each operation (all its jobs), coloured by the unit it runs on; bottom: \
         that unit's utilization (MACs or elements over lanes x cycles).",
    ));
    h.push_str(
        "<details><summary>every operation's cycles (table)</summary>\n<table>\n<tr><th>#</th>\
         <th class=\"l\">operation</th><th class=\"l\">unit</th>\
         <th>jobs</th><th>M x K x N</th><th>cycles/job</th><th>cycles</th><th>share</th>\
         <th>utilization</th></tr>\n",
    );
    for (i, o) in e.ops.iter().enumerate() {
        let _ = writeln!(
            h,
            "<tr><td>{i}</td><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{:.1}%</td><td>{:.1}%</td></tr>",
            escape(&o.op.name),
            figures::unit_name(o.op.unit).0,
            o.op.count,
            o.op.shape(),
            o.cycles_each,
            o.cycles,
            100.0 * o.cycles as f64 / total.max(1) as f64,
            100.0 * o.utilization
        );
    }
    h.push_str("</table>\n</details>\n</section>\n");
    Ok(())
}

/// Writes `html` to `dir/report.html` (creating `dir`): first to a temporary file in `dir`, then
/// renamed, so that the page is either the complete new one or not there. Returns its path.
///
/// Errors: `dir` cannot be created or written.
pub fn write(dir: &Path, html: &str) -> Result<PathBuf> {
    if dir.exists() && !dir.is_dir() {
        return Err(Error::Invalid(format!(
            "--out {}: is a file, not a directory; give a directory to write {REPORT_FILE} into",
            dir.display()
        )));
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let target = dir.join(REPORT_FILE);
    let tmp = dir.join(format!(".{REPORT_FILE}.{}.partial", std::process::id()));
    let result = std::fs::write(&tmp, html)
        .map_err(|e| Error::io(&tmp, e))
        .and_then(|()| std::fs::rename(&tmp, &target).map_err(|e| Error::io(&target, e)));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map(|()| target)
}
