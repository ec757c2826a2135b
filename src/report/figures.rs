//! The report's figures as SVG text (plotters' SVG backend, text left to the viewer's generic
//! `sans-serif` font: nothing reads a font file when the figures are made).

use plotters::coord::Shift;
use plotters::prelude::*;

use super::sqnr::{LayerSqnr, Point};
use super::stats::{LINEAR_BINS, LOG2_BINS_PER_OCTAVE, LnRanges, SoftmaxHistogram};
use crate::error::{Error, Result};
use crate::model::Site;
use crate::perf::{Evaluated, Unit};

const BEFORE: RGBColor = RGBColor(31, 119, 180);
const AFTER: RGBColor = RGBColor(255, 127, 14);
const SQRT2: RGBColor = RGBColor(44, 160, 44);
const LOG2: RGBColor = RGBColor(214, 39, 40);
const BARS: RGBColor = RGBColor(120, 120, 120);
const LAYERNORM: RGBColor = RGBColor(148, 103, 189);
const SOFTMAX: RGBColor = RGBColor(140, 86, 75);
const GRID: RGBColor = RGBColor(225, 225, 225);
const FONT: &str = "sans-serif";

fn draw_error(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Invalid(format!("report: drawing {what}: {e}"))
}

/// Runs `draw` on an SVG canvas of `size` pixels and returns the SVG text.
fn svg(
    what: &str,
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> Result<()>,
) -> Result<String> {
    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| draw_error(what, e))?;
        draw(&root)?;
        root.present().map_err(|e| draw_error(what, e))?;
    }
    Ok(text)
}

/// Channels drawn per LayerNorm panel (the first ones; the paper's Fig. 2 shows 50).
pub const MAX_CHANNELS: usize = 128;

/// Height of one LayerNorm panel and of the legend strip above them, pixels.
const LN_PANEL: u32 = 150;
const LEGEND: u32 = 28;

/// Figure 2: per channel, the range `[min, max]` of each post-LayerNorm activation before (blue)
/// and after (orange) the reparameterization, one panel per LayerNorm, with the layer-wise
/// quantizer's range after it (dashed orange lines).
pub fn layernorm_ranges(lns: &[LnRanges]) -> Result<String> {
    let what = "the post-LayerNorm ranges";
    let rows = lns.len().max(1);
    svg(what, (1100, LEGEND + LN_PANEL * rows as u32), |root| {
        let (legend, rest) = root.split_vertically(LEGEND);
        legend_strip(
            &legend,
            &[
                (
                    BEFORE,
                    "before the reparameterization: X' of the checkpoint",
                ),
                (AFTER, "after: X~' = (X' + s r2) / r1 (Eq. 15)"),
                (
                    AFTER,
                    "- - layer-wise quantizer range [-z~ s~, (2^b - 1 - z~) s~]",
                ),
            ],
        )
        .map_err(|e| draw_error(what, e))?;
        let panels = rest.split_evenly((rows, 1));
        for (area, ln) in panels.iter().zip(lns) {
            layernorm_panel(area, ln).map_err(|e| draw_error(what, e))?;
        }
        Ok(())
    })
}

/// Coloured swatches with their labels, left to right.
fn legend_strip(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    items: &[(RGBColor, &str)],
) -> std::result::Result<(), DrawingAreaErrorKind<std::io::Error>> {
    let mut x = 60;
    for (color, label) in items {
        area.draw(&Rectangle::new([(x, 10), (x + 16, 16)], color.filled()))?;
        area.draw(&Text::new(label.to_string(), (x + 22, 7), (FONT, 12)))?;
        x += 40 + 6 * label.len() as i32;
    }
    Ok(())
}

fn layernorm_panel(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    ln: &LnRanges,
) -> std::result::Result<(), DrawingAreaErrorKind<std::io::Error>> {
    let channels = ln.before.min.len().min(MAX_CHANNELS);
    let mut lo = f32::INFINITY;
    let mut hi = f32::NEG_INFINITY;
    for r in std::iter::once(&ln.before).chain(ln.after.as_ref()) {
        lo = r.min[..channels].iter().copied().fold(lo, f32::min);
        hi = r.max[..channels].iter().copied().fold(hi, f32::max);
    }
    if let Some((a, b)) = ln.layer_wise {
        lo = lo.min(a);
        hi = hi.max(b);
    }
    let pad = 0.05 * (hi - lo).max(1e-6);
    let mut chart = ChartBuilder::on(area)
        .caption(format!("{} -> {}", ln.norm, ln.consumer), (FONT, 13))
        .margin(4)
        .x_label_area_size(22)
        .y_label_area_size(44)
        .build_cartesian_2d(-1f32..channels as f32, (lo - pad)..(hi + pad))?;
    chart
        .configure_mesh()
        .light_line_style(GRID)
        .bold_line_style(GRID)
        .x_labels(16)
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_labels(5)
        .y_label_formatter(&|v| format!("{v:.1}"))
        .label_style((FONT, 11))
        .draw()?;
    let bars = |r: &super::stats::ChannelRanges, dx: f32, color: RGBColor| {
        (0..channels)
            .map(move |c| {
                PathElement::new(
                    vec![(c as f32 + dx, r.min[c]), (c as f32 + dx, r.max[c])],
                    color.stroke_width(3),
                )
            })
            .collect::<Vec<_>>()
    };
    chart.draw_series(bars(&ln.before, -0.18, BEFORE))?;
    if let Some(after) = &ln.after {
        chart.draw_series(bars(after, 0.18, AFTER))?;
    }
    if let Some((a, b)) = ln.layer_wise {
        for v in [a, b] {
            chart.draw_series(dashed(-1.0, channels as f32, v, AFTER))?;
        }
    }
    Ok(())
}

