//! Helpers shared by the CLI's integration tests: the `switchboard` binary, and
//! `switchboard echo` processes started on 127.0.0.1:0.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

pub mod hub;

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// How long a started process may take to print its listening line.
const STARTUP: Duration = Duration::from_secs(20);

/// The binary under test, with piped stdout and stderr, killed if the test drops it.
pub fn switchboard() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// A `switchboard echo` process and the URL it listens on (from its first stdout line, such as
/// `ws://127.0.0.1:41234`). Killed when dropped.
pub struct EchoProcess {
    _child: Child,
    pub url: String,
}

/// Starts `switchboard echo --listen 127.0.0.1:0 EXTRA...` and waits for its listening line.
pub async fn echo_process(extra: &[&str]) -> EchoProcess {
    let mut child = switchboard()
        .args(["echo", "--listen", "127.0.0.1:0"])
        .args(extra)
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(STARTUP, stdout.next_line())
        .await
        .expect("switchboard echo did not start in time")
        .unwrap()
        .unwrap();
    let url = line
        .strip_prefix("switchboard echo: listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {line}"))
        .to_owned();
    EchoProcess { _child: child, url }
}

impl EchoProcess {
    /// The process id, to read its /proc entries.
    pub fn pid(&self) -> u32 {
        self._child.id().unwrap()
    }
}
