//! The results: a table for people, one JSON object for machines.
//!
//! Rates are per second of the measured window; MB is 10^6 bytes of message payload (frame
//! headers and TCP/IP overhead are not counted), except on the `wire` line, which counts the
//! WebSocket bytes as sent (headers included, compressed if compression is on); latencies are
//! in microseconds.

use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use super::dial::is_out_of_files;
use super::payload::Kind;
use super::stats::{histogram, record, ConnStats, Percentiles};
use super::usage::{Readings, Usage};
use super::wire::Wire;

/// The opening phase: every connection's TCP connect plus handshake.
#[derive(Debug, Serialize)]
pub(crate) struct ConnectPhase {
    pub(crate) attempted: u64,
    pub(crate) opened: u64,
    pub(crate) failed: u64,
    /// From the first attempt to the last one finishing.
    pub(crate) seconds: f64,
    /// Connections opened per second of that phase.
    pub(crate) per_second: f64,
    /// TCP connect plus WebSocket handshake (plus TLS for wss://), per connection.
    pub(crate) latency: Option<Percentiles>,
    pub(crate) first_error: Option<String>,
    #[serde(skip)]
    pub(crate) out_of_files: bool,
    #[serde(skip)]
    histogram: Histogram<u64>,
}

impl ConnectPhase {
    pub(crate) fn new(attempted: u64) -> Self {
        Self {
            attempted,
            opened: 0,
            failed: 0,
            seconds: 0.0,
            per_second: 0.0,
            latency: None,
            first_error: None,
            out_of_files: false,
            histogram: histogram(),
        }
    }

    /// Adds one attempt: its time to open, or why it failed.
    pub(crate) fn add(&mut self, opened: Result<Duration, String>) {
        match opened {
            Ok(elapsed) => {
                self.opened += 1;
                record(&mut self.histogram, elapsed);
            }
            Err(e) => {
                self.failed += 1;
                self.out_of_files |= is_out_of_files(&e);
                self.first_error.get_or_insert(e);
            }
        }
    }

    pub(crate) fn finish(&mut self, elapsed: Duration) {
        self.seconds = elapsed.as_secs_f64();
        self.per_second = rate(self.opened, elapsed);
        self.latency = (self.opened > 0).then(|| Percentiles::of(&self.histogram));
    }

    /// The table's rows for the opening phase; `what` names the connections.
    pub(crate) fn write_rows(&self, out: &mut String, what: &str) {
        let _ = writeln!(
            out,
            "{what:<13} {} opened, {} failed of {}, {:.0}/s over {:.2} s",
            self.opened, self.failed, self.attempted, self.per_second, self.seconds
        );
        if let Some(latency) = &self.latency {
            let _ = writeln!(out, "  open (µs)   {}", latency_row(latency));
        }
        if let Some(e) = &self.first_error {
            let _ = writeln!(out, "  first error {e}");
        }
    }
}

/// A report as pretty JSON (`--json`).
pub(crate) fn to_json(report: &impl Serialize) -> String {
    serde_json::to_string_pretty(report).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

/// Idle mode: how many connections lasted.
#[derive(Debug, Default, Serialize)]
pub(crate) struct Held {
    /// Open from the end of the opening phase to the end of the run.
    pub(crate) held: u64,
    /// Closed or broken before the end.
    pub(crate) lost: u64,
    pub(crate) first_error: Option<String>,
}

impl Held {
    pub(crate) fn add(&mut self, result: Result<(), String>) {
        match result {
            Ok(()) => self.held += 1,
            Err(e) => {
                self.lost += 1;
                self.first_error.get_or_insert(e);
            }
        }
    }
}

/// What a report is made from.
pub(crate) struct Inputs<'a> {
    pub(crate) target: String,
    pub(crate) raw_tcp: bool,
    pub(crate) idle: bool,
    pub(crate) connections: u32,
    pub(crate) size: u32,
    pub(crate) payload: Kind,
    pub(crate) binary: bool,
    pub(crate) pipeline: u32,
    /// `--echo-rate`: the rate asked for, if the load was paced.
    pub(crate) rate: Option<f64>,
    pub(crate) duration: Duration,
    pub(crate) warmup: Duration,
    pub(crate) threads: usize,
    pub(crate) connect: ConnectPhase,
    pub(crate) held: Held,
    pub(crate) stats: &'a ConnStats,
    /// `--server-pid`'s readings.
    pub(crate) server: Option<Readings>,
    /// The load generator's own readings.
    pub(crate) client: Option<Readings>,
}

/// The run's settings, echoed in the report so a result file says how it was made.
#[derive(Debug, Serialize)]
pub(crate) struct Settings {
    pub(crate) connections: u32,
    pub(crate) message_size: u32,
    /// "letters" or "ticker".
    pub(crate) payload: &'static str,
    pub(crate) binary: bool,
    pub(crate) pipeline: u32,
    /// The messages per second asked for (`--echo-rate`); absent when sending as fast as
    /// echoes return.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) rate_per_s: Option<f64>,
    pub(crate) duration_s: f64,
    pub(crate) warmup_s: f64,
    pub(crate) threads: usize,
}