/// A horizontal dashed line at `y` from `x0` to `x1`, as segments.
fn dashed(x0: f32, x1: f32, y: f32, color: RGBColor) -> Vec<PathElement<(f32, f32)>> {
    let step = (x1 - x0) / 120.0;
    (0..120)
        .step_by(2)
        .map(|i| {
            let a = x0 + i as f32 * step;
            PathElement::new(vec![(a, y), (a + step, y)], color.stroke_width(1))
        })
        .collect()
}

/// Figure 3: the post-Softmax histogram of one block (log-scale counts) over `[0, 1]` and over
/// `log2(a)`, with the log-sqrt2 levels (green) and the log2 levels (red) marked.
pub fn softmax_histogram(h: &SoftmaxHistogram) -> Result<String> {
    let what = "the post-Softmax histogram";
    svg(what, (1100, 330), |root| {
        let (left, right) = root.split_horizontally(550);
        let ymax = h
            .linear
            .iter()
            .chain(&h.log2)
            .copied()
            .max()
            .unwrap_or(1)
            .max(1) as f64
            * 2.0;
        histogram_panel(&left, h, Axis::Linear, ymax).map_err(|e| draw_error(what, e))?;
        histogram_panel(&right, h, Axis::Log2, ymax).map_err(|e| draw_error(what, e))?;
        Ok(())
    })
}

/// The x axis of a histogram panel: the probability, or its base-2 logarithm.
#[derive(Clone, Copy, PartialEq)]
enum Axis {
    Linear,
    Log2,
}

impl Axis {
    fn map(self, v: f32) -> f64 {
        match self {
            Axis::Linear => f64::from(v),
            Axis::Log2 => f64::from(v).log2(),
        }
    }

    /// The bins as (left edge, right edge, count).
    fn bins(self, h: &SoftmaxHistogram) -> Vec<(f64, f64, u64)> {
        let (counts, lo, step) = match self {
            Axis::Linear => (&h.linear, 0.0, 1.0 / LINEAR_BINS as f64),
            Axis::Log2 => (&h.log2, h.log2_lo, 1.0 / LOG2_BINS_PER_OCTAVE as f64),
        };
        counts
            .iter()
            .enumerate()
            .map(|(i, &c)| (lo + i as f64 * step, lo + (i + 1) as f64 * step, c))
            .collect()
    }
}

