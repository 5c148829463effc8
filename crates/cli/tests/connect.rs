//! `switchboard connect`: pipe mode against a `switchboard echo` process (ws:// and wss://),
//! `--echo` against a server in this test, request flags, a proxy, and the exit codes
//! (0 clean close, 1 bad settings, 2 bad arguments, 3 cannot connect, 4 refused handshake).
//!
//! Every process is started here with `kill_on_drop` and waited for within [`BOUND`].
#![allow(clippy::unwrap_used)]

mod common;

use common::{echo_process, switchboard};

use std::path::PathBuf;
use std::process::{Output, Stdio};
use std::time::Duration;

use switchboard::proto::handshake::Accept;
use switchboard::{accept_with, CloseCode, Message, WebSocketConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const BOUND: Duration = Duration::from_secs(20);

/// Runs `switchboard connect ARGS` with `input` on stdin and waits for it to exit.
async fn connect(args: &[&str], input: &str) -> Output {
    let mut child = switchboard()
        .arg("connect")
        .args(args)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).await.unwrap();
    drop(stdin);
    tokio::time::timeout(BOUND, child.wait_with_output())
        .await
        .expect("switchboard connect did not exit in time")
        .unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test]
async fn pipe_mode_prints_the_echoed_lines_and_exits_cleanly() {
    let echo = echo_process(&[]).await;
    let output = connect(&[&echo.url], "a\nb\n").await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(String::from_utf8_lossy(&output.stdout), "a\nb\n");
    let output = connect(&["--no-deflate", &echo.url], "plain\n").await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(String::from_utf8_lossy(&output.stdout), "plain\n");
}

#[tokio::test]
async fn echo_mode_sends_messages_back_and_exits_0_after_a_clean_close() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let config = WebSocketConfig::default();
        let mut request = None;
        let mut ws = accept_with(stream, &config, |r| {
            request = Some((
                r.headers().clone(),
                r.origin().map(str::to_owned),
                r.subprotocols().to_vec(),
            ));
            Ok(Accept::with_subprotocol("v2"))
        })
        .await
        .unwrap();
        for text in ["one", "two"] {
            ws.send(text).await.unwrap();
            assert_eq!(ws.recv().await.unwrap().unwrap(), Message::text(text));
        }
        ws.close(CloseCode::NORMAL_CLOSURE, "done").await.unwrap();
        request.unwrap()
    });
    let url = format!("ws://{addr}/");
    let args = [
        "--echo",
        "-H",
        "Authorization: Bearer xyz",
        "--header",
        "X-Trace:1",
        "--origin",
        "https://cli.example",
        "--subprotocol",
        "v1",
        "--subprotocol",
        "v2",
        &url,
    ];
    let output = connect(&args, "").await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let (headers, origin, subprotocols) = server.await.unwrap();
    assert_eq!(headers["authorization"], "Bearer xyz");
    assert_eq!(headers["x-trace"], "1");
    assert_eq!(origin.as_deref(), Some("https://cli.example"));
    assert_eq!(subprotocols, ["v1", "v2"]);
}

#[tokio::test]
async fn a_refused_handshake_exits_4_and_prints_the_status() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 4096];
        let _ = stream.read(&mut buf).await;
        let _ = stream
            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
            .await;
    });
    let output = connect(&[&format!("ws://{addr}/nowhere")], "").await;
    assert_eq!(output.status.code(), Some(4), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("404 Not Found"),
        "{}",
        stderr(&output)
    );
}

#[tokio::test]
async fn a_refused_connection_exits_3() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let url = format!("ws://{addr}/");
    let output = connect(&[&url], "").await;
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    // The message names what could not be reached.
    assert!(
        stderr(&output).contains(&format!("cannot connect to {url}")),
        "{}",
        stderr(&output)
    );
}

#[tokio::test]
async fn bad_arguments_exit_2_and_bad_settings_exit_1() {
    for args in [
        &["-H", "no colon", "ws://127.0.0.1:9/"][..],
        &["--cert", "c.pem", "wss://127.0.0.1:9/"],
        &["--key", "k.pem", "wss://127.0.0.1:9/"],
        &["--insecure", "--ca", "ca.pem", "wss://127.0.0.1:9/"],
        &["--proxy", "ftp://p", "ws://127.0.0.1:9/"],
    ] {
        let output = connect(args, "").await;
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            stderr(&output)
        );
    }
    for url in ["http://127.0.0.1:9/", "127.0.0.1:9"] {
        let output = connect(&[url], "").await;
        assert_eq!(output.status.code(), Some(1), "{url}: {}", stderr(&output));
        assert!(
            stderr(&output).contains(&format!("{url}: expected a ws:// or wss:// URL")),
            "{}",
            stderr(&output)
        );
    }
    for args in [
        &["-H", "Host: elsewhere", "ws://127.0.0.1:9/"],
        &["--ca", "/nonexistent/ca.pem", "wss://127.0.0.1:9/"],
    ] {
        let output = connect(args, "").await;
        assert_eq!(
            output.status.code(),
            Some(1),
            "{args:?}: {}",
            stderr(&output)
        );
    }
}

