//! `switchboard serve` with `[tls]`: wss:// end to end with a certificate made for this run,
//! and a clear error for an unusable certificate.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::switchboard;
use tokio::io::{AsyncBufReadExt, BufReader};

const BOUND: Duration = Duration::from_secs(30);

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("switchboard-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn serve_speaks_wss_with_the_configured_certificate() {
    let dir = temp_dir("serve-tls");
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    let config = dir.join("switchboard.toml");
    std::fs::write(
        &config,
        format!(
            "[tls]\ncert = {:?}\nkey = {:?}\n",
            cert.to_str().unwrap(),
            key.to_str().unwrap()
        ),
    )
    .unwrap();

    let mut serve = switchboard()
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(serve.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(BOUND, lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let port = first
        .strip_prefix("switchboard serve: listening on https://127.0.0.1:")
        .unwrap_or_else(|| panic!("unexpected first line: {first}"));

    // A plain room over wss: what we send comes back to us, as to everyone in the room.
    let url = format!("wss://localhost:{port}/ws/lobby");
    let output = switchboard()
        .args(["connect", "--ca"])
        .arg(&cert)
        .args(["-x", "over tls", "--once", &url])
        .output();
    let output = tokio::time::timeout(BOUND, output).await.unwrap().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert!(stdout.contains("over tls"), "{stdout}");

    serve.kill().await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn an_unreadable_certificate_stops_serve_before_listening() {
    let dir = temp_dir("serve-bad-tls");
    let config = dir.join("switchboard.toml");
    std::fs::write(
        &config,
        "[tls]\ncert = \"/nonexistent/cert.pem\"\nkey = \"/nonexistent/key.pem\"\n",
    )
    .unwrap();
    let output = switchboard()
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .output();
    let output = tokio::time::timeout(BOUND, output).await.unwrap().unwrap();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("/nonexistent/cert.pem"), "{stderr}");
    assert!(output.stdout.is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}