/// The echo load's results over the measured window.
#[derive(Debug, Serialize)]
pub(crate) struct Load {
    pub(crate) messages: u64,
    pub(crate) messages_per_s: f64,
    pub(crate) sent: u64,
    pub(crate) bytes_sent: u64,
    pub(crate) bytes_received: u64,
    pub(crate) mb_per_s_sent: f64,
    pub(crate) mb_per_s_received: f64,
    /// Payload bytes per message sent (the size, unless the payload is a ticker).
    pub(crate) mean_message_bytes: f64,
    /// WebSocket bytes on the wire (not over raw TCP).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) wire: Option<WireLoad>,
    pub(crate) latency: Option<Percentiles>,
    pub(crate) errors: u64,
    pub(crate) first_error: Option<String>,
}

/// The WebSocket bytes on the wire over the measured window: frame headers, client masks and
/// control frames included, compressed when permessage-deflate is on (TCP/IP not counted).
#[derive(Debug, Serialize)]
pub(crate) struct WireLoad {
    pub(crate) bytes_sent: u64,
    pub(crate) bytes_received: u64,
    pub(crate) mb_per_s_sent: f64,
    pub(crate) mb_per_s_received: f64,
    /// Wire bytes per payload byte sent: below 1 when compression pays.
    pub(crate) ratio_sent: f64,
    /// Wire bytes per payload byte received.
    pub(crate) ratio_received: f64,
}

impl WireLoad {
    fn new(wire: Wire, stats: &ConnStats, window: Duration) -> Self {
        let ratio = |wire: u64, payload: u64| {
            if payload > 0 {
                wire as f64 / payload as f64
            } else {
                0.0
            }
        };
        Self {
            bytes_sent: wire.sent,
            bytes_received: wire.received,
            mb_per_s_sent: rate(wire.sent, window) / 1e6,
            mb_per_s_received: rate(wire.received, window) / 1e6,
            ratio_sent: ratio(wire.sent, stats.bytes_sent),
            ratio_received: ratio(wire.received, stats.bytes_received),
        }
    }
}

/// Everything `switchboard bench` prints.
#[derive(Debug, Serialize)]
pub(crate) struct Report {
    /// "echo" or "idle".
    pub(crate) mode: &'static str,
    /// "websocket" or "raw-tcp".
    pub(crate) transport: &'static str,
    pub(crate) target: String,
    pub(crate) settings: Settings,
    pub(crate) connect: ConnectPhase,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) load: Option<Load>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) idle: Option<Held>,
    /// `--server-pid`: the server's CPU time and memory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) server: Option<Usage>,
    /// The load generator's own CPU time and memory (Linux): near 100% of its threads' cores,
    /// it may be what limits the run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) client: Option<Usage>,
}

impl Report {
    pub(crate) fn new(inputs: Inputs<'_>) -> Self {
        let stats = inputs.stats;
        let window = inputs.duration;
        let load = (!inputs.idle).then(|| Load {
            messages: stats.received,
            messages_per_s: rate(stats.received, window),
            sent: stats.sent,
            bytes_sent: stats.bytes_sent,
            bytes_received: stats.bytes_received,
            mb_per_s_sent: rate(stats.bytes_sent, window) / 1e6,
            mb_per_s_received: rate(stats.bytes_received, window) / 1e6,
            mean_message_bytes: if stats.sent > 0 {
                stats.bytes_sent as f64 / stats.sent as f64
            } else {
                0.0
            },
            wire: stats.wire.map(|wire| WireLoad::new(wire, stats, window)),
            latency: (stats.received > 0).then(|| Percentiles::of(&stats.latency)),
            errors: stats.errors,
            first_error: stats.first_error.clone(),
        });
        let connections = if inputs.idle {
            inputs.held.held
        } else {
            inputs.connect.opened
        };
        let messages = (!inputs.idle).then_some(stats.received);
        let usage = |readings| Usage::new(readings, messages, connections, window);
        let server = inputs.server.map(usage);
        let client = inputs.client.map(usage);
        Self {
            mode: if inputs.idle { "idle" } else { "echo" },
            transport: if inputs.raw_tcp {
                "raw-tcp"
            } else {
                "websocket"
            },
            target: inputs.target,
            settings: Settings {
                connections: inputs.connections,
                message_size: inputs.size,
                payload: inputs.payload.name(),
                binary: inputs.binary,
                pipeline: inputs.pipeline,
                rate_per_s: inputs.rate,
                duration_s: window.as_secs_f64(),
                warmup_s: inputs.warmup.as_secs_f64(),
                threads: inputs.threads,
            },
            connect: inputs.connect,
            load,
            idle: inputs.idle.then_some(inputs.held),
            server,
            client,
        }
    }