#[tokio::test]
async fn wss_to_a_server_without_tls_says_so() {
    let echo = echo_process(&[]).await;
    let url = echo.url.replacen("ws://", "wss://", 1);
    let output = connect(&[&url], "").await;
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("the server did not answer in TLS"),
        "{}",
        stderr(&output)
    );
}

/// Writes a self-signed certificate for localhost and its key; returns (dir, cert, key).
fn certificate_files(tag: &str) -> (PathBuf, PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(format!(
        "switchboard-cli-connect-{tag}-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    (dir, cert, key)
}

#[tokio::test]
async fn wss_with_a_ca_file_or_insecure() {
    let (dir, cert, key) = certificate_files("wss");
    let (cert, key) = (cert.to_str().unwrap(), key.to_str().unwrap());
    let echo = echo_process(&["--tls-cert", cert, "--tls-key", key]).await;
    let port = echo.url.rsplit(':').next().unwrap();
    let by_name = format!("wss://localhost:{port}/");

    let output = connect(&["--ca", cert, &by_name], "secure\n").await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(String::from_utf8_lossy(&output.stdout), "secure\n");

    // Unknown issuer without --ca: cannot connect.
    let output = connect(&[&by_name], "").await;
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("certificate"),
        "{}",
        stderr(&output)
    );

    // --insecure takes the certificate although it is neither trusted nor for 127.0.0.1,
    // and says so.
    let by_ip = format!("wss://127.0.0.1:{port}/");
    let output = connect(&["--insecure", &by_ip], "anyway\n").await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(String::from_utf8_lossy(&output.stdout), "anyway\n");
    assert!(stderr(&output).contains("WARNING"), "{}", stderr(&output));

    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn through_an_http_connect_proxy() {
    let echo = echo_process(&[]).await;
    let upstream = echo.url.strip_prefix("ws://").unwrap().to_owned();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_addr = listener.local_addr().unwrap();
    let proxy = tokio::spawn(async move {
        let (mut client, _) = listener.accept().await.unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            assert_eq!(client.read(&mut byte).await.unwrap(), 1);
            head.push(byte[0]);
        }
        let mut server = TcpStream::connect(&upstream).await.unwrap();
        client
            .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
            .await
            .unwrap();
        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
        String::from_utf8(head).unwrap()
    });
    let proxy_url = format!("http://user:pw@{proxy_addr}");
    let output = connect(&["--proxy", &proxy_url, &echo.url], "proxied\n").await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(String::from_utf8_lossy(&output.stdout), "proxied\n");
    let head = proxy.await.unwrap();
    let target = echo.url.strip_prefix("ws://").unwrap();
    assert!(
        head.starts_with(&format!("CONNECT {target} HTTP/1.1\r\n")),
        "{head}"
    );
    assert!(
        head.contains("Proxy-Authorization: Basic dXNlcjpwdw==\r\n"),
        "{head}"
    );
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test]
async fn execute_with_once_prints_the_first_reply_and_exits_0() {
    let echo = echo_process(&[]).await;
    let output = connect(&["-x", "first", "-x", "second", "--once", &echo.url], "").await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(stdout(&output), "first\n");
    // Slash commands work in -x; --no-slash sends them as they are.
    let output = connect(&["-x", "/ping", "-x", "//x", "--once", &echo.url], "").await;
    assert_eq!(stdout(&output), "/x\n", "{}", stderr(&output));
    let output = connect(&["--no-slash", "-x", "/ping", "--once", &echo.url], "").await;
    assert_eq!(stdout(&output), "/ping\n", "{}", stderr(&output));
    // A bad slash command is a usage error, before connecting.
    let output = connect(&["-x", "/close nope", &echo.url], "").await;
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("close code"),
        "{}",
        stderr(&output)
    );
}

#[tokio::test]
async fn pipe_mode_with_wait_and_binary() {
    let echo = echo_process(&[]).await;
    let output = connect(&["--wait", "0.3", "--binary", &echo.url], "x\ny\n").await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(stdout(&output), "x\ny\n");
}

