//! The page's chart: one bar panel per scenario, a bar per server, the ceiling in grey. Drawn
//! with plotters' SVG backend from the same results as the tables.

use std::path::Path;

use plotters::{
    coord::ranged1d::SegmentValue,
    prelude::*,
    style::text_anchor::{HPos, Pos, VPos},
};

use crate::{
    measure::{Outcome, Row},
    page::Results,
};

const CEILING: RGBColor = RGBColor(150, 150, 150);
const CHAPTER: RGBColor = RGBColor(49, 110, 180);
const PANEL_WIDTH: u32 = 560;
const PANEL_HEIGHT: u32 = 340;

/// One panel: a title, the unit of its axis, and a bar per server (`None`: not applicable).
struct Panel {
    title: String,
    unit: &'static str,
    bars: Vec<(&'static str, Option<f64>)>,
}

fn bars(rows: &[Row], value: fn(&Outcome) -> Option<f64>) -> Vec<(&'static str, Option<f64>)> {
    rows.iter().map(|row| (row.server.key, row.get(value))).collect()
}

fn panels(results: &Results) -> Vec<Panel> {
    let mut panels = Vec::new();
    if let Some(rows) = &results.echo {
        panels.push(Panel {
            title: "Echo: messages per second (higher is better)".into(),
            unit: "msgs/s",
            bars: bars(rows, Outcome::msgs_per_sec),
        });
    }
    if let Some(rows) = &results.idle {
        panels.push(Panel {
            title: "Idle: server memory per connection (lower is better)".into(),
            unit: "KiB",
            bars: bars(rows, Outcome::per_conn_kib),
        });
    }
    // Every server is offered the same deliveries a second, so the rate says little: the price
    // of a delivery does.
    if let Some(room) = results.broadcast.as_ref().and_then(|rooms| rooms.last()) {
        panels.push(Panel {
            title: format!(
                "Broadcast, room of {}: server CPU per delivery (lower is better)",
                room.room.members
            ),
            unit: "µs",
            bars: bars(&room.rows, Outcome::cpu_per_answer),
        });
    }
    // The ceiling's churn rate is its client's (see the page), so the comparable number is
    // what a cycle costs the server.
    if let Some(rows) = &results.churn {
        panels.push(Panel {
            title: "Churn: server CPU per connect-echo-close cycle (lower is better)".into(),
            unit: "µs",
            bars: bars(rows, Outcome::cpu_per_answer),
        });
    }
    panels
}

/// `1234567` -> `1.23M`, `45678` -> `45.7k`, `2.54` -> `2.5`.
fn short(value: f64) -> String {
    if value >= 1e6 {
        format!("{:.2}M", value / 1e6)
    } else if value >= 1e4 {
        format!("{:.1}k", value / 1e3)
    } else if value >= 100.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    }
}

pub(crate) fn draw(results: &Results, path: &Path) -> anyhow::Result<()> {
    let panels = panels(results);
    let columns = panels.len().clamp(1, 2);
    let rows = panels.len().div_ceil(2).max(1);
    let size = (PANEL_WIDTH * columns as u32, PANEL_HEIGHT * rows as u32);
    let root = SVGBackend::new(path, size).into_drawing_area();
    root.fill(&WHITE)?;
    let areas = root.split_evenly((rows, columns));
    for (area, panel) in areas.iter().zip(&panels) {
        draw_panel(area, panel)?;
    }
    root.present()?;
    Ok(())
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    panel: &Panel,
) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    let count = panel.bars.len();
    let top = panel.bars.iter().filter_map(|(_, value)| *value).fold(0.0, f64::max);
    // Room above the tallest bar for its label.
    let top = if top > 0.0 { top * 1.18 } else { 1.0 };
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.title, ("sans-serif", 16))
        .margin(10)
        .x_label_area_size(26)
        .y_label_area_size(56)
        // A segmented range has one segment per value, ends included: 0..count-1 is `count`.
        .build_cartesian_2d((0..count.saturating_sub(1)).into_segmented(), 0.0..top)
        .map_err(|error| anyhow::anyhow!("{error}"))?;
    let labels: Vec<&str> = panel.bars.iter().map(|(label, _)| *label).collect();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(WHITE)
        .x_labels(count + 1)
        .x_label_formatter(&|value| match value {
            SegmentValue::CenterOf(i) => labels.get(*i).copied().unwrap_or_default().to_owned(),
            _ => String::new(),
        })
        .y_labels(6)
        .y_label_formatter(&|value| short(*value))
        .y_desc(panel.unit)
        .label_style(("sans-serif", 12))
        .draw()
        .map_err(|error| anyhow::anyhow!("{error}"))?;

    let bars = panel.bars.iter().enumerate().filter_map(|(i, (label, value))| {
        let color = if *label == "tcp" { CEILING } else { CHAPTER };
        value.map(|value| {
            let mut bar = Rectangle::new(
                [(SegmentValue::Exact(i), 0.0), (SegmentValue::Exact(i + 1), value)],
                color.filled(),
            );
            bar.set_margin(0, 0, 7, 7);
            bar
        })
    });
    chart.draw_series(bars).map_err(|error| anyhow::anyhow!("{error}"))?;

    let above =
        TextStyle::from(("sans-serif", 11).into_font()).pos(Pos::new(HPos::Center, VPos::Bottom));
    let texts = panel.bars.iter().enumerate().map(|(i, (_, value))| {
        let (text, at) = match value {
            Some(value) => (short(*value), *value),
            None => ("n/a".to_owned(), 0.0),
        };
        Text::new(text, (SegmentValue::CenterOf(i), at), above.clone())
    });
    chart.draw_series(texts).map_err(|error| anyhow::anyhow!("{error}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::{measure::test_outcome, plan::SERVERS};

    #[test]
    fn every_panel_has_a_labelled_bar_per_server() {
        let rows: Vec<Row> = SERVERS
            .iter()
            .enumerate()
            .map(|(i, server)| Row {
                server: *server,
                outcome: Some(test_outcome(
                    json!({
                        "messages": { "frame_bytes": 33, "sent": 1, "received": 1, "measured": 1,
                            "per_sec": 1000.0 * (i + 1) as f64, "skipped": 0 },
                        "server_rss": { "baseline_kib": 1, "open_kib": 1, "end_kib": 1,
                            "closed_kib": 1, "peak_kib": 1, "per_connection_kib": 2.5 },
                        "server_cpu": { "cpu_secs": 1.0, "cores": 1.0, "per_answer_us": 1234.0,
                            "user_secs": 1.0, "per_answer_user_us": 1.0 },
                    }),
                    &[],
                )),
            })
            .collect();
        let results = Results {
            echo: Some(rows.clone()),
            idle: Some(rows.clone()),
            churn: Some(rows),
            ..Results::default()
        };
        let path = std::env::temp_dir().join(format!("bench-chart-{}.svg", std::process::id()));
        draw(&results, &path).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        for text in ["Echo: messages per second", "ch07", "ch08", "9000", "2.5", "1234"] {
            assert!(svg.contains(text), "{text} missing");
        }
        assert_eq!(short(1_234_567.0), "1.23M");
        assert_eq!(short(45_678.0), "45.7k");
        assert_eq!(short(2.54), "2.5");
    }
}