fn histogram_panel(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    h: &SoftmaxHistogram,
    axis: Axis,
    ymax: f64,
) -> std::result::Result<(), DrawingAreaErrorKind<std::io::Error>> {
    let (title, xdesc, (x0, x1), legend) = match axis {
        Axis::Linear => (
            "linear axis",
            "a",
            (0.0, 1.0),
            SeriesLabelPosition::UpperRight,
        ),
        Axis::Log2 => (
            "log2 axis, a > 0",
            "log2(a)",
            (h.log2_lo, 0.5),
            SeriesLabelPosition::UpperLeft,
        ),
    };
    let title = format!("blocks.{}.attn.probs ({title})", h.block);
    let bins = axis.bins(h);
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FONT, 14))
        .margin(8)
        .x_label_area_size(30)
        .y_label_area_size(50)
        .build_cartesian_2d(x0..x1, (0.5f64..ymax).log_scale())?;
    chart
        .configure_mesh()
        .light_line_style(GRID)
        .bold_line_style(GRID)
        .x_desc(xdesc)
        .y_desc("count")
        .x_label_formatter(&|v| format!("{v:.1}"))
        .y_label_formatter(&|v| format!("{v:.0}"))
        .label_style((FONT, 11))
        .axis_desc_style((FONT, 11))
        .draw()?;
    chart.draw_series(
        bins.iter()
            .filter(|b| b.2 > 0)
            .map(|&(a, b, c)| Rectangle::new([(a, 0.5), (b, c as f64)], BARS.mix(0.7).filled())),
    )?;
    for set in [&h.log_sqrt2, &h.log2_quantizer] {
        let color = match set.base {
            crate::quant::quantizer::LogBase::Sqrt2 => SQRT2,
            crate::quant::quantizer::LogBase::Two => LOG2,
        };
        let name = match set.base {
            crate::quant::quantizer::LogBase::Sqrt2 => "log-sqrt2",
            crate::quant::quantizer::LogBase::Two => "log2",
        };
        let xs: Vec<f64> = set
            .levels
            .iter()
            .map(|&v| axis.map(v))
            .filter(|x| x.is_finite() && (x0..=x1).contains(x))
            .collect();
        // log2 levels in the lower half of the panel, log-sqrt2 in the upper, so that the
        // coinciding ones stay visible.
        let (ya, yb) = match set.base {
            crate::quant::quantizer::LogBase::Two => (0.5, ymax.sqrt()),
            crate::quant::quantizer::LogBase::Sqrt2 => (ymax.sqrt(), ymax),
        };
        chart
            .draw_series(
                xs.iter()
                    .map(|&x| PathElement::new(vec![(x, ya), (x, yb)], color.stroke_width(2))),
            )?
            .label(format!("{name} levels (s = {:.4})", set.scale))
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 14, y)], color.stroke_width(3))
            });
    }
    chart
        .configure_series_labels()
        .position(legend)
        .label_font((FONT, 11))
        .background_style(WHITE.mix(0.85))
        .border_style(GRID)
        .draw()?;
    Ok(())
}

/// Short label of a point, for the figure's block separators.
fn block_of(p: &Point) -> Option<usize> {
    match p {
        Point::Site(
            Site::QkvInput(i)
            | Site::Query(i)
            | Site::Key(i)
            | Site::Value(i)
            | Site::AttnProbs(i)
            | Site::ProjInput(i)
            | Site::Fc1Input(i)
            | Site::Fc2Input(i),
        ) => Some(*i),
        _ => None,
    }
}

/// Per-layer SQNR in dB: fake-quant (blue) and integer (orange) against f32, and the integer
/// against the fake-quant model (green), at every point in forward order, with the blocks marked.
pub fn sqnr(s: &LayerSqnr) -> Result<String> {
    let what = "the per-layer SQNR";
    let n = s.rows.len();
    let vals: Vec<[f64; 3]> = s
        .rows
        .iter()
        .map(|(_, x)| {
            [
                x.fake_quant_db(),
                x.integer_db(),
                x.integer_vs_fake_quant_db(),
            ]
        })
        .collect();
    let finite = vals.iter().flatten().copied().filter(|v| v.is_finite());
    let (lo, hi) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| {
        (l.min(v), h.max(v))
    });
    let (lo, hi) = if lo <= hi {
        (lo.min(0.0) - 2.0, hi + 6.0)
    } else {
        (0.0, 1.0)
    };
    svg(what, (1100, 380), |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(50)
            .build_cartesian_2d(-0.5f64..n as f64 - 0.5, lo..hi)
            .map_err(|e| draw_error(what, e))?;
        chart
            .configure_mesh()
            .light_line_style(GRID)
            .bold_line_style(GRID)
            .x_labels(26)
            .x_label_formatter(&|v| format!("{v:.0}"))
            .y_label_formatter(&|v| format!("{v:.0}"))
            .x_desc("quantized activation, forward order (# in the table below)")
            .y_desc("SQNR (dB)")
            .label_style((FONT, 11))
            .axis_desc_style((FONT, 11))
            .draw()
            .map_err(|e| draw_error(what, e))?;
        // Block separators and names.
        let mut last = None;
        for (i, (p, _)) in s.rows.iter().enumerate() {
            let b = block_of(p);
            if b.is_some() && b != last {
                let x = i as f64 - 0.5;
                chart
                    .draw_series([PathElement::new(
                        vec![(x, lo), (x, hi)],
                        BARS.stroke_width(1),
                    )])
                    .map_err(|e| draw_error(what, e))?;
                chart
                    .draw_series([Text::new(
                        format!("block {}", b.unwrap_or(0)),
                        (x + 0.2, hi - 0.5),
                        (FONT, 11).into_font().color(&BARS),
                    )])
                    .map_err(|e| draw_error(what, e))?;
            }
            last = b;
        }
        for (k, color, name, radius) in [
            (0, BEFORE, "fake-quant vs f32", 5),
            (1, AFTER, "integer vs f32", 3),
            (2, SQRT2, "integer vs fake-quant", 3),
        ] {
            let pts: Vec<(f64, f64)> = vals
                .iter()
                .enumerate()
                .map(|(i, v)| (i as f64, v[k]))
                .filter(|p| p.1.is_finite())
                .collect();
            chart
                .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
                .map_err(|e| draw_error(what, e))?
                .label(name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 14, y)], color.stroke_width(3))
                });
            chart
                .draw_series(pts.iter().map(|&p| Circle::new(p, radius, color.filled())))
                .map_err(|e| draw_error(what, e))?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerLeft)
            .label_font((FONT, 11))
            .background_style(WHITE.mix(0.85))
            .border_style(GRID)
            .draw()
            .map_err(|e| draw_error(what, e))?;
        Ok(())
    })
}