#[tokio::test]
async fn exec_round_trip() {
    let echo = echo_process(&[]).await;
    // The child prints two lines (sent), reads the two echoes on its stdin and writes them to
    // a file, then exits: the connection closes normally.
    let dir = std::env::temp_dir().join(format!("switchboard-cli-exec-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("received");
    let script = format!(
        "printf 'one\\ntwo\\n'; head -n 2 > {}",
        file.to_str().unwrap()
    );
    let output = connect(&["--exec", &script, &echo.url], "").await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "one\ntwo\n");
    std::fs::remove_dir_all(&dir).unwrap();

    // The child's stderr passes through: `cat` prints the echo there and exits at the
    // end of its input, which comes when the connection closes after --wait.
    let output = connect(
        &[
            "--exec",
            "echo hi; exec cat >&2",
            "--wait",
            "0.3",
            &echo.url,
        ],
        "",
    )
    .await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(stderr(&output), "hi\n");
}

#[tokio::test]
async fn trace_shows_the_handshake_and_frames_and_close_4000_exits_0() {
    let echo = echo_process(&[]).await;
    let args = ["--trace", "-x", "hello", "-x", "/close 4000 bye", &echo.url];
    let output = connect(&args, "").await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let trace = stderr(&output);
    for expected in [
        "trace: > GET / HTTP/1.1",
        "trace: < HTTP/1.1 101 Switching Protocols",
        "trace: > frame text fin=1 rsv=000 len=5 masked=",
        "trace: < frame text fin=1 rsv=000 len=5 unmasked \"hello\"",
        "code=4000 reason=\"bye\"",
        "trace: < frame close fin=1 rsv=000 len=2 unmasked code=4000",
    ] {
        assert!(trace.contains(expected), "{expected:?} missing in\n{trace}");
    }
}

#[tokio::test]
async fn a_server_close_with_an_error_code_exits_5() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut ws = switchboard::accept(stream).await.unwrap();
        ws.close(CloseCode::from(4001), "go away").await.unwrap();
    });
    let output = connect(&["--once", &format!("ws://{addr}/")], "").await;
    assert_eq!(output.status.code(), Some(5), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("4001 go away"),
        "{}",
        stderr(&output)
    );
}

/// The server ends the connection while stdin is still open: the session is over, so the
/// client exits at once instead of waiting for a line or the end of its input.
#[tokio::test]
async fn pipe_mode_exits_when_the_server_closes_while_stdin_stays_open() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut ws = switchboard::accept(stream).await.unwrap();
        ws.close(CloseCode::GOING_AWAY, "shutting down")
            .await
            .unwrap();
    });
    let mut child = switchboard()
        .args(["connect", &format!("ws://{addr}/")])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    // Held open until the end of the test.
    let _stdin = child.stdin.take().unwrap();
    let output = tokio::time::timeout(BOUND, child.wait_with_output())
        .await
        .expect("switchboard connect waited for stdin after the connection closed")
        .unwrap();
    assert_eq!(output.status.code(), Some(5), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("1001 shutting down"),
        "{}",
        stderr(&output)
    );
}

#[tokio::test]
async fn reconnect_connects_and_ends_on_a_normal_close() {
    let echo = echo_process(&[]).await;
    let output = connect(&["--reconnect", "-x", "again", "--once", &echo.url], "").await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(stdout(&output), "again\n");
}

/// Interactive mode in a real terminal, if tmux is installed.
#[tokio::test]
async fn interactive_smoke_test_in_tmux() {
    let tmux_ok = std::process::Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !tmux_ok {
        eprintln!("skipped: tmux is not installed");
        return;
    }
    let echo = echo_process(&[]).await;
    let session = format!("switchboard-test-{}", std::process::id());
    let command = format!(
        "{} connect {}; echo EXIT=$?; sleep 30",
        env!("CARGO_BIN_EXE_switchboard"),
        echo.url
    );
    let tmux = |args: &[&str]| {
        std::process::Command::new("tmux")
            .args(args)
            .output()
            .unwrap()
    };
    let started = tmux(&[
        "new-session",
        "-d",
        "-s",
        &session,
        "-x",
        "120",
        "-y",
        "30",
        &command,
    ]);
    if !started.status.success() {
        eprintln!(
            "skipped: tmux cannot start a session here: {}",
            String::from_utf8_lossy(&started.stderr)
        );
        return;
    }
    let screen = |session: &str| {
        String::from_utf8_lossy(&tmux(&["capture-pane", "-p", "-t", session]).stdout).into_owned()
    };
    let wait_for = |text: &str| {
        for _ in 0..100 {
            if screen(&session).contains(text) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = tmux(&["kill-session", "-t", &session]);
        panic!("{text:?} never appeared:\n{}", screen(&session));
    };
    wait_for("* connected");
    for keys in ["hello", "/ping x", "/close 4000 bye"] {
        tmux(&["send-keys", "-t", &session, "-l", keys]);
        tmux(&["send-keys", "-t", &session, "Enter"]);
        std::thread::sleep(Duration::from_millis(300));
    }
    wait_for("EXIT=0");
    let text = screen(&session);
    let _ = tmux(&["kill-session", "-t", &session]);
    for expected in ["< hello", "< (pong) x", "> (close 4000) bye"] {
        assert!(text.contains(expected), "{expected:?} missing in\n{text}");
    }
}
