//! `switchboard bench` against `switchboard echo` processes (WebSocket and raw TCP): the JSON
//! report, the SVG chart, idle mode, the ticker payload and bytes on the wire, the server's
//! CPU and memory (`--server-pid`), and the exit codes; and fan-out mode against a
//! `switchboard serve` process.
//!
//! Functional checks only: short runs, no assertions on speed. Every process is started here
//! with `kill_on_drop` and waited for within [`BOUND`].
#![allow(clippy::unwrap_used)]

mod common;

use common::hub::Serve;
use common::{echo_process, switchboard};

use std::process::Output;
use std::time::Duration;

use serde_json::Value;

const BOUND: Duration = Duration::from_secs(30);

async fn bench(args: &[&str]) -> Output {
    let child = switchboard().arg("bench").args(args).spawn().unwrap();
    tokio::time::timeout(BOUND, child.wait_with_output())
        .await
        .expect("switchboard bench did not exit in time")
        .unwrap()
}

fn json(output: &Output) -> Value {
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

/// Checks an echo run's report: messages flowed, nothing broke, percentiles are ordered.
/// Latency percentiles are positive and in order.
fn assert_ordered_percentiles(latency: &Value, report: &Value) {
    let p = |name: &str| latency[name].as_f64().unwrap();
    assert!(p("p50_us") > 0.0, "{report:#}");
    assert!(p("p50_us") <= p("p90_us"), "{report:#}");
    assert!(p("p90_us") <= p("p99_us"), "{report:#}");
    assert!(p("p99_us") <= p("p99_9_us"), "{report:#}");
    assert!(p("p99_9_us") <= p("max_us"), "{report:#}");
}

fn assert_sane_load(report: &Value, connections: u64) {
    assert_eq!(report["mode"], "echo");
    assert_eq!(report["connect"]["opened"], connections, "{report:#}");
    assert_eq!(report["connect"]["failed"], 0, "{report:#}");
    let load = &report["load"];
    assert!(load["messages"].as_u64().unwrap() > 0, "{report:#}");
    assert!(load["messages_per_s"].as_f64().unwrap() > 0.0, "{report:#}");
    assert_eq!(load["errors"], 0, "{report:#}");
    let latency = &load["latency"];
    assert_ordered_percentiles(latency, report);
    assert_eq!(
        latency["samples"], load["messages"],
        "one latency sample per echo: {report:#}"
    );
}

#[tokio::test]
async fn echo_mode_reports_json_with_messages_and_ordered_percentiles() {
    let echo = echo_process(&[]).await;
    let output = bench(&[
        &echo.url, "-c", "2", "-d", "1s", "--warmup", "200ms", "--json",
    ])
    .await;
    let report = json(&output);
    assert_sane_load(&report, 2);
    assert_eq!(report["transport"], "websocket");
    assert_eq!(report["settings"]["message_size"], 16);
    assert!(report["connect"]["latency"]["p50_us"].as_f64().unwrap() > 0.0);
}

#[tokio::test]
async fn binary_pipelined_run_prints_a_table_and_writes_an_svg_chart() {
    let echo = echo_process(&[]).await;
    let dir = std::env::temp_dir().join(format!("switchboard-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let plot = dir.join("latency.svg");
    let output = bench(&[
        &echo.url,
        "-c",
        "2",
        "-d",
        "1s",
        "--warmup",
        "0s",
        "--binary",
        "--size",
        "1000",
        "--pipeline",
        "8",
        "--plot",
        plot.to_str().unwrap(),
    ])
    .await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    for line in ["messages", "throughput", "latency (µs)", "errors        0"] {
        assert!(stdout.contains(line), "no {line:?} in:\n{stdout}");
    }
    let svg = std::fs::read_to_string(&plot).unwrap();
    assert!(
        svg.starts_with("<svg") && svg.contains("<polyline"),
        "{svg}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn idle_mode_holds_its_connections_to_the_end() {
    let echo = echo_process(&[]).await;
    let output = bench(&[&echo.url, "--idle", "-c", "50", "-d", "500ms", "--json"]).await;
    let report = json(&output);
    assert_eq!(report["mode"], "idle");
    assert_eq!(report["connect"]["opened"], 50, "{report:#}");
    assert_eq!(report["idle"]["held"], 50, "{report:#}");
    assert_eq!(report["idle"]["lost"], 0, "{report:#}");
    assert!(report.get("load").is_none());
}

#[tokio::test]
async fn raw_tcp_mode_drives_the_raw_tcp_echo() {
    let echo = echo_process(&["--raw-tcp"]).await;
    let addr = echo.url.strip_prefix("tcp://").unwrap();
    let output = bench(&[
        "--raw-tcp",
        addr,
        "-c",
        "2",
        "-d",
        "1s",
        "--warmup",
        "0s",
        "-p",
        "4",
        "--json",
    ])
    .await;
    let report = json(&output);
    assert_sane_load(&report, 2);
    assert_eq!(report["transport"], "raw-tcp");
}

#[tokio::test]
async fn echo_rate_paces_the_load_in_both_transports() {
    // 4 connections x bursts of 2 at 400 messages/s: a burst every 20 ms per connection. Unpaced,
    // the same run echoes thousands of messages a second.
    for raw in [false, true] {
        let echo = echo_process(if raw { &["--raw-tcp"] } else { &[] }).await;
        let target = match echo.url.strip_prefix("tcp://") {
            Some(addr) => vec!["--raw-tcp", addr],
            None => vec![echo.url.as_str()],
        };
        let mut args = target;
        args.extend([
            "-c",
            "4",
            "-p",
            "2",
            "--echo-rate",
            "400",
            "-d",
            "1s",
            "--warmup",
            "200ms",
            "--json",
        ]);
        let report = json(&bench(&args).await);
        assert_sane_load(&report, 4);
        assert_eq!(report["settings"]["rate_per_s"], 400.0, "{report:#}");
        let rate = report["load"]["messages_per_s"].as_f64().unwrap();
        assert!((200.0..=440.0).contains(&rate), "{rate} msg/s: {report:#}");
    }
}

#[tokio::test]
async fn echo_rate_is_refused_with_idle_and_for_nonsense() {
    for args in [
        &["ws://127.0.0.1:9", "--idle", "--echo-rate", "100"][..],
        &["ws://127.0.0.1:9", "--echo-rate", "0"][..],
        &["ws://127.0.0.1:9", "--echo-rate", "fast"][..],
    ] {
        let output = bench(args).await;
        assert_eq!(output.status.code(), Some(2), "{args:?}");
    }
}

#[tokio::test]
async fn exits_3_when_no_connection_opens() {
    // Bind and drop to find a port with (very probably) nothing listening.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("ws://127.0.0.1:{port}");
    let output = bench(&[&url, "-c", "2", "-d", "100ms", "--warmup", "0s", "--json"]).await;
    assert_eq!(output.status.code(), Some(3));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["connect"]["failed"], 2);
    assert!(String::from_utf8_lossy(&output.stderr).contains("no connection"));
}

#[tokio::test]
async fn ticker_payload_with_deflate_reports_fewer_bytes_on_the_wire_than_without() {
    let echo = echo_process(&[]).await;
    let mut reports = Vec::new();
    for deflate in [true, false] {
        let mut args = vec![
            echo.url.as_str(),
            "-c",
            "2",
            "-p",
            "4",
            "-d",
            "500ms",
            "--warmup",
            "200ms",
            "--payload",
            "ticker",
            "--size",
            "2048",
            "--json",
        ];
        if deflate {
            args.push("--deflate");
        }
        reports.push(json(&bench(&args).await));
    }
    let (compressed, plain) = (&reports[0], &reports[1]);
    for report in [compressed, plain] {
        assert_sane_load(report, 2);
        assert_eq!(report["settings"]["payload"], "ticker");
        let mean = report["load"]["mean_message_bytes"].as_f64().unwrap();
        assert!((1500.0..=2048.0).contains(&mean), "{report:#}");
    }
    let ratio = |report: &Value| report["load"]["wire"]["ratio_sent"].as_f64().unwrap();
    // Without compression the wire carries the payload plus headers and masks.
    assert!(ratio(plain) > 1.0, "{plain:#}");
    assert!(ratio(compressed) < 0.6, "{compressed:#}");
    let received = compressed["load"]["wire"]["bytes_received"]
        .as_u64()
        .unwrap();
    assert!(received > 0, "{compressed:#}");
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn server_pid_reports_cpu_per_message_and_memory_per_connection_and_the_bench_its_own() {
    let echo = echo_process(&[]).await;
    let pid = echo.pid().to_string();
    let output = bench(&[
        &echo.url,
        "-c",
        "4",
        "-p",
        "8",
        "-d",
        "800ms",
        "--warmup",
        "200ms",
        "--server-pid",
        &pid,
        "--json",
    ])
    .await;
    let report = json(&output);
    assert_sane_load(&report, 4);
    let server = &report["server"];
    assert_eq!(server["pid"].as_u64(), Some(u64::from(echo.pid())));
    assert!(server["cpu_s"].as_f64().is_some(), "{report:#}");
    assert!(
        server["cpu_us_per_message"].as_f64().is_some(),
        "{report:#}"
    );
    assert!(
        server["rss_before_bytes"].as_u64().unwrap() > 0,
        "{report:#}"
    );
    assert!(server["rss_held_bytes"].as_u64().unwrap() > 0, "{report:#}");
    assert!(server["error"].is_null(), "{report:#}");
    // The load generator reports its own CPU share next to the server's.
    assert!(
        report["client"]["cpu_percent"].as_f64().is_some(),
        "{report:#}"
    );

    let idle = bench(&[
        &echo.url,
        "--idle",
        "-c",
        "200",
        "-d",
        "500ms",
        "--server-pid",
        &pid,
        "--json",
    ])
    .await;
    let report = json(&idle);
    let per_connection = report["server"]["rss_per_connection_bytes"].as_f64();
    assert!(per_connection.is_some(), "{report:#}");
    assert!(
        report["server"]["cpu_us_per_message"].is_null(),
        "{report:#}"
    );
}

#[tokio::test]
async fn an_unreadable_server_pid_fails_before_connecting() {
    let echo = echo_process(&[]).await;
    let output = bench(&[&echo.url, "--server-pid", "4294967295", "-d", "100ms"]).await;
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--server-pid"), "{stderr}");
}

#[tokio::test]
async fn the_ticker_payload_is_for_websocket_only() {
    let output = bench(&["--raw-tcp", "127.0.0.1:9", "--payload", "ticker"]).await;
    assert_eq!(output.status.code(), Some(2), "{output:?}");
}

/// A hub that lets a plain-room publisher send as fast as it can, not 20 per second.
const FANOUT_HUB: &str = r#"
api_key = "bench key"
chat_page = false
[log]
level = "warn"
[limits]
commands_per_second = 1000000000.0
command_burst = 1000000000
"#;

#[tokio::test]
async fn fanout_mode_delivers_every_publication_in_order_to_every_subscriber() {
    let hub = Serve::start(FANOUT_HUB).await;
    let node = format!("ws://{}", hub.addr);
    let pid = hub.child.id().unwrap().to_string();
    for via in ["ws", "api"] {
        let output = bench(&[
            "--fanout",
            &node,
            "--subscribers",
            "50",
            "--channels",
            "2",
            "--rate",
            "50",
            "-d",
            "1s",
            "--warmup",
            "200ms",
            "--publish-via",
            via,
            "--api-key",
            "bench key",
            "--server-pid",
            &pid,
            "--json",
        ])
        .await;
        let report = json(&output);
        assert_eq!(report["mode"], "fanout", "{report:#}");
        assert_eq!(report["settings"]["publish_via"], via, "{report:#}");
        assert_eq!(report["connect"]["opened"], 50, "{report:#}");
        let published = &report["publish"];
        assert_eq!(published["publishers"], 2, "{report:#}");
        assert_eq!(published["errors"], 0, "{report:#}");
        let publications = published["published"].as_u64().unwrap();
        assert!(publications > 0, "{report:#}");
        let delivery = &report["delivery"];
        let deliveries = delivery["deliveries"].as_u64().unwrap();
        assert!(deliveries > 0, "{report:#}");
        // 25 subscribers per channel: each publication reaches 25 of them.
        assert_eq!(delivery["expected"].as_u64(), Some(25 * publications));
        assert_eq!(deliveries, 25 * publications, "{report:#}");
        assert_eq!(delivery["missing"], 0, "{report:#}");
        assert_eq!(delivery["out_of_order"], 0, "{report:#}");
        assert_eq!(delivery["subscribers_failed"], 0, "{report:#}");
        assert_eq!(delivery["errors"], 0, "{report:#}");
        let latency = &delivery["latency"];
        assert_eq!(latency["samples"].as_u64(), Some(deliveries), "{report:#}");
        assert_ordered_percentiles(latency, &report);
        assert!(
            report["servers"][0]["cpu_s"].as_f64().is_some(),
            "{report:#}"
        );
        assert!(
            report["server_total"]["cpu_s"].as_f64().is_some(),
            "{report:#}"
        );
    }
}

#[tokio::test]
async fn a_publisher_that_falls_behind_stops_at_the_end_of_the_window() {
    let hub = Serve::start(FANOUT_HUB).await;
    let node = format!("ws://{}", hub.addr);
    // Far more than a debug build publishes: the publisher is behind when the window ends.
    let output = bench(&[
        "--fanout",
        &node,
        "--subscribers",
        "2",
        "--rate",
        "1000000",
        "-d",
        "500ms",
        "--warmup",
        "0s",
        "--json",
    ])
    .await;
    let report = json(&output);
    let published = report["publish"]["published"].as_u64().unwrap();
    assert!(published > 0 && published < 500_000, "{report:#}");
}

#[tokio::test]
async fn fanout_mode_reports_the_hubs_rate_limit_and_a_refused_api_key() {
    // The default limits: 20 commands per second, bursts of 50.
    let hub = Serve::start("api_key = \"right\"\n[log]\nlevel = \"warn\"\n").await;
    let node = format!("ws://{}", hub.addr);
    let args = ["--fanout", &node, "--subscribers", "4", "--rate", "200"];
    let output = bench(&[&args[..], &["-d", "1s", "--warmup", "0s", "--json"]].concat()).await;
    let report = json(&output);
    let error = report["publish"]["first_error"]
        .as_str()
        .unwrap_or_default();
    assert!(error.contains("1008"), "{report:#}");
    assert!(error.contains("commands_per_second"), "{report:#}");

    let refused =
        bench(&[&args[..], &["--publish-via", "api", "--api-key", "wrong"]].concat()).await;
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("401"), "{stderr}");
}

#[tokio::test]
async fn fanout_flags_need_fanout_and_fanout_takes_no_echo_flags() {
    let output = bench(&["ws://127.0.0.1:9", "--subscribers", "5"]).await;
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let output = bench(&["--fanout", "ws://127.0.0.1:9", "--pipeline", "4"]).await;
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let output = bench(&["--fanout", "ws://127.0.0.1:9", "--publish-via", "api"]).await;
    assert_eq!(output.status.code(), Some(1), "{output:?}");
}