/// The unit's name and colour.
pub fn unit_name(u: Unit) -> (&'static str, RGBColor) {
    match u {
        Unit::Array => ("array (repq_top)", BEFORE),
        Unit::ShiftAv => ("shift A x V (repq_shift_av)", SQRT2),
        Unit::AvRequant => ("A x V requant (repq_av_requant)", AFTER),
        Unit::Gelu => ("GELU (repq_gelu)", LOG2),
        Unit::Residual => ("residual (repq_residual)", BARS),
        Unit::LayerNorm => ("LayerNorm (repq_layernorm)", LAYERNORM),
        Unit::Softmax => ("softmax (repq_softmax)", SOFTMAX),
        Unit::AvgPool => ("average pool (repq_avgpool)", AFTER),
    }
}

/// Per-operation cycles (log scale, bars coloured by unit) and utilization of one forward pass.
pub fn perf(e: &Evaluated) -> Result<String> {
    let what = "the per-layer cycles";
    let n = e.ops.len();
    let cmax = e.ops.iter().map(|o| o.cycles).max().unwrap_or(1).max(1) as f64 * 30.0;
    svg(what, (1100, 520), |root| {
        let (top, bottom) = root.split_vertically(300);
        let mut chart = ChartBuilder::on(&top)
            .caption("cycles of each operation (all heads)", (FONT, 14))
            .margin(8)
            .x_label_area_size(24)
            .y_label_area_size(60)
            .build_cartesian_2d(-0.5f64..n as f64 - 0.5, (1f64..cmax).log_scale())
            .map_err(|e| draw_error(what, e))?;
        chart
            .configure_mesh()
            .light_line_style(GRID)
            .bold_line_style(GRID)
            .y_desc("cycles")
            .x_labels(20)
            .x_label_formatter(&|v| format!("{v:.0}"))
            .y_label_formatter(&|v| format!("{v:.0}"))
            .label_style((FONT, 11))
            .axis_desc_style((FONT, 11))
            .draw()
            .map_err(|e| draw_error(what, e))?;
        for unit in [
            Unit::Array,
            Unit::ShiftAv,
            Unit::AvRequant,
            Unit::Gelu,
            Unit::Residual,
            Unit::LayerNorm,
            Unit::Softmax,
        ] {
            let (name, color) = unit_name(unit);
            let bars: Vec<_> = e
                .ops
                .iter()
                .enumerate()
                .filter(|(_, o)| o.op.unit == unit && o.cycles > 0)
                .map(|(i, o)| {
                    Rectangle::new(
                        [(i as f64 - 0.4, 1.0), (i as f64 + 0.4, o.cycles as f64)],
                        color.filled(),
                    )
                })
                .collect();
            if bars.is_empty() {
                continue;
            }
            chart
                .draw_series(bars)
                .map_err(|e| draw_error(what, e))?
                .label(name)
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 4), (x + 10, y + 4)], color.filled())
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .label_font((FONT, 11))
            .background_style(WHITE.mix(0.85))
            .border_style(GRID)
            .draw()
            .map_err(|e| draw_error(what, e))?;
        let mut chart = ChartBuilder::on(&bottom)
            .caption("utilization of the unit each operation runs on", (FONT, 14))
            .margin(8)
            .x_label_area_size(30)
            .y_label_area_size(60)
            .build_cartesian_2d(-0.5f64..n as f64 - 0.5, 0f64..105f64)
            .map_err(|e| draw_error(what, e))?;
        chart
            .configure_mesh()
            .light_line_style(GRID)
            .bold_line_style(GRID)
            .x_desc("operation, execution order (table below)")
            .y_desc("utilization (%)")
            .x_labels(20)
            .x_label_formatter(&|v| format!("{v:.0}"))
            .y_label_formatter(&|v| format!("{v:.0}"))
            .label_style((FONT, 11))
            .axis_desc_style((FONT, 11))
            .draw()
            .map_err(|e| draw_error(what, e))?;
        chart
            .draw_series(e.ops.iter().enumerate().map(|(i, o)| {
                Rectangle::new(
                    [
                        (i as f64 - 0.4, 0.0),
                        (i as f64 + 0.4, 100.0 * o.utilization),
                    ],
                    unit_name(o.op.unit).1.filled(),
                )
            }))
            .map_err(|e| draw_error(what, e))?;
        Ok(())
    })
}
