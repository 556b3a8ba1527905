//! The report's picture: reem's median latency relative to raw, one bar per workload.

use plotters::prelude::*;

use crate::measure::Row;

pub fn svg(
    rows: &[Row],
    path: &std::path::Path,
    title: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::new(path, (900, 420)).into_drawing_area();
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
        .y_desc("reem / raw (medians; W6: rate ratio)")
        .draw()?;
    chart.draw_series(rows.iter().enumerate().map(|(i, r)| {
        let good = if r.id == "W6" {
            r.ratio >= 0.8
        } else {
            r.ratio <= 1.10 || r.id.starts_with("W5") && r.ratio <= 1.25
        };
        let colour = if good {
            RGBColor(46, 139, 87)
        } else {
            RGBColor(200, 80, 60)
        };
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