    /// One line naming the run, for the table and the chart.
    pub(crate) fn title(&self) -> String {
        let s = &self.settings;
        if self.idle.is_some() {
            return format!(
                "idle {} {}: {} connections held {} s",
                self.transport, self.target, s.connections, s.duration_s
            );
        }
        let content = match s.payload {
            "letters" => format!("{} B", s.message_size),
            ticker => format!(
                "{ticker} JSON up to {} B (one update at least)",
                s.message_size
            ),
        };
        let paced = match s.rate_per_s {
            Some(rate) => format!(", paced at {rate:.0} msg/s"),
            None => String::new(),
        };
        format!(
            "{} {} {}: {} connections, {content} {}, pipeline {}{paced}, {} s",
            self.mode,
            self.transport,
            self.target,
            s.connections,
            if s.binary { "binary" } else { "text" },
            s.pipeline,
            s.duration_s
        )
    }

    pub(crate) fn json(&self) -> String {
        to_json(self)
    }

    pub(crate) fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{}", self.title());
        self.connect.write_rows(&mut out, "connections");
        if let Some(held) = &self.idle {
            let _ = writeln!(
                out,
                "held          {} to the end, {} lost",
                held.held, held.lost
            );
            if let Some(e) = &held.first_error {
                let _ = writeln!(out, "  first error {e}");
            }
        }
        if let Some(load) = &self.load {
            let _ = writeln!(
                out,
                "messages      {} echoed, {:.0} msg/s",
                load.messages, load.messages_per_s
            );
            let _ = writeln!(
                out,
                "throughput    {:.2} MB/s sent, {:.2} MB/s received (payload)",
                load.mb_per_s_sent, load.mb_per_s_received
            );
            if let Some(wire) = &load.wire {
                let _ = writeln!(
                    out,
                    "wire          {:.2} MB/s sent, {:.2} MB/s received ({:.1}% and {:.1}% of \
                     the payload)",
                    wire.mb_per_s_sent,
                    wire.mb_per_s_received,
                    100.0 * wire.ratio_sent,
                    100.0 * wire.ratio_received
                );
            }
            if let Some(latency) = &load.latency {
                let _ = writeln!(out, "latency (µs)  {}", latency_row(latency));
            }
            let _ = writeln!(out, "errors        {}", load.errors);
            if let Some(e) = &load.first_error {
                let _ = writeln!(out, "  first error {e}");
            }
        }
        if let Some(server) = &self.server {
            usage_rows(&mut out, "server", server, true, "message");
        }
        if let Some(client) = &self.client {
            usage_rows(&mut out, "bench", client, false, "message");
        }
        out
    }
}

/// The `server` (`--server-pid`) or `bench` lines of the table; `memory` adds the RSS line;
/// CPU time is shown `per` message (echo) or delivery (fan-out).
pub(crate) fn usage_rows(out: &mut String, label: &str, usage: &Usage, memory: bool, per: &str) {
    let _ = write!(out, "{label:<14}pid {}", usage.pid);
    if let (Some(cpu), Some(percent)) = (usage.cpu_s, usage.cpu_percent) {
        let _ = write!(
            out,
            ": {cpu:.2} CPU-s in the window ({percent:.0}% of a core)"
        );
    }
    if let Some(per_message) = usage.cpu_us_per_message {
        let _ = write!(out, ", {per_message:.2} µs per {per}");
    }
    let _ = writeln!(out);
    if memory {
        let mb = |bytes: u64| bytes as f64 / 1e6;
        let _ = write!(
            out,
            "  memory      RSS {:.1} MB before connecting",
            mb(usage.rss_before_bytes)
        );
        if let Some(held) = usage.rss_held_bytes {
            let _ = write!(out, ", {:.1} MB with the connections open", mb(held));
        }
        if let Some(per_connection) = usage.rss_per_connection_bytes {
            let _ = write!(out, " ({:.1} KiB per connection)", per_connection / 1024.0);
        }
        let _ = writeln!(out);
    }
    if let Some(e) = &usage.error {
        let _ = writeln!(out, "  error       {e}");
    }
}

pub(crate) fn latency_row(p: &Percentiles) -> String {
    format!(
        "p50 {:.1}  p90 {:.1}  p99 {:.1}  p99.9 {:.1}  max {:.1}  mean {:.1}",
        p.p50_us, p.p90_us, p.p99_us, p.p99_9_us, p.max_us, p.mean_us
    )
}

pub(crate) fn rate(count: u64, over: Duration) -> f64 {
    let seconds = over.as_secs_f64();
    if seconds > 0.0 {
        count as f64 / seconds
    } else {
        0.0
    }
}
