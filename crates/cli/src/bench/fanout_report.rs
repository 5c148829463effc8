//! Fan-out's results: a table for people, one JSON object for machines.
//!
//! Rates are per second of the measured window. A delivery is one publication of the window
//! reaching one subscriber; latency is from the publisher's send to the subscriber's receipt,
//! in microseconds.

use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use super::fanout::Received;
use super::publish::Published;
use super::report::{latency_row, rate, usage_rows, ConnectPhase};
use super::stats::Percentiles;
use super::usage::{Readings, Usage};

/// The run's settings, echoed in the report.
#[derive(Debug, Serialize)]
pub(crate) struct Settings {
    pub(crate) subscribers: u32,
    pub(crate) channels: u32,
    pub(crate) channel_prefix: String,
    /// Publications per second per channel, as asked.
    pub(crate) rate_per_channel: f64,
    /// "ws" or "api".
    pub(crate) publish_via: &'static str,
    /// `--size`: messages are padded to about this many bytes.
    pub(crate) message_size: u32,
    pub(crate) duration_s: f64,
    pub(crate) warmup_s: f64,
    /// How long subscribers wait after the window for its last publications.
    pub(crate) drain_s: f64,
    pub(crate) threads: usize,
}

/// Failures the run met outside the per-subscriber counts (a task that panicked).
#[derive(Debug, Default)]
pub(crate) struct Totals {
    errors: u64,
    first_error: Option<String>,
}

impl Totals {
    pub(crate) fn error(&mut self, what: impl std::fmt::Display) {
        self.errors += 1;
        self.first_error.get_or_insert_with(|| what.to_string());
    }
}

/// What a report is made from.
pub(crate) struct Inputs<'a> {
    pub(crate) nodes: Vec<String>,
    pub(crate) settings: Settings,
    /// The subscribers' connections.
    pub(crate) connect: ConnectPhase,
    /// Per channel.
    pub(crate) published: &'a [Published],
    /// Per subscriber that opened.
    pub(crate) received: &'a [Received],
    pub(crate) totals: Totals,
    pub(crate) latency: &'a Histogram<u64>,
    /// `--server-pid`'s readings, in the order given.
    pub(crate) servers: Vec<Readings>,
    pub(crate) client: Option<Readings>,
    pub(crate) window: Duration,
}

/// The publishers over the measured window.
#[derive(Debug, Serialize)]
pub(crate) struct Publish {
    pub(crate) publishers: usize,
    /// Publications in the window, all channels.
    pub(crate) published: u64,
    pub(crate) per_s: f64,
    /// Per channel: compare with `settings.rate_per_channel`.
    pub(crate) per_s_per_channel: f64,
    /// API publications the hub refused.
    pub(crate) failed: u64,
    /// Publishers that stopped early or had a publication refused.
    pub(crate) errors: u64,
    pub(crate) first_error: Option<String>,
}

/// The deliveries of the window's publications.
#[derive(Debug, Serialize)]
pub(crate) struct Delivery {
    pub(crate) deliveries: u64,
    pub(crate) deliveries_per_s: f64,
    /// Per subscriber, its channel's publications in the window, summed.
    pub(crate) expected: u64,
    /// Expected deliveries that did not arrive in order (lost, or not there by the end of the
    /// drain).
    pub(crate) missing: u64,
    /// Subscribers missing at least one.
    pub(crate) subscribers_missing: u64,
    /// Deliveries whose sequence number was not above every one before: duplicates or
    /// reorderings.
    pub(crate) out_of_order: u64,
    /// Subscribers whose connection broke or was closed before the end.
    pub(crate) subscribers_failed: u64,
    /// Messages without a stamp (another client publishing in the channels).
    pub(crate) other_messages: u64,
    pub(crate) mean_message_bytes: f64,
    /// Publish to receipt.
    pub(crate) latency: Option<Percentiles>,
    pub(crate) errors: u64,
    pub(crate) first_error: Option<String>,
}

/// The `--server-pid` processes together: deliveries per server CPU-second.
#[derive(Debug, Serialize)]
pub(crate) struct ServerTotal {
    pub(crate) cpu_s: f64,
    /// Cores busy on average over the window, in percent of one.
    pub(crate) cpu_percent: f64,
    pub(crate) cpu_us_per_delivery: Option<f64>,
    /// Deliveries per second of server CPU time: deliveries per second per busy core.
    pub(crate) deliveries_per_cpu_s: Option<f64>,
}

