//! What each connection measures, and how the measurements are merged and summarised.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use super::wire::Wire;

/// Highest latency a histogram tracks: a minute. Slower samples are clamped to it (and a run
/// where that matters has bigger problems than the tail).
const MAX_NANOS: u64 = 60_000_000_000;

/// A latency histogram in nanoseconds with 3 significant digits (0.1% error at every scale).
pub(crate) fn histogram() -> Histogram<u64> {
    // The bounds are constants that hdrhistogram accepts; the fallback is never taken.
    Histogram::new_with_bounds(1, MAX_NANOS, 3)
        .unwrap_or_else(|_| Histogram::new(3).expect("3 significant digits is valid"))
}

/// Records one latency sample.
pub(crate) fn record(histogram: &mut Histogram<u64>, elapsed: Duration) {
    let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
    histogram.saturating_record(nanos.clamp(1, MAX_NANOS));
}

/// The measurements of one connection (or, merged, of all of them) during the measured window.
#[derive(Debug)]
pub(crate) struct ConnStats {
    /// Round-trip latency of every echo received in the window.
    pub(crate) latency: Histogram<u64>,
    /// Messages sent in the window.
    pub(crate) sent: u64,
    /// Echoes received in the window.
    pub(crate) received: u64,
    /// Payload bytes sent in the window.
    pub(crate) bytes_sent: u64,
    /// Payload bytes received in the window.
    pub(crate) bytes_received: u64,
    /// WebSocket bytes on the wire in the window (headers and compression included); none
    /// over raw TCP, where the wire is the payload.
    pub(crate) wire: Option<Wire>,
    /// Echoes that differed from what was sent, and connections that failed mid-run.
    pub(crate) errors: u64,
    /// The first error seen, as an example for the report.
    pub(crate) first_error: Option<String>,
}

impl ConnStats {
    pub(crate) fn new() -> Self {
        Self {
            latency: histogram(),
            sent: 0,
            received: 0,
            bytes_sent: 0,
            bytes_received: 0,
            wire: None,
            errors: 0,
            first_error: None,
        }
    }

    pub(crate) fn error(&mut self, what: impl std::fmt::Display) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(what.to_string());
        }
    }

    pub(crate) fn merge(&mut self, other: &ConnStats) {
        // Same bounds on both sides, so adding cannot fail.
        let _ = self.latency.add(&other.latency);
        self.sent += other.sent;
        self.received += other.received;
        self.bytes_sent += other.bytes_sent;
        self.bytes_received += other.bytes_received;
        if let Some(other) = other.wire {
            let wire = self.wire.get_or_insert_with(Wire::default);
            wire.sent += other.sent;
            wire.received += other.received;
        }
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error.clone_from(&other.first_error);
        }
    }
}

/// A latency distribution summarised in microseconds.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Percentiles {
    pub(crate) samples: u64,
    pub(crate) mean_us: f64,
    pub(crate) p50_us: f64,
    pub(crate) p90_us: f64,
    pub(crate) p99_us: f64,
    pub(crate) p99_9_us: f64,
    pub(crate) max_us: f64,
}

impl Percentiles {
    pub(crate) fn of(histogram: &Histogram<u64>) -> Self {
        let us = |nanos: u64| nanos as f64 / 1_000.0;
        Self {
            samples: histogram.len(),
            mean_us: histogram.mean() / 1_000.0,
            p50_us: us(histogram.value_at_quantile(0.50)),
            p90_us: us(histogram.value_at_quantile(0.90)),
            p99_us: us(histogram.value_at_quantile(0.99)),
            p99_9_us: us(histogram.value_at_quantile(0.999)),
            max_us: us(histogram.max()),
        }
    }
}

/// Parses `10s`, `500ms`, `2m`, `1.5s` or a bare number of seconds.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("expected a duration such as 10s or 500ms, got {text:?}"))?;
    let seconds = match unit.trim() {
        "" | "s" => number,
        "ms" => number / 1_000.0,
        "us" | "µs" => number / 1_000_000.0,
        "m" | "min" => number * 60.0,
        "h" => number * 3_600.0,
        other => {
            return Err(format!(
                "unknown duration unit {other:?} (use ms, s, m or h)"
            ))
        }
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("{text:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_and_without_units() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("fast").is_err());
        assert!(parse_duration("3 days").is_err());
    }

    #[test]
    fn percentiles_are_reported_in_microseconds() {
        let mut histogram = histogram();
        for micros in 1..=1000 {
            record(&mut histogram, Duration::from_micros(micros));
        }
        let summary = Percentiles::of(&histogram);
        assert_eq!(summary.samples, 1000);
        assert!((summary.p50_us - 500.0).abs() < 1.0, "{summary:?}");
        assert!((summary.p99_us - 990.0).abs() < 1.0, "{summary:?}");
        assert!((summary.max_us - 1000.0).abs() < 1.0, "{summary:?}");
    }
}
