//! The latency distribution as an SVG chart, drawn by hand.
//!
//! The layout of HdrHistogram's and wrk2's percentile plots: latency up the y axis, and along
//! the x axis the percentile on a log scale of 1/(1 - q), so 90%, 99%, 99.9% and 99.99% sit
//! at equal steps and the tail gets as much room as the median.

use std::fmt::Write as _;

use hdrhistogram::Histogram;

const WIDTH: f64 = 800.0;
const HEIGHT: f64 = 480.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 30.0;
const TOP: f64 = 50.0;
const BOTTOM: f64 = 60.0;

/// Renders `histogram` (nanoseconds) as an SVG document titled `title`.
pub(crate) fn svg(histogram: &Histogram<u64>, title: &str) -> String {
    let points = curve(histogram);
    // Enough decades to show the highest percentile the samples can resolve (at least 99.9%).
    let nines = (histogram.len().max(1) as f64)
        .log10()
        .ceil()
        .clamp(3.0, 6.0);
    let max_us = points.iter().map(|p| p.1).fold(1.0, f64::max);
    let y_top = nice_ceiling(max_us * 1.05);
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let x = |nines_at: f64| LEFT + plot_w * (nines_at / nines).min(1.0);
    let y = |us: f64| TOP + plot_h * (1.0 - us / y_top);

    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(out, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        out,
        r#"<text x="{}" y="24" text-anchor="middle" font-size="14">{}</text>"#,
        WIDTH / 2.0,
        escape(title)
    );
    // Vertical grid: one line per decade of 1/(1 - q).
    for decade in 0..=nines as u32 {
        let px = x(f64::from(decade));
        let label = percentile_label(decade);
        let _ = writeln!(
            out,
            r##"<line x1="{px:.1}" y1="{TOP}" x2="{px:.1}" y2="{:.1}" stroke="#ddd"/><text x="{px:.1}" y="{:.1}" text-anchor="middle">{label}</text>"##,
            TOP + plot_h,
            TOP + plot_h + 18.0
        );
    }
    // Horizontal grid: five steps of latency.
    for step in 0..=5 {
        let us = y_top * f64::from(step) / 5.0;
        let py = y(us);
        let _ = writeln!(
            out,
            r##"<line x1="{LEFT}" y1="{py:.1}" x2="{:.1}" y2="{py:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            LEFT + plot_w,
            LEFT - 8.0,
            py + 4.0,
            format_us(us)
        );
    }
    let _ = writeln!(
        out,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">percentile</text>"#,
        LEFT + plot_w / 2.0,
        HEIGHT - 14.0
    );
    let _ = writeln!(
        out,
        r#"<text x="18" y="{:.1}" text-anchor="middle" transform="rotate(-90 18 {:.1})">latency</text>"#,
        TOP + plot_h / 2.0,
        TOP + plot_h / 2.0
    );
    let mut path = String::new();
    for (nines_at, us) in &points {
        let _ = write!(path, "{:.1},{:.1} ", x(*nines_at), y(*us));
    }
    let _ = writeln!(
        out,
        r##"<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="{}"/>"##,
        path.trim_end()
    );
    if points.is_empty() {
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">no samples</text>"#,
            LEFT + plot_w / 2.0,
            TOP + plot_h / 2.0
        );
    }
    out.push_str("</svg>\n");
    out
}

/// (log10(1 / (1 - q)), latency in µs) along the distribution, five points per halving of
/// the remaining tail; the last point (q = 1, the maximum) is placed at the right edge.
fn curve(histogram: &Histogram<u64>) -> Vec<(f64, f64)> {
    let mut points = Vec::new();
    for step in histogram.iter_quantiles(5) {
        let q = step.quantile_iterated_to();
        let us = step.value_iterated_to() as f64 / 1_000.0;
        let nines_at = if q < 1.0 {
            (1.0 / (1.0 - q)).log10()
        } else {
            f64::INFINITY
        };
        points.push((nines_at, us));
    }
    points
}

fn percentile_label(decade: u32) -> String {
    match decade {
        0 => "0%".into(),
        1 => "90%".into(),
        n => format!("99.{}%", "9".repeat(n as usize - 2)).replace("99.%", "99%"),
    }
}

fn nice_ceiling(value: f64) -> f64 {
    let magnitude = 10f64.powf(value.log10().floor());
    for step in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if value <= step * magnitude {
            return step * magnitude;
        }
    }
    10.0 * magnitude
}

fn format_us(us: f64) -> String {
    if us >= 1_000.0 {
        let ms = format!("{:.3}", us / 1_000.0);
        format!("{} ms", ms.trim_end_matches('0').trim_end_matches('.'))
    } else {
        format!("{us:.0} µs")
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::stats::{histogram, record};
    use std::time::Duration;

    #[test]
    fn the_chart_is_an_svg_with_a_curve_and_percentile_axis() {
        let mut h = histogram();
        for micros in 1..=10_000 {
            record(&mut h, Duration::from_micros(micros));
        }
        let svg = svg(&h, "a <test>");
        assert!(svg.starts_with("<svg "));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("<polyline"));
        assert!(svg.contains("a &lt;test&gt;"));
        for label in ["90%", "99%", "99.9%", "99.99%"] {
            assert!(svg.contains(&format!(">{label}<")), "{label}");
        }
        assert!(!svg.contains("NaN") && !svg.contains("inf"));
    }

    #[test]
    fn labels_and_scales() {
        assert_eq!(percentile_label(2), "99%");
        assert_eq!(percentile_label(4), "99.99%");
        assert_eq!(nice_ceiling(730.0), 1000.0);
        assert_eq!(nice_ceiling(41.0), 50.0);
        assert_eq!(format_us(1500.0), "1.5 ms");
        assert_eq!(format_us(42.0), "42 µs");
    }
}
