//! The report's pictures: reem's median relative to raw per workload (`bench.svg`), latency
//! by message size (`bench-sizes.svg`), and CPU per delivered message by number of
//! subscribers (`bench-fanout.svg`).

use plotters::prelude::*;

use crate::measure::Row;
use crate::sweep::{FanoutPoint, SizePoint};

/// What drawing a picture gives.
pub type Draw = Result<(), Box<dyn std::error::Error>>;

/// A line of a chart: its name, its colour and its value at a point.
type Series<P> = (&'static str, RGBColor, fn(&P) -> f64);

const GOOD: RGBColor = RGBColor(46, 139, 87);
const BAD: RGBColor = RGBColor(200, 80, 60);
const REEM: RGBColor = RGBColor(46, 100, 180);
const RAW: RGBColor = RGBColor(200, 80, 60);
const WARM: RGBColor = RGBColor(230, 150, 40);
const DIRECT: RGBColor = RGBColor(90, 90, 90);

/// One bar: a workload's ratio and its target.
pub struct Bar {
    pub id: String,
    pub ratio: f64,
    pub target: String,
}

impl From<&Row> for Bar {
    fn from(r: &Row) -> Bar {
        Bar {
            id: r.id.clone(),
            ratio: r.ratio,
            target: r.target.clone(),
        }
    }
}

/// True if the bar's ratio meets its target (`≤ x` or `≥ x` in its text).
fn meets(r: &Bar) -> bool {
    let t = r.target.trim();
    let number = |s: &str| s.trim().parse::<f64>().ok();
    if let Some(x) = t.strip_prefix('≤').and_then(number) {
        r.ratio <= x
    } else if let Some(x) = t.strip_prefix('≥').and_then(number) {
        r.ratio >= x
    } else {
        true
    }
}

pub fn svg(rows: &[Bar], path: &std::path::Path, title: &str) -> Draw {
    let root = SVGBackend::new(path, (960, 420)).into_drawing_area();
    root.fill(&WHITE)?;
    let max = rows.iter().map(|r| r.ratio).fold(1.3f64, f64::max) * 1.1;
    let labels: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d((0..rows.len()).into_segmented(), 0f64..max)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(rows.len())
        .x_label_formatter(&|x| match x {
            SegmentValue::CenterOf(i) => labels.get(*i).cloned().unwrap_or_default(),
            _ => String::new(),
        })
        .y_desc("reem / raw (medians; W6: rate ratio); green: target met")
        .draw()?;
    chart.draw_series(rows.iter().enumerate().map(|(i, r)| {
        let colour = if meets(r) { GOOD } else { BAD };
        let mut bar = Rectangle::new(
            [
                (SegmentValue::Exact(i), 0.0),
                (SegmentValue::Exact(i + 1), r.ratio),
            ],
            colour.filled(),
        );
        bar.set_margin(0, 0, 8, 8);
        bar
    }))?;
    chart.draw_series(LineSeries::new(
        [
            (SegmentValue::Exact(0), 1.0),
            (SegmentValue::Exact(rows.len()), 1.0),
        ],
        BLACK.stroke_width(1),
    ))?;
    root.present()?;
    Ok(())
}

fn size_label(bytes: f64) -> String {
    if bytes >= (1 << 20) as f64 {
        format!("{:.0} MiB", bytes / (1 << 20) as f64)
    } else {
        format!("{:.0} KiB", bytes / 1024.0)
    }
}

/// Latency (log) against message size (the sizes grow ×4: one step each), get and set side
/// by side.
pub fn sizes(points: &[SizePoint], path: &std::path::Path, title: &str) -> Draw {
    let root = SVGBackend::new(path, (1000, 440)).into_drawing_area();
    root.fill(&WHITE)?;
    let (left, right) = root.split_horizontally(500);
    for (area, op) in [(left, "get"), (right, "set")] {
        let ps: Vec<&SizePoint> = points.iter().filter(|p| p.op == op).collect();
        if ps.is_empty() {
            continue;
        }
        let names: Vec<String> = ps.iter().map(|p| size_label(p.bytes as f64)).collect();
        let all = ps
            .iter()
            .flat_map(|p| [p.reem_us, p.raw_us, p.raw_warm_us, p.direct_us]);
        let (y0, y1) = all.fold((f64::MAX, 0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
        let mut chart = ChartBuilder::on(&area)
            .caption(format!("{op}, Array1<f64> ({title})"), ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(36)
            .y_label_area_size(60)
            .build_cartesian_2d(
                -0.3f64..(ps.len() as f64 - 0.7),
                (y0 / 1.5..y1 * 1.5).log_scale(),
            )?;
        chart
            .configure_mesh()
            .x_labels(ps.len())
            .x_label_formatter(&|x| {
                let i = x.round();
                if (x - i).abs() < 0.01 && i >= 0.0 {
                    names.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .y_label_formatter(&|y| {
                if *y >= 1000.0 {
                    format!("{:.0} ms", y / 1000.0)
                } else {
                    format!("{y:.0} µs")
                }
            })
            .x_desc("message size")
            .y_desc("median latency")
            .draw()?;
        let series: [Series<SizePoint>; 4] = [
            ("reem", REEM, |p| p.reem_us),
            ("raw redis crate", RAW, |p| p.raw_us),
            ("raw, heap kept", WARM, |p| p.raw_warm_us),
            ("direct RESP floor", DIRECT, |p| p.direct_us),
        ];
        for (name, colour, y) in series {
            let xy: Vec<(f64, f64)> = ps
                .iter()
                .enumerate()
                .map(|(i, p)| (i as f64, y(p)))
                .collect();
            line(&mut chart, &xy, name, colour)?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;
    }
    root.present()?;
    Ok(())
}

/// Draws `points` as a line named `name` in the legend, with a dot at each point.
fn line<X, Y>(
    chart: &mut ChartContext<'_, SVGBackend<'_>, Cartesian2d<X, Y>>,
    points: &[(f64, f64)],
    name: &'static str,
    colour: RGBColor,
) -> Draw
where
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    chart
        .draw_series(LineSeries::new(
            points.iter().copied(),
            colour.stroke_width(2),
        ))?
        .label(name)
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], colour.stroke_width(2)));
    chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, colour.filled())))?;
    Ok(())
}

/// CPU per delivered message against the number of subscribers (both log).
pub fn fanout(points: &[FanoutPoint], path: &std::path::Path, title: &str) -> Draw {
    let root = SVGBackend::new(path, (640, 420)).into_drawing_area();
    root.fill(&WHITE)?;
    let xs = |p: &FanoutPoint| p.subscribers as f64;
    let (x0, x1) = (
        points.first().map_or(1.0, xs),
        points.last().map_or(1000.0, xs),
    );
    let (y0, y1) = points
        .iter()
        .flat_map(|p| [p.reem_cpu_us, p.raw_cpu_us])
        .fold((f64::MAX, 0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("subscriber CPU per delivered message ({title})"),
            ("sans-serif", 16),
        )
        .margin(10)
        .x_label_area_size(36)
        .y_label_area_size(60)
        .build_cartesian_2d(
            (x0 / 1.5..x1 * 1.5).log_scale(),
            (y0 / 2.0..y1 * 2.0).log_scale(),
        )?;
    chart
        .configure_mesh()
        .x_desc("subscribers of one topic in one process")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_desc("CPU µs per message per subscriber")
        .y_label_formatter(&|y| format!("{y:.1} µs"))
        .draw()?;
    let series: [Series<FanoutPoint>; 2] = [
        ("reem (one dispatcher thread)", REEM, |p| p.reem_cpu_us),
        ("raw redis crate (one PubSub thread)", RAW, |p| p.raw_cpu_us),
    ];
    for (name, colour, y) in series {
        let xy: Vec<(f64, f64)> = points.iter().map(|p| (xs(p), y(p))).collect();
        line(&mut chart, &xy, name, colour)?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}
