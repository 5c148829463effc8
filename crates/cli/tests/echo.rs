//! `switchboard echo --threads`: the runtime gets that many workers, and such a server echoes.
#![allow(clippy::unwrap_used)]

mod common;

use common::{echo_process, switchboard};

use std::time::Duration;

use serde_json::Value;

const BOUND: Duration = Duration::from_secs(30);

#[tokio::test]
async fn threads_zero_is_refused() {
    let output = switchboard()
        .args(["echo", "--listen", "127.0.0.1:0", "--threads", "0"])
        .output();
    let output = tokio::time::timeout(BOUND, output).await.unwrap().unwrap();
    assert_eq!(output.status.code(), Some(2), "{output:?}");
}

/// The threads of a process, from the `Threads:` line of /proc/PID/status.
#[cfg(target_os = "linux")]
fn threads_of(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("Threads:")).unwrap();
    line["Threads:".len()..].trim().parse().unwrap()
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn threads_sets_the_number_of_runtime_workers() {
    let one = echo_process(&["--threads", "1"]).await;
    let four = echo_process(&["--threads", "4"]).await;
    // Whatever else a process runs (the main thread), the difference is the workers.
    assert_eq!(threads_of(four.pid()) - threads_of(one.pid()), 3);

    // One worker is enough to serve: a short bench run gets its echoes back.
    let child = switchboard()
        .args(["bench", &one.url, "-c", "4", "-p", "4", "-d", "300ms"])
        .args(["--warmup", "0s", "--json"])
        .spawn()
        .unwrap();
    let output = tokio::time::timeout(BOUND, child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(
        report["load"]["messages"].as_u64().unwrap() > 0,
        "{report:#}"
    );
    assert_eq!(report["load"]["errors"], 0, "{report:#}");
}