/// Everything fan-out mode prints.
#[derive(Debug, Serialize)]
pub(crate) struct Report {
    /// "fanout".
    pub(crate) mode: &'static str,
    pub(crate) nodes: Vec<String>,
    pub(crate) settings: Settings,
    pub(crate) connect: ConnectPhase,
    pub(crate) publish: Publish,
    pub(crate) delivery: Delivery,
    /// One per `--server-pid`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) servers: Vec<Usage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) server_total: Option<ServerTotal>,
    /// The load generator's own CPU time and memory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) client: Option<Usage>,
}

impl Report {
    pub(crate) fn new(inputs: Inputs<'_>) -> Self {
        let window = inputs.window;
        let published = inputs.published;
        let in_window = |channel: usize| published.get(channel).map_or(0, |p| p.in_window);
        let mut d = Delivery {
            deliveries: 0,
            deliveries_per_s: 0.0,
            expected: 0,
            missing: 0,
            subscribers_missing: 0,
            out_of_order: 0,
            subscribers_failed: 0,
            other_messages: 0,
            mean_message_bytes: 0.0,
            latency: (!inputs.latency.is_empty()).then(|| Percentiles::of(inputs.latency)),
            errors: inputs.totals.errors,
            first_error: inputs.totals.first_error,
        };
        let mut bytes = 0;
        // Connections per node: its subscribers, and on the first the publishers.
        let mut per_node = vec![0_u64; inputs.nodes.len().max(1)];
        per_node[0] += published.len() as u64;
        for r in inputs.received {
            let expected = in_window(r.channel);
            let missing = expected.saturating_sub(r.delivered - r.out_of_order);
            d.deliveries += r.delivered;
            d.expected += expected;
            d.missing += missing;
            d.subscribers_missing += u64::from(missing > 0);
            d.out_of_order += r.out_of_order;
            d.other_messages += r.other;
            bytes += r.bytes;
            if let Some(node) = per_node.get_mut(r.node) {
                *node += 1;
            }
            if let Some(e) = &r.error {
                d.subscribers_failed += 1;
                d.errors += 1;
                d.first_error.get_or_insert_with(|| e.clone());
            }
        }
        d.deliveries_per_s = rate(d.deliveries, window);
        if d.deliveries > 0 {
            d.mean_message_bytes = bytes as f64 / d.deliveries as f64;
        }
        let publish = Publish {
            publishers: published.len(),
            published: published.iter().map(|p| p.in_window).sum(),
            per_s: 0.0,
            per_s_per_channel: 0.0,
            failed: published.iter().map(|p| p.failed).sum(),
            errors: published.iter().filter(|p| p.error.is_some()).count() as u64,
            first_error: published.iter().find_map(|p| p.error.clone()),
        };
        let publish = Publish {
            per_s: rate(publish.published, window),
            per_s_per_channel: rate(publish.published, window) / published.len().max(1) as f64,
            ..publish
        };
        let all: u64 = per_node.iter().sum();
        let one_per_node = inputs.servers.len() == inputs.nodes.len();
        let servers: Vec<Usage> = inputs
            .servers
            .into_iter()
            .enumerate()
            .map(|(i, readings)| {
                let connections = if one_per_node { per_node[i] } else { all };
                Usage::new(readings, Some(d.deliveries), connections, window)
            })
            .collect();
        let server_total = total(&servers, d.deliveries, window);
        let client = inputs
            .client
            .map(|readings| Usage::new(readings, Some(d.deliveries), all, window));
        Self {
            mode: "fanout",
            nodes: inputs.nodes,
            settings: inputs.settings,
            connect: inputs.connect,
            publish,
            delivery: d,
            servers,
            server_total,
            client,
        }
    }

    /// One line naming the run, for the table and the chart.
    pub(crate) fn title(&self) -> String {
        let s = &self.settings;
        let nodes = match self.nodes.len() {
            1 => String::new(),
            n => format!(" and {} more nodes", n - 1),
        };
        format!(
            "fanout {}{nodes}: {} subscribers on {} channel{}, {} publications/s per channel via \
             {}, {} s",
            self.nodes.first().map_or("", String::as_str),
            s.subscribers,
            s.channels,
            if s.channels == 1 { "" } else { "s" },
            s.rate_per_channel,
            s.publish_via,
            s.duration_s
        )
    }

    pub(crate) fn json(&self) -> String {
        super::report::to_json(self)
    }

