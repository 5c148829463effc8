//! The node's counters, and their Prometheus text exposition.
//!
//! Counters are atomics shared by every connection. Traffic is counted per connection and
//! added to them in batches, so a fan-out to ten thousand subscribers does not make ten
//! thousand tasks fight over one cache line per message.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Upper bounds of the command latency histogram, in seconds.
const LATENCY_BUCKETS: [f64; 12] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 1.0,
];

/// The protocol's methods, in the order their histograms are kept.
pub(crate) const METHODS: [&str; 8] = [
    "connect",
    "subscribe",
    "unsubscribe",
    "publish",
    "presence",
    "presence_stats",
    "history",
    "ping",
];

#[derive(Default)]
struct Histogram {
    buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    count: AtomicU64,
    sum_nanos: AtomicU64,
}

impl Histogram {
    fn observe(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        if let Some(i) = LATENCY_BUCKETS.iter().position(|&le| seconds <= le) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_nanos
            .fetch_add(elapsed.as_nanos() as u64, Ordering::Relaxed);
    }
}

/// Every counter the node keeps.
#[derive(Default)]
pub struct Metrics {
    pub(crate) connections_protocol: AtomicU64,
    pub(crate) connections_plain: AtomicU64,
    pub(crate) connections_accepted: AtomicU64,
    pub(crate) connections_refused: AtomicU64,
    pub(crate) messages_in: AtomicU64,
    pub(crate) bytes_in: AtomicU64,
    pub(crate) messages_out: AtomicU64,
    pub(crate) bytes_out: AtomicU64,
    pub(crate) publications: AtomicU64,
    pub(crate) slow_disconnects: AtomicU64,
    pub(crate) api_requests: AtomicU64,
    pub(crate) api_errors: AtomicU64,
    commands: [Histogram; METHODS.len()],
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// Records how long a command took, from its frame to its reply.
    pub(crate) fn command(&self, method: &str, elapsed: Duration) {
        if let Some(i) = METHODS.iter().position(|&m| m == method) {
            self.commands[i].observe(elapsed);
        }
    }

    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// The Prometheus text exposition format (version 0.0.4); `gauges` and `totals` are
    /// values the node computes when asked (subscriptions, channels; deliveries and the
    /// engine's counters).
    pub fn render(&self, gauges: &[(&str, &str, u64)], totals: &[(&str, &str, u64)]) -> String {
        let mut out = String::with_capacity(4096);
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        metric(
            &mut out,
            "switchboard_connections",
            "gauge",
            "Open client connections, by kind.",
            &[
                ("{kind=\"protocol\"}", load(&self.connections_protocol)),
                ("{kind=\"plain\"}", load(&self.connections_plain)),
            ],
        );
        let counters: [(&str, &str, &AtomicU64); 10] = [
            (
                "switchboard_connections_accepted_total",
                "WebSocket connections accepted.",
                &self.connections_accepted,
            ),
            (
                "switchboard_connections_refused_total",
                "Connections refused by a connection limit.",
                &self.connections_refused,
            ),
            (
                "switchboard_messages_received_total",
                "WebSocket messages received from clients.",
                &self.messages_in,
            ),
            (
                "switchboard_bytes_received_total",
                "Payload bytes received from clients.",
                &self.bytes_in,
            ),
            (
                "switchboard_messages_sent_total",
                "WebSocket messages sent to clients.",
                &self.messages_out,
            ),
            (
                "switchboard_bytes_sent_total",
                "Payload bytes sent to clients.",
                &self.bytes_out,
            ),
            (
                "switchboard_publications_total",
                "Publications accepted (clients and the HTTP API).",
                &self.publications,
            ),
            (
                "switchboard_slow_client_disconnects_total",
                "Clients disconnected because their outbox overflowed.",
                &self.slow_disconnects,
            ),
            (
                "switchboard_api_requests_total",
                "HTTP API requests.",
                &self.api_requests,
            ),
            (
                "switchboard_api_errors_total",
                "HTTP API requests answered with an error.",
                &self.api_errors,
            ),
        ];
        for (name, help, counter) in counters {
            metric(&mut out, name, "counter", help, &[("", load(counter))]);
        }
        for (name, help, value) in totals {
            metric(&mut out, name, "counter", help, &[("", *value)]);
        }
        for (name, help, value) in gauges {
            metric(&mut out, name, "gauge", help, &[("", *value)]);
        }
        let name = "switchboard_command_duration_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Time from a command's frame to its reply, by method."
        );
        let _ = writeln!(out, "# TYPE {name} histogram");
        for (method, histogram) in METHODS.iter().zip(&self.commands) {
            let mut cumulative = 0;
            for (le, bucket) in LATENCY_BUCKETS.iter().zip(&histogram.buckets) {
                cumulative += load(bucket);
                let _ = writeln!(
                    out,
                    "{name}_bucket{{method=\"{method}\",le=\"{le}\"}} {cumulative}"
                );
            }
            let count = load(&histogram.count);
            let _ = writeln!(
                out,
                "{name}_bucket{{method=\"{method}\",le=\"+Inf\"}} {count}"
            );
            let sum = load(&histogram.sum_nanos) as f64 / 1e9;
            let _ = writeln!(out, "{name}_sum{{method=\"{method}\"}} {sum}");
            let _ = writeln!(out, "{name}_count{{method=\"{method}\"}} {count}");
        }
        out
    }
}

fn metric(out: &mut String, name: &str, kind: &str, help: &str, samples: &[(&str, u64)]) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    for (labels, value) in samples {
        let _ = writeln!(out, "{name}{labels} {value}");
    }
}

/// One connection's traffic, counted locally and added to the node's counters in batches.
pub(crate) struct Traffic {
    metrics: Arc<super::Node>,
    messages_in: u64,
    bytes_in: u64,
    messages_out: u64,
    bytes_out: u64,
}

impl Traffic {
    pub(crate) fn new(node: Arc<super::Node>) -> Self {
        Self {
            metrics: node,
            messages_in: 0,
            bytes_in: 0,
            messages_out: 0,
            bytes_out: 0,
        }
    }

    pub(crate) fn received(&mut self, bytes: usize) {
        self.messages_in += 1;
        self.bytes_in += bytes as u64;
    }

    pub(crate) fn sent(&mut self, bytes: usize) {
        self.messages_out += 1;
        self.bytes_out += bytes as u64;
    }

    /// Adds what was counted to the node's counters.
    pub(crate) fn publish(&mut self) {
        let m = &self.metrics.metrics;
        for (counter, local) in [
            (&m.messages_in, &mut self.messages_in),
            (&m.bytes_in, &mut self.bytes_in),
            (&m.messages_out, &mut self.messages_out),
            (&m.bytes_out, &mut self.bytes_out),
        ] {
            if *local > 0 {
                Metrics::add(counter, std::mem::take(local));
            }
        }
    }
}

impl Drop for Traffic {
    fn drop(&mut self) {
        self.publish();
    }
}