    pub(crate) fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{}", self.title());
        self.connect.write_rows(&mut out, "subscribers");
        let p = &self.publish;
        let _ = writeln!(
            out,
            "published     {} in the window, {:.1}/s per channel ({:.0}/s in all), {} refused",
            p.published, p.per_s_per_channel, p.per_s, p.failed
        );
        if let Some(e) = &p.first_error {
            let _ = writeln!(out, "  first error {e}");
        }
        let d = &self.delivery;
        let _ = writeln!(
            out,
            "deliveries    {} of {} expected, {:.0}/s, {:.0} B each",
            d.deliveries, d.expected, d.deliveries_per_s, d.mean_message_bytes
        );
        let _ = writeln!(
            out,
            "  missing     {} (at {} subscribers), {} out of order, {} subscribers failed",
            d.missing, d.subscribers_missing, d.out_of_order, d.subscribers_failed
        );
        if let Some(latency) = &d.latency {
            let _ = writeln!(out, "latency (µs)  {}", latency_row(latency));
        }
        let _ = writeln!(out, "errors        {}", d.errors + p.errors);
        if let Some(e) = &d.first_error {
            let _ = writeln!(out, "  first error {e}");
        }
        for server in &self.servers {
            usage_rows(&mut out, "server", server, true, "delivery");
        }
        if let Some(t) = &self.server_total {
            let _ = write!(
                out,
                "server CPU    {:.2} CPU-s ({:.0}% of a core)",
                t.cpu_s, t.cpu_percent
            );
            if let Some(per_cpu_s) = t.deliveries_per_cpu_s {
                let _ = write!(out, ": {per_cpu_s:.0} deliveries per CPU-second");
            }
            let _ = writeln!(out);
        }
        if let Some(client) = &self.client {
            usage_rows(&mut out, "bench", client, false, "delivery");
        }
        out
    }
}

/// The servers' CPU time added up, when every one was read.
fn total(servers: &[Usage], deliveries: u64, window: Duration) -> Option<ServerTotal> {
    if servers.is_empty() {
        return None;
    }
    let cpu_s: f64 = servers.iter().map(|s| s.cpu_s).sum::<Option<f64>>()?;
    let seconds = window.as_secs_f64();
    Some(ServerTotal {
        cpu_s,
        cpu_percent: if seconds > 0.0 {
            100.0 * cpu_s / seconds
        } else {
            0.0
        },
        cpu_us_per_delivery: (deliveries > 0).then(|| cpu_s * 1e6 / deliveries as f64),
        deliveries_per_cpu_s: (cpu_s > 0.0).then(|| deliveries as f64 / cpu_s),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_counts_what_did_not_arrive_in_order_per_subscriber() {
        let published = [
            Published {
                in_window: 10,
                ..Published::default()
            },
            Published {
                in_window: 4,
                ..Published::default()
            },
        ];
        let subscriber = |channel, delivered, out_of_order| Received {
            channel,
            delivered,
            out_of_order,
            bytes: delivered * 30,
            ..Received::default()
        };
        let received = [
            subscriber(0, 10, 0),
            subscriber(0, 9, 1),
            subscriber(1, 4, 0),
        ];
        let report = Report::new(Inputs {
            nodes: vec!["ws://127.0.0.1:1".into()],
            settings: Settings {
                subscribers: 3,
                channels: 2,
                channel_prefix: "bench-".into(),
                rate_per_channel: 5.0,
                publish_via: "ws",
                message_size: 16,
                duration_s: 2.0,
                warmup_s: 0.0,
                drain_s: 5.0,
                threads: 1,
            },
            connect: ConnectPhase::new(3),
            published: &published,
            received: &received,
            totals: Totals::default(),
            latency: &super::super::stats::histogram(),
            servers: Vec::new(),
            client: None,
            window: Duration::from_secs(2),
        });
        let d = &report.delivery;
        assert_eq!(d.deliveries, 23);
        assert_eq!(d.expected, 24);
        assert_eq!(
            (d.missing, d.subscribers_missing, d.out_of_order),
            (2, 1, 1)
        );
        assert!((d.deliveries_per_s - 11.5).abs() < 1e-9);
        assert_eq!(report.publish.published, 14);
        assert!((report.publish.per_s_per_channel - 3.5).abs() < 1e-9);
        assert!(report.table().contains("deliveries    23 of 24 expected"));
    }
}
